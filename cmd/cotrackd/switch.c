// SPDX-License-Identifier: MIT
/*
 * The learning switch and the ports: QEMU stream sockets (each frame is a
 * 4-byte big-endian length, then the frame) and a tap uplink.  Frames are
 * forwarded unchanged.  Every port has a bounded transmit queue written
 * without blocking: a slow or dead peer loses frames (counted), never
 * holds up the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "cotrackd.h"
#include "host/log.h"

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
	strcpy(sa.sun_path, path);
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
	p->fd = -1;
	return 0;
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
	p->lfd = -1;
	p->fd = fd;
	return 0;
}

static void txq_clear(struct txq *q)
{
	while (q->count) {
		free(q->ring[q->head].data);
		q->head = (q->head + 1) % TXQ_FRAMES;
		q->count--;
	}
	q->off = 0;
	q->bytes = 0;
}

void port_close_conn(struct daemon *d, struct port *p, const char *why)
{
	(void)d;
	if (p->fd < 0)
		return;
	log_info("%s: peer %s", p->name, why);
	close(p->fd);
	p->fd = -1;
	p->rlen = 0;
	p->disconnects++;
	txq_clear(&p->q);
	if (p->vm)
		vm_detach(p->vm);
}

/* Queue a copy of @f for @p; drops (counted) when the queue is full. */
static void port_enqueue(struct port *p, const uint8_t *f, uint32_t len)
{
	struct txq *q = &p->q;
	struct qframe *e;

	if (p->fd < 0)
		return;
	if (q->count == TXQ_FRAMES || q->bytes + len > TXQ_BYTES) {
		p->drop_qfull++;
		return;
	}
	e = &q->ring[(q->head + q->count) % TXQ_FRAMES];
	e->data = malloc(4 + (size_t)len);
	if (!e->data) {
		p->drop_qfull++;
		return;
	}
	cot_put_be32(e->data, len);
	memcpy(e->data + 4, f, len);
	e->len = len;
	q->count++;
	q->bytes += len;
	p->tx++;
	p->tx_bytes += len;
}

/*
 * Write what the peer takes now.  Returns 0, or -1 when the connection
 * failed (the caller closes it).
 */
int port_flush(struct port *p)
{
	struct txq *q = &p->q;
	uint32_t hdr = p->kind == PORT_VM ? 4 : 0;

	while (q->count) {
		struct qframe *e = &q->ring[q->head];
		uint32_t total = hdr + e->len;
		ssize_t n;

		if (p->kind == PORT_VM) {
			struct iovec iov[8];
			uint32_t i, k = 0, off = q->off;

			/* Gather a few queued frames into one write. */
			for (i = 0; i < q->count && k < 8; i++) {
				struct qframe *x =
					&q->ring[(q->head + i) % TXQ_FRAMES];

				iov[k].iov_base = x->data + off;
				iov[k].iov_len = 4 + x->len - off;
				off = 0;
				k++;
			}
			n = writev(p->fd, iov, (int)k);
		} else {
			/* A tap takes exactly one frame per write. */
			n = write(p->fd, e->data + 4, e->len);
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (p->kind == PORT_TAP) {
				/* e.g. the tap is down: drop this frame */
				p->drop_qfull++;
				n = (ssize_t)total;
			} else {
				return -1;
			}
		}
		/* Retire every frame the write covered. */
		while (n > 0 && q->count) {
			e = &q->ring[q->head];
			total = hdr + e->len;
			if ((size_t)n < total - q->off) {
				q->off += (uint32_t)n;
				return 0;
			}
			n -= (ssize_t)(total - q->off);
			q->off = 0;
			q->bytes -= e->len;
			free(e->data);
			q->head = (q->head + 1) % TXQ_FRAMES;
			q->count--;
		}
	}
	return 0;
}

static bool mac_is_unicast(const uint8_t *m)
{
	return !(m[0] & 1);
}

static struct mac_entry *mac_slot(struct daemon *d, const uint8_t *mac)
{
	uint32_t h = ((uint32_t)mac[2] << 24 | (uint32_t)mac[3] << 16 |
		      (uint32_t)mac[4] << 8 | mac[5]) * 2654435761u;
	uint32_t i, n = COT_ARRAY_SIZE(d->macs);

