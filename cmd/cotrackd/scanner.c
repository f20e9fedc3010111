// SPDX-License-Identifier: MIT
/* One VM's memory view on its own thread: see scanner.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "host/clock.h"
#include "host/log.h"
#include "scanner.h"

#define ATTACH_RETRY_NS	    200000000ULL /* first retry while a guest boots */
#define ATTACH_RETRY_MAX_NS 2000000000ULL
#define WARN_EVERY_NS	    10000000000ULL /* rate limit of the warnings */
#define FINAL_STEPS	    64 /* steps the last snapshot may take */
/* Owners passes' maps (as `cotrack vmi snapshot`'s): processes, cgroups,
 * open files (a power of two); more are counted, not owned. */
#define OWN_PROCS   (1u << 15)
#define OWN_CGROUPS 1024u
#define OWN_FILES   (1u << 17)
/*
 * An owners pass is not resumable (the task walk must finish before a
 * socket can be owned), and costs about 1.1 times the socket walk's
 * bytes and 4.5 times its page walks (docs/vmi.md, 10,000 sockets), so
 * it gets twice a step's budget: about 30,000 sockets at the default.
 */
#define OWN_BUDGET_X 2
/*
 * A full socket a pass finds without a file in a state that has one soon
 * (accepted but not yet taken by accept(), or a file being installed)
 * makes another pass due, for at most this many passes: a connection
 * shorter than a scan interval is then owned when accept() takes it
 * (docs/tracking.md, "Sockets awaiting a file").  Bounded per socket, so
 * sockets that never get one (kernel sockets, a full accept queue nobody
 * takes) cost at most this many passes each, under the same CPU rate.
 */
#define OWN_RETRIES 8

/* An absolute CLOCK_REALTIME time @ns from now, as condvars want it. */
static void deadline_in(struct timespec *ts, uint64_t ns)
{
	uint64_t t = cot_clock_real_ns() + ns;

	ts->tv_sec = (time_t)(t / 1000000000ULL);
	ts->tv_nsec = (long)(t % 1000000000ULL);
}

/*
 * Move the batch into the queue, waiting for space (the frame thread
 * drains it every turn).  Called without @mu.  Returns false when the
 * scanner is stopping (the rest of the batch is dropped).
 */
static bool batch_flush(struct scanner *s)
{
	uint32_t i = 0;
	bool ok = true;

	pthread_mutex_lock(&s->mu);
	while (i < s->nbatch) {
		while (s->count == s->p.queue && !s->stop) {
			struct timespec ts;

			s->st.queue_waits++;
			deadline_in(&ts, 100000000ULL);
			pthread_cond_timedwait(&s->space, &s->mu, &ts);
		}
		if (s->stop) {
			ok = false;
			break;
		}
		/* Bounded by the batch size. */
		while (i < s->nbatch && s->count < s->p.queue) {
			s->ring[(s->head + s->count) % s->p.queue] =
				s->batch[i++];
			s->count++;
		}
		/* Wake the frame thread at once: it may wait for space. */
		if (eventfd_write(s->efd, 1) < 0)
			log_debug("%s: eventfd: %s", s->p.name,
				  strerror(errno));
	}
	pthread_mutex_unlock(&s->mu);
	s->nbatch = 0;
	return ok;
}

static void emit(struct scanner *s, const struct scan_ev *ev)
{
	s->batch[s->nbatch++] = *ev;
	if (s->nbatch == COT_ARRAY_SIZE(s->batch))
		batch_flush(s);
}

static void emit_type(struct scanner *s, enum scan_ev_type type, uint64_t ns)
{
	struct scan_ev ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = (uint8_t)type;
	ev.ns = ns;
	emit(s, &ev);
}

