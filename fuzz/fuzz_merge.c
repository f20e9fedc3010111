// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for core/merge: the input is a program of calls on a
 * small tracker (64 flows, 32 memory-only connections, 8 listeners, 16
 * ended slots).  Each call is one opcode byte and its operands:
 *
 *   0 frame   built from pools: addresses, ports, IPv4/6, TCP/UDP,
 *             TCP flags, direction; through cot_pkt_parse, cot_merge_pkt
 *   1 frame   raw: a length byte and that many bytes, parsed as a frame
 *   2 socket  event (OPENED/CLOSED/CHANGED) with pool tuples, any state,
 *             kind (LISTEN included), netns and kaddr
 *   3 scan_begin   4 scan_end   5 expire (budget)   6 time step
 *   7 vmi_up       8 vmi_down   9 finish (any end)
 *
 * Socket events with an odd kaddr bring live volumes, and with bit 1 of
 * kaddr an owner (cot_merge_sock_owner) from a pool: pid 0 too, a comm
 * and a cgroup path with no NUL, more cgroups than the tracker keeps
 * (no input byte more: the corpus keeps its meaning).
 *
 * Only pool values (and the parsed values of raw frames, kept in a
 * bounded "fed" set) reach the tracker, so every record can be checked
 * against what was fed; every owner against the owner pool.  After every call:
 * the counters against the records seen, the table bounds, and after finish an
 * empty tracker.
 */
#include <stdlib.h>
#include <string.h>

#include "cotrack/merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

#define MAX_FLOWS  64
#define MAX_CONNS  32
#define MAX_LISTEN 8
#define FED_MAX	   64
#define MAX_OPS	   4096
#define MAX_CGS	   2

/* The owners fed: pid i, comm cgs/comms[i % 4], cgroup cgs[i % 4]. */
static struct cot_rec_owner owners[8];

static void setup_owners(void)
{
	static const char *const comm[4] = { "nginx", "", "a", NULL };
	static const char *const cg[4] = { "/", "/svc/a", "", NULL };
	int i;

	memset(owners, 0, sizeof(owners));
	for (i = 0; i < 8; i++) {
		struct cot_rec_owner *o = &owners[i];

		o->pid = (uint32_t)i; /* 0: none, ignored */
		if (comm[i % 4])
			strcpy(o->comm, comm[i % 4]);
		else
			memset(o->comm, 'c', sizeof(o->comm)); /* no NUL */
		if (cg[i % 4])
			strcpy(o->cgroup, cg[i % 4]);
		else
			memset(o->cgroup, 'g', sizeof(o->cgroup));
		if (i >= 4 && cg[i % 4] && cg[i % 4][0])
			o->cgroup[1] = 'x'; /* more paths than MAX_CGS */
	}
}

/* An owner in a record: none, or one fed (comm, cgroup as kept). */
static void check_owner(const struct cot_rec_owner *w)
{
	const struct cot_rec_owner *o;

	CHECK(w->comm[COT_COMM_LEN - 1] == '\0');
	CHECK(w->cgroup[COT_CGROUP_LEN - 1] == '\0');
	if (!w->pid) {
		CHECK(!w->comm[0] && !w->cgroup[0]);
		return;
	}
	CHECK(w->pid < 8);
	o = &owners[w->pid];
	CHECK(!strncmp(w->comm, o->comm, COT_COMM_LEN - 1));
	/* the cgroup kept, or unknown (table full), never another */
	CHECK(!w->cgroup[0] ||
	      !strncmp(w->cgroup, o->cgroup, COT_CGROUP_LEN - 1));
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	uint8_t v;

	if (!in->n)
		return 0;
	v = *in->p++;
	in->n--;
	return v;
}

static struct cot_addr addrs[8];
static const uint16_t ports[8] = { 0, 1, 80, 443, 3000, 40000, 50000, 65535 };
static const uint32_t nss[4] = { 0, 1, 2, 4026531840u };

/* What was fed to the tracker (pools, and values of raw frames). */
static struct {
	struct cot_addr a[FED_MAX];
	uint16_t p[FED_MAX];
	uint32_t na, np;
} fed;

static bool fed_has_addr(const struct cot_addr *a)
{
	uint32_t i;

	for (i = 0; i < fed.na; i++)
		if (!memcmp(&fed.a[i], a, sizeof(*a)))
			return true;
	return false;
}

static bool fed_has_port(uint16_t p)
{
	uint32_t i;

	for (i = 0; i < fed.np; i++)
		if (fed.p[i] == p)
			return true;
	return false;
}

