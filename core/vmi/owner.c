// SPDX-License-Identifier: MIT
/*
 * Socket owners and live volumes, from guest memory alone.
 *
 * Owners: the process list (init_task.tasks: thread-group leaders only,
 * as for_each_process() walks it), each process's file table
 * (files->fdt: max_fds, the open_fds bitmap, the fd array), one map
 * struct file * -> (lowest tgid, its lowest fd) per pass; then each
 * full or listening socket is joined to it through sk->sk_socket
 * (struct socket), whose ->sk must point back at the sock, and
 * socket->file, whose ->private_data must point back at the socket.
 * The inode is the socket_alloc's vfs_inode.i_ino, what
 * /proc/net/tcp prints (sock_i_ino()).  The cgroup is the task's
 * css_set->dfl_cgrp->kn, named by its kernfs parents up to the root,
 * as /proc/PID/cgroup shows it without cgroup namespaces.
 *
 * Everything is hostile: the task list is bounded (procs_cap,
 * COT_VMI_MAX_TASKS) and cycle-checked (Brent), fd tables by
 * COT_VMI_MAX_FDS, kernfs chains by COT_VMI_CGROUP_DEPTH and names by
 * COT_VMI_CGROUP_LEN, the map by its capacity (linear probing, at most
 * files_cap probes); every read goes through cot_vmi_read_va() under
 * the pass's byte and walk budget.
 */
#include "cotrack/vmi.h"
#include "internal.h"

#define NONE UINT32_MAX

struct pass {
	struct cot_vmi *k;
	struct cot_vmi_owners *o;
	struct cot_vmi_owner_stats *st;
	uint32_t last_cg; /* index of the last cgroup looked up */
};

/*
 * Read the fields at @off[0..n) (each @len[i] bytes, at most 8) of the
 * object at @va into @v[]: one read of their span when it is at most
 * SPAN bytes (fields of one struct usually are: a read costs more than
 * its bytes), else one read each.  0 or the read's error.
 */
#define SPAN 256
static int rd_fields(struct cot_vmi *k, uint64_t va, const uint32_t *off,
		     const uint8_t *len, uint64_t *v, uint32_t n)
{
	uint32_t lo = UINT32_MAX, hi = 0, i;
	uint8_t buf[SPAN];

	for (i = 0; i < n; i++) {
		lo = COT_MIN(lo, off[i]);
		hi = COT_MAX(hi, off[i] + len[i]);
	}
	if (hi - lo <= SPAN) {
		int err = cot_vmi_read_va(k, va + lo, buf, hi - lo);

		if (err)
			return err;
		for (i = 0; i < n; i++)
			v[i] = len[i] == 8 ? cot_get_le64(buf + off[i] - lo)
					   : cot_get_le32(buf + off[i] - lo);
		return 0;
	}
	for (i = 0; i < n; i++) {
		uint8_t b[8];
		int err = cot_vmi_read_va(k, va + off[i], b, len[i]);

		if (err)
			return err;
		v[i] = len[i] == 8 ? cot_get_le64(b) : cot_get_le32(b);
	}
	return 0;
}

/* A kernel pointer: canonical upper half (and not a nulls marker). */
static bool kptr(uint64_t v)
{
	return v >= 0xff00000000000000ull && !(v & 7);
}

/*
 * Read the NUL-terminated string at @va into @buf[0..cap) (cap >= 1),
 * in reads that do not cross a page so that a short string at the end
 * of a mapping is readable.  Returns its length, or -1 (unreadable or
 * longer than cap - 1).  Bound: cap bytes.
 */
static int read_str(struct cot_vmi *k, uint64_t va, char *buf, uint32_t cap)
{
	uint32_t got = 0;

	while (got < cap) {
		uint32_t chunk = 4096u - (uint32_t)((va + got) & 4095u), i;

		chunk = COT_MIN(chunk, cap - got);
		if (cot_vmi_read_va(k, va + got, buf + got, chunk))
			return -1;
		for (i = 0; i < chunk; i++)
			if (buf[got + i] == '\0')
				return (int)(got + i);
		got += chunk;
	}
	buf[cap - 1] = '\0';
	return -1;
}

