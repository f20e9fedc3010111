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
 * The workload names (record version 2).  Absent ones (pid 0, "") are
 * left out of JSON and of the table, and empty in CSV, whose columns are
 * fixed.  The strings are printable ASCII (the decoder saw to it) but a
 * comm may hold a space or a quote: JSON and CSV escape them.
 */
static void json_owner(FILE *f, const char *end, const struct cot_rec_owner *o)
{
	if (!o->pid)
		return;
	fprintf(f, ",\"%s_pid\":%u,\"%s_comm\":", end, o->pid, end);
	cot_recfmt_json_str(f, o->comm);
	if (o->cgroup[0]) {
		fprintf(f, ",\"%s_cgroup\":", end);
		cot_recfmt_json_str(f, o->cgroup);
	}
}

static void json_names(FILE *f, const struct cot_rec *r)
{
	json_owner(f, "src", &r->src_owner);
	json_owner(f, "dst", &r->dst_owner);
	if (r->src_name[0]) {
		fputs(",\"src_name\":", f);
		cot_recfmt_json_str(f, r->src_name);
	}
	if (r->dst_name[0]) {
		fputs(",\"dst_name\":", f);
		cot_recfmt_json_str(f, r->dst_name);
	}
}

static void csv_owner(FILE *f, const struct cot_rec_owner *o)
{
	if (o->pid)
		fprintf(f, ",%u,", o->pid);
	else
		fputs(",,", f);
	cot_recfmt_csv_str(f, o->pid ? o->comm : "");
	fputc(',', f);
	cot_recfmt_csv_str(f, o->pid ? o->cgroup : "");
}

static void csv_names(FILE *f, const struct cot_rec *r)
{
	csv_owner(f, &r->src_owner);
	csv_owner(f, &r->dst_owner);
	fputc(',', f);
	cot_recfmt_csv_str(f, r->src_name);
	fputc(',', f);
	cot_recfmt_csv_str(f, r->dst_name);
}

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
static void tun_fields(FILE *f, enum cot_recfmt fmt, const struct cot_rec *r)
{
	char s[COT_ADDR_STRLEN], d[COT_ADDR_STRLEN];
	const char *name = cot_tun_name(r->tun_type);

	if (r->tun_type) {
		cot_addr_str(&r->tun_src, s);
		cot_addr_str(&r->tun_dst, d);
	}
	switch (fmt) {
	case COT_RECFMT_JSON:
		if (r->tun_type)
			fprintf(f,
				",\"tunnel\":\"%s\",\"tun_id\":%u,"
				"\"tun_src\":\"%s\",\"tun_dst\":\"%s\"",
				name, r->tun_id, s, d);
		if (r->inner_conns)
			fprintf(f, ",\"inner_conns\":%u", r->inner_conns);
		break;
	case COT_RECFMT_CSV:
		if (r->tun_type)
			fprintf(f, ",%s,%u,%s,%s,", name, r->tun_id, s, d);
		else
			fputs(",,,,,", f);
		if (r->inner_conns)
			fprintf(f, "%u", r->inner_conns);
		break;
	case COT_RECFMT_TABLE:
		if (r->tun_type)
			fprintf(f, " tunnel=%s/%u/%s>%s", name, r->tun_id, s,
				d);
		if (r->inner_conns)
			fprintf(f, " inner_conns=%u", r->inner_conns);
		break;
	}
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
		cot_recfmt_json_str(f, r->vm);
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
		json_names(f, r);
		tun_fields(f, fmt, r);
		fputs("}\n", f);
		break;
	case COT_RECFMT_CSV:
		fprintf(f, "%" PRIu64 ",", r->seq);
		cot_recfmt_csv_str(f, r->vm);
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
		fprintf(f, ",%s", flags_str(r->flags));
		csv_names(f, r);
		tun_fields(f, fmt, r);
		fputc('\n', f);
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
		tun_fields(f, fmt, r);
		fputc('\n', f);
		break;
	}
}
