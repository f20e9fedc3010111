/* SPDX-License-Identifier: MIT */
/*
 * The keyed hash of the core's tables (internal to core/: core/flow,
 * core/merge, core/dns), and their layout helpers.  Every key these tables hold
 * is chosen by a guest (its flows, its sockets, its listening ports), so the
 * hash is keyed with a seed the guest does not know: without it, it cannot aim
 * its keys at one bucket.  Not a cryptographic MAC; a multiply-xorshift mix
 * that is cheap on the per-packet path.
 */
#ifndef COTRACK_CORE_HASH_H
#define COTRACK_CORE_HASH_H

#include "cotrack/common.h"

/* Table layout (cot_*_memsize, cot_*_init): sizes of a power of two,
 * and blocks 8-byte aligned. */
static inline uint32_t cot_pow2_at_least(uint32_t n)
{
	uint32_t v = 1;

	while (v < n && v < (1U << 31))
		v <<= 1;
	return v;
}

static inline uint64_t cot_align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

static inline uint64_t cot_rd64(const uint8_t *b)
{
	uint64_t v;

	cot_memcpy(&v, b, 8);
	return v;
}

static inline bool cot_addr_eq(const struct cot_addr *a,
			       const struct cot_addr *b)
{
	return ((cot_rd64(a->b) ^ cot_rd64(b->b)) |
		(cot_rd64(a->b + 8) ^ cot_rd64(b->b + 8))) == 0;
}

static inline uint64_t cot_hash_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 32;
	return h;
}

/*
 * Hash of a canonical tuple ((@a0, @p0) is the lower end) of IP
 * protocol @proto, keyed with @seed.
 */
static inline uint32_t cot_hash_tuple(uint64_t seed, uint8_t proto,
				      const struct cot_addr *a0, uint16_t p0,
				      const struct cot_addr *a1, uint16_t p1)
{
	uint64_t h = seed;

	h = cot_hash_mix(h, cot_rd64(a0->b) + 0x100);
	h = cot_hash_mix(h, cot_rd64(a0->b + 8));
	h = cot_hash_mix(h, cot_rd64(a1->b));
	h = cot_hash_mix(h, cot_rd64(a1->b + 8));
	h = cot_hash_mix(h, (uint64_t)p0 << 32 | (uint64_t)p1 << 16 | proto);
	h ^= h >> 29;
	return (uint32_t)h;
}

#endif
