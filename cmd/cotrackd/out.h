/* SPDX-License-Identifier: MIT */
/*
 * Where cotrackd's records go: numbered (or handed to the log shipper,
 * which numbers and chains them), turned into wall-clock time, and
 * written as JSON lines to the output.  Writing is queued: a record only
 * goes into the stream's buffer; out_flush() writes it out once per loop
 * turn and on signals, so the frame path never waits for a disk per
 * record.  Not thread-safe: the loop thread owns it.
 */
#ifndef COTRACKD_OUT_H
#define COTRACKD_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cotrack/rec.h"
#include "host/ship.h"

#define OUT_BUFSIZE (1u << 20)

struct out {
	const char *path; /* NULL: standard output (or none, @f NULL) */
	FILE *f;
	char *buf;		/* @f's stdio buffer */
	struct cot_shipper *sh; /* --log-server, or NULL */
	uint64_t seq;		/* numbering without a shipper */
	uint64_t mono_to_real_ns;
	uint64_t ship_full; /* records that made the spool drop one */
	bool dirty;
};

/*
 * Open @path for appending (NULL: standard output when @to_stdout, else
 * no local copy).  Returns 0 or -1 (logged).
 */
int out_open(struct out *o, const char *path, bool to_stdout,
	     uint64_t mono_to_real_ns);

/* SIGHUP: reopen the file (log rotation).  0 or -1 (logged; old kept). */
int out_reopen(struct out *o);

/* One final record (@r is changed: seq, wall-clock times). */
void out_record(struct out *o, struct cot_rec *r);

/* Write what is queued (once per loop turn). */
void out_flush(struct out *o);

void out_close(struct out *o);

#endif
