// SPDX-License-Identifier: MIT
/*
 * vhostfe: a synthetic vhost-user frontend.  It plays QEMU on cotrackd's
 * vhost-user sockets: connects, negotiates (GET/SET_FEATURES, SET_OWNER,
 * GET/SET_PROTOCOL_FEATURES), hands over its "guest RAM" (one memfd) with
 * SET_MEM_TABLE, lays out two split virtqueues in it (receive 0,
 * transmit 1; SET_VRING_NUM/BASE/ADDR/KICK/CALL, SET_VRING_ENABLE) and
 * drives them.
 *
 *   vhostfe -a SOCK_A [-b SOCK_B] [-m MODE] [-s SIZE] [-n FRAMES]
 *           [-w WINDOW] [-c FLOWS] [-p PID] [-S SEED] [-t SECS]
 *
 * normal (the default; -a and -b): A sends FRAMES frames of SIZE bytes
 * (each behind a zeroed virtio_net_hdr) to B's MAC, the flow mix of
 * bench/streamgen (bench/flowmix.h); B takes them from its receive queue
 * and gives the buffers back.  At most WINDOW frames are in flight (sent,
 * not yet received), as streamgen does, so cotrackd's queue toward B
 * never drops.  Output, one line: frames= bytes= lost= secs= fps= mbps=
 * [cpu_s= cpu_ns_per_frame=] (cotrackd's CPU with -p, as streamgen).
 *
 * Hostile modes (-m), A only (B is used by norx): A comes up as a
 * well-behaved frontend would (except in the memory-table and message
 * modes), says hello, then misbehaves, stays connected for SECS seconds
 * (default 2) and reports what the backend did, one line "mode=M ...":
 *
 *   loop      a transmit descriptor chain that loops (d0 -> d1 -> d0)
 *   oob       a transmit descriptor outside guest memory
 *   overlap   a two-descriptor chain whose buffers overlap each other
 *   longlen   a descriptor whose length runs past the memory region
 *   availjump avail index 40000 entries ahead of what was written
 *   badidx    an avail ring entry naming descriptor 65535 (ring of 256)
 *   norx      A never gives receive buffers; B sends FRAMES frames to A
 *   mt-overlap  memory table: two regions over the same guest addresses
 *   mt-zero   memory table: a region of size 0
 *   mt-short  memory table: the fd is half the size the region claims, and
 *             a transmit frame lies in the missing half
 *   mt-many   memory table: 9 regions (the protocol's maximum is 8)
 *   mt-offset memory table: mmap offset past the end of the file
 *   badsize   a message whose size field exceeds any payload, and
 *             SET_VRING_NUM with a 2-byte payload
 *   unknown   requests 0 and 999
 *
 * After each data-path mode A appends hellos (broadcasts) to its transmit
 * queue and reports "used=U of P": how many of its P transmit entries the
 * backend returned (the bad one included or not), i.e. whether the
 * backend skipped the bad entry or stopped at it.  Message and memory-table
 * modes report how each message was answered: "ack=0" (accepted),
 * "nack" (REPLY_ACK says failed), "closed" (the backend closed the
 * connection), "alive"/"dead" (a GET_FEATURES afterwards).
 *
 * Everything is bounded: each wait has a timeout, each loop a count.
 * This is test code: it trusts nothing it reads back from the used rings
 * (ids and lengths are checked) but is not itself a parser of hostile input.
 * Exit 0 when the run did what it set out to (normal: every frame arrived),
 * 1 on a set-up failure, 3 on lost frames, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cotrack/common.h"
#include "host/cli.h"
#include "host/log.h"

#include "bench/flowmix.h"

/* vhost-user requests (QEMU docs/interop/vhost-user.rst). */
enum {
	GET_FEATURES = 1,
	SET_FEATURES = 2,
	SET_OWNER = 3,
	SET_MEM_TABLE = 5,
	SET_VRING_NUM = 8,
	SET_VRING_ADDR = 9,
	SET_VRING_BASE = 10,
	SET_VRING_KICK = 12,
	SET_VRING_CALL = 13,
	GET_PROTOCOL_FEATURES = 15,
	SET_PROTOCOL_FEATURES = 16,
	SET_VRING_ENABLE = 18,
};
#define F_VERSION    0x1u
#define F_REPLY	     0x4u
#define F_NEED_REPLY 0x8u

#define VIRTIO_NET_F_MRG_RXBUF	   15
#define VHOST_USER_F_PROTOCOL_FEAT 30
#define VIRTIO_F_VERSION_1	   32
#define PROTO_F_MQ		   0
#define PROTO_F_REPLY_ACK	   3

