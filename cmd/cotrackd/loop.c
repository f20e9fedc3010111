// SPDX-License-Identifier: MIT
/*
 * cotrackd's loop: one ppoll() over the ports, their listeners and the
 * scanners' eventfds; one clock reading per turn, passed down.  A turn:
 * accept, write queued frames, read, switch at most FRAMES_PER_TURN
 * frames of each port (each frame parsed once, tracked at the VM it came
 * from and at each VM it goes to, queued at each output port), write
 * again, then each VM's periodic work, the switch's aging and the
 * output's flush.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cotrack/pkt.h"
#include "cotrackd.h"
#include "gso.h"
#include "host/clock.h"
#include "host/log.h"
#include "vhost.h"

/* The handlers' flags: process-wide by nature, read only by the loop. */
static volatile sig_atomic_t sig_stop, sig_reopen, sig_toggle;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_reopen = 1;
	else if (sig == SIGUSR1)
		sig_toggle = 1;
	else
		sig_stop = 1;
}

void loop_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Blocked outside ppoll(): no wake-up is lost. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
}

static struct vm *vm_of(struct daemon *d, const struct port *p)
{
	int i = d->port_vm[p->idx];

	return i >= 0 ? &d->vms[i] : NULL;
}

/* A frame, parsed at most once however many VMs track it. */
struct frame {
	const uint8_t *f;
	uint32_t len;
	bool parsed;
	bool offload; /* the guest asked for TSO or a checksum */
	struct cot_pkt pkt;
};

/*
 * Tunnels are decapsulated as --vxlan-port/--geneve-port/--no-decap say
 * (cot_loop_pkt_cfg), except in frames the guest sent with offloads:
 * their view also drives segmentation and checksum completion (gso.c),
 * which work on the outer headers the virtio-net header points at.
 */
const struct cot_pkt_cfg *cot_loop_pkt_cfg;
static const struct cot_pkt_cfg no_decap = { .decap = false };

static const struct cot_pkt *parsed(struct frame *x)
{
	if (!x->parsed) {
		cot_pkt_parse_cfg(&x->pkt, x->f, x->len, x->len,
				  x->offload ? &no_decap : cot_loop_pkt_cfg);
		x->parsed = true;
	}
	return &x->pkt;
}

/*
 * What a frame sent with offloads becomes on its way out (one frame at a
 * time, on the loop thread): a super-frame's segments, or the frame with
 * its checksum completed.  Segments of one super-frame: at most 746
 * (COT_PKT_GSO_MIN_MSS) of at most 65535 + 142 bytes of headers each in
 * the usual case; a frame whose segments do not fit here is dropped.
 */
#define SEG_BUF (512u * 1024)
#define SEG_MAX 1024
static uint8_t seg_buf[SEG_BUF];
static struct gso_seg seg_tab[SEG_MAX];
static uint8_t csum_buf[MAX_FRAME];

/*
 * Prepare frame @x, which its guest sent with offloads (@mss: a TCP
 * super-frame's segment size; @csum: a partial checksum), for ports
 * that take wire frames only.  Sets *@f / *@len to the frame to forward
 * (the segments: *@nseg > 0, in seg_buf at seg_tab).  Returns false when
 * it cannot be forwarded (a super-frame that is not TCP, too small a
 * segment size, segments that do not fit).
 */
static bool wire_frames(struct frame *x, uint32_t mss, bool csum,
			const uint8_t **f, uint32_t *len, int *nseg)
{
	*f = x->f;
	*len = x->len;
	*nseg = 0;
	parsed(x); /* also with --no-track */
	if (x->pkt.fl & COT_PKT_F_GSO) {
		*nseg = gso_segment(&x->pkt, x->f, x->len, mss, seg_buf,
				    sizeof(seg_buf), seg_tab, SEG_MAX);
		return *nseg > 0;
	}
	if (mss && x->pkt.reason != COT_PKT_OK)
		return false;
	if (csum && x->len <= sizeof(csum_buf)) {
		memcpy(csum_buf, x->f, x->len);
		if (gso_csum(&x->pkt, csum_buf, x->len) == 0)
			*f = csum_buf;
	}
	return true;
}

