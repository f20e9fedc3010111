// SPDX-License-Identifier: MIT
/*
 * Unit tests of core/merge: one test per merge rule of docs/cotrackd.md,
 * driven with hand-built frames (through cot_pkt_parse) and socket
 * events as cot_vmi_diff() produces them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotrack/merge.h"
#include "t.h"

#define S  1000000000ULL
#define MS 1000000ULL

#define MAX_RECS 4096

struct sink {
	struct cot_rec r[MAX_RECS];
	int n;
};

static void rec_cb(void *ctx, const struct cot_rec *r)
{
	struct sink *k = ctx;

	if (k->n < MAX_RECS)
		k->r[k->n] = *r;
	k->n++;
}

static const uint8_t G[4] = { 10, 0, 0, 2 }; /* the guest */
static const uint8_t P[4] = { 10, 0, 0, 9 }; /* an off-box peer */
static const uint8_t LO[4] = { 127, 0, 0, 1 };

struct obj {
	struct cot_merge *m;
	void *mem;
	struct sink *k;
};

static void params(struct cot_merge_params *p)
{
	cot_merge_params_default(p);
	p->flow.max_flows = 64;
	p->vmi = true;
	p->vm = "vm-merge";
	p->max_conns = 64;
	p->ended_slots = 64;
	p->max_listen = 16;
	p->cb = rec_cb;
}

static bool mk_p(struct obj *o, struct cot_merge_params *p)
{
	size_t n = cot_merge_memsize(p);

	o->k = calloc(1, sizeof(*o->k));
	o->mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	p->cb_ctx = o->k;
	o->m = NULL;
	if (!n || !o->k || !o->mem || cot_merge_init(&o->m, o->mem, n, p) < 0)
		return false;
	return true;
}

static bool mk(struct obj *o)
{
	struct cot_merge_params p;

	params(&p);
	return mk_p(o, &p);
}

static void rm(struct obj *o)
{
	free(o->mem);
	free(o->k);
}

static struct cot_merge_stats stats(const struct obj *o)
{
	struct cot_merge_stats s;

	cot_merge_stats(o->m, &s, NULL);
	return s;
}

/* An Ethernet + IPv4 + TCP frame, parsed, into the merge. */
static int frame(struct obj *o, uint64_t now, bool from_guest,
		 const uint8_t s4[4], uint16_t sp, const uint8_t d4[4],
		 uint16_t dp, uint8_t flags)
{
	uint8_t f[54] = { 0 }, *ip = f + 14, *tcp = ip + 20;
	struct cot_pkt p;

	f[12] = 0x08;
	ip[0] = 0x45;
	cot_put_be16(ip + 2, 40);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, s4, 4);
	memcpy(ip + 16, d4, 4);
	cot_put_be16(tcp, sp);
	cot_put_be16(tcp + 2, dp);
	tcp[12] = 0x50;
	tcp[13] = flags;
	if (cot_pkt_parse(&p, f, sizeof(f), sizeof(f)) != COT_PKT_OK)
		return -1000;
	return cot_merge_pkt(o->m, &p, now, from_guest);
}

/* The guest (G:40000) calls the peer (P:80): handshake at @t. */
static void nic_open(struct obj *o, uint64_t t)
{
	frame(o, t, true, G, 40000, P, 80, COT_TCP_SYN);
	frame(o, t + 1, false, P, 80, G, 40000, COT_TCP_SYN | COT_TCP_ACK);
	frame(o, t + 2, true, G, 40000, P, 80, COT_TCP_ACK);
}

/* FIN both ways and the last ACK at @t: the flow lingers, then ends. */
static void nic_close(struct obj *o, uint64_t t)
{
	frame(o, t, true, G, 40000, P, 80, COT_TCP_FIN | COT_TCP_ACK);
	frame(o, t + 1, false, P, 80, G, 40000, COT_TCP_FIN | COT_TCP_ACK);
	frame(o, t + 2, true, G, 40000, P, 80, COT_TCP_ACK);
}

static struct cot_vmi_sock sk(const uint8_t l4[4], uint16_t lp,
			      const uint8_t r4[4], uint16_t rp, uint8_t state,
			      uint32_t netns, uint64_t kaddr)
{
	struct cot_vmi_sock s;

	memset(&s, 0, sizeof(s));
	cot_addr_from_v4(&s.local, l4);
	cot_addr_from_v4(&s.remote, r4);
	s.lport = lp;
	s.rport = rp;
	s.family = 4;
	s.state = state;
	s.kind = state == COT_VMI_TCP_TIME_WAIT ? COT_VMI_SK_TW
						: COT_VMI_SK_FULL;
	s.netns = netns;
	s.kaddr = kaddr;
	return s;
}

static struct cot_vmi_sock listener(const uint8_t l4[4], uint16_t lp,
				    uint32_t netns)
{
	static const uint8_t any[4] = { 0 };
	struct cot_vmi_sock s = sk(l4 ? l4 : any, lp, any, 0,
				   COT_VMI_TCP_LISTEN, netns, 0x5000 + lp);

	s.kind = COT_VMI_SK_LISTEN;
	return s;
}

static void opened(struct obj *o, struct cot_vmi_sock s)
{
	cot_merge_sock(o->m, COT_VMI_EV_OPENED, NULL, &s);
}

static void closed(struct obj *o, struct cot_vmi_sock s)
{
	cot_merge_sock(o->m, COT_VMI_EV_CLOSED, &s, NULL);
}

static void changed(struct obj *o, struct cot_vmi_sock old,
		    struct cot_vmi_sock now)
{
	cot_merge_sock(o->m, COT_VMI_EV_CHANGED, &old, &now);
}

/* A scan at @t with no events. */
static void empty_scan(struct obj *o, uint64_t t)
{
	cot_merge_scan_begin(o->m, t);
	cot_merge_scan_end(o->m);
}

/* ---- tests -------------------------------------------------------------- */

static void test_params(void)
{
	struct cot_merge_params p;
	struct cot_merge *m = (struct cot_merge *)1;
	static uint64_t small[8];
	struct obj o;
	size_t n;

	cot_merge_params_default(&p);
	T_EQ_U(p.vmi, 0);
	T_EQ_U(p.interval_ns, 10 * MS);
	T_EQ_U(p.grace_ns, S);
	T_EQ_U(p.max_conns, 65536);
	T_EQ_U(p.ended_slots, 65536);
	T_EQ_U(p.ended_keep_ns, 120 * S);
	T_EQ_U(p.max_listen, 4096);
	T_EQ_U(p.flow.max_flows, 65536);
	T_EQ_U(cot_merge_memsize(NULL), 0);
	n = cot_merge_memsize(&p);
	T_CHECK(n > 0);
	p.max_conns = 1U << 25;
	T_EQ_U(cot_merge_memsize(&p), 0);
	cot_merge_params_default(&p);
	p.flow.max_flows = 0;
	T_EQ_U(cot_merge_memsize(&p), 0);
	cot_merge_params_default(&p);
	p.interval_ns = UINT64_MAX / 2;
	T_EQ_U(cot_merge_memsize(&p), 0);
	cot_merge_params_default(&p);
	p.flow.max_flows = 8;
	p.max_conns = 8;
	T_CHECK(cot_merge_init(&m, small, sizeof(small), &p) == -COT_ENOSPC);
	T_CHECK(m == NULL);
	m = (struct cot_merge *)1;
	T_CHECK(cot_merge_init(&m, (char *)small + 1, 1 << 20, &p) ==
		-COT_EINVAL);
	T_CHECK(m == NULL);
	T_CHECK(cot_merge_init(NULL, small, sizeof(small), &p) == -COT_EINVAL);
	/* Zero-sized tables are valid: everything is dropped and counted. */
	p.max_conns = 0;
	p.ended_slots = 0;
	p.max_listen = 0;
	T_ASSERT(mk_p(&o, &p));
	cot_merge_scan_begin(o.m, S);
	opened(&o, listener(LO, 80, 1));
	opened(&o, sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 1));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).conns_dropped, 1);
	T_EQ_U(stats(&o).listen_dropped, 1);
	T_EQ_U(stats(&o).conns, 0);
	cot_merge_finish(o.m, 2 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 0);
	rm(&o);
}

