/* SPDX-License-Identifier: MIT */
/*
 * host/ship_proto: the hosted half of the frame protocol: reading one
 * frame from a TLS connection and the fast chain hash.  The frame
 * layout and the pure encoders/decoders are freestanding, in
 * cotrack/ship_proto.h (core/ship_proto.c).
 */
#ifndef COTRACK_HOST_SHIP_PROTO_H
#define COTRACK_HOST_SHIP_PROTO_H

#include "cotrack/ship_proto.h"

struct cot_tls;
/*
 * Read one frame from @c into @buf (@cap >= COT_FRAME_MAX recommended):
 * header checked before the payload is read.  Returns 0 with *type and
 * *len, or a negative code (tls.h codes, -COT_EBADMSG, -COT_ENOTSUP,
 * -COT_EMSGSIZE when the payload exceeds @cap).
 */
int cot_frame_read(struct cot_tls *c, uint8_t *buf, size_t cap, uint8_t *type,
		   uint32_t *len, int timeout_ms);

/*
 * cot_chain_next() computed with OpenSSL's SHA-256 (SHA-NI/AVX when the
 * CPU has them): the same value, several times faster than the portable
 * core version.  Host code on hot paths (logd, the shipper) uses it;
 * test_chain checks both agree.  Thread-safe.
 */
void cot_chain_next_fast(uint8_t out[static COT_CHAIN_LEN],
			 const uint8_t prev[static COT_CHAIN_LEN],
			 const uint8_t *enc, size_t len);

#endif
