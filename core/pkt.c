// SPDX-License-Identifier: MIT
/*
 * core/pkt: one Ethernet frame into a validated view (see pkt.h).
 *
 * Two lengths bound every read.  caplen is what the buffer holds: a
 * header is read only after checking it lies below caplen, else the
 * reason is TRUNC_*.  The IP header's own length (total length, payload
 * length) is checked against wirelen and then bounds everything above
 * it; a header that does not fit in the datagram is BAD_*.  All offsets
 * are uint32_t and start below 2^16 + 2^16, so sums never wrap.
 *
 * This runs once per frame: no loops over bytes except the IPv4 option
 * walk (at most 40 bytes) and the IPv6 extension header walk (at most
 * COT_PKT_MAX_IP6_EXT headers).
 */
#include "cotrack/pkt.h"

#define ETH_HLEN       14
#define VLAN_HLEN      4
#define ETH_P_IP       0x0800
#define ETH_P_IPV6     0x86dd
#define ETH_P_8021Q    0x8100
#define ETH_P_8021AD   0x88a8
#define ETH_P_QINQ_OLD 0x9100 /* pre-802.1ad vendor outer tag */

#define ETH_P_TEB    0x6558 /* transparent Ethernet bridging */
#define ETH_P_ERSPAN 0x88be /* ERSPAN type I/II over GRE */

#define IP4_HLEN  20
#define IP6_HLEN  40
#define IP_MAXLEN 65535u /* largest (reassembled) datagram, RFC 791/8200 */

#define PROTO_HOPOPTS  0
#define PROTO_ICMP     1
#define PROTO_IPIP     4
#define PROTO_IPV6     41
#define PROTO_GRE      47
#define PROTO_TCP      6
#define PROTO_UDP      17
#define PROTO_ROUTING  43
#define PROTO_FRAGMENT 44
#define PROTO_AH       51
#define PROTO_ICMP6    58
#define PROTO_DSTOPTS  60

#define TCP_HLEN  20
#define UDP_HLEN  8
#define ICMP_HLEN 8 /* type, code, checksum, 4 bytes rest-of-header */

/*
 * The parse functions are each called from the frame's own parse and
 * from decap(): inlined into both, so that the untunneled path stays
 * one function as it was; decap() itself is out of the way.
 */
#define HOT __attribute__((always_inline)) inline

static const char *const reason_names[COT_PKT__COUNT] = {
	[COT_PKT_OK] = "ok",
	[COT_PKT_NOT_IP] = "not-ip",
	[COT_PKT_TRUNC_ETH] = "trunc-eth",
	[COT_PKT_TRUNC_VLAN] = "trunc-vlan",
	[COT_PKT_VLAN_DEPTH] = "vlan-depth",
	[COT_PKT_TRUNC_IP4] = "trunc-ip4",
	[COT_PKT_BAD_IP4] = "bad-ip4",
	[COT_PKT_BAD_IP4_OPT] = "bad-ip4-opt",
	[COT_PKT_TRUNC_IP6] = "trunc-ip6",
	[COT_PKT_BAD_IP6] = "bad-ip6",
	[COT_PKT_TRUNC_IP6_EXT] = "trunc-ip6-ext",
	[COT_PKT_IP6_EXT_DEPTH] = "ip6-ext-depth",
	[COT_PKT_BAD_IP6_EXT] = "bad-ip6-ext",
	[COT_PKT_TRUNC_L4] = "trunc-l4",
	[COT_PKT_BAD_TCP] = "bad-tcp",
	[COT_PKT_BAD_UDP] = "bad-udp",
	[COT_PKT_BAD_FRAG] = "bad-frag",
	[COT_PKT_BAD_ICMP] = "bad-icmp",
	[COT_PKT_BAD_GSO] = "bad-gso",
	[COT_PKT_TRUNC_TUN] = "trunc-tun",
	[COT_PKT_BAD_TUN] = "bad-tun",
	[COT_PKT_TUN_DEPTH] = "tun-depth",
};

