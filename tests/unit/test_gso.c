// SPDX-License-Identifier: MIT
/*
 * Unit tests of super-frame accounting (core/pkt cot_pkt_gso_tcp(),
 * core/flow) against cotrackd's software segmentation of the same frame
 * (cmd/cotrackd/gso.c, compiled in): each segment parsed on its own,
 * its checksums verified, and the counts the flow table keeps for the
 * super-frame equal to those it keeps for the segments fed one by one.
 */
#include <stdlib.h>

#include "cmd/cotrackd/gso.c"
#include "cotrack/flow.h"
#include "t.h"

#define MAXF 70000

static uint8_t frame[MAXF], out[1 << 21];
static struct gso_seg segs[1024];

/* One's complement sum check of a finished checksum: folds to 0. */
static int sum_ok(uint64_t sum)
{
	return csum_fold(sum) == 0;
}

/*
 * A TCP frame: IPv4 (with @ipopt bytes of options) or IPv6 (with a
 * destination options header when @ipopt), TCP header of @thl bytes,
 * @payload bytes (pattern), @vlan tag or not.
 */
static uint32_t mk(int ver, uint32_t ipopt, uint32_t thl, uint32_t payload,
		   uint8_t flags, int vlan)
{
	uint32_t off = 12, iphl, i;
	uint8_t *ip, *th;

	memset(frame, 0, sizeof(frame));
	for (i = 0; i < 12; i++)
		frame[i] = (uint8_t)(0x52 + i);
	if (vlan) {
		put16(frame + off, 0x8100);
		put16(frame + off + 2, 7);
		off += 4;
	}
	put16(frame + off, ver == 4 ? 0x0800 : 0x86dd);
	off += 2;
	ip = frame + off;
	if (ver == 4) {
		iphl = 20 + ipopt;
		ip[0] = (uint8_t)(0x40 | iphl / 4);
		put16(ip + 2, (uint16_t)(iphl + thl + payload));
		put16(ip + 4, 0xfffe); /* id wraps within the segments */
		ip[6] = 0x40;	       /* DF */
		ip[8] = 64;
		ip[9] = 6;
		ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
		for (i = 0; i < ipopt; i++)
			ip[20 + i] = 1; /* NOP options */
	} else {
		iphl = 40 + (ipopt ? 8 : 0);
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(iphl - 40 + thl + payload));
		ip[6] = ipopt ? 60 : 6;
		ip[7] = 64;
		ip[8] = 0xfd, ip[23] = 1, ip[24] = 0xfd, ip[39] = 2;
		if (ipopt) {
			ip[40] = 6; /* next: TCP; length 0: 8 bytes of PadN */
			ip[42] = 1;
			ip[43] = 4;
		}
	}
	th = ip + iphl;
	put16(th, 40000);
	put16(th + 2, 80);
	put32(th + 4, 0xfffff000u); /* sequence numbers wrap too */
	put32(th + 8, 12345);
	th[12] = (uint8_t)(thl / 4 << 4);
	th[13] = flags;
	put16(th + 14, 65535);
	for (i = 20; i < thl; i++)
		th[i] = 1; /* NOP */
	for (i = 0; i < payload; i++)
		th[thl + i] = (uint8_t)(i * 7 + i / 256);
	return off + iphl + thl + payload;
}

/* Parse, segment and check every segment; the exact totals. */
static void check(int ver, uint32_t ipopt, uint32_t thl, uint32_t payload,
		  uint32_t mss, uint8_t flags, int vlan, uint32_t want_segs,
		  uint32_t want_bytes)
{
	struct cot_pkt p, s;
	uint32_t len = mk(ver, ipopt, thl, payload, flags, vlan), i, got = 0;
	uint64_t bytes = 0, seq;
	uint8_t orflags = 0;
	int n;

	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	T_ASSERT(cot_pkt_gso_tcp(&p, mss) == COT_PKT_OK);
	T_EQ_U(p.segs, want_segs);
	T_EQ_U(p.wire_bytes, want_bytes);
	if (want_segs == 1) {
		T_CHECK(!(p.fl & COT_PKT_F_GSO));
		return;
	}
	T_ASSERT(p.fl & COT_PKT_F_GSO);
	n = gso_segment(&p, frame, len, mss, out, sizeof(out), segs, 1024);
	T_ASSERT(n == (int)want_segs);
	T_CHECK(gso_need(&p) == segs[n - 1].off + segs[n - 1].len);
	seq = 0xfffff000u;
	for (i = 0; i < (uint32_t)n; i++) {
		const uint8_t *f = out + segs[i].off, *ip, *th;
		uint32_t pl;

		T_ASSERT(cot_pkt_parse(&s, f, segs[i].len, segs[i].len) ==
			 COT_PKT_OK);
		ip = f + s.l3_off;
		th = f + s.l4_off;
		pl = s.l4_len - s.tcp_hlen;
		T_CHECK(pl <= mss && pl > 0);
		T_CHECK(i + 1 == (uint32_t)n || pl == mss);
		T_EQ_U(s.tcp_seq, (uint32_t)seq);
		T_CHECK(!memcmp(th + s.tcp_hlen,
				frame + p.l4_off + p.tcp_hlen + (got), pl));
		if (ver == 4) {
			T_CHECK(sum_ok(csum_add(0, ip, s.l4_off - s.l3_off)));
			T_EQ_U((ip[4] << 8 | ip[5]), (uint16_t)(0xfffe + i));
		}
		T_CHECK(sum_ok(
			csum_add(pseudo(&s, ip, s.l4_len), th, s.l4_len)));
		if (i + 1 < (uint32_t)n)
			T_CHECK(!(s.tcp_flags & (COT_TCP_FIN | COT_TCP_PSH)));
		if (i)
			T_CHECK(!(s.tcp_flags & COT_TCP_CWR));
		orflags |= s.tcp_flags;
		bytes += s.ip_len;
		got += pl;
		seq += pl;
	}
	T_EQ_U(got, payload);
	T_EQ_U(bytes, want_bytes);
	T_EQ_U(orflags, flags);
	T_EQ_U(s.tcp_flags, p.tcp_flags);
}