/* With the view on, a closed TCP flow lingers 2 * interval + grace. */
static void test_linger(void)
{
	struct cot_merge_params p;
	struct obj o, n;

	params(&p);
	p.grace_ns = 5 * S;
	T_ASSERT(mk_p(&o, &p));
	p.vmi = false;
	T_ASSERT(mk_p(&n, &p));
	nic_open(&o, S);
	nic_close(&o, 2 * S);
	nic_open(&n, S);
	nic_close(&n, 2 * S);
	/* The default linger is 2 s. */
	T_EQ_U(cot_merge_expire(o.m, 5 * S, 0), 0);
	T_EQ_U(cot_merge_expire(n.m, 5 * S, 0), 1);
	T_EQ_U(cot_merge_expire(o.m, 8 * S, 0), 1);
	T_ASSERT(o.k->n == 1 && n.k->n == 1);
	T_EQ_U(o.k->r[0].end, COT_END_FIN);
	rm(&o);
	rm(&n);
}

static void test_nic_only(void)
{
	struct obj o;
	struct cot_merge_stats s;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	nic_open(&o, S);
	empty_scan(&o, S + 10 * MS);
	nic_close(&o, S + 50 * MS);
	T_EQ_U(cot_merge_expire(o.m, 10 * S, 0), 1);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].seen_by, COT_SEEN_NIC);
	T_EQ_U(o.k->r[0].netns, 0);
	T_EQ_U(o.k->r[0].seq, 0);
	T_EQ_U(o.k->r[0].sport, 40000);
	T_EQ_U(o.k->r[0].dport, 80);
	T_EQ_U(o.k->r[0].src.b[15], 2);
	T_EQ_U(o.k->r[0].first_ns, S);
	T_EQ_U(o.k->r[0].last_ns, S + 50 * MS + 2);
	T_EQ_U(o.k->r[0].flags, 0); /* too short to be hidden */
	T_EQ_S(o.k->r[0].vm, "vm-merge");
	s = stats(&o);
	T_EQ_U(s.records, 1);
	T_EQ_U(s.by_seen[COT_SEEN_NIC], 1);
	T_EQ_U(s.scans, 1);
	rm(&o);
}

/* A guest socket matching a NIC flow: seen by both, with its netns. */
static void test_sock_matches_flow(void)
{
	struct obj o;
	struct cot_merge_stats s;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	nic_open(&o, S);
	cot_merge_scan_begin(o.m, S + 5 * MS);
	opened(&o, sk(G, 40000, P, 80, COT_VMI_TCP_ESTABLISHED, 77, 0xa));
	cot_merge_scan_end(o.m);
	/* A long conversation: not hidden, since a socket matched it. */
	frame(&o, 3 * S, true, G, 40000, P, 80, COT_TCP_ACK | COT_TCP_PSH);
	empty_scan(&o, 3 * S + 1);
	empty_scan(&o, 3 * S + 2);
	nic_close(&o, 4 * S);
	cot_merge_expire(o.m, 10 * S, 0);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].seen_by, COT_SEEN_BOTH);
	T_EQ_U(o.k->r[0].netns, 77);
	T_EQ_U(o.k->r[0].flags, 0);
	T_EQ_U(o.k->r[0].end, COT_END_FIN);
	s = stats(&o);
	T_EQ_U(s.conns, 0);
	T_EQ_U(s.by_seen[COT_SEEN_BOTH], 1);
	T_EQ_U(s.sock_events, 1);
	rm(&o);
}

/*
 * Both sockets of a localhost connection are one connection; the
 * listener of its server port arrives after the sockets in the same
 * scan, and the server port is the higher one, so only the listener
 * rule makes the client the initiator.
 */
static void test_localhost_pair(void)
{
	struct obj o;
	struct cot_vmi_sock srv =
		sk(LO, 50000, LO, 3000, COT_VMI_TCP_ESTABLISHED, 1, 0x100);
	struct cot_vmi_sock cli =
		sk(LO, 3000, LO, 50000, COT_VMI_TCP_ESTABLISHED, 1, 0x200);
	struct cot_vmi_sock srv2 = srv, cli2 = cli;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, srv);
	opened(&o, cli);
	opened(&o, listener(NULL, 50000, 1));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).conns, 1);
	T_EQ_U(stats(&o).listeners, 1);
	T_EQ_U(o.k->n, 0);
	/* Both close: the client's socket in TIME_WAIT, the server's gone. */
	cli2.state = COT_VMI_TCP_TIME_WAIT;
	cli2.kind = COT_VMI_SK_TW;
	cli2.kaddr = 0x300;
	srv2.state = COT_VMI_TCP_LAST_ACK;
	cot_merge_scan_begin(o.m, 2 * S);
	changed(&o, cli, cli2);
	changed(&o, srv, srv2);
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 0); /* the server socket is not closed yet */
	cot_merge_scan_begin(o.m, 3 * S);
	closed(&o, srv2);
	cot_merge_scan_end(o.m);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].seen_by, COT_SEEN_VMI);
	T_EQ_U(o.k->r[0].end, COT_END_FIN);
	T_EQ_U(o.k->r[0].sport, 3000);
	T_EQ_U(o.k->r[0].dport, 50000);
	/* The last guest state seen: the server's LAST_ACK. */
	T_EQ_U(o.k->r[0].tcp_state, COT_TCP_CLOSING);
	T_EQ_U(o.k->r[0].proto, COT_PROTO_TCP);
	T_EQ_U(o.k->r[0].netns, 1);
	T_EQ_U(o.k->r[0].flags, 0);
	T_EQ_U(o.k->r[0].first_ns, 1 * S);
	T_EQ_U(o.k->r[0].last_ns, 3 * S);
	T_EQ_U(o.k->r[0].seq, 0);
	/* Written, kept until its last socket goes; then forgotten. */
	T_EQ_U(stats(&o).conns, 1);
	cot_merge_scan_begin(o.m, 4 * S);
	closed(&o, cli2);
	cot_merge_scan_end(o.m);
	empty_scan(&o, 5 * S);
	T_EQ_U(stats(&o).conns, 0);
	cot_merge_finish(o.m, 6 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 1);
	rm(&o);
}

static struct cot_vmi_sock vol(struct cot_vmi_sock s, uint64_t acked,
			       uint64_t rcvd, uint32_t out, uint32_t in)
{
	s.flags |= COT_VMI_SOCK_VOLUMES;
	s.bytes_acked = acked;
	s.bytes_received = rcvd;
	s.segs_out = out;
	s.segs_in = in;
	return s;
}

/*
 * Live volumes: a memory-only record carries those of the last scan
 * that saw each end alive (TIME_WAIT sockets have none); fwd is the
 * initiator's direction: the responder's bytes_received and the
 * initiator's segs_out; with one end seen, that end's counters.
 */
