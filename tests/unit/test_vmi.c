// SPDX-License-Identifier: MIT
/*
 * core/vmi on synthetic guests (test_vmi_synth.h): discovery, page walk
 * in 4 and 5 levels with 4 KiB / 2 MiB / 1 GiB pages, kallsyms, a BTF
 * profile with a layout no real kernel has, every socket kind and
 * namespace, hostile images, and the snapshot diff.
 */
#include "t.h"
#include "test_vmi_synth.h"
#include "host/btf.h"

static const uint8_t lo4[4] = { 127, 0, 0, 1 };
static const uint8_t ten1[4] = { 10, 0, 0, 1 };
static const uint8_t any4[4] = { 0, 0, 0, 0 };
static const uint8_t ten2[4] = { 10, 0, 0, 2 };
static const uint8_t lo6[16] = { [15] = 1 };
static const uint8_t any6[16] = { 0 };
static const uint8_t map6[16] = { [10] = 0xff, [11] = 0xff, 192, 168, 1, 9 };
static const uint8_t g6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };

static struct cot_vmi *vk;

/* cot_vmi_open + BTF from guest memory + profile, like the CLI. */
static int open_syn(struct syn *s)
{
	struct cot_vmi_mem m;
	struct cot_vmi_profile p;
	char msg[256];
	uint64_t va;
	size_t len;
	void *buf;
	int err;

	syn_iface(s, &m);
	err = cot_vmi_open(vk, &m);
	if (err)
		return err;
	err = cot_vmi_btf_range(vk, &va, &len);
	if (err)
		return err;
	buf = malloc(len);
	err = cot_vmi_read_va(vk, va, buf, len);
	if (!err)
		err = cot_vmi_profile_from_btf(buf, len, &p, msg, sizeof(msg));
	free(buf);
	if (err) {
		printf("# %s\n", msg);
		return err;
	}
	return cot_vmi_set_profile(vk, &p);
}

static void t_vmcoreinfo_parse(void)
{
	struct cot_vmcoreinfo ci;
	const char good[] = "OSRELEASE=6.1.0-56-cloud-amd64\nPAGESIZE=4096\n"
			    "SYMBOL(kallsyms_names)=ffffffffaed75590\n"
			    "NUMBER(phys_base)=-421527552\n"
			    "SYMBOL(init_top_pgt)=ffffffffaf610000\n"
			    "NUMBER(pgtable_l5_enabled)=1\n"
			    "KERNELOFFSET=2cc00000\n"
			    "garbage line\n=novalue\n";
	const char cut[] = "OSRELEASE=6.1\nKERNELOFFSET=2cc0";
	const char bad[] = "OSRELEASE=6.1\nKERNELOFFSET=zz\n"
			   "NUMBER(phys_base)=99999999999999999999999\n"
			   "SYMBOL(init_top_pgt)=1ffffffffffffffff\n"
			   "NUMBER(pgtable_l5_enabled)=7\nPAGESIZE=4095\n";
	char big[8192];

	T_ASSERT(cot_vmcoreinfo_parse(&ci, good, sizeof(good) - 1) == 0);
	T_EQ_S(ci.osrelease, "6.1.0-56-cloud-amd64");
	T_EQ_U(ci.page_size, 4096);
	T_EQ_U(ci.kerneloffset, 0x2cc00000);
	T_EQ_U(ci.phys_base, (uint64_t)-421527552LL);
	T_EQ_U(ci.init_top_pgt, 0xffffffffaf610000ull);
	T_EQ_U(ci.ks_names, 0xffffffffaed75590ull);
	T_EQ_U(ci.l5, 1);
	T_CHECK(!(ci.have & COT_VMCI_KALLSYMS)); /* only one table given */
	T_EQ_U(ci.bad_lines, 2);
	/* A value cut short by the end of the buffer is not taken. */
	T_ASSERT(cot_vmcoreinfo_parse(&ci, cut, sizeof(cut) - 1) == 0);
	T_CHECK(!(ci.have & COT_VMCI_KERNELOFFSET));
	T_ASSERT(cot_vmcoreinfo_parse(&ci, bad, sizeof(bad) - 1) == 0);
	T_EQ_U(ci.have, COT_VMCI_OSRELEASE);
	T_EQ_U(ci.bad_lines, 5);
	/* No OSRELEASE, NULs, overlong release, unterminated page. */
	T_CHECK(cot_vmcoreinfo_parse(&ci, "PAGESIZE=4096\n", 14) ==
		-COT_ENOENT);
	T_CHECK(cot_vmcoreinfo_parse(&ci, "\0OSRELEASE=x\n", 13) ==
		-COT_ENOENT);
	memset(big, 'A', sizeof(big));
	memcpy(big, "OSRELEASE=", 10);
	T_CHECK(cot_vmcoreinfo_parse(&ci, big, sizeof(big)) == -COT_ENOENT);
	big[100] = '\n';
	T_CHECK(cot_vmcoreinfo_parse(&ci, big, sizeof(big)) == -COT_ENOENT);
	T_CHECK(cot_vmcoreinfo_parse(&ci, NULL, 0) == -COT_ENOENT);
}

/* Expected sockets and a check of the snapshot against them. */
struct expect {
	struct cot_vmi_sock v[64];
	uint32_t n;
};

static void ex_add(struct expect *e, uint32_t netns, uint8_t state,
		   uint8_t kind, int family, const uint8_t *l, uint16_t lport,
		   const uint8_t *r, uint16_t rport, uint64_t kaddr)
{
	struct cot_vmi_sock *s = &e->v[e->n++];

	memset(s, 0, sizeof(*s));
	s->netns = netns;
	s->state = state;
	s->kind = kind;
	s->family = (uint8_t)family;
	s->lport = lport;
	s->rport = rport;
	s->kaddr = kaddr;
	if (family == 4) {
		cot_addr_from_v4(&s->local, l);
		cot_addr_from_v4(&s->remote, r);
	} else {
		memcpy(s->local.b, l, 16);
		memcpy(s->remote.b, r, 16);
	}
}

/* Socket of every kind in two namespaces; returns the expected set. */
static void populate(struct syn *s, struct expect *e)
{
	uint64_t n2 = syn_add_net(s, 4026532200u, 64), k;
	uint64_t n3 = syn_add_net(s, 4026532300u, 0); /* shares the global */
	uint64_t in = s->init_net;

	e->n = 0;
#define SK(net, ns, b, st, sub, kind, fam, l, lp, r, rp, shown)                \
	do {                                                                   \
		k = syn_sock(s, net, b, st, sub, fam, l, lp, r, rp);           \
		ex_add(e, ns, shown, kind, fam, l, lp, r, rp, k);              \
	} while (0)
	SK(in, 4026531840u, 3, COT_VMI_TCP_LISTEN, 0, COT_VMI_SK_LISTEN, 4,
	   any4, 80, any4, 0, COT_VMI_TCP_LISTEN);
	SK(in, 4026531840u, 3, COT_VMI_TCP_LISTEN, 0, COT_VMI_SK_LISTEN, 6,
	   any6, 80, any6, 0, COT_VMI_TCP_LISTEN);
	SK(in, 4026531840u, 5, COT_VMI_TCP_ESTABLISHED, 0, COT_VMI_SK_FULL, 4,
	   ten1, 80, ten2, 40000, COT_VMI_TCP_ESTABLISHED);
	SK(in, 4026531840u, 5, COT_VMI_TCP_ESTABLISHED, 0, COT_VMI_SK_FULL, 4,
	   lo4, 5000, lo4, 5001, COT_VMI_TCP_ESTABLISHED);
	SK(in, 4026531840u, 5, COT_VMI_TCP_TIME_WAIT, COT_VMI_TCP_TIME_WAIT,
	   COT_VMI_SK_TW, 4, ten1, 80, ten2, 39999, COT_VMI_TCP_TIME_WAIT);
	SK(in, 4026531840u, 9, COT_VMI_TCP_TIME_WAIT, COT_VMI_TCP_FIN_WAIT2,
	   COT_VMI_SK_TW, 4, ten1, 80, ten2, 39998, COT_VMI_TCP_FIN_WAIT2);
	SK(in, 4026531840u, 11, COT_VMI_TCP_NEW_SYN_RECV, 0, COT_VMI_SK_REQ, 4,
	   ten1, 80, ten2, 41000, COT_VMI_TCP_SYN_RECV);
	SK(in, 4026531840u, 12, COT_VMI_TCP_ESTABLISHED, 0, COT_VMI_SK_FULL, 6,
	   lo6, 443, lo6, 50000, COT_VMI_TCP_ESTABLISHED);
	SK(in, 4026531840u, 12, COT_VMI_TCP_CLOSE_WAIT, 0, COT_VMI_SK_FULL, 6,
	   map6, 443, map6, 50001, COT_VMI_TCP_CLOSE_WAIT);
	SK(in, 4026531840u, 15, COT_VMI_TCP_SYN_SENT, 0, COT_VMI_SK_FULL, 6, g6,
	   65535, g6, 1, COT_VMI_TCP_SYN_SENT);
	/* namespace 2: its own ehash, listeners in the shared lhash2 */
	SK(n2, 4026532200u, 7, COT_VMI_TCP_LISTEN, 0, COT_VMI_SK_LISTEN, 4, lo4,
	   9001, any4, 0, COT_VMI_TCP_LISTEN);
	SK(n2, 4026532200u, 63, COT_VMI_TCP_ESTABLISHED, 0, COT_VMI_SK_FULL, 4,
	   lo4, 9001, lo4, 33000, COT_VMI_TCP_ESTABLISHED);
	SK(n2, 4026532200u, 63, COT_VMI_TCP_TIME_WAIT, COT_VMI_TCP_TIME_WAIT,
	   COT_VMI_SK_TW, 6, lo6, 9001, lo6, 33001, COT_VMI_TCP_TIME_WAIT);
	/* namespace 3: in the global table */
	SK(n3, 4026532300u, 5, COT_VMI_TCP_ESTABLISHED, 0, COT_VMI_SK_FULL, 4,
	   lo4, 5000, lo4, 5001, COT_VMI_TCP_ESTABLISHED);
#undef SK
	cot_vmi_sort(e->v, e->n);
}

