/* SPDX-License-Identifier: MIT */
/*
 * One VM's memory view, on a thread of its own, off the frame path.
 *
 * The frame thread still decides *when* (the TSC gate of TDX-Tracker:
 * on the VM's frames, core/sched says a scan is due) and kicks the
 * scanner; the scanner attaches to the guest's memory (retrying, with
 * back-off, while the guest boots), runs one budgeted step of the
 * resumable socket walk per kick (core/vmi: cot_vmi_scan_step), and when
 * a snapshot is complete diffs it with the previous one and queues the
 * socket events for the frame thread, which feeds them to the VM's merge
 * (core/merge).  The queue is bounded: when it is full the scanner
 * waits, never the frame thread.  A forged guest kernel costs its own
 * scanner at most one step's budget of guest bytes per kick, and is
 * reported (counters, a rate-limited warning).
 *
 * Thread-safety: every function here is called by the frame thread; the
 * scanner thread is internal.  The two share only the fields under @mu.
 */
#ifndef COTRACKD_SCANNER_H
#define COTRACKD_SCANNER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cotrack/rec.h"
#include "cotrack/vmi.h"
#include "host/vmiattach.h"

enum scan_ev_type {
	SEV_UP = 1, /* the memory view came up at @ns */
	SEV_DOWN,   /* ... went down */
	SEV_BEGIN,  /* a snapshot read at @ns: its events follow */
	SEV_SOCK,   /* one diff event */
	SEV_END,    /* the snapshot's events are all in */
	SEV_VOL,    /* new live volumes of a socket the diff did not
		     * report (in @now), between BEGIN and END */
	SEV_OWNER,  /* the owner (@owner) of full socket @now, from the
		     * owners pass over this snapshot, between BEGIN and
		     * END: only those new or changed since the last pass */
};

struct scan_ev {
	uint8_t type; /* enum scan_ev_type */
	uint8_t ev;   /* enum cot_vmi_event (SEV_SOCK) */
	uint8_t has_old, has_now;
	uint64_t ns;
	struct cot_vmi_sock old, now;
	struct cot_rec_owner owner; /* SEV_OWNER */
};

/* An owner sent for a socket at the last pass (private). */
struct sent_owner {
	uint64_t kaddr;
	uint32_t pid;
	uint32_t h; /* of the connection, comm and cgroup */
};

/* A full socket a pass found without an owner (private). */
struct pend_sock {
	uint64_t kaddr;
	uint32_t h;	/* of its connection */
	uint32_t tries; /* passes that found it unowned */
};

struct scanner_params {
	const char *name;      /* for messages */
	const char *mem, *map; /* guest memory file and region map */
	bool table;	       /* no file: memory tables (scanner_table) */
	uint32_t cap;	       /* most sockets per snapshot */
	uint64_t step_bytes;   /* guest bytes one step may read */
	uint64_t step_walks;   /* page walks one step may do */
	uint32_t queue;	       /* events the queue holds */
	/*
	 * Owners passes (cot_vmi_owners with owners): after a complete
	 * snapshot that found new sockets since the last pass, in the same
	 * step, under a budget of its own of twice step_bytes / step_walks, no
	 * sooner than @owners_gap_ns after the last pass ended, and no
	 * sooner than its CPU time allows for at most @owners_pct percent
	 * of one core (the pass's thread CPU time over the time from its
	 * start to the next pass: gap >= cost * (100 - pct) / pct).
	 */
	bool owners;
	uint32_t owners_pct;	/* 1..100 */
	uint64_t owners_gap_ns; /* 0: only the CPU share limits */
	/* Fast kicks (scanner_kick(s, true)) are ignored until the last
	 * snapshot's CPU time c is c (100 - scan_pct) / scan_pct past. */
	uint32_t scan_pct;
};

struct scanner_stats {
	uint64_t scans;	     /* complete snapshots */
	uint64_t steps;	     /* budgeted steps run */
	uint64_t cut;	     /* steps that spent their budget */
	uint64_t long_scans; /* snapshots that took more than one step */
	uint64_t errors;     /* snapshots with counted guest-data errors */
	uint64_t failures;   /* walks that failed: detached */
	uint64_t attach_failures;
	uint64_t bytes, walks;	   /* guest bytes read, page walks */
	uint64_t ns_total, ns_max; /* time per snapshot (all its steps) */
	uint64_t sockets_last;
	uint64_t queue_waits;	/* the scanner waited for queue space */
	uint64_t cpu_scan_ns;	/* the scanner thread's CPU time: steps */
	uint64_t cpu_attach_ns; /* ... attach attempts */
	uint64_t vol_events;	/* SEV_VOL events queued */
	uint64_t vol_bytes;	/* of bytes: the volumes passes' */
	uint64_t own_passes;	/* owners passes */
	uint64_t own_cut;	/* ... ended by their budget */
	uint64_t own_events;	/* SEV_OWNER events queued */
	uint64_t own_owned;	/* sockets owned, summed over passes */
	uint64_t own_retry;	/* passes due to sockets awaiting a file */
	uint64_t fast_kicks, fast_skipped; /* fast kicks; ... ignored */
	uint64_t own_bytes, own_walks;	   /* of bytes, walks: the passes' */
	uint64_t own_cpu_ns, own_cpu_max;  /* their CPU time (in cpu_scan_ns) */
};