/* Add; false when the set is full and @a is new. */
static bool fed_addr(const struct cot_addr *a)
{
	if (fed_has_addr(a))
		return true;
	if (fed.na == FED_MAX)
		return false;
	fed.a[fed.na++] = *a;
	return true;
}

static bool fed_port(uint16_t p)
{
	if (fed_has_port(p))
		return true;
	if (fed.np == FED_MAX)
		return false;
	fed.p[fed.np++] = p;
	return true;
}

static struct {
	uint64_t now;
	uint64_t records, by_seen[4], hidden_nic, hidden_vmi;
	uint8_t finish_end;
	bool in_finish;
} run;

static void on_rec(void *ctx, const struct cot_rec *r)
{
	(void)ctx;
	CHECK(r->seq == 0);
	CHECK(!strcmp(r->vm, "fuzz"));
	CHECK(r->proto < COT_PROTO__COUNT);
	CHECK(r->end < COT_END__COUNT);
	CHECK(r->tcp_state < COT_TCP__COUNT);
	CHECK(r->seen_by >= COT_SEEN_NIC && r->seen_by <= COT_SEEN_BOTH);
	CHECK(!(r->flags & ~(COT_RF_HIDDEN_NIC | COT_RF_HIDDEN_VMI)));
	CHECK(!(r->flags & COT_RF_HIDDEN_NIC) || r->seen_by == COT_SEEN_NIC);
	CHECK(!(r->flags & COT_RF_HIDDEN_VMI) || r->seen_by == COT_SEEN_VMI);
	CHECK(fed_has_addr(&r->src) && fed_has_addr(&r->dst));
	CHECK(fed_has_port(r->sport) && fed_has_port(r->dport));
	CHECK(r->first_ns <= r->last_ns && r->last_ns <= run.now);
	if (r->seen_by == COT_SEEN_NIC)
		CHECK(r->netns == 0);
	if (r->seen_by != COT_SEEN_NIC)
		CHECK(r->netns == nss[0] || r->netns == nss[1] ||
		      r->netns == nss[2] || r->netns == nss[3]);
	if (r->seen_by == COT_SEEN_VMI) {
		CHECK(r->proto == COT_PROTO_TCP && r->ipproto == 6);
		/* Their volumes are the sockets' (pool_sock): segments
		 * from a port or a byte, never more. */
		CHECK(r->pkts_fwd <= 0xffff && r->pkts_rev <= 0xffff);
		/* Memory-only connections have no port 0 (skipped). */
		CHECK(r->sport && r->dport);
		CHECK(r->end == COT_END_FIN || r->end == COT_END_GONE ||
		      (run.in_finish && r->end == run.finish_end));
	}
	check_owner(&r->src_owner);
	check_owner(&r->dst_owner);
	run.records++;
	run.by_seen[r->seen_by]++;
	if (r->flags & COT_RF_HIDDEN_NIC)
		run.hidden_nic++;
	if (r->flags & COT_RF_HIDDEN_VMI)
		run.hidden_vmi++;
}

static void check(const struct cot_merge *m)
{
	struct cot_merge_stats s;
	struct cot_flow_stats fs;

	cot_merge_stats(m, &s, &fs);
	CHECK(s.records == run.records);
	CHECK(s.by_seen[0] == 0);
	CHECK(s.by_seen[1] == run.by_seen[1] &&
	      s.by_seen[2] == run.by_seen[2] && s.by_seen[3] == run.by_seen[3]);
	CHECK(s.hidden_nic == run.hidden_nic && s.hidden_vmi == run.hidden_vmi);
	CHECK(s.conns <= MAX_CONNS);
	CHECK(s.listeners <= MAX_LISTEN);
	CHECK(fs.active <= MAX_FLOWS);
}

/* An Ethernet frame from the pools; returns its length. */
static uint32_t build(uint8_t *f, bool v6, const struct cot_addr *src,
		      const struct cot_addr *dst, bool udp, uint16_t sp,
		      uint16_t dp, uint8_t flags)
{
	uint32_t l4 = udp ? 8 : 20, l3 = v6 ? 40 : 20;
	uint8_t *ip = f + 14, *t = ip + l3;

	memset(f, 0, 14 + l3 + l4);
	f[0] = 0x02;
	f[6] = 0x02;
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		ip[0] = 0x60;
		cot_put_be16(ip + 4, (uint16_t)l4);
		ip[6] = udp ? 17 : 6;
		ip[7] = 64;
		memcpy(ip + 8, src->b, 16);
		memcpy(ip + 24, dst->b, 16);
	} else {
		ip[0] = 0x45;
		cot_put_be16(ip + 2, (uint16_t)(l3 + l4));
		ip[8] = 64;
		ip[9] = udp ? 17 : 6;
		memcpy(ip + 12, src->b + 12, 4);
		memcpy(ip + 16, dst->b + 12, 4);
	}
	cot_put_be16(t, sp);
	cot_put_be16(t + 2, dp);
	if (udp) {
		cot_put_be16(t + 4, 8);
	} else {
		t[12] = 0x50;
		t[13] = flags;
	}
	return 14 + l3 + l4;
}

