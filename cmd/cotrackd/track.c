// SPDX-License-Identifier: MIT
/*
 * Tracking for one VM: the packet view (every frame through core/pkt and
 * core/flow) and the memory view (the guest's TCP sockets through
 * core/vmi, scanned when core/sched says so), merged into one stream of
 * records.
 *
 * Merge rules:
 *  - A guest socket whose connection is in the NIC table marks that flow
 *    "seen by vmi": its record says seen_by both.
 *  - A guest socket with no NIC flow becomes a vconn (memory-only
 *    connection).  Both sockets of a localhost connection map to one
 *    vconn.  When every socket of it is gone from guest memory, its
 *    record is written with seen_by vmi and end "gone".  If its remote
 *    is off the box (not loopback, not the VM's own address), the NIC
 *    should have seen it: the record is flagged hidden-vmi.
 *  - A NIC flow that opens while a vconn for its tuple exists takes the
 *    vconn over (the scan saw the socket before the first frame).
 *  - A TCP flow that lived longer than the grace period plus two scan
 *    intervals, with the memory view up all along, yet matched no guest
 *    socket, is flagged hidden-nic.
 *  - While the memory view is on, closed TCP flows linger for at least
 *    two scan intervals, so the scan can match them before they end.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cotrackd.h"
#include "host/vmiattach.h"
#include "host/log.h"
#include "host/recfmt.h"

/* ---- records -------------------------------------------------------- */

static void write_record(struct daemon *d, struct vm *v, struct cot_rec *r)
{
	r->first_ns += d->mono_to_real_ns;
	r->last_ns += d->mono_to_real_ns;
	if (d->sh) {
		uint64_t seq = 0;

		/*
		 * The shipper numbers and chains it, keeps it sealed until
		 * logd has committed it; never blocks.  Its seq goes into
		 * the local output too, so both name a record alike.
		 */
		if (cot_shipper_add(d->sh, r, &seq) == 1)
			v->st.ship_full++;
		r->seq = seq;
	} else {
		r->seq = ++d->seq;
	}
	v->st.records++;
	v->st.by_seen[r->seen_by & 3]++;
	if (r->flags & COT_RF_HIDDEN_NIC)
		v->st.hidden_nic++;
	if (r->flags & COT_RF_HIDDEN_VMI)
		v->st.hidden_vmi++;
	if (!d->out)
		return;
	cot_recfmt_write(d->out, COT_RECFMT_JSON, r);
	fflush(d->out);
}

/* ---- memory-only connections ----------------------------------------- */

static int ep_cmp(const struct cot_addr *a, uint16_t ap,
		  const struct cot_addr *b, uint16_t bp)
{
	int c = memcmp(a->b, b->b, 16);

	if (c)
		return c;
	return (int)ap - (int)bp;
}

/*
 * Keyed from the daemon's random seed: the guest chooses its sockets'
 * tuples and must not be able to pile them into one chain.
 */
static uint32_t vseed;

static uint32_t tuple_hash(const struct cot_addr *a0, uint16_t p0,
			   const struct cot_addr *a1, uint16_t p1)
{
	uint32_t h = 2166136261u ^ vseed;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ a0->b[i] ^ (uint32_t)a1->b[i] << 8) * 16777619u;
	h = (h ^ p0 ^ (uint32_t)p1 << 16) * 16777619u;
	return h;
}

/* Canonical order of a socket's ends; returns which end is the local. */
static int canon(const struct cot_vmi_sock *s, struct cot_addr a[2],
		 uint16_t p[2])
{
	if (ep_cmp(&s->local, s->lport, &s->remote, s->rport) <= 0) {
		a[0] = s->local, p[0] = s->lport;
		a[1] = s->remote, p[1] = s->rport;
		return 0;
	}
	a[0] = s->remote, p[0] = s->rport;
	a[1] = s->local, p[1] = s->lport;
	return 1;
}

/*
 * Find the vconn of a tuple.  @netns 0 matches any namespace (a NIC
 * frame does not know it).  Chains hold at most VCONN_MAX entries.
 */
