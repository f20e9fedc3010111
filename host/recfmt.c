// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cotrack/pkt.h"
#include "recfmt.h"

int cot_recfmt_parse(const char *name, enum cot_recfmt *out)
{
	if (!strcmp(name, "table"))
		*out = COT_RECFMT_TABLE;
	else if (!strcmp(name, "json"))
		*out = COT_RECFMT_JSON;
	else if (!strcmp(name, "csv"))
		*out = COT_RECFMT_CSV;
	else
		return -COT_EINVAL;
	return 0;
}

const char *cot_addr_str(const struct cot_addr *a, char buf[COT_ADDR_STRLEN])
{
	cot_addr_format(buf, a, true);
	return buf;
}

/* vm names come from configuration or the wire: escape for JSON/CSV. */
void cot_recfmt_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void cot_recfmt_bytes(char *buf, size_t len, uint64_t v)
{
	if (v >= 10000000000ull)
		snprintf(buf, len, "%.1f GB", (double)v / 1e9);
	else if (v >= 10000000)
		snprintf(buf, len, "%.1f MB", (double)v / 1e6);
	else if (v >= 10000)
		snprintf(buf, len, "%.1f kB", (double)v / 1e3);
	else
		snprintf(buf, len, "%" PRIu64 " B", v);
}

void cot_recfmt_csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

#define CSV_FIELDS                                                             \
	"seq,vm,proto,src,sport,dst,dport,first_ns,last_ns,pkts_fwd,"          \
	"bytes_fwd,pkts_rev,bytes_rev,tcp_state,end,seen_by,netns,flags,"      \
	"src_pid,src_comm,src_cgroup,dst_pid,dst_comm,dst_cgroup,src_name,"    \
	"dst_name,tunnel,tun_id,tun_src,tun_dst,inner_conns"

void cot_recfmt_header(FILE *f, enum cot_recfmt fmt)
{
	switch (fmt) {
	case COT_RECFMT_TABLE:
		fprintf(f,
			"%6s %-8s %-5s %-41s %-41s %7s %10s %7s %10s %-11s "
			"%-8s %-4s %s\n",
			"SEQ", "VM", "PROTO", "SOURCE", "DESTINATION", "PKTS>",
			"BYTES>", "PKTS<", "BYTES<", "STATE", "END", "SEEN",
			"FIRST (UTC)  DURATION");
		break;
	case COT_RECFMT_CSV:
		fprintf(f, "%s\n", CSV_FIELDS);
		break;
	case COT_RECFMT_JSON:
		break;
	}
}

static const char *flags_str(unsigned int fl)
{
	switch (fl & (COT_RF_HIDDEN_NIC | COT_RF_HIDDEN_VMI)) {
	case COT_RF_HIDDEN_NIC:
		return "hidden-nic";
	case COT_RF_HIDDEN_VMI:
		return "hidden-vmi";
	case COT_RF_HIDDEN_NIC | COT_RF_HIDDEN_VMI:
		return "hidden-nic+hidden-vmi";
	}
	return "";
}

static void endpoint(char *buf, size_t len, const struct cot_addr *a,
		     unsigned int port)
{
	char ab[COT_ADDR_STRLEN];

	if (cot_addr_is_v4(a))
		snprintf(buf, len, "%s:%u", cot_addr_str(a, ab), port);
	else
		snprintf(buf, len, "[%s]:%u", cot_addr_str(a, ab), port);
}

/*
 * The workload names (record version 2) in the table: absent ones (pid
 * 0, "") are left out.  The strings are printable ASCII (the decoder saw
 * to it).
 */
static void table_owner(FILE *f, const char *end, const struct cot_rec_owner *o)
{
	if (!o->pid)
		return;
	fprintf(f, " %s_pid=%u %s_comm=%s", end, o->pid, end, o->comm);
	if (o->cgroup[0])
		fprintf(f, " %s_cgroup=%s", end, o->cgroup);
}

static void table_names(FILE *f, const struct cot_rec *r)
{
	table_owner(f, "src", &r->src_owner);
	table_owner(f, "dst", &r->dst_owner);
	if (r->src_name[0])
		fprintf(f, " src_name=%s", r->src_name);
	if (r->dst_name[0])
		fprintf(f, " dst_name=%s", r->dst_name);
}

