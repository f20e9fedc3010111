// SPDX-License-Identifier: MIT
/*
 * core/flow: the connection table (see include/cotrack/flow.h).
 *
 * Layout in the caller's memory: the table header, a direct-mapped
 * fragment map, an array of buckets, the flow array and the tunnel
 * keys.  A bucket
 * is one cache line of up to BKT_WAYS (hash, slot) pairs, then an
 * overflow chain through flow.hnext: a lookup reads the hashes in the
 * bucket and touches only the flow whose hash is its key's (or none:
 * a new connection costs no flow line), where a chain of slots made it
 * read every flow ahead of its own.  Buckets hold 4 flows on average
 * when the table is full, so the overflow chain is almost always empty
 * (and a way freed takes the chain's head back).  Every flow sits on exactly
 * one LRU list chosen by its timeout class.  Lists are ordered by the time a
 * flow was queued (qts), and a packet only updates flow.last: moving the flow
 * on every packet would write to two other, random flows.  Expiry pops list
 * heads; a head touched since it was queued is queued again at the tail
 * (at most once per pass), so idle expiry costs O(expired + touched), and
 * eviction when full takes the oldest of the cleaned heads.
 *
 * Keys are canonical: the (address, port) pair that compares lower is
 * side 0, so both directions of a connection find one entry.  The hash
 * is keyed with a seed (cot_flow_params.hash_seed) so a guest cannot
 * aim its flows at one bucket without knowing it; chains are bounded by
 * max_flows anyway.
 */
#include "cotrack/flow.h"
#include "hash.h"

#define NIL UINT32_MAX

enum lru_class {
	L_TCP_EST,    /* established TCP: tcp_idle_ns */
	L_TCP_TRANS,  /* handshake or half-closed: tcp_trans_idle_ns */
	L_TCP_CLOSED, /* FIN both ways or RST: tcp_close_linger_ns */
	L_UDP,
	L_OTHER,
	L__COUNT,
	L_FREE = 0xff,
};

#define F_INIT_B 0x01 /* initiator is canonical side 1 */
#define F_FIN_0	 0x02 /* FIN seen from side 0 */
#define F_FIN_1	 0x04
#define F_RST	 0x08

struct flow {
	uint32_t hnext;	     /* next slot in the bucket chain */
	uint32_t prev, next; /* LRU list links */
	uint32_t hash;
	uint32_t gen;  /* bumped when the slot is reused */
	uint8_t lru;   /* enum lru_class or L_FREE */
	uint8_t state; /* enum cot_tcp_state */
	uint8_t fl;    /* F_* */
	uint8_t ipproto;
	uint8_t tflags[2]; /* TCP flags OR'ed, per canonical side */
	uint16_t port[2];
	/* Tunnel the connection came in (COT_TUN_NONE: none): part of the
	 * key, the rest of it in cot_flowtab.tunk[slot], read only when
	 * this is set, so untunneled lookups touch nothing more. */
	uint8_t tun_type;
	struct cot_addr addr[2];
	uint64_t first, last;
	uint64_t qts; /* when queued on its LRU list */
	uint64_t pkts[2], bytes[2];
	uint32_t inner; /* inner connections first seen in this one */
};

/* flows[] starts on a cache line; a flow is two of them. */
#define FLOW_ALIGN 64
_Static_assert(sizeof(struct flow) == 2 * FLOW_ALIGN,
	       "a flow is two cache lines");

/* The tunnel part of a key, oriented like the flow's sides: a[k] is
 * the outer address of canonical side k. */
struct tkey {
	uint8_t type; /* COT_TUN_NONE: no tunnel, the rest unused */
	uint32_t id;
	struct cot_addr a[2];
};

struct frag {
	struct cot_addr src, dst;
	uint32_t id;
	uint32_t slot;
	uint32_t gen;
	uint8_t ipproto;
	uint8_t used;
};

struct lru {
	uint32_t head, tail;
};

/* One cache line: the ways' hashes, the overflow chain, their slots. */
#define BKT_WAYS 7
struct bucket {
	uint32_t hash[BKT_WAYS]; /* the flow's full hash, valid with slot */
	uint32_t over;		 /* overflow chain (flow.hnext), NIL: none */
	uint32_t slot[BKT_WAYS]; /* NIL: way empty */
	uint32_t pad;
};
_Static_assert(sizeof(struct bucket) == FLOW_ALIGN, "a bucket is a line");

/* Flows per bucket at most, on average, when the table is full. */
#define BKT_FLOWS 4

struct cot_flowtab {
	struct cot_flow_params p;
	uint64_t timeout[L__COUNT];
	uint32_t nbuckets;    /* power of two */
	uint32_t nfrags;      /* power of two */
	uint32_t free_head;   /* freed slots, linked through next */
	uint32_t used;	      /* slots below it have been laid out */
	uint32_t scan_cursor; /* active-timeout scan position */
	struct bucket *buckets;
	struct flow *flows;
	struct tkey *tunk; /* per slot, valid when flows[slot].tun_type */
	struct frag *frags;
	struct lru lru[L__COUNT];
	struct cot_flow_stats st;
	char vm[COT_VM_NAMELEN];
	/* The record emit() gives the callback: zeroed once at init, then
	 * only the fields a flow sets are written (set_rec), every one of
	 * them each time, so it reads as a zeroed record filled in; the
	 * rest (owners, names: 1 KiB of the 1.3) stays zero, where
	 * clearing all of it per record was 3% of cotrack replay's
	 * instructions. */
	struct cot_rec rec;
};