static const char *const tun_names[COT_TUN__COUNT] = {
	[COT_TUN_NONE] = "",	     [COT_TUN_VXLAN] = "vxlan",
	[COT_TUN_GENEVE] = "geneve", [COT_TUN_GRE] = "gre",
	[COT_TUN_ERSPAN] = "erspan", [COT_TUN_IPIP] = "ipip",
};

const char *cot_tun_name(unsigned int type)
{
	return type < COT_TUN__COUNT ? tun_names[type] : "?";
}

void cot_pkt_cfg_default(struct cot_pkt_cfg *c)
{
	cot_memset(c, 0, sizeof(*c));
	c->decap = true;
	c->vxlan_port[0] = 4789;  /* IANA, RFC 7348 */
	c->vxlan_port[1] = 8472;  /* Linux's default, Flannel */
	c->geneve_port[0] = 6081; /* IANA, RFC 8926 */
}

static const struct cot_pkt_cfg cfg_default = {
	.decap = true,
	.vxlan_port = { 4789, 8472 },
	.geneve_port = { 6081 },
};

const char *cot_pkt_reason_name(unsigned int reason)
{
	if (reason < COT_PKT__COUNT && reason_names[reason])
		return reason_names[reason];
	return "?";
}

static inline int fail(struct cot_pkt *p, enum cot_pkt_reason r)
{
	p->reason = (uint8_t)r;
	return (int)r;
}

/*
 * RFC 791 3.1: End of Option List and No Operation are one byte; every
 * other option is type, length (counting type and length, so >= 2),
 * data, and must end within the header.  After EOL the rest is padding.
 * Bound: @n <= 40 (IHL <= 15) and every turn advances at least 1 byte.
 */
static bool ip4_opts_ok(const uint8_t *o, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		uint32_t len;

		if (o[i] == 0)
			return true;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (n - i < 2)
			return false;
		len = o[i + 1];
		if (len < 2 || len > n - i)
			return false;
		i += len;
	}
	return true;
}

static inline bool icmp_has_id(uint8_t ipver, uint8_t type)
{
	if (ipver == 4)
		/* echo reply 0, echo 8, timestamp 13/14, information 15/16,
		 * address mask 17/18 (RFC 792, RFC 950): id at bytes 4-5. */
		return type == 0 || type == 8 || (type >= 13 && type <= 18);
	/* ICMPv6 echo request 128 / reply 129 (RFC 4443 4.1, 4.2) */
	return type == 128 || type == 129;
}

/*
 * Upper-layer header at @l4, @cap bytes of it in the buffer, p->l4_len
 * bytes in the datagram (or fragment).  Sets ports and F_L4.
 */
static HOT int parse_l4(struct cot_pkt *p, const uint8_t *l4, uint32_t cap)
{
	uint32_t len = p->l4_len, need;
	enum cot_pkt_reason bad;

	switch (p->ipproto) {
	case PROTO_TCP:
		need = TCP_HLEN;
		bad = COT_PKT_BAD_TCP;
		break;
	case PROTO_UDP:
		need = UDP_HLEN;
		bad = COT_PKT_BAD_UDP;
		break;
	case PROTO_ICMP:
	case PROTO_ICMP6:
		if (p->ipproto != (p->ipver == 4 ? PROTO_ICMP : PROTO_ICMP6))
			goto noports;
		need = ICMP_HLEN;
		bad = COT_PKT_BAD_ICMP;
		break;
	default:
		goto noports;
	}
	if (len < need)
		return fail(p,
			    (p->fl & COT_PKT_F_FRAG) ? COT_PKT_BAD_FRAG : bad);
	if (cap < need)
		return fail(p, COT_PKT_TRUNC_L4);

	switch (p->ipproto) {
	case PROTO_TCP: {
		uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;

		if (doff < TCP_HLEN || doff > len)
			return fail(p, COT_PKT_BAD_TCP);
		p->sport = cot_get_be16(l4);
		p->dport = cot_get_be16(l4 + 2);
		p->tcp_seq = cot_get_be32(l4 + 4);
		p->tcp_ack = cot_get_be32(l4 + 8);
		p->tcp_flags = l4[13];
		p->tcp_hlen = doff;
		break;
	}
	case PROTO_UDP: {
		uint32_t ulen = cot_get_be16(l4 + 4);

		/* A fragment holds only part of the datagram ulen covers.
		 * ulen < len is allowed (trailing bytes are ignored, as
		 * Linux's udp_rcv trims them). */
		if (ulen < UDP_HLEN ||
		    (!(p->fl & COT_PKT_F_FRAG) && ulen > len))
			return fail(p, COT_PKT_BAD_UDP);
		p->sport = cot_get_be16(l4);
		p->dport = cot_get_be16(l4 + 2);
		break;
	}
	default: /* ICMP, ICMPv6 */
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		if (icmp_has_id(p->ipver, l4[0])) {
			p->sport = cot_get_be16(l4 + 4);
			p->dport = p->sport;
		} else {
			p->sport = l4[0];
			p->dport = l4[1];
		}
		break;
	}
noports:
	p->fl |= COT_PKT_F_L4;
	return COT_PKT_OK;
}

