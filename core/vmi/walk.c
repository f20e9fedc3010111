// SPDX-License-Identifier: MIT
/*
 * The socket walker: every namespace's TCP established hash (ehash:
 * full sockets, TIME_WAIT and NEW_SYN_RECV request sockets) and the
 * listener hash (lhash2), read through the kernel's page tables with
 * the offsets of the installed profile.
 *
 * Chains are hlist_nulls lists (include/linux/list_nulls.h): a pointer
 * with bit 0 set ends the chain and carries the bucket's "nulls" value.
 * A chain that ends on a value other than its own bucket's means a
 * socket moved to another chain while we walked (the kernel's lookups
 * restart in that case): the bucket is walked again, at most
 * COT_VMI_MAX_REWALK times.  Every chain is also bounded by
 * COT_VMI_MAX_CHAIN and checked for cycles (Brent's algorithm), the
 * namespace list by COT_VMI_MAX_NETS and the tables by
 * COT_VMI_MAX_BUCKETS.  Those are bounds per loop; the scan as a whole
 * is bounded by COT_VMI_MAX_SCAN_BUCKETS buckets and 2 * cap +
 * COT_VMI_NODE_SLACK chain nodes over all tables, and each step of it
 * by the byte and walk budget the read path (kernel.c) enforces.
 *
 * The scan is a sequence of units (phases below; in PH_TABLES one unit
 * per bucket, empty buckets that follow it included).  scan_step() runs units
 * until the budget refuses a read; the unit in progress is then undone (struct
 * undo) and becomes the first unit of the next step, which runs it without a
 * budget so that every step gets at least one unit done.
 */
#include "cotrack/vmi.h"
#include "internal.h"

/* Linux ABI constants (include/linux/socket.h). */
#define AF_INET_  2
#define AF_INET6_ 10

#define CHUNK 4096 /* bytes of bucket heads read in one go */
/* prefetch_ahead(): how many buckets ahead of the walk and how many
 * nodes past each chain's head it looks.  Linux sizes ehash to about one
 * bucket per socket it expects, so chains are short (10,000 sockets in
 * 4096 buckets: 2.4 on average); 128 buckets keep some 300 sockets'
 * misses in flight without prefetching far past what a step's budget
 * will read. */
#define AHEAD_BUCKETS 128
#define AHEAD_DEPTH   6

enum phase {
	PH_START = 0, /* check the profile and the global table */
	PH_NETS,      /* the namespace list (one unit) */
	PH_GLOBAL,    /* tables of tcp_hashinfo */
	PH_PERNET,    /* tables of namespace s->net (one unit each) */
	PH_TABLES,    /* bucket s->bucket of table s->table (one each) */
	PH_DONE,
};

/* One step of a scan. */
struct walk {
	struct cot_vmi *k;
	struct cot_vmi_scan *s;
	struct cot_vmi_stats *st; /* &s->st */
	bool first;		  /* running the step's first unit */
	uint32_t table_h;	  /* hash of the table being walked */
	uint32_t bucket;	  /* bucket being walked */
	/* bucket heads of table chunk_table, buckets [chunk_lo, +chunk_n) */
	uint32_t chunk_table, chunk_lo, chunk_n;
	uint8_t chunk[CHUNK];
	uint32_t pf_hi; /* buckets of the chunk prefetched: [.., pf_hi) */
	uint64_t ahead[AHEAD_BUCKETS]; /* prefetch_ahead(): nodes (physical) */
};

