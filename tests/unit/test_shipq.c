// SPDX-License-Identifier: MIT
/*
 * core/shipq: the BitVisor shipper's queue, seq, chain and frames, checked
 * against the protocol's own decoders (core/ship_proto) and the chain
 * (core/chain) as logd would check them.
 */
#include "cotrack/chain.h"
#include "cotrack/ship_proto.h"
#include "cotrack/shipq.h"
#include "t.h"

static uint64_t mem[(1 << 20) / 8];
static uint8_t out[COT_FRAME_HDR + COT_FRAME_MAX];

static struct cot_bvq *mkq(unsigned int cap)
{
	struct cot_bvq *q = NULL;

	if (cot_bvq_memsize(cap) > sizeof(mem) ||
	    cot_bvq_init(&q, mem, sizeof(mem), cap, 0x5eed) < 0)
		return NULL;
	return q;
}

static void add(struct cot_bvq *q, int i)
{
	struct cot_rec r = { .seq = 999,
			     .proto = COT_PROTO_TCP,
			     .seen_by = COT_SEEN_NIC,
			     .sport = (uint16_t)i };

	memcpy(r.vm, "bv0", 4);
	cot_bvq_add(q, &r, 1000 + i);
}

/* Feed one frame of logd's to the queue. */
static int welcome(struct cot_bvq *q, uint64_t held, const uint8_t *hash)
{
	struct cot_welcome w = { .version = 1, .held_seq = held };
	uint8_t f[64];
	int n;

	memcpy(w.hash, hash, COT_CHAIN_LEN);
	n = cot_welcome_encode(f, sizeof(f), &w);
	/* in two pieces: the reader must reassemble */
	if (cot_bvq_input(q, f, 5) < 0)
		return -1;
	return cot_bvq_input(q, f + 5, (unsigned long)n - 5);
}

static int ack(struct cot_bvq *q, uint64_t seq)
{
	struct cot_ack a = { .acked_seq = seq };
	uint8_t f[64];
	int n = cot_ack_encode(f, sizeof(f), &a);

	return cot_bvq_input(q, f, (unsigned long)n);
}

/* Decode a BATCH frame as logd does; checks the chain links from @prev. */
static int check_batch(int n, uint64_t first, uint32_t count,
		       uint8_t prev[COT_CHAIN_LEN])
{
	struct cot_batch_view b;
	struct cot_rec r;
	uint8_t type, h[COT_CHAIN_LEN];
	uint32_t len, i;

	if (n <= 0 || cot_frame_hdr_parse(out, &type, &len) < 0 ||
	    type != COT_FR_BATCH || (int)len + COT_FRAME_HDR != n ||
	    cot_batch_decode(&b, out + COT_FRAME_HDR, len) < 0)
		return -1;
	if (b.first_seq != first || b.count != count ||
	    memcmp(b.prev_hash, prev, COT_CHAIN_LEN))
		return -2;
	for (i = 0; i < b.count; i++) {
		if (cot_chain_check_enc(&r, cot_batch_enc(&b, i),
					cot_batch_enc_len(&b, i)) < 0 ||
		    r.seq != first + i || cot_batch_added(&b, i) < 1000)
			return -3;
		cot_chain_next(h, prev, cot_batch_enc(&b, i),
			       cot_batch_enc_len(&b, i));
		memcpy(prev, h, COT_CHAIN_LEN);
	}
	return memcmp(b.last_hash, prev, COT_CHAIN_LEN) ? -4 : 0;
}