/* @ip: the IPv4 header; @cap bytes from it are in the buffer, @wire on
 * the wire (@wire >= @cap). */
static HOT int parse_ip4(struct cot_pkt *p, const uint8_t *ip, uint32_t cap,
			 uint32_t wire)
{
	uint32_t hl, tot, fo;

	p->ipver = 4;
	if (cap < IP4_HLEN)
		return fail(p, COT_PKT_TRUNC_IP4);
	hl = (uint32_t)(ip[0] & 0x0f) * 4;
	tot = cot_get_be16(ip + 2);
	/* 0: a TSO super-frame captured before it was cut; its length is
	 * the frame's, as tcpdump takes it (print-ip.c). */
	if (tot == 0)
		tot = wire;
	if ((ip[0] >> 4) != 4 || hl < IP4_HLEN || tot < hl || tot > wire)
		return fail(p, COT_PKT_BAD_IP4);
	p->ipproto = ip[9];
	p->ip_len = tot;
	cot_addr_from_v4(&p->src, ip + 12);
	cot_addr_from_v4(&p->dst, ip + 16);
	if (hl > IP4_HLEN) {
		p->fl |= COT_PKT_F_IP_OPTS;
		if (cap < hl)
			return fail(p, COT_PKT_TRUNC_IP4);
		if (!ip4_opts_ok(ip + IP4_HLEN, hl - IP4_HLEN))
			return fail(p, COT_PKT_BAD_IP4_OPT);
	}
	p->l4_off = p->l3_off + hl;
	p->l4_len = tot - hl;

	fo = cot_get_be16(ip + 6);
	if (fo & 0x3fff) { /* MF (0x2000) or a fragment offset */
		uint32_t foff = (fo & 0x1fff) * 8;

		p->fl |= COT_PKT_F_FRAG;
		p->frag_id = cot_get_be16(ip + 4);
		/* An empty fragment or one reaching past 65535 bytes once
		 * reassembled is discarded by receivers (Linux ip_frag_queue,
		 * ip_frag_reasm). */
		if (p->l4_len == 0 || foff + tot > IP_MAXLEN)
			return fail(p, COT_PKT_BAD_FRAG);
		if (foff)
			return COT_PKT_OK;
		p->fl |= COT_PKT_F_FIRST_FRAG;
	}
	return parse_l4(p, ip + hl, cap - hl);
}

/*
 * RFC 2675: the jumbo payload option (type 0xC2, length 4) in the
 * hop-by-hop header @h of @hlen bytes (all in the buffer) sets *@end to
 * 40 + its value, which must exceed 65535 and lie within @wire.  No
 * option: *@end is left alone.  Returns 0 or -1.  Bound: @hlen <= 2048
 * and every turn advances at least one byte.
 */
