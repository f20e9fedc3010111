// SPDX-License-Identifier: MIT
/* cotrackd's ports: see port.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "cotrack/common.h"
#include "host/log.h"
#include "port.h"
#include "vhost.h"

int port_init(struct port *p, int idx, enum port_kind kind, const char *name)
{
	memset(p, 0, sizeof(*p));
	p->idx = idx;
	p->kind = kind;
	p->lfd = -1;
	p->fd = -1;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->rbuf = malloc(RBUF_SIZE);
	p->q = calloc(1, sizeof(*p->q));
	if (!p->rbuf || !p->q) {
		log_warnx("%s: out of memory", name);
		port_free(p);
		return -1;
	}
	p->q->partial = -1;
	return 0;
}

static void txq_clear(struct txq *q)
{
	uint32_t i;

	for (i = 0; i < MAX_PORTS; i++) {
		struct txshare *s = &q->share[i];

		/* Bounded by TXQ_SHARE_FRAMES. */
		while (s->count) {
			free(s->ring[s->head].data);
			s->head = (s->head + 1) % TXQ_SHARE_FRAMES;
			s->count--;
		}
		s->bytes = 0;
	}
	q->count = 0;
	q->partial = -1;
	q->off = 0;
}

void port_free(struct port *p)
{
	if (p->kind == PORT_VHOST) {
		vhost_close(p->vh);
		p->vh = NULL;
		p->fd = -1; /* librte_vhost's */
	}
	if (p->q)
		txq_clear(p->q);
	free(p->q);
	free(p->rbuf);
	p->q = NULL;
	p->rbuf = NULL;
	if (p->fd >= 0)
		close(p->fd);
	if (p->lfd >= 0) {
		close(p->lfd);
		if (p->path[0])
			unlink(p->path);
	}
	p->fd = p->lfd = -1;
}

int port_listen(struct port *p, const char *path)
{
	struct sockaddr_un sa;
	struct stat sb;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warnx("%s: socket path longer than %zu bytes", path,
			  sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A stale socket from an earlier run: replace it, nothing else. */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			log_warnx("%s: exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("socket");
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->lfd = fd;
	return 0;
}

int port_vhost(struct port *p, const char *path)
{
	p->vh = vhost_open(p->name, path, p->offloads);
	if (!p->vh)
		return -1;
	snprintf(p->path, sizeof(p->path), "%s", path);
	return 0;
}

void port_vhost_up(struct port *p, int txkick)
{
	p->fd = txkick;
	p->st.connects++;
	log_info("%s: NIC connected (vhost-user)", p->name);
}

int port_tap(struct port *p, const char *ifname, const char *netns)
{
	struct ifreq ifr;
	int fd, self = -1, ns = -1;

	/* Create the tap inside @netns, so only that namespace reaches it. */
	if (netns) {
		char path[300];

		snprintf(path, sizeof(path), "/run/netns/%s", netns);
		self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		ns = open(path, O_RDONLY | O_CLOEXEC);
		if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
			log_warn("network namespace %s", netns);
			if (self >= 0)
				close(self);
			if (ns >= 0)
				close(ns);
			return -1;
		}
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			log_warn("tap %s", ifname);
			close(fd);
			fd = -1;
		}
	} else {
		log_warn("/dev/net/tun");
	}
	if (netns) {
		if (setns(self, CLONE_NEWNET) < 0)
			fatal("cannot return to our network namespace");
		close(self);
		close(ns);
	}
	if (fd < 0)
		return -1;
	p->fd = fd;
	return 0;
}

int port_accept(struct port *p)
{
	int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return 0;
	if (p->fd >= 0) {
		log_warnx("%s: a second connection on %s refused", p->name,
			  p->path);
		p->st.refused++;
		close(fd);
		return 0;
	}
	p->fd = fd;
	p->rlen = p->roff = 0;
	p->st.connects++;
	log_info("%s: NIC connected", p->name);
	return 1;
}

void port_close_conn(struct port *p, const char *why)
{
	if (p->fd < 0 || p->kind == PORT_TAP)
		return;
	log_info("%s: peer %s", p->name, why);
	if (p->kind != PORT_VHOST)
		close(p->fd);
	p->fd = -1;
	p->rlen = p->roff = 0;
	p->st.disconnects++;
	txq_clear(p->q);
}

bool port_pending(const struct port *p)
{
	if (p->fd < 0 || p->kind == PORT_TAP)
		return false;
	if (p->kind == PORT_VHOST)
		return vhost_pending(p->vh);
	/* A complete frame waits (the caller stopped at the turn's quota). */
	if (p->rlen - p->roff >= 4) {
		uint32_t flen = cot_get_be32(p->rbuf + p->roff);

		return flen == 0 || flen > MAX_FRAME ||
		       p->rlen - p->roff - 4 >= flen;
	}
	return false;
}

