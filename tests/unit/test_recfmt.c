// SPDX-License-Identifier: MIT
/*
 * Unit tests of host/recfmt's hand-made JSON and CSV lines: byte for byte
 * what printf's formats give (the way they were written before), for
 * numbers at every digit-count edge up to 2^64 - 1, random numbers,
 * escaped names and names longer than the line buffer; and cot_recbuf
 * (the buffered writer cotrack replay uses) against cot_recfmt_write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cotrack/pkt.h"
#include "host/recfmt.h"
#include "t.h"

static char *fmt(enum cot_recfmt f, const struct cot_rec *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m)
		return NULL;
	cot_recfmt_write(m, f, r);
	fclose(m);
	return buf;
}

/* The CSV line as the fprintf formats wrote it (names empty, no pid, no
 * tunnel). */
static void csv_printf(char *out, size_t n, const struct cot_rec *r)
{
	char s[COT_ADDR_STRLEN], d[COT_ADDR_STRLEN];

	snprintf(out, n,
		 "%" PRIu64 ",%s,%s,%s,%u,%s,%u,%" PRIu64 ",%" PRIu64
		 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		 ",%s,%s,%s,,,,,,,,,,,,,,,\n",
		 r->seq, r->vm, cot_proto_name(r->proto),
		 cot_addr_str(&r->src, s), r->sport, cot_addr_str(&r->dst, d),
		 r->dport, r->first_ns, r->last_ns, r->pkts_fwd, r->bytes_fwd,
		 r->pkts_rev, r->bytes_rev, cot_tcp_state_name(r->tcp_state),
		 cot_end_name(r->end), cot_seen_name(r->seen_by));
}

static struct cot_rec base_rec(void)
{
	static const uint8_t a[4] = { 10, 1, 2, 3 };
	struct cot_rec r;

	memset(&r, 0, sizeof(r));
	r.proto = COT_PROTO_TCP;
	r.ipproto = 6;
	r.end = COT_END_FIN;
	r.seen_by = COT_SEEN_NIC;
	r.tcp_state = COT_TCP_CLOSED;
	cot_addr_from_v4(&r.src, a);
	memset(r.dst.b, 0, 16);
	r.dst.b[0] = 0x20;
	r.dst.b[1] = 0x01;
	r.dst.b[15] = 1;
	r.sport = 65535;
	r.dport = 0;
	return r;
}

static void test_numbers(void)
{
	static const uint64_t edge[] = { 0,
					 9,
					 10,
					 99,
					 100,
					 99999999,
					 100000000,
					 9999999999999999ULL,
					 10000000000000000ULL,
					 1764633600123456789ULL,
					 18446744073709551615ULL };
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char want[512];
	int i, bad = 0;

	for (i = 0; i < 2000; i++) {
		struct cot_rec r = base_rec();
		uint64_t v;
		char *got;

		if (i < (int)(sizeof(edge) / sizeof(edge[0]))) {
			v = edge[i];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v = x >> (x & 63);
		}
		r.seq = v;
		r.first_ns = v / 3;
		r.last_ns = v;
		r.pkts_fwd = v & 0xffffffff;
		r.bytes_fwd = v >> 7;
		r.pkts_rev = i;
		r.bytes_rev = ~v;
		csv_printf(want, sizeof(want), &r);
		got = fmt(COT_RECFMT_CSV, &r);
		if (!got || strcmp(got, want) != 0) {
			if (bad++ < 3)
				printf("# got  %s# want %s", got ? got : "-\n",
				       want);
		}
		free(got);
	}
	T_CHECK(bad == 0);
}

