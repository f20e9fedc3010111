/* SPDX-License-Identifier: MIT */
/*
 * cotrackd's ports: a VM's NIC (QEMU's -netdev stream: each frame is a
 * 4-byte big-endian length, then the frame) or a tap uplink.  A port
 * reads frames for the loop and writes the frames the switch gives it
 * through a transmit queue that is fair between the ports the frames
 * came from: each input port has its own bounded share, and the queue
 * is drained round-robin over the inputs, so one port flooding another
 * fills only its own share and delays the others' frames by at most one
 * frame per turn of the round.
 *
 * A port calls nothing above it: the loop reads frames out of it
 * (port_next_frame) and hands them to the switch and the trackers.
 * Not thread-safe: the loop thread owns every port.
 */
#ifndef COTRACKD_PORT_H
#define COTRACKD_PORT_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_VMS	    16
#define MAX_UPLINKS 4
#define MAX_PORTS   (MAX_VMS + MAX_UPLINKS)
/* QEMU's stream netdev frames are at most NET_BUFSIZE (4096 + 65536). */
#define MAX_FRAME (4096 + 65536)
#define RBUF_SIZE (256 * 1024)
/* Frames switched from one port per loop turn: fairness between inputs. */
#define FRAMES_PER_TURN 256
/* Each input's share of an output queue: a slow peer drops, never blocks. */
#define TXQ_SHARE_FRAMES 256
#define TXQ_SHARE_BYTES	 (1u << 20)

/*
 * A TCP super-frame passed on whole to a vhost-user guest that takes it
 * (GUEST_TSO4/6): what its virtio-net header must say.  mss 0: a wire
 * frame.
 */
struct txgso {
	uint16_t mss;
	uint16_t l2, l3, l4; /* header lengths: Ethernet+VLAN, IP, TCP */
	bool v6;
};

struct qframe {
	uint8_t *data; /* 4-byte length header, then the frame */
	uint32_t len;  /* frame length (without header) */
	struct txgso gso;
};

/* One input port's frames waiting at one output port. */
struct txshare {
	struct qframe ring[TXQ_SHARE_FRAMES];
	uint32_t head, count;
	uint32_t bytes;
};

struct txq {
	struct txshare share[MAX_PORTS];
	uint32_t count; /* frames over all shares */
	uint32_t next;	/* the share the round-robin serves next */
	int partial;	/* share whose head frame is partly written, or -1 */
	uint32_t off;	/* bytes of that frame already written */
};

/*
 * PORT_VM: QEMU's stream socket; PORT_VHOST: a vhost-user backend
 * (vhost.h; fd is then the guest's transmit kick, librte_vhost's);
 * PORT_TAP: an uplink.
 */
enum port_kind { PORT_VM, PORT_TAP, PORT_VHOST };

struct vhost;

struct port_stats {
	uint64_t rx, rx_bytes, tx, tx_bytes;
	uint64_t drop_qfull;	/* an input's share of our queue was full */
	uint64_t drop_peer;	/* our frames dropped: our share of another
				 * port's queue was full */
	uint64_t drop_bad;	/* runts, bad length headers */
	uint64_t drop_spoof;	/* another VM's address as source */
	uint64_t drop_storm;	/* broadcast/multicast/unknown over the rate */
	uint64_t drop_maclimit; /* source address over the per-port cap */
	uint64_t connects, disconnects, refused;
};

struct port {
	int idx;
	enum port_kind kind;
	char name[64];
	int lfd; /* listening unix socket (VM ports), or -1 */
	int fd;	 /* connected QEMU, or the tap; -1 when none */
	char path[108];
	uint8_t *rbuf;
	uint32_t rlen; /* bytes in rbuf */
	uint32_t roff; /* bytes of rbuf already switched */
	uint32_t turn; /* frames taken this loop turn */
	struct txq *q;
	struct vhost *vh; /* PORT_VHOST */
	bool offloads;	  /* PORT_VHOST: offloads=on (before port_vhost) */
	struct port_stats st;
};

/* Set up @p as port @idx (no socket yet).  Returns 0 or -1 (logged). */
int port_init(struct port *p, int idx, enum port_kind kind, const char *name);
void port_free(struct port *p);

/* Listen on the unix socket @path for a VM's QEMU.  0 or -1 (logged). */
int port_listen(struct port *p, const char *path);

/*
 * Serve a VM as a vhost-user backend on @path (vhost_global_init()
 * first).  The port is down until vhost_take_change() says VHOST_UP
 * and the caller calls port_vhost_up().  0 or -1 (logged).
 */
int port_vhost(struct port *p, const char *path);

/* The vhost-user device runs: its transmit kick is now the port's fd. */
void port_vhost_up(struct port *p, int txkick);

/* Open tap @ifname, created inside network namespace @netns (may be NULL). */
int port_tap(struct port *p, const char *ifname, const char *netns);

/*
 * A connection is waiting on the listener: take it (returns 1), or
 * refuse it when the port is connected already (0, counted).
 */
int port_accept(struct port *p);

/* Drop the connection (nothing queued survives).  Tap ports stay. */
void port_close_conn(struct port *p, const char *why);

/*
 * Read once from the peer into the read buffer, unless frames from the
 * last read are still waiting to be switched.  Returns 0, or -1 when the
 * connection is gone (the caller closes it).
 */
int port_read(struct port *p);

/*
 * The next complete frame read from the peer: 1 with *@f / *@len set
 * (valid until the next port call), 0 when none is complete or this
 * turn's FRAMES_PER_TURN are taken, -1 when the stream broke its framing
 * (a length of 0 or above MAX_FRAME: not QEMU's; counted, the caller
 * closes the connection).
 */
int port_next_frame(struct port *p, const uint8_t **f, uint32_t *len);

/* True when read frames are waiting (the loop must not sleep). */
bool port_pending(const struct port *p);

/* Start a new loop turn (resets the per-turn frame count). */
void port_new_turn(struct port *p);

/*
 * Queue a copy of frame @f from input port @from for transmission.
 * Returns true when queued; false when @from's share is full (counted
 * in drop_qfull) or the port is down.
 */
bool port_enqueue(struct port *p, int from, const uint8_t *f, uint32_t len);

/* The same for a super-frame @f with its header @g (PORT_VHOST only). */
bool port_enqueue_gso(struct port *p, int from, const uint8_t *f, uint32_t len,
		      const struct txgso *g);

/*
 * @frames frames of @bytes in all from input port @from would fit in
 * its share of our queue now (a super-frame's segments go all or none).
 */
bool port_room(const struct port *p, int from, uint32_t frames, uint64_t bytes);

/* Frames waiting to be written. */
static inline bool port_has_output(const struct port *p)
{
	return p->q->count != 0;
}

/*
 * Write what the peer takes now, round-robin over the inputs' shares.
 * Returns 0, or -1 when the connection failed (the caller closes it).
 */
int port_flush(struct port *p);

#endif
