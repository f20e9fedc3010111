// SPDX-License-Identifier: MIT
/* Tracking for one VM: see vm.h. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/clock.h"
#include "host/log.h"
#include "vhost.h"
#include "vm.h"

#define HIDDEN_WARN_NS 10000000000ULL /* rate limit of the warning */
#define FINAL_WAIT_NS  5000000000ULL  /* the last scan, at most */

/* Debug: the names on a record's ends (core/dns keeps plain text only). */
static void log_names(const struct vm *v, const struct cot_rec *r)
{
	char sa[COT_ADDR_STRLEN], da[COT_ADDR_STRLEN];

	if (!r->src_name[0] && !r->dst_name[0])
		return;
	cot_addr_format(sa, &r->src, true);
	cot_addr_format(da, &r->dst, true);
	log_debug("%s: names: %s:%u (%s) -> %s:%u (%s)", v->name, sa, r->sport,
		  r->src_name, da, r->dport, r->dst_name);
}

static void on_rec(void *ctx, const struct cot_rec *r)
{
	struct vm *v = ctx;
	struct cot_rec out = *r;
	uint64_t now;

	if (r->flags & (COT_RF_HIDDEN_NIC | COT_RF_HIDDEN_VMI)) {
		now = cot_clock_mono_ns();
		if (!v->hidden_warned ||
		    now - v->hidden_warned > HIDDEN_WARN_NS) {
			v->hidden_warned = now;
			log_warnx(
				"%s: hidden connection: %s", v->name,
				r->flags & COT_RF_HIDDEN_NIC
					? "TCP on the NIC that no guest socket "
					  "ever matched"
					: "guest socket to an off-box peer "
					  "never crossed the NIC");
		}
	}
	if (log_verbosity >= 2)
		log_names(v, r);
	out_record(v->out, &out);
}

static int dns_init(struct vm *v, uint64_t seed)
{
	struct cot_dns_params dp;
	size_t len;

	cot_dns_params_default(&dp);
	/* A third key, for the name table's hash. */
	dp.hash_seed = seed * 0xbf58476d1ce4e5b9ULL + 2;
	len = cot_dns_memsize(&dp);
	v->dmem = len ? aligned_alloc(64, (len + 63) & ~(size_t)63) : NULL;
	if (!v->dmem || cot_dns_init(&v->dns, v->dmem, len, &dp) < 0) {
		log_warnx("%s: cannot allocate the DNS name table (%zu bytes)",
			  v->name, len);
		return -1;
	}
	return 0;
}

int vm_init(struct vm *v, const struct vm_params *p, struct out *out)
{
	struct cot_merge_params mp;
	size_t len;

	v->out = out;
	v->tsc_per_ns = p->tsc_per_ns;
	v->vmi_on = p->mem != NULL || p->memtab;
	if (dns_init(v, p->seed) < 0)
		return -1;
	cot_merge_params_default(&mp);
	mp.flow.max_flows = p->max_flows;
	mp.flow.hash_seed = p->seed;
	mp.vm = v->name;
	mp.vmi = v->vmi_on;
	mp.interval_ns = p->interval_ns;
	mp.grace_ns = p->grace_ns;
	/* Another key for the merge's tables than for the flow table. */
	mp.hash_seed = p->seed * 0x9e3779b97f4a7c15ULL + 1;
	mp.cb = on_rec;
	mp.cb_ctx = v;
	mp.dns = v->dns;
	len = cot_merge_memsize(&mp);
	if (!len) {
		log_warnx("%s: bad tracker parameters", v->name);
		return -1;
	}
	v->mmem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	if (!v->mmem || cot_merge_init(&v->m, v->mmem, len, &mp) < 0) {
		log_warnx("%s: cannot allocate the tracking state (%zu bytes)",
			  v->name, len);
		return -1;
	}
	if (!v->vmi_on)
		return 0;
	v->interval_tsc = (uint64_t)((double)p->interval_ns * p->tsc_per_ns);
	if (!v->interval_tsc)
		v->interval_tsc = 1;
	if (p->fast_ns && p->fast_ns < p->interval_ns) {
		v->fast_tsc = (uint64_t)((double)p->fast_ns * p->tsc_per_ns);
		v->busy_tsc = (uint64_t)((double)VM_BUSY_NS * p->tsc_per_ns);
		if (!v->fast_tsc)
			v->fast_tsc = 1;
	}
	v->evbuf = calloc(VM_DRAIN_PER_TURN, sizeof(*v->evbuf));
	v->sc = calloc(1, sizeof(*v->sc));
	if (!v->evbuf || !v->sc) {
		log_warnx("%s: out of memory", v->name);
		return -1;
	}
	struct scanner_params sp = {
		.name = v->name,
		.mem = p->mem,
		.map = p->map,
		.table = p->mem == NULL && p->memtab,
		.cap = p->vmi_cap,
		.step_bytes = p->step_bytes,
		.step_walks = p->step_walks,
		.queue = 16384,
		.owners = p->owners,
		.owners_pct = p->owners_pct,
		.owners_gap_ns = p->owners_gap_ns,
		.scan_pct = p->scan_pct,
	};
	return scanner_start(v->sc, &sp);
}