static void test_escapes(void)
{
	struct cot_rec r = base_rec();
	char *j, *c;
	size_t i;

	memcpy(r.vm, "a\"b\\c\x01\x7f,d", 10);
	r.src_owner.pid = 42;
	memcpy(r.src_owner.comm, "x,\"y", 5);
	/* A name longer than the line buffer: written in parts. */
	for (i = 0; i < sizeof(r.src_owner.cgroup) - 1; i++)
		r.src_owner.cgroup[i] = (char)('a' + i % 26);
	for (i = 0; i < sizeof(r.dst_name) - 1; i++)
		r.dst_name[i] = '"';
	j = fmt(COT_RECFMT_JSON, &r);
	c = fmt(COT_RECFMT_CSV, &r);
	T_ASSERT(j && c);
	T_CHECK(strncmp(j, "{\"seq\":0,\"vm\":\"a\\\"b\\\\c\\u0001\\u007f,d\"",
			37) == 0);
	T_CHECK(strstr(j, ",\"src_pid\":42,\"src_comm\":\"x,\\\"y\"") != NULL);
	T_CHECK(strlen(j) > 2 * (sizeof(r.dst_name) - 1));
	T_CHECK(strncmp(c, "0,\"a\"\"b\\c\x01\x7f,d\",tcp,", 19) == 0);
	T_CHECK(strstr(c, ",42,\"x,\"\"y\",abcdefghij") != NULL);
	/* 253 quotes, doubled, between two quotes, then the newline. */
	T_CHECK(strlen(c) > 2 * 253 + 3);
	/* ... then the five empty tunnel columns */
	T_CHECK(strlen(c) > 7 && !strcmp(c + strlen(c) - 7, "\",,,,,\n"));
	free(j);
	free(c);
}

/* A tunnel (record version 3): the fields as the fprintf formats wrote
 * them. */
