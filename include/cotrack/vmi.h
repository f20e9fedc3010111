/* SPDX-License-Identifier: MIT */
/*
 * core/vmi: a Linux x86-64 guest's TCP sockets, read from its physical
 * memory alone.  Freestanding: no allocation, no I/O; guest memory is
 * reached only through the read callback in struct cot_vmi_mem, copied
 * into the caller's buffers, then validated.  Every byte of guest memory
 * is hostile: every loop over it is bounded, and forged, looping or
 * dangling structures become counted errors.
 *
 * Usage (see cmd/cotrack/vmi.c and docs/vmi.md):
 *
 *	struct cot_vmi *k = <caller allocates sizeof(struct cot_vmi)>;
 *	cot_vmi_open(k, &mem);            VMCOREINFO, paging, kallsyms
 *	cot_vmi_btf_range(k, &va, &len);  host reads the BTF blob with
 *	cot_vmi_read_va(k, va, buf, len); and derives a profile from it
 *	cot_vmi_set_profile(k, &prof);    (host/btf.c does this with libbpf)
 *	loop:
 *		cot_vmi_snapshot(k, socks, cap, &n, &st);   sorted set
 *		cot_vmi_diff(prev, nprev, socks, n, cb, ctx); events
 *
 * or, to spread one snapshot over several budgeted steps (a scanner
 * thread doing one step per interval):
 *
 *	cot_vmi_scan_start(k, &scan, socks, cap);
 *	while ((r = cot_vmi_scan_step(k, &scan, bytes, walks, &st)) == 0)
 *		wait for the next interval;
 *	r == 1: socks[0..scan.n) is the snapshot
 *
 * Every read of guest memory is counted (bytes, page walks) in one read
 * path (k->bytes_read, k->walks; per scan in struct cot_vmi_stats), and
 * refused past the budget of the operation in progress.
 *
 * A struct cot_vmi is not thread-safe (it caches translations); use one
 * per thread.  The diff and parse functions keep no state and are.
 */
#ifndef COTRACK_VMI_H
#define COTRACK_VMI_H

#include "cotrack/common.h"

/* --- guest physical memory ------------------------------------------- */

/* A range of guest-physical RAM (what discovery scans). */
struct cot_vmi_range {
	uint64_t start;
	uint64_t len;
};

#define COT_VMI_MAX_RANGES 16

/*
 * The one read interface.  read() copies @len bytes of guest-physical
 * memory at @gpa into @buf and returns 0, or a negative code (e.g.
 * -COT_EFAULT when any byte is outside guest RAM).  It may be called
 * with any gpa and len: it must check.  ranges[] lists the RAM ranges
 * (sorted, non-overlapping) for scanning.
 */
struct cot_vmi_mem {
	int (*read)(void *ctx, uint64_t gpa, void *buf, size_t len);
	/* Optional hint: @gpa will be read soon (e.g. a CPU prefetch);
	 * lets the walk overlap the cache misses of many chains. */
	void (*prefetch)(void *ctx, uint64_t gpa);
	void *ctx;
	struct cot_vmi_range ranges[COT_VMI_MAX_RANGES];
	uint32_t nranges;
};

/* --- VMCOREINFO ------------------------------------------------------- */

/* The vmcoreinfo_data page holds at most one page of text. */
#define COT_VMCI_MAX_LEN     4096
#define COT_VMCI_RELEASE_LEN 65

/* Bits of cot_vmcoreinfo.have. */
#define COT_VMCI_OSRELEASE	(1u << 0)
#define COT_VMCI_PAGESIZE	(1u << 1)
#define COT_VMCI_KERNELOFFSET	(1u << 2)
#define COT_VMCI_PHYS_BASE	(1u << 3)
#define COT_VMCI_INIT_TOP_PGT	(1u << 4)
#define COT_VMCI_L5		(1u << 5)
#define COT_VMCI_KALLSYMS	(1u << 6) /* names, num_syms, tokens, offsets */
#define COT_VMCI_KALLSYMS_ADDRS (1u << 7) /* absolute kallsyms_addresses */
/* names, num_syms, tokens, offsets and no relative_base: the offsets are
 * place-relative (Linux >= 7.0) */
#define COT_VMCI_KALLSYMS_PREL (1u << 8)
#define COT_VMCI_STEXT	       (1u << 9) /* SYMBOL(_stext) */

struct cot_vmcoreinfo {
	uint32_t have;			      /* COT_VMCI_* */
	char osrelease[COT_VMCI_RELEASE_LEN]; /* NUL-terminated, printable */
	uint32_t page_size;
	uint64_t kerneloffset; /* KASLR virtual offset */
	uint64_t phys_base;    /* NUMBER(phys_base) */
	uint64_t init_top_pgt; /* SYMBOL(init_top_pgt), virtual */
	uint8_t l5;	       /* NUMBER(pgtable_l5_enabled) */
	/* SYMBOL(kallsyms_*), virtual addresses (Linux >= 6.0) */
	uint64_t ks_names, ks_num_syms, ks_token_table, ks_token_index;
	uint64_t ks_offsets, ks_relative_base, ks_addresses;
	uint64_t stext;	    /* SYMBOL(_stext): where kallsyms is looked for */
	uint32_t lines;	    /* lines parsed */
	uint32_t bad_lines; /* lines ignored: no '=', bad number, ... */
};

/*
 * Parse VMCOREINFO text (hostile: at most COT_VMCI_MAX_LEN bytes are
 * looked at; stops at the first NUL).  Unknown keys are ignored.
 * Returns 0 when OSRELEASE was found, -COT_ENOENT when it was not,
 * -COT_EINVAL on bad arguments.  Thread-safe.
 */
