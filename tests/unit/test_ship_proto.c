// SPDX-License-Identifier: MIT
/* host/ship_proto: frame encoders/decoders and their bounds. */
#include "cotrack/pkt.h"
#include "host/ship_proto.h"
#include "t.h"

static uint8_t buf[COT_FRAME_HDR + COT_FRAME_MAX];

static void test_header(void)
{
	uint8_t h[COT_FRAME_HDR], type;
	uint32_t len;

	cot_frame_hdr_put(h, COT_FR_ACK, 40);
	T_EQ_U(cot_frame_hdr_parse(h, &type, &len), 0);
	T_EQ_U(type, COT_FR_ACK);
	T_EQ_U(len, 40);
	cot_frame_hdr_put(h, COT_FR_ACK, 41); /* over the ACK bound */
	T_CHECK(cot_frame_hdr_parse(h, &type, &len) == -COT_EBADMSG);
	cot_frame_hdr_put(h, 99, 0); /* unknown type */
	T_CHECK(cot_frame_hdr_parse(h, &type, &len) == -COT_EBADMSG);
	cot_frame_hdr_put(h, COT_FR_BATCH, COT_FRAME_MAX + 1);
	T_CHECK(cot_frame_hdr_parse(h, &type, &len) == -COT_EBADMSG);
	cot_frame_hdr_put(h, COT_FR_BATCH, 0xffffffffu);
	T_CHECK(cot_frame_hdr_parse(h, &type, &len) == -COT_EBADMSG);
	cot_frame_hdr_put(h, COT_FR_HELLO, 40);
	h[2] = 2;
	T_CHECK(cot_frame_hdr_parse(h, &type, &len) == -COT_ENOTSUP);
	h[2] = 1;
	h[0] = 'X';
	T_CHECK(cot_frame_hdr_parse(h, &type, &len) == -COT_EBADMSG);
}

static void test_hello_welcome_ack(void)
{
	struct cot_hello h = { .version = 1,
			       .flags = 3,
			       .epoch = 0x1234,
			       .last_seq = 10,
			       .oldest_seq = 5,
			       .dropped = 2 },
			 h2;
	struct cot_welcome w = { .version = 1, .held_seq = 77 }, w2;
	struct cot_ack a = { .acked_seq = 99 }, a2;
	struct cot_lost l = { .first = 3, .last = 9, .reason = 1 }, l2;
	struct cot_errframe e;
	int n;

	n = cot_hello_encode(buf, sizeof(buf), &h);
	T_EQ_U(n, 48);
	T_EQ_U(cot_hello_decode(&h2, buf + 8, 40), 0);
	T_CHECK(h2.epoch == 0x1234 && h2.last_seq == 10 && h2.oldest_seq == 5 &&
		h2.dropped == 2 && h2.flags == 3);
	T_CHECK(cot_hello_decode(&h2, buf + 8, 39) == -COT_EBADMSG);
	h.epoch = 0; /* epoch 0 is invalid */
	cot_hello_encode(buf, sizeof(buf), &h);
	T_CHECK(cot_hello_decode(&h2, buf + 8, 40) == -COT_EBADMSG);
	h.epoch = 1, h.oldest_seq = 11; /* oldest beyond last */
	cot_hello_encode(buf, sizeof(buf), &h);
	T_CHECK(cot_hello_decode(&h2, buf + 8, 40) == -COT_EBADMSG);
	memset(w.hash, 0xab, 32);
	T_EQ_U(cot_welcome_encode(buf, sizeof(buf), &w), 56);
	T_EQ_U(cot_welcome_decode(&w2, buf + 8, 48), 0);
	T_CHECK(w2.held_seq == 77 && w2.hash[31] == 0xab);
	T_EQ_U(cot_ack_encode(buf, sizeof(buf), &a), 48);
	T_EQ_U(cot_ack_decode(&a2, buf + 8, 40), 0);
	T_EQ_U(a2.acked_seq, 99);
	T_EQ_U(cot_lost_encode(buf, sizeof(buf), &l), 28);
	T_EQ_U(cot_lost_decode(&l2, buf + 8, 20), 0);
	T_CHECK(l2.first == 3 && l2.last == 9 && l2.reason == 1);
	l.first = 10; /* first > last */
	cot_lost_encode(buf, sizeof(buf), &l);
	T_CHECK(cot_lost_decode(&l2, buf + 8, 20) == -COT_EBADMSG);
	n = cot_error_encode(buf, sizeof(buf), 7, "disk\nfull");
	T_EQ_U(cot_error_decode(&e, buf + 8, (size_t)n - 8), 0);
	T_EQ_S(e.msg, "disk?full");
	T_EQ_U(e.code, 7);
	T_CHECK(cot_ack_encode(buf, 47, &a) == -COT_ENOSPC);
}

static void mkrec(struct cot_rec *r, uint64_t seq, int names, int full)
{
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->proto = COT_PROTO_TCP;
	r->seen_by = COT_SEEN_BOTH;
	if (!names)
		return;
	r->src_owner.pid = 4242;
	memset(r->src_owner.comm, 'c', full ? COT_COMM_LEN - 1 : 5);
	memset(r->src_owner.cgroup, 'g', full ? COT_CGROUP_LEN - 1 : 3);
	memset(r->dst_name, 'n', full ? COT_DNSNAME_LEN - 1 : 7);
	if (full) {
		r->dst_owner.pid = 1;
		memset(r->dst_owner.comm, 'd', COT_COMM_LEN - 1);
		memset(r->dst_owner.cgroup, 'h', COT_CGROUP_LEN - 1);
		memset(r->src_name, 'm', COT_DNSNAME_LEN - 1);
		/* and a tunnel: the longest encoding there is (v3) */
		r->tun_type = COT_TUN_GRE;
		r->tun_id = 0xffffffffu;
		r->inner_conns = 1;
	}
}

