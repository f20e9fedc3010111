// SPDX-License-Identifier: MIT
/*
 * Finding the kernel in guest memory: VMCOREINFO scan, x86-64 4- and
 * 5-level page walk, kallsyms lookup of the symbols the walker needs,
 * and the profile check.
 *
 * This file holds the one read path of core/vmi: every read of guest
 * memory (page-table entries, VMCOREINFO, kallsyms, tables, sockets)
 * goes through mem_read(), every translation that misses the cache
 * through walk().  Both count (k->bytes_read, k->walks) and refuse
 * with -COT_EAGAIN what would pass the limits set by the caller of the
 * moment (k->lim_bytes, k->lim_walks: a scan step's budget, discovery's
 * candidate budget); a refusal makes every later read fail too (k->spent)
 * so that the work in progress stops at once and can be redone.
 */
#include "cotrack/vmi.h"
#include "internal.h"

/* x86-64 paging (Intel SDM vol. 3, 4.5). */
#define PTE_P	 0x1ull
#define PTE_PS	 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull /* bits 51:12, MAXPHYADDR <= 52 */
#define PAGE	 4096ull
/* __START_KERNEL_map: where x86-64 maps the kernel image; the ABI of
 * __pa_symbol(x) = x - __START_KERNEL_map + phys_base. */
#define START_KERNEL_MAP 0xffffffff80000000ull

static const char *const sym_names[COT_VMI_SYM__COUNT] = {
	[COT_VMI_SYM_TCP_HASHINFO] = "tcp_hashinfo",
	[COT_VMI_SYM_NET_NS_LIST] = "net_namespace_list",
	[COT_VMI_SYM_INIT_NET] = "init_net",
	[COT_VMI_SYM_START_BTF] = "__start_BTF",
	[COT_VMI_SYM_STOP_BTF] = "__stop_BTF",
	[COT_VMI_SYM_INIT_TASK] = "init_task",
};

const char *cot_vmi_sym_name(unsigned int sym)
{
	return sym < COT_VMI_SYM__COUNT ? sym_names[sym] : "?";
}

/* Read @len bytes at @gpa: counted, refused past the limits. */
static int mem_read(struct cot_vmi *k, uint64_t gpa, void *buf, size_t len)
{
	/* Invariant: bytes_read <= lim_bytes (only what fits is added). */
	if (k->spent || len > k->lim_bytes - k->bytes_read) {
		k->spent = true;
		k->refused++;
		return -COT_EAGAIN;
	}
	k->bytes_read += len;
	return k->mem.read(k->mem.ctx, gpa, buf, len) ? -COT_EFAULT : 0;
}

int cot_vmi__read_pa(struct cot_vmi *k, uint64_t gpa, void *buf, size_t len)
{
	return mem_read(k, gpa, buf, len);
}

void cot_vmi__set_limits(struct cot_vmi *k, uint64_t max_bytes,
			 uint64_t max_walks)
{
	k->lim_bytes = max_bytes > UINT64_MAX - k->bytes_read
			       ? UINT64_MAX
			       : k->bytes_read + max_bytes;
	k->lim_walks = max_walks > UINT64_MAX - k->walks ? UINT64_MAX
							 : k->walks + max_walks;
	k->spent = false;
}

void cot_vmi__tlb_flush(struct cot_vmi *k)
{
	uint32_t i, j;

	for (i = 0; i < 3; i++)
		for (j = 0; j < COT_VMI_TLB_SIZE; j++)
			k->tlb[i][j].vbase = 1; /* never page-aligned */
}

static bool canonical(const struct cot_vmi *k, uint64_t va)
{
	unsigned int bits = k->levels == 5 ? 57 : 48;
	int64_t s = (int64_t)(va << (64 - bits)) >> (64 - bits);

	return (uint64_t)s == va;
}

