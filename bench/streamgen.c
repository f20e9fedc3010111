// SPDX-License-Identifier: MIT
/*
 * streamgen: plays two QEMUs on cotrackd's NIC sockets (QEMU -netdev
 * stream framing: 4-byte big-endian length, then the Ethernet frame) and
 * measures how many frames per second cotrackd forwards from endpoint A
 * to endpoint B.
 *
 *   streamgen -a SOCK_A -b SOCK_B [-s SIZE] [-n FRAMES] [-w WINDOW]
 *             [-c FLOWS] [-L LEN] [-p PID] [-S SEED]
 *
 * First both endpoints say hello until each has heard the other, so the
 * switch has learnt both MACs.  Then A sends FRAMES frames to B's MAC: a
 * mix of about FLOWS concurrent flows that keep ending and being
 * replaced (70% TCP: SYN, data, then RST or FIN; 25% UDP; 5% ICMP echo;
 * 20% of flows IPv6; 98% of flows 3..2*LEN-3 frames long, LEN 34 by
 * default, 2% 300..1299 frames), every frame SIZE bytes (or the smallest the
 * headers allow, for IPv6 TCP at SIZE 64).  B counts what arrives.
 *
 * Backpressure: cotrackd reads whatever a port sends and drops frames
 * (counted) when A's share of B's queue is full (TXQ_SHARE_FRAMES, 256).
 * The sender therefore keeps at most WINDOW frames (default 256) in
 * flight, sent but not yet received by B, so the queue can never
 * overflow and the figure is the forwarding rate, not a drop rate.  Any
 * frame that has not arrived 2 s after the last send is reported lost.
 *
 * With -p, the CPU time (user + system) of process PID over the
 * measurement, all its threads, is read from /proc/PID/task/TID/schedstat
 * (nanoseconds) and reported per frame.
 *
 * Output, one line: frames= bytes= lost= secs= fps= mbps= [cpu_s=
 * cpu_ns_per_frame=] other_rx=
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cotrack/common.h"
#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"

#define MAX_SIZE  1514
#define MIN_SIZE  60
#define SBUF_SIZE (256 * 1024)
#define RBUF_SIZE (256 * 1024)
#define MAX_FLOWS 65536

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static double now_s(void)
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

static void flow_new(struct flow *f)
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

static uint16_t csum_fold(uint32_t s)
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
static size_t frame_next(struct flow *f, uint8_t *out, uint32_t size)
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

static int connect_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "streamgen: %s: path too long\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "streamgen: connect %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A receiving end: a stream of length-prefixed frames. */
struct rx {
	int fd;
	uint8_t *buf;
	uint32_t len;
	uint64_t frames, bytes, hello, bad;
};

/*
 * Read what is there and count complete frames; a hello (our
 * ethertype 0x88b5) is counted apart.  Returns bytes read, 0 when
 * nothing was ready, -1 on EOF or error.
 */
static ssize_t rx_read(struct rx *r)
{
	uint32_t off = 0;
	ssize_t n = read(r->fd, r->buf + r->len, RBUF_SIZE - r->len);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	r->len += (uint32_t)n;
	/* Bounded by the bytes in the buffer: each frame consumes >= 5. */
	while (r->len - off >= 4) {
		uint32_t flen = cot_get_be32(r->buf + off);

		if (flen == 0 || flen > RBUF_SIZE - 4) {
			r->bad++;
			return -1;
		}
		if (r->len - off - 4 < flen)
			break;
		if (flen >= 14 && cot_get_be16(r->buf + off + 4 + 12) == 0x88b5)
			r->hello++;
		else {
			r->frames++;
			r->bytes += flen;
		}
		off += 4 + flen;
	}
	if (off) {
		memmove(r->buf, r->buf + off, r->len - off);
		r->len -= off;
	}
	return n;
}

static int send_hello(int fd, const uint8_t *src, const uint8_t *dst)
{
	uint8_t f[4 + MIN_SIZE];

	memset(f, 0, sizeof(f));
	cot_put_be32(f, MIN_SIZE);
	memcpy(f + 4, dst, 6);
	memcpy(f + 10, src, 6);
	cot_put_be16(f + 16, 0x88b5); /* IEEE local experimental */
	return write(fd, f, sizeof(f)) == (ssize_t)sizeof(f) ? 0 : -1;
}

/* Hello from @from until @to has heard one (the switch learnt @src). */
static int learn(int from, const uint8_t *src, const uint8_t *dst,
		 struct rx *to, struct rx *other)
{
	int tries;

	/* 100 tries of 50 ms: cotrackd accepts both within 5 s. */
	for (tries = 0; tries < 100; tries++) {
		struct pollfd p = { .fd = to->fd, .events = POLLIN };
		uint64_t before = to->hello;

		if (send_hello(from, src, dst) < 0)
			return -1;
		if (poll(&p, 1, 50) > 0 && rx_read(to) < 0)
			return -1;
		if (other && rx_read(other) < 0)
			return -1;
		if (to->hello > before)
			return 0;
	}
	return -1;
}

/*
 * CPU time of @pid in ns (user + system), all its threads: the sum of
 * field 1 of /proc/PID/task/TID/schedstat (a tracker with scanner
 * threads is charged for them too).  Threads that ended before the read
 * are not counted: read while the process runs.
 */
static int cpu_ns(int pid, unsigned long long *t)
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

static int usage(FILE *f, int status)
{
	fprintf(f,
		"usage: streamgen -a SOCK_A -b SOCK_B [-s SIZE (%d..%d)] "
		"[-n FRAMES]\n"
		"         [-w WINDOW (1..1000)] [-c FLOWS (1..%d)] [-L LEN "
		"(3..100000)]\n"
		"         [-p PID] [-S SEED]\n",
		MIN_SIZE, MAX_SIZE, MAX_FLOWS);
	return status;
}

