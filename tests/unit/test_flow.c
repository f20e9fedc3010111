// SPDX-License-Identifier: MIT
/* Unit tests of core/flow: keys, initiator, TCP life, timeouts, eviction. */
#include <stdlib.h>

#include "cotrack/flow.h"
#include "t.h"

#define S 1000000000ULL

static struct cot_rec ended[64];
static int nended, nopened;

static void cb(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
	       uint32_t slot)
{
	(void)ctx;
	(void)slot;
	if (ev == COT_FLOW_OPENED)
		nopened++;
	else if (nended < 64)
		ended[nended++] = *r;
}

static struct cot_flowtab *mk(uint32_t max, void **mem)
{
	struct cot_flow_params p;
	struct cot_flowtab *t = NULL;
	size_t n;

	cot_flow_params_default(&p);
	p.max_flows = max;
	p.cb = cb;
	p.vm = "vm-under-test";
	n = cot_flowtab_memsize(&p);
	*mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	if (cot_flowtab_init(&t, *mem, n, &p) < 0)
		return NULL;
	nended = nopened = 0;
	return t;
}

static struct cot_pkt v4(uint8_t proto, uint8_t a, uint16_t sp, uint8_t b,
			 uint16_t dp, uint8_t flags, uint32_t len)
{
	struct cot_pkt p;
	uint8_t x[4] = { 10, 0, 0, a }, y[4] = { 10, 0, 0, b };

	memset(&p, 0, sizeof(p));
	p.ipver = 4;
	p.ipproto = proto;
	p.fl = COT_PKT_F_L4;
	p.sport = sp;
	p.dport = dp;
	p.tcp_flags = flags;
	p.ip_len = len;
	cot_addr_from_v4(&p.src, x);
	cot_addr_from_v4(&p.dst, y);
	return p;
}

static void feed(struct cot_flowtab *t, struct cot_pkt p, uint64_t now)
{
	cot_flowtab_update(t, &p, now);
}

static void test_params(void)
{
	struct cot_flow_params p;
	struct cot_flowtab *t;
	static uint64_t small[8];

	cot_flow_params_default(&p);
	p.max_flows = 0;
	T_EQ_U(cot_flowtab_memsize(&p), 0);
	p.max_flows = 10;
	T_CHECK(cot_flowtab_memsize(&p) > 10 * 64);
	T_CHECK(cot_flowtab_init(&t, small, sizeof(small), &p) == -COT_ENOSPC);
	T_CHECK(t == NULL);
	T_CHECK(cot_flowtab_init(&t, (char *)small + 1, 1 << 20, &p) ==
		-COT_EINVAL);
}

static void test_tcp_life(void)
{
	void *mem;
	struct cot_flowtab *t = mk(16, &mem);
	struct cot_flow_stats st;

	T_ASSERT(t);
	feed(t, v4(6, 1, 40000, 2, 80, COT_TCP_SYN, 60), 1 * S);
	feed(t, v4(6, 2, 80, 1, 40000, COT_TCP_SYN | COT_TCP_ACK, 60),
	     1 * S + 1);
	feed(t, v4(6, 1, 40000, 2, 80, COT_TCP_ACK, 52), 1 * S + 2);
	feed(t, v4(6, 1, 40000, 2, 80, COT_TCP_ACK | COT_TCP_PSH, 152),
	     1 * S + 3);
	feed(t, v4(6, 2, 80, 1, 40000, COT_TCP_ACK | COT_TCP_FIN, 52), 2 * S);
	feed(t, v4(6, 1, 40000, 2, 80, COT_TCP_ACK | COT_TCP_FIN, 52),
	     2 * S + 1);
	T_EQ_U(nopened, 1);
	T_EQ_U(nended, 0);
	feed(t, v4(6, 2, 80, 1, 40000, COT_TCP_ACK, 52), 2 * S + 2);
	/* The last ACK is counted; the flow lingers, then ends "fin". */
	T_EQ_U(cot_flowtab_expire(t, 3 * S, 0), 0);
	T_EQ_U(cot_flowtab_expire(t, 5 * S, 0), 1);
	T_ASSERT(nended == 1);
	T_EQ_U(ended[0].end, COT_END_FIN);
	T_EQ_U(ended[0].tcp_state, COT_TCP_CLOSED);
	T_EQ_U(ended[0].sport, 40000);
	T_EQ_U(ended[0].dport, 80);
	T_EQ_U(ended[0].src.b[15], 1);
	T_EQ_U(ended[0].pkts_fwd, 4);
	T_EQ_U(ended[0].bytes_fwd, 60 + 52 + 152 + 52);
	T_EQ_U(ended[0].pkts_rev, 3);
	T_EQ_U(ended[0].bytes_rev, 60 + 52 + 52);
	T_EQ_U(ended[0].first_ns, 1 * S);
	T_EQ_U(ended[0].last_ns, 2 * S + 2);
	T_EQ_U(ended[0].proto, COT_PROTO_TCP);
	T_EQ_U(ended[0].seen_by, COT_SEEN_NIC);
	T_EQ_S(ended[0].vm, "vm-under-test");
	T_CHECK(ended[0].tcp_flags_fwd & COT_TCP_SYN);
	T_CHECK(ended[0].tcp_flags_rev & COT_TCP_FIN);
	cot_flowtab_stats(t, &st);
	T_EQ_U(st.active, 0);
	T_EQ_U(st.ended_by[COT_END_FIN], 1);
	free(mem);
}

