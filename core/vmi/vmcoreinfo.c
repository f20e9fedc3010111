// SPDX-License-Identifier: MIT
/*
 * VMCOREINFO text parser.  The text comes from guest memory, so it is
 * hostile: at most COT_VMCI_MAX_LEN bytes are looked at (the kernel's
 * vmcoreinfo_data is one page), lines are matched by exact key, and
 * numbers are parsed with overflow checks.  Kernel formats
 * (kernel/crash_core.c): SYMBOL(x)=%lx, NUMBER(x)=%ld, KERNELOFFSET=%lx,
 * PAGESIZE=%ld, OSRELEASE=%s.
 */
#include "cotrack/vmi.h"

static bool key_eq(const char *p, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (key[i] != p[i] || key[i] == 0)
			return false;
	return key[n] == 0;
}

/* Hex digits only (no 0x), at most 16 of them. */
static int parse_hex(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 16)
		return -COT_EINVAL;
	for (i = 0; i < n; i++) {
		char c = p[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned int)(c - 'A' + 10);
		else
			return -COT_EINVAL;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* Signed decimal (NUMBER() is %ld); the result is two's complement. */
static int parse_dec(const char *p, size_t n, uint64_t *out)
{
	bool neg = false;
	uint64_t v = 0;
	size_t i = 0;

	if (n > 0 && p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n || n - i > 19) /* 19 digits < 2^63 is not guaranteed */
		return -COT_EINVAL;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -COT_EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -COT_ERANGE;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return -COT_ERANGE;
	*out = neg ? (uint64_t)0 - v : v;
	return 0;
}

struct key {
	const char *name;
	bool hex;
	uint32_t bit;
	size_t off; /* offsetof the uint64_t field */
};

#define F(field) __builtin_offsetof(struct cot_vmcoreinfo, field)
static const struct key keys[] = {
	{ "KERNELOFFSET", true, COT_VMCI_KERNELOFFSET, F(kerneloffset) },
	{ "NUMBER(phys_base)", false, COT_VMCI_PHYS_BASE, F(phys_base) },
	{ "SYMBOL(init_top_pgt)", true, COT_VMCI_INIT_TOP_PGT,
	  F(init_top_pgt) },
	{ "SYMBOL(_stext)", true, COT_VMCI_STEXT, F(stext) },
	{ "SYMBOL(kallsyms_names)", true, 0, F(ks_names) },
	{ "SYMBOL(kallsyms_num_syms)", true, 0, F(ks_num_syms) },
	{ "SYMBOL(kallsyms_token_table)", true, 0, F(ks_token_table) },
	{ "SYMBOL(kallsyms_token_index)", true, 0, F(ks_token_index) },
	{ "SYMBOL(kallsyms_offsets)", true, 0, F(ks_offsets) },
	{ "SYMBOL(kallsyms_relative_base)", true, 0, F(ks_relative_base) },
	{ "SYMBOL(kallsyms_addresses)", true, 0, F(ks_addresses) },
};
#undef F

static void parse_line(struct cot_vmcoreinfo *ci, const char *p, size_t n)
{
	size_t eq, i;
	uint64_t v;

	for (eq = 0; eq < n && p[eq] != '='; eq++)
		;
	if (eq == n || eq == 0) {
		ci->bad_lines++;
		return;
	}
	ci->lines++;
	if (key_eq(p, eq, "OSRELEASE")) {
		size_t len = n - eq - 1;

		if (len == 0 || len >= COT_VMCI_RELEASE_LEN) {
			ci->bad_lines++;
			return;
		}
		for (i = 0; i < len; i++) {
			char c = p[eq + 1 + i];

			if (c < 0x21 || c > 0x7e) {
				ci->bad_lines++;
				return;
			}
			ci->osrelease[i] = c;
		}
		ci->osrelease[len] = 0;
		ci->have |= COT_VMCI_OSRELEASE;
		return;
	}
	if (key_eq(p, eq, "PAGESIZE")) {
		if (parse_dec(p + eq + 1, n - eq - 1, &v) || v == 0 ||
		    v > (1u << 30) || (v & (v - 1))) {
			ci->bad_lines++;
			return;
		}
		ci->page_size = (uint32_t)v;
		ci->have |= COT_VMCI_PAGESIZE;
		return;
	}
	if (key_eq(p, eq, "NUMBER(pgtable_l5_enabled)")) {
		if (parse_dec(p + eq + 1, n - eq - 1, &v) || v > 1) {
			ci->bad_lines++;
			return;
		}
		ci->l5 = (uint8_t)v;
		ci->have |= COT_VMCI_L5;
		return;
	}
	for (i = 0; i < COT_ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];
		int err;

		if (!key_eq(p, eq, k->name))
			continue;
		err = k->hex ? parse_hex(p + eq + 1, n - eq - 1, &v)
			     : parse_dec(p + eq + 1, n - eq - 1, &v);
		if (err) {
			ci->bad_lines++;
			return;
		}
		cot_memcpy((char *)ci + k->off, &v, sizeof(v));
		ci->have |= k->bit;
		return;
	}
}

int cot_vmcoreinfo_parse(struct cot_vmcoreinfo *ci, const char *text,
			 size_t len)
{
	size_t i, start = 0;

	if (!ci || (!text && len))
		return -COT_EINVAL;
	cot_memset(ci, 0, sizeof(*ci));
	/* Bound: one page of text, as the kernel writes it. */
	if (len > COT_VMCI_MAX_LEN)
		len = COT_VMCI_MAX_LEN;
	for (i = 0; i <= len; i++) {
		if (i < len && text[i] != '\n' && text[i] != 0)
			continue;
		if (i == len || text[i] == 0) {
			/* A line not ended by '\n' was cut short: a value
			 * cut in the middle must not be taken. */
			if (i > start)
				ci->bad_lines++;
			break;
		}
		if (i > start)
			parse_line(ci, text + start, i - start);
		start = i + 1;
	}
	if (ci->ks_names && ci->ks_num_syms && ci->ks_token_table &&
	    ci->ks_token_index && ci->ks_offsets && ci->ks_relative_base)
		ci->have |= COT_VMCI_KALLSYMS;
	if (ci->ks_names && ci->ks_num_syms && ci->ks_token_table &&
	    ci->ks_token_index && ci->ks_addresses)
		ci->have |= COT_VMCI_KALLSYMS_ADDRS;
	/* Linux 7.0 made kallsyms_offsets place-relative and dropped
	 * kallsyms_relative_base, and its VMCOREINFO line with it: that
	 * absence is how the encoding is told. */
	if (ci->ks_names && ci->ks_num_syms && ci->ks_token_table &&
	    ci->ks_token_index && ci->ks_offsets && !ci->ks_relative_base)
		ci->have |= COT_VMCI_KALLSYMS_PREL;
	return (ci->have & COT_VMCI_OSRELEASE) ? 0 : -COT_ENOENT;
}
