/* SPDX-License-Identifier: MIT */
/*
 * A synthetic Linux guest in a memory buffer, for core/vmi tests and
 * fuzzers: page tables (4 or 5 levels; kernel image in 4 KiB pages, the
 * direct map in 2 MiB or 1 GiB pages), a VMCOREINFO page (plus a decoy),
 * kallsyms tables, a BTF blob written with libbpf's writer API whose
 * struct layouts differ from every real kernel's (sock_common at offset
 * 16 of each socket, fields reordered, buckets of 16 bytes, death row
 * behind a pointer), namespaces, hash tables and sockets.
 */
#ifndef COTRACK_TEST_VMI_SYNTH_H
#define COTRACK_TEST_VMI_SYNTH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "cotrack/vmi.h"

/* Not every user (tests, fuzzers) needs every helper. */
#define SYN_FN static __attribute__((unused))

#define SYN_MEM	    (16u << 20)
#define SYN_IMG_PA  0x100000ull
#define SYN_IMG_LEN (4u << 20)
#define SYN_HEAP_PA (SYN_IMG_PA + SYN_IMG_LEN)
#define SYN_KMAP    0xffffffff80000000ull
#define SYN_KASLR   0x1e400000ull
#define SYN_IMG_VA  (0xffffffff81000000ull + SYN_KASLR)

/* The synthetic layout (bytes). */
#define SYN_SKC		      16 /* sock_common inside every socket kind */
#define SYN_SK_NULLS	      (SYN_SKC + 8)
#define SYN_SK_FAMILY	      (SYN_SKC + 24)
#define SYN_SK_STATE	      (SYN_SKC + 26)
#define SYN_SK_DPORT	      (SYN_SKC + 28)
#define SYN_SK_NUM	      (SYN_SKC + 30)
#define SYN_SK_NET	      (SYN_SKC + 32)
#define SYN_SK_DADDR	      (SYN_SKC + 40)
#define SYN_SK_RCV_SADDR      (SYN_SKC + 44)
#define SYN_SK_V6_RCV	      (SYN_SKC + 48)
#define SYN_SK_V6_DADDR	      (SYN_SKC + 64)
#define SYN_TW_SUBSTATE	      120
#define SYN_SOCK_SIZE	      160
#define SYN_BUCKET	      16 /* both bucket kinds; chain head at 8 */
#define SYN_HI_EMASK	      0
#define SYN_HI_LMASK	      4
#define SYN_HI_LHASH2	      8
#define SYN_HI_EHASH	      24
#define SYN_HI_SIZE	      32
#define SYN_NET_INUM	      16
#define SYN_NET_LIST	      32
#define SYN_NET_DR	      80 /* ipv4 at 64, tcp_death_row ptr at +16 */
#define SYN_NET_SIZE	      128
#define SYN_DR_HASHINFO	      8
#define SYN_LISTEN_NULLS_BASE (1u << 29)
/* owners and volumes (core/vmi/owner.c): our own layouts too */
#define SYN_TP_BYTES_RECEIVED 112 /* tcp_sock, inside SYN_SOCK_SIZE */
#define SYN_TP_SEGS_IN	      128
#define SYN_TP_SEGS_OUT	      132
#define SYN_TP_BYTES_ACKED    144
#define SYN_SK_SOCKET	      152 /* sock.sk_socket */
#define SYN_TASK_TGID	      16
#define SYN_TASK_CGROUPS      40
#define SYN_TASK_TASKS	      64
#define SYN_TASK_COMM	      128
#define SYN_TASK_FILES	      200
#define SYN_TASK_SIZE	      256
#define SYN_FILES_FDT	      32
#define SYN_FDT_MAX_FDS	      0
#define SYN_FDT_FD	      8
#define SYN_FDT_OPEN_FDS      24
#define SYN_FILE_PRIV	      48
#define SYN_SOCKET_FILE	      16
#define SYN_SOCKET_SK	      24
#define SYN_SOCKET_INO	      72 /* vfs_inode at 64 of socket_alloc, i_ino 8 */
#define SYN_CSS_DFL	      8
#define SYN_CGROUP_KN	      24
#define SYN_KN_NAME	      8
#define SYN_KN_PARENT	      32 /* named __parent, as from Linux 6.15 */

/*
 * Where kallsyms is and how it is encoded (struct syn.ks_layout):
 *   SYN_KS_VMCI   tables named in VMCOREINFO, base-relative (Linux 6.x)
 *   SYN_KS_PREL   named in VMCOREINFO without kallsyms_relative_base,
 *                 offsets place-relative (Linux >= 7.0)
 *   SYN_KS_IMAGE  not in VMCOREINFO (Linux < 6.0): the 5.10 layout
 *                 (offsets, relative_base, u64 num_syms, names, u32
 *                 markers, token table, token index), base-relative
 *   SYN_KS_IMAGE_ABS the same with kallsyms_addresses[] (u64) instead
 *                 of offsets and relative_base
 * The image layouts carry SYN_FILLER more symbols, so that there are
 * several markers.
 */
enum { SYN_KS_VMCI = 0, SYN_KS_PREL, SYN_KS_IMAGE, SYN_KS_IMAGE_ABS };
#define SYN_FILLER 600

struct syn_ks {
	uint64_t names, num, toktab, tokidx, offs, base, markers, stext_off;
};

