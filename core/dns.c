// SPDX-License-Identifier: MIT
/*
 * core/dns: one VM's address -> DNS name table (see
 * include/cotrack/dns.h; the policy in prose: docs/names.md).
 *
 * Layout in the caller's memory, each part 8-byte aligned: the header
 * (with the scratch space of one answer's walk, so the walk needs little
 * stack), the bucket array of name indexes (chained through
 * nent.hnext), the name slots, and the outstanding-query slots.
 *
 * Names are keyed by address with the seeded hash of core/hash.h.  A
 * full name table takes, among the COT_DNS_EVICT_SCAN slots from its
 * hand, the first expired one, else the one at the hand: slots are
 * taken in ring order, so that is the least recently taken one (a
 * name refreshed in place keeps its slot and its age).
 *
 * The query table is small (max_queries, at most MAX_QUERIES) and is
 * searched linearly: a frame from or to port 53 costs at most
 * max_queries compares.
 */
#include "cotrack/dns.h"
#include "hash.h"

#define NIL	 UINT32_MAX
#define NS_PER_S 1000000000ULL

#define MAX_NAMES   (1U << 20)
#define MAX_QUERIES 4096U
#define EVICT_SCAN  16U

#define DNS_PORT   53
#define DNS_HDR	   12
#define T_A	   1
#define T_CNAME	   5
#define T_AAAA	   28
#define C_IN	   1
#define NAME_WIRE  255 /* RFC 1035 3.1: a name is at most 255 octets */
#define LABEL_MAX  63  /* RFC 1035 2.3.4 */
#define NAME_TURNS (NAME_WIRE / 2 + COT_DNS_MAX_PTRS + 1)

/* read_name()'s result when the message is broken. */
#define N_MALFORMED (-1)

struct nent {
	struct cot_addr a;
	uint64_t expires_ns;
	uint32_t hnext; /* bucket chain; free list when unused */
	uint8_t used;
	uint8_t len;
	char name[COT_DNS_NAMELEN];
};

struct query {
	struct cot_addr client, server;
	uint64_t at_ns;
	uint16_t cport, id, qtype;
	uint8_t used;
	uint8_t hop[6]; /* the query's destination MAC: the answer's source */
	char qname[COT_DNS_NAMELEN];
};

/* One answer record, as found by the first pass over the message. */
struct rr {
	uint32_t name_off, rd_off;
	uint32_t ttl;
	uint16_t type, rdlen;
};

struct cot_dns {
	struct cot_dns_params p;
	uint32_t nbuckets; /* power of two */
	uint32_t *buckets;
	struct nent *names;
	struct query *qs;
	uint32_t free_head, hand;
	struct cot_dns_stats st;
	/* scratch of one answer's walk */
	struct rr rrs[COT_DNS_MAX_ANSWERS];
	char chain[COT_DNS_MAX_CHAIN + 1][COT_DNS_NAMELEN];
	uint32_t chain_ttl[COT_DNS_MAX_CHAIN + 1];
	char tmp[COT_DNS_NAMELEN];
};

void cot_dns_params_default(struct cot_dns_params *p)
{
	p->max_names = 4096;
	p->max_queries = 256;
	p->max_ttl_s = 3600;
	p->query_timeout_ns = 10 * NS_PER_S;
	p->hash_seed = 0x6a09e667f3bcc908ULL;
}

static bool params_ok(const struct cot_dns_params *p)
{
	return p && p->max_names >= 1 && p->max_names <= MAX_NAMES &&
	       p->max_queries >= 1 && p->max_queries <= MAX_QUERIES &&
	       p->max_ttl_s >= 1;
}

size_t cot_dns_memsize(const struct cot_dns_params *p)
{
	uint64_t n;

	if (!params_ok(p))
		return 0;
	n = cot_align8(sizeof(struct cot_dns));
	n += cot_align8((uint64_t)cot_pow2_at_least(p->max_names) *
			sizeof(uint32_t));
	n += cot_align8((uint64_t)p->max_names * sizeof(struct nent));
	n += cot_align8((uint64_t)p->max_queries * sizeof(struct query));
	if (n > (uint64_t)SIZE_MAX)
		return 0;
	return (size_t)n;
}