static int cmp_human(const void *a, const void *b)
{
	return cot_vmi_sock_cmp_human(a, b);
}

/* Same set (in human order; pos is where the walk found each). */
static void check_set(const struct cot_vmi_sock *got_in, uint32_t n,
		      const struct expect *e_in)
{
	static struct cot_vmi_sock got[64];
	static struct expect ex;
	struct expect *e = &ex;
	uint32_t i;

	T_ASSERT(n <= 64);
	memcpy(got, got_in, n * sizeof(*got));
	ex = *e_in;
	qsort(got, n, sizeof(*got), cmp_human);
	qsort(ex.v, ex.n, sizeof(ex.v[0]), cmp_human);
	for (i = 1; i < n; i++) /* the snapshot was in snapshot order */
		T_CHECK(cot_vmi_sock_cmp(&got_in[i - 1], &got_in[i]) < 0);
	T_EQ_U(n, e->n);
	for (i = 0; i < n && i < e->n; i++) {
		if (cot_vmi_sock_cmp_human(&got[i], &e->v[i]) == 0)
			continue;
		printf("#   socket %u differs: netns %u/%u state %u/%u lport "
		       "%u/%u rport %u/%u kind %u/%u\n",
		       i, got[i].netns, e->v[i].netns, got[i].state,
		       e->v[i].state, got[i].lport, e->v[i].lport, got[i].rport,
		       e->v[i].rport, got[i].kind, e->v[i].kind);
		t_failed_now = 1;
	}
}

struct evlog {
	int opened, closed, changed;
	uint16_t last_lport;
};

static void on_ev(void *ctx, enum cot_vmi_event ev,
		  const struct cot_vmi_sock *old,
		  const struct cot_vmi_sock *now)
{
	struct evlog *l = ctx;

	if (ev == COT_VMI_EV_OPENED && !old && now)
		l->opened++;
	if (ev == COT_VMI_EV_CLOSED && old && !now)
		l->closed++;
	if (ev == COT_VMI_EV_CHANGED && old && now)
		l->changed++;
	l->last_lport = (now ? now : old)->lport;
}

static struct evlog evl;

static void run_full_ks(int levels, int dm_1g, bool neg, int layout)
{
	static const uint8_t enc[] = {
		[SYN_KS_VMCI] = COT_KALLSYMS_BASE_REL,
		[SYN_KS_PREL] = COT_KALLSYMS_PLACE_REL,
		[SYN_KS_IMAGE] = COT_KALLSYMS_BASE_REL,
		[SYN_KS_IMAGE_ABS] = COT_KALLSYMS_ABSOLUTE,
	};
	struct syn s;
	struct expect e;
	struct cot_vmi_sock out[64];
	struct cot_vmi_stats st;
	uint32_t n = 0;
	uint64_t pa;

	syn_init_ks(&s, levels, dm_1g, neg, 16, 8, layout);
	populate(&s, &e);
	T_ASSERT(open_syn(&s) == 0);
	/* kallsyms: the encoding, and where the tables came from */
	T_EQ_U(vk->ks_enc, enc[layout]);
	T_EQ_U(!!(vk->how & COT_VMI_HOW_KS_LOCATED), layout >= SYN_KS_IMAGE);
	T_EQ_U(vk->ks_token_index, s.ks.tokidx);
	T_EQ_U(vk->nsyms, layout >= SYN_KS_IMAGE ? 12 + SYN_FILLER : 12);
	if (layout >= SYN_KS_IMAGE) /* the search of the image is counted */
		T_CHECK(vk->bytes_read > s.ks.tokidx - SYN_IMG_VA);
	T_EQ_U(vk->levels, levels);
	T_EQ_U(vk->vmci_pa, s.vmci_pa); /* the decoy was skipped */
	T_EQ_S(vk->ci.osrelease, "6.1.0-synthetic");
	T_EQ_U(vk->sym[COT_VMI_SYM_TCP_HASHINFO], s.hashinfo);
	T_EQ_U(vk->sym[COT_VMI_SYM_NET_NS_LIST], s.nslist);
	T_EQ_U(vk->sym[COT_VMI_SYM_INIT_NET], s.init_net);
	/* profile follows the synthetic BTF, not any real kernel */
	T_EQ_U(vk->prof.skc_num, SYN_SK_NUM);
	T_EQ_U(vk->prof.skc_net, SYN_SK_NET);
	T_EQ_U(vk->prof.skc_nulls_node, SYN_SK_NULLS);
	T_EQ_U(vk->prof.tw_substate, SYN_TW_SUBSTATE);
	T_EQ_U(vk->prof.ehash_chain, 8);
	T_EQ_U(vk->prof.hi_ehash, SYN_HI_EHASH);
	T_EQ_U(vk->prof.net_inum, SYN_NET_INUM);
	T_CHECK(vk->prof.flags & COT_VMI_PF_DR_PTR);
	T_CHECK(vk->prof.flags & COT_VMI_PF_LHASH2_NULLS);
	/* page walk: 4 KiB image page, huge direct map, a hole */
	T_CHECK(cot_vmi_v2p(vk, s.hashinfo + 5, &pa) == 0 &&
		pa == syn_pa(&s, s.hashinfo) + 5);
	T_CHECK(cot_vmi_v2p(vk, s.page_offset + 0x345678, &pa) == 0 &&
		pa == 0x345678);
	T_CHECK(cot_vmi_v2p(vk, SYN_IMG_VA + SYN_IMG_LEN + 4096, &pa) ==
		-COT_EFAULT);
	T_CHECK(cot_vmi_v2p(vk, 0x0000900000000000ull, &pa) == -COT_EFAULT);
	T_ASSERT(cot_vmi_snapshot(vk, out, 64, &n, &st) == 0);
	check_set(out, n, &e);
	T_EQ_U(st.nets, 3);
	T_EQ_U(st.tables, 2);
	T_EQ_U(st.buckets, 16 + 8 + 64);
	T_EQ_U(st.err_read + st.err_loop + st.err_long + st.err_family +
		       st.err_table + st.err_net + st.truncated,
	       0);
	/* a new connection and a state change between two snapshots */
	{
		struct cot_vmi_sock before[64];
		uint32_t nb = n, ev;
		uint64_t sk;

		memcpy(before, out, n * sizeof(*out));
		syn_sock(&s, s.init_net, 6, COT_VMI_TCP_ESTABLISHED, 0, 4, ten2,
			 1234, ten1, 80);
		sk = e.v[0].kaddr; /* some socket: now CLOSE_WAIT */
		*syn_at(&s, sk + SYN_SK_STATE) = COT_VMI_TCP_CLOSE_WAIT;
		T_ASSERT(cot_vmi_snapshot(vk, out, 64, &n, &st) == 0);
		T_EQ_U(n, nb + 1);
		memset(&evl, 0, sizeof(evl));
		ev = cot_vmi_diff(before, nb, out, n, on_ev, &evl);
		T_EQ_U(ev, 2);
		T_EQ_U(evl.opened, 1);
		T_EQ_U(evl.changed, 1);
		T_EQ_U(evl.closed, 0);
	}
	/* capacity: truncated, still sorted and counted */
	T_ASSERT(cot_vmi_snapshot(vk, out, 5, &n, &st) == 0);
	T_EQ_U(n, 5);
	T_EQ_U(st.truncated, e.n + 1 - 5); /* one socket added above */
	syn_free(&s);
}

static void run_full(int levels, int dm_1g, bool neg)
{
	run_full_ks(levels, dm_1g, neg, SYN_KS_VMCI);
}

static void t_l4_2m_relative(void)
{
	run_full(4, 0, false);
}
/* kallsyms encodings and places: Linux >= 7.0 (place-relative, no
 * relative_base), < 6.0 (not in VMCOREINFO: found in the image),
 * base-relative with ABSOLUTE_PERCPU or absolute addresses */
