// SPDX-License-Identifier: MIT
/*
 * core/merge: one VM's tracker, the two views merged (see
 * include/cotrack/merge.h; the rules in prose: docs/cotrackd.md).
 *
 * Layout in the caller's memory, each part 8-byte aligned: the header,
 * the per-flow-slot array (slotinfo, indexed by the flow table's slot),
 * the pool of memory-only connections (conn), the bucket array of conn
 * indexes (chained through conn.hnext), the ring of ended NIC tuples,
 * the listener table (open addressing), and last the flow table.
 *
 * Memory-only connections are keyed by their canonical tuple ((a[0],
 * p[0]) is the lower end), the hash keyed with the seed; the netns is
 * compared but not hashed, because a NIC frame does not know it and
 * must find the connection in any namespace.  So that identical tuples
 * in many namespaces cannot make one long chain either, at most
 * TUPLE_MAX connections of one tuple exist at once (more are dropped
 * and counted).  Every walk of a chain is also bounded by max_conns.
 *
 * A connection's life over the scans: created by a socket (touched),
 * updated by its sockets' events (touched), checked at scan_end (every
 * touched one, and only those); written when all its sockets left are
 * TIME_WAIT (end fin) or when it had no socket at two scan_ends in a
 * row (end gone); kept, written, until its sockets are gone; retired
 * (out of lookups, freed at scan_end) when a NIC flow takes it over or
 * its tuple is reused.
 *
 * The initiator of a connection needs the listeners, and a scan's
 * listener events may come after the sockets that need them: a
 * connection created during a scan is "undecided" until scan_end.  One
 * that must be written before (its tuple reused in the same scan) is
 * marked pending and written at scan_end, once decided.  Undecided
 * connections are always on the touched list (created in this scan),
 * so scan_end reaches every one.
 */
#include "cotrack/merge.h"
#include "cotrack/dns.h"
#include "hash.h"

#define NIL	 UINT32_MAX
#define NS_PER_S 1000000000ULL

/* Bounds so that every size computation fits in 64 bits easily. */
#define MAX_CONNS  (1U << 24)
#define MAX_ENDED  (1U << 24)
#define MAX_LISTEN (1U << 20)
/*
 * Memory-only connections of one tuple at once, over every namespace,
 * retired ones included.  One namespace holds at most a few (the two
 * sockets of a localhost pair are one connection; a reuse retires one
 * and creates one), so this is only reached by a guest repeating one
 * tuple in many namespaces to lengthen a chain.
 */
#define TUPLE_MAX   64
#define MAX_CGROUPS (1U << 16)

/*
 * The owner of one end of a connection that lives in the VM, as the
 * last owners pass that saw its socket owned found it (pid 0: none
 * seen).  The cgroup path is interned (cgroup table): NIL is unknown.
 */
struct own {
	uint32_t pid;
	uint32_t cg;
	char comm[COT_COMM_LEN];
};

/* One interned cgroup path (insert-only; see cg_intern). */
struct cgname {
	uint32_t hash;
	char path[COT_CGROUP_LEN];
};

/* Per flow slot, beside the flow table. */
struct slotinfo {
	uint64_t scan_at_open; /* m->scans when the flow opened */
	uint32_t netns;	       /* of the last socket that matched it */
	uint8_t vmi_seen;      /* a guest socket matched it */
	uint8_t guest_spoke;   /* the guest sent TCP segments other than RST */
	struct own own[2];     /* owners, by canonical end (see canon) */
};

#define C_USED	    0x01
#define C_TOUCHED   0x02 /* on the touched list */
#define C_EMITTED   0x04 /* record written (or pending); kept until gone */
#define C_RETIRED   0x08 /* out of lookups, freed at scan_end */
#define C_UNDECIDED 0x10 /* initiator to be decided (created this scan) */
#define C_PENDING   0x20 /* record to be written at scan_end (pend_end) */
#define C_EARLY                                                                \
	0x40 /* first seen by the first scan after the view                    \
	      * came up: may predate the NIC view */

/* A connection seen only in guest memory so far. */
struct conn {
	uint32_t hnext; /* bucket chain; free list when unused */
	uint32_t tnext; /* touched list */
	uint32_t hash, netns;
	struct cot_addr a[2]; /* canonical: (a[0], p[0]) <= (a[1], p[1]) */
	uint16_t p[2];
	uint8_t fl;	       /* C_* */
	uint8_t sides;	       /* bit i: a socket with local == end i exists */
	uint8_t init;	       /* initiator end (0 or 1) */
	uint8_t state;	       /* last guest state (enum cot_vmi_tcp_state) */
	uint8_t side_state[2]; /* guest state of each end's socket */
	uint8_t cside, cstate; /* end and state of the socket that made it */
	uint8_t pend_end;      /* enum cot_end, with C_PENDING */
	uint64_t zero_since;   /* scan at which its last socket vanished */
	uint64_t first_ns, last_ns;
	/* live volumes of each end's socket as of the last scan that saw
	 * it (tcp_sock; bit i of @vol: end i's are known) */
	uint8_t vol;
	uint32_t segs_out[2], segs_in[2];
	uint64_t acked[2], rcvd[2];
	struct own own[2]; /* each end's owner, kept after its socket goes */
};

/* A TCP tuple whose NIC record was written (canonical order). */
struct ended {
	uint32_t hash;
	uint16_t p[2];
	struct cot_addr a[2];
	uint64_t when_ns; /* the record's last_ns */
	uint8_t used;
};

/* A listening (netns, port); open addressing, count 0 = empty. */
struct listener {
	uint32_t hash;
	uint32_t netns;
	uint32_t count; /* listening sockets on it */
	uint16_t port;
};

struct tuple {
	struct cot_addr a[2];
	uint16_t p[2];
	uint32_t hash;
};

