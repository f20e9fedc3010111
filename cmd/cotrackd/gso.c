// SPDX-License-Identifier: MIT
/* Software GSO and checksum completion: see gso.h. */
#include <string.h>

#include "gso.h"

#define PROTO_TCP 6
#define PROTO_UDP 17

/* RFC 1071 one's complement sum of @n bytes, added to @sum. */
static uint64_t csum_add(uint64_t sum, const uint8_t *b, uint32_t n)
{
	uint32_t i;

	/* Bound: @n bytes of a frame (< 2^17). */
	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

/*
 * The RFC 793 / RFC 8200 8.1 pseudo-header sum for @l4len bytes of
 * protocol @proto of the datagram whose IP header is at @ip.
 */
static uint64_t pseudo(const struct cot_pkt *p, const uint8_t *ip,
		       uint32_t l4len)
{
	uint64_t sum = 0;

	if (p->ipver == 4)
		sum = csum_add(sum, ip + 12, 8);
	else
		sum = csum_add(sum, ip + 8, 32);
	return sum + p->ipproto + l4len;
}

/* Write the checksum of the L4 datagram at @l4 (@l4len bytes). */
static void l4_csum(const struct cot_pkt *p, const uint8_t *ip, uint8_t *l4,
		    uint32_t l4len)
{
	uint32_t at = p->ipproto == PROTO_TCP ? 16 : 6;
	uint16_t c;

	put16(l4 + at, 0);
	c = csum_fold(csum_add(pseudo(p, ip, l4len), l4, l4len));
	/* RFC 768: a computed UDP checksum of 0 is sent as all ones. */
	if (p->ipproto == PROTO_UDP && c == 0)
		c = 0xffff;
	put16(l4 + at, c);
}

uint64_t gso_need(const struct cot_pkt *p)
{
	uint64_t hdr = (uint64_t)p->l4_off + p->tcp_hlen;

	return (uint64_t)p->segs * hdr + (p->l4_len - p->tcp_hlen);
}

int gso_segment(const struct cot_pkt *p, const uint8_t *f, uint32_t len,
		uint32_t mss, uint8_t *out, uint64_t cap, struct gso_seg *seg,
		uint32_t max)
{
	uint32_t hdr, iphl, payload, off = 0, at, i;
	uint16_t id0 = 0;

	if (!(p->fl & COT_PKT_F_GSO) || p->reason != COT_PKT_OK || !mss ||
	    p->segs > max || gso_need(p) > cap ||
	    (uint64_t)p->l4_off + p->l4_len > len)
		return -1;
	hdr = p->l4_off + p->tcp_hlen;
	iphl = p->l4_off - p->l3_off;
	payload = p->l4_len - p->tcp_hlen;
	at = hdr;
	if (p->ipver == 4)
		id0 = (uint16_t)(f[p->l3_off + 4] << 8 | f[p->l3_off + 5]);
	/* Bound: p->segs <= 746 (cot_pkt_gso_tcp), checked against @max. */
	for (i = 0; i < p->segs; i++) {
		uint32_t chunk =
			payload - (at - hdr) < mss ? payload - (at - hdr) : mss;
		uint8_t *s = out + off, *ip = s + p->l3_off,
			*th = s + p->l4_off;
		uint8_t fl =
			i + 1 == p->segs ? p->tcp_flags : p->tcp_flags_first;

		memcpy(s, f, hdr);
		memcpy(s + hdr, f + at, chunk);
		if (p->ipver == 4) {
			put16(ip + 2, (uint16_t)(iphl + p->tcp_hlen + chunk));
			put16(ip + 4, (uint16_t)(id0 + i));
			put16(ip + 10, 0);
			put16(ip + 10, csum_fold(csum_add(0, ip, iphl)));
		} else {
			put16(ip + 4,
			      (uint16_t)(iphl - 40 + p->tcp_hlen + chunk));
		}
		put32(th + 4, p->tcp_seq + (at - hdr));
		/* CWR on the first segment only. */
		if (i)
			fl &= (uint8_t)~COT_TCP_CWR;
		th[13] = fl;
		l4_csum(p, ip, th, p->tcp_hlen + chunk);
		seg[i].off = off;
		seg[i].len = hdr + chunk;
		off += hdr + chunk;
		at += chunk;
	}
	return (int)p->segs;
}

int gso_csum(const struct cot_pkt *p, uint8_t *f, uint32_t len)
{
	uint32_t l4len;

	if (p->reason != COT_PKT_OK || !(p->fl & COT_PKT_F_L4) ||
	    (p->fl & COT_PKT_F_FRAG) ||
	    (p->ipproto != PROTO_TCP && p->ipproto != PROTO_UDP) ||
	    (uint64_t)p->l4_off + p->l4_len > len)
		return -1;
	l4len = p->l4_len;
	if (p->ipproto == PROTO_UDP) {
		/* The UDP length, which parse_l4 checked is <= l4_len. */
		l4len = (uint32_t)f[p->l4_off + 4] << 8 | f[p->l4_off + 5];
	}
	l4_csum(p, f + p->l3_off, f + p->l4_off, l4len);
	return 0;
}
