// SPDX-License-Identifier: MIT
/*
 * core/pkt: every parser path, on frames assembled here byte by byte.
 *
 * Truncation tests hand the parser a heap copy of exactly caplen bytes,
 * so ASan reports any read past the end.
 *
 * `test_pkt --write-corpus DIR` writes the valid frames built here as
 * the libFuzzer seed corpus (fuzz/corpus/pkt/).
 */
#include <errno.h>
#include <stdint.h>

#include "t.h"
#include "cotrack/pkt.h"

/* --- frame builder ----------------------------------------------------- */

struct fb {
	uint8_t b[2048];
	uint32_t n;
	uint32_t l3;	  /* offset of the IP header */
	uint32_t l4;	  /* offset of the upper-layer header */
	uint32_t udp_off; /* 0: no UDP header to fix up */
	int v;		  /* 4, 6 or 0 */
};

static const uint8_t SRC4[4] = { 10, 0, 0, 1 }, DST4[4] = { 192, 168, 7, 2 };
static const uint8_t SRC6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t DST6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				  0,	0,    0,    0,	  0, 0, 0, 2 };

static uint32_t put(struct fb *f, const void *d, uint32_t n)
{
	uint32_t at = f->n;

	if (f->n + n > sizeof(f->b)) {
		fprintf(stdout, "# frame builder overflow\n");
		abort();
	}
	if (d)
		memcpy(f->b + f->n, d, n);
	else
		memset(f->b + f->n, 0, n);
	f->n += n;
	return at;
}

static void put16(struct fb *f, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(f, x, 2);
}

