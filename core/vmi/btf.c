// SPDX-License-Identifier: MIT
/*
 * core/vmi/btf: the socket profile (struct cot_vmi_profile) from a
 * kernel's raw BTF, without libbpf: for trackers with no libc, such as
 * BitVisor's module, which reads the blob from guest memory
 * (__start_BTF..__stop_BTF).  host/btf.c does the same with libbpf; the
 * unit test checks both give the same profile.
 *
 * The blob is hostile: the header's sections are checked against the
 * length (widened before adding), every type record's size against the
 * end of the type section, every type id against the count, every name
 * offset against the string section, and every string compare stops at
 * the section's end.  The walk over types is bounded by the section
 * length (each record is at least 12 bytes); lookups that follow type
 * ids (typedef chains, anonymous members) stop at fixed depths.
 *
 * Format: include/uapi/linux/btf.h and Documentation/bpf/btf.rst of
 * Linux: a header (magic 0xeb9f, version 1, flags, hdr_len, type_off,
 * type_len, str_off, str_len; offsets after the header), then struct
 * btf_type records {name_off, info, size_or_type}, each followed by
 * kind-specific data.  Type ids count from 1 (0 is void).
 */
#include "cotrack/vmi.h"

#define BTF_MAGIC 0xeb9f

enum {
	K_INT = 1,
	K_PTR,
	K_ARRAY,
	K_STRUCT,
	K_UNION,
	K_ENUM,
	K_FWD,
	K_TYPEDEF,
	K_VOLATILE,
	K_CONST,
	K_RESTRICT,
	K_FUNC,
	K_FUNC_PROTO,
	K_VAR,
	K_DATASEC,
	K_FLOAT,
	K_DECL_TAG,
	K_TYPE_TAG,
	K_ENUM64,
};

#define MAX_DEPTH 8  /* anonymous members followed, as host/btf.c */
#define MAX_CHAIN 32 /* typedef/const/volatile/... links followed */
#define MAX_COMP  64 /* bytes of one component of a member path */