int cot_vmcoreinfo_parse(struct cot_vmcoreinfo *ci, const char *text,
			 size_t len);

/* --- kallsyms --------------------------------------------------------- */

/* A kernel-virtual reader: 0 or negative code, like cot_vmi_mem.read. */
typedef int (*cot_vmi_vread_fn)(void *ctx, uint64_t va, void *buf, size_t len);

/*
 * How a symbol's address is stored (kernel/kallsyms.c,
 * kallsyms_sym_address()):
 *   BASE_REL   kallsyms_offsets[i] (s32) from kallsyms_relative_base; a
 *              negative one is ABSOLUTE_PERCPU's base - 1 - o (x86-64
 *              SMP kernels that have it; no kernel symbol has a positive
 *              offset >= 2^31 either way, so one rule reads both);
 *   ABSOLUTE   kallsyms_addresses[i] (u64), !KALLSYMS_BASE_RELATIVE;
 *   PLACE_REL  &kallsyms_offsets[i] + kallsyms_offsets[i] (s32): no
 *              kallsyms_relative_base (Linux >= 7.0).
 */
enum cot_kallsyms_enc {
	COT_KALLSYMS_BASE_REL = 0,
	COT_KALLSYMS_ABSOLUTE,
	COT_KALLSYMS_PLACE_REL,
	COT_KALLSYMS_ENC__COUNT,
};

/* Tables of the kernel's compressed symbol list (from VMCOREINFO, or
 * found by cot_kallsyms_locate()). */
struct cot_kallsyms {
	uint64_t names, token_table, token_index, offsets, addresses;
	uint64_t relative_base; /* the value of kallsyms_relative_base */
	uint32_t num_syms;
	uint8_t enc; /* enum cot_kallsyms_enc */
};

/* Upper bound on kallsyms_num_syms we accept (Debian 6.1: ~170000). */
#define COT_KALLSYMS_MAX_SYMS (1u << 22)
#define COT_KSYM_NAMELEN      128

/* One wanted symbol; @addr and @found are filled by the lookup. */
struct cot_ksym_req {
	const char *name; /* without the type letter */
	uint64_t addr;
	char type; /* kallsyms type letter ('D', 'b', ...) */
	bool found;
};

/* Bytes of kallsyms_names one decode reads at most (Debian 6.1: about
 * 2 MiB for 170000 symbols); a longer table is malformed. */
#define COT_KALLSYMS_MAX_NAMES (32u << 20)
/* Bytes one cot_kallsyms_lookup() asks of @rd at most: the token index
 * (512), the token table (4 KiB, read again shorter when that fails),
 * the names and 8 per request (at most 16). */
#define COT_KALLSYMS_MAX_READ                                                  \
	(512u + 4096u + COT_KALLSYMS_MAX_NAMES + 4096u + 8u * 16u)

/*
 * Decode the symbol list once, through @rd, until every request in
 * @req[0..n) (n <= 16) is resolved (first match wins).  Bounded by
 * COT_KALLSYMS_MAX_SYMS symbols and COT_KALLSYMS_MAX_READ bytes asked
 * of @rd; a name is expanded only up to the longest request (at most
 * COT_KSYM_NAMELEN - 1 characters), the rest of its tokens skipped, so
 * the work is at most one step per byte read plus that many characters
 * per symbol.  Returns the number of requests found (>= 0), or a
 * negative code when the tables could not be read or are malformed
 * (-COT_EBADMSG, also when the names pass COT_KALLSYMS_MAX_NAMES).
 * Thread-safe.
 */
int cot_kallsyms_lookup(const struct cot_kallsyms *ks, cot_vmi_vread_fn rd,
			void *rctx, struct cot_ksym_req *req, size_t n);

/* Bytes of the kernel image cot_kallsyms_locate() looks through at most
 * (Debian 5.10: kallsyms_token_index is 17 MiB past _stext). */
#define COT_KALLSYMS_SCAN_MAX (48u << 20)
/* Places that look like kallsyms_token_index it checks in depth at most. */
#define COT_KALLSYMS_MAX_CAND 64
/* Bytes read around one place at most: the index (512), the token
 * table before it (4 KiB), two 32 KiB windows (markers; the place of
 * kallsyms_num_syms), for each of at most 8 values that could be
 * num_syms the names of the last and of the first 256 symbols (each at
 * most 32 KiB, read in 4 KiB steps), and kallsyms_relative_base. */
#define COT_KALLSYMS_LOCATE_MAX_READ                                           \
	(512u + 4096u + 2u * 32768u + 8u * 2u * (32768u + 4096u) + 8u)

/*
 * Find the kallsyms tables in the kernel image without VMCOREINFO's
 * help (Linux < 6.0 puts none there).  Looks through [@start, @start +
 * @len) (@len at most COT_KALLSYMS_SCAN_MAX, in 4 KiB reads through
 * @rd) for kallsyms_token_index: 256 u16 starting at 0, each step the
 * length plus NUL of a token of kallsyms_token_table, which lies just
 * before it, and checks that.  Before the token table lie, as
 * scripts/kallsyms.c writes them for Debian 5.10 (seen in its memory):
 * kallsyms_markers (u32 per 256 symbols, the first 0), kallsyms_names,
 * kallsyms_num_syms (u64 in 5.10; a u32 is taken too), then
 * kallsyms_relative_base and kallsyms_offsets[] (or
 * kallsyms_addresses[]).  num_syms is taken where the names of the
 * first and the last 256 symbols, decoded from it, end exactly at the
 * markers.  *@ks gets all addresses, num_syms, relative_base (read) and
 * enc = COT_KALLSYMS_BASE_REL; ks->addresses is where an absolute table
 * would start: which of the two encodings it is, the caller tells by
 * looking a known symbol up.  Cost: at most @len bytes of scan plus
 * COT_KALLSYMS_LOCATE_MAX_READ per candidate (COT_KALLSYMS_MAX_CAND).
 * Returns 0, -COT_ENOENT when no table was found, -COT_EINVAL on bad
 * arguments, or @rd's error (e.g. -COT_EAGAIN, budget spent).
 * Thread-safe.
 */