static void test_initiator(void)
{
	void *mem;
	struct cot_flowtab *t = mk(16, &mem);

	T_ASSERT(t);
	/* SYN-ACK seen first: the initiator is its receiver. */
	feed(t, v4(6, 9, 443, 3, 5555, COT_TCP_SYN | COT_TCP_ACK, 60), S);
	/* UDP: the first sender, whichever address is lower. */
	feed(t, v4(17, 200, 53, 7, 999, 0, 100), S);
	feed(t, v4(17, 7, 999, 200, 53, 0, 40), S + 1);
	cot_flowtab_flush(t, 2 * S, COT_END_OPEN);
	T_ASSERT(nended == 2);
	for (int i = 0; i < 2; i++) {
		if (ended[i].proto == COT_PROTO_TCP) {
			T_EQ_U(ended[i].src.b[15], 3);
			T_EQ_U(ended[i].sport, 5555);
			T_EQ_U(ended[i].tcp_state, COT_TCP_SYN_RECV);
			T_EQ_U(ended[i].pkts_rev, 1);
		} else {
			T_EQ_U(ended[i].src.b[15], 200);
			T_EQ_U(ended[i].sport, 53);
			T_EQ_U(ended[i].bytes_fwd, 100);
			T_EQ_U(ended[i].bytes_rev, 40);
			T_EQ_U(ended[i].end, COT_END_OPEN);
		}
	}
	free(mem);
}

static void test_rst_and_reuse(void)
{
	void *mem;
	struct cot_flowtab *t = mk(16, &mem);

	T_ASSERT(t);
	feed(t, v4(6, 1, 1000, 2, 22, COT_TCP_SYN, 60), S);
	feed(t, v4(6, 2, 22, 1, 1000, COT_TCP_RST | COT_TCP_ACK, 40), S + 1);
	/* The same tuple opens again: the closed one ends, a new one starts. */
	feed(t, v4(6, 1, 1000, 2, 22, COT_TCP_SYN, 60), S + 2);
	T_ASSERT(nended == 1);
	T_EQ_U(ended[0].end, COT_END_RST);
	T_EQ_U(nopened, 2);
	cot_flowtab_flush(t, 2 * S, COT_END_OPEN);
	T_ASSERT(nended == 2);
	T_EQ_U(ended[1].end, COT_END_OPEN);
	T_EQ_U(ended[1].tcp_state, COT_TCP_SYN_SENT);
	free(mem);
}

