// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what the shipper inside BitVisor reads from logd
 * (core/shipq: cot_bvq_input), in pieces as TCP delivers them, with
 * records queued and batches taken in between.  Checks the queue's
 * invariants after every step: what it says is acknowledged never
 * exceeds what it assigned, and every batch it makes decodes.
 */
#include <stdlib.h>
#include <string.h>

#include "cotrack/ship_proto.h"
#include "cotrack/shipq.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static uint64_t mem[(64 * 1024) / 8];
static uint8_t out[COT_FRAME_HDR + COT_BATCH_HDR + 8 * COT_BATCH_ENTRY_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cot_rec r = { .proto = COT_PROTO_TCP, .seen_by = COT_SEEN_NIC };
	struct cot_bvq_stats st;
	struct cot_batch_view b;
	struct cot_bvq *q;
	size_t off = 0;
	int n, i;

	CHECK(cot_bvq_init(&q, mem, sizeof(mem), 16, 7) == 0);
	for (i = 0; i < 5; i++)
		cot_bvq_add(q, &r, 1);
	cot_bvq_hello(q, out, sizeof(out));
	/* bounded by size: each turn consumes at least one byte */
	while (off < size) {
		size_t k = 1 + data[off] % 64;

		off++;
		if (k > size - off)
			k = size - off;
		if (cot_bvq_input(q, data + off, k) < 0)
			cot_bvq_hello(q, out, sizeof(out));
		off += k;
		cot_bvq_add(q, &r, 2);
		n = cot_bvq_next(q, out, sizeof(out), 8);
		CHECK(n >= 0 && (size_t)n <= sizeof(out));
		if (n > 0 && out[3] == COT_FR_BATCH)
			CHECK(cot_batch_decode(&b, out + COT_FRAME_HDR,
					       (size_t)n - COT_FRAME_HDR) == 0);
		cot_bvq_stats(q, &st);
		CHECK(st.acked_seq <= st.last_seq && st.waiting <= 16);
	}
	return 0;
}