void cot_flow_params_default(struct cot_flow_params *p)
{
	cot_memset(p, 0, sizeof(*p));
	p->max_flows = 65536;
	p->max_frags = 1024;
	p->tcp_idle_ns = 300ULL * 1000000000ULL;
	p->tcp_trans_idle_ns = 30ULL * 1000000000ULL;
	p->tcp_close_linger_ns = 2ULL * 1000000000ULL;
	p->udp_idle_ns = 60ULL * 1000000000ULL;
	p->other_idle_ns = 30ULL * 1000000000ULL;
	p->hash_seed = 0x9e3779b97f4a7c15ULL;
}

/* Bound so that every size computation below fits in 64 bits easily. */
#define MAX_FLOWS (1U << 26)
#define MAX_FRAGS (1U << 20)

static uint32_t nbuckets_for(uint32_t max_flows)
{
	uint32_t n = cot_pow2_at_least(max_flows) / BKT_FLOWS;

	return n ? n : 1;
}

size_t cot_flowtab_memsize(const struct cot_flow_params *p)
{
	uint64_t n;

	if (!p || p->max_flows == 0 || p->max_flows > MAX_FLOWS ||
	    p->max_frags > MAX_FRAGS)
		return 0;
	n = cot_align8(sizeof(struct cot_flowtab));
	/* Up to FLOW_ALIGN - 8 bytes to put buckets[] (and so flows[])
	 * on a cache line. */
	n += FLOW_ALIGN - 8;
	n += (uint64_t)nbuckets_for(p->max_flows) * sizeof(struct bucket);
	n += cot_align8((uint64_t)p->max_flows * sizeof(struct flow));
	n += cot_align8((uint64_t)p->max_flows * sizeof(struct tkey));
	n += cot_align8(
		(uint64_t)cot_pow2_at_least(p->max_frags ? p->max_frags : 1) *
		sizeof(struct frag));
	if (n > (uint64_t)SIZE_MAX)
		return 0;
	return (size_t)n;
}

int cot_flowtab_init(struct cot_flowtab **out, void *mem, size_t len,
		     const struct cot_flow_params *p)
{
	size_t need = cot_flowtab_memsize(p);
	struct cot_flowtab *t = mem;
	uint8_t *cur = mem;
	uint32_t i;

	if (out)
		*out = NULL;
	if (!out || !mem || need == 0 || ((uintptr_t)mem & 7))
		return -COT_EINVAL;
	if (len < need)
		return -COT_ENOSPC;
	cot_memset(t, 0, sizeof(*t));
	t->p = *p;
	t->p.vm = NULL; /* copied below; the caller's string may go away */
	if (p->vm) {
		for (i = 0; i < COT_VM_NAMELEN - 1 && p->vm[i]; i++)
			t->vm[i] = p->vm[i];
	}
	cot_memcpy(t->rec.vm, t->vm, sizeof(t->rec.vm));
	t->timeout[L_TCP_EST] = p->tcp_idle_ns;
	t->timeout[L_TCP_TRANS] = p->tcp_trans_idle_ns;
	t->timeout[L_TCP_CLOSED] = p->tcp_close_linger_ns;
	t->timeout[L_UDP] = p->udp_idle_ns;
	t->timeout[L_OTHER] = p->other_idle_ns;
	t->nbuckets = nbuckets_for(p->max_flows);
	t->nfrags = cot_pow2_at_least(p->max_frags ? p->max_frags : 1);
	cur += cot_align8(sizeof(*t));
	/* The fragment map (cleared below) next to the header, not after
	 * the flows: a table larger than its traffic then leaves the memory
	 * past its last used flow untouched (on huge pages, the last 2 MiB
	 * page is not cleared by the kernel for it). */
	t->frags = (struct frag *)(void *)cur;
	cur += cot_align8((size_t)t->nfrags * sizeof(struct frag));
	/* A bucket on one cache line, and a flow (128 bytes) on two, not
	 * three: the lookup's compare and the update then miss twice, and
	 * the batch's two prefetches (first and last byte) cover all of
	 * it.  buckets[] is a whole number of lines, so flows[] follows on
	 * a line too. */
	cur += (FLOW_ALIGN - ((uintptr_t)cur & (FLOW_ALIGN - 1))) &
	       (FLOW_ALIGN - 1);
	t->buckets = (struct bucket *)(void *)cur;
	cur += (size_t)t->nbuckets * sizeof(struct bucket);
	t->flows = (struct flow *)(void *)cur;
	cur += cot_align8((size_t)p->max_flows * sizeof(struct flow));
	t->tunk = (struct tkey *)(void *)cur;
	/* Every way's slot and every overflow chain NIL (all ones). */
	cot_memset(t->buckets, 0xff,
		   (size_t)t->nbuckets * sizeof(struct bucket));
	/* Slots from t->used up are free without being on the free list,
	 * and are laid out when first taken (flow_alloc): a table larger
	 * than its traffic never touches the rest of its memory (nor of
	 * tunk[], read only for a flow with a tunnel). */
	cot_memset(t->frags, 0, (size_t)t->nfrags * sizeof(struct frag));
	t->free_head = NIL;
	t->used = 0;
	for (i = 0; i < L__COUNT; i++)
		t->lru[i].head = t->lru[i].tail = NIL;
	*out = t;
	return 0;
}

/* ---- hashing ---------------------------------------------------------- */

static uint32_t key_hash(const struct cot_flowtab *t, uint8_t proto,
			 const struct cot_addr *a0, uint16_t p0,
			 const struct cot_addr *a1, uint16_t p1,
			 const struct tkey *tk)
{
	uint32_t h = cot_hash_tuple(t->p.hash_seed, proto, a0, p0, a1, p1);
	uint64_t x;

	if (!tk || tk->type == COT_TUN_NONE)
		return h;
	/* Same inner 5-tuple, another tunnel: another bucket. */
	x = cot_hash_mix(t->p.hash_seed ^ h, (uint64_t)tk->id << 8 | tk->type);
	x = cot_hash_mix(x, cot_rd64(tk->a[0].b) ^ cot_rd64(tk->a[0].b + 8));
	x = cot_hash_mix(x, cot_rd64(tk->a[1].b) ^ cot_rd64(tk->a[1].b + 8));
	x ^= x >> 29;
	return (uint32_t)x;
}