static void test_idle_classes(void)
{
	void *mem;
	struct cot_flowtab *t = mk(16, &mem);
	struct cot_flow_stats st;

	T_ASSERT(t);
	feed(t, v4(17, 1, 1, 2, 2, 0, 30), 0 * S + 1);	/* udp: 60 s */
	feed(t, v4(1, 1, 7, 2, 7, 0, 30), 0 * S + 1);	/* icmp: 30 s */
	feed(t, v4(6, 1, 3, 2, 4, COT_TCP_ACK, 40), 1); /* midstream: 300 s */
	T_EQ_U(cot_flowtab_expire(t, 29 * S, 0), 0);
	T_EQ_U(cot_flowtab_expire(t, 31 * S, 0), 1);
	T_EQ_U(ended[0].proto, COT_PROTO_ICMP);
	T_EQ_U(ended[0].end, COT_END_IDLE);
	/* Traffic keeps the UDP flow alive. */
	feed(t, v4(17, 2, 2, 1, 1, 0, 30), 50 * S);
	T_EQ_U(cot_flowtab_expire(t, 100 * S, 0), 0);
	T_EQ_U(cot_flowtab_expire(t, 111 * S, 0), 1);
	T_EQ_U(ended[1].proto, COT_PROTO_UDP);
	T_EQ_U(ended[1].pkts_rev, 1);
	T_EQ_U(cot_flowtab_expire(t, 302 * S, 0), 1);
	T_EQ_U(ended[2].tcp_state, COT_TCP_MIDSTREAM);
	cot_flowtab_stats(t, &st);
	T_EQ_U(st.ended_by[COT_END_IDLE], 3);
	T_EQ_U(st.active, 0);
	free(mem);
}

static void test_active_timeout(void)
{
	struct cot_flow_params p;
	struct cot_flowtab *t;
	void *mem;
	size_t n;
	uint64_t now;

	cot_flow_params_default(&p);
	p.max_flows = 8;
	p.active_ns = 10 * S;
	p.cb = cb;
	n = cot_flowtab_memsize(&p);
	mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	T_ASSERT(cot_flowtab_init(&t, mem, n, &p) == 0);
	nended = nopened = 0;
	for (now = S; now <= 25 * S; now += S) {
		feed(t, v4(17, 1, 5, 2, 6, 0, 100), now);
		cot_flowtab_expire(t, now, 0);
	}
	/* Two active reports (at 11 s and 22 s); the flow goes on. */
	T_EQ_U(nended, 2);
	T_EQ_U(ended[0].end, COT_END_ACTIVE);
	T_EQ_U(ended[0].pkts_fwd + ended[1].pkts_fwd, 22);
	cot_flowtab_flush(t, now, COT_END_OPEN);
	T_EQ_U(nended, 3);
	T_EQ_U(ended[0].pkts_fwd + ended[1].pkts_fwd + ended[2].pkts_fwd, 25);
	free(mem);
}

static void test_full_table(void)
{
	void *mem;
	struct cot_flowtab *t = mk(4, &mem);
	struct cot_flow_stats st;
	int i;

	T_ASSERT(t);
	for (i = 0; i < 4; i++)
		feed(t, v4(17, 1, (uint16_t)(100 + i), 2, 53, 0, 50),
		     (uint64_t)(i + 1) * S);
	feed(t, v4(17, 1, 100, 2, 53, 0, 50), 10 * S); /* 100 is now newest */
	feed(t, v4(17, 1, 999, 2, 53, 0, 50), 11 * S); /* evicts port 101 */
	T_ASSERT(nended == 1);
	T_EQ_U(ended[0].end, COT_END_SHUTDOWN);
	T_EQ_U(ended[0].sport, 101);
	cot_flowtab_stats(t, &st);
	T_EQ_U(st.evicted, 1);
	T_EQ_U(st.active, 4);
	T_EQ_U(st.active_max, 4);
	T_CHECK(cot_flowtab_find(t, 17, &ended[0].src, 999, &ended[0].dst, 53,
				 NULL) >= 0);
	T_CHECK(cot_flowtab_find(t, 17, &ended[0].dst, 53, &ended[0].src, 101,
				 NULL) == -COT_ENOENT);
	free(mem);
}