/*
 * The tunnel (record version 3): left out of JSON and the table when
 * there is none, empty in CSV.
 */
static void table_tun(FILE *f, const struct cot_rec *r)
{
	char s[COT_ADDR_STRLEN], d[COT_ADDR_STRLEN];

	if (r->tun_type)
		fprintf(f, " tunnel=%s/%u/%s>%s", cot_tun_name(r->tun_type),
			r->tun_id, cot_addr_str(&r->tun_src, s),
			cot_addr_str(&r->tun_dst, d));
	if (r->inner_conns)
		fprintf(f, " inner_conns=%u", r->inner_conns);
}

/*
 * The JSON and CSV lines are built in a buffer by hand: printf's format
 * parsing, field by field, was a fifth of cotrack replay's time
 * (docs/bench.md).  The bytes are those the fprintf formats wrote before
 * (the golden files of tests/golden).  The buffer is either a line's,
 * given to stdio with one fwrite (cot_recfmt_write), or a cot_recbuf's,
 * many lines long, written with write(2) when full.  A line that
 * outgrows the buffer (long names, escaped) is written in parts.  The
 * workload names (record version 2): absent ones (pid 0, "") are left
 * out of JSON, empty in CSV, whose columns are fixed; a comm may hold a
 * space or a quote, which JSON and CSV escape.
 */
struct line {
	FILE *f; /* or, when NULL, write(2) to fd */
	int fd;
	int err; /* first write(2) error (errno), 0: none */
	size_t n, cap;
	char *b;
};