static struct vconn **vconn_find(struct vm *v, uint32_t netns,
				 const struct cot_addr a[2],
				 const uint16_t p[2])
{
	uint32_t h = tuple_hash(&a[0], p[0], &a[1], p[1]);
	struct vconn **pp = &v->vbuckets[h % VCONN_BUCKETS];

	for (; *pp; pp = &(*pp)->next) {
		struct vconn *c = *pp;

		if (c->hash == h && !c->retired &&
		    (!netns || c->netns == netns) &&
		    c->p[0] == p[0] && c->p[1] == p[1] &&
		    !memcmp(&c->a[0], &a[0], sizeof(a[0])) &&
		    !memcmp(&c->a[1], &a[1], sizeof(a[1])))
			return pp;
	}
	return NULL;
}

static bool is_loopback(const struct cot_addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	if (cot_addr_is_v4(a))
		return a->b[12] == 127;
	return memcmp(a->b, lo6, 16) == 0;
}

static uint8_t map_state(uint8_t st)
{
	switch (st) {
	case COT_VMI_TCP_SYN_SENT:
		return COT_TCP_SYN_SENT;
	case COT_VMI_TCP_SYN_RECV:
	case COT_VMI_TCP_NEW_SYN_RECV:
		return COT_TCP_SYN_RECV;
	case COT_VMI_TCP_ESTABLISHED:
		return COT_TCP_ESTABLISHED;
	case COT_VMI_TCP_FIN_WAIT1:
	case COT_VMI_TCP_FIN_WAIT2:
	case COT_VMI_TCP_CLOSE_WAIT:
		return COT_TCP_FIN_WAIT;
	case COT_VMI_TCP_CLOSING:
	case COT_VMI_TCP_LAST_ACK:
		return COT_TCP_CLOSING;
	case COT_VMI_TCP_TIME_WAIT:
	case COT_VMI_TCP_CLOSE:
		return COT_TCP_CLOSED;
	}
	return COT_TCP_NONE;
}

static void vconn_emit(struct daemon *d, struct vm *v, struct vconn *c,
		       uint8_t end)
{
	struct cot_rec r;
	int i = c->init, j = !c->init;

	memset(&r, 0, sizeof(r));
	memcpy(r.vm, v->name, sizeof(r.vm));
	r.proto = COT_PROTO_TCP;
	r.ipproto = 6;
	r.src = c->a[i];
	r.sport = c->p[i];
	r.dst = c->a[j];
	r.dport = c->p[j];
	r.first_ns = c->first_ns;
	r.last_ns = c->last_ns;
	r.tcp_state = map_state(c->state);
	r.end = end;
	r.seen_by = COT_SEEN_VMI;
	r.netns = c->netns;
	/* Off the box, yet never on the NIC: a hidden connection. */
	if (!is_loopback(&c->a[0]) && !is_loopback(&c->a[1]) &&
	    memcmp(&c->a[0], &c->a[1], sizeof(c->a[0])) != 0) {
		r.flags |= COT_RF_HIDDEN_VMI;
		log_warnx("%s: hidden connection: guest socket to an "
			  "off-box peer never crossed the NIC", v->name);
	}
	c->emitted = 1;
	write_record(d, v, &r);
}

static bool closed_state(uint8_t st)
{
	return st == COT_VMI_TCP_TIME_WAIT || st == COT_VMI_TCP_CLOSE;
}

/* States a connection starts in: seen after it ended, a new one. */
static bool opening_state(uint8_t st)
{
	return st == COT_VMI_TCP_SYN_SENT || st == COT_VMI_TCP_SYN_RECV ||
	       st == COT_VMI_TCP_NEW_SYN_RECV || st == COT_VMI_TCP_ESTABLISHED;
}

/* Queue @c for the end-of-scan check (at most once). */
static void vconn_touch(struct vm *v, struct vconn *c)
{
	if (c->touched)
		return;
	c->touched = 1;
	c->tnext = v->touched;
	v->touched = c;
}