static void test_fragments(void)
{
	void *mem;
	struct cot_flowtab *t = mk(8, &mem);
	struct cot_pkt first = v4(17, 1, 7000, 2, 7001, 0, 1500), rest;
	struct cot_flow_stats st;

	T_ASSERT(t);
	first.fl |= COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG;
	first.frag_id = 77;
	rest = first;
	rest.fl = COT_PKT_F_FRAG;
	rest.ip_len = 600;
	rest.sport = rest.dport = 0;
	T_CHECK(cot_flowtab_update(t, &rest, S) == -COT_ENOENT); /* orphan */
	feed(t, first, S);
	T_CHECK(cot_flowtab_update(t, &rest, S + 1) >= 0);
	rest.frag_id = 78;
	T_CHECK(cot_flowtab_update(t, &rest, S + 2) == -COT_ENOENT);
	cot_flowtab_flush(t, 2 * S, COT_END_OPEN);
	T_ASSERT(nended == 1);
	T_EQ_U(ended[0].pkts_fwd, 2);
	T_EQ_U(ended[0].bytes_fwd, 2100);
	cot_flowtab_stats(t, &st);
	T_EQ_U(st.frag_orphan, 2);
	free(mem);
}

static void test_drops_counted(void)
{
	void *mem;
	struct cot_flowtab *t = mk(8, &mem);
	struct cot_pkt p = v4(6, 1, 1, 2, 2, 0, 40);
	struct cot_flow_stats st;

	T_ASSERT(t);
	p.reason = COT_PKT_TRUNC_L4;
	T_CHECK(cot_flowtab_update(t, &p, S) == -COT_ENOENT);
	p.reason = COT_PKT_NOT_IP;
	T_CHECK(cot_flowtab_update(t, &p, S) == -COT_ENOENT);
	cot_flowtab_stats(t, &st);
	T_EQ_U(st.pkts, 2);
	T_EQ_U(st.dropped[COT_PKT_TRUNC_L4], 1);
	T_EQ_U(st.not_ip, 1);
	T_EQ_U(st.opened, 0);
	free(mem);
}

/* Many flows, one table: every one is found again and ended once. */
static void test_many(void)
{
	struct cot_flow_params p;
	struct cot_flowtab *t;
	struct cot_flow_stats st;
	void *mem;
	size_t n;
	uint32_t i;

	cot_flow_params_default(&p);
	p.max_flows = 50000;
	n = cot_flowtab_memsize(&p);
	mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	T_ASSERT(cot_flowtab_init(&t, mem, n, &p) == 0);
	for (int round = 0; round < 2; round++)
		for (i = 0; i < 40000; i++) {
			struct cot_pkt k = v4(17, (uint8_t)(i >> 16),
					      (uint16_t)i, 2, 53, 0, 10);
			feed(t, k, S + i);
		}
	cot_flowtab_stats(t, &st);
	T_EQ_U(st.opened, 40000);
	T_EQ_U(st.tracked, 80000);
	T_EQ_U(cot_flowtab_flush(t, 3 * S, COT_END_OPEN), 40000);
	free(mem);
}

/*
 * cot_flowtab_update_batch against cot_flowtab_update: two tables with
 * the same parameters get the same random frames (few endpoints, so
 * flows repeat; SYN/FIN/RST; fragments; drops; IPv4 and IPv6), one by
 * one and in batches of random sizes (past COT_FLOW_BATCH too), with
 * expiry between the batches.  A small table fills and evicts.  Slots,
 * every event (its kind, slot and record, in order) and the counters
 * must be equal.
 */
struct evlog {
	uint64_t n, digest;
	uint32_t ended;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static void log_cb(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		   uint32_t slot)
{
	struct evlog *l = ctx;
	uint64_t h = l->digest;
	int i;

	h = mix(h, (uint64_t)ev << 32 | slot);
	for (i = 0; i < 16; i += 8) {
		uint64_t a, b;

		memcpy(&a, r->src.b + i, 8);
		memcpy(&b, r->dst.b + i, 8);
		h = mix(mix(h, a), b);
	}
	h = mix(h, (uint64_t)r->sport << 16 | r->dport);
	h = mix(h, (uint64_t)r->proto << 24 | (uint64_t)r->end << 16 |
			   (uint64_t)r->tcp_state << 8 | r->ipproto);
	h = mix(mix(h, r->first_ns), r->last_ns);
	h = mix(mix(h, r->pkts_fwd), r->bytes_fwd);
	h = mix(mix(h, r->pkts_rev), r->bytes_rev);
	h = mix(h, (uint64_t)r->tcp_flags_fwd << 8 | r->tcp_flags_rev);
	l->digest = h;
	l->n++;
	if (ev == COT_FLOW_ENDED)
		l->ended++;
}

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)((rng_state >> 11) % n);
}