static inline bool tkey_eq(const struct cot_flowtab *t, uint32_t s,
			   const struct tkey *tk)
{
	const struct tkey *k = &t->tunk[s];

	if (!tk || tk->type == COT_TUN_NONE)
		return t->flows[s].tun_type == COT_TUN_NONE;
	return t->flows[s].tun_type == tk->type && k->id == tk->id &&
	       cot_addr_eq(&k->a[0], &tk->a[0]) &&
	       cot_addr_eq(&k->a[1], &tk->a[1]);
}

/* Order (a, ap) and (b, bp); returns 1 if (a, ap) is the higher side. */
static inline int side_of(const struct cot_addr *a, uint16_t ap,
			  const struct cot_addr *b, uint16_t bp)
{
	/* memcmp order, without a call: big-endian words compare as the
	 * bytes do. */
	uint64_t a0 = __builtin_bswap64(cot_rd64(a->b));
	uint64_t b0 = __builtin_bswap64(cot_rd64(b->b));
	uint64_t a1 = __builtin_bswap64(cot_rd64(a->b + 8));
	uint64_t b1 = __builtin_bswap64(cot_rd64(b->b + 8));

	if (a0 != b0)
		return a0 > b0;
	if (a1 != b1)
		return a1 > b1;
	return ap > bp;
}

/* ---- buckets ---------------------------------------------------------- */

static inline struct bucket *bucket_of(const struct cot_flowtab *t, uint32_t h)
{
	return &t->buckets[h & (t->nbuckets - 1)];
}

/* File slot @s (hash @h) in its bucket: a free way, else the chain. */
static void bucket_add(struct cot_flowtab *t, uint32_t s, uint32_t h)
{
	struct bucket *b = bucket_of(t, h);
	int i;

	for (i = 0; i < BKT_WAYS; i++) {
		if (b->slot[i] == NIL) {
			b->hash[i] = h;
			b->slot[i] = s;
			return;
		}
	}
	t->flows[s].hnext = b->over;
	b->over = s;
}

/*
 * Take slot @s out of its bucket.  A way freed takes the overflow
 * chain's head, so the chain stays empty while the ways have room.
 */
static void bucket_del(struct cot_flowtab *t, uint32_t s)
{
	const struct flow *f = &t->flows[s];
	struct bucket *b = bucket_of(t, f->hash);
	uint32_t *pp, guard;
	int i;

	for (i = 0; i < BKT_WAYS; i++) {
		if (b->slot[i] == s) {
			uint32_t o = b->over;

			b->slot[i] = o;
			if (o != NIL) {
				b->hash[i] = t->flows[o].hash;
				b->over = t->flows[o].hnext;
			}
			return;
		}
	}
	/* The chain holds at most max_flows entries. */
	pp = &b->over;
	for (guard = 0; *pp != NIL && guard < t->p.max_flows; guard++) {
		if (*pp == s) {
			*pp = f->hnext;
			return;
		}
		pp = &t->flows[*pp].hnext;
	}
}

/* ---- LRU lists -------------------------------------------------------- */

static void lru_unlink(struct cot_flowtab *t, uint32_t s)
{
	struct flow *f = &t->flows[s];
	struct lru *l = &t->lru[f->lru];

	if (f->prev != NIL)
		t->flows[f->prev].next = f->next;
	else
		l->head = f->next;
	if (f->next != NIL)
		t->flows[f->next].prev = f->prev;
	else
		l->tail = f->prev;
	f->prev = f->next = NIL;
}

static void lru_append(struct cot_flowtab *t, uint32_t s, uint8_t cls)
{
	struct flow *f = &t->flows[s];
	struct lru *l = &t->lru[cls];

	f->lru = cls;
	f->next = NIL;
	f->prev = l->tail;
	if (l->tail != NIL)
		t->flows[l->tail].next = s;
	else
		l->head = s;
	l->tail = s;
}

/* Requeue on a class change only; same-class touches are lazy. */
static inline void lru_touch(struct cot_flowtab *t, uint32_t s, uint8_t cls)
{
	struct flow *f = &t->flows[s];

	if (f->lru == cls)
		return;
	lru_unlink(t, s);
	f->qts = f->last;
	lru_append(t, s, cls);
}

/*
 * Requeue the heads of list @c touched since they were queued, so the
 * head is the least recently seen flow of its class.  Each flow moves at
 * most once per call (afterwards qts == last), so the loop is bounded by
 * the list length, itself bounded by max_flows.
 */
static void lru_clean_head(struct cot_flowtab *t, int c)
{
	uint32_t guard;

	for (guard = 0; guard < t->p.max_flows; guard++) {
		uint32_t s = t->lru[c].head;
		struct flow *f;

		if (s == NIL)
			return;
		f = &t->flows[s];
		if (f->qts == f->last)
			return;
		lru_unlink(t, s);
		f->qts = f->last;
		lru_append(t, s, (uint8_t)c);
	}
}

/* ---- records ---------------------------------------------------------- */

static uint8_t proto_of(uint8_t ipproto)
{
	switch (ipproto) {
	case 6:
		return COT_PROTO_TCP;
	case 17:
		return COT_PROTO_UDP;
	case 1:
		return COT_PROTO_ICMP;
	case 58:
		return COT_PROTO_ICMP6;
	}
	return COT_PROTO_OTHER;
}

