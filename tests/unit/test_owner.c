// SPDX-License-Identifier: MIT
/*
 * core/vmi/owner.c on the synthetic guest (test_vmi_synth.h, whose
 * layouts are nobody's kernel, kernfs_node's parent named __parent as
 * from Linux 6.15): processes in cgroups holding sockets, the lowest
 * tgid and its lowest fd winning, unowned TIME_WAIT, orphaned and
 * unheld sockets, the live volumes; then forged memory: a looping task
 * list, a huge fd table, a looping kernfs chain, back-pointers that do
 * not point back, a budget too small.  Under ASan+UBSan in make check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotrack/vmi.h"
#include "host/btf.h"
#include "t.h"
#include "test_vmi_synth.h"

static struct cot_vmi *vk;

static int open_syn(struct syn *s)
{
	struct cot_vmi_mem m;
	struct cot_vmi_profile p;
	size_t len, ml;
	uint64_t va;
	void *buf, *mem;
	int err;

	syn_iface(s, &m);
	err = cot_vmi_open(vk, &m);
	if (err)
		return err;
	err = cot_vmi_btf_range(vk, &va, &len);
	if (err)
		return err;
	buf = malloc(len);
	ml = cot_vmi_btf_memsize(len);
	mem = malloc(ml);
	err = cot_vmi_read_va(vk, va, buf, len);
	if (!err) /* the freestanding reader, as a TEE would */
		err = cot_vmi_profile_btf(buf, len, mem, ml, &p);
	free(buf);
	free(mem);
	return err ? err : cot_vmi_set_profile(vk, &p);
}

struct pass {
	struct cot_vmi_sock socks[64];
	struct cot_vmi_owner own[64];
	struct cot_vmi_proc procs[16];
	struct cot_vmi_cgroup cgroups[8];
	struct cot_vmi_fent files[64];
	struct cot_vmi_owners o;
	uint32_t n;
};

static void run(struct pass *p, uint64_t bytes, uint64_t walks)
{
	struct cot_vmi_stats st;

	memset(p, 0, sizeof(*p));
	T_ASSERT(cot_vmi_snapshot(vk, p->socks, 64, &p->n, &st) == 0);
	p->o.procs = p->procs;
	p->o.procs_cap = 16;
	p->o.cgroups = p->cgroups;
	p->o.cgroups_cap = 8;
	p->o.files = p->files;
	p->o.files_cap = 64;
	T_ASSERT(cot_vmi_owners(vk, &p->o, p->socks, p->n, p->own, bytes,
				walks) == 0);
}

/* Index of the socket with local port @lport (and @kind). */
static int find(const struct pass *p, uint16_t lport, uint8_t kind)
{
	uint32_t i;

	for (i = 0; i < p->n; i++)
		if (p->socks[i].lport == lport && p->socks[i].kind == kind)
			return (int)i;
	return -1;
}

static const char *cg_of(const struct pass *p, int i)
{
	const struct cot_vmi_owner *ow = &p->own[i];

	if (ow->proc >= p->o.nprocs ||
	    p->procs[ow->proc].cgroup >= p->o.ncgroups)
		return "?";
	return p->cgroups[p->procs[ow->proc].cgroup].path;
}

static const uint8_t lo4[4] = { 127, 0, 0, 1 };

