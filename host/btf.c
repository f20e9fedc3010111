// SPDX-License-Identifier: MIT
/* Kernel profile from BTF with libbpf.  See btf.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "btf.h"

#define MAX_DEPTH 8 /* nesting of anonymous structs/unions we follow */

struct ctx {
	const struct btf *btf;
	char *msg;
	size_t msglen;
};

static int resolve(const struct btf *btf, int id)
{
	int r = btf__resolve_type(btf, (__u32)id); /* skips typedef/cv */

	return r;
}

/*
 * Find member @name in struct/union @id, looking into anonymous members.
 * On success *@bits is its bit offset and *@type its type id.
 */
static int find_member(const struct btf *btf, int id, const char *name,
		       int depth, __u32 *bits, __u32 *type)
{
	const struct btf_type *t;
	const struct btf_member *m;
	__u16 i, vlen;

	if (depth > MAX_DEPTH)
		return -ENOENT;
	id = resolve(btf, id);
	if (id < 0)
		return -ENOENT;
	t = btf__type_by_id(btf, (__u32)id);
	if (!t || (!btf_is_struct(t) && !btf_is_union(t)))
		return -ENOENT;
	m = btf_members(t);
	vlen = btf_vlen(t);
	for (i = 0; i < vlen; i++, m++) {
		const char *mn = btf__name_by_offset(btf, m->name_off);
		__u32 off = btf_member_bit_offset(t, i);

		if (mn && *mn) {
			if (strcmp(mn, name) == 0) {
				*bits = off;
				*type = m->type;
				return 0;
			}
			continue;
		}
		/* anonymous struct or union: look inside */
		if (!find_member(btf, (int)m->type, name, depth + 1, bits,
				 type)) {
			*bits += off;
			return 0;
		}
	}
	return -ENOENT;
}

static int struct_id(struct ctx *c, const char *name)
{
	int id = btf__find_by_name_kind(c->btf, name, BTF_KIND_STRUCT);

	if (id < 0)
		snprintf(c->msg, c->msglen, "BTF: no struct %s", name);
	return id;
}

/*
 * Byte offset of dotted @path ("a.b.c") inside struct @sname; the type
 * of the last member in *@type when not NULL.  Bitfields are refused.
 */
static int off_of(struct ctx *c, const char *sname, const char *path,
		  uint32_t *out, __u32 *type, bool optional)
{
	char comp[64];
	const char *s = path;
	__u32 total = 0, bits = 0, ty;
	int id = struct_id(c, sname);

	if (id < 0)
		return id;
	ty = (__u32)id;
	while (*s) {
		size_t n = strcspn(s, ".");

		if (n >= sizeof(comp))
			return -EINVAL;
		memcpy(comp, s, n);
		comp[n] = 0;
		if (find_member(c->btf, (int)ty, comp, 0, &bits, &ty)) {
			if (!optional)
				snprintf(c->msg, c->msglen,
					 "BTF: struct %s has no member %s",
					 sname, path);
			return -ENOENT;
		}
		total += bits;
		s += n;
		if (*s == '.')
			s++;
	}
	if (total % 8) {
		snprintf(c->msg, c->msglen, "BTF: %s.%s is a bitfield", sname,
			 path);
		return -EINVAL;
	}
	if (total / 8 >= COT_VMI_PROFILE_MAX_OFF) {
		snprintf(c->msg, c->msglen, "BTF: %s.%s offset too large",
			 sname, path);
		return -ERANGE;
	}
	*out = total / 8;
	if (type)
		*type = ty;
	return 0;
}

static int size_of(struct ctx *c, const char *sname, uint32_t *out)
{
	int id = struct_id(c, sname);
	__s64 sz;

	if (id < 0)
		return id;
	sz = btf__resolve_size(c->btf, (__u32)id);
	if (sz <= 0 || sz >= COT_VMI_PROFILE_MAX_OFF) {
		snprintf(c->msg, c->msglen, "BTF: bad size of struct %s",
			 sname);
		return -EINVAL;
	}
	*out = (uint32_t)sz;
	return 0;
}

static bool is_ptr(const struct btf *btf, __u32 type)
{
	int id = resolve(btf, (int)type);
	const struct btf_type *t;

	if (id < 0)
		return false;
	t = btf__type_by_id(btf, (__u32)id);
	return t && btf_is_ptr(t);
}

#define OPT(s, m, out) (!off_of(c, s, m, out, NULL, true))

/*
 * What the profile has beyond the socket walk, all optional: socket
 * owners (task list, file tables, cgroups) and tcp_sock's counters.  A
 * part with a member missing is left out (all zero, flag clear).
 */