struct syn {
	uint8_t *mem;
	size_t size;
	int levels;
	int dm_1g;	  /* direct map in 1 GiB pages (else 2 MiB) */
	bool neg_offsets; /* kallsyms with ABSOLUTE_PERCPU semantics */
	int ks_layout;	  /* SYN_KS_* */
	struct syn_ks ks; /* where the tables went */
	uint64_t page_offset;
	uint64_t phys_base;
	uint64_t root_pa, root_va;
	uint64_t heap, img; /* next free pa */
	uint64_t hashinfo, nslist, init_net, init_task;
	uint64_t kn_root; /* the cgroup root's kernfs node (syn_cgroup) */
	uint64_t vmci_pa;
	/* what the read callback was asked for, to check the counting */
	uint64_t rd_bytes, rd_calls;
};

SYN_FN int syn_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct syn *s = ctx;

	s->rd_bytes += len;
	s->rd_calls++;
	if (gpa > s->size || len > s->size - gpa)
		return -COT_EFAULT;
	memcpy(buf, s->mem + gpa, len);
	return 0;
}

SYN_FN void syn_iface(struct syn *s, struct cot_vmi_mem *m)
{
	memset(m, 0, sizeof(*m));
	m->read = syn_read;
	m->ctx = s;
	m->ranges[0].start = 0;
	m->ranges[0].len = s->size;
	m->nranges = 1;
}

SYN_FN uint64_t syn_heap(struct syn *s, size_t len, size_t align)
{
	uint64_t pa = (s->heap + align - 1) & ~(uint64_t)(align - 1);

	if (pa + len > s->size) {
		fprintf(stderr, "synthetic heap full\n");
		abort();
	}
	s->heap = pa + len;
	return pa;
}

/* Direct-map VA of a fresh heap object. */
SYN_FN uint64_t syn_obj(struct syn *s, size_t len)
{
	return s->page_offset + syn_heap(s, len, 16);
}

/* Image VA of a fresh image object (kernel .data/.rodata). */
SYN_FN uint64_t syn_img(struct syn *s, size_t len, size_t align)
{
	uint64_t pa = (s->img + align - 1) & ~(uint64_t)(align - 1);

	if (pa + len > SYN_IMG_PA + SYN_IMG_LEN)
		abort();
	s->img = pa + len;
	return SYN_IMG_VA + (pa - SYN_IMG_PA);
}

SYN_FN uint64_t syn_pa(const struct syn *s, uint64_t va)
{
	if (va >= SYN_IMG_VA && va < SYN_IMG_VA + SYN_IMG_LEN)
		return va - SYN_IMG_VA + SYN_IMG_PA;
	if (va >= s->page_offset && va < s->page_offset + s->size)
		return va - s->page_offset;
	fprintf(stderr, "syn_pa: %#llx not mapped\n", (unsigned long long)va);
	abort();
}

SYN_FN uint8_t *syn_at(struct syn *s, uint64_t va)
{
	return s->mem + syn_pa(s, va);
}

SYN_FN void syn_w64(struct syn *s, uint64_t va, uint64_t v)
{
	cot_put_le64(syn_at(s, va), v);
}

SYN_FN void syn_w32(struct syn *s, uint64_t va, uint32_t v)
{
	cot_put_le32(syn_at(s, va), v);
}

SYN_FN void syn_w16(struct syn *s, uint64_t va, uint16_t v)
{
	cot_put_le16(syn_at(s, va), v);
}

/* Page-table entry for @va at level @lvl (1 = PTE), creating tables. */
SYN_FN uint64_t syn_entry(struct syn *s, uint64_t va, int lvl)
{
	uint64_t table = s->root_pa;
	int l;

	for (l = s->levels; l > lvl; l--) {
		uint64_t idx = (va >> (12 + 9 * (l - 1))) & 511;
		uint64_t e = cot_get_le64(s->mem + table + idx * 8);

		if (!(e & 1)) {
			uint64_t pa = syn_heap(s, 4096, 4096);

			/* present, writable, and NX set to be masked */
			e = pa | 0x3 | (1ull << 63);
			cot_put_le64(s->mem + table + idx * 8, e);
		}
		table = e & 0x000ffffffffff000ull;
	}
	return table + ((va >> (12 + 9 * (lvl - 1))) & 511) * 8;
}

SYN_FN void syn_map(struct syn *s, uint64_t va, uint64_t pa, uint64_t len,
		    int lvl)
{
	uint64_t step = 1ull << (12 + 9 * (lvl - 1)), o;

	for (o = 0; o < len; o += step) {
		uint64_t e =
			(pa + o) | 0x3 | (1ull << 63) | (lvl > 1 ? 0x80 : 0);

		cot_put_le64(s->mem + syn_entry(s, va + o, lvl), e);
	}
}

/*
 * Map @len bytes of virtual addresses from @va (2 MiB aligned) onto the
 * same 2 MiB of RAM at @pa, over and over: forged tables far larger than
 * the guest's memory.
 */
SYN_FN void syn_alias(struct syn *s, uint64_t va, uint64_t pa, uint64_t len)
{
	uint64_t o;

	for (o = 0; o < len; o += 2ull << 20)
		syn_map(s, va + o, pa, 2ull << 20, 2);
}

/* Where forged tables live: the vmalloc area of each paging mode. */
SYN_FN uint64_t syn_vmalloc(const struct syn *s)
{
	return s->levels == 5 ? 0xffa0000000000000ull : 0xffffc90000000000ull;
}

/* --- BTF --------------------------------------------------------------- */