/* Queue the segments of wire_frames() at @o, all or none. */
static bool enqueue_segs(struct port *o, int from, int nseg)
{
	uint64_t bytes = 0;
	int i;

	for (i = 0; i < nseg; i++)
		bytes += seg_tab[i].len;
	if (!port_room(o, from, (uint32_t)nseg, bytes)) {
		if (o->fd >= 0)
			o->st.drop_qfull++;
		return false;
	}
	for (i = 0; i < nseg; i++)
		port_enqueue(o, from, seg_buf + seg_tab[i].off, seg_tab[i].len);
	return true;
}

static void count_drop(struct port *in, enum sw_verdict v)
{
	switch (v) {
	case SW_FORWARD:
		break;
	case SW_DROP_RUNT:
		in->st.drop_bad++;
		break;
	case SW_DROP_SPOOF:
		in->st.drop_spoof++;
		break;
	case SW_DROP_MACLIMIT:
		in->st.drop_maclimit++;
		break;
	case SW_DROP_STORM:
		in->st.drop_storm++;
		break;
	}
}

/*
 * Output @o takes super-frame @x whole: a vhost-user guest that
 * negotiated it (offloads=on, GUEST_CSUM + GUEST_TSO4/6).  Not with CWR
 * set: GUEST_ECN is not offered, and the guest would copy CWR into
 * every segment if it segmented the frame again.
 */
static bool takes_whole(const struct port *o, const struct frame *x)
{
	return (x->pkt.fl & COT_PKT_F_GSO) &&
	       !(x->pkt.tcp_flags_first & COT_TCP_CWR) &&
	       o->kind == PORT_VHOST && o->offloads &&
	       vhost_takes_tso(o->vh, x->pkt.ipver == 6);
}

/*
 * @mss, @csum: the frame's offloads (vhost_offload(); 0 for every other
 * port): a super-frame is tracked as its segments (core/pkt) and passed
 * on whole to a port that takes it; for every other port it is, like a
 * partial checksum, made into wire frames before it is queued.
 */
static void switch_one(struct daemon *d, struct port *in, const uint8_t *f,
		       uint32_t len, uint64_t now, uint64_t tsc, uint32_t mss,
		       bool csum)
{
	struct frame x = { .f = f, .len = len, .offload = mss || csum };
	struct vm *vin = vm_of(d, in), *vout;
	enum sw_verdict verdict;
	uint32_t out, i, wlen = len, whole = 0;
	const uint8_t *wf = f;
	struct txgso g = { 0 };
	int nseg = 0;

	in->st.rx++;
	in->st.rx_bytes += len;
	if (mss && parsed(&x)->reason == COT_PKT_OK)
		cot_pkt_gso_tcp(&x.pkt, mss);
	/* Every frame the guest sent is its frame, dropped or not. */
	if (vin && d->track)
		vm_frame(vin, parsed(&x), f, len, now, true);
	verdict = sw_decide(&d->sw, in->idx, f, len, now, &out);
	count_drop(in, verdict);
	if (out && (mss || csum)) {
		/* Bounded by MAX_PORTS bits. */
		for (i = 0; i < MAX_PORTS; i++)
			if ((out & (1u << i)) && takes_whole(&d->ports[i], &x))
				whole |= 1u << i;
		g.mss = (uint16_t)mss;
		g.l2 = (uint16_t)x.pkt.l3_off;
		g.l3 = (uint16_t)(x.pkt.l4_off - x.pkt.l3_off);
		g.l4 = (uint16_t)x.pkt.tcp_hlen;
		g.v6 = x.pkt.ipver == 6;
		if (out & ~whole &&
		    !wire_frames(&x, mss, csum, &wf, &wlen, &nseg)) {
			in->st.drop_bad++;
			out &= whole;
		}
	}
	/* Bounded by MAX_PORTS bits. */
	for (i = 0; out && i < MAX_PORTS; i++) {
		struct port *o = &d->ports[i];
		bool queued;

		if (!(out & (1u << i)))
			continue;
		out &= ~(1u << i);
		if (whole & (1u << i))
			queued = port_enqueue_gso(o, in->idx, f, len, &g);
		else if (nseg > 0)
			queued = enqueue_segs(o, in->idx, nseg);
		else
			queued = port_enqueue(o, in->idx, wf, wlen);
		if (!queued) {
			if (o->fd >= 0)
				in->st.drop_peer++;
			continue;
		}
		/* Tracked at the VM only if it is on its way there. */
		vout = vm_of(d, o);
		if (vout && d->track)
			vm_frame(vout, parsed(&x), f, len, now, false);
	}
	/*
	 * Every frame of a VM is an event of that VM: the TSC gate says
	 * whether its memory view is due, once the frame is on its way.
	 */
	if (vin && d->track)
		vm_guest_event(vin, tsc, d->vmi_paused);
}