static void put32(struct fb *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void eth(struct fb *f, uint16_t et)
{
	static const uint8_t macs[12] = { 0x52, 0x54, 0, 0, 0, 1,
					  0x52, 0x54, 0, 0, 0, 2 };

	memset(f, 0, sizeof(*f));
	put(f, macs, 12);
	put16(f, et);
}

/* One 802.1Q/802.1ad tag; @et is the ethertype that follows it. */
static void vlan(struct fb *f, uint16_t tci, uint16_t et)
{
	put16(f, tci);
	put16(f, et);
}

/* IPv4 header with @optlen bytes of options @opt; lengths by finish(). */
static void ip4(struct fb *f, uint8_t proto, const uint8_t *opt,
		uint32_t optlen, uint16_t frag, uint16_t id)
{
	f->l3 = put(f, NULL, 20);
	f->v = 4;
	f->b[f->l3] = (uint8_t)(0x40 | ((20 + optlen) / 4));
	cot_put_be16(f->b + f->l3 + 4, id);
	cot_put_be16(f->b + f->l3 + 6, frag);
	f->b[f->l3 + 8] = 64;
	f->b[f->l3 + 9] = proto;
	memcpy(f->b + f->l3 + 12, SRC4, 4);
	memcpy(f->b + f->l3 + 16, DST4, 4);
	if (optlen)
		put(f, opt, optlen);
	f->l4 = f->n;
}

static void ip6(struct fb *f, uint8_t nh)
{
	f->l3 = put(f, NULL, 40);
	f->v = 6;
	f->b[f->l3] = 0x60;
	f->b[f->l3 + 6] = nh;
	f->b[f->l3 + 7] = 64;
	memcpy(f->b + f->l3 + 8, SRC6, 16);
	memcpy(f->b + f->l3 + 24, DST6, 16);
	f->l4 = f->n;
}

/* Generic extension header (hop-by-hop, routing, dest. options) of
 * @len bytes (a multiple of 8, >= 8), padded with PadN. */
static void ext6(struct fb *f, uint8_t nh, uint32_t len)
{
	uint32_t at = put(f, NULL, len);

	f->b[at] = nh;
	f->b[at + 1] = (uint8_t)(len / 8 - 1);
	f->b[at + 2] = 1; /* PadN */
	f->b[at + 3] = (uint8_t)(len - 4);
	f->l4 = f->n;
}

/* AH of @len bytes (a multiple of 4, >= 12). */
static void ah6(struct fb *f, uint8_t nh, uint32_t len)
{
	uint32_t at = put(f, NULL, len);

	f->b[at] = nh;
	f->b[at + 1] = (uint8_t)(len / 4 - 2);
	cot_put_be32(f->b + at + 4, 0x1234); /* SPI */
	f->l4 = f->n;
}

static void frag6(struct fb *f, uint8_t nh, uint16_t off8, int more,
		  uint32_t id)
{
	uint32_t at = put(f, NULL, 8);

	f->b[at] = nh;
	cot_put_be16(f->b + at + 2, (uint16_t)(off8 << 3 | (more ? 1 : 0)));
	cot_put_be32(f->b + at + 4, id);
	f->l4 = f->n;
}

static void tcp(struct fb *f, uint16_t sport, uint16_t dport, uint8_t flags,
		uint32_t seq, uint32_t ack, uint32_t optlen)
{
	f->l4 = f->n;
	put16(f, sport);
	put16(f, dport);
	put32(f, seq);
	put32(f, ack);
	put16(f, (uint16_t)(((20 + optlen) / 4) << 12 | flags));
	put16(f, 65535);
	put32(f, 0);
	if (optlen)
		memset(f->b + put(f, NULL, optlen), 1, optlen); /* NOPs */
}

static void udp(struct fb *f, uint16_t sport, uint16_t dport)
{
	f->l4 = f->udp_off = f->n;
	put16(f, sport);
	put16(f, dport);
	put32(f, 0);
}

static void icmp(struct fb *f, uint8_t type, uint8_t code, uint16_t id,
		 uint16_t seq)
{
	f->l4 = f->n;
	put(f, (uint8_t[]){ type, code, 0, 0 }, 4);
	put16(f, id);
	put16(f, seq);
}

static void data(struct fb *f, uint32_t n)
{
	uint32_t at = put(f, NULL, n), i;

	for (i = 0; i < n; i++)
		f->b[at + i] = (uint8_t)(i * 7 + 3);
}

/* Fill in IP and UDP lengths from what was built. */
static void finish(struct fb *f)
{
	if (f->v == 4)
		cot_put_be16(f->b + f->l3 + 2, (uint16_t)(f->n - f->l3));
	else if (f->v == 6)
		cot_put_be16(f->b + f->l3 + 4, (uint16_t)(f->n - f->l3 - 40));
	if (f->udp_off)
		cot_put_be16(f->b + f->udp_off + 4,
			     (uint16_t)(f->n - f->udp_off));
}

/* Parse a heap copy of the first @caplen bytes (ASan-checked bounds). */
static int parse_cut(struct cot_pkt *p, const struct fb *f, uint32_t caplen,
		     uint32_t wirelen)
{
	uint8_t *buf = malloc(caplen); /* ASan: a 0-byte block for 0 */
	int r;

	if (!buf)
		abort();
	memcpy(buf, f->b, caplen);
	r = cot_pkt_parse(p, buf, caplen, wirelen);
	free(buf);
	return r;
}

static int parse(struct cot_pkt *p, const struct fb *f)
{
	return parse_cut(p, f, f->n, f->n);
}

static int is_v4(const struct cot_addr *a, const uint8_t v4[4])
{
	return cot_addr_is_v4(a) && memcmp(a->b + 12, v4, 4) == 0;
}

/*
 * The reason for a frame cut to @cut bytes (wire length intact):
 * @need[i] bytes from @start[i] make header i present; the first header
 * not present decides.
 */
struct layer {
	uint32_t start, need;
	enum cot_pkt_reason trunc;
};

static void check_trunc(const struct fb *f, const struct layer *ly, int nly,
			enum cot_pkt_reason full)
{
	uint32_t cut;
	int bad = 0;

	for (cut = 0; cut <= f->n; cut++) {
		struct cot_pkt p;
		enum cot_pkt_reason want = full;
		int i, r;

		for (i = 0; i < nly; i++) {
			if (cut < ly[i].start + ly[i].need) {
				want = ly[i].trunc;
				break;
			}
		}
		r = parse_cut(&p, f, cut, f->n);
		if (r != (int)want || p.reason != want ||
		    !!(p.fl & COT_PKT_F_SNAPLEN) != (cut < f->n)) {
			if (bad++ < 5)
				fprintf(stdout,
					"#   cut %u: got %s, want %s, fl %#x\n",
					cut, cot_pkt_reason_name((unsigned)r),
					cot_pkt_reason_name(want), p.fl);
		}
	}
	T_EQ_U(bad, 0);
}

/* --- tests ------------------------------------------------------------- */

static void test_reason_names(void)
{
	unsigned int i, j;

	for (i = 0; i < COT_PKT__COUNT; i++) {
		const char *a = cot_pkt_reason_name(i);

		T_ASSERT(a && a[0] && strcmp(a, "?") != 0);
		for (j = 0; j < i; j++)
			T_CHECK(strcmp(a, cot_pkt_reason_name(j)) != 0);
	}
	T_EQ_S(cot_pkt_reason_name(COT_PKT_OK), "ok");
	T_EQ_S(cot_pkt_reason_name(COT_PKT_TRUNC_L4), "trunc-l4");
	T_EQ_S(cot_pkt_reason_name(COT_PKT__COUNT), "?");
	T_EQ_S(cot_pkt_reason_name(~0u), "?");
}

static void test_not_ip(void)
{
	struct fb f;
	struct cot_pkt p;

	eth(&f, 0x0806); /* ARP */
	data(&f, 28);
	T_EQ_U(parse(&p, &f), COT_PKT_NOT_IP);
	T_EQ_U(p.reason, COT_PKT_NOT_IP);
	T_EQ_U(p.ethertype, 0x0806);
	T_EQ_U(p.ipver, 0);
	T_EQ_U(p.l3_off, 14);

	eth(&f, 46); /* 802.3 length field, LLC */
	data(&f, 46);
	T_EQ_U(parse(&p, &f), COT_PKT_NOT_IP);

	eth(&f, 0x8100); /* ARP in a VLAN */
	vlan(&f, 5, 0x0806);
	data(&f, 28);
	T_EQ_U(parse(&p, &f), COT_PKT_NOT_IP);
	T_EQ_U(p.nvlan, 1);
	T_EQ_U(p.vlan[0], 5);
	T_EQ_U(p.l3_off, 18);
}

static void test_trunc_eth(void)
{
	struct fb f;
	struct cot_pkt p;
	uint32_t cut;

	eth(&f, 0x0800);
	for (cut = 0; cut < 14; cut++) {
		T_EQ_U(parse_cut(&p, &f, cut, cut), COT_PKT_TRUNC_ETH);
		T_EQ_U(p.fl, 0);
	}
	T_EQ_U(parse_cut(&p, &f, 14, 14), COT_PKT_TRUNC_IP4);
	T_EQ_U(parse_cut(&p, &f, 0, 64), COT_PKT_TRUNC_ETH);
	T_EQ_U(p.fl, COT_PKT_F_SNAPLEN);
}

static void test_ip4_tcp(void)
{
	struct fb f;
	struct cot_pkt p;

	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0x4000 /* DF: not a fragment */, 77);
	tcp(&f, 40000, 443, COT_TCP_SYN | COT_TCP_ACK, 1000, 2000, 0);
	data(&f, 10);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.reason, COT_PKT_OK);
	T_EQ_U(p.ipver, 4);
	T_EQ_U(p.ipproto, 6);
	T_EQ_U(p.fl, COT_PKT_F_L4);
	T_EQ_U(p.nvlan, 0);
	T_EQ_U(p.ethertype, 0x0800);
	T_EQ_U(p.sport, 40000);
	T_EQ_U(p.dport, 443);
	T_EQ_U(p.tcp_flags, COT_TCP_SYN | COT_TCP_ACK);
	T_EQ_U(p.tcp_seq, 1000);
	T_EQ_U(p.tcp_ack, 2000);
	T_EQ_U(p.ip_len, 20 + 20 + 10);
	T_EQ_U(p.l3_off, 14);
	T_EQ_U(p.l4_off, 34);
	T_EQ_U(p.l4_len, 30);
	T_EQ_U(p.frag_id, 0);
	T_CHECK(is_v4(&p.src, SRC4));
	T_CHECK(is_v4(&p.dst, DST4));

	/* TCP options are not needed in the capture, only in the datagram. */
	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0, 1);
	tcp(&f, 1, 2, COT_TCP_ACK, 5, 6, 12);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.l4_len, 32);
	T_EQ_U(parse_cut(&p, &f, 14 + 20 + 20, f.n), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_L4 | COT_PKT_F_SNAPLEN);
}