/* Index of cgroup @cg in the table, added (path read) if new. */
static uint32_t cgroup_of(struct pass *p, uint64_t cg)
{
	struct cot_vmi *k = p->k;
	const struct cot_vmi_profile *pf = &k->prof;
	struct cot_vmi_owners *o = p->o;
	uint64_t chain[COT_VMI_CGROUP_DEPTH], kn, parent;
	struct cot_vmi_cgroup *c;
	uint32_t i, depth = 0, len = 0;

	if (p->last_cg < o->ncgroups && o->cgroups[p->last_cg].addr == cg)
		return p->last_cg;
	/* Bound: cgroups_cap entries. */
	for (i = 0; i < o->ncgroups; i++)
		if (o->cgroups[i].addr == cg)
			return p->last_cg = i;
	if (o->ncgroups == o->cgroups_cap) {
		p->st->truncated++;
		return NONE;
	}
	if (rd64(k, cg + pf->cgroup_kn, &kn) || !kptr(kn)) {
		p->st->err_read++;
		return NONE;
	}
	c = &o->cgroups[o->ncgroups];
	cot_memset(c, 0, sizeof(*c));
	c->addr = cg;
	/* The chain of kernfs nodes up to the root (whose parent is NULL;
	 * it has no name in the path).  Bound: COT_VMI_CGROUP_DEPTH. */
	for (;;) {
		if (rd64(k, kn + pf->kn_parent, &parent)) {
			p->st->err_read++;
			return NONE;
		}
		if (!parent)
			break;
		if (depth == COT_VMI_CGROUP_DEPTH || !kptr(parent)) {
			c->truncated = 1; /* also a loop ends here */
			break;
		}
		chain[depth++] = kn;
		kn = parent;
	}
	/* Names from the top down: "/a/b"; the root alone is "/". */
	c->path[0] = '/';
	len = 1;
	for (i = depth; i-- > 0;) {
		uint64_t name;
		int n;

		if (len + 1 >= COT_VMI_CGROUP_LEN) {
			c->truncated = 1;
			break;
		}
		if (i + 1 < depth)
			c->path[len++] = '/';
		if (rd64(k, chain[i] + pf->kn_name, &name)) {
			p->st->err_read++;
			return NONE;
		}
		n = read_str(k, name, c->path + len, COT_VMI_CGROUP_LEN - len);
		if (n < 0) {
			if (k->spent)
				return NONE;
			c->truncated = 1;
			len = COT_VMI_CGROUP_LEN - 1;
			break;
		}
		len += (uint32_t)n;
	}
	c->path[COT_MIN(len, COT_VMI_CGROUP_LEN - 1)] = '\0';
	p->st->cgroups++;
	return p->last_cg = o->ncgroups++;
}

static uint32_t fhash(uint64_t f)
{
	f ^= f >> 33;
	f *= 0xff51afd7ed558ccdull;
	f ^= f >> 33;
	return (uint32_t)f;
}

/* Slot of @file in the map: its entry, or the free slot for it, or
 * NONE when the map is full.  Bound: files_cap probes. */
static uint32_t map_slot(const struct cot_vmi_owners *o, uint64_t file)
{
	uint32_t mask = o->files_cap - 1, h = fhash(file) & mask, i;

	for (i = 0; i < o->files_cap; i++) {
		const struct cot_vmi_fent *e = &o->files[(h + i) & mask];

		if (e->gen != o->gen || e->file == file)
			return (h + i) & mask;
	}
	return NONE;
}

/* Record that process @proc holds @file as @fd; the lowest tgid (then
 * the lowest fd) wins. */