#define QSZ   256 /* entries per virtqueue */
#define BUFSZ 2048
#define HDR   12 /* virtio_net_hdr with num_buffers (VERSION_1) */
#define MEMSZ (2u << 20)
#define RING_OFF(q)                                                            \
	((uint64_t)(q)*0x4000) /* desc, +0x1000 avail, +0x2000 used */
#define RXBUF_OFF   0x10000u
#define TXBUF_OFF   (RXBUF_OFF + QSZ * BUFSZ)
#define MAXPAY	    4096
#define MAX_REGIONS 8

#define DESC_F_NEXT	 1
#define DESC_F_WRITE	 2
#define USED_F_NO_NOTIFY 1

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vavail {
	uint16_t flags, idx, ring[QSZ];
};

struct vused {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[QSZ];
};

struct __attribute__((packed)) msghdr_vu {
	uint32_t req, flags, size;
};

struct region {
	uint64_t gpa, size, uaddr, off;
};

struct vq {
	struct vdesc *desc;
	struct vavail *avail;
	struct vused *used;
	int kick, call;
	uint16_t avail_idx, last_used;
	uint16_t free[QSZ];
	uint32_t nfree;
};

struct fe {
	const char *path;
	int sock;
	int memfd;
	uint8_t *mem;
	uint64_t proto;
	bool dead;
	uint8_t mac[6];
	struct vq q[2]; /* 0: receive, 1: transmit */
	uint64_t frames, bytes, hello, bad_used;
};

static uint32_t ringsz = QSZ;

static void bye(const char *what)
{
	fprintf(stderr, "vhostfe: %s\n", what);
	exit(1);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	int fd, i;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* The socket may not be there yet: 50 tries of 100 ms. */
	for (i = 0; i < 50; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		usleep(100000);
	}
	if (i == 50) {
		close(fd);
		return -1;
	}
	/* Every reply is awaited at most 2 s. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send one message, with @nfds descriptors.  0 or -1 (peer gone). */
static int vu_send(struct fe *fe, uint32_t req, uint32_t flags, uint32_t size,
		   const void *pay, uint32_t paylen, const int *fds, int nfds)
{
	struct msghdr_vu h = { req, F_VERSION | flags, size };
	uint8_t buf[sizeof(h) + MAXPAY];
	struct iovec iov = { buf, sizeof(h) + paylen };
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 16 || paylen > MAXPAY)
		return -1;
	memcpy(buf, &h, sizeof(h));
	if (paylen)
		memcpy(buf + sizeof(h), pay, paylen);
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	if (sendmsg(fe->sock, &m, MSG_NOSIGNAL) !=
	    (ssize_t)(sizeof(h) + paylen)) {
		fe->dead = true;
		return -1;
	}
	return 0;
}

/*
 * A reply: its payload (at most @max bytes kept) into @pay.  Returns the
 * payload size, -1 when the backend closed the connection, -2 on the
 * 2 s timeout.
 */
static int vu_recv(struct fe *fe, uint32_t req, void *pay, uint32_t max)
{
	struct msghdr_vu h;
	uint8_t junk[MAXPAY];
	ssize_t n = recv(fe->sock, &h, sizeof(h), MSG_WAITALL);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		fe->dead = true;
		return -1;
	}
	if (n != sizeof(h))
		return -2;
	if (h.req != req || !(h.flags & F_REPLY) || h.size > MAXPAY) {
		fe->dead = true;
		return -1;
	}
	if (h.size && recv(fe->sock, junk, h.size, MSG_WAITALL) != h.size) {
		fe->dead = true;
		return -1;
	}
	memcpy(pay, junk, h.size < max ? h.size : max);
	return (int)h.size;
}

static int get_u64(struct fe *fe, uint32_t req, uint64_t *v)
{
	*v = 0;
	if (vu_send(fe, req, 0, 0, NULL, 0, NULL, 0) < 0)
		return -1;
	return vu_recv(fe, req, v, sizeof(*v)) == 8 ? 0 : -1;
}

/*
 * Send, asking for an ack when REPLY_ACK was negotiated.  Returns 0
 * (accepted), 1 (nack), -1 (closed), -2 (no answer in 2 s).  Without
 * REPLY_ACK: 0 unless the send failed.
 */
