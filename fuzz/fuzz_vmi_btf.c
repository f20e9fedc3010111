// SPDX-License-Identifier: MIT
/*
 * libFuzzer: core/vmi/btf, the BTF reader BitVisor's module runs on the
 * guest's BTF (hostile guest memory).  The index buffer is exactly what
 * cot_vmi_btf_memsize() asks for, on the heap, so ASan catches a write
 * past it; a profile returned must pass cot_vmi_set_profile's bounds or
 * be refused by it, never crash it.
 */
#include <stdlib.h>
#include <string.h>

#include "cotrack/vmi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cot_vmi k;
	struct cot_vmi_profile p;
	size_t ml = cot_vmi_btf_memsize(size);
	uint8_t *copy = malloc(size ? size : 1);
	void *mem = malloc(ml);

	if (!copy || !mem)
		abort();
	memcpy(copy, data, size);
	if (cot_vmi_profile_btf(copy, size, mem, ml, &p) == 0)
		(void)cot_vmi_set_profile(&k, &p);
	free(mem);
	free(copy);
	return 0;
}
