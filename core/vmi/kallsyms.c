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
 *   kallsyms_addresses:    u64 per symbol (old, absolute), or, from
 *                          Linux 7.0, kallsyms_offsets place-relative:
 *                          the address is that of the entry plus it.
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
	if (ks->num_syms == 0 || ks->num_syms > COT_KALLSYMS_MAX_SYMS ||
	    ks->enc >= COT_KALLSYMS_ENC__COUNT)
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
		if (ks->enc == COT_KALLSYMS_ABSOLUTE) {
			err = rd(rctx, ks->addresses + 8ull * idx[r], v, 8);
			if (err)
				return err;
			a = cot_get_le64(v);
		} else if (ks->enc == COT_KALLSYMS_PLACE_REL) {
			uint64_t at = ks->offsets + 4ull * idx[r];

			err = rd(rctx, at, v, 4);
			if (err)
				return err;
			a = at + (uint64_t)(int64_t)(int32_t)cot_get_le32(v);
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

/*
 * --- Finding the tables without VMCOREINFO (cot_kallsyms_locate()) ---
 *
 * scripts/kallsyms.c writes (as seen in Debian 5.10), each table aligned to 8:
 * kallsyms_offsets (or _addresses), kallsyms_relative_base,
 * kallsyms_num_syms, kallsyms_names, kallsyms_markers,
 * kallsyms_token_table, kallsyms_token_index.  The token index is the
 * recognisable one: 256 u16, the first 0, each step one token and its
 * NUL.  From it the search goes backwards, table by table, every table
 * checked against the next.
 */
#define TOK_MIN	  2u   /* one character and its NUL */
#define TOK_MAX	  128u /* a token and its NUL (Debian 5.10: at most 12) */
#define LOC_WIN	  32768u
#define LOC_VERIF 8u /* num_syms candidates decoded per place */

/* The first @n u16 at @p have the shape of a token index. */
static bool index_shape(const uint8_t *p, uint32_t n)
{
	uint32_t i, prev;

	if (cot_get_le16(p) != 0)
		return false;
	prev = 0;
	/* Bound: n <= 256. */
	for (i = 1; i < n; i++) {
		uint32_t v = cot_get_le16(p + 2 * i);

		if (v < prev + TOK_MIN || v > prev + TOK_MAX)
			return false;
		prev = v;
	}
	return true;
}

/*
 * The token table that ends just before the index at @ti: its start in
 * *@tt.  Every token must be non-empty characters then its NUL, where
 * the index says.
 */
static int check_tokens(cot_vmi_vread_fn rd, void *rctx, uint64_t ti,
			const uint16_t idx[256], uint64_t *tt)
{
	uint8_t buf[TOKTAB_MAX];
	uint32_t e, j, start, i;
	int err;

	if (ti < TOKTAB_MAX)
		return -COT_ENOENT;
	err = rd(rctx, ti - TOKTAB_MAX, buf, sizeof(buf));
	if (err)
		return err;
	/* Bound: the NUL of the last token and at most 15 bytes of
	 * alignment. */
	for (e = TOKTAB_MAX; e > TOKTAB_MAX - 16 && buf[e - 1] == 0; e--)
		;
	if (buf[e - 1] == 0 || e == TOKTAB_MAX)
		return -COT_ENOENT; /* no NUL after the last token */
	/* Bound: the last token, at most TOK_MAX bytes. */
	for (j = e; j > 0 && buf[j - 1] != 0 && e - j < TOK_MAX; j--)
		;
	if (j == 0 || buf[j - 1] != 0 || j < idx[255])
		return -COT_ENOENT;
	start = j - idx[255];
	for (i = 0; i < 256; i++) {
		uint32_t a = start + idx[i];
		uint32_t b = i < 255 ? start + idx[i + 1] - 1 : e;

		/* Bound: one token, checked by index_shape() to be
		 * shorter than TOK_MAX. */
		for (j = a; j < b; j++)
			if (buf[j] == 0)
				return -COT_ENOENT;
		if (b >= TOKTAB_MAX || buf[b] != 0)
			return -COT_ENOENT;
	}
	*tt = ti - TOKTAB_MAX + start;
	return 0;
}

/*
 * Skip @count names from @from through stream @st, never past @limit:
 * the address after them in *@end.  0, -COT_ENOENT when they do not fit,
 * or @rd's error.  Bound: @limit - @from bytes (at most LOC_WIN).
 */
static int skip_names(struct stream *st, uint64_t from, uint64_t limit,
		      uint32_t count, uint64_t *end)
{
	uint64_t at = from;
	uint32_t i, l, j;
	uint8_t b;
	int err;

	st->base = from;
	st->fetched = 0;
	st->pos = st->len = 0;
	for (i = 0; i < count; i++) {
		if (at >= limit)
			return -COT_ENOENT;
		if ((err = next_byte(st, &b)))
			return err;
		at++;
		l = b;
		if (b & 0x80) {
			if (at >= limit)
				return -COT_ENOENT;
			if ((err = next_byte(st, &b)))
				return err;
			at++;
			l = (l & 0x7fu) | (uint32_t)b << 7;
		}
		if (l == 0 || l > limit - at)
			return -COT_ENOENT;
		for (j = 0; j < l; j++)
			if ((err = next_byte(st, &b)))
				return err;
		at += l;
	}
	*end = at;
	return 0;
}

/* Everything below the token table at @tt; see cot_kallsyms_locate(). */
static int locate_below(cot_vmi_vread_fn rd, void *rctx, uint64_t floor,
			uint64_t tt, struct cot_kallsyms *ks, struct stream *st,
			uint8_t buf[static LOC_WIN])
{
	uint32_t wl, e, m, M, mk1, mklast, nver = 0;
	uint64_t mstart, lo, hi, s, end;
	int err;

	/* kallsyms_markers: u32, increasing, the first 0, at most one u32
	 * of alignment before the token table; nothing below @floor (the
	 * start of the search) is read. */
	if (tt < floor + 16 || (tt & 3))
		return -COT_ENOENT;
	wl = (uint32_t)COT_MIN(tt - floor, (uint64_t)LOC_WIN) & ~3u;
	err = rd(rctx, tt - wl, buf, wl);
	if (err)
		return err;
	e = wl;
	if (cot_get_le32(buf + e - 4) == 0 && cot_get_le32(buf + e - 8) != 0)
		e -= 4;
	/* Bound: LOC_WIN / 4 markers. */
	for (m = e; m >= 4 && cot_get_le32(buf + m - 4) != 0; m -= 4)
		if (m < e && cot_get_le32(buf + m - 4) >= cot_get_le32(buf + m))
			return -COT_ENOENT;
	if (m < 4)
		return -COT_ENOENT;
	m -= 4; /* markers[0] == 0 */
	M = (e - m) / 4;
	if (M < 2 || M > COT_KALLSYMS_MAX_SYMS / 256)
		return -COT_ENOENT;
	mk1 = cot_get_le32(buf + m + 4);
	mklast = cot_get_le32(buf + e - 4);
	if (mklast >= COT_KALLSYMS_MAX_NAMES || mk1 > LOC_WIN)
		return -COT_ENOENT;
	mstart = tt - wl + m;
	/* kallsyms_names starts at s: s + mklast is the name of symbol
	 * 256 (M - 1), the last block (under 256 names) ends at mstart
	 * and is taken to be shorter than LOC_WIN - 8. */
	if (mstart < floor + mklast + 16)
		return -COT_ENOENT;
	hi = mstart - mklast;
	lo = hi - COT_MIN(hi - (floor + 8), (uint64_t)LOC_WIN - 8);
	err = rd(rctx, lo - 8, buf, (size_t)(hi - lo + 8));
	if (err)
		return err;
	/* Bound: LOC_WIN / 4 places, LOC_VERIF of them decoded. */
	for (s = (hi - 1) & ~3ull; s >= lo && nver < LOC_VERIF; s -= 4) {
		const uint8_t *w = buf + (s - (lo - 8));
		uint32_t n32 = cot_get_le32(w - 4), n64 = cot_get_le32(w - 8);
		uint64_t q, rb_at;
		uint8_t v[8];
		uint32_t n;

		/* num_syms as a u32 just before the names, or as a u64
		 * (Debian 5.10). */
		if (n32 > 256u * (M - 1) && n32 <= 256u * M) {
			n = n32;
			q = s - 4;
		} else if (n32 == 0 && !(s & 7) && n64 > 256u * (M - 1) &&
			   n64 <= 256u * M) {
			n = n64;
			q = s - 8;
		} else {
			continue;
		}
		nver++;
		/* the last block ends at the markers (but for up to 7
		 * bytes of alignment) ... */
		err = skip_names(st, s + mklast, mstart, n - 256u * (M - 1),
				 &end);
		if (err == -COT_ENOENT || (!err && mstart - end >= 8))
			continue;
		if (err)
			return err;
		/* ... and the first 256 names end at markers[1] */
		err = skip_names(st, s, s + mk1, 256, &end);
		if (err == -COT_ENOENT || (!err && end != s + mk1))
			continue;
		if (err)
			return err;
		/* kallsyms_relative_base just before num_syms, aligned;
		 * the offsets (or the addresses) before it */
		rb_at = (q - 8) & ~7ull;
		err = rd(rctx, rb_at, v, 8);
		if (err)
			return err;
		ks->names = s;
		ks->num_syms = n;
		ks->relative_base = cot_get_le64(v);
		ks->offsets = (rb_at - 4ull * n) & ~7ull;
		ks->addresses = (q - 8ull * n) & ~7ull;
		ks->enc = COT_KALLSYMS_BASE_REL;
		return 0;
	}
	return -COT_ENOENT;
}

int cot_kallsyms_locate(cot_vmi_vread_fn rd, void *rctx, uint64_t start,
			uint64_t len, struct cot_kallsyms *ks)
{
	uint8_t page[WIN], idxraw[512], buf[LOC_WIN];
	struct stream st;
	uint16_t idx[256];
	uint32_t cand = 0, o, i;
	uint64_t va, tt;
	int err;

	if (!rd || !ks || len > COT_KALLSYMS_SCAN_MAX ||
	    start > UINT64_MAX - len)
		return -COT_EINVAL;
	cot_memset(ks, 0, sizeof(*ks));
	st.rd = rd;
	st.rctx = rctx;
	/* Bound: len / 4096 pages, COT_KALLSYMS_MAX_CAND places checked
	 * in depth.  A place that passes the first test is followed by
	 * steps of at least TOK_MIN, none 0: a place inside it fails at
	 * once, so the shape test is linear in the page. */
	for (va = start & ~(uint64_t)(WIN - 1); va < start + len; va += WIN) {
		err = rd(rctx, va, page, WIN);
		if (err == -COT_EFAULT)
			continue; /* a hole in the image */
		if (err)
			return err;
		for (o = 0; o + 4 <= WIN; o += 2) {
			uint32_t n = COT_MIN(256u, (WIN - o) / 2);

			if (cot_get_le16(page + o) != 0 ||
			    cot_get_le16(page + o + 2) < TOK_MIN ||
			    cot_get_le16(page + o + 2) > TOK_MAX ||
			    !index_shape(page + o, n))
				continue;
			if (++cand > COT_KALLSYMS_MAX_CAND)
				return -COT_ENOENT;
			err = rd(rctx, va + o, idxraw, sizeof(idxraw));
			if (err == -COT_EFAULT)
				continue;
			if (err)
				return err;
			if (!index_shape(idxraw, 256))
				continue;
			for (i = 0; i < 256; i++)
				idx[i] = cot_get_le16(idxraw + 2 * i);
			err = check_tokens(rd, rctx, va + o, idx, &tt);
			if (err == -COT_ENOENT || err == -COT_EFAULT)
				continue;
			if (err)
				return err;
			err = locate_below(rd, rctx, start, tt, ks, &st, buf);
			if (err == -COT_ENOENT || err == -COT_EFAULT ||
			    err == -COT_EBADMSG)
				continue;
			if (err)
				return err;
			ks->token_table = tt;
			ks->token_index = va + o;
			return 0;
		}
	}
	return -COT_ENOENT;
}
