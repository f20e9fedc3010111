/* SPDX-License-Identifier: MIT */
/*
 * core/merge: one VM's tracker.  It owns that VM's connection table
 * (core/flow) and merges the two views of the VM's connections into one
 * stream of records:
 *
 *  - the NIC view: every frame, through cot_merge_pkt();
 *  - the memory view: the events of successive guest socket snapshots
 *    (core/vmi: cot_vmi_diff()), one scan at a time, through
 *    cot_merge_scan_begin(), cot_merge_sock() ... cot_merge_scan_end().
 *
 * Every rule of docs/cotrackd.md lives here: a socket that matches a NIC
 * flow makes it "seen_by both"; sockets with no NIC flow become
 * memory-only connections (both ends of a localhost connection are one),
 * written with seen_by vmi when their sockets are all TIME_WAIT (end fin)
 * or absent from two scans in a row (end gone); a loopback tuple reused
 * from TIME_WAIT is a new connection; the late socket of a NIC flow
 * already written is not a connection of its own; a NIC flow that opens
 * while a memory-only connection of its tuple exists takes it over;
 * hidden-nic and hidden-vmi flags.
 *
 * Freestanding, in the shape of core/flow: sized once
 * (cot_merge_memsize), laid out in caller memory (cot_merge_init), no
 * allocation, time passed in (nanoseconds, one monotonic clock for both
 * views), records out through a callback.  Every key the guest chooses
 * (socket tuples, listening ports) is hashed with the keyed seed, and
 * every table is bounded: when one is full the new entry is dropped and
 * counted, never an allocation or a failure of the frame path.
 *
 * Not thread-safe: one object per VM, every call from one thread (in
 * cotrackd the frame thread; the scanner thread hands it events through
 * a queue).
 */
#ifndef COTRACK_MERGE_H
#define COTRACK_MERGE_H

#include "cotrack/common.h"
#include "cotrack/flow.h"
#include "cotrack/pkt.h"
#include "cotrack/rec.h"
#include "cotrack/vmi.h"

struct cot_merge;
struct cot_dns;

/*
 * A final record.  @r is valid only during the call; r->seq is 0 (the
 * caller numbers its stream) and times are those passed in (the caller
 * converts to wall-clock time).  The callback must not call back into
 * the tracker.
 */
typedef void (*cot_merge_rec_cb)(void *ctx, const struct cot_rec *r);

struct cot_merge_params {
	/* The NIC table.  flow.cb and flow.cb_ctx are ignored (the merge
	 * installs its own); flow.vm is ignored (see @vm). */
	struct cot_flow_params flow;
	const char *vm;		/* copied into every record; may be NULL */
	bool vmi;		/* a memory view is configured for this VM */
	uint64_t interval_ns;	/* memory scan interval */
	uint64_t grace_ns;	/* hidden-nic grace period */
	uint32_t max_conns;	/* memory-only connections at once */
	uint32_t ended_slots;	/* tuples of written NIC TCP flows kept */
	uint64_t ended_keep_ns; /* ... for this long (TIME_WAIT is 60 s) */
	uint32_t max_listen;	/* listening sockets known at once */
	uint32_t max_cgroups;	/* distinct owner cgroup paths kept */
	uint64_t hash_seed;	/* keys the merge's hashes (use a random one) */
	cot_merge_rec_cb cb;	/* may be NULL */
	void *cb_ctx;
	/* The VM's DNS names (core/dns, fed by the caller), or NULL: each
	 * record's src_name / dst_name are the names its ends had when
	 * the connection began.  Read only, never freed by the merge. */
	const struct cot_dns *dns;
};

/*
 * Defaults: the flow defaults, vmi off, interval 10 ms, grace 1 s,
 * 65536 memory-only connections, 65536 ended slots kept 120 s, 4096
 * listeners, 1024 cgroup paths, a fixed seed.
 */
void cot_merge_params_default(struct cot_merge_params *p);

/* Bytes of memory for @p (the flow table included); 0 if @p is invalid. */
size_t cot_merge_memsize(const struct cot_merge_params *p);

/*
 * Lay out a tracker in @mem (@len >= cot_merge_memsize(p), 8-byte
 * aligned).  Keeps no pointer to @p (but keeps p->vm's bytes).  When
 * p->vmi, closed TCP flows linger at least 2 * interval + grace so that
 * a scan can match them before they are written.  Returns 0,
 * -COT_EINVAL or -COT_ENOSPC; *@out is NULL on failure.
 */
int cot_merge_init(struct cot_merge **out, void *mem, size_t len,
		   const struct cot_merge_params *p);

/* --- the NIC view ---------------------------------------------------- */

/*
 * Account one parsed frame of this VM at @now_ns; @from_guest says which
 * way it went.  Records of connections that end meanwhile (eviction)
 * go out through the callback.  Returns the flow slot (>= 0) or
 * -COT_ENOENT (frame not attributed to a flow).
 */
int cot_merge_pkt(struct cot_merge *m, const struct cot_pkt *pkt,
		  uint64_t now_ns, bool from_guest);

/*
 * End NIC flows past their timeouts, examining at most @budget slots
 * (0: all).  Returns the number of flows ended.
 */
uint32_t cot_merge_expire(struct cot_merge *m, uint64_t now_ns,
			  uint32_t budget);

/* --- the memory view ------------------------------------------------- */

/*
 * The memory view came up at @now_ns (the guest kernel was found) or
 * went down (detached: the next scan is diffed against nothing, so every
 * socket it holds arrives as OPENED).
 *
 * Going down counts as a CLOSED event for every socket: memory-only
 * connections are kept, continue when their sockets come back at the
 * next scans, and end "gone" when they are absent from two scans in a
 * row after it (or at finish, if the view stays down).  Listeners are
 * forgotten (they come back as OPENED); a scan in progress ends without
 * its scan_end.  Walks the memory-only pool once.
 */
