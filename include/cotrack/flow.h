/* SPDX-License-Identifier: MIT */
/*
 * core/flow: the connection table.  Freestanding; lives entirely in
 * memory the caller provides, sized once; the per-packet path never
 * allocates and never fails for lack of memory (a full table evicts the
 * longest-idle connection with end "shutdown" and counts it).
 *
 * Not thread-safe: one table per thread (cotrackd keeps one per VM).
 *
 * Usage:
 *	size_t n = cot_flowtab_memsize(&params);
 *	void *mem = <caller allocates n bytes, 8-byte aligned>;
 *	struct cot_flowtab *t;
 *	cot_flowtab_init(&t, mem, n, &params);
 *	for each frame: cot_pkt_parse(); cot_flowtab_update(t, &pkt, now);
 *	(or parse several, then cot_flowtab_update_batch(t, pkts, nows, n))
 *	periodically:   cot_flowtab_expire(t, now, budget);
 *	at the end:     cot_flowtab_flush(t, now, COT_END_OPEN);
 */
#ifndef COTRACK_FLOW_H
#define COTRACK_FLOW_H

#include "cotrack/common.h"
#include "cotrack/pkt.h"
#include "cotrack/rec.h"

struct cot_flowtab;

enum cot_flow_event {
	COT_FLOW_OPENED = 1, /* first packet of a new connection */
	COT_FLOW_ENDED,	     /* record is final; slot is then free */
};

/*
 * Event callback.  @r is the table's own record, valid only during the
 * call (copy it to keep it); seq is left 0 (the record stream numbers
 * records).  @slot indexes the caller's per-flow array (see
 * cot_flowtab_params.max_flows).  The callback may call
 * cot_flowtab_find() and cot_flowtab_stats(), not the functions that
 * change the table.
 */
typedef void (*cot_flow_cb)(void *ctx, enum cot_flow_event ev,
			    const struct cot_rec *r, uint32_t slot);

struct cot_flow_params {
	uint32_t max_flows;	    /* table capacity (>= 1) */
	uint32_t max_frags;	    /* fragment-id -> flow map entries */
	uint64_t tcp_idle_ns;	    /* idle timeout, established TCP */
	uint64_t tcp_trans_idle_ns; /* idle timeout, handshake / closing TCP */
	uint64_t tcp_close_linger_ns; /* after FIN both ways or RST: late
				       * ACKs and retransmissions still
				       * count; then end fin / rst */
	uint64_t udp_idle_ns;
	uint64_t other_idle_ns; /* ICMP and other protocols */
	uint64_t active_ns;	/* 0: none; else report long flows every
				 * active_ns (end active) and carry on */
	uint64_t hash_seed;	/* keys the hash; use a random value so a
				 * guest cannot aim flows at one bucket */
	cot_flow_cb cb;		/* may be NULL */
	void *cb_ctx;
	const char *vm; /* copied into every record; may be NULL */
};

/*
 * Defaults: 65536 flows, 1024 fragment ids, TCP idle 300 s, handshake or
 * half-closed 30 s, close linger 2 s, UDP 60 s, other 30 s, no active
 * timeout, a fixed hash seed.
 */
void cot_flow_params_default(struct cot_flow_params *p);

struct cot_flow_stats {
	uint64_t pkts;	  /* frames given to update() */
	uint64_t tracked; /* attributed to a flow */
	uint64_t not_ip;
	uint64_t dropped[COT_PKT__COUNT]; /* by parse reason */
	uint64_t frag_orphan; /* non-first fragment with no known flow */
	uint64_t tunneled;    /* frames decapsulated (cot_pkt.ntun > 0) */
	uint64_t inner_dropped[COT_PKT__COUNT]; /* by cot_pkt.inner_reason */
	uint64_t opened, ended;
	uint64_t ended_by[COT_END__COUNT];
	uint64_t evicted;    /* table full: longest-idle flow ended */
	uint32_t active;     /* flows in the table now */
	uint32_t active_max; /* high-water mark */
};

/* Bytes of memory for a table with @p; 0 if @p is invalid. */
size_t cot_flowtab_memsize(const struct cot_flow_params *p);

/*
 * Lay out a table in @mem (@len >= cot_flowtab_memsize(p), 8-byte
 * aligned).  The table keeps no pointer to @p.  Returns 0, -COT_EINVAL
 * or -COT_ENOSPC.
 */
int cot_flowtab_init(struct cot_flowtab **out, void *mem, size_t len,
		     const struct cot_flow_params *p);

/*
 * Account one parsed frame @pkt (any reason) seen at @now_ns
 * (monotonic within a table).  @pkt->reason != OK only bumps counters.
 * Returns the flow slot (>= 0), or -COT_ENOENT when the frame was not
 * attributed to a flow (not IP, dropped, orphan fragment).
 *
 * A tunneled frame (@pkt->ntun > 0) updates one flow per packet in it:
 * each outer packet's, then the innermost one's, whose slot is returned.
 * The tunnel a packet came in is part of its flow's key (type, id and
 * outer addresses: the same 5-tuple in two VNIs is two connections),
 * and a flow opened inside another counts as one of its inner
 * connections (cot_rec.inner_conns).  Only the innermost counts in
 * stats.tracked.
 */
int cot_flowtab_update(struct cot_flowtab *t, const struct cot_pkt *pkt,
		       uint64_t now_ns);

/* Frames cot_flowtab_update_batch() looks up together. */
#define COT_FLOW_BATCH 64

/*
 * Account @n parsed frames in order: the same as
 *	for (i = 0; i < n; i++)
 *		slots[i] = cot_flowtab_update(t, &pkts[i], now_ns[i]);
 * (the same slots, counters and events in the same order), but a few
 * frames ahead of the one being updated, keys are hashed and their
 * buckets and flows prefetched, so that the cache misses of several
 * lookups overlap (up to COT_FLOW_BATCH frames at a time; any @n).
 * @slots may be NULL.  Returns the number of frames attributed to a
 * flow.  Not thread-safe (as update).  A caller that expires between
 * frames calls it with the frames before the expiry, then expires.
 */
uint32_t cot_flowtab_update_batch(struct cot_flowtab *t,
				  const struct cot_pkt *pkts,
				  const uint64_t *now_ns, uint32_t n,
				  int32_t *slots);

/*
 * Optional: start loading the bucket @pkt will hit, so that a caller
 * parsing frame i+1 before updating frame i hides the cache miss.
 * Changes nothing.
 */
void cot_flowtab_prefetch(const struct cot_flowtab *t,
			  const struct cot_pkt *pkt);

/*
 * End flows idle or active past their timeouts at @now_ns, examining at
 * most @budget slots (0: all) so a caller on a hot path can spread the
 * work.  Returns the number of flows ended.
 */
uint32_t cot_flowtab_expire(struct cot_flowtab *t, uint64_t now_ns,
			    uint32_t budget);

/* End every flow with @end (e.g. COT_END_OPEN at end of input). */
uint32_t cot_flowtab_flush(struct cot_flowtab *t, uint64_t now_ns,
			   enum cot_end end);

/* Copy the counters. */
void cot_flowtab_stats(const struct cot_flowtab *t, struct cot_flow_stats *s);

/*
 * Look up a flow that came in no tunnel by endpoints, either direction.  Fills
 * @r (when not NULL) with its current, non-final record.  Returns the slot or
 * -COT_ENOENT.
 */
int cot_flowtab_find(const struct cot_flowtab *t, uint8_t ipproto,
		     const struct cot_addr *a, uint16_t aport,
		     const struct cot_addr *b, uint16_t bport,
		     struct cot_rec *r);

#endif
