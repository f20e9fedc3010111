/* SPDX-License-Identifier: MIT */
/*
 * core/sched: the TSC-gated trigger of TDX-Tracker.  An SVSM has no
 * timer, so the tracker reads the time stamp counter on every guest
 * event and runs the scan when the interval has passed.  The caller
 * passes "now" in any monotonic unit (TSC ticks in cotrackd).
 * Freestanding; not thread-safe (one per VM).
 */
#ifndef COTRACK_SCHED_H
#define COTRACK_SCHED_H

#include "cotrack/common.h"

struct cot_sched {
	uint64_t interval; /* ticks between runs; 0: never due */
	uint64_t next;	   /* first tick at which the next run is due */
	uint64_t runs;	   /* times cot_sched_due() said yes */
	uint64_t checks;   /* times it was asked */
};

/* Due at once, then every @interval ticks. */
void cot_sched_init(struct cot_sched *s, uint64_t interval, uint64_t now);

/*
 * Called on every guest event.  Returns true (and schedules the next
 * run @interval after @now) when a run is due.  A clock that steps back
 * never makes a run due early.
 */
static inline bool cot_sched_due(struct cot_sched *s, uint64_t now)
{
	s->checks++;
	if (!s->interval || now < s->next)
		return false;
	s->next = now + s->interval;
	s->runs++;
	return true;
}

/* Ticks until the next run is due (0: due now; UINT64_MAX: never). */
uint64_t cot_sched_remaining(const struct cot_sched *s, uint64_t now);

#endif