static struct cot_pkt random_pkt(void)
{
	static const uint8_t fl[] = { COT_TCP_SYN,
				      COT_TCP_SYN | COT_TCP_ACK,
				      COT_TCP_ACK,
				      COT_TCP_ACK | COT_TCP_PSH,
				      COT_TCP_FIN | COT_TCP_ACK,
				      COT_TCP_RST };
	static const uint8_t protos[] = { 6, 6, 6, 17, 17, 1 };
	/* Mostly a few keys that live long enough to close or time out;
	 * a quarter from many more, which fill the table. */
	uint32_t wide = rnd(4) == 0 ? 8 : 1;
	struct cot_pkt p =
		v4(protos[rnd(6)], (uint8_t)(1 + rnd(2 * wide)),
		   (uint16_t)(1000 + rnd(3 * wide)), (uint8_t)(3 + rnd(2)),
		   (uint16_t)(80 + rnd(2)), 0, 40 + rnd(1400));
	uint32_t r = rnd(100);

	if (p.ipproto == 6)
		p.tcp_flags = fl[rnd(6)];
	if (rnd(2)) { /* the other direction */
		struct cot_addr a = p.src;
		uint16_t port = p.sport;

		p.src = p.dst;
		p.dst = a;
		p.sport = p.dport;
		p.dport = port;
	}
	if (rnd(4) == 0) { /* IPv6: the same low bytes under another prefix */
		p.ipver = 6;
		p.src.b[0] = p.dst.b[0] = 0xfd;
		p.src.b[10] = p.src.b[11] = p.dst.b[10] = p.dst.b[11] = 0;
	}
	if (r < 5) {
		p.reason = (uint8_t)(1 + rnd(COT_PKT__COUNT - 1));
	} else if (r < 12) {
		p.fl |= COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG;
		p.frag_id = rnd(4);
	} else if (r < 20) {
		p.fl = COT_PKT_F_FRAG; /* a non-first fragment */
		p.frag_id = rnd(4);
		p.sport = p.dport = 0;
	}
	return p;
}