static void map_add(struct pass *p, uint64_t file, uint32_t proc, uint32_t fd)
{
	struct cot_vmi_owners *o = p->o;
	uint32_t i = map_slot(o, file);
	struct cot_vmi_fent *e;

	if (i == NONE ||
	    (o->files[i].gen != o->gen && o->nfiles + 1 >= o->files_cap)) {
		p->st->truncated++;
		return;
	}
	e = &o->files[i];
	if (e->gen != o->gen) {
		e->gen = o->gen;
		e->file = file;
		e->proc = proc;
		e->fd = fd;
		o->nfiles++;
		return;
	}
	if (o->procs[proc].pid < o->procs[e->proc].pid ||
	    (o->procs[proc].pid == o->procs[e->proc].pid && fd < e->fd)) {
		e->proc = proc;
		e->fd = fd;
	}
}

/* The open fds of file table @files, into the map as process @proc's.
 * Bound: COT_VMI_MAX_FDS fds (bitmap words read in 512-byte chunks). */
static void walk_files(struct pass *p, uint64_t files, uint32_t proc)
{
	struct cot_vmi *k = p->k;
	const struct cot_vmi_profile *pf = &k->prof;
	uint64_t fdt, fdarr, bits, words[64], ptrs[64];
	uint32_t max_fds, nw, w, j;

	if (rd64(k, files + pf->files_fdt, &fdt) || !kptr(fdt) ||
	    rd32(k, fdt + pf->fdt_max_fds, &max_fds) ||
	    rd64(k, fdt + pf->fdt_fd, &fdarr) ||
	    rd64(k, fdt + pf->fdt_open_fds, &bits)) {
		p->st->err_read++;
		return;
	}
	p->st->tables++;
	if (max_fds > COT_VMI_MAX_FDS) {
		p->st->err_long++;
		max_fds = COT_VMI_MAX_FDS;
	}
	nw = (max_fds + 63) / 64;
	for (w = 0; w < nw; w += 64) {
		uint32_t cnt = COT_MIN(64u, nw - w), i;

		if (cot_vmi_read_va(k, bits + (uint64_t)w * 8, words,
				    cnt * 8)) {
			p->st->err_read++;
			return;
		}
		for (i = 0; i < cnt; i++) {
			uint64_t m = cot_get_le64((uint8_t *)&words[i]);
			uint32_t base = (w + i) * 64, pop = 0;
			uint64_t t = m;

			if (!m)
				continue;
			while (t) {
				t &= t - 1;
				pop++;
			}
			/* many fds in this word: read its 64 pointers at
			 * once; a few: one by one */
			if (pop > 8 && base + 64 <= max_fds) {
				if (cot_vmi_read_va(k,
						    fdarr + (uint64_t)base * 8,
						    ptrs, sizeof(ptrs))) {
					p->st->err_read++;
					return;
				}
			}
			for (j = 0; j < 64; j++) {
				uint64_t f;

				if (!(m >> j & 1) || base + j >= max_fds)
					continue;
				p->st->fds++;
				if (pop > 8 && base + 64 <= max_fds)
					f = cot_get_le64((uint8_t *)&ptrs[j]);
				else if (rd64(k,
					      fdarr + (uint64_t)(base + j) * 8,
					      &f)) {
					p->st->err_read++;
					return;
				}
				if (kptr(f))
					map_add(p, f, proc, base + j);
			}
		}
	}
}

/* The task list into procs[] and the map.  Bound: procs_cap and
 * COT_VMI_MAX_TASKS processes; Brent's cycle check. */