SYN_FN void *syn_btf(size_t *len)
{
	struct btf *b = btf__new_empty();
	int u8, u16, u32, u64, vp, nn, in6, hnh, pn, sc, au, as, dr, ptr;
	const void *raw;
	void *out;
	__u32 sz;

	u8 = btf__add_int(b, "u8", 1, 0);
	u16 = btf__add_int(b, "u16", 2, 0);
	u32 = btf__add_int(b, "u32", 4, 0);
	u64 = btf__add_int(b, "u64", 8, 0);
	vp = btf__add_ptr(b, 0);
	nn = btf__add_struct(b, "hlist_nulls_node", 16);
	btf__add_field(b, "next", vp, 0, 0);
	btf__add_field(b, "pprev", vp, 64, 0);
	hnh = btf__add_struct(b, "hlist_nulls_head", 8);
	btf__add_field(b, "first", vp, 0, 0);
	in6 = btf__add_struct(b, "in6_addr", 16);
	btf__add_field(b, "s6_addr32", u64, 0, 0);
	btf__add_field(b, "s6_addr32_hi", u64, 64, 0);
	pn = btf__add_struct(b, NULL, 8);
	btf__add_field(b, "net", vp, 0, 0);
	pn = btf__add_typedef(b, "possible_net_t", pn);

	/* sock_common, our own layout */
	au = btf__add_union(b, NULL, 16);
	btf__add_field(b, "skc_node", nn, 0, 0);
	btf__add_field(b, "skc_nulls_node", nn, 0, 0);
	as = btf__add_struct(b, NULL, 4);
	btf__add_field(b, "skc_dport", u16, 0, 0);
	btf__add_field(b, "skc_num", u16, 16, 0);
	{
		int pu = btf__add_union(b, NULL, 4);

		btf__add_field(b, "skc_portpair", u32, 0, 0);
		btf__add_field(b, NULL, as, 0, 0);
		as = pu;
	}
	{
		int a2 = btf__add_struct(b, NULL, 8), u2;

		btf__add_field(b, "skc_daddr", u32, 0, 0);
		btf__add_field(b, "skc_rcv_saddr", u32, 32, 0);
		u2 = btf__add_union(b, NULL, 8);
		btf__add_field(b, "skc_addrpair", u64, 0, 0);
		btf__add_field(b, NULL, a2, 0, 0);
		ptr = u2;
	}
	{
		int vu8 = btf__add_volatile(b, u8);

		sc = btf__add_struct(b, "sock_common", 96);
		u8 = vu8; /* skc_state is volatile, as in Linux */
	}
	btf__add_field(b, "skc_cookie", u64, 0, 0);
	btf__add_field(b, NULL, au, 64, 0);
	btf__add_field(b, "skc_family", u16, 24 * 8, 0);
	btf__add_field(b, "skc_state", u8, 26 * 8, 0);
	btf__add_field(b, NULL, as, 28 * 8, 0);
	btf__add_field(b, "skc_net", pn, 32 * 8, 0);
	btf__add_field(b, NULL, ptr, 40 * 8, 0);
	btf__add_field(b, "skc_v6_rcv_saddr", in6, 48 * 8, 0);
	btf__add_field(b, "skc_v6_daddr", in6, 64 * 8, 0);

	btf__add_struct(b, "sock", SYN_SOCK_SIZE);
	btf__add_field(b, "sk_pad", u64, 0, 0);
	btf__add_field(b, "__sk_common", sc, SYN_SKC * 8, 0);
	btf__add_field(b, "sk_socket", vp, SYN_SK_SOCKET * 8, 0);
	btf__add_struct(b, "inet_timewait_sock", SYN_SOCK_SIZE);
	btf__add_field(b, "__tw_common", sc, SYN_SKC * 8, 0);
	btf__add_field(b, "tw_substate", u8, SYN_TW_SUBSTATE * 8, 0);
	btf__add_struct(b, "request_sock", SYN_SOCK_SIZE);
	btf__add_field(b, "__req_common", sc, SYN_SKC * 8, 0);

	btf__add_struct(b, "inet_ehash_bucket", SYN_BUCKET);
	btf__add_field(b, "lock_stub", u64, 0, 0);
	btf__add_field(b, "chain", hnh, 64, 0);
	btf__add_struct(b, "inet_listen_hashbucket", SYN_BUCKET);
	btf__add_field(b, "lock", u32, 0, 0);
	btf__add_field(b, "nulls_head", hnh, 64, 0);
	btf__add_struct(b, "inet_hashinfo", SYN_HI_SIZE);
	btf__add_field(b, "ehash_mask", u32, SYN_HI_EMASK * 8, 0);
	btf__add_field(b, "lhash2_mask", u32, SYN_HI_LMASK * 8, 0);
	btf__add_field(b, "lhash2", vp, SYN_HI_LHASH2 * 8, 0);
	btf__add_field(b, "ehash", vp, SYN_HI_EHASH * 8, 0);

	dr = btf__add_struct(b, "inet_timewait_death_row", 16);
	btf__add_field(b, "tw_refcount", u32, 0, 0);
	btf__add_field(b, "hashinfo", vp, SYN_DR_HASHINFO * 8, 0);
	{
		int drp = btf__add_ptr(b, dr);
		int ns = btf__add_struct(b, "ns_common", 16), lh, v4;

		btf__add_field(b, "stashed", u64, 0, 0);
		btf__add_field(b, "inum", u32, 64, 0);
		lh = btf__add_struct(b, "list_head", 16);
		btf__add_field(b, "next", vp, 0, 0);
		btf__add_field(b, "prev", vp, 64, 0);
		v4 = btf__add_struct(b, "netns_ipv4", 32);
		btf__add_field(b, "sysctl_x", u64, 0, 0);
		btf__add_field(b, "tcp_death_row", drp, 128, 0);
		btf__add_struct(b, "net", SYN_NET_SIZE);
		btf__add_field(b, "passive", u64, 0, 0);
		btf__add_field(b, "ns", ns, 64, 0);
		btf__add_field(b, "list", lh, SYN_NET_LIST * 8, 0);
		btf__add_field(b, "ipv4", v4, 64 * 8, 0);

		/* owners */
		int comm = btf__add_array(b, u32, u8, 16), ino, sock_t;

		btf__add_struct(b, "task_struct", SYN_TASK_SIZE);
		btf__add_field(b, "tgid", u32, SYN_TASK_TGID * 8, 0);
		btf__add_field(b, "cgroups", vp, SYN_TASK_CGROUPS * 8, 0);
		btf__add_field(b, "tasks", lh, SYN_TASK_TASKS * 8, 0);
		btf__add_field(b, "comm", comm, SYN_TASK_COMM * 8, 0);
		btf__add_field(b, "files", vp, SYN_TASK_FILES * 8, 0);
		btf__add_struct(b, "files_struct", 64);
		btf__add_field(b, "fdt", vp, SYN_FILES_FDT * 8, 0);
		btf__add_struct(b, "fdtable", 32);
		btf__add_field(b, "max_fds", u32, SYN_FDT_MAX_FDS * 8, 0);
		btf__add_field(b, "fd", vp, SYN_FDT_FD * 8, 0);
		btf__add_field(b, "open_fds", vp, SYN_FDT_OPEN_FDS * 8, 0);
		btf__add_struct(b, "file", 64);
		btf__add_field(b, "private_data", vp, SYN_FILE_PRIV * 8, 0);
		sock_t = btf__add_struct(b, "socket", 48);
		btf__add_field(b, "file", vp, SYN_SOCKET_FILE * 8, 0);
		btf__add_field(b, "sk", vp, SYN_SOCKET_SK * 8, 0);
		ino = btf__add_struct(b, "inode", 64);
		btf__add_field(b, "i_ino", u64, 8 * 8, 0);
		btf__add_struct(b, "socket_alloc", 128);
		btf__add_field(b, "socket", sock_t, 0, 0);
		btf__add_field(b, "vfs_inode", ino, 64 * 8, 0);
		btf__add_struct(b, "css_set", 32);
		btf__add_field(b, "dfl_cgrp", vp, SYN_CSS_DFL * 8, 0);
		btf__add_struct(b, "cgroup", 64);
		btf__add_field(b, "kn", vp, SYN_CGROUP_KN * 8, 0);
		btf__add_struct(b, "kernfs_node", 64);
		btf__add_field(b, "name", vp, SYN_KN_NAME * 8, 0);
		btf__add_field(b, "__parent", vp, SYN_KN_PARENT * 8, 0);
		/* volumes */
		btf__add_struct(b, "tcp_sock", SYN_SOCK_SIZE);
		btf__add_field(b, "bytes_received", u64,
			       SYN_TP_BYTES_RECEIVED * 8, 0);
		btf__add_field(b, "segs_in", u32, SYN_TP_SEGS_IN * 8, 0);
		btf__add_field(b, "segs_out", u32, SYN_TP_SEGS_OUT * 8, 0);
		btf__add_field(b, "bytes_acked", u64, SYN_TP_BYTES_ACKED * 8,
			       0);
	}
	raw = btf__raw_data(b, &sz);
	out = malloc(sz);
	memcpy(out, raw, sz);
	*len = sz;
	btf__free(b);
	return out;
}

