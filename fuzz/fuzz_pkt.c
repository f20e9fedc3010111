// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for core/pkt: any bytes as a frame, with caplen the
 * input size.  The wire length comes from the first destination-MAC byte
 * (which the parser ignores): bit 7 adds 8 * the second byte to it
 * (a snaplen-cut frame), bit 6 passes a smaller wirelen (to be taken as
 * caplen), else wirelen = caplen.  Checks the view's invariants.
 */
#include <stdlib.h>

#include "cotrack/pkt.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static uint32_t l4_min(const struct cot_pkt *p)
{
	switch (p->ipproto) {
	case 6:
		return 20;
	case 17:
		return 8;
	case 1:
		return p->ipver == 4 ? 8 : 0;
	case 58:
		return p->ipver == 6 ? 8 : 0;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cot_pkt p;
	uint32_t caplen, wirelen, wire;
	const char *name;
	int r;

	if (size > 1u << 20)
		return 0;
	caplen = (uint32_t)size;
	wirelen = caplen;
	if (size >= 2 && (data[0] & 0x80))
		wirelen = caplen + 8u * data[1];
	else if (size >= 2 && (data[0] & 0x40))
		wirelen = caplen / 2;
	wire = COT_MAX(wirelen, caplen);

	r = cot_pkt_parse(&p, data, caplen, wirelen);
	CHECK(r >= 0 && r < COT_PKT__COUNT);
	CHECK(r == p.reason);
	name = cot_pkt_reason_name((unsigned int)r);
	CHECK(name && name[0] && name[0] != '?');
	CHECK(!!(p.fl & COT_PKT_F_SNAPLEN) == (wire > caplen));
	CHECK(p.nvlan <= COT_PKT_MAX_VLAN);
	if (r == COT_PKT_NOT_IP || r == COT_PKT_TRUNC_ETH ||
	    r == COT_PKT_TRUNC_VLAN || r == COT_PKT_VLAN_DEPTH)
		CHECK(p.ipver == 0 && !(p.fl & ~COT_PKT_F_SNAPLEN));
	if (r != COT_PKT_OK)
		return 0;

	CHECK(p.ipver == 4 || p.ipver == 6);
	CHECK(p.ntun <= COT_PKT_MAX_TUN);
	CHECK(p.inner_reason < COT_PKT__COUNT &&
	      p.inner_reason != COT_PKT_NOT_IP);
	/* a tunnel's inner packet starts after the outer headers */
	CHECK(p.ntun ? p.l3_off > 14u + 4u * p.nvlan
		     : p.l3_off == 14u + 4u * p.nvlan);
	for (unsigned int k = 0; k < p.ntun; k++) {
		CHECK(p.tun[k].type > COT_TUN_NONE &&
		      p.tun[k].type < COT_TUN__COUNT);
		CHECK(p.tun[k].ipver == 4 || p.tun[k].ipver == 6);
		CHECK(p.tun[k].ip_len <= wire);
		CHECK(cot_tun_name(p.tun[k].type)[0] != '\0');
	}
	CHECK(p.l3_off + (p.ipver == 4 ? 20u : 40u) <= caplen);
	CHECK(p.l3_off + p.ip_len <= wire);
	CHECK(p.l4_off >= p.l3_off + (p.ipver == 4 ? 20u : 40u));
	CHECK(p.l4_off - p.l3_off + p.l4_len == p.ip_len);
	CHECK(!(p.fl & COT_PKT_F_FIRST_FRAG) || (p.fl & COT_PKT_F_FRAG));
	/* F_L4 exactly when this is not a non-first fragment */
	CHECK(!(p.fl & COT_PKT_F_L4) ==
	      ((p.fl & COT_PKT_F_FRAG) && !(p.fl & COT_PKT_F_FIRST_FRAG)));
	CHECK(!(p.fl & COT_PKT_F_IP_OPTS) || p.ipver == 4);
	if (p.fl & COT_PKT_F_L4) {
		uint32_t need = l4_min(&p);

		/* nothing above IP is read for port-less protocols, so
		 * their l4_off may lie past caplen */
		CHECK(p.l4_len >= need);
		CHECK(need == 0 || p.l4_off + need <= caplen);
		if (need == 0)
			CHECK(p.sport == 0 && p.dport == 0);
	} else {
		CHECK(p.sport == 0 && p.dport == 0 && p.tcp_flags == 0);
	}
	if (!(p.fl & COT_PKT_F_FRAG))
		CHECK(p.frag_id == 0);
	if (p.ipver == 4)
		CHECK(cot_addr_is_v4(&p.src) && cot_addr_is_v4(&p.dst));
	return 0;
}