/* Index in k->nets of namespace @net, or -1: binary search. */
static int net_index(struct walk *w, uint64_t net)
{
	struct cot_vmi *k = w->k;
	uint32_t lo = 0, hi = k->nnets;

	if (w->s->last_net < k->nnets && k->nets[w->s->last_net].addr == net)
		return (int)w->s->last_net;
	/* Bound: log2(COT_VMI_MAX_NETS) steps. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint32_t i = k->net_by_addr[mid];

		if (k->nets[i].addr == net) {
			w->s->last_net = i;
			return (int)i;
		}
		if (k->nets[i].addr < net)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Add namespace @net to the sorted index; false if already there. */
static bool net_insert(struct cot_vmi *k, uint64_t net, uint32_t inum)
{
	uint32_t n = k->nnets, pos = n;

	/* Bound: n <= COT_VMI_MAX_NETS (insertion into a sorted array). */
	while (pos > 0 && k->nets[k->net_by_addr[pos - 1]].addr >= net) {
		if (k->nets[k->net_by_addr[pos - 1]].addr == net)
			return false;
		pos--;
	}
	cot_memmove(&k->net_by_addr[pos + 1], &k->net_by_addr[pos],
		    (n - pos) * sizeof(k->net_by_addr[0]));
	k->net_by_addr[pos] = (uint16_t)n;
	k->nets[n].addr = net;
	k->nets[n].inum = inum;
	k->nnets = n + 1;
	return true;
}

static void walk_nets(struct walk *w)
{
	struct cot_vmi *k = w->k;
	const struct cot_vmi_profile *p = &k->prof;
	uint64_t head = k->sym[COT_VMI_SYM_NET_NS_LIST], pos;
	uint32_t inum;

	k->nnets = 0;
	w->s->last_net = 0;
	if (!head) {
		/* No namespace list known: only init_net. */
		uint64_t net = k->sym[COT_VMI_SYM_INIT_NET];

		if (net && !rd32(k, net + p->net_inum, &inum))
			net_insert(k, net, inum);
		return;
	}
	if (rd64(k, head, &pos)) {
		w->st->err_read++;
		return;
	}
	/* Bound: COT_VMI_MAX_NETS entries; a revisited entry is a loop. */
	while (pos != head) {
		uint64_t net = pos - p->net_list;

		if (k->nnets == COT_VMI_MAX_NETS) {
			w->st->err_loop++;
			return;
		}
		if (rd32(k, net + p->net_inum, &inum) || rd64(k, pos, &pos)) {
			w->st->err_read++;
			return;
		}
		if (!net_insert(k, net, inum)) { /* visited twice: a loop */
			w->st->err_loop++;
			return;
		}
	}
}

/* 0.0.0.0 (as ::ffff:0.0.0.0) or :: */
static bool addr_unspec(const struct cot_addr *a)
{
	static const uint8_t z[16];

	if (cot_addr_is_v4(a))
		return cot_memcmp(a->b + 12, z, 4) == 0;
	return cot_memcmp(a->b, z, 16) == 0;
}

/*
 * Read the socket whose chain node is at @node_va (@node bytes into the
 * socket) and list it; *@next gets the node's next pointer.  The node is
 * read in the same copy as the socket's fields when they are close (they
 * are: all in sock_common).  Returns 0, or -1 when the socket could not
 * be read (the chain cannot go on); a socket read but not listable is
 * counted and skipped.  At most three reads (COT_VMI_NODE_MAX_BYTES).
 */
static int emit(struct walk *w, uint64_t node_va, uint32_t node, bool listener,
		uint64_t *next)
{
	struct cot_vmi *k = w->k;
	struct cot_vmi_scan *sc = w->s;
	const struct cot_vmi_profile *p = &k->prof;
	uint64_t sk = node_va - node;
	uint32_t lo = COT_MIN(sc->span_lo, node);
	uint32_t hi = COT_MAX(sc->span_lo + sc->span_len, node + 8);
	uint8_t buf[COT_VMI_SPAN_MAX], *b;
	struct cot_vmi_sock s;
	uint16_t family;
	uint64_t net;
	int ni;

	if (hi - lo <= COT_VMI_SPAN_MAX) {
		if (cot_vmi_read_va(k, sk + lo, buf, hi - lo))
			return -1;
		*next = cot_get_le64(buf + (node - lo));
	} else {
		lo = sc->span_lo;
		if (rd64(k, node_va, next) ||
		    cot_vmi_read_va(k, sk + lo, buf, sc->span_len))
			return -1;
	}
#define AT(off) (buf + ((off)-lo))
	cot_memset(&s, 0, sizeof(s));
	s.kaddr = sk;
	s.pos = (uint64_t)w->table_h << 32 | w->bucket;
	family = cot_get_le16(AT(p->skc_family));
	s.state = *AT(p->skc_state);
	s.lport = cot_get_le16(AT(p->skc_num));	  /* host order */
	s.rport = cot_get_be16(AT(p->skc_dport)); /* network order */
	if (family == AF_INET_) {
		s.family = 4;
		cot_addr_from_v4(&s.local, AT(p->skc_rcv_saddr));
		cot_addr_from_v4(&s.remote, AT(p->skc_daddr));
	} else if (family == AF_INET6_ && (p->flags & COT_VMI_PF_IPV6)) {
		s.family = 6;
		cot_memcpy(s.local.b, AT(p->skc_v6_rcv_saddr), 16);
		cot_memcpy(s.remote.b, AT(p->skc_v6_daddr), 16);
	} else {
		w->st->err_family++;
		return 0;
	}
	if (s.state == 0 || s.state >= COT_VMI_TCP__COUNT) {
		w->st->err_family++;
		return 0;
	}
	/* An established-table entry always has a peer: one without is a
	 * torn read (sockets are SLAB_TYPESAFE_BY_RCU: a request socket
	 * freed and reused while we read it), skipped as the kernel's own
	 * lookups would after re-checking. */
	if (!listener && (s.rport == 0 || addr_unspec(&s.remote))) {
		w->st->err_family++;
		return 0;
	}
	b = AT(p->skc_net);
	net = cot_get_le64(b);
#undef AT
	if (listener) {
		s.kind = COT_VMI_SK_LISTEN;
	} else if (s.state == COT_VMI_TCP_TIME_WAIT) {
		s.kind = COT_VMI_SK_TW;
		if (p->flags & COT_VMI_PF_TW_SUBSTATE) {
			uint8_t sub;

			if (cot_vmi_read_va(k, sk + p->tw_substate, &sub, 1)) {
				w->st->err_read++;
				return 0;
			}
			/* /proc shows the substate (FIN_WAIT2 or
			 * TIME_WAIT). */
			if (sub > 0 && sub < COT_VMI_TCP__COUNT)
				s.state = sub;
		}
	} else if (s.state == COT_VMI_TCP_NEW_SYN_RECV) {
		s.kind = COT_VMI_SK_REQ;
		s.state = COT_VMI_TCP_SYN_RECV; /* as /proc and ss show it */
	}
	ni = net_index(w, net);
	if (ni < 0) {
		w->st->err_net++;
		return 0;
	}
	s.netns = k->nets[ni].inum;
	if (sc->n == sc->cap) {
		w->st->truncated++;
		return 0;
	}
	sc->out[sc->n++] = s;
	return 0;
}

/*
 * Walk one chain starting at bucket head @head_va.  @nulls is the
 * marker that ends this bucket's chain, or UINT64_MAX when unknown.
 * Bound: (COT_VMI_MAX_REWALK + 1) walks of COT_VMI_MAX_CHAIN nodes,
 * and the scan's node bound (s->nodes_left) over all chains.
 */
static void walk_chain(struct walk *w, uint64_t head_va, uint64_t first,
		       uint64_t nulls, bool listener)
{
	const struct cot_vmi_profile *p = &w->k->prof;
	uint32_t node = listener ? p->listen_node : p->skc_nulls_node;
	uint32_t rewalk = 0;

	for (;;) {
		uint64_t pos = first, tort = first, next;
		uint32_t cnt = 0, power = 1, lam = 0;

		/* Bound: COT_VMI_MAX_CHAIN nodes, cycle check per node. */
		while (pos && !(pos & 1)) {
			if (w->s->nodes_left == 0) {
				w->st->err_budget = 1;
				return;
			}
			w->s->nodes_left--;
			if (++cnt > COT_VMI_MAX_CHAIN) {
				w->st->err_long++;
				return;
			}
			if (emit(w, pos, node, listener, &next)) {
				w->st->err_read++;
				return;
			}
			pos = next;
			if (pos == tort) {
				w->st->err_loop++;
				return;
			}
			if (power == lam) {
				tort = pos;
				power *= 2;
				lam = 0;
			}
			lam++;
		}
		if (!pos || nulls == UINT64_MAX || pos == nulls)
			return;
		/* Ended in another bucket: a socket moved.  Walk again. */
		if (rewalk++ == COT_VMI_MAX_REWALK)
			return;
		w->st->rewalks++;
		if (rd64(w->k, head_va, &first)) {
			w->st->err_read++;
			return;
		}
	}
}

static uint32_t addr_hash(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return (uint32_t)a;
}

/* Remember table @addr of @mask + 1 buckets, once. */
static void table_add(struct walk *w, uint64_t addr, uint32_t mask,
		      bool listener)
{
	struct cot_vmi_scan *s = w->s;
	uint32_t i;

	if (!addr)
		return;
	/* Bound: 2 * COT_VMI_MAX_TABLES entries. */
	for (i = 0; i < s->ntables; i++)
		if (s->tables[i].addr == addr)
			return; /* shared with another namespace */
	/* The masks are size - 1 of power-of-two tables. */
	if (mask >= COT_VMI_MAX_BUCKETS || (mask & (mask + 1)) ||
	    s->ntables == COT_ARRAY_SIZE(s->tables)) {
		w->st->err_table++;
		return;
	}
	s->tables[s->ntables].addr = addr;
	s->tables[s->ntables].h = addr_hash(addr);
	s->tables[s->ntables].nb = mask + 1;
	s->tables[s->ntables].listener = listener;
	s->ntables++;
	if (!listener)
		w->st->tables++;
}

static void add_hashinfo(struct walk *w, uint64_t hi)
{
	struct cot_vmi *k = w->k;
	const struct cot_vmi_profile *p = &k->prof;
	uint64_t ehash, lhash2;
	uint32_t emask, lmask;

	if (rd64(k, hi + p->hi_ehash, &ehash) ||
	    rd32(k, hi + p->hi_ehash_mask, &emask) ||
	    rd64(k, hi + p->hi_lhash2, &lhash2) ||
	    rd32(k, hi + p->hi_lhash2_mask, &lmask)) {
		w->st->err_read++;
		return;
	}
	table_add(w, ehash, emask, false);
	table_add(w, lhash2, lmask, true);
}

/* The per-netns ehash of namespace @i (net.ipv4.tcp_child_ehash_entries):
 * net->ipv4.tcp_death_row(->)hashinfo. */
static void add_net_tables(struct walk *w, uint32_t i)
{
	struct cot_vmi *k = w->k;
	const struct cot_vmi_profile *p = &k->prof;
	uint64_t dr = k->nets[i].addr + p->net_death_row, v;

	if ((p->flags & COT_VMI_PF_DR_PTR) && rd64(k, dr, &dr)) {
		w->st->err_read++;
		return;
	}
	if (rd64(k, dr + p->dr_hashinfo, &v)) {
		w->st->err_read++;
		return;
	}
	if (v && v != k->sym[COT_VMI_SYM_TCP_HASHINFO])
		add_hashinfo(w, v);
}

/* Order of tables: by (h, addr); at most 128 of them. */
static void tables_sort(struct cot_vmi_scan *s)
{
	uint32_t i, j;

	for (i = 1; i < s->ntables; i++)
		for (j = i;
		     j > 0 && (s->tables[j - 1].h > s->tables[j].h ||
			       (s->tables[j - 1].h == s->tables[j].h &&
				s->tables[j - 1].addr > s->tables[j].addr));
		     j--) {
			struct cot_vmi_scan_table t = s->tables[j];

			s->tables[j] = s->tables[j - 1];
			s->tables[j - 1] = t;
		}
}

/* The sock_common window every socket read copies; false if too wide. */
static bool span(struct cot_vmi_scan *s, const struct cot_vmi_profile *p)
{
	const struct {
		uint32_t off, len;
	} f[] = {
		{ p->skc_daddr, 4 },	     { p->skc_rcv_saddr, 4 },
		{ p->skc_dport, 2 },	     { p->skc_num, 2 },
		{ p->skc_family, 2 },	     { p->skc_state, 1 },
		{ p->skc_net, 8 },	     { p->skc_v6_daddr, 16 },
		{ p->skc_v6_rcv_saddr, 16 },
	};
	uint32_t lo = UINT32_MAX, hi = 0, i, nf = COT_ARRAY_SIZE(f);

	if (!(p->flags & COT_VMI_PF_IPV6))
		nf -= 2;
	for (i = 0; i < nf; i++) {
		lo = COT_MIN(lo, f[i].off);
		hi = COT_MAX(hi, f[i].off + f[i].len);
	}
	s->span_lo = lo;
	s->span_len = hi - lo;
	return s->span_len <= COT_VMI_SPAN_MAX;
}

/*
 * Look ahead one node: *@pa is where the previous pass found a node (its
 * next pointer is its first word) or, when !@succ, 0 with @va a chain's
 * first node.  Translates and prefetches the node; *@pa gets its
 * guest-physical address.  1: prefetched, 0: that chain ends (or is
 * unreadable), -1: no more hints (the budget).
 */
static int ahead_one(struct cot_vmi *k, uint64_t va, uint64_t *pa, bool succ)
{
	uint8_t b[8];

	if (succ) {
		if (cot_vmi__read_pa(k, *pa, b, 8))
			goto fail;
		va = cot_get_le64(b);
		if (!va || (va & 7))
			return 0; /* end of the chain (or not a node) */
	}
	if (cot_vmi_v2p(k, va, pa))
		goto fail;
	k->mem.prefetch(k->mem.ctx, *pa);
	return 1;
fail:
	if (!k->spent)
		return 0;
	k->spent = false; /* the budget: no more hints */
	return -1;
}

/*
 * Start the cache misses of the chains of the AHEAD_BUCKETS buckets of
 * the chunk from bucket @b on, before the walk reaches them (once it has
 * gone half-way through what was prefetched last): the chains' heads
 * first, then, in up to AHEAD_DEPTH passes over the chains still going,
 * each node's successor, read from the node whose miss the previous
 * pass started (by now mostly in cache).  emit() then finds most of its
 * sockets in cache instead of waiting for one miss after the other
 * along each chain.  A hint: its reads are counted like any other, but
 * what it reads is used only as an address to prefetch; a read the
 * budget refuses ends it and does not cut the unit; an unreadable node
 * ends that chain's lookahead.  Not in a step's first unit, whose cost
 * is bounded without it.
 */
static void prefetch_ahead(struct walk *w, uint32_t b, uint32_t bsz,
			   uint32_t hoff)
{
	struct cot_vmi *k = w->k;
	uint32_t end = w->chunk_lo + w->chunk_n, j, lo, hi, n = 0, m, d;

	if (!k->mem.prefetch || w->first || w->pf_hi >= end ||
	    w->pf_hi > b + AHEAD_BUCKETS / 2)
		return;
	lo = COT_MAX(w->pf_hi, b);
	hi = COT_MIN(b + AHEAD_BUCKETS, end);
	w->pf_hi = hi;
	/* Bound: hi - lo <= AHEAD_BUCKETS heads. */
	for (j = lo; j < hi; j++) {
		uint64_t first =
			cot_get_le64(w->chunk + (j - w->chunk_lo) * bsz + hoff);
		int r;

		if (!first || (first & 1))
			continue;
		r = ahead_one(k, first, &w->ahead[n], false);
		if (r < 0)
			return;
		n += (uint32_t)r;
	}
	/* Bound: AHEAD_DEPTH passes over at most AHEAD_BUCKETS chains. */
	for (d = 0; n && d < AHEAD_DEPTH; d++, n = m)
		for (j = 0, m = 0; j < n; j++) {
			int r = ahead_one(k, 0, &w->ahead[j], true);

			if (r < 0)
				return;
			if (r)
				w->ahead[m++] = w->ahead[j];
		}
}

/*
 * One unit of PH_TABLES: bucket s->bucket of table s->table and the
 * empty ones after it up to the next chain or the end of the chunk of
 * bucket heads in hand (reading the next chunk first when the one in
 * hand does not hold it), moving to the next table first when that
 * one is done.
 */
static void table_unit(struct walk *w)
{
	struct cot_vmi *k = w->k;
	struct cot_vmi_scan *s = w->s;
	const struct cot_vmi_profile *p = &k->prof;
	const struct cot_vmi_scan_table *t;
	uint32_t bsz, hoff, b;
	uint64_t first;

	/* Bound: ntables <= 2 * COT_VMI_MAX_TABLES. */
	while (s->table < s->ntables && s->bucket >= s->tables[s->table].nb) {
		s->table++;
		s->bucket = 0;
		s->base = UINT64_MAX;
	}
	if (s->table == s->ntables) {
		s->phase = PH_DONE;
		return;
	}
	t = &s->tables[s->table];
	if (s->buckets_left == 0) { /* the scan's bound over all tables */
		w->st->err_budget = 1;
		s->phase = PH_DONE;
		return;
	}
	bsz = t->listener ? p->lhash2_bucket_size : p->ehash_bucket_size;
	hoff = t->listener ? p->lhash2_head : p->ehash_chain;
	b = s->bucket;
	if (w->chunk_table != s->table || b < w->chunk_lo ||
	    b - w->chunk_lo >= w->chunk_n) {
		/* bsz <= 4096 (cot_vmi_set_profile()): at least one.
		 * Chunks end at multiples of @per whatever bucket a step
		 * resumes at, so that where an unreadable table stops
		 * being read does not depend on the budget: a step resumes
		 * inside a chunk only when an earlier one read all of it. */
		uint32_t per = CHUNK / bsz;
		uint32_t cnt = COT_MIN(per - b % per, t->nb - b);

		w->chunk_n = 0;
		if (cot_vmi_read_va(k, t->addr + (uint64_t)b * bsz, w->chunk,
				    (size_t)cnt * bsz)) {
			if (k->spent)
				return; /* cut: done again next step */
			w->st->err_table++;
			s->table++; /* the rest of it is unreadable too */
			s->bucket = 0;
			s->base = UINT64_MAX;
			return;
		}
		w->chunk_table = s->table;
		w->chunk_lo = b;
		w->chunk_n = cnt;
		w->pf_hi = b;
	}
	prefetch_ahead(w, b, bsz, hoff);
	w->table_h = t->h;
	/* Bound: the chunk in hand (CHUNK / 8 buckets).  The empty
	 * buckets after this one are part of the unit: they cost no read
	 * (nor an undo record each), and a unit still holds one chain. */
	for (;;) {
		first = cot_get_le64(w->chunk + (b - w->chunk_lo) * bsz + hoff);
		w->st->buckets++;
		s->buckets_left--;
		s->bucket++;
		w->bucket = b;
		if (first & 1) {
			/* The nulls value of bucket i is i + base, base
			 * learnt from an empty bucket (ehash: 0; lhash2:
			 * LISTENING_NULLS_BASE). */
			if (s->base == UINT64_MAX)
				s->base = (first >> 1) - b;
		} else if (first) {
			walk_chain(w, t->addr + (uint64_t)b * bsz + hoff, first,
				   s->base == UINT64_MAX
					   ? UINT64_MAX
					   : ((s->base + b) << 1) | 1,
				   t->listener);
			if (w->st->err_budget) /* the scan's node bound */
				s->phase = PH_DONE;
			return;
		}
		b = s->bucket;
		if (b >= t->nb || b - w->chunk_lo >= w->chunk_n ||
		    !s->buckets_left)
			return;
	}
}

/* Run one unit of the scan.  0, or a negative code that ends it. */
static int unit(struct walk *w)
{
	struct cot_vmi *k = w->k;
	struct cot_vmi_scan *s = w->s;
	const struct cot_vmi_profile *p = &k->prof;
	uint64_t hi = k->sym[COT_VMI_SYM_TCP_HASHINFO], v;

	switch (s->phase) {
	case PH_START:
		if (!hi)
			return -COT_EINVAL;
		if (rd64(k, hi + p->hi_ehash, &v))
			return -COT_EFAULT;
		s->phase = PH_NETS;
		return 0;
	case PH_NETS:
		walk_nets(w);
		w->st->nets = k->nnets;
		s->phase = PH_GLOBAL;
		return 0;
	case PH_GLOBAL:
		add_hashinfo(w, hi);
		s->net = 0;
		s->phase = PH_PERNET;
		return 0;
	case PH_PERNET:
		if ((p->flags & COT_VMI_PF_PERNET) && s->net < k->nnets) {
			add_net_tables(w, s->net++);
			return 0;
		}
		/* Walked in the snapshot order, the sockets come out sorted
		 * but for the order inside each bucket. */
		tables_sort(s);
		s->table = 0;
		s->bucket = 0;
		s->base = UINT64_MAX;
		s->phase = PH_TABLES;
		return 0;
	case PH_TABLES:
		table_unit(w);
		return 0;
	}
	return 0;
}

/* What a unit may change, so that a unit the budget cut can be undone.
 * (k->nets is rebuilt from scratch by the PH_NETS unit.) */
struct undo {
	struct cot_vmi_stats st;
	bool have_st;
	uint32_t n, ntables, phase, net, table, bucket, last_net;
	uint64_t base, nodes_left, buckets_left;
};

/*
 * Remember the position.  The counters are copied only when the budget
 * left could cut the unit: a unit costs at most COT_VMI_UNIT_MAX_BYTES
 * and _WALKS, so with that much left it runs to its end (and the walk
 * of a large budget pays for no copy per bucket).
 */
static void undo_save(struct undo *u, const struct cot_vmi_scan *s,
		      const struct cot_vmi *k)
{
	u->have_st = k->lim_bytes - k->bytes_read < COT_VMI_UNIT_MAX_BYTES ||
		     k->lim_walks - k->walks < COT_VMI_UNIT_MAX_WALKS;
	if (u->have_st)
		u->st = s->st;
	u->n = s->n;
	u->ntables = s->ntables;
	u->phase = s->phase;
	u->net = s->net;
	u->table = s->table;
	u->bucket = s->bucket;
	u->last_net = s->last_net;
	u->base = s->base;
	u->nodes_left = s->nodes_left;
	u->buckets_left = s->buckets_left;
}

static void undo_apply(const struct undo *u, struct cot_vmi_scan *s)
{
	if (u->have_st)
		s->st = u->st;
	s->n = u->n;
	s->ntables = u->ntables;
	s->phase = u->phase;
	s->net = u->net;
	s->table = u->table;
	s->bucket = u->bucket;
	s->last_net = u->last_net;
	s->base = u->base;
	s->nodes_left = u->nodes_left;
	s->buckets_left = u->buckets_left;
}

/* Sort and deduplicate what the scan found; it is over. */
static void finish(struct cot_vmi_scan *s)
{
	uint32_t i, j;

	cot_vmi_sort(s->out, s->n);
	/* A re-walked chain may have yielded a socket twice (sockets of
	 * two buckets differ in pos, the first key: no need to compare
	 * further). */
	for (i = 0, j = 0; i < s->n; i++) {
		if (j > 0 && s->out[j - 1].pos == s->out[i].pos &&
		    cot_vmi_sock_cmp(&s->out[j - 1], &s->out[i]) == 0)
			continue;
		if (i != j)
			s->out[j] = s->out[i];
		j++;
	}
	s->n = j;
	s->st.sockets = j;
	s->phase = PH_DONE;
	s->result = 1;
}

void cot_vmi_scan_start(struct cot_vmi *k, struct cot_vmi_scan *s,
			struct cot_vmi_sock *out, uint32_t cap)
{
	if (!s)
		return;
	cot_memset(s, 0, sizeof(*s));
	s->out = out;
	s->cap = cap;
	s->phase = PH_START;
	s->base = UINT64_MAX;
	/* Bound on all chains together, so that a table of forged chains
	 * costs at most a few times what a full table of real ones does. */
	s->nodes_left = 2ull * cap + COT_VMI_NODE_SLACK;
	s->buckets_left = COT_VMI_MAX_SCAN_BUCKETS;
	if (!k || (!out && cap))
		s->result = -COT_EINVAL;
}

int cot_vmi_scan_step(struct cot_vmi *k, struct cot_vmi_scan *s,
		      uint64_t max_bytes, uint64_t max_walks,
		      struct cot_vmi_stats *st)
{
	struct walk w;
	uint64_t b0, w0;
	uint32_t units = 0;
	int r = 0;

	if (!s)
		return -COT_EINVAL;
	if (!k && !s->result)
		s->result = -COT_EINVAL;
	if (s->result) {
		if (st)
			*st = s->st;
		return s->result;
	}
	/* The profile may have been replaced since the last step: emit()
	 * must never index past the window it read. */
	if (!k->have_profile || !span(s, &k->prof)) {
		s->result = -COT_EINVAL;
		if (st)
			*st = s->st;
		return s->result;
	}
	s->st.steps++;
	b0 = k->bytes_read;
	w0 = k->walks;
	s->first_bytes = s->first_walks = 0;
	/* Mappings may have changed since the last step. */
	cot_vmi__tlb_flush(k);
	/* The first unit runs in full: every step makes progress. */
	cot_vmi__set_limits(k, UINT64_MAX, UINT64_MAX);
	w.k = k;
	w.s = s;
	w.st = &s->st;
	w.first = true;
	w.chunk_table = UINT32_MAX;
	w.chunk_lo = w.chunk_n = w.pf_hi = 0;
	/* Bound: each pass finishes a unit or ends the step; a scan has
	 * at most 5 + COT_VMI_MAX_NETS + COT_VMI_MAX_SCAN_BUCKETS units. */
	for (;;) {
		struct undo u;
		int err;

		if (s->phase == PH_DONE) {
			finish(s);
			r = 1;
			break;
		}
		undo_save(&u, s, k);
		err = unit(&w);
		if (units++ == 0) {
			s->first_bytes = k->bytes_read - b0;
			s->first_walks = k->walks - w0;
		}
		if (k->spent) { /* cut by the budget: undo, resume there */
			undo_apply(&u, s);
			s->st.cuts++;
			r = 0;
			break;
		}
		if (err) {
			s->result = err;
			r = err;
			break;
		}
		if (w.first) { /* from now on, what is left of the budget */
			uint64_t ub = s->first_bytes, uw = s->first_walks;

			w.first = false;
			cot_vmi__set_limits(
				k, max_bytes > ub ? max_bytes - ub : 0,
				max_walks > uw ? max_walks - uw : 0);
		}
	}
	s->step_bytes = k->bytes_read - b0;
	s->step_walks = k->walks - w0;
	s->st.bytes_read += s->step_bytes;
	s->st.walks += s->step_walks;
	cot_vmi__set_limits(k, UINT64_MAX, UINT64_MAX);
	if (st)
		*st = s->st;
	return r;
}

int cot_vmi_snapshot(struct cot_vmi *k, struct cot_vmi_sock *out, uint32_t cap,
		     uint32_t *n, struct cot_vmi_stats *st)
{
	struct cot_vmi_scan s;
	int r;

	if (st)
		cot_memset(st, 0, sizeof(*st));
	if (n)
		*n = 0;
	if (!k || !n || (!out && cap))
		return -COT_EINVAL;
	cot_vmi_scan_start(k, &s, out, cap);
	r = cot_vmi_scan_step(k, &s, COT_VMI_DEFAULT_SCAN_BYTES,
			      COT_VMI_DEFAULT_SCAN_WALKS, NULL);
	if (r < 0)
		return r;
	if (r == 0) { /* budget spent: what was found, marked incomplete */
		s.st.err_budget = 1;
		finish(&s);
	}
	if (st)
		*st = s.st;
	*n = s.n;
	return 0;
}