int cot_kallsyms_locate(cot_vmi_vread_fn rd, void *rctx, uint64_t start,
			uint64_t len, struct cot_kallsyms *ks);

/* --- the kernel profile (struct offsets, from BTF on the host) --------- */

/*
 * Byte offsets the walker needs.  All are computed from the guest's BTF
 * by host/btf.c; none is built in.  Socket field offsets are from the
 * start of the socket (struct sock_common is at offset 0 of struct sock,
 * inet_timewait_sock and request_sock).
 */
struct cot_vmi_profile {
	/* struct sock_common */
	uint32_t skc_daddr, skc_rcv_saddr;	 /* __be32 */
	uint32_t skc_dport;			 /* __be16 */
	uint32_t skc_num;			 /* __u16 host order */
	uint32_t skc_family;			 /* unsigned short */
	uint32_t skc_state;			 /* u8 */
	uint32_t skc_net;			 /* struct net * */
	uint32_t skc_v6_daddr, skc_v6_rcv_saddr; /* struct in6_addr */
	uint32_t skc_nulls_node;		 /* struct hlist_nulls_node */
	/* struct inet_timewait_sock */
	uint32_t tw_substate; /* u8 */
	/* listeners: node linking a listener into its lhash2 chain */
	uint32_t listen_node;
	/* struct inet_hashinfo */
	uint32_t hi_ehash, hi_ehash_mask, hi_lhash2, hi_lhash2_mask;
	/* struct inet_ehash_bucket / inet_listen_hashbucket */
	uint32_t ehash_bucket_size, ehash_chain;
	uint32_t lhash2_bucket_size, lhash2_head;
	/* struct net */
	uint32_t net_list;	/* list_head in net_namespace_list */
	uint32_t net_inum;	/* ns.inum */
	uint32_t net_death_row; /* ipv4.tcp_death_row */
	uint32_t dr_hashinfo;	/* inet_timewait_death_row.hashinfo */
	/*
	 * Socket owners (COT_VMI_PF_OWNERS; core/vmi/owner.c).  task_* in
	 * struct task_struct, files_fdt in files_struct, fdt_* in fdtable,
	 * file_private_data in struct file, socket_* in struct socket
	 * (socket_ino: inode.i_ino of the socket_alloc's vfs_inode, from
	 * the start of its struct socket), sk_socket in struct sock (from
	 * the socket's start), css_dfl_cgrp in css_set, cgroup_kn in
	 * cgroup, kn_* in kernfs_node (kn_parent: parent, __parent from
	 * Linux 6.15).
	 */
	uint32_t task_tasks, task_tgid, task_comm, task_files, task_cgroups;
	uint32_t files_fdt, fdt_max_fds, fdt_fd, fdt_open_fds;
	uint32_t file_private_data;
	uint32_t socket_file, socket_sk, socket_ino, sk_socket;
	uint32_t css_dfl_cgrp, cgroup_kn, kn_name, kn_parent;
	/* Live volumes (COT_VMI_PF_VOLUMES): struct tcp_sock, from the
	 * socket's start (u64, u64, u32, u32). */
	uint32_t tp_bytes_acked, tp_bytes_received, tp_segs_out, tp_segs_in;
	uint32_t flags; /* COT_VMI_PF_*; the last member */
};

#define COT_VMI_PF_IPV6		(1u << 0) /* skc_v6_* present */
#define COT_VMI_PF_LHASH2_NULLS (1u << 1) /* lhash2 chains are hlist_nulls */
#define COT_VMI_PF_PERNET	(1u << 2) /* net has its own hashinfo ptr */
#define COT_VMI_PF_DR_PTR	(1u << 3) /* ipv4.tcp_death_row is a ptr */
#define COT_VMI_PF_TW_SUBSTATE	(1u << 4) /* tw_substate present */
#define COT_VMI_PF_OWNERS	(1u << 5) /* task/file/cgroup offsets */
#define COT_VMI_PF_VOLUMES	(1u << 6) /* tcp_sock byte/segment counters */

/* Largest offset or object size a profile may hold (struct net ~ 5 KiB). */
#define COT_VMI_PROFILE_MAX_OFF (1u << 20)

/* --- the kernel handle ------------------------------------------------ */

/* Names of the symbols discovery looks up (index = COT_VMI_SYM_*). */
enum cot_vmi_sym {
	COT_VMI_SYM_TCP_HASHINFO = 0,
	COT_VMI_SYM_NET_NS_LIST,
	COT_VMI_SYM_INIT_NET,
	COT_VMI_SYM_START_BTF,
	COT_VMI_SYM_STOP_BTF,
	COT_VMI_SYM_INIT_TASK, /* owners: the task list's head */
	COT_VMI_SYM__COUNT,
};
const char *cot_vmi_sym_name(unsigned int sym);

/* Translation-cache entries per page size (4 KiB, 2 MiB, 1 GiB), indexed
 * by page number: enough that the walk's lookahead and the walk itself
 * do not evict each other's entries (a 10,000-socket Debian 6.1 guest
 * with much of its direct map split into 4 KiB pages: 2604 page walks
 * per scan with 64, 1751 with 256; 1735 without the lookahead). */