struct cot_merge {
	struct cot_flowtab *tab;
	struct slotinfo *slots;
	struct conn *conns;
	uint32_t *buckets;
	struct ended *ended;
	struct listener *lt;
	struct cgname *cgs;
	uint32_t *cgidx; /* open addressing over cgs, NIL: empty */
	uint32_t max_cgroups, cgsize, ncgs;	 /* cgsize: power of two */
	uint32_t max_flows, max_conns, nbuckets; /* nbuckets: power of two */
	uint32_t ended_slots, max_listen, lsize; /* lsize: power of two */
	uint32_t free_head; /* free conns, linked through hnext */
	uint32_t touched;   /* touched conns, linked through tnext */
	uint64_t seed;
	uint64_t interval_ns, grace_ns, ended_keep_ns;
	bool vmi, up, in_scan;
	bool first_scan;  /* the scan being merged is the first since up */
	uint64_t up_ns;	  /* when the view last came up */
	uint64_t scan_ns; /* time of the scan being merged */
	uint64_t scans;	  /* completed scans (scan_end) */
	cot_merge_rec_cb cb;
	void *cb_ctx;
	const struct cot_dns *dns;
	struct cot_merge_stats st;
	char vm[COT_VM_NAMELEN];
};

void cot_merge_params_default(struct cot_merge_params *p)
{
	cot_memset(p, 0, sizeof(*p));
	cot_flow_params_default(&p->flow);
	p->interval_ns = 10000000ULL;
	p->grace_ns = NS_PER_S;
	p->max_conns = 65536;
	p->ended_slots = 65536;
	p->ended_keep_ns = 120ULL * NS_PER_S;
	p->max_listen = 4096;
	p->max_cgroups = 1024;
	p->hash_seed = 0x6a09e667f3bcc908ULL;
}

/* The flow table's parameters as the merge runs it. */
static void flow_params(struct cot_flow_params *fp,
			const struct cot_merge_params *p)
{
	*fp = p->flow;
	fp->cb = NULL;
	fp->cb_ctx = NULL;
	fp->vm = NULL;
	/* Closed TCP flows wait for the memory view to see their sockets. */
	if (p->vmi &&
	    fp->tcp_close_linger_ns < 2 * p->interval_ns + p->grace_ns)
		fp->tcp_close_linger_ns = 2 * p->interval_ns + p->grace_ns;
}

size_t cot_merge_memsize(const struct cot_merge_params *p)
{
	struct cot_flow_params fp;
	uint64_t n, fl;

	/* 2 * interval + grace must not wrap (it bounds linger and age). */
	if (!p || p->max_conns > MAX_CONNS || p->ended_slots > MAX_ENDED ||
	    p->max_listen > MAX_LISTEN || p->max_cgroups > MAX_CGROUPS ||
	    p->interval_ns > UINT64_MAX / 4 || p->grace_ns > UINT64_MAX / 2)
		return 0;
	flow_params(&fp, p);
	fl = cot_flowtab_memsize(&fp);
	if (fl == 0)
		return 0;
	n = cot_align8(sizeof(struct cot_merge));
	n += cot_align8((uint64_t)fp.max_flows * sizeof(struct slotinfo));
	n += cot_align8((uint64_t)p->max_conns * sizeof(struct conn));
	n += cot_align8((uint64_t)cot_pow2_at_least(p->max_conns * 2U) *
			sizeof(uint32_t));
	n += cot_align8((uint64_t)p->ended_slots * sizeof(struct ended));
	n += cot_align8((uint64_t)cot_pow2_at_least(p->max_listen * 2U + 2U) *
			sizeof(struct listener));
	n += cot_align8((uint64_t)p->max_cgroups * sizeof(struct cgname));
	n += cot_align8((uint64_t)cot_pow2_at_least(p->max_cgroups * 2U + 2U) *
			sizeof(uint32_t));
	n += cot_align8(fl);
	if (n > (uint64_t)SIZE_MAX)
		return 0;
	return (size_t)n;
}

static void on_flow(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		    uint32_t slot);

/* Empty every bucket and chain every conn on the free list. */
static void conns_reset(struct cot_merge *m)
{
	uint32_t i;

	for (i = 0; i < m->nbuckets; i++)
		m->buckets[i] = NIL;
	for (i = 0; i < m->max_conns; i++) {
		m->conns[i].fl = 0;
		m->conns[i].hnext = i + 1 < m->max_conns ? i + 1 : NIL;
	}
	m->free_head = m->max_conns ? 0 : NIL;
	m->touched = NIL;
	m->st.conns = 0;
}

