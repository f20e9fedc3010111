// SPDX-License-Identifier: MIT
/*
 * forge_mem: makes a copy of a booted guest's RAM file hostile, the way
 * a hostile guest kernel could make its own memory, for the tests of the
 * memory view (tests/e2e/track_forged.t).
 *
 *   forge_mem FILE MODE[,MODE...] [MODE...]
 *
 * FILE is a raw RAM file (guest-physical address = file offset), changed
 * in place through a shared writable mapping.  The kernel is found as
 * cotrack vmi finds it (host/vmiattach: VMCOREINFO, page tables,
 * kallsyms, BTF profile); every structure is then patched at the
 * physical address its kernel-virtual address translates to, through the
 * guest's own page tables.  Modes, applied in this order whatever the
 * order given:
 *
 *   cycle     a real socket's hlist_nulls next pointer points back at its
 *             own node (an ESTABLISHED full socket when there is one, else
 *             any ehash socket, else a listener): that chain loops.
 *   buckets   tcp_hashinfo and every namespace's own hashinfo: ehash =
 *             the start of the direct map (+ one page per table, so that
 *             the tables are distinct), ehash_mask = 2^24 - 1: each walk
 *             reads 16M buckets of whatever RAM holds.  With cycle, bucket
 *             0 of every such table heads the looped chain.
 *   flat      the same, but the tables are empty: a free kernel-half slot
 *             of the top-level page table gets forged tables mapping 1 GiB
 *             onto one zeroed page, so each table is 16M empty buckets
 *             (no chain to follow: only the bytes of the table cost).
 *             With cycle, the first bucket of every 2 MiB heads the looped
 *             chain.  Not with buckets.
 *   nets      net_namespace_list holds COT_VMI_MAX_NETS + 16 entries: the
 *             real namespaces, then FORGED_NETS forged nets each with its
 *             own hashinfo (a 2^24-bucket table as above, junk or flat, no
 *             listener table), then bare list nodes, the last pointing
 *             back at the first forged net (a cycle that never returns to
 *             the head).  The forged structures go in zeroed RAM pages at
 *             or above 1 MiB.
 *   kallsyms  kallsyms_token_index[0..255] = 0 and kallsyms_token_table
 *             starts with a 255-byte token: every token of every symbol
 *             name expands to 255 bytes, so every name is too long, no
 *             symbol is found and attaching fails (after one bounded
 *             decode of the whole table).
 *
 * Everything read from FILE is guest data: reads go through the bounded
 * reader of host/mem.c, writes are checked against the file size, and
 * every loop has a bound, named where it is.
 *
 * Exit status: 0 when every mode was applied, 1 on failure (with a
 * message), 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cotrack/vmi.h"
#include "host/log.h"
#include "host/mem.h"
#include "host/vmiattach.h"

#define PAGE 4096ull
#define MiB  (1ull << 20)

#define M_CYCLE	   (1u << 0)
#define M_BUCKETS  (1u << 1)
#define M_NETS	   (1u << 2)
#define M_KALLSYMS (1u << 3)
#define M_FLAT	   (1u << 4)

/* Forged nets with a hashinfo each: the walker keeps at most
 * 2 * COT_VMI_MAX_TABLES distinct tables, so this fills its table list
 * (the ones past it are counted as err_table). */
#define FORGED_NETS (2 * COT_VMI_MAX_TABLES)
#define JUNK_MASK   (COT_VMI_MAX_BUCKETS - 1) /* 2^24 - 1: the most taken */
/* At most this many hashinfos are collected: real namespaces sharing
 * more distinct tables than the walker keeps add nothing. */
#define MAX_HASHINFO (2 * COT_VMI_MAX_TABLES)
#define SNAP_CAP     65536 /* sockets of the pristine snapshot */
#define TOKEN_LEN    255   /* the forged token */

/* x86-64 paging (Intel SDM vol. 3, 4.5): a table entry as the kernel
 * writes one (_KERNPG_TABLE: present, writable, accessed, dirty); the
 * walker looks at the present bit, PS and the address only. */
#define PTE_TABLE UINT64_C(0x63)
#define FLAT_SPAN (UINT64_C(1) << 30) /* VA the flat mapping covers */