	/* Open addressing, bounded by the table size. */
	for (i = 0; i < n; i++) {
		struct mac_entry *e = &d->macs[(h + i) % n];

		if (!e->used || memcmp(e->mac, mac, 6) == 0)
			return e;
	}
	return NULL;
}

/* A frame, parsed at most once however many VMs track it. */
struct swframe {
	const uint8_t *f;
	uint32_t len;
	uint64_t now;
	bool parsed;
	struct cot_pkt pkt;
};

static void track(struct daemon *d, struct vm *v, struct swframe *x,
		  bool from_guest)
{
	if (!d->track)
		return;
	if (!x->parsed) {
		cot_pkt_parse(&x->pkt, x->f, x->len, x->len);
		x->parsed = true;
	}
	vm_track_pkt(v, &x->pkt, x->now, from_guest);
}

static void deliver(struct daemon *d, struct port *out, struct swframe *x)
{
	if (out->fd < 0)
		return;
	if (out->vm)
		track(d, out->vm, x, false);
	port_enqueue(out, x->f, x->len);
}

void switch_frame(struct daemon *d, struct port *in, const uint8_t *f,
		  uint32_t len)
{
	struct swframe x = { .f = f, .len = len, .now = now_ns() };
	struct mac_entry *e;
	int i;

	in->rx++;
	in->rx_bytes += len;
	if (in->vm)
		track(d, in->vm, &x, true);
	if (len < 14) {
		in->drop_bad++; /* a runt: tracked (counted), not forwarded */
		goto done;
	}
	/*
	 * Learn where the source lives (entries age out after 300 s).  An
	 * address a VM port uses is that VM's while it is fresh: another
	 * port sending from it is spoofing, and its frame is dropped, so a
	 * guest cannot steal its neighbours' traffic.
	 */
	if (mac_is_unicast(f + 6)) {
		e = mac_slot(d, f + 6);
		if (e && e->used && e->port != in->idx &&
		    d->ports[e->port].kind == PORT_VM &&
		    d->ports[e->port].fd >= 0 &&
		    x.now - e->seen_ns < 300000000000ULL) {
			in->drop_spoof++;
			goto done;
		}
		if (e) {
			memcpy(e->mac, f + 6, 6);
			e->used = 1;
			e->port = (int16_t)in->idx;
			e->seen_ns = x.now;
		}
	}
	if (mac_is_unicast(f)) {
		e = mac_slot(d, f);
		if (e && e->used && x.now - e->seen_ns < 300000000000ULL) {
			if (e->port != in->idx)
				deliver(d, &d->ports[e->port], &x);
			goto done;
		}
	}
	for (i = 0; i < d->nports; i++)
		if (&d->ports[i] != in)
			deliver(d, &d->ports[i], &x);
done:
	/*
	 * Every frame of a VM is an event of that VM: read the TSC and scan
	 * if the interval has passed, once the frame is on its way.
	 */
	if (in->vm && d->track)
		vm_scan_if_due(d, in->vm, now_tsc());
}

/*
 * Read what the peer has sent and switch every complete frame.  One
 * read per call, so a flooding guest gets its turn like the others.
 * Returns 0, or -1 when the connection is gone or broke the framing.
 */
int port_read(struct daemon *d, struct port *p)
{
	uint32_t off = 0;
	ssize_t n;

	if (p->kind == PORT_TAP) {
		n = read(p->fd, p->rbuf, MAX_FRAME);
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		if (n > 0)
			switch_frame(d, p, p->rbuf, (uint32_t)n);
		return 0;
	}
	n = read(p->fd, p->rbuf + p->rlen, RBUF_SIZE - p->rlen);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (n == 0)
		return -1;
	p->rlen += (uint32_t)n;
	while (p->rlen - off >= 4) {
		uint32_t flen = cot_get_be32(p->rbuf + off);

		if (flen == 0 || flen > MAX_FRAME) {
			/* QEMU never sends this: the stream is not ours. */
			p->drop_bad++;
			log_warnx("%s: bad frame length %u, dropping the "
				  "connection", p->name, flen);
			return -1;
		}
		if (p->rlen - off - 4 < flen)
			break;
		switch_frame(d, p, p->rbuf + off + 4, flen);
		off += 4 + flen;
	}
	if (off) {
		memmove(p->rbuf, p->rbuf + off, p->rlen - off);
		p->rlen -= off;
	}
	return 0;
}
