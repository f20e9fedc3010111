// SPDX-License-Identifier: MIT
/* core/shipq: the BitVisor shipper's queue and frames (cotrack/shipq.h). */
#include "cotrack/chain.h"
#include "cotrack/common.h"
#include "cotrack/rec.h"
#include "cotrack/ship_proto.h"

#include "cotrack/shipq.h"

#define LOST_RANGES 16 /* beyond this, the last range absorbs new ones */
#define INBUF	    512

struct bvq_ent {
	uint64_t added_ns;
	uint16_t len; /* of enc: 140 (v1) or up to COT_REC_WIRE_MAX */
	uint8_t enc[COT_REC_WIRE_MAX];
	uint8_t hash[COT_CHAIN_LEN]; /* chain head at this record */
};

struct cot_bvq {
	struct bvq_ent *ring;
	uint32_t cap, head, n; /* ring[head] holds first_seq */
	uint64_t epoch;
	uint64_t first_seq, last_seq; /* queued: first_seq .. last_seq */
	uint64_t sent_seq, acked_seq;
	uint8_t hash_before_first[COT_CHAIN_LEN];
	uint8_t last_hash[COT_CHAIN_LEN];
	struct {
		uint64_t first, last;
	} lost[LOST_RANGES];
	uint32_t nlost;
	int hello_sent; /* a HELLO went out since boot */
	int welcomed;	/* this connection's WELCOME arrived */
	uint8_t in[INBUF];
	uint32_t in_len;
	struct cot_bvq_stats st;
};

static size_t head_size(void)
{
	return (sizeof(struct cot_bvq) + 7) & ~(size_t)7;
}

unsigned long cot_bvq_memsize(unsigned int cap)
{
	if (cap < 2 || cap > 65536)
		return 0;
	return head_size() + (unsigned long)cap * sizeof(struct bvq_ent);
}

static void reset_stream(struct cot_bvq *q)
{
	q->head = q->n = 0;
	q->first_seq = 1;
	q->last_seq = q->sent_seq = q->acked_seq = 0;
	q->nlost = 0;
	cot_chain_init(q->hash_before_first);
	cot_memcpy(q->last_hash, q->hash_before_first, COT_CHAIN_LEN);
}

int cot_bvq_init(struct cot_bvq **out, void *mem, unsigned long len,
		 unsigned int cap, unsigned long long epoch)
{
	struct cot_bvq *q = mem;
	unsigned long need = cot_bvq_memsize(cap);

	*out = NULL;
	if (!mem || !need || len < need || ((uintptr_t)mem & 7) || !epoch)
		return -COT_EINVAL;
	cot_memset(q, 0, sizeof(*q));
	q->ring = (struct bvq_ent *)((char *)mem + head_size());
	q->cap = cap;
	q->epoch = epoch;
	reset_stream(q);
	*out = q;
	return 0;
}

static struct bvq_ent *at(struct cot_bvq *q, uint64_t seq)
{
	return &q->ring[(q->head + (uint32_t)(seq - q->first_seq)) % q->cap];
}

static const uint8_t *hash_before(struct cot_bvq *q, uint64_t seq)
{
	return seq == q->first_seq ? q->hash_before_first
				   : at(q, seq - 1)->hash;
}

/* Drop queued records up to @seq (acknowledged, or dropped). */
static void drop_upto(struct cot_bvq *q, uint64_t seq)
{
	/* bounded by n */
	while (q->n && q->first_seq <= seq) {
		cot_memcpy(q->hash_before_first, q->ring[q->head].hash,
			   COT_CHAIN_LEN);
		q->head = (q->head + 1) % q->cap;
		q->n--;
		q->first_seq++;
	}
	if (!q->n && q->first_seq <= q->last_seq) {
		/* everything up to last_seq is gone */
		q->first_seq = q->last_seq + 1;
		cot_memcpy(q->hash_before_first, q->last_hash, COT_CHAIN_LEN);
	}
}