#define COT_VMI_TLB_SIZE 256

/* Bounds of one snapshot (one scan), whatever its budget. */
#define COT_VMI_MAX_CHAIN   4096       /* sockets per chain */
#define COT_VMI_MAX_REWALK  4	       /* re-walks of one bucket */
#define COT_VMI_MAX_BUCKETS (1u << 24) /* per table (16M buckets) */
#define COT_VMI_MAX_NETS    4096       /* namespaces */
#define COT_VMI_MAX_TABLES  64	       /* distinct per-netns ehash tables */
/* Buckets read per scan over all tables (a 64 GiB guest's global ehash
 * has 2^19; per-netns tables at most 2^24 each): past it the scan ends,
 * incomplete (err_budget). */
#define COT_VMI_MAX_SCAN_BUCKETS (1u << 25)
/* Chain nodes visited per scan, over all chains: 2 * cap + this. */
#define COT_VMI_NODE_SLACK 65536
/* Bytes of a socket's sock_common read in one copy (profile bound). */
#define COT_VMI_SPAN_MAX 1024

/*
 * What one unit of scan work costs at most (see cot_vmi_scan_step():
 * the first unit of a step is done in full even past its budget).  A
 * page walk reads at most 5 entries of 8 bytes; a read of up to 4 KiB
 * crosses at most one page boundary, so it takes at most two walks.
 * The largest unit is one bucket: its share of a 4 KiB read of bucket
 * heads, its chain walked COT_VMI_MAX_REWALK + 1 times with the head
 * re-read before each re-walk, COT_VMI_MAX_CHAIN sockets per walk, each
 * socket at most 8 + COT_VMI_SPAN_MAX + 1 bytes in three reads (five
 * walks).  About 24 MiB and 100000 walks; an honest chain of a few
 * sockets costs a few hundred bytes.
 */
#define COT_VMI_WALK_MAX_BYTES 40u
#define COT_VMI_NODE_MAX_WALKS 5u
#define COT_VMI_NODE_MAX_BYTES                                                 \
	(8u + COT_VMI_SPAN_MAX + 1u +                                          \
	 COT_VMI_NODE_MAX_WALKS * COT_VMI_WALK_MAX_BYTES)
#define COT_VMI_UNIT_MAX_BYTES                                                 \
	(4096ull + 2 * COT_VMI_WALK_MAX_BYTES +                                \
	 COT_VMI_MAX_REWALK * (8ull + 2 * COT_VMI_WALK_MAX_BYTES) +            \
	 (COT_VMI_MAX_REWALK + 1ull) * COT_VMI_MAX_CHAIN *                     \
		 COT_VMI_NODE_MAX_BYTES)
#define COT_VMI_UNIT_MAX_WALKS                                                 \
	(2ull + 2ull * COT_VMI_MAX_REWALK +                                    \
	 (COT_VMI_MAX_REWALK + 1ull) * COT_VMI_MAX_CHAIN *                     \
		 COT_VMI_NODE_MAX_WALKS)

/*
 * cot_vmi_snapshot()'s budget (one step of a scan).  An honest guest
 * needs 8 bytes per ehash bucket, 16 per lhash2 bucket and one read per
 * socket of its sock_common window and chain pointer (112 bytes on
 * Debian 6.1), plus 40 bytes per page walk on translation-cache misses.
 * Measured on a Debian 6.1 guest (512 MiB, -cpu max) holding 10037
 * sockets in 4352 buckets: 1251173 bytes and 2255 walks per snapshot;
 * 1M sockets in 2^20 buckets would need about 125 MiB and 250000 walks.
 */
#define COT_VMI_DEFAULT_SCAN_BYTES (256ull << 20)
#define COT_VMI_DEFAULT_SCAN_WALKS (1ull << 22)

/*
 * What the guest controls in cot_vmi_open() (candidate VMCOREINFO
 * pages, their page-table check and kallsyms decode) shares this
 * budget: one honest kernel needs its kallsyms names, about 1-2 MiB
 * (all of cot_vmi_open() on a 512 MiB Debian 6.1 guest, page scan
 * included: 2413191 bytes, 3 walks); a kernel whose VMCOREINFO lacks
 * kallsyms (Linux < 6.0) adds the search of its image, at most
 * COT_KALLSYMS_SCAN_MAX (Debian 5.10: about 17 MiB).
 */
#define COT_VMI_OPEN_MAX_BYTES (128ull << 20)
#define COT_VMI_OPEN_MAX_WALKS (1ull << 16)

/* How the kernel was found (cot_vmi.how). */
#define COT_VMI_HOW_SCAN       (1u << 0) /* VMCOREINFO found by scanning RAM */
#define COT_VMI_HOW_KALLSYMS   (1u << 1) /* symbols from guest kallsyms */
#define COT_VMI_HOW_SYMS_GIVEN (1u << 2) /* symbols supplied by the caller */
#define COT_VMI_HOW_KS_LOCATED (1u << 3) /* kallsyms found in the image */

/* Why kallsyms could not be used (cot_vmi.ks_fail). */
enum cot_vmi_ks_fail {
	COT_VMI_KS_OK = 0,
	COT_VMI_KS_NO_STEXT,  /* no kallsyms nor SYMBOL(_stext) in VMCOREINFO */
	COT_VMI_KS_NOT_FOUND, /* no kallsyms_token_index in the image */
	COT_VMI_KS_UNREADABLE, /* tables (from VMCOREINFO) not readable */
	COT_VMI_KS_BAD,	       /* tables malformed, or _stext not where
				* VMCOREINFO says: encoding not understood */
	COT_VMI_KS_NO_SYMBOL,  /* decoded, but no tcp_hashinfo */
};

