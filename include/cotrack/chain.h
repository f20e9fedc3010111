/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4) and the per-tracker hash chain over encoded
 * records.  Freestanding: no libc, no allocation.
 *
 * Chain (version 1):
 *
 *   h_0 = SHA-256("cotrack chain v1")  (16 ASCII bytes, no NUL)
 *   h_n = SHA-256("COTCHN1" || 0x00 || h_{n-1} || enc(rec_n))
 *
 * where enc() is the record's binary encoding (rec.h: 140 bytes in
 * version 1, variable in version 2, all of it hashed), which carries
 * rec_n.seq: a record cannot be moved to another position
 * without breaking every later link.  The 8-byte domain tag keeps chain
 * hashes from ever colliding with another use of SHA-256 over the same
 * bytes.  Every stream (tracker, epoch) starts from the same h_0; the
 * stream is identified by the TLS certificate and the epoch, not by the
 * chain.
 *
 * Thread-safety: the functions keep no global state; a context belongs
 * to one thread at a time.
 */
#ifndef COTRACK_CHAIN_H
#define COTRACK_CHAIN_H

#include "cotrack/common.h"
#include "cotrack/rec.h"

#define COT_SHA256_LEN 32
#define COT_CHAIN_LEN  COT_SHA256_LEN

struct cot_sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	uint8_t buf[64];
	uint32_t fill; /* bytes in buf */
};

void cot_sha256_init(struct cot_sha256 *c);
void cot_sha256_update(struct cot_sha256 *c, const void *data, size_t len);
void cot_sha256_final(struct cot_sha256 *c, uint8_t out[static COT_SHA256_LEN]);
/* One-shot digest of @len bytes. */
void cot_sha256(uint8_t out[static COT_SHA256_LEN], const void *data,
		size_t len);

/* The fixed head every stream starts from (h_0). */
void cot_chain_init(uint8_t h0[static COT_CHAIN_LEN]);

/*
 * h_n from h_{n-1} (@prev) and the encoded record (@enc, @len bytes).
 * @out may alias @prev.
 */
void cot_chain_next(uint8_t out[static COT_CHAIN_LEN],
		    const uint8_t prev[static COT_CHAIN_LEN],
		    const uint8_t *enc, size_t len);

/*
 * Check that @enc (@len bytes) is the canonical encoding of a valid
 * record (decodes using exactly @len bytes, and re-encodes to the same
 * bytes), filling @r.  Returns 0,
 * -COT_EBADMSG or -COT_ENOTSUP.  Both ends of the log path use it, so
 * the chain can be recomputed later from the decoded fields alone.
 */
int cot_chain_check_enc(struct cot_rec *r, const uint8_t *enc, size_t len);

#endif
