/* SPDX-License-Identifier: MIT */
/*
 * host/json: a small JSON writer into a growing buffer, for the log
 * server's web API.  Every string goes through cot_json_str(), which
 * escapes everything JSON requires plus every byte outside printable
 * ASCII (\u00XX) and <, >, & (so no text the guest controls can close a
 * script or a tag even where the JSON is read as HTML).  Commas are
 * inserted by the writer: values after a key or inside an array are
 * separated as they come.
 *
 * Errors stick: after an allocation failure or a nesting deeper than
 * COT_JSON_DEPTH every call is a no-op and cot_json_done() returns
 * -COT_ENOMEM / -COT_EINVAL.  Not thread-safe on one writer.
 */
#ifndef COTRACK_HOST_JSON_H
#define COTRACK_HOST_JSON_H

#include <stddef.h>
#include <stdint.h>

#define COT_JSON_DEPTH 16

struct cot_json {
	char *buf;
	size_t len, cap;
	int err;
	int depth;
	unsigned char need_comma[COT_JSON_DEPTH + 1];
	unsigned char after_key;
};

void cot_json_init(struct cot_json *j);
/* Frees the buffer (a no-op on a zeroed writer). */
void cot_json_free(struct cot_json *j);
/* 0 and the text in j->buf (NUL-terminated, j->len bytes), or < 0. */
int cot_json_done(struct cot_json *j);

void cot_json_obj(struct cot_json *j);	   /* { */
void cot_json_obj_end(struct cot_json *j); /* } */
void cot_json_arr(struct cot_json *j);	   /* [ */
void cot_json_arr_end(struct cot_json *j); /* ] */
void cot_json_key(struct cot_json *j, const char *key);
void cot_json_str(struct cot_json *j, const char *s);
/* The first @n bytes of @s (NULs included, escaped). */
void cot_json_strn(struct cot_json *j, const char *s, size_t n);
void cot_json_u64(struct cot_json *j, uint64_t v);
void cot_json_i64(struct cot_json *j, int64_t v);
/* Non-finite values are written as null. */
void cot_json_dbl(struct cot_json *j, double v);
void cot_json_bool(struct cot_json *j, int v);
void cot_json_null(struct cot_json *j);

/* Shorthands: key then value. */
void cot_json_kstr(struct cot_json *j, const char *key, const char *s);
void cot_json_ku64(struct cot_json *j, const char *key, uint64_t v);
void cot_json_ki64(struct cot_json *j, const char *key, int64_t v);
void cot_json_kdbl(struct cot_json *j, const char *key, double v);

#endif
