// SPDX-License-Identifier: MIT
/*
 * Unit tests of cotrackd's switch (learning, aging, caps, fixed and
 * spoofed addresses, storm control) and of its ports' fair transmit
 * queues (round-robin over the inputs' shares, partial writes, a full
 * share drops only its own input's frames).  The daemon's sources are
 * compiled in: they are not in a library.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd/cotrackd/port.c"
#include "cmd/cotrackd/vhost.c"
#include "cmd/cotrackd/switch.c"
#include "t.h"

#define S 1000000000ULL

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void mac_n(uint8_t m[6], uint32_t n)
{
	m[0] = 0x02;
	m[1] = 0;
	m[2] = (uint8_t)(n >> 24);
	m[3] = (uint8_t)(n >> 16);
	m[4] = (uint8_t)(n >> 8);
	m[5] = (uint8_t)n;
}

static uint32_t frame(uint8_t *f, const uint8_t *dst, const uint8_t *src)
{
	memset(f, 0, 64);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	return 64;
}

/* Ports 0, 1, 2 are VMs, 3 an uplink; all up. */
static struct sw *mk(uint32_t storm, const uint8_t *fixed1)
{
	struct sw_params p = {
		.age_ns = 300 * S,
		.storm_pps = storm,
		.vm_max_macs = 4,
		.tap_max_macs = 8,
		.seed = 0x1234567887654321ULL,
	};
	struct sw *s = calloc(1, sizeof(*s));
	int i;

	sw_init(s, &p);
	for (i = 0; i < 4; i++) {
		sw_port_add(s, i, i < 3, i == 1 ? fixed1 : NULL);
		sw_port_up(s, i);
	}
	return s;
}

static enum sw_verdict send1(struct sw *s, int in, const uint8_t *dst,
			     const uint8_t *src, uint64_t now, uint32_t *out)
{
	uint8_t f[64];

	return sw_decide(s, in, f, frame(f, dst, src), now, out);
}

static void t_learn_and_flood(void)
{
	struct sw *s = mk(0, NULL);
	uint8_t a[6], b[6];
	uint32_t out;

	mac_n(a, 1);
	mac_n(b, 2);
	/* b unknown: flooded to every other port that is up */
	T_EQ_U(send1(s, 0, b, a, 1, &out), SW_FORWARD);
	T_EQ_U(out, 0xeu);
	/* b answers: a was learned at port 0, only there */
	T_EQ_U(send1(s, 2, a, b, 2, &out), SW_FORWARD);
	T_EQ_U(out, 0x1u);
	T_EQ_U(send1(s, 0, b, a, 3, &out), SW_FORWARD);
	T_EQ_U(out, 0x4u);
	/* a frame to its own port goes nowhere */
	T_EQ_U(send1(s, 0, a, a, 4, &out), SW_FORWARD);
	T_EQ_U(out, 0u);
	/* a runt is dropped */
	T_EQ_U(sw_decide(s, 0, a, 13, 5, &out), SW_DROP_RUNT);
	/* a group address as a VM's source is forged */
	T_EQ_U(send1(s, 0, b, bcast, 6, &out), SW_DROP_SPOOF);
	/* a port that is down gets nothing, flooded or not */
	sw_port_down(s, 2);
	T_EQ_U(send1(s, 0, b, a, 7, &out), SW_FORWARD);
	T_EQ_U(out, 0u);
	T_EQ_U(send1(s, 0, bcast, a, 8, &out), SW_FORWARD);
	T_EQ_U(out, 0xau);
	free(s);
}

static void t_aging_frees_slots(void)
{
	struct sw *s = mk(0, NULL);
	uint8_t a[6], b[6];
	uint32_t out, i;

	mac_n(a, 1);
	mac_n(b, 2);
	T_EQ_U(send1(s, 0, bcast, a, 0, &out), SW_FORWARD);
	T_EQ_U(send1(s, 1, a, b, 1, &out), SW_FORWARD);
	T_EQ_U(out, 0x1u);
	/* past the age, a is unknown again: flooded */
	T_EQ_U(send1(s, 1, a, b, 301 * S, &out), SW_FORWARD);
	T_EQ_U(out, 0xdu);
	/* the sweep frees aged slots and gives the port its quota back */
	for (i = 0; i < 4; i++) {
		uint8_t m[6];

		mac_n(m, 100 + i);
		T_EQ_U(send1(s, 2, bcast, m, 302 * S, &out), SW_FORWARD);
	}
	T_EQ_U(s->port[2].macs, 4u);
	sw_age(s, 700 * S, SW_MACS);
	T_EQ_U(s->port[2].macs, 0u);
	T_CHECK(s->st.aged >= 4);
	free(s);
}