static void test_ip4_tcp_trunc(void)
{
	static const uint8_t opt[8] = { 1, 1, 0x44, 4, 5, 0, 0, 0 };
	struct fb f;

	/* VLAN + IPv4 with options + TCP with options + payload */
	eth(&f, 0x8100);
	vlan(&f, 0x2064, 0x0800);
	ip4(&f, 6, opt, sizeof(opt), 0, 9);
	tcp(&f, 1234, 80, COT_TCP_PSH | COT_TCP_ACK, 1, 2, 8);
	data(&f, 20);
	finish(&f);
	{
		const struct layer ly[] = {
			{ 0, 14, COT_PKT_TRUNC_ETH },
			{ 14, 4, COT_PKT_TRUNC_VLAN },
			{ 18, 28, COT_PKT_TRUNC_IP4 },
			{ 46, 20, COT_PKT_TRUNC_L4 },
		};

		check_trunc(&f, ly, 4, COT_PKT_OK);
	}
}

static void test_ip4_runt(void)
{
	/* Cut with wirelen == caplen: the IP total length no longer fits
	 * the frame, which is the datagram's fault, not the capture's. */
	struct fb f;
	struct cot_pkt p;
	uint32_t cut;
	int bad = 0;

	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0, 0, 1);
	udp(&f, 53, 5353);
	data(&f, 12);
	finish(&f);
	for (cut = 0; cut <= f.n; cut++) {
		enum cot_pkt_reason want = cut < 14    ? COT_PKT_TRUNC_ETH
					   : cut < 34  ? COT_PKT_TRUNC_IP4
					   : cut < f.n ? COT_PKT_BAD_IP4
						       : COT_PKT_OK;

		if (parse_cut(&p, &f, cut, cut) != (int)want ||
		    p.fl & COT_PKT_F_SNAPLEN)
			bad++;
	}
	T_EQ_U(bad, 0);
}

static void test_ip4_bad(void)
{
	struct fb f;
	struct cot_pkt p;

	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0, 1);
	tcp(&f, 1, 2, COT_TCP_SYN, 0, 0, 0);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);

	f.b[14] = 0x44; /* IHL 4 */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP4);
	f.b[14] = 0x40; /* IHL 0 */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP4);
	f.b[14] = 0x55; /* version 5 */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP4);
	f.b[14] = 0x65; /* version 6 behind ethertype IPv4 */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP4);
	f.b[14] = 0x4f; /* IHL 60 > total length 40 */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP4);
	f.b[14] = 0x45;

	cot_put_be16(f.b + 16, 19); /* total < header */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP4);
	cot_put_be16(f.b + 16, 0); /* TSO capture: the frame's length */
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ip_len, f.n - 14);
	cot_put_be16(f.b + 16, 41); /* one past the frame */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP4);
	/* ... but fine if the wire had it and the capture cut it */
	T_EQ_U(parse_cut(&p, &f, f.n, f.n + 1), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_L4 | COT_PKT_F_SNAPLEN);
	T_EQ_U(p.ip_len, 41);
	cot_put_be16(f.b + 16, 24); /* room for 4 bytes of TCP */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_TCP);
	cot_put_be16(f.b + 16, 40);

	/* IHL 6: the "option" is the TCP ports (00 01: EOL), fine; the
	 * TCP header then lacks its last 4 bytes in the datagram. */
	f.b[14] = 0x46;
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_TCP);
	T_CHECK(p.fl & COT_PKT_F_IP_OPTS);
}

static void test_ip4_options(void)
{
	static const struct {
		uint8_t o[12];
		uint32_t n;
		enum cot_pkt_reason want;
	} cases[] = {
		{ { 1, 1, 1, 1 }, 4, COT_PKT_OK },   /* NOPs */
		{ { 0, 0, 0, 0 }, 4, COT_PKT_OK },   /* EOL */
		{ { 0, 9, 9, 9 }, 4, COT_PKT_OK },   /* EOL, junk pad */
		{ { 148, 4, 0, 0 }, 4, COT_PKT_OK }, /* router alert */
		{ { 1, 7, 7, 4, 0, 0, 0, 0 }, 8, COT_PKT_OK }, /* RR */
		{ { 68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 12, COT_PKT_OK },
		{ { 130, 4, 0, 0, 1, 0, 0, 0 }, 8, COT_PKT_OK }, /* then NOP */
		{ { 148, 0, 0, 0 }, 4, COT_PKT_BAD_IP4_OPT },	 /* len 0 */
		{ { 148, 1, 0, 0 }, 4, COT_PKT_BAD_IP4_OPT },	 /* len 1 */
		{ { 148, 5, 0, 0 }, 4, COT_PKT_BAD_IP4_OPT },	 /* past IHL */
		{ { 1, 1, 1, 7 }, 4, COT_PKT_BAD_IP4_OPT }, /* no len byte */
		{ { 1, 1, 7, 3 }, 4, COT_PKT_BAD_IP4_OPT }, /* 3 > 2 left */
		{ { 148, 4, 0, 0, 7, 5, 0, 0 }, 8, COT_PKT_BAD_IP4_OPT },
		{ { 7, 255, 0, 0 }, 4, COT_PKT_BAD_IP4_OPT },
	};
	size_t i;

	for (i = 0; i < COT_ARRAY_SIZE(cases); i++) {
		struct fb f;
		struct cot_pkt p;
		int r;

		eth(&f, 0x0800);
		ip4(&f, 17, cases[i].o, cases[i].n, 0, 1);
		udp(&f, 7, 7);
		finish(&f);
		r = parse(&p, &f);
		if (r != (int)cases[i].want)
			fprintf(stdout, "#   case %zu: %s\n", i,
				cot_pkt_reason_name((unsigned)r));
		T_EQ_U(r, cases[i].want);
		T_CHECK(p.fl & COT_PKT_F_IP_OPTS);
		if (r == COT_PKT_OK)
			T_EQ_U(p.l4_off, 14 + 20 + cases[i].n);
	}
}

static void test_ip4_udp(void)
{
	struct fb f;
	struct cot_pkt p;

	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0, 0, 1);
	udp(&f, 5353, 53);
	data(&f, 30);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ipproto, 17);
	T_EQ_U(p.sport, 5353);
	T_EQ_U(p.dport, 53);
	T_EQ_U(p.ip_len, 58);
	T_EQ_U(p.l4_len, 38);
	T_EQ_U(p.fl, COT_PKT_F_L4);

	cot_put_be16(f.b + f.udp_off + 4, 30); /* < IP payload: trimmed */
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	cot_put_be16(f.b + f.udp_off + 4, 39); /* > IP payload */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_UDP);
	cot_put_be16(f.b + f.udp_off + 4, 7); /* < header */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_UDP);
	cot_put_be16(f.b + f.udp_off + 4, 0);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_UDP);
	cot_put_be16(f.b + f.udp_off + 4, 38);
	cot_put_be16(f.b + 16, 20 + 7); /* IP leaves 7 bytes for UDP */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_UDP);
	{
		const struct layer ly[] = {
			{ 0, 14, COT_PKT_TRUNC_ETH },
			{ 14, 20, COT_PKT_TRUNC_IP4 },
			{ 34, 8, COT_PKT_TRUNC_L4 },
		};

		cot_put_be16(f.b + 16, 58);
		check_trunc(&f, ly, 3, COT_PKT_OK);
	}
}