int cot_dns_init(struct cot_dns **out, void *mem, size_t len,
		 const struct cot_dns_params *p)
{
	size_t need = cot_dns_memsize(p);
	struct cot_dns *t = mem;
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
	t->nbuckets = cot_pow2_at_least(p->max_names);
	cur += cot_align8(sizeof(*t));
	t->buckets = (uint32_t *)(void *)cur;
	cur += cot_align8((size_t)t->nbuckets * sizeof(uint32_t));
	t->names = (struct nent *)(void *)cur;
	cur += cot_align8((size_t)p->max_names * sizeof(struct nent));
	t->qs = (struct query *)(void *)cur;
	for (i = 0; i < t->nbuckets; i++)
		t->buckets[i] = NIL;
	cot_memset(t->names, 0, (size_t)p->max_names * sizeof(struct nent));
	for (i = 0; i < p->max_names; i++)
		t->names[i].hnext = i + 1 < p->max_names ? i + 1 : NIL;
	cot_memset(t->qs, 0, (size_t)p->max_queries * sizeof(struct query));
	t->free_head = 0;
	t->hand = 0;
	*out = t;
	return 0;
}

void cot_dns_stats(const struct cot_dns *t, struct cot_dns_stats *s)
{
	*s = t->st;
}

/* --- names in the message ---------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	uint32_t i;

	/* Bound: both are NUL-terminated within COT_DNS_NAMELEN. */
	for (i = 0; i < COT_DNS_NAMELEN; i++) {
		if (a[i] != b[i])
			return false;
		if (!a[i])
			return true;
	}
	return false;
}

static void str_cpy(char *d, const char *s)
{
	uint32_t i;

	for (i = 0; i < COT_DNS_NAMELEN - 1 && s[i]; i++)
		d[i] = s[i];
	d[i] = 0;
}

/*
 * The bytes a name keeps: letters (stored lower-case), digits, '-' and
 * '_'.  Anything else (a '.' inside a label, control bytes, spaces,
 * quotes, bytes >= 0x80) refuses the whole name, so that a stored name
 * is always plain text and its dots always separate labels.
 */
static int keep_char(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '_')
		return c;
	return -1;
}

/*
 * Decode the name at @off of the message @m (@mlen bytes) into @out
 * (dotted, lower-case, NUL-terminated; "" for the root).  Returns the
 * offset just after the name where it lies (after its first pointer, or
 * its root label), or N_MALFORMED.  *@clean is false when the name is
 * well-formed but has a byte keep_char() refuses (@out is then not to
 * be used).
 *
 * Compression pointers (RFC 1035 4.1.4) must each point before the
 * start of the part of the name being read, so their targets strictly
 * decrease and no loop is possible; there may be at most
 * COT_DNS_MAX_PTRS of them.  Labels are at most 63 bytes and the name
 * at most 255 on the wire, so at most 127 labels: the loop is bounded by
 * NAME_TURNS.  The label types 0x40 and 0x80 (RFC 6891 obsoleted them)
 * are malformed.
 */
