// SPDX-License-Identifier: MIT
/* core/rec: record names and the binary encoding (versions 1 and 2) (see
 * rec.h). */
#include "cotrack/rec.h"
#include "cotrack/pkt.h"

static const char *const proto_names[COT_PROTO__COUNT] = {
	[COT_PROTO_OTHER] = "other", [COT_PROTO_TCP] = "tcp",
	[COT_PROTO_UDP] = "udp",     [COT_PROTO_ICMP] = "icmp",
	[COT_PROTO_ICMP6] = "icmp6",
};

static const char *const end_names[COT_END__COUNT] = {
	[COT_END_OPEN] = "open",	 [COT_END_FIN] = "fin",
	[COT_END_RST] = "rst",		 [COT_END_IDLE] = "idle",
	[COT_END_ACTIVE] = "active",	 [COT_END_GONE] = "gone",
	[COT_END_SHUTDOWN] = "shutdown",
};

static const char *const tcp_state_names[COT_TCP__COUNT] = {
	[COT_TCP_NONE] = "-",
	[COT_TCP_SYN_SENT] = "syn_sent",
	[COT_TCP_SYN_RECV] = "syn_recv",
	[COT_TCP_ESTABLISHED] = "established",
	[COT_TCP_FIN_WAIT] = "fin_wait",
	[COT_TCP_CLOSING] = "closing",
	[COT_TCP_CLOSED] = "closed",
	[COT_TCP_MIDSTREAM] = "midstream",
};

const char *cot_proto_name(unsigned int proto)
{
	return proto < COT_PROTO__COUNT ? proto_names[proto] : "?";
}

const char *cot_end_name(unsigned int end)
{
	return end < COT_END__COUNT ? end_names[end] : "?";
}

const char *cot_seen_name(unsigned int seen)
{
	switch (seen) {
	case COT_SEEN_NIC:
		return "nic";
	case COT_SEEN_VMI:
		return "vmi";
	case COT_SEEN_BOTH:
		return "both";
	}
	return "?";
}

const char *cot_tcp_state_name(unsigned int st)
{
	return st < COT_TCP__COUNT ? tcp_state_names[st] : "?";
}

int cot_rec_has_names(const struct cot_rec *r)
{
	return r->src_owner.pid || r->dst_owner.pid || r->src_name[0] ||
	       r->dst_name[0];
}

int cot_rec_has_tunnel(const struct cot_rec *r)
{
	return r->tun_type != 0 || r->inner_conns != 0;
}

static uint8_t printable(char c)
{
	uint8_t b = (uint8_t)c;

	return b >= 0x20 && b < 0x7f ? b : '?';
}

/* Length-prefixed string, at most @cap - 1 bytes of @s (stops at NUL). */
static size_t put_str(uint8_t *out, const char *s, size_t cap)
{
	size_t n;

	/* bounded by cap */
	for (n = 0; n + 1 < cap && s[n]; n++)
		out[1 + n] = printable(s[n]);
	out[0] = (uint8_t)n;
	return 1 + n;
}

static size_t put_end(uint8_t *out, const struct cot_rec_owner *o,
		      const char *name)
{
	size_t n = 4;

	cot_put_le32(out, o->pid);
	if (o->pid) {
		n += put_str(out + n, o->comm, COT_COMM_LEN);
		n += put_str(out + n, o->cgroup, COT_CGROUP_LEN);
	} else {
		out[n++] = 0;
		out[n++] = 0;
	}
	n += put_str(out + n, name, COT_DNSNAME_LEN);
	return n;
}