static int vu_call(struct fe *fe, uint32_t req, const void *pay, uint32_t len,
		   const int *fds, int nfds)
{
	bool ack = fe->proto & (1ULL << PROTO_F_REPLY_ACK);
	uint64_t r = 0;
	int n;

	if (vu_send(fe, req, ack ? F_NEED_REPLY : 0, len, pay, len, fds, nfds) <
	    0)
		return -1;
	if (!ack)
		return 0;
	n = vu_recv(fe, req, &r, sizeof(r));
	if (n < 0)
		return n;
	return r ? 1 : 0;
}

static const char *outcome(int r)
{
	return r == 0	 ? "ack=0"
	       : r == 1	 ? "nack"
	       : r == -1 ? "closed"
			 : "noreply";
}

/* Whether the backend still answers (GET_FEATURES within 2 s). */
static const char *alive(struct fe *fe)
{
	uint64_t v;

	if (fe->dead)
		return "dead";
	return get_u64(fe, GET_FEATURES, &v) == 0 ? "alive" : "dead";
}

static int mkmem(uint64_t size, uint64_t truncate_to, uint8_t **map)
{
	int fd = memfd_create("vhostfe", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)truncate_to) < 0)
		bye("memfd");
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED)
		bye("mmap");
	return fd;
}

/* Negotiation: features and protocol features.  0 or -1. */
static int negotiate(struct fe *fe)
{
	uint64_t f, want, pf;

	if (get_u64(fe, GET_FEATURES, &f) < 0)
		return -1;
	want = f & ((1ULL << VIRTIO_F_VERSION_1) |
		    (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
		    (1ULL << VHOST_USER_F_PROTOCOL_FEAT));
	if (vu_send(fe, SET_OWNER, 0, 0, NULL, 0, NULL, 0) < 0)
		return -1;
	if (want & (1ULL << VHOST_USER_F_PROTOCOL_FEAT)) {
		if (get_u64(fe, GET_PROTOCOL_FEATURES, &pf) < 0)
			return -1;
		pf &= (1ULL << PROTO_F_MQ) | (1ULL << PROTO_F_REPLY_ACK);
		if (vu_send(fe, SET_PROTOCOL_FEATURES, 0, 8, &pf, 8, NULL, 0) <
		    0)
			return -1;
		fe->proto = pf;
	}
	return vu_send(fe, SET_FEATURES, 0, 8, &want, 8, NULL, 0);
}

/* The memory table: one region, guest-physical 0..MEMSZ. */
static int send_table(struct fe *fe, uint64_t claimed)
{
	uint8_t pay[8 + sizeof(struct region)];
	struct region r = { 0, claimed, (uintptr_t)fe->mem, 0 };
	uint32_t n = 1, pad = 0;

	memcpy(pay, &n, 4);
	memcpy(pay + 4, &pad, 4);
	memcpy(pay + 8, &r, sizeof(r));
	return vu_call(fe, SET_MEM_TABLE, pay, sizeof(pay), &fe->memfd, 1);
}

static int efd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		bye("eventfd");
	return fd;
}

/* Lay out and hand over queue @i.  0 or -1. */
static int setup_queue(struct fe *fe, uint32_t i)
{
	struct vq *q = &fe->q[i];
	uint8_t *base = fe->mem + RING_OFF(i);
	uint32_t st[2] = { i, ringsz };
	uint64_t u[6];
	uint32_t a[2] = { i, 0 };
	uint64_t idx = i;

	q->desc = (struct vdesc *)base;
	q->avail = (struct vavail *)(base + 0x1000);
	q->used = (struct vused *)(base + 0x2000);
	q->kick = efd();
	q->call = efd();
	q->nfree = 0;
	for (uint32_t k = 0; k < QSZ; k++)
		q->free[q->nfree++] = (uint16_t)(QSZ - 1 - k);
	if (vu_call(fe, SET_VRING_NUM, st, 8, NULL, 0))
		return -1;
	st[1] = 0;
	if (vu_call(fe, SET_VRING_BASE, st, 8, NULL, 0))
		return -1;
	memcpy(u, a, 8);
	u[1] = (uintptr_t)q->desc;
	u[2] = (uintptr_t)q->used;
	u[3] = (uintptr_t)q->avail;
	u[4] = 0;
	if (vu_call(fe, SET_VRING_ADDR, u, 40, NULL, 0))
		return -1;
	if (vu_call(fe, SET_VRING_CALL, &idx, 8, &q->call, 1) ||
	    vu_call(fe, SET_VRING_KICK, &idx, 8, &q->kick, 1))
		return -1;
	return 0;
}