/*
 * Every field of @r a flow's record has, from @f; the others (seq, flags,
 * netns, owners, names) as @r had them.
 */
static void set_rec(const struct cot_flowtab *t, const struct flow *f,
		    struct cot_rec *r)
{
	int i = (f->fl & F_INIT_B) ? 1 : 0; /* initiator side */
	int j = !i;

	r->proto = proto_of(f->ipproto);
	r->ipproto = f->ipproto;
	r->tcp_state = f->state;
	r->end = COT_END_OPEN;
	r->seen_by = COT_SEEN_NIC;
	r->src = f->addr[i];
	r->dst = f->addr[j];
	r->sport = f->port[i];
	r->dport = f->port[j];
	r->first_ns = f->first;
	r->last_ns = f->last;
	r->pkts_fwd = f->pkts[i];
	r->bytes_fwd = f->bytes[i];
	r->pkts_rev = f->pkts[j];
	r->bytes_rev = f->bytes[j];
	r->tcp_flags_fwd = f->tflags[i];
	r->tcp_flags_rev = f->tflags[j];
	r->tun_type = f->tun_type;
	if (f->tun_type != COT_TUN_NONE) {
		const struct tkey *k = &t->tunk[f - t->flows];

		r->tun_id = k->id;
		r->tun_src = k->a[i];
		r->tun_dst = k->a[j];
	} else {
		r->tun_id = 0;
		cot_memset(&r->tun_src, 0, sizeof(r->tun_src));
		cot_memset(&r->tun_dst, 0, sizeof(r->tun_dst));
	}
	r->inner_conns = f->inner;
}

static void fill_rec(const struct cot_flowtab *t, const struct flow *f,
		     struct cot_rec *r)
{
	cot_memset(r, 0, sizeof(*r));
	cot_memcpy(r->vm, t->vm, sizeof(r->vm));
	set_rec(t, f, r);
}

static void emit(struct cot_flowtab *t, enum cot_flow_event ev, uint32_t s,
		 uint8_t end)
{
	if (!t->p.cb)
		return;
	set_rec(t, &t->flows[s], &t->rec);
	t->rec.end = end;
	t->p.cb(t->p.cb_ctx, ev, &t->rec, s);
}

/* End flow @s with @end: emit its record and return the slot. */
static void flow_end(struct cot_flowtab *t, uint32_t s, uint8_t end)
{
	struct flow *f = &t->flows[s];

	/* The bucket and the list neighbours are written below: start
	 * loading them now, so that their misses overlap each other and
	 * the record's callback. */
	__builtin_prefetch(bucket_of(t, f->hash), 1);
	if (f->next != NIL)
		__builtin_prefetch(&t->flows[f->next], 1);
	if (f->prev != NIL)
		__builtin_prefetch(&t->flows[f->prev], 1);
	emit(t, COT_FLOW_ENDED, s, end);
	t->st.ended++;
	t->st.ended_by[end < COT_END__COUNT ? end : 0]++;
	t->st.active--;
	bucket_del(t, s);
	lru_unlink(t, s);
	f->lru = L_FREE;
	f->gen++;
	f->next = t->free_head;
	t->free_head = s;
}

/* The longest-idle flow: the oldest of the list heads. */
static uint32_t oldest_flow(struct cot_flowtab *t)
{
	uint32_t best = NIL;
	int c;

	for (c = 0; c < L__COUNT; c++) {
		uint32_t h;

		lru_clean_head(t, c);
		h = t->lru[c].head;
		if (h != NIL &&
		    (best == NIL || t->flows[h].last < t->flows[best].last))
			best = h;
	}
	return best;
}

static uint32_t flow_alloc(struct cot_flowtab *t)
{
	uint32_t s;

	if (t->free_head == NIL && t->used < t->p.max_flows) {
		/* Freed slots first, then the never used ones in order:
		 * the order a free list of every slot would give. */
		struct flow *f = &t->flows[t->used];

		cot_memset(f, 0, sizeof(*f));
		f->lru = L_FREE;
		f->next = NIL;
		t->free_head = t->used++;
	}
	if (t->free_head == NIL) {
		uint32_t victim = oldest_flow(t);

		if (victim == NIL)
			return NIL;
		t->st.evicted++;
		flow_end(t, victim, COT_END_SHUTDOWN);
	}
	s = t->free_head;
	t->free_head = t->flows[s].next;
	/* The next flow opened will be written there. */
	__builtin_prefetch(
		&t->flows[t->free_head != NIL ? t->free_head : t->used], 1);
	return s;
}

static __attribute__((always_inline)) inline uint8_t
class_of(const struct flow *f)
{
	switch (f->ipproto) {
	case 6:
		if (f->fl & F_RST)
			return L_TCP_CLOSED;
		if ((f->fl & (F_FIN_0 | F_FIN_1)) == (F_FIN_0 | F_FIN_1))
			return L_TCP_CLOSED;
		if (f->state == COT_TCP_ESTABLISHED ||
		    f->state == COT_TCP_MIDSTREAM)
			return L_TCP_EST;
		return L_TCP_TRANS;
	case 17:
		return L_UDP;
	}
	return L_OTHER;
}

/* ---- TCP state -------------------------------------------------------- */