static int jumbo_len(const uint8_t *h, uint32_t hlen, uint32_t *end,
		     uint32_t wire)
{
	uint32_t i = 2;

	while (i < hlen) {
		uint32_t olen;

		if (h[i] == 0) { /* Pad1 */
			i++;
			continue;
		}
		if (hlen - i < 2)
			return -1;
		olen = h[i + 1];
		if (olen > hlen - i - 2)
			return -1;
		if (h[i] == 0xc2) {
			uint32_t j;

			if (olen != 4)
				return -1;
			j = cot_get_be32(h + i + 2);
			if (j <= IP_MAXLEN || j > wire - IP6_HLEN)
				return -1;
			*end = IP6_HLEN + j;
			return 0;
		}
		i += 2 + olen;
	}
	return 0;
}

static HOT int parse_ip6(struct cot_pkt *p, const uint8_t *ip, uint32_t cap,
			 uint32_t wire)
{
	uint32_t end, cur = IP6_HLEN, n;
	bool seen_frag = false, jumbo;
	uint8_t nh;

	p->ipver = 6;
	if (cap < IP6_HLEN)
		return fail(p, COT_PKT_TRUNC_IP6);
	end = IP6_HLEN + (uint32_t)cot_get_be16(ip + 4);
	/* Payload length 0: a jumbogram (RFC 2675; its hop-by-hop option
	 * gives the length, below) or a GSO super-frame whose hop-by-hop
	 * header Linux's BIG TCP stripped: the rest of the frame, as
	 * tcpdump takes it (print-ip6.c). */
	jumbo = end == IP6_HLEN && wire > IP6_HLEN;
	if (jumbo)
		end = wire;
	if ((ip[0] >> 4) != 6 || end > wire)
		return fail(p, COT_PKT_BAD_IP6);
	p->ip_len = end;
	cot_memcpy(p->src.b, ip + 8, 16);
	cot_memcpy(p->dst.b, ip + 24, 16);
	nh = ip[6];

	/*
	 * RFC 8200 4.1 extension header chain.  Bound: at most
	 * COT_PKT_MAX_IP6_EXT headers; each one advances cur by >= 8 and
	 * must end within the payload length (end <= 65575).
	 */
	for (n = 0;; n++) {
		const uint8_t *h;
		uint32_t hlen;

		if (nh != PROTO_HOPOPTS && nh != PROTO_ROUTING &&
		    nh != PROTO_FRAGMENT && nh != PROTO_DSTOPTS &&
		    nh != PROTO_AH)
			break;
		if (n == COT_PKT_MAX_IP6_EXT)
			return fail(p, COT_PKT_IP6_EXT_DEPTH);
		/* RFC 8200 4.3: hop-by-hop only right after the header. */
		if (nh == PROTO_HOPOPTS && n != 0)
			return fail(p, COT_PKT_BAD_IP6_EXT);
		/* Every one of these is at least 8 bytes long. */
		if (end - cur < 8)
			return fail(p, COT_PKT_BAD_IP6_EXT);
		if (cap < cur + 8)
			return fail(p, COT_PKT_TRUNC_IP6_EXT);
		h = ip + cur;
		if (nh == PROTO_FRAGMENT) {
			uint32_t fo = cot_get_be16(h + 2), foff = fo & 0xfff8;
			uint32_t more = fo & 1, flen = end - cur - 8;

			/* RFC 8200 4.5: one fragment header per packet. */
			if (seen_frag)
				return fail(p, COT_PKT_BAD_IP6_EXT);
			seen_frag = true;
			hlen = 8;
			if (foff || more) {
				p->fl |= COT_PKT_F_FRAG;
				p->frag_id = cot_get_be32(h + 4);
				/* RFC 8200 4.5: all but the last fragment
				 * carry a non-empty multiple of 8 bytes;
				 * the reassembled payload is <= 65535. */
				if ((more && (flen == 0 || (flen & 7))) ||
				    foff + flen > IP_MAXLEN)
					return fail(p, COT_PKT_BAD_FRAG);
				if (foff) {
					p->ipproto = h[0];
					p->l4_off = p->l3_off + cur + 8;
					p->l4_len = flen;
					return COT_PKT_OK;
				}
				p->fl |= COT_PKT_F_FIRST_FRAG;
			}
		} else if (nh == PROTO_HOPOPTS && jumbo) {
			hlen = ((uint32_t)h[1] + 1) * 8;
			if (hlen > end - cur)
				return fail(p, COT_PKT_BAD_IP6_EXT);
			if (cap < cur + hlen)
				return fail(p, COT_PKT_TRUNC_IP6_EXT);
			if (jumbo_len(h, hlen, &end, wire) < 0)
				return fail(p, COT_PKT_BAD_IP6_EXT);
			p->ip_len = end;
		} else if (nh == PROTO_AH) {
			/* RFC 4302 2.2: length in 4-byte units, minus 2. */
			hlen = ((uint32_t)h[1] + 2) * 4;
		} else {
			/* RFC 8200 4.3-4.6: 8-byte units, not counting the
			 * first 8. */
			hlen = ((uint32_t)h[1] + 1) * 8;
		}
		if (hlen > end - cur)
			return fail(p, COT_PKT_BAD_IP6_EXT);
		nh = h[0];
		cur += hlen;
	}
	p->ipproto = nh;
	p->l4_off = p->l3_off + cur;
	p->l4_len = end - cur;
	return parse_l4(p, ip + cur, cap > cur ? cap - cur : 0);
}

