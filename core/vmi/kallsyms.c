// SPDX-License-Identifier: MIT
/*
 * Decoder of the kernel's compressed symbol table (kernel/kallsyms.c,
 * scripts/kallsyms.c), read from guest memory through a kernel-virtual
 * reader.  Layout:
 *   kallsyms_names:        per symbol, a length (one byte, or two when
 *                          bit 7 of the first is set: Linux >= 6.1 "big
 *                          symbols") then that many token numbers;
 *   kallsyms_token_index:  u16[256] offsets into kallsyms_token_table,
 *   kallsyms_token_table:  NUL-terminated token strings;
 *   kallsyms_offsets:      s32 per symbol, base-relative to
 *                          kallsyms_relative_base (with
 *                          KALLSYMS_ABSOLUTE_PERCPU a negative offset o
 *                          means base - 1 - o and a positive one an
 *                          absolute per-cpu address), or
 *   kallsyms_addresses:    u64 per symbol (old, absolute).
 * The first character of an expanded name is the symbol type.
 * All of it is hostile: every loop is bounded by num_syms (itself
 * bounded by COT_KALLSYMS_MAX_SYMS), the token table by TOKTAB_MAX, and
 * the whole decode by COT_KALLSYMS_MAX_NAMES bytes of kallsyms_names
 * read.  A name is expanded only as far as the longest wanted name
 * (plus its type letter) and at most COT_KSYM_NAMELEN - 1 characters:
 * past that it cannot match, its remaining tokens are skipped without
 * being expanded, so a forged token table of long tokens costs one
 * step per token byte, not one per character.
 */
#include "cotrack/vmi.h"

#define TOKTAB_MAX 4096 /* Debian 6.1: 920 bytes */
#define WIN	   4096

struct stream {
	cot_vmi_vread_fn rd;
	void *rctx;
	uint64_t base;	  /* va of win[0] */
	uint64_t fetched; /* bytes of kallsyms_names read so far */
	uint32_t pos, len;
	uint8_t win[WIN];
};

static int next_byte(struct stream *s, uint8_t *b)
{
	int err;

	if (s->pos == s->len) {
		s->base += s->len;
		/* Read up to the next page boundary first so that a table
		 * ending just before an unmapped page is still readable. */
		s->len = (uint32_t)(WIN - (s->base & (WIN - 1)));
		/* Bound: the whole decode reads at most
		 * COT_KALLSYMS_MAX_NAMES bytes of names. */
		if (s->len > COT_KALLSYMS_MAX_NAMES - s->fetched)
			return -COT_EBADMSG;
		s->fetched += s->len;
		err = s->rd(s->rctx, s->base, s->win, s->len);
		if (err)
			return err;
		s->pos = 0;
	}
	*b = s->win[s->pos++];
	return 0;
}

static bool canonical_kernel(uint64_t va)
{
	return va >= 0xff00000000000000ull;
}