static void on_diff(void *ctx, enum cot_vmi_event e,
		    const struct cot_vmi_sock *old,
		    const struct cot_vmi_sock *now)
{
	struct scanner *s = ctx;
	struct scan_ev ev;

	/* A socket an owners pass has not seen: one is due. */
	if (now && now->kind == COT_VMI_SK_FULL &&
	    (!old || old->kaddr != now->kaddr))
		s->owners_new = true;

	memset(&ev, 0, sizeof(ev));
	ev.type = SEV_SOCK;
	ev.ev = (uint8_t)e;
	if (old) {
		ev.has_old = 1;
		ev.old = *old;
	}
	if (now) {
		ev.has_now = 1;
		ev.now = *now;
	}
	emit(s, &ev);
}

static void detach(struct scanner *s)
{
	if (!s->attached)
		return;
	cot_vmi_detach(&s->at);
	s->attached = false;
	s->in_scan = false;
	s->nprev = 0;
	emit_type(s, SEV_DOWN, cot_clock_mono_ns());
	batch_flush(s);
	log_info("%s: memory view down", s->p.name);
}

/*
 * Find the guest kernel in its memory and derive the profile from its
 * own BTF.  Fails quietly while the guest is still booting (no
 * VMCOREINFO yet); the caller retries with back-off.
 */
static bool attach(struct scanner *s)
{
	struct cot_vmi_attach_opts o = {
		.mem = s->p.mem,
		.map = s->p.map,
	};
	char msg[512];

	if (s->p.table) {
		if (!s->ntab)
			return false; /* no table yet */
		o.table = s->tab;
		o.ntable = s->ntab;
	}
	if (cot_vmi_attach(&s->at, &o, msg, sizeof(msg)) < 0) {
		log_debug("%s: %s", s->p.name, msg);
		return false;
	}
	s->attached = true;
	s->in_scan = false;
	s->nprev = 0;
	s->nsent = 0; /* another kernel: its sockets are all new */
	s->npend = 0;
	s->owners_next_ns = 0;
	log_info("%s: memory view up%s: Linux %s, %u-level paging, KASLR "
		 "offset %#" PRIx64,
		 s->p.name,
		 s->p.table ? " from the vhost-user memory table" : "",
		 s->at.k->ci.osrelease, s->at.k->levels,
		 s->at.k->ci.kerneloffset);
	emit_type(s, SEV_UP, cot_clock_mono_ns());
	batch_flush(s);
	return true;
}

static bool warn_due(struct scanner *s, uint64_t now)
{
	if (s->warned_ns && now - s->warned_ns < WARN_EVERY_NS)
		return false;
	s->warned_ns = now;
	return true;
}

static bool vst_errors(const struct cot_vmi_stats *v)
{
	return v->err_read || v->err_loop || v->err_long || v->err_table ||
	       v->err_net || v->err_family;
}

/*
 * SEV_VOL for each socket in both snapshots, unchanged (the diff's
 * events carry their own), whose live volumes changed.  Both are sorted
 * by cot_vmi_sock_cmp(): one merge walk, bounded by nprev + n.
 */
static uint64_t vol_changes(struct scanner *s, uint32_t n)
{
	uint32_t i = 0, j = 0;
	uint64_t cnt = 0;

	while (i < s->nprev && j < n) {
		const struct cot_vmi_sock *a = &s->prev[i], *b = &s->cur[j];
		int c = cot_vmi_sock_cmp(a, b);
		struct scan_ev ev;

		if (c < 0) {
			i++;
			continue;
		}
		if (c > 0) {
			j++;
			continue;
		}
		i++, j++;
		if (!(b->flags & COT_VMI_SOCK_VOLUMES) ||
		    ((a->flags & COT_VMI_SOCK_VOLUMES) &&
		     a->bytes_acked == b->bytes_acked &&
		     a->bytes_received == b->bytes_received &&
		     a->segs_out == b->segs_out && a->segs_in == b->segs_in))
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.type = SEV_VOL;
		ev.has_now = 1;
		ev.now = *b;
		emit(s, &ev);
		cnt++;
	}
	return cnt;
}

static int sent_cmp(const void *a, const void *b)
{
	const struct sent_owner *x = a, *y = b;

	return x->kaddr < y->kaddr ? -1 : x->kaddr > y->kaddr;
}

/* FNV-1a over @n bytes of @p, from @h. */
static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/*
 * Of the socket's connection (a freed sock is soon another connection's,
 * at the same address, maybe of the same process), comm and cgroup: a
 * change of any is sent again.
 */