/*
 * An Ethernet frame at frame[off..): @caplen and @wirelen are where its
 * bytes in the buffer and on the wire end (offsets into @frame).  @tags
 * is false for an inner frame: its tags are skipped (bounded the same
 * way), the outermost frame's stay in p->vlan.
 */
static HOT int parse_eth(struct cot_pkt *p, const uint8_t *frame, uint32_t off,
			 uint32_t caplen, uint32_t wirelen, bool tags)
{
	uint32_t n;
	uint16_t et;

	if (caplen - off < ETH_HLEN)
		return fail(p, COT_PKT_TRUNC_ETH);
	et = cot_get_be16(frame + off + 12);
	off += ETH_HLEN;
	/* Bound: at most COT_PKT_MAX_VLAN tags, the next one is an error.
	 * Any of the three TPIDs is accepted at any depth, as switches do
	 * not agree on which goes outside. */
	for (n = 0;
	     et == ETH_P_8021Q || et == ETH_P_8021AD || et == ETH_P_QINQ_OLD;
	     n++) {
		if (n == COT_PKT_MAX_VLAN)
			return fail(p, COT_PKT_VLAN_DEPTH);
		if (caplen - off < VLAN_HLEN)
			return fail(p, COT_PKT_TRUNC_VLAN);
		if (tags)
			p->vlan[p->nvlan++] =
				cot_get_be16(frame + off) & 0x0fff;
		et = cot_get_be16(frame + off + 2);
		off += VLAN_HLEN;
	}
	p->ethertype = et;
	p->l3_off = off;
	if (et == ETH_P_IP)
		return parse_ip4(p, frame + off, caplen - off, wirelen - off);
	if (et == ETH_P_IPV6)
		return parse_ip6(p, frame + off, caplen - off, wirelen - off);
	return fail(p, COT_PKT_NOT_IP);
}

static HOT bool port_in(const uint16_t ports[COT_PKT_MAX_PORTS], uint16_t port)
{
	unsigned int i;

	for (i = 0; i < COT_PKT_MAX_PORTS; i++)
		if (ports[i] && ports[i] == port)
			return true;
	return false;
}

/* What is inside: an Ethernet frame or an IP packet. */
enum inner { IN_NONE, IN_ETH, IN_IP4, IN_IP6 };

/*
 * The tunnel header at frame[off..lim) (@lim: end of the outer datagram
 * in the buffer; @wlim: on the wire), @t->type already set.  Sets
 * t->id, *@in and *@ioff (where the inner frame or packet starts).
 * Returns 0, COT_PKT_TRUNC_TUN / COT_PKT_BAD_TUN, or -1 when this is
 * not a tunnel we decapsulate (the outer flow is all there is).
 */