static void test_volumes(void)
{
	struct obj o;
	struct cot_vmi_sock srv =
		sk(LO, 50000, LO, 3000, COT_VMI_TCP_ESTABLISHED, 1, 0x100);
	struct cot_vmi_sock cli =
		sk(LO, 3000, LO, 50000, COT_VMI_TCP_ESTABLISHED, 1, 0x200);
	struct cot_vmi_sock one =
		sk(G, 40000, P, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x400);
	struct cot_vmi_sock tw = cli;
	uint32_t i, a = 2, b = 2;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, vol(srv, 0, 1, 1, 1));
	opened(&o, vol(cli, 1, 0, 2, 1));
	opened(&o, vol(one, 1, 0, 2, 1));
	opened(&o, listener(NULL, 50000, 1));
	cot_merge_scan_end(o.m);
	/* unchanged sockets, new counters */
	cot_merge_scan_begin(o.m, 2 * S);
	tw = vol(srv, 100, 200, 3, 4);
	cot_merge_sock_volumes(o.m, &tw);
	cot_merge_scan_end(o.m);
	tw = cli;
	srv = vol(srv, 3334, 100001, 8, 10);
	cli = vol(cli, 100001, 3333, 10, 9);
	one = vol(one, 501, 7000, 5, 6);
	cot_merge_scan_begin(o.m, 3 * S);
	cot_merge_sock_volumes(o.m, &srv);
	cot_merge_sock_volumes(o.m, &cli);
	cot_merge_sock_volumes(o.m, &one);
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).volumes, 4);
	/* the client goes TIME_WAIT (no counters), the server closes */
	tw.state = COT_VMI_TCP_TIME_WAIT;
	tw.kind = COT_VMI_SK_TW;
	tw.kaddr = 0x300;
	cot_merge_scan_begin(o.m, 4 * S);
	changed(&o, cli, vol(tw, 1, 2, 3, 4));
	closed(&o, srv);
	closed(&o, one);
	cot_merge_scan_end(o.m);
	empty_scan(&o, 5 * S);
	empty_scan(&o, 6 * S);
	T_ASSERT(o.k->n == 2);
	for (i = 0; i < 2; i++) {
		if (o.k->r[i].sport == 3000)
			a = i;
		if (o.k->r[i].sport == 40000)
			b = i;
	}
	T_ASSERT(a < 2 && b < 2);
	T_EQ_U(o.k->r[a].dport, 50000);
	T_EQ_U(o.k->r[a].bytes_fwd, 100001); /* the server received */
	T_EQ_U(o.k->r[a].bytes_rev, 3333);   /* the client received */
	T_EQ_U(o.k->r[a].pkts_fwd, 10);	     /* the client sent */
	T_EQ_U(o.k->r[a].pkts_rev, 8);	     /* the server sent */
	/* one end only: its own counters both ways */
	T_EQ_U(o.k->r[b].bytes_fwd, 501);
	T_EQ_U(o.k->r[b].bytes_rev, 7000);
	T_EQ_U(o.k->r[b].pkts_fwd, 5);
	T_EQ_U(o.k->r[b].pkts_rev, 6);
	/* outside a scan: stray */
	i = (uint32_t)stats(&o).stray_events;
	cot_merge_sock_volumes(o.m, &srv);
	T_EQ_U(stats(&o).stray_events, i + 1);
	rm(&o);
}

/* The initiator rules when no listener is on the local port. */
static void test_initiator_rules(void)
{
	struct obj o;
	int i;

	T_ASSERT(mk(&o));
	cot_merge_scan_begin(o.m, S);
	/* SYN_SENT calls, though its port is the lower. */
	opened(&o, sk(LO, 3000, LO, 50000, COT_VMI_TCP_SYN_SENT, 1, 1));
	/* A listener on the remote port: this end calls. */
	opened(&o, listener(LO, 4000, 1));
	opened(&o, sk(LO, 3001, LO, 4000, COT_VMI_TCP_ESTABLISHED, 1, 2));
	/* No listener in sight: the higher port calls. */
	opened(&o, sk(LO, 3002, LO, 50002, COT_VMI_TCP_ESTABLISHED, 1, 3));
	/* The listener's namespace counts: 4000 is not one in netns 2. */
	opened(&o, sk(LO, 4000, LO, 3500, COT_VMI_TCP_ESTABLISHED, 2, 4));
	cot_merge_scan_end(o.m);
	cot_merge_finish(o.m, 2 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 4);
	for (i = 0; i < 4; i++) {
		const struct cot_rec *r = &o.k->r[i];

		T_EQ_U(r->end, COT_END_SHUTDOWN);
		if (r->sport == 3000 || r->dport == 3000)
			T_EQ_U(r->sport, 3000);
		else if (r->sport == 3001 || r->dport == 3001)
			T_EQ_U(r->sport, 3001);
		else if (r->sport == 3002 || r->dport == 3002)
			T_EQ_U(r->sport, 50002);
		else
			T_EQ_U(r->sport, 4000);
	}
	rm(&o);
}

/* Every socket left in TIME_WAIT: written with end fin, at once. */
static void test_time_wait_fin(void)
{
	struct obj o;
	struct cot_vmi_sock a =
		sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x10);
	struct cot_vmi_sock b = a;

	T_ASSERT(mk(&o));
	cot_merge_scan_begin(o.m, S);
	opened(&o, a);
	cot_merge_scan_end(o.m);
	b.state = COT_VMI_TCP_FIN_WAIT2;
	cot_merge_scan_begin(o.m, 2 * S);
	changed(&o, a, b);
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 0);
	a = b;
	b.state = COT_VMI_TCP_TIME_WAIT;
	b.kind = COT_VMI_SK_TW;
	cot_merge_scan_begin(o.m, 3 * S);
	changed(&o, a, b);
	cot_merge_scan_end(o.m);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].end, COT_END_FIN);
	T_EQ_U(o.k->r[0].last_ns, 3 * S);
	/* More scans while it lingers in TIME_WAIT: not written again. */
	empty_scan(&o, 4 * S);
	empty_scan(&o, 5 * S);
	cot_merge_finish(o.m, 6 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 1);
	rm(&o);
}

/* Sockets absent from two scans in a row: end gone; one miss is not. */
static void test_gone_two_scans(void)
{
	struct obj o;
	struct cot_vmi_sock a =
		sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x10);
	struct cot_vmi_sock b =
		sk(LO, 80, LO, 3000, COT_VMI_TCP_ESTABLISHED, 1, 0x20);

	T_ASSERT(mk(&o));
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, a);
	opened(&o, b);
	cot_merge_scan_end(o.m);
	/* Missed by one scan, seen again by the next: it continues. */
	cot_merge_scan_begin(o.m, 2 * S);
	closed(&o, a);
	closed(&o, b);
	cot_merge_scan_end(o.m);
	cot_merge_scan_begin(o.m, 3 * S);
	opened(&o, a);
	opened(&o, b);
	cot_merge_scan_end(o.m);
	empty_scan(&o, 4 * S);
	empty_scan(&o, 5 * S);
	T_EQ_U(o.k->n, 0);
	T_EQ_U(stats(&o).conns, 1);
	/* Gone at 6 s; absent at 7 s too: written then. */
	cot_merge_scan_begin(o.m, 6 * S);
	closed(&o, a);
	closed(&o, b);
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 0);
	empty_scan(&o, 7 * S);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].end, COT_END_GONE);
	T_EQ_U(o.k->r[0].first_ns, 1 * S);
	T_EQ_U(o.k->r[0].last_ns, 3 * S);
	T_EQ_U(o.k->r[0].tcp_state, COT_TCP_ESTABLISHED);
	T_EQ_U(stats(&o).conns, 0);
	cot_merge_finish(o.m, 8 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 1);
	rm(&o);
}

/*
 * A loopback port reused from TIME_WAIT: the client's end was closed
 * and shows up opening again: the old connection is written (fin), a
 * new one begins.
 */