static uint32_t conn_hash(const struct cot_vmi_sock *k)
{
	uint32_t h = 2166136261u;

	h = fnv(h, k->local.b, sizeof(k->local.b));
	h = fnv(h, k->remote.b, sizeof(k->remote.b));
	h = fnv(h, &k->lport, sizeof(k->lport));
	h = fnv(h, &k->rport, sizeof(k->rport));
	return fnv(h, &k->netns, sizeof(k->netns));
}

static uint32_t owner_hash(const struct cot_vmi_sock *k,
			   const struct cot_rec_owner *o)
{
	uint32_t h = conn_hash(k);

	for (size_t i = 0; i < sizeof(o->comm) && o->comm[i]; i++)
		h = (h ^ (uint8_t)o->comm[i]) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (size_t i = 0; i < sizeof(o->cgroup) && o->cgroup[i]; i++)
		h = (h ^ (uint8_t)o->cgroup[i]) * 16777619u;
	return h;
}

/* Was exactly this owner sent for this socket at the last pass? */
static bool sent_before(const struct scanner *s, const struct sent_owner *e)
{
	const struct sent_owner *f =
		bsearch(e, s->sent, s->nsent, sizeof(*e), sent_cmp);

	return f && f->pid == e->pid && f->h == e->h;
}

static int pend_cmp(const void *a, const void *b)
{
	const struct pend_sock *x = a, *y = b;

	return x->kaddr < y->kaddr ? -1 : x->kaddr > y->kaddr;
}

/* States in which a socket without a file gets one soon: accepted and
 * waiting in the listener's queue, or being connected or closed by a
 * process that still holds it. */
static bool awaits_file(const struct cot_vmi_sock *k)
{
	return k->kind == COT_VMI_SK_FULL &&
	       (k->state == COT_VMI_TCP_ESTABLISHED ||
		k->state == COT_VMI_TCP_SYN_SENT ||
		k->state == COT_VMI_TCP_SYN_RECV ||
		k->state == COT_VMI_TCP_CLOSE_WAIT);
}

/*
 * Note @k, found unowned, in pend_new[*np]: true while it has had fewer
 * than OWN_RETRIES passes (so another pass is due for it).
 */
static bool pend_note(struct scanner *s, const struct cot_vmi_sock *k,
		      uint32_t *np)
{
	struct pend_sock e = { .kaddr = k->kaddr,
			       .h = conn_hash(k),
			       .tries = 1 },
			 *f;

	f = bsearch(&e, s->pend, s->npend, sizeof(e), pend_cmp);
	if (f && f->h == e.h)
		e.tries = f->tries + 1;
	if (e.tries > OWN_RETRIES)
		return false;
	s->pend_new[(*np)++] = e;
	return true;
}

/*
 * The owners pass over snapshot @cur[0..n) (also its live volumes):
 * SEV_OWNER for each owned full socket whose owner was not sent at the
 * last pass.  Bounded by n (at most cap), the pass by its budget.
 */
