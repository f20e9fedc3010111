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

/* Forget every cached translation (the guest may have remapped). */
void cot_vmi__tlb_flush(struct cot_vmi *k);

#endif