/* x86-64 direct map bases without KASLR (Documentation/x86/x86_64/mm). */
#define DMAP_L4 0xffff888000000000ull
#define DMAP_L5 0xff11000000000000ull

struct forge {
	const char *path;
	struct cot_vmi_attach at;
	struct cot_vmi *k;
	uint8_t *rw; /* FILE, mapped shared and writable */
	size_t size;
	uint64_t dmap; /* page_offset_base: va of guest-physical 0 */
	const char *dmap_how;
	/* found on the unmodified image */
	struct cot_vmi_sock *socks;
	uint32_t nsocks;
	uint64_t hi[MAX_HASHINFO]; /* hi[0] = tcp_hashinfo */
	uint32_t nhi;
	/* state of the patching */
	uint64_t loop_node; /* cycle: the self-looped node, or 0 */
	uint64_t loop_head; /* what an ehash bucket holds to reach it, or 0 */
	uint64_t flat_va;   /* flat: the zero mapping, or 0 */
	uint32_t junk_tables;
	uint64_t scratch_pa; /* next guest page to try for scratch */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: forge_mem FILE MODE[,MODE...] [MODE...]\n"
		"  Patch a copy of a booted Linux guest's raw RAM file (gpa = "
		"file offset)\n"
		"  in place so that its kernel structures are hostile.  "
		"Modes (applied in\n"
		"  this order):\n"
		"    cycle     a real socket's chain next pointer points at "
		"itself\n"
		"    buckets   every hashinfo: ehash = start of the direct "
		"map, ehash_mask\n"
		"              = 2^24-1 (16M buckets of junk per table)\n"
		"    flat      the same with empty tables: forged page tables "
		"map 1 GiB\n"
		"              onto one zeroed page (not with buckets)\n"
		"    nets      net_namespace_list: %u entries, %u forged "
		"nets with their\n"
		"              own 2^24-bucket tables, ending in a cycle\n"
		"    kallsyms  every kallsyms token 255 bytes long: no symbol "
		"decodes\n"
		"  Prints each patch (address, old and new value).  Exit 0 "
		"done, 1 failed,\n"
		"  2 bad usage.\n",
		COT_VMI_MAX_NETS + 16, FORGED_NETS);
}

/* --- guest memory ----------------------------------------------------- */

static int rd64(struct forge *f, uint64_t va, uint64_t *v)
{
	uint8_t b[8];
	int err = cot_vmi_read_va(f->k, va, b, sizeof(b));

	if (!err)
		*v = cot_get_le64(b);
	return err;
}

static int rd32(struct forge *f, uint64_t va, uint32_t *v)
{
	uint8_t b[4];
	int err = cot_vmi_read_va(f->k, va, b, sizeof(b));

	if (!err)
		*v = cot_get_le32(b);
	return err;
}

static int vread(void *ctx, uint64_t va, void *buf, size_t len)
{
	return cot_vmi_read_va(ctx, va, buf, len);
}

/* Write @len bytes at kernel-virtual @va, page by page through the
 * guest's page tables; -COT_EFAULT when a page is unmapped or outside
 * the file (nothing of that page is written). */
static int wr(struct forge *f, uint64_t va, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	/* Bound: len / PAGE + 1 pages. */
	while (len) {
		size_t chunk = (size_t)(PAGE - (va & (PAGE - 1)));
		uint64_t pa;

		if (chunk > len)
			chunk = len;
		if (cot_vmi_v2p(f->k, va, &pa) || pa >= f->size ||
		    chunk > f->size - pa)
			return -COT_EFAULT;
		memcpy(f->rw + pa, p, chunk);
		p += chunk;
		va += chunk;
		len -= chunk;
	}
	return 0;
}

static uint64_t pa_of(struct forge *f, uint64_t va)
{
	uint64_t pa;

	return cot_vmi_v2p(f->k, va, &pa) ? UINT64_MAX : pa;
}

/* Replace the u64 at @va, printing "WHAT va (pa): old -> new". */
static int patch64(struct forge *f, const char *what, uint64_t va, uint64_t v)
{
	uint8_t b[8];
	uint64_t old;

	if (rd64(f, va, &old)) {
		log_warnx("%s: %s at %#" PRIx64 " not readable", f->path, what,
			  va);
		return -1;
	}
	cot_put_le64(b, v);
	if (wr(f, va, b, sizeof(b))) {
		log_warnx("%s: %s at %#" PRIx64 " not writable", f->path, what,
			  va);
		return -1;
	}
	printf("  %s %#" PRIx64 " (pa %#" PRIx64 "): %#" PRIx64 " -> %#" PRIx64
	       "\n",
	       what, va, pa_of(f, va), old, v);
	return 0;
}

