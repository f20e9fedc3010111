// SPDX-License-Identifier: MIT
/*
 * core/pkt tunnels and core/flow's tunnel keys: frames built from the
 * inside out (each layer wraps the bytes built so far), then every
 * bound: nesting, truncation at each byte, lengths that disagree.
 */
#include <stdio.h>
#include <string.h>

#include "cotrack/flow.h"
#include "cotrack/pkt.h"
#include "t.h"

struct buf {
	uint8_t b[4096];
	uint32_t off, n; /* bytes at b[off .. off + n), 64 spare after */
};

/* Start with @n bytes of payload at the end of the buffer. */
static void start(struct buf *x, uint32_t n)
{
	memset(x, 0, sizeof(*x));
	x->off = sizeof(x->b) - 64 - n; /* slack after, for padding */
	x->n = n;
	memset(x->b + x->off, 'p', n);
}

static uint8_t *push(struct buf *x, uint32_t n)
{
	x->off -= n;
	x->n += n;
	memset(x->b + x->off, 0, n);
	return x->b + x->off;
}

static void udp(struct buf *x, uint16_t sp, uint16_t dp)
{
	uint8_t *h = push(x, 8);

	cot_put_be16(h, sp);
	cot_put_be16(h + 2, dp);
	cot_put_be16(h + 4, (uint16_t)x->n);
}

static void tcp(struct buf *x, uint16_t sp, uint16_t dp, uint8_t fl)
{
	uint8_t *h = push(x, 20);

	cot_put_be16(h, sp);
	cot_put_be16(h + 2, dp);
	h[12] = 5 << 4;
	h[13] = fl;
}

static void ip4(struct buf *x, uint8_t proto, uint8_t a, uint8_t b)
{
	uint8_t *h = push(x, 20);

	h[0] = 0x45;
	cot_put_be16(h + 2, (uint16_t)x->n);
	h[8] = 64;
	h[9] = proto;
	h[12] = 10, h[15] = a;
	h[16] = 10, h[19] = b;
}

static void ip6(struct buf *x, uint8_t nh, uint8_t a, uint8_t b)
{
	uint8_t *h = push(x, 40);

	h[0] = 0x60;
	cot_put_be16(h + 4, (uint16_t)(x->n - 40));
	h[6] = nh;
	h[7] = 64;
	h[8] = 0xfd, h[23] = a;
	h[24] = 0xfd, h[39] = b;
}

static void eth(struct buf *x, uint16_t et)
{
	uint8_t *h = push(x, 14);

	h[0] = 2, h[6] = 2;
	cot_put_be16(h + 12, et);
}

static void vxlan(struct buf *x, uint32_t vni)
{
	uint8_t *h = push(x, 8);

	h[0] = 0x08;
	cot_put_be32(h + 4, vni << 8);
}

static int parse(struct cot_pkt *p, const struct buf *x)
{
	return cot_pkt_parse(p, x->b + x->off, x->n, x->n);
}

/* TCP 10.0.0.1:1000 -> 10.0.0.2:80 in VXLAN @vni, over 10.0.0.9 > 10.0.0.8 */
static void vxlan_frame(struct buf *x, uint32_t vni, bool reply)
{
	start(x, 10);
	if (reply) {
		tcp(x, 80, 1000, COT_TCP_SYN | COT_TCP_ACK);
		ip4(x, 6, 2, 1);
	} else {
		tcp(x, 1000, 80, COT_TCP_SYN);
		ip4(x, 6, 1, 2);
	}
	eth(x, 0x0800);
	vxlan(x, vni);
	udp(x, reply ? 50001 : 50000, 4789);
	if (reply)
		ip4(x, 17, 8, 9);
	else
		ip4(x, 17, 9, 8);
	eth(x, 0x0800);
}

static void test_vxlan_view(void)
{
	struct cot_pkt p;
	struct buf x;
	uint32_t i;

	vxlan_frame(&x, 77, false);
	T_EQ_U(parse(&p, &x), COT_PKT_OK);
	T_EQ_U(p.ntun, 1);
	T_EQ_U(p.inner_reason, 0);
	T_EQ_U(p.tun[0].type, COT_TUN_VXLAN);
	T_EQ_U(p.tun[0].id, 77);
	T_EQ_U(p.tun[0].dport, 4789);
	T_EQ_U(p.tun[0].ip_len, x.n - 14);
	T_EQ_U(p.tun[0].src.b[15], 9);
	T_EQ_U(p.ipproto, 6);
	T_EQ_U(p.sport, 1000);
	T_EQ_U(p.src.b[15], 1);
	T_EQ_U(p.ip_len, 40 + 10);
	T_EQ_U(p.l3_off, 14 + 20 + 8 + 8 + 14);

	/* Cut at every byte: never an error for the outer packet once its
	 * UDP header is in; the inner one is then not decapsulated. */
	for (i = 14 + 20 + 8; i < x.n; i++) {
		cot_pkt_parse(&p, x.b + x.off, i, x.n);
		T_ASSERT(p.reason == COT_PKT_OK);
		if (i < 14 + 20 + 8 + 8 + 14 + 20 + 20) {
			T_ASSERT(p.ntun == 0);
			T_ASSERT(p.inner_reason != 0);
			T_ASSERT(p.dport == 4789);
		}
	}

	/* No I flag: the outer flow only, and why. */
	x.b[x.off + 14 + 20 + 8] = 0;
	T_EQ_U(parse(&p, &x), COT_PKT_OK);
	T_EQ_U(p.ntun, 0);
	T_EQ_U(p.inner_reason, COT_PKT_BAD_TUN);
	T_EQ_U(p.dport, 4789);

	/* Off switch and other ports. */
	vxlan_frame(&x, 77, false);
	{
		struct cot_pkt_cfg c;

		cot_pkt_cfg_default(&c);
		c.decap = false;
		cot_pkt_parse_cfg(&p, x.b + x.off, x.n, x.n, &c);
		T_EQ_U(p.ntun, 0);
		T_EQ_U(p.inner_reason, 0);
		cot_pkt_cfg_default(&c);
		memset(c.vxlan_port, 0, sizeof(c.vxlan_port));
		c.vxlan_port[0] = 4790;
		cot_pkt_parse_cfg(&p, x.b + x.off, x.n, x.n, &c);
		T_EQ_U(p.ntun, 0);
	}
}

