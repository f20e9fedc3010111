// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <string.h>
#include <time.h>

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
 * The JSON and CSV lines are built in a buffer by hand and given to
 * stdio with one fwrite: printf's format parsing, field by field, was a
 * fifth of cotrack replay's time (docs/bench.md).  The bytes are those
 * the fprintf formats wrote before (the golden files of tests/golden).  A line
 * that outgrows the buffer (long names, escaped) is written in parts.  The
 * workload names (record version 2): absent ones (pid 0, "") are left
 * out of JSON, empty in CSV, whose columns are fixed; a comm may hold a
 * space or a quote, which JSON and CSV escape.
 */
struct line {
	FILE *f;
	size_t n;
	char b[1024];
};

static void l_flush(struct line *l)
{
	if (l->n)
		fwrite(l->b, 1, l->n, l->f);
	l->n = 0;
}

static inline void l_room(struct line *l, size_t need)
{
	if (sizeof(l->b) - l->n < need)
		l_flush(l);
}

static inline void l_ch(struct line *l, char c)
{
	l_room(l, 1);
	l->b[l->n++] = c;
}

/* Bound: @s is NUL-terminated; chunks of at most the buffer. */
static void l_str(struct line *l, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		size_t k;

		l_room(l, 1);
		k = sizeof(l->b) - l->n;
		if (k > len)
			k = len;
		memcpy(l->b + l->n, s, k);
		l->n += k;
		s += k;
		len -= k;
	}
}

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