static void t_owners(void)
{
	struct syn s;
	struct pass *p = calloc(1, sizeof(*p));
	uint64_t web, db, css_web, css_db, css_root, l, e1, e2, tw, orph,
		unheld, f;
	int i;

	syn_init(&s, 4, 0, false, 16, 8);
	css_root = syn_cgroup(&s, "");
	css_web = syn_cgroup(&s, "system.slice/web.service");
	css_db = syn_cgroup(&s, "db");
	l = syn_sock(&s, s.init_net, 1, COT_VMI_TCP_LISTEN, 0, 4, lo4, 80, lo4,
		     0);
	e1 = syn_sock(&s, s.init_net, 2, COT_VMI_TCP_ESTABLISHED, 0, 4, lo4, 80,
		      lo4, 5000);
	e2 = syn_sock(&s, s.init_net, 3, COT_VMI_TCP_ESTABLISHED, 0, 4, lo4,
		      5000, lo4, 80);
	tw = syn_sock(&s, s.init_net, 4, COT_VMI_TCP_TIME_WAIT, 6, 4, lo4, 81,
		      lo4, 5001);
	orph = syn_sock(&s, s.init_net, 5, COT_VMI_TCP_FIN_WAIT1, 0, 4, lo4, 82,
			lo4, 5002);
	unheld = syn_sock(&s, s.init_net, 6, COT_VMI_TCP_ESTABLISHED, 0, 4, lo4,
			  83, lo4, 5003);
	syn_volumes(&s, e1, 100001, 3333, 10, 9);
	syn_volumes(&s, e2, 3333, 100000, 8, 10);
	(void)tw;
	(void)orph; /* sk_socket NULL: closed by its process */
	syn_sockfile(&s, unheld, 777); /* a file no process holds */
	/* db (pid 400) comes first in the list but web (300) is lower:
	 * web owns what both hold; within web the lowest fd */
	db = syn_task(&s, 400, "db", css_db, 64);
	web = syn_task(&s, 300, "web", css_web, 128);
	syn_task(&s, 1, "init", css_root, 64);
	f = syn_sockfile(&s, l, 1001);
	syn_fd(&s, web, 3, f);
	f = syn_sockfile(&s, e1, 1002);
	syn_fd(&s, db, 7, f);
	syn_fd(&s, web, 100, f);
	syn_fd(&s, web, 70, f);
	f = syn_sockfile(&s, e2, 1003);
	syn_fd(&s, db, 5, f);
	T_ASSERT(open_syn(&s) == 0);
	T_CHECK(vk->prof.flags & COT_VMI_PF_OWNERS);
	T_CHECK(vk->prof.flags & COT_VMI_PF_VOLUMES);
	T_EQ_U(vk->prof.kn_parent, SYN_KN_PARENT);
	T_EQ_U(vk->prof.socket_ino, SYN_SOCKET_INO);
	T_EQ_U(vk->sym[COT_VMI_SYM_INIT_TASK], s.init_task);
	run(p, UINT64_MAX, UINT64_MAX);
	T_EQ_U(p->o.st.tasks, 3);
	T_EQ_U(p->o.st.tables, 3);
	T_EQ_U(p->o.st.fds, 5);
	T_EQ_U(p->o.st.files, 3);
	T_EQ_U(p->o.st.owned, 3);
	T_EQ_U(p->o.st.inodes, 4);
	T_EQ_U(p->o.st.volumes, 4); /* e1 e2 orph unheld */
	T_EQ_U(p->o.st.err_read + p->o.st.err_loop + p->o.st.err_long +
		       p->o.st.err_verify + p->o.st.truncated +
		       p->o.st.err_budget,
	       0);
	T_CHECK(p->o.st.bytes_read > 0 && p->o.st.walks > 0);
	i = find(p, 80, COT_VMI_SK_LISTEN);
	T_ASSERT(i >= 0);
	T_EQ_U(p->own[i].inode, 1001);
	T_EQ_U(p->procs[p->own[i].proc].pid, 300);
	T_EQ_U(p->own[i].fd, 3);
	T_EQ_S(p->procs[p->own[i].proc].comm, "web");
	T_EQ_S(cg_of(p, i), "/system.slice/web.service");
	T_CHECK(!(p->socks[i].flags & COT_VMI_SOCK_VOLUMES));
	i = find(p, 80, COT_VMI_SK_FULL);
	T_ASSERT(i >= 0);
	T_EQ_U(p->own[i].inode, 1002);
	T_EQ_U(p->procs[p->own[i].proc].pid, 300);
	T_EQ_U(p->own[i].fd, 70);
	T_CHECK(p->socks[i].flags & COT_VMI_SOCK_VOLUMES);
	T_EQ_U(p->socks[i].bytes_acked, 100001);
	T_EQ_U(p->socks[i].bytes_received, 3333);
	T_EQ_U(p->socks[i].segs_out, 10);
	T_EQ_U(p->socks[i].segs_in, 9);
	i = find(p, 5000, COT_VMI_SK_FULL);
	T_ASSERT(i >= 0);
	T_EQ_U(p->procs[p->own[i].proc].pid, 400);
	T_EQ_U(p->own[i].fd, 5);
	T_EQ_S(cg_of(p, i), "/db");
	T_EQ_U(p->socks[i].bytes_received, 100000);
	i = find(p, 81, COT_VMI_SK_TW);
	T_ASSERT(i >= 0);
	T_EQ_U(p->own[i].inode, 0);
	T_EQ_U(p->own[i].proc, UINT32_MAX);
	T_CHECK(!(p->socks[i].flags & COT_VMI_SOCK_VOLUMES));
	i = find(p, 82, COT_VMI_SK_FULL);
	T_ASSERT(i >= 0);
	T_EQ_U(p->own[i].inode, 0);
	T_EQ_U(p->own[i].proc, UINT32_MAX);
	i = find(p, 83, COT_VMI_SK_FULL);
	T_ASSERT(i >= 0);
	T_EQ_U(p->own[i].inode, 777);
	T_EQ_U(p->own[i].proc, UINT32_MAX);
	/* the root cgroup is "/" */
	T_EQ_U(p->o.ncgroups, 3);
	T_EQ_S(p->cgroups[2].path, "/");
	/* a second pass on the same memory (the map is reused by its pass
	 * number) gives the same */
	{
		struct cot_vmi_owner o0 = p->own[find(p, 80, COT_VMI_SK_FULL)];

		T_ASSERT(cot_vmi_owners(vk, &p->o, p->socks, p->n, p->own,
					UINT64_MAX, UINT64_MAX) == 0);
		i = find(p, 80, COT_VMI_SK_FULL);
		T_CHECK(memcmp(&o0, &p->own[i], sizeof(o0)) == 0);
		T_EQ_U(p->o.st.owned, 3);
	}
	/* volumes only */
	T_ASSERT(cot_vmi_owners(vk, &p->o, p->socks, p->n, NULL, UINT64_MAX,
				UINT64_MAX) == 0);
	T_EQ_U(p->o.st.volumes, 4);
	T_EQ_U(p->o.st.tasks, 0);
	T_CHECK(cot_vmi_owners(NULL, &p->o, p->socks, p->n, p->own, 1, 1) ==
		-COT_EINVAL);
	p->o.files_cap = 63;
	T_CHECK(cot_vmi_owners(vk, &p->o, p->socks, p->n, p->own, 1, 1) ==
		-COT_EINVAL);
	syn_free(&s);
	free(p);
}

