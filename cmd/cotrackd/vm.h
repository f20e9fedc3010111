/* SPDX-License-Identifier: MIT */
/*
 * Tracking for one VM: its tracker (core/merge: the NIC table and the
 * merge of both views, in memory of its own), its memory view (a
 * scanner thread, when the VM has guest memory to read) and the TSC gate
 * that decides when that view scans.  Records go down to the output
 * (out.h); nothing here calls back into the loop.
 *
 * Not thread-safe: the loop thread calls everything here (the scanner
 * runs on its own thread behind scanner.h).
 */
#ifndef COTRACKD_VM_H
#define COTRACKD_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cotrack/dns.h"
#include "cotrack/merge.h"
#include "cotrack/sched.h"
#include "out.h"
#include "port.h"
#include "scanner.h"

/*
 * The default budget of one scan step (one per --interval): an honest
 * guest needs about 8 bytes per ehash bucket and 100 per socket (a
 * guest with 10,000 sockets about 1.25 MB: docs/vmi.md), so 2 MiB covers
 * some 16,000 sockets in one step; a bigger or forged one continues at
 * the next interval.  Measured in tests/e2e/track_forged.t (release
 * build): 537 steps of 4 MiB over forged tables read 2.04 GB in 320 ms
 * of the scanner's CPU, 0.6 ms a step; so 2 MiB at the default 10 ms
 * interval bounds a forged guest's scanner to about 3% of a core.
 */
#define VM_STEP_BYTES (2ull << 20)
#define VM_STEP_WALKS 16384ull

/*
 * Owners passes: at most this percentage of one core (a pass costs
 * about 11 times the socket walk: docs/tracking.md, "Socket owners").
 */
#define VM_OWNERS_PCT 20

/*
 * Fast scans (docs/tracking.md, "When the memory view looks"): a TCP
 * SYN at the VM's NIC starts a window of VM_BUSY_NS in which it scans
 * every VM_FAST_NS (--scan-fast) instead of every --interval, while its
 * scans take at most VM_SCAN_PCT percent of a core (--scan-cpu).  A
 * request's connections are short (at the test service's backend, its
 * socket holds a file for 1-3 ms of a 12 ms connection) and come in
 * the 100 ms after the request's own SYN.
 */
#define VM_BUSY_NS  100000000ULL
#define VM_FAST_NS  1000000ULL
#define VM_SCAN_PCT 10

/* Socket events fed to the merge per VM per loop turn. */
#define VM_DRAIN_PER_TURN 4096

struct vm_params {
	const char *mem, *map; /* guest memory (NULL: NIC view only) */
	bool memtab;	       /* no file: the vhost-user memory table */
	uint64_t interval_ns;  /* memory scan interval */
	uint64_t fast_ns;      /* ... in a busy window (0: none) */
	uint32_t scan_pct;     /* fast scans' CPU share, percent */
	uint64_t grace_ns;     /* hidden-nic grace */
	uint32_t max_flows;
	uint32_t vmi_cap;		 /* most sockets per snapshot */
	uint64_t step_bytes, step_walks; /* budget of one scan step */
	bool owners;			 /* owners passes (scanner.h) */
	uint32_t owners_pct;		 /* their CPU share, percent */
	uint64_t owners_gap_ns;		 /* their least gap */
	uint64_t seed;			 /* keys the VM's hashes */
	double tsc_per_ns;
};

struct vm {
	char name[COT_VM_NAMELEN];
	char mem[256], map[256]; /* from --vm */
	uint8_t mac[6];
	bool has_mac;
	int port; /* index of its port */
	struct out *out;
	struct cot_merge *m;
	void *mmem;
	struct cot_dns *dns; /* names learned from its DNS answers */
	void *dmem;
	bool vmi_on; /* guest memory was given */
	bool vmi_up; /* the scanner found the kernel */
	struct scanner *sc;
	struct cot_sched sched;
	uint64_t interval_tsc;
	uint64_t fast_tsc, busy_tsc; /* 0: no fast scans */
	uint64_t busy_until;	     /* TSC: end of the busy window */
	bool syn_seen;		     /* a TCP SYN since the last event */
	double tsc_per_ns;
	struct scan_ev *evbuf; /* VM_DRAIN_PER_TURN events */
	bool in_scan;	       /* between SEV_BEGIN and SEV_END */
	uint64_t hidden_warned;
};

/* Allocate the tracker (and start the scanner).  0 or -1 (logged). */
int vm_init(struct vm *v, const struct vm_params *p, struct out *out);

/*
 * Account one frame of the VM (to or from the guest): @pkt is @f (@len
 * bytes) parsed; the bytes are for the DNS names (core/dns).
 */
void vm_frame(struct vm *v, const struct cot_pkt *pkt, const uint8_t *f,
	      uint32_t len, uint64_t now_ns, bool from_guest);

/* A frame from the guest: a guest event, so the TSC gate is asked. */
void vm_guest_event(struct vm *v, uint64_t tsc, bool paused);

/*
 * The VM's vhost-user memory table (before vm_nic(v, true)): the @n
 * descriptors of @t are taken (given to the scanner, or closed).
 */
void vm_memtab(struct vm *v, const struct cot_hostmem_fdregion *t, uint32_t n);

/* The VM's NIC connected or went away. */
void vm_nic(struct vm *v, bool up);

/*
 * Once per loop turn: feed the scanner's events to the merge, expire
 * flows, and (@timer) kick a scan that is due on a silent guest.
 */
void vm_tick(struct vm *v, uint64_t now_ns, uint64_t tsc, bool timer,
	     bool paused);

/* The scanner's eventfd (events waiting), or -1. */
int vm_fd(const struct vm *v);

/* Nanoseconds until vm_tick() has timed work, UINT64_MAX for none. */
uint64_t vm_next_due_ns(const struct vm *v, uint64_t tsc, bool timer);

/* Tracker shutdown: a last scan, then every open connection ends. */
void vm_finish(struct vm *v, uint64_t now_ns);

void vm_summary(const struct vm *v, const struct port *p, FILE *f);

void vm_free(struct vm *v);

#endif
