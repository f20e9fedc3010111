/* SPDX-License-Identifier: MIT */
/*
 * Software segmentation and checksum completion for frames a guest sent
 * with offloads (a vhost-user VM with offloads=on: docs/vhost-user.md).
 * What a record says about such a frame is decided in core/pkt
 * (cot_pkt_gso_tcp()); this file only builds the wire frames for ports
 * that cannot take a super-frame or a partial checksum.
 *
 * Thread-safe (no state); no allocation: output goes to the caller's
 * buffer.
 */
#ifndef COTRACKD_GSO_H
#define COTRACKD_GSO_H

#include <stdint.h>

#include "cotrack/pkt.h"

struct gso_seg {
	uint32_t off, len; /* a segment's frame in the output buffer */
};

/* Bytes of output gso_segment() needs for @p (with COT_PKT_F_GSO). */
uint64_t gso_need(const struct cot_pkt *p);

/*
 * Cut the TCP super-frame @f (@len bytes, parsed in @p, on which
 * cot_pkt_gso_tcp(p, @mss) set COT_PKT_F_GSO) into p->segs Ethernet
 * frames of at most @mss payload bytes each, as Linux's
 * tcp_gso_segment() does: headers copied (Ethernet, VLAN tags, IP with
 * options or extension headers, TCP with options), IPv4 total length,
 * identification (+1 per segment) and header checksum, IPv6 payload
 * length, TCP sequence number, flags (FIN and PSH on the last segment
 * only, CWR on the first only) and a full TCP checksum per segment.
 * Writes the frames one after the other to @out (@cap bytes) and their
 * places to @seg (@max entries).  Returns the number of segments, or -1
 * when @p is not such a view or @out / @seg are too small.
 */
int gso_segment(const struct cot_pkt *p, const uint8_t *f, uint32_t len,
		uint32_t mss, uint8_t *out, uint64_t cap, struct gso_seg *seg,
		uint32_t max);

/*
 * Complete the checksum a guest left partial (checksum offload): the
 * full TCP or UDP checksum of frame @f (parsed in @p: OK, TCP or UDP,
 * not a fragment), written in place.  Returns 0, or -1 when @p is not
 * such a view (the frame is left as it is).
 */
int gso_csum(const struct cot_pkt *p, uint8_t *f, uint32_t len);

#endif
