/* SPDX-License-Identifier: MIT */
/*
 * A VM's NIC as a vhost-user-net backend, on DPDK's librte_vhost (see
 * docs/vhost-user.md).  cotrackd listens on the VM's socket; QEMU (or
 * any vhost-user frontend) connects, hands over its memory table and
 * virtqueues, and frames move through the shared rings: dequeued from
 * the guest's transmit queue when it kicks, enqueued on its receive
 * queue from the port's fair transmit queue.
 *
 * Threads: librte_vhost runs the protocol on a socket thread of its
 * own and calls us back there (new_device, destroy_device,
 * vring_state_changed, and after each message, for SET_MEM_TABLE).  The
 * callbacks touch only the fields under vhost's mutex and wake the loop through
 * an eventfd; the loop takes the change with vhost_take_change().
 * destroy_device waits until the loop has let go of the device (librte_vhost
 * frees the rings when it returns).  Every other function is the loop thread's.
 */
#ifndef COTRACKD_VHOST_H
#define COTRACKD_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "host/mem.h"

struct vhost;
struct iovec;
struct txgso;

/*
 * Start DPDK's EAL (no hugepages, no PCI, no shared files, no
 * telemetry, one lcore: the calling thread keeps its CPU affinity) and
 * the mbuf pool.  Once per process, before vhost_open().  0 or -1
 * (logged).
 */
int vhost_global_init(void);

/* After every vhost_close(): the EAL's end. */
void vhost_global_fini(void);

/*
 * Listen on @path (a stale socket there is replaced) as the backend of
 * VM port @name; @offloads: offer checksum offload and TSO4/TSO6 to the
 * guest's transmit side (docs/vhost-user.md).  NULL on failure (logged).
 */
struct vhost *vhost_open(const char *name, const char *path, bool offloads);

/*
 * The loop has ended: callbacks stop waiting for it.  Then unregister
 * and free.  vhost_close(NULL) is a no-op.
 */
void vhost_close(struct vhost *vh);

/* The eventfd the socket thread signals a change on. */
int vhost_efd(const struct vhost *vh);

enum vhost_change {
	VHOST_NONE,
	VHOST_UP,      /* the device runs: frames may flow */
	VHOST_DOWN,    /* it stopped: the loop has let go of it */
	VHOST_REFRESH, /* a queue changed: kick descriptors may differ */
	VHOST_MEMTAB,  /* a new memory table while running (in @t) */
};

/*
 * Take the next change the socket thread posted.  VHOST_UP fills @t
 * with the memory table (*@n regions; duplicated descriptors the caller
 * now owns).  On VHOST_DOWN the device is released before this returns
 * (its destroy_device may then return): stop using its descriptors.
 * VHOST_MEMTAB fills @t as VHOST_UP does (SET_MEM_TABLE while the device
 * runs).
 */
enum vhost_change vhost_take_change(struct vhost *vh,
				    struct cot_hostmem_fdregion *t,
				    uint32_t *n);

/*
 * The guest's transmit kick (frames from the guest wait) and receive
 * kick (it gave receive buffers); -1 while the device is down.  The
 * descriptors are librte_vhost's: poll them, never close them.
 */
int vhost_tx_kickfd(const struct vhost *vh);
int vhost_rx_kickfd(const struct vhost *vh);

/* Clear a kick (read its eventfd). */
void vhost_clear_kick(int fd);

/*
 * The next frame from the guest: 1 with *@f / *@len (valid until the
 * next call; chained buffers are copied into @lin, MAX_FRAME bytes),
 * 0 when none is waiting (notifications are re-armed then), -1 for a
 * frame dropped (longer than @max: counted by the caller).  Dequeues
 * from the guest's ring in bursts.
 */
int vhost_recv(struct vhost *vh, const uint8_t **f, uint32_t *len, uint8_t *lin,
	       uint32_t max);

/*
 * What hostile or broken frontends did to this port (docs/vhost-user.md,
 * "Hostile frontends"): connections and disconnects; requests
 * librte_vhost refused (it answered with an error or closed the
 * connection); memory tables we refused (a region past its file's end);
 * second devices refused; empty dequeues while the guest's transmit
 * queue held entries (librte_vhost stopped at a bad descriptor).
 */
struct vhost_stats {
	uint64_t connections, disconnects, rejected, bad_tables, refused;
	uint64_t stalls;
};

void vhost_get_stats(struct vhost *vh, struct vhost_stats *st);

/*
 * What the guest asked of the frame vhost_recv() handed out last (the
 * virtio-net header, as librte_vhost's legacy offload flags give it):
 * *@mss, the segment size of a TCP super-frame (0: not one); *@csum, its
 * TCP or UDP checksum is partial.  Both 0 without offloads=on.
 */
void vhost_offload(const struct vhost *vh, uint32_t *mss, bool *csum);

/* Frames dequeued but not handed out yet, or the transmit queue not seen
 * empty since it last took frames (no kick would come for what it holds). */
bool vhost_pending(const struct vhost *vh);

/*
 * Put the @k frames of @iov (each one frame) on the guest's receive
 * queue, in order.  Returns how many the guest took (the rest: no
 * receive buffers now; notifications are re-armed so the guest's
 * refill kicks us).  A frame for which no buffer could be allocated
 * counts as taken and in *@dropped.
 */
uint32_t vhost_send(struct vhost *vh, const struct iovec *iov,
		    const struct txgso *gso, uint32_t k, uint64_t *dropped);

/*
 * The guest negotiated taking TCP super-frames (GUEST_CSUM and
 * GUEST_TSO6 when @v6, else GUEST_TSO4): vhost_send() may pass them on
 * with a virtio-net header (its @gso entry's mss not 0).
 */
bool vhost_takes_tso(const struct vhost *vh, bool v6);

#endif