static void test_loopback_reuse(void)
{
	struct obj o;
	struct cot_vmi_sock c1 =
		sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x10);
	struct cot_vmi_sock s1 =
		sk(LO, 80, LO, 3000, COT_VMI_TCP_ESTABLISHED, 1, 0x20);
	struct cot_vmi_sock c2 = c1, s2 = s1, c3 = c1;

	T_ASSERT(mk(&o));
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, listener(NULL, 80, 1));
	opened(&o, c1);
	opened(&o, s1);
	cot_merge_scan_end(o.m);
	c2.state = COT_VMI_TCP_TIME_WAIT;
	c2.kind = COT_VMI_SK_TW;
	c2.kaddr = 0x30;
	s2.state = COT_VMI_TCP_LAST_ACK;
	cot_merge_scan_begin(o.m, 2 * S);
	changed(&o, c1, c2);
	changed(&o, s1, s2);
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 0);
	/* The tuple again, SYN_SENT from the same client port. */
	c3.state = COT_VMI_TCP_SYN_SENT;
	c3.kaddr = 0x40;
	cot_merge_scan_begin(o.m, 3 * S);
	changed(&o, c2, c3);
	cot_merge_scan_end(o.m);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].end, COT_END_FIN);
	T_EQ_U(o.k->r[0].first_ns, 1 * S);
	T_EQ_U(o.k->r[0].sport, 3000);
	T_EQ_U(stats(&o).reused, 1);
	cot_merge_finish(o.m, 4 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 2);
	T_EQ_U(o.k->r[1].end, COT_END_SHUTDOWN);
	T_EQ_U(o.k->r[1].first_ns, 3 * S);
	T_EQ_U(o.k->r[1].sport, 3000);
	T_EQ_U(o.k->r[1].tcp_state, COT_TCP_SYN_SENT);
	rm(&o);
}

/*
 * Another kernel socket (another kaddr) in TIME_WAIT replaced the one
 * there was: a whole connection came and went between two scans.
 */
static void test_tw_replaced(void)
{
	struct obj o;
	struct cot_vmi_sock a =
		sk(LO, 3000, LO, 80, COT_VMI_TCP_TIME_WAIT, 1, 0x10);
	struct cot_vmi_sock b = a, c = a;

	T_ASSERT(mk(&o));
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, a);
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 1);
	/* The same kernel socket in another closed state: no new one. */
	c.state = COT_VMI_TCP_CLOSE;
	cot_merge_scan_begin(o.m, 2 * S);
	changed(&o, a, c);
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 1);
	b.kaddr = 0x99;
	cot_merge_scan_begin(o.m, 3 * S);
	changed(&o, c, b);
	cot_merge_scan_end(o.m);
	T_ASSERT(o.k->n == 2);
	T_EQ_U(o.k->r[1].end, COT_END_FIN);
	T_EQ_U(o.k->r[1].first_ns, 3 * S);
	T_EQ_U(stats(&o).reused, 1);
	cot_merge_finish(o.m, 4 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 2);
	rm(&o);
}

/*
 * Written (its one socket left in TIME_WAIT), kept; then the other end
 * of the tuple shows up opening: a new connection on the reused tuple.
 */
static void test_emitted_reuse(void)
{
	struct obj o;

	T_ASSERT(mk(&o));
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, sk(LO, 3000, LO, 80, COT_VMI_TCP_TIME_WAIT, 1, 0x10));
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 1);
	cot_merge_scan_begin(o.m, 2 * S);
	opened(&o, sk(LO, 80, LO, 3000, COT_VMI_TCP_SYN_RECV, 1, 0x20));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).reused, 1);
	cot_merge_finish(o.m, 3 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 2);
	T_EQ_U(o.k->r[1].first_ns, 2 * S);
	T_EQ_U(o.k->r[1].end, COT_END_SHUTDOWN);
	T_EQ_U(o.k->r[1].tcp_state, COT_TCP_SYN_RECV);
	rm(&o);
}

/*
 * The tuple is reused within the scan that created its connection (an
 * IPv4 and an IPv6 socket of one tuple), and the listener comes last:
 * the old connection's record waits for scan_end and its initiator.
 */
static void test_reuse_same_scan(void)
{
	struct obj o;
	struct cot_vmi_sock tw =
		sk(LO, 50000, LO, 3000, COT_VMI_TCP_TIME_WAIT, 1, 0x10);
	struct cot_vmi_sock est =
		sk(LO, 50000, LO, 3000, COT_VMI_TCP_ESTABLISHED, 1, 0x20);

	T_ASSERT(mk(&o));
	est.family = 6;
	cot_merge_scan_begin(o.m, S);
	opened(&o, tw);
	opened(&o, est);
	T_EQ_U(o.k->n, 0);
	opened(&o, listener(NULL, 50000, 1));
	cot_merge_scan_end(o.m);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].end, COT_END_FIN);
	T_EQ_U(o.k->r[0].sport, 3000);
	T_EQ_U(o.k->r[0].dport, 50000);
	T_EQ_U(stats(&o).reused, 1);
	T_EQ_U(stats(&o).conns, 1);
	cot_merge_finish(o.m, 2 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 2);
	T_EQ_U(o.k->r[1].sport, 3000);
	rm(&o);
}

/* The late socket of a NIC flow already written is not a connection. */
static void test_late_socket(void)
{
	struct cot_merge_params p;
	struct obj o;

	params(&p);
	p.ended_keep_ns = 60 * S;
	T_ASSERT(mk_p(&o, &p));
	cot_merge_vmi_up(o.m, 0);
	nic_open(&o, S);
	nic_close(&o, S + 5 * MS);
	T_EQ_U(cot_merge_expire(o.m, 5 * S, 0), 1);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].seen_by, COT_SEEN_NIC);
	cot_merge_scan_begin(o.m, 6 * S);
	opened(&o, sk(G, 40000, P, 80, COT_VMI_TCP_TIME_WAIT, 1, 0x10));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).late, 1);
	T_EQ_U(stats(&o).conns, 0);
	/* Past ended_keep_ns the same tuple is a connection of its own. */
	cot_merge_scan_begin(o.m, 70 * S);
	opened(&o, sk(G, 40000, P, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x20));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).late, 1);
	T_EQ_U(stats(&o).conns, 1);
	cot_merge_finish(o.m, 71 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 2);
	T_EQ_U(o.k->r[1].seen_by, COT_SEEN_VMI);
	rm(&o);
}

/* The socket seen before the first frame: the NIC flow takes it over. */
static void test_takeover(void)
{
	struct obj o;
	struct cot_merge_stats s;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	cot_merge_scan_begin(o.m, S);
	opened(&o, sk(G, 40000, P, 80, COT_VMI_TCP_SYN_SENT, 4026531840u, 1));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).conns, 1);
	nic_open(&o, S + 1);
	s = stats(&o);
	T_EQ_U(s.takeovers, 1);
	/* Not queued for a scan: freed at once. */
	T_EQ_U(s.conns, 0);
	empty_scan(&o, S + 10 * MS);
	nic_close(&o, S + 20 * MS);
	cot_merge_expire(o.m, 10 * S, 0);
	cot_merge_finish(o.m, 11 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].seen_by, COT_SEEN_BOTH);
	T_EQ_U(o.k->r[0].netns, 4026531840u);
	T_EQ_U(o.k->r[0].flags, 0);
	T_EQ_U(o.k->r[0].end, COT_END_FIN);
	rm(&o);
}

/*
 * hidden-nic: a NIC TCP flow the guest itself spoke in, long enough,
 * with the view up all along, matched by no socket.  @what breaks one
 * condition at a time; returns the record's flags (or 0xff).
 */
enum hn {
	HN_YES,
	HN_RST_ONLY,
	HN_SHORT,
	HN_NOT_UP,
	HN_UP_LATE,
	HN_ONE_SCAN,
	HN_NO_VMI,
	HN_DOWN
};