int cot_merge_init(struct cot_merge **out, void *mem, size_t len,
		   const struct cot_merge_params *p)
{
	size_t need = cot_merge_memsize(p);
	struct cot_flow_params fp;
	struct cot_merge *m = mem;
	uint8_t *cur = mem;
	size_t fl;
	uint32_t i;
	int err;

	if (out)
		*out = NULL;
	if (!out || !mem || need == 0 || ((uintptr_t)mem & 7))
		return -COT_EINVAL;
	if (len < need)
		return -COT_ENOSPC;
	cot_memset(m, 0, sizeof(*m));
	if (p->vm) {
		for (i = 0; i < COT_VM_NAMELEN - 1 && p->vm[i]; i++)
			m->vm[i] = p->vm[i];
	}
	m->max_flows = p->flow.max_flows;
	m->max_conns = p->max_conns;
	m->nbuckets = cot_pow2_at_least(p->max_conns * 2U);
	m->ended_slots = p->ended_slots;
	m->max_listen = p->max_listen;
	/* Load at most 1/2: a probe always meets an empty slot. */
	m->lsize = cot_pow2_at_least(p->max_listen * 2U + 2U);
	m->max_cgroups = p->max_cgroups;
	m->cgsize = cot_pow2_at_least(p->max_cgroups * 2U + 2U);
	m->seed = p->hash_seed;
	m->interval_ns = p->interval_ns;
	m->grace_ns = p->grace_ns;
	m->ended_keep_ns = p->ended_keep_ns;
	m->vmi = p->vmi;
	m->cb = p->cb;
	m->dns = p->dns;
	m->cb_ctx = p->cb_ctx;

	cur += cot_align8(sizeof(*m));
	m->slots = (struct slotinfo *)(void *)cur;
	cur += cot_align8((uint64_t)m->max_flows * sizeof(struct slotinfo));
	m->conns = (struct conn *)(void *)cur;
	cur += cot_align8((uint64_t)m->max_conns * sizeof(struct conn));
	m->buckets = (uint32_t *)(void *)cur;
	cur += cot_align8((uint64_t)m->nbuckets * sizeof(uint32_t));
	m->ended = (struct ended *)(void *)cur;
	cur += cot_align8((uint64_t)m->ended_slots * sizeof(struct ended));
	m->lt = (struct listener *)(void *)cur;
	cur += cot_align8((uint64_t)m->lsize * sizeof(struct listener));
	m->cgs = (struct cgname *)(void *)cur;
	cur += cot_align8((uint64_t)m->max_cgroups * sizeof(struct cgname));
	m->cgidx = (uint32_t *)(void *)cur;
	cur += cot_align8((uint64_t)m->cgsize * sizeof(uint32_t));
	for (i = 0; i < m->cgsize; i++)
		m->cgidx[i] = NIL;

	cot_memset(m->slots, 0, (size_t)m->max_flows * sizeof(struct slotinfo));
	cot_memset(m->conns, 0, (size_t)m->max_conns * sizeof(struct conn));
	cot_memset(m->ended, 0, (size_t)m->ended_slots * sizeof(struct ended));
	cot_memset(m->lt, 0, (size_t)m->lsize * sizeof(struct listener));
	conns_reset(m);

	flow_params(&fp, p);
	fp.cb = on_flow;
	fp.cb_ctx = m;
	fp.vm = m->vm;
	fl = cot_flowtab_memsize(&fp);
	err = cot_flowtab_init(&m->tab, cur, fl, &fp);
	if (err < 0)
		return err;
	*out = m;
	return 0;
}

/* ---- tuples ----------------------------------------------------------- */

/* Order (a, ap) and (b, bp); 1 if (a, ap) is the higher end. */
static int side_of(const struct cot_addr *a, uint16_t ap,
		   const struct cot_addr *b, uint16_t bp)
{
	int c = cot_memcmp(a->b, b->b, 16);

	if (c != 0)
		return c > 0;
	return ap > bp;
}

/* Canonical tuple of two ends; returns which end (0, 1) is @la. */
static int canon(const struct cot_merge *m, struct tuple *t,
		 const struct cot_addr *la, uint16_t lp,
		 const struct cot_addr *ra, uint16_t rp)
{
	int side = side_of(la, lp, ra, rp);

	if (side == 0) {
		t->a[0] = *la, t->p[0] = lp;
		t->a[1] = *ra, t->p[1] = rp;
	} else {
		t->a[0] = *ra, t->p[0] = rp;
		t->a[1] = *la, t->p[1] = lp;
	}
	t->hash = cot_hash_tuple(m->seed, 6, &t->a[0], t->p[0], &t->a[1],
				 t->p[1]);
	return side;
}

static bool tuple_eq(const struct tuple *t, uint32_t hash,
		     const struct cot_addr a[2], const uint16_t p[2])
{
	return hash == t->hash && p[0] == t->p[0] && p[1] == t->p[1] &&
	       cot_addr_eq(&a[0], &t->a[0]) && cot_addr_eq(&a[1], &t->a[1]);
}

static bool is_loopback(const struct cot_addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	if (cot_addr_is_v4(a))
		return a->b[12] == 127;
	return cot_memcmp(a->b, lo6, 16) == 0;
}

/* ---- owners ----------------------------------------------------------- */

/* Bytes of @s before its NUL, at most @cap - 1. */
static uint32_t str_len(const char *s, uint32_t cap)
{
	uint32_t n = 0;

	while (n + 1 < cap && s[n])
		n++;
	return n;
}

/*
 * The index of cgroup path @path (its first COT_CGROUP_LEN - 1 bytes),
 * added if new; NIL for "" or when the table is full (counted: the
 * cgroup is then unknown, never another one's).  Insert-only: the
 * table is at most half full, so a probe ends at an empty slot within
 * cgsize steps.  The hash is keyed: the guest names its cgroups.
 */
static uint32_t cg_intern(struct cot_merge *m, const char *path)
{
	uint32_t len = str_len(path, COT_CGROUP_LEN), mask = m->cgsize - 1;
	uint64_t h = m->seed ^ 0x6367726f75707321ULL;
	uint32_t i, n, k;

	if (!len || !m->max_cgroups)
		return NIL;
	/* Bound: COT_CGROUP_LEN - 1 bytes. */
	for (i = 0; i < len; i++)
		h = cot_hash_mix(h, (uint8_t)path[i] | (uint64_t)i << 8);
	h ^= h >> 31;
	for (n = 0, i = (uint32_t)h & mask; n < m->cgsize;
	     n++, i = (i + 1) & mask) {
		const struct cgname *c;

		k = m->cgidx[i];
		if (k == NIL)
			break;
		c = &m->cgs[k];
		if (c->hash == (uint32_t)h &&
		    str_len(c->path, COT_CGROUP_LEN) == len &&
		    !cot_memcmp(c->path, path, len))
			return k;
	}
	if (n == m->cgsize || m->ncgs >= m->max_cgroups) {
		m->st.cgroups_dropped++;
		return NIL;
	}
	k = m->ncgs++;
	cot_memset(&m->cgs[k], 0, sizeof(m->cgs[k]));
	m->cgs[k].hash = (uint32_t)h;
	cot_memcpy(m->cgs[k].path, path, len);
	m->cgidx[i] = k;
	m->st.cgroups = m->ncgs;
	return k;
}