static int patch32(struct forge *f, const char *what, uint64_t va, uint32_t v)
{
	uint8_t b[4];
	uint32_t old;

	if (rd32(f, va, &old)) {
		log_warnx("%s: %s at %#" PRIx64 " not readable", f->path, what,
			  va);
		return -1;
	}
	cot_put_le32(b, v);
	if (wr(f, va, b, sizeof(b))) {
		log_warnx("%s: %s at %#" PRIx64 " not writable", f->path, what,
			  va);
		return -1;
	}
	printf("  %s %#" PRIx64 " (pa %#" PRIx64 "): %#" PRIx32 " -> %#" PRIx32
	       "\n",
	       what, va, pa_of(f, va), old, v);
	return 0;
}

/* Silent stores into scratch memory (zero before, ours alone). */
static int put64(struct forge *f, uint64_t va, uint64_t v)
{
	uint8_t b[8];

	cot_put_le64(b, v);
	return wr(f, va, b, sizeof(b));
}

static int put32(struct forge *f, uint64_t va, uint32_t v)
{
	uint8_t b[4];

	cot_put_le32(b, v);
	return wr(f, va, b, sizeof(b));
}

/*
 * Scratch memory: @len bytes of guest pages that are all zero in the
 * image (so no structure the walker reads lives there), at or above
 * 1 MiB (below it are the junk tables' first buckets), mapped in the
 * direct map at dmap + pa.  Returns the kernel-virtual address, or 0.
 * Bound: one pass over the file's pages.
 */
static uint64_t scratch(struct forge *f, uint64_t len)
{
	uint64_t need = (len + PAGE - 1) / PAGE, run = 0, pa, start = 0;

	if (f->scratch_pa < MiB)
		f->scratch_pa = MiB;
	for (pa = f->scratch_pa; pa + PAGE <= f->size; pa += PAGE) {
		const uint8_t *p = f->rw + pa;
		uint64_t got;
		size_t i;

		for (i = 0; i < PAGE && !p[i]; i++)
			;
		if (i < PAGE || cot_vmi_v2p(f->k, f->dmap + pa, &got) ||
		    got != pa) {
			run = 0;
			continue;
		}
		if (run++ == 0)
			start = pa;
		if (run == need) {
			f->scratch_pa = pa + PAGE;
			return f->dmap + start;
		}
	}
	return 0;
}

/* --- finding things on the unmodified image ---------------------------- */

/* The direct map's base: kallsyms page_offset_base (KASLR), else the
 * fixed base for the paging mode; checked by translating it. */
static int find_dmap(struct forge *f)
{
	const struct cot_vmcoreinfo *ci = &f->k->ci;
	struct cot_ksym_req req = { .name = "page_offset_base" };
	struct cot_kallsyms ks = { 0 };
	uint64_t base = 0, pa;
	bool ok = ci->have & (COT_VMCI_KALLSYMS | COT_VMCI_KALLSYMS_ADDRS);

	/* The tables as core/vmi/kernel.c finds them (find_symbols()). */
	ks.names = ci->ks_names;
	ks.token_table = ci->ks_token_table;
	ks.token_index = ci->ks_token_index;
	if (ci->have & COT_VMCI_KALLSYMS) {
		ks.offsets = ci->ks_offsets;
		/* Linux >= 7.0: place-relative, no relative base */
		if (!ci->ks_relative_base)
			ks.enc = COT_KALLSYMS_PLACE_REL;
		else
			ok = ok &&
			     !rd64(f, ci->ks_relative_base, &ks.relative_base);
	} else {
		ks.enc = COT_KALLSYMS_ABSOLUTE;
		ks.addresses = ci->ks_addresses;
	}
	ok = ok && !rd32(f, ci->ks_num_syms, &ks.num_syms);
	if (ok && cot_kallsyms_lookup(&ks, vread, f->k, &req, 1) == 1 &&
	    !rd64(f, req.addr, &base))
		f->dmap_how = "kallsyms page_offset_base";
	else
		base = 0;
	if (!base) {
		base = f->k->levels == 5 ? DMAP_L5 : DMAP_L4;
		f->dmap_how = "the default base (no page_offset_base)";
	}
	if (cot_vmi_v2p(f->k, base, &pa) || pa != 0) {
		log_warnx("%s: no direct map at %#" PRIx64 " (from %s)",
			  f->path, base, f->dmap_how);
		return -1;
	}
	f->dmap = base;
	return 0;
}