static int enable(struct fe *fe)
{
	for (uint32_t i = 0; i < 2; i++) {
		uint32_t st[2] = { i, 1 };

		if (vu_call(fe, SET_VRING_ENABLE, st, 8, NULL, 0))
			return -1;
	}
	return 0;
}

static void kick(struct vq *q)
{
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) &
	      USED_F_NO_NOTIFY))
		(void)!write(q->kick, &one, 8);
}

static void push(struct vq *q, uint16_t head)
{
	q->avail->ring[q->avail_idx % ringsz] = head;
	q->avail_idx++;
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

/* Every receive buffer to the backend. */
static void post_rx(struct fe *fe)
{
	struct vq *q = &fe->q[0];

	while (q->nfree) {
		uint16_t d = q->free[--q->nfree];

		q->desc[d].addr = RXBUF_OFF + (uint64_t)d * BUFSZ;
		q->desc[d].len = BUFSZ;
		q->desc[d].flags = DESC_F_WRITE;
		q->desc[d].next = 0;
		push(q, d);
	}
	kick(q);
}

/* Receive: count what the backend wrote, give the buffers back. */
static uint32_t take_rx(struct fe *fe, bool repost)
{
	struct vq *q = &fe->q[0];
	uint16_t end;
	uint32_t n = 0;

	if (!q->used)
		return 0;
	end = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);

	/* Bounded by the ring: at most QSZ entries per call. */
	while (q->last_used != end && n < QSZ) {
		uint32_t id = q->used->ring[q->last_used % ringsz].id;
		uint32_t len = q->used->ring[q->last_used % ringsz].len;
		const uint8_t *f;

		q->last_used++;
		n++;
		if (id >= QSZ || len < HDR || len > BUFSZ) {
			fe->bad_used++;
			continue;
		}
		f = fe->mem + RXBUF_OFF + (uint64_t)id * BUFSZ + HDR;
		len -= HDR;
		if (len >= 14 && cot_get_be16(f + 12) == 0x88b5)
			fe->hello++;
		else {
			fe->frames++;
			fe->bytes += len;
		}
		q->free[q->nfree++] = (uint16_t)id;
	}
	if (n && repost)
		post_rx(fe);
	return n;
}

/* Transmit buffers the backend returned. */
static uint32_t take_tx(struct fe *fe)
{
	struct vq *q = &fe->q[1];
	uint16_t end;
	uint32_t n = 0;

	if (!q->used)
		return 0;
	end = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);

	while (q->last_used != end && n < QSZ) {
		uint32_t id = q->used->ring[q->last_used % ringsz].id;

		q->last_used++;
		n++;
		if (id >= QSZ || q->nfree >= QSZ) {
			fe->bad_used++;
			continue;
		}
		q->free[q->nfree++] = (uint16_t)id;
	}
	return n;
}

static uint8_t *txbuf(uint16_t d, struct fe *fe)
{
	return fe->mem + TXBUF_OFF + (uint64_t)d * BUFSZ;
}

/* Queue one frame (HDR + @len bytes already at txbuf(d)). */
static void tx_desc(struct fe *fe, uint16_t d, uint32_t len)
{
	struct vq *q = &fe->q[1];

	q->desc[d].addr = TXBUF_OFF + (uint64_t)d * BUFSZ;
	q->desc[d].len = HDR + len;
	q->desc[d].flags = 0;
	q->desc[d].next = 0;
	push(q, d);
}

static int tx_hello(struct fe *fe, const uint8_t *dst)
{
	struct vq *q = &fe->q[1];
	uint8_t *b;
	uint16_t d;

	take_tx(fe);
	if (!q->nfree)
		return -1;
	d = q->free[--q->nfree];
	b = txbuf(d, fe);
	memset(b, 0, HDR + MIN_SIZE);
	memcpy(b + HDR, dst, 6);
	memcpy(b + HDR + 6, fe->mac, 6);
	cot_put_be16(b + HDR + 12, 0x88b5);
	tx_desc(fe, d, MIN_SIZE);
	kick(q);
	return 0;
}

static void drain(int fd)
{
	uint64_t v;

	if (fd >= 0)
		(void)!read(fd, &v, 8);
}

/* Connect and bring up both queues.  0 or -1. */
static int fe_up(struct fe *fe, bool rx)
{
	fe->sock = connect_unix(fe->path);
	if (fe->sock < 0) {
		fprintf(stderr, "vhostfe: cannot connect to %s\n", fe->path);
		return -1;
	}
	fe->memfd = mkmem(MEMSZ, MEMSZ, &fe->mem);
	if (negotiate(fe) < 0 || send_table(fe, MEMSZ) ||
	    setup_queue(fe, 0) < 0 || setup_queue(fe, 1) < 0)
		return -1;
	if (rx)
		post_rx(fe);
	return enable(fe);
}