static void t_ks_place_relative(void)
{
	run_full_ks(5, 0, false, SYN_KS_PREL);
}
static void t_ks_image_percpu(void)
{
	run_full_ks(4, 0, true, SYN_KS_IMAGE);
}
static void t_ks_image_relative(void)
{
	run_full_ks(5, 1, false, SYN_KS_IMAGE);
}
static void t_ks_image_absolute(void)
{
	run_full_ks(4, 1, false, SYN_KS_IMAGE_ABS);
}
static void t_l5_2m_abs_percpu(void)
{
	run_full(5, 0, true);
}
static void t_l4_1g(void)
{
	run_full(4, 1, true);
}
static void t_l5_1g(void)
{
	run_full(5, 1, false);
}

/* Hostile chains: each yields a counted error, the rest still listed. */
static void t_hostile_chains(void)
{
	struct syn s;
	struct cot_vmi_sock *out = calloc(8192, sizeof(*out));
	struct cot_vmi_stats st;
	uint64_t a, b, c, d, tab;
	uint32_t n, size;

	syn_init(&s, 5, 0, true, 16, 8);
	/* bucket 1: a -> b -> a (cycle) */
	a = syn_sock(&s, s.init_net, 1, 1, 0, 4, lo4, 1, lo4, 2);
	b = syn_sock(&s, s.init_net, 1, 1, 0, 4, lo4, 3, lo4, 4);
	syn_w64(&s, a + SYN_SK_NULLS, b + SYN_SK_NULLS);
	/* bucket 2: c -> pointer out of RAM */
	c = syn_sock(&s, s.init_net, 2, 1, 0, 4, lo4, 5, lo4, 6);
	syn_w64(&s, c + SYN_SK_NULLS, s.page_offset + (1ull << 40));
	/* bucket 3: d ends on bucket 9's nulls: moved, re-walked boundedly */
	d = syn_sock(&s, s.init_net, 3, 1, 0, 4, lo4, 7, lo4, 8);
	syn_w64(&s, d + SYN_SK_NULLS, 9ull << 1 | 1);
	/* bucket 4: self loop */
	a = syn_sock(&s, s.init_net, 4, 1, 0, 4, lo4, 9, lo4, 10);
	syn_w64(&s, a + SYN_SK_NULLS, a + SYN_SK_NULLS);
	/* bucket 5: unknown family and state */
	a = syn_sock(&s, s.init_net, 5, 1, 0, 4, lo4, 11, lo4, 12);
	syn_w16(&s, a + SYN_SK_FAMILY, 1);
	a = syn_sock(&s, s.init_net, 5, 99, 0, 4, lo4, 13, lo4, 14);
	/* ... and torn entries (seen once at a 1 ms interval: a request
	 * socket read while its memory was reused): no peer address, no
	 * peer port */
	syn_sock(&s, s.init_net, 5, 1, 0, 4, any4, 80, any4, 48408);
	syn_sock(&s, s.init_net, 5, 1, 0, 4, lo4, 80, lo4, 0);
	/* bucket 6: socket of a namespace not on the list */
	a = syn_sock(&s, s.init_net, 6, 1, 0, 4, lo4, 15, lo4, 16);
	syn_w64(&s, a + SYN_SK_NET, s.init_net + 4096);
	/* bucket 7: a long chain (more than COT_VMI_MAX_CHAIN) */
	for (n = 0; n < COT_VMI_MAX_CHAIN + 2; n++)
		syn_sock(&s, s.init_net, 7, 1, 0, 4, lo4, 20, lo4, 21);
	/* bucket 8: one good socket */
	syn_sock(&s, s.init_net, 8, 1, 0, 4, ten1, 22, ten2, 23);
	T_ASSERT(open_syn(&s) == 0);
	T_ASSERT(cot_vmi_snapshot(vk, out, 8192, &n, &st) == 0);
	T_EQ_U(st.err_loop, 2);
	T_EQ_U(st.err_read, 1);
	T_EQ_U(st.rewalks, COT_VMI_MAX_REWALK);
	T_EQ_U(st.err_family, 4);
	T_EQ_U(st.err_net, 1);
	T_EQ_U(st.err_long, 1);
	T_EQ_U(st.truncated, 0);
	/* the good socket is there */
	T_CHECK(n >= 1);
	{
		uint32_t i, good = 0;

		for (i = 0; i < n; i++)
			good += out[i].lport == 22 && out[i].rport == 23;
		T_EQ_U(good, 1);
	}
	/* an absurd table size and a table pointer out of RAM */
	tab = syn_table(&s, s.init_net, false, &size);
	(void)tab;
	syn_w32(&s, s.hashinfo + SYN_HI_EMASK, 0xffffffffu);
	syn_w64(&s, s.hashinfo + SYN_HI_LHASH2, s.page_offset + (1ull << 41));
	T_ASSERT(cot_vmi_snapshot(vk, out, 8192, &n, &st) == 0);
	T_EQ_U(st.err_table, 2);
	T_EQ_U(n, 0);
	/* the namespace list loops on itself without the head */
	syn_w32(&s, s.hashinfo + SYN_HI_EMASK, 15);
	syn_w64(&s, s.init_net + SYN_NET_LIST, s.init_net + SYN_NET_LIST);
	T_ASSERT(cot_vmi_snapshot(vk, out, 8192, &n, &st) == 0);
	T_EQ_U(st.err_loop, 3);
	T_EQ_U(st.nets, 1);
	/* the global table itself unreadable */
	syn_w64(&s, s.init_net + SYN_NET_LIST, s.nslist);
	vk->sym[COT_VMI_SYM_TCP_HASHINFO] = 0xffffffffff000000ull;
	T_CHECK(cot_vmi_snapshot(vk, out, 8192, &n, &st) == -COT_EFAULT);
	syn_free(&s);
	free(out);
}

/*
 * Forged chains sharing nodes: 8 buckets point at one chain of 4000
 * sockets that ends on a foreign nulls marker, so each bucket would be
 * walked 5 times (160000 nodes).  The per-snapshot budget stops it.
 */
static void t_budget(void)
{
	struct syn s;
	struct cot_vmi_sock out[64];
	struct cot_vmi_stats st;
	uint64_t first = 0, tab;
	uint32_t n, size, i;

	syn_init(&s, 4, 1, false, 16, 8);
	for (i = 0; i < 4000; i++)
		first = syn_sock(&s, s.init_net, 0, 1, 0, 4, lo4, 1, lo4, 2);
	tab = syn_table(&s, s.init_net, false, &size);
	/* the last socket of the chain (pushed first) ends on bucket 9 */
	syn_w64(&s, tab + 8, 0 << 1 | 1); /* bucket 0 empty: nulls base 0 */
	for (i = 1; i <= 8; i++)
		syn_w64(&s, tab + i * SYN_BUCKET + 8, first + SYN_SK_NULLS);
	{
		uint64_t p = first + SYN_SK_NULLS, nx;

		while (!((nx = cot_get_le64(syn_at(&s, p))) & 1))
			p = nx;
		syn_w64(&s, p, 9ull << 1 | 1);
	}
	T_ASSERT(open_syn(&s) == 0);
	T_ASSERT(cot_vmi_snapshot(vk, out, 64, &n, &st) == 0);
	T_EQ_U(st.err_budget, 1);
	T_EQ_U(n, 64); /* 4000 distinct objects: the first 64 kept */
	T_CHECK(st.truncated > 0);
	T_CHECK(st.rewalks >= 1 && st.rewalks < 5 * 8);
	syn_free(&s);
}

