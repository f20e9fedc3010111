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

#define IP4_HLEN  20
#define IP6_HLEN  40
#define IP_MAXLEN 65535u /* largest (reassembled) datagram, RFC 791/8200 */

#define PROTO_HOPOPTS  0
#define PROTO_ICMP     1
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
static int parse_l4(struct cot_pkt *p, const uint8_t *l4, uint32_t cap)
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
static int parse_ip4(struct cot_pkt *p, const uint8_t *ip, uint32_t cap,
		     uint32_t wire)
{
	uint32_t hl, tot, fo;

	p->ipver = 4;
	if (cap < IP4_HLEN)
		return fail(p, COT_PKT_TRUNC_IP4);
	hl = (uint32_t)(ip[0] & 0x0f) * 4;
	tot = cot_get_be16(ip + 2);
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

static int parse_ip6(struct cot_pkt *p, const uint8_t *ip, uint32_t cap,
		     uint32_t wire)
{
	uint32_t end, cur = IP6_HLEN, n;
	bool seen_frag = false;
	uint8_t nh;

	p->ipver = 6;
	if (cap < IP6_HLEN)
		return fail(p, COT_PKT_TRUNC_IP6);
	end = IP6_HLEN + (uint32_t)cot_get_be16(ip + 4);
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

int cot_pkt_parse(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen)
{
	uint32_t off = ETH_HLEN;
	uint16_t et;

	cot_memset(p, 0, sizeof(*p));
	if (wirelen > caplen)
		p->fl = COT_PKT_F_SNAPLEN;
	else
		wirelen = caplen;
	if (caplen < ETH_HLEN)
		return fail(p, COT_PKT_TRUNC_ETH);
	et = cot_get_be16(frame + 12);
	/* Bound: at most COT_PKT_MAX_VLAN tags, the next one is an error.
	 * Any of the three TPIDs is accepted at any depth, as switches do
	 * not agree on which goes outside. */
	while (et == ETH_P_8021Q || et == ETH_P_8021AD ||
	       et == ETH_P_QINQ_OLD) {
		if (p->nvlan == COT_PKT_MAX_VLAN)
			return fail(p, COT_PKT_VLAN_DEPTH);
		if (caplen - off < VLAN_HLEN)
			return fail(p, COT_PKT_TRUNC_VLAN);
		p->vlan[p->nvlan++] = cot_get_be16(frame + off) & 0x0fff;
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