static void vconn_unlink_free(struct vm *v, struct vconn *c)
{
	struct vconn **pp = &v->vbuckets[c->hash % VCONN_BUCKETS];

	/* Chains hold at most VCONN_MAX entries. */
	for (; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	v->nvconn--;
	free(c);
}

/*
 * Take @c out of lookups; it is freed by vconn_check() if queued there,
 * else now.
 */
static void vconn_retire(struct vm *v, struct vconn *c)
{
	c->retired = 1;
	c->emitted = 1;
	c->sides = 0;
	if (!c->touched)
		vconn_unlink_free(v, c);
}

/*
 * TCP tuples of NIC flows already written, so that a socket of theirs
 * the memory view sees late (missed by one scan, then seen) is not taken
 * for a connection of its own.  Direct-mapped, ENDED_SLOTS entries per
 * VM, two candidate slots per tuple: a collision forgets the older tuple
 * (at worst one record more, flagged hidden-vmi).
 */
static void ended_add(struct vm *v, const struct cot_rec *r)
{
	struct cot_addr a[2];
	uint16_t p[2];
	struct ended *e;
	uint32_t h;

	if (!v->ended)
		return;
	if (ep_cmp(&r->src, r->sport, &r->dst, r->dport) <= 0) {
		a[0] = r->src, p[0] = r->sport, a[1] = r->dst, p[1] = r->dport;
	} else {
		a[0] = r->dst, p[0] = r->dport, a[1] = r->src, p[1] = r->sport;
	}
	h = tuple_hash(&a[0], p[0], &a[1], p[1]);
	/* Two candidate slots; the older entry gives way. */
	e = &v->ended[h % ENDED_SLOTS];
	if (v->ended[(h >> 16 ^ h * 31) % ENDED_SLOTS].when_ns < e->when_ns)
		e = &v->ended[(h >> 16 ^ h * 31) % ENDED_SLOTS];
	e->hash = h;
	e->a[0] = a[0], e->a[1] = a[1];
	e->p[0] = p[0], e->p[1] = p[1];
	e->when_ns = r->last_ns;
}

static bool ended_recently(const struct vm *v, const struct cot_addr a[2],
			   const uint16_t p[2])
{
	uint32_t h = tuple_hash(&a[0], p[0], &a[1], p[1]);
	const struct ended *e;
	int i;

	if (!v->ended)
		return false;
	for (i = 0; i < 2; i++) {
		e = &v->ended[(i ? (h >> 16 ^ h * 31) : h) % ENDED_SLOTS];
		/* TIME_WAIT lasts 60 s: a socket seen after 2 min is new. */
		if (e->hash == h && e->p[0] == p[0] && e->p[1] == p[1] &&
		    !memcmp(&e->a[0], &a[0], sizeof(a[0])) &&
		    !memcmp(&e->a[1], &a[1], sizeof(a[1])) &&
		    v->scan_now_ns - e->when_ns < 120000000000ULL)
			return true;
	}
	return false;
}

/*
 * Listening ports of the snapshot being diffed, collected once per scan
 * (a guest has few listeners; more than MAX_LISTEN are not consulted,
 * and then the port heuristic decides).
 */
#define MAX_LISTEN 4096
struct listener {
	uint32_t netns;
	uint16_t port;
};
static struct listener listeners[MAX_LISTEN];
static uint32_t nlisteners;

static int listener_cmp(const void *a, const void *b)
{
	const struct listener *x = a, *y = b;

	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	return (int)x->port - (int)y->port;
}

static void collect_listeners(const struct cot_vmi_sock *cur, uint32_t n)
{
	uint32_t i;

	nlisteners = 0;
	for (i = 0; i < n && nlisteners < MAX_LISTEN; i++)
		if (cur[i].kind == COT_VMI_SK_LISTEN) {
			listeners[nlisteners].netns = cur[i].netns;
			listeners[nlisteners].port = cur[i].lport;
			nlisteners++;
		}
	qsort(listeners, nlisteners, sizeof(listeners[0]), listener_cmp);
}

/* Binary search: a guest with many listeners costs log(n) per socket. */
static bool is_listener(uint32_t netns, uint16_t port)
{
	uint32_t lo = 0, hi = nlisteners;
	uint64_t k = (uint64_t)netns << 16 | port;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint64_t m = (uint64_t)listeners[mid].netns << 16 |
			     listeners[mid].port;

		if (m == k)
			return true;
		if (m < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

struct diffctx {
	struct daemon *d;
	struct vm *v;
};

static void vconn_new(struct vm *v, const struct cot_vmi_sock *s)
{
	struct cot_addr a[2];
	uint16_t p[2];
	struct vconn *c;
	int side = canon(s, a, p);

	if (v->nvconn >= VCONN_MAX || !(c = calloc(1, sizeof(*c)))) {
		v->st.vconn_dropped++;
		return;
	}
	c->hash = tuple_hash(&a[0], p[0], &a[1], p[1]);
	c->netns = s->netns;
	c->a[0] = a[0], c->a[1] = a[1];
	c->p[0] = p[0], c->p[1] = p[1];
	c->sides = (uint8_t)(1u << side);
	c->side_state[side] = s->state;
	c->state = s->state;
	/* The end on a listening port is the server. */
	if (is_listener(s->netns, s->lport))
		c->init = (uint8_t)!side;
	else if (s->state == COT_VMI_TCP_SYN_SENT)
		c->init = (uint8_t)side;
	else if (is_listener(s->netns, s->rport))
		c->init = (uint8_t)side;
	else /* no listener in sight: the higher (ephemeral) port calls */
		c->init = p[1] > p[0] ? 1 : 0;
	/* It was not there at the previous scan, it is at this one. */
	c->first_ns = v->scan_now_ns;
	c->last_ns = v->scan_now_ns;
	c->next = v->vbuckets[c->hash % VCONN_BUCKETS];
	v->vbuckets[c->hash % VCONN_BUCKETS] = c;
	v->nvconn++;
	vconn_touch(v, c);
}

/*
 * A socket of the guest, new at this scan or in a new state.  The guest
 * runs while we read, so a socket can be missed by one scan and seen
 * again by the next: a known tuple continues its vconn unless the vconn
 * already ended and the socket is in a state connections start in
 * (the port was reused).
 */
static void on_sock_seen(struct vm *v, const struct cot_vmi_sock *s,
			 const struct cot_vmi_sock *old)
{
	struct cot_addr a[2];
	uint16_t p[2];
	struct vconn **pp, *c;
	int side, slot;

	/* A port of 0 is a socket caught half set up (connect, bind). */
	if (!s->lport || !s->rport) {
		v->st.vmi_half++;
		return;
	}
	slot = cot_flowtab_find(v->tab, 6, &s->local, s->lport, &s->remote,
				s->rport, NULL);
	if (slot >= 0) {
		v->slots[slot].vmi_seen = 1;
		v->slots[slot].netns = s->netns;
		return;
	}
	side = canon(s, a, p);
	pp = vconn_find(v, s->netns, a, p);
	if (!pp && ended_recently(v, a, p)) {
		/* The socket of a NIC flow already written (seen late). */
		v->st.vmi_late++;
		return;
	}
	if (pp) {
		c = *pp;
		/*
		 * This end was closed and the tuple opens again (a loopback
		 * port reused from TIME_WAIT), or another TIME_WAIT socket
		 * replaced it (a whole new connection between two scans).
		 */
		if ((c->sides & (1u << side)) &&
		    closed_state(c->side_state[side]) &&
		    (opening_state(s->state) ||
		     (old && old->kaddr != s->kaddr &&
		      closed_state(old->state) && closed_state(s->state)))) {
			/* The old connection is over; this is a new one. */
			if (!c->emitted)
				vconn_emit(v->d, v, c, COT_END_FIN);
			vconn_retire(v, c);
			vconn_new(v, s);
			return;
		}
		if (c->emitted && opening_state(s->state) &&
		    closed_state(c->state)) {
			/* Ended, and the tuple opens again: a new one. */
			vconn_retire(v, c);
			vconn_new(v, s);
			return;
		}
		c->sides |= (uint8_t)(1u << side);
		c->side_state[side] = s->state;
		c->state = s->state;
		vconn_touch(v, c);
		return;
	}
	vconn_new(v, s);
}

static void on_sock_closed(struct vm *v, const struct cot_vmi_sock *s)
{
	struct cot_addr a[2];
	uint16_t p[2];
	struct vconn **pp;
	int side = canon(s, a, p);

	pp = vconn_find(v, s->netns, a, p);
	if (!pp)
		return; /* a NIC flow's socket, or one we could not keep */
	(*pp)->sides &= (uint8_t)~(1u << side);
	vconn_touch(v, *pp);
}

/*
 * After each scan: write the vconns the guest has finished with (every
 * socket left is TIME_WAIT: end fin), and those whose sockets were
 * absent from two scans in a row (end gone); forget a written vconn
 * once its sockets are gone.  Bounded by the vconns touched.
 */
static void vconn_check(struct daemon *d, struct vm *v)
{
	struct vconn *c = v->touched, *next;
	int i;

	v->touched = NULL;
	for (; c; c = next) {
		bool done = c->sides != 0;

		next = c->tnext;
		c->touched = 0;
		if (c->retired) {
			vconn_unlink_free(v, c);
			continue;
		}
		if (!c->sides) {
			if (!c->zero_since) {
				c->zero_since = v->scans;
				vconn_touch(v, c); /* look again next scan */
				continue;
			}
			if (v->scans <= c->zero_since) {
				vconn_touch(v, c);
				continue;
			}
			if (!c->emitted)
				vconn_emit(d, v, c, COT_END_GONE);
			vconn_unlink_free(v, c);
			continue;
		}
		c->zero_since = 0;
		c->last_ns = v->scan_now_ns;
		for (i = 0; i < 2; i++)
			if ((c->sides & (1u << i)) &&
			    !closed_state(c->side_state[i]))
				done = false;
		if (done && !c->emitted)
			vconn_emit(d, v, c, COT_END_FIN);
	}
}

static void on_vmi_event(void *ctx, enum cot_vmi_event ev,
			 const struct cot_vmi_sock *old,
			 const struct cot_vmi_sock *now)
{
	struct diffctx *x = ctx;
	const struct cot_vmi_sock *s = now ? now : old;

	x->v->st.vmi_events++;
	if (s->kind == COT_VMI_SK_LISTEN)
		return;
	if (ev == COT_VMI_EV_CLOSED)
		on_sock_closed(x->v, old);
	else
		on_sock_seen(x->v, now, old);
}

/* ---- the packet view ------------------------------------------------ */

static void on_flow(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		    uint32_t slot)
{
	struct vm *v = ctx;
	struct slotinfo *si = &v->slots[slot];
	struct cot_rec out;

	if (ev == COT_FLOW_OPENED) {
		memset(si, 0, sizeof(*si));
		si->scan_at_open = v->scans;
		if (r->proto == COT_PROTO_TCP && v->nvconn) {
			struct cot_addr a[2];
			uint16_t p[2];
			struct vconn **pp, *c;

			if (ep_cmp(&r->src, r->sport, &r->dst, r->dport) <= 0) {
				a[0] = r->src, p[0] = r->sport;
				a[1] = r->dst, p[1] = r->dport;
			} else {
				a[0] = r->dst, p[0] = r->dport;
				a[1] = r->src, p[1] = r->sport;
			}
			pp = vconn_find(v, 0, a, p);
			if (pp && !(*pp)->emitted) {
				c = *pp;
				si->vmi_seen = 1;
				si->netns = c->netns;
				vconn_retire(v, c);
			}
		}
		return;
	}
	out = *r;
	out.seen_by = si->vmi_seen ? COT_SEEN_BOTH : COT_SEEN_NIC;
	out.netns = si->netns;
	/*
	 * Hidden: the guest itself carried a TCP conversation (not merely
	 * refused one with RSTs) for long enough, and no socket of its
	 * kernel ever matched it.
	 */
	if (v->vmi_on && v->attached && !si->vmi_seen && si->guest_spoke &&
	    r->proto == COT_PROTO_TCP && v->attached_ns <= r->first_ns &&
	    v->scans >= si->scan_at_open + 2 &&
	    r->last_ns - r->first_ns >=
		    v->d->grace_ns + 2 * v->d->interval_ns)
		out.flags |= COT_RF_HIDDEN_NIC;
	if (r->proto == COT_PROTO_TCP)
		ended_add(v, r);
	write_record(v->d, v, &out);
}

int vm_track_init(struct daemon *d, struct vm *v)
{
	struct cot_flow_params fp;
	size_t len;

	cot_flow_params_default(&fp);
	fp.max_flows = d->max_flows;
	fp.vm = v->name;
	fp.cb = on_flow;
	fp.cb_ctx = v;
	memcpy(&fp.hash_seed, d->hash_seed, sizeof(fp.hash_seed));
	memcpy(&vseed, d->hash_seed, sizeof(vseed));
	/* Closed TCP flows wait for the memory view to see their sockets. */
	if (v->vmi_on && fp.tcp_close_linger_ns < 2 * d->interval_ns + d->grace_ns)
		fp.tcp_close_linger_ns = 2 * d->interval_ns + d->grace_ns;
	len = cot_flowtab_memsize(&fp);
	v->tabmem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	v->slots = calloc(fp.max_flows, sizeof(*v->slots));
	v->vbuckets = calloc(VCONN_BUCKETS, sizeof(*v->vbuckets));
	if (!v->tabmem || !v->slots || !v->vbuckets)
		return -COT_ENOMEM;
	v->max_flows = fp.max_flows;
	if (cot_flowtab_init(&v->tab, v->tabmem, len, &fp) < 0)
		return -COT_EINVAL;
	if (v->vmi_on) {
		v->cap = d->vmi_cap;
		v->prev = calloc(v->cap, sizeof(*v->prev));
		v->cur = calloc(v->cap, sizeof(*v->cur));
		v->ended = calloc(ENDED_SLOTS, sizeof(*v->ended));
		if (!v->prev || !v->cur || !v->ended)
			return -COT_ENOMEM;
	}
	return 0;
}

/* ---- attaching to guest memory --------------------------------------- */

/*
 * Find the guest kernel in its memory file and derive the profile from
 * its own BTF.  Fails quietly while the guest is still booting (no
 * VMCOREINFO yet); the caller retries.
 */
static int vm_attach(struct vm *v, uint64_t now)
{
	struct cot_vmi_attach_opts o = {
		.mem = v->mem_path,
		.map = v->map_path[0] ? v->map_path : NULL,
	};
	char msg[512];

	if (cot_vmi_attach(&v->at, &o, msg, sizeof(msg)) < 0) {
		log_debug("%s: %s", v->name, msg);
		return -1;
	}
	v->attached = true;
	v->attached_ns = now;
	v->nprev = 0;
	log_info("%s: memory view up: Linux %s, %u-level paging, KASLR "
		 "offset %#" PRIx64, v->name, v->at.k->ci.osrelease,
		 v->at.k->levels, v->at.k->ci.kerneloffset);
	return 0;
}

void vm_detach(struct vm *v)
{
	if (!v->attached)
		return;
	cot_vmi_detach(&v->at);
	v->attached = false;
	v->nprev = 0;
	log_info("%s: memory view down", v->name);
}

/* ---- scanning ------------------------------------------------------- */

static void vm_scan(struct daemon *d, struct vm *v)
{
	struct cot_vmi_stats st;
	struct diffctx x = { d, v };
	struct cot_vmi_sock *tmp;
	uint64_t t0 = now_ns(), dt;
	uint32_t n = 0;
	int err;

	err = cot_vmi_snapshot(v->at.k, v->cur, v->cap, &n, &st);
	dt = now_ns() - t0;
	if (err) {
		/* The kernel went away (reboot?): attach again later. */
		v->st.scan_errors++;
		log_warnx("%s: memory scan failed: %s", v->name,
			  cot_strerror(err));
		vm_detach(v);
		return;
	}
	if (st.err_read || st.err_loop || st.err_long || st.err_table ||
	    st.err_budget)
		v->st.scan_errors++;
	if (st.truncated)
		log_warnx("%s: guest has more than %u sockets: %u not seen "
			  "(raise --vmi-cap)", v->name, v->cap, st.truncated);
	v->prev_scan_ns = v->scan_now_ns;
	v->scan_now_ns = t0;
	collect_listeners(v->cur, n);
	cot_vmi_diff(v->prev, v->nprev, v->cur, n, on_vmi_event, &x);
	tmp = v->prev;
	v->prev = v->cur;
	v->cur = tmp;
	v->nprev = n;
	v->scans++;
	v->st.scans++;
	vconn_check(d, v);
	v->st.scan_ns_total += dt;
	if (dt > v->st.scan_ns_max)
		v->st.scan_ns_max = dt;
	v->st.sockets_last = n;
}

void vm_scan_if_due(struct daemon *d, struct vm *v, uint64_t tsc)
{
	if (!v->vmi_on || !v->attached || d->vmi_paused)
		return;
	if (cot_sched_due(&v->sched, tsc))
		vm_scan(d, v);
}

void vm_track_pkt(struct vm *v, const struct cot_pkt *pkt, uint64_t now,
		  bool from_guest)
{
	int slot = cot_flowtab_update(v->tab, pkt, now);

	if (slot >= 0 && from_guest && pkt->ipproto == 6 &&
	    !(pkt->tcp_flags & COT_TCP_RST))
		v->slots[slot].guest_spoke = 1;
}

/* Periodic work: expiry, the fallback scan timer, attaching. */
void vm_tick(struct daemon *d, struct vm *v, uint64_t now)
{
	if (d->track)
		cot_flowtab_expire(v->tab, now, 4096);
	if (!v->vmi_on)
		return;
	if (!v->attached) {
		if (now >= v->next_attach_ns && v->port->fd >= 0) {
			if (vm_attach(v, now) < 0) {
				v->st.attach_failures++;
				v->next_attach_ns = now + 200000000ULL;
			} else {
				cot_sched_init(&v->sched,
					       (uint64_t)((double)d->interval_ns *
							  d->tsc_per_ns),
					       now_tsc());
			}
		}
		return;
	}
	if (d->vmi_timer)
		vm_scan_if_due(d, v, now_tsc());
}

/* Nanoseconds until this VM needs vm_tick() again. */
uint64_t vm_next_due_ns(const struct daemon *d, const struct vm *v)
{
	uint64_t r;

	if (!v->vmi_on)
		return UINT64_MAX;
	if (!v->attached)
		return 200000000ULL;
	if (!d->vmi_timer)
		return UINT64_MAX;
	r = cot_sched_remaining(&v->sched, now_tsc());
	return r == UINT64_MAX ? r : (uint64_t)((double)r / d->tsc_per_ns);
}

/* Tracker shutdown: a last scan, then every open connection ends. */
void vm_track_finish(struct daemon *d, struct vm *v)
{
	uint64_t now = now_ns();
	uint32_t b;

	if (v->vmi_on && v->attached)
		vm_scan(d, v);
	cot_flowtab_flush(v->tab, now, COT_END_SHUTDOWN);
	/* Buckets are bounded by VCONN_BUCKETS, chains by VCONN_MAX. */
	for (b = 0; v->vbuckets && b < VCONN_BUCKETS; b++) {
		while (v->vbuckets[b]) {
			struct vconn *c = v->vbuckets[b];

			v->vbuckets[b] = c->next;
			if (!c->emitted)
				vconn_emit(d, v, c, COT_END_SHUTDOWN);
			free(c);
		}
	}
	v->nvconn = 0;
	v->touched = NULL;
}

void vm_summary(const struct daemon *d, const struct vm *v, FILE *f)
{
	struct cot_flow_stats fs;
	const struct port *p = v->port;
	uint64_t dropped = 0;
	unsigned int i;

	(void)d;
	cot_flowtab_stats(v->tab, &fs);
	for (i = 0; i < COT_PKT__COUNT; i++)
		if (i != COT_PKT_OK && i != COT_PKT_NOT_IP)
			dropped += fs.dropped[i];
	fprintf(f,
		"%s: %" PRIu64 " connections (nic %" PRIu64 ", vmi %" PRIu64
		", both %" PRIu64 "), hidden: nic-only %" PRIu64
		", vmi-only %" PRIu64 "\n",
		v->name, v->st.records, v->st.by_seen[COT_SEEN_NIC],
		v->st.by_seen[COT_SEEN_VMI], v->st.by_seen[COT_SEEN_BOTH],
		v->st.hidden_nic, v->st.hidden_vmi);
	fprintf(f,
		"%s: frames from guest %" PRIu64 ", to guest %" PRIu64
		", unparsable %" PRIu64 ", not IP %" PRIu64
		", queue drops %" PRIu64 ", bad framing %" PRIu64
		", spoofed source %" PRIu64 ", evicted %" PRIu64 "\n",
		v->name, p->rx, p->tx, dropped, fs.not_ip, p->drop_qfull,
		p->drop_bad, p->drop_spoof, fs.evicted);
	if (v->vmi_on)
		fprintf(f,
			"%s: memory scans %" PRIu64 " (mean %.1f us, max %.1f "
			"us, %" PRIu64 " with errors), %" PRIu64
			" sockets at the last\n",
			v->name, v->st.scans,
			v->st.scans ? (double)v->st.scan_ns_total /
					      (double)v->st.scans / 1e3 :
				      0.0,
			(double)v->st.scan_ns_max / 1e3, v->st.scan_errors,
			v->st.sockets_last);
}