static int tun_hdr(struct cot_pkt_tun *t, const uint8_t *frame, uint32_t off,
		   uint32_t lim, uint32_t wlim, enum inner *in, uint32_t *ioff)
{
	const uint8_t *h = frame + off;
	uint32_t hl, have = lim > off ? lim - off : 0, need;
	uint16_t fl, proto;

	switch (t->type) {
	case COT_TUN_VXLAN:
		/* RFC 7348 5: flags (I = 0x08 must be set: Linux's
		 * vxlan_rcv drops the frame otherwise), 24 reserved bits,
		 * VNI, 8 reserved bits; then the inner Ethernet frame. */
		if (wlim - off < 8)
			return COT_PKT_BAD_TUN;
		if (have < 8)
			return COT_PKT_TRUNC_TUN;
		if (!(h[0] & 0x08))
			return COT_PKT_BAD_TUN;
		t->id = cot_get_be32(h + 4) >> 8;
		*in = IN_ETH;
		*ioff = off + 8;
		return 0;
	case COT_TUN_GENEVE:
		/* RFC 8926 3.4: version (2 bits, 0), option length (6
		 * bits, 4-byte words: at most 252 bytes of options,
		 * skipped whole), protocol type, VNI, reserved. */
		if (wlim - off < 8)
			return COT_PKT_BAD_TUN;
		if (have < 8)
			return COT_PKT_TRUNC_TUN;
		if (h[0] >> 6)
			return COT_PKT_BAD_TUN;
		hl = 8 + (uint32_t)(h[0] & 0x3f) * 4;
		if (wlim - off < hl)
			return COT_PKT_BAD_TUN;
		proto = cot_get_be16(h + 2);
		t->id = cot_get_be32(h + 4) >> 8;
		*ioff = off + hl;
		break;
	default: /* GRE */
		/* RFC 2784 2, RFC 2890 2: C, (R), K, S, reserved, version
		 * 0; then checksum+reserved, key, sequence when their bits
		 * are set.  Version 1 is PPTP's (RFC 2637): not ours. */
		if (wlim - off < 4)
			return COT_PKT_BAD_TUN;
		if (have < 4)
			return COT_PKT_TRUNC_TUN;
		fl = cot_get_be16(h);
		proto = cot_get_be16(h + 2);
		if ((fl & 0x0007) != 0)
			return -1;
		/* RFC 1701 routing (R, strict source route, recursion):
		 * deprecated by RFC 2784, which requires receivers to drop
		 * it. */
		if (fl & 0x4f00)
			return COT_PKT_BAD_TUN;
		hl = 4 + ((fl & 0x8000) ? 4 : 0);
		if (fl & 0x2000) { /* K */
			need = hl + 4;
			if (wlim - off < need)
				return COT_PKT_BAD_TUN;
			if (have < need)
				return COT_PKT_TRUNC_TUN;
			t->id = cot_get_be32(h + hl);
			hl += 4;
		}
		if (fl & 0x1000) /* S */
			hl += 4;
		if (wlim - off < hl)
			return COT_PKT_BAD_TUN;
		if (proto == ETH_P_ERSPAN) {
			/* ERSPAN type II (draft-foschiano-erspan 4.1) has
			 * the S bit and an 8-byte header: version 1 in the
			 * top nibble, the session id in the low 10 bits of
			 * bytes 2-3.  Type I has no S bit and no header. */
			t->type = COT_TUN_ERSPAN;
			t->id = 0;
			if (fl & 0x1000) {
				need = hl + 8;
				if (wlim - off < need)
					return COT_PKT_BAD_TUN;
				if (have < need)
					return COT_PKT_TRUNC_TUN;
				if ((h[hl] >> 4) != 1)
					return COT_PKT_BAD_TUN;
				t->id = cot_get_be16(h + hl + 2) & 0x3ff;
				hl = need;
			}
			*in = IN_ETH;
			*ioff = off + hl;
			return 0;
		}
		*ioff = off + hl;
		break;
	}
	/* Geneve and GRE name the inner protocol by EtherType. */
	if (proto == ETH_P_TEB)
		*in = IN_ETH;
	else if (proto == ETH_P_IP)
		*in = IN_IP4;
	else if (proto == ETH_P_IPV6)
		*in = IN_IP6;
	else
		return -1;
	return 0;
}

/*
 * Which tunnel the OK view @p is the outer packet of, or COT_TUN_NONE.
 * On the path of every frame: a few compares.
 */
