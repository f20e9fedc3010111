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
 * COT_VMI_MAX_BUCKETS.
 */
#include "cotrack/vmi.h"

/* Linux ABI constants (include/linux/socket.h). */
#define AF_INET_  2
#define AF_INET6_ 10

#define SPAN_MAX 1024 /* bytes of sock_common read in one go */

struct walk {
	struct cot_vmi *k;
	struct cot_vmi_sock *out;
	uint32_t cap, n;
	struct cot_vmi_stats *st;
	uint32_t span_lo, span_len; /* sock_common window */
	uint32_t last_net;	    /* index of the last namespace hit */
	uint64_t budget;	    /* chain nodes left to visit */
	uint32_t table_h;	    /* hash of the table being walked */
	uint32_t bucket;	    /* bucket being walked */
};

static int rd64(struct cot_vmi *k, uint64_t va, uint64_t *v)
{
	uint8_t b[8];
	int err = cot_vmi_read_va(k, va, b, 8);

	if (!err)
		*v = cot_get_le64(b);
	return err;
}

static int rd32(struct cot_vmi *k, uint64_t va, uint32_t *v)
{
	uint8_t b[4];
	int err = cot_vmi_read_va(k, va, b, 4);

	if (!err)
		*v = cot_get_le32(b);
	return err;
}