static int read_name(const uint8_t *m, uint32_t mlen, uint32_t off,
		     char out[COT_DNS_NAMELEN], bool *clean)
{
	uint32_t pos = off, lim = off, end = 0, n = 0, wire = 0, hops = 0;
	uint32_t turn, i;
	bool jumped = false, bad = false;

	out[0] = 0;
	*clean = false;
	for (turn = 0; turn < NAME_TURNS; turn++) {
		uint8_t c;

		if (pos >= mlen)
			return N_MALFORMED;
		c = m[pos];
		if ((c & 0xc0) == 0xc0) {
			uint32_t ptr;

			if (pos + 1 >= mlen)
				return N_MALFORMED;
			ptr = (uint32_t)(c & 0x3f) << 8 | m[pos + 1];
			if (ptr >= lim || ++hops > COT_DNS_MAX_PTRS)
				return N_MALFORMED;
			if (!jumped)
				end = pos + 2;
			jumped = true;
			pos = lim = ptr;
			continue;
		}
		if (c & 0xc0)
			return N_MALFORMED;
		if (c == 0) {
			out[n] = 0;
			if (!jumped)
				end = pos + 1;
			*clean = !bad;
			return (int)end;
		}
		/* c <= 63 here; with the root byte at most NAME_WIRE */
		wire += (uint32_t)c + 1;
		if (wire + 1 > NAME_WIRE || pos + 1 + c > mlen)
			return N_MALFORMED;
		/* dotted length = wire - 1 <= 253 < COT_DNS_NAMELEN */
		if (n)
			out[n++] = '.';
		for (i = 0; i < c; i++) {
			int k = keep_char(m[pos + 1 + i]);

			if (k < 0)
				bad = true;
			out[n++] = (char)(k < 0 ? '?' : k);
		}
		out[n] = 0;
		pos += 1 + (uint32_t)c;
	}
	return N_MALFORMED;
}

/*
 * The DNS message of a UDP datagram, when it lies whole in the frame.
 * Returns its length, or 0 (cut by the capture, or shorter than a
 * header).
 */
static uint32_t dns_msg(const struct cot_pkt *pkt, const uint8_t *frame,
			uint32_t len, const uint8_t **msg)
{
	uint64_t end = (uint64_t)pkt->l4_off + pkt->l4_len;

	if (pkt->l4_len < 8 + DNS_HDR || end > len)
		return 0;
	*msg = frame + pkt->l4_off + 8;
	return pkt->l4_len - 8;
}

/* --- the query table ------------------------------------------------- */

static void on_query(struct cot_dns *t, const struct cot_pkt *pkt,
		     const uint8_t *frame, const uint8_t *m, uint32_t mlen,
		     uint64_t now)
{
	uint16_t id = cot_get_be16(m), fl = cot_get_be16(m + 2);
	uint16_t qtype, qclass;
	struct query *q = NULL, *oldest = NULL;
	bool clean;
	uint32_t i;
	int r;

	/* QR 0, opcode QUERY, one question (RFC 1035 4.1.1) */
	if ((fl & 0x8000) || ((fl >> 11) & 0xf) != 0 ||
	    cot_get_be16(m + 4) != 1)
		goto bad;
	r = read_name(m, mlen, DNS_HDR, t->tmp, &clean);
	if (r < 0 || !clean || !t->tmp[0] || (uint32_t)r + 4 > mlen)
		goto bad;
	qtype = cot_get_be16(m + r);
	qclass = cot_get_be16(m + r + 2);
	if ((qtype != T_A && qtype != T_AAAA) || qclass != C_IN)
		goto bad;
	/* The same query again (a retransmission) takes its own slot; else
	 * a free or timed-out one; else the oldest.  Bound: max_queries. */
	for (i = 0; i < t->p.max_queries; i++) {
		struct query *x = &t->qs[i];

		if (x->used && x->id == id && x->cport == pkt->sport &&
		    cot_addr_eq(&x->client, &pkt->src) &&
		    cot_addr_eq(&x->server, &pkt->dst)) {
			q = x;
			break;
		}
		if (!q && (!x->used || now - x->at_ns >= t->p.query_timeout_ns))
			q = x;
		if (!oldest || x->at_ns < oldest->at_ns)
			oldest = x;
	}
	if (!q) {
		q = oldest;
		t->st.queries_replaced++;
	}
	q->used = 1;
	q->client = pkt->src;
	q->server = pkt->dst;
	q->cport = pkt->sport;
	q->id = id;
	q->qtype = qtype;
	cot_memcpy(q->hop, frame, 6);
	q->at_ns = now;
	str_cpy(q->qname, t->tmp);
	t->st.queries++;
	return;
bad:
	t->st.queries_bad++;
}