static void note_lost(struct cot_bvq *q, uint64_t seq)
{
	if (q->nlost && q->lost[q->nlost - 1].last + 1 == seq) {
		q->lost[q->nlost - 1].last = seq;
	} else if (q->nlost < LOST_RANGES) {
		q->lost[q->nlost].first = seq;
		q->lost[q->nlost].last = seq;
		q->nlost++;
	} else {
		q->lost[q->nlost - 1].last = seq;
	}
}

void cot_bvq_add(struct cot_bvq *q, const void *rec,
		 unsigned long long added_ns)
{
	struct bvq_ent *e;

	if (q->n == q->cap) {
		uint64_t old = q->first_seq;

		/* a record already sent may still be committed by logd:
		 * LOST names only those it never saw */
		if (old > q->sent_seq)
			note_lost(q, old);
		q->st.dropped++;
		drop_upto(q, old);
	}
	++q->last_seq;
	e = &q->ring[(q->head + q->n) % q->cap];
	q->n++;
	e->added_ns = added_ns;
	/*
	 * Encode in place and set seq at its offset (rec.h: 4, both
	 * versions): no 1.2 kB copy of the record on BitVisor's stack.
	 */
	e->len = (uint16_t)cot_rec_encode(e->enc, rec);
	cot_put_le64(e->enc + 4, q->last_seq);
	cot_chain_next(e->hash, q->last_hash, e->enc, e->len);
	cot_memcpy(q->last_hash, e->hash, COT_CHAIN_LEN);
}

int cot_bvq_hello(struct cot_bvq *q, unsigned char *out, unsigned long cap)
{
	struct cot_hello h = { .version = COT_PROTO_VERSION };

	h.flags = (q->hello_sent ? 0 : COT_HELLO_RESTART) | COT_HELLO_FRESH;
	h.epoch = q->epoch;
	h.last_seq = q->last_seq;
	h.oldest_seq = q->n ? q->first_seq : 0;
	h.dropped = q->st.dropped;
	q->hello_sent = 1;
	q->welcomed = 0;
	q->in_len = 0;
	return cot_hello_encode(out, cap, &h);
}

int cot_bvq_ready(const struct cot_bvq *q)
{
	return q->welcomed;
}

static int on_welcome(struct cot_bvq *q, const uint8_t *p, uint32_t len)
{
	struct cot_welcome w;

	if (q->welcomed || cot_welcome_decode(&w, p, len) < 0)
		return -COT_EBADMSG;
	if (w.held_seq > q->last_seq) {
		/*
		 * logd holds more of this epoch than was ever made here: a
		 * stream that is not ours.  Start a new epoch (the queued
		 * records go, counted as dropped) and reconnect.
		 */
		q->st.dropped += q->n;
		q->epoch = q->epoch * 6364136223846793005ULL +
			   1442695040888963407ULL;
		if (!q->epoch)
			q->epoch = 1;
		reset_stream(q);
		q->hello_sent = 0;
		return -COT_EAGAIN;
	}
	q->st.held_seq = w.held_seq;
	if (w.held_seq > q->acked_seq)
		q->acked_seq = w.held_seq;
	drop_upto(q, w.held_seq);
	/* send again everything logd does not hold */
	q->sent_seq = q->acked_seq > q->first_seq - 1 ? q->acked_seq
						      : q->first_seq - 1;
	q->welcomed = 1;
	q->st.connects++;
	return 0;
}

static int on_ack(struct cot_bvq *q, const uint8_t *p, uint32_t len)
{
	struct cot_ack a;

	if (!q->welcomed || cot_ack_decode(&a, p, len) < 0 ||
	    a.acked_seq > q->sent_seq)
		return -COT_EBADMSG;
	if (a.acked_seq > q->acked_seq)
		q->acked_seq = a.acked_seq;
	drop_upto(q, a.acked_seq);
	return 0;
}