/* @v < 10^8 in as many digits as it needs. */
static size_t put_small(char *p, uint32_t v)
{
	char tmp[8];
	int k = 8;

	/* Bound: 8 digits, two a turn. */
	while (v >= 100) {
		k -= 2;
		memcpy(tmp + k, d2 + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		k -= 2;
		memcpy(tmp + k, d2 + 2 * v, 2);
	} else {
		tmp[--k] = (char)('0' + v);
	}
	memcpy(p, tmp + k, (size_t)(8 - k));
	return (size_t)(8 - k);
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

static void l_addr(struct line *l, const struct cot_addr *a)
{
	l_room(l, COT_ADDR_STRLEN);
	l->n += (size_t)cot_addr_format(l->b + l->n, a, true);
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
	l_str(l, ",\"");
	l_str(l, end);
	l_str(l, "_pid\":");
	l_u64(l, o->pid);
	l_str(l, ",\"");
	l_str(l, end);
	l_str(l, "_comm\":");
	l_json_str(l, o->comm);
	if (o->cgroup[0]) {
		l_str(l, ",\"");
		l_str(l, end);
		l_str(l, "_cgroup\":");
		l_json_str(l, o->cgroup);
	}
}

static void l_json_tun(struct line *l, const struct cot_rec *r)
{
	if (r->tun_type) {
		l_str(l, ",\"tunnel\":\"");
		l_str(l, cot_tun_name(r->tun_type));
		l_str(l, "\",\"tun_id\":");
		l_u64(l, r->tun_id);
		l_str(l, ",\"tun_src\":\"");
		l_addr(l, &r->tun_src);
		l_str(l, "\",\"tun_dst\":\"");
		l_addr(l, &r->tun_dst);
		l_ch(l, '"');
	}
	if (r->inner_conns) {
		l_str(l, ",\"inner_conns\":");
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
		l_str(l, ",,,,");
	}
	if (r->inner_conns)
		l_u64(l, r->inner_conns);
}

static void write_json(FILE *f, const struct cot_rec *r)
{
	struct line l = { .f = f };

	l_str(&l, "{\"seq\":");
	l_u64(&l, r->seq);
	l_str(&l, ",\"vm\":");
	l_json_str(&l, r->vm);
	l_str(&l, ",\"proto\":\"");
	l_str(&l, cot_proto_name(r->proto));
	l_str(&l, "\",\"src\":\"");
	l_addr(&l, &r->src);
	l_str(&l, "\",\"sport\":");
	l_u64(&l, r->sport);
	l_str(&l, ",\"dst\":\"");
	l_addr(&l, &r->dst);
	l_str(&l, "\",\"dport\":");
	l_u64(&l, r->dport);
	l_str(&l, ",\"first_ns\":");
	l_u64(&l, r->first_ns);
	l_str(&l, ",\"last_ns\":");
	l_u64(&l, r->last_ns);
	l_str(&l, ",\"pkts_fwd\":");
	l_u64(&l, r->pkts_fwd);
	l_str(&l, ",\"bytes_fwd\":");
	l_u64(&l, r->bytes_fwd);
	l_str(&l, ",\"pkts_rev\":");
	l_u64(&l, r->pkts_rev);
	l_str(&l, ",\"bytes_rev\":");
	l_u64(&l, r->bytes_rev);
	l_str(&l, ",\"tcp_state\":\"");
	l_str(&l, cot_tcp_state_name(r->tcp_state));
	l_str(&l, "\",\"end\":\"");
	l_str(&l, cot_end_name(r->end));
	l_str(&l, "\",\"seen_by\":\"");
	l_str(&l, cot_seen_name(r->seen_by));
	l_ch(&l, '"');
	if (r->netns) {
		l_str(&l, ",\"netns\":");
		l_u64(&l, r->netns);
	}
	if (r->flags) {
		l_str(&l, ",\"flags\":\"");
		l_str(&l, flags_str(r->flags));
		l_ch(&l, '"');
	}
	l_json_owner(&l, "src", &r->src_owner);
	l_json_owner(&l, "dst", &r->dst_owner);
	if (r->src_name[0]) {
		l_str(&l, ",\"src_name\":");
		l_json_str(&l, r->src_name);
	}
	if (r->dst_name[0]) {
		l_str(&l, ",\"dst_name\":");
		l_json_str(&l, r->dst_name);
	}
	l_json_tun(&l, r);
	l_str(&l, "}\n");
	l_flush(&l);
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

static void write_csv(FILE *f, const struct cot_rec *r)
{
	struct line l = { .f = f };

	l_u64(&l, r->seq);
	l_ch(&l, ',');
	l_csv_str(&l, r->vm);
	l_ch(&l, ',');
	l_str(&l, cot_proto_name(r->proto));
	l_ch(&l, ',');
	l_addr(&l, &r->src);
	l_ch(&l, ',');
	l_u64(&l, r->sport);
	l_ch(&l, ',');
	l_addr(&l, &r->dst);
	l_ch(&l, ',');
	l_u64(&l, r->dport);
	l_ch(&l, ',');
	l_u64(&l, r->first_ns);
	l_ch(&l, ',');
	l_u64(&l, r->last_ns);
	l_ch(&l, ',');
	l_u64(&l, r->pkts_fwd);
	l_ch(&l, ',');
	l_u64(&l, r->bytes_fwd);
	l_ch(&l, ',');
	l_u64(&l, r->pkts_rev);
	l_ch(&l, ',');
	l_u64(&l, r->bytes_rev);
	l_ch(&l, ',');
	l_str(&l, cot_tcp_state_name(r->tcp_state));
	l_ch(&l, ',');
	l_str(&l, cot_end_name(r->end));
	l_ch(&l, ',');
	l_str(&l, cot_seen_name(r->seen_by));
	l_ch(&l, ',');
	if (r->netns)
		l_u64(&l, r->netns);
	l_ch(&l, ',');
	l_str(&l, flags_str(r->flags));
	l_csv_owner(&l, &r->src_owner);
	l_csv_owner(&l, &r->dst_owner);
	l_ch(&l, ',');
	l_csv_str(&l, r->src_name);
	l_ch(&l, ',');
	l_csv_str(&l, r->dst_name);
	l_csv_tun(&l, r);
	l_ch(&l, '\n');
	l_flush(&l);
}

void cot_recfmt_write(FILE *f, enum cot_recfmt fmt, const struct cot_rec *r)
{
	char se[64], de[64], when[32];
	time_t secs;
	struct tm tm;

	switch (fmt) {
	case COT_RECFMT_JSON:
		write_json(f, r);
		break;
	case COT_RECFMT_CSV:
		write_csv(f, r);
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