static void test_tcp_doff(void)
{
	struct fb f;
	struct cot_pkt p;
	uint8_t doff;

	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0, 1);
	tcp(&f, 1, 2, 0, 0, 0, 4);
	data(&f, 4);
	finish(&f);
	/* TCP segment is 28 bytes: doff 5..7 fit, 0..4 and 8.. do not. */
	for (doff = 0; doff < 16; doff++) {
		f.b[f.l4 + 12] = (uint8_t)(doff << 4);
		T_EQ_U(parse(&p, &f),
		       doff >= 5 && doff <= 7 ? COT_PKT_OK : COT_PKT_BAD_TCP);
	}
}

static void test_icmp(void)
{
	struct fb f;
	struct cot_pkt p, q;

	eth(&f, 0x0800);
	ip4(&f, 1, NULL, 0, 0, 1);
	icmp(&f, 8, 0, 0x4242, 1); /* echo request */
	data(&f, 56);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ipproto, 1);
	T_EQ_U(p.icmp_type, 8);
	T_EQ_U(p.icmp_code, 0);
	T_EQ_U(p.sport, 0x4242);
	T_EQ_U(p.dport, 0x4242);
	T_EQ_U(p.fl, COT_PKT_F_L4);
	f.b[f.l4] = 0; /* echo reply: same flow key */
	T_EQ_U(parse(&q, &f), COT_PKT_OK);
	T_EQ_U(q.sport, p.sport);
	T_EQ_U(q.dport, p.dport);
	T_EQ_U(q.icmp_type, 0);
	f.b[f.l4] = 13; /* timestamp */
	T_EQ_U(parse(&q, &f), COT_PKT_OK);
	T_EQ_U(q.sport, 0x4242);

	f.b[f.l4] = 3; /* port unreachable */
	f.b[f.l4 + 1] = 3;
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.sport, 3);
	T_EQ_U(p.dport, 3);
	T_EQ_U(p.icmp_type, 3);
	T_EQ_U(p.icmp_code, 3);
	f.b[f.l4] = 11; /* time exceeded, code 1 */
	f.b[f.l4 + 1] = 1;
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.sport, 11);
	T_EQ_U(p.dport, 1);

	cot_put_be16(f.b + 16, 20 + 7);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_ICMP);
	cot_put_be16(f.b + 16, 20 + 64);
	{
		const struct layer ly[] = {
			{ 0, 14, COT_PKT_TRUNC_ETH },
			{ 14, 20, COT_PKT_TRUNC_IP4 },
			{ 34, 8, COT_PKT_TRUNC_L4 },
		};

		check_trunc(&f, ly, 3, COT_PKT_OK);
	}

	/* ICMPv6 inside IPv4 is just some protocol: no ports. */
	eth(&f, 0x0800);
	ip4(&f, 58, NULL, 0, 0, 1);
	icmp(&f, 128, 0, 7, 1);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.sport, 0);
	T_EQ_U(p.icmp_type, 0);
	T_EQ_U(p.fl, COT_PKT_F_L4);
}

static void test_other_proto(void)
{
	struct fb f;
	struct cot_pkt p;

	eth(&f, 0x0800);
	ip4(&f, 47, NULL, 0, 0, 1); /* GRE */
	data(&f, 3);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ipproto, 47);
	T_EQ_U(p.fl, COT_PKT_F_L4);
	T_EQ_U(p.sport, 0);
	T_EQ_U(p.dport, 0);
	T_EQ_U(p.l4_len, 3);
	/* nothing above IP is read: IP header alone is enough */
	T_EQ_U(parse_cut(&p, &f, 34, f.n), COT_PKT_OK);

	eth(&f, 0x86dd);
	ip6(&f, 59); /* no next header */
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ipproto, 59);
	T_EQ_U(p.ip_len, 40);
	T_EQ_U(p.l4_len, 0);
	T_EQ_U(p.fl, COT_PKT_F_L4);
}