struct cot_vmi {
	struct cot_vmi_mem mem;
	struct cot_vmcoreinfo ci;
	uint64_t vmci_pa;	 /* where the VMCOREINFO text was found */
	uint64_t root_pa;	 /* top-level page table */
	uint8_t levels;		 /* 4 or 5 */
	uint32_t how;		 /* COT_VMI_HOW_* */
	uint32_t nsyms;		 /* kallsyms symbols in the table */
	uint8_t ks_enc;		 /* enum cot_kallsyms_enc of the table used */
	uint8_t ks_fail;	 /* enum cot_vmi_ks_fail */
	uint64_t ks_token_index; /* where kallsyms_token_index is */
	uint64_t sym[COT_VMI_SYM__COUNT]; /* 0 when not found */
	bool have_profile;
	struct cot_vmi_profile prof;
	/* translation caches by page size (4 KiB, 2 MiB, 1 GiB): the
	 * direct map is in huge pages, so most sockets hit one entry */
	struct cot_vmi_tlb {
		uint64_t vbase, pbase;
	} tlb[3][COT_VMI_TLB_SIZE];
	/*
	 * The read path (core/vmi/kernel.c) counts every byte asked of
	 * mem.read and every page walk (translation-cache miss) since
	 * cot_vmi_open(), and refuses with -COT_EAGAIN a read or walk that
	 * would pass lim_bytes / lim_walks (set by the operation in
	 * progress: a scan step, discovery; UINT64_MAX otherwise).  After a
	 * refusal @spent is set and every read fails until new limits are
	 * set, so that the work in progress stops at once.
	 */
	uint64_t bytes_read, walks, tlb_hits;
	uint64_t lim_bytes, lim_walks;
	uint64_t refused; /* reads and walks refused */
	bool spent;
	/* namespaces found by the last (or current) scan */
	uint32_t nnets;
	struct {
		uint64_t addr; /* struct net * */
		uint32_t inum;
	} nets[COT_VMI_MAX_NETS];
	uint16_t net_by_addr[COT_VMI_MAX_NETS]; /* indexes, sorted by addr */
};

/*
 * Find a Linux kernel in @mem (copied into @k): scan RAM page starts for
 * the VMCOREINFO text, parse it, set up the page walk from init_top_pgt
 * and phys_base (checked by translating init_top_pgt's own address),
 * then decode kallsyms for the symbols above.  A candidate page that
 * does not validate is skipped; at most COT_VMI_MAX_CANDIDATES pages
 * that pass the page-table check have their kallsyms decoded.
 *
 * Cost, bounded per call: 10 bytes read per 4 KiB page of the RAM
 * ranges (the host's figure, not the guest's), plus at most
 * COT_VMI_OPEN_MAX_BYTES and COT_VMI_OPEN_MAX_WALKS for all candidates
 * together (each at most 4 KiB of text, one page walk, and one kallsyms
 * decode of at most COT_KALLSYMS_MAX_READ bytes).  k->bytes_read and
 * k->walks say what it took.
 *
 * Returns 0; -COT_ENOENT when no VMCOREINFO was found (not the memory
 * of a Linux guest); -COT_EPROTO when one was found but the page walk
 * or kallsyms failed on every candidate, or the candidates spent their
 * budget (k->refused > 0); -COT_ENOTSUP when kallsyms could not be used
 * (k->ks_fail says why: use cot_vmi_set_symbols()).  Without kallsyms in
 * VMCOREINFO (Linux < 6.0) the tables are looked for in the image from
 * SYMBOL(_stext) (cot_kallsyms_locate()); whatever the source, the
 * decoded _stext must be VMCOREINFO's when it gives one.
 */
#define COT_VMI_MAX_CANDIDATES 8
int cot_vmi_open(struct cot_vmi *k, const struct cot_vmi_mem *mem);

/*
 * Provide symbol addresses (link-time addresses, e.g. from System.map;
 * KERNELOFFSET is added) for kernels without kallsyms in VMCOREINFO.
 * Call after cot_vmi_open() returned 0 or -COT_ENOTSUP.
 */
int cot_vmi_set_symbols(struct cot_vmi *k,
			const uint64_t link_addr[COT_VMI_SYM__COUNT]);

/*
 * Translate a kernel virtual address.  0, -COT_EFAULT (not mapped),
 * -COT_EAGAIN (the page walk was refused by the budget in force).
 */
int cot_vmi_v2p(struct cot_vmi *k, uint64_t va, uint64_t *pa);

/*
 * Read kernel-virtual memory (any length, across pages), counted in
 * k->bytes_read.  0, -COT_EFAULT, or -COT_EAGAIN (refused by the budget
 * in force; outside cot_vmi_open() and cot_vmi_scan_step() there is
 * none).
 */
int cot_vmi_read_va(struct cot_vmi *k, uint64_t va, void *buf, size_t len);

/* Start and length of the kernel's BTF (__start_BTF..__stop_BTF). */
#define COT_VMI_BTF_MAX (64u << 20)
int cot_vmi_btf_range(const struct cot_vmi *k, uint64_t *va, size_t *len);

/*
 * Install the struct offsets.  Checks every offset against
 * COT_VMI_PROFILE_MAX_OFF.  Returns 0 or -COT_EINVAL.
 */
int cot_vmi_set_profile(struct cot_vmi *k, const struct cot_vmi_profile *p);