static void t_owners_hostile(void)
{
	struct syn s;
	struct pass *p = calloc(1, sizeof(*p));
	uint64_t a, b, e, e2, kn, css, f, fe, sa, fdt;
	int i;

	syn_init(&s, 5, 1, false, 16, 8);
	css = syn_cgroup(&s, "x/y");
	e = syn_sock(&s, s.init_net, 2, COT_VMI_TCP_ESTABLISHED, 0, 4, lo4, 80,
		     lo4, 5000);
	e2 = syn_sock(&s, s.init_net, 3, COT_VMI_TCP_ESTABLISHED, 0, 4, lo4, 81,
		      lo4, 5001);
	a = syn_task(&s, 10, "a", css, 64);
	b = syn_task(&s, 11, "b", css, 64);
	fe = syn_sockfile(&s, e, 5);
	syn_fd(&s, a, 1, fe);
	/* e2: its socket's ->sk points elsewhere */
	f = syn_sockfile(&s, e2, 6);
	sa = cot_get_le64(syn_at(&s, e2 + SYN_SK_SOCKET));
	syn_w64(&s, sa + SYN_SOCKET_SK, e);
	syn_fd(&s, b, 2, f);
	/* b's next is a again: a loop that never reaches init_task */
	syn_w64(&s, b + SYN_TASK_TASKS, a + SYN_TASK_TASKS);
	/* the kernfs chain of x/y loops: y's parent is y */
	kn = cot_get_le64(
		syn_at(&s, cot_get_le64(syn_at(&s, css + SYN_CSS_DFL)) +
				   SYN_CGROUP_KN));
	syn_w64(&s, kn + SYN_KN_PARENT, kn);
	T_ASSERT(open_syn(&s) == 0);
	run(p, UINT64_MAX, UINT64_MAX);
	T_CHECK(p->o.st.err_loop + p->o.st.err_long >= 1);
	T_EQ_U(p->o.st.err_verify, 1);
	i = find(p, 80, COT_VMI_SK_FULL);
	T_ASSERT(i >= 0);
	T_EQ_U(p->procs[p->own[i].proc].pid, 10);
	T_CHECK(p->cgroups[0].truncated);
	i = find(p, 81, COT_VMI_SK_FULL);
	T_ASSERT(i >= 0);
	T_EQ_U(p->own[i].inode, 0);
	T_EQ_U(p->own[i].proc, UINT32_MAX);

	/* a table claiming 2^30 fds whose bitmap is unmapped; a file whose
	 * private_data is not the socket */
	syn_w64(&s, b + SYN_TASK_TASKS, s.init_task + SYN_TASK_TASKS);
	fdt = cot_get_le64(
		syn_at(&s, cot_get_le64(syn_at(&s, b + SYN_TASK_FILES)) +
				   SYN_FILES_FDT));
	syn_w32(&s, fdt + SYN_FDT_MAX_FDS, 1u << 30);
	syn_w64(&s, fdt + SYN_FDT_OPEN_FDS, 0xffffc90000000000ull);
	run(p, UINT64_MAX, UINT64_MAX);
	T_EQ_U(p->o.st.err_loop, 0);
	T_EQ_U(p->o.st.tasks, 2);
	T_CHECK(p->o.st.err_long >= 1 && p->o.st.err_read >= 1);
	T_EQ_U(p->o.st.owned, 1);
	syn_w64(&s, fe + SYN_FILE_PRIV, 0);
	run(p, UINT64_MAX, UINT64_MAX);
	T_EQ_U(p->o.st.owned, 0);
	T_EQ_U(p->o.st.err_verify, 2);
	T_EQ_U(p->own[find(p, 80, COT_VMI_SK_FULL)].inode, 5);

	/* a budget too small: the pass stops, says so, reads no more */
	run(p, 64, 2);
	T_EQ_U(p->o.st.err_budget, 1);
	T_CHECK(p->o.st.bytes_read <= 64 + 40 && p->o.st.walks <= 2);
	/* the read path has no limit after the pass */
	T_CHECK(cot_vmi_read_va(vk, s.init_task, &a, 8) == 0);
	syn_free(&s);
	free(p);
}

int main(void)
{
	vk = calloc(1, sizeof(*vk));
	T_RUN(t_owners);
	T_RUN(t_owners_hostile);
	free(vk);
	return t_done();
}