struct scanner {
	struct scanner_params p;
	pthread_t th;
	bool started;
	int efd; /* eventfd: events are waiting */
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* the scanner waits here for work */
	pthread_cond_t space; /* ... and here for queue space */
	/* under mu */
	bool stop, nic_up, kick, final, final_done;
	uint64_t fast_ok_ns; /* no fast kick before this */
	struct scan_ev *ring;
	uint32_t head, count;
	struct scanner_stats st;
	/* the scanner thread's own */
	struct cot_vmi_attach at;
	bool attached;
	struct cot_vmi_sock *prev, *cur;
	uint32_t nprev;
	struct cot_vmi_scan scan;
	bool in_scan;
	uint64_t scan_ns, scan_steps; /* when the snapshot began; its steps */
	uint64_t snap_cpu_ns;	      /* its CPU time so far */
	struct cot_vmi_stats vst;
	struct cot_vmi_owners own; /* volumes pass (no owners: no maps) */
	/* owners passes: maps, each socket's owner, what was sent */
	struct cot_vmi_owners ow;
	struct cot_vmi_owner *ownv;	    /* [cap] */
	struct sent_owner *sent, *sent_new; /* [cap], by kaddr */
	uint32_t nsent;
	struct pend_sock *pend, *pend_new; /* [cap], by kaddr */
	uint32_t npend;
	bool owners_new;	 /* new sockets since the last pass */
	uint64_t owners_next_ns; /* no pass before this */
	uint64_t backoff_ns;
	uint64_t next_attach_ns; /* no attach attempt before this */
	uint64_t warned_ns;
	struct scan_ev batch[256];
	uint32_t nbatch;
	/* the memory table attached from (the scanner's: it closes the fds) */
	struct cot_hostmem_fdregion tab[COT_VMI_MAX_RANGES];
	uint32_t ntab;
	/* under mu: a new table handed over, not yet taken */
	struct cot_hostmem_fdregion newtab[COT_VMI_MAX_RANGES];
	uint32_t nnewtab;
	bool newtab_set;
	bool release; /* the NIC went down: close tab (no new one since) */
};

/* Allocate and start the thread.  Returns 0 or -1 (logged). */
int scanner_start(struct scanner *s, const struct scanner_params *p);

/* The VM's NIC is connected (attach) or not (detach). */
void scanner_nic(struct scanner *s, bool up);

/*
 * A new memory table for a scanner with params.table: the scanner takes
 * the @n descriptors of @t (closing them when it is done with them; on
 * a bad @n it closes them at once), detaches from the old table if
 * attached and attaches from this one.  Its mappings are its own, so the
 * sender may unmap its own at any time after this returns.
 */
void scanner_table(struct scanner *s, const struct cot_hostmem_fdregion *t,
		   uint32_t n);

/*
 * A scan is due: run the next step (coalesced while one runs).  @fast:
 * sooner than the interval (a busy window): ignored, and counted, while
 * the CPU share of scan_pct says the last snapshot was too recent.
 */
void scanner_kick(struct scanner *s, bool fast);

/* Take up to @max queued events into @out.  Returns how many. */
uint32_t scanner_drain(struct scanner *s, struct scan_ev *out, uint32_t max);

/*
 * Ask for a last snapshot, started afresh and run to its end (at most
 * FINAL_STEPS steps); true once it is queued, or once there is nothing
 * to scan.  The caller keeps draining meanwhile: the scanner may wait
 * for queue space.
 */
bool scanner_final(struct scanner *s);

/* End the thread (events still queued stay for scanner_drain()). */
void scanner_stop(struct scanner *s);

/* Free the queue and buffers (after scanner_stop and the last drain). */
void scanner_free(struct scanner *s);

void scanner_stats(struct scanner *s, struct scanner_stats *out);

#endif