void vm_frame(struct vm *v, const struct cot_pkt *pkt, const uint8_t *f,
	      uint32_t len, uint64_t now, bool from_guest)
{
	/* Names first: a record the frame ends already sees them. */
	cot_dns_frame(v->dns, pkt, f, len, from_guest, now);
	cot_merge_pkt(v->m, pkt, now, from_guest);
	/* A connection starts, either way: its sockets are short-lived. */
	if (pkt->reason == COT_PKT_OK && pkt->ipproto == 6 &&
	    (pkt->tcp_flags & COT_TCP_SYN))
		v->syn_seen = true;
}

/* Scan every @iv from the last scan on (not from now). */
static void sched_every(struct cot_sched *s, uint64_t iv)
{
	uint64_t last = s->next > s->interval ? s->next - s->interval : 0;

	s->interval = iv;
	s->next = last + iv;
}

void vm_guest_event(struct vm *v, uint64_t tsc, bool paused)
{
	bool fast;

	if (v->fast_tsc && v->vmi_up) {
		if (v->syn_seen) {
			v->syn_seen = false;
			v->busy_until = tsc + v->busy_tsc;
			if (v->sched.interval != v->fast_tsc)
				sched_every(&v->sched, v->fast_tsc);
		} else if (v->sched.interval == v->fast_tsc &&
			   tsc >= v->busy_until) {
			sched_every(&v->sched, v->interval_tsc);
		}
	}
	fast = v->fast_tsc && v->sched.interval == v->fast_tsc;
	if (v->vmi_up && !paused && cot_sched_due(&v->sched, tsc))
		scanner_kick(v->sc, fast);
}

void vm_memtab(struct vm *v, const struct cot_hostmem_fdregion *t, uint32_t n)
{
	if (v->sc && v->sc->p.table) {
		scanner_table(v->sc, t, n);
		return;
	}
	/* Memory from mem=, or no memory view: not needed. */
	for (uint32_t i = 0; i < n; i++)
		close(t[i].fd);
}

void vm_nic(struct vm *v, bool up)
{
	if (v->sc)
		scanner_nic(v->sc, up);
}

