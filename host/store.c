// SPDX-License-Identifier: MIT
/* host/store: the log server's SQLite database (see store.h). */
#include <stdio.h>
#include <string.h>

#include "cotrack/pkt.h"
#include "host/db.h"
#include "host/recrow.h"
#include "store.h"
#include "store_pg.h"

/*
 * Schema 2 adds the workload names (record version 2), NULL when the
 * record does not name them; a schema-1 database gains them on its first
 * read-write open (ALTER TABLE ADD COLUMN: old rows read NULL), and a
 * read-only open of one sees them through a TEMP view of the same name.
 */
#define NAME_COLS                                                              \
	" src_pid INTEGER, src_comm TEXT, src_cgroup TEXT, dst_pid INTEGER,"   \
	" dst_comm TEXT, dst_cgroup TEXT, src_name TEXT, dst_name TEXT,"

static const char *const name_cols[] = {
	"src_pid INTEGER", "src_comm TEXT", "src_cgroup TEXT",
	"dst_pid INTEGER", "dst_comm TEXT", "dst_cgroup TEXT",
	"src_name TEXT",   "dst_name TEXT",
};

/*
 * Schema 3 adds the tunnel (record version 3) the same way: NULL when
 * the record came in no tunnel / carried no inner connection.
 */
#define TUN_COLS                                                               \
	" tun_type INTEGER, tun_id INTEGER, tun_src BLOB, tun_dst BLOB,"       \
	" inner_conns INTEGER,"

static const char *const tun_cols[] = {
	"tun_type INTEGER", "tun_id INTEGER",	   "tun_src BLOB",
	"tun_dst BLOB",	    "inner_conns INTEGER",
};

/*
 * Schema 3 also adds the query indexes (store.h); a database of schema 1 or 2
 * gains them on its first read-write open (building them reads every
 * record once); read-only opens of one work without them, slower.
 * Indexes of a WITHOUT ROWID table end in its primary key (stream, seq):
 * rows of one VM, address or port come out in that order, so a LIMIT
 * stops the search early.
 *
 * Schema 4 replaces schema 3's rec_span (span level, first_ns) by
 * rec_win and rec_vm_span (vm, span level, first_ns) by rec_vm_win: the
 * same keys, then every column a query over a time window reads but
 * the record's own (store.h, COT_STORE_WIN_*), so that a window's map,
 * groups and counts, with or without a VM, read the index alone.
 * Through rec_span each row of a window was a primary-key read of the
 * table: 1 s of the 1.6 s of a 1 h window's map on 10 million records
 * (docs/bench.md).  A schema-3 database gains them (and loses the old
 * two) on its first read-write open; read-only, rec_span and
 * rec_vm_span serve the same seeks.
 */
#define SPAN COT_STORE_SPAN("")
static const char *const indexes[] = {
	"CREATE INDEX IF NOT EXISTS rec_win ON records(" SPAN
	", " COT_STORE_WIN_TIME ", vm, " COT_STORE_WIN_REST ")",
	"CREATE INDEX IF NOT EXISTS rec_vm_win ON records(vm, " SPAN
	", " COT_STORE_WIN_TIME ", " COT_STORE_WIN_REST ")",
	"CREATE INDEX IF NOT EXISTS rec_vm ON records(vm)",
	"CREATE INDEX IF NOT EXISTS rec_src ON records(src)",
	"CREATE INDEX IF NOT EXISTS rec_dst ON records(dst)",
	"CREATE INDEX IF NOT EXISTS rec_sport ON records(sport)",
	"CREATE INDEX IF NOT EXISTS rec_dport ON records(dport)",
	"DROP INDEX IF EXISTS rec_span",
	"DROP INDEX IF EXISTS rec_vm_span",
};
#undef SPAN
#define SCHEMA "4"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);"
	"INSERT OR IGNORE INTO meta VALUES('schema', '" SCHEMA "');"
	"CREATE TABLE IF NOT EXISTS streams("
	" id INTEGER PRIMARY KEY, tracker TEXT NOT NULL,"
	" epoch INTEGER NOT NULL, fingerprint TEXT, created_ns INTEGER,"
	" last_seq INTEGER NOT NULL DEFAULT 0, last_hash BLOB NOT NULL,"
	" UNIQUE(tracker, epoch));"
	"CREATE TABLE IF NOT EXISTS records("
	" stream INTEGER NOT NULL, seq INTEGER NOT NULL, vm TEXT,"
	" proto INTEGER, ipproto INTEGER, tcp_state INTEGER, end_ INTEGER,"
	" seen_by INTEGER, flags INTEGER, tcp_flags_fwd INTEGER,"
	" tcp_flags_rev INTEGER, sport INTEGER, dport INTEGER, src BLOB,"
	" dst BLOB, first_ns INTEGER, last_ns INTEGER, pkts_fwd INTEGER,"
	" bytes_fwd INTEGER, pkts_rev INTEGER, bytes_rev INTEGER,"
	" netns INTEGER, added_ns INTEGER, stored_ns INTEGER,"
	" hash BLOB NOT NULL," NAME_COLS TUN_COLS " PRIMARY KEY(stream, seq))"
	" WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS events("
	" id INTEGER PRIMARY KEY, time_ns INTEGER, kind TEXT NOT NULL,"
	" tracker TEXT, stream INTEGER, seq_first INTEGER, seq_last INTEGER,"
	" peer TEXT, detail TEXT);";