/* Discovery on memory that is not a (sane) Linux guest. */
static void t_hostile_discovery(void)
{
	struct syn s;
	struct cot_vmi_mem m;
	char *t;

	/* no VMCOREINFO at all */
	syn_init(&s, 4, 0, false, 16, 8);
	memset(s.mem + s.vmci_pa, 0, 4096);
	syn_iface(&s, &m);
	/* only the decoy: found, but it does not validate */
	T_CHECK(cot_vmi_open(vk, &m) == -COT_EPROTO);
	memset(s.mem + 0x5000, 0, 4096);
	T_CHECK(cot_vmi_open(vk, &m) == -COT_ENOENT);
	syn_free(&s);

	/* VMCOREINFO cut before init_top_pgt */
	syn_init(&s, 4, 0, false, 16, 8);
	t = (char *)s.mem + s.vmci_pa;
	memset(strstr(t, "SYMBOL(init_top_pgt)") + 17, 0, 32);
	syn_iface(&s, &m);
	T_CHECK(cot_vmi_open(vk, &m) == -COT_EPROTO);
	syn_free(&s);

	/* wrong phys_base: the init_top_pgt self-check fails */
	syn_init(&s, 5, 0, false, 16, 8);
	t = (char *)s.mem + s.vmci_pa;
	memcpy(strstr(t, "NUMBER(phys_base)=") + 18, "4096\n", 5);
	syn_iface(&s, &m);
	T_CHECK(cot_vmi_open(vk, &m) == -COT_EPROTO);
	syn_free(&s);

	/* garbage kallsyms: names and token tables overwritten */
	syn_init(&s, 5, 0, false, 16, 8);
	{
		uint32_t i;
		uint64_t names;

		syn_iface(&s, &m);
		T_ASSERT(cot_vmi_open(vk, &m) == 0);
		names = vk->ci.ks_names;
		srand(7);
		for (i = 0; i < 3000; i++)
			s.mem[syn_pa(&s, names) + i] = (uint8_t)rand();
		for (i = 0; i < 512; i++)
			s.mem[syn_pa(&s, vk->ci.ks_token_index) + i] = 0xff;
		T_CHECK(cot_vmi_open(vk, &m) == -COT_EPROTO);
		/* a huge num_syms is refused, not walked */
		syn_w32(&s, vk->ci.ks_num_syms, 0x7fffffff);
		T_CHECK(cot_vmi_open(vk, &m) == -COT_EPROTO);
	}
	syn_free(&s);

	/* no kallsyms in VMCOREINFO (Linux < 6.0): symbols given */
	syn_init(&s, 4, 0, false, 16, 8);
	t = (char *)s.mem + s.vmci_pa;
	memcpy(strstr(t, "SYMBOL(kallsyms_names)"), "SYMBOL(kallsyms_nameX)",
	       22);
	syn_iface(&s, &m);
	T_ASSERT(cot_vmi_open(vk, &m) == -COT_ENOTSUP);
	{
		uint64_t link[COT_VMI_SYM__COUNT] = { 0 };

		link[COT_VMI_SYM_TCP_HASHINFO] = s.hashinfo - SYN_KASLR;
		T_CHECK(cot_vmi_set_symbols(vk, link) == 0);
		T_EQ_U(vk->sym[COT_VMI_SYM_TCP_HASHINFO], s.hashinfo);
		T_CHECK(cot_vmi_btf_range(vk, &link[0], (size_t *)&link[1]) ==
			-COT_ENOENT);
	}
	syn_free(&s);
}

/* Profiles: bad offsets refused; BTF without the needed types. */
static void t_profile(void)
{
	struct cot_vmi_profile p;
	char msg[256];
	struct btf *b = btf__new_empty();
	const void *raw;
	__u32 sz;
	size_t blen;
	void *good = syn_btf(&blen);

	T_ASSERT(cot_vmi_profile_from_btf(good, blen, &p, msg, sizeof(msg)) ==
		 0);
	T_CHECK(cot_vmi_set_profile(vk, &p) == 0);
	p.skc_num = COT_VMI_PROFILE_MAX_OFF;
	T_CHECK(cot_vmi_set_profile(vk, &p) == -COT_EINVAL);
	T_ASSERT(cot_vmi_profile_from_btf(good, blen, &p, msg, sizeof(msg)) ==
		 0);
	p.ehash_chain = p.ehash_bucket_size;
	T_CHECK(cot_vmi_set_profile(vk, &p) == -COT_EINVAL);
	/* truncated and garbage BTF */
	T_CHECK(cot_vmi_profile_from_btf(good, blen / 2, &p, msg, sizeof(msg)) <
		0);
	memset((char *)good + 24, 0xee, blen - 24);
	T_CHECK(cot_vmi_profile_from_btf(good, blen, &p, msg, sizeof(msg)) < 0);
	free(good);
	/* valid BTF without sock_common */
	btf__add_int(b, "int", 4, 1);
	raw = btf__raw_data(b, &sz);
	T_CHECK(cot_vmi_profile_from_btf(raw, sz, &p, msg, sizeof(msg)) ==
		-COT_ENOENT);
	T_CHECK(strstr(msg, "sock") != NULL);
	btf__free(b);
}

static void t_diff(void)
{
	struct cot_vmi_sock a[4], b[4];
	struct evlog l = { 0 };
	uint32_t i;

	memset(a, 0, sizeof(a));
	for (i = 0; i < 4; i++) {
		a[i].family = 4;
		a[i].netns = 1;
		cot_addr_from_v4(&a[i].local, lo4);
		cot_addr_from_v4(&a[i].remote, lo4);
		a[i].lport = (uint16_t)(100 + i);
		a[i].rport = 9;
		a[i].state = COT_VMI_TCP_ESTABLISHED;
		a[i].kaddr = 1000 - i;
	}
	memcpy(b, a, sizeof(a));
	b[1].state = COT_VMI_TCP_TIME_WAIT; /* 101 changed */
	b[1].kind = COT_VMI_SK_TW;
	b[2].lport = 200; /* 102 closed, 200 opened */
	b[3].kaddr = 5;	  /* same tuple, another kernel socket: changed */
	cot_vmi_sort(a, 4);
	cot_vmi_sort(b, 4);
	T_EQ_U(cot_vmi_diff(a, 4, b, 4, on_ev, &l), 4);
	T_EQ_U(l.opened, 1);
	T_EQ_U(l.closed, 1);
	T_EQ_U(l.changed, 2);
	memset(&l, 0, sizeof(l));
	T_EQ_U(cot_vmi_diff(NULL, 0, b, 4, on_ev, &l), 4);
	T_EQ_U(l.opened, 4);
	T_EQ_U(cot_vmi_diff(b, 4, NULL, 0, NULL, NULL), 4);
	T_EQ_U(cot_vmi_diff(b, 4, b, 4, on_ev, &l), 0);
	/* sort: a reversed array comes out in order */
	for (i = 0; i < 4; i++)
		b[i] = a[3 - i];
	cot_vmi_sort(b, 4);
	for (i = 0; i < 4; i++)
		T_CHECK(cot_vmi_sock_cmp(&a[i], &b[i]) == 0);
	T_EQ_S(cot_vmi_state_name(COT_VMI_TCP_NEW_SYN_RECV), "NEW_SYN_RECV");
	T_EQ_S(cot_vmi_state_name(0), "?");
	T_EQ_S(cot_vmi_state_name(200), "?");
}

static int vrd(void *ctx, uint64_t va, void *buf, size_t len)
{
	return cot_vmi_read_va(ctx, va, buf, len);
}

/* Introsort: random, all-equal and sorted inputs; a permutation. */
static void t_sort(void)
{
	static struct cot_vmi_sock v[5000];
	uint32_t n = 5000, i, round;
	uint64_t sum, sum2;

	for (round = 0; round < 3; round++) {
		srand(round + 1);
		sum = 0;
		memset(v, 0, sizeof(v));
		for (i = 0; i < n; i++) {
			v[i].family = 4;
			v[i].lport = round == 1 ? 7 : (uint16_t)(rand() % 50);
			v[i].state = (uint8_t)(1 + rand() % 3);
			v[i].kaddr = round == 2 ? i : (uint64_t)rand();
			sum += v[i].kaddr * 3 + v[i].lport;
		}
		cot_vmi_sort(v, n);
		if (round == 2)
			cot_vmi_sort(v, n); /* already sorted */
		sum2 = 0;
		for (i = 0; i < n; i++) {
			sum2 += v[i].kaddr * 3 + v[i].lport;
			if (i && cot_vmi_sock_cmp(&v[i - 1], &v[i]) > 0) {
				printf("#   round %u: out of order at %u\n",
				       round, i);
				t_failed_now = 1;
				break;
			}
		}
		T_EQ_U(sum, sum2);
	}
}

/* kallsyms decoder directly: a table with the wanted names missing. */
static void t_kallsyms_missing(void)
{
	struct syn s;
	struct cot_vmi_mem m;

	syn_init(&s, 4, 0, false, 16, 8);
	syn_iface(&s, &m);
	T_ASSERT(cot_vmi_open(vk, &m) == 0);
	{
		struct cot_kallsyms ks = { 0 };
		struct cot_ksym_req rq[3] = { { .name = "init_net" },
					      { .name = "no_such_symbol" },
					      { .name = "tcp_hashinf" } };
		uint8_t v[8];

		ks.names = vk->ci.ks_names;
		ks.token_table = vk->ci.ks_token_table;
		ks.token_index = vk->ci.ks_token_index;
		ks.offsets = vk->ci.ks_offsets;
		T_ASSERT(cot_vmi_read_va(vk, vk->ci.ks_relative_base, v, 8) ==
			 0);
		ks.relative_base = cot_get_le64(v);
		ks.num_syms = vk->nsyms;
		T_EQ_U(cot_kallsyms_lookup(&ks, vrd, vk, rq, 3), 1);
		T_CHECK(rq[0].found && rq[0].addr == s.init_net &&
			rq[0].type == 'D');
		T_CHECK(!rq[1].found && !rq[2].found);
		ks.num_syms = 0;
		T_CHECK(cot_kallsyms_lookup(&ks, vrd, vk, rq, 3) ==
			-COT_EBADMSG);
	}
	syn_free(&s);
}

/* --- budgets and the resumable scan ---------------------------------- */

/* A step may pass its budget only by its first unit: for the forged
 * tables of empty buckets below, one 4 KiB read of bucket heads. */
