/* SPDX-License-Identifier: MIT */
/*
 * core/pkt: a validated view of one Ethernet frame.  Freestanding,
 * no allocation, thread-safe (no state beyond the caller's struct).
 *
 * The frame is hostile input: every length is checked before it is read.
 * The view points into the caller's buffer; it is valid while the buffer
 * is.
 */
#ifndef COTRACK_PKT_H
#define COTRACK_PKT_H

#include "cotrack/common.h"

/*
 * Why a frame was not turned into a full view.  COT_PKT_OK and the
 * "not IP" reason are normal outcomes; the rest are counted drops.
 * Keep cot_pkt_reason_name() in step.
 *
 * TRUNC_* means the bytes of that header are not all in the buffer
 * (cut by the capture's snaplen, or a runt frame); BAD_* means the
 * header is there but inconsistent, including when the lengths the IP
 * header declares leave no room for it.  IP lengths are checked against
 * wirelen, headers against caplen.
 */
enum cot_pkt_reason {
	COT_PKT_OK = 0,
	COT_PKT_NOT_IP,	       /* ARP, LLDP, ...: forwarded, not tracked */
	COT_PKT_TRUNC_ETH,     /* shorter than an Ethernet header */
	COT_PKT_TRUNC_VLAN,    /* 802.1Q/802.1ad tag cut short */
	COT_PKT_VLAN_DEPTH,    /* more than COT_PKT_MAX_VLAN tags */
	COT_PKT_TRUNC_IP4,     /* IPv4 header cut short by the capture */
	COT_PKT_BAD_IP4,       /* version, IHL or total length inconsistent */
	COT_PKT_BAD_IP4_OPT,   /* malformed IPv4 option */
	COT_PKT_TRUNC_IP6,     /* IPv6 fixed header cut short */
	COT_PKT_BAD_IP6,       /* version or payload length inconsistent */
	COT_PKT_TRUNC_IP6_EXT, /* extension header cut short */
	COT_PKT_IP6_EXT_DEPTH, /* more than COT_PKT_MAX_IP6_EXT headers */
	COT_PKT_BAD_IP6_EXT,   /* e.g. hop-by-hop not first */
	COT_PKT_TRUNC_L4,      /* TCP/UDP/ICMP header cut short (snaplen) */
	COT_PKT_BAD_TCP,       /* data offset < 5 or beyond the datagram */
	COT_PKT_BAD_UDP,       /* UDP length inconsistent */
	COT_PKT_BAD_FRAG,      /* fragment offset/length inconsistent */
	COT_PKT_BAD_ICMP,      /* ICMP/ICMPv6 datagram shorter than 8 bytes */
	COT_PKT_BAD_GSO,       /* super-frame not TCP, or segment size bad */
	COT_PKT_TRUNC_TUN,     /* tunnel header cut short (inner_reason) */
	COT_PKT_BAD_TUN,       /* tunnel header inconsistent (inner_reason) */
	COT_PKT_TUN_DEPTH,     /* more than COT_PKT_MAX_TUN tunnels */
	COT_PKT__COUNT,
};

#define COT_PKT_MAX_VLAN    2 /* QinQ: outer 802.1ad + inner 802.1Q */
#define COT_PKT_MAX_IP6_EXT 8 /* bound on the extension header chain */
#define COT_PKT_MAX_TUN	    4 /* bound on nested tunnels decapsulated */
#define COT_PKT_MAX_PORTS   4 /* UDP ports per tunnel type (cot_pkt_cfg) */

/* Tunnel types (cot_pkt_tun.type, cot_rec.tun_type). */
enum cot_tun_type {
	COT_TUN_NONE = 0,
	COT_TUN_VXLAN,	/* RFC 7348; id: VNI */
	COT_TUN_GENEVE, /* RFC 8926; id: VNI */
	COT_TUN_GRE,	/* RFC 2784/2890; id: key (0 without K) */
	COT_TUN_ERSPAN, /* GRE 0x88BE, type I (id 0) or II; id: session */
	COT_TUN_IPIP,	/* IPv4/IPv6 in IPv4/IPv6 (proto 4, 41); id 0 */
	COT_TUN__COUNT,
};

/* Short stable name of a tunnel type ("vxlan", ...; "" for none). */
const char *cot_tun_name(unsigned int type);

/*
 * One tunnel a frame was carried in, as the outer packet looked: its
 * IP endpoints and (UDP tunnels) ports, its IP length, and the tunnel's
 * identity.
 */
struct cot_pkt_tun {
	uint8_t type;	       /* enum cot_tun_type */
	uint8_t ipver;	       /* outer IP version */
	uint8_t ipproto;       /* outer protocol: 17, 47, 4 or 41 */
	uint8_t fl;	       /* outer COT_PKT_F_* (F_L4 for UDP) */
	uint16_t sport, dport; /* outer UDP ports; 0 for GRE, IP-in-IP */
	uint32_t id;	       /* VNI, GRE key, ERSPAN session, or 0 */
	uint32_t ip_len;       /* outer IP-layer bytes */
	struct cot_addr src, dst;
};