static __attribute__((always_inline)) inline void
tcp_update(struct flow *f, int side, uint8_t flags)
{
	int init = (f->fl & F_INIT_B) ? 1 : 0;

	if (flags & COT_TCP_RST) {
		f->fl |= F_RST;
		f->state = COT_TCP_CLOSED;
		return;
	}
	if (flags & COT_TCP_FIN)
		f->fl |= side ? F_FIN_1 : F_FIN_0;
	if ((f->fl & (F_FIN_0 | F_FIN_1)) == (F_FIN_0 | F_FIN_1)) {
		f->state = COT_TCP_CLOSING;
		/* The ACK of the second FIN completes the close. */
		if ((flags & COT_TCP_ACK) && !(flags & COT_TCP_FIN))
			f->state = COT_TCP_CLOSED;
		return;
	}
	if (f->fl & (F_FIN_0 | F_FIN_1)) {
		f->state = COT_TCP_FIN_WAIT;
		return;
	}
	switch (f->state) {
	case COT_TCP_SYN_SENT:
		if (side != init && (flags & (COT_TCP_SYN | COT_TCP_ACK)) ==
					    (COT_TCP_SYN | COT_TCP_ACK))
			f->state = COT_TCP_SYN_RECV;
		break;
	case COT_TCP_SYN_RECV:
		if (side == init && (flags & COT_TCP_ACK) &&
		    !(flags & COT_TCP_SYN))
			f->state = COT_TCP_ESTABLISHED;
		break;
	default:
		break;
	}
}

/* ---- fragments -------------------------------------------------------- */

static uint32_t frag_index(const struct cot_flowtab *t, const struct cot_pkt *p)
{
	uint64_t h = t->p.hash_seed ^ 0x5bd1e995ULL;

	h = cot_hash_mix(h, cot_rd64(p->src.b + 8));
	h = cot_hash_mix(h, cot_rd64(p->dst.b + 8));
	h = cot_hash_mix(h, (uint64_t)p->frag_id << 8 | p->ipproto);
	return (uint32_t)h & (t->nfrags - 1);
}

static bool frag_match(const struct frag *e, const struct cot_pkt *p)
{
	return e->used && e->id == p->frag_id && e->ipproto == p->ipproto &&
	       cot_memcmp(e->src.b, p->src.b, 16) == 0 &&
	       cot_memcmp(e->dst.b, p->dst.b, 16) == 0;
}

/* ---- update ----------------------------------------------------------- */

static __attribute__((always_inline)) inline void
account(struct cot_flowtab *t, uint32_t s, int side, const struct cot_pkt *p,
	uint64_t now, bool frame)
{
	struct flow *f = &t->flows[s];

	if (f->first == 0 && f->pkts[0] == 0 && f->pkts[1] == 0)
		f->first = now;
	f->last = now;
	if (p->fl & COT_PKT_F_GSO) {
		/* A super-frame: the segments the wire carries. */
		f->pkts[side] += p->segs;
		f->bytes[side] += p->wire_bytes;
	} else {
		f->pkts[side]++;
		f->bytes[side] += p->ip_len;
	}
	if (frame)
		t->st.tracked++;
}

static inline bool key_eq(const struct cot_flowtab *t, uint32_t s,
			  uint8_t proto, const struct cot_addr *a0, uint16_t p0,
			  const struct cot_addr *a1, uint16_t p1,
			  const struct tkey *tk)
{
	const struct flow *f = &t->flows[s];

	return f->ipproto == proto && f->port[0] == p0 && f->port[1] == p1 &&
	       cot_addr_eq(&f->addr[0], a0) && cot_addr_eq(&f->addr[1], a1) &&
	       tkey_eq(t, s, tk);
}

static __attribute__((always_inline)) inline int
lookup(const struct cot_flowtab *t, uint32_t h, uint8_t proto,
       const struct cot_addr *a0, uint16_t p0, const struct cot_addr *a1,
       uint16_t p1, const struct tkey *tk)
{
	const struct bucket *b = bucket_of(t, h);
	uint32_t s, guard;
	int i;

	/* Only a way whose hash is the key's costs a flow line. */
	for (i = 0; i < BKT_WAYS; i++) {
		s = b->slot[i];
		if (b->hash[i] == h && s != NIL &&
		    key_eq(t, s, proto, a0, p0, a1, p1, tk))
			return (int)s;
	}
	/* The overflow chain never holds more than max_flows entries. */
	s = b->over;
	for (guard = 0; s != NIL && guard < t->p.max_flows; guard++) {
		const struct flow *f = &t->flows[s];

		if (f->hash == h && key_eq(t, s, proto, a0, p0, a1, p1, tk))
			return (int)s;
		s = f->hnext;
	}
	return -COT_ENOENT;
}

/* A non-first fragment: no ports, found by its first fragment's flow. */
static inline bool nonfirst_frag(const struct cot_pkt *p)
{
	return (p->fl & COT_PKT_F_FRAG) && !(p->fl & COT_PKT_F_L4);
}

/*
 * The canonical side of @p's sender, and the hash of its key (with @tun
 * the tunnel it came in: @tk filled, *@tkp set to it).
 */
static __attribute__((always_inline)) inline uint32_t
view_hash(const struct cot_flowtab *t, const struct cot_pkt *p,
	  const struct cot_pkt_tun *tun, int *side, struct tkey *tk,
	  struct tkey **tkp)
{
	*side = side_of(&p->src, p->sport, &p->dst, p->dport);
	*tkp = NULL;
	if (tun && tun->type != COT_TUN_NONE) {
		tk->type = tun->type;
		tk->id = tun->id;
		tk->a[*side] = tun->src;
		tk->a[!*side] = tun->dst;
		*tkp = tk;
	}
	if (*side == 0)
		return key_hash(t, p->ipproto, &p->src, p->sport, &p->dst,
				p->dport, *tkp);
	return key_hash(t, p->ipproto, &p->dst, p->dport, &p->src, p->sport,
			*tkp);
}

/*
 * update_one() with @side, @h and @tkp from view_hash() (unless @p is
 * a non-first fragment: then they are not used).
 */