/* Translate @va; *@shift gets the page size (12, 21 or 30). */
static int walk(struct cot_vmi *k, uint64_t va, uint64_t *pa,
		unsigned int *shift)
{
	uint64_t table = k->root_pa & PTE_ADDR;
	int lvl;

	if (k->levels != 4 && k->levels != 5)
		return -COT_EINVAL;
	if (!canonical(k, va))
		return -COT_EFAULT;
	if (k->spent || k->walks >= k->lim_walks) {
		k->spent = true;
		k->refused++;
		return -COT_EAGAIN;
	}
	k->walks++;
	/* Bound: at most 5 levels. */
	for (lvl = k->levels; lvl >= 1; lvl--) {
		unsigned int sh = 12 + 9 * (unsigned int)(lvl - 1);
		uint64_t idx = (va >> sh) & 511, e, span;
		uint8_t raw[8];
		int err;

		err = mem_read(k, table + idx * 8, raw, 8);
		if (err)
			return err;
		e = cot_get_le64(raw);
		if (!(e & PTE_P))
			return -COT_EFAULT;
		if (lvl == 1 || (e & PTE_PS)) {
			/* PS: 1 GiB (PDPTE) or 2 MiB (PDE) page; it is
			 * reserved above the PDPT. */
			if (lvl > 3)
				return -COT_EFAULT;
			span = 1ull << sh;
			*pa = (e & PTE_ADDR & ~(span - 1)) | (va & (span - 1));
			*shift = sh;
			return 0;
		}
		table = e & PTE_ADDR;
	}
	return -COT_EFAULT;
}

int cot_vmi_v2p(struct cot_vmi *k, uint64_t va, uint64_t *pa)
{
	static const unsigned int shifts[3] = { 12, 21, 30 };
	unsigned int i, sh;
	uint64_t p;
	int err;

	for (i = 0; i < 3; i++) {
		uint64_t mask = (1ull << shifts[i]) - 1;
		struct cot_vmi_tlb *t =
			&k->tlb[i][(va >> shifts[i]) % COT_VMI_TLB_SIZE];

		if (t->vbase == (va & ~mask)) {
			k->tlb_hits++;
			*pa = t->pbase | (va & mask);
			return 0;
		}
	}
	err = walk(k, va, &p, &sh);
	if (err)
		return err;
	i = sh == 30 ? 2 : sh == 21 ? 1 : 0;
	{
		uint64_t mask = (1ull << sh) - 1;
		struct cot_vmi_tlb *t =
			&k->tlb[i][(va >> sh) % COT_VMI_TLB_SIZE];

		t->vbase = va & ~mask;
		t->pbase = p & ~mask;
	}
	*pa = p;
	return 0;
}

int cot_vmi_read_va(struct cot_vmi *k, uint64_t va, void *buf, size_t len)
{
	uint8_t *p = buf;

	/* Bound: len / 4096 + 1 pages. */
	while (len) {
		size_t chunk = (size_t)(PAGE - (va & (PAGE - 1)));
		uint64_t pa;
		int err;

		if (chunk > len)
			chunk = len;
		err = cot_vmi_v2p(k, va, &pa);
		if (err)
			return err;
		err = mem_read(k, pa, p, chunk);
		if (err)
			return err;
		p += chunk;
		va += chunk;
		len -= chunk;
	}
	return 0;
}

static int vread(void *ctx, uint64_t va, void *buf, size_t len)
{
	return cot_vmi_read_va(ctx, va, buf, len);
}

/* Set up paging from @ci and check it by translating init_top_pgt. */
static int setup_paging(struct cot_vmi *k)
{
	const struct cot_vmcoreinfo *ci = &k->ci;
	unsigned int sh;
	uint64_t pa;

	if (!(ci->have & COT_VMCI_INIT_TOP_PGT) ||
	    !(ci->have & COT_VMCI_PHYS_BASE) ||
	    ci->init_top_pgt < START_KERNEL_MAP)
		return -COT_EPROTO;
	k->root_pa = (ci->init_top_pgt - START_KERNEL_MAP + ci->phys_base);
	if (k->root_pa & (PAGE - 1) || k->root_pa > PTE_ADDR)
		return -COT_EPROTO;
	/* NUMBER(pgtable_l5_enabled) is absent without CONFIG_X86_5LEVEL. */
	k->levels = (ci->have & COT_VMCI_L5) && ci->l5 ? 5 : 4;
	cot_vmi__tlb_flush(k);
	if (walk(k, ci->init_top_pgt, &pa, &sh) || pa != k->root_pa)
		return -COT_EPROTO;
	return 0;
}

/* Decode @ks for the walker's symbols and _stext; 0 when _stext (if
 * VMCOREINFO gives it) decodes to its address. */
static int decode(struct cot_vmi *k, const struct cot_kallsyms *ks,
		  struct cot_ksym_req req[COT_VMI_SYM__COUNT + 1])
{
	unsigned int i;
	int err;

	for (i = 0; i < COT_VMI_SYM__COUNT; i++)
		req[i].name = sym_names[i];
	req[COT_VMI_SYM__COUNT].name = "_stext";
	err = cot_kallsyms_lookup(ks, vread, k, req, COT_VMI_SYM__COUNT + 1);
	if (err < 0)
		return err;
	if ((k->ci.have & COT_VMCI_STEXT) &&
	    (!req[COT_VMI_SYM__COUNT].found ||
	     req[COT_VMI_SYM__COUNT].addr != k->ci.stext))
		return -COT_EBADMSG;
	return 0;
}