/*
 * What cot_pkt_parse_cfg() decapsulates.  A UDP datagram is taken as
 * VXLAN or Geneve by its destination port (both directions of a Linux
 * tunnel send to the well-known port); ports equal to 0 are unused.
 */
struct cot_pkt_cfg {
	bool decap; /* false: every tunnel is an ordinary outer flow */
	uint16_t vxlan_port[COT_PKT_MAX_PORTS];	 /* default 4789, 8472 */
	uint16_t geneve_port[COT_PKT_MAX_PORTS]; /* default 6081 */
};

/* Decapsulate, VXLAN on 4789 and 8472, Geneve on 6081. */
void cot_pkt_cfg_default(struct cot_pkt_cfg *c);

/* Fragment information (fl below). */
#define COT_PKT_F_FRAG	     0x01 /* datagram is a fragment */
#define COT_PKT_F_FIRST_FRAG 0x02 /* ... and the first one (offset 0) */
#define COT_PKT_F_L4	     0x04 /* sport/dport/tcp_flags valid (may be 0) */
#define COT_PKT_F_IP_OPTS    0x08 /* IPv4 options present */
#define COT_PKT_F_SNAPLEN    0x10 /* frame was cut by the capture's snaplen */
#define COT_PKT_F_GSO	     0x20 /* a TCP super-frame: segs, wire_bytes */

/*
 * Smallest segment size a super-frame may ask for: Linux's TCP_MIN_MSS
 * (include/net/tcp.h).  It bounds the segments of one super-frame to
 * 65535 / 88 = 745, and so the work a guest can ask of a segmenter.
 */
#define COT_PKT_GSO_MIN_MSS 88

/* TCP flag bits as in the header. */
#define COT_TCP_FIN 0x01
#define COT_TCP_SYN 0x02
#define COT_TCP_RST 0x04
#define COT_TCP_PSH 0x08
#define COT_TCP_ACK 0x10
#define COT_TCP_URG 0x20
#define COT_TCP_ECE 0x40
#define COT_TCP_CWR 0x80

struct cot_pkt {
	uint8_t reason;	 /* enum cot_pkt_reason */
	uint8_t ipver;	 /* 4, 6, or 0 when not IP */
	uint8_t ipproto; /* upper-layer protocol after ext. headers */
	uint8_t fl;	 /* COT_PKT_F_* */
	uint8_t nvlan;
	uint8_t tcp_flags;
	uint8_t icmp_type, icmp_code;
	uint16_t vlan[COT_PKT_MAX_VLAN]; /* VIDs, outermost first */
	uint16_t ethertype;		 /* after VLAN tags */
	uint16_t sport, dport; /* host order; ICMP: see cot_pkt_parse() */
	uint32_t frag_id;      /* IPv4 id (16 bit) or IPv6 fragment id */
	uint32_t ip_len;       /* IP-layer bytes on the wire (header+payload) */
	uint32_t l3_off;       /* offset of the IP header in the frame */
	uint32_t l4_off;       /* offset of the upper-layer header */
	uint32_t l4_len;       /* bytes of L4 header+payload per IP lengths */
	uint32_t tcp_seq, tcp_ack;
	struct cot_addr src, dst;
	/* With COT_PKT_F_GSO (cot_pkt_gso_tcp()): the frame stands for segs
	 * segments on the wire, of wire_bytes IP-layer bytes in all (their
	 * headers repeated); tcp_flags are the last segment's and
	 * tcp_flags_first the first's.  Without it, segs is 0. */
	uint32_t segs;
	uint32_t wire_bytes;
	uint32_t tcp_hlen; /* TCP header length (data offset * 4), or 0 */
	uint8_t tcp_flags_first;
	/* Tunnels the view was decapsulated from, outermost first (ntun of
	 * them; the rest of tun[] is not cleared).  inner_reason: why the
	 * next tunnel in was not decapsulated (0: none was there); the view
	 * is then the last good one. */
	uint8_t ntun;
	uint8_t inner_reason; /* enum cot_pkt_reason */
	struct cot_pkt_tun tun[COT_PKT_MAX_TUN];
};