/*
 * The outstanding query of this VM the answer answers, or NULL: same
 * server, client address and port, id, question type and name, and it
 * comes from the link address the query went to (the resolver's, or
 * the router's when it is off the segment): cotrackd's switch lets no
 * other port send from an address a VM or the uplink owns, so a
 * neighbour cannot answer in the resolver's name even if it guesses the
 * id and port.
 */
static struct query *find_query(struct cot_dns *t, const struct cot_pkt *pkt,
				const uint8_t *frame, uint16_t id,
				uint16_t qtype, const char *qname, uint64_t now)
{
	uint32_t i;

	/* Bound: max_queries. */
	for (i = 0; i < t->p.max_queries; i++) {
		struct query *q = &t->qs[i];

		if (q->used && q->id == id && q->cport == pkt->dport &&
		    q->qtype == qtype &&
		    now - q->at_ns < t->p.query_timeout_ns &&
		    cot_addr_eq(&q->server, &pkt->src) &&
		    cot_addr_eq(&q->client, &pkt->dst) &&
		    cot_memcmp(q->hop, frame + 6, 6) == 0 &&
		    str_eq(q->qname, qname))
			return q;
	}
	return NULL;
}

/* --- the name table ---------------------------------------------------- */

static uint32_t addr_bucket(const struct cot_dns *t, const struct cot_addr *a)
{
	uint64_t h = t->p.hash_seed;

	h = cot_hash_mix(h, cot_rd64(a->b) + 0x200);
	h = cot_hash_mix(h, cot_rd64(a->b + 8));
	h ^= h >> 29;
	return (uint32_t)h & (t->nbuckets - 1);
}

static struct nent *find_name(const struct cot_dns *t, const struct cot_addr *a)
{
	uint32_t i = t->buckets[addr_bucket(t, a)], n;

	/* Bound: a chain holds at most max_names entries. */
	for (n = 0; i != NIL && n < t->p.max_names; n++) {
		struct nent *e = &t->names[i];

		if (cot_addr_eq(&e->a, a))
			return e;
		i = e->hnext;
	}
	return NULL;
}

static void unlink_name(struct cot_dns *t, uint32_t idx)
{
	uint32_t *pp = &t->buckets[addr_bucket(t, &t->names[idx].a)], n;

	/* Bound: a chain holds at most max_names entries. */
	for (n = 0; *pp != NIL && n < t->p.max_names; n++) {
		if (*pp == idx) {
			*pp = t->names[idx].hnext;
			return;
		}
		pp = &t->names[*pp].hnext;
	}
}

static void put_name(struct cot_dns *t, const struct cot_addr *a,
		     const char *name, uint64_t expires, uint64_t now)
{
	struct nent *e = find_name(t, a);
	uint32_t idx, k, b, len;

	if (!e) {
		if (t->free_head != NIL) {
			idx = t->free_head;
			t->free_head = t->names[idx].hnext;
		} else {
			idx = t->hand;
			for (k = 0; k < EVICT_SCAN && k < t->p.max_names; k++) {
				uint32_t j = (t->hand + k) % t->p.max_names;

				if (t->names[j].expires_ns <= now) {
					idx = j;
					break;
				}
			}
			if (t->names[idx].expires_ns > now)
				t->st.evicted++;
			unlink_name(t, idx);
			t->hand = (idx + 1) % t->p.max_names;
		}
		e = &t->names[idx];
		e->used = 1;
		e->a = *a;
		b = addr_bucket(t, a);
		e->hnext = t->buckets[b];
		t->buckets[b] = idx;
	}
	for (len = 0; len < COT_DNS_NAMELEN - 1 && name[len]; len++)
		e->name[len] = name[len];
	e->name[len] = 0;
	e->len = (uint8_t)len;
	e->expires_ns = expires;
	t->st.names++;
}