static unsigned int hidden_nic(enum hn what)
{
	struct cot_merge_params p;
	struct obj o;
	uint64_t t = 10 * S, dur = what == HN_SHORT ? S : 2 * S;
	unsigned int fl = 0xff;

	params(&p);
	p.vmi = what != HN_NO_VMI;
	if (!mk_p(&o, &p))
		return fl;
	if (what != HN_NOT_UP)
		cot_merge_vmi_up(o.m, what == HN_UP_LATE ? t + 1 : 0);
	if (what == HN_RST_ONLY) {
		/* The peer talks; the guest only refuses. */
		frame(&o, t, false, P, 80, G, 40000, COT_TCP_ACK);
		frame(&o, t + 1, true, G, 40000, P, 80, COT_TCP_RST);
		frame(&o, t + dur, false, P, 80, G, 40000, COT_TCP_ACK);
		frame(&o, t + dur + 1, true, G, 40000, P, 80, COT_TCP_RST);
	} else {
		nic_open(&o, t);
		frame(&o, t + dur, true, G, 40000, P, 80, COT_TCP_ACK);
		nic_close(&o, t + dur);
	}
	empty_scan(&o, t + 10 * MS);
	if (what != HN_ONE_SCAN)
		empty_scan(&o, t + 20 * MS);
	if (what == HN_DOWN)
		cot_merge_vmi_down(o.m);
	cot_merge_expire(o.m, t + 100 * S, 0);
	if (o.k->n == 1) {
		fl = o.k->r[0].flags;
		if (stats(&o).hidden_nic != ((fl & COT_RF_HIDDEN_NIC) ? 1 : 0))
			fl = 0xfe;
	}
	rm(&o);
	return fl;
}

static void test_hidden_nic(void)
{
	T_EQ_U(hidden_nic(HN_YES), COT_RF_HIDDEN_NIC);
	T_EQ_U(hidden_nic(HN_RST_ONLY), 0);
	T_EQ_U(hidden_nic(HN_SHORT), 0);
	T_EQ_U(hidden_nic(HN_NOT_UP), 0);
	T_EQ_U(hidden_nic(HN_UP_LATE), 0);
	T_EQ_U(hidden_nic(HN_ONE_SCAN), 0);
	T_EQ_U(hidden_nic(HN_NO_VMI), 0);
	T_EQ_U(hidden_nic(HN_DOWN), 0);
}

/* One memory-only socket from @l to @r; returns the record's flags. */
static unsigned int hidden_vmi(const uint8_t l[4], const uint8_t r[4],
			       bool v6_lo)
{
	struct obj o;
	struct cot_vmi_sock s =
		sk(l, 40000, r, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x10);
	unsigned int fl = 0xff;

	if (v6_lo) {
		memset(&s.local, 0, sizeof(s.local));
		s.local.b[15] = 1;
		s.remote = s.local;
		s.family = 6;
	}
	if (!mk(&o))
		return fl;
	cot_merge_scan_begin(o.m, S);
	opened(&o, s);
	cot_merge_scan_end(o.m);
	cot_merge_scan_begin(o.m, 2 * S);
	closed(&o, s);
	cot_merge_scan_end(o.m);
	empty_scan(&o, 3 * S);
	if (o.k->n == 1 && o.k->r[0].end == COT_END_GONE) {
		fl = o.k->r[0].flags;
		if (stats(&o).hidden_vmi != ((fl & COT_RF_HIDDEN_VMI) ? 1 : 0))
			fl = 0xfe;
	}
	rm(&o);
	return fl;
}

static void test_hidden_vmi(void)
{
	static const uint8_t lo2[4] = { 127, 0, 0, 53 };

	T_EQ_U(hidden_vmi(G, P, false), COT_RF_HIDDEN_VMI);
	T_EQ_U(hidden_vmi(LO, LO, false), 0);
	T_EQ_U(hidden_vmi(LO, lo2, false), 0);
	T_EQ_U(hidden_vmi(G, LO, false), 0);
	T_EQ_U(hidden_vmi(G, G, false), 0);
	T_EQ_U(hidden_vmi(G, G, true), 0); /* ::1 */
}

/*
 * A socket already there at the first scan after the view came up may
 * predate the NIC view (cotrackd restarted under a running VM): not
 * hidden.  One that appears at a later scan is.
 */
static void test_hidden_vmi_early(void)
{
	struct cot_vmi_sock s1 =
		sk(G, 40000, P, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x10);
	struct cot_vmi_sock s2 =
		sk(G, 40001, P, 80, COT_VMI_TCP_ESTABLISHED, 1, 0x20);
	struct obj o;
	unsigned int early = 0, late = 0;
	int i;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, S);
	cot_merge_scan_begin(o.m, 2 * S);
	opened(&o, s1);
	cot_merge_scan_end(o.m);
	cot_merge_scan_begin(o.m, 3 * S);
	opened(&o, s2);
	cot_merge_scan_end(o.m);
	/* the view goes down and up: the first scan after is early again */
	cot_merge_vmi_down(o.m);
	cot_merge_vmi_up(o.m, 4 * S);
	cot_merge_scan_begin(o.m, 5 * S);
	opened(&o, s1);
	opened(&o, s2);
	cot_merge_scan_end(o.m);
	cot_merge_finish(o.m, 6 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 2);
	for (i = 0; i < o.k->n; i++) {
		if (o.k->r[i].sport == 40000)
			early = o.k->r[i].flags;
		if (o.k->r[i].sport == 40001)
			late = o.k->r[i].flags;
	}
	T_EQ_U(early, 0);
	T_EQ_U(late, COT_RF_HIDDEN_VMI);
	T_EQ_U(stats(&o).hidden_vmi, 1);
	rm(&o);
}

/* Sockets caught half set up (a port 0) are skipped and counted. */
static void test_half(void)
{
	struct obj o;

	T_ASSERT(mk(&o));
	cot_merge_scan_begin(o.m, S);
	opened(&o, sk(G, 0, P, 80, COT_VMI_TCP_SYN_SENT, 1, 1));
	opened(&o, sk(G, 40000, P, 0, COT_VMI_TCP_CLOSE, 1, 2));
	opened(&o, sk(G, 40001, P, 80, COT_VMI_TCP_SYN_SENT, 1, 3));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).half, 2);
	T_EQ_U(stats(&o).conns, 1);
	cot_merge_finish(o.m, 2 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].sport, 40001);
	rm(&o);
}

/* The pool full: the rest is dropped and counted; nothing breaks. */
static void test_pool_full(void)
{
	struct cot_merge_params p;
	struct obj o;
	uint16_t i;

	params(&p);
	p.max_conns = 4;
	T_ASSERT(mk_p(&o, &p));
	cot_merge_scan_begin(o.m, S);
	for (i = 0; i < 6; i++)
		opened(&o, sk(LO, (uint16_t)(3000 + i), LO, 80,
			      COT_VMI_TCP_ESTABLISHED, 1, i + 1u));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).conns, 4);
	T_EQ_U(stats(&o).conns_dropped, 2);
	/* One leaves; its place takes a new one. */
	cot_merge_scan_begin(o.m, 2 * S);
	closed(&o, sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 1));
	cot_merge_scan_end(o.m);
	empty_scan(&o, 3 * S);
	T_EQ_U(stats(&o).conns, 3);
	cot_merge_scan_begin(o.m, 4 * S);
	opened(&o, sk(LO, 4000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 9));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).conns, 4);
	cot_merge_finish(o.m, 5 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 5);
	T_EQ_U(stats(&o).conns, 0);
	rm(&o);
}