int main(int argc, char **argv)
{
	const char *pa = NULL, *pb = NULL;
	uint32_t size = 64, window = 256, nflows = 1024;
	uint64_t total = 1000000;
	unsigned long long c0 = 0, c1 = 0;
	struct rx ra = { 0 }, rb = { 0 };
	uint8_t *sbuf;
	uint32_t slen = 0, soff = 0, i;
	uint64_t sent = 0;
	double t0, t1, last_progress;
	int c, pid = 0, fa, fb, rc = 0;

	log_init("streamgen", 1);
	while ((c = getopt(argc, argv, "a:b:s:n:w:c:L:p:S:h")) != -1) {
		switch (c) {
		case 'a':
			pa = optarg;
			break;
		case 'b':
			pb = optarg;
			break;
		case 's':
			rc = cot_cli_u32("-s", optarg, MIN_SIZE, MAX_SIZE,
					 &size);
			break;
		case 'n':
			rc = cot_cli_u64("-n", optarg, 1, UINT64_MAX, &total);
			break;
		case 'w':
			rc = cot_cli_u32("-w", optarg, 1, 1000, &window);
			break;
		case 'c':
			rc = cot_cli_u32("-c", optarg, 1, MAX_FLOWS, &nflows);
			break;
		case 'p':
			rc = cot_cli_int("-p", optarg, 0, INT32_MAX, &pid);
			break;
		case 'L':
			rc = cot_cli_u32("-L", optarg, 3, 100000, &flow_len);
			break;
		case 'S':
			rc = cot_cli_u64("-S", optarg, 0, UINT64_MAX, &rng);
			rng |= 1;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, COT_EXIT_USAGE);
		}
		if (rc < 0)
			return COT_EXIT_USAGE;
	}
	if (!pa || !pb || optind != argc) {
		if (!pa || !pb)
			log_warnx("-a SOCK_A and -b SOCK_B are required");
		return usage(stderr, COT_EXIT_USAGE);
	}
	fa = connect_unix(pa);
	fb = connect_unix(pb);
	sbuf = malloc(SBUF_SIZE);
	ra.buf = malloc(RBUF_SIZE);
	rb.buf = malloc(RBUF_SIZE);
	if (fa < 0 || fb < 0 || !sbuf || !ra.buf || !rb.buf)
		return 1;
	ra.fd = fa;
	rb.fd = fb;
	if (learn(fa, mac_a, bcast, &rb, &ra) < 0 ||
	    learn(fb, mac_b, mac_a, &ra, &rb) < 0) {
		fprintf(stderr, "streamgen: the switch did not pass hellos "
				"between A and B\n");
		return 1;
	}
	for (i = 0; i < nflows; i++)
		flow_new(&flows[i]);

	if (pid && cpu_ns(pid, &c0) < 0) {
		fprintf(stderr, "streamgen: cannot read /proc/%d/schedstat\n",
			pid);
		pid = 0;
	}
	t0 = now_s();
	t1 = t0;
	last_progress = t0;
	/* Ends when B has everything, or 2 s without progress. */
	while (rb.frames < total) {
		bool progress = false;
		ssize_t n;

		/* Fill the send buffer within the window. */
		while (sent < total && sent - rb.frames < window &&
		       SBUF_SIZE - slen >= 4 + MAX_SIZE + 64) {
			struct flow *f = &flows[rnd() % nflows];

			slen += (uint32_t)frame_next(f, sbuf + slen,
						     (uint32_t)size);
			sent++;
		}
		if (soff < slen) {
			n = write(fa, sbuf + soff, slen - soff);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				fprintf(stderr, "streamgen: write: %s\n",
					strerror(errno));
				return 1;
			}
			if (n > 0) {
				soff += (uint32_t)n;
				progress = true;
				if (soff == slen)
					soff = slen = 0;
			}
		}
		n = rx_read(&rb);
		if (n < 0) {
			fprintf(stderr, "streamgen: B's socket closed\n");
			return 1;
		}
		if (n > 0) {
			progress = true;
			t1 = now_s();
		}
		if (rx_read(&ra) < 0) {
			fprintf(stderr, "streamgen: A's socket closed\n");
			return 1;
		}
		if (progress) {
			last_progress = now_s();
			continue;
		}
		if (now_s() - last_progress > 2.0)
			break;
		{
			struct pollfd p[2] = {
				{ .fd = fb, .events = POLLIN },
				{ .fd = fa,
				  .events = soff < slen ? POLLOUT : 0 },
			};

			poll(p, 2, 100);
		}
	}
	if (pid && cpu_ns(pid, &c1) < 0)
		pid = 0;
	{
		double secs = t1 - t0;

		printf("frames=%llu bytes=%llu lost=%llu secs=%.4f fps=%.0f "
		       "mbps=%.1f",
		       (unsigned long long)rb.frames,
		       (unsigned long long)rb.bytes,
		       (unsigned long long)(sent - rb.frames), secs,
		       secs > 0 ? (double)rb.frames / secs : 0.0,
		       secs > 0 ? (double)rb.bytes * 8 / secs / 1e6 : 0.0);
		if (pid)
			printf(" cpu_s=%.3f cpu_ns_per_frame=%.1f",
			       (double)(c1 - c0) / 1e9,
			       rb.frames ? (double)(c1 - c0) / (double)rb.frames
					 : 0.0);
		printf(" other_rx=%llu\n", (unsigned long long)ra.frames);
	}
	close(fa);
	close(fb);
	free(sbuf);
	free(ra.buf);
	free(rb.buf);
	return rb.frames == total ? 0 : 3;
}
