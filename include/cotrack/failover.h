/* SPDX-License-Identifier: MIT */
/*
 * cotrack/failover: which log server a shipper tries next, and when
 * (core/failover.c, freestanding).  Shared by the hosted shipper
 * (host/ship.c) and the one inside BitVisor (tee/bitvisor/ship.c), so
 * both follow one rule for a list of up to COT_FO_MAX servers:
 *
 * - stay on the server in use while it works (no failing back);
 * - when it fails (an attempt refused or timed out, no WELCOME, closed,
 *   no acknowledgement for the ACK timeout), move to the next server of
 *   the list at once;
 * - only after a whole round of the list failed in a row, wait out the
 *   backoff: a random delay between half and all of the current backoff,
 *   which then doubles, up to the maximum;
 * - acknowledgements flowing (cot_failover_healthy) set the backoff back
 *   to its minimum.  A connection that was welcomed but then closed
 *   before any acknowledgement keeps the backoff where it was, so a
 *   server that accepts and drops at once is not hammered.
 *
 * The object moves no bytes and reads no clock: the caller connects,
 * keeps time and waits the delays it is given.  Plain C types only (the
 * BitVisor side sees BitVisor's headers, not cotrack's).  The fields are
 * the caller's to read (cur, switches); change them only through these
 * calls.  Not thread-safe: the caller serialises every call.
 */
#ifndef COTRACK_FAILOVER_H
#define COTRACK_FAILOVER_H

#define COT_FO_MAX 8 /* servers in a list */

struct cot_failover {
	unsigned int n;	    /* servers in the list, 1..COT_FO_MAX */
	unsigned int cur;   /* the one in use or to try next */
	unsigned int tried; /* failures in a row in this round */
	int had_conn;	    /* cur was welcomed since it was chosen */
	unsigned int backoff_ms, min_ms, max_ms;
	unsigned long long rnd;	     /* jitter state (splitmix64) */
	unsigned long long switches; /* moves to the next server */
};

/*
 * A list of @n servers (1..COT_FO_MAX), starting with server 0; the
 * backoff starts at @min_ms (>= 1) and doubles up to @max_ms (raised to
 * @min_ms when lower).  @seed seeds the jitter (any value; give each
 * tracker its own, e.g. from a random source, so trackers that fail
 * together do not retry together).  Returns 0 or -COT_EINVAL.
 */
int cot_failover_init(struct cot_failover *f, unsigned int n,
		      unsigned int min_ms, unsigned int max_ms,
		      unsigned long long seed);

/* The server in use answered HELLO with WELCOME: the round is over. */
void cot_failover_up(struct cot_failover *f);

/* An acknowledgement arrived: the link is healthy, the backoff resets. */
void cot_failover_healthy(struct cot_failover *f);

/*
 * The server in use failed (@f->cur before the call).  Moves cur to the
 * next server (with one server: stays).  Returns the milliseconds to
 * wait before the next attempt: 0 while the round is not over, else the
 * jittered backoff.  *@was_up (may be NULL) is set to 1 when the server
 * left had been welcomed since it was chosen (worth a log line), else 0.
 */
unsigned int cot_failover_down(struct cot_failover *f, int *was_up);

#endif
