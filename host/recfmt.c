// SPDX-License-Identifier: MIT
#include <inttypes.h>
#include <string.h>
#include <time.h>

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
static void put_json_str(FILE *f, const char *s)
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

static void put_csv_str(FILE *f, const char *s)
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
	"bytes_fwd,pkts_rev,bytes_rev,tcp_state,end,seen_by,netns,flags"

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

void cot_recfmt_write(FILE *f, enum cot_recfmt fmt, const struct cot_rec *r)
{
	char s[COT_ADDR_STRLEN], d[COT_ADDR_STRLEN];
	char se[64], de[64], when[32];
	time_t secs;
	struct tm tm;

	switch (fmt) {
	case COT_RECFMT_JSON:
		fprintf(f, "{\"seq\":%" PRIu64 ",\"vm\":", r->seq);
		put_json_str(f, r->vm);
		fprintf(f,
			",\"proto\":\"%s\",\"src\":\"%s\",\"sport\":%u,"
			"\"dst\":\"%s\",\"dport\":%u,\"first_ns\":%" PRIu64
			",\"last_ns\":%" PRIu64 ",\"pkts_fwd\":%" PRIu64
			",\"bytes_fwd\":%" PRIu64 ",\"pkts_rev\":%" PRIu64
			",\"bytes_rev\":%" PRIu64
			",\"tcp_state\":\"%s\",\"end\":\"%s\",\"seen_by\":\"%"
			"s\"",
			cot_proto_name(r->proto), cot_addr_str(&r->src, s),
			r->sport, cot_addr_str(&r->dst, d), r->dport,
			r->first_ns, r->last_ns, r->pkts_fwd, r->bytes_fwd,
			r->pkts_rev, r->bytes_rev,
			cot_tcp_state_name(r->tcp_state), cot_end_name(r->end),
			cot_seen_name(r->seen_by));
		if (r->netns)
			fprintf(f, ",\"netns\":%u", r->netns);
		if (r->flags)
			fprintf(f, ",\"flags\":\"%s\"", flags_str(r->flags));
		fputs("}\n", f);
		break;
	case COT_RECFMT_CSV:
		fprintf(f, "%" PRIu64 ",", r->seq);
		put_csv_str(f, r->vm);
		fprintf(f,
			",%s,%s,%u,%s,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64
			",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%s,%s,",
			cot_proto_name(r->proto), cot_addr_str(&r->src, s),
			r->sport, cot_addr_str(&r->dst, d), r->dport,
			r->first_ns, r->last_ns, r->pkts_fwd, r->bytes_fwd,
			r->pkts_rev, r->bytes_rev,
			cot_tcp_state_name(r->tcp_state), cot_end_name(r->end),
			cot_seen_name(r->seen_by));
		if (r->netns)
			fprintf(f, "%u", r->netns);
		fprintf(f, ",%s\n", flags_str(r->flags));
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
			" %-11s %-8s %-4s %s.%03u %.3fs%s%s\n",
			r->seq, r->vm[0] ? r->vm : "-",
			cot_proto_name(r->proto), se, de, r->pkts_fwd,
			r->bytes_fwd, r->pkts_rev, r->bytes_rev,
			cot_tcp_state_name(r->tcp_state), cot_end_name(r->end),
			cot_seen_name(r->seen_by), when,
			(unsigned int)(r->first_ns % 1000000000ULL / 1000000U),
			(double)(r->last_ns - r->first_ns) / 1e9,
			r->flags ? " " : "", flags_str(r->flags));
		break;
	}
}