/*
 * The profile from the raw BTF in @data[0..len) without libbpf
 * (core/vmi/btf.c), for trackers with no libc; the same rules and
 * result as host/btf.c.  @mem (4-byte aligned, at least
 * cot_vmi_btf_memsize(len) bytes) holds the type index.  The blob is
 * hostile: every offset, id and name is checked; reads stay inside
 * @data.  Returns 0; -COT_EBADMSG (malformed), -COT_ENOSPC (@memlen too
 * small), -COT_ENOENT (a type or member is missing), -COT_EINVAL or
 * -COT_ERANGE (an offset a profile cannot hold).  Thread-safe.
 */
size_t cot_vmi_btf_memsize(size_t len);
int cot_vmi_profile_btf(const void *data, size_t len, void *mem, size_t memlen,
			struct cot_vmi_profile *p);

/* --- sockets ---------------------------------------------------------- */

/* Kernel TCP states (include/net/tcp_states.h). */
enum cot_vmi_tcp_state {
	COT_VMI_TCP_ESTABLISHED = 1,
	COT_VMI_TCP_SYN_SENT,
	COT_VMI_TCP_SYN_RECV,
	COT_VMI_TCP_FIN_WAIT1,
	COT_VMI_TCP_FIN_WAIT2,
	COT_VMI_TCP_TIME_WAIT,
	COT_VMI_TCP_CLOSE,
	COT_VMI_TCP_CLOSE_WAIT,
	COT_VMI_TCP_LAST_ACK,
	COT_VMI_TCP_LISTEN,
	COT_VMI_TCP_CLOSING,
	COT_VMI_TCP_NEW_SYN_RECV,
	COT_VMI_TCP__COUNT,
};

/* Kernel name of a state ("ESTABLISHED", ...), "?" when out of range. */
const char *cot_vmi_state_name(unsigned int st);

enum cot_vmi_kind {
	COT_VMI_SK_FULL = 0, /* struct sock (tcp_sock) */
	COT_VMI_SK_TW,	     /* inet_timewait_sock */
	COT_VMI_SK_REQ,	     /* request_sock (NEW_SYN_RECV) */
	COT_VMI_SK_LISTEN,   /* listener from lhash2 */
};

/*
 * One guest socket (DESIGN.md, "Guest socket").  @state is what the
 * guest's /proc/net/tcp shows: for TIME_WAIT sockets the timewait
 * substate (FIN_WAIT2 or TIME_WAIT), for request sockets SYN_RECV.
 */
struct cot_vmi_sock {
	struct cot_addr local, remote; /* IPv4 stored IPv4-mapped */
	uint32_t netns;		       /* ns.inum of the socket's namespace */
	uint16_t lport, rport;	       /* host order */
	uint8_t family;		       /* 4 or 6 */
	uint8_t state;		       /* enum cot_vmi_tcp_state */
	uint8_t kind;		       /* enum cot_vmi_kind */
	uint8_t flags;		       /* COT_VMI_SOCK_* */
	uint64_t kaddr;		       /* the socket's kernel address */
	/* Where the walk found it: hash of the table's address << 32 |
	 * bucket.  A connection stays in its bucket for its whole life, so
	 * this is the first key of the snapshot order (the walk emits in
	 * nearly that order: sorting is linear).  0 for sockets made by
	 * other means. */
	uint64_t pos;
	/* Live volumes of a full socket (tcp_sock: what `ss -ti` calls
	 * bytes_acked, bytes_received, segs_out, segs_in), filled by
	 * cot_vmi_owners(); valid when flags has COT_VMI_SOCK_VOLUMES.
	 * Not part of the snapshot order nor of the diff. */
	uint64_t bytes_acked, bytes_received;
	uint32_t segs_out, segs_in;
};

#define COT_VMI_SOCK_VOLUMES (1u << 0)

struct cot_vmi_stats {
	uint32_t nets;	  /* namespaces walked */
	uint32_t tables;  /* distinct ehash tables walked */
	uint64_t buckets; /* buckets read (ehash + lhash2) */
	uint64_t sockets; /* sockets returned */
	uint32_t rewalks; /* chain ended on a foreign nulls: re-walked */
	/* counted errors (hostile or racing memory) */
	uint32_t err_read;   /* unreadable pointer or table */
	uint32_t err_loop;   /* cycle detected in a chain or the net list */
	uint32_t err_long;   /* chain longer than COT_VMI_MAX_CHAIN */
	uint32_t err_family; /* unknown family or state, or torn (no peer) */
	uint32_t err_table;  /* table size or pointer out of bounds */
	uint32_t err_net;    /* socket of a namespace not in the list */
	uint32_t truncated;  /* sockets dropped: @cap reached */
	/* 1: the snapshot is incomplete: cut short by a bound of the scan
	 * (chain nodes, buckets) or by cot_vmi_snapshot()'s budget */
	uint32_t err_budget;
	/* cost, counted by the read path */
	uint64_t bytes_read; /* guest bytes read (page-table entries too) */
	uint64_t walks;	     /* page-table walks */
	uint32_t steps;	     /* cot_vmi_scan_step() calls */
	uint32_t cuts;	     /* steps that ended because their budget was
			      * spent (the scan went on in the next) */
};

/*
 * Walk every namespace's TCP tables and fill @out[0..cap) with the
 * guest's sockets, sorted by cot_vmi_sock_cmp() with duplicates
 * removed; *@n gets the count.  @st (may be NULL) gets counters.
 * One cot_vmi_scan_step() with a budget of COT_VMI_DEFAULT_SCAN_BYTES
 * and COT_VMI_DEFAULT_SCAN_WALKS: when it is spent the sockets found
 * so far are returned, sorted, with st->err_budget = 1.
 * Returns 0 (errors in guest data are counted in @st, not returned),
 * -COT_EINVAL when no profile is installed, -COT_EFAULT when the
 * global hash table cannot be read at all.
 */
