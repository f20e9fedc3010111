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
 */
enum cot_pkt_reason {
	COT_PKT_OK = 0,
	COT_PKT_NOT_IP,		/* ARP, LLDP, ...: forwarded, not tracked */
	COT_PKT_TRUNC_ETH,	/* shorter than an Ethernet header */
	COT_PKT_TRUNC_VLAN,	/* 802.1Q/802.1ad tag cut short */
	COT_PKT_VLAN_DEPTH,	/* more than COT_PKT_MAX_VLAN tags */
	COT_PKT_TRUNC_IP4,	/* IPv4 header cut short by the capture */
	COT_PKT_BAD_IP4,	/* version, IHL or total length inconsistent */
	COT_PKT_BAD_IP4_OPT,	/* malformed IPv4 option */
	COT_PKT_TRUNC_IP6,	/* IPv6 fixed header cut short */
	COT_PKT_BAD_IP6,	/* version or payload length inconsistent */
	COT_PKT_TRUNC_IP6_EXT,	/* extension header cut short */
	COT_PKT_IP6_EXT_DEPTH,	/* more than COT_PKT_MAX_IP6_EXT headers */
	COT_PKT_BAD_IP6_EXT,	/* e.g. hop-by-hop not first */
	COT_PKT_TRUNC_L4,	/* TCP/UDP/ICMP header cut short (snaplen) */
	COT_PKT_BAD_TCP,	/* data offset < 5 or beyond the datagram */
	COT_PKT_BAD_UDP,	/* UDP length inconsistent */
	COT_PKT_BAD_FRAG,	/* fragment offset/length inconsistent */
	COT_PKT__COUNT,
};

#define COT_PKT_MAX_VLAN 2	/* QinQ: outer 802.1ad + inner 802.1Q */
#define COT_PKT_MAX_IP6_EXT 8	/* bound on the extension header chain */

/* Fragment information (fl below). */
#define COT_PKT_F_FRAG 0x01	 /* datagram is a fragment */
#define COT_PKT_F_FIRST_FRAG 0x02 /* ... and the first one (offset 0) */
#define COT_PKT_F_L4 0x04	 /* sport/dport/tcp_flags are valid */
#define COT_PKT_F_IP_OPTS 0x08	 /* IPv4 options present */
#define COT_PKT_F_SNAPLEN 0x10	 /* frame was cut by the capture's snaplen */

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
	uint8_t reason;		/* enum cot_pkt_reason */
	uint8_t ipver;		/* 4, 6, or 0 when not IP */
	uint8_t ipproto;	/* upper-layer protocol after ext. headers */
	uint8_t fl;		/* COT_PKT_F_* */
	uint8_t nvlan;
	uint8_t tcp_flags;
	uint8_t icmp_type, icmp_code;
	uint16_t vlan[COT_PKT_MAX_VLAN]; /* VIDs, outermost first */
	uint16_t ethertype;	/* after VLAN tags */
	uint16_t sport, dport;	/* host order; ICMP echo: id in both */
	uint32_t frag_id;	/* IPv4 id (16 bit) or IPv6 fragment id */
	uint32_t ip_len;	/* IP-layer bytes on the wire (header+payload) */
	uint32_t l3_off;	/* offset of the IP header in the frame */
	uint32_t l4_off;	/* offset of the upper-layer header */
	uint32_t l4_len;	/* bytes of L4 header+payload per IP lengths */
	uint32_t tcp_seq, tcp_ack;
	struct cot_addr src, dst;
};

/*
 * Parse @frame.  @caplen bytes are present; @wirelen is the original
 * length on the wire (>= caplen; pass caplen when unknown).
 *
 * Returns 0 when @p holds an IP view good enough to track (p->reason is
 * COT_PKT_OK), otherwise a positive enum cot_pkt_reason (also stored in
 * p->reason).  For a non-first fragment, COT_PKT_F_FRAG is set without
 * COT_PKT_F_L4: attribute it to its flow by (src, dst, ipproto, frag_id).
 * Never reads outside frame[0..caplen).
 */
int cot_pkt_parse(struct cot_pkt *p, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen);

/* Short stable name of a reason, e.g. "trunc-l4". */
const char *cot_pkt_reason_name(unsigned int reason);

#endif