/* Five IP-in-IP headers around TCP: four decapsulated, then the bound. */
static void test_depth(void)
{
	struct cot_pkt p;
	struct buf x;
	int i;

	start(&x, 0);
	tcp(&x, 1, 2, COT_TCP_SYN);
	ip4(&x, 6, 1, 2);
	/* each header carries the one inside it: 4 for IPv4, 41 for IPv6 */
	for (i = 0; i < COT_PKT_MAX_TUN + 1; i++)
		if (i % 2)
			ip6(&x, 4, (uint8_t)(20 + i), (uint8_t)(30 + i));
		else
			ip4(&x, i ? 41 : 4, (uint8_t)(20 + i),
			    (uint8_t)(30 + i));
	eth(&x, (COT_PKT_MAX_TUN + 1) % 2 ? 0x0800 : 0x86dd);
	T_EQ_U(parse(&p, &x), COT_PKT_OK);
	T_EQ_U(p.ntun, COT_PKT_MAX_TUN);
	T_EQ_U(p.inner_reason, COT_PKT_TUN_DEPTH);
	T_EQ_U(p.tun[0].type, COT_TUN_IPIP);
	/* the view is the last IP-in-IP layer allowed, not the TCP */
	T_EQ_U(p.ipproto, 4);
}

/* IP-in-IP whose inner header claims more than the outer datagram. */
static void test_inner_bad(void)
{
	struct cot_pkt p;
	struct buf x;

	start(&x, 0);
	tcp(&x, 1, 2, COT_TCP_SYN);
	ip4(&x, 6, 1, 2);
	cot_put_be16(x.b + x.off + 2, 41); /* one past */
	ip4(&x, 4, 5, 6);
	eth(&x, 0x0800);
	T_EQ_U(parse(&p, &x), COT_PKT_OK);
	T_EQ_U(p.ntun, 0);
	T_EQ_U(p.inner_reason, COT_PKT_BAD_IP4);
	T_EQ_U(p.ipproto, 4);
	T_EQ_U(p.src.b[15], 5);
	/* ... even when the frame has the byte (Ethernet padding) */
	x.b[x.off + x.n] = 0;
	cot_pkt_parse(&p, x.b + x.off, x.n + 1, x.n + 1);
	T_EQ_U(p.inner_reason, COT_PKT_BAD_IP4);
}

static int nrec;
static struct cot_rec recs[8];

static void on_rec(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		   uint32_t slot)
{
	(void)ctx;
	(void)slot;
	if (ev == COT_FLOW_ENDED && nrec < 8)
		recs[nrec++] = *r;
}

/* Same inner 5-tuple in two VNIs: two connections; the outer flows count
 * them; replies find their connection. */
static void test_flow_keys(void)
{
	struct cot_flow_params fp;
	struct cot_flowtab *t;
	static uint64_t mem[1 << 16];
	struct cot_pkt p;
	struct buf x;
	int a, b, c, i;

	cot_flow_params_default(&fp);
	fp.max_flows = 64;
	fp.cb = on_rec;
	T_ASSERT(cot_flowtab_memsize(&fp) <= sizeof(mem));
	T_ASSERT(cot_flowtab_init(&t, mem, sizeof(mem), &fp) == 0);
	vxlan_frame(&x, 1, false);
	parse(&p, &x);
	a = cot_flowtab_update(t, &p, 1);
	vxlan_frame(&x, 2, false);
	parse(&p, &x);
	b = cot_flowtab_update(t, &p, 2);
	vxlan_frame(&x, 1, true);
	parse(&p, &x);
	c = cot_flowtab_update(t, &p, 3);
	T_CHECK(a >= 0 && b >= 0 && a != b);
	T_EQ_U(c, a);
	nrec = 0;
	cot_flowtab_flush(t, 4, COT_END_OPEN);
	/* 2 inner + 2 outer (one per direction's source port) */
	T_EQ_U(nrec, 4);
	for (i = 0; i < nrec; i++) {
		if (recs[i].tun_type == COT_TUN_VXLAN) {
			T_CHECK(recs[i].tun_id == 1 || recs[i].tun_id == 2);
			T_EQ_U(recs[i].src.b[15], 1);
			T_EQ_U(recs[i].tun_src.b[15], 9);
			T_EQ_U(recs[i].tun_dst.b[15], 8);
			T_EQ_U(recs[i].pkts_rev, recs[i].tun_id == 1 ? 1 : 0);
		} else if (recs[i].sport == 50000) {
			T_EQ_U(recs[i].inner_conns, 2);
			T_EQ_U(recs[i].pkts_fwd, 2);
		} else {
			T_EQ_U(recs[i].sport, 50001);
			T_EQ_U(recs[i].inner_conns, 0);
		}
	}
}

int main(void)
{
	T_RUN(test_vxlan_view);
	T_RUN(test_depth);
	T_RUN(test_inner_bad);
	T_RUN(test_flow_keys);
	return t_done();
}