static void walk_tasks(struct pass *p)
{
	struct cot_vmi *k = p->k;
	const struct cot_vmi_profile *pf = &k->prof;
	struct cot_vmi_owners *o = p->o;
	uint64_t head = k->sym[COT_VMI_SYM_INIT_TASK] + pf->task_tasks;
	uint64_t pos, tort;
	uint32_t power = 1, lam = 0, cnt = 0;

	if (rd64(k, head, &pos)) {
		p->st->err_read++;
		return;
	}
	tort = pos;
	while (pos != head) {
		uint64_t task = pos - pf->task_tasks, files, css, cg, next;
		struct cot_vmi_proc *pr;
		uint32_t tgid;

		if (!kptr(pos) || k->spent) {
			p->st->err_read += !k->spent;
			return;
		}
		if (++cnt > COT_VMI_MAX_TASKS || o->nprocs == o->procs_cap) {
			p->st->err_long++;
			return;
		}
		pr = &o->procs[o->nprocs];
		if (rd64(k, pos, &next) ||
		    rd32(k, task + pf->task_tgid, &tgid) ||
		    cot_vmi_read_va(k, task + pf->task_comm, pr->comm,
				    COT_VMI_COMM_LEN) ||
		    rd64(k, task + pf->task_files, &files) ||
		    rd64(k, task + pf->task_cgroups, &css)) {
			p->st->err_read++;
			return;
		}
		pr->comm[COT_VMI_COMM_LEN - 1] = '\0';
		pr->pid = tgid;
		pr->cgroup = NONE;
		p->st->tasks++;
		if (tgid && kptr(css) &&
		    !rd64(k, css + pf->css_dfl_cgrp, &cg) && kptr(cg))
			pr->cgroup = cgroup_of(p, cg);
		if (tgid) {
			o->nprocs++;
			if (kptr(files)) /* NULL for an exiting process */
				walk_files(p, files, o->nprocs - 1);
		}
		pos = next;
		if (pos == tort) {
			p->st->err_loop++;
			return;
		}
		if (power == lam) {
			tort = pos;
			power *= 2;
			lam = 0;
		}
		lam++;
	}
}

/* The owner and inode of full or listening socket @s. */
static void join(struct pass *p, const struct cot_vmi_sock *s,
		 struct cot_vmi_owner *ow)
{
	struct cot_vmi *k = p->k;
	const struct cot_vmi_profile *pf = &k->prof;
	struct cot_vmi_owners *o = p->o;
	uint64_t sock, file, back, ino, priv;
	uint32_t i;

	if (rd64(k, s->kaddr + pf->sk_socket, &sock)) {
		p->st->err_read++;
		return;
	}
	if (!sock) /* orphaned (closed by its process) or not accepted */
		return;
	{ /* socket->sk and ->file are neighbours; the inode is further */
		const uint32_t off[2] = { pf->socket_sk, pf->socket_file };
		const uint8_t len[2] = { 8, 8 };
		uint64_t v[2];

		if (!kptr(sock) || rd_fields(k, sock, off, len, v, 2) ||
		    rd64(k, sock + pf->socket_ino, &ino)) {
			p->st->err_read++;
			return;
		}
		back = v[0];
		file = v[1];
	}
	if (back != s->kaddr) {
		p->st->err_verify++;
		return;
	}
	ow->inode = ino;
	p->st->inodes++;
	if (!kptr(file) || !o->files_cap)
		return;
	i = map_slot(o, file);
	if (i == NONE || o->files[i].gen != o->gen || o->files[i].file != file)
		return; /* held by no process we walked */
	if (rd64(k, file + pf->file_private_data, &priv)) {
		p->st->err_read++;
		return;
	}
	if (priv != sock) {
		p->st->err_verify++;
		return;
	}
	/*
	 * The pass runs after the snapshot: the sock at @s->kaddr may have
	 * been freed and reused by another connection since, whose file
	 * and process the pointers above then name.  Its ports must still
	 * be the snapshot's, read after every pointer: else no owner.
	 */
	{
		uint8_t lp[2], rp[2];

		if (cot_vmi_read_va(k, s->kaddr + pf->skc_num, lp, 2) ||
		    cot_vmi_read_va(k, s->kaddr + pf->skc_dport, rp, 2)) {
			p->st->err_read++;
			return;
		}
		if (cot_get_le16(lp) != s->lport ||
		    cot_get_be16(rp) != s->rport) {
			p->st->err_verify++;
			return;
		}
	}
	ow->proc = o->files[i].proc;
	ow->fd = o->files[i].fd;
	p->st->owned++;
}