/* hi[0] = tcp_hashinfo, then each namespace's own (Linux >= 6.1). */
static void find_hashinfos(struct forge *f)
{
	const struct cot_vmi_profile *p = &f->k->prof;
	uint32_t i, j;

	f->hi[0] = f->k->sym[COT_VMI_SYM_TCP_HASHINFO];
	f->nhi = 1;
	if (!(p->flags & COT_VMI_PF_PERNET))
		return;
	/* Bound: k->nnets <= COT_VMI_MAX_NETS, nhi <= MAX_HASHINFO. */
	for (i = 0; i < f->k->nnets && f->nhi < MAX_HASHINFO; i++) {
		uint64_t dr = f->k->nets[i].addr + p->net_death_row, hi;

		if ((p->flags & COT_VMI_PF_DR_PTR) && rd64(f, dr, &dr))
			continue;
		if (rd64(f, dr + p->dr_hashinfo, &hi) || !hi)
			continue;
		for (j = 0; j < f->nhi && f->hi[j] != hi; j++)
			;
		if (j == f->nhi)
			f->hi[f->nhi++] = hi;
	}
}

static int discover(struct forge *f)
{
	struct cot_vmi_stats st;
	int err;

	if (find_dmap(f))
		return -1;
	f->socks = calloc(SNAP_CAP, sizeof(*f->socks));
	if (!f->socks) {
		log_warnx("out of memory");
		return -1;
	}
	err = cot_vmi_snapshot(f->k, f->socks, SNAP_CAP, &f->nsocks, &st);
	if (err) {
		log_warnx("%s: the unmodified image cannot be walked: %s",
			  f->path, cot_strerror(err));
		return -1;
	}
	find_hashinfos(f);
	printf("forge_mem: %s: Linux %s, %u-level paging, direct map %#" PRIx64
	       " (%s); %" PRIu32 " sockets, %" PRIu32 " namespaces, %" PRIu32
	       " hashinfo(s), %" PRIu32 " ehash table(s)\n",
	       f->path, f->k->ci.osrelease, f->k->levels, f->dmap, f->dmap_how,
	       f->nsocks, f->k->nnets, f->nhi, st.tables);
	return 0;
}

/* --- the modes ----------------------------------------------------------- */

static void sock_str(const struct cot_vmi_sock *s, char *buf, size_t len)
{
	char a[COT_ADDR_STRLEN], b[COT_ADDR_STRLEN];

	cot_addr_format(a, &s->local, s->family == 4);
	cot_addr_format(b, &s->remote, s->family == 4);
	snprintf(buf, len, "%s ipv%u %s:%u -> %s:%u netns %u",
		 cot_vmi_state_name(s->state), s->family, a, s->lport, b,
		 s->rport, s->netns);
}

static int do_cycle(struct forge *f)
{
	const struct cot_vmi_profile *p = &f->k->prof;
	const struct cot_vmi_sock *best = NULL;
	int rank = 3;
	uint32_t i;
	uint64_t node;
	char desc[200];

	/* Rank 0: ESTABLISHED full socket; 1: any ehash socket; 2: a
	 * listener.  Bound: nsocks <= SNAP_CAP. */
	for (i = 0; i < f->nsocks && rank > 0; i++) {
		const struct cot_vmi_sock *s = &f->socks[i];
		int r = s->kind == COT_VMI_SK_LISTEN ? 2
			: s->kind == COT_VMI_SK_FULL &&
					s->state == COT_VMI_TCP_ESTABLISHED
				? 0
				: 1;

		if (r < rank) {
			rank = r;
			best = s;
		}
	}
	if (!best) {
		log_warnx("%s: cycle: the guest has no TCP socket", f->path);
		return -1;
	}
	node = best->kaddr + (best->kind == COT_VMI_SK_LISTEN
				      ? p->listen_node
				      : p->skc_nulls_node);
	sock_str(best, desc, sizeof(desc));
	printf("cycle: %s socket %#" PRIx64 " (%s): its chain node points at "
	       "itself\n",
	       best->kind == COT_VMI_SK_LISTEN ? "listening" : "ehash",
	       best->kaddr, desc);
	if (patch64(f, "node.next", node, node))
		return -1;
	f->loop_node = node;
	/* An ehash chain reaches a listener's loop only when both chains
	 * use the same node (hlist_nulls, Linux >= 5.19). */
	if (best->kind != COT_VMI_SK_LISTEN ||
	    p->listen_node == p->skc_nulls_node)
		f->loop_head = node;
	return 0;
}