int cot_bvq_input(struct cot_bvq *q, const unsigned char *p, unsigned long len)
{
	uint8_t type;
	uint32_t plen;
	int rc;

	/* bounded: every turn consumes input bytes or a whole frame,
	 * or returns */
	for (;;) {
		uint32_t want = COT_FRAME_HDR;

		if (q->in_len >= COT_FRAME_HDR) {
			rc = cot_frame_hdr_parse(q->in, &type, &plen);
			if (rc < 0)
				return rc;
			if (COT_FRAME_HDR + plen > INBUF)
				return -COT_EMSGSIZE;
			want = COT_FRAME_HDR + plen;
		}
		if (q->in_len < want) {
			if (!len)
				return 0;
			while (len && q->in_len < want) {
				q->in[q->in_len++] = *p++;
				len--;
			}
			continue;
		}
		switch (type) {
		case COT_FR_WELCOME:
			rc = on_welcome(q, q->in + COT_FRAME_HDR, plen);
			break;
		case COT_FR_ACK:
			rc = on_ack(q, q->in + COT_FRAME_HDR, plen);
			break;
		case COT_FR_ERROR:
			rc = -COT_ENODATA;
			break;
		default:
			rc = -COT_EBADMSG;
		}
		if (rc < 0)
			return rc;
		cot_memmove(q->in, q->in + COT_FRAME_HDR + plen,
			    q->in_len - (COT_FRAME_HDR + plen));
		q->in_len -= COT_FRAME_HDR + plen;
	}
}

int cot_bvq_next(struct cot_bvq *q, unsigned char *out, unsigned long cap,
		 unsigned int max)
{
	uint64_t from, seq;
	uint32_t k, i;
	unsigned long room;
	uint8_t *p;

	if (!q->welcomed)
		return 0;
	from = q->sent_seq + 1 > q->first_seq ? q->sent_seq + 1 : q->first_seq;
	if (q->nlost && q->lost[0].last < from) {
		struct cot_lost l = { q->lost[0].first, q->lost[0].last,
				      COT_LOST_SPOOL_FULL };
		int n = cot_lost_encode(out, cap, &l);

		if (n > 0) {
			cot_memmove(q->lost, q->lost + 1,
				    (q->nlost - 1) * sizeof(q->lost[0]));
			q->nlost--;
			q->st.lost_frames++;
		}
		return n < 0 ? 0 : n;
	}
	if (!q->n || from > q->last_seq)
		return 0;
	if (cap < COT_FRAME_HDR + COT_BATCH_HDR + 8 +
			    (unsigned long)at(q, from)->len ||
	    !max)
		return 0;
	if (max > COT_BATCH_MAX)
		max = COT_BATCH_MAX;
	/* as many entries as fit in @cap, bounded by max and the queue */
	p = out + COT_FRAME_HDR + COT_BATCH_HDR;
	room = cap - COT_FRAME_HDR - COT_BATCH_HDR;
	for (k = 0, seq = from; k < max && seq <= q->last_seq; k++, seq++) {
		const struct bvq_ent *e = at(q, seq);

		if (room < 8 + (unsigned long)e->len)
			break;
		i = (uint32_t)cot_batch_entry_put(p, e->added_ns, e->enc,
						  e->len);
		p += i;
		room -= i;
	}
	cot_batch_hdr_put(out, from, k,
			  (size_t)(p - out) - COT_FRAME_HDR - COT_BATCH_HDR,
			  hash_before(q, from), at(q, from + k - 1)->hash);
	q->sent_seq = from + k - 1;
	q->st.sent += k;
	return (int)(p - out);
}

void cot_bvq_stats(const struct cot_bvq *q, struct cot_bvq_stats *st)
{
	*st = q->st;
	st->epoch = q->epoch;
	st->last_seq = q->last_seq;
	st->acked_seq = q->acked_seq;
	st->sent_seq = q->sent_seq;
	st->waiting = q->n;
}