static __attribute__((always_inline)) inline int
update_at(struct cot_flowtab *t, const struct cot_pkt *p,
	  const struct tkey *tkp, uint64_t now, bool frame, bool *created,
	  int side, uint32_t h)
{
	const struct cot_addr *a0, *a1;
	uint16_t p0, p1;
	int sl;
	uint32_t s;
	struct flow *f;

	if (nonfirst_frag(p)) {
		/* Non-first fragment: find the flow its first fragment hit. */
		struct frag *e = &t->frags[frag_index(t, p)];

		if (!frag_match(e, p) || t->flows[e->slot].gen != e->gen ||
		    t->flows[e->slot].lru == L_FREE) {
			t->st.frag_orphan++;
			return -COT_ENOENT;
		}
		s = e->slot;
		f = &t->flows[s];
		side = cot_memcmp(f->addr[0].b, p->src.b, 16) == 0 ? 0 : 1;
		account(t, s, side, p, now, frame);
		lru_touch(t, s, class_of(f));
		return (int)s;
	}

	if (side == 0) {
		a0 = &p->src, p0 = p->sport, a1 = &p->dst, p1 = p->dport;
	} else {
		a0 = &p->dst, p0 = p->dport, a1 = &p->src, p1 = p->sport;
	}
	sl = lookup(t, h, p->ipproto, a0, p0, a1, p1, tkp);

	/* A new SYN on a closing connection's tuple is a new connection. */
	if (sl >= 0 && p->ipproto == 6 &&
	    (p->tcp_flags & (COT_TCP_SYN | COT_TCP_ACK)) == COT_TCP_SYN &&
	    t->flows[sl].lru == L_TCP_CLOSED) {
		flow_end(t, (uint32_t)sl,
			 (t->flows[sl].fl & F_RST) ? COT_END_RST : COT_END_FIN);
		sl = -COT_ENOENT;
	}

	if (sl < 0) {
		s = flow_alloc(t);
		if (s == NIL)
			return -COT_ENOENT; /* max_flows >= 1: cannot happen */
		f = &t->flows[s];
		f->hash = h;
		f->ipproto = p->ipproto;
		f->addr[0] = *a0;
		f->addr[1] = *a1;
		f->port[0] = p0;
		f->port[1] = p1;
		f->fl = 0;
		f->tflags[0] = f->tflags[1] = 0;
		f->pkts[0] = f->pkts[1] = f->bytes[0] = f->bytes[1] = 0;
		f->first = now;
		f->last = now;
		f->qts = now;
		f->state = COT_TCP_NONE;
		f->inner = 0;
		f->tun_type = tkp ? tkp->type : COT_TUN_NONE;
		if (tkp)
			t->tunk[s] = *tkp;
		*created = true;
		/* Initiator: the SYN sender; otherwise the first sender. */
		if (p->ipproto == 6) {
			uint8_t sa = p->tcp_flags & (COT_TCP_SYN | COT_TCP_ACK);

			if (sa == COT_TCP_SYN) {
				f->state = COT_TCP_SYN_SENT;
				if (side)
					f->fl |= F_INIT_B;
			} else if (sa == (COT_TCP_SYN | COT_TCP_ACK)) {
				f->state = COT_TCP_SYN_RECV;
				if (!side)
					f->fl |= F_INIT_B;
			} else {
				f->state = COT_TCP_MIDSTREAM;
				if (side)
					f->fl |= F_INIT_B;
			}
		} else if (side) {
			f->fl |= F_INIT_B;
		}
		bucket_add(t, s, h);
		f->lru = L_OTHER;
		lru_append(t, s, class_of(f));
		t->st.active++;
		if (t->st.active > t->st.active_max)
			t->st.active_max = t->st.active;
		t->st.opened++;
		account(t, s, side, p, now, frame);
		if (p->ipproto == 6)
			f->tflags[side] |= p->tcp_flags | p->tcp_flags_first;
		/* A super-frame: its first segment opened the flow, the
		 * others (the middle ones with the first's flags) follow. */
		if (p->ipproto == 6 && (p->fl & COT_PKT_F_GSO)) {
			tcp_update(f, side, p->tcp_flags_first);
			tcp_update(f, side, p->tcp_flags);
			lru_touch(t, s, class_of(f));
		}
		emit(t, COT_FLOW_OPENED, s, COT_END_OPEN);
	} else {
		s = (uint32_t)sl;
		f = &t->flows[s];
		account(t, s, side, p, now, frame);
		if (p->ipproto == 6) {
			f->tflags[side] |= p->tcp_flags | p->tcp_flags_first;
			/* A super-frame's segments in order: all but the
			 * last carry the first's flags (as far as the state
			 * goes: CWR does not matter to it). */
			if (p->fl & COT_PKT_F_GSO)
				tcp_update(f, side, p->tcp_flags_first);
			tcp_update(f, side, p->tcp_flags);
		}
		lru_touch(t, s, class_of(f));
	}

	if ((p->fl & (COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG)) ==
	    (COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG)) {
		struct frag *e = &t->frags[frag_index(t, p)];

		e->src = p->src;
		e->dst = p->dst;
		e->id = p->frag_id;
		e->ipproto = p->ipproto;
		e->slot = s;
		e->gen = f->gen;
		e->used = 1;
	}
	return (int)s;
}

/*
 * Account the OK view @p to its flow, @tun the tunnel it came in (NULL:
 * none), @frame false for the outer packets of a tunneled frame (they
 * are not counted as frames again).  *@created says a flow was opened.
 */
static __attribute__((always_inline)) inline int
update_one(struct cot_flowtab *t, const struct cot_pkt *p,
	   const struct cot_pkt_tun *tun, uint64_t now, bool frame,
	   bool *created)
{
	struct tkey tk, *tkp = NULL;
	uint32_t h = 0;
	int side = 0;

	if (!nonfirst_frag(p))
		h = view_hash(t, p, tun, &side, &tk, &tkp);
	return update_at(t, p, tkp, now, frame, created, side, h);
}