static void owners_pass(struct scanner *s, uint32_t n, uint64_t now)
{
	struct cot_vmi_owners *o = &s->ow;
	uint64_t c0 = cot_clock_thread_cpu_ns(), cost, gap, nev = 0;
	uint32_t i, k = 0, np = 0;
	bool retry = false;

	cot_vmi_owners(s->at.k, o, s->cur, n, s->ownv,
		       OWN_BUDGET_X * s->p.step_bytes,
		       OWN_BUDGET_X * s->p.step_walks);
	for (i = 0; i < n; i++) {
		const struct cot_vmi_owner *w = &s->ownv[i];
		const struct cot_vmi_proc *pr;
		struct sent_owner e;
		struct scan_ev ev;

		if (s->cur[i].kind != COT_VMI_SK_FULL)
			continue;
		pr = w->proc < o->nprocs ? &o->procs[w->proc] : NULL;
		if (!pr || !pr->pid) {
			if (awaits_file(&s->cur[i]) &&
			    pend_note(s, &s->cur[i], &np))
				retry = true;
			continue;
		}
		memset(&ev, 0, sizeof(ev));
		ev.type = SEV_OWNER;
		ev.has_now = 1;
		ev.now = s->cur[i];
		ev.owner.pid = pr->pid;
		memcpy(ev.owner.comm, pr->comm, sizeof(ev.owner.comm));
		ev.owner.comm[sizeof(ev.owner.comm) - 1] = '\0';
		/* A path cut short is not given: it would name another. */
		if (pr->cgroup < o->ncgroups &&
		    !o->cgroups[pr->cgroup].truncated) {
			memcpy(ev.owner.cgroup, o->cgroups[pr->cgroup].path,
			       sizeof(ev.owner.cgroup));
			ev.owner.cgroup[sizeof(ev.owner.cgroup) - 1] = '\0';
		}
		e.kaddr = s->cur[i].kaddr;
		e.pid = pr->pid;
		e.h = owner_hash(&s->cur[i], &ev.owner);
		s->sent_new[k++] = e;
		if (sent_before(s, &e))
			continue;
		emit(s, &ev);
		nev++;
	}
	qsort(s->sent_new, k, sizeof(*s->sent_new), sent_cmp);
	{
		struct sent_owner *t = s->sent;

		s->sent = s->sent_new;
		s->sent_new = t;
		s->nsent = k;
	}
	qsort(s->pend_new, np, sizeof(*s->pend_new), pend_cmp);
	{
		struct pend_sock *t = s->pend;

		s->pend = s->pend_new;
		s->pend_new = t;
		s->npend = np;
	}
	/* A pass its budget ended leaves sockets unowned, and a socket
	 * awaiting its file is owned at a later one: another is due. */
	s->owners_new = o->st.err_budget != 0 || retry;
	cost = cot_clock_thread_cpu_ns() - c0;
	gap = cost * (100 - s->p.owners_pct) / s->p.owners_pct;
	if (gap < s->p.owners_gap_ns)
		gap = s->p.owners_gap_ns;
	s->owners_next_ns = now + gap;
	pthread_mutex_lock(&s->mu);
	s->st.own_passes++;
	if (retry)
		s->st.own_retry++;
	if (o->st.err_budget)
		s->st.own_cut++;
	s->st.own_events += nev;
	s->st.own_owned += o->st.owned;
	s->st.own_bytes += o->st.bytes_read;
	s->st.own_walks += o->st.walks;
	s->st.bytes += o->st.bytes_read;
	s->st.walks += o->st.walks;
	s->st.own_cpu_ns += cost;
	if (cost > s->st.own_cpu_max)
		s->st.own_cpu_max = cost;
	pthread_mutex_unlock(&s->mu);
}

/* A snapshot is complete: read its live volumes (and, when due, its
 * owners), diff it, queue the events, keep it. */
static void complete(struct scanner *s, uint64_t now)
{
	struct cot_vmi_sock *tmp;
	uint32_t n = s->scan.n;
	uint64_t dt = now - s->scan_ns, nvol;
	bool own;

	if (s->vst.truncated && warn_due(s, now))
		log_warnx("%s: guest has more than %u sockets: %u not seen "
			  "(raise --vmi-cap)",
			  s->p.name, s->p.cap, s->vst.truncated);
	emit_type(s, SEV_BEGIN, s->scan_ns);
	cot_vmi_diff(s->prev, s->nprev, s->cur, n, on_diff, s);
	/*
	 * Owners when the diff found sockets no pass has seen and the rate
	 * allows: at once, on the sockets just read (a short connection
	 * may be gone by the next step).  The pass reads the volumes too.
	 */
	own = s->p.owners && s->owners_new && now >= s->owners_next_ns;
	if (own) {
		owners_pass(s, n, now);
	} else {
		/* tcp_sock's counters of the full sockets: one more read
		 * each, under the step budget (what it cannot read stays
		 * without) */
		cot_vmi_owners(s->at.k, &s->own, s->cur, n, NULL,
			       s->p.step_bytes, s->p.step_walks);
	}

	nvol = vol_changes(s, n);
	emit_type(s, SEV_END, now);
	tmp = s->prev;
	s->prev = s->cur;
	s->cur = tmp;
	s->nprev = n;
	s->in_scan = false;
	pthread_mutex_lock(&s->mu);
	s->st.scans++;
	if (s->scan_steps > 1)
		s->st.long_scans++;
	if (vst_errors(&s->vst))
		s->st.errors++;
	s->st.ns_total += dt;
	if (dt > s->st.ns_max)
		s->st.ns_max = dt;
	s->st.sockets_last = n;
	s->st.vol_events += nvol;
	if (!own) {
		s->st.vol_bytes += s->own.st.bytes_read;
		s->st.bytes += s->own.st.bytes_read;
		s->st.walks += s->own.st.walks;
	}
	pthread_mutex_unlock(&s->mu);
	batch_flush(s);
}