static void fill_extra(struct ctx *c, struct cot_vmi_profile *p)
{
	uint32_t sa_sock, sa_inode, ino;

	if (OPT("task_struct", "tasks", &p->task_tasks) &&
	    OPT("task_struct", "tgid", &p->task_tgid) &&
	    OPT("task_struct", "comm", &p->task_comm) &&
	    OPT("task_struct", "files", &p->task_files) &&
	    OPT("task_struct", "cgroups", &p->task_cgroups) &&
	    OPT("files_struct", "fdt", &p->files_fdt) &&
	    OPT("fdtable", "max_fds", &p->fdt_max_fds) &&
	    OPT("fdtable", "fd", &p->fdt_fd) &&
	    OPT("fdtable", "open_fds", &p->fdt_open_fds) &&
	    OPT("file", "private_data", &p->file_private_data) &&
	    OPT("socket", "file", &p->socket_file) &&
	    OPT("socket", "sk", &p->socket_sk) &&
	    OPT("socket_alloc", "socket", &sa_sock) &&
	    OPT("socket_alloc", "vfs_inode", &sa_inode) &&
	    OPT("inode", "i_ino", &ino) && sa_inode >= sa_sock &&
	    (uint64_t)sa_inode - sa_sock + ino < COT_VMI_PROFILE_MAX_OFF &&
	    OPT("sock", "sk_socket", &p->sk_socket) &&
	    OPT("css_set", "dfl_cgrp", &p->css_dfl_cgrp) &&
	    OPT("cgroup", "kn", &p->cgroup_kn) &&
	    OPT("kernfs_node", "name", &p->kn_name) &&
	    /* Linux 6.15 renamed kernfs_node.parent to __parent (RCU) */
	    (OPT("kernfs_node", "parent", &p->kn_parent) ||
	     OPT("kernfs_node", "__parent", &p->kn_parent))) {
		p->socket_ino = sa_inode - sa_sock + ino;
		p->flags |= COT_VMI_PF_OWNERS;
	} else {
		p->task_tasks = p->task_tgid = p->task_comm = 0;
		p->task_files = p->task_cgroups = p->files_fdt = 0;
		p->fdt_max_fds = p->fdt_fd = p->fdt_open_fds = 0;
		p->file_private_data = p->socket_file = p->socket_sk = 0;
		p->socket_ino = p->sk_socket = p->css_dfl_cgrp = 0;
		p->cgroup_kn = p->kn_name = p->kn_parent = 0;
	}
	if (OPT("tcp_sock", "bytes_acked", &p->tp_bytes_acked) &&
	    OPT("tcp_sock", "bytes_received", &p->tp_bytes_received) &&
	    OPT("tcp_sock", "segs_out", &p->tp_segs_out) &&
	    OPT("tcp_sock", "segs_in", &p->tp_segs_in))
		p->flags |= COT_VMI_PF_VOLUMES;
	else
		p->tp_bytes_acked = p->tp_bytes_received = p->tp_segs_out =
			p->tp_segs_in = 0;
	if (c->msglen) /* a missing optional struct is no error */
		c->msg[0] = '\0';
}
#undef OPT