/* tcp_sock's counters of full socket @s. */
static void volumes(struct pass *p, struct cot_vmi_sock *s)
{
	struct cot_vmi *k = p->k;
	const struct cot_vmi_profile *pf = &k->prof;
	const uint32_t off[4] = { pf->tp_bytes_acked, pf->tp_bytes_received,
				  pf->tp_segs_out, pf->tp_segs_in };
	const uint8_t len[4] = { 8, 8, 4, 4 };
	uint64_t v[4];

	/* one read: the four are within 56 bytes in Debian's 6.1 */
	if (rd_fields(k, s->kaddr, off, len, v, 4)) {
		p->st->err_read++;
		return;
	}
	s->bytes_acked = v[0];
	s->bytes_received = v[1];
	s->segs_out = (uint32_t)v[2];
	s->segs_in = (uint32_t)v[3];
	s->flags |= COT_VMI_SOCK_VOLUMES;
	p->st->volumes++;
}

int cot_vmi_owners(struct cot_vmi *k, struct cot_vmi_owners *o,
		   struct cot_vmi_sock *socks, uint32_t n,
		   struct cot_vmi_owner *own, uint64_t max_bytes,
		   uint64_t max_walks)
{
	struct pass p;
	uint64_t b0, w0;
	bool owners;
	uint32_t i;

	if (!k || !o || (!socks && n) || !k->have_profile)
		return -COT_EINVAL;
	if (own &&
	    ((o->files_cap & (o->files_cap - 1)) ||
	     (o->files_cap && !o->files) || (o->procs_cap && !o->procs) ||
	     (o->cgroups_cap && !o->cgroups)))
		return -COT_EINVAL;
	cot_memset(&o->st, 0, sizeof(o->st));
	o->nprocs = o->ncgroups = o->nfiles = 0;
	/* A new pass number frees every slot; on its wrap (once in 2^32
	 * passes) the map is cleared. */
	if (++o->gen == 0) {
		if (o->files_cap)
			cot_memset(o->files, 0,
				   (size_t)o->files_cap * sizeof(*o->files));
		o->gen = 1;
	}
	p.k = k;
	p.o = o;
	p.st = &o->st;
	p.last_cg = NONE;
	b0 = k->bytes_read;
	w0 = k->walks;
	/* Mappings may have changed since the scan (as per scan step). */
	cot_vmi__tlb_flush(k);
	cot_vmi__set_limits(k, max_bytes, max_walks);
	owners = own && (k->prof.flags & COT_VMI_PF_OWNERS) &&
		 k->sym[COT_VMI_SYM_INIT_TASK];
	/* Bound: n sockets. */
	for (i = 0; own && i < n; i++) {
		own[i].inode = 0;
		own[i].proc = NONE;
		own[i].fd = 0;
	}
	if (owners)
		walk_tasks(&p);
	for (i = 0; i < n && !k->spent; i++) {
		struct cot_vmi_sock *s = &socks[i];

		s->flags &= (uint8_t)~COT_VMI_SOCK_VOLUMES;
		if (s->kind != COT_VMI_SK_FULL && s->kind != COT_VMI_SK_LISTEN)
			continue;
		if (owners)
			join(&p, s, &own[i]);
		if ((k->prof.flags & COT_VMI_PF_VOLUMES) &&
		    s->kind == COT_VMI_SK_FULL && !k->spent)
			volumes(&p, s);
	}
	if (k->spent)
		o->st.err_budget = 1;
	o->st.files = o->nfiles;
	o->st.bytes_read = k->bytes_read - b0;
	o->st.walks = k->walks - w0;
	cot_vmi__set_limits(k, UINT64_MAX, UINT64_MAX);
	return 0;
}