/* Keep owner @o (pid != 0) in @d. */
static void own_set(struct cot_merge *m, struct own *d,
		    const struct cot_rec_owner *o)
{
	uint32_t n = str_len(o->comm, COT_COMM_LEN);

	cot_memset(d, 0, sizeof(*d));
	d->pid = o->pid;
	cot_memcpy(d->comm, o->comm, n);
	d->cg = cg_intern(m, o->cgroup);
}

/* The record's form of @s: pid 0 and "" when none was seen. */
static void own_out(const struct cot_merge *m, const struct own *s,
		    struct cot_rec_owner *o)
{
	cot_memset(o, 0, sizeof(*o));
	if (!s->pid)
		return;
	o->pid = s->pid;
	cot_memcpy(o->comm, s->comm, sizeof(o->comm));
	o->comm[COT_COMM_LEN - 1] = '\0';
	if (s->cg < m->ncgs)
		cot_memcpy(o->cgroup, m->cgs[s->cg].path, sizeof(o->cgroup));
	o->cgroup[COT_CGROUP_LEN - 1] = '\0';
}

/* ---- records ---------------------------------------------------------- */

static void write_rec(struct cot_merge *m, const struct cot_rec *in)
{
	struct cot_rec named;
	const struct cot_rec *r = in;

	/* The names the VM had looked up for each end when the connection
	 * began (a name whose TTL ran out later still names it). */
	if (m->dns) {
		named = *in;
		named.src_name[0] = named.dst_name[0] = '\0';
		cot_dns_lookup(m->dns, &named.src, named.first_ns,
			       named.src_name, sizeof(named.src_name));
		cot_dns_lookup(m->dns, &named.dst, named.first_ns,
			       named.dst_name, sizeof(named.dst_name));
		r = &named;
	}
	m->st.records++;
	m->st.by_seen[r->seen_by & 3]++;
	if (r->flags & COT_RF_HIDDEN_NIC)
		m->st.hidden_nic++;
	if (r->flags & COT_RF_HIDDEN_VMI)
		m->st.hidden_vmi++;
	if (m->cb)
		m->cb(m->cb_ctx, r);
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

/* ---- listeners -------------------------------------------------------- */

static uint32_t listen_hash(const struct cot_merge *m, uint32_t netns,
			    uint16_t port)
{
	uint64_t h = m->seed ^ 0x4c697374656e6572ULL;

	h = cot_hash_mix(h, (uint64_t)netns << 16 | port);
	h = cot_hash_mix(h, m->seed >> 7);
	h ^= h >> 29;
	return (uint32_t)h;
}

/*
 * The slot of (@netns, @port), or NIL with *@empty (when not NULL) the
 * first empty slot of its probe sequence.  The table is never more
 * than half full, so a probe ends at an empty slot; lsize bounds it.
 */
static uint32_t listen_find(const struct cot_merge *m, uint32_t h,
			    uint32_t netns, uint16_t port, uint32_t *empty)
{
	uint32_t mask = m->lsize - 1, i = h & mask, n;

	for (n = 0; n < m->lsize; n++, i = (i + 1) & mask) {
		const struct listener *e = &m->lt[i];

		if (!e->count) {
			if (empty)
				*empty = i;
			return NIL;
		}
		if (e->hash == h && e->netns == netns && e->port == port)
			return i;
	}
	return NIL;
}

static bool is_listener(const struct cot_merge *m, uint32_t netns,
			uint16_t port)
{
	return listen_find(m, listen_hash(m, netns, port), netns, port, NULL) !=
	       NIL;
}

/*
 * One more listening socket on (@netns, @port).  Sockets, not ports,
 * are bounded by max_listen: two listeners of one port (IPv4 and IPv6,
 * two addresses) are counted, so that closing one keeps the port.
 */
static void listen_add(struct cot_merge *m, uint32_t netns, uint16_t port)
{
	uint32_t h = listen_hash(m, netns, port), empty = NIL, i;

	if (m->st.listeners >= m->max_listen) {
		m->st.listen_dropped++;
		return;
	}
	i = listen_find(m, h, netns, port, &empty);
	if (i == NIL) {
		if (empty == NIL) { /* cannot happen: load <= 1/2 */
			m->st.listen_dropped++;
			return;
		}
		i = empty;
		m->lt[i].hash = h;
		m->lt[i].netns = netns;
		m->lt[i].port = port;
	}
	m->lt[i].count++;
	m->st.listeners++;
}

/*
 * One listening socket fewer; the last one frees the slot by backward
 * shift (no tombstones: probes stay as short as the load allows).  The
 * shift walks the cluster after the slot, at most lsize entries.
 */
static void listen_del(struct cot_merge *m, uint32_t netns, uint16_t port)
{
	uint32_t mask = m->lsize - 1, i, j, n;

	i = listen_find(m, listen_hash(m, netns, port), netns, port, NULL);
	/*
	 * Not there: dropped when the table was full.  (Had another
	 * socket of its port been added since, this takes one count off
	 * that entry: the port may be forgotten early, when the port
	 * heuristic decides instead; never kept too long.)
	 */
	if (i == NIL)
		return;
	m->st.listeners--;
	if (--m->lt[i].count)
		return;
	for (j = i, n = 0; n < m->lsize; n++) {
		uint32_t k;

		j = (j + 1) & mask;
		if (!m->lt[j].count)
			break;
		k = m->lt[j].hash & mask; /* its home slot */
		/* It stays unless its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->lt[i] = m->lt[j];
		i = j;
	}
	m->lt[i].count = 0;
}

static void listen_clear(struct cot_merge *m)
{
	cot_memset(m->lt, 0, (size_t)m->lsize * sizeof(struct listener));
	m->st.listeners = 0;
}

/* ---- memory-only connections ------------------------------------------ */

/*
 * The conn of @t in @netns (0: any namespace, for a NIC frame), not
 * retired; with @unemitted, only one not yet written.  NIL if none.  A
 * chain holds at most max_conns entries.
 */
static uint32_t conn_find(const struct cot_merge *m, uint32_t netns,
			  const struct tuple *t, bool unemitted)
{
	uint32_t i = m->buckets[t->hash & (m->nbuckets - 1)], n;

	for (n = 0; i != NIL && n < m->max_conns; n++) {
		const struct conn *c = &m->conns[i];

		if (tuple_eq(t, c->hash, c->a, c->p) && !(c->fl & C_RETIRED) &&
		    (!netns || c->netns == netns) &&
		    (!unemitted || !(c->fl & C_EMITTED)))
			return i;
		i = c->hnext;
	}
	return NIL;
}

/* Conns of @t in every namespace, retired included (at most max_conns). */
static uint32_t tuple_count(const struct cot_merge *m, const struct tuple *t)
{
	uint32_t i = m->buckets[t->hash & (m->nbuckets - 1)], n, k = 0;

	for (n = 0; i != NIL && n < m->max_conns; n++) {
		const struct conn *c = &m->conns[i];

		if (tuple_eq(t, c->hash, c->a, c->p))
			k++;
		i = c->hnext;
	}
	return k;
}

/* Queue @i for the end-of-scan check (at most once). */
static void conn_touch(struct cot_merge *m, uint32_t i)
{
	struct conn *c = &m->conns[i];

	if (c->fl & C_TOUCHED)
		return;
	c->fl |= C_TOUCHED;
	c->tnext = m->touched;
	m->touched = i;
}

/* Unlink @i from its chain (at most max_conns long) and free it. */
static void conn_free(struct cot_merge *m, uint32_t i)
{
	struct conn *c = &m->conns[i];
	uint32_t *pp = &m->buckets[c->hash & (m->nbuckets - 1)], n;

	for (n = 0; *pp != NIL && n < m->max_conns; n++) {
		if (*pp == i) {
			*pp = c->hnext;
			break;
		}
		pp = &m->conns[*pp].hnext;
	}
	c->fl = 0;
	c->hnext = m->free_head;
	m->free_head = i;
	m->st.conns--;
}

/*
 * Who initiated @c, from the socket that made it: the end on a
 * listening port is the server; a SYN_SENT socket calls; a socket whose
 * remote port listens calls; with no listener in sight, the higher
 * (ephemeral) port calls.
 */
static void conn_decide(const struct cot_merge *m, struct conn *c)
{
	uint8_t side = c->cside;

	if (!(c->fl & C_UNDECIDED))
		return;
	c->fl &= (uint8_t)~C_UNDECIDED;
	if (is_listener(m, c->netns, c->p[side]))
		c->init = (uint8_t)!side;
	else if (c->cstate == COT_VMI_TCP_SYN_SENT)
		c->init = side;
	else if (is_listener(m, c->netns, c->p[!side]))
		c->init = side;
	else
		c->init = c->p[1] > c->p[0] ? 1 : 0;
}

/* Keep the volumes of @s, the socket of end @side of @c. */
static void conn_vol(struct conn *c, const struct cot_vmi_sock *s, int side)
{
	if (!(s->flags & COT_VMI_SOCK_VOLUMES) || s->kind != COT_VMI_SK_FULL)
		return;
	c->vol |= (uint8_t)(1u << side);
	c->acked[side] = s->bytes_acked;
	c->rcvd[side] = s->bytes_received;
	c->segs_out[side] = s->segs_out;
	c->segs_in[side] = s->segs_in;
}

/*
 * A memory-only record's volumes (docs/cotrackd.md): fwd is initiator
 * (end i) to responder (end j).  Bytes are TCP sequence space, as the
 * kernel counts them (payload, plus 1 for a SYN or FIN): what the
 * receiving end's bytes_received says, else what the sending end's
 * bytes_acked says; packets are the sending end's segs_out, else the
 * receiving end's segs_in.  Not IP-layer bytes (the NIC's), which no
 * socket counts.
 */
static void conn_volumes(const struct conn *c, int i, int j, struct cot_rec *r)
{
	bool vi = c->vol & (1u << i), vj = c->vol & (1u << j);

	r->bytes_fwd = vj ? c->rcvd[j] : vi ? c->acked[i] : 0;
	r->bytes_rev = vi ? c->rcvd[i] : vj ? c->acked[j] : 0;
	r->pkts_fwd = vi ? c->segs_out[i] : vj ? c->segs_in[j] : 0;
	r->pkts_rev = vj ? c->segs_out[j] : vi ? c->segs_in[i] : 0;
}

static void conn_emit(struct cot_merge *m, const struct conn *c, uint8_t end)
{
	struct cot_rec r;
	int i = c->init, j = !c->init;

	cot_memset(&r, 0, sizeof(r));
	cot_memcpy(r.vm, m->vm, sizeof(r.vm));
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
	own_out(m, &c->own[i], &r.src_owner);
	own_out(m, &c->own[j], &r.dst_owner);
	conn_volumes(c, i, j, &r);
	/* Off the box, yet never on the NIC: a hidden connection. */
	if (!is_loopback(&c->a[0]) && !is_loopback(&c->a[1]) &&
	    !cot_addr_eq(&c->a[0], &c->a[1]) && !(c->fl & C_EARLY))
		r.flags |= COT_RF_HIDDEN_VMI;
	write_rec(m, &r);
}

/*
 * Write @c's record with @end, once.  Undecided during a scan (created
 * in it, its tuple already reused): the record waits for scan_end,
 * when every listener of the scan is known.
 */
static void conn_write(struct cot_merge *m, struct conn *c, uint8_t end)
{
	if (c->fl & C_EMITTED)
		return;
	c->fl |= C_EMITTED;
	if ((c->fl & C_UNDECIDED) && m->in_scan) {
		c->fl |= C_PENDING;
		c->pend_end = end;
		return;
	}
	conn_decide(m, c);
	conn_emit(m, c, end);
}

/* Write @c's pending record, if any (deciding its initiator first). */
static void conn_settle(struct cot_merge *m, struct conn *c)
{
	conn_decide(m, c);
	if (c->fl & C_PENDING) {
		c->fl &= (uint8_t)~C_PENDING;
		conn_emit(m, c, c->pend_end);
	}
}

/*
 * Take @i out of lookups, as written; it is freed at scan_end if
 * queued there, else now.
 */
static void conn_retire(struct cot_merge *m, uint32_t i)
{
	struct conn *c = &m->conns[i];

	c->fl |= C_RETIRED | C_EMITTED;
	c->sides = 0;
	if (!(c->fl & C_TOUCHED))
		conn_free(m, i);
}

static void conn_new(struct cot_merge *m, const struct cot_vmi_sock *s,
		     const struct tuple *t, int side)
{
	struct conn *c;
	uint32_t i = m->free_head;

	if (i == NIL || tuple_count(m, t) >= TUPLE_MAX) {
		m->st.conns_dropped++;
		return;
	}
	c = &m->conns[i];
	m->free_head = c->hnext;
	cot_memset(c, 0, sizeof(*c));
	c->fl = C_USED | C_UNDECIDED;
	/*
	 * In the first scan since the view came up, a socket may be older
	 * than the NIC view (cotrackd restarted under a running VM, the
	 * view attached late): its connection may have crossed the NIC
	 * unseen.  It is never flagged hidden-vmi.
	 */
	if (m->first_scan)
		c->fl |= C_EARLY;
	c->hash = t->hash;
	c->netns = s->netns;
	c->a[0] = t->a[0], c->a[1] = t->a[1];
	c->p[0] = t->p[0], c->p[1] = t->p[1];
	c->sides = (uint8_t)(1u << side);
	c->side_state[side] = s->state;
	c->state = s->state;
	c->cside = (uint8_t)side;
	c->cstate = s->state;
	conn_vol(c, s, side);
	/* It was not there at the previous scan, it is at this one. */
	c->first_ns = m->scan_ns;
	c->last_ns = m->scan_ns;
	c->hnext = m->buckets[t->hash & (m->nbuckets - 1)];
	m->buckets[t->hash & (m->nbuckets - 1)] = i;
	m->st.conns++;
	conn_touch(m, i);
}

/* ---- ended NIC tuples --------------------------------------------------- */

/*
 * TCP tuples of NIC flows already written, so that a socket of theirs
 * the memory view sees late (missed by one scan, then seen) is not taken
 * for a connection of its own.  Direct-mapped, two candidate slots per
 * tuple; a collision forgets the older tuple (at worst one record more,
 * flagged hidden-vmi).
 */
static uint32_t ended_slot(const struct cot_merge *m, uint32_t h, int k)
{
	return (k ? (h >> 16 ^ h * 31) : h) % m->ended_slots;
}

static bool ended_match(const struct ended *e, const struct tuple *t)
{
	return e->used && tuple_eq(t, e->hash, e->a, e->p);
}

static void ended_add(struct cot_merge *m, const struct cot_rec *r)
{
	struct ended *e0, *e1, *e;
	struct tuple t;

	if (!m->ended_slots)
		return;
	canon(m, &t, &r->src, r->sport, &r->dst, r->dport);
	e0 = &m->ended[ended_slot(m, t.hash, 0)];
	e1 = &m->ended[ended_slot(m, t.hash, 1)];
	/* The tuple's own slot, else a free one, else the older entry. */
	if (ended_match(e1, &t))
		e = e1;
	else if (!ended_match(e0, &t) &&
		 (!e1->used || (e0->used && e1->when_ns < e0->when_ns)))
		e = e1;
	else
		e = e0;
	e->used = 1;
	e->hash = t.hash;
	e->a[0] = t.a[0], e->a[1] = t.a[1];
	e->p[0] = t.p[0], e->p[1] = t.p[1];
	e->when_ns = r->last_ns;
}

static bool ended_recently(const struct cot_merge *m, const struct tuple *t)
{
	int k;

	if (!m->ended_slots)
		return false;
	for (k = 0; k < 2; k++) {
		const struct ended *e = &m->ended[ended_slot(m, t->hash, k)];

		/*
		 * TIME_WAIT lasts 60 s: a socket seen after ended_keep_ns
		 * is new.  A scan read before the flow's last frame was
		 * merged (the host queues events) is recent too.
		 */
		if (ended_match(e, t) &&
		    (m->scan_ns < e->when_ns ||
		     m->scan_ns - e->when_ns < m->ended_keep_ns))
			return true;
	}
	return false;
}

/* ---- the NIC view ------------------------------------------------------- */

static void on_flow(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		    uint32_t slot)
{
	struct cot_merge *m = ctx;
	struct slotinfo *si;
	struct cot_rec out;

	if (slot >= m->max_flows)
		return; /* cannot happen: slots index max_flows flows */
	si = &m->slots[slot];
	if (ev == COT_FLOW_OPENED) {
		cot_memset(si, 0, sizeof(*si));
		si->scan_at_open = m->scans;
		/*
		 * The scan saw the socket before the first frame: the NIC
		 * flow takes the memory-only connection over.
		 */
		if (r->proto == COT_PROTO_TCP && m->st.conns) {
			struct tuple t;
			uint32_t i;

			canon(m, &t, &r->src, r->sport, &r->dst, r->dport);
			i = conn_find(m, 0, &t, true);
			if (i != NIL) {
				si->vmi_seen = 1;
				si->netns = m->conns[i].netns;
				/* same canonical tuple: same ends */
				si->own[0] = m->conns[i].own[0];
				si->own[1] = m->conns[i].own[1];
				conn_retire(m, i);
				m->st.takeovers++;
			}
		}
		return;
	}
	out = *r;
	out.seen_by = si->vmi_seen ? COT_SEEN_BOTH : COT_SEEN_NIC;
	out.netns = si->netns;
	{
		int src = side_of(&r->src, r->sport, &r->dst, r->dport);

		own_out(m, &si->own[src], &out.src_owner);
		own_out(m, &si->own[!src], &out.dst_owner);
	}
	/*
	 * Hidden: the guest itself carried a TCP conversation (not merely
	 * refused one with RSTs) for long enough, with the view up all
	 * along, and no socket of its kernel ever matched it.
	 */
	if (m->vmi && m->up && !si->vmi_seen && si->guest_spoke &&
	    r->proto == COT_PROTO_TCP && m->up_ns <= r->first_ns &&
	    m->scans >= si->scan_at_open + 2 && r->last_ns >= r->first_ns &&
	    r->last_ns - r->first_ns >= m->grace_ns + 2 * m->interval_ns)
		out.flags |= COT_RF_HIDDEN_NIC;
	if (r->proto == COT_PROTO_TCP)
		ended_add(m, r);
	write_rec(m, &out);
}

int cot_merge_pkt(struct cot_merge *m, const struct cot_pkt *pkt,
		  uint64_t now_ns, bool from_guest)
{
	int slot = cot_flowtab_update(m->tab, pkt, now_ns);

	if (slot >= 0 && (uint32_t)slot < m->max_flows && from_guest &&
	    pkt->ipproto == 6 && !(pkt->tcp_flags & COT_TCP_RST))
		m->slots[slot].guest_spoke = 1;
	return slot;
}

uint32_t cot_merge_expire(struct cot_merge *m, uint64_t now_ns, uint32_t budget)
{
	return cot_flowtab_expire(m->tab, now_ns, budget);
}

/* ---- the memory view ---------------------------------------------------- */

void cot_merge_vmi_up(struct cot_merge *m, uint64_t now_ns)
{
	m->up = true;
	m->up_ns = now_ns;
	m->first_scan = true;
}

/*
 * The next scan is diffed against nothing: every socket still there
 * arrives as OPENED and continues its connection.  As if every socket
 * had a CLOSED event now: each connection loses its sockets and is
 * checked at the next scans, so one whose sockets do not come back
 * ends "gone" after two scans (or at finish if the view stays down).
 * Listeners are forgotten: they come back as OPENED too.  Walks the
 * pool once (max_conns).
 */
void cot_merge_vmi_down(struct cot_merge *m)
{
	uint32_t i;

	m->up = false;
	m->in_scan = false;
	for (i = 0; i < m->max_conns; i++) {
		struct conn *c = &m->conns[i];

		if (!(c->fl & C_USED))
			continue;
		conn_settle(m, c);
		if (c->fl & C_RETIRED)
			continue; /* touched: freed at the next scan_end */
		c->sides = 0;
		conn_touch(m, i);
	}
	listen_clear(m);
}

void cot_merge_scan_begin(struct cot_merge *m, uint64_t scan_ns)
{
	/* A begin without end carries on as one scan, at the new time. */
	m->in_scan = true;
	m->scan_ns = scan_ns;
}

/*
 * A socket of the guest, new at this scan or in a new state.  The guest
 * runs while we read, so a socket can be missed by one scan and seen
 * again by the next: a known tuple continues its connection unless it
 * already ended and the socket is in a state connections start in
 * (the port was reused).
 */
static void on_sock_seen(struct cot_merge *m, const struct cot_vmi_sock *s,
			 const struct cot_vmi_sock *old)
{
	struct tuple t;
	struct conn *c;
	uint32_t i;
	int side, slot;

	/* A port of 0 is a socket caught half set up (connect, bind). */
	if (!s->lport || !s->rport) {
		m->st.half++;
		return;
	}
	slot = cot_flowtab_find(m->tab, 6, &s->local, s->lport, &s->remote,
				s->rport, NULL);
	if (slot >= 0 && (uint32_t)slot < m->max_flows) {
		m->slots[slot].vmi_seen = 1;
		m->slots[slot].netns = s->netns;
		return;
	}
	side = canon(m, &t, &s->local, s->lport, &s->remote, s->rport);
	i = conn_find(m, s->netns, &t, false);
	if (i == NIL) {
		if (ended_recently(m, &t)) {
			/* The socket of a NIC flow already written (late). */
			m->st.late++;
			return;
		}
		conn_new(m, s, &t, side);
		return;
	}
	c = &m->conns[i];
	/*
	 * This end was closed and the tuple opens again (a loopback port
	 * reused from TIME_WAIT), or another TIME_WAIT socket replaced it
	 * (a whole new connection between two scans).
	 */
	if ((c->sides & (1u << side)) && closed_state(c->side_state[side]) &&
	    (opening_state(s->state) ||
	     (old && old->kaddr != s->kaddr && closed_state(old->state) &&
	      closed_state(s->state)))) {
		/* The old connection is over; this is a new one. */
		conn_write(m, c, COT_END_FIN);
		conn_retire(m, i);
		m->st.reused++;
		conn_new(m, s, &t, side);
		return;
	}
	if ((c->fl & C_EMITTED) && opening_state(s->state) &&
	    closed_state(c->state)) {
		/* Ended, and the tuple opens again: a new one. */
		conn_retire(m, i);
		m->st.reused++;
		conn_new(m, s, &t, side);
		return;
	}
	c->sides |= (uint8_t)(1u << side);
	c->side_state[side] = s->state;
	c->state = s->state;
	conn_vol(c, s, side);
	conn_touch(m, i);
}

void cot_merge_sock_volumes(struct cot_merge *m, const struct cot_vmi_sock *s)
{
	struct tuple t;
	uint32_t i;
	int side;

	if (!m->in_scan || !s) {
		m->st.stray_events++;
		return;
	}
	if (!(s->flags & COT_VMI_SOCK_VOLUMES) || s->kind != COT_VMI_SK_FULL ||
	    !s->lport || !s->rport)
		return;
	side = canon(m, &t, &s->local, s->lport, &s->remote, s->rport);
	i = conn_find(m, s->netns, &t, false);
	if (i == NIL || (m->conns[i].fl & C_EMITTED))
		return; /* a NIC flow's socket, or a connection written */
	conn_vol(&m->conns[i], s, side);
	m->st.volumes++;
}

void cot_merge_sock_owner(struct cot_merge *m, const struct cot_vmi_sock *s,
			  const struct cot_rec_owner *o)
{
	struct tuple t;
	uint32_t i;
	int side, slot;

	if (!s || !o || !o->pid || s->kind != COT_VMI_SK_FULL || !s->lport ||
	    !s->rport) {
		m->st.owners_unused++;
		return;
	}
	side = canon(m, &t, &s->local, s->lport, &s->remote, s->rport);
	slot = cot_flowtab_find(m->tab, 6, &s->local, s->lport, &s->remote,
				s->rport, NULL);
	if (slot >= 0 && (uint32_t)slot < m->max_flows) {
		own_set(m, &m->slots[slot].own[side], o);
		m->st.owners++;
		return;
	}
	i = conn_find(m, s->netns, &t, false);
	if (i == NIL || (m->conns[i].fl & C_EMITTED)) {
		/* no connection (yet, or any more), or its record written */
		m->st.owners_unused++;
		return;
	}
	own_set(m, &m->conns[i].own[side], o);
	m->st.owners++;
}

static void on_sock_closed(struct cot_merge *m, const struct cot_vmi_sock *s)
{
	struct tuple t;
	uint32_t i;
	int side = canon(m, &t, &s->local, s->lport, &s->remote, s->rport);

	i = conn_find(m, s->netns, &t, false);
	if (i == NIL)
		return; /* a NIC flow's socket, or one we could not keep */
	m->conns[i].sides &= (uint8_t) ~(1u << side);
	conn_touch(m, i);
}

static void sock_gone(struct cot_merge *m, const struct cot_vmi_sock *s)
{
	if (s->kind == COT_VMI_SK_LISTEN) {
		if (s->lport)
			listen_del(m, s->netns, s->lport);
		return;
	}
	on_sock_closed(m, s);
}

void cot_merge_sock(struct cot_merge *m, enum cot_vmi_event ev,
		    const struct cot_vmi_sock *old,
		    const struct cot_vmi_sock *now)
{
	bool ok = (ev == COT_VMI_EV_OPENED && now) ||
		  (ev == COT_VMI_EV_CLOSED && old) ||
		  (ev == COT_VMI_EV_CHANGED && old && now);

	if (!m->in_scan || !ok) {
		m->st.stray_events++;
		return;
	}
	m->st.sock_events++;
	if (ev == COT_VMI_EV_CLOSED) {
		sock_gone(m, old);
		return;
	}
	if (ev == COT_VMI_EV_CHANGED &&
	    (old->kind == COT_VMI_SK_LISTEN) !=
		    (now->kind == COT_VMI_SK_LISTEN)) {
		/* cot_vmi_diff never pairs a listener with a connection;
		 * if a caller does, it is one gone and one new. */
		sock_gone(m, old);
		old = NULL;
	}
	if (now->kind == COT_VMI_SK_LISTEN) {
		if (old && old->netns == now->netns && old->lport == now->lport)
			return; /* the same listening port */
		if (old && old->lport)
			listen_del(m, old->netns, old->lport);
		if (now->lport)
			listen_add(m, now->netns, now->lport);
		return;
	}
	on_sock_seen(m, now, old);
}

/*
 * After each scan: decide the initiators of the connections it created
 * and write what waited for that; write the connections the guest has
 * finished with (every socket left is TIME_WAIT: end fin), and those
 * whose sockets were absent from two scans in a row (end gone); forget
 * a written connection once its sockets are gone.  Walks the touched
 * list only: at most max_conns entries, each once (one queued again
 * goes on the next scan's list).
 */
void cot_merge_scan_end(struct cot_merge *m)
{
	uint32_t i = m->touched, next, n;

	if (!m->in_scan) {
		m->st.stray_events++;
		return;
	}
	m->in_scan = false;
	m->first_scan = false;
	m->scans++;
	m->st.scans++;
	m->touched = NIL;
	for (n = 0; i != NIL && n < m->max_conns; n++, i = next) {
		struct conn *c = &m->conns[i];
		bool done = c->sides != 0;
		int k;

		next = c->tnext;
		c->fl &= (uint8_t)~C_TOUCHED;
		conn_settle(m, c);
		if (c->fl & C_RETIRED) {
			conn_free(m, i);
			continue;
		}
		if (!c->sides) {
			/*
			 * Absent at this scan: look again at the next (the
			 * guest may have hidden it from one walk).  Absent
			 * then too (zero_since is an earlier scan): gone.
			 */
			if (!c->zero_since) {
				c->zero_since = m->scans;
				conn_touch(m, i);
				continue;
			}
			conn_write(m, c, COT_END_GONE);
			conn_free(m, i);
			continue;
		}
		c->zero_since = 0;
		c->last_ns = m->scan_ns;
		for (k = 0; k < 2; k++)
			if ((c->sides & (1u << k)) &&
			    !closed_state(c->side_state[k]))
				done = false;
		if (done)
			conn_write(m, c, COT_END_FIN);
	}
}

/* ---- the end ------------------------------------------------------------ */

void cot_merge_finish(struct cot_merge *m, uint64_t now_ns, enum cot_end end)
{
	uint32_t i;

	m->in_scan = false;
	cot_flowtab_flush(m->tab, now_ns, end);
	/* The pool once (max_conns), then empty. */
	for (i = 0; i < m->max_conns; i++) {
		struct conn *c = &m->conns[i];

		if (!(c->fl & C_USED))
			continue;
		conn_settle(m, c);
		if (!(c->fl & C_RETIRED))
			conn_write(m, c, (uint8_t)end);
	}
	conns_reset(m);
}

void cot_merge_stats(const struct cot_merge *m, struct cot_merge_stats *s,
		     struct cot_flow_stats *fs)
{
	if (s)
		*s = m->st;
	if (fs)
		cot_flowtab_stats(m->tab, fs);
}