static void test_batch_same(void)
{
	enum { N = 20000, MAXB = COT_FLOW_BATCH * 2 + 7 };
	static struct cot_pkt pk[MAXB];
	static uint64_t now[MAXB];
	static int32_t slots[MAXB];
	struct evlog l1 = { 0 }, l2 = { 0 };
	struct cot_flow_params p;
	struct cot_flowtab *t1, *t2;
	struct cot_flow_stats s1, s2;
	uint64_t ts = S;
	void *m1, *m2;
	size_t n;
	int done = 0, mismatch = 0, i;

	cot_flow_params_default(&p);
	p.max_flows = 48; /* fewer than the keys below */
	p.max_frags = 4;
	p.tcp_close_linger_ns = S / 2;
	p.udp_idle_ns = 3 * S;
	p.other_idle_ns = 2 * S;
	p.tcp_trans_idle_ns = 4 * S;
	p.active_ns = 5 * S;
	p.cb = log_cb;
	n = cot_flowtab_memsize(&p);
	m1 = aligned_alloc(8, (n + 7) & ~(size_t)7);
	m2 = aligned_alloc(8, (n + 7) & ~(size_t)7);
	T_ASSERT(m1 && m2);
	p.cb_ctx = &l1;
	T_ASSERT(cot_flowtab_init(&t1, m1, n, &p) == 0);
	p.cb_ctx = &l2;
	T_ASSERT(cot_flowtab_init(&t2, m2, n, &p) == 0);
	while (done < N) {
		int k = 1 + (int)rnd(MAXB), got = 0;

		for (i = 0; i < k; i++) {
			pk[i] = random_pkt();
			ts += rnd(4) == 0 ? rnd(S / 2) : 0;
			now[i] = ts;
		}
		for (i = 0; i < k; i++) {
			int r = cot_flowtab_update(t1, &pk[i], now[i]);

			got += r >= 0;
			slots[i] = r;
		}
		memset(now + k, 0, sizeof(now[0]) * (size_t)(MAXB - k));
		{
			int32_t s2v[MAXB];

			T_CHECK(cot_flowtab_update_batch(t2, pk, now,
							 (uint32_t)k,
							 s2v) == (uint32_t)got);
			for (i = 0; i < k; i++)
				mismatch += s2v[i] != slots[i];
		}
		if (rnd(3) == 0) {
			uint32_t b = rnd(8);

			T_CHECK(cot_flowtab_expire(t1, ts, b) ==
				cot_flowtab_expire(t2, ts, b));
		}
		done += k;
	}
	T_CHECK(mismatch == 0);
	/* A NULL slots array is allowed, with the same effect. */
	for (i = 0; i < 50; i++) {
		pk[i] = random_pkt();
		now[i] = ts;
		cot_flowtab_update(t1, &pk[i], ts);
	}
	cot_flowtab_update_batch(t2, pk, now, 50, NULL);
	T_EQ_U(cot_flowtab_flush(t1, ts, COT_END_OPEN),
	       cot_flowtab_flush(t2, ts, COT_END_OPEN));
	cot_flowtab_stats(t1, &s1);
	cot_flowtab_stats(t2, &s2);
	T_CHECK(memcmp(&s1, &s2, sizeof(s1)) == 0);
	/* The sequence exercised what it is meant to. */
	T_CHECK(s1.evicted > 100);
	T_CHECK(s1.frag_orphan > 0 && s1.tracked > N / 2);
	printf("# evicted %llu, orphans %llu, ended fin %llu rst %llu idle "
	       "%llu "
	       "active %llu\n",
	       (unsigned long long)s1.evicted,
	       (unsigned long long)s1.frag_orphan,
	       (unsigned long long)s1.ended_by[COT_END_FIN],
	       (unsigned long long)s1.ended_by[COT_END_RST],
	       (unsigned long long)s1.ended_by[COT_END_IDLE],
	       (unsigned long long)s1.ended_by[COT_END_ACTIVE]);
	T_CHECK(s1.ended_by[COT_END_FIN] > 0 && s1.ended_by[COT_END_RST] > 0);
	T_CHECK(s1.ended_by[COT_END_IDLE] > 0);
	T_EQ_U(l1.n, l2.n);
	T_EQ_U(l1.ended, l2.ended);
	T_CHECK(l1.digest == l2.digest);
	T_CHECK(l1.ended > 1000);
	free(m1);
	free(m2);
}

/*
 * The buckets against a model: 2,000 UDP keys on a 512-flow table (128
 * buckets of 7 ways: a few overflow into their chain), opened, evicted
 * and expired at random; after every few frames every key is looked
 * up, and each must be found exactly when the events say it is open,
 * at the slot they gave.
 */
static struct {
	int32_t key[512]; /* key index open in the slot, or -1 */
	int bad;
} bm;

static void bkey(int i, uint8_t a[4], uint16_t *sp)
{
	a[0] = 10, a[1] = (uint8_t)(i >> 8), a[2] = (uint8_t)i, a[3] = 1;
	*sp = (uint16_t)(1000 + i % 7);
}

static void bcb(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		uint32_t slot)
{
	int i = r->src.b[13] << 8 | r->src.b[14];

	(void)ctx;
	if (slot >= 512 || i >= 2000) {
		bm.bad++;
		return;
	}
	if (ev == COT_FLOW_OPENED) {
		bm.bad += bm.key[slot] != -1;
		bm.key[slot] = i;
	} else {
		bm.bad += bm.key[slot] != i;
		bm.key[slot] = -1;
	}
}