/* Wait up to @ms for either call fd of @a/@b. */
static void wait_calls(struct fe *a, struct fe *b, int ms)
{
	struct pollfd p[4];
	int n = 0;

	if (!a->q[0].used) {
		usleep((useconds_t)ms * 1000);
		return;
	}

	p[n++] = (struct pollfd){ .fd = a->q[0].call, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = a->q[1].call, .events = POLLIN };
	if (b) {
		p[n++] =
			(struct pollfd){ .fd = b->q[0].call, .events = POLLIN };
		p[n++] =
			(struct pollfd){ .fd = b->q[1].call, .events = POLLIN };
	}
	if (poll(p, (nfds_t)n, ms) > 0)
		for (int i = 0; i < n; i++)
			if (p[i].revents)
				drain(p[i].fd);
}

/*
 * Hellos from @from until @to heard one (the switch learnt its MAC):
 * one hello per 50 ms, for 5 s.  Each hello waits its whole 50 ms: a
 * call (the backend returning @from's transmit entry) wakes the wait
 * long before the backend has switched the frame on, so a retry per
 * wake-up would spend its 100 tries in a millisecond.
 */
static int learn(struct fe *from, struct fe *to, const uint8_t *dst)
{
	for (int tries = 0; tries < 100; tries++) {
		uint64_t before = to->hello;
		double end = now_s() + 0.05, left;

		tx_hello(from, dst);
		/* Bounded by the deadline: each wait is at least 1 ms. */
		while ((left = end - now_s()) > 0) {
			wait_calls(from, to, (int)(left * 1000) + 1);
			take_rx(to, true);
			take_rx(from, true);
			if (to->hello > before)
				return 0;
		}
	}
	return -1;
}

static int run_normal(struct fe *a, struct fe *b, uint32_t size, uint64_t total,
		      uint32_t window, uint32_t nflows, int pid, bool pace)
{
	unsigned long long c0 = 0, c1 = 0;
	double t0, t1, last;
	uint64_t sent = 0;

	for (uint32_t i = 0; i < nflows; i++)
		flow_new(&flows[i]);
	if (pid && cpu_ns(pid, &c0) < 0)
		pid = 0;
	t0 = t1 = last = now_s();
	/* Ends when B has everything, or 2 s without progress. */
	while (b->frames < total) {
		struct vq *q = &a->q[1];
		uint32_t k = 0, got;

		take_tx(a);
		while (sent < total && q->nfree &&
		       (pace || sent - b->frames < window)) {
			uint16_t d = q->free[--q->nfree];
			uint8_t *buf = txbuf(d, a);
			uint32_t len;

			len = (uint32_t)frame_next(&flows[rnd() % nflows],
						   buf + HDR - 4, size) -
			      4;
			/* Our addresses (norx: not the normal pair's). */
			memcpy(buf + HDR, b->mac, 6);
			memcpy(buf + HDR + 6, a->mac, 6);
			memset(buf, 0, HDR);
			tx_desc(a, d, len);
			sent++;
			k++;
		}
		if (k)
			kick(q);
		got = take_rx(b, true);
		take_rx(a, true);
		if (got) {
			t1 = last = now_s();
			continue;
		}
		if (k) {
			last = now_s();
			continue;
		}
		if (now_s() - last > 2.0)
			break;
		wait_calls(a, b, 100);
	}
	if (pid && cpu_ns(pid, &c1) < 0)
		pid = 0;
	{
		double secs = t1 - t0;

		printf("frames=%llu bytes=%llu lost=%llu secs=%.4f fps=%.0f "
		       "mbps=%.1f",
		       (unsigned long long)b->frames,
		       (unsigned long long)b->bytes,
		       (unsigned long long)(sent - b->frames), secs,
		       secs > 0 ? (double)b->frames / secs : 0.0,
		       secs > 0 ? (double)b->bytes * 8 / secs / 1e6 : 0.0);
		if (pid)
			printf(" cpu_s=%.3f cpu_ns_per_frame=%.1f",
			       (double)(c1 - c0) / 1e9,
			       b->frames ? (double)(c1 - c0) / (double)b->frames
					 : 0.0);
		printf(" sent=%llu bad_used=%llu\n", (unsigned long long)sent,
		       (unsigned long long)(a->bad_used + b->bad_used));
	}
	return b->frames == total ? 0 : 3;
}