int cot_vmi_snapshot(struct cot_vmi *k, struct cot_vmi_sock *out, uint32_t cap,
		     uint32_t *n, struct cot_vmi_stats *st);

/*
 * A snapshot in steps.  The caller owns the struct (embed it; about
 * 3.5 KiB) and reads @out, @n, @st and the step_* fields; the rest is
 * the position, private.
 */
struct cot_vmi_scan {
	struct cot_vmi_sock *out;
	uint32_t cap;
	uint32_t n;		 /* sockets in out[]; final once done */
	struct cot_vmi_stats st; /* the scan's counters so far */
	uint64_t step_bytes;	 /* cost of the last step */
	uint64_t step_walks;
	uint64_t first_bytes; /* of it, its first unit of work */
	uint64_t first_walks;
	/* private */
	int32_t result; /* once done: 1 or a negative code */
	uint32_t phase;
	uint32_t net;	       /* next namespace whose tables to add */
	uint32_t table;	       /* table being walked ... */
	uint32_t bucket;       /* ... and its next bucket */
	uint64_t base;	       /* its nulls base, UINT64_MAX if unknown */
	uint64_t nodes_left;   /* chain nodes the scan may still visit */
	uint64_t buckets_left; /* buckets it may still read */
	uint32_t span_lo, span_len;
	uint32_t last_net;
	uint32_t ntables;
	struct cot_vmi_scan_table {
		uint64_t addr;
		uint32_t h;  /* hash of addr: the table's place in the order */
		uint32_t nb; /* buckets */
		bool listener;
	} tables[2 * COT_VMI_MAX_TABLES];
};

/*
 * Begin a scan of @k's sockets into @out[0..cap): reads nothing.  A
 * scan in progress on @k is abandoned (one scan per struct cot_vmi at a
 * time; between steps @k may be used for anything but another scan).
 */
void cot_vmi_scan_start(struct cot_vmi *k, struct cot_vmi_scan *s,
			struct cot_vmi_sock *out, uint32_t cap);

/*
 * Go on with scan @s for at most @max_bytes bytes of guest memory read
 * and @max_walks page walks (what the read path counts), then stop at
 * a point the next call resumes from.
 *
 * The scan is a sequence of units: the namespace list, each
 * namespace's tables, each bucket with its chain.  A unit the budget
 * cuts is undone (its sockets and counters dropped) and done again from
 * its start by the next step: a chain from its bucket's head, as
 * pointers read in an earlier step may be stale.  So that every step
 * makes progress whatever its budget, the first unit of a step is done
 * in full: a step reads at most max(@max_bytes, its first unit's cost)
 * and a unit costs at most COT_VMI_UNIT_MAX_BYTES / _WALKS (a bucket
 * of empty or short chains: a 4 KiB read of bucket heads and a few
 * hundred bytes).  step_bytes / first_bytes (and _walks) say what the
 * step and its first unit took.  The scan ends after at most
 * 5 + COT_VMI_MAX_NETS + COT_VMI_MAX_SCAN_BUCKETS units, so after as
 * many steps at most, whatever the budget.  The profile may be replaced
 * between steps (the next step uses the new one).
 *
 * Returns 1 when the snapshot is complete: out[0..s->n) sorted and
 * deduplicated as cot_vmi_snapshot() returns it (calling again returns
 * 1 again); 0 when the budget was spent (st->cuts counts these steps);
 * or what cot_vmi_snapshot() returns as an error (-COT_EINVAL,
 * -COT_EFAULT), again on every later call.  *@st (may be NULL) gets the
 * scan's counters so far: cumulative over its steps since
 * cot_vmi_scan_start(), as in s->st.  The guest runs between steps:
 * a scan of several steps shows each bucket as it was when its step
 * read it.  Not thread-safe (uses @k).
 */
int cot_vmi_scan_step(struct cot_vmi *k, struct cot_vmi_scan *s,
		      uint64_t max_bytes, uint64_t max_walks,
		      struct cot_vmi_stats *st);

/*
 * The snapshot order: by pos, then netns, family, local, lport,
 * remote, rport, listener or not (together: the connection), then
 * state, kind and kaddr.  A total order, stable across snapshots of one
 * guest, cheap to sort, but not meant for people:
 * cot_vmi_sock_cmp_human() (pos ignored) sorts for display.  Both
 * return <0, 0, >0 and are thread-safe.
 */
int cot_vmi_sock_cmp(const struct cot_vmi_sock *a,
		     const struct cot_vmi_sock *b);
int cot_vmi_sock_cmp_human(const struct cot_vmi_sock *a,
			   const struct cot_vmi_sock *b);

/*
 * Sort @v[0..n) in place by cot_vmi_sock_cmp().  Linear on what the
 * walk emits (already in pos order: only runs of one bucket are
 * sorted); else introsort (quicksort, heap sort past 2 log n levels, so
 * that no input the guest can arrange makes it quadratic).  No
 * recursion, no allocation.
 */
void cot_vmi_sort(struct cot_vmi_sock *v, uint32_t n);

enum cot_vmi_event {
	COT_VMI_EV_OPENED = 1, /* in @cur, not in @prev */
	COT_VMI_EV_CLOSED,     /* in @prev, not in @cur */
	COT_VMI_EV_CHANGED,    /* same tuple: new state, or another kernel
				* socket (e.g. a port reused from TIME_WAIT) */
};

const char *cot_vmi_event_name(unsigned int ev);

/*
 * Called once per event.  @old is the socket in the previous snapshot
 * (NULL for OPENED), @now in the current one (NULL for CLOSED).
 */
