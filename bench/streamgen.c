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

#include "bench/flowmix.h"

#define SBUF_SIZE (256 * 1024)
#define RBUF_SIZE (256 * 1024)

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