/* Stay connected @secs, answering nothing but taking used entries. */
static void linger(struct fe *fe, double secs)
{
	double end = now_s() + secs;

	while (now_s() < end && !fe->dead) {
		struct pollfd p = { .fd = fe->sock, .events = POLLIN };

		wait_calls(fe, NULL, 50);
		take_tx(fe);
		take_rx(fe, true);
		/* The backend closing the connection shows as POLLHUP. */
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLIN))) {
			char c;

			if (recv(fe->sock, &c, 1, MSG_DONTWAIT | MSG_PEEK) <= 0)
				fe->dead = true;
		}
	}
}

/* A data-path mode: the bad entry, then 4 hellos; report what came back. */
static int run_datapath(struct fe *fe, const char *mode, double secs)
{
	struct vq *q = &fe->q[1];
	uint16_t used0 = q->last_used, d0, d1;
	uint32_t posted = 1;
	uint8_t *b;

	take_tx(fe);
	if (q->nfree < 8)
		bye("no transmit descriptors");
	d0 = q->free[--q->nfree];
	d1 = q->free[--q->nfree];
	b = txbuf(d0, fe);
	memset(b, 0, HDR + 64);
	memcpy(b + HDR, bcast, 6);
	memcpy(b + HDR + 6, fe->mac, 6);
	cot_put_be16(b + HDR + 12, 0x88b5);
	q->desc[d0].addr = TXBUF_OFF + (uint64_t)d0 * BUFSZ;
	q->desc[d0].len = HDR + 64;
	q->desc[d0].flags = 0;
	q->desc[d1] = q->desc[d0];
	if (!strcmp(mode, "loop")) {
		q->desc[d0].flags = DESC_F_NEXT;
		q->desc[d0].next = d1;
		q->desc[d1].flags = DESC_F_NEXT;
		q->desc[d1].next = d0;
		push(q, d0);
	} else if (!strcmp(mode, "oob")) {
		q->desc[d0].addr = 1ULL << 40;
		push(q, d0);
	} else if (!strcmp(mode, "overlap")) {
		/* d1 covers d0's bytes again, 32 bytes in. */
		q->desc[d0].flags = DESC_F_NEXT;
		q->desc[d0].next = d1;
		q->desc[d1].addr = q->desc[d0].addr + 32;
		push(q, d0);
	} else if (!strcmp(mode, "longlen")) {
		q->desc[d0].addr = MEMSZ - 64;
		q->desc[d0].len = 1u << 20;
		push(q, d0);
	} else if (!strcmp(mode, "badidx")) {
		push(q, 65535);
	} else if (!strcmp(mode, "availjump")) {
		/* Written: nothing.  Published: 40000 entries more. */
		q->avail_idx += 40000;
		__atomic_store_n(&q->avail->idx, q->avail_idx,
				 __ATOMIC_RELEASE);
		posted = 40000;
	} else if (!strcmp(mode, "mt-short")) {
		/* A frame in the half of the region the file lacks. */
		q->desc[d0].addr = MEMSZ + 4096;
		push(q, d0);
	} else {
		bye("unknown data-path mode");
	}
	kick(q);
	usleep(200000);
	for (int i = 0; i < 4; i++) {
		tx_hello(fe, bcast);
		posted++;
		usleep(50000);
	}
	linger(fe, secs);
	printf("mode=%s used=%u of %u connection=%s\n", mode,
	       (uint16_t)(q->last_used - used0), posted, alive(fe));
	return 0;
}