static inline uint8_t tun_type_of(const struct cot_pkt *p,
				  const struct cot_pkt_cfg *cfg)
{
	if ((p->fl & (COT_PKT_F_L4 | COT_PKT_F_FRAG)) != COT_PKT_F_L4)
		return COT_TUN_NONE;
	switch (p->ipproto) {
	case PROTO_UDP:
		if (cfg == &cfg_default) /* constants: no loads */
			return p->dport == 4789 || p->dport == 8472
				       ? COT_TUN_VXLAN
			       : p->dport == 6081 ? COT_TUN_GENEVE
						  : COT_TUN_NONE;
		if (port_in(cfg->vxlan_port, p->dport))
			return COT_TUN_VXLAN;
		if (port_in(cfg->geneve_port, p->dport))
			return COT_TUN_GENEVE;
		return COT_TUN_NONE;
	case PROTO_GRE:
		return COT_TUN_GRE;
	case PROTO_IPIP:
	case PROTO_IPV6:
		return COT_TUN_IPIP;
	}
	return COT_TUN_NONE;
}

/* The part of struct cot_pkt a parse clears (tun[] is written before it
 * is counted in). */
#define PKT_HEAD offsetof(struct cot_pkt, tun)

/*
 * Decapsulate the OK view @p (outer type @type) as deep as it goes.
 * Bound: at most COT_PKT_MAX_TUN turns, each one pushes a tunnel.
 */
static __attribute__((noinline)) void
decap(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
      uint32_t wirelen, const struct cot_pkt_cfg *cfg, uint8_t type)
{
	struct cot_pkt outer;
	uint32_t d;

	for (d = 0; type != COT_TUN_NONE; d++) {
		struct cot_pkt_tun t;
		enum inner in = IN_NONE;
		uint32_t end, lim, ioff = 0, off = p->l4_off;
		int r;

		if (d == COT_PKT_MAX_TUN) {
			p->inner_reason = COT_PKT_TUN_DEPTH;
			return;
		}
		if (type == COT_TUN_VXLAN || type == COT_TUN_GENEVE)
			off += UDP_HLEN;
		/* The datagram ends where its IP length says (< 2^18 + 2^17
		 * from the frame start); its bytes in the buffer at caplen. */
		end = p->l3_off + p->ip_len;
		if (end > wirelen)
			end = wirelen;
		lim = end < caplen ? end : caplen;
		cot_memset(&t, 0, sizeof(t));
		t.type = type;
		if (off > end) {
			p->inner_reason = COT_PKT_BAD_TUN;
			return;
		}
		if (type == COT_TUN_IPIP) {
			in = p->ipproto == PROTO_IPIP ? IN_IP4 : IN_IP6;
			ioff = off;
		} else {
			r = tun_hdr(&t, frame, off, lim, end, &in, &ioff);
			if (r < 0)
				return;
			if (r > 0) {
				p->inner_reason = (uint8_t)r;
				return;
			}
		}
		/* Where the inner packet starts was read from the header:
		 * it must be in the datagram and in the buffer. */
		if (ioff > end) {
			p->inner_reason = COT_PKT_BAD_TUN;
			return;
		}
		if (ioff > lim) {
			p->inner_reason = COT_PKT_TRUNC_TUN;
			return;
		}
		t.ipver = p->ipver;
		t.ipproto = p->ipproto;
		t.fl = p->fl;
		t.sport = p->sport;
		t.dport = p->dport;
		t.ip_len = p->ip_len;
		t.src = p->src;
		t.dst = p->dst;

		cot_memcpy(&outer, p, PKT_HEAD);
		/* The inner view starts clean but for the frame's own. */
		cot_memset(p, 0, offsetof(struct cot_pkt, tcp_hlen));
		p->fl = outer.fl & COT_PKT_F_SNAPLEN;
		p->nvlan = outer.nvlan;
		p->vlan[0] = outer.vlan[0];
		p->vlan[1] = outer.vlan[1];
		p->tcp_hlen = 0;
		p->tcp_flags_first = 0;
		if (in == IN_ETH) {
			r = parse_eth(p, frame, ioff, lim, end, false);
		} else {
			p->ethertype = in == IN_IP4 ? ETH_P_IP : ETH_P_IPV6;
			p->l3_off = ioff;
			if (in == IN_IP4)
				r = parse_ip4(p, frame + ioff, lim - ioff,
					      end - ioff);
			else
				r = parse_ip6(p, frame + ioff, lim - ioff,
					      end - ioff);
		}
		if (r != COT_PKT_OK) {
			/* NOT_IP inside (ARP over VXLAN, ...): the outer
			 * flow carried it, and that is all. */
			cot_memcpy(p, &outer, PKT_HEAD);
			if (r != COT_PKT_NOT_IP)
				p->inner_reason = (uint8_t)r;
			return;
		}
		p->tun[d] = t;
		p->ntun = (uint8_t)(d + 1);
		type = tun_type_of(p, cfg);
	}
}