static void test_stream(void)
{
	struct cot_bvq *q = mkq(64);
	struct cot_bvq_stats st;
	struct cot_hello h;
	uint8_t chain[COT_CHAIN_LEN], h0[COT_CHAIN_LEN], type;
	uint32_t len;
	int i, n;

	T_ASSERT(q);
	cot_chain_init(h0);
	memcpy(chain, h0, sizeof(chain));
	for (i = 0; i < 10; i++)
		add(q, i);
	/* nothing is sent before WELCOME */
	T_EQ_U(cot_bvq_next(q, out, sizeof(out), 100), 0);
	n = cot_bvq_hello(q, out, sizeof(out));
	T_ASSERT(n == COT_FRAME_HDR + 40);
	T_ASSERT(cot_frame_hdr_parse(out, &type, &len) == 0);
	T_ASSERT(cot_hello_decode(&h, out + COT_FRAME_HDR, len) == 0);
	T_EQ_U(h.flags, COT_HELLO_RESTART | COT_HELLO_FRESH);
	T_EQ_U(h.epoch, 0x5eed);
	T_EQ_U(h.last_seq, 10);
	T_EQ_U(h.oldest_seq, 1);
	T_EQ_U(welcome(q, 0, h0), 0);
	T_CHECK(cot_bvq_ready(q));
	/* at most 4 per batch: 1-4, 5-8, 9-10 */
	T_EQ_U(check_batch(cot_bvq_next(q, out, sizeof(out), 4), 1, 4, chain),
	       0);
	T_EQ_U(check_batch(cot_bvq_next(q, out, sizeof(out), 4), 5, 4, chain),
	       0);
	/* a small buffer: one record fits */
	T_EQ_U(check_batch(cot_bvq_next(q, out,
					COT_FRAME_HDR + COT_BATCH_HDR +
						COT_BATCH_ENTRY_MIN + 10,
					4),
			   9, 1, chain),
	       0);
	T_EQ_U(check_batch(cot_bvq_next(q, out, sizeof(out), 4), 10, 1, chain),
	       0);
	T_EQ_U(cot_bvq_next(q, out, sizeof(out), 4), 0);
	T_EQ_U(ack(q, 6), 0);
	cot_bvq_stats(q, &st);
	T_EQ_U(st.acked_seq, 6);
	T_EQ_U(st.sent_seq, 10); /* 7..10 wait: the ack clock runs */
	T_EQ_U(st.waiting, 4);
	/* an ACK beyond what was sent closes the connection */
	T_CHECK(ack(q, 11) < 0);

	/* reconnect: logd holds 8; 9 and 10 go again with the same chain */
	n = cot_bvq_hello(q, out, sizeof(out));
	T_ASSERT(cot_hello_decode(&h, out + COT_FRAME_HDR, 40) == 0);
	T_EQ_U(h.flags, COT_HELLO_FRESH);
	T_EQ_U(h.oldest_seq, 7);
	T_EQ_U(cot_bvq_next(q, out, sizeof(out), 4), 0);
	{
		/* the chain up to 8, recomputed from 9's prev_hash */
		uint8_t again[COT_CHAIN_LEN];

		T_EQ_U(welcome(q, 8, h0), 0);
		n = cot_bvq_next(q, out, sizeof(out), 100);
		T_ASSERT(n > 0);
		memcpy(again, out + COT_FRAME_HDR + 16, COT_CHAIN_LEN);
		T_EQ_U(check_batch(n, 9, 2, again), 0);
		T_CHECK(memcmp(again, chain, COT_CHAIN_LEN) == 0);
	}
	T_EQ_U(ack(q, 10), 0);
	cot_bvq_stats(q, &st);
	T_EQ_U(st.waiting, 0);
	T_EQ_U(st.last_seq, 10);
	T_EQ_U(st.connects, 2);
}

/*
 * The next log server of the list (tee/bitvisor/ship.c: A acknowledged
 * up to 6 and went away).  With a store of its own it holds nothing:
 * the queue sends from 7 on, chained from 6 (logd records the gap);
 * with the store shared it holds 8: from 9.  A server holding more than
 * was made is another stream: a new epoch.
 */
static void test_next_server(void)
{
	struct cot_bvq *q = mkq(64);
	struct cot_bvq_stats st;
	uint8_t chain[COT_CHAIN_LEN], h0[COT_CHAIN_LEN], c6[COT_CHAIN_LEN];
	int i, n;

	T_ASSERT(q);
	cot_chain_init(h0);
	memcpy(chain, h0, sizeof(chain));
	for (i = 0; i < 10; i++)
		add(q, i);
	cot_bvq_hello(q, out, sizeof(out));
	T_ASSERT(welcome(q, 0, h0) == 0);
	T_ASSERT(check_batch(cot_bvq_next(q, out, sizeof(out), 6), 1, 6,
			     chain) == 0);
	memcpy(c6, chain, sizeof(c6));
	T_ASSERT(check_batch(cot_bvq_next(q, out, sizeof(out), 100), 7, 4,
			     chain) == 0);
	T_ASSERT(ack(q, 6) == 0);
	/* server B, a store of its own: holds nothing of this stream */
	cot_bvq_hello(q, out, sizeof(out));
	T_ASSERT(welcome(q, 0, h0) == 0);
	cot_bvq_stats(q, &st);
	T_EQ_U(st.held_seq, 0); /* what B said, not what A acknowledged */
	T_EQ_U(st.acked_seq, 6);
	T_EQ_U(st.sent_seq, 6);
	memcpy(chain, c6, sizeof(chain));
	T_EQ_U(check_batch(cot_bvq_next(q, out, sizeof(out), 100), 7, 4, chain),
	       0);
	T_EQ_U(ack(q, 10), 0);
	/* server C on a shared store, holding 12 of 14: from 13 */
	add(q, 10);
	add(q, 11);
	add(q, 12);
	add(q, 13);
	cot_bvq_hello(q, out, sizeof(out));
	T_ASSERT(welcome(q, 12, h0) == 0);
	n = cot_bvq_next(q, out, sizeof(out), 100);
	T_ASSERT(n > 0);
	memcpy(chain, out + COT_FRAME_HDR + 16, COT_CHAIN_LEN);
	T_EQ_U(check_batch(n, 13, 2, chain), 0);
	cot_bvq_stats(q, &st);
	T_EQ_U(st.acked_seq, 12);
	T_EQ_U(st.waiting, 2);
	T_EQ_U(st.connects, 3);
}