static void test_counts(void)
{
	/* IPv4, TCP with timestamps (32), 20000 bytes at 1448: 13 full
	 * segments and 1176; 14 * (20 + 32) + 20000. */
	check(4, 0, 32, 20000, 1448, COT_TCP_ACK | COT_TCP_PSH, 0, 14,
	      14 * 52 + 20000);
	/* The largest: 65535 - 52 bytes of payload. */
	check(4, 0, 32, 65483, 1448, COT_TCP_ACK | COT_TCP_PSH | COT_TCP_FIN, 0,
	      46, 46 * 52 + 65483);
	/* Exactly two full segments; CWR, FIN, PSH placed. */
	check(4, 0, 20, 2920, 1460,
	      COT_TCP_ACK | COT_TCP_CWR | COT_TCP_FIN | COT_TCP_PSH, 0, 2,
	      2 * 40 + 2920);
	/* IPv4 options (repeated), a VLAN tag (not counted: IP bytes). */
	check(4, 12, 32, 10000, 1000, COT_TCP_ACK, 1, 10, 10 * 64 + 10000);
	/* IPv6, and with a destination options header (repeated). */
	check(6, 0, 32, 30000, 1428, COT_TCP_ACK | COT_TCP_PSH, 0, 22,
	      22 * 72 + 30000);
	check(6, 1, 20, 5000, 1220, COT_TCP_ACK | COT_TCP_FIN, 1, 5,
	      5 * 68 + 5000);
	/* The smallest segment size allowed. */
	check(4, 0, 20, 65000, COT_PKT_GSO_MIN_MSS, COT_TCP_ACK, 0, 739,
	      739 * 40 + 65000);
	/* Payload within one segment: sent as it is. */
	check(4, 0, 20, 1448, 1448, COT_TCP_ACK, 0, 1, 20 + 20 + 1448);
	check(6, 0, 20, 0, 1448, COT_TCP_ACK, 0, 1, 40 + 20);
}

static void test_bad(void)
{
	struct cot_pkt p;
	uint32_t len = mk(4, 0, 20, 5000, COT_TCP_ACK, 0);

	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	T_EQ_U(cot_pkt_gso_tcp(&p, COT_PKT_GSO_MIN_MSS - 1), COT_PKT_BAD_GSO);
	T_EQ_U(p.reason, COT_PKT_BAD_GSO);
	T_EQ_S(cot_pkt_reason_name(COT_PKT_BAD_GSO), "bad-gso");
	T_CHECK(gso_segment(&p, frame, len, 88, out, sizeof(out), segs, 1024) <
		0);
	/* Not TCP: UDP is not negotiated. */
	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	p.ipproto = 17;
	T_EQ_U(cot_pkt_gso_tcp(&p, 1448), COT_PKT_BAD_GSO);
	/* Too small an output or segment table. */
	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	T_ASSERT(cot_pkt_gso_tcp(&p, 1000) == COT_PKT_OK);
	T_EQ_U(p.segs, 5);
	T_CHECK(gso_segment(&p, frame, len, 1000, out, gso_need(&p) - 1, segs,
			    1024) < 0);
	T_CHECK(gso_segment(&p, frame, len, 1000, out, sizeof(out), segs, 4) <
		0);
	T_CHECK(gso_segment(&p, frame, len, 1000, out, gso_need(&p), segs, 5) ==
		5);
}

static struct cot_rec rec;
static int nrec;