void port_new_turn(struct port *p)
{
	p->turn = 0;
}

int port_read(struct port *p)
{
	ssize_t n;

	if (p->fd < 0)
		return 0;
	if (p->kind == PORT_VHOST) {
		/* A kick: port_next_frame dequeues from the ring. */
		vhost_clear_kick(p->fd);
		return 0;
	}
	if (p->kind == PORT_TAP) {
		/* A tap gives one frame per read: port_next_frame takes it. */
		if (p->rlen)
			return 0;
		n = read(p->fd, p->rbuf, MAX_FRAME);
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		p->rlen = (uint32_t)n;
		p->roff = 0;
		return 0;
	}
	if (port_pending(p))
		return 0; /* switch what we have before reading more */
	if (p->roff) {
		memmove(p->rbuf, p->rbuf + p->roff, p->rlen - p->roff);
		p->rlen -= p->roff;
		p->roff = 0;
	}
	n = read(p->fd, p->rbuf + p->rlen, RBUF_SIZE - p->rlen);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (n == 0)
		return -1;
	p->rlen += (uint32_t)n;
	return 0;
}

int port_next_frame(struct port *p, const uint8_t **f, uint32_t *len)
{
	uint32_t flen;

	if (p->fd < 0 || p->turn >= FRAMES_PER_TURN)
		return 0;
	if (p->kind == PORT_VHOST) {
		/* Dropped frames count against the turn: bounded by it. */
		while (p->turn < FRAMES_PER_TURN) {
			int r = vhost_recv(p->vh, f, len, p->rbuf, MAX_FRAME);

			p->turn++;
			if (r > 0)
				return 1;
			if (r == 0) {
				p->turn--;
				return 0;
			}
			p->st.drop_bad++;
		}
		return 0;
	}
	if (p->kind == PORT_TAP) {
		if (!p->rlen)
			return 0;
		*f = p->rbuf;
		*len = p->rlen;
		p->rlen = 0; /* valid until the next read */
		p->turn++;
		return 1;
	}
	if (p->rlen - p->roff < 4)
		return 0;
	flen = cot_get_be32(p->rbuf + p->roff);
	if (flen == 0 || flen > MAX_FRAME) {
		/* QEMU never sends this: the stream is not ours. */
		p->st.drop_bad++;
		log_warnx("%s: bad frame length %u, dropping the connection",
			  p->name, flen);
		return -1;
	}
	if (p->rlen - p->roff - 4 < flen)
		return 0;
	*f = p->rbuf + p->roff + 4;
	*len = flen;
	p->roff += 4 + flen;
	p->turn++;
	return 1;
}

bool port_room(const struct port *p, int from, uint32_t frames, uint64_t bytes)
{
	const struct txshare *s;

	if (p->fd < 0 || from < 0 || from >= MAX_PORTS)
		return false;
	s = &p->q->share[from];
	return s->count + (uint64_t)frames <= TXQ_SHARE_FRAMES &&
	       s->bytes + bytes <= TXQ_SHARE_BYTES;
}

bool port_enqueue_gso(struct port *p, int from, const uint8_t *f, uint32_t len,
		      const struct txgso *g)
{
	struct txshare *s;

	if (!port_enqueue(p, from, f, len))
		return false;
	s = &p->q->share[from];
	s->ring[(s->head + s->count - 1) % TXQ_SHARE_FRAMES].gso = *g;
	return true;
}

bool port_enqueue(struct port *p, int from, const uint8_t *f, uint32_t len)
{
	struct txq *q = p->q;
	struct txshare *s;
	struct qframe *e;

	if (p->fd < 0 || from < 0 || from >= MAX_PORTS)
		return false;
	s = &q->share[from];
	if (s->count == TXQ_SHARE_FRAMES || s->bytes + len > TXQ_SHARE_BYTES) {
		p->st.drop_qfull++;
		return false;
	}
	e = &s->ring[(s->head + s->count) % TXQ_SHARE_FRAMES];
	e->data = malloc(4 + (size_t)len);
	if (!e->data) {
		p->st.drop_qfull++;
		return false;
	}
	cot_put_be32(e->data, len);
	memcpy(e->data + 4, f, len);
	e->len = len;
	e->gso.mss = 0;
	s->count++;
	s->bytes += len;
	q->count++;
	p->st.tx++;
	p->st.tx_bytes += len;
	return true;
}

/* Take the head frame of share @i off the queue. */
static void share_pop(struct txq *q, uint32_t i)
{
	struct txshare *s = &q->share[i];
	struct qframe *e = &s->ring[s->head];

	s->bytes -= e->len;
	free(e->data);
	e->data = NULL;
	s->head = (s->head + 1) % TXQ_SHARE_FRAMES;
	s->count--;
	q->count--;
}