void cot_merge_vmi_up(struct cot_merge *m, uint64_t now_ns);
void cot_merge_vmi_down(struct cot_merge *m);

/*
 * One scan's events, in the order cot_vmi_diff() produced them, between
 * scan_begin (@scan_ns: when the scan read guest memory) and scan_end.
 * @old / @now as in cot_vmi_diff_cb.  Listener events may come in any
 * order relative to the sockets of the same scan: decisions that need
 * the listeners (who initiated a memory-only connection) are taken at
 * scan_end.  Events outside a begin/end pair are ignored and counted.
 *
 * A memory-only connection created during the scan and written during
 * it too (its tuple reused again within the scan) has its record
 * written at scan_end, with the initiator that the scan's listeners
 * give.  A scan_begin without scan_end carries on the same scan, at
 * the new time.  At most 64 memory-only connections of one tuple exist
 * at once over all namespaces (more are counted in conns_dropped), so
 * that no hash chain grows longer whatever the guest does.
 */
void cot_merge_scan_begin(struct cot_merge *m, uint64_t scan_ns);
void cot_merge_sock(struct cot_merge *m, enum cot_vmi_event ev,
		    const struct cot_vmi_sock *old,
		    const struct cot_vmi_sock *now);
void cot_merge_scan_end(struct cot_merge *m);

/*
 * Live volumes (COT_VMI_SOCK_VOLUMES, from cot_vmi_owners()) of a full
 * socket the scan saw unchanged (the sockets of OPENED and CHANGED
 * events bring theirs), between scan_begin and scan_end.  A memory-only
 * connection's record carries the volumes of the last scan that saw
 * each end's socket: bytes_fwd (initiator to responder) is the
 * responder's bytes_received, else the initiator's bytes_acked;
 * pkts_fwd the initiator's segs_out, else the responder's segs_in;
 * _rev the other way.  TCP sequence-space bytes (payload, plus one per
 * SYN and FIN), not the IP-layer bytes of NIC records.  Sockets of NIC
 * flows are ignored (the NIC counts those).
 */
void cot_merge_sock_volumes(struct cot_merge *m, const struct cot_vmi_sock *s);

/*
 * The owner @o of the guest's full socket @s (an owners pass over the
 * last snapshot: core/vmi cot_vmi_owners()), at any time, in a scan or
 * between scans.  The connection of @s (its NIC flow, or its
 * memory-only connection not yet written) keeps it for the end that is
 * @s's local end, replacing what an earlier pass found, and keeps it
 * after the socket is gone or in TIME_WAIT (which has no owner): every
 * record then carries, in src_owner / dst_owner, the owner of each end
 * that lives in the VM as the last pass that saw it owned found it;
 * pid 0 and "" when no pass did (memory view off, a socket too short
 * for any pass, a guest hiding its processes): never a guess.  Owners
 * with pid 0, of listeners or TIME_WAIT sockets, of sockets with no
 * connection or of one already written are ignored (owners_unused).
 * comm and cgroup are read up to their first NUL within their size.
 * Cgroup paths are kept in a table of max_cgroups, insert-only over
 * the tracker's life: past it a new path is unknown ("",
 * cgroups_dropped), never another one's.
 */
void cot_merge_sock_owner(struct cot_merge *m, const struct cot_vmi_sock *s,
			  const struct cot_rec_owner *o);

/* --- the end --------------------------------------------------------- */

/*
 * Tracker shutdown at @now_ns: every open connection of both views is
 * written with @end (COT_END_SHUTDOWN in cotrackd): NIC flows through
 * cot_flowtab_flush() (closed flows keep fin or rst when @end is
 * COT_END_OPEN), then memory-only ones, with the last times they were
 * seen.  A scan in progress ends (its later events are stray).  The
 * object stays usable, with no connection; the listeners and the
 * tuples of written flows are kept (they describe the guest and the
 * records, as the caller's last snapshot does).
 */
void cot_merge_finish(struct cot_merge *m, uint64_t now_ns, enum cot_end end);

struct cot_merge_stats {
	uint64_t records;    /* records written */
	uint64_t by_seen[4]; /* indexed by enum cot_seen */
	uint64_t hidden_nic, hidden_vmi;
	uint64_t scans;		 /* scan_end calls */
	uint64_t sock_events;	 /* cot_merge_sock calls in a scan */
	uint64_t stray_events;	 /* ... outside begin/end: ignored */
	uint64_t half;		 /* sockets caught half set up (port 0) */
	uint64_t late;		 /* late sockets of NIC flows already written */
	uint64_t takeovers;	 /* memory-only connections a NIC flow took */
	uint64_t reused;	 /* tuples reused: a new connection began */
	uint64_t volumes;	 /* volume updates of unchanged sockets */
	uint64_t conns_dropped;	 /* memory-only table full */
	uint64_t listen_dropped; /* listener table full */
	uint64_t owners;	 /* owners kept (cot_merge_sock_owner) */
	uint64_t owners_unused;	 /* ... ignored */
	uint64_t cgroups_dropped; /* cgroup table full: cgroup unknown */
	uint32_t cgroups;	  /* cgroup paths kept */
	uint32_t conns;		  /* memory-only connections now */
	uint32_t listeners;	  /* listening sockets known now */
};

/* Copy the counters (merge and flow table). */
void cot_merge_stats(const struct cot_merge *m, struct cot_merge_stats *s,
		     struct cot_flow_stats *fs);

#endif