static void cb(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
	       uint32_t slot)
{
	(void)ctx;
	(void)slot;
	if (ev != COT_FLOW_OPENED) {
		rec = *r;
		nrec++;
	}
}

static struct cot_flowtab *mktab(void **mem)
{
	struct cot_flow_params fp;
	struct cot_flowtab *t = NULL;
	size_t n;

	cot_flow_params_default(&fp);
	fp.max_flows = 16;
	fp.cb = cb;
	n = cot_flowtab_memsize(&fp);
	*mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	if (!*mem || cot_flowtab_init(&t, *mem, n, &fp) < 0)
		return NULL;
	return t;
}

/*
 * The same connection twice: the data as one super-frame, then as its
 * segments.  The two records agree on every count, flag and state.
 */
static void flow_case(int pre)
{
	struct cot_rec a, b;
	struct cot_pkt p, s;
	void *m1, *m2;
	struct cot_flowtab *t1 = mktab(&m1), *t2 = mktab(&m2);
	uint32_t len, i;
	int n;

	T_ASSERT(t1 && t2);
	if (pre) {
		/* The flow exists: a pure ACK before the data. */
		len = mk(4, 0, 32, 0, COT_TCP_ACK, 0);
		T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
		T_CHECK(cot_flowtab_update(t1, &p, 500) >= 0);
		T_CHECK(cot_flowtab_update(t2, &p, 500) >= 0);
	}
	len = mk(4, 0, 32, 40000, COT_TCP_ACK | COT_TCP_PSH | COT_TCP_FIN, 0);
	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	T_ASSERT(cot_pkt_gso_tcp(&p, 1448) == COT_PKT_OK);
	T_CHECK(cot_flowtab_update(t1, &p, 1000) >= 0);
	n = gso_segment(&p, frame, len, 1448, out, sizeof(out), segs, 1024);
	T_ASSERT(n == 28);
	for (i = 0; i < (uint32_t)n; i++) {
		T_ASSERT(cot_pkt_parse(&s, out + segs[i].off, segs[i].len,
				       segs[i].len) == COT_PKT_OK);
		T_CHECK(cot_flowtab_update(t2, &s, 1000) >= 0);
	}
	T_ASSERT(cot_flowtab_find(t1, 6, &p.src, p.sport, &p.dst, p.dport,
				  &a) >= 0);
	T_ASSERT(cot_flowtab_find(t2, 6, &p.src, p.sport, &p.dst, p.dport,
				  &b) >= 0);
	T_EQ_U(a.pkts_fwd, 28 + pre);
	T_EQ_U(a.bytes_fwd, 28 * 52 + 40000 + pre * 52);
	T_EQ_U(a.pkts_fwd, b.pkts_fwd);
	T_EQ_U(a.bytes_fwd, b.bytes_fwd);
	T_EQ_U(a.tcp_flags_fwd, b.tcp_flags_fwd);
	T_EQ_U(a.tcp_state, b.tcp_state);
	T_EQ_U(a.pkts_rev + b.pkts_rev, 0);
	nrec = 0;
	cot_flowtab_flush(t1, 2000, COT_END_OPEN);
	cot_flowtab_flush(t2, 2000, COT_END_OPEN);
	T_EQ_U(nrec, 2);
	free(m1);
	free(m2);
}

static void test_flow(void)
{
	flow_case(0);
	flow_case(1);
}

/* Checksum completion: a partial checksum becomes the full one. */
static void test_csum(void)
{
	struct cot_pkt p;
	uint32_t len = mk(6, 0, 20, 999, COT_TCP_ACK, 0);
	uint8_t *th;

	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	th = frame + p.l4_off;
	put16(th + 16, 0x1234); /* whatever the guest left */
	T_CHECK(gso_csum(&p, frame, len) == 0);
	T_CHECK(sum_ok(csum_add(pseudo(&p, frame + p.l3_off, p.l4_len), th,
				p.l4_len)));
	/* UDP over IPv4: the UDP length. */
	len = mk(4, 0, 20, 100, 0, 0);
	frame[14 + 9] = 17;
	T_ASSERT(cot_pkt_parse(&p, frame, len, len) != COT_PKT_OK ||
		 p.ipproto == 17);
	put16(frame + 34 + 4, 120);
	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	T_CHECK(gso_csum(&p, frame, len) == 0);
	T_CHECK(sum_ok(csum_add(pseudo(&p, frame + 14, 120), frame + 34, 120)));
	/* Not TCP or UDP: left alone. */
	frame[14 + 9] = 47;
	T_ASSERT(cot_pkt_parse(&p, frame, len, len) == COT_PKT_OK);
	T_CHECK(gso_csum(&p, frame, len) < 0);
}

int main(void)
{
	T_RUN(test_counts);
	T_RUN(test_bad);
	T_RUN(test_flow);
	T_RUN(test_csum);
	return t_done();
}