#define ONE_READ_SLACK (4096 + 2 * COT_VMI_WALK_MAX_BYTES)

/*
 * Scan @vk to the end in steps of @mb bytes and @mw walks; checks that
 * each step's cost is what the read callback saw and within its budget
 * (max(budget, first unit)).  Returns the number of steps, 0 on error.
 */
static uint32_t scan_all(struct syn *s, struct cot_vmi_scan *sc,
			 struct cot_vmi_sock *out, uint32_t cap, uint64_t mb,
			 uint64_t mw, struct cot_vmi_stats *st)
{
	uint32_t steps = 0;
	int r;

	cot_vmi_scan_start(vk, sc, out, cap);
	/* Bound: a scan has fewer units than this; each step does one. */
	do {
		uint64_t b0 = s->rd_bytes, w0 = vk->walks;

		r = cot_vmi_scan_step(vk, sc, mb, mw, st);
		steps++;
		if (sc->step_bytes != s->rd_bytes - b0 ||
		    sc->step_walks != vk->walks - w0 ||
		    sc->step_bytes > COT_MAX(mb, sc->first_bytes) ||
		    sc->step_walks > COT_MAX(mw, sc->first_walks) ||
		    sc->first_bytes > COT_VMI_UNIT_MAX_BYTES ||
		    sc->first_walks > COT_VMI_UNIT_MAX_WALKS) {
			printf("#   step %u: %llu bytes (callback %llu, first "
			       "%llu) %llu walks (first %llu), budget "
			       "%llu/%llu\n",
			       steps, (unsigned long long)sc->step_bytes,
			       (unsigned long long)(s->rd_bytes - b0),
			       (unsigned long long)sc->first_bytes,
			       (unsigned long long)sc->step_walks,
			       (unsigned long long)sc->first_walks,
			       (unsigned long long)mb, (unsigned long long)mw);
			t_failed_now = 1;
			return 0;
		}
	} while (r == 0 && steps < 100000);
	return r == 1 ? steps : 0;
}

/* The counters that describe what was found (not what it cost). */
static void same_findings(const struct cot_vmi_stats *a,
			  const struct cot_vmi_stats *b)
{
	T_EQ_U(a->nets, b->nets);
	T_EQ_U(a->tables, b->tables);
	T_EQ_U(a->buckets, b->buckets);
	T_EQ_U(a->sockets, b->sockets);
	T_EQ_U(a->rewalks, b->rewalks);
	T_EQ_U(a->err_read, b->err_read);
	T_EQ_U(a->err_loop, b->err_loop);
	T_EQ_U(a->err_long, b->err_long);
	T_EQ_U(a->err_family, b->err_family);
	T_EQ_U(a->err_table, b->err_table);
	T_EQ_U(a->err_net, b->err_net);
	T_EQ_U(a->truncated, b->truncated);
	T_EQ_U(a->err_budget, b->err_budget);
}

/*
 * (a) An honest guest scanned in many small steps gives exactly the
 * snapshot of one unlimited scan: same sockets in the same order (pos
 * included), same counters; budgets down to 0 bytes (one unit per
 * step) and below one chain (bucket 33 holds 40 sockets, ~3 KiB).
 */
static void t_scan_resume(void)
{
	static const uint64_t mbs[] = { 0,    1,    100,   1000,
					3000, 5000, 65536, UINT64_MAX };
	static const uint64_t mws[] = { 0, 1, 3, UINT64_MAX };
	static struct cot_vmi_sock ref[512], got[512];
	struct cot_vmi_stats rst, st;
	struct cot_vmi_scan sc;
	struct expect e;
	struct syn s;
	uint32_t nref, i, j, m;

	syn_init(&s, 5, 0, false, 64, 8);
	populate(&s, &e);
	srand(3);
	for (i = 0; i < 200; i++) {
		uint8_t a[4] = { 10, 1, (uint8_t)(i >> 8), (uint8_t)i };

		syn_sock(&s, s.init_net, i < 40 ? 33 : (uint32_t)rand() % 64,
			 i % 3 ? COT_VMI_TCP_ESTABLISHED
			       : COT_VMI_TCP_TIME_WAIT,
			 COT_VMI_TCP_TIME_WAIT, 4, ten1, 443, a,
			 (uint16_t)(20000 + i));
	}
	T_ASSERT(open_syn(&s) == 0);
	T_ASSERT(cot_vmi_snapshot(vk, ref, 512, &nref, &rst) == 0);
	T_EQ_U(nref, e.n + 200);
	T_EQ_U(rst.err_budget, 0);
	T_EQ_U(rst.cuts, 0);
	T_EQ_U(rst.steps, 1);
	printf("# honest: %u sockets, %llu buckets: %llu bytes, %llu walks\n",
	       nref, (unsigned long long)rst.buckets,
	       (unsigned long long)rst.bytes_read,
	       (unsigned long long)rst.walks);
	for (i = 0; i < COT_ARRAY_SIZE(mbs); i++) {
		for (j = 0; j < COT_ARRAY_SIZE(mws); j++) {
			uint32_t steps;

			memset(got, 0xa5, sizeof(got));
			steps = scan_all(&s, &sc, got, 512, mbs[i], mws[j],
					 &st);
			if (!steps) {
				printf("#   budget %llu/%llu: no end\n",
				       (unsigned long long)mbs[i],
				       (unsigned long long)mws[j]);
				t_failed_now = 1;
				continue;
			}
			T_EQ_U(sc.n, nref);
			for (m = 0; m < nref && m < sc.n; m++)
				if (cot_vmi_sock_cmp(&got[m], &ref[m]) ||
				    got[m].kaddr != ref[m].kaddr) {
					printf("#   budget %llu/%llu: socket "
					       "%u "
					       "differs\n",
					       (unsigned long long)mbs[i],
					       (unsigned long long)mws[j], m);
					t_failed_now = 1;
					break;
				}
			same_findings(&st, &rst);
			T_EQ_U(st.steps, steps);
			T_EQ_U(st.cuts, steps - 1);
			T_CHECK(st.bytes_read >= rst.bytes_read);
			/* a tiny budget takes many steps, a big one one */
			if ((mbs[i] <= 100 && steps <= 64) ||
			    (mbs[i] == 1000 && steps < rst.bytes_read / 1000)) {
				printf("#   budget %llu/%llu: %u steps\n",
				       (unsigned long long)mbs[i],
				       (unsigned long long)mws[j], steps);
				t_failed_now = 1;
			}
			if (mbs[i] == UINT64_MAX && mws[j] == UINT64_MAX)
				T_EQ_U(steps, 1);
			/* a finished scan stays finished */
			T_EQ_U(cot_vmi_scan_step(vk, &sc, 0, 0, &st), 1);
			T_EQ_U(sc.n, nref);
		}
	}
	/* the chain of 40 (~3 KiB) is more than a 1000-byte budget: it is
	 * cut, then walked in full as the first unit of the next step */
	T_ASSERT(scan_all(&s, &sc, got, 512, 1000, UINT64_MAX, &st) > 0);
	T_CHECK(st.cuts > 0);
	/* start with bad arguments: the error on every step */
	cot_vmi_scan_start(vk, &sc, NULL, 5);
	T_CHECK(cot_vmi_scan_step(vk, &sc, 1, 1, &st) == -COT_EINVAL);
	T_CHECK(cot_vmi_scan_step(vk, &sc, 1, 1, &st) == -COT_EINVAL);
	syn_free(&s);
}

/*
 * (b) A forged kernel: 32 namespaces with an ehash of 2^24 buckets each
 * (2^29 buckets, aliased onto one 2 MiB page).  Each step reads at most
 * its budget plus one 4 KiB read, the scan does not complete in K
 * steps, every step is counted as cut; with no budget the scan still
 * ends, at COT_VMI_MAX_SCAN_BUCKETS; cot_vmi_snapshot() stops at its
 * default budget.
 */