/* Index in k->nets of namespace @net, or -1: binary search. */
static int net_index(struct walk *w, uint64_t net)
{
	struct cot_vmi *k = w->k;
	uint32_t lo = 0, hi = k->nnets;

	if (w->last_net < k->nnets && k->nets[w->last_net].addr == net)
		return (int)w->last_net;
	/* Bound: log2(COT_VMI_MAX_NETS) steps. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint32_t i = k->net_by_addr[mid];

		if (k->nets[i].addr == net) {
			w->last_net = i;
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

/*
 * Read the socket whose chain node is at @node_va (@node bytes into the
 * socket) and list it; *@next gets the node's next pointer.  The node is
 * read in the same copy as the socket's fields when they are close (they
 * are: all in sock_common).  Returns 0, or -1 when the socket could not
 * be read (the chain cannot go on); a socket read but not listable is
 * counted and skipped.
 */
static int emit(struct walk *w, uint64_t node_va, uint32_t node, bool listener,
		uint64_t *next)
{
	struct cot_vmi *k = w->k;
	const struct cot_vmi_profile *p = &k->prof;
	uint64_t sk = node_va - node;
	uint32_t lo = COT_MIN(w->span_lo, node);
	uint32_t hi = COT_MAX(w->span_lo + w->span_len, node + 8);
	uint8_t buf[SPAN_MAX], *b;
	struct cot_vmi_sock s;
	uint16_t family;
	uint64_t net;
	int ni;

	if (hi - lo <= SPAN_MAX) {
		if (cot_vmi_read_va(k, sk + lo, buf, hi - lo))
			return -1;
		*next = cot_get_le64(buf + (node - lo));
	} else {
		lo = w->span_lo;
		if (rd64(k, node_va, next) ||
		    cot_vmi_read_va(k, sk + lo, buf, w->span_len))
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
	if (w->n == w->cap) {
		w->st->truncated++;
		return 0;
	}
	w->out[w->n++] = s;
	return 0;
}

/*
 * Walk one chain starting at bucket head @head_va.  @nulls is the
 * marker that ends this bucket's chain, or UINT64_MAX when unknown.
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
			if (w->budget == 0) {
				w->st->err_budget = 1;
				return;
			}
			w->budget--;
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

/*
 * Walk a table of @nb buckets of @bsz bytes at @tab, chain head at
 * @hoff in each bucket.  The nulls value of bucket i is i + base, base
 * learnt from an empty bucket (ehash: 0; lhash2: LISTENING_NULLS_BASE).
 */
static void walk_table(struct walk *w, uint64_t tab, uint32_t nb, uint32_t bsz,
		       uint32_t hoff, bool listener)
{
	uint8_t buf[4096];
	uint32_t per = (uint32_t)sizeof(buf) / bsz, i = 0, j;
	uint64_t base = UINT64_MAX;

	/* Bound: nb <= COT_VMI_MAX_BUCKETS, checked by the caller. */
	while (i < nb && w->budget) {
		uint32_t cnt = COT_MIN(per, nb - i);

		if (cot_vmi_read_va(w->k, tab + (uint64_t)i * bsz, buf,
				    (size_t)cnt * bsz)) {
			w->st->err_table++;
			return;
		}
		if (w->k->mem.prefetch) {
			/* Start the cache misses of every chain head of this
			 * chunk before walking any of them. */
			for (j = 0; j < cnt; j++) {
				uint64_t first =
					cot_get_le64(buf + j * bsz + hoff);
				uint64_t pa;

				if (first && !(first & 1) &&
				    !cot_vmi_v2p(w->k, first, &pa))
					w->k->mem.prefetch(w->k->mem.ctx, pa);
			}
		}
		for (j = 0; j < cnt; j++) {
			uint64_t first = cot_get_le64(buf + j * bsz + hoff);
			uint64_t b = i + j;

			w->st->buckets++;
			w->bucket = (uint32_t)b;
			if (first & 1) {
				if (base == UINT64_MAX)
					base = (first >> 1) - b;
				continue;
			}
			if (!first)
				continue;
			walk_chain(w, tab + b * bsz + hoff, first,
				   base == UINT64_MAX ? UINT64_MAX
						      : ((base + b) << 1) | 1,
				   listener);
		}
		i += cnt;
	}
}

/* A hash table to walk. */
struct table {
	uint64_t addr;
	uint32_t h;  /* hash of addr: the table's place in the order */
	uint32_t nb; /* buckets */
	bool listener;
};

struct tables {
	struct table t[COT_VMI_MAX_TABLES * 2];
	uint32_t n;
};

static uint32_t addr_hash(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return (uint32_t)a;
}

/* Remember table @addr of @mask + 1 buckets, once. */
static void table_add(struct walk *w, struct tables *ts, uint64_t addr,
		      uint32_t mask, bool listener)
{
	uint32_t i;

	if (!addr)
		return;
	for (i = 0; i < ts->n; i++)
		if (ts->t[i].addr == addr)
			return; /* shared with another namespace */
	/* The masks are size - 1 of power-of-two tables. */
	if (mask >= COT_VMI_MAX_BUCKETS || (mask & (mask + 1)) ||
	    ts->n == COT_ARRAY_SIZE(ts->t)) {
		w->st->err_table++;
		return;
	}
	ts->t[ts->n].addr = addr;
	ts->t[ts->n].h = addr_hash(addr);
	ts->t[ts->n].nb = mask + 1;
	ts->t[ts->n].listener = listener;
	ts->n++;
	if (!listener)
		w->st->tables++;
}

static void add_hashinfo(struct walk *w, struct tables *ts, uint64_t hi)
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
	table_add(w, ts, ehash, emask, false);
	table_add(w, ts, lhash2, lmask, true);
}

/* Order of tables: by (h, addr); at most 128 of them. */
static void tables_sort(struct tables *ts)
{
	uint32_t i, j;

	for (i = 1; i < ts->n; i++)
		for (j = i; j > 0 && (ts->t[j - 1].h > ts->t[j].h ||
				      (ts->t[j - 1].h == ts->t[j].h &&
				       ts->t[j - 1].addr > ts->t[j].addr));
		     j--) {
			struct table t = ts->t[j];

			ts->t[j] = ts->t[j - 1];
			ts->t[j - 1] = t;
		}
}

static void span(struct walk *w)
{
	const struct cot_vmi_profile *p = &w->k->prof;
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
	w->span_lo = lo;
	w->span_len = hi - lo;
}

int cot_vmi_snapshot(struct cot_vmi *k, struct cot_vmi_sock *out, uint32_t cap,
		     uint32_t *n, struct cot_vmi_stats *st)
{
	const struct cot_vmi_profile *p;
	struct cot_vmi_stats dummy;
	struct tables ts;
	struct walk w;
	uint64_t hi, v;
	uint32_t i, j;

	if (!st)
		st = &dummy;
	cot_memset(st, 0, sizeof(*st));
	if (n)
		*n = 0;
	if (!k || !n || (!out && cap) || !k->have_profile)
		return -COT_EINVAL;
	p = &k->prof;
	hi = k->sym[COT_VMI_SYM_TCP_HASHINFO];
	if (!hi)
		return -COT_EINVAL;
	cot_memset(&w, 0, sizeof(w));
	w.k = k;
	w.out = out;
	w.cap = cap;
	w.st = st;
	/* Bound on all chains together, so that a table of forged chains
	 * costs at most a few times what a full table of real ones does. */
	w.budget = 2ull * cap + COT_VMI_STEP_SLACK;
	span(&w);
	if (w.span_len > SPAN_MAX)
		return -COT_EINVAL;
	ts.n = 0;
	/* Mappings may have changed since the last snapshot. */
	for (i = 0; i < 3; i++)
		for (j = 0; j < COT_VMI_TLB_SIZE; j++)
			k->tlb[i][j].vbase = 1;
	if (rd64(k, hi + p->hi_ehash, &v))
		return -COT_EFAULT;
	walk_nets(&w);
	st->nets = k->nnets;
	add_hashinfo(&w, &ts, hi);
	if (p->flags & COT_VMI_PF_PERNET) {
		/* Per-netns ehash (net.ipv4.tcp_child_ehash_entries):
		 * net->ipv4.tcp_death_row(->)hashinfo. */
		for (i = 0; i < k->nnets; i++) {
			uint64_t dr = k->nets[i].addr + p->net_death_row;

			if ((p->flags & COT_VMI_PF_DR_PTR) &&
			    rd64(k, dr, &dr)) {
				st->err_read++;
				continue;
			}
			if (rd64(k, dr + p->dr_hashinfo, &v)) {
				st->err_read++;
				continue;
			}
			if (v && v != hi)
				add_hashinfo(&w, &ts, v);
		}
	}
	/* Walked in the snapshot order, the sockets come out sorted but
	 * for the order inside each bucket. */
	tables_sort(&ts);
	for (i = 0; i < ts.n; i++) {
		const struct table *t = &ts.t[i];

		w.table_h = t->h;
		if (t->listener)
			walk_table(&w, t->addr, t->nb, p->lhash2_bucket_size,
				   p->lhash2_head, true);
		else
			walk_table(&w, t->addr, t->nb, p->ehash_bucket_size,
				   p->ehash_chain, false);
	}
	cot_vmi_sort(out, w.n);
	/* A re-walked chain may have yielded a socket twice. */
	for (i = 0, j = 0; i < w.n; i++)
		if (j == 0 || cot_vmi_sock_cmp(&out[j - 1], &out[i]) != 0)
			out[j++] = out[i];
	*n = j;
	st->sockets = j;
	return 0;
}