int cot_dns_lookup(const struct cot_dns *t, const struct cot_addr *a,
		   uint64_t now_ns, char *name, size_t cap)
{
	const struct nent *e;
	size_t n;

	if (!t || !a || !name || cap == 0)
		return 0;
	name[0] = 0;
	e = find_name(t, a);
	if (!e || e->expires_ns <= now_ns)
		return 0;
	n = COT_MIN((size_t)e->len, cap - 1);
	cot_memcpy(name, e->name, n);
	name[n] = 0;
	return (int)n;
}

/* --- answers ----------------------------------------------------------- */

/* RFC 2181 8: a TTL with the top bit set is taken as 0. */
static uint32_t rr_ttl(uint32_t ttl)
{
	return (ttl & 0x80000000U) ? 0 : ttl;
}

/*
 * First pass: every answer record (at most COT_DNS_MAX_ANSWERS of
 * ANCOUNT) must lie whole in the message, RDLENGTH included; A and
 * AAAA must have 4 and 16 bytes.  Returns the records found, or -1.
 */
static int scan_answers(struct cot_dns *t, const uint8_t *m, uint32_t mlen,
			uint32_t pos, uint32_t ancount)
{
	uint32_t i, n = COT_MIN(ancount, (uint32_t)COT_DNS_MAX_ANSWERS);

	for (i = 0; i < n; i++) {
		struct rr *r = &t->rrs[i];
		bool clean;
		int e = read_name(m, mlen, pos, t->tmp, &clean);

		/* a name with bytes we do not keep is skipped, not broken */
		if (e < 0 || (uint32_t)e + 10 > mlen)
			return -1;
		r->name_off = pos;
		r->type = cot_get_be16(m + e);
		if (cot_get_be16(m + e + 2) != C_IN)
			r->type = 0; /* not ours: skipped below */
		r->ttl = rr_ttl(cot_get_be32(m + e + 4));
		r->rdlen = cot_get_be16(m + e + 8);
		r->rd_off = (uint32_t)e + 10;
		if (r->rd_off + r->rdlen > mlen)
			return -1;
		if ((r->type == T_A && r->rdlen != 4) ||
		    (r->type == T_AAAA && r->rdlen != 16))
			return -1;
		pos = r->rd_off + r->rdlen;
	}
	return (int)n;
}

/* The record's owner is the chain's name @j (decoded into t->tmp). */
static bool owner_is(struct cot_dns *t, const uint8_t *m, uint32_t mlen,
		     const struct rr *r, uint32_t j)
{
	bool clean;

	return read_name(m, mlen, r->name_off, t->tmp, &clean) >= 0 && clean &&
	       str_eq(t->tmp, t->chain[j]);
}

/* Every A/AAAA record owned by a name on the chain names its address. */
static void learn_addrs(struct cot_dns *t, const uint8_t *m, uint32_t mlen,
			int nrr, uint32_t nchain, uint64_t now)
{
	uint32_t i, j;

	/* Bound: nrr <= COT_DNS_MAX_ANSWERS, nchain <= MAX_CHAIN + 1. */
	for (i = 0; i < (uint32_t)nrr; i++) {
		const struct rr *r = &t->rrs[i];
		struct cot_addr a;
		uint32_t ttl;

		if (r->type != T_A && r->type != T_AAAA)
			continue;
		for (j = 0; j < nchain; j++)
			if (owner_is(t, m, mlen, r, j))
				break;
		if (j == nchain)
			continue;
		ttl = COT_MIN(t->chain_ttl[j], r->ttl);
		if (ttl == 0)
			continue; /* not to be cached: nothing to keep */
		if (r->type == T_A)
			cot_addr_from_v4(&a, m + r->rd_off);
		else
			cot_memcpy(a.b, m + r->rd_off, 16);
		put_name(t, &a, t->chain[0], now + (uint64_t)ttl * NS_PER_S,
			 now);
	}
}