static void port_down(struct daemon *d, struct port *p, const char *why)
{
	struct vm *v = vm_of(d, p);

	if (p->kind == PORT_TAP)
		return;
	port_close_conn(p, why);
	sw_port_down(&d->sw, p->idx);
	if (v)
		vm_nic(v, false);
}

static void port_up(struct daemon *d, struct port *p)
{
	struct vm *v = vm_of(d, p);

	sw_port_up(&d->sw, p->idx);
	if (v)
		vm_nic(v, true);
}

/*
 * The vhost-user socket thread posted a change: take them all (at most
 * a down, an up, a refresh and a new table are pending at once).
 */
static void vhost_changes(struct daemon *d, struct port *p)
{
	struct cot_hostmem_fdregion t[COT_VMI_MAX_RANGES];
	struct vm *v = vm_of(d, p);
	uint32_t n;
	int i;

	for (i = 0; i < 5; i++) {
		switch (vhost_take_change(p->vh, t, &n)) {
		case VHOST_NONE:
			return;
		case VHOST_UP:
			if (p->fd >= 0)
				port_down(d, p, "restarted its device");
			port_vhost_up(p, vhost_tx_kickfd(p->vh));
			log_info("%s: memory table of %u region(s)", p->name,
				 n);
			if (v)
				vm_memtab(v, t, n);
			else
				for (uint32_t j = 0; j < n; j++)
					close(t[j].fd);
			port_up(d, p);
			break;
		case VHOST_DOWN:
			port_down(d, p, "stopped its device");
			break;
		case VHOST_REFRESH:
			if (p->fd >= 0)
				p->fd = vhost_tx_kickfd(p->vh);
			break;
		case VHOST_MEMTAB:
			log_info("%s: new memory table of %u region(s): "
				 "attaching again",
				 p->name, n);
			if (v)
				vm_memtab(v, t, n);
			else
				for (uint32_t j = 0; j < n; j++)
					close(t[j].fd);
			break;
		}
	}
}

/* Switch this turn's frames of @p.  Bounded by FRAMES_PER_TURN. */
static void take_frames(struct daemon *d, struct port *p, uint64_t now,
			uint64_t tsc)
{
	const uint8_t *f;
	uint32_t len, mss;
	bool csum;
	int r;

	for (;;) {
		r = port_next_frame(p, &f, &len);
		if (r < 0) {
			port_down(d, p, "broke the stream framing");
			return;
		}
		if (r == 0) {
			/* A tap gives one frame per read: read the next. */
			if (p->kind != PORT_TAP || p->turn >= FRAMES_PER_TURN ||
			    port_read(p) < 0 || !p->rlen)
				return;
			continue;
		}
		mss = 0;
		csum = false;
		if (p->kind == PORT_VHOST && p->offloads)
			vhost_offload(p->vh, &mss, &csum);
		switch_one(d, p, f, len, now, tsc, mss, csum);
	}
}

static void flush_all(struct daemon *d)
{
	int i;

	for (i = 0; i < d->nports; i++) {
		struct port *p = &d->ports[i];

		if (p->fd >= 0 && port_has_output(p) && port_flush(p) < 0)
			port_down(d, p, "write failed");
	}
}

static void handle_flags(struct daemon *d)
{
	if (sig_reopen) {
		sig_reopen = 0;
		if (d->out.path && out_reopen(&d->out) == 0)
			log_info("output reopened");
	}
	if (sig_toggle) {
		sig_toggle = 0;
		d->vmi_paused = !d->vmi_paused;
		log_info("memory scanning %s",
			 d->vmi_paused ? "paused" : "resumed");
	}
}

#define NPFD (3 * MAX_PORTS + MAX_VMS)