#define FLUSH_IOV 16

struct gathered {
	uint32_t share; /* whose frame */
	uint32_t pos;	/* its place in that share: 0 is the head */
};

/*
 * The next frames in round-robin order: the partly written frame first,
 * then round after round one frame of each non-empty share (the heads,
 * then the second frames, ...), at most FLUSH_IOV in all.  Retiring them
 * in this order pops each share's head in turn.
 */
static uint32_t gather(const struct txq *q, struct gathered g[FLUSH_IOV])
{
	uint32_t k = 0, r, n, i;
	bool more = true;

	if (q->partial >= 0)
		g[k++] = (struct gathered){ (uint32_t)q->partial, 0 };
	/* Bounded by FLUSH_IOV rounds of MAX_PORTS shares. */
	for (r = 0; more && k < FLUSH_IOV && r < FLUSH_IOV; r++) {
		more = false;
		for (n = 0; n < MAX_PORTS && k < FLUSH_IOV; n++) {
			i = (q->next + n) % MAX_PORTS;
			/* The partial frame is its share's turn of round 0. */
			if (r == 0 && q->partial >= 0 &&
			    i == (uint32_t)q->partial) {
				more = true;
				continue;
			}
			if (q->share[i].count <= r)
				continue;
			g[k++] = (struct gathered){ i, r };
			more = true;
		}
	}
	return k;
}

/* The same round-robin onto a guest's receive ring. */
static int flush_vhost(struct port *p)
{
	struct txq *q = p->q;
	uint32_t guard;

	/* Each pass retires at least one frame or stops: bounded. */
	for (guard = q->count + 1; q->count && guard; guard--) {
		struct gathered who[FLUSH_IOV];
		struct iovec iov[FLUSH_IOV];
		struct txgso gso[FLUSH_IOV];
		uint32_t k, j, n;

		k = gather(q, who);
		for (j = 0; j < k; j++) {
			struct txshare *s = &q->share[who[j].share];
			struct qframe *e = &s->ring[(s->head + who[j].pos) %
						    TXQ_SHARE_FRAMES];

			iov[j].iov_base = e->data + 4;
			iov[j].iov_len = e->len;
			gso[j] = e->gso;
		}
		n = vhost_send(p->vh, iov, gso, k, &p->st.drop_qfull);
		/* Sent in gather order: each pops its share's head. */
		for (j = 0; j < n; j++) {
			share_pop(q, who[j].share);
			q->next = (who[j].share + 1) % MAX_PORTS;
		}
		if (n < k)
			return 0; /* no receive buffers: the guest kicks */
	}
	return 0;
}

int port_flush(struct port *p)
{
	struct txq *q = p->q;
	uint32_t hdr = p->kind == PORT_VM ? 4 : 0;
	uint32_t guard;

	if (p->kind == PORT_VHOST)
		return flush_vhost(p);
	/* Each pass writes or drops at least one frame: bounded by count. */
	for (guard = q->count + 1; q->count && guard; guard--) {
		struct gathered who[FLUSH_IOV];
		struct iovec iov[FLUSH_IOV];
		uint32_t k, j;
		ssize_t n;

		k = gather(q, who);
		if (p->kind == PORT_TAP)
			k = 1; /* a tap takes exactly one frame per write */
		for (j = 0; j < k; j++) {
			struct txshare *s = &q->share[who[j].share];
			struct qframe *e = &s->ring[(s->head + who[j].pos) %
						    TXQ_SHARE_FRAMES];
			uint32_t off = (j == 0 && q->partial >= 0) ? q->off : 0;

			iov[j].iov_base = e->data + 4 - hdr + off;
			iov[j].iov_len = hdr + e->len - off;
		}
		n = writev(p->fd, iov, (int)k);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (p->kind == PORT_VM)
				return -1;
			/* e.g. the tap is down: drop this frame */
			p->st.drop_qfull++;
			n = (ssize_t)iov[0].iov_len;
		}
		/* Retire every frame the write covered, in gather order. */
		for (j = 0; j < k; j++) {
			if ((size_t)n < iov[j].iov_len) {
				/* Part of it went: resume there next time. */
				if (n > 0) {
					bool cont =
						q->partial == (int)who[j].share;

					q->off = (cont ? q->off : 0) +
						 (uint32_t)n;
					q->partial = (int)who[j].share;
				}
				break;
			}
			n -= (ssize_t)iov[j].iov_len;
			share_pop(q, who[j].share);
			if (q->partial == (int)who[j].share)
				q->partial = -1;
			q->off = 0;
			q->next = (who[j].share + 1) % MAX_PORTS;
		}
		if (j < k)
			return 0; /* the peer took what it could */
	}
	return 0;
}
