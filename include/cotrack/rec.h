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
#define COT_COMM_LEN	16  /* task comm, NUL included (TASK_COMM_LEN) */
#define COT_CGROUP_LEN	256 /* cgroup v2 path, NUL included */
#define COT_DNSNAME_LEN 254 /* dotted DNS name, NUL included */

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
	/* Record version 3: the tunnel the connection came in (tun_type 0:
	 * none, the other tun_* 0), and how many connections were first
	 * seen inside this one (it is a tunnel's outer flow). */
	uint8_t tun_type;	 /* enum cot_tun_type (cotrack/pkt.h) */
	uint32_t tun_id;	 /* VNI, GRE key, ERSPAN session, or 0 */
	struct cot_addr tun_src; /* outer address of the initiator */
	struct cot_addr tun_dst; /* outer address of the responder */
	uint32_t inner_conns;
};

/* Names used by every output format. */
const char *cot_proto_name(unsigned int proto);
const char *cot_end_name(unsigned int end);
const char *cot_seen_name(unsigned int seen);
const char *cot_tcp_state_name(unsigned int st);

/*
 * Binary encoding, all integers little-endian.  Version 1 (fixed, 140
 * bytes) is written when the record names nothing (both owners' pid 0,
 * both names ""); otherwise version 2 (variable length).  Both share
 * the first 140 bytes:
 *
 *   off len field
 *     0   2 magic 'C','R'
 *     2   1 version (1 or 2)
 *     3   1 v1: length of the whole encoding (140); v2: 0
 *     4   8 seq
 *    12  32 vm (NUL padded)
 *    44   1 proto  45 1 ipproto  46 1 tcp_state  47 1 end
 *    48   1 seen_by 49 1 flags   50 1 tcp_flags_fwd 51 1 tcp_flags_rev
 *    52   2 sport  54 2 dport
 *    56  16 src    72 16 dst
 *    88   8 first_ns 96 8 last_ns
 *   104   8 pkts_fwd 112 8 bytes_fwd 120 8 pkts_rev 128 8 bytes_rev
 *   136   4 netns
 *   140      (end of version 1)
 *
 * Version 2 goes on:
 *
 *   140   2 length of the whole encoding (156 .. COT_REC_WIRE_V2_MAX)
 *   142     src end, then dst end, each:
 *             4 pid, 1 n + n bytes comm (n <= 15),
 *             1 n + n bytes cgroup (n <= 255), 1 n + n bytes name (n <= 253)
 *
 * Version 3 is written when the record has a tunnel or inner
 * connections (tun_type != 0 or inner_conns != 0), names or not.  It is
 * version 2 with a fixed tunnel block before the ends:
 *
 *   140   2 length of the whole encoding (197 .. COT_REC_WIRE_MAX)
 *   142   1 tun_type (< COT_TUN__COUNT)  143 4 tun_id
 *   147  16 tun_src  163 16 tun_dst      179 4 inner_conns
 *   183     src end, then dst end (as in version 2; may name nothing)
 *
 * With tun_type 0, tun_id, tun_src and tun_dst are all 0.
 *
 * Strings carry no NUL and only printable ASCII (0x20..0x7e); the
 * encoder writes '?' for any other byte, so what the guest put in a comm
 * or a DNS answer never reaches a terminal or a log line raw.  A pid of
 * 0 carries no comm and no cgroup.  The encoding is canonical (one
 * record, one byte string): the decoder rejects a version 2 record that
 * names nothing, and a length that does not match its strings.
 */
#define COT_REC_VERSION	    3 /* newest written */
#define COT_REC_WIRE_V1_LEN 140
#define COT_REC_V2_FIXED    142
#define COT_REC_V3_FIXED    183
#define COT_REC_END_MAX	    (4 + COT_COMM_LEN + COT_CGROUP_LEN + COT_DNSNAME_LEN)
/* Longest encodings: version 2 1202 bytes, version 3 (any) 1243. */
#define COT_REC_WIRE_V2_MAX (COT_REC_V2_FIXED + 2 * COT_REC_END_MAX)
#define COT_REC_WIRE_MAX    (COT_REC_V3_FIXED + 2 * COT_REC_END_MAX)

/* Encode @r into @out.  Always succeeds; returns the length written. */
int cot_rec_encode(uint8_t out[static COT_REC_WIRE_MAX],
		   const struct cot_rec *r);

/*
 * Length of the encoding that starts at @in (@len bytes available), from
 * its header alone: COT_REC_WIRE_V1_LEN or the v2 length field.  Returns
 * -COT_EBADMSG when @len is too short to tell, the magic or the length
 * field is wrong, or the length exceeds @len; -COT_ENOTSUP for an unknown
 * version.
 */
int cot_rec_wire_len(const uint8_t *in, size_t len);

/*
 * Decode @len bytes of @in into @r.  Checks magic, version, length and
 * every enum range, every string (caps, printable, NUL-free), and forces
 * vm[] to be NUL-terminated.
 * Returns bytes consumed, -COT_EBADMSG on malformed input, or
 * -COT_ENOTSUP for an unknown version.
 */
int cot_rec_decode(struct cot_rec *r, const uint8_t *in, size_t len);

/* 1 when @r names an owner or a remote (it encodes as version 2). */
int cot_rec_has_names(const struct cot_rec *r);

/* 1 when @r has a tunnel or inner connections (it encodes as version 3). */
int cot_rec_has_tunnel(const struct cot_rec *r);

#endif