static void test_ip4_frag(void)
{
	struct fb f;
	struct cot_pkt p;

	/* first fragment: MF, offset 0 */
	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0, 0x2000, 0xbeef);
	udp(&f, 4000, 4001);
	data(&f, 64);
	finish(&f);
	cot_put_be16(f.b + f.udp_off + 4, 1000); /* whole datagram */
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG | COT_PKT_F_L4);
	T_EQ_U(p.frag_id, 0xbeef);
	T_EQ_U(p.sport, 4000);
	T_EQ_U(p.dport, 4001);

	/* middle fragment: MF, offset 72 bytes */
	cot_put_be16(f.b + 20, 0x2000 | 9);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG);
	T_EQ_U(p.frag_id, 0xbeef);
	T_EQ_U(p.ipproto, 17);
	T_EQ_U(p.sport, 0);
	T_EQ_U(p.l4_off, 34);
	T_EQ_U(p.l4_len, 72);
	T_EQ_U(p.ip_len, 92);
	T_CHECK(is_v4(&p.src, SRC4));

	/* last fragment: no MF, offset > 0; the payload need not look
	 * like anything */
	cot_put_be16(f.b + 20, 9);
	memset(f.b + 34, 0xff, 8);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG);
	/* non-first fragment cut by snaplen right after the IP header */
	T_EQ_U(parse_cut(&p, &f, 34, f.n), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG | COT_PKT_F_SNAPLEN);

	/* reassembled size past 65535 */
	cot_put_be16(f.b + 20, 0x1fff);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);
	T_EQ_U(p.fl, COT_PKT_F_FRAG);
	/* 8180 * 8 + 92 = 65532 fits, 8181 * 8 + 92 = 65540 does not */
	cot_put_be16(f.b + 20, 8180);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	cot_put_be16(f.b + 20, 8181);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);

	/* empty fragments, first and not */
	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0x2000, 1);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);
	cot_put_be16(f.b + 20, 0x2000 | 10);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);
	T_EQ_U(p.frag_id, 1);

	/* first fragment too small for the TCP header (RFC 1858) */
	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0x2000, 2);
	data(&f, 16);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);
	/* the same, not fragmented, is a bad TCP segment */
	cot_put_be16(f.b + 20, 0);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_TCP);
	T_EQ_U(p.fl, 0);

	/* DF alone, reserved bit alone: not fragments */
	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0x8000, 3);
	tcp(&f, 1, 2, COT_TCP_ACK, 0, 0, 0);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_L4);
	T_EQ_U(p.frag_id, 0);

	/* first fragment truncated inside TCP by snaplen */
	cot_put_be16(f.b + 20, 0x2000);
	T_EQ_U(parse_cut(&p, &f, 40, f.n), COT_PKT_TRUNC_L4);
	T_EQ_U(p.fl, COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG | COT_PKT_F_SNAPLEN);
}

static void test_vlan(void)
{
	struct fb f;
	struct cot_pkt p;
	static const uint16_t outer[] = { 0x8100, 0x88a8, 0x9100 };
	size_t i;

	/* 802.1Q, PCP and DEI bits masked off the VID */
	eth(&f, 0x8100);
	vlan(&f, 0xe000 | 0x1000 | 100, 0x0800);
	ip4(&f, 6, NULL, 0, 0, 1);
	tcp(&f, 1, 2, COT_TCP_SYN, 0, 0, 0);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.nvlan, 1);
	T_EQ_U(p.vlan[0], 100);
	T_EQ_U(p.ethertype, 0x0800);
	T_EQ_U(p.l3_off, 18);
	T_EQ_U(p.l4_off, 38);

	for (i = 0; i < COT_ARRAY_SIZE(outer); i++) {
		eth(&f, outer[i]);
		vlan(&f, 10, 0x8100);
		vlan(&f, 4095, 0x86dd);
		ip6(&f, 17);
		udp(&f, 9, 10);
		finish(&f);
		T_EQ_U(parse(&p, &f), COT_PKT_OK);
		T_EQ_U(p.nvlan, 2);
		T_EQ_U(p.vlan[0], 10);
		T_EQ_U(p.vlan[1], 4095);
		T_EQ_U(p.l3_off, 22);
		T_EQ_U(p.ipver, 6);
		T_EQ_U(p.sport, 9);
	}
	{
		const struct layer ly[] = {
			{ 0, 14, COT_PKT_TRUNC_ETH },
			{ 14, 4, COT_PKT_TRUNC_VLAN },
			{ 18, 4, COT_PKT_TRUNC_VLAN },
			{ 22, 40, COT_PKT_TRUNC_IP6 },
			{ 62, 8, COT_PKT_TRUNC_L4 },
		};

		check_trunc(&f, ly, 5, COT_PKT_OK);
	}

	/* three tags */
	eth(&f, 0x88a8);
	vlan(&f, 1, 0x8100);
	vlan(&f, 2, 0x8100);
	vlan(&f, 3, 0x0800);
	ip4(&f, 6, NULL, 0, 0, 1);
	tcp(&f, 1, 2, COT_TCP_SYN, 0, 0, 0);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_VLAN_DEPTH);
	T_EQ_U(p.nvlan, 2);
	/* depth is known before the third tag is read */
	T_EQ_U(parse_cut(&p, &f, 22, f.n), COT_PKT_VLAN_DEPTH);
}

static void test_snaplen_padding(void)
{
	struct fb f;
	struct cot_pkt p;

	/* minimal Ethernet frame: 60 bytes, IP datagram 28 bytes */
	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0, 0, 1);
	udp(&f, 1, 2);
	finish(&f);
	put(&f, NULL, 60 - f.n); /* padding, after the lengths were set */
	T_EQ_U(f.n, 60);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ip_len, 28);
	T_EQ_U(p.l4_len, 8);
	T_EQ_U(p.fl, COT_PKT_F_L4);
	/* cut in the padding only: still flagged */
	T_EQ_U(parse_cut(&p, &f, 50, 60), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_L4 | COT_PKT_F_SNAPLEN);
	/* wirelen < caplen is taken as caplen */
	T_EQ_U(parse_cut(&p, &f, 60, 0), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_L4);

	/* snaplen 64 on a 1514-byte TCP frame */
	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0x4000, 1);
	tcp(&f, 80, 50000, COT_TCP_ACK, 9, 9, 12);
	data(&f, 1448);
	finish(&f);
	T_EQ_U(f.n, 1514);
	T_EQ_U(parse_cut(&p, &f, 64, 1514), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_L4 | COT_PKT_F_SNAPLEN);
	T_EQ_U(p.ip_len, 1500);
	T_EQ_U(p.l4_len, 1480);
	T_EQ_U(p.sport, 80);
	/* and with IPv6: 40 + 32 + 1428 */
	eth(&f, 0x86dd);
	ip6(&f, 6);
	tcp(&f, 443, 50000, COT_TCP_ACK, 9, 9, 12);
	data(&f, 1428);
	finish(&f);
	T_EQ_U(parse_cut(&p, &f, 96, 1514), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_L4 | COT_PKT_F_SNAPLEN);
	T_EQ_U(p.ip_len, 1500);
}