int cot_rec_encode(uint8_t out[static COT_REC_WIRE_MAX],
		   const struct cot_rec *r)
{
	size_t i, n;
	int v3 = cot_rec_has_tunnel(r);
	int v2 = v3 || cot_rec_has_names(r);

	out[0] = 'C';
	out[1] = 'R';
	out[2] = v3 ? 3 : v2 ? 2 : 1;
	out[3] = v2 ? 0 : COT_REC_WIRE_V1_LEN;
	cot_put_le64(out + 4, r->seq);
	/* Copy up to the NUL and pad, so stale bytes never leak out. */
	for (i = 0; i < COT_VM_NAMELEN && r->vm[i]; i++)
		out[12 + i] = (uint8_t)r->vm[i];
	for (; i < COT_VM_NAMELEN; i++)
		out[12 + i] = 0;
	out[44] = r->proto;
	out[45] = r->ipproto;
	out[46] = r->tcp_state;
	out[47] = r->end;
	out[48] = r->seen_by;
	out[49] = r->flags;
	out[50] = r->tcp_flags_fwd;
	out[51] = r->tcp_flags_rev;
	cot_put_le16(out + 52, r->sport);
	cot_put_le16(out + 54, r->dport);
	cot_memcpy(out + 56, r->src.b, 16);
	cot_memcpy(out + 72, r->dst.b, 16);
	cot_put_le64(out + 88, r->first_ns);
	cot_put_le64(out + 96, r->last_ns);
	cot_put_le64(out + 104, r->pkts_fwd);
	cot_put_le64(out + 112, r->bytes_fwd);
	cot_put_le64(out + 120, r->pkts_rev);
	cot_put_le64(out + 128, r->bytes_rev);
	cot_put_le32(out + 136, r->netns);
	if (!v2)
		return COT_REC_WIRE_V1_LEN;
	n = COT_REC_V2_FIXED;
	if (v3) {
		bool t = r->tun_type != 0;
		static const struct cot_addr zero;

		/* Without a tunnel, its fields are 0: one encoding. */
		out[142] = r->tun_type;
		cot_put_le32(out + 143, t ? r->tun_id : 0);
		cot_memcpy(out + 147, (t ? &r->tun_src : &zero)->b, 16);
		cot_memcpy(out + 163, (t ? &r->tun_dst : &zero)->b, 16);
		cot_put_le32(out + 179, r->inner_conns);
		n = COT_REC_V3_FIXED;
	}
	n += put_end(out + n, &r->src_owner, r->src_name);
	n += put_end(out + n, &r->dst_owner, r->dst_name);
	cot_put_le16(out + 140, (uint16_t)n);
	return (int)n;
}

int cot_rec_wire_len(const uint8_t *in, size_t len)
{
	size_t n;

	if (len < 4 || in[0] != 'C' || in[1] != 'R')
		return -COT_EBADMSG;
	if (in[2] == 1) {
		if (in[3] != COT_REC_WIRE_V1_LEN || len < COT_REC_WIRE_V1_LEN)
			return -COT_EBADMSG;
		return COT_REC_WIRE_V1_LEN;
	}
	if (in[2] != 2 && in[2] != 3)
		return -COT_ENOTSUP;
	if (in[3] != 0 || len < COT_REC_V2_FIXED)
		return -COT_EBADMSG;
	n = cot_get_le16(in + 140);
	if (in[2] == 2 &&
	    (n < COT_REC_V2_FIXED + 2 * 7 || n > COT_REC_WIRE_V2_MAX))
		return -COT_EBADMSG;
	if (in[2] == 3 &&
	    (n < COT_REC_V3_FIXED + 2 * 7 || n > COT_REC_WIRE_MAX))
		return -COT_EBADMSG;
	if (n > len)
		return -COT_EBADMSG;
	return (int)n;
}

/*
 * Read one length-prefixed string at in[*off] (end at @lim) into @dst
 * (@cap bytes, NUL added).  Returns 0 or -COT_EBADMSG.
 */
