// SPDX-License-Identifier: MIT
/* core/rec: the record encoding, versions 1, 2 and 3, and every malformed case.
 */
#include <stdio.h>
#include <string.h>

#include "cotrack/pkt.h"
#include "cotrack/rec.h"
#include "t.h"

static void base(struct cot_rec *r)
{
	static const uint8_t v4[4] = { 10, 0, 0, 2 };

	memset(r, 0, sizeof(*r));
	r->seq = 0x0102030405060708ull;
	snprintf(r->vm, sizeof(r->vm), "fe");
	r->proto = COT_PROTO_TCP;
	r->ipproto = 6;
	r->tcp_state = COT_TCP_CLOSED;
	r->end = COT_END_FIN;
	r->seen_by = COT_SEEN_BOTH;
	r->flags = COT_RF_HIDDEN_VMI;
	r->sport = 41872;
	r->dport = 80;
	cot_addr_from_v4(&r->src, v4);
	cot_addr_from_v4(&r->dst, v4);
	r->first_ns = 1;
	r->last_ns = 2;
	r->pkts_fwd = 3;
	r->bytes_fwd = 4;
	r->pkts_rev = 5;
	r->bytes_rev = 6;
	r->netns = 4026531840u;
	r->tcp_flags_fwd = 0x1b;
	r->tcp_flags_rev = 0x1a;
}

static void named(struct cot_rec *r)
{
	base(r);
	r->src_owner.pid = 812;
	snprintf(r->src_owner.comm, sizeof(r->src_owner.comm), "nginx");
	snprintf(r->src_owner.cgroup, sizeof(r->src_owner.cgroup),
		 "/system.slice/fe.scope");
	snprintf(r->dst_name, sizeof(r->dst_name), "backend.svc");
}