static void test_ip6_basic(void)
{
	struct fb f;
	struct cot_pkt p, q;

	eth(&f, 0x86dd);
	ip6(&f, 6);
	tcp(&f, 33000, 22, COT_TCP_FIN | COT_TCP_ACK, 7, 8, 0);
	data(&f, 5);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ipver, 6);
	T_EQ_U(p.ipproto, 6);
	T_EQ_U(p.fl, COT_PKT_F_L4);
	T_EQ_U(p.sport, 33000);
	T_EQ_U(p.dport, 22);
	T_EQ_U(p.tcp_flags, COT_TCP_FIN | COT_TCP_ACK);
	T_EQ_U(p.ip_len, 65);
	T_EQ_U(p.l4_off, 54);
	T_EQ_U(p.l4_len, 25);
	T_CHECK(memcmp(p.src.b, SRC6, 16) == 0);
	T_CHECK(memcmp(p.dst.b, DST6, 16) == 0);
	T_CHECK(!cot_addr_is_v4(&p.src));

	f.b[14] = 0x40; /* version 4 behind 86dd */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6);
	f.b[14] = 0x6f; /* traffic class bits do not matter */
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	cot_put_be16(f.b + 18, 26); /* payload length past the frame */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6);
	T_EQ_U(parse_cut(&p, &f, f.n, f.n + 1), COT_PKT_OK);
	cot_put_be16(f.b + 18, 19);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_TCP);
	cot_put_be16(f.b + 18, 25);

	/* ICMPv6 echo request and reply map to one key */
	eth(&f, 0x86dd);
	ip6(&f, 58);
	icmp(&f, 128, 0, 999, 1);
	data(&f, 8);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ipproto, 58);
	T_EQ_U(p.icmp_type, 128);
	T_EQ_U(p.sport, 999);
	T_EQ_U(p.dport, 999);
	f.b[f.l4] = 129;
	T_EQ_U(parse(&q, &f), COT_PKT_OK);
	T_EQ_U(q.sport, 999);
	T_EQ_U(q.dport, 999);
	/* neighbour solicitation: type/code */
	f.b[f.l4] = 135;
	T_EQ_U(parse(&q, &f), COT_PKT_OK);
	T_EQ_U(q.sport, 135);
	T_EQ_U(q.dport, 0);
	f.b[f.l4] = 1; /* destination unreachable, code 4 */
	f.b[f.l4 + 1] = 4;
	T_EQ_U(parse(&q, &f), COT_PKT_OK);
	T_EQ_U(q.sport, 1);
	T_EQ_U(q.dport, 4);
	cot_put_be16(f.b + 18, 4);
	T_EQ_U(parse(&q, &f), COT_PKT_BAD_ICMP);
	/* ICMP (v4) number inside IPv6: no ports */
	cot_put_be16(f.b + 18, 16);
	f.b[20] = 1;
	T_EQ_U(parse(&q, &f), COT_PKT_OK);
	T_EQ_U(q.sport, 0);
	T_EQ_U(q.icmp_type, 0);
}

static void test_ip6_ext_kinds(void)
{
	static const uint8_t kinds[] = { 0, 43, 60 };
	struct fb f;
	struct cot_pkt p;
	size_t i;

	for (i = 0; i < COT_ARRAY_SIZE(kinds); i++) {
		eth(&f, 0x86dd);
		ip6(&f, kinds[i]);
		ext6(&f, 17, 16);
		udp(&f, 1000 + (uint16_t)i, 2000);
		data(&f, 3);
		finish(&f);
		T_EQ_U(parse(&p, &f), COT_PKT_OK);
		T_EQ_U(p.ipproto, 17);
		T_EQ_U(p.l4_off, 14 + 40 + 16);
		T_EQ_U(p.l4_len, 11);
		T_EQ_U(p.ip_len, 40 + 16 + 11);
		T_EQ_U(p.sport, 1000 + i);
		T_EQ_U(p.fl, COT_PKT_F_L4);
		/* extension header longer than the payload */
		f.b[f.l3 + 41] = 3;
		T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6_EXT);
	}

	/* AH */
	eth(&f, 0x86dd);
	ip6(&f, 51);
	ah6(&f, 6, 24);
	tcp(&f, 5, 6, COT_TCP_RST, 0, 0, 0);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.l4_off, 14 + 40 + 24);
	T_EQ_U(p.ipproto, 6);
	T_EQ_U(p.tcp_flags, COT_TCP_RST);

	/* a full legal chain: HBH, dest opts, routing, fragment (atomic),
	 * AH, dest opts, ICMPv6 */
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 60, 8);		 /* hop-by-hop at 54 */
	ext6(&f, 43, 24);		 /* dest. options at 62 */
	ext6(&f, 44, 8);		 /* routing at 86 */
	frag6(&f, 51, 0, 0, 0xabcdef01); /* fragment at 94 */
	ah6(&f, 60, 12);		 /* AH at 102 */
	ext6(&f, 58, 8);		 /* dest. options at 114 */
	icmp(&f, 128, 0, 1, 1);		 /* ICMPv6 at 122 */
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ipproto, 58);
	T_EQ_U(p.l4_off, 122);
	T_EQ_U(p.fl, COT_PKT_F_L4); /* atomic fragment is not a fragment */
	T_EQ_U(p.frag_id, 0);
	{
		/* ext headers are read 8 bytes at a time, wherever they
		 * start; their tails are not needed */
		const struct layer ly[] = {
			{ 0, 14, COT_PKT_TRUNC_ETH },
			{ 14, 40, COT_PKT_TRUNC_IP6 },
			{ 54, 8, COT_PKT_TRUNC_IP6_EXT },
			{ 62, 8, COT_PKT_TRUNC_IP6_EXT },
			{ 86, 8, COT_PKT_TRUNC_IP6_EXT },
			{ 94, 8, COT_PKT_TRUNC_IP6_EXT },
			{ 102, 8, COT_PKT_TRUNC_IP6_EXT },
			{ 114, 8, COT_PKT_TRUNC_IP6_EXT },
			{ 122, 8, COT_PKT_TRUNC_L4 },
		};

		check_trunc(&f, ly, 9, COT_PKT_OK);
	}
	/* the same chain in a runt frame gives BAD_IP6 once the fixed
	 * header is there */
	T_EQ_U(parse_cut(&p, &f, 100, 100), COT_PKT_BAD_IP6);
}