/* The outer packet @tun as a view of its own. */
static void outer_view(struct cot_pkt *v, const struct cot_pkt_tun *tun)
{
	cot_memset(v, 0, offsetof(struct cot_pkt, tun));
	v->ipver = tun->ipver;
	v->ipproto = tun->ipproto;
	v->fl = tun->fl &
		(COT_PKT_F_L4 | COT_PKT_F_IP_OPTS | COT_PKT_F_SNAPLEN);
	v->sport = tun->sport;
	v->dport = tun->dport;
	v->ip_len = tun->ip_len;
	v->src = tun->src;
	v->dst = tun->dst;
}

/*
 * A tunneled frame (or one whose tunnel was not decapsulated): each outer
 * packet is a flow of its own (keyed by the tunnel it came in, if any),
 * then the innermost one.  Bound: ntun <= COT_PKT_MAX_TUN.  A flow
 * opened inside one that is still there is counted as one of its inner
 * connections.  Out of line: the untunneled path stays as it was.
 */
static __attribute__((noinline)) int
update_tunneled(struct cot_flowtab *t, const struct cot_pkt *p, uint64_t now)
{
	uint32_t k, oslot = NIL, ogen = 0;
	bool created = false;
	int sl = -COT_ENOENT;

	if (p->inner_reason && p->inner_reason < COT_PKT__COUNT)
		t->st.inner_dropped[p->inner_reason]++;
	if (p->ntun == 0)
		return update_one(t, p, NULL, now, true, &created);
	t->st.tunneled++;
	for (k = 0; k <= p->ntun && k <= COT_PKT_MAX_TUN; k++) {
		const struct cot_pkt_tun *in = k ? &p->tun[k - 1] : NULL;
		struct cot_pkt v;

		created = false;
		if (k < p->ntun) {
			outer_view(&v, &p->tun[k]);
			sl = update_one(t, &v, in, now, false, &created);
		} else {
			sl = update_one(t, p, in, now, true, &created);
		}
		if (created && oslot != NIL && t->flows[oslot].gen == ogen &&
		    t->flows[oslot].lru != L_FREE &&
		    t->flows[oslot].inner != UINT32_MAX)
			t->flows[oslot].inner++;
		if (sl < 0)
			return sl;
		oslot = (uint32_t)sl;
		ogen = t->flows[oslot].gen;
	}
	return sl;
}

/* Hashed ahead (by the batch): an OK, untunneled frame with ports. */
static inline bool keyed(const struct cot_pkt *p)
{
	return p->reason == COT_PKT_OK && !p->ntun && !p->inner_reason &&
	       !nonfirst_frag(p);
}

/*
 * cot_flowtab_update() with @side and @h from view_hash() when
 * keyed(@p) (otherwise unused).
 */
static __attribute__((always_inline)) inline int
update_keyed(struct cot_flowtab *t, const struct cot_pkt *p, uint64_t now,
	     int side, uint32_t h)
{
	bool created;

	t->st.pkts++;
	if (p->reason != COT_PKT_OK) {
		if (p->reason == COT_PKT_NOT_IP)
			t->st.not_ip++;
		else if (p->reason < COT_PKT__COUNT)
			t->st.dropped[p->reason]++;
		return -COT_ENOENT;
	}
	if (p->ntun || p->inner_reason)
		return update_tunneled(t, p, now);
	return update_at(t, p, NULL, now, true, &created, side, h);
}

/* The canonical side of untunneled @p's sender and the hash of its key. */
static inline uint32_t pkt_hash(const struct cot_flowtab *t,
				const struct cot_pkt *p, int *side)
{
	struct tkey tk, *tkp;

	return view_hash(t, p, NULL, side, &tk, &tkp);
}

int cot_flowtab_update(struct cot_flowtab *t, const struct cot_pkt *p,
		       uint64_t now)
{
	uint32_t h = 0;
	int side = 0;

	if (keyed(p))
		h = pkt_hash(t, p, &side);
	return update_keyed(t, p, now, side, h);
}

/*
 * A batch as a three-stage software pipeline: frame i + 2 * LAG is
 * hashed and its bucket prefetched; frame i + LAG's bucket is read (by
 * now in cache) and the flow whose hash is its key's prefetched (none
 * for a new connection; the overflow chain's head when no way matches
 * and there is a chain); frame i is updated.  Each update does its own
 * full lookup on the table as the updates before it left it (a flow
 * opened, ended or evicted earlier in the batch is seen); the hashes
 * and prefetches only read the table, so the results are those of one
 * update after the other.
 */
#define LAG 8

static void prefetch_flow(const struct cot_flowtab *t, uint32_t s)
{
	const uint8_t *f = (const uint8_t *)&t->flows[s];

	__builtin_prefetch(f);
	__builtin_prefetch(f + sizeof(struct flow) - 1);
}

/* Prefetch the flow @h's bucket names for it, if any. */
static inline void prefetch_match(const struct cot_flowtab *t, uint32_t h)
{
	const struct bucket *b = bucket_of(t, h);
	int i;

	for (i = 0; i < BKT_WAYS; i++) {
		if (b->hash[i] == h && b->slot[i] != NIL) {
			prefetch_flow(t, b->slot[i]);
			return;
		}
	}
	if (b->over != NIL)
		prefetch_flow(t, b->over);
}