/* --- kallsyms ------------------------------------------------------------ */

struct syn_sym {
	const char *name;
	char type;
	uint64_t addr;
};

/*
 * Tokens: 0x01 "tcp_", 0x02 "_BTF", 0x03 "net", 0x04 "_list",
 * others single characters (the byte value itself).
 */
static const char *const syn_multi[] = { NULL, "tcp_", "_BTF", "net", "_list" };

SYN_FN void syn_kallsyms(struct syn *s, const struct syn_sym *syms, uint32_t n)
{
	uint8_t tt[2048], *nb = malloc(1 << 18);
	uint32_t tl = 0, nl = 0, i, t, nmk = (n + 255) / 256;
	uint32_t *mk = calloc(nmk, sizeof(*mk));
	uint16_t idx[256];
	uint64_t rb = SYN_IMG_VA; /* _text */
	struct syn_ks *k = &s->ks;
	bool image = s->ks_layout >= SYN_KS_IMAGE;

	for (t = 0; t < 256; t++) {
		idx[t] = (uint16_t)tl;
		if (t >= 1 && t <= 4) {
			memcpy(tt + tl, syn_multi[t], strlen(syn_multi[t]) + 1);
			tl += (uint32_t)strlen(syn_multi[t]) + 1;
		} else {
			tt[tl++] = (uint8_t)(t ? t : '?');
			tt[tl++] = 0;
		}
	}
	for (i = 0; i < n; i++) {
		char full[400];
		uint8_t enc[400];
		uint32_t el = 0, p = 0, fl;

		if (i % 256 == 0)
			mk[i / 256] = nl;
		snprintf(full, sizeof(full), "%c%s", syms[i].type,
			 syms[i].name);
		fl = (uint32_t)strlen(full);
		while (p < fl) {
			for (t = 1; t <= 4; t++)
				if (!strncmp(full + p, syn_multi[t],
					     strlen(syn_multi[t])))
					break;
			if (t <= 4) {
				enc[el++] = (uint8_t)t;
				p += (uint32_t)strlen(syn_multi[t]);
			} else {
				enc[el++] = (uint8_t)full[p++];
			}
		}
		if (el >= 128) { /* Linux 6.1 "big symbol": two length bytes */
			nb[nl++] = (uint8_t)(0x80 | (el & 0x7f));
			nb[nl++] = (uint8_t)(el >> 7);
		} else {
			nb[nl++] = (uint8_t)el;
		}
		memcpy(nb + nl, enc, el);
		nl += el;
	}
	if (image) {
		/* scripts/kallsyms.c order before Linux 6.0 */
		if (s->ks_layout == SYN_KS_IMAGE_ABS) {
			k->offs = syn_img(s, 8 * n, 8);
			for (i = 0; i < n; i++)
				syn_w64(s, k->offs + 8 * i, syms[i].addr);
		} else {
			k->offs = syn_img(s, 4 * n, 8);
			k->base = syn_img(s, 8, 8);
			syn_w64(s, k->base, rb);
		}
		k->num = syn_img(s, 8, 8);
		syn_w64(s, k->num, n);
	}
	k->names = syn_img(s, nl, 8);
	memcpy(syn_at(s, k->names), nb, nl);
	if (image) {
		k->markers = syn_img(s, 4 * nmk, 8);
		for (i = 0; i < nmk; i++)
			syn_w32(s, k->markers + 4 * i, mk[i]);
	}
	k->toktab = syn_img(s, tl, 8);
	memcpy(syn_at(s, k->toktab), tt, tl);
	k->tokidx = syn_img(s, 512, 8);
	for (t = 0; t < 256; t++)
		syn_w16(s, k->tokidx + 2 * t, idx[t]);
	if (!image) {
		k->num = syn_img(s, 8, 8);
		syn_w32(s, k->num, n);
		k->base = syn_img(s, 8, 8);
		syn_w64(s, k->base, rb);
		k->offs = syn_img(s, 4 * n, 8);
	}
	for (i = 0; i < n && s->ks_layout != SYN_KS_IMAGE_ABS; i++) {
		int32_t o;

		if (s->ks_layout == SYN_KS_PREL)
			o = (int32_t)(syms[i].addr - (k->offs + 4 * i));
		else if (syms[i].addr < rb) /* "per-cpu": absolute, small */
			o = (int32_t)syms[i].addr;
		else if (s->neg_offsets)
			o = (int32_t)(rb - 1 - syms[i].addr);
		else
			o = (int32_t)(syms[i].addr - rb);
		if (!strcmp(syms[i].name, "_stext"))
			k->stext_off = k->offs + 4 * i;
		syn_w32(s, k->offs + 4 * i, (uint32_t)o);
	}
	free(nb);
	free(mk);
}

