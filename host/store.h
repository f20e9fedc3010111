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

struct cot_store_pg;

struct cot_store {
	struct cot_store_pg *pg; /* set: PostgreSQL (store_pg.h), db unused */
	sqlite3 *db;
	sqlite3_stmt *ins_rec, *upd_stream, *ins_event, *get_hash;
	int in_tx;
	int indexed; /* the query indexes exist (schema 3 or 4, see below) */
};

#define COT_STORE_RO 0
#define COT_STORE_RW 1

/*
 * Open (and with COT_STORE_RW create) @path.  @sync_full: fsync the WAL
 * at every commit (survives power loss) rather than only at checkpoints
 * (survives a killed process).  Returns 0 or a negative code; @err gets
 * SQLite's message.
 *
 * A @path starting with postgresql:// or postgres:// is a libpq
 * connection URL: the writer functions below (open to event, errmsg)
 * then run on PostgreSQL (host/store_pg.h; read-write only so far,
 * COT_STORE_RO is refused with -COT_ENOTSUP), with the same meaning.
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

/*
 * Query indexes (schema 3, 4): records by VM, by either address, by either
 * port, and by lifetime.  A lifetime is an interval, which one b-tree
 * cannot search for "overlaps [T1, T2]"; so records are indexed by a
 * span level (duration class, COT_STORE_SPAN) and first_ns.  A record of
 * level l lasted less than W(l), so if it ends at or after T1 it began
 * after T1 - W(l): per level, one range seek on first_ns in
 * [T1 - W(l), T2], filtered by last_ns >= T1.  The rows the seek reads
 * beyond the answer are those of level l that ended in the W(l) before
 * T1: at most about as many as the level's part of the answer when the
 * levels grow by 10x (bounded, not a scan).  The last level has no upper
 * bound (no lower bound on first_ns).  last_ns < first_ns (a malformed
 * record) falls in level 0 and still satisfies first_ns > T1 - W(0).
 *
 * COT_STORE_SPAN(r): the level expression, r = "" or "alias."; it must
 * be written exactly so for SQLite to use the index on it.
 */
#define COT_STORE_SPAN(r)                                                      \
	"(CASE WHEN " r "last_ns - " r "first_ns < 1000000000 THEN 0"          \
	" WHEN " r "last_ns - " r "first_ns < 10000000000 THEN 1"              \
	" WHEN " r "last_ns - " r "first_ns < 100000000000 THEN 2"             \
	" WHEN " r "last_ns - " r "first_ns < 1000000000000 THEN 3"            \
	" WHEN " r "last_ns - " r "first_ns < 10000000000000 THEN 4"           \
	" WHEN " r "last_ns - " r "first_ns < 100000000000000 THEN 5"          \
	" WHEN " r "last_ns - " r "first_ns < 1000000000000000 THEN 6"         \
	" ELSE 7 END)"

/*
 * The columns of rec_win and rec_vm_win (schema 4) after the span level
 * and, for rec_win, before vm: first_ns, then every other column the
 * queries over a window read (filters, --by groups, the service map's
 * rows; not the record's counters of packets, flags, tunnel or hash),
 * so that SQLite reads them from the index alone (a covering index)
 * instead of one primary-key read of the table per record.
 */
#define COT_STORE_WIN_TIME "first_ns, last_ns"
#define COT_STORE_WIN_REST                                                     \
	"proto, src, sport, dst, dport, seen_by, bytes_fwd, bytes_rev, "       \
	"src_pid, src_comm, src_cgroup, src_name, dst_pid, dst_comm, "         \
	"dst_cgroup, dst_name"

/*
 * The records @r overlapping [?1, ?2] (ns as int64, 0 <= ?1): use as
 *   "FROM " COT_STORE_WINDOW_LEVELS " lv JOIN records r ON "
 *   COT_STORE_WINDOW_ON("r.") ...
 * Each level joins its own range seek of rec_win (schema 3: rec_span),
 * or of rec_vm_win with r.vm = ? (schema 3: rec_vm_span); without the
 * indexes (cot_store.indexed
 * == 0: an old database read-only) use the plain "r.last_ns >= ?1 AND
 * r.first_ns <= ?2" instead, which is what this computes.
 */
#define COT_STORE_WINDOW_LEVELS                                                \
	"(SELECT column1 AS l, column2 AS lo FROM (VALUES"                     \
	" (0, ?1 - 1000000000), (1, ?1 - 10000000000),"                        \
	" (2, ?1 - 100000000000), (3, ?1 - 1000000000000),"                    \
	" (4, ?1 - 10000000000000), (5, ?1 - 100000000000000),"                \
	" (6, ?1 - 1000000000000000), (7, -9223372036854775807 - 1)) AS lvv)"
#define COT_STORE_WINDOW_ON(r)                                                 \
	COT_STORE_SPAN(r)                                                      \
	" = lv.l AND " r "first_ns BETWEEN lv.lo AND ?2"                       \
	" AND " r "last_ns >= ?1"

/*
 * PostgreSQL's schema (store_pg.c) indexes the level as the function
 * cot_span(first_ns, last_ns), computed in numeric (a bigint difference
 * of hostile times would raise an error there): its window condition.
 */
#define COT_STORE_WINDOW_ON_PG(r)                                              \
	"cot_span(" r "first_ns, " r "last_ns) = lv.l AND " r "first_ns "      \
	"BETWEEN lv.lo AND ?2 AND " r "last_ns >= ?1"

struct cot_db;

/*
 * Open @where for reading (query, graph, verify, --ipfix): a SQLite file
 * (cot_store_open() read-only, into @st) or a PostgreSQL URL
 * (cot_db_is_url(): st->indexed is then 1, st->db NULL).  @db reads
 * either (host/db.h).  Returns 0, or -1 with @err set (for a URL,
 * libpq's message: never the URL, which may hold a password).  Close
 * with cot_store_close_reader().
 */
int cot_store_open_reader(struct cot_store *st, struct cot_db *db,
			  const char *where, char *err, size_t errlen);
void cot_store_close_reader(struct cot_store *st, struct cot_db *db);

/* Fill @r from a row; returns 0 or -COT_EBADMSG (bad blob sizes). */
int cot_store_row_rec(sqlite3_stmt *s, int col, struct cot_rec *r);

#endif
