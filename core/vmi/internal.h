/* SPDX-License-Identifier: MIT */
/* What the files of core/vmi share and callers do not see. */
#ifndef COTRACK_CORE_VMI_INTERNAL_H
#define COTRACK_CORE_VMI_INTERNAL_H

#include "cotrack/vmi.h"

/*
 * From now on let reads through @k (kernel.c's read path) take at most
 * @max_bytes more bytes and @max_walks more page walks (UINT64_MAX: no
 * limit); clears k->spent.
 */
void cot_vmi__set_limits(struct cot_vmi *k, uint64_t max_bytes,
			 uint64_t max_walks);

/* Read @len bytes at guest-physical @gpa through the counted read path
 * (kernel.c's mem_read()): 0, -COT_EAGAIN past the limits, -COT_EFAULT. */
int cot_vmi__read_pa(struct cot_vmi *k, uint64_t gpa, void *buf, size_t len);

/* Forget every cached translation (the guest may have remapped). */
void cot_vmi__tlb_flush(struct cot_vmi *k);

/* A little-endian u64 / u32 at guest virtual @va (cot_vmi_read_va). */
static inline int rd64(struct cot_vmi *k, uint64_t va, uint64_t *v)
{
	uint8_t b[8];
	int err = cot_vmi_read_va(k, va, b, 8);

	if (!err)
		*v = cot_get_le64(b);
	return err;
}

static inline int rd32(struct cot_vmi *k, uint64_t va, uint32_t *v)
{
	uint8_t b[4];
	int err = cot_vmi_read_va(k, va, b, 4);

	if (!err)
		*v = cot_get_le32(b);
	return err;
}

#endif