/* --- the kernel ---------------------------------------------------------- */

/* Build the kernel: paging, BTF, kallsyms, VMCOREINFO, empty tables. */
SYN_FN void syn_init_ks(struct syn *s, int levels, int dm_1g, bool neg_offsets,
			uint32_t ehash_size, uint32_t lhash2_size, int layout)
{
	uint64_t btf_va, stop_va;
	uint64_t ehash, lhash2, i, dr;
	char text[4096], ks[1024] = "";
	struct syn_sym syms[16 + SYN_FILLER];
	char filler[SYN_FILLER][24];
	size_t blen;
	void *btf;
	int n = 0, len;

	memset(s, 0, sizeof(*s));
	s->size = SYN_MEM;
	s->mem = calloc(1, s->size);
	s->levels = levels;
	s->dm_1g = dm_1g;
	s->neg_offsets = neg_offsets;
	s->ks_layout = layout;
	s->page_offset =
		levels == 5 ? 0xff11000000000000ull : 0xffff888000000000ull;
	s->img = SYN_IMG_PA;
	s->heap = SYN_HEAP_PA;
	s->phys_base = SYN_IMG_PA - (SYN_IMG_VA - SYN_KMAP); /* negative */
	s->root_va = syn_img(s, 4096, 4096);
	s->root_pa = syn_pa(s, s->root_va);
	syn_map(s, SYN_IMG_VA, SYN_IMG_PA, SYN_IMG_LEN, 1);
	if (dm_1g)
		syn_map(s, s->page_offset, 0, 1ull << 30, 3);
	else
		syn_map(s, s->page_offset, 0, s->size, 2);

	/* BTF in the image */
	btf = syn_btf(&blen);
	btf_va = syn_img(s, blen, 8);
	memcpy(syn_at(s, btf_va), btf, blen);
	stop_va = btf_va + blen;
	free(btf);

	/* tables */
	s->hashinfo = syn_img(s, SYN_HI_SIZE, 64);
	ehash = syn_obj(s, (size_t)ehash_size * SYN_BUCKET);
	lhash2 = syn_obj(s, (size_t)lhash2_size * SYN_BUCKET);
	for (i = 0; i < ehash_size; i++)
		syn_w64(s, ehash + i * SYN_BUCKET + 8, i << 1 | 1);
	for (i = 0; i < lhash2_size; i++)
		syn_w64(s, lhash2 + i * SYN_BUCKET + 8,
			(i + SYN_LISTEN_NULLS_BASE) << 1 | 1);
	syn_w64(s, s->hashinfo + SYN_HI_EHASH, ehash);
	syn_w32(s, s->hashinfo + SYN_HI_EMASK, ehash_size - 1);
	syn_w64(s, s->hashinfo + SYN_HI_LHASH2, lhash2);
	syn_w32(s, s->hashinfo + SYN_HI_LMASK, lhash2_size - 1);
	s->nslist = syn_img(s, 16, 16);
	s->init_net = syn_img(s, SYN_NET_SIZE, 64);
	syn_w32(s, s->init_net + SYN_NET_INUM, 4026531840u);
	/* init_net alone on the list */
	syn_w64(s, s->nslist, s->init_net + SYN_NET_LIST);
	syn_w64(s, s->nslist + 8, s->init_net + SYN_NET_LIST);
	syn_w64(s, s->init_net + SYN_NET_LIST, s->nslist);
	syn_w64(s, s->init_net + SYN_NET_LIST + 8, s->nslist);
	dr = syn_obj(s, 16);
	syn_w64(s, dr + SYN_DR_HASHINFO, s->hashinfo);
	syn_w64(s, s->init_net + SYN_NET_DR, dr);
	/* init_task (swapper, pid 0) alone on the task list */
	s->init_task = syn_img(s, SYN_TASK_SIZE, 64);
	syn_w64(s, s->init_task + SYN_TASK_TASKS,
		s->init_task + SYN_TASK_TASKS);
	syn_w64(s, s->init_task + SYN_TASK_TASKS + 8,
		s->init_task + SYN_TASK_TASKS);

	/* kallsyms: some noise around the wanted symbols */
	syms[n++] = (struct syn_sym){ "_text", 'T', SYN_IMG_VA };
	syms[n++] = (struct syn_sym){ "_stext", 'T', SYN_IMG_VA };
	syms[n++] = (struct syn_sym){ "fixed_percpu_data", 'D', 0x1000 };
	syms[n++] = (struct syn_sym){ "tcp_hashinfo_lookup_helper", 't',
				      SYN_IMG_VA + 0x40 };
	syms[n++] = (struct syn_sym){ "tcp_hashinfo", 'D', s->hashinfo };
	syms[n++] = (struct syn_sym){
		"a_symbol_name_long_enough_to_need_two_length_bytes_in_the_"
		"compressed_table_since_linux_6_1_which_calls_them_big_symbols_"
		"xxxxxxxxxxxxxxxxxxxxxxx",
		't', SYN_IMG_VA + 0x80
	};
	syms[n++] = (struct syn_sym){ "net_namespace_list", 'D', s->nslist };
	syms[n++] = (struct syn_sym){ "init_net", 'D', s->init_net };
	syms[n++] = (struct syn_sym){ "init_task", 'D', s->init_task };
	syms[n++] = (struct syn_sym){ "__start_BTF", 'R', btf_va };
	syms[n++] = (struct syn_sym){ "__stop_BTF", 'R', stop_va };
	for (i = 0; layout >= SYN_KS_IMAGE && i < SYN_FILLER; i++) {
		snprintf(filler[i], sizeof(filler[i]), "filler_%u",
			 (unsigned int)i);
		syms[n++] = (struct syn_sym){ filler[i], 't',
					      SYN_IMG_VA + 0x100 + 16 * i };
	}
	syms[n++] = (struct syn_sym){ "zz_last", 'b', stop_va + 64 };
	syn_kallsyms(s, syms, (uint32_t)n);
	if (layout == SYN_KS_VMCI || layout == SYN_KS_PREL)
		snprintf(ks, sizeof(ks),
			 "SYMBOL(kallsyms_names)=%llx\n"
			 "SYMBOL(kallsyms_num_syms)=%llx\n"
			 "SYMBOL(kallsyms_token_table)=%llx\n"
			 "SYMBOL(kallsyms_token_index)=%llx\n"
			 "SYMBOL(kallsyms_offsets)=%llx\n",
			 (unsigned long long)s->ks.names,
			 (unsigned long long)s->ks.num,
			 (unsigned long long)s->ks.toktab,
			 (unsigned long long)s->ks.tokidx,
			 (unsigned long long)s->ks.offs);
	if (layout == SYN_KS_VMCI)
		snprintf(ks + strlen(ks), sizeof(ks) - strlen(ks),
			 "SYMBOL(kallsyms_relative_base)=%llx\n",
			 (unsigned long long)s->ks.base);

	/* a decoy that is not VMCOREINFO, earlier in RAM */
	memcpy(s->mem + 0x5000, "OSRELEASE=evil\nSYMBOL(init_top_pgt)=1\n", 38);
	len = snprintf(text, sizeof(text),
		       "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n"
		       "SYMBOL(init_uts_ns)=ffffffff82000000\n"
		       "SYMBOL(_stext)=%llx\n"
		       "%s"
		       "NUMBER(phys_base)=%lld\n"
		       "SYMBOL(init_top_pgt)=%llx\n"
		       "NUMBER(pgtable_l5_enabled)=%d\n"
		       "KERNELOFFSET=%llx\n",
		       (unsigned long long)SYN_IMG_VA, ks,
		       (long long)s->phys_base, (unsigned long long)s->root_va,
		       levels == 5, (unsigned long long)SYN_KASLR);
	s->vmci_pa = syn_heap(s, 4096, 4096);
	memcpy(s->mem + s->vmci_pa, text, (size_t)len);
}

