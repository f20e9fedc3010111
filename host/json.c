// SPDX-License-Identifier: MIT
/* host/json: a small escaping JSON writer (see json.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotrack/common.h"
#include "json.h"

void cot_json_init(struct cot_json *j)
{
	memset(j, 0, sizeof(*j));
}

void cot_json_free(struct cot_json *j)
{
	free(j->buf);
	memset(j, 0, sizeof(*j));
}

static void put(struct cot_json *j, const char *s, size_t n)
{
	if (j->err)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t nc = j->cap ? j->cap : 4096;
		char *nb;

		/* doubling: bounded by the allocation failing */
		while (nc < j->len + n + 1) {
			if (nc > SIZE_MAX / 2) {
				j->err = -COT_ENOMEM;
				return;
			}
			nc *= 2;
		}
		nb = realloc(j->buf, nc);
		if (!nb) {
			j->err = -COT_ENOMEM;
			return;
		}
		j->buf = nb;
		j->cap = nc;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

/* Before a value: the comma its predecessor in the container needs. */
static void value(struct cot_json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->need_comma[j->depth])
		put(j, ",", 1);
	j->need_comma[j->depth] = 1;
}

static void open_(struct cot_json *j, char c)
{
	value(j);
	if (j->depth == COT_JSON_DEPTH) {
		j->err = -COT_EINVAL;
		return;
	}
	put(j, &c, 1);
	j->need_comma[++j->depth] = 0;
}

static void close_(struct cot_json *j, char c)
{
	if (j->depth == 0 || j->after_key) {
		j->err = -COT_EINVAL;
		return;
	}
	j->depth--;
	put(j, &c, 1);
}

void cot_json_obj(struct cot_json *j)
{
	open_(j, '{');
}

void cot_json_obj_end(struct cot_json *j)
{
	close_(j, '}');
}

void cot_json_arr(struct cot_json *j)
{
	open_(j, '[');
}

void cot_json_arr_end(struct cot_json *j)
{
	close_(j, ']');
}

int cot_json_done(struct cot_json *j)
{
	if (!j->err && (j->depth || j->after_key))
		j->err = -COT_EINVAL;
	if (!j->err && !j->buf)
		put(j, "", 0);
	return j->err;
}

static void escaped(struct cot_json *j, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	size_t i, run = 0;

	put(j, "\"", 1);
	/* bounded by n */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[7] = { '\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15] };

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' &&
		    c != '<' && c != '>' && c != '&') {
			run++;
			continue;
		}
		put(j, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\') {
			e[1] = (char)c;
			put(j, e, 2);
		} else {
			put(j, e, 6);
		}
	}
	put(j, s + n - run, run);
	put(j, "\"", 1);
}

void cot_json_key(struct cot_json *j, const char *key)
{
	if (j->after_key || j->depth == 0) {
		j->err = -COT_EINVAL;
		return;
	}
	value(j);
	escaped(j, key, strlen(key));
	put(j, ":", 1);
	j->after_key = 1;
}

void cot_json_strn(struct cot_json *j, const char *s, size_t n)
{
	value(j);
	escaped(j, s, n);
}

void cot_json_str(struct cot_json *j, const char *s)
{
	cot_json_strn(j, s, strlen(s));
}

void cot_json_u64(struct cot_json *j, uint64_t v)
{
	char b[24];

	value(j);
	put(j, b, (size_t)snprintf(b, sizeof(b), "%" PRIu64, v));
}

void cot_json_i64(struct cot_json *j, int64_t v)
{
	char b[24];

	value(j);
	put(j, b, (size_t)snprintf(b, sizeof(b), "%" PRId64, v));
}

void cot_json_dbl(struct cot_json *j, double v)
{
	char b[32];

	value(j);
	if (!isfinite(v))
		put(j, "null", 4);
	else
		put(j, b, (size_t)snprintf(b, sizeof(b), "%.6g", v));
}

void cot_json_bool(struct cot_json *j, int v)
{
	value(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void cot_json_null(struct cot_json *j)
{
	value(j);
	put(j, "null", 4);
}

void cot_json_kstr(struct cot_json *j, const char *key, const char *s)
{
	cot_json_key(j, key);
	cot_json_str(j, s);
}

void cot_json_ku64(struct cot_json *j, const char *key, uint64_t v)
{
	cot_json_key(j, key);
	cot_json_u64(j, v);
}

void cot_json_ki64(struct cot_json *j, const char *key, int64_t v)
{
	cot_json_key(j, key);
	cot_json_i64(j, v);
}

void cot_json_kdbl(struct cot_json *j, const char *key, double v)
{
	cot_json_key(j, key);
	cot_json_dbl(j, v);
}