static void t_mac_cap(void)
{
	struct sw *s = mk(0, NULL);
	uint8_t m[6], a[6], b[6];
	uint32_t out, i, dropped = 0;

	mac_n(a, 1);
	mac_n(b, 2);
	T_EQ_U(send1(s, 0, bcast, a, 0, &out), SW_FORWARD);
	T_EQ_U(send1(s, 1, bcast, b, 0, &out), SW_FORWARD);
	/* port 2 forges 10,000 source addresses: 4 are learned */
	for (i = 0; i < 10000; i++) {
		mac_n(m, 1000 + i);
		if (send1(s, 2, bcast, m, 1 + i, &out) == SW_DROP_MACLIMIT)
			dropped++;
	}
	T_EQ_U(dropped, 9996u);
	T_EQ_U(s->port[2].macs, 4u);
	/* its neighbours are still known: unicast is not flooded */
	T_EQ_U(send1(s, 0, b, a, 20000, &out), SW_FORWARD);
	T_EQ_U(out, 0x2u);
	T_EQ_U(send1(s, 1, a, b, 20001, &out), SW_FORWARD);
	T_EQ_U(out, 0x1u);
	/* the uplink is not capped the same way: not learned, not dropped */
	for (i = 0; i < 100; i++) {
		mac_n(m, 50000 + i);
		T_EQ_U(send1(s, 3, bcast, m, 30000 + i, &out), SW_FORWARD);
	}
	T_EQ_U(s->port[3].macs, 8u);
	free(s);
}

static void t_spoof_and_fixed(void)
{
	uint8_t fixed[6], a[6], other[6];
	struct sw *s;
	uint32_t out;

	mac_n(fixed, 7);
	mac_n(a, 1);
	mac_n(other, 8);
	s = mk(0, fixed);
	/* nobody else may use port 1's fixed address, even before it spoke */
	T_EQ_U(send1(s, 0, bcast, fixed, 1, &out), SW_DROP_SPOOF);
	T_EQ_U(send1(s, 3, bcast, fixed, 1, &out), SW_DROP_SPOOF);
	/* and port 1 may use no other */
	T_EQ_U(send1(s, 1, bcast, other, 2, &out), SW_DROP_SPOOF);
	T_EQ_U(send1(s, 1, bcast, fixed, 3, &out), SW_FORWARD);
	/* frames to it reach it at once */
	T_EQ_U(send1(s, 0, fixed, a, 4, &out), SW_FORWARD);
	T_EQ_U(out, 0x2u);
	/* a learned address of a connected VM is its own while fresh */
	T_EQ_U(send1(s, 2, bcast, a, 5, &out), SW_DROP_SPOOF);
	/* ... and may move once that VM is gone */
	sw_port_down(s, 0);
	T_EQ_U(send1(s, 2, bcast, a, 6, &out), SW_FORWARD);
	sw_port_up(s, 0);
	T_EQ_U(send1(s, 1, a, fixed, 7, &out), SW_FORWARD);
	T_EQ_U(out, 0x4u);
	/* the fixed address never ages */
	T_EQ_U(send1(s, 0, fixed, other, 1000 * S, &out), SW_FORWARD);
	T_EQ_U(out, 0x2u);
	free(s);
}

static void t_storm(void)
{
	struct sw *s = mk(100, NULL);
	uint8_t a[6], unknown[6], b[6];
	uint32_t out, i, pass = 0;

	mac_n(a, 1);
	mac_n(b, 2);
	mac_n(unknown, 99);
	/* 1000 broadcasts in 1 ms: the bucket's burst (100) passes */
	for (i = 0; i < 1000; i++)
		if (send1(s, 0, bcast, a, S + i * 1000, &out) == SW_FORWARD)
			pass++;
	T_EQ_U(pass, 100u);
	/* unknown unicast counts the same */
	T_EQ_U(send1(s, 0, unknown, a, S + 1000000, &out), SW_DROP_STORM);
	/* another port has its own bucket */
	T_EQ_U(send1(s, 1, bcast, b, S + 1000000, &out), SW_FORWARD);
	/* known unicast is never storm-controlled */
	T_EQ_U(send1(s, 0, b, a, S + 1000001, &out), SW_FORWARD);
	T_EQ_U(out, 0x2u);
	/* the rate refills: 0.5 s later, 50 more */
	pass = 0;
	for (i = 0; i < 1000; i++)
		if (send1(s, 0, bcast, a, S + S / 2 + 1000000 + i, &out) ==
		    SW_FORWARD)
			pass++;
	T_CHECK(pass >= 49 && pass <= 51);
	free(s);
}

/* ---- fair queues ---------------------------------------------------- */

static int mkport(struct port *p, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	if (port_init(p, 0, PORT_VM, "test") < 0)
		return -1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	p->fd = sv[0];
	*peer = sv[1];
	return 0;
}

/* Read what the port wrote: the first byte of each frame, in order. */
static uint32_t drain(int fd, uint8_t *firsts, uint32_t max)
{
	static uint8_t buf[1 << 20];
	uint32_t n = 0, off = 0;
	ssize_t got;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	got = read(fd, buf, sizeof(buf));
	if (got <= 0)
		return 0;
	/* Bounded by what was read. */
	while (off + 4 <= (uint32_t)got && n < max) {
		uint32_t len = cot_get_be32(buf + off);

		if (off + 4 + len > (uint32_t)got)
			break;
		firsts[n++] = buf[off + 4];
		off += 4 + len;
	}
	return n;
}