SYN_FN void syn_init(struct syn *s, int levels, int dm_1g, bool neg_offsets,
		     uint32_t ehash_size, uint32_t lhash2_size)
{
	syn_init_ks(s, levels, dm_1g, neg_offsets, ehash_size, lhash2_size,
		    SYN_KS_VMCI);
}

SYN_FN void syn_free(struct syn *s)
{
	free(s->mem);
	s->mem = NULL;
}

/* A second namespace with its own ehash (per-netns tables). */
SYN_FN uint64_t syn_add_net(struct syn *s, uint32_t inum, uint32_t ehash_size)
{
	uint64_t net = syn_obj(s, SYN_NET_SIZE), dr = syn_obj(s, 16);
	uint64_t hi = s->hashinfo, prev, i;

	syn_w32(s, net + SYN_NET_INUM, inum);
	/* insert at the tail of net_namespace_list */
	prev = cot_get_le64(syn_at(s, s->nslist + 8));
	syn_w64(s, net + SYN_NET_LIST, s->nslist);
	syn_w64(s, net + SYN_NET_LIST + 8, prev);
	syn_w64(s, prev, net + SYN_NET_LIST);
	syn_w64(s, s->nslist + 8, net + SYN_NET_LIST);
	if (ehash_size) {
		uint64_t ehash = syn_obj(s, (size_t)ehash_size * SYN_BUCKET);

		hi = syn_obj(s, SYN_HI_SIZE);
		memcpy(syn_at(s, hi), syn_at(s, s->hashinfo), SYN_HI_SIZE);
		for (i = 0; i < ehash_size; i++)
			syn_w64(s, ehash + i * SYN_BUCKET + 8, i << 1 | 1);
		syn_w64(s, hi + SYN_HI_EHASH, ehash);
		syn_w32(s, hi + SYN_HI_EMASK, ehash_size - 1);
	}
	syn_w64(s, dr + SYN_DR_HASHINFO, hi);
	syn_w64(s, net + SYN_NET_DR, dr);
	return net;
}