static void feed(struct cot_merge *m, const uint8_t *f, uint32_t len,
		 bool from_guest)
{
	struct cot_pkt p;
	int slot;
	unsigned i;

	cot_pkt_parse(&p, f, len, len);
	/* Only frames whose every value is in the fed set go in: the
	 * tunnels' outer ends too (their outer flows are recorded). */
	if (p.reason == COT_PKT_OK &&
	    (!fed_addr(&p.src) || !fed_addr(&p.dst) || !fed_port(p.sport) ||
	     !fed_port(p.dport)))
		return;
	/* bounded: ntun <= COT_PKT_MAX_TUN */
	for (i = 0; p.reason == COT_PKT_OK && i < p.ntun; i++)
		if (!fed_addr(&p.tun[i].src) || !fed_addr(&p.tun[i].dst) ||
		    !fed_port(p.tun[i].sport) || !fed_port(p.tun[i].dport))
			return;
	slot = cot_merge_pkt(m, &p, run.now, from_guest);
	CHECK(slot == -COT_ENOENT || (slot >= 0 && slot < MAX_FLOWS));
}

static void pool_sock(struct in *in, struct cot_vmi_sock *s, uint8_t b1)
{
	uint8_t b2 = u8(in), b3 = u8(in);

	memset(s, 0, sizeof(*s));
	s->local = addrs[b2 & 7];
	s->remote = addrs[(b2 >> 3) & 7];
	s->lport = ports[b3 & 7];
	s->rport = ports[(b3 >> 3) & 7];
	s->family = cot_addr_is_v4(&s->local) ? 4 : 6;
	s->netns = nss[(b1 >> 4) & 3];
	s->kind = (uint8_t)((b1 >> 2) & 3);
	s->state = u8(in) % 16; /* invalid states too */
	s->kaddr = 0xffff888000000000ULL | u8(in);
	/* live volumes on half of them, from what is drawn already (no
	 * input byte more: the corpus keeps its meaning) */
	if (s->kaddr & 1) {
		s->flags = COT_VMI_SOCK_VOLUMES;
		s->bytes_acked = s->kaddr & 0xff;
		s->bytes_received = (uint64_t)s->lport << 8 | s->state;
		s->segs_out = s->rport;
		s->segs_in = b3;
	}
}

static void sock_event(struct cot_merge *m, struct in *in)
{
	uint8_t b1 = u8(in), ev = (uint8_t)(1 + (b1 & 3) % 3);
	struct cot_vmi_sock a, b;

	pool_sock(in, &a, b1);
	if (ev == COT_VMI_EV_OPENED) {
		cot_merge_sock(m, COT_VMI_EV_OPENED, NULL, &a);
		/* and its owner, as the scanner's SEV_OWNER (any time) */
		if (a.kaddr & 2)
			cot_merge_sock_owner(m, &a,
					     &owners[(a.kaddr >> 2) & 7]);
		return;
	}
	if (ev == COT_VMI_EV_CLOSED) {
		cot_merge_sock(m, COT_VMI_EV_CLOSED, &a, NULL);
		return;
	}
	if (b1 & 0x40) {
		/* A pair cot_vmi_diff would not make: any two sockets. */
		pool_sock(in, &b, u8(in));
	} else {
		b = a;
		b.state = u8(in) % 16;
		if (b1 & 0x80)
			b.kaddr ^= 0x100;
		if (b.state == COT_VMI_TCP_TIME_WAIT)
			b.kind = COT_VMI_SK_TW;
	}
	cot_merge_sock(m, COT_VMI_EV_CHANGED, &a, &b);
	if (b.kaddr & 2)
		cot_merge_sock_owner(m, &b, &owners[(b.kaddr >> 2) & 7]);
	/* and new counters for it, as the scanner's SEV_VOL */
	b.bytes_acked++;
	cot_merge_sock_volumes(m, &b);
}

static uint64_t step(struct in *in)
{
	uint8_t b = u8(in), k = u8(in);
	static const uint64_t unit[4] = { 1, 1000000ULL, 100000000ULL,
					  1000000000ULL };

	return (uint64_t)b * unit[k & 3];
}