const char *cot_store_errmsg(const struct cot_store *st)
{
	if (st->pg)
		return cot_store_pg_errmsg(st->pg);
	return st->db ? sqlite3_errmsg(st->db) : "no database";
}

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_FULL:
		return -COT_ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -COT_EBUSY;
	case SQLITE_CONSTRAINT:
		return -COT_EEXIST;
	}
	return -COT_EIO;
}

static int prep(struct cot_store *st, sqlite3_stmt **s, const char *sql)
{
	return map_rc(sqlite3_prepare_v3(st->db, sql, -1,
					 SQLITE_PREPARE_PERSISTENT, s, NULL));
}

/*
 * 1 when records has column @col, 0 not, -1 no records table or an
 * error.
 */
static int has_col(struct cot_store *st, const char *col)
{
	sqlite3_stmt *s;
	int found = -1;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT count(*), total(name = ?) "
			       "FROM pragma_table_info('records')",
			       -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, col, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) > 0)
		found = sqlite3_column_int(s, 1) > 0;
	sqlite3_finalize(s);
	return found;
}

/*
 * Bring an older records table to schema 3 (schema 1 lacks the names
 * and the tunnel, schema 2 the tunnel): in place when @rw, else by a
 * TEMP view named records (temp names shadow main ones) that adds the
 * missing columns as NULL.  A database without a records table (not
 * ours) is left to fail later.
 */
static int migrate(struct cot_store *st, int rw, char **msg)
{
	char sql[512];
	size_t i;
	int rc, names = has_col(st, "src_pid"), tun = has_col(st, "tun_type");

	if (names < 0 || tun < 0)
		return SQLITE_OK; /* no such table: the queries will say */
	if (names && tun)
		return SQLITE_OK;
	if (!rw) {
		snprintf(sql, sizeof(sql),
			 "CREATE TEMP VIEW records AS SELECT *%s%s"
			 " FROM main.records;",
			 names ? ""
			       : ", NULL AS src_pid, NULL AS src_comm,"
				 " NULL AS src_cgroup, NULL AS dst_pid,"
				 " NULL AS dst_comm, NULL AS dst_cgroup,"
				 " NULL AS src_name, NULL AS dst_name",
			 tun ? ""
			     : ", NULL AS tun_type, NULL AS tun_id,"
			       " NULL AS tun_src, NULL AS tun_dst,"
			       " NULL AS inner_conns");
		return sqlite3_exec(st->db, sql, NULL, NULL, msg);
	}
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, msg);
	/* bounded: the fixed lists of new columns */
	for (i = 0; !names && rc == SQLITE_OK && i < COT_ARRAY_SIZE(name_cols);
	     i++) {
		snprintf(sql, sizeof(sql), "ALTER TABLE records ADD COLUMN %s;",
			 name_cols[i]);
		rc = sqlite3_exec(st->db, sql, NULL, NULL, msg);
	}
	for (i = 0; !tun && rc == SQLITE_OK && i < COT_ARRAY_SIZE(tun_cols);
	     i++) {
		snprintf(sql, sizeof(sql), "ALTER TABLE records ADD COLUMN %s;",
			 tun_cols[i]);
		rc = sqlite3_exec(st->db, sql, NULL, NULL, msg);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db,
				  "UPDATE meta SET v = '" SCHEMA "' WHERE k = "
				  "'schema';"
				  "COMMIT;",
				  NULL, NULL, msg);
	if (rc != SQLITE_OK)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * 2 when every schema-4 query index exists, 1 when the schema-3 set
 * does (rec_span and rec_vm_span for rec_win and rec_vm_win: the same
 * window seeks, uncovered), 0 neither, -1 error.
 */