/*
 * The next junk table: from one more page on (distinct addresses, so the
 * walker keeps each), read as 2^24 buckets; in the direct map, or in the
 * flat mapping.  With cycle, bucket 0 of a direct-map table heads the
 * looped chain (guest-physical page k, below 1 MiB, holds nothing the
 * walker needs); the flat mapping has it built in (do_flat()).
 */
static int junk_table(struct forge *f, uint64_t *va)
{
	const struct cot_vmi_profile *p = &f->k->prof;
	uint64_t off = (uint64_t)f->junk_tables * PAGE;
	uint64_t t = (f->flat_va ? f->flat_va : f->dmap) + off;

	if (off >= MiB) {
		log_warnx("%s: more than %llu junk tables", f->path,
			  MiB / PAGE);
		return -1;
	}
	f->junk_tables++;
	if (f->loop_head && !f->flat_va &&
	    put64(f, t + p->ehash_chain, f->loop_head)) {
		log_warnx("%s: junk table %#" PRIx64 " not writable", f->path,
			  t);
		return -1;
	}
	*va = t;
	return 0;
}

/* Store @v at guest-physical @pa (page tables are physical). */
static int put_pa64(struct forge *f, uint64_t pa, uint64_t v)
{
	if (pa >= f->size || f->size - pa < 8)
		return -1;
	cot_put_le64(f->rw + pa, v);
	return 0;
}

/*
 * Forge page tables: a kernel-half top-level entry that was not present
 * now leads, through one new table per level, to a page table whose
 * entries all map one zeroed page; the level-2 table points all its 512
 * entries at that page table, so FLAT_SPAN of VA reads as zeros.  With
 * cycle, entry 0 of the page table maps a page whose first bucket heads
 * the looped chain instead (so every 2 MiB of the span has one).
 */
static int do_flat(struct forge *f)
{
	const struct cot_vmi_profile *p = &f->k->prof;
	unsigned int levels = f->k->levels, lvl, top_shift;
	uint64_t root = f->k->root_pa, tab[6] = { 0 }, zero, loop = 0, idx;
	uint64_t va, got, e = 0;
	uint32_t i;

	/* Bound: the 255 kernel-half entries below the kernel image's. */
	for (idx = 256; idx < 511; idx++) {
		if (root + idx * 8 + 8 > f->size)
			break;
		e = cot_get_le64(f->rw + root + idx * 8);
		if (!(e & 1))
			break;
	}
	if (idx == 511 || root + idx * 8 + 8 > f->size) {
		log_warnx("%s: flat: no free top-level page-table entry",
			  f->path);
		return -1;
	}
	/* One table per level below the root (levels 1 .. levels-1), the
	 * zero page, and the loop page. */
	for (lvl = 1; lvl < levels; lvl++) {
		tab[lvl] = scratch(f, PAGE);
		if (!tab[lvl])
			break;
		tab[lvl] -= f->dmap;
	}
	zero = scratch(f, PAGE);
	if (f->loop_head)
		loop = scratch(f, PAGE);
	if (lvl < levels || !zero || (f->loop_head && !loop)) {
		log_warnx("%s: flat: not enough zeroed RAM for page tables",
			  f->path);
		return -1;
	}
	zero -= f->dmap;
	if (loop) {
		loop -= f->dmap;
		if (put_pa64(f, loop + p->ehash_chain, f->loop_head))
			return -1;
	}
	/* The page table, the level-2 table, the levels above (entry 0),
	 * then the root entry. */
	for (i = 0; i < 512; i++)
		if (put_pa64(f, tab[1] + i * 8,
			     (i == 0 && loop ? loop : zero) | PTE_TABLE) ||
		    put_pa64(f, tab[2] + i * 8, tab[1] | PTE_TABLE))
			return -1;
	for (lvl = 3; lvl < levels; lvl++)
		if (put_pa64(f, tab[lvl], tab[lvl - 1] | PTE_TABLE))
			return -1;
	top_shift = 12 + 9 * (levels - 1);
	va = idx << top_shift;
	/* Sign-extend from the top bit of the virtual address. */
	va = (uint64_t)((int64_t)(va << (63 - (top_shift + 8))) >>
			(63 - (top_shift + 8)));
	printf("flat: %#" PRIx64 " + 1 GiB maps the zeroed page at pa %#" PRIx64
	       "%s\n",
	       va, zero,
	       loop ? " (and every 2 MiB the looped chain's page)" : "");
	printf("flat: forged tables, level %u down to 1, at pa", levels - 1);
	for (lvl = levels - 1; lvl >= 1; lvl--)
		printf(" %#" PRIx64, tab[lvl]);
	printf("\n");
	printf("  top-level entry %" PRIu64 " (pa %#" PRIx64 "): %#" PRIx64
	       " -> %#" PRIx64 "\n",
	       idx, root + idx * 8, e, tab[levels - 1] | PTE_TABLE);
	if (put_pa64(f, root + idx * 8, tab[levels - 1] | PTE_TABLE))
		return -1;
	if (cot_vmi_v2p(f->k, va + PAGE, &got) || got != zero ||
	    cot_vmi_v2p(f->k, va + FLAT_SPAN - PAGE, &got) || got != zero) {
		log_warnx("%s: flat: the forged mapping does not translate",
			  f->path);
		return -1;
	}
	f->flat_va = va;
	return 0;
}