static void t_scan_forged_tables(void)
{
	static struct cot_vmi_sock out[64];
	const uint64_t mb = 65536, mw = 64;
	const uint32_t K = 300;
	struct cot_vmi_stats st;
	struct cot_vmi_scan sc;
	struct syn s;
	uint64_t b0, worst = 0;
	uint32_t i, n;
	int r = 0;

	syn_init(&s, 4, 0, false, 16, 8);
	syn_forge_tables(&s, 32, COT_VMI_MAX_BUCKETS);
	T_ASSERT(open_syn(&s) == 0);
	cot_vmi_scan_start(vk, &sc, out, 64);
	for (i = 0; i < K; i++) {
		b0 = s.rd_bytes;
		r = cot_vmi_scan_step(vk, &sc, mb, mw, &st);
		if (r != 0)
			break;
		T_EQ_U(sc.step_bytes, s.rd_bytes - b0);
		if (sc.step_bytes > mb + ONE_READ_SLACK ||
		    sc.step_walks > mw + 2) {
			printf("#   step %u: %llu bytes, %llu walks\n", i,
			       (unsigned long long)sc.step_bytes,
			       (unsigned long long)sc.step_walks);
			t_failed_now = 1;
		}
		worst = COT_MAX(worst, sc.step_bytes);
	}
	T_EQ_U(r, 0);
	T_EQ_U(st.tables, 33);
	T_EQ_U(st.steps, K);
	T_EQ_U(st.cuts, K);
	T_CHECK(st.buckets < COT_VMI_MAX_SCAN_BUCKETS);
	T_CHECK(st.bytes_read <= (uint64_t)K * (mb + ONE_READ_SLACK));
	printf("# forged: %u steps of %llu bytes: %llu buckets, worst step "
	       "%llu bytes\n",
	       K, (unsigned long long)mb, (unsigned long long)st.buckets,
	       (unsigned long long)worst);
	/* without a budget, the scan's own bound ends it */
	for (i = 0; i < 64 && r == 0; i++)
		r = cot_vmi_scan_step(vk, &sc, UINT64_MAX, UINT64_MAX, &st);
	T_EQ_U(r, 1);
	T_EQ_U(st.err_budget, 1);
	T_EQ_U(st.buckets, COT_VMI_MAX_SCAN_BUCKETS);
	/* one snapshot: the default budget, not gigabytes */
	b0 = s.rd_bytes;
	T_ASSERT(cot_vmi_snapshot(vk, out, 64, &n, &st) == 0);
	T_EQ_U(st.err_budget, 1);
	T_EQ_U(st.cuts, 1);
	T_EQ_U(st.bytes_read, s.rd_bytes - b0);
	T_CHECK(st.bytes_read <= COT_VMI_DEFAULT_SCAN_BYTES);
	T_CHECK(st.bytes_read > COT_VMI_DEFAULT_SCAN_BYTES - ONE_READ_SLACK);
	syn_free(&s);
}

/*
 * (c) A cycle of 1000 sockets (Brent's check finds it after about 2000
 * nodes, 150 KiB) next to honest sockets, scanned with 1000-byte steps:
 * bounded, counted once in err_loop (cut attempts are undone), no hang,
 * the honest sockets all there.
 */
static void t_scan_cycle(void)
{
	static struct cot_vmi_sock out[2048], ref[2048];
	struct cot_vmi_stats st, rst;
	struct cot_vmi_scan sc;
	struct syn s;
	uint64_t first = 0, last = 0;
	uint32_t i, steps, nref, good = 0;

	syn_init(&s, 4, 1, false, 16, 8);
	for (i = 0; i < 1000; i++) {
		uint64_t sk = syn_sock(&s, s.init_net, 4, 1, 0, 4, lo4,
				       (uint16_t)i, lo4, 1);

		if (!i)
			last = sk; /* pushed first: the end of the chain */
		first = sk;
	}
	syn_w64(&s, last + SYN_SK_NULLS, first + SYN_SK_NULLS);
	for (i = 0; i < 8; i++)
		syn_sock(&s, s.init_net, 5 + i, COT_VMI_TCP_ESTABLISHED, 0, 4,
			 ten1, 80, ten2, (uint16_t)(30000 + i));
	T_ASSERT(open_syn(&s) == 0);
	T_ASSERT(cot_vmi_snapshot(vk, ref, 2048, &nref, &rst) == 0);
	T_EQ_U(rst.err_loop, 1);
	steps = scan_all(&s, &sc, out, 2048, 1000, UINT64_MAX, &st);
	T_ASSERT(steps > 0);
	T_EQ_U(st.err_loop, 1);
	T_EQ_U(sc.n, nref);
	same_findings(&st, &rst);
	for (i = 0; i < sc.n; i++)
		good += out[i].rport >= 30000 && out[i].rport < 30008;
	T_EQ_U(good, 8);
	/* the cycle's unit: about 2000 nodes, far below the unit bound */
	T_CHECK(st.cuts >= 1);
	T_CHECK(st.bytes_read < 2 * rst.bytes_read + (uint64_t)steps * 8192);
	printf("# cycle of 1000: %u steps, %llu bytes (one snapshot %llu)\n",
	       steps, (unsigned long long)st.bytes_read,
	       (unsigned long long)rst.bytes_read);
	syn_free(&s);
}

/*
 * (d2) The lookahead prefetch (walk.c's prefetch_ahead(), run when the
 * memory gives a prefetch hint) changes what a scan costs, never what it
 * finds: the same snapshot and findings with and without it, whole and
 * in steps down to budget 0, on a guest with long chains, a cycle and a
 * chain into unreadable memory; every hint names RAM (a node it read).
 */
static uint64_t pf_calls, pf_outside;

static void syn_prefetch(void *ctx, uint64_t gpa)
{
	const struct syn *s = ctx;

	pf_calls++;
	if (gpa >= s->size)
		pf_outside++;
}

static void t_scan_prefetch(void)
{
	static const uint64_t mbs[] = { 0, 1000, 5000, 65536, UINT64_MAX };
	static struct cot_vmi_sock ref[1024], got[1024];
	struct cot_vmi_stats rst, st;
	struct cot_vmi_scan sc;
	struct expect e;
	uint64_t first = 0, last = 0, sk;
	struct syn s;
	uint32_t nref, n, i, m;

	syn_init(&s, 5, 0, false, 64, 8);
	populate(&s, &e);
	srand(5);
	for (i = 0; i < 300; i++) {
		uint8_t a[4] = { 10, 2, (uint8_t)(i >> 8), (uint8_t)i };

		syn_sock(&s, s.init_net, i < 40 ? 33 : (uint32_t)rand() % 60,
			 COT_VMI_TCP_ESTABLISHED, 0, 4, ten1, 443, a,
			 (uint16_t)(20000 + i));
	}
	for (i = 0; i < 50; i++) { /* bucket 61: a cycle of 50 */
		sk = syn_sock(&s, s.init_net, 61, COT_VMI_TCP_ESTABLISHED, 0, 4,
			      lo4, (uint16_t)(1000 + i), lo4, 1);
		if (!i)
			last = sk;
		first = sk;
	}
	syn_w64(&s, last + SYN_SK_NULLS, first + SYN_SK_NULLS);
	/* bucket 62: a chain whose second node lies past the RAM */
	sk = syn_sock(&s, s.init_net, 62, COT_VMI_TCP_ESTABLISHED, 0, 4, lo4, 7,
		      lo4, 8);
	syn_w64(&s, sk + SYN_SK_NULLS, s.page_offset + s.size + 4096);
	T_ASSERT(open_syn(&s) == 0);
	T_ASSERT(vk->mem.prefetch == NULL);
	T_ASSERT(cot_vmi_snapshot(vk, ref, 1024, &nref, &rst) == 0);
	T_EQ_U(rst.err_loop, 1);
	T_CHECK(rst.err_read >= 1);
	vk->mem.prefetch = syn_prefetch;
	pf_calls = pf_outside = 0;
	T_ASSERT(cot_vmi_snapshot(vk, got, 1024, &n, &st) == 0);
	T_EQ_U(n, nref);
	same_findings(&st, &rst);
	for (m = 0; m < n; m++)
		if (cot_vmi_sock_cmp(&got[m], &ref[m]) ||
		    got[m].kaddr != ref[m].kaddr) {
			printf("#   prefetch: socket %u differs\n", m);
			t_failed_now = 1;
			break;
		}
	/* the heads, and the 40-chain and the cycle to AHEAD_DEPTH */
	T_CHECK(pf_calls > 60);
	T_EQ_U(pf_outside, 0);
	/* the lookahead's reads are counted: more than without it */
	T_CHECK(st.bytes_read > rst.bytes_read);
	printf("# prefetch: %u sockets, %llu hints, %llu bytes (%llu "
	       "without)\n",
	       n, (unsigned long long)pf_calls,
	       (unsigned long long)st.bytes_read,
	       (unsigned long long)rst.bytes_read);
	for (i = 0; i < COT_ARRAY_SIZE(mbs); i++) {
		uint32_t steps;

		memset(got, 0xa5, sizeof(got));
		steps = scan_all(&s, &sc, got, 1024, mbs[i], UINT64_MAX, &st);
		T_ASSERT(steps > 0);
		T_EQ_U(sc.n, nref);
		same_findings(&st, &rst);
		for (m = 0; m < nref && m < sc.n; m++)
			if (cot_vmi_sock_cmp(&got[m], &ref[m]) ||
			    got[m].kaddr != ref[m].kaddr) {
				printf("#   prefetch, budget %llu: socket %u "
				       "differs\n",
				       (unsigned long long)mbs[i], m);
				t_failed_now = 1;
				break;
			}
	}
	T_EQ_U(pf_outside, 0);
	vk->mem.prefetch = NULL;
	syn_free(&s);
}

/*
 * (e) The counting is exact: what the read path says it read is what
 * the read callback was asked for, in discovery, snapshots, steps and
 * reads by the host.
 */