/* One tuple in many namespaces: at most 64 at once (one chain). */
static void test_tuple_cap(void)
{
	struct cot_merge_params p;
	struct obj o;
	uint32_t ns;

	params(&p);
	p.max_conns = 256;
	T_ASSERT(mk_p(&o, &p));
	cot_merge_scan_begin(o.m, S);
	for (ns = 1; ns <= 100; ns++)
		opened(&o,
		       sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, ns, ns));
	opened(&o, sk(LO, 3001, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 999));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).conns, 65);
	T_EQ_U(stats(&o).conns_dropped, 36);
	cot_merge_finish(o.m, 2 * S, COT_END_SHUTDOWN);
	T_EQ_U(o.k->n, 65);
	rm(&o);
}

/* Initiator of a socket local:@lp -> :1, found in the records. */
static int init_port(const struct sink *k, uint16_t lp)
{
	int i;

	for (i = 0; i < k->n && i < MAX_RECS; i++)
		if (k->r[i].sport == lp || k->r[i].dport == lp)
			return k->r[i].sport;
	return -1;
}

/* The listener table full: counted; the ones kept still decide. */
static void test_listen_full(void)
{
	struct cot_merge_params p;
	struct obj o;
	struct cot_vmi_sock v6 = listener(NULL, 5001, 1);

	params(&p);
	p.max_listen = 2;
	T_ASSERT(mk_p(&o, &p));
	v6.family = 6;
	cot_merge_scan_begin(o.m, S);
	opened(&o, listener(NULL, 5000, 1));
	opened(&o, listener(NULL, 5001, 1));
	opened(&o, listener(NULL, 5002, 1));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).listeners, 2);
	T_EQ_U(stats(&o).listen_dropped, 1);
	/* A second socket on a known port: full too. */
	cot_merge_scan_begin(o.m, 2 * S);
	opened(&o, v6);
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).listen_dropped, 2);
	/* 5000 closes: room for the IPv6 listener of 5001. */
	cot_merge_scan_begin(o.m, 3 * S);
	closed(&o, listener(NULL, 5000, 1));
	opened(&o, v6);
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).listeners, 2);
	/* The IPv4 listener of 5001 goes; the IPv6 one keeps the port. */
	cot_merge_scan_begin(o.m, 4 * S);
	closed(&o, listener(NULL, 5001, 1));
	opened(&o, sk(LO, 5000, LO, 1, COT_VMI_TCP_ESTABLISHED, 1, 1));
	opened(&o, sk(LO, 5001, LO, 1, COT_VMI_TCP_ESTABLISHED, 1, 2));
	opened(&o, sk(LO, 5002, LO, 1, COT_VMI_TCP_ESTABLISHED, 1, 3));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).listeners, 1);
	cot_merge_finish(o.m, 5 * S, COT_END_SHUTDOWN);
	T_EQ_U(init_port(o.k, 5000), 5000); /* closed: higher port calls */
	T_EQ_U(init_port(o.k, 5001), 1);    /* listening: the other end */
	T_EQ_U(init_port(o.k, 5002), 5002); /* dropped: not known */
	rm(&o);
}

/* Many listeners added and half removed: the table keeps the rest. */
static void test_listen_many(void)
{
	struct cot_merge_params p;
	struct obj o;
	uint16_t i;
	int bad = 0;

	params(&p);
	p.max_listen = 2000;
	p.max_conns = 2048;
	T_ASSERT(mk_p(&o, &p));
	cot_merge_scan_begin(o.m, S);
	for (i = 0; i < 2000; i++)
		opened(&o, listener(NULL, (uint16_t)(1000 + i), 7));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).listeners, 2000);
	cot_merge_scan_begin(o.m, 2 * S);
	for (i = 1; i < 2000; i += 2)
		closed(&o, listener(NULL, (uint16_t)(1000 + i), 7));
	for (i = 0; i < 2000; i++)
		opened(&o, sk(LO, (uint16_t)(1000 + i), LO, 1,
			      COT_VMI_TCP_ESTABLISHED, 7, i + 1u));
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).listeners, 1000);
	cot_merge_finish(o.m, 3 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 2000);
	for (i = 0; i < 2000; i++)
		if (init_port(o.k, (uint16_t)(1000 + i)) !=
		    (i & 1 ? 1000 + i : 1))
			bad++;
	T_EQ_U(bad, 0);
	rm(&o);
}

/* finish writes every open connection with the end given, once. */
static void test_finish(void)
{
	struct obj o;
	struct cot_merge_stats s;
	struct cot_flow_stats fs;
	int i, nic = 0, vmi = 0;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	nic_open(&o, S);
	cot_merge_scan_begin(o.m, S + 1);
	opened(&o, sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 1));
	/* Written (TIME_WAIT), kept: not written again. */
	opened(&o, sk(LO, 3001, LO, 80, COT_VMI_TCP_TIME_WAIT, 1, 2));
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 1);
	/* In the middle of a scan: its new connection is written too. */
	cot_merge_scan_begin(o.m, S + 2);
	opened(&o, sk(LO, 80, LO, 3002, COT_VMI_TCP_ESTABLISHED, 1, 3));
	opened(&o, listener(NULL, 80, 1));
	cot_merge_finish(o.m, 9 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 4);
	for (i = 1; i < 4; i++) {
		const struct cot_rec *r = &o.k->r[i];

		T_EQ_U(r->end, COT_END_SHUTDOWN);
		T_CHECK(r->last_ns < 9 * S);
		if (r->seen_by == COT_SEEN_NIC)
			nic++;
		if (r->seen_by == COT_SEEN_VMI) {
			vmi++;
			T_CHECK(r->sport == 3000 || r->sport == 3002);
		}
	}
	T_EQ_U(nic, 1);
	T_EQ_U(vmi, 2);
	cot_merge_stats(o.m, &s, &fs);
	T_EQ_U(s.conns, 0);
	T_EQ_U(fs.active, 0);
	T_EQ_U(s.records, 4);
	/* Empty and usable: events of the interrupted scan are stray. */
	opened(&o, sk(LO, 3003, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 4));
	T_EQ_U(stats(&o).stray_events, 1);
	cot_merge_scan_begin(o.m, 10 * S);
	opened(&o, sk(LO, 3003, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 4));
	cot_merge_scan_end(o.m);
	nic_open(&o, 10 * S);
	cot_merge_finish(o.m, 11 * S, COT_END_OPEN);
	T_EQ_U(o.k->n, 6);
	T_EQ_U(o.k->r[5].end, COT_END_OPEN);
	rm(&o);
}

/*
 * The view went down: the next scans are against an empty snapshot.
 * Connections whose sockets come back (as OPENED) continue; the others
 * end gone after two scans.
 */
static void test_vmi_down(void)
{
	struct obj o;
	struct cot_vmi_sock a =
		sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 1);
	struct cot_vmi_sock b =
		sk(LO, 3001, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 2);

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, listener(NULL, 80, 1));
	opened(&o, a);
	opened(&o, b);
	cot_merge_scan_end(o.m);
	empty_scan(&o, 2 * S);
	cot_merge_vmi_down(o.m);
	T_EQ_U(stats(&o).listeners, 0);
	T_EQ_U(stats(&o).conns, 2);
	cot_merge_vmi_up(o.m, 5 * S);
	cot_merge_scan_begin(o.m, 6 * S);
	opened(&o, listener(NULL, 80, 1));
	opened(&o, a);
	cot_merge_scan_end(o.m);
	T_EQ_U(o.k->n, 0);
	empty_scan(&o, 7 * S);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].sport, 3001);
	T_EQ_U(o.k->r[0].end, COT_END_GONE);
	T_EQ_U(o.k->r[0].last_ns, 1 * S);
	empty_scan(&o, 8 * S);
	T_EQ_U(o.k->n, 1);
	T_EQ_U(stats(&o).conns, 1);
	cot_merge_finish(o.m, 9 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 2);
	T_EQ_U(o.k->r[1].sport, 3000);
	T_EQ_U(o.k->r[1].first_ns, 1 * S);
	T_EQ_U(o.k->r[1].end, COT_END_SHUTDOWN);
	rm(&o);
}

