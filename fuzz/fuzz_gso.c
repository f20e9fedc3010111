// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for super-frame accounting and segmentation
 * (core/pkt cot_pkt_gso_tcp(), cmd/cotrackd/gso.c): the first two bytes
 * are the segment size a guest asks for (big-endian), the rest a frame.
 * Whatever the bytes, the segments built from an accepted super-frame
 * parse as TCP, carry at most mss payload bytes each, and add up to
 * exactly what cot_pkt_gso_tcp() counted; checksum completion stays
 * within the frame.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/cotrackd/gso.c"

/* As cotrackd parses a frame sent with offloads: outer headers only. */
static const struct cot_pkt_cfg outer = { .decap = false };

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

#define MAXF (65536 + 4096)

static uint8_t out[1 << 20], copy[MAXF];
static struct gso_seg seg[1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cot_pkt p, s;
	uint32_t mss, len, i;
	uint64_t bytes = 0, payload = 0;
	int n;

	if (size < 2 || size - 2 > MAXF)
		return 0;
	mss = (uint32_t)data[0] << 8 | data[1];
	len = (uint32_t)(size - 2);
	memcpy(copy, data + 2, len);
	if (cot_pkt_parse_cfg(&p, copy, len, len, &outer) != COT_PKT_OK)
		return 0;
	if (gso_csum(&p, copy, len) == 0)
		CHECK(cot_pkt_parse_cfg(&s, copy, len, len, &outer) ==
		      COT_PKT_OK);
	if (cot_pkt_gso_tcp(&p, mss) != COT_PKT_OK) {
		CHECK(p.reason == COT_PKT_BAD_GSO);
		return 0;
	}
	CHECK(p.ipproto == 6 && mss >= COT_PKT_GSO_MIN_MSS && p.segs >= 1);
	if (!(p.fl & COT_PKT_F_GSO)) {
		CHECK(p.segs == 1 && p.wire_bytes == p.ip_len);
		return 0;
	}
	CHECK(p.segs <= 746);
	n = gso_segment(&p, copy, len, mss, out, sizeof(out), seg, 1024);
	if (n < 0) {
		CHECK(gso_need(&p) > sizeof(out));
		return 0;
	}
	CHECK((uint32_t)n == p.segs);
	for (i = 0; i < (uint32_t)n; i++) {
		CHECK(cot_pkt_parse_cfg(&s, out + seg[i].off, seg[i].len,
					seg[i].len, &outer) == COT_PKT_OK);
		CHECK(s.ipproto == 6 && (s.fl & COT_PKT_F_L4));
		CHECK(s.l4_len - s.tcp_hlen <= mss);
		bytes += s.ip_len;
		payload += s.l4_len - s.tcp_hlen;
	}
	CHECK(bytes == p.wire_bytes);
	CHECK(payload == p.l4_len - p.tcp_hlen);
	return 0;
}