/* The kallsyms tables from VMCOREINFO, or found in the image. */
static int find_tables(struct cot_vmi *k, struct cot_kallsyms *ks)
{
	const struct cot_vmcoreinfo *ci = &k->ci;
	uint8_t v[8];
	int err;

	ks->names = ci->ks_names;
	ks->token_table = ci->ks_token_table;
	ks->token_index = ci->ks_token_index;
	if (ci->have & COT_VMCI_KALLSYMS) {
		ks->enc = COT_KALLSYMS_BASE_REL;
		ks->offsets = ci->ks_offsets;
		if (cot_vmi_read_va(k, ci->ks_relative_base, v, 8))
			goto unreadable;
		ks->relative_base = cot_get_le64(v);
	} else if (ci->have & COT_VMCI_KALLSYMS_PREL) {
		ks->enc = COT_KALLSYMS_PLACE_REL;
		ks->offsets = ci->ks_offsets;
	} else if (ci->have & COT_VMCI_KALLSYMS_ADDRS) {
		ks->enc = COT_KALLSYMS_ABSOLUTE;
		ks->addresses = ci->ks_addresses;
	} else {
		/* Linux < 6.0: search the image, from _stext on. */
		if (!(ci->have & COT_VMCI_STEXT)) {
			k->ks_fail = COT_VMI_KS_NO_STEXT;
			return -COT_ENOTSUP;
		}
		err = cot_kallsyms_locate(vread, k, ci->stext,
					  COT_KALLSYMS_SCAN_MAX, ks);
		if (err == -COT_EAGAIN)
			return err;
		if (err) {
			k->ks_fail = COT_VMI_KS_NOT_FOUND;
			return -COT_ENOTSUP;
		}
		k->how |= COT_VMI_HOW_KS_LOCATED;
		return 0;
	}
	if (cot_vmi_read_va(k, ci->ks_num_syms, v, 4))
		goto unreadable;
	ks->num_syms = cot_get_le32(v);
	return 0;
unreadable:
	k->ks_fail = COT_VMI_KS_UNREADABLE;
	return -COT_EPROTO;
}

static int find_symbols(struct cot_vmi *k)
{
	struct cot_ksym_req req[COT_VMI_SYM__COUNT + 1];
	struct cot_kallsyms ks = { 0 };
	unsigned int i;
	int err;

	k->ks_fail = COT_VMI_KS_OK;
	k->how &= ~COT_VMI_HOW_KS_LOCATED;
	err = find_tables(k, &ks);
	if (err)
		return err;
	k->nsyms = ks.num_syms;
	k->ks_token_index = ks.token_index;
	err = decode(k, &ks, req);
	if (err == -COT_EBADMSG && (k->how & COT_VMI_HOW_KS_LOCATED)) {
		/* found in the image: base-relative or absolute, the
		 * layout does not tell; _stext does */
		ks.enc = COT_KALLSYMS_ABSOLUTE;
		err = decode(k, &ks, req);
	}
	if (err == -COT_EAGAIN)
		return err;
	if (err) {
		k->ks_fail = COT_VMI_KS_BAD;
		return (k->how & COT_VMI_HOW_KS_LOCATED) ? -COT_ENOTSUP
							 : -COT_EPROTO;
	}
	k->ks_enc = ks.enc;
	for (i = 0; i < COT_VMI_SYM__COUNT; i++)
		k->sym[i] = req[i].found ? req[i].addr : 0;
	if (!k->sym[COT_VMI_SYM_TCP_HASHINFO]) {
		k->ks_fail = COT_VMI_KS_NO_SYMBOL;
		return -COT_EPROTO;
	}
	k->how |= COT_VMI_HOW_KALLSYMS;
	return 0;
}

/*
 * Try the VMCOREINFO page at @pa.  *@deep is set once the page passed
 * the page-table self-check, i.e. when kallsyms was (to be) decoded.
 */
static int try_candidate(struct cot_vmi *k, uint64_t pa, uint64_t avail,
			 bool *deep)
{
	char text[COT_VMCI_MAX_LEN];
	size_t len = (size_t)COT_MIN(avail, (uint64_t)sizeof(text));
	int err;

	*deep = false;
	err = mem_read(k, pa, text, len);
	if (err)
		return err;
	err = cot_vmcoreinfo_parse(&k->ci, text, len);
	if (err)
		return err;
	k->vmci_pa = pa;
	err = setup_paging(k);
	if (err)
		return err;
	*deep = true;
	return find_symbols(k);
}