void loop_run(struct daemon *d)
{
	struct pollfd pfd[NPFD];
	int who[NPFD]; /* port index, or -1 - vm index */
	uint64_t next_age = 0;
	sigset_t none;
	int i, n;

	sigemptyset(&none);
	while (!sig_stop) {
		uint64_t wait = 100000000ULL, now, tsc, w;
		bool pending = false;
		struct timespec ts;

		handle_flags(d);
		n = 0;
		tsc = cot_clock_tsc();
		for (i = 0; i < d->nports; i++) {
			struct port *p = &d->ports[i];

			/* The listener too: a second QEMU is refused at once.
			 */
			if (p->lfd >= 0) {
				pfd[n] = (struct pollfd){ p->lfd, POLLIN, 0 };
				who[n++] = i;
			}
			if (p->kind == PORT_VHOST) {
				int rk = vhost_rx_kickfd(p->vh);

				pfd[n] = (struct pollfd){ vhost_efd(p->vh),
							  POLLIN, 0 };
				who[n++] = i;
				/* Receive buffers given back: send again. */
				if (p->fd >= 0 && rk >= 0 &&
				    port_has_output(p)) {
					pfd[n] = (struct pollfd){ rk, POLLIN,
								  0 };
					who[n++] = i;
				}
				if (p->fd >= 0) {
					pending |= port_pending(p);
					pfd[n] = (struct pollfd){
						p->fd,
						port_pending(p) ? 0 : POLLIN, 0
					};
					who[n++] = i;
				}
				continue;
			}
			if (p->fd >= 0) {
				short ev = port_pending(p) ? 0 : POLLIN;

				if (port_has_output(p))
					ev |= POLLOUT;
				pending |= port_pending(p);
				pfd[n] = (struct pollfd){ p->fd, ev, 0 };
				who[n++] = i;
			}
		}
		for (i = 0; i < d->nvms; i++) {
			if (vm_fd(&d->vms[i]) >= 0) {
				pfd[n] = (struct pollfd){ vm_fd(&d->vms[i]),
							  POLLIN, 0 };
				who[n++] = -1 - i;
			}
			w = vm_next_due_ns(&d->vms[i], tsc, d->vmi_timer);
			if (w < wait)
				wait = w;
		}
		if (pending)
			wait = 0;
		ts.tv_sec = (time_t)(wait / 1000000000ULL);
		ts.tv_nsec = (long)(wait % 1000000000ULL);
		if (ppoll(pfd, (nfds_t)n, &ts, &none) < 0 && errno != EINTR)
			fatal("ppoll");
		now = cot_clock_mono_ns();
		tsc = cot_clock_tsc();
		for (i = 0; i < d->nports; i++)
			port_new_turn(&d->ports[i]);
		for (i = 0; i < n; i++) {
			struct port *p;

			if (!pfd[i].revents || who[i] < 0)
				continue;
			p = &d->ports[who[i]];
			if (p->kind == PORT_VHOST) {
				if (pfd[i].fd == vhost_efd(p->vh)) {
					vhost_changes(d, p);
				} else if (p->fd >= 0 && pfd[i].fd == p->fd) {
					port_read(p);
				} else if (p->fd >= 0 &&
					   pfd[i].fd ==
						   vhost_rx_kickfd(p->vh)) {
					vhost_clear_kick(pfd[i].fd);
					port_flush(p);
				}
				continue;
			}
			if (pfd[i].fd == p->lfd) {
				if (port_accept(p))
					port_up(d, p);
				continue;
			}
			if (pfd[i].fd != p->fd)
				continue; /* closed earlier in this turn */
			if ((pfd[i].revents & POLLOUT) && port_flush(p) < 0) {
				port_down(d, p, "write failed");
				continue;
			}
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    port_read(p) < 0) {
				if (p->kind == PORT_TAP)
					log_warn("%s: read", p->name);
				else
					port_down(d, p, "disconnected");
			}
		}
		for (i = 0; i < d->nports; i++)
			take_frames(d, &d->ports[i], now, tsc);
		/* Frames just queued: try to send them at once. */
		flush_all(d);
		for (i = 0; i < d->nvms; i++)
			if (d->track)
				vm_tick(&d->vms[i], now, tsc, d->vmi_timer,
					d->vmi_paused);
		if (now >= next_age) {
			/* The whole table once a second, a share per turn. */
			sw_age(&d->sw, now, SW_MACS);
			next_age = now + 1000000000ULL;
		}
		out_flush(&d->out);
	}
	handle_flags(d);
}
