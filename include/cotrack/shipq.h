/* SPDX-License-Identifier: MIT */
/*
 * cotrack/shipq: the protocol state of the shipper inside BitVisor,
 * cotrack's side (core/shipq.c, freestanding: core/ship_proto + core/chain):
 * the bounded queue of records waiting for logd's acknowledgement, their seq
 * and hash chain, and the frames of the conversation with cotrack-logd (HELLO,
 * WELCOME, BATCH, ACK, LOST; cotrack/ship_proto.h). It moves no bytes itself:
 * ship.c (BitVisor's side, lwIP + mbedTLS) writes the frames
 * cot_bvq_hello()/cot_bvq_next() make into the TLS connection and feeds what it
 * reads to cot_bvq_input().
 *
 * Same stream rules as the hosted shipper (host/ship.h): seq from 1 per
 * epoch, no gaps; the epoch is new at every boot (there is no spool:
 * records live in BitVisor's memory only), so the first HELLO says
 * RESTART | FRESH.  When the queue is full the OLDEST record is dropped,
 * counted, and, when it was never sent, named in a LOST frame
 * (reason COT_LOST_SPOOL_FULL) before the next batch.  After a
 * reconnection logd's WELCOME says what it holds; the queue drops that
 * and sends the rest again.
 *
 * Plain C types only: ship.c sees BitVisor's headers, not cotrack's.
 * Not thread-safe: the caller serialises every call.
 */
#ifndef COTRACK_SHIPQ_H
#define COTRACK_SHIPQ_H

struct cot_bvq;

struct cot_bvq_stats {
	unsigned long long epoch;
	unsigned long long last_seq;  /* highest seq assigned */
	unsigned long long acked_seq; /* highest seq logd holds */
	unsigned long long sent_seq;  /* highest seq sent (this connection) */
	unsigned long long sent;      /* records written (with resends) */
	unsigned long long waiting;   /* in the queue */
	unsigned long long dropped;   /* dropped: queue full */
	unsigned long long lost_frames;
	unsigned long long connects;
	unsigned long long held_seq; /* what the last WELCOME said logd holds */
};

/* Bytes cot_bvq_init() needs for @cap records (0: @cap out of range). */
unsigned long cot_bvq_memsize(unsigned int cap);

/*
 * Lay out a queue of @cap records (2..65536) in @mem (8-byte aligned,
 * @len >= cot_bvq_memsize(@cap)).  @epoch: the stream's epoch, nonzero.
 * 0 or a negative code.
 */
int cot_bvq_init(struct cot_bvq **out, void *mem, unsigned long len,
		 unsigned int cap, unsigned long long epoch);

/*
 * Queue one record (@rec: a struct cot_rec, times already wall-clock) at
 * wall-clock @added_ns: numbered, encoded, chained.  Drops the oldest
 * when full.
 */
void cot_bvq_add(struct cot_bvq *q, const void *rec,
		 unsigned long long added_ns);

/*
 * A new connection: the HELLO frame into @out (@cap >= 48 bytes).
 * Returns its length or a negative code.  Frames of an earlier
 * connection still unread are forgotten.
 */
int cot_bvq_hello(struct cot_bvq *q, unsigned char *out, unsigned long cap);

/*
 * Bytes read from logd.  Returns 0, or a negative code when the
 * connection must be closed (malformed frame, ERROR from logd, an ACK
 * beyond what was sent).  At most 512 bytes are buffered: every frame
 * logd sends is smaller.
 */
int cot_bvq_input(struct cot_bvq *q, const unsigned char *p, unsigned long len);

/* 1 once the WELCOME of this connection arrived. */
int cot_bvq_ready(const struct cot_bvq *q);

/*
 * The next frame to send into @out (@cap bytes): a LOST frame while
 * dropped ranges are unnamed, else a BATCH of the next unsent records,
 * as many as fit in @cap and at most @max (>= 1).  Returns its length, 0
 * when there is nothing to send (or no WELCOME yet, or @cap too small
 * for one record), or a negative code.
 */
int cot_bvq_next(struct cot_bvq *q, unsigned char *out, unsigned long cap,
		 unsigned int max);

void cot_bvq_stats(const struct cot_bvq *q, struct cot_bvq_stats *st);

#endif