typedef void (*cot_vmi_diff_cb)(void *ctx, enum cot_vmi_event ev,
				const struct cot_vmi_sock *old,
				const struct cot_vmi_sock *now);

/*
 * Compare two snapshots sorted by cot_vmi_sort()/cot_vmi_snapshot().
 * A connection is (netns, family, local, lport, remote, rport, and
 * whether it is a listener); a listener and a connection never match.
 * Returns the number of events.  Thread-safe.
 */
uint32_t cot_vmi_diff(const struct cot_vmi_sock *prev, uint32_t nprev,
		      const struct cot_vmi_sock *cur, uint32_t ncur,
		      cot_vmi_diff_cb cb, void *ctx);

/* --- socket owners and live volumes (core/vmi/owner.c) ----------------- */

#define COT_VMI_COMM_LEN     16		/* task_struct.comm, NUL included */
#define COT_VMI_CGROUP_LEN   256	/* bytes of a cgroup path kept */
#define COT_VMI_CGROUP_DEPTH 64		/* kernfs levels followed */
#define COT_VMI_MAX_TASKS    (1u << 22) /* processes walked at most */
#define COT_VMI_MAX_FDS	     (1u << 20) /* fds per table (fs.nr_open max) */

/* A process (thread-group leader) of the task list. */
struct cot_vmi_proc {
	uint32_t pid;	 /* tgid */
	uint32_t cgroup; /* index in cot_vmi_owners.cgroups, or UINT32_MAX */
	char comm[COT_VMI_COMM_LEN]; /* NUL-terminated, bytes as the guest's */
};

/* A cgroup v2 path, as /proc/PID/cgroup shows it ("/", "/a/b"). */
struct cot_vmi_cgroup {
	uint64_t addr;	   /* struct cgroup * */
	uint8_t truncated; /* deeper or longer than this tool keeps */
	char path[COT_VMI_CGROUP_LEN];
};

/* One open file of the map (private). */
struct cot_vmi_fent {
	uint64_t file; /* struct file * */
	uint32_t proc; /* index in procs */
	uint32_t fd;
	uint32_t gen; /* the pass that wrote it (else a free slot) */
};

/* Owner of socket i of a snapshot. */
struct cot_vmi_owner {
	uint64_t inode; /* socket inode as /proc/net/tcp shows it; 0: none */
	uint32_t proc;	/* index in cot_vmi_owners.procs; UINT32_MAX: none */
	uint32_t fd;	/* that process's lowest fd holding it */
};

struct cot_vmi_owner_stats {
	uint32_t tasks;		    /* processes walked */
	uint32_t tables;	    /* file tables walked */
	uint64_t fds;		    /* open fds seen */
	uint32_t files;		    /* distinct files in the map */
	uint32_t cgroups;	    /* distinct cgroups */
	uint32_t owned;		    /* sockets given an owner */
	uint32_t inodes;	    /* sockets given an inode */
	uint32_t volumes;	    /* sockets given volumes */
	uint32_t err_read;	    /* unreadable task, table, file or socket */
	uint32_t err_loop;	    /* the task list loops */
	uint32_t err_long;	    /* task list or fd table past its bound */
	uint32_t err_verify;	    /* a back-pointer did not point back */
	uint32_t truncated;	    /* procs, cgroups or map full */
	uint32_t err_budget;	    /* 1: the budget ended the pass early */
	uint64_t bytes_read, walks; /* cost, counted by the read path */
};

/*
 * Caller memory for the passes: procs[procs_cap], cgroups[cgroups_cap],
 * files[files_cap] (files_cap a power of two; zeroed before the first
 * pass, e.g. calloc: the map is not cleared per pass, its entries carry
 * the pass number @gen); the rest is output.
 */
struct cot_vmi_owners {
	struct cot_vmi_proc *procs;
	struct cot_vmi_cgroup *cgroups;
	struct cot_vmi_fent *files;
	uint32_t procs_cap, cgroups_cap, files_cap;
	uint32_t nprocs, ncgroups, nfiles;
	uint32_t gen; /* private */
	struct cot_vmi_owner_stats st;
};

/*
 * After a snapshot: the owner of each socket in @socks[0..n) into
 * @own[0..n) (may be NULL: volumes only) and the live volumes of its
 * full sockets (into @socks, COT_VMI_SOCK_VOLUMES).  Owners: walks
 * init_task's process list (thread-group leaders; bounded by
 * procs_cap, COT_VMI_MAX_TASKS, cycle-checked), each process's file
 * table by its open_fds bitmap (at most COT_VMI_MAX_FDS fds), building
 * one map file -> (lowest tgid, its lowest fd); then for each full or
 * listening socket reads sk->sk_socket, checks socket->sk points back,
 * takes the inode and socket->file, and, when that file is in the map
 * and its private_data is the socket, the owner.  TIME_WAIT and request
 * sockets have no file: unowned.  Reads at most @max_bytes and
 * @max_walks (the read path's count; st.err_budget = 1 when it ended
 * the pass: what was found stays).  Needs the profile's
 * COT_VMI_PF_OWNERS and init_task for owners, COT_VMI_PF_VOLUMES for
 * volumes; either part is skipped without.  Returns 0 (guest errors are
 * counted in o->st), -COT_EINVAL on bad arguments.  Not thread-safe
 * (uses @k).
 */
int cot_vmi_owners(struct cot_vmi *k, struct cot_vmi_owners *o,
		   struct cot_vmi_sock *socks, uint32_t n,
		   struct cot_vmi_owner *own, uint64_t max_bytes,
		   uint64_t max_walks);

#endif
