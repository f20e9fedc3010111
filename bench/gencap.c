// SPDX-License-Identifier: MIT
/*
 * gencap: writes a large, deterministic, mixed capture for benchmarks:
 * N connections (60% TCP with handshake, data and FIN both ways, 30%
 * UDP exchanges, 10% ICMP echo), 30% of them IPv6, 10% VLAN-tagged,
 * with about 1000 connections interleaved at any time.
 *
 *   gencap [-n CONNS] [-s SEED] OUT.pcap
 */
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotrack/common.h"
#include "host/cli.h"
#include "host/log.h"

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

struct conn {
	uint8_t kind; /* 0 tcp, 1 udp, 2 icmp */
	uint8_t v6, vlan;
	uint16_t sport, dport;
	uint8_t a[16], b[16];
	int step, nsteps;
};

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t build(uint8_t *f, const struct conn *c, int rev, uint8_t tflags,
		    size_t paylen)
{
	size_t off = 12, l4len, iplen;
	const uint8_t *s = rev ? c->b : c->a, *d = rev ? c->a : c->b;
	uint16_t sp = rev ? c->dport : c->sport, dp = rev ? c->sport : c->dport;
	uint8_t *ip, *l4;
	uint8_t proto = c->kind == 0 ? 6 : c->kind == 1 ? 17 : (c->v6 ? 58 : 1);

	memcpy(f,
	       rev ? "\x02\0\0\0\0\x01\x02\0\0\0\0\x02"
		   : "\x02\0\0\0\0\x02\x02\0\0\0\0\x01",
	       12);
	if (c->vlan) {
		cot_put_be16(f + off, 0x8100);
		cot_put_be16(f + off + 2, c->vlan);
		off += 4;
	}
	cot_put_be16(f + off, c->v6 ? 0x86dd : 0x0800);
	off += 2;
	ip = f + off;
	l4len = (c->kind == 0 ? 20 : 8) + paylen;
	if (c->v6) {
		iplen = 40 + l4len;
		memset(ip, 0, 40);
		ip[0] = 0x60;
		cot_put_be16(ip + 4, (uint16_t)l4len);
		ip[6] = proto;
		ip[7] = 64;
		memcpy(ip + 8, s, 16);
		memcpy(ip + 24, d, 16);
		l4 = ip + 40;
	} else {
		uint32_t sum = 0;
		int i;

		iplen = 20 + l4len;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		cot_put_be16(ip + 2, (uint16_t)iplen);
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, s + 12, 4);
		memcpy(ip + 16, d + 12, 4);
		for (i = 0; i < 20; i += 2)
			sum += cot_get_be16(ip + i);
		cot_put_be16(ip + 10, csum_fold(sum));
		l4 = ip + 20;
	}
	memset(l4, 0, l4len);
	if (c->kind == 0) {
		cot_put_be16(l4, sp);
		cot_put_be16(l4 + 2, dp);
		cot_put_be32(l4 + 4, 1000u + (uint32_t)c->step);
		l4[12] = 5 << 4;
		l4[13] = tflags;
		cot_put_be16(l4 + 14, 65535);
	} else if (c->kind == 1) {
		cot_put_be16(l4, sp);
		cot_put_be16(l4 + 2, dp);
		cot_put_be16(l4 + 4, (uint16_t)l4len);
	} else {
		l4[0] = c->v6 ? (rev ? 129 : 128) : (rev ? 0 : 8);
		cot_put_be16(l4 + 4, c->sport);
		cot_put_be16(l4 + 6, (uint16_t)c->step);
	}
	return off + iplen;
}

