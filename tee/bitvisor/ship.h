/* SPDX-License-Identifier: MIT */
/*
 * tee/bitvisor/ship: records from inside BitVisor to cotrack-logd, over
 * BitVisor's own lwIP and mbedTLS (TLS 1.2, mutual authentication).
 *
 * The module (cotrack.c) gives the shipper both NICs at init: BitVisor's
 * "ippassfilter" netfunc (ip/net_main.c) is put between the physical NIC
 * and the module, so TCP for BitVisor's own IP address (defconfig .ip)
 * goes to lwIP only, ARP and other IPv4 to both, and everything else to
 * the module's guest-bound path, which tracks it and sends it to the
 * guest.  Frames
 * from the guest do not pass through the shipper.  lwIP's own frames go
 * straight to the physical NIC and are not tracked.
 *
 * Records (struct cot_rec, wall-clock times) go into a bounded queue in
 * BitVisor's memory (core/shipq: seq, hash chain, LOST on overflow); a
 * timer in lwIP's thread connects to logd, moves along the list of log
 * servers and backs off by rounds (core/failover), and writes batches as
 * TCP's send buffer allows.  The servers (up to 8 IPv4 IP:PORT), the ACK
 * timeout, the CA, the tracker's certificate and key are compiled in
 * (ship_conf.h, made by tee/bitvisor/build.sh from COT_BV_LOGD,
 * COT_BV_ACK_TIMEOUT_MS and COT_BV_PKI; see docs/bitvisor.md).
 */
#ifndef COTRACK_TEE_BITVISOR_SHIP_H
#define COTRACK_TEE_BITVISOR_SHIP_H

#include <net/netapi.h>

struct cot_ship;

/* NULL when shipping is not configured in this build (a line says so). */
struct cot_ship *cot_ship_new(unsigned long long seed);

/*
 * Put BitVisor's IP stack on the physical side.  Frames from the wire
 * not for BitVisor go to @to_guest(NULL, n, frames, sizes, @param, NULL)
 * (the module's tracking + send to the guest).  After this, the module
 * sets cot_ship_phys_recv (param: the shipper) as the physical NIC's
 * receive callback.  false on failure (then: no shipping).
 */
bool cot_ship_attach(struct cot_ship *s, void *phys_handle,
		     struct nicfunc *phys_func, void *virt_handle,
		     struct nicfunc *virt_func, net_recv_callback_t *to_guest,
		     void *param);
net_recv_callback_t cot_ship_phys_recv;
/* Start lwIP's thread and the shipper's timer (the module's start). */
void cot_ship_start(struct cot_ship *s);

/* Queue one record (a struct cot_rec); any context. */
void cot_ship_add(struct cot_ship *s, const void *rec);

#endif