int cot_vmi_open(struct cot_vmi *k, const struct cot_vmi_mem *mem)
{
	static const char magic[] = "OSRELEASE=";
	uint64_t left_bytes = COT_VMI_OPEN_MAX_BYTES;
	uint64_t left_walks = COT_VMI_OPEN_MAX_WALKS;
	uint32_t r, tried = 0;
	int best = -COT_ENOENT;

	if (!k || !mem || !mem->read || mem->nranges > COT_VMI_MAX_RANGES)
		return -COT_EINVAL;
	cot_memset(k, 0, sizeof(*k));
	k->mem = *mem;
	cot_vmi__set_limits(k, UINT64_MAX, UINT64_MAX);
	cot_vmi__tlb_flush(k);
	/* Bound: every page of the RAM ranges (the host's, not the
	 * guest's), once; what the guest controls, the candidates, shares
	 * one budget of COT_VMI_OPEN_MAX_BYTES / _WALKS. */
	for (r = 0; r < mem->nranges; r++) {
		uint64_t end = mem->ranges[r].start + mem->ranges[r].len;
		uint64_t pa = (mem->ranges[r].start + PAGE - 1) & ~(PAGE - 1);

		if (end < mem->ranges[r].start)
			continue; /* wraps: a bad range */
		for (; pa + sizeof(magic) - 1 <= end; pa += PAGE) {
			char head[sizeof(magic) - 1];
			uint64_t b0, w0;
			bool deep, spent;
			int err;

			if (mem_read(k, pa, head, sizeof(head)) ||
			    cot_memcmp(head, magic, sizeof(head)))
				continue;
			b0 = k->bytes_read;
			w0 = k->walks;
			cot_vmi__set_limits(k, left_bytes, left_walks);
			err = try_candidate(k, pa, end - pa, &deep);
			spent = k->spent;
			left_bytes -= k->bytes_read - b0;
			left_walks -= k->walks - w0;
			cot_vmi__set_limits(k, UINT64_MAX, UINT64_MAX);
			if (err == 0 || err == -COT_ENOTSUP) {
				k->how |= COT_VMI_HOW_SCAN;
				return err;
			}
			best = -COT_EPROTO;
			if (spent) /* the candidate budget: give up */
				return best;
			if (deep && ++tried >= COT_VMI_MAX_CANDIDATES)
				return best;
		}
	}
	return best;
}

int cot_vmi_set_symbols(struct cot_vmi *k,
			const uint64_t link_addr[COT_VMI_SYM__COUNT])
{
	unsigned int i;

	if (!k || !link_addr || !k->levels)
		return -COT_EINVAL;
	for (i = 0; i < COT_VMI_SYM__COUNT; i++)
		k->sym[i] =
			link_addr[i] ? link_addr[i] + k->ci.kerneloffset : 0;
	if (!k->sym[COT_VMI_SYM_TCP_HASHINFO])
		return -COT_EINVAL;
	k->how |= COT_VMI_HOW_SYMS_GIVEN;
	return 0;
}

int cot_vmi_btf_range(const struct cot_vmi *k, uint64_t *va, size_t *len)
{
	uint64_t s = k->sym[COT_VMI_SYM_START_BTF];
	uint64_t e = k->sym[COT_VMI_SYM_STOP_BTF];

	if (!s || !e)
		return -COT_ENOENT;
	if (e <= s || e - s > COT_VMI_BTF_MAX)
		return -COT_EBADMSG;
	*va = s;
	*len = (size_t)(e - s);
	return 0;
}

int cot_vmi_set_profile(struct cot_vmi *k, const struct cot_vmi_profile *p)
{
	const uint32_t *f = (const uint32_t *)p;
	size_t i, nf = sizeof(*p) / sizeof(uint32_t) - 1; /* not flags */

	if (!k || !p)
		return -COT_EINVAL;
	for (i = 0; i < nf; i++)
		if (f[i] >= COT_VMI_PROFILE_MAX_OFF)
			return -COT_EINVAL;
	if (p->ehash_bucket_size < 8 || p->lhash2_bucket_size < 8 ||
	    p->ehash_chain + 8 > p->ehash_bucket_size ||
	    p->lhash2_head + 8 > p->lhash2_bucket_size ||
	    p->ehash_bucket_size > 4096 || p->lhash2_bucket_size > 4096)
		return -COT_EINVAL;
	k->prof = *p;
	k->have_profile = true;
	return 0;
}