/* Run up to @rounds budgeted steps of the current snapshot. */
static void step(struct scanner *s, uint32_t rounds)
{
	/* Bounded by @rounds (1 per kick, FINAL_STEPS at the end). */
	while (rounds-- && s->attached) {
		uint64_t b0, w0, c0, now;
		int rc;

		if (!s->in_scan) {
			s->scan_ns = cot_clock_mono_ns();
			memset(&s->vst, 0, sizeof(s->vst));
			cot_vmi_scan_start(s->at.k, &s->scan, s->cur, s->p.cap);
			s->in_scan = true;
			s->scan_steps = 0;
			s->snap_cpu_ns = 0;
		}
		c0 = cot_clock_thread_cpu_ns();
		b0 = s->vst.bytes_read;
		w0 = s->vst.walks;
		rc = cot_vmi_scan_step(s->at.k, &s->scan, s->p.step_bytes,
				       s->p.step_walks, &s->vst);
		now = cot_clock_mono_ns();
		s->scan_steps++;
		c0 = cot_clock_thread_cpu_ns() - c0;
		s->snap_cpu_ns += c0;
		pthread_mutex_lock(&s->mu);
		s->st.cpu_scan_ns += c0;
		s->st.steps++;
		s->st.bytes += s->vst.bytes_read - b0;
		s->st.walks += s->vst.walks - w0;
		if (rc == 0)
			s->st.cut++;
		if (rc < 0)
			s->st.failures++;
		pthread_mutex_unlock(&s->mu);
		if (rc < 0) {
			/* The kernel went away (reboot?): attach again later.
			 */
			log_warnx("%s: memory scan failed: %s", s->p.name,
				  cot_strerror(rc));
			detach(s);
			return;
		}
		if (rc == 0) {
			if (warn_due(s, now))
				log_warnx("%s: memory scan cut at its budget "
					  "(%" PRIu64 " bytes, %" PRIu64
					  " page walks per step), %" PRIu64
					  " steps so far: a very large or "
					  "forged guest kernel",
					  s->p.name, s->p.step_bytes,
					  s->p.step_walks, s->scan_steps);
			continue;
		}
		c0 = cot_clock_thread_cpu_ns();
		complete(s, now);
		/* The diff is scan work too. */
		c0 = cot_clock_thread_cpu_ns() - c0;
		s->snap_cpu_ns += c0;
		pthread_mutex_lock(&s->mu);
		s->st.cpu_scan_ns += c0;
		s->fast_ok_ns = now + s->snap_cpu_ns * (100 - s->p.scan_pct) /
					      s->p.scan_pct;
		pthread_mutex_unlock(&s->mu);
		return;
	}
}

static void close_table(struct cot_hostmem_fdregion *t, uint32_t *n)
{
	/* Bounded by COT_VMI_MAX_RANGES. */
	for (uint32_t i = 0; i < *n; i++)
		close(t[i].fd);
	*n = 0;
}