static void test_buckets(void)
{
	struct cot_flow_params p;
	struct cot_flowtab *t;
	struct cot_flow_stats st;
	uint8_t dst[4] = { 192, 0, 2, 1 };
	uint64_t now = S;
	int step, i, wrong = 0, checks = 0;
	void *mem;
	size_t n;

	cot_flow_params_default(&p);
	p.max_flows = 512;
	p.udp_idle_ns = 100 * S;
	p.cb = bcb;
	n = cot_flowtab_memsize(&p);
	mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	T_ASSERT(mem && cot_flowtab_init(&t, mem, n, &p) == 0);
	for (i = 0; i < 512; i++)
		bm.key[i] = -1;
	bm.bad = 0;
	for (step = 0; step < 6000; step++) {
		struct cot_pkt k;
		uint8_t a[4];
		uint16_t sp;

		i = (int)rnd(step < 3000 ? 2000 : 700);
		bkey(i, a, &sp);
		k = v4(17, 1, sp, 2, 53, 0, 60);
		cot_addr_from_v4(&k.src, a);
		cot_addr_from_v4(&k.dst, dst);
		/* Now and then a lull: most flows then expire idle. */
		now += step % 1000 == 999 ? 95 * S : S / 10;
		T_CHECK(cot_flowtab_update(t, &k, now) >= 0);
		if (step % 97 == 0)
			cot_flowtab_expire(t, now, 0);
		if (step % 61)
			continue;
		for (i = 0; i < 2000; i++) {
			struct cot_addr x, y;
			int sl, want = -1, s2;

			bkey(i, a, &sp);
			cot_addr_from_v4(&x, a);
			cot_addr_from_v4(&y, dst);
			sl = cot_flowtab_find(t, 17, &x, sp, &y, 53, NULL);
			s2 = cot_flowtab_find(t, 17, &y, 53, &x, sp, NULL);
			for (int s = 0; s < 512; s++)
				if (bm.key[s] == i)
					want = s;
			wrong += (want < 0 ? sl >= 0 : sl != want) || s2 != sl;
			checks++;
		}
	}
	T_CHECK(wrong == 0);
	T_CHECK(bm.bad == 0);
	cot_flowtab_stats(t, &st);
	printf("# %d lookups checked, %d wrong; opened %llu, evicted %llu, "
	       "idle %llu\n",
	       checks, wrong, (unsigned long long)st.opened,
	       (unsigned long long)st.evicted,
	       (unsigned long long)st.ended_by[COT_END_IDLE]);
	T_CHECK(st.evicted > 1000 && st.ended_by[COT_END_IDLE] > 100);
	T_EQ_U(cot_flowtab_flush(t, now, COT_END_OPEN), st.active);
	for (i = 0; i < 512; i++)
		wrong += bm.key[i] != -1;
	T_CHECK(wrong == 0);
	free(mem);
}

/*
 * Memory at every 8-byte offset from a cache line, exactly memsize bytes
 * long (ASan reports a byte past it): the table puts its flows on a line
 * within what memsize asked for, and fills and ends every slot.
 */
static void test_mem_offsets(void)
{
	struct cot_flow_params p;
	size_t n, k;

	cot_flow_params_default(&p);
	p.max_flows = 64;
	p.max_frags = 16;
	p.cb = cb;
	n = cot_flowtab_memsize(&p);
	T_ASSERT(n > 0);
	for (k = 0; k < 64; k += 8) {
		struct cot_flowtab *t = NULL;
		struct cot_flow_stats st;
		void *base = NULL;
		int i;

		T_ASSERT(posix_memalign(&base, 64, k + n) == 0);
		T_ASSERT(cot_flowtab_init(&t, (uint8_t *)base + k, n, &p) == 0);
		nended = nopened = 0;
		/* One more than fits: every slot taken, then one evicted. */
		for (i = 0; i <= 64; i++)
			feed(t, v4(17, 1, (uint16_t)(1000 + i), 2, 53, 0, 60),
			     (uint64_t)(i + 1) * S);
		T_EQ_U(cot_flowtab_flush(t, 100 * S, COT_END_OPEN), 64);
		cot_flowtab_stats(t, &st);
		T_EQ_U(st.opened, 65);
		T_EQ_U(st.evicted, 1);
		T_EQ_U(st.active, 0);
		T_EQ_U((unsigned)nopened, 65);
		free(base);
	}
}

int main(void)
{
	T_RUN(test_params);
	T_RUN(test_tcp_life);
	T_RUN(test_initiator);
	T_RUN(test_rst_and_reuse);
	T_RUN(test_idle_classes);
	T_RUN(test_active_timeout);
	T_RUN(test_full_table);
	T_RUN(test_fragments);
	T_RUN(test_drops_counted);
	T_RUN(test_many);
	T_RUN(test_batch_same);
	T_RUN(test_buckets);
	T_RUN(test_mem_offsets);
	return t_done();
}