/* A memory-table mode: the table, then the queues; report. */
static int run_memtable(struct fe *fe, const char *mode, double secs)
{
	uint8_t pay[8 + 9 * sizeof(struct region)];
	struct region r[9];
	uint32_t n = 1, pad = 0;
	int fds[9], nfd = 1, rc;
	uint64_t claimed = MEMSZ;

	fe->sock = connect_unix(fe->path);
	if (fe->sock < 0)
		bye("connect");
	if (!strcmp(mode, "mt-short")) {
		/* The region claims 2 * MEMSZ; the file holds MEMSZ. */
		claimed = 2ull * MEMSZ;
		fe->memfd = mkmem(claimed, MEMSZ, &fe->mem);
	} else {
		fe->memfd = mkmem(MEMSZ, MEMSZ, &fe->mem);
	}
	if (negotiate(fe) < 0)
		bye("negotiation failed");
	memset(r, 0, sizeof(r));
	r[0] = (struct region){ 0, claimed, (uintptr_t)fe->mem, 0 };
	fds[0] = fe->memfd;
	if (!strcmp(mode, "mt-overlap")) {
		n = 2;
		r[1] = (struct region){ MEMSZ / 2, MEMSZ / 2,
					(uintptr_t)fe->mem + MEMSZ, 0 };
		fds[nfd++] = fe->memfd;
	} else if (!strcmp(mode, "mt-zero")) {
		n = 2;
		r[1] = (struct region){ 4 * MEMSZ, 0,
					(uintptr_t)fe->mem + 4 * MEMSZ, 0 };
		fds[nfd++] = fe->memfd;
	} else if (!strcmp(mode, "mt-many")) {
		n = 9;
		for (uint32_t i = 1; i < 9; i++) {
			r[i] = (struct region){ i * MEMSZ, 4096,
						(uintptr_t)fe->mem + i * MEMSZ,
						0 };
			fds[nfd++] = fe->memfd;
		}
	} else if (!strcmp(mode, "mt-offset")) {
		r[0].off = 1ull << 36;
	}
	memcpy(pay, &n, 4);
	memcpy(pay + 4, &pad, 4);
	memcpy(pay + 8, r, n * sizeof(r[0]));
	rc = vu_call(fe, SET_MEM_TABLE, pay, 8 + n * (uint32_t)sizeof(r[0]),
		     fds, nfd);
	printf("mode=%s set_mem_table=%s", mode, outcome(rc));
	if (!fe->dead) {
		/* The queues, as if the table had been fine. */
		int q0 = setup_queue(fe, 0), q1 = q0 ? -1 : setup_queue(fe, 1);

		printf(" queues=%s",
		       !q0 && !q1 && !enable(fe) ? "ok" : "failed");
	}
	if (!fe->dead && !strcmp(mode, "mt-short")) {
		post_rx(fe);
		printf("\n");
		fflush(stdout);
		return run_datapath(fe, mode, secs);
	}
	if (!fe->dead)
		linger(fe, secs);
	printf(" connection=%s\n", alive(fe));
	return 0;
}

static int run_messages(struct fe *fe, const char *mode)
{
	fe->sock = connect_unix(fe->path);
	if (fe->sock < 0)
		bye("connect");
	fe->memfd = mkmem(MEMSZ, MEMSZ, &fe->mem);
	if (negotiate(fe) < 0)
		bye("negotiation failed");
	printf("mode=%s", mode);
	if (!strcmp(mode, "unknown")) {
		uint64_t v = 0;
		int r = vu_call(fe, 999, &v, 8, NULL, 0);

		printf(" req999=%s/%s", outcome(r), alive(fe));
		if (!fe->dead) {
			r = vu_call(fe, 0, &v, 8, NULL, 0);
			printf(" req0=%s/%s", outcome(r), alive(fe));
		}
	} else {
		uint32_t st = 0;
		int r = vu_call(fe, SET_VRING_NUM, &st, 2, NULL, 0);

		printf(" short_payload=%s/%s", outcome(r), alive(fe));
		if (fe->dead) {
			/* Refused with the connection: a new one. */
			close(fe->sock);
			fe->dead = false;
			fe->sock = connect_unix(fe->path);
			if (fe->sock < 0 || negotiate(fe) < 0)
				bye("reconnect failed");
		}
		/* The size field claims 16 MiB that never come. */
		r = vu_send(fe, SET_VRING_NUM, 0, 16u << 20, &st, 4, NULL, 0);
		printf(" huge_size=%s/%s", r ? "closed" : "sent", alive(fe));
	}
	printf("\n");
	return 0;
}

static int usage(FILE *f, int status)
{
	fprintf(f,
		"usage: vhostfe -a SOCK_A [-b SOCK_B] [-m MODE] [-s SIZE "
		"(%d..%d)] [-n FRAMES]\n"
		"         [-w WINDOW (1..%d)] [-c FLOWS (1..%d)] [-p PID] "
		"[-S SEED] [-t SECS (0..60)]\n"
		"modes: normal (A sends to B), loop, oob, overlap, longlen, "
		"availjump, badidx,\n"
		"       norx (B sends to A, which gives no receive buffers),\n"
		"       mt-overlap, mt-zero, mt-short, mt-many, mt-offset, "
		"badsize, unknown\n",
		MIN_SIZE, MAX_SIZE, QSZ - 1, MAX_FLOWS);
	return status;
}