/* Feed queued socket events to the merge.  Bounded by @max. */
static uint32_t drain(struct vm *v, uint64_t tsc, uint32_t max)
{
	uint32_t n = scanner_drain(v->sc, v->evbuf, max), i;

	for (i = 0; i < n; i++) {
		const struct scan_ev *e = &v->evbuf[i];

		switch (e->type) {
		case SEV_UP:
			v->vmi_up = true;
			cot_merge_vmi_up(v->m, e->ns);
			cot_sched_init(&v->sched, v->interval_tsc, tsc);
			break;
		case SEV_DOWN:
			/* The merge ends a scan it was in, itself. */
			v->vmi_up = false;
			v->in_scan = false;
			cot_merge_vmi_down(v->m);
			break;
		case SEV_BEGIN:
			v->in_scan = true;
			cot_merge_scan_begin(v->m, e->ns);
			break;
		case SEV_SOCK:
			cot_merge_sock(v->m, (enum cot_vmi_event)e->ev,
				       e->has_old ? &e->old : NULL,
				       e->has_now ? &e->now : NULL);
			break;
		case SEV_END:
			v->in_scan = false;
			cot_merge_scan_end(v->m);
			break;
		case SEV_VOL:
			cot_merge_sock_volumes(v->m, &e->now);
			break;
		case SEV_OWNER:
			cot_merge_sock_owner(v->m, &e->now, &e->owner);
			break;
		}
	}
	return n;
}

void vm_tick(struct vm *v, uint64_t now, uint64_t tsc, bool timer, bool paused)
{
	cot_merge_expire(v->m, now, 4096);
	if (!v->sc)
		return;
	drain(v, tsc, VM_DRAIN_PER_TURN);
	/* A silent guest sends no frames: the fallback timer asks instead. */
	if (timer)
		vm_guest_event(v, tsc, paused);
}

int vm_fd(const struct vm *v)
{
	return v->sc ? v->sc->efd : -1;
}

uint64_t vm_next_due_ns(const struct vm *v, uint64_t tsc, bool timer)
{
	uint64_t r;

	if (!v->vmi_up || !timer)
		return UINT64_MAX;
	r = cot_sched_remaining(&v->sched, tsc);
	return r == UINT64_MAX ? r : (uint64_t)((double)r / v->tsc_per_ns);
}

void vm_finish(struct vm *v, uint64_t now)
{
	if (v->sc) {
		uint64_t t0 = cot_clock_mono_ns();
		struct timespec ms = { 0, 1000000 };

		/*
		 * The last snapshot: keep draining while the scanner works
		 * (it may wait for queue space), bounded in time.
		 */
		while (!scanner_final(v->sc) &&
		       cot_clock_mono_ns() - t0 < FINAL_WAIT_NS) {
			if (!drain(v, cot_clock_tsc(), VM_DRAIN_PER_TURN))
				nanosleep(&ms, NULL);
		}
		scanner_stop(v->sc);
		/* Bounded: the queue holds at most its size. */
		while (drain(v, cot_clock_tsc(), VM_DRAIN_PER_TURN))
			;
		if (v->in_scan)
			cot_merge_scan_end(v->m);
		v->in_scan = false;
	}
	cot_merge_finish(v->m, now, COT_END_SHUTDOWN);
}