/* Events outside a scan are ignored and counted. */
static void test_stray(void)
{
	struct obj o;

	T_ASSERT(mk(&o));
	opened(&o, sk(LO, 3000, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 1));
	cot_merge_scan_end(o.m);
	cot_merge_scan_begin(o.m, S);
	cot_merge_sock(o.m, COT_VMI_EV_CHANGED, NULL, NULL);
	cot_merge_sock(o.m, COT_VMI_EV_OPENED, NULL, NULL);
	cot_merge_scan_end(o.m);
	T_EQ_U(stats(&o).stray_events, 4);
	T_EQ_U(stats(&o).sock_events, 0);
	T_EQ_U(stats(&o).scans, 1);
	T_EQ_U(stats(&o).conns, 0);
	rm(&o);
}

/* Two trackers share nothing: listeners, connections, names, seeds. */
static void test_two_objects(void)
{
	struct cot_merge_params p;
	struct obj x, y;
	struct cot_vmi_sock s =
		sk(LO, 50000, LO, 3000, COT_VMI_TCP_ESTABLISHED, 1, 1);

	params(&p);
	p.vm = "vm-x";
	p.hash_seed = 1;
	T_ASSERT(mk_p(&x, &p));
	p.vm = "vm-y";
	p.hash_seed = 0xdeadbeefcafef00dULL;
	T_ASSERT(mk_p(&y, &p));
	cot_merge_scan_begin(x.m, S);
	cot_merge_scan_begin(y.m, S);
	opened(&x, listener(NULL, 50000, 1));
	opened(&x, s);
	opened(&y, s);
	opened(&y, sk(LO, 3001, LO, 80, COT_VMI_TCP_ESTABLISHED, 1, 2));
	cot_merge_scan_end(x.m);
	cot_merge_scan_end(y.m);
	T_EQ_U(stats(&x).listeners, 1);
	T_EQ_U(stats(&y).listeners, 0);
	T_EQ_U(stats(&x).conns, 1);
	T_EQ_U(stats(&y).conns, 2);
	cot_merge_finish(x.m, 2 * S, COT_END_SHUTDOWN);
	T_EQ_U(x.k->n, 1);
	T_EQ_U(y.k->n, 0);
	T_EQ_U(stats(&y).conns, 2);
	cot_merge_finish(y.m, 2 * S, COT_END_SHUTDOWN);
	T_ASSERT(x.k->n == 1 && y.k->n == 2);
	T_EQ_S(x.k->r[0].vm, "vm-x");
	T_EQ_S(y.k->r[0].vm, "vm-y");
	T_EQ_U(x.k->r[0].sport, 3000);	      /* x knows the listener */
	T_EQ_U(init_port(y.k, 50000), 50000); /* y does not */
	rm(&x);
	rm(&y);
}

/* ---- socket owners ------------------------------------------------------ */

static struct cot_rec_owner owner(uint32_t pid, const char *comm,
				  const char *cg)
{
	struct cot_rec_owner w;

	memset(&w, 0, sizeof(w));
	w.pid = pid;
	snprintf(w.comm, sizeof(w.comm), "%s", comm);
	snprintf(w.cgroup, sizeof(w.cgroup), "%s", cg);
	return w;
}

static void own_ev(struct obj *o, struct cot_vmi_sock s, uint32_t pid,
		   const char *comm, const char *cg)
{
	struct cot_rec_owner w = owner(pid, comm, cg);

	cot_merge_sock_owner(o->m, &s, &w);
}

static bool no_owner(const struct cot_rec_owner *w)
{
	return w->pid == 0 && w->comm[0] == '\0' && w->cgroup[0] == '\0';
}

/*
 * A localhost connection: both ends in the VM, each with its owner, the
 * later pass replacing the earlier; kept after the client's socket goes
 * TIME_WAIT (owners of TIME_WAIT sockets and listeners are ignored)
 * and the server's is gone, so the record names both.
 */
static void test_owner_localhost(void)
{
	struct obj o;
	struct cot_vmi_sock srv =
		sk(LO, 11211, LO, 40001, COT_VMI_TCP_ESTABLISHED, 1, 0x100);
	struct cot_vmi_sock cli =
		sk(LO, 40001, LO, 11211, COT_VMI_TCP_ESTABLISHED, 1, 0x200);
	struct cot_vmi_sock tw = cli, srv2 = srv;
	const struct cot_rec *r;

	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	cot_merge_scan_begin(o.m, 1 * S);
	opened(&o, srv);
	opened(&o, cli);
	opened(&o, listener(NULL, 11211, 1));
	cot_merge_scan_end(o.m);
	/* between scans, as cotrackd posts them */
	own_ev(&o, cli, 7, "bash", "/init");
	own_ev(&o, srv, 30, "memcached", "/svc/cache");
	own_ev(&o, listener(NULL, 11211, 1), 30, "memcached", "/svc/cache");
	T_EQ_U(stats(&o).owners, 2);
	T_EQ_U(stats(&o).owners_unused, 1);
	cot_merge_scan_begin(o.m, 2 * S);
	cot_merge_scan_end(o.m);
	own_ev(&o, cli, 20, "nginx", "/svc/fe"); /* a later pass */
	tw.state = COT_VMI_TCP_TIME_WAIT;
	tw.kind = COT_VMI_SK_TW;
	tw.kaddr = 0x300;
	srv2.state = COT_VMI_TCP_LAST_ACK;
	cot_merge_scan_begin(o.m, 3 * S);
	changed(&o, cli, tw);
	changed(&o, srv, srv2);
	cot_merge_scan_end(o.m);
	own_ev(&o, tw, 99, "evil", "/x"); /* TIME_WAIT: no owner */
	own_ev(&o, srv2, 0, "", "");	  /* none found: not a change */
	cot_merge_scan_begin(o.m, 4 * S);
	closed(&o, srv2);
	cot_merge_scan_end(o.m);
	T_ASSERT(o.k->n == 1);
	r = &o.k->r[0];
	T_EQ_U(r->sport, 40001);
	T_EQ_U(r->dport, 11211);
	T_EQ_U(r->src_owner.pid, 20);
	T_EQ_S(r->src_owner.comm, "nginx");
	T_EQ_S(r->src_owner.cgroup, "/svc/fe");
	T_EQ_U(r->dst_owner.pid, 30);
	T_EQ_S(r->dst_owner.comm, "memcached");
	T_EQ_S(r->dst_owner.cgroup, "/svc/cache");
	T_EQ_U(stats(&o).owners_unused, 3);
	/* written: a pass now finds nothing to give it to */
	own_ev(&o, tw, 20, "nginx", "/svc/fe");
	T_EQ_U(stats(&o).owners_unused, 4);
	T_EQ_U(stats(&o).cgroups, 3); /* /init, /svc/cache, /svc/fe */
	rm(&o);
}

/*
 * Off the box: a NIC flow's guest end gets the owner, the peer's stays
 * none; an owner given to a memory-only connection before its first
 * frame goes with the NIC flow that takes it over; without owners
 * (memory view off, or no pass saw the socket) pid 0 and "".
 */