int main(int argc, char **argv)
{
	static struct fe a, b;
	const char *mode = "normal";
	uint32_t size = 64, window = 200, nflows = 1024, secs = 2;
	uint64_t total = 100000;
	int c, pid = 0, rc = 0;

	log_init("vhostfe", 1);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "a:b:m:s:n:w:c:p:S:t:h")) != -1) {
		switch (c) {
		case 'a':
			a.path = optarg;
			break;
		case 'b':
			b.path = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 's':
			rc = cot_cli_u32("-s", optarg, MIN_SIZE, MAX_SIZE,
					 &size);
			break;
		case 'n':
			rc = cot_cli_u64("-n", optarg, 1, UINT64_MAX, &total);
			break;
		case 'w':
			rc = cot_cli_u32("-w", optarg, 1, QSZ - 1, &window);
			break;
		case 'c':
			rc = cot_cli_u32("-c", optarg, 1, MAX_FLOWS, &nflows);
			break;
		case 'p':
			rc = cot_cli_int("-p", optarg, 0, INT32_MAX, &pid);
			break;
		case 'S':
			rc = cot_cli_u64("-S", optarg, 0, UINT64_MAX, &rng);
			rng |= 1;
			break;
		case 't':
			rc = cot_cli_u32("-t", optarg, 0, 60, &secs);
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, COT_EXIT_USAGE);
		}
		if (rc < 0)
			return COT_EXIT_USAGE;
	}
	if (!a.path || optind != argc) {
		if (!a.path)
			log_warnx("-a SOCK_A is required");
		return usage(stderr, COT_EXIT_USAGE);
	}
	{
		static const char *const modes[] = {
			"normal",     "loop",	   "oob",      "overlap",
			"longlen",    "availjump", "badidx",   "norx",
			"mt-overlap", "mt-zero",   "mt-short", "mt-many",
			"mt-offset",  "badsize",   "unknown",
		};
		bool known = false;

		for (size_t i = 0; i < COT_ARRAY_SIZE(modes); i++)
			known = known || !strcmp(mode, modes[i]);
		if (!known) {
			log_warnx("-m %s: no such mode", mode);
			return usage(stderr, COT_EXIT_USAGE);
		}
	}
	a.memfd = b.memfd = a.sock = b.sock = -1;
	memcpy(a.mac, mac_a, 6);
	memcpy(b.mac, mac_b, 6);
	if (!strcmp(mode, "normal")) {
		if (!b.path) {
			log_warnx("normal mode needs -b SOCK_B");
			return usage(stderr, COT_EXIT_USAGE);
		}
		if (fe_up(&a, true) < 0 || fe_up(&b, true) < 0)
			bye("vhost-user set-up failed");
		if (learn(&a, &b, bcast) < 0 || learn(&b, &a, mac_a) < 0) {
			fprintf(stderr,
				"vhostfe: hellos heard: A %llu, B %llu; "
				"transmit entries returned: A %u, B %u; other "
				"frames: A %llu, B %llu; receive rings: A used "
				"%u/%u avail %u, B used %u/%u avail %u\n",
				(unsigned long long)a.hello,
				(unsigned long long)b.hello, a.q[1].last_used,
				b.q[1].last_used, (unsigned long long)a.frames,
				(unsigned long long)b.frames, a.q[0].last_used,
				a.q[0].used->idx, a.q[0].avail_idx,
				b.q[0].last_used, b.q[0].used->idx,
				b.q[0].avail_idx);
			bye("the switch did not pass hellos between A and B");
		}
		return run_normal(&a, &b, size, total, window, nflows, pid,
				  false);
	}
	/* Hostile: other addresses than a normal pair's. */
	a.mac[5] = 0x0c;
	b.mac[5] = 0x0d;
	if (!strcmp(mode, "norx")) {
		if (!b.path) {
			log_warnx("norx needs -b SOCK_B (the sender)");
			return usage(stderr, COT_EXIT_USAGE);
		}
		if (fe_up(&a, false) < 0 || fe_up(&b, true) < 0)
			bye("vhost-user set-up failed");
		/* B must learn A's address: A hellos, B hears. */
		if (learn(&a, &b, bcast) < 0)
			bye("the switch did not pass A's hello to B");
		/* B sends to A's MAC, paced by its own ring, no window. */
		printf("mode=norx ");
		run_normal(&b, &a, size, total, window, nflows, 0, true);
		return 0;
	}
	if (!strncmp(mode, "mt-", 3))
		return run_memtable(&a, mode, secs);
	if (!strcmp(mode, "badsize") || !strcmp(mode, "unknown"))
		return run_messages(&a, mode);
	if (fe_up(&a, true) < 0)
		bye("vhost-user set-up failed");
	return run_datapath(&a, mode, secs);
}