/*
 * Parse @frame.  @caplen bytes are present; @wirelen is the original
 * length on the wire (>= caplen; pass caplen when unknown; a smaller
 * value is taken as caplen).  COT_PKT_F_SNAPLEN is set when
 * wirelen > caplen; the headers that are present are still parsed.
 *
 * Returns 0 when @p holds an IP view good enough to track (p->reason is
 * COT_PKT_OK), otherwise a positive enum cot_pkt_reason (also stored in
 * p->reason; the fields parsed before the failure are kept, the rest
 * are 0).
 *
 * Fragments: a non-first fragment has COT_PKT_F_FRAG without
 * COT_PKT_F_L4: attribute it to its flow by (src, dst, ipproto, frag_id);
 * l4_off/l4_len then describe the fragment's payload.  Every other OK
 * datagram has COT_PKT_F_L4; a first fragment has F_FRAG, F_FIRST_FRAG
 * and F_L4 (its upper-layer header must lie in it, RFC 1858, RFC 8200
 * 4.5, else COT_PKT_BAD_FRAG).  An IPv6 atomic fragment (offset 0, M 0,
 * RFC 6946) is not a fragment.
 *
 * Only the headers the view needs must be in the buffer: l4_off may lie
 * past caplen when nothing above IP was read (non-first fragments,
 * protocols without ports), so check it before reading there.
 *
 * ip_len is the IPv4 total length or 40 + the IPv6 payload length (what
 * flows count as bytes); Ethernet padding after it is ignored.
 *
 * Offloaded segments, as tcpdump reads them: an IPv4 total length of 0
 * (a TSO super-frame captured before segmentation) is taken to be the
 * rest of the frame on the wire.  An IPv6 payload length of 0 is a
 * jumbogram (RFC 2675) when a hop-by-hop header carries the jumbo
 * option: its length (> 65535, within the wire bytes) is taken, else
 * BAD_IP6_EXT; with no hop-by-hop header (Linux BIG TCP strips it) the
 * rest of the frame is taken.  ip_len can then exceed 65575.
 *
 * Ports: TCP and UDP ports.  ICMP echo, timestamp, information and
 * address-mask requests/replies (and ICMPv6 echo): the identifier in
 * both sport and dport, so both directions map to one flow; other ICMP
 * and ICMPv6 types: sport = type, dport = code.  Other protocols
 * (including ICMP over IPv6 and ICMPv6 over IPv4): 0, 0.
 *
 * IPv6 extension headers walked: hop-by-hop (only directly after the
 * fixed header), routing, destination options, fragment (at most once),
 * AH; at most COT_PKT_MAX_IP6_EXT of them.  ESP and unknown headers end
 * the walk as the upper-layer protocol.  IPv4 options are checked for
 * well-formedness (RFC 791 type/length), not interpreted.
 *
 * Never reads outside frame[0..caplen).  Thread-safe, no allocation.
 */
int cot_pkt_parse(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen);

/*
 * cot_pkt_parse() with tunnels decapsulated as @cfg says (NULL: the
 * defaults of cot_pkt_cfg_default()).  cot_pkt_parse() is this with
 * the defaults.
 *
 * A tunnel is decapsulated when the outer view is OK, has F_L4 and is
 * not a fragment (no reassembly here), and it is: UDP to a VXLAN or
 * Geneve port; GRE version 0 (no routing) carrying IPv4, IPv6,
 * transparent Ethernet bridging (0x6558) or ERSPAN I/II (0x88BE); IP
 * protocol 4 or 41.  The outer view moves into tun[ntun++] and the
 * view becomes the inner packet's (l3_off and l4_off point at the inner
 * headers; nvlan/vlan stay the outermost frame's).  The inner packet
 * lies within the outer IP datagram: its bytes on the wire end where
 * the outer IP length says, its bytes in the buffer at caplen.  At
 * most COT_PKT_MAX_TUN tunnels deep.
 *
 * When the tunnel header or the inner packet is bad (any reason, or
 * TRUNC_TUN, BAD_TUN, TUN_DEPTH), the view stays the outer one (still
 * OK: the outer datagram is a good one) and inner_reason says why.
 * Never reads outside frame[0..caplen).  Thread-safe, no allocation.
 */
int cot_pkt_parse_cfg(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
		      uint32_t wirelen, const struct cot_pkt_cfg *cfg);

/*
 * @p (parsed from @frame by cot_pkt_parse(), COT_PKT_OK) is a TCP
 * super-frame (a virtio-net header with gso_type TCPV4/TCPV6, an mbuf
 * with RTE_MBUF_F_TX_TCP_SEG) to be cut into segments of @mss payload
 * bytes: count it as the wire would carry it.  As Linux's
 * tcp_gso_segment() cuts: ceil(payload / mss) segments, each with the
 * IP header (options or extension headers included) and the TCP
 * header of the super-frame; FIN and PSH only on the last segment, CWR
 * only on the first, every other flag on each.  A payload of at most
 * @mss is one segment, sent as it is (no COT_PKT_F_GSO).
 *
 * Sets segs, wire_bytes, tcp_flags_first and tcp_flags, and
 * COT_PKT_F_GSO when there is more than one segment.  Returns 0, or
 * COT_PKT_BAD_GSO (also in p->reason, so that the flow table counts it
 * as a drop) when @p is not an unfragmented TCP view or @mss is below
 * COT_PKT_GSO_MIN_MSS.  Thread-safe, no allocation, no loop.
 */
int cot_pkt_gso_tcp(struct cot_pkt *p, uint32_t mss);

/* Short stable name of a reason, e.g. "trunc-l4". */
const char *cot_pkt_reason_name(unsigned int reason);

#endif