static void learn(struct cot_dns *t, const uint8_t *m, uint32_t mlen, int nrr,
		  uint64_t now)
{
	uint32_t nchain = 1, i, k, step;

	t->chain_ttl[0] = t->p.max_ttl_s;
	/*
	 * Follow the CNAMEs from the question's name, in any order of the
	 * records: each step adds one name; at most COT_DNS_MAX_CHAIN, and
	 * a name already on the chain ends it (a CNAME loop).
	 */
	for (step = 0; step < COT_DNS_MAX_CHAIN; step++) {
		bool grew = false, loop = false;

		for (i = 0; i < (uint32_t)nrr && !grew; i++) {
			const struct rr *r = &t->rrs[i];
			bool clean;
			int e;

			if (r->type != T_CNAME ||
			    !owner_is(t, m, mlen, r, nchain - 1))
				continue;
			e = read_name(m, mlen, r->rd_off, t->chain[nchain],
				      &clean);
			if (e < 0 || !clean ||
			    (uint32_t)e > r->rd_off + r->rdlen ||
			    !t->chain[nchain][0])
				continue;
			for (k = 0; k < nchain; k++)
				if (str_eq(t->chain[k], t->chain[nchain]))
					loop = true;
			if (loop)
				break;
			t->chain_ttl[nchain] =
				COT_MIN(t->chain_ttl[nchain - 1], r->ttl);
			nchain++;
			grew = true;
		}
		if (!grew)
			break;
	}
	learn_addrs(t, m, mlen, nrr, nchain, now);
}

static void on_answer(struct cot_dns *t, const struct cot_pkt *pkt,
		      const uint8_t *frame, const uint8_t *m, uint32_t mlen,
		      uint64_t now)
{
	uint16_t id = cot_get_be16(m), fl = cot_get_be16(m + 2);
	uint16_t qtype, qclass;
	struct query *q;
	bool clean;
	int r, nrr;

	t->st.answers++;
	if (!(fl & 0x8000) || ((fl >> 11) & 0xf) != 0 ||
	    cot_get_be16(m + 4) != 1)
		goto unmatched; /* not an answer to a query we keep */
	r = read_name(m, mlen, DNS_HDR, t->tmp, &clean);
	if (r < 0 || (uint32_t)r + 4 > mlen)
		goto malformed;
	if (!clean)
		goto unmatched; /* no query of ours has that name */
	qtype = cot_get_be16(m + r);
	qclass = cot_get_be16(m + r + 2);
	q = qclass == C_IN ? find_query(t, pkt, frame, id, qtype, t->tmp, now)
			   : NULL;
	if (!q)
		goto unmatched;
	str_cpy(t->chain[0], q->qname);
	nrr = scan_answers(t, m, mlen, (uint32_t)r + 4, cot_get_be16(m + 6));
	if (nrr < 0)
		goto malformed; /* the query stays: the true answer may come */
	q->used = 0;		/* answered: a second answer matches nothing */
	t->st.matched++;
	if ((fl & 0xf) == 0) /* RCODE NOERROR */
		learn(t, m, mlen, nrr, now);
	return;
unmatched:
	t->st.unmatched++;
	return;
malformed:
	t->st.malformed++;
}

void cot_dns_frame(struct cot_dns *t, const struct cot_pkt *pkt,
		   const uint8_t *frame, uint32_t len, bool from_guest,
		   uint64_t now_ns)
{
	const uint8_t *m = NULL;
	uint32_t mlen;

	if (!t || !pkt || !frame || pkt->reason != COT_PKT_OK ||
	    pkt->ipproto != 17 || !(pkt->fl & COT_PKT_F_L4) ||
	    (pkt->fl & COT_PKT_F_FRAG))
		return;
	if (from_guest ? pkt->dport != DNS_PORT : pkt->sport != DNS_PORT)
		return;
	mlen = dns_msg(pkt, frame, len, &m);
	if (from_guest) {
		if (!mlen)
			t->st.queries_bad++;
		else
			on_query(t, pkt, frame, m, mlen, now_ns);
	} else if (!mlen) {
		t->st.answers++;
		t->st.malformed++;
	} else {
		on_answer(t, pkt, frame, m, mlen, now_ns);
	}
}
