/* SPDX-License-Identifier: MIT */
/*
 * host/store: the log server's SQLite database (WAL mode).
 *
 * Tables:
 *   streams(id, tracker, epoch, fingerprint, created_ns, last_seq,
 *           last_hash)   one per (tracker certificate CN, epoch)
 *   records(stream, seq, <every cot_rec field>, added_ns, stored_ns,
 *           hash)        hash = chain value h_seq (chain.h)
 *   events(id, time_ns, kind, tracker, stream, seq_first, seq_last,
 *          peer, detail)  anomalies (see COT_EV_*)
 *
 * Integers are SQLite's signed 64-bit; uint64 values round-trip through
 * a cast.  A writer (cotrack-logd) opens read-write; query, graph and
 * verify open read-only and may run while logd writes.
 *
 * Thread-safety: one cot_store per thread, or the caller serialises.
 */
#ifndef COTRACK_HOST_STORE_H
#define COTRACK_HOST_STORE_H

#include <sqlite3.h>

#include "cotrack/chain.h"
#include "cotrack/rec.h"

/* Event kinds (the events.kind column). */
#define COT_EV_GAP	 "gap"		 /* records missing from a stream */
#define COT_EV_CHAIN	 "chain"	 /* hash chain does not link */
#define COT_EV_CONFLICT	 "conflict"	 /* same seq, different record */
#define COT_EV_REPLAY	 "replay"	 /* acknowledged records sent again */
#define COT_EV_CERT	 "unknown_cert"	 /* client certificate refused */
#define COT_EV_HANDSHAKE "handshake"	 /* TLS handshake failed otherwise */
#define COT_EV_TAMPER	 "tls_integrity" /* TLS record failed its MAC */
#define COT_EV_PROTO	 "protocol"	 /* malformed frame or record */
#define COT_EV_EPOCH	 "new_epoch" /* tracker restarted without its spool */
#define COT_EV_ROLLBACK	 "rollback"  /* tracker holds less than logd */
#define COT_EV_DROP	 "tracker_drop" /* tracker dropped records (spool full) */

struct cot_store {
	sqlite3 *db;
	sqlite3_stmt *ins_rec, *upd_stream, *ins_event, *get_hash;
	int in_tx;
};

#define COT_STORE_RO 0
#define COT_STORE_RW 1

/*
 * Open (and with COT_STORE_RW create) @path.  @sync_full: fsync the WAL
 * at every commit (survives power loss) rather than only at checkpoints
 * (survives a killed process).  Returns 0 or a negative code; @err gets
 * SQLite's message.
 */
int cot_store_open(struct cot_store *st, const char *path, int mode,
		   int sync_full, char *err, size_t errlen);
void cot_store_close(struct cot_store *st);

/* Message of the last SQLite error on @st. */
const char *cot_store_errmsg(const struct cot_store *st);

int cot_store_begin(struct cot_store *st);
/* Returns 0, -COT_ENOSPC (disk or database full) or -COT_EIO. */
int cot_store_commit(struct cot_store *st);
void cot_store_rollback(struct cot_store *st);

struct cot_stream_state {
	int64_t id;
	uint64_t last_seq;
	uint8_t last_hash[COT_CHAIN_LEN];
	int created;	      /* 1 when this call made the stream */
	uint64_t prev_epochs; /* other streams of the same tracker */
	int64_t prev_id;      /* newest other stream (0 none) */
	uint64_t prev_last_seq;
};

/* Find or create the stream (@tracker, @epoch).  Inside a transaction. */
int cot_store_stream(struct cot_store *st, const char *tracker, uint64_t epoch,
		     const char *fingerprint, uint64_t now_ns,
		     struct cot_stream_state *out);
int cot_store_stream_update(struct cot_store *st, int64_t id, uint64_t last_seq,
			    const uint8_t hash[static COT_CHAIN_LEN]);

int cot_store_put(struct cot_store *st, int64_t stream, const struct cot_rec *r,
		  uint64_t added_ns, uint64_t stored_ns,
		  const uint8_t hash[static COT_CHAIN_LEN]);

/* Stored h_seq of @stream; h_0 for seq 0.  -COT_ENOENT if absent. */
int cot_store_hash(struct cot_store *st, int64_t stream, uint64_t seq,
		   uint8_t hash[static COT_CHAIN_LEN]);

/* Record an event (strings may be NULL). */
int cot_store_event(struct cot_store *st, uint64_t time_ns, const char *kind,
		    const char *tracker, int64_t stream, uint64_t first,
		    uint64_t last, const char *peer, const char *detail);

/*
 * The columns of a record, in the order cot_store_row_rec() reads them
 * starting at its @col argument.
 */
#define COT_STORE_REC_COLS                                                     \
	"seq, vm, proto, ipproto, tcp_state, end_, seen_by, flags, "           \
	"tcp_flags_fwd, tcp_flags_rev, sport, dport, src, dst, first_ns, "     \
	"last_ns, pkts_fwd, bytes_fwd, pkts_rev, bytes_rev, netns, "           \
	"src_pid, src_comm, src_cgroup, dst_pid, dst_comm, dst_cgroup, "       \
	"src_name, dst_name, tun_type, tun_id, tun_src, tun_dst, inner_conns"
#define COT_STORE_REC_NCOLS 34

/* Fill @r from a row; returns 0 or -COT_EBADMSG (bad blob sizes). */
int cot_store_row_rec(sqlite3_stmt *s, int col, struct cot_rec *r);

#endif