static int fill(struct ctx *c, struct cot_vmi_profile *p)
{
	uint32_t sk_common_in_sock, tw_common, req_common, skn, net_ptr;
	__u32 ty;
	int err;

	memset(p, 0, sizeof(*p));
	/* struct sock_common is at the same offset in all three socket
	 * kinds found in ehash (0 in every kernel so far). */
	if ((err = off_of(c, "sock", "__sk_common", &sk_common_in_sock, NULL,
			  false)) ||
	    (err = off_of(c, "inet_timewait_sock", "__tw_common", &tw_common,
			  NULL, false)) ||
	    (err = off_of(c, "request_sock", "__req_common", &req_common, NULL,
			  false)))
		return err;
	if (sk_common_in_sock != tw_common || tw_common != req_common) {
		snprintf(c->msg, c->msglen,
			 "BTF: sock_common at different offsets in sock (%u), "
			 "inet_timewait_sock (%u), request_sock (%u)",
			 sk_common_in_sock, tw_common, req_common);
		return -EINVAL;
	}
#define SKC(field, path)                                                       \
	do {                                                                   \
		if ((err = off_of(c, "sock_common", path, &p->field, NULL,     \
				  false)))                                     \
			return err;                                            \
		p->field += sk_common_in_sock;                                 \
	} while (0)
	SKC(skc_daddr, "skc_daddr");
	SKC(skc_rcv_saddr, "skc_rcv_saddr");
	SKC(skc_dport, "skc_dport");
	SKC(skc_num, "skc_num");
	SKC(skc_family, "skc_family");
	SKC(skc_state, "skc_state");
	SKC(skc_nulls_node, "skc_nulls_node");
#undef SKC
	/* possible_net_t skc_net { struct net *net; } (the inner member
	 * exists only with CONFIG_NET_NS). */
	if ((err = off_of(c, "sock_common", "skc_net", &skn, &ty, false)))
		return err;
	if (!is_ptr(c->btf, ty)) {
		if (find_member(c->btf, (int)ty, "net", 0, &net_ptr, &ty) ||
		    net_ptr % 8) {
			snprintf(c->msg, c->msglen,
				 "BTF: sock_common.skc_net has no net pointer");
			return -ENOENT;
		}
		skn += net_ptr / 8;
	}
	p->skc_net = skn + sk_common_in_sock;
	if (!off_of(c, "sock_common", "skc_v6_daddr", &p->skc_v6_daddr, NULL,
		    true) &&
	    !off_of(c, "sock_common", "skc_v6_rcv_saddr", &p->skc_v6_rcv_saddr,
		    NULL, true)) {
		p->skc_v6_daddr += sk_common_in_sock;
		p->skc_v6_rcv_saddr += sk_common_in_sock;
		p->flags |= COT_VMI_PF_IPV6;
	}
	if (!off_of(c, "inet_timewait_sock", "tw_substate", &p->tw_substate,
		    NULL, true))
		p->flags |= COT_VMI_PF_TW_SUBSTATE;

	if ((err = off_of(c, "inet_hashinfo", "ehash", &p->hi_ehash, NULL,
			  false)) ||
	    (err = off_of(c, "inet_hashinfo", "ehash_mask", &p->hi_ehash_mask,
			  NULL, false)) ||
	    (err = off_of(c, "inet_hashinfo", "lhash2", &p->hi_lhash2, NULL,
			  false)) ||
	    (err = off_of(c, "inet_hashinfo", "lhash2_mask", &p->hi_lhash2_mask,
			  NULL, false)) ||
	    (err = size_of(c, "inet_ehash_bucket", &p->ehash_bucket_size)) ||
	    (err = off_of(c, "inet_ehash_bucket", "chain", &p->ehash_chain,
			  NULL, false)) ||
	    (err = size_of(c, "inet_listen_hashbucket",
			   &p->lhash2_bucket_size)))
		return err;
	/* Listeners: before Linux 5.19 lhash2 chains them on
	 * icsk_listen_portaddr_node in an hlist (5.10's bucket also has a
	 * nulls_head, for the old listening_hash: not ours); 5.19 removed
	 * that node and chains them on sk_nulls_node in an hlist_nulls. */
	if (!off_of(c, "inet_connection_sock", "icsk_listen_portaddr_node",
		    &p->listen_node, NULL, true)) {
		if ((err = off_of(c, "inet_listen_hashbucket", "head",
				  &p->lhash2_head, NULL, false)))
			return err;
	} else if (!off_of(c, "inet_listen_hashbucket", "nulls_head",
			   &p->lhash2_head, NULL, true)) {
		p->flags |= COT_VMI_PF_LHASH2_NULLS;
		p->listen_node = p->skc_nulls_node;
	} else {
		snprintf(c->msg, c->msglen,
			 "BTF: neither inet_connection_sock."
			 "icsk_listen_portaddr_node (Linux < 5.19) nor "
			 "inet_listen_hashbucket.nulls_head (>= 5.19)");
		return -ENOENT;
	}

	if ((err = off_of(c, "net", "list", &p->net_list, NULL, false)) ||
	    (err = off_of(c, "net", "ns.inum", &p->net_inum, NULL, false)))
		return err;
	/* Per-netns ehash (Linux >= 6.1): net->ipv4.tcp_death_row, a
	 * struct or a pointer to one, whose hashinfo is the netns' table. */
	if (!off_of(c, "net", "ipv4.tcp_death_row", &p->net_death_row, &ty,
		    true) &&
	    !off_of(c, "inet_timewait_death_row", "hashinfo", &p->dr_hashinfo,
		    NULL, true)) {
		p->flags |= COT_VMI_PF_PERNET;
		if (is_ptr(c->btf, ty))
			p->flags |= COT_VMI_PF_DR_PTR;
	}
	fill_extra(c, p);
	return 0;
}

int cot_vmi_profile_from_btf(const void *data, size_t len,
			     struct cot_vmi_profile *p, char *msg,
			     size_t msglen)
{
	struct ctx c = { .msg = msg, .msglen = msglen };
	struct btf *btf;
	int err;

	if (len == 0 || len > COT_VMI_BTF_MAX || len > UINT32_MAX) {
		snprintf(msg, msglen, "BTF: bad size %zu", len);
		return -EINVAL;
	}
	btf = btf__new(data, (__u32)len);
	err = (int)libbpf_get_error(btf);
	if (err || !btf) {
		snprintf(msg, msglen,
			 "BTF: libbpf could not parse the blob (%s)",
			 strerror(err ? -err : EINVAL));
		return err ? err : -EINVAL;
	}
	c.btf = btf;
	err = fill(&c, p);
	btf__free(btf);
	return err;
}

int cot_vmi_profile_from_btf_file(const char *path, struct cot_vmi_profile *p,
				  char *msg, size_t msglen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long sz;
	int err;

	if (!f) {
		err = -errno;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return err;
	}
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) <= 0 ||
	    (unsigned long)sz > COT_VMI_BTF_MAX || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		snprintf(msg, msglen, "%s: not a BTF file of sane size", path);
		return -EINVAL;
	}
	buf = malloc((size_t)sz);
	if (!buf) {
		fclose(f);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		free(buf);
		fclose(f);
		snprintf(msg, msglen, "%s: short read", path);
		return -EIO;
	}
	fclose(f);
	err = cot_vmi_profile_from_btf(buf, (size_t)sz, p, msg, msglen);
	free(buf);
	return err;
}
