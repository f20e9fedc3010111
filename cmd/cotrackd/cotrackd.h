/* SPDX-License-Identifier: MIT */
/*
 * cotrackd: the tracker daemon.  One process, one thread, one poll()
 * loop: it serves each VM's NIC (QEMU -netdev stream), switches frames
 * between VMs and an optional tap uplink, tracks every frame with the
 * packet engine and reads each guest's TCP sockets from its memory on a
 * TSC-gated schedule, and writes one record per connection.
 */
#ifndef COTRACKD_H
#define COTRACKD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cotrack/flow.h"
#include "cotrack/sched.h"
#include "cotrack/vmi.h"
#include "host/ship.h"
#include "host/vmiattach.h"

#define MAX_VMS 16
#define MAX_PORTS (MAX_VMS + 1)
/* QEMU's stream netdev frames are at most NET_BUFSIZE (4096 + 65536). */
#define MAX_FRAME (4096 + 65536)
#define RBUF_SIZE (256 * 1024)
#define TXQ_FRAMES 1024		/* per port: a slow peer drops, never blocks */
#define TXQ_BYTES (8u << 20)

struct qframe {
	uint8_t *data;		/* 4-byte length header, then the frame */
	uint32_t len;		/* frame length (without header) */
};

struct txq {
	struct qframe ring[TXQ_FRAMES];
	uint32_t head, count;
	uint32_t off;		/* bytes of the head entry already written */
	uint64_t bytes;
};

enum port_kind { PORT_VM, PORT_TAP };

struct vm;

struct port {
	int idx;
	enum port_kind kind;
	char name[64];
	int lfd;		/* listening unix socket (VM ports) */
	int fd;			/* connected QEMU, or the tap */
	char path[108];
	uint8_t *rbuf;
	uint32_t rlen;
	struct txq q;
	struct vm *vm;		/* tracking state, VM ports */
	uint64_t rx, rx_bytes, tx, tx_bytes;
	uint64_t drop_qfull, drop_bad, drop_spoof, connects, disconnects;
};

/* Per-slot state beside the flow table (indexed by flow slot). */
struct slotinfo {
	uint8_t vmi_seen;
	uint8_t guest_spoke;	/* the guest sent TCP segments other than RST */
	uint32_t netns;
	uint64_t scan_at_open;	/* vm->scans when the flow opened */
};

/* A connection seen only in guest memory so far (see track.c). */
struct vconn {
	struct vconn *next;
	struct vconn *tnext;	/* touched at this scan (vm.touched list) */
	uint32_t hash, netns;
	struct cot_addr a[2];	/* canonical: (a[0], p[0]) < (a[1], p[1]) */
	uint16_t p[2];
	uint8_t sides;		/* bit i: a socket with local == end i exists */
	uint8_t init;		/* initiator end (0 or 1) */
	uint8_t state;		/* last guest state (enum cot_vmi_tcp_state) */
	uint8_t side_state[2];	/* guest state of each end's socket */
	uint8_t touched;	/* on vm.touched */
	uint8_t emitted;	/* record written; kept until its sockets go */
	uint8_t retired;	/* out of lookups, to be freed */
	uint64_t zero_since;	/* scan at which its last socket vanished */
	uint64_t first_ns, last_ns;
};

/* A TCP tuple whose NIC record was written (track.c: ended_add). */
struct ended {
	uint32_t hash;
	uint16_t p[2];
	struct cot_addr a[2];
	uint64_t when_ns;
};

#define ENDED_SLOTS 65536
#define VCONN_BUCKETS 65536
#define VCONN_MAX 1000000

struct vm_stats {
	uint64_t records, by_seen[4], hidden_nic, hidden_vmi;
	uint64_t scans, scan_ns_total, scan_ns_max, scan_errors;
	uint64_t sockets_last, vmi_events, attach_failures;
	uint64_t vconn_dropped;
	uint64_t vmi_half;	/* sockets caught half set up (port 0) */
	uint64_t vmi_late;	/* sockets of NIC flows already written */
	uint64_t ship_full;	/* records that made the spool drop one */
};

struct daemon;

struct vm {
	struct daemon *d;
	char name[COT_VM_NAMELEN];
	struct port *port;
	char mem_path[256];
	char map_path[256];
	/* packet view */
	struct cot_flowtab *tab;
	void *tabmem;
	struct slotinfo *slots;
	uint32_t max_flows;
	/* memory view */
	bool vmi_on;		/* a mem= was given */
	bool attached;
	struct cot_vmi_attach at;
	struct cot_vmi_sock *prev, *cur;
	uint32_t nprev, cap;
	struct cot_sched sched;
	uint64_t scans;		/* completed scans */
	uint64_t attached_ns;	/* when the memory view came up */
	uint64_t scan_now_ns, prev_scan_ns;
	uint64_t next_attach_ns;
	struct vconn **vbuckets;
	struct ended *ended;
	struct vconn *touched;
	uint64_t nvconn;
	struct vm_stats st;
};

struct daemon {
	struct port ports[MAX_PORTS];
	int nports;
	struct vm vms[MAX_VMS];
	int nvms;
	/* options */
	uint64_t interval_ns;	/* memory scan interval */
	uint64_t grace_ns;	/* before a one-sided connection is flagged */
	uint32_t max_flows;
	uint32_t vmi_cap;
	bool track;		/* false: forward only (benchmark baseline) */
	bool vmi_timer;		/* fallback timer for silent guests */
	bool vmi_paused;	/* SIGUSR1 toggles memory scanning */
	const char *out_path;
	FILE *out;
	struct cot_shipper *sh;	/* --log-server: records go to cotrack-logd */
	/* clocks */
	double tsc_per_ns;
	uint64_t mono_to_real_ns;
	uint64_t seq;
	uint64_t next_expire_ns;
	uint8_t hash_seed[8];
	/* MAC learning */
	struct mac_entry {
		uint8_t mac[6];
		uint8_t used;
		int16_t port;
		uint64_t seen_ns;
	} macs[1024];
};

extern volatile int cotrackd_stop, cotrackd_reopen, cotrackd_toggle;

/* clocks (main.c) */
uint64_t now_ns(void);
uint64_t now_tsc(void);

/* switch.c */
int port_listen(struct port *p, const char *path);
int port_tap(struct port *p, const char *ifname, const char *netns);
void port_close_conn(struct daemon *d, struct port *p, const char *why);
int port_read(struct daemon *d, struct port *p);
int port_flush(struct port *p);
void switch_frame(struct daemon *d, struct port *in, const uint8_t *f,
		  uint32_t len);

/* track.c */
int vm_track_init(struct daemon *d, struct vm *v);
void vm_track_pkt(struct vm *v, const struct cot_pkt *pkt, uint64_t now,
		  bool from_guest);
void vm_scan_if_due(struct daemon *d, struct vm *v, uint64_t tsc);
void vm_tick(struct daemon *d, struct vm *v, uint64_t now);
void vm_detach(struct vm *v);
void vm_track_finish(struct daemon *d, struct vm *v);
void vm_summary(const struct daemon *d, const struct vm *v, FILE *f);
uint64_t vm_next_due_ns(const struct daemon *d, const struct vm *v);

#endif