static void test_ip6_ext_bad(void)
{
	struct fb f;
	struct cot_pkt p;
	int i;

	/* hop-by-hop after another header */
	eth(&f, 0x86dd);
	ip6(&f, 60);
	ext6(&f, 0, 8);
	ext6(&f, 6, 8);
	tcp(&f, 1, 2, 0, 0, 0, 0);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6_EXT);
	/* hop-by-hop twice */
	f.b[f.l3 + 6] = 0;
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6_EXT);
	/* hop-by-hop, dst: fine */
	f.b[f.l3 + 40] = 60;
	T_EQ_U(parse(&p, &f), COT_PKT_OK);

	/* exactly COT_PKT_MAX_IP6_EXT headers is fine, one more is not */
	eth(&f, 0x86dd);
	ip6(&f, 60);
	for (i = 0; i < COT_PKT_MAX_IP6_EXT - 1; i++)
		ext6(&f, 60, 8);
	ext6(&f, 17, 8);
	udp(&f, 1, 2);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.l4_off, 14 + 40 + 8 * COT_PKT_MAX_IP6_EXT);
	eth(&f, 0x86dd);
	ip6(&f, 60);
	for (i = 0; i < COT_PKT_MAX_IP6_EXT; i++)
		ext6(&f, 60, 8);
	ext6(&f, 17, 8);
	udp(&f, 1, 2);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_IP6_EXT_DEPTH);

	/* payload ends inside an extension header's first 8 bytes */
	eth(&f, 0x86dd);
	ip6(&f, 43);
	ext6(&f, 59, 8);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	cot_put_be16(f.b + f.l3 + 4, 7);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6_EXT);
	/* the datagram's fault, not the capture's, even in a runt frame */
	T_EQ_U(parse_cut(&p, &f, 14 + 47, 14 + 47), COT_PKT_BAD_IP6_EXT);
	/* payload length 0 without a jumbo option: the frame's (BIG TCP) */
	cot_put_be16(f.b + f.l3 + 4, 0);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.ip_len, f.n - 14);

	/* AH length past the payload */
	eth(&f, 0x86dd);
	ip6(&f, 51);
	ah6(&f, 59, 12);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	f.b[f.l3 + 41] = 2; /* 16 bytes */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6_EXT);
}

static void test_ip6_frag(void)
{
	struct fb f;
	struct cot_pkt p;

	/* first fragment: offset 0, M, carries the UDP header */
	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 17, 0, 1, 0xdeadbeef);
	udp(&f, 123, 456);
	data(&f, 16);
	finish(&f);
	cot_put_be16(f.b + f.udp_off + 4, 3000);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG | COT_PKT_F_L4);
	T_EQ_U(p.frag_id, 0xdeadbeef);
	T_EQ_U(p.ipproto, 17);
	T_EQ_U(p.sport, 123);
	T_EQ_U(p.dport, 456);
	T_EQ_U(p.l4_off, 14 + 48);
	T_EQ_U(p.l4_len, 24);
	T_EQ_U(p.ip_len, 72);
	{
		const struct layer ly[] = {
			{ 0, 14, COT_PKT_TRUNC_ETH },
			{ 14, 40, COT_PKT_TRUNC_IP6 },
			{ 54, 8, COT_PKT_TRUNC_IP6_EXT },
			{ 62, 8, COT_PKT_TRUNC_L4 },
		};

		check_trunc(&f, ly, 4, COT_PKT_OK);
	}

	/* payload not a multiple of 8 with M set */
	cot_put_be16(f.b + f.l3 + 4, 8 + 23);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);
	/* ... fine in the last fragment (M clear), which is non-first */
	cot_put_be16(f.b + f.l3 + 42, 3 << 3);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG);
	T_EQ_U(p.frag_id, 0xdeadbeef);
	T_EQ_U(p.ipproto, 17);
	T_EQ_U(p.sport, 0);
	T_EQ_U(p.l4_off, 62);
	T_EQ_U(p.l4_len, 23);
	/* non-first fragment: nothing after the fragment header is read */
	T_EQ_U(parse_cut(&p, &f, 62, f.n), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG | COT_PKT_F_SNAPLEN);
	/* reassembled past 65535 */
	cot_put_be16(f.b + f.l3 + 42, 8190 << 3); /* 65520 + 23 */
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);
	cot_put_be16(f.b + f.l3 + 42, 8189 << 3); /* 65512 + 23 = 65535 */
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	/* empty non-last fragment */
	cot_put_be16(f.b + f.l3 + 4, 8);
	cot_put_be16(f.b + f.l3 + 42, 8 << 3 | 1);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);

	/* first fragment too short for its TCP header */
	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 6, 0, 1, 5);
	data(&f, 16);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_FRAG);

	/* two fragment headers */
	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 44, 0, 0, 5);
	frag6(&f, 17, 0, 0, 6);
	udp(&f, 1, 2);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_BAD_IP6_EXT);

	/* fragment header after hop-by-hop and routing, first fragment,
	 * dest options after it (inside the fragmentable part) */
	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 43, 8);
	ext6(&f, 44, 8);
	frag6(&f, 60, 0, 1, 77);
	ext6(&f, 6, 8);
	tcp(&f, 10, 20, COT_TCP_SYN, 1, 0, 0);
	data(&f, 4);
	finish(&f);
	T_EQ_U(parse(&p, &f), COT_PKT_OK);
	T_EQ_U(p.fl, COT_PKT_F_FRAG | COT_PKT_F_FIRST_FRAG | COT_PKT_F_L4);
	T_EQ_U(p.frag_id, 77);
	T_EQ_U(p.sport, 10);
	T_EQ_U(p.l4_off, 14 + 40 + 32);
}

/* Deterministic mutations of valid frames: invariants only (the fuzzer
 * does this at length; this keeps a little of it in make check). */