static void setup_addrs(void)
{
	static const uint8_t v4[5][4] = {
		{ 10, 0, 0, 2 },  { 10, 0, 0, 9 },    { 127, 0, 0, 1 },
		{ 127, 0, 0, 2 }, { 192, 168, 1, 1 },
	};
	int i;

	for (i = 0; i < 5; i++)
		cot_addr_from_v4(&addrs[i], v4[i]);
	memset(&addrs[5], 0, sizeof(addrs[5]));
	addrs[5].b[15] = 1; /* ::1 */
	memset(&addrs[6], 0, sizeof(addrs[6]));
	addrs[6].b[0] = 0xfe;
	addrs[6].b[1] = 0x80;
	addrs[6].b[15] = 1;
	memset(&addrs[7], 0, sizeof(addrs[7]));
	addrs[7].b[0] = 0x20;
	addrs[7].b[1] = 0x01;
	addrs[7].b[2] = 0x0d;
	addrs[7].b[3] = 0xb8;
	addrs[7].b[15] = 5;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t *mem;
	static size_t memlen;
	struct cot_merge_params p;
	struct cot_merge *m;
	struct in in = { data, size };
	uint8_t f[256];
	uint32_t ops, i;
	size_t need;

	setup_addrs();
	setup_owners();
	memset(&fed, 0, sizeof(fed));
	memset(&run, 0, sizeof(run));
	for (i = 0; i < 8; i++) {
		fed_addr(&addrs[i]);
		fed_port(ports[i]);
	}

	cot_merge_params_default(&p);
	p.flow.max_flows = MAX_FLOWS;
	p.flow.max_frags = 16;
	p.vm = "fuzz";
	p.vmi = !(u8(&in) & 1);
	p.max_conns = MAX_CONNS;
	p.max_listen = MAX_LISTEN;
	p.ended_slots = 16;
	p.max_cgroups = MAX_CGS;
	p.ended_keep_ns = 120ULL * 1000000000ULL;
	p.hash_seed = (uint64_t)u8(&in) << 32 | u8(&in);
	p.flow.hash_seed = p.hash_seed ^ 1;
	p.cb = on_rec;
	need = cot_merge_memsize(&p);
	CHECK(need > 0);
	if (!mem) {
		memlen = need;
		mem = malloc(memlen);
		CHECK(mem);
	}
	CHECK(need <= memlen);
	CHECK(cot_merge_init(&m, mem, memlen, &p) == 0);
	run.now = 1;

	for (ops = 0; in.n && ops < MAX_OPS; ops++) {
		uint8_t op = u8(&in) % 10, b, c;
		uint32_t len;

		switch (op) {
		case 0:
			b = u8(&in);
			c = u8(&in);
			{
				bool v6 = b & 0x80;
				/* addrs 0-4 are IPv4, 5-7 IPv6 */
				const struct cot_addr *s =
					&addrs[v6 ? 5 + (b & 7) % 3
						  : (b & 7) % 5];
				const struct cot_addr *d =
					&addrs[v6 ? 5 + ((b >> 3) & 7) % 3
						  : ((b >> 3) & 7) % 5];

				len = build(f, v6, s, d, c & 0x40, ports[c & 7],
					    ports[(c >> 3) & 7], u8(&in));
				feed(m, f, len, b & 0x40);
			}
			break;
		case 1:
			b = u8(&in);
			len = COT_MIN((uint32_t)b, (uint32_t)in.n);
			memcpy(f, in.p, len);
			in.p += len;
			in.n -= len;
			feed(m, f, len, b & 1);
			break;
		case 2:
			sock_event(m, &in);
			break;
		case 3:
			cot_merge_scan_begin(m, run.now);
			break;
		case 4:
			cot_merge_scan_end(m);
			break;
		case 5:
			cot_merge_expire(m, run.now, u8(&in));
			break;
		case 6:
			run.now += step(&in);
			break;
		case 7:
			cot_merge_vmi_up(m, run.now);
			break;
		case 8:
			cot_merge_vmi_down(m);
			break;
		case 9: {
			struct cot_merge_stats s;
			struct cot_flow_stats fs;

			run.finish_end = u8(&in) % COT_END__COUNT;
			run.in_finish = true;
			cot_merge_finish(m, run.now, run.finish_end);
			run.in_finish = false;
			cot_merge_stats(m, &s, &fs);
			CHECK(s.conns == 0 && fs.active == 0);
			break;
		}
		}
		check(m);
	}
	run.finish_end = COT_END_SHUTDOWN;
	run.in_finish = true;
	cot_merge_finish(m, run.now, COT_END_SHUTDOWN);
	check(m);
	{
		struct cot_merge_stats s;
		struct cot_flow_stats fs;

		cot_merge_stats(m, &s, &fs);
		CHECK(s.conns == 0 && fs.active == 0);
	}
	return 0;
}