static int do_buckets(struct forge *f)
{
	const struct cot_vmi_profile *p = &f->k->prof;
	uint32_t i;

	for (i = 0; i < f->nhi; i++) {
		uint64_t t;

		printf("%s: hashinfo %#" PRIx64 "%s -> %u buckets at the %s "
		       "+ %u pages%s\n",
		       f->flat_va ? "flat" : "buckets", f->hi[i],
		       i ? "" : " (tcp_hashinfo)", JUNK_MASK + 1,
		       f->flat_va ? "flat mapping" : "direct map",
		       f->junk_tables,
		       f->loop_head && !f->flat_va
			       ? ", bucket 0 = the looped chain"
			       : "");
		if (junk_table(f, &t) ||
		    patch64(f, "ehash", f->hi[i] + p->hi_ehash, t) ||
		    patch32(f, "ehash_mask", f->hi[i] + p->hi_ehash_mask,
			    JUNK_MASK))
			return -1;
	}
	return 0;
}

static uint32_t align64(uint32_t v)
{
	return (v + 63) & ~63u;
}

static int do_nets(struct forge *f)
{
	const struct cot_vmi_profile *p = &f->k->prof;
	uint64_t head = f->k->sym[COT_VMI_SYM_NET_NS_LIST], last = 0, v;
	uint64_t nets, drs = 0, his, nodes, first;
	uint32_t netsz, drsz, hisz, nbare, i;
	bool dr_ptr = p->flags & COT_VMI_PF_DR_PTR;

	if (!head || !f->k->nnets) {
		log_warnx("%s: nets: no net_namespace_list", f->path);
		return -1;
	}
	/* The real list's last node (its next is the head).  Bound: the
	 * namespaces of the pristine snapshot. */
	for (i = 0; i < f->k->nnets; i++) {
		uint64_t node = f->k->nets[i].addr + p->net_list;

		if (!rd64(f, node, &v) && v == head) {
			last = node;
			break;
		}
	}
	if (!last) {
		log_warnx("%s: nets: no namespace ends the list", f->path);
		return -1;
	}
	/* Sizes from the profile: each forged net holds its list node,
	 * ns.inum and death row (a pointer, or embedded). */
	netsz = COT_MAX(p->net_list + 8, p->net_inum + 4);
	netsz = COT_MAX(netsz,
			p->net_death_row + (dr_ptr ? 8 : p->dr_hashinfo + 8));
	netsz = align64(netsz);
	drsz = align64(p->dr_hashinfo + 8);
	hisz = COT_MAX(p->hi_ehash, p->hi_ehash_mask);
	hisz = align64(COT_MAX(hisz, COT_MAX(p->hi_lhash2, p->hi_lhash2_mask)) +
		       8);
	/* Past the walker's COT_VMI_MAX_NETS, whatever the real count. */
	nbare = f->k->nnets + FORGED_NETS < COT_VMI_MAX_NETS + 16
			? COT_VMI_MAX_NETS + 16 - FORGED_NETS - f->k->nnets
			: 1;
	nets = scratch(f, (uint64_t)FORGED_NETS * netsz);
	if (dr_ptr)
		drs = scratch(f, (uint64_t)FORGED_NETS * drsz);
	his = scratch(f, (uint64_t)FORGED_NETS * hisz);
	/* Bare nodes: a net's fields are read around its node, zeros on
	 * both sides keep those reads on our pages. */
	nodes = scratch(f, (uint64_t)nbare * 8 + 2ull * netsz);
	if (!nets || (dr_ptr && !drs) || !his || !nodes) {
		log_warnx("%s: nets: not enough zeroed RAM for the forged "
			  "structures",
			  f->path);
		return -1;
	}
	nodes += netsz;
	first = nets + p->net_list;
	printf("nets: %u forged nets at %#" PRIx64 " (%u bytes each: ns.inum "
	       "0xf0000000 + i, death row -> a hashinfo at %#" PRIx64
	       " + i * %u: ehash = the next %s table, ehash_mask %#x, no "
	       "lhash2)\n",
	       FORGED_NETS, nets, netsz, his, hisz,
	       f->flat_va ? "flat" : "junk", JUNK_MASK);
	printf("nets: %u bare list nodes at %#" PRIx64 ", the last pointing "
	       "at the first forged net\n",
	       nbare, nodes);
	/* Bound: FORGED_NETS forged nets, nbare bare nodes. */
	for (i = 0; i < FORGED_NETS; i++) {
		uint64_t n = nets + (uint64_t)i * netsz;
		uint64_t hi = his + (uint64_t)i * hisz, t;
		uint64_t next =
			i + 1 < FORGED_NETS ? n + netsz + p->net_list : nodes;
		uint64_t dr = dr_ptr ? drs + (uint64_t)i * drsz
				     : n + p->net_death_row;

		if (junk_table(f, &t))
			return -1;
		if (put64(f, n + p->net_list, next) ||
		    put32(f, n + p->net_inum, 0xf0000000u | i) ||
		    (dr_ptr && put64(f, n + p->net_death_row, dr)) ||
		    put64(f, dr + p->dr_hashinfo, hi) ||
		    put64(f, hi + p->hi_ehash, t) ||
		    put32(f, hi + p->hi_ehash_mask, JUNK_MASK)) {
			log_warnx("%s: nets: forged net %u not writable",
				  f->path, i);
			return -1;
		}
	}
	for (i = 0; i < nbare; i++)
		if (put64(f, nodes + 8ull * i,
			  i + 1 < nbare ? nodes + 8ull * (i + 1) : first)) {
			log_warnx("%s: nets: list node not writable", f->path);
			return -1;
		}
	printf("nets: the last real namespace's list node now leads to the "
	       "forged ones\n");
	return patch64(f, "net.list.next", last, first);
}

