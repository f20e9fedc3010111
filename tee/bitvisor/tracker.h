/* SPDX-License-Identifier: MIT */
/*
 * tee/bitvisor/tracker: one VM's cotrack tracker as BitVisor's netfunc
 * module sees it.  The module (cotrack.c) is compiled with BitVisor's
 * headers, this side with cotrack's (core/merge, core/pkt); this header
 * is the only thing they share, so it uses plain C types and includes
 * nothing from either world.
 *
 * Calls go one way: the module calls the tracker; the tracker writes
 * each record as one text line through the @line callback given at
 * init (the module prints it on BitVisor's serial log).
 *
 * Not thread-safe: the module serialises every call with its lock.
 */
#ifndef COTRACK_TEE_BITVISOR_TRACKER_H
#define COTRACK_TEE_BITVISOR_TRACKER_H

struct cot_bv;

/* One record as a NUL-terminated line (no newline), valid during the call. */
typedef void (*cot_bv_line_cb)(void *ctx, const char *line);

/*
 * Each record also as a struct cot_rec (cotrack/rec.h; times already
 * wall-clock), valid during the call: the shipper's queue (ship.h).
 */
typedef void (*cot_bv_rec_cb)(void *ctx, const void *rec);
void cot_bv_set_rec(struct cot_bv *t, cot_bv_rec_cb rec, void *ctx);

/* Bytes of memory cot_bv_init() needs (fixed: the limits are below). */
unsigned long cot_bv_memsize(void);

/*
 * Lay out a tracker in @mem (@len >= cot_bv_memsize(), 8-byte aligned)
 * for the VM named @vm.  @now_ns is the module's monotonic clock at
 * init, @epoch_ns the wall-clock time then (records carry wall-clock
 * times).  @seed keys the hashes.  Returns 0 or a negative code; *@out
 * is NULL on failure.
 */
int cot_bv_init(struct cot_bv **out, void *mem, unsigned long len,
		const char *vm, unsigned long long now_ns,
		unsigned long long epoch_ns, unsigned long long seed,
		cot_bv_line_cb line, void *ctx);

/*
 * One frame of @len bytes at @now_ns, @from_guest when the guest sent
 * it.  Also ends flows past their timeouts, a bounded number of table
 * slots per call (the expiry budget), so the frames drive expiry.
 */
void cot_bv_frame(struct cot_bv *t, const void *frame, unsigned int len,
		  int from_guest, unsigned long long now_ns);

/*
 * The periodic work without a frame (the module's timer, or a guest
 * exit through cot_bv_exit): expiry with the same budget as per frame,
 * and the memory view when its gate is due.  Returns the memory view's
 * step that ran (what the tick's time went to): one of
 */
enum {
	COT_BV_STEP_NONE,     /* expiry only */
	COT_BV_STEP_SEARCH,   /* a discovery slice */
	COT_BV_STEP_BTF,      /* a chunk of the guest's BTF */
	COT_BV_STEP_PROFILE,  /* the last chunk and the profile from it */
	COT_BV_STEP_SCAN,     /* a socket scan step */
	COT_BV_STEP_SCAN_END, /* the last step, the diff and the merge */
	COT_BV_NSTEPS
};
int cot_bv_tick(struct cot_bv *t, unsigned long long now_ns);

/*
 * The TSC gate on guest exits (TDX-Tracker's way; BitVisor patch 0004
 * calls the module after every exit): cot_bv_exit_gate sets a core/sched
 * gate of @interval TSC ticks, due first at @tsc.  cot_bv_exit, on an
 * exit at TSC @tsc: when the gate is due, one cot_bv_tick at @now_ns and
 * its step; -1 when not due.  *@next: the TSC at which the gate is due
 * again (the module compares against it without the lock).
 */
void cot_bv_exit_gate(struct cot_bv *t, unsigned long long interval,
		      unsigned long long tsc);
int cot_bv_exit(struct cot_bv *t, unsigned long long tsc,
		unsigned long long now_ns, unsigned long long *next);

/*
 * The memory view, first step: find the guest's kernel from inside the
 * hypervisor.  @read copies @len bytes of guest-physical memory at @gpa
 * into @buf and returns 0, or nonzero when any byte is outside guest
 * RAM (it is core/vmi's struct cot_vmi_mem read interface).  @ranges
 * (at most 16) are the RAM ranges discovery scans.  After attach,
 * cot_bv_frame() runs discovery in slices on a TSC gate (a slice of
 * RAM per gate tick, so no frame waits for more than one slice) and
 * writes one line when the kernel is found.  Returns 0 or a negative
 * code.
 */
struct cot_bv_range {
	unsigned long long start, len;
};
typedef int (*cot_bv_read_fn)(void *ctx, unsigned long long gpa, void *buf,
			      unsigned long len);
int cot_bv_vmi_attach(struct cot_bv *t, cot_bv_read_fn read, void *ctx,
		      const struct cot_bv_range *ranges, unsigned int n,
		      unsigned long long now_ns);

/*
 * The profile of the guest's sockets comes from the guest kernel's own
 * BTF, read from its memory into a buffer the module lends: after a
 * tick or frame, the module asks; 1: allocate *@need bytes for the blob
 * and *@need_idx for its index and hand them over with
 * cot_bv_vmi_btf_give() (NULL if allocation failed: the memory view
 * then gives up); 2: the tracker is done with them, free them; 0:
 * nothing to do.
 */
int cot_bv_vmi_btf(struct cot_bv *t, unsigned long *need,
		   unsigned long *need_idx);
void cot_bv_vmi_btf_give(struct cot_bv *t, void *buf, void *idx);

/* A one-line summary of the counters, through the line callback. */
void cot_bv_stats(struct cot_bv *t);

#endif