struct btf {
	const uint8_t *types; /* type section */
	uint32_t types_len;
	const char *strs; /* string section */
	uint32_t strs_len;
	uint32_t n;    /* types, ids 1..n */
	uint32_t *off; /* off[id - 1]: offset of type id in types */
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t kind(uint32_t info)
{
	return (info >> 24) & 0x1f;
}

static uint32_t vlen(uint32_t info)
{
	return info & 0xffff;
}

/* Bytes after the 12-byte header of a type record; -1 for unknown kinds. */
static int64_t extra(uint32_t info)
{
	uint64_t v = vlen(info);

	switch (kind(info)) {
	case K_INT:
	case K_VAR:
	case K_DECL_TAG:
		return 4;
	case K_ARRAY:
		return 12;
	case K_STRUCT:
	case K_UNION:
	case K_DATASEC:
	case K_ENUM64:
		return (int64_t)(v * 12);
	case K_ENUM:
	case K_FUNC_PROTO:
		return (int64_t)(v * 8);
	case K_PTR:
	case K_FWD:
	case K_TYPEDEF:
	case K_VOLATILE:
	case K_CONST:
	case K_RESTRICT:
	case K_FUNC:
	case K_FLOAT:
	case K_TYPE_TAG:
		return 0;
	default:
		return -1;
	}
}

size_t cot_vmi_btf_memsize(size_t len)
{
	/* at most one type per 12 bytes of blob */
	return (len / 12 + 1) * sizeof(uint32_t);
}

static int btf_open(struct btf *b, const uint8_t *d, size_t len, void *mem,
		    size_t memlen)
{
	uint32_t hdr_len, type_off, type_len, str_off, str_len, pos;
	uint64_t max;

	if (len < 24 || len > COT_VMI_BTF_MAX)
		return -COT_EBADMSG;
	if ((d[0] | d[1] << 8) != BTF_MAGIC || d[2] != 1)
		return -COT_EBADMSG;
	hdr_len = le32(d + 4);
	type_off = le32(d + 8);
	type_len = le32(d + 12);
	str_off = le32(d + 16);
	str_len = le32(d + 20);
	if (hdr_len < 24 || hdr_len > len ||
	    (uint64_t)hdr_len + type_off + type_len > len ||
	    (uint64_t)hdr_len + str_off + str_len > len || str_len == 0)
		return -COT_EBADMSG;
	b->types = d + hdr_len + type_off;
	b->types_len = type_len;
	b->strs = (const char *)d + hdr_len + str_off;
	b->strs_len = str_len;
	max = memlen / sizeof(uint32_t);
	b->off = mem;
	b->n = 0;
	/* bounded by type_len: every record is at least 12 bytes */
	for (pos = 0; pos < type_len;) {
		uint64_t next;
		int64_t x;

		if (type_len - pos < 12)
			return -COT_EBADMSG;
		x = extra(le32(b->types + pos + 4));
		if (x < 0)
			return -COT_EBADMSG;
		next = (uint64_t)pos + 12 + (uint64_t)x;
		if (next > type_len)
			return -COT_EBADMSG;
		if (b->n >= max)
			return -COT_ENOSPC;
		b->off[b->n++] = pos;
		pos = (uint32_t)next;
	}
	return 0;
}

/* The record of type @id, or NULL (void, or out of range). */
static const uint8_t *type_at(const struct btf *b, uint32_t id)
{
	if (id == 0 || id > b->n)
		return NULL;
	return b->types + b->off[id - 1];
}

/* Does the string at @off equal @s?  Never reads past the section. */
static bool name_is(const struct btf *b, uint32_t off, const char *s)
{
	uint32_t i;

	if (off >= b->strs_len)
		return false;
	/* bounded by the section */
	for (i = 0; off + i < b->strs_len; i++) {
		if (b->strs[off + i] != s[i])
			return false;
		if (!s[i])
			return true;
	}
	return false;
}

static bool name_empty(const struct btf *b, uint32_t off)
{
	return off >= b->strs_len || b->strs[off] == '\0';
}

/* Skip typedef and qualifiers; 0 when the chain is too long or broken. */
static uint32_t resolve(const struct btf *b, uint32_t id)
{
	int i;

	for (i = 0; i < MAX_CHAIN; i++) {
		const uint8_t *t = type_at(b, id);

		if (!t)
			return 0;
		switch (kind(le32(t + 4))) {
		case K_TYPEDEF:
		case K_VOLATILE:
		case K_CONST:
		case K_RESTRICT:
		case K_TYPE_TAG:
			id = le32(t + 8);
			break;
		default:
			return id;
		}
	}
	return 0;
}

static uint32_t struct_by_name(const struct btf *b, const char *name)
{
	uint32_t id;

	/* bounded by the type count, itself by the blob length / 12 */
	for (id = 1; id <= b->n; id++) {
		const uint8_t *t = type_at(b, id);

		if (kind(le32(t + 4)) == K_STRUCT && name_is(b, le32(t), name))
			return id;
	}
	return 0;
}

/* Member @name of struct/union @id, looking into anonymous members. */
static int find_member(const struct btf *b, uint32_t id, const char *name,
		       int depth, uint32_t *bits, uint32_t *type)
{
	const uint8_t *t, *m;
	uint32_t info, i;

	if (depth > MAX_DEPTH)
		return -COT_ENOENT;
	t = type_at(b, resolve(b, id));
	if (!t)
		return -COT_ENOENT;
	info = le32(t + 4);
	if (kind(info) != K_STRUCT && kind(info) != K_UNION)
		return -COT_ENOENT;
	/* bounded by vlen, whose records btf_open checked lie in the blob */
	for (i = 0, m = t + 12; i < vlen(info); i++, m += 12) {
		uint32_t mname = le32(m), mtype = le32(m + 4);
		/* kind_flag: bitfield size in the top 8 bits */
		uint32_t off =
			(info >> 31) ? le32(m + 8) & 0xffffff : le32(m + 8);

		if (!name_empty(b, mname)) {
			if (name_is(b, mname, name)) {
				*bits = off;
				*type = mtype;
				return 0;
			}
			continue;
		}
		if (!find_member(b, mtype, name, depth + 1, bits, type)) {
			*bits += off;
			return 0;
		}
	}
	return -COT_ENOENT;
}

/* Byte offset of the dotted @path inside struct @sname. */
static int off_of(const struct btf *b, const char *sname, const char *path,
		  uint32_t *out, uint32_t *type)
{
	char comp[MAX_COMP];
	const char *s = path;
	uint64_t total = 0;
	uint32_t bits = 0, ty = struct_by_name(b, sname);

	if (!ty)
		return -COT_ENOENT;
	while (*s) {
		size_t n = 0;

		while (s[n] && s[n] != '.')
			n++;
		if (n >= sizeof(comp))
			return -COT_EINVAL;
		cot_memcpy(comp, s, n);
		comp[n] = '\0';
		if (find_member(b, ty, comp, 0, &bits, &ty))
			return -COT_ENOENT;
		total += bits;
		s += n;
		if (*s == '.')
			s++;
	}
	if (total % 8)
		return -COT_EINVAL; /* a bitfield */
	if (total / 8 >= COT_VMI_PROFILE_MAX_OFF)
		return -COT_ERANGE;
	*out = (uint32_t)(total / 8);
	if (type)
		*type = ty;
	return 0;
}

static int size_of(const struct btf *b, const char *sname, uint32_t *out)
{
	const uint8_t *t = type_at(b, struct_by_name(b, sname));
	uint32_t sz;

	if (!t)
		return -COT_ENOENT;
	sz = le32(t + 8);
	if (sz == 0 || sz >= COT_VMI_PROFILE_MAX_OFF)
		return -COT_EINVAL;
	*out = sz;
	return 0;
}

static bool is_ptr(const struct btf *b, uint32_t type)
{
	const uint8_t *t = type_at(b, resolve(b, type));

	return t && kind(le32(t + 4)) == K_PTR;
}

/* Optional parts: owners and volumes (host/btf.c's fill_extra()). */
static void fill_extra(const struct btf *b, struct cot_vmi_profile *p)
{
	uint32_t sa_sock, sa_inode, ino;

	if (!off_of(b, "task_struct", "tasks", &p->task_tasks, NULL) &&
	    !off_of(b, "task_struct", "tgid", &p->task_tgid, NULL) &&
	    !off_of(b, "task_struct", "comm", &p->task_comm, NULL) &&
	    !off_of(b, "task_struct", "files", &p->task_files, NULL) &&
	    !off_of(b, "task_struct", "cgroups", &p->task_cgroups, NULL) &&
	    !off_of(b, "files_struct", "fdt", &p->files_fdt, NULL) &&
	    !off_of(b, "fdtable", "max_fds", &p->fdt_max_fds, NULL) &&
	    !off_of(b, "fdtable", "fd", &p->fdt_fd, NULL) &&
	    !off_of(b, "fdtable", "open_fds", &p->fdt_open_fds, NULL) &&
	    !off_of(b, "file", "private_data", &p->file_private_data, NULL) &&
	    !off_of(b, "socket", "file", &p->socket_file, NULL) &&
	    !off_of(b, "socket", "sk", &p->socket_sk, NULL) &&
	    !off_of(b, "socket_alloc", "socket", &sa_sock, NULL) &&
	    !off_of(b, "socket_alloc", "vfs_inode", &sa_inode, NULL) &&
	    !off_of(b, "inode", "i_ino", &ino, NULL) && sa_inode >= sa_sock &&
	    (uint64_t)sa_inode - sa_sock + ino < COT_VMI_PROFILE_MAX_OFF &&
	    !off_of(b, "sock", "sk_socket", &p->sk_socket, NULL) &&
	    !off_of(b, "css_set", "dfl_cgrp", &p->css_dfl_cgrp, NULL) &&
	    !off_of(b, "cgroup", "kn", &p->cgroup_kn, NULL) &&
	    !off_of(b, "kernfs_node", "name", &p->kn_name, NULL) &&
	    (!off_of(b, "kernfs_node", "parent", &p->kn_parent, NULL) ||
	     !off_of(b, "kernfs_node", "__parent", &p->kn_parent, NULL))) {
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
	if (!off_of(b, "tcp_sock", "bytes_acked", &p->tp_bytes_acked, NULL) &&
	    !off_of(b, "tcp_sock", "bytes_received", &p->tp_bytes_received,
		    NULL) &&
	    !off_of(b, "tcp_sock", "segs_out", &p->tp_segs_out, NULL) &&
	    !off_of(b, "tcp_sock", "segs_in", &p->tp_segs_in, NULL))
		p->flags |= COT_VMI_PF_VOLUMES;
	else
		p->tp_bytes_acked = p->tp_bytes_received = p->tp_segs_out =
			p->tp_segs_in = 0;
}

/* The rules of host/btf.c's fill(), member for member. */
static int fill(const struct btf *b, struct cot_vmi_profile *p)
{
	uint32_t sk, tw, req, skn, net_ptr, ty;
	int err;

	cot_memset(p, 0, sizeof(*p));
	if ((err = off_of(b, "sock", "__sk_common", &sk, NULL)) ||
	    (err = off_of(b, "inet_timewait_sock", "__tw_common", &tw, NULL)) ||
	    (err = off_of(b, "request_sock", "__req_common", &req, NULL)))
		return err;
	if (sk != tw || tw != req)
		return -COT_EINVAL;
#define SKC(field)                                                             \
	do {                                                                   \
		if ((err = off_of(b, "sock_common", #field, &p->field, NULL))) \
			return err;                                            \
		p->field += sk;                                                \
	} while (0)
	SKC(skc_daddr);
	SKC(skc_rcv_saddr);
	SKC(skc_dport);
	SKC(skc_num);
	SKC(skc_family);
	SKC(skc_state);
	SKC(skc_nulls_node);
#undef SKC
	/* possible_net_t skc_net { struct net *net; } */
	if ((err = off_of(b, "sock_common", "skc_net", &skn, &ty)))
		return err;
	if (!is_ptr(b, ty)) {
		if (find_member(b, ty, "net", 0, &net_ptr, &ty) || net_ptr % 8)
			return -COT_ENOENT;
		skn += net_ptr / 8;
	}
	p->skc_net = skn + sk;
	if (!off_of(b, "sock_common", "skc_v6_daddr", &p->skc_v6_daddr, NULL) &&
	    !off_of(b, "sock_common", "skc_v6_rcv_saddr", &p->skc_v6_rcv_saddr,
		    NULL)) {
		p->skc_v6_daddr += sk;
		p->skc_v6_rcv_saddr += sk;
		p->flags |= COT_VMI_PF_IPV6;
	}
	if (!off_of(b, "inet_timewait_sock", "tw_substate", &p->tw_substate,
		    NULL))
		p->flags |= COT_VMI_PF_TW_SUBSTATE;
	if ((err = off_of(b, "inet_hashinfo", "ehash", &p->hi_ehash, NULL)) ||
	    (err = off_of(b, "inet_hashinfo", "ehash_mask", &p->hi_ehash_mask,
			  NULL)) ||
	    (err = off_of(b, "inet_hashinfo", "lhash2", &p->hi_lhash2, NULL)) ||
	    (err = off_of(b, "inet_hashinfo", "lhash2_mask", &p->hi_lhash2_mask,
			  NULL)) ||
	    (err = size_of(b, "inet_ehash_bucket", &p->ehash_bucket_size)) ||
	    (err = off_of(b, "inet_ehash_bucket", "chain", &p->ehash_chain,
			  NULL)) ||
	    (err = size_of(b, "inet_listen_hashbucket",
			   &p->lhash2_bucket_size)))
		return err;
	if (!off_of(b, "inet_listen_hashbucket", "nulls_head", &p->lhash2_head,
		    NULL)) {
		p->flags |= COT_VMI_PF_LHASH2_NULLS;
		p->listen_node = p->skc_nulls_node;
	} else if ((err = off_of(b, "inet_listen_hashbucket", "head",
				 &p->lhash2_head, NULL)) ||
		   (err = off_of(b, "inet_connection_sock",
				 "icsk_listen_portaddr_node", &p->listen_node,
				 NULL))) {
		return err;
	}
	if ((err = off_of(b, "net", "list", &p->net_list, NULL)) ||
	    (err = off_of(b, "net", "ns.inum", &p->net_inum, NULL)))
		return err;
	if (!off_of(b, "net", "ipv4.tcp_death_row", &p->net_death_row, &ty) &&
	    !off_of(b, "inet_timewait_death_row", "hashinfo", &p->dr_hashinfo,
		    NULL)) {
		p->flags |= COT_VMI_PF_PERNET;
		if (is_ptr(b, ty))
			p->flags |= COT_VMI_PF_DR_PTR;
	}
	fill_extra(b, p);
	return 0;
}

int cot_vmi_profile_btf(const void *data, size_t len, void *mem, size_t memlen,
			struct cot_vmi_profile *p)
{
	struct btf b;
	int err;

	if (!data || !p || !mem || ((uintptr_t)mem & 3))
		return -COT_EINVAL;
	err = btf_open(&b, data, len, mem, memlen);
	if (err)
		return err;
	return fill(&b, p);
}