int cot_kallsyms_lookup(const struct cot_kallsyms *ks, cot_vmi_vread_fn rd,
			void *rctx, struct cot_ksym_req *req, size_t n)
{
	uint8_t idxraw[512];
	uint16_t tokidx[256];
	uint8_t toktab[TOKTAB_MAX];
	uint32_t toklen, maxidx = 0, keep = 0;
	char name[COT_KSYM_NAMELEN];
	uint32_t idx[16];
	size_t r, found = 0;
	uint32_t i, j;
	struct stream st, *s; /* ~4 KiB window on the stack */
	int err;

	if (!ks || !rd || (!req && n) || n > COT_ARRAY_SIZE(idx))
		return -COT_EINVAL;
	if (ks->num_syms == 0 || ks->num_syms > COT_KALLSYMS_MAX_SYMS)
		return -COT_EBADMSG;
	for (r = 0; r < n; r++) {
		uint32_t l = 0;

		req[r].found = false;
		req[r].addr = 0;
		req[r].type = 0;
		idx[r] = UINT32_MAX;
		if (!req[r].name)
			return -COT_EINVAL;
		/* Bound: COT_KSYM_NAMELEN (a longer name is never found). */
		while (l < COT_KSYM_NAMELEN && req[r].name[l])
			l++;
		keep = COT_MAX(keep, l + 1); /* the type letter first */
	}
	/* Characters of a name worth expanding: one more than the
	 * longest wanted name tells "longer" from "equal". */
	keep = COT_MIN(keep + 1, (uint32_t)sizeof(name) - 1);
	err = rd(rctx, ks->token_index, idxraw, sizeof(idxraw));
	if (err)
		return err;
	for (i = 0; i < 256; i++) {
		tokidx[i] = cot_get_le16(idxraw + 2 * i);
		if (tokidx[i] > maxidx)
			maxidx = tokidx[i];
	}
	if (maxidx >= TOKTAB_MAX - 1)
		return -COT_EBADMSG;
	/* The longest token seen in practice is well under 64 bytes;
	 * read past the last token start as far as the bound allows. */
	toklen = COT_MIN(maxidx + 256u, (uint32_t)TOKTAB_MAX);
	err = rd(rctx, ks->token_table, toktab, toklen);
	if (err && toklen > maxidx + 1) {
		toklen = maxidx + 1; /* at least the last token's start */
		err = rd(rctx, ks->token_table, toktab, toklen);
	}
	if (err)
		return err;

	s = &st;
	s->rd = rd;
	s->rctx = rctx;
	s->base = ks->names;
	s->fetched = 0;
	s->pos = s->len = 0;
	for (i = 0; i < ks->num_syms && found < n; i++) {
		uint8_t b0, b1, t;
		uint32_t len, nl = 0;
		bool trunc = false;

		if ((err = next_byte(s, &b0)))
			return err;
		len = b0;
		if (b0 & 0x80) {
			if ((err = next_byte(s, &b1)))
				return err;
			len = (b0 & 0x7fu) | (uint32_t)b1 << 7;
		}
		/* len <= 32767 by construction, and every byte counts
		 * against COT_KALLSYMS_MAX_NAMES: bounded. */
		for (j = 0; j < len; j++) {
			uint32_t o;

			if ((err = next_byte(s, &t)))
				return err;
			if (trunc)
				continue; /* cut: skip, do not expand */
			/* Bound: a token ends at its NUL, at toklen, or
			 * when the name is cut at @keep characters. */
			for (o = tokidx[t]; o < toklen && toktab[o]; o++) {
				if (nl == keep) {
					trunc = true;
					break;
				}
				name[nl++] = (char)toktab[o];
			}
		}
		name[nl] = 0;
		if (nl < 2 || trunc)
			continue;
		for (r = 0; r < n; r++) {
			const char *want = req[r].name;
			uint32_t k;

			if (idx[r] != UINT32_MAX)
				continue;
			for (k = 0;
			     k + 1 < nl && want[k] && want[k] == name[k + 1];
			     k++)
				;
			if (k + 1 == nl && want[k] == 0) {
				idx[r] = i;
				req[r].type = name[0];
				found++;
			}
		}
	}
	for (r = 0; r < n; r++) {
		uint8_t v[8];
		uint64_t a;

		if (idx[r] == UINT32_MAX)
			continue;
		if (ks->absolute) {
			err = rd(rctx, ks->addresses + 8ull * idx[r], v, 8);
			if (err)
				return err;
			a = cot_get_le64(v);
		} else {
			int32_t o;

			err = rd(rctx, ks->offsets + 4ull * idx[r], v, 4);
			if (err)
				return err;
			o = (int32_t)cot_get_le32(v);
			/* Non-per-cpu symbols: negative offsets exist only
			 * with ABSOLUTE_PERCPU (base - 1 - o); otherwise
			 * base + o. */
			if (o < 0)
				a = ks->relative_base - 1 -
				    (uint64_t)(int64_t)o;
			else
				a = ks->relative_base + (uint64_t)(uint32_t)o;
		}
		if (!canonical_kernel(a))
			continue; /* a per-cpu or forged value: not usable */
		req[r].addr = a;
		req[r].found = true;
	}
	found = 0;
	for (r = 0; r < n; r++)
		found += req[r].found;
	return (int)found;
}