static void test_full_lost(void)
{
	struct cot_bvq *q = mkq(4);
	struct cot_bvq_stats st;
	struct cot_lost l;
	struct cot_batch_view b;
	uint8_t h0[COT_CHAIN_LEN], type;
	uint32_t len;
	int i, n;

	T_ASSERT(q);
	cot_chain_init(h0);
	for (i = 0; i < 10; i++)
		add(q, i); /* 1..6 dropped, 7..10 held */
	cot_bvq_stats(q, &st);
	T_EQ_U(st.dropped, 6);
	T_EQ_U(st.waiting, 4);
	cot_bvq_hello(q, out, sizeof(out));
	T_EQ_U(welcome(q, 0, h0), 0);
	n = cot_bvq_next(q, out, sizeof(out), 100);
	T_ASSERT(n == COT_FRAME_HDR + 20);
	T_ASSERT(cot_frame_hdr_parse(out, &type, &len) == 0);
	T_EQ_U(type, COT_FR_LOST);
	T_ASSERT(cot_lost_decode(&l, out + COT_FRAME_HDR, len) == 0);
	T_EQ_U(l.first, 1);
	T_EQ_U(l.last, 6);
	T_EQ_U(l.reason, COT_LOST_SPOOL_FULL);
	n = cot_bvq_next(q, out, sizeof(out), 100);
	T_ASSERT(n > 0);
	T_ASSERT(cot_batch_decode(&b, out + COT_FRAME_HDR,
				  (size_t)n - COT_FRAME_HDR) == 0);
	T_EQ_U(b.first_seq, 7);
	T_EQ_U(b.count, 4);
	/* a sent, unacknowledged record dropped is not named LOST */
	add(q, 11);
	n = cot_bvq_next(q, out, sizeof(out), 100);
	T_ASSERT(n > 0);
	T_ASSERT(cot_frame_hdr_parse(out, &type, &len) == 0);
	T_EQ_U(type, COT_FR_BATCH);
	cot_bvq_stats(q, &st);
	T_EQ_U(st.lost_frames, 1);
	T_EQ_U(st.dropped, 7);
}

static void test_bad_input(void)
{
	struct cot_bvq *q = mkq(8);
	uint8_t h0[COT_CHAIN_LEN], junk[16] = "GET / HTTP/1.0\r\n";
	uint8_t f[8];

	T_ASSERT(q);
	cot_chain_init(h0);
	cot_bvq_hello(q, out, sizeof(out));
	T_CHECK(cot_bvq_input(q, junk, sizeof(junk)) < 0);
	cot_bvq_hello(q, out, sizeof(out));
	/* ACK before WELCOME */
	T_CHECK(ack(q, 0) < 0);
	cot_bvq_hello(q, out, sizeof(out));
	/* a BATCH from logd: not a frame logd sends */
	cot_frame_hdr_put(f, COT_FR_BATCH, 600);
	T_CHECK(cot_bvq_input(q, f, sizeof(f)) == -COT_EMSGSIZE);
	cot_bvq_hello(q, out, sizeof(out));
	/* logd holds more than this tracker made: a new epoch */
	T_CHECK(welcome(q, 5, h0) == -COT_EAGAIN);
	cot_bvq_hello(q, out, sizeof(out));
	T_EQ_U(welcome(q, 0, h0), 0);
	T_CHECK(cot_bvq_memsize(1) == 0 && cot_bvq_memsize(65537) == 0);
}

int main(void)
{
	T_RUN(test_stream);
	T_RUN(test_next_server);
	T_RUN(test_full_lost);
	T_RUN(test_bad_input);
	return t_done();
}