/*
 * A forged kernel: @ntables more namespaces, each with its own ehash of
 * @nbuckets (up to 2^24) empty buckets, all aliased onto one 2 MiB page
 * of zeroes (syn_alias), at @va + i * the table's size.
 */
SYN_FN void syn_forge_tables(struct syn *s, uint32_t ntables, uint32_t nbuckets)
{
	uint64_t pa = syn_heap(s, 2u << 20, 2u << 20);
	uint64_t tsize = (uint64_t)nbuckets * SYN_BUCKET, va, i;

	tsize = (tsize + (2u << 20) - 1) & ~((2ull << 20) - 1);
	memset(s->mem + pa, 0, 2u << 20);
	for (i = 0; i < ntables; i++) {
		uint64_t net = syn_add_net(s, 4026533000u + (uint32_t)i, 0);
		uint64_t dr = cot_get_le64(syn_at(s, net + SYN_NET_DR));
		uint64_t hi = syn_obj(s, SYN_HI_SIZE);

		va = syn_vmalloc(s) + i * tsize;
		syn_alias(s, va, pa, tsize);
		memcpy(syn_at(s, hi), syn_at(s, s->hashinfo), SYN_HI_SIZE);
		syn_w64(s, hi + SYN_HI_EHASH, va);
		syn_w32(s, hi + SYN_HI_EMASK, nbuckets - 1);
		syn_w64(s, dr + SYN_DR_HASHINFO, hi);
	}
}

/* Hash table of @net (ehash, or lhash2 when @listen). */
SYN_FN uint64_t syn_table(struct syn *s, uint64_t net, bool listen,
			  uint32_t *size)
{
	uint64_t dr = cot_get_le64(syn_at(s, net + SYN_NET_DR));
	uint64_t hi = cot_get_le64(syn_at(s, dr + SYN_DR_HASHINFO));

	*size = cot_get_le32(syn_at(
			s, hi + (listen ? SYN_HI_LMASK : SYN_HI_EMASK))) +
		1;
	return cot_get_le64(
		syn_at(s, hi + (listen ? SYN_HI_LHASH2 : SYN_HI_EHASH)));
}

/*
 * Add a socket: @state kernel state (TIME_WAIT: @sub is tw_substate),
 * IPv4 when @v4l/@v4r are given, else IPv6 @l6/@r6.  Pushed at the head
 * of bucket @bucket of @net's ehash (lhash2 for LISTEN).
 */
SYN_FN uint64_t syn_sock(struct syn *s, uint64_t net, uint32_t bucket,
			 uint8_t state, uint8_t sub, int family,
			 const uint8_t *laddr, uint16_t lport,
			 const uint8_t *raddr, uint16_t rport)
{
	uint64_t sk = syn_obj(s, SYN_SOCK_SIZE), head, tab;
	uint32_t size;

	tab = syn_table(s, net, state == COT_VMI_TCP_LISTEN, &size);
	head = tab + (bucket % size) * SYN_BUCKET + 8;
	syn_w16(s, sk + SYN_SK_FAMILY, family == 4 ? 2 : 10);
	*syn_at(s, sk + SYN_SK_STATE) = state;
	syn_w16(s, sk + SYN_SK_NUM, lport);
	cot_put_be16(syn_at(s, sk + SYN_SK_DPORT), rport);
	syn_w64(s, sk + SYN_SK_NET, net);
	if (family == 4) {
		memcpy(syn_at(s, sk + SYN_SK_RCV_SADDR), laddr, 4);
		memcpy(syn_at(s, sk + SYN_SK_DADDR), raddr, 4);
	} else {
		memcpy(syn_at(s, sk + SYN_SK_V6_RCV), laddr, 16);
		memcpy(syn_at(s, sk + SYN_SK_V6_DADDR), raddr, 16);
	}
	if (state == COT_VMI_TCP_TIME_WAIT)
		*syn_at(s, sk + SYN_TW_SUBSTATE) = sub;
	/* push on the chain head */
	syn_w64(s, sk + SYN_SK_NULLS, cot_get_le64(syn_at(s, head)));
	syn_w64(s, head, sk + SYN_SK_NULLS);
	return sk;
}

