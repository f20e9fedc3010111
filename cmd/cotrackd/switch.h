/* SPDX-License-Identifier: MIT */
/*
 * cotrackd's learning L2 switch, built so that a guest cannot take it
 * over: it only decides where a frame goes (a set of output ports) and
 * whether it is dropped, and why; the loop does the moving.
 *
 *  - MAC learning in a fixed table hashed with a random key; entries age
 *    out (--mac-age) and free their slot; when a probe window is full the
 *    oldest entry in it gives way.
 *  - A cap on the addresses one port may own (VM ports: --max-macs; the
 *    uplink: more).  A frame from a new source address past the cap is
 *    dropped and counted: a VM that forges 10,000 source addresses keeps
 *    its first few and cannot push its neighbours out of the table.
 *  - An optional fixed address per VM port (--vm ...,mac=): frames from
 *    that port with any other source are dropped, and the address is
 *    pinned to the port from the start (never aged, never replaced), so
 *    no other port can claim it even before the VM has sent a frame.
 *  - Spoofing: an address a connected VM port owns (fresh entry) stays
 *    its own: another port sending from it is dropped and counted.
 *  - Storm control: broadcast, multicast and unknown-unicast frames from
 *    one port are limited to --storm-pps frames per second (a token
 *    bucket with a burst of one second); the rest is dropped, counted.
 *
 * Not thread-safe: the loop thread owns it.
 */
#ifndef COTRACKD_SWITCH_H
#define COTRACKD_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

#include "port.h"

#define SW_MACS	 4096 /* table entries */
#define SW_PROBE 16   /* probe window per address */

struct sw_params {
	uint64_t age_ns;       /* an entry unused this long is free */
	uint32_t storm_pps;    /* 0: no storm control */
	uint32_t vm_max_macs;  /* addresses a VM port may own */
	uint32_t tap_max_macs; /* ... an uplink */
	uint64_t seed;	       /* keys the table hash */
};

struct sw_mac {
	uint8_t mac[6];
	uint8_t used;
	uint8_t pinned; /* a fixed address: never ages or moves */
	uint8_t port;
	uint64_t seen_ns;
};

struct sw_port {
	bool present, up, vm;
	bool fixed; /* only @mac may be a source */
	uint8_t mac[6];
	uint32_t macs; /* table entries it owns */
	double tokens; /* storm control bucket */
	uint64_t tokens_ns;
};

struct sw_stats {
	uint64_t learned, aged, replaced;
};

struct sw {
	struct sw_params p;
	struct sw_port port[MAX_PORTS];
	struct sw_mac mac[SW_MACS];
	uint32_t sweep; /* next entry the aging sweep looks at */
	struct sw_stats st;
};

enum sw_verdict {
	SW_FORWARD = 0,
	SW_DROP_RUNT,	  /* shorter than an Ethernet header */
	SW_DROP_SPOOF,	  /* another VM's address, or not the fixed one */
	SW_DROP_MACLIMIT, /* a new source address past the port's cap */
	SW_DROP_STORM,	  /* flooding over the storm-control rate */
};

void sw_init(struct sw *s, const struct sw_params *p);

/* Port @i exists; @vm or uplink; @mac (may be NULL) its fixed address. */
void sw_port_add(struct sw *s, int i, bool vm, const uint8_t *mac);

/* Port @i connected / disconnected (its addresses stay, and age). */
void sw_port_up(struct sw *s, int i);
void sw_port_down(struct sw *s, int i);

/*
 * Decide where frame @f (@len bytes) from port @in goes at @now_ns.
 * Returns SW_FORWARD with *@out the set of output ports (bit i: port i;
 * may be empty), or a drop reason (*@out 0).
 */
enum sw_verdict sw_decide(struct sw *s, int in, const uint8_t *f, uint32_t len,
			  uint64_t now_ns, uint32_t *out);

/* Age entries out: look at @budget entries (a bounded share per turn). */
void sw_age(struct sw *s, uint64_t now_ns, uint32_t budget);

#endif
