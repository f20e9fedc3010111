/* SPDX-License-Identifier: MIT */
/*
 * The synthetic traffic of the forwarding benchmark, shared by
 * bench/streamgen.c (QEMU stream framing) and tests/tools/vhostfe.c
 * (vhost-user virtqueues), so both backends carry the same frames: a
 * mix of concurrent flows (see streamgen.c), and the CPU time of a
 * process from /proc.  One includer per program (static state).
 */
#ifndef COTRACK_BENCH_FLOWMIX_H
#define COTRACK_BENCH_FLOWMIX_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cotrack/common.h"
#include "host/clock.h"

#define MAX_SIZE  1514
#define MIN_SIZE  60
#define MAX_FLOWS 65536

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static inline uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static inline double now_s(void)
{
	return (double)cot_clock_mono_ns() / 1e9;
}

enum { K_TCP, K_UDP, K_ICMP };

struct flow {
	uint8_t kind, v6, fin;
	uint16_t sport, dport;
	uint32_t host_a, host_b; /* low 16 bits of each address */
	uint32_t left;		 /* frames still to send */
	uint32_t step;
};

static struct flow flows[MAX_FLOWS];
static uint32_t next_port = 1024;
static uint32_t flow_len = 34; /* -L: mean frames of a short flow */

static inline void flow_new(struct flow *f)
{
	static const uint16_t svc[] = { 80, 443, 443, 443, 5432, 6379, 8080 };
	uint32_t r = rnd() % 100;

	memset(f, 0, sizeof(*f));
	f->kind = r < 70 ? K_TCP : r < 95 ? K_UDP : K_ICMP;
	f->v6 = rnd() % 100 < 20;
	f->host_a = 1 + rnd() % 250;
	f->host_b = (1 + rnd() % 250) | (1 + rnd() % 16) << 8;
	/* Fresh ephemeral ports, so every flow is a new connection. */
	f->sport = (uint16_t)next_port;
	next_port = next_port >= 65535 ? 1024 : next_port + 1;
	if (next_port == 1024)
		f->host_a = (f->host_a + 1) % 250 + 1;
	f->dport = f->kind == K_UDP ? (rnd() % 2 ? 53 : 443)
				    : svc[rnd() % COT_ARRAY_SIZE(svc)];
	/* Short and long flows: 3..66 frames, a few of 300..1300. */
	f->left = rnd() % 50 == 0 ? 300 + rnd() % 1000
				  : 3 + rnd() % (2 * flow_len - 5);
	f->fin = rnd() % 10 < 4;
}

static inline uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * Write the next frame of @f at @out (4-byte length, then the frame);
 * returns the bytes used.  Payload bytes are left as they are: the
 * tracker reads headers only.
 */
static inline size_t frame_next(struct flow *f, uint8_t *out, uint32_t size)
{
	uint8_t *e = out + 4, *ip, *l4;
	uint32_t hdr, iphl = f->v6 ? 40 : 20, l4hl, len;
	uint8_t proto;

	l4hl = f->kind == K_TCP ? 20 : 8;
	hdr = 14 + iphl + l4hl;
	len = size < hdr ? hdr : size;
	if (len < MIN_SIZE)
		len = MIN_SIZE;
	cot_put_be32(out, len);
	memcpy(e, mac_b, 6);
	memcpy(e + 6, mac_a, 6);
	cot_put_be16(e + 12, f->v6 ? 0x86dd : 0x0800);
	ip = e + 14;
	proto = f->kind == K_TCP ? 6 : f->kind == K_UDP ? 17 : (f->v6 ? 58 : 1);
	if (f->v6) {
		memset(ip, 0, 40);
		ip[0] = 0x60;
		cot_put_be16(ip + 4, (uint16_t)(len - 14 - 40));
		ip[6] = proto;
		ip[7] = 64;
		ip[8] = 0xfd;
		ip[9] = 0x0a;
		cot_put_be16(ip + 22, (uint16_t)f->host_a);
		ip[24] = 0xfd;
		ip[25] = 0x0b;
		cot_put_be16(ip + 38, (uint16_t)f->host_b);
	} else {
		uint32_t sum = 0;
		int i;

		memset(ip, 0, 20);
		ip[0] = 0x45;
		cot_put_be16(ip + 2, (uint16_t)(len - 14));
		cot_put_be16(ip + 4, (uint16_t)f->step);
		ip[8] = 64;
		ip[9] = proto;
		ip[12] = 10;
		ip[13] = 1;
		ip[15] = (uint8_t)f->host_a;
		ip[16] = 10;
		ip[17] = 2;
		cot_put_be16(ip + 18, (uint16_t)f->host_b);
		for (i = 0; i < 20; i += 2)
			sum += cot_get_be16(ip + i);
		cot_put_be16(ip + 10, csum_fold(sum));
	}
	l4 = ip + iphl;
	memset(l4, 0, l4hl);
	if (f->kind == K_TCP) {
		uint8_t fl;

		if (f->step == 0)
			fl = 0x02; /* SYN */
		else if (f->left == 1)
			fl = f->fin ? 0x11 : 0x04; /* FIN|ACK or RST */
		else
			fl = 0x18; /* PSH|ACK */
		cot_put_be16(l4, f->sport);
		cot_put_be16(l4 + 2, f->dport);
		cot_put_be32(l4 + 4, 1000u + f->step * 1460u);
		cot_put_be32(l4 + 8, fl & 0x10 ? 1u : 0u);
		l4[12] = 5 << 4;
		l4[13] = fl;
		cot_put_be16(l4 + 14, 65535);
	} else if (f->kind == K_UDP) {
		cot_put_be16(l4, f->sport);
		cot_put_be16(l4 + 2, f->dport);
		cot_put_be16(l4 + 4, (uint16_t)(len - 14 - iphl));
	} else {
		l4[0] = f->v6 ? 128 : 8; /* echo request */
		cot_put_be16(l4 + 4, f->sport);
		cot_put_be16(l4 + 6, (uint16_t)f->step);
	}
	f->step++;
	if (--f->left == 0)
		flow_new(f);
	return 4 + len;
}

/*
 * CPU time of @pid in ns (user + system), all its threads: the sum of
 * field 1 of /proc/PID/task/TID/schedstat (a tracker with scanner
 * threads is charged for them too).  Threads that ended before the read
 * are not counted: read while the process runs.
 */
static inline int cpu_ns(int pid, unsigned long long *t)
{
	char path[300];
	struct dirent *de;
	unsigned long long v, sum = 0;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	/* Bounded by the process's threads. */
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/schedstat",
			 pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &v) == 1) {
			sum += v;
			n++;
		}
		fclose(f);
	}
	closedir(d);
	*t = sum;
	return n ? 0 : -1;
}

#endif