static int has_indexes(struct cot_store *st)
{
	sqlite3_stmt *s;
	int n = -1;

	if (sqlite3_prepare_v2(
		    st->db,
		    "SELECT total(name IN ('rec_vm', 'rec_src', 'rec_dst', "
		    "'rec_sport', 'rec_dport')), total(name IN ('rec_win', "
		    "'rec_vm_win')), total(name IN ('rec_span', "
		    "'rec_vm_span')) FROM sqlite_master WHERE type = 'index' "
		    "AND tbl_name = 'records'",
		    -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0) != 5   ? 0
		    : sqlite3_column_int(s, 1) == 2 ? 2
		    : sqlite3_column_int(s, 2) == 2 ? 1
						    : 0;
	sqlite3_finalize(s);
	return n;
}

/*
 * Schema 2 -> 4 or 3 -> 4: the query indexes, in one transaction
 * (rec_span and rec_vm_span, if any, dropped once their successors are
 * built).
 */
static int add_indexes(struct cot_store *st, char **msg)
{
	size_t i;
	int rc;

	if (has_indexes(st) == 2)
		return SQLITE_OK;
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, msg);
	/* bounded: the fixed list of indexes */
	for (i = 0; rc == SQLITE_OK && i < COT_ARRAY_SIZE(indexes); i++)
		rc = sqlite3_exec(st->db, indexes[i], NULL, NULL, msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db,
				  "UPDATE meta SET v = '" SCHEMA "' WHERE k = "
				  "'schema' AND v IN ('1', '2', '3');"
				  "COMMIT;",
				  NULL, NULL, msg);
	if (rc != SQLITE_OK)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int cot_store_open(struct cot_store *st, const char *path, int mode,
		   int sync_full, char *err, size_t errlen)
{
	int flags = mode == COT_STORE_RW
			    ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
			    : SQLITE_OPEN_READONLY;
	char *msg = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	if (cot_store_is_pg(path)) {
		if (mode != COT_STORE_RW) {
			snprintf(err, errlen,
				 "reading PostgreSQL is not supported yet");
			return -COT_ENOTSUP;
		}
		return cot_store_pg_open(&st->pg, path, sync_full, err, errlen);
	}
	rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		goto err;
	sqlite3_busy_timeout(st->db, 5000);
	if (mode != COT_STORE_RW) {
		rc = migrate(st, 0, &msg);
		if (rc != SQLITE_OK)
			goto err;
		st->indexed = has_indexes(st) > 0;
		return 0;
	}
	rc = sqlite3_exec(st->db, "PRAGMA journal_mode=WAL;", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto err;
	rc = sqlite3_exec(st->db,
			  sync_full ? "PRAGMA synchronous=FULL;"
				    : "PRAGMA synchronous=NORMAL;",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto err;
	/*
	 * 64 MiB of page cache keeps the b-tree's right edge in memory (no
	 * re-reads on append); checkpoints every 16k pages (64 MiB of WAL)
	 * copy each page once per many commits.
	 */
	rc = sqlite3_exec(st->db,
			  "PRAGMA cache_size=-65536;"
			  "PRAGMA wal_autocheckpoint=16384;",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto err;
	rc = sqlite3_exec(st->db, schema, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto err;
	rc = migrate(st, 1, &msg);
	if (rc != SQLITE_OK)
		goto err;
	rc = add_indexes(st, &msg);
	if (rc != SQLITE_OK)
		goto err;
	st->indexed = 1;
	if (prep(st, &st->ins_rec,
		 "INSERT INTO records(stream, " COT_STORE_REC_COLS
		 ", added_ns, stored_ns, hash) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,"
		 "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)") ||
	    prep(st, &st->upd_stream,
		 "UPDATE streams SET last_seq=?, last_hash=? WHERE id=?") ||
	    prep(st, &st->ins_event,
		 "INSERT INTO events(time_ns, kind, tracker, stream, "
		 "seq_first, seq_last, peer, detail) "
		 "VALUES(?,?,?,?,?,?,?,?)") ||
	    prep(st, &st->get_hash,
		 "SELECT hash FROM records WHERE stream=? AND seq=?"))
		goto err;
	return 0;

err:
	snprintf(err, errlen, "%s: %s", path,
		 msg ? msg : (st->db ? sqlite3_errmsg(st->db) : "open failed"));
	sqlite3_free(msg);
	cot_store_close(st);
	return -COT_EIO;
}

void cot_store_close(struct cot_store *st)
{
	cot_store_pg_close(st->pg);
	sqlite3_finalize(st->ins_rec);
	sqlite3_finalize(st->upd_stream);
	sqlite3_finalize(st->ins_event);
	sqlite3_finalize(st->get_hash);
	if (st->db)
		sqlite3_close(st->db);
	memset(st, 0, sizeof(*st));
}

int cot_store_begin(struct cot_store *st)
{
	int rc;

	if (st->pg)
		return cot_store_pg_begin(st->pg);
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		st->in_tx = 1;
	return map_rc(rc);
}

int cot_store_commit(struct cot_store *st)
{
	int rc;

	if (st->pg)
		return cot_store_pg_commit(st->pg);
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int ret = map_rc(rc);

		cot_store_rollback(st);
		return ret;
	}
	st->in_tx = 0;
	return 0;
}

void cot_store_rollback(struct cot_store *st)
{
	if (st->pg) {
		cot_store_pg_rollback(st->pg);
		return;
	}
	if (sqlite3_get_autocommit(st->db) == 0)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = 0;
}

static int step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : map_rc(rc ? rc : SQLITE_ERROR);
}

int cot_store_stream(struct cot_store *st, const char *tracker, uint64_t epoch,
		     const char *fingerprint, uint64_t now_ns,
		     struct cot_stream_state *out)
{
	uint8_t h0[COT_CHAIN_LEN];
	sqlite3_stmt *s = NULL;
	int rc, ret = -COT_EIO;

	if (st->pg)
		return cot_store_pg_stream(st->pg, tracker, epoch, fingerprint,
					   now_ns, out);
	memset(out, 0, sizeof(*out));
	/* Other streams of this tracker, newest first. */
	if (sqlite3_prepare_v2(
		    st->db,
		    "SELECT id, last_seq FROM streams WHERE tracker=? "
		    "AND epoch<>? ORDER BY id DESC",
		    -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	sqlite3_bind_text(s, 1, tracker, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, (int64_t)epoch);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!out->prev_epochs++) {
			out->prev_id = sqlite3_column_int64(s, 0);
			out->prev_last_seq =
				(uint64_t)sqlite3_column_int64(s, 1);
		}
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return map_rc(rc);

	if (sqlite3_prepare_v2(st->db,
			       "SELECT id, last_seq, last_hash FROM streams "
			       "WHERE tracker=? AND epoch=?",
			       -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	sqlite3_bind_text(s, 1, tracker, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, (int64_t)epoch);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(s, 2);

		if (!h || sqlite3_column_bytes(s, 2) != COT_CHAIN_LEN) {
			ret = -COT_EBADMSG;
			goto out;
		}
		out->id = sqlite3_column_int64(s, 0);
		out->last_seq = (uint64_t)sqlite3_column_int64(s, 1);
		memcpy(out->last_hash, h, COT_CHAIN_LEN);
		ret = 0;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		ret = map_rc(rc);
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	cot_chain_init(h0);
	if (sqlite3_prepare_v2(
		    st->db,
		    "INSERT INTO streams(tracker, epoch, fingerprint,"
		    " created_ns, last_seq, last_hash) "
		    "VALUES(?,?,?,?,0,?)",
		    -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	sqlite3_bind_text(s, 1, tracker, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, (int64_t)epoch);
	sqlite3_bind_text(s, 3, fingerprint, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, (int64_t)now_ns);
	sqlite3_bind_blob(s, 5, h0, COT_CHAIN_LEN, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = map_rc(rc);
		goto out;
	}
	out->id = sqlite3_last_insert_rowid(st->db);
	out->last_seq = 0;
	memcpy(out->last_hash, h0, COT_CHAIN_LEN);
	out->created = 1;
	ret = 0;
out:
	sqlite3_finalize(s);
	return ret;
}

int cot_store_stream_update(struct cot_store *st, int64_t id, uint64_t last_seq,
			    const uint8_t hash[static COT_CHAIN_LEN])
{
	sqlite3_stmt *s = st->upd_stream;

	if (st->pg)
		return cot_store_pg_stream_update(st->pg, id, last_seq, hash);
	sqlite3_bind_int64(s, 1, (int64_t)last_seq);
	sqlite3_bind_blob(s, 2, hash, COT_CHAIN_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, id);
	return step_done(s);
}

/* "" is stored as NULL: absent, as the record encoding has it. */
static void bind_str(sqlite3_stmt *s, int i, const char *v)
{
	if (v[0])
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void bind_owner(sqlite3_stmt *s, int *i, const struct cot_rec_owner *o)
{
	if (o->pid)
		sqlite3_bind_int64(s, *i, o->pid);
	else
		sqlite3_bind_null(s, *i);
	bind_str(s, *i + 1, o->pid ? o->comm : "");
	bind_str(s, *i + 2, o->pid ? o->cgroup : "");
	*i += 3;
}

/* No tunnel, no inner connections: NULL, as the record encoding has it. */
static void bind_tun(sqlite3_stmt *s, int *i, const struct cot_rec *r)
{
	if (r->tun_type) {
		sqlite3_bind_int(s, *i, r->tun_type);
		sqlite3_bind_int64(s, *i + 1, r->tun_id);
		sqlite3_bind_blob(s, *i + 2, r->tun_src.b, 16, SQLITE_STATIC);
		sqlite3_bind_blob(s, *i + 3, r->tun_dst.b, 16, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(s, *i);
		sqlite3_bind_null(s, *i + 1);
		sqlite3_bind_null(s, *i + 2);
		sqlite3_bind_null(s, *i + 3);
	}
	if (r->inner_conns)
		sqlite3_bind_int64(s, *i + 4, r->inner_conns);
	else
		sqlite3_bind_null(s, *i + 4);
	*i += 5;
}

int cot_store_put(struct cot_store *st, int64_t stream, const struct cot_rec *r,
		  uint64_t added_ns, uint64_t stored_ns,
		  const uint8_t hash[static COT_CHAIN_LEN])
{
	sqlite3_stmt *s = st->ins_rec;
	int i = 1;

	if (st->pg)
		return cot_store_pg_put(st->pg, stream, r, added_ns, stored_ns,
					hash);
	sqlite3_bind_int64(s, i++, stream);
	sqlite3_bind_int64(s, i++, (int64_t)r->seq);
	sqlite3_bind_text(s, i++, r->vm, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, i++, r->proto);
	sqlite3_bind_int(s, i++, r->ipproto);
	sqlite3_bind_int(s, i++, r->tcp_state);
	sqlite3_bind_int(s, i++, r->end);
	sqlite3_bind_int(s, i++, r->seen_by);
	sqlite3_bind_int(s, i++, r->flags);
	sqlite3_bind_int(s, i++, r->tcp_flags_fwd);
	sqlite3_bind_int(s, i++, r->tcp_flags_rev);
	sqlite3_bind_int(s, i++, r->sport);
	sqlite3_bind_int(s, i++, r->dport);
	sqlite3_bind_blob(s, i++, r->src.b, 16, SQLITE_STATIC);
	sqlite3_bind_blob(s, i++, r->dst.b, 16, SQLITE_STATIC);
	sqlite3_bind_int64(s, i++, (int64_t)r->first_ns);
	sqlite3_bind_int64(s, i++, (int64_t)r->last_ns);
	sqlite3_bind_int64(s, i++, (int64_t)r->pkts_fwd);
	sqlite3_bind_int64(s, i++, (int64_t)r->bytes_fwd);
	sqlite3_bind_int64(s, i++, (int64_t)r->pkts_rev);
	sqlite3_bind_int64(s, i++, (int64_t)r->bytes_rev);
	sqlite3_bind_int64(s, i++, r->netns);
	bind_owner(s, &i, &r->src_owner);
	bind_owner(s, &i, &r->dst_owner);
	bind_str(s, i++, r->src_name);
	bind_str(s, i++, r->dst_name);
	bind_tun(s, &i, r);
	sqlite3_bind_int64(s, i++, (int64_t)added_ns);
	sqlite3_bind_int64(s, i++, (int64_t)stored_ns);
	sqlite3_bind_blob(s, i++, hash, COT_CHAIN_LEN, SQLITE_STATIC);
	/* Every parameter is bound each time: no clear_bindings needed. */
	i = sqlite3_step(s);
	sqlite3_reset(s);
	return i == SQLITE_DONE ? 0 : map_rc(i ? i : SQLITE_ERROR);
}

int cot_store_hash(struct cot_store *st, int64_t stream, uint64_t seq,
		   uint8_t hash[static COT_CHAIN_LEN])
{
	sqlite3_stmt *s = st->get_hash;
	int rc, ret = -COT_ENOENT;

	if (st->pg)
		return cot_store_pg_hash(st->pg, stream, seq, hash);
	if (seq == 0) {
		cot_chain_init(hash);
		return 0;
	}
	sqlite3_bind_int64(s, 1, stream);
	sqlite3_bind_int64(s, 2, (int64_t)seq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) == COT_CHAIN_LEN) {
		memcpy(hash, sqlite3_column_blob(s, 0), COT_CHAIN_LEN);
		ret = 0;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ret = map_rc(rc);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

int cot_store_event(struct cot_store *st, uint64_t time_ns, const char *kind,
		    const char *tracker, int64_t stream, uint64_t first,
		    uint64_t last, const char *peer, const char *detail)
{
	sqlite3_stmt *s = st->ins_event;

	if (st->pg)
		return cot_store_pg_event(st->pg, time_ns, kind, tracker,
					  stream, first, last, peer, detail);
	sqlite3_bind_int64(s, 1, (int64_t)time_ns);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	bind_text_or_null(s, 3, tracker);
	if (stream)
		sqlite3_bind_int64(s, 4, stream);
	if (first)
		sqlite3_bind_int64(s, 5, (int64_t)first);
	if (last)
		sqlite3_bind_int64(s, 6, (int64_t)last);
	bind_text_or_null(s, 7, peer);
	bind_text_or_null(s, 8, detail);
	return step_done(s);
}

int cot_store_row_rec(sqlite3_stmt *s, int col, struct cot_rec *r)
{
	struct cot_dbq q = COT_DBQ_STMT(s);

	return cot_rec_from_row(&q, col, r);
}

int cot_store_open_reader(struct cot_store *st, struct cot_db *db,
			  const char *where, char *err, size_t errlen)
{
	char msg[400];

	memset(st, 0, sizeof(*st));
	if (cot_db_is_url(where)) {
		if (cot_db_open_pg(db, where, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "PostgreSQL: %s", msg);
			return -1;
		}
		st->indexed = 1; /* its schema has the query indexes */
		return 0;
	}
	if (cot_store_open(st, where, COT_STORE_RO, 0, err, errlen) < 0)
		return -1;
	cot_db_wrap_sqlite(db, st->db);
	return 0;
}

void cot_store_close_reader(struct cot_store *st, struct cot_db *db)
{
	cot_db_close(db);
	if (st->db)
		cot_store_close(st);
	memset(st, 0, sizeof(*st));
}