static int do_kallsyms(struct forge *f)
{
	const struct cot_vmcoreinfo *ci = &f->k->ci;
	uint8_t idx[512], tok[TOKEN_LEN + 1];
	uint64_t ti = ci->ks_token_index, tt = ci->ks_token_table;
	uint32_t i, maxidx = 0;
	static const char pat[] = "FORGED";

	if (!(ci->have & (COT_VMCI_KALLSYMS | COT_VMCI_KALLSYMS_ADDRS))) {
		log_warnx("%s: kallsyms: VMCOREINFO has no kallsyms tables",
			  f->path);
		return -1;
	}
	if (tt < ti && ti - tt < sizeof(tok)) {
		log_warnx("%s: kallsyms: token table shorter than %zu bytes",
			  f->path, sizeof(tok));
		return -1;
	}
	if (cot_vmi_read_va(f->k, ti, idx, sizeof(idx))) {
		log_warnx("%s: kallsyms: token index not readable", f->path);
		return -1;
	}
	for (i = 0; i < 256; i++)
		maxidx = COT_MAX(maxidx, cot_get_le16(idx + 2 * i));
	memset(idx, 0, sizeof(idx));
	for (i = 0; i < TOKEN_LEN; i++)
		tok[i] = (uint8_t)pat[i % (sizeof(pat) - 1)];
	tok[TOKEN_LEN] = 0;
	if (wr(f, ti, idx, sizeof(idx)) || wr(f, tt, tok, sizeof(tok))) {
		log_warnx("%s: kallsyms: tables not writable", f->path);
		return -1;
	}
	printf("kallsyms: token_index %#" PRIx64 " (pa %#" PRIx64
	       "): 256 offsets up to %u -> all 0\n",
	       ti, pa_of(f, ti), maxidx);
	printf("kallsyms: token_table %#" PRIx64 " (pa %#" PRIx64
	       "): token 0 -> %u bytes \"FORGEDFORGED...\"\n",
	       tt, pa_of(f, tt), TOKEN_LEN);
	return 0;
}