static void *run(void *arg)
{
	struct scanner *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec ts;
		bool final;

		if (s->newtab_set) {
			/* Leave the old table before taking the new one. */
			if (s->attached) {
				pthread_mutex_unlock(&s->mu);
				detach(s);
				pthread_mutex_lock(&s->mu);
				continue;
			}
			close_table(s->tab, &s->ntab);
			memcpy(s->tab, s->newtab, sizeof(s->tab));
			s->ntab = s->nnewtab;
			s->nnewtab = 0;
			s->newtab_set = false;
			s->backoff_ns = ATTACH_RETRY_NS;
			s->next_attach_ns = 0;
			continue;
		}
		if (!s->nic_up || (s->final && !s->attached)) {
			if (s->final) {
				s->final_done = true;
			}
			if (s->attached) {
				pthread_mutex_unlock(&s->mu);
				detach(s);
				pthread_mutex_lock(&s->mu);
				continue;
			}
			/* A gone VM's RAM is freed only once we let go. */
			if (s->release) {
				close_table(s->tab, &s->ntab);
				s->release = false;
			}
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		if (!s->attached) {
			uint64_t now = cot_clock_mono_ns(), c0;
			bool ok;

			/* Back-off: kicks and drains do not hurry it. */
			if (now < s->next_attach_ns) {
				deadline_in(&ts, s->next_attach_ns - now);
				pthread_cond_timedwait(&s->cv, &s->mu, &ts);
				continue;
			}
			pthread_mutex_unlock(&s->mu);
			c0 = cot_clock_thread_cpu_ns();
			ok = attach(s);
			pthread_mutex_lock(&s->mu);
			s->st.cpu_attach_ns += cot_clock_thread_cpu_ns() - c0;
			if (ok) {
				s->backoff_ns = ATTACH_RETRY_NS;
				continue;
			}
			s->st.attach_failures++;
			s->next_attach_ns = cot_clock_mono_ns() + s->backoff_ns;
			if (s->backoff_ns < ATTACH_RETRY_MAX_NS)
				s->backoff_ns *= 2;
			continue;
		}
		if (s->kick || (s->final && !s->final_done)) {
			final = s->final;
			s->kick = false;
			pthread_mutex_unlock(&s->mu);
			/* The last snapshot starts afresh and must finish. */
			if (final)
				s->in_scan = false;
			step(s, final ? FINAL_STEPS : 1);
			pthread_mutex_lock(&s->mu);
			if (final) {
				s->final_done = true;
			}
			continue;
		}
		pthread_cond_wait(&s->cv, &s->mu);
	}
	s->final_done = true;
	pthread_mutex_unlock(&s->mu);
	if (s->attached) {
		cot_vmi_detach(&s->at);
		s->attached = false;
	}
	return NULL;
}

int scanner_start(struct scanner *s, const struct scanner_params *p)
{
	memset(s, 0, sizeof(*s));
	s->p = *p;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->ring = calloc(p->queue, sizeof(*s->ring));
	s->prev = calloc(p->cap, sizeof(*s->prev));
	s->cur = calloc(p->cap, sizeof(*s->cur));
	s->backoff_ns = ATTACH_RETRY_NS;
	if (s->p.scan_pct < 1 || s->p.scan_pct > 100)
		s->p.scan_pct = 10;
	if (p->owners) {
		if (s->p.owners_pct < 1 || s->p.owners_pct > 100)
			s->p.owners_pct = 10;
		s->ow.procs_cap = OWN_PROCS;
		s->ow.cgroups_cap = OWN_CGROUPS;
		s->ow.files_cap = OWN_FILES;
		s->ow.procs = calloc(OWN_PROCS, sizeof(*s->ow.procs));
		s->ow.cgroups = calloc(OWN_CGROUPS, sizeof(*s->ow.cgroups));
		s->ow.files = calloc(OWN_FILES, sizeof(*s->ow.files));
		s->ownv = calloc(p->cap, sizeof(*s->ownv));
		s->sent = calloc(p->cap, sizeof(*s->sent));
		s->sent_new = calloc(p->cap, sizeof(*s->sent_new));
		s->pend = calloc(p->cap, sizeof(*s->pend));
		s->pend_new = calloc(p->cap, sizeof(*s->pend_new));
	}
	if (s->efd < 0 || !s->ring || !s->prev || !s->cur ||
	    (p->owners &&
	     (!s->ow.procs || !s->ow.cgroups || !s->ow.files || !s->ownv ||
	      !s->sent || !s->sent_new || !s->pend || !s->pend_new))) {
		log_warn("%s: memory view", p->name);
		scanner_free(s);
		return -1;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->space, NULL);
	if (pthread_create(&s->th, NULL, run, s) != 0) {
		log_warnx("%s: cannot start the scanner thread", p->name);
		scanner_free(s);
		return -1;
	}
	s->started = true;
	return 0;
}