static void t_read_counting(void)
{
	static struct cot_vmi_sock out[64];
	struct cot_vmi_stats st;
	struct cot_vmi_scan sc;
	struct cot_vmi_mem m;
	struct expect e;
	struct syn s;
	uint64_t b0, w0, va;
	uint8_t buf[9000];
	uint32_t n;
	size_t len;

	syn_init(&s, 5, 0, true, 16, 8);
	populate(&s, &e);
	syn_iface(&s, &m);
	T_ASSERT(cot_vmi_open(vk, &m) == 0);
	T_EQ_U(vk->bytes_read, s.rd_bytes);
	T_EQ_U(vk->refused, 0);
	printf("# open: %llu bytes in %llu reads, %llu walks (RAM %zu)\n",
	       (unsigned long long)vk->bytes_read,
	       (unsigned long long)s.rd_calls, (unsigned long long)vk->walks,
	       s.size);
	T_ASSERT(cot_vmi_btf_range(vk, &va, &len) == 0);
	b0 = s.rd_bytes;
	T_ASSERT(cot_vmi_read_va(vk, va, buf, sizeof(buf)) == 0);
	T_EQ_U(vk->bytes_read, s.rd_bytes);
	T_CHECK(s.rd_bytes - b0 >= sizeof(buf));
	s.rd_bytes = 0; /* k->bytes_read counts from cot_vmi_open() */
	T_ASSERT(open_syn(&s) == 0);
	T_EQ_U(vk->bytes_read, s.rd_bytes);
	b0 = s.rd_bytes;
	w0 = vk->walks;
	T_ASSERT(cot_vmi_snapshot(vk, out, 64, &n, &st) == 0);
	T_EQ_U(st.bytes_read, s.rd_bytes - b0);
	T_EQ_U(st.walks, vk->walks - w0);
	T_CHECK(st.walks > 0);
	T_EQ_U(vk->bytes_read, s.rd_bytes);
	b0 = s.rd_bytes;
	w0 = vk->walks;
	T_ASSERT(scan_all(&s, &sc, out, 64, 200, 2, &st) > 1);
	T_EQ_U(st.bytes_read, s.rd_bytes - b0);
	T_EQ_U(st.walks, vk->walks - w0);
	/* outside a scan nothing is refused */
	T_ASSERT(cot_vmi_read_va(vk, va, buf, sizeof(buf)) == 0);
	T_EQ_U(vk->bytes_read, s.rd_bytes);
	syn_free(&s);
}

/* A flat piece of kernel memory for the kallsyms decoder, counted;
 * [inf, inf + 2^40) reads as endless 0xff bytes. */
struct kmem {
	uint64_t base, inf;
	uint8_t *p;
	size_t n;
	uint64_t bytes, calls;
};

static int kmem_rd(void *ctx, uint64_t va, void *buf, size_t len)
{
	struct kmem *m = ctx;

	m->bytes += len;
	m->calls++;
	if (m->inf && va >= m->inf && va - m->inf < (1ull << 40)) {
		memset(buf, 0xff, len);
		return 0;
	}
	if (va < m->base || va - m->base > m->n || len > m->n - (va - m->base))
		return -COT_EFAULT;
	memcpy(buf, m->p + (va - m->base), len);
	return 0;
}

/*
 * (d) kallsyms against forged tables: endless names of 32767 tokens of
 * 255 characters each stop at COT_KALLSYMS_MAX_NAMES (bytes asked below
 * COT_KALLSYMS_MAX_READ, no hang); long names are cut and the decoder
 * stays in step with the table, so a symbol after them is found; a
 * name one character longer or shorter than a wanted one does not
 * match it.
 */
static void t_kallsyms_bounds(void)
{
	static uint8_t mem[1 << 16];
	struct kmem m = { .base = 0xffffffff81000000ull,
			  .p = mem,
			  .n = sizeof(mem) };
	struct cot_kallsyms ks = { 0 };
	struct cot_ksym_req rq[2] = { { .name = "init_net" },
				      { .name = "tcp_hashinfo" } };
	uint32_t nl = 0, i, t;
	uint8_t *names = mem + 8192, *tt = mem + 1024;
	int r;

	/* token index (u16[256]) at 0: token t at 2 * t; tokens 'a'..: one
	 * character each but token 0xfe, 250 'z's */
	for (t = 0; t < 256; t++) {
		cot_put_le16(mem + 2 * t, (uint16_t)(2 * t));
		tt[2 * t] = (uint8_t)t;
		tt[2 * t + 1] = 0;
	}
	cot_put_le16(mem + 2 * 0xfe, 600);
	memset(tt + 600, 'z', 250);
	tt[850] = 0;
	ks.token_index = m.base;
	ks.token_table = m.base + 1024;
	ks.names = m.base + 8192;
	ks.offsets = m.base + 32768;
	ks.relative_base = 0xffffffff82000000ull;
#define NAME(str)                                                              \
	do {                                                                   \
		const char *n_ = (str);                                        \
		names[nl++] = (uint8_t)strlen(n_);                             \
		memcpy(names + nl, n_, strlen(n_));                            \
		nl += (uint32_t)strlen(n_);                                    \
	} while (0)
	/* 0: 200 tokens of 250 characters (two length bytes) */
	names[nl++] = 0x80 | (200 & 0x7f);
	names[nl++] = 200 >> 7;
	memset(names + nl, 0xfe, 200);
	nl += 200;
	NAME("Dinit_netX");    /* 1: one longer */
	NAME("Dinit_ne");      /* 2: one shorter */
	NAME("Dinit_net");     /* 3: the one */
	NAME("Dtcp_hashinfo"); /* 4 */
#undef NAME
	for (i = 0; i < 5; i++)
		cot_put_le32(mem + 32768 + 4 * i, 0x100 * i);
	ks.num_syms = 5;
	r = cot_kallsyms_lookup(&ks, kmem_rd, &m, rq, 2);
	T_EQ_U(r, 2);
	T_CHECK(rq[0].found && rq[0].addr == ks.relative_base + 0x300);
	T_CHECK(rq[1].found && rq[1].addr == ks.relative_base + 0x400);
	T_CHECK(m.bytes < 512 + 4096 + 2 * 4096 + 16);

	/* endless: every name 32767 tokens of 255 characters, 2^22 of
	 * them; the one-token table makes every token the same */
	memset(mem, 0, 512);
	memset(tt, 'a', 4096 - 1024);
	m.inf = ks.names = 0xffffffffa0000000ull;
	m.bytes = m.calls = 0;
	ks.num_syms = COT_KALLSYMS_MAX_SYMS;
	r = cot_kallsyms_lookup(&ks, kmem_rd, &m, rq, 2);
	T_EQ_U(r, -COT_EBADMSG);
	T_CHECK(!rq[0].found && !rq[1].found);
	T_CHECK(m.bytes <= COT_KALLSYMS_MAX_READ);
	T_CHECK(m.bytes >= COT_KALLSYMS_MAX_NAMES);
	printf("# endless kallsyms: %llu bytes in %llu reads (bound %llu)\n",
	       (unsigned long long)m.bytes, (unsigned long long)m.calls,
	       (unsigned long long)COT_KALLSYMS_MAX_READ);
}

/*
 * Discovery against a forged kernel: five copies of a VMCOREINFO whose
 * kallsyms_names point at 64 MiB of 0xff (aliased pages) and whose
 * num_syms is the most accepted.  Each candidate decodes up to
 * COT_KALLSYMS_MAX_NAMES; together they stop at COT_VMI_OPEN_MAX_BYTES:
 * the attach attempt costs a stated amount, is counted, and fails.
 */
static void t_open_budget(void)
{
	struct cot_vmi_mem m;
	struct syn s;
	uint64_t pa, names = 0, pages, bound;
	char *t, *v, hex[17];
	int i;

	syn_init(&s, 4, 0, false, 16, 8);
	pa = syn_heap(&s, 2u << 20, 2u << 20);
	memset(s.mem + pa, 0xff, 2u << 20);
	names = syn_vmalloc(&s);
	syn_alias(&s, names, pa, 64ull << 20);
	syn_iface(&s, &m);
	T_ASSERT(cot_vmi_open(vk, &m) == 0);
	syn_w32(&s, vk->ci.ks_num_syms, COT_KALLSYMS_MAX_SYMS);
	t = (char *)s.mem + s.vmci_pa;
	v = strstr(t, "SYMBOL(kallsyms_names)=") + 23;
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)names);
	T_ASSERT(strchr(v, '\n') - v == 16);
	memcpy(v, hex, 16);
	for (i = 1; i <= 4; i++)
		memcpy(s.mem + syn_heap(&s, 4096, 4096), t, 4096);
	s.rd_bytes = 0;
	T_CHECK(cot_vmi_open(vk, &m) == -COT_EPROTO);
	T_EQ_U(vk->bytes_read, s.rd_bytes);
	T_CHECK(vk->refused > 0);
	pages = s.size / 4096;
	bound = 10 * pages + COT_VMI_OPEN_MAX_BYTES;
	T_CHECK(vk->bytes_read <= bound);
	T_CHECK(vk->bytes_read > COT_VMI_OPEN_MAX_BYTES - 2 * 4096);
	printf("# forged kallsyms x5: open read %llu bytes (bound %llu)\n",
	       (unsigned long long)vk->bytes_read, (unsigned long long)bound);
	syn_free(&s);
}