static void test_mutations(void)
{
	struct fb base[4], f;
	struct cot_pkt p;
	uint32_t x = 12345, i;
	int bad = 0;

	eth(&base[0], 0x8100);
	vlan(&base[0], 1, 0x0800);
	ip4(&base[0], 6, (const uint8_t[]){ 1, 1, 1, 0 }, 4, 0, 1);
	tcp(&base[0], 1, 2, COT_TCP_SYN, 0, 0, 4);
	finish(&base[0]);
	eth(&base[1], 0x86dd);
	ip6(&base[1], 0);
	ext6(&base[1], 44, 8);
	frag6(&base[1], 17, 0, 1, 9);
	udp(&base[1], 1, 2);
	data(&base[1], 8);
	finish(&base[1]);
	eth(&base[2], 0x0800);
	ip4(&base[2], 1, NULL, 0, 0x2000, 1);
	icmp(&base[2], 8, 0, 1, 1);
	finish(&base[2]);
	eth(&base[3], 0x86dd);
	ip6(&base[3], 60);
	ext6(&base[3], 51, 16);
	ah6(&base[3], 58, 12);
	icmp(&base[3], 129, 0, 3, 3);
	finish(&base[3]);

	for (i = 0; i < 200000; i++) {
		uint32_t k, nmut, cut;
		int r;

		f = base[i % 4];
		x = x * 1103515245 + 12345;
		nmut = 1 + (x >> 16) % 3;
		for (k = 0; k < nmut; k++) {
			x = x * 1103515245 + 12345;
			f.b[(x >> 8) % f.n] = (uint8_t)(x >> 24);
		}
		x = x * 1103515245 + 12345;
		cut = (x >> 20) % 4 ? f.n : (x >> 8) % (f.n + 1);
		r = parse_cut(&p, &f, cut, f.n);
		if (r < 0 || r >= COT_PKT__COUNT || r != p.reason)
			bad++;
		if (r == COT_PKT_OK) {
			if ((p.ipver != 4 && p.ipver != 6) ||
			    p.l4_off < p.l3_off ||
			    p.l4_off - p.l3_off + p.l4_len != p.ip_len ||
			    p.l3_off + p.ip_len > f.n)
				bad++;
			if ((p.fl & COT_PKT_F_L4) && p.ipproto == 6 &&
			    p.l4_off + 20 > cut)
				bad++;
			if (!(p.fl & COT_PKT_F_L4) !=
			    ((p.fl & COT_PKT_F_FRAG) &&
			     !(p.fl & COT_PKT_F_FIRST_FRAG)))
				bad++;
		}
	}
	T_EQ_U(bad, 0);
}

/* --- seed corpus --------------------------------------------------------- */

static int write_one(const char *dir, const char *name, const struct fb *f)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp || fwrite(f->b, 1, f->n, fp) != f->n || fclose(fp) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static int write_corpus(const char *dir)
{
	static const uint8_t opt[8] = { 1, 148, 4, 0, 0, 0, 0, 0 };
	struct fb f;
	int e = 0;

	eth(&f, 0x0800);
	ip4(&f, 6, NULL, 0, 0x4000, 1);
	tcp(&f, 40000, 80, COT_TCP_SYN, 1, 0, 20);
	finish(&f);
	e |= write_one(dir, "ip4-tcp-syn", &f);

	eth(&f, 0x8100);
	vlan(&f, 42, 0x0800);
	ip4(&f, 17, opt, sizeof(opt), 0, 2);
	udp(&f, 5353, 53);
	data(&f, 20);
	finish(&f);
	e |= write_one(dir, "vlan-ip4opt-udp", &f);

	eth(&f, 0x88a8);
	vlan(&f, 10, 0x8100);
	vlan(&f, 20, 0x0800);
	ip4(&f, 1, NULL, 0, 0, 3);
	icmp(&f, 8, 0, 77, 1);
	data(&f, 16);
	finish(&f);
	e |= write_one(dir, "qinq-ip4-icmp-echo", &f);

	eth(&f, 0x0800);
	ip4(&f, 17, NULL, 0, 0x2000, 4);
	udp(&f, 1, 2);
	data(&f, 16);
	finish(&f);
	e |= write_one(dir, "ip4-frag-first", &f);
	cot_put_be16(f.b + 20, 3);
	e |= write_one(dir, "ip4-frag-last", &f);

	eth(&f, 0x86dd);
	ip6(&f, 6);
	tcp(&f, 50000, 443, COT_TCP_ACK | COT_TCP_PSH, 5, 6, 12);
	data(&f, 10);
	finish(&f);
	e |= write_one(dir, "ip6-tcp", &f);

	eth(&f, 0x86dd);
	ip6(&f, 0);
	ext6(&f, 60, 8);
	ext6(&f, 43, 24);
	ext6(&f, 44, 8);
	frag6(&f, 51, 0, 1, 99);
	ah6(&f, 17, 12);
	udp(&f, 9, 9);
	data(&f, 4);
	finish(&f);
	e |= write_one(dir, "ip6-ext-chain-frag-first", &f);

	eth(&f, 0x86dd);
	ip6(&f, 44);
	frag6(&f, 6, 100, 0, 1234);
	data(&f, 13);
	finish(&f);
	e |= write_one(dir, "ip6-frag-last", &f);

	eth(&f, 0x86dd);
	ip6(&f, 58);
	icmp(&f, 128, 0, 1, 2);
	data(&f, 8);
	finish(&f);
	e |= write_one(dir, "ip6-icmp6-echo", &f);

	eth(&f, 0x0806);
	data(&f, 28);
	e |= write_one(dir, "arp", &f);
	return e;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	T_RUN(test_reason_names);
	T_RUN(test_not_ip);
	T_RUN(test_trunc_eth);
	T_RUN(test_ip4_tcp);
	T_RUN(test_ip4_tcp_trunc);
	T_RUN(test_ip4_runt);
	T_RUN(test_ip4_bad);
	T_RUN(test_ip4_options);
	T_RUN(test_ip4_udp);
	T_RUN(test_tcp_doff);
	T_RUN(test_icmp);
	T_RUN(test_other_proto);
	T_RUN(test_ip4_frag);
	T_RUN(test_vlan);
	T_RUN(test_snaplen_padding);
	T_RUN(test_ip6_basic);
	T_RUN(test_ip6_ext_kinds);
	T_RUN(test_ip6_ext_bad);
	T_RUN(test_ip6_frag);
	T_RUN(test_mutations);
	return t_done();
}