static void test_tunnel(void)
{
	static const uint8_t o1[4] = { 192, 0, 2, 1 }, o2[4] = { 192, 0, 2, 2 };
	struct cot_rec r = base_rec();
	char *j, *c, *t;

	r.tun_type = COT_TUN_VXLAN;
	r.tun_id = 4294967295u;
	cot_addr_from_v4(&r.tun_src, o1);
	cot_addr_from_v4(&r.tun_dst, o2);
	r.inner_conns = 7;
	j = fmt(COT_RECFMT_JSON, &r);
	c = fmt(COT_RECFMT_CSV, &r);
	t = fmt(COT_RECFMT_TABLE, &r);
	T_ASSERT(j && c && t);
	T_CHECK(strstr(j, ",\"tunnel\":\"vxlan\",\"tun_id\":4294967295,"
			  "\"tun_src\":\"192.0.2.1\",\"tun_dst\":\"192.0.2.2\","
			  "\"inner_conns\":7}\n") != NULL);
	T_CHECK(strstr(c, ",vxlan,4294967295,192.0.2.1,192.0.2.2,7\n") != NULL);
	T_CHECK(strstr(t, " tunnel=vxlan/4294967295/192.0.2.1>192.0.2.2 "
			  "inner_conns=7\n") != NULL);
	free(j);
	free(c);
	free(t);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A record of every kind by @i: v4/v6, owners, names, tunnels, edges. */
static void varied_rec(struct cot_rec *r, int i, uint64_t *x)
{
	static const char odd[] = "q\"u,o\\te\x01\x7f";
	uint64_t v = rnd(x);
	size_t k;

	*r = base_rec();
	r->seq = (uint64_t)i;
	r->proto = (uint8_t)(i % COT_PROTO__COUNT);
	r->end = (uint8_t)(i % COT_END__COUNT);
	r->tcp_state = (uint8_t)(i % COT_TCP__COUNT);
	r->seen_by = (uint8_t)(1 + i % 3);
	r->sport = (uint16_t)v;
	r->dport = (uint16_t)(v >> 16);
	r->first_ns = v >> (i & 63);
	r->last_ns = ~v;
	r->pkts_fwd = v & 0xffff;
	r->bytes_fwd = v >> 3;
	r->pkts_rev = (uint64_t)i;
	r->bytes_rev = i & 1 ? UINT64_MAX : 0;
	r->flags = (uint8_t)(i & 3);
	r->netns = (uint32_t)(v >> 32);
	if (i % 3 == 0)
		memcpy(r->dst.b, &v, 8); /* an IPv6 address */
	else
		cot_addr_from_v4(&r->dst, (const uint8_t *)&v);
	snprintf(r->vm, sizeof(r->vm), "vm-%d", i % 7);
	if (i % 4 == 1) {
		r->src_owner.pid = (uint32_t)v;
		memcpy(r->src_owner.comm, odd, sizeof(odd));
		snprintf(r->src_owner.cgroup, sizeof(r->src_owner.cgroup),
			 "/ns/%d/%s", i, odd);
	}
	if (i % 5 == 2) {
		r->dst_owner.pid = 1;
		snprintf(r->dst_owner.comm, sizeof(r->dst_owner.comm), "d%d",
			 i);
		/* names of every length up to the field's */
		for (k = 0; k < (size_t)i % sizeof(r->dst_name); k++)
			r->dst_name[k] = odd[k % (sizeof(odd) - 1)];
	}
	if (i % 6 == 3) {
		r->tun_type = (uint8_t)(1 + i % 3);
		r->tun_id = (uint32_t)v;
		cot_addr_from_v4(&r->tun_src, (const uint8_t *)&v + 4);
		r->tun_dst = r->dst;
		r->inner_conns = (uint32_t)i;
	}
}

/* @n varied records through cot_recbuf into a file: the bytes of
 * cot_recfmt_write's lines. */
static void recbuf_same(enum cot_recfmt f, int n)
{
	char path[] = "/tmp/test_recbuf.XXXXXX";
	char *want = NULL, *got;
	size_t wlen = 0;
	FILE *m = open_memstream(&want, &wlen);
	struct cot_recbuf *w;
	struct cot_rec r;
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int fd = mkstemp(path), i;
	off_t len;

	T_ASSERT(m && fd >= 0);
	unlink(path);
	w = cot_recbuf_new(fd, f);
	T_ASSERT(w != NULL);
	for (i = 0; i < n; i++) {
		varied_rec(&r, i, &x);
		cot_recfmt_write(m, f, &r);
		cot_recbuf_write(w, &r);
	}
	fclose(m);
	T_CHECK(cot_recbuf_free(w) == 0);
	len = lseek(fd, 0, SEEK_END);
	T_CHECK(len == (off_t)wlen);
	/* more than the 256 KiB buffer: it was written in several parts */
	T_CHECK(wlen > 3 * 262144);
	got = malloc(wlen + 1);
	T_ASSERT(got != NULL);
	T_CHECK(pread(fd, got, wlen, 0) == (ssize_t)wlen);
	T_CHECK(memcmp(got, want, wlen) == 0);
	free(got);
	free(want);
	close(fd);
}

static void test_recbuf(void)
{
	struct cot_recbuf *w;
	struct cot_rec r = base_rec();
	int fd, i;

	recbuf_same(COT_RECFMT_CSV, 6000);
	recbuf_same(COT_RECFMT_JSON, 4000);
	T_CHECK(cot_recbuf_new(1, COT_RECFMT_TABLE) == NULL);
	T_CHECK(cot_recbuf_free(NULL) == 0);
	/* a full disk: the first failed write's error, from flush and free */
	fd = open("/dev/full", O_WRONLY);
	T_ASSERT(fd >= 0);
	w = cot_recbuf_new(fd, COT_RECFMT_CSV);
	T_ASSERT(w != NULL);
	for (i = 0; i < 3000; i++)
		cot_recbuf_write(w, &r);
	T_CHECK(cot_recbuf_flush(w) == -ENOSPC);
	T_CHECK(cot_recbuf_free(w) == -ENOSPC);
	close(fd);
}

int main(void)
{
	T_RUN(test_numbers);
	T_RUN(test_escapes);
	T_RUN(test_tunnel);
	T_RUN(test_recbuf);
	return t_done();
}