static uint32_t update_batch(struct cot_flowtab *t, const struct cot_pkt *pkts,
			     const uint64_t *now, uint32_t n, int32_t *slots)
{
	uint32_t h[COT_FLOW_BATCH], i, got = 0;
	int8_t side[COT_FLOW_BATCH];
	bool kd[COT_FLOW_BATCH];

	/* Bound: n <= COT_FLOW_BATCH, each stage once per frame. */
	for (i = 0; i < n + 2 * LAG; i++) {
		uint32_t k;

		if (i < n) {
			int sd = 0;

			h[i] = 0;
			kd[i] = keyed(&pkts[i]);
			if (kd[i]) {
				h[i] = pkt_hash(t, &pkts[i], &sd);
				__builtin_prefetch(bucket_of(t, h[i]));
			}
			side[i] = (int8_t)sd;
		}
		k = i - LAG;
		if (i >= LAG && k < n && kd[k])
			prefetch_match(t, h[k]);
		if (i >= 2 * LAG) {
			int r;

			k = i - 2 * LAG;
			r = update_keyed(t, &pkts[k], now[k], side[k], h[k]);
			if (slots)
				slots[k] = r;
			got += r >= 0;
		}
	}
	return got;
}

uint32_t cot_flowtab_update_batch(struct cot_flowtab *t,
				  const struct cot_pkt *pkts,
				  const uint64_t *now_ns, uint32_t n,
				  int32_t *slots)
{
	uint32_t done, got = 0;

	/* Bound: n / COT_FLOW_BATCH rounds of at most COT_FLOW_BATCH. */
	for (done = 0; done < n;) {
		uint32_t k =
			n - done < COT_FLOW_BATCH ? n - done : COT_FLOW_BATCH;

		got += update_batch(t, pkts + done, now_ns + done, k,
				    slots ? slots + done : NULL);
		done += k;
	}
	return got;
}

void cot_flowtab_prefetch(const struct cot_flowtab *t, const struct cot_pkt *p)
{
	uint32_t h;

	/* Tunneled frames hit several buckets: not worth guessing. */
	if (p->reason != COT_PKT_OK || !(p->fl & COT_PKT_F_L4) || p->ntun)
		return;
	if (side_of(&p->src, p->sport, &p->dst, p->dport) == 0)
		h = key_hash(t, p->ipproto, &p->src, p->sport, &p->dst,
			     p->dport, NULL);
	else
		h = key_hash(t, p->ipproto, &p->dst, p->dport, &p->src,
			     p->sport, NULL);
	__builtin_prefetch(bucket_of(t, h));
}

static uint8_t idle_end(const struct flow *f)
{
	if (f->lru == L_TCP_CLOSED)
		return (f->fl & F_RST) ? COT_END_RST : COT_END_FIN;
	return COT_END_IDLE;
}

uint32_t cot_flowtab_expire(struct cot_flowtab *t, uint64_t now,
			    uint32_t budget)
{
	uint32_t n = 0, i, c;

	/* Idle: list heads are the oldest of their class. */
	for (c = 0; c < L__COUNT; c++) {
		uint64_t to = t->timeout[c];

		for (;;) {
			uint32_t s;
			const struct flow *f;

			lru_clean_head(t, (int)c);
			s = t->lru[c].head;
			if (s == NIL)
				break;
			f = &t->flows[s];
			if (now < f->last || now - f->last < to)
				break;
			flow_end(t, s, idle_end(f));
			n++;
		}
	}
	if (!t->p.active_ns)
		return n;
	/* Active: a resumable scan over the slots, @budget at a time. */
	if (budget == 0 || budget > t->p.max_flows)
		budget = t->p.max_flows;
	for (i = 0; i < budget; i++) {
		uint32_t s = t->scan_cursor;
		struct flow *f = &t->flows[s];

		t->scan_cursor = s + 1 < t->p.max_flows ? s + 1 : 0;
		if (s >= t->used || f->lru == L_FREE ||
		    (f->pkts[0] | f->pkts[1]) == 0 || now < f->first ||
		    now - f->first < t->p.active_ns)
			continue;
		/* Report what has gone by; the connection carries on. */
		emit(t, COT_FLOW_ENDED, s, COT_END_ACTIVE);
		t->st.ended_by[COT_END_ACTIVE]++;
		f->pkts[0] = f->pkts[1] = f->bytes[0] = f->bytes[1] = 0;
		f->first = 0;
		n++;
	}
	return n;
}

uint32_t cot_flowtab_flush(struct cot_flowtab *t, uint64_t now,
			   enum cot_end end)
{
	uint32_t n = 0;
	int c;

	(void)now;
	for (c = 0; c < L__COUNT; c++) {
		while (t->lru[c].head != NIL) {
			uint32_t s = t->lru[c].head;
			const struct flow *f = &t->flows[s];
			uint8_t e = end;

			/* A connection already closed ended by FIN or RST. */
			if (end == COT_END_OPEN && f->lru == L_TCP_CLOSED)
				e = idle_end(f);
			flow_end(t, s, e);
			n++;
		}
	}
	return n;
}

void cot_flowtab_stats(const struct cot_flowtab *t, struct cot_flow_stats *s)
{
	*s = t->st;
}

int cot_flowtab_find(const struct cot_flowtab *t, uint8_t ipproto,
		     const struct cot_addr *a, uint16_t aport,
		     const struct cot_addr *b, uint16_t bport,
		     struct cot_rec *r)
{
	int side = side_of(a, aport, b, bport), sl;
	uint32_t h;

	if (side == 0) {
		h = key_hash(t, ipproto, a, aport, b, bport, NULL);
		sl = lookup(t, h, ipproto, a, aport, b, bport, NULL);
	} else {
		h = key_hash(t, ipproto, b, bport, a, aport, NULL);
		sl = lookup(t, h, ipproto, b, bport, a, aport, NULL);
	}
	if (sl >= 0 && r)
		fill_rec(t, &t->flows[sl], r);
	return sl;
}