/* Entries for seqs first.., every @v2every-th named; returns bytes. */
static size_t put_entries(uint8_t *p, uint64_t first, uint32_t n, int full)
{
	uint8_t enc[COT_REC_WIRE_MAX];
	struct cot_rec r;
	size_t off = 0;
	uint32_t i;
	int k;

	for (i = 0; i < n; i++) {
		mkrec(&r, first + i, full || i % 2, full);
		k = cot_rec_encode(enc, &r);
		off += cot_batch_entry_put(p + off, 0x5a5a5a5a5a5a5a5aull + i,
					   enc, (size_t)k);
	}
	return off;
}

static void test_batch(void)
{
	uint8_t prev[32] = { 1 }, last[32] = { 2 };
	struct cot_batch_view b;
	struct cot_rec r;
	size_t len, el;

	/* v1, v2, v1: variable-length entries */
	el = put_entries(buf + 8 + COT_BATCH_HDR, 5, 3, 0);
	cot_batch_hdr_put(buf, 5, 3, el, prev, last);
	len = COT_BATCH_HDR + el;
	T_CHECK(el > 3 * COT_BATCH_ENTRY_MIN);
	T_EQ_U(cot_get_le32(buf + 4), len);
	T_EQ_U(cot_batch_decode(&b, buf + 8, len), 0);
	T_CHECK(b.first_seq == 5 && b.count == 3 && b.prev_hash[0] == 1 &&
		b.last_hash[0] == 2);
	T_EQ_U(cot_batch_added(&b, 2), 0x5a5a5a5a5a5a5a5cull);
	T_EQ_U(cot_batch_enc_len(&b, 0), COT_REC_WIRE_V1_LEN);
	T_CHECK(cot_batch_enc_len(&b, 1) > COT_REC_WIRE_V1_LEN);
	T_EQ_U(cot_batch_enc_len(&b, 2), COT_REC_WIRE_V1_LEN);
	T_EQ_U(cot_chain_check_enc(&r, cot_batch_enc(&b, 1),
				   cot_batch_enc_len(&b, 1)),
	       0);
	T_CHECK(r.seq == 6 && r.src_owner.pid == 4242);
	T_CHECK(cot_batch_decode(&b, buf + 8, len - 1) == -COT_EBADMSG);
	T_CHECK(cot_batch_decode(&b, buf + 8, len + 1) == -COT_EBADMSG);
	T_CHECK(cot_batch_decode(&b, buf + 8, 79) == -COT_EBADMSG);
	/* an entry's record header decides its length: bad magic, version */
	buf[8 + COT_BATCH_HDR + 8 + 148] ^= 1;
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	buf[8 + COT_BATCH_HDR + 8 + 148] ^= 1;
	buf[8 + COT_BATCH_HDR + 8 + 148 + 2] = 9;
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_ENOTSUP);
	buf[8 + COT_BATCH_HDR + 8 + 148 + 2] = 2;
	/* a v2 length running into the next entry */
	cot_put_le16(buf + 8 + COT_BATCH_HDR + 148 + 8 + 140,
		     (uint16_t)(cot_batch_enc_len(&b, 1) + 1));
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	cot_put_le16(buf + 8 + COT_BATCH_HDR + 148 + 8 + 140,
		     (uint16_t)(el - 2 * 148 - 8));
	T_EQ_U(cot_batch_decode(&b, buf + 8, len), 0);
	cot_put_le32(buf + 8 + 8, 0); /* count 0 */
	T_CHECK(cot_batch_decode(&b, buf + 8, COT_BATCH_HDR) == -COT_EBADMSG);
	cot_put_le32(buf + 8 + 8, COT_BATCH_MAX + 1);
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	cot_put_le32(buf + 8 + 8,
		     0x40000000u); /* count*entry overflows 32 bits */
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	cot_put_le32(buf + 8 + 8, 2); /* fewer entries than the payload */
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	cot_put_le32(buf + 8 + 8, 4); /* more */
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	cot_batch_hdr_put(buf, UINT64_MAX - 1, 3, el, prev, last); /* wraps */
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	cot_batch_hdr_put(buf, 0, 3, el, prev, last); /* seq 0 */
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	cot_batch_hdr_put(buf, 1, 3, el, prev, last);
	cot_put_le32(buf + 8 + 12, 1); /* reserved must be 0 */
	T_CHECK(cot_batch_decode(&b, buf + 8, len) == -COT_EBADMSG);
	/* The largest batch (largest records) fits the largest frame. */
	el = put_entries(buf + 8 + COT_BATCH_HDR, 1, COT_BATCH_MAX, 1);
	T_EQ_U(el, (size_t)COT_BATCH_MAX * COT_BATCH_ENTRY_MAX);
	cot_batch_hdr_put(buf, 1, COT_BATCH_MAX, el, prev, last);
	T_EQ_U(cot_batch_decode(&b, buf + 8, COT_FRAME_MAX), 0);
	T_EQ_U(cot_frame_hdr_parse(buf, &(uint8_t){ 0 }, &(uint32_t){ 0 }), 0);
}

int main(void)
{
	T_RUN(test_header);
	T_RUN(test_hello_welcome_ack);
	T_RUN(test_batch);
	return t_done();
}