void scanner_nic(struct scanner *s, bool up)
{
	pthread_mutex_lock(&s->mu);
	s->nic_up = up;
	if (!up && s->p.table)
		s->release = true; /* until a new table comes */
	s->backoff_ns = ATTACH_RETRY_NS;
	s->next_attach_ns = 0;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void scanner_table(struct scanner *s, const struct cot_hostmem_fdregion *t,
		   uint32_t n)
{
	if (n > COT_VMI_MAX_RANGES) {
		log_warnx("%s: memory table of %u regions: at most %d",
			  s->p.name, n, COT_VMI_MAX_RANGES);
		for (uint32_t i = 0; i < n; i++)
			close(t[i].fd);
		n = 0;
	}
	pthread_mutex_lock(&s->mu);
	close_table(s->newtab, &s->nnewtab);
	memcpy(s->newtab, t, n * sizeof(*t));
	s->nnewtab = n;
	s->newtab_set = true;
	s->release = false;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void scanner_kick(struct scanner *s, bool fast)
{
	pthread_mutex_lock(&s->mu);
	if (fast) {
		s->st.fast_kicks++;
		if (cot_clock_mono_ns() < s->fast_ok_ns) {
			s->st.fast_skipped++;
			pthread_mutex_unlock(&s->mu);
			return;
		}
	}
	s->kick = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

uint32_t scanner_drain(struct scanner *s, struct scan_ev *out, uint32_t max)
{
	uint32_t n = 0;
	eventfd_t v;

	if (eventfd_read(s->efd, &v) < 0 && errno != EAGAIN)
		log_debug("%s: eventfd: %s", s->p.name, strerror(errno));
	pthread_mutex_lock(&s->mu);
	/* Bounded by @max. */
	while (n < max && s->count) {
		out[n++] = s->ring[s->head];
		s->head = (s->head + 1) % s->p.queue;
		s->count--;
	}
	if (s->count) /* more than @max: make the next poll return */
		(void)eventfd_write(s->efd, 1);
	if (n)
		pthread_cond_signal(&s->space);
	pthread_mutex_unlock(&s->mu);
	return n;
}

bool scanner_final(struct scanner *s)
{
	bool done;

	pthread_mutex_lock(&s->mu);
	if (!s->final) {
		s->final = true;
		pthread_cond_signal(&s->cv);
	}
	done = s->final_done;
	pthread_mutex_unlock(&s->mu);
	return done;
}

void scanner_stop(struct scanner *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->space);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	s->started = false;
}

void scanner_free(struct scanner *s)
{
	if (s->started)
		scanner_stop(s);
	if (s->efd >= 0)
		close(s->efd);
	s->efd = -1;
	close_table(s->tab, &s->ntab);
	close_table(s->newtab, &s->nnewtab);
	free(s->ring);
	free(s->prev);
	free(s->cur);
	free(s->ow.procs);
	free(s->ow.cgroups);
	free(s->ow.files);
	free(s->ownv);
	free(s->sent);
	free(s->sent_new);
	free(s->pend);
	free(s->pend_new);
	s->pend = s->pend_new = NULL;
	s->ow.procs = NULL;
	s->ow.cgroups = NULL;
	s->ow.files = NULL;
	s->ownv = NULL;
	s->sent = s->sent_new = NULL;
	s->ring = NULL;
	s->prev = s->cur = NULL;
}

void scanner_stats(struct scanner *s, struct scanner_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	pthread_mutex_unlock(&s->mu);
}