static void t_fair_round_robin(void)
{
	struct port p;
	uint8_t f[100], got[64];
	int peer, i;
	uint32_t n;

	T_ASSERT(mkport(&p, &peer) == 0);
	/* input 5 queues 10 frames, input 2 queues 3 */
	for (i = 0; i < 10; i++) {
		memset(f, 0x50 + i, sizeof(f));
		T_CHECK(port_enqueue(&p, 5, f, sizeof(f)));
	}
	for (i = 0; i < 3; i++) {
		memset(f, 0x20 + i, sizeof(f));
		T_CHECK(port_enqueue(&p, 2, f, sizeof(f)));
	}
	T_EQ_U(p.q->count, 13u);
	T_EQ_U(port_flush(&p), 0);
	T_EQ_U(p.q->count, 0u);
	n = drain(peer, got, 64);
	T_EQ_U(n, 13u);
	/* one of each in turn while both have frames, then the rest */
	T_EQ_U(got[0], 0x20);
	T_EQ_U(got[1], 0x50);
	T_EQ_U(got[2], 0x21);
	T_EQ_U(got[3], 0x51);
	T_EQ_U(got[4], 0x22);
	T_EQ_U(got[5], 0x52);
	for (i = 6; i < 13; i++)
		T_EQ_U(got[i], 0x50 + i - 3);
	port_free(&p);
	close(peer);
}

static void t_share_full(void)
{
	struct port p;
	uint8_t f[100];
	int peer, i, ok = 0;

	T_ASSERT(mkport(&p, &peer) == 0);
	/* a flooder fills its own share ... */
	for (i = 0; i < 1000; i++)
		ok += port_enqueue(&p, 7, f, sizeof(f));
	T_EQ_U((uint32_t)ok, TXQ_SHARE_FRAMES);
	T_EQ_U(p.st.drop_qfull, 1000u - TXQ_SHARE_FRAMES);
	/* ... and another input still gets in */
	T_CHECK(port_enqueue(&p, 1, f, sizeof(f)));
	/* bytes bound: a share holds at most TXQ_SHARE_BYTES */
	{
		static uint8_t big[MAX_FRAME];
		uint32_t n = 0;

		for (i = 0; i < 100; i++)
			n += port_enqueue(&p, 3, big, sizeof(big));
		T_EQ_U(n, TXQ_SHARE_BYTES / sizeof(big));
	}
	/* a bad input index is refused, not a crash */
	T_CHECK(!port_enqueue(&p, MAX_PORTS, f, sizeof(f)));
	T_CHECK(!port_enqueue(&p, -1, f, sizeof(f)));
	port_free(&p);
	close(peer);
}

static void t_partial_writes(void)
{
	struct port p;
	static uint8_t f[60000];
	uint8_t got[16];
	int peer, i, sz = 4096;
	uint32_t n = 0, rounds;

	T_ASSERT(mkport(&p, &peer) == 0);
	setsockopt(p.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* Frames bigger than the socket buffer: every write is partial. */
	for (i = 0; i < 4; i++) {
		memset(f, 0x10 * (i + 1), sizeof(f));
		T_CHECK(port_enqueue(&p, i % 2, f, sizeof(f)));
	}
	{
		static uint8_t buf[1 << 20];
		uint32_t have = 0, off = 0;

		/* Bounded: each round moves at least one byte or stops. */
		for (rounds = 0; rounds < 100000 && p.q->count; rounds++) {
			ssize_t r;

			T_ASSERT(port_flush(&p) == 0);
			r = read(peer, buf + have, sizeof(buf) - have);
			if (r > 0)
				have += (uint32_t)r;
		}
		/* the rest still in the socket */
		for (i = 0; i < 1000; i++) {
			ssize_t r;

			fcntl(peer, F_SETFL, O_NONBLOCK);
			r = read(peer, buf + have, sizeof(buf) - have);
			if (r <= 0)
				break;
			have += (uint32_t)r;
		}
		T_EQ_U(p.q->count, 0u);
		T_EQ_U(have, 4u * (4 + sizeof(f)));
		while (off + 4 <= have && n < 16) {
			uint32_t len = cot_get_be32(buf + off);
			uint32_t j, same = 1;

			T_EQ_U(len, sizeof(f));
			for (j = 0; j < len; j++)
				same &= buf[off + 4 + j] == buf[off + 4];
			T_CHECK(same);
			got[n++] = buf[off + 4];
			off += 4 + len;
		}
	}
	T_EQ_U(n, 4u);
	/* whole frames, never interleaved; inputs alternate */
	T_EQ_U(got[0], 0x10);
	T_EQ_U(got[1], 0x20);
	T_EQ_U(got[2], 0x30);
	T_EQ_U(got[3], 0x40);
	port_free(&p);
	close(peer);
}

int main(void)
{
	T_RUN(t_learn_and_flood);
	T_RUN(t_aging_frees_slots);
	T_RUN(t_mac_cap);
	T_RUN(t_spoof_and_fixed);
	T_RUN(t_storm);
	T_RUN(t_fair_round_robin);
	T_RUN(t_share_full);
	T_RUN(t_partial_writes);
	return t_done();
}
