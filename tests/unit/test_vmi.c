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
static const uint8_t ten2[4] = { 10, 0, 0, 2 };
static const uint8_t any4[4] = { 0, 0, 0, 0 };
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

static void run_full(int levels, int dm_1g, bool neg)
{
	struct syn s;
	struct expect e;
	struct cot_vmi_sock out[64];
	struct cot_vmi_stats st;
	uint32_t n = 0;
	uint64_t pa;

	syn_init(&s, levels, dm_1g, neg, 16, 8);
	populate(&s, &e);
	T_ASSERT(open_syn(&s) == 0);
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

static void t_l4_2m_relative(void)
{
	run_full(4, 0, false);
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
	T_EQ_U(st.err_family, 2);
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

/*
 * test_vmi --write-image FILE: write the synthetic guest of run_full()
 * (5-level, 2 MiB direct map) as a raw memory file for tests/vmi/cli.t,
 * plus FILE.old, the same guest as a kernel without kallsyms in
 * VMCOREINFO (Linux < 6.0), FILE.map, its System.map (link-time
 * addresses, no BTF symbols), and FILE.btf, its raw BTF.
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
	memcpy(strstr(t, "SYMBOL(kallsyms_names)"), "SYMBOL(kallsyms_nameX)", 22);
	err |= write_file(path, ".old", s.mem, s.size);
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
	T_RUN(t_hostile_chains);
	T_RUN(t_budget);
	T_RUN(t_hostile_discovery);
	T_RUN(t_profile);
	T_RUN(t_diff);
	T_RUN(t_sort);
	T_RUN(t_kallsyms_missing);
	free(vk);
	return t_done();
}
