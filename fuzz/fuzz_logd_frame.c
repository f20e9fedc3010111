// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what cotrack-logd reads from a tracker after TLS:
 * a stream of frames (host/ship_proto).  Each frame's header is checked,
 * its payload decoded by type; a BATCH's records are checked as logd does
 * (canonical encoding, seq matching its position) and chained.  Checks
 * that decoders stay inside the payload and that fixed-size frames
 * re-encode to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "host/ship_proto.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static uint8_t out[COT_FRAME_HDR + 512];

static void one(uint8_t type, const uint8_t *p, uint32_t len)
{
	struct cot_hello h;
	struct cot_welcome w;
	struct cot_ack a;
	struct cot_lost l;
	struct cot_errframe e;
	struct cot_batch_view b;
	struct cot_rec r;
	uint8_t hash[COT_CHAIN_LEN];
	uint32_t i;
	int n;

	switch (type) {
	case COT_FR_HELLO:
		if (cot_hello_decode(&h, p, len) == 0) {
			n = cot_hello_encode(out, sizeof(out), &h);
			CHECK(n == (int)(COT_FRAME_HDR + len));
			CHECK(!memcmp(out + COT_FRAME_HDR, p, len));
		}
		break;
	case COT_FR_WELCOME:
		if (cot_welcome_decode(&w, p, len) == 0) {
			n = cot_welcome_encode(out, sizeof(out), &w);
			CHECK(n == (int)(COT_FRAME_HDR + len));
			CHECK(!memcmp(out + COT_FRAME_HDR, p, len));
		}
		break;
	case COT_FR_ACK:
		if (cot_ack_decode(&a, p, len) == 0) {
			n = cot_ack_encode(out, sizeof(out), &a);
			CHECK(n == (int)(COT_FRAME_HDR + len));
			CHECK(!memcmp(out + COT_FRAME_HDR, p, len));
		}
		break;
	case COT_FR_LOST:
		if (cot_lost_decode(&l, p, len) == 0)
			CHECK(l.first >= 1 && l.first <= l.last);
		break;
	case COT_FR_ERROR:
		if (cot_error_decode(&e, p, len) == 0)
			CHECK(strlen(e.msg) == len - 4);
		break;
	case COT_FR_BATCH:
		if (cot_batch_decode(&b, p, len) < 0)
			break;
		CHECK(b.count >= 1 && b.count <= COT_BATCH_MAX);
		CHECK(COT_BATCH_HDR + (size_t)b.count * COT_BATCH_ENTRY_MIN <=
		      len);
		CHECK(b.off[b.count - 1] + 8 + (size_t)b.len[b.count - 1] ==
		      len - COT_BATCH_HDR);
		CHECK(b.first_seq >= 1 &&
		      b.first_seq + b.count - 1 >= b.first_seq);
		memcpy(hash, b.prev_hash, COT_CHAIN_LEN);
		/* count <= COT_BATCH_MAX bounds the loop. */
		for (i = 0; i < b.count; i++) {
			const uint8_t *enc = cot_batch_enc(&b, i);

			size_t elen = cot_batch_enc_len(&b, i);

			CHECK(enc + elen <= p + len);
			(void)cot_batch_added(&b, i);
			if (cot_chain_check_enc(&r, enc, elen) < 0 ||
			    r.seq != b.first_seq + i)
				break;
			CHECK(r.vm[COT_VM_NAMELEN - 1] == '\0');
			CHECK(strlen(r.src_owner.comm) < COT_COMM_LEN &&
			      strlen(r.dst_name) < COT_DNSNAME_LEN);
			cot_chain_next(hash, hash, enc, elen);
		}
		break;
	default:
		abort(); /* the header parser lets only known types through */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t type;
	uint32_t len;

	/* Each pass consumes at least a header: bounded by size / 8. */
	while (size >= COT_FRAME_HDR) {
		if (cot_frame_hdr_parse(data, &type, &len) < 0)
			break;
		CHECK(len <= COT_FRAME_MAX);
		data += COT_FRAME_HDR;
		size -= COT_FRAME_HDR;
		if (len > size)
			break;
		/* Copy: the decoder must not read past the payload. */
		{
			uint8_t *p = malloc(len ? len : 1);

			if (!p)
				return 0;
			memcpy(p, data, len);
			one(type, p, len);
			free(p);
		}
		data += len;
		size -= len;
	}
	return 0;
}
