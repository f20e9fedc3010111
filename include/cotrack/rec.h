/* SPDX-License-Identifier: MIT */
/*
 * The connection record (docs/design.md, "The record contract") and its
 * versioned little-endian binary encoding.  Freestanding.
 */
#ifndef COTRACK_REC_H
#define COTRACK_REC_H

#include "cotrack/common.h"

enum cot_proto {
	COT_PROTO_OTHER = 0,
	COT_PROTO_TCP,
	COT_PROTO_UDP,
	COT_PROTO_ICMP,
	COT_PROTO_ICMP6,
	COT_PROTO__COUNT,
};

/* How a connection ended; COT_END_OPEN means "still open at flush". */
enum cot_end {
	COT_END_OPEN = 0,
	COT_END_FIN,
	COT_END_RST,
	COT_END_IDLE,
	COT_END_ACTIVE,
	COT_END_GONE,
	COT_END_SHUTDOWN,
	COT_END__COUNT,
};

/* Which view saw the connection. */
enum cot_seen {
	COT_SEEN_NIC = 1,
	COT_SEEN_VMI = 2,
	COT_SEEN_BOTH = 3,
};

/*
 * TCP state as the tracker sees it from the wire (or, for vmi-only
 * records, mapped from the guest socket state).
 */
enum cot_tcp_state {
	COT_TCP_NONE = 0, /* not TCP */
	COT_TCP_SYN_SENT, /* SYN seen, no SYN-ACK */
	COT_TCP_SYN_RECV, /* SYN-ACK seen */
	COT_TCP_ESTABLISHED,
	COT_TCP_FIN_WAIT,  /* FIN seen in one direction */
	COT_TCP_CLOSING,   /* FIN seen both ways, last ACK pending */
	COT_TCP_CLOSED,	   /* FIN both ways and acked, or RST */
	COT_TCP_MIDSTREAM, /* first packet was not a SYN */
	COT_TCP__COUNT,
};

/* Record flags. */
#define COT_RF_HIDDEN_NIC 0x01 /* on the NIC, no guest socket after grace */
#define COT_RF_HIDDEN_VMI 0x02 /* off-box guest socket never on the NIC */

#define COT_VM_NAMELEN 32

/* Workload names (record version 2; docs/design.md, "The record contract"). */
#define COT_REC_HAS_NAMES 1
#define COT_COMM_LEN	  16  /* task comm, NUL included (TASK_COMM_LEN) */
#define COT_CGROUP_LEN	  256 /* cgroup v2 path, NUL included */
#define COT_DNSNAME_LEN	  254 /* dotted DNS name, NUL included */

struct cot_rec_owner {
	uint32_t pid;		     /* tgid in the guest; 0: no owner known */
	char comm[COT_COMM_LEN];     /* NUL-terminated; "" when pid is 0 */
	char cgroup[COT_CGROUP_LEN]; /* NUL-terminated; "" when unknown */
};

struct cot_rec {
	uint64_t seq;		  /* per tracker, from 1, no gaps */
	char vm[COT_VM_NAMELEN];  /* NUL-terminated */
	uint8_t proto;		  /* enum cot_proto */
	uint8_t ipproto;	  /* raw IP protocol number */
	uint8_t tcp_state;	  /* enum cot_tcp_state */
	uint8_t end;		  /* enum cot_end */
	uint8_t seen_by;	  /* enum cot_seen */
	uint8_t flags;		  /* COT_RF_* */
	uint16_t sport, dport;	  /* host order; ICMP: type/code in sport */
	struct cot_addr src, dst; /* src is the initiator */
	uint64_t first_ns, last_ns;
	uint64_t pkts_fwd, bytes_fwd; /* initiator -> responder */
	uint64_t pkts_rev, bytes_rev;
	uint32_t netns; /* guest netns inode, 0 when unknown */
	uint8_t tcp_flags_fwd, tcp_flags_rev;	   /* OR of flags seen */
	struct cot_rec_owner src_owner, dst_owner; /* ends inside the VM */
	char src_name[COT_DNSNAME_LEN], dst_name[COT_DNSNAME_LEN]; /* "" none */
};

/* Names used by every output format. */
const char *cot_proto_name(unsigned int proto);
const char *cot_end_name(unsigned int end);
const char *cot_seen_name(unsigned int seen);
const char *cot_tcp_state_name(unsigned int st);

/*
 * Binary encoding, version 1, all integers little-endian:
 *
 *   off len field
 *     0   2 magic 'C','R'
 *     2   1 version (1)
 *     3   1 length of the whole encoding (COT_REC_WIRE_LEN)
 *     4   8 seq
 *    12  32 vm (NUL padded)
 *    44   1 proto  45 1 ipproto  46 1 tcp_state  47 1 end
 *    48   1 seen_by 49 1 flags   50 1 tcp_flags_fwd 51 1 tcp_flags_rev
 *    52   2 sport  54 2 dport
 *    56  16 src    72 16 dst
 *    88   8 first_ns 96 8 last_ns
 *   104   8 pkts_fwd 112 8 bytes_fwd 120 8 pkts_rev 128 8 bytes_rev
 *   136   4 netns
 *   140
 */
#define COT_REC_VERSION	 1
#define COT_REC_WIRE_LEN 140

/* Encode @r into @out.  Always succeeds; returns COT_REC_WIRE_LEN. */
int cot_rec_encode(uint8_t out[static COT_REC_WIRE_LEN],
		   const struct cot_rec *r);

/*
 * Decode @len bytes of @in into @r.  Checks magic, version, length and
 * every enum range, and forces vm[] to be NUL-terminated.
 * Returns bytes consumed, -COT_EBADMSG on malformed input, or
 * -COT_ENOTSUP for an unknown version.
 */
int cot_rec_decode(struct cot_rec *r, const uint8_t *in, size_t len);

#endif