static void test_owner_nic(void)
{
	struct cot_merge_params p;
	struct cot_vmi_sock g =
		sk(G, 40000, P, 80, COT_VMI_TCP_ESTABLISHED, 5, 0xa);
	struct obj o, n;
	int round;

	for (round = 0; round < 2; round++) {
		T_ASSERT(mk(&o));
		cot_merge_vmi_up(o.m, 0);
		if (round == 1) { /* the socket before the first frame */
			g.state = COT_VMI_TCP_SYN_SENT;
			cot_merge_scan_begin(o.m, S - 1);
			opened(&o, g);
			cot_merge_scan_end(o.m);
			own_ev(&o, g, 41, "curl", "/a/b");
		}
		nic_open(&o, S);
		if (round == 0) {
			cot_merge_scan_begin(o.m, S + 5 * MS);
			opened(&o, g);
			cot_merge_scan_end(o.m);
			own_ev(&o, g, 41, "curl", "/a/b");
		}
		nic_close(&o, 2 * S);
		cot_merge_expire(o.m, 10 * S, 0);
		T_ASSERT(o.k->n == 1);
		T_EQ_U(o.k->r[0].seen_by, COT_SEEN_BOTH);
		T_EQ_U(o.k->r[0].src_owner.pid, 41);
		T_EQ_S(o.k->r[0].src_owner.comm, "curl");
		T_EQ_S(o.k->r[0].src_owner.cgroup, "/a/b");
		T_ASSERT(no_owner(&o.k->r[0].dst_owner));
		T_EQ_U(stats(&o).takeovers, round);
		rm(&o);
	}
	/* The server end in the guest: the owner is the record's dst. */
	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	frame(&o, S, false, P, 5555, G, 80, COT_TCP_SYN);
	frame(&o, S + 1, true, G, 80, P, 5555, COT_TCP_SYN | COT_TCP_ACK);
	cot_merge_scan_begin(o.m, S + 5 * MS);
	opened(&o, sk(G, 80, P, 5555, COT_VMI_TCP_ESTABLISHED, 5, 0xb));
	cot_merge_scan_end(o.m);
	own_ev(&o, sk(G, 80, P, 5555, COT_VMI_TCP_ESTABLISHED, 5, 0xb), 8,
	       "nginx", "/fe");
	cot_merge_finish(o.m, 2 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 1);
	T_EQ_U(o.k->r[0].sport, 5555);
	T_ASSERT(no_owner(&o.k->r[0].src_owner));
	T_EQ_U(o.k->r[0].dst_owner.pid, 8);
	T_EQ_S(o.k->r[0].dst_owner.comm, "nginx");
	rm(&o);
	/* No owners: the view off, or on but no pass saw the socket. */
	params(&p);
	p.vmi = false;
	T_ASSERT(mk_p(&n, &p));
	nic_open(&n, S);
	nic_close(&n, 2 * S);
	cot_merge_expire(n.m, 10 * S, 0);
	T_ASSERT(mk(&o));
	cot_merge_vmi_up(o.m, 0);
	cot_merge_scan_begin(o.m, S);
	opened(&o, sk(LO, 40001, LO, 11211, COT_VMI_TCP_ESTABLISHED, 1, 1));
	opened(&o, sk(LO, 11211, LO, 40001, COT_VMI_TCP_ESTABLISHED, 1, 2));
	cot_merge_scan_end(o.m);
	cot_merge_finish(o.m, 2 * S, COT_END_SHUTDOWN);
	T_ASSERT(n.k->n == 1 && o.k->n == 1);
	T_ASSERT(no_owner(&n.k->r[0].src_owner));
	T_ASSERT(no_owner(&n.k->r[0].dst_owner));
	T_ASSERT(no_owner(&o.k->r[0].src_owner));
	T_ASSERT(no_owner(&o.k->r[0].dst_owner));
	rm(&n);
	rm(&o);
}

/*
 * Hostile owners: comm and cgroup with no NUL are cut at their size;
 * past the cgroup table the cgroup is unknown, never another's; a tuple
 * reused is a new connection, without the old one's owners.
 */
static void test_owner_hostile(void)
{
	struct cot_merge_params p;
	struct cot_vmi_sock a =
		sk(LO, 40001, LO, 11211, COT_VMI_TCP_ESTABLISHED, 1, 0x1);
	struct cot_vmi_sock b =
		sk(LO, 40002, LO, 11211, COT_VMI_TCP_ESTABLISHED, 1, 0x2);
	struct cot_vmi_sock tw = a, again = a;
	struct cot_rec_owner w;
	struct obj o;
	int i, ia = -1, ib = -1, ic = -1;

	params(&p);
	p.max_cgroups = 1;
	T_ASSERT(mk_p(&o, &p));
	cot_merge_vmi_up(o.m, 0);
	cot_merge_scan_begin(o.m, S);
	opened(&o, a);
	opened(&o, b);
	opened(&o, listener(NULL, 11211, 1));
	cot_merge_scan_end(o.m);
	memset(&w, 'x', sizeof(w));
	w.pid = 5;
	cot_merge_sock_owner(o.m, &a, &w);
	own_ev(&o, b, 6, "b", "/other");
	T_EQ_U(stats(&o).cgroups, 1);
	T_EQ_U(stats(&o).cgroups_dropped, 1);
	/* a ends (TIME_WAIT), its port opens again: a new connection */
	tw.state = COT_VMI_TCP_TIME_WAIT;
	tw.kind = COT_VMI_SK_TW;
	tw.kaddr = 0x3;
	cot_merge_scan_begin(o.m, 2 * S);
	changed(&o, a, tw);
	cot_merge_scan_end(o.m);
	again.kaddr = 0x4;
	cot_merge_scan_begin(o.m, 3 * S);
	changed(&o, tw, again);
	cot_merge_scan_end(o.m);
	cot_merge_finish(o.m, 4 * S, COT_END_SHUTDOWN);
	T_ASSERT(o.k->n == 3);
	for (i = 0; i < 3; i++) {
		if (o.k->r[i].sport == 40002)
			ib = i;
		else if (o.k->r[i].end == COT_END_FIN)
			ia = i;
		else
			ic = i;
	}
	T_ASSERT(ia >= 0 && ib >= 0 && ic >= 0);
	T_EQ_U(o.k->r[ia].src_owner.pid, 5);
	T_EQ_U(strlen(o.k->r[ia].src_owner.comm), COT_COMM_LEN - 1);
	T_EQ_U(strlen(o.k->r[ia].src_owner.cgroup), COT_CGROUP_LEN - 1);
	T_EQ_U(o.k->r[ib].src_owner.pid, 6);
	T_EQ_S(o.k->r[ib].src_owner.comm, "b");
	T_EQ_S(o.k->r[ib].src_owner.cgroup, "");   /* table full */
	T_ASSERT(no_owner(&o.k->r[ic].src_owner)); /* the reuse */
	T_ASSERT(no_owner(&o.k->r[ic].dst_owner));
	rm(&o);
	/* the bound is checked */
	params(&p);
	p.max_cgroups = (1u << 16) + 1;
	T_EQ_U(cot_merge_memsize(&p), 0);
}

int main(void)
{
	T_RUN(test_params);
	T_RUN(test_linger);
	T_RUN(test_nic_only);
	T_RUN(test_sock_matches_flow);
	T_RUN(test_localhost_pair);
	T_RUN(test_initiator_rules);
	T_RUN(test_time_wait_fin);
	T_RUN(test_gone_two_scans);
	T_RUN(test_loopback_reuse);
	T_RUN(test_tw_replaced);
	T_RUN(test_emitted_reuse);
	T_RUN(test_reuse_same_scan);
	T_RUN(test_late_socket);
	T_RUN(test_takeover);
	T_RUN(test_hidden_nic);
	T_RUN(test_hidden_vmi);
	T_RUN(test_hidden_vmi_early);
	T_RUN(test_half);
	T_RUN(test_pool_full);
	T_RUN(test_tuple_cap);
	T_RUN(test_listen_full);
	T_RUN(test_listen_many);
	T_RUN(test_finish);
	T_RUN(test_vmi_down);
	T_RUN(test_stray);
	T_RUN(test_volumes);
	T_RUN(test_two_objects);
	T_RUN(test_owner_localhost);
	T_RUN(test_owner_nic);
	T_RUN(test_owner_hostile);
	return t_done();
}