/* Open a forged kernel: @want, @fail, and what it cost within bounds. */
static void open_forged(struct syn *s, const char *what, int want, uint8_t fail)
{
	struct cot_vmi_mem m;
	uint64_t bound;
	int r;

	syn_iface(s, &m);
	s->rd_bytes = 0;
	r = cot_vmi_open(vk, &m);
	/* the page scan, then one candidate: the search of the image
	 * and the decode, within the discovery budget */
	bound = 10 * (s->size / 4096) + COT_VMI_OPEN_MAX_BYTES;
	printf("# %s: open %d, ks_fail %u, %llu bytes, %llu walks\n", what, r,
	       vk->ks_fail, (unsigned long long)vk->bytes_read,
	       (unsigned long long)vk->walks);
	T_EQ_U((uint32_t)-r, (uint32_t)-want);
	T_EQ_U(vk->ks_fail, fail);
	T_EQ_U(vk->bytes_read, s->rd_bytes);
	T_CHECK(vk->bytes_read <= bound);
	T_CHECK(vk->walks <= COT_VMI_OPEN_MAX_WALKS);
}

/*
 * Forged kallsyms of each kind: wrong offsets (place-relative), broken
 * markers, a num_syms that does not fit the names, no _stext to search
 * from, a VMCOREINFO _stext that no encoding decodes to; each fails
 * with what is missing named, bounded and counted.
 */
static void t_ks_forged(void)
{
	struct syn s;
	char *t;

	syn_init_ks(&s, 5, 0, false, 16, 8, SYN_KS_PREL);
	syn_w32(&s, s.ks.stext_off, 0x1000); /* _stext elsewhere */
	open_forged(&s, "place-relative, _stext forged", -COT_EPROTO,
		    COT_VMI_KS_BAD);
	syn_free(&s);

	syn_init_ks(&s, 4, 0, true, 16, 8, SYN_KS_IMAGE);
	syn_w32(&s, s.ks.markers + 4, 0xffffff); /* not increasing */
	open_forged(&s, "image, markers forged", -COT_ENOTSUP,
		    COT_VMI_KS_NOT_FOUND);
	syn_free(&s);

	syn_init_ks(&s, 4, 0, true, 16, 8, SYN_KS_IMAGE);
	syn_w64(&s, s.ks.num, 11 + SYN_FILLER - 1); /* one short */
	open_forged(&s, "image, num_syms forged", -COT_ENOTSUP,
		    COT_VMI_KS_NOT_FOUND);
	syn_free(&s);

	syn_init_ks(&s, 5, 1, false, 16, 8, SYN_KS_IMAGE);
	t = (char *)s.mem + s.vmci_pa;
	memcpy(strstr(t, "SYMBOL(_stext)"), "SYMBOL(_stexX)", 14);
	open_forged(&s, "image, no _stext", -COT_ENOTSUP, COT_VMI_KS_NO_STEXT);
	syn_free(&s);

	syn_init_ks(&s, 5, 1, false, 16, 8, SYN_KS_IMAGE_ABS);
	syn_w64(&s, s.ks.offs + 8, SYN_IMG_VA + 8); /* _stext moved */
	open_forged(&s, "image, absolute, _stext forged", -COT_ENOTSUP,
		    COT_VMI_KS_BAD);
	syn_free(&s);
}

/*
 * cot_kallsyms_locate() on 4 MiB where every page starts with a
 * perfect token index and nothing else fits: it gives up after
 * COT_KALLSYMS_MAX_CAND places, within its stated cost; a scan longer
 * than COT_KALLSYMS_SCAN_MAX is refused.
 */
static void t_ks_locate_hostile(void)
{
	static uint8_t mem[4u << 20];
	struct kmem m = { .base = 0xffffffff81000000ull,
			  .p = mem,
			  .n = sizeof(mem) };
	struct cot_kallsyms ks;
	uint32_t pg, t;
	uint64_t bound;
	int r;

	memset(mem, 'a', sizeof(mem));
	for (pg = 0; pg < sizeof(mem) / 4096; pg++)
		for (t = 0; t < 256; t++)
			cot_put_le16(mem + pg * 4096 + 2 * t,
				     (uint16_t)(2 * t));
	r = cot_kallsyms_locate(kmem_rd, &m, m.base, sizeof(mem), &ks);
	T_EQ_U((uint32_t)-r, COT_ENOENT);
	bound = (uint64_t)COT_KALLSYMS_MAX_CAND *
		(4096 + COT_KALLSYMS_LOCATE_MAX_READ);
	printf("# locate, a token index on every page: %llu bytes in %llu "
	       "reads (bound %llu)\n",
	       (unsigned long long)m.bytes, (unsigned long long)m.calls,
	       (unsigned long long)bound);
	T_CHECK(m.bytes <= bound);
	T_CHECK(cot_kallsyms_locate(kmem_rd, &m, m.base,
				    COT_KALLSYMS_SCAN_MAX + 1ull,
				    &ks) == -COT_EINVAL);
}

/*
 * test_vmi --write-image FILE: write the synthetic guest of run_full()
 * (5-level, 2 MiB direct map) as a raw memory file for tests/vmi/cli.t,
 * plus FILE.old, the same guest as a kernel without kallsyms in
 * VMCOREINFO (Linux < 6.0), FILE.map, its System.map (link-time
 * addresses, no BTF symbols), FILE.btf, its raw BTF, FILE.img, the
 * guest with kallsyms laid out as Linux < 6.0 and not in VMCOREINFO,
 * and FILE.prel, with place-relative kallsyms (Linux >= 7.0).
 */
static int write_file(const char *path, const char *sfx, const void *p,
		      size_t n)
{
	char name[4096];
	FILE *f;
	int ok;

	snprintf(name, sizeof(name), "%s%s", path, sfx);
	f = fopen(name, "wb");
	if (!f)
		return 1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) || !ok;
}

static int write_image(const char *path)
{
	struct syn s;
	struct expect e;
	char map[512], *t;
	size_t blen;
	void *btf = syn_btf(&blen);
	int err = 0, n;

	syn_init(&s, 5, 0, true, 16, 8);
	populate(&s, &e);
	err |= write_file(path, "", s.mem, s.size);
	n = snprintf(map, sizeof(map),
		     "ffffffff81000000 T _text\n%016llx D init_net\n"
		     "%016llx D net_namespace_list\n%016llx D tcp_hashinfo\n",
		     (unsigned long long)(s.init_net - SYN_KASLR),
		     (unsigned long long)(s.nslist - SYN_KASLR),
		     (unsigned long long)(s.hashinfo - SYN_KASLR));
	err |= write_file(path, ".map", map, (size_t)n);
	err |= write_file(path, ".btf", btf, blen);
	t = (char *)s.mem + s.vmci_pa;
	memcpy(strstr(t, "SYMBOL(kallsyms_names)"), "SYMBOL(kallsyms_nameX)",
	       22);
	err |= write_file(path, ".old", s.mem, s.size);
	syn_free(&s);
	/* the same guest as Linux < 6.0 lays out kallsyms, not named in
	 * VMCOREINFO (found in the image), and as >= 7.0 (place-relative) */
	syn_init_ks(&s, 5, 0, true, 16, 8, SYN_KS_IMAGE);
	populate(&s, &e);
	err |= write_file(path, ".img", s.mem, s.size);
	syn_free(&s);
	syn_init_ks(&s, 4, 0, false, 16, 8, SYN_KS_PREL);
	populate(&s, &e);
	err |= write_file(path, ".prel", s.mem, s.size);
	syn_free(&s);
	free(btf);
	return err;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-image"))
		return write_image(argv[2]);
	vk = calloc(1, sizeof(*vk));
	T_RUN(t_vmcoreinfo_parse);
	T_RUN(t_l4_2m_relative);
	T_RUN(t_l5_2m_abs_percpu);
	T_RUN(t_l4_1g);
	T_RUN(t_l5_1g);
	T_RUN(t_ks_place_relative);
	T_RUN(t_ks_image_percpu);
	T_RUN(t_ks_image_relative);
	T_RUN(t_ks_image_absolute);
	T_RUN(t_hostile_chains);
	T_RUN(t_budget);
	T_RUN(t_hostile_discovery);
	T_RUN(t_profile);
	T_RUN(t_diff);
	T_RUN(t_sort);
	T_RUN(t_kallsyms_missing);
	T_RUN(t_scan_resume);
	T_RUN(t_scan_forged_tables);
	T_RUN(t_scan_cycle);
	T_RUN(t_scan_prefetch);
	T_RUN(t_read_counting);
	T_RUN(t_kallsyms_bounds);
	T_RUN(t_open_budget);
	T_RUN(t_ks_forged);
	T_RUN(t_ks_locate_hostile);
	free(vk);
	return t_done();
}