/* --- owners (core/vmi/owner.c) ----------------------------------------- */

/* A string in guest memory. */
SYN_FN uint64_t syn_str(struct syn *s, const char *str)
{
	uint64_t va = syn_obj(s, strlen(str) + 1);

	memcpy(syn_at(s, va), str, strlen(str) + 1);
	return va;
}

/* A cgroup at "/a/b/..." (path without the leading slash; "" for the
 * root) under one root kernfs node; returns its css_set. */
SYN_FN uint64_t syn_cgroup(struct syn *s, const char *path)
{
	uint64_t kn = s->kn_root, css = syn_obj(s, 32), cg = syn_obj(s, 64);
	const char *p = path;

	if (!s->kn_root) {
		s->kn_root = kn = syn_obj(s, 64);
		syn_w64(s, kn + SYN_KN_NAME, syn_str(s, ""));
	}
	while (*p) {
		char name[64];
		size_t n = strcspn(p, "/");
		uint64_t c = syn_obj(s, 64);

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		syn_w64(s, c + SYN_KN_NAME, syn_str(s, name));
		syn_w64(s, c + SYN_KN_PARENT, kn);
		kn = c;
		p += n;
		if (*p == '/')
			p++;
	}
	syn_w64(s, cg + SYN_CGROUP_KN, kn);
	syn_w64(s, css + SYN_CSS_DFL, cg);
	return css;
}

/* A process at the tail of the task list with a table of @max_fds. */
SYN_FN uint64_t syn_task(struct syn *s, uint32_t tgid, const char *comm,
			 uint64_t css, uint32_t max_fds)
{
	uint64_t t = syn_obj(s, SYN_TASK_SIZE), files = syn_obj(s, 64);
	uint64_t fdt = syn_obj(s, 32), head = s->init_task + SYN_TASK_TASKS;
	uint64_t prev = cot_get_le64(syn_at(s, head + 8));

	syn_w32(s, t + SYN_TASK_TGID, tgid);
	snprintf((char *)syn_at(s, t + SYN_TASK_COMM), 16, "%s", comm);
	syn_w64(s, t + SYN_TASK_CGROUPS, css);
	syn_w64(s, t + SYN_TASK_FILES, files);
	syn_w64(s, files + SYN_FILES_FDT, fdt);
	syn_w32(s, fdt + SYN_FDT_MAX_FDS, max_fds);
	syn_w64(s, fdt + SYN_FDT_FD, syn_obj(s, (size_t)max_fds * 8));
	syn_w64(s, fdt + SYN_FDT_OPEN_FDS, syn_obj(s, (max_fds + 63) / 64 * 8));
	syn_w64(s, t + SYN_TASK_TASKS, head);
	syn_w64(s, t + SYN_TASK_TASKS + 8, prev);
	syn_w64(s, prev, t + SYN_TASK_TASKS);
	syn_w64(s, head + 8, t + SYN_TASK_TASKS);
	return t;
}

SYN_FN void syn_fd(struct syn *s, uint64_t task, uint32_t fd, uint64_t file)
{
	uint64_t files = cot_get_le64(syn_at(s, task + SYN_TASK_FILES));
	uint64_t fdt = cot_get_le64(syn_at(s, files + SYN_FILES_FDT));
	uint64_t arr = cot_get_le64(syn_at(s, fdt + SYN_FDT_FD));
	uint64_t bits = cot_get_le64(syn_at(s, fdt + SYN_FDT_OPEN_FDS));
	uint64_t w = cot_get_le64(syn_at(s, bits + fd / 64 * 8));

	syn_w64(s, arr + (uint64_t)fd * 8, file);
	syn_w64(s, bits + fd / 64 * 8, w | 1ull << (fd % 64));
}

/* The socket file of @sk (struct socket_alloc with inode @ino). */
SYN_FN uint64_t syn_sockfile(struct syn *s, uint64_t sk, uint64_t ino)
{
	uint64_t sa = syn_obj(s, 128), file = syn_obj(s, 64);

	syn_w64(s, sa + SYN_SOCKET_FILE, file);
	syn_w64(s, sa + SYN_SOCKET_SK, sk);
	syn_w64(s, sa + SYN_SOCKET_INO, ino);
	syn_w64(s, file + SYN_FILE_PRIV, sa);
	syn_w64(s, sk + SYN_SK_SOCKET, sa);
	return file;
}

SYN_FN void syn_volumes(struct syn *s, uint64_t sk, uint64_t acked,
			uint64_t rcvd, uint32_t out, uint32_t in)
{
	syn_w64(s, sk + SYN_TP_BYTES_ACKED, acked);
	syn_w64(s, sk + SYN_TP_BYTES_RECEIVED, rcvd);
	syn_w32(s, sk + SYN_TP_SEGS_OUT, out);
	syn_w32(s, sk + SYN_TP_SEGS_IN, in);
}

#endif