static void l_flush(struct line *l)
{
	size_t off = 0;

	if (l->f) {
		if (l->n)
			fwrite(l->b, 1, l->n, l->f);
		l->n = 0;
		return;
	}
	/* Bound: each turn writes at least a byte or stops. */
	while (off < l->n && !l->err) {
		ssize_t k = write(l->fd, l->b + off, l->n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			l->err = k < 0 ? errno : EIO;
		else
			off += (size_t)k;
	}
	l->n = 0;
}

static inline void l_room(struct line *l, size_t need)
{
	if (l->cap - l->n < need)
		l_flush(l);
}

static inline void l_ch(struct line *l, char c)
{
	l_room(l, 1);
	l->b[l->n++] = c;
}

/* Bound: @s is NUL-terminated; chunks of at most the buffer. */
static void l_strn(struct line *l, const char *s, size_t len)
{
	while (len) {
		size_t k;

		l_room(l, 1);
		k = l->cap - l->n;
		if (k > len)
			k = len;
		memcpy(l->b + l->n, s, k);
		l->n += k;
		s += k;
		len -= k;
	}
}

static void l_str(struct line *l, const char *s)
{
	l_strn(l, s, strlen(s));
}

/* A string literal: its length known when compiled. */
#define l_lit(l, s) l_strn(l, s, sizeof(s) - 1)

static const char d2[] = "00010203040506070809"
			 "10111213141516171819"
			 "20212223242526272829"
			 "30313233343536373839"
			 "40414243444546474849"
			 "50515253545556575859"
			 "60616263646566676869"
			 "70717273747576777879"
			 "80818283848586878889"
			 "90919293949596979899";

/* @v < 10^8 in exactly 8 digits, with 32-bit arithmetic. */
static void put8(char *p, uint32_t v)
{
	uint32_t hi = v / 10000, lo = v % 10000;

	memcpy(p, d2 + 2 * (hi / 100), 2);
	memcpy(p + 2, d2 + 2 * (hi % 100), 2);
	memcpy(p + 4, d2 + 2 * (lo / 100), 2);
	memcpy(p + 6, d2 + 2 * (lo % 100), 2);
}

/* @v < 10^8 in as many digits as it needs, written from the last. */
static inline size_t put_small(char *p, uint32_t v)
{
	size_t n;
	char *q;

	if (v < 10) {
		*p = (char)('0' + v);
		return 1;
	}
	if (v < 100) {
		memcpy(p, d2 + 2 * v, 2);
		return 2;
	}
	n = v < 1000	   ? 3
	    : v < 10000	   ? 4
	    : v < 100000   ? 5
	    : v < 1000000  ? 6
	    : v < 10000000 ? 7
			   : 8;
	q = p + n;
	/* Bound: 8 digits, two a turn. */
	while (v >= 100) {
		q -= 2;
		memcpy(q, d2 + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10)
		memcpy(q - 2, d2 + 2 * v, 2);
	else
		q[-1] = (char)('0' + v);
	return n;
}

/* Decimal, as printf's %" PRIu64 " (nanosecond times have 19 digits). */
static void l_u64(struct line *l, uint64_t v)
{
	char *p;

	l_room(l, 20);
	p = l->b + l->n;
	if (v < 100000000) {
		l->n += put_small(p, (uint32_t)v);
	} else if (v < 10000000000000000ULL) {
		size_t k = put_small(p, (uint32_t)(v / 100000000));

		put8(p + k, (uint32_t)(v % 100000000));
		l->n += k + 8;
	} else {
		uint64_t top = v / 100000000;
		size_t k = put_small(p, (uint32_t)(top / 100000000));

		put8(p + k, (uint32_t)(top % 100000000));
		put8(p + k + 8, (uint32_t)(v % 100000000));
		l->n += k + 16;
	}
}

/* As cot_addr_format(.., true): IPv4 (mapped) as a dotted quad here,
 * without its general path; IPv6 by it. */
static void l_addr(struct line *l, const struct cot_addr *a)
{
	char *p;
	int i;

	l_room(l, COT_ADDR_STRLEN);
	p = l->b + l->n;
	if (!cot_addr_is_v4(a)) {
		l->n += (size_t)cot_addr_format(p, a, true);
		return;
	}
	for (i = 12; i < 16; i++) {
		unsigned int v = a->b[i];

		if (v >= 100) {
			*p++ = (char)('0' + v / 100);
			memcpy(p, d2 + 2 * (v % 100), 2);
			p += 2;
		} else if (v >= 10) {
			memcpy(p, d2 + 2 * v, 2);
			p += 2;
		} else {
			*p++ = (char)('0' + v);
		}
		*p++ = '.';
	}
	l->n = (size_t)(p - 1 - l->b);
}

static void l_json_str(struct line *l, const char *s)
{
	static const char hx[] = "0123456789abcdef";

	l_ch(l, '"');
	for (; *s; s++) { /* bound: NUL-terminated */
		unsigned char c = (unsigned char)*s;

		l_room(l, 6);
		if (c == '"' || c == '\\') {
			l->b[l->n++] = '\\';
			l->b[l->n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(l->b + l->n, "\\u00", 4);
			l->b[l->n + 4] = hx[c >> 4];
			l->b[l->n + 5] = hx[c & 15];
			l->n += 6;
		} else {
			l->b[l->n++] = (char)c;
		}
	}
	l_ch(l, '"');
}

static void l_csv_str(struct line *l, const char *s)
{
	if (!*s) /* most names are absent */
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		l_str(l, s);
		return;
	}
	l_ch(l, '"');
	for (; *s; s++) { /* bound: NUL-terminated */
		if (*s == '"')
			l_ch(l, '"');
		l_ch(l, *s);
	}
	l_ch(l, '"');
}

static void l_json_owner(struct line *l, const char *end,
			 const struct cot_rec_owner *o)
{
	if (!o->pid)
		return;
	l_lit(l, ",\"");
	l_str(l, end);
	l_lit(l, "_pid\":");
	l_u64(l, o->pid);
	l_lit(l, ",\"");
	l_str(l, end);
	l_lit(l, "_comm\":");
	l_json_str(l, o->comm);
	if (o->cgroup[0]) {
		l_lit(l, ",\"");
		l_str(l, end);
		l_lit(l, "_cgroup\":");
		l_json_str(l, o->cgroup);
	}
}

static void l_json_tun(struct line *l, const struct cot_rec *r)
{
	if (r->tun_type) {
		l_lit(l, ",\"tunnel\":\"");
		l_str(l, cot_tun_name(r->tun_type));
		l_lit(l, "\",\"tun_id\":");
		l_u64(l, r->tun_id);
		l_lit(l, ",\"tun_src\":\"");
		l_addr(l, &r->tun_src);
		l_lit(l, "\",\"tun_dst\":\"");
		l_addr(l, &r->tun_dst);
		l_ch(l, '"');
	}
	if (r->inner_conns) {
		l_lit(l, ",\"inner_conns\":");
		l_u64(l, r->inner_conns);
	}
}

static void l_csv_tun(struct line *l, const struct cot_rec *r)
{
	l_ch(l, ',');
	if (r->tun_type) {
		l_str(l, cot_tun_name(r->tun_type));
		l_ch(l, ',');
		l_u64(l, r->tun_id);
		l_ch(l, ',');
		l_addr(l, &r->tun_src);
		l_ch(l, ',');
		l_addr(l, &r->tun_dst);
		l_ch(l, ',');
	} else {
		l_lit(l, ",,,,");
	}
	if (r->inner_conns)
		l_u64(l, r->inner_conns);
}

static void write_json(struct line *lp, const struct cot_rec *r)
{
	l_lit(lp, "{\"seq\":");
	l_u64(lp, r->seq);
	l_lit(lp, ",\"vm\":");
	l_json_str(lp, r->vm);
	l_lit(lp, ",\"proto\":\"");
	l_str(lp, cot_proto_name(r->proto));
	l_lit(lp, "\",\"src\":\"");
	l_addr(lp, &r->src);
	l_lit(lp, "\",\"sport\":");
	l_u64(lp, r->sport);
	l_lit(lp, ",\"dst\":\"");
	l_addr(lp, &r->dst);
	l_lit(lp, "\",\"dport\":");
	l_u64(lp, r->dport);
	l_lit(lp, ",\"first_ns\":");
	l_u64(lp, r->first_ns);
	l_lit(lp, ",\"last_ns\":");
	l_u64(lp, r->last_ns);
	l_lit(lp, ",\"pkts_fwd\":");
	l_u64(lp, r->pkts_fwd);
	l_lit(lp, ",\"bytes_fwd\":");
	l_u64(lp, r->bytes_fwd);
	l_lit(lp, ",\"pkts_rev\":");
	l_u64(lp, r->pkts_rev);
	l_lit(lp, ",\"bytes_rev\":");
	l_u64(lp, r->bytes_rev);
	l_lit(lp, ",\"tcp_state\":\"");
	l_str(lp, cot_tcp_state_name(r->tcp_state));
	l_lit(lp, "\",\"end\":\"");
	l_str(lp, cot_end_name(r->end));
	l_lit(lp, "\",\"seen_by\":\"");
	l_str(lp, cot_seen_name(r->seen_by));
	l_ch(lp, '"');
	if (r->netns) {
		l_lit(lp, ",\"netns\":");
		l_u64(lp, r->netns);
	}
	if (r->flags) {
		l_lit(lp, ",\"flags\":\"");
		l_str(lp, flags_str(r->flags));
		l_ch(lp, '"');
	}
	l_json_owner(lp, "src", &r->src_owner);
	l_json_owner(lp, "dst", &r->dst_owner);
	if (r->src_name[0]) {
		l_lit(lp, ",\"src_name\":");
		l_json_str(lp, r->src_name);
	}
	if (r->dst_name[0]) {
		l_lit(lp, ",\"dst_name\":");
		l_json_str(lp, r->dst_name);
	}
	l_json_tun(lp, r);
	l_lit(lp, "}\n");
}

static void l_csv_owner(struct line *l, const struct cot_rec_owner *o)
{
	l_ch(l, ',');
	if (o->pid)
		l_u64(l, o->pid);
	l_ch(l, ',');
	l_csv_str(l, o->pid ? o->comm : "");
	l_ch(l, ',');
	l_csv_str(l, o->pid ? o->cgroup : "");
}

static void write_csv(struct line *lp, const struct cot_rec *r)
{
	l_u64(lp, r->seq);
	l_ch(lp, ',');
	l_csv_str(lp, r->vm);
	l_ch(lp, ',');
	l_str(lp, cot_proto_name(r->proto));
	l_ch(lp, ',');
	l_addr(lp, &r->src);
	l_ch(lp, ',');
	l_u64(lp, r->sport);
	l_ch(lp, ',');
	l_addr(lp, &r->dst);
	l_ch(lp, ',');
	l_u64(lp, r->dport);
	l_ch(lp, ',');
	l_u64(lp, r->first_ns);
	l_ch(lp, ',');
	l_u64(lp, r->last_ns);
	l_ch(lp, ',');
	l_u64(lp, r->pkts_fwd);
	l_ch(lp, ',');
	l_u64(lp, r->bytes_fwd);
	l_ch(lp, ',');
	l_u64(lp, r->pkts_rev);
	l_ch(lp, ',');
	l_u64(lp, r->bytes_rev);
	l_ch(lp, ',');
	l_str(lp, cot_tcp_state_name(r->tcp_state));
	l_ch(lp, ',');
	l_str(lp, cot_end_name(r->end));
	l_ch(lp, ',');
	l_str(lp, cot_seen_name(r->seen_by));
	l_ch(lp, ',');
	if (r->netns)
		l_u64(lp, r->netns);
	l_ch(lp, ',');
	l_str(lp, flags_str(r->flags));
	l_csv_owner(lp, &r->src_owner);
	l_csv_owner(lp, &r->dst_owner);
	l_ch(lp, ',');
	l_csv_str(lp, r->src_name);
	l_ch(lp, ',');
	l_csv_str(lp, r->dst_name);
	l_csv_tun(lp, r);
	l_ch(lp, '\n');
}

void cot_recfmt_write(FILE *f, enum cot_recfmt fmt, const struct cot_rec *r)
{
	char se[64], de[64], when[32];
	time_t secs;
	struct tm tm;

	char lb[1024];
	struct line l = { .f = f, .cap = sizeof(lb), .b = lb };

	switch (fmt) {
	case COT_RECFMT_JSON:
		write_json(&l, r);
		l_flush(&l);
		break;
	case COT_RECFMT_CSV:
		write_csv(&l, r);
		l_flush(&l);
		break;
	case COT_RECFMT_TABLE:
		endpoint(se, sizeof(se), &r->src, r->sport);
		endpoint(de, sizeof(de), &r->dst, r->dport);
		secs = (time_t)(r->first_ns / 1000000000ULL);
		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(f,
			"%6" PRIu64 " %-8s %-5s %-41s %-41s %7" PRIu64
			" %10" PRIu64 " %7" PRIu64 " %10" PRIu64
			" %-11s %-8s %-4s %s.%03u %.3fs%s%s",
			r->seq, r->vm[0] ? r->vm : "-",
			cot_proto_name(r->proto), se, de, r->pkts_fwd,
			r->bytes_fwd, r->pkts_rev, r->bytes_rev,
			cot_tcp_state_name(r->tcp_state), cot_end_name(r->end),
			cot_seen_name(r->seen_by), when,
			(unsigned int)(r->first_ns % 1000000000ULL / 1000000U),
			(double)(r->last_ns - r->first_ns) / 1e9,
			r->flags ? " " : "", flags_str(r->flags));
		table_names(f, r);
		table_tun(f, r);
		fputc('\n', f);
		break;
	}
}

/* ---- many records to a file descriptor ----------------------------------- */

/* Lines gather until a chunk this big is full; then one write(2). */
#define RECBUF_CAP (256 * 1024)

struct cot_recbuf {
	enum cot_recfmt fmt;
	struct line l;
};

struct cot_recbuf *cot_recbuf_new(int fd, enum cot_recfmt fmt)
{
	struct cot_recbuf *w;

	if (fmt != COT_RECFMT_JSON && fmt != COT_RECFMT_CSV)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->l.b = malloc(RECBUF_CAP);
	if (!w->l.b) {
		free(w);
		return NULL;
	}
	w->fmt = fmt;
	w->l.fd = fd;
	w->l.cap = RECBUF_CAP;
	return w;
}

void cot_recbuf_write(struct cot_recbuf *w, const struct cot_rec *r)
{
	if (w->fmt == COT_RECFMT_JSON)
		write_json(&w->l, r);
	else
		write_csv(&w->l, r);
}

int cot_recbuf_flush(struct cot_recbuf *w)
{
	l_flush(&w->l);
	return w->l.err ? -w->l.err : 0;
}

int cot_recbuf_free(struct cot_recbuf *w)
{
	int rc;

	if (!w)
		return 0;
	rc = cot_recbuf_flush(w);
	free(w->l.b);
	free(w);
	return rc;
}