static int same(const struct cot_rec *a, const struct cot_rec *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void test_v1_unchanged(void)
{
	uint8_t enc[COT_REC_WIRE_MAX];
	struct cot_rec r, back;

	base(&r);
	/* nothing named: version 1, 140 bytes, as before */
	T_EQ_U(cot_rec_encode(enc, &r), COT_REC_WIRE_V1_LEN);
	T_EQ_U(enc[2], 1);
	T_EQ_U(enc[3], 140);
	T_EQ_U(cot_rec_wire_len(enc, 140), 140);
	T_EQ_U(cot_rec_decode(&back, enc, 140), 140);
	T_CHECK(same(&r, &back));
	T_CHECK(cot_rec_decode(&back, enc, 139) == -COT_EBADMSG);
	/* a comm without a pid names nothing: still v1 (and dropped) */
	snprintf(r.src_owner.comm, sizeof(r.src_owner.comm), "ghost");
	T_EQ_U(cot_rec_encode(enc, &r), COT_REC_WIRE_V1_LEN);
}

static void test_v2_round_trip(void)
{
	uint8_t enc[COT_REC_WIRE_MAX];
	struct cot_rec r, back;
	int n;

	named(&r);
	n = cot_rec_encode(enc, &r);
	/* 142 + src (4 + 6 + 23 + 1) + dst (4 + 1 + 1 + 12) */
	T_EQ_U(n, 142 + 34 + 18);
	T_EQ_U(enc[2], 2);
	T_EQ_U(enc[3], 0);
	T_EQ_U(cot_get_le16(enc + 140), n);
	T_EQ_U(cot_rec_wire_len(enc, (size_t)n), n);
	T_EQ_U(cot_rec_decode(&back, enc, (size_t)n), n);
	T_CHECK(same(&r, &back));
	/* trailing bytes beyond the length are not consumed */
	T_EQ_U(cot_rec_decode(&back, enc, COT_REC_WIRE_MAX), n);
	/* only a name: still v2 */
	base(&r);
	snprintf(r.src_name, sizeof(r.src_name), "a");
	n = cot_rec_encode(enc, &r);
	T_EQ_U(n, 142 + 2 * 7 + 1);
	T_EQ_U(cot_rec_decode(&back, enc, (size_t)n), n);
	T_CHECK(same(&r, &back));
}

static void test_v2_full(void)
{
	uint8_t enc[COT_REC_WIRE_MAX];
	struct cot_rec r, back;

	base(&r);
	r.src_owner.pid = r.dst_owner.pid = 0xffffffffu;
	memset(r.src_owner.comm, 'c', COT_COMM_LEN - 1);
	memset(r.dst_owner.comm, 'C', COT_COMM_LEN - 1);
	memset(r.src_owner.cgroup, '/', COT_CGROUP_LEN - 1);
	memset(r.dst_owner.cgroup, 'g', COT_CGROUP_LEN - 1);
	memset(r.src_name, 'n', COT_DNSNAME_LEN - 1);
	memset(r.dst_name, '.', COT_DNSNAME_LEN - 1);
	T_EQ_U(cot_rec_encode(enc, &r), COT_REC_WIRE_V2_MAX);
	T_EQ_U(COT_REC_WIRE_V2_MAX, 1202);
	T_EQ_U(cot_rec_decode(&back, enc, COT_REC_WIRE_MAX),
	       COT_REC_WIRE_V2_MAX);
	T_CHECK(same(&r, &back));
	/* unterminated strings are cut at their caps */
	memset(&r.src_owner.comm, 'x', COT_COMM_LEN);
	T_EQ_U(cot_rec_encode(enc, &r), COT_REC_WIRE_V2_MAX);
	T_EQ_U(cot_rec_decode(&back, enc, COT_REC_WIRE_MAX),
	       COT_REC_WIRE_V2_MAX);
	T_EQ_U(strlen(back.src_owner.comm), COT_COMM_LEN - 1);
}

/* What the guest wrote never leaves raw: controls and high bytes go '?'. */
static void test_sanitize(void)
{
	uint8_t enc[COT_REC_WIRE_MAX];
	struct cot_rec r, back;
	int n;

	named(&r);
	memcpy(r.src_owner.comm, "a\x1b[2J\x7f\xff", 8);
	snprintf(r.dst_name, sizeof(r.dst_name), "x\ny.z");
	n = cot_rec_encode(enc, &r);
	T_EQ_U(cot_rec_decode(&back, enc, (size_t)n), n);
	T_CHECK(strcmp(back.src_owner.comm, "a?[2J??") == 0);
	T_CHECK(strcmp(back.dst_name, "x?y.z") == 0);
	/* a pid-0 end carries no cgroup even if one was set */
	named(&r);
	snprintf(r.dst_owner.cgroup, sizeof(r.dst_owner.cgroup), "/x");
	n = cot_rec_encode(enc, &r);
	T_EQ_U(cot_rec_decode(&back, enc, (size_t)n), n);
	T_EQ_U(back.dst_owner.cgroup[0], 0);
}

/* Offsets in the named() encoding: src end at 142. */
#define SRC_COMM   146 /* length byte */
#define SRC_CGROUP (146 + 6)
#define DST_END	   (142 + 34)

static int bad(uint8_t *enc, size_t n)
{
	struct cot_rec back;

	return cot_rec_decode(&back, enc, n);
}

static void test_malformed(void)
{
	uint8_t enc[COT_REC_WIRE_MAX], keep[COT_REC_WIRE_MAX];
	struct cot_rec r;
	size_t n, i;

	named(&r);
	n = (size_t)cot_rec_encode(keep, &r);
#define RESET() memcpy(enc, keep, sizeof(enc))
	RESET();
	T_CHECK(bad(enc, 3) == -COT_EBADMSG);
	/* every truncation */
	for (i = 0; i < n; i++)
		T_ASSERT(bad(enc, i) == -COT_EBADMSG);
	enc[0] = 'X';
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	RESET();
	enc[2] = 4;
	T_CHECK(bad(enc, n) == -COT_ENOTSUP);
	enc[2] = 0;
	T_CHECK(bad(enc, n) == -COT_ENOTSUP);
	RESET();
	enc[3] = 140; /* v2 keeps the v1 length byte 0 */
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	RESET();
	enc[2] = 1; /* a v2 body claimed as v1: v1 length byte wrong */
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	/* the length field: too small, too large, not matching */
	RESET();
	cot_put_le16(enc + 140, 155);
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	cot_put_le16(enc + 140, COT_REC_WIRE_MAX + 1);
	T_CHECK(bad(enc, sizeof(enc)) == -COT_EBADMSG);
	cot_put_le16(enc + 140, (uint16_t)(n + 1));
	T_CHECK(bad(enc, n + 1) == -COT_EBADMSG); /* strings end early */
	cot_put_le16(enc + 140, (uint16_t)(n - 1));
	T_CHECK(bad(enc, n) == -COT_EBADMSG); /* strings run past it */
	/* string lengths beyond their caps */
	RESET();
	enc[SRC_COMM] = COT_COMM_LEN;
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	RESET();
	enc[SRC_COMM] = 6;
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	RESET();
	enc[SRC_CGROUP] = 255; /* within the cap, past the end */
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	/* NUL, control and high bytes inside a string */
	RESET();
	enc[SRC_COMM + 2] = 0;
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	enc[SRC_COMM + 2] = '\n';
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	enc[SRC_COMM + 2] = 0x7f;
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	enc[SRC_COMM + 2] = 0x80;
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	RESET();
	enc[n - 1] = 0x1b; /* last byte of dst_name */
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	/* no owner (pid 0) with a comm */
	RESET();
	cot_put_le32(enc + 142, 0);
	T_CHECK(bad(enc, n) == -COT_EBADMSG);
	/* v2 naming nothing is not canonical */
	base(&r);
	snprintf(r.src_name, sizeof(r.src_name), "a");
	n = (size_t)cot_rec_encode(enc, &r);
	T_EQ_U(n, 157);
	enc[142 + 6] = 0; /* src_name length 0, and its byte dropped */
	memmove(enc + 149, enc + 150, n - 150);
	cot_put_le16(enc + 140, (uint16_t)(n - 1));
	T_CHECK(bad(enc, n - 1) == -COT_EBADMSG);
	/* enum ranges are still checked in v2 */
	RESET();
	enc[48] = 0;
	T_CHECK(bad(enc, sizeof(keep)) == -COT_EBADMSG);
	RESET();
	enc[44] = COT_PROTO__COUNT;
	T_CHECK(bad(enc, sizeof(keep)) == -COT_EBADMSG);
	(void)DST_END;
#undef RESET
}

static void tunneled(struct cot_rec *r)
{
	static const uint8_t a[4] = { 192, 0, 2, 1 }, b[4] = { 192, 0, 2, 2 };

	base(r);
	r->tun_type = COT_TUN_VXLAN;
	r->tun_id = 0xabcdef;
	cot_addr_from_v4(&r->tun_src, a);
	cot_addr_from_v4(&r->tun_dst, b);
}

/* Version 3: a tunnel or inner connections, with or without names. */
static void test_v3(void)
{
	uint8_t enc[COT_REC_WIRE_MAX], keep[COT_REC_WIRE_MAX];
	struct cot_rec r, back;
	size_t i;
	int n;

	tunneled(&r);
	n = cot_rec_encode(enc, &r);
	T_EQ_U(n, COT_REC_V3_FIXED + 14);
	T_EQ_U(enc[2], 3);
	T_EQ_U(cot_get_le16(enc + 140), n);
	T_EQ_U(enc[142], COT_TUN_VXLAN);
	T_EQ_U(cot_get_le32(enc + 143), 0xabcdef);
	T_EQ_U(enc[147 + 15], 1);
	T_EQ_U(enc[163 + 15], 2);
	T_EQ_U(cot_rec_wire_len(enc, (size_t)n), n);
	T_EQ_U(cot_rec_decode(&back, enc, (size_t)n), n);
	T_CHECK(same(&r, &back));

	/* only inner connections (an outer flow): v3, tunnel fields 0 */
	base(&r);
	r.inner_conns = 7;
	n = cot_rec_encode(enc, &r);
	T_EQ_U(enc[2], 3);
	T_EQ_U(cot_rec_decode(&back, enc, (size_t)n), n);
	T_CHECK(same(&r, &back));
	/* ... and stale tunnel fields without a type are not written */
	r.tun_id = 5;
	T_EQ_U(cot_rec_encode(keep, &r), n);
	T_CHECK(memcmp(enc, keep, (size_t)n) == 0);

	/* names and a tunnel: the longest record */
	tunneled(&r);
	r.inner_conns = 0xffffffffu;
	r.src_owner.pid = r.dst_owner.pid = 1;
	memset(r.src_owner.comm, 'c', COT_COMM_LEN - 1);
	memset(r.dst_owner.comm, 'C', COT_COMM_LEN - 1);
	memset(r.src_owner.cgroup, '/', COT_CGROUP_LEN - 1);
	memset(r.dst_owner.cgroup, 'g', COT_CGROUP_LEN - 1);
	memset(r.src_name, 'n', COT_DNSNAME_LEN - 1);
	memset(r.dst_name, '.', COT_DNSNAME_LEN - 1);
	T_EQ_U(cot_rec_encode(enc, &r), COT_REC_WIRE_MAX);
	T_EQ_U(COT_REC_WIRE_MAX, 1243);
	T_EQ_U(cot_rec_decode(&back, enc, COT_REC_WIRE_MAX), COT_REC_WIRE_MAX);
	T_CHECK(same(&r, &back));

	/* malformed */
	tunneled(&r);
	n = cot_rec_encode(keep, &r);
	for (i = 0; i < (size_t)n; i++)
		T_ASSERT(cot_rec_decode(&back, keep, i) == -COT_EBADMSG);
	memcpy(enc, keep, sizeof(enc));
	enc[142] = COT_TUN__COUNT; /* unknown type */
	T_CHECK(cot_rec_decode(&back, enc, (size_t)n) == -COT_EBADMSG);
	memcpy(enc, keep, sizeof(enc));
	enc[142] = 0; /* no type, yet an id and addresses */
	T_CHECK(cot_rec_decode(&back, enc, (size_t)n) == -COT_EBADMSG);
	memset(enc + 143, 0, 36); /* no tunnel, no inner: not v3 */
	T_CHECK(cot_rec_decode(&back, enc, (size_t)n) == -COT_EBADMSG);
	memcpy(enc, keep, sizeof(enc));
	cot_put_le16(enc + 140, (uint16_t)(n - 1)); /* length off by one */
	T_CHECK(cot_rec_decode(&back, enc, (size_t)n) == -COT_EBADMSG);
	cot_put_le16(enc + 140, COT_REC_V3_FIXED + 13);
	T_CHECK(cot_rec_decode(&back, enc, (size_t)n) == -COT_EBADMSG);
	/* a v3 body claimed as v2: the ends are read at 142 */
	memcpy(enc, keep, sizeof(enc));
	enc[2] = 2;
	T_CHECK(cot_rec_decode(&back, enc, (size_t)n) == -COT_EBADMSG);
}

int main(void)
{
	T_RUN(test_v1_unchanged);
	T_RUN(test_v2_round_trip);
	T_RUN(test_v2_full);
	T_RUN(test_sanitize);
	T_RUN(test_malformed);
	T_RUN(test_v3);
	return t_done();
}