static void new_conn(struct conn *c, uint32_t id)
{
	uint32_t r = rnd() % 100;

	memset(c, 0, sizeof(*c));
	c->kind = r < 60 ? 0 : r < 90 ? 1 : 2;
	c->v6 = rnd() % 100 < 30;
	c->vlan = rnd() % 100 < 10 ? (uint8_t)(1 + rnd() % 100) : 0;
	if (c->v6) {
		c->a[0] = c->b[0] = 0xfd;
		c->a[1] = c->b[1] = 0x77;
		cot_put_be32(c->a + 12, id);
		cot_put_be32(c->b + 12, 0x10000000u | (rnd() % 64));
	} else {
		c->a[10] = c->a[11] = c->b[10] = c->b[11] = 0xff;
		c->a[12] = 10;
		c->a[13] = (uint8_t)(id >> 16);
		c->a[14] = (uint8_t)(id >> 8);
		c->a[15] = (uint8_t)id;
		c->b[12] = 172;
		c->b[13] = 16;
		c->b[14] = 0;
		c->b[15] = (uint8_t)(1 + rnd() % 64);
	}
	c->sport = (uint16_t)(1024 + rnd() % 60000);
	c->dport = c->kind == 1	  ? 53
		   : c->kind == 2 ? c->sport
				  : (uint16_t)(rnd() % 2 ? 443 : 80);
	c->nsteps = c->kind == 0   ? 8 + (int)(rnd() % 14)
		    : c->kind == 1 ? 2 + (int)(rnd() % 8)
				   : 2 + (int)(rnd() % 3);
}

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: gencap [-n CONNS (1..16M)] [-s SEED] OUT.pcap\n");
	return status;
}

int main(int argc, char **argv)
{
	static uint8_t frame[2048];
	enum { LIVE = 1024 };
	struct conn live[LIVE];
	uint32_t nconns = 100000, started = 0, done = 0;
	uint64_t pkts = 0, ts = 1700000000ULL * 1000000ULL;
	pcap_t *dead;
	pcap_dumper_t *dump;
	int c, i;

	log_init("gencap", 1);
	while ((c = getopt(argc, argv, "n:s:h")) != -1) {
		switch (c) {
		case 'n':
			if (cot_cli_u32("-n", optarg, 1, 1u << 24, &nconns) < 0)
				return COT_EXIT_USAGE;
			break;
		case 's':
			if (cot_cli_u64("-s", optarg, 0, UINT64_MAX, &rng) < 0)
				return COT_EXIT_USAGE;
			rng |= 1;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, COT_EXIT_USAGE);
		}
	}
	if (optind != argc - 1)
		return usage(stderr, COT_EXIT_USAGE);
	dead = pcap_open_dead(DLT_EN10MB, 65535);
	dump = pcap_dump_open(dead, argv[optind]);
	if (!dump) {
		fprintf(stderr, "gencap: %s\n", pcap_geterr(dead));
		return 1;
	}
	for (i = 0; i < LIVE && started < nconns; i++)
		new_conn(&live[i], started++);
	while (done < nconns) {
		struct conn *k = &live[rnd() % LIVE];
		struct pcap_pkthdr h;
		size_t len, pay = 0;
		int rev = 0;
		uint8_t fl = 0;

		if (k->nsteps == 0)
			continue; /* slot drained at the end */
		if (k->kind == 0) {
			int n = k->nsteps, s = k->step;

			if (s == 0)
				fl = 0x02;
			else if (s == 1)
				fl = 0x02 | 0x10, rev = 1;
			else if (s == n - 3)
				fl = 0x01 | 0x10;
			else if (s == n - 2)
				fl = 0x01 | 0x10, rev = 1;
			else
				fl = 0x10, rev = s % 2,
				pay = s == 2 ? 0 : rnd() % 600;
		} else {
			rev = k->step % 2;
			pay = k->kind == 1 ? 20 + rnd() % 400 : 32;
		}
		len = build(frame, k, rev, fl, pay);
		h.ts.tv_sec = (time_t)(ts / 1000000);
		h.ts.tv_usec = (suseconds_t)(ts % 1000000);
		h.caplen = h.len = (bpf_u_int32)len;
		pcap_dump((u_char *)dump, &h, frame);
		pkts++;
		ts += 1 + rnd() % 20;
		if (++k->step == k->nsteps) {
			done++;
			if (started < nconns)
				new_conn(k, started++);
			else
				k->nsteps = 0;
		}
	}
	pcap_dump_close(dump);
	pcap_close(dead);
	fprintf(stderr, "gencap: %u connections, %llu frames\n", nconns,
		(unsigned long long)pkts);
	return 0;
}