void vm_summary(const struct vm *v, const struct port *p, FILE *f)
{
	struct cot_merge_stats ms;
	struct cot_flow_stats fs;
	uint64_t dropped = 0;
	unsigned int i;

	cot_merge_stats(v->m, &ms, &fs);
	for (i = 0; i < COT_PKT__COUNT; i++)
		if (i != COT_PKT_OK && i != COT_PKT_NOT_IP)
			dropped += fs.dropped[i];
	fprintf(f,
		"%s: %" PRIu64 " connections (nic %" PRIu64 ", vmi %" PRIu64
		", both %" PRIu64 "), hidden: nic-only %" PRIu64
		", vmi-only %" PRIu64 "\n",
		v->name, ms.records, ms.by_seen[COT_SEEN_NIC],
		ms.by_seen[COT_SEEN_VMI], ms.by_seen[COT_SEEN_BOTH],
		ms.hidden_nic, ms.hidden_vmi);
	fprintf(f,
		"%s: frames from guest %" PRIu64 ", to guest %" PRIu64
		", unparsable %" PRIu64 ", not IP %" PRIu64
		", queue drops %" PRIu64
		" (its own frames at full peers %" PRIu64
		"), bad framing %" PRIu64 ", spoofed source %" PRIu64
		", over the storm limit %" PRIu64
		", over the address cap %" PRIu64 ", evicted %" PRIu64 "\n",
		v->name, p->st.rx, p->st.tx, dropped, fs.not_ip,
		p->st.drop_qfull, p->st.drop_peer, p->st.drop_bad,
		p->st.drop_spoof, p->st.drop_storm, p->st.drop_maclimit,
		fs.evicted);
	if (v->dns) {
		struct cot_dns_stats ds;

		cot_dns_stats(v->dns, &ds);
		fprintf(f,
			"%s: dns queries %" PRIu64 " (not kept %" PRIu64
			", replaced %" PRIu64 "), answers %" PRIu64
			" (matched %" PRIu64 ", unmatched %" PRIu64
			", malformed %" PRIu64 "), names %" PRIu64
			" (evicted %" PRIu64 ")\n",
			v->name, ds.queries, ds.queries_bad,
			ds.queries_replaced, ds.answers, ds.matched,
			ds.unmatched, ds.malformed, ds.names, ds.evicted);
	}
	if (p->vh) {
		struct vhost_stats vs;

		vhost_get_stats(p->vh, &vs);
		fprintf(f,
			"%s: vhost-user connections %" PRIu64
			", disconnects %" PRIu64 ", requests refused %" PRIu64
			", memory tables refused %" PRIu64
			", devices refused %" PRIu64
			", transmit queue stalls %" PRIu64 "\n",
			v->name, vs.connections, vs.disconnects, vs.rejected,
			vs.bad_tables, vs.refused, vs.stalls);
	}
	if (v->sc) {
		struct scanner_stats ss;

		scanner_stats(v->sc, &ss);
		fprintf(f,
			"%s: memory scans %" PRIu64 " (mean %.1f us, max %.1f "
			"us, %" PRIu64 " with errors), %" PRIu64
			" sockets at the last, fast kicks %" PRIu64 " (%" PRIu64
			" over the CPU share)\n",
			v->name, ss.scans,
			ss.scans ? (double)ss.ns_total / (double)ss.scans / 1e3
				 : 0.0,
			(double)ss.ns_max / 1e3, ss.errors, ss.sockets_last,
			ss.fast_kicks, ss.fast_skipped);
		fprintf(f,
			"%s: scan steps %" PRIu64 ", cut at the budget %" PRIu64
			", guest bytes read %" PRIu64 ", page walks %" PRIu64
			", attach attempts failed %" PRIu64
			", memory-only table full %" PRIu64
			", scanner CPU %.1f ms scanning, %.1f ms attaching\n",
			v->name, ss.steps, ss.cut, ss.bytes, ss.walks,
			ss.attach_failures, ms.conns_dropped,
			(double)ss.cpu_scan_ns / 1e6,
			(double)ss.cpu_attach_ns / 1e6);
		fprintf(f,
			"%s: owners passes %" PRIu64
			" (cut at the budget %" PRIu64 ", %" PRIu64
			" left sockets awaiting a file"
			", CPU %.1f ms, max %.1f us), guest bytes %" PRIu64
			", page walks %" PRIu64 ", sockets owned %" PRIu64
			", owners sent %" PRIu64 ", kept %" PRIu64
			", unused %" PRIu64 ", cgroups %u (table full %" PRIu64
			")\n",
			v->name, ss.own_passes, ss.own_cut, ss.own_retry,
			(double)ss.own_cpu_ns / 1e6,
			(double)ss.own_cpu_max / 1e3, ss.own_bytes,
			ss.own_walks, ss.own_owned, ss.own_events, ms.owners,
			ms.owners_unused, ms.cgroups, ms.cgroups_dropped);
	}
}

void vm_free(struct vm *v)
{
	if (v->sc) {
		scanner_free(v->sc);
		free(v->sc);
		v->sc = NULL;
	}
	free(v->evbuf);
	free(v->mmem);
	free(v->dmem);
	v->evbuf = NULL;
	v->mmem = NULL;
	v->dmem = NULL;
	v->dns = NULL;
}