/*
 * After an OK parse of a protocol that may carry a tunnel: decapsulate
 * if @cfg says so.  Out of line, so that the frame's own
 * parse stays as lean as it was without tunnels.
 */
static __attribute__((noinline)) int
maybe_decap(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
	    uint32_t wirelen, const struct cot_pkt_cfg *cfg)
{
	uint8_t type;

	if (!cfg)
		cfg = &cfg_default;
	if (!cfg->decap)
		return COT_PKT_OK;
	type = tun_type_of(p, cfg);
	if (type != COT_TUN_NONE)
		decap(p, frame, caplen, wirelen, cfg, type);
	return COT_PKT_OK;
}

static HOT int parse(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
		     uint32_t wirelen, const struct cot_pkt_cfg *cfg)
{
	int r;

	cot_memset(p, 0, PKT_HEAD);
	if (wirelen > caplen)
		p->fl = COT_PKT_F_SNAPLEN;
	else
		wirelen = caplen;
	r = parse_eth(p, frame, 0, caplen, wirelen, true);
	if (r != COT_PKT_OK || __builtin_expect(p->ipproto == PROTO_TCP, 1) ||
	    (p->ipproto != PROTO_UDP && p->ipproto != PROTO_GRE &&
	     p->ipproto != PROTO_IPIP && p->ipproto != PROTO_IPV6))
		return r;
	return maybe_decap(p, frame, caplen, wirelen, cfg);
}

int cot_pkt_parse_cfg(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
		      uint32_t wirelen, const struct cot_pkt_cfg *cfg)
{
	return parse(p, frame, caplen, wirelen, cfg);
}

int cot_pkt_parse(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen)
{
	return parse(p, frame, caplen, wirelen, &cfg_default);
}

int cot_pkt_gso_tcp(struct cot_pkt *p, uint32_t mss)
{
	uint32_t hdr, payload, segs;

	if (p->reason != COT_PKT_OK || p->ipproto != PROTO_TCP ||
	    !(p->fl & COT_PKT_F_L4) || (p->fl & COT_PKT_F_FRAG) ||
	    p->tcp_hlen < TCP_HLEN || mss < COT_PKT_GSO_MIN_MSS)
		return fail(p, COT_PKT_BAD_GSO);
	/* parse_l4 checked tcp_hlen <= l4_len; l4_len <= 65575. */
	payload = p->l4_len - p->tcp_hlen;
	hdr = p->l4_off - p->l3_off + p->tcp_hlen;
	p->tcp_flags_first = p->tcp_flags;
	if (payload <= mss) {
		p->segs = 1;
		p->wire_bytes = p->ip_len;
		return COT_PKT_OK;
	}
	/* payload <= 65575 and mss >= 88: segs <= 746, hdr < 2^17, so
	 * segs * hdr + payload < 2^27. */
	segs = (payload + mss - 1) / mss;
	p->segs = segs;
	p->wire_bytes = segs * hdr + payload;
	p->tcp_flags_first =
		p->tcp_flags & (uint8_t) ~(COT_TCP_FIN | COT_TCP_PSH);
	p->tcp_flags &= (uint8_t)~COT_TCP_CWR;
	p->fl |= COT_PKT_F_GSO;
	return COT_PKT_OK;
}
