// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the kallsyms decoder over hostile tables.  The input is a
 * flat piece of "kernel memory" at VA_BASE; its first 24 bytes say where
 * the tables are (offsets into the input) and how many symbols there
 * are (bounded to keep runs fast).  Then the search for the tables
 * (cot_kallsyms_locate()) runs over the same memory, and what it finds,
 * if anything, is decoded.
 */
#include <string.h>

#include "cotrack/vmi.h"

#define VA_BASE 0xffffffff81000000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct flat {
	const uint8_t *p;
	size_t n;
};

static int rd(void *ctx, uint64_t va, void *buf, size_t len)
{
	const struct flat *f = ctx;
	uint64_t off = va - VA_BASE;

	if (va < VA_BASE || off > f->n || len > f->n - off)
		return -COT_EFAULT;
	memcpy(buf, f->p + off, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flat f = { data, size };
	struct cot_kallsyms ks = { 0 };
	struct cot_ksym_req rq[3] = { { .name = "tcp_hashinfo" },
				      { .name = "init_net" },
				      { .name = "a" } };
	int n;

	if (size < 24)
		return 0;
	ks.names = VA_BASE + cot_get_le32(data);
	ks.token_table = VA_BASE + cot_get_le32(data + 4);
	ks.token_index = VA_BASE + cot_get_le32(data + 8);
	ks.offsets = VA_BASE + cot_get_le32(data + 12);
	ks.addresses = ks.offsets;
	ks.num_syms = cot_get_le32(data + 16) % 4096;
	ks.enc = data[20] % COT_KALLSYMS_ENC__COUNT;
	ks.relative_base = VA_BASE;
	n = cot_kallsyms_lookup(&ks, rd, &f, rq, 3);
	if (n > 3)
		__builtin_trap();
	if (cot_kallsyms_locate(rd, &f, VA_BASE, size, &ks) == 0) {
		if (ks.token_index < VA_BASE ||
		    ks.token_index >= VA_BASE + size)
			__builtin_trap();
		if (ks.num_syms > 4096) /* keep runs fast */
			ks.num_syms = 4096;
		ks.enc = data[20] % COT_KALLSYMS_ENC__COUNT;
		n = cot_kallsyms_lookup(&ks, rd, &f, rq, 3);
		if (n > 3)
			__builtin_trap();
	}
	return 0;
}