static int get_str(char *dst, size_t cap, const uint8_t *in, size_t *off,
		   size_t lim)
{
	size_t n, i;

	if (*off >= lim)
		return -COT_EBADMSG;
	n = in[*off];
	if (n >= cap || lim - *off - 1 < n)
		return -COT_EBADMSG;
	/* bounded by n < cap */
	for (i = 0; i < n; i++) {
		uint8_t b = in[*off + 1 + i];

		if (b < 0x20 || b >= 0x7f)
			return -COT_EBADMSG;
		dst[i] = (char)b;
	}
	dst[n] = '\0';
	*off += 1 + n;
	return 0;
}

static int get_end(struct cot_rec_owner *o, char *name, const uint8_t *in,
		   size_t *off, size_t lim)
{
	if (lim - *off < 4)
		return -COT_EBADMSG;
	o->pid = cot_get_le32(in + *off);
	*off += 4;
	if (get_str(o->comm, COT_COMM_LEN, in, off, lim) < 0 ||
	    get_str(o->cgroup, COT_CGROUP_LEN, in, off, lim) < 0 ||
	    get_str(name, COT_DNSNAME_LEN, in, off, lim) < 0)
		return -COT_EBADMSG;
	if (!o->pid && (o->comm[0] || o->cgroup[0]))
		return -COT_EBADMSG; /* no owner carries no names */
	return 0;
}

int cot_rec_decode(struct cot_rec *r, const uint8_t *in, size_t len)
{
	int n = cot_rec_wire_len(in, len);
	size_t off;

	if (n < 0)
		return n;
	if (in[44] >= COT_PROTO__COUNT || in[46] >= COT_TCP__COUNT ||
	    in[47] >= COT_END__COUNT || in[48] < COT_SEEN_NIC ||
	    in[48] > COT_SEEN_BOTH)
		return -COT_EBADMSG;
	cot_memset(r, 0, sizeof(*r));
	r->seq = cot_get_le64(in + 4);
	cot_memcpy(r->vm, in + 12, COT_VM_NAMELEN);
	r->vm[COT_VM_NAMELEN - 1] = '\0';
	r->proto = in[44];
	r->ipproto = in[45];
	r->tcp_state = in[46];
	r->end = in[47];
	r->seen_by = in[48];
	r->flags = in[49];
	r->tcp_flags_fwd = in[50];
	r->tcp_flags_rev = in[51];
	r->sport = cot_get_le16(in + 52);
	r->dport = cot_get_le16(in + 54);
	cot_memcpy(r->src.b, in + 56, 16);
	cot_memcpy(r->dst.b, in + 72, 16);
	r->first_ns = cot_get_le64(in + 88);
	r->last_ns = cot_get_le64(in + 96);
	r->pkts_fwd = cot_get_le64(in + 104);
	r->bytes_fwd = cot_get_le64(in + 112);
	r->pkts_rev = cot_get_le64(in + 120);
	r->bytes_rev = cot_get_le64(in + 128);
	r->netns = cot_get_le32(in + 136);
	if (in[2] == 1)
		return n;
	off = COT_REC_V2_FIXED;
	if (in[2] == 3) {
		static const uint8_t zero[36];

		r->tun_type = in[142];
		r->tun_id = cot_get_le32(in + 143);
		cot_memcpy(r->tun_src.b, in + 147, 16);
		cot_memcpy(r->tun_dst.b, in + 163, 16);
		r->inner_conns = cot_get_le32(in + 179);
		/* Canonical: a known type; no tunnel, no tunnel fields; and
		 * version 3 only when there is something to say. */
		if (r->tun_type >= COT_TUN__COUNT ||
		    (!r->tun_type && cot_memcmp(in + 143, zero, 36) != 0) ||
		    !cot_rec_has_tunnel(r))
			return -COT_EBADMSG;
		off = COT_REC_V3_FIXED;
	}
	if (get_end(&r->src_owner, r->src_name, in, &off, (size_t)n) < 0 ||
	    get_end(&r->dst_owner, r->dst_name, in, &off, (size_t)n) < 0 ||
	    off != (size_t)n || (in[2] == 2 && !cot_rec_has_names(r)))
		return -COT_EBADMSG;
	return n;
}