/* --- main ------------------------------------------------------------- */

static int parse_modes(int argc, char **argv, unsigned int *modes)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} names[] = {
		{ "cycle", M_CYCLE }, { "buckets", M_BUCKETS },
		{ "nets", M_NETS },   { "kallsyms", M_KALLSYMS },
		{ "flat", M_FLAT },
	};
	int a;

	*modes = 0;
	for (a = 0; a < argc; a++) {
		char *save = NULL, *tok;

		for (tok = strtok_r(argv[a], ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			size_t i;

			for (i = 0; i < COT_ARRAY_SIZE(names); i++)
				if (!strcmp(tok, names[i].name))
					break;
			if (i == COT_ARRAY_SIZE(names)) {
				log_warnx("unknown mode '%s'", tok);
				return -1;
			}
			*modes |= names[i].bit;
		}
	}
	if ((*modes & M_FLAT) && (*modes & M_BUCKETS)) {
		log_warnx("flat and buckets exclude each other");
		return -1;
	}
	return *modes ? 0 : -1;
}

static int open_rw(struct forge *f)
{
	struct stat sb;
	void *p;
	int fd = open(f->path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		log_warn("%s", f->path);
		return -1;
	}
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size != f->at.hm.size) {
		log_warnx("%s: changed size while opened", f->path);
		close(fd);
		return -1;
	}
	p = mmap(NULL, f->at.hm.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_warn("%s: mmap", f->path);
		return -1;
	}
	f->rw = p;
	f->size = f->at.hm.size;
	return 0;
}

int main(int argc, char **argv)
{
	struct cot_vmi_attach_opts o = { 0 };
	struct forge f = { 0 };
	unsigned int modes;
	char msg[512];
	int rc = 1;

	log_init(argv[0], 1);
	if (argc >= 2 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 3 || parse_modes(argc - 2, argv + 2, &modes)) {
		usage(stderr);
		return 2;
	}
	f.path = argv[1];
	o.mem = f.path;
	if (cot_vmi_attach(&f.at, &o, msg, sizeof(msg)) < 0) {
		log_warnx("cannot attach: %s", msg);
		return 1;
	}
	f.k = f.at.k;
	if (f.at.hm.kind != COT_HOSTMEM_RAW) {
		log_warnx("%s: an ELF core, not a raw RAM file", f.path);
		goto out;
	}
	if (open_rw(&f) || discover(&f))
		goto out;
	if (((modes & M_CYCLE) && do_cycle(&f)) ||
	    ((modes & M_FLAT) && (do_flat(&f) || do_buckets(&f))) ||
	    ((modes & M_BUCKETS) && do_buckets(&f)) ||
	    ((modes & M_NETS) && do_nets(&f)) ||
	    ((modes & M_KALLSYMS) && do_kallsyms(&f))) {
		log_warnx("%s: failed: the file may be partly patched", f.path);
		goto out;
	}
	if (msync(f.rw, f.size, MS_SYNC) < 0) {
		log_warn("%s: msync", f.path);
		goto out;
	}
	printf("forge_mem: %s: done\n", f.path);
	rc = 0;
out:
	if (f.rw)
		munmap(f.rw, f.size);
	free(f.socks);
	cot_vmi_detach(&f.at);
	return rc;
}
