/* SPDX-License-Identifier: MIT */
/*
 * cotrackd: the tracker daemon.  One loop thread serves each VM's NIC
 * (port.h), switches frames between the VMs and tap uplinks (switch.h)
 * and tracks every frame of a VM in that VM's tracker (vm.h: core/merge,
 * plus a scanner thread for its memory view); records go to the output
 * (out.h).  Calls run one way: main -> loop -> port, switch, vm -> out.
 */
#ifndef COTRACKD_H
#define COTRACKD_H

#include <stdbool.h>
#include <stdint.h>

#include "out.h"
#include "port.h"
#include "switch.h"
#include "vm.h"

/* What core/pkt decapsulates (loop.c; set from the options). */
extern const struct cot_pkt_cfg *cot_loop_pkt_cfg;

struct daemon {
	struct port ports[MAX_PORTS];
	int nports;
	int port_vm[MAX_PORTS]; /* port -> index in vms[], or -1 */
	struct vm vms[MAX_VMS];
	int nvms;
	struct sw sw;
	struct out out;
	bool track;	 /* false: forward only (benchmark baseline) */
	bool vmi_timer;	 /* fallback timer for silent guests */
	bool vmi_paused; /* SIGUSR1 toggles memory scanning */
	double tsc_per_ns;
	bool eal; /* DPDK's EAL is up (a vhost-user port) */
};

/* Install the signal handlers; signals arrive only inside ppoll(). */
void loop_signals(void);

/* Run until SIGTERM or SIGINT. */
void loop_run(struct daemon *d);

#endif
