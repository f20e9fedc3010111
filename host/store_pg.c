// SPDX-License-Identifier: MIT
/*
 * host/store_pg: the log server's store on PostgreSQL (see store_pg.h).
 *
 * Duplicates: a partitioned table's unique index must contain the
 * partition key, so the primary key is (stream, seq, first_ns) and does
 * not by itself stop a second row with the same (stream, seq).  What
 * does: every batch runs under the stream row's lock (FOR UPDATE in
 * cot_store_pg_stream), and the caller (cmd/cotrack-logd/conn.c) inserts
 * only seqs above the row's last_seq, read under that lock, comparing
 * resent ones against the stored hash instead; last_seq moves in the
 * same transaction as the records.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "host/clock.h"
#include "host/log.h"
#include "store.h"
#include "store_pg.h"

#define DAY_NS	       INT64_C(86400000000000)
#define PART_CACHE     64      /* days whose partition is known */
#define PART_PAST      31      /* days back a partition is made on demand */
#define PIPE_MAX       512     /* inserts queued before results are read */
#define NPARAM	       38      /* parameters per record */
#define ROWS	       64      /* records per INSERT statement */
#define ROWS_SQL_MAX   20000   /* an INSERT of ROWS records, as text */
#define LOCK_PART      7434101 /* advisory lock: partition creation */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* A record waiting for its multi-row INSERT (the caller's may change). */
struct pend {
	struct cot_rec r;
	int64_t stream;
	uint64_t added_ns, stored_ns;
	uint8_t hash[COT_CHAIN_LEN];
};

struct cot_store_pg {
	PGconn *c;
	struct pend pend[ROWS];
	int npend;
	/* the parameters of one INSERT of up to ROWS records */
	const char *pv[ROWS * NPARAM];
	int plen[ROWS * NPARAM], pfmt[ROWS * NPARAM];
	char pbuf[ROWS * NPARAM][24];
	char rows_sql[ROWS_SQL_MAX];
	int sync_full;
	int in_tx;
	int queued; /* inserts sent in pipeline mode, results unread */
	int failed; /* an error in this transaction: only rollback helps */
	int ready;  /* the session's settings and statements are in place */
	unsigned backoff_ms;
	uint64_t retry_ns; /* no reconnection attempt before this */
	int64_t pre_day;   /* day whose neighbours were made in advance */
	int64_t days[PART_CACHE];
	int ndays, next_day;
	char err[512];
};

static int pipe_flush(struct cot_store_pg *p);

/*
 * The span level (store.h, COT_STORE_SPAN) as a function: PostgreSQL's
 * bigint subtraction raises an error on overflow (a hostile last_ns -
 * first_ns), so the difference is taken in numeric.  Queries must call
 * cot_span(first_ns, last_ns) to use the indexes on it.
 */
/* clang-format off */
/* the schema is created under advisory lock 7434100 */
static const char schema[] =
	"SELECT pg_advisory_xact_lock(7434100);"
	"CREATE TABLE IF NOT EXISTS meta(k text PRIMARY KEY, v text);"
	"INSERT INTO meta VALUES('schema', '3') ON CONFLICT DO NOTHING;"
	"CREATE OR REPLACE FUNCTION cot_span(f bigint, l bigint) RETURNS int"
	" LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE"
	" WHEN l::numeric - f < 1000000000 THEN 0"
	" WHEN l::numeric - f < 10000000000 THEN 1"
	" WHEN l::numeric - f < 100000000000 THEN 2"
	" WHEN l::numeric - f < 1000000000000 THEN 3"
	" WHEN l::numeric - f < 10000000000000 THEN 4"
	" WHEN l::numeric - f < 100000000000000 THEN 5"
	" WHEN l::numeric - f < 1000000000000000 THEN 6"
	" ELSE 7 END $$;"
	"CREATE TABLE IF NOT EXISTS streams("
	" id bigserial PRIMARY KEY, tracker text NOT NULL,"
	" epoch bigint NOT NULL, fingerprint text, created_ns bigint,"
	" last_seq bigint NOT NULL DEFAULT 0, last_hash bytea NOT NULL,"
	" UNIQUE(tracker, epoch));"
	"CREATE TABLE IF NOT EXISTS records("
	" stream bigint NOT NULL, seq bigint NOT NULL, vm text,"
	" proto int, ipproto int, tcp_state int, end_ int,"
	" seen_by int, flags int, tcp_flags_fwd int,"
	" tcp_flags_rev int, sport int, dport int, src bytea,"
	" dst bytea, first_ns bigint NOT NULL, last_ns bigint,"
	" pkts_fwd bigint, bytes_fwd bigint, pkts_rev bigint,"
	" bytes_rev bigint, netns bigint, added_ns bigint, stored_ns bigint,"
	" hash bytea NOT NULL,"
	" src_pid bigint, src_comm text, src_cgroup text, dst_pid bigint,"
	" dst_comm text, dst_cgroup text, src_name text, dst_name text,"
	" tun_type int, tun_id bigint, tun_src bytea, tun_dst bytea,"
	" inner_conns bigint,"
	" PRIMARY KEY(stream, seq, first_ns)) PARTITION BY RANGE (first_ns);"
	"CREATE TABLE IF NOT EXISTS records_default"
	" PARTITION OF records DEFAULT;"
	"CREATE TABLE IF NOT EXISTS events("
	" id bigserial PRIMARY KEY, time_ns bigint, kind text NOT NULL,"
	" tracker text, stream bigint, seq_first bigint, seq_last bigint,"
	" peer text, detail text);"
	"CREATE INDEX IF NOT EXISTS rec_span ON records(cot_span(first_ns, last_ns), first_ns);"
	"CREATE INDEX IF NOT EXISTS rec_vm_span ON records(vm, cot_span(first_ns, last_ns), first_ns);"
	"CREATE INDEX IF NOT EXISTS rec_vm ON records(vm);"
	"CREATE INDEX IF NOT EXISTS rec_src ON records(src);"
	"CREATE INDEX IF NOT EXISTS rec_dst ON records(dst);"
	"CREATE INDEX IF NOT EXISTS rec_sport ON records(sport);"
	"CREATE INDEX IF NOT EXISTS rec_dport ON records(dport);"
	"CREATE INDEX IF NOT EXISTS ev_stream ON events(stream);";

static const struct {
	const char *name, *sql;
} stmts[] = {
	{ "upd_stream",
	  "UPDATE streams SET last_seq=$1, last_hash=$2 WHERE id=$3" },
	{ "ins_event",
	  "INSERT INTO events(time_ns, kind, tracker, stream, seq_first,"
	  " seq_last, peer, detail) VALUES($1,$2,$3,$4,$5,$6,$7,$8)" },
	{ "get_hash", "SELECT hash FROM records WHERE stream=$1 AND seq=$2" },
	{ "prev",
	  "SELECT count(*) OVER (), id, last_seq FROM streams"
	  " WHERE tracker=$1 AND epoch<>$2 ORDER BY id DESC LIMIT 1" },
	{ "get_stream",
	  "SELECT id, last_seq, last_hash FROM streams"
	  " WHERE tracker=$1 AND epoch=$2 FOR UPDATE" },
	{ "ins_stream",
	  "INSERT INTO streams(tracker, epoch, fingerprint, created_ns,"
	  " last_seq, last_hash) VALUES($1,$2,$3,$4,0,$5)"
	  " ON CONFLICT (tracker, epoch) DO NOTHING RETURNING id" },
	{ "has_part", "SELECT to_regclass($1) IS NOT NULL" },
};

#define INS_ROWS_HEAD                                                          \
	"INSERT INTO records(stream, " COT_STORE_REC_COLS                      \
	", added_ns, stored_ns, hash) VALUES "
/* clang-format on */

int cot_store_is_pg(const char *path)
{
	return !strncmp(path, "postgresql://", 13) ||
	       !strncmp(path, "postgres://", 11);
}

const char *cot_store_pg_errmsg(const struct cot_store_pg *p)
{
	return p->err[0] ? p->err : "no error";
}

static void set_err(struct cot_store_pg *p, const char *what, const char *msg)
{
	size_t n, i;

	snprintf(p->err, sizeof(p->err), "%s: %s", what,
		 msg && msg[0] ? msg : "unknown error");
	n = strlen(p->err);
	while (n && (p->err[n - 1] == '\n' || p->err[n - 1] == ' '))
		p->err[--n] = '\0';
	/* one log line: libpq's DETAIL and CONTEXT lines joined */
	for (i = 0; i < n; i++)
		if (p->err[i] == '\n' || p->err[i] == '\t')
			p->err[i] = ' ';
}

/* A failed result's code: a lost connection and anything unknown EIO. */
static int res_rc(struct cot_store_pg *p, PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	set_err(p, what, r ? PQresultErrorMessage(r) : PQerrorMessage(p->c));
	p->failed = 1;
	if (PQstatus(p->c) != CONNECTION_OK || !state)
		return -COT_EIO;
	if (!strcmp(state, "53100"))
		return -COT_ENOSPC; /* disk_full */
	if (!strcmp(state, "23505"))
		return -COT_EEXIST;
	if (!strcmp(state, "40P01") || !strcmp(state, "40001") ||
	    !strcmp(state, "55P03"))
		return -COT_EBUSY; /* deadlock, serialisation, lock timeout */
	return -COT_EIO;
}

/* Run @sql (no parameters); 0 or a negative code. */
static int exec_ok(struct cot_store_pg *p, const char *sql)
{
	PGresult *r = PQexec(p->c, sql);
	ExecStatusType s = PQresultStatus(r);
	int rc = 0;

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		rc = res_rc(p, r, sql);
	PQclear(r);
	return rc;
}

static void notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("postgresql: %s", msg);
}

/* INSERT of @n records into p->rows_sql (n <= ROWS fits ROWS_SQL_MAX). */
static const char *rows_sql(struct cot_store_pg *p, int n)
{
	size_t o = (size_t)snprintf(p->rows_sql, sizeof(p->rows_sql), "%s",
				    INS_ROWS_HEAD);
	int i, k;

	/* bounded: n <= ROWS rows of NPARAM parameters */
	for (i = 0; i < n && o < sizeof(p->rows_sql); i++)
		for (k = 0; k < NPARAM && o < sizeof(p->rows_sql); k++)
			o += (size_t)snprintf(p->rows_sql + o,
					      sizeof(p->rows_sql) - o,
					      "%s$%d%s",
					      k	  ? ""
					      : i ? ",("
						  : "(",
					      i * NPARAM + k + 1,
					      k == NPARAM - 1 ? ")" : ",");
	return p->rows_sql;
}

/* Per session: commit mode and prepared statements (lost on reconnect). */
static int session_setup(struct cot_store_pg *p)
{
	PGresult *r;
	size_t i;
	int rc;

	PQsetNoticeProcessor(p->c, notice, NULL);
	rc = exec_ok(p, p->sync_full ? "SET synchronous_commit = on"
				     : "SET synchronous_commit = off");
	/*
	 * A stream row locked by an instance that stopped answering (cut
	 * off mid-transaction) must not stall this instance's one
	 * connection, and so every tracker on it: a lock wait fails the
	 * batch after 5 s (the tracker resends); the server ends a session
	 * idle inside a transaction for 60 s, freeing its locks.
	 */
	if (!rc)
		rc = exec_ok(p, "SET lock_timeout = '5s'; SET "
				"idle_in_transaction_session_timeout = '60s'");
	/* bounded: the fixed list of statements */
	for (i = 0; !rc && i < COT_ARRAY_SIZE(stmts); i++) {
		r = PQprepare(p->c, stmts[i].name, stmts[i].sql, 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = res_rc(p, r, stmts[i].name);
		PQclear(r);
	}
	if (!rc) {
		r = PQprepare(p->c, "ins_rows", rows_sql(p, ROWS), 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = res_rc(p, r, "ins_rows");
		PQclear(r);
	}
	p->failed = 0;
	p->ready = !rc;
	return rc;
}

/*
 * The schema, in one transaction, under an advisory lock; skipped when
 * it is there (meta says schema 3): its DDL would wait for, and then
 * hold up, the inserts of the instances already running.
 */
static int make_schema(struct cot_store_pg *p)
{
	PGresult *r = PQexec(p->c, "SELECT to_regclass('meta') IS NOT NULL"
				   " AND to_regclass('records') IS NOT NULL");
	int rc, have = PQresultStatus(r) == PGRES_TUPLES_OK &&
		       PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';

	PQclear(r);
	if (have) {
		r = PQexec(p->c, "SELECT v FROM meta WHERE k = 'schema'");
		have = PQresultStatus(r) == PGRES_TUPLES_OK &&
		       PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "3");
		PQclear(r);
		if (have)
			return 0;
	}
	rc = exec_ok(p, "BEGIN");

	if (!rc)
		rc = exec_ok(p, schema);
	if (!rc)
		rc = exec_ok(p, "COMMIT");
	if (rc)
		PQclear(PQexec(p->c, "ROLLBACK"));
	p->failed = 0;
	return rc;
}

int cot_store_pg_open(struct cot_store_pg **out, const char *url, int sync_full,
		      char *err, size_t errlen)
{
	struct cot_store_pg *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -COT_ENOMEM;
	}
	p->sync_full = sync_full;
	p->backoff_ms = BACKOFF_MIN_MS;
	p->pre_day = -1;
	p->c = PQconnectdb(url);
	if (!p->c || PQstatus(p->c) != CONNECTION_OK) {
		set_err(p, "connecting", p->c ? PQerrorMessage(p->c) : NULL);
		goto err;
	}
	if (make_schema(p) < 0 || session_setup(p) < 0)
		goto err;
	*out = p;
	return 0;
err:
	/* the URL may hold a password: name the database, not the URL */
	snprintf(err, errlen, "postgresql database %s: %s",
		 p->c && PQdb(p->c) ? PQdb(p->c) : "?", p->err);
	cot_store_pg_close(p);
	return -COT_EIO;
}

void cot_store_pg_close(struct cot_store_pg *p)
{
	if (!p)
		return;
	if (p->c)
		PQfinish(p->c);
	free(p);
}

/*
 * Read the queued inserts' results and leave pipeline mode.  The loop is
 * bounded by the results libpq can deliver: one per query, a NULL after
 * each, the sync; a dead connection ends it early.
 */
static int pipe_drain(struct cot_store_pg *p)
{
	PGresult *r;
	int rc = 0, n, max;

	if (PQpipelineStatus(p->c) == PQ_PIPELINE_OFF)
		return 0;
	max = 2 * p->queued + 4;
	p->queued = 0;
	if (!PQpipelineSync(p->c)) {
		rc = res_rc(p, NULL, "pipeline sync");
		max = 0;
	}
	for (n = 0; n < max; n++) {
		r = PQgetResult(p->c);
		if (!r) {
			if (PQstatus(p->c) != CONNECTION_OK) {
				if (!rc)
					rc = res_rc(p, NULL, "insert");
				break;
			}
			continue;
		}
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (PQresultStatus(r) != PGRES_COMMAND_OK && !rc)
			rc = res_rc(p, r, "insert");
		PQclear(r);
	}
	if (!PQexitPipelineMode(p->c) && !rc)
		rc = res_rc(p, NULL, "leaving pipeline mode");
	return rc;
}

/*
 * Reconnect a lost session, at most once per backoff interval (100 ms
 * doubling to 5 s): a restarted server is found within seconds, a dead
 * one costs each batch one failed call, not a connection attempt.
 */
static int ensure_conn(struct cot_store_pg *p)
{
	uint64_t now;

	if (PQstatus(p->c) == CONNECTION_OK && p->ready)
		return 0;
	now = cot_clock_mono_ns();
	if (now < p->retry_ns) {
		set_err(p, "server connection lost", "waiting to reconnect");
		return -COT_EIO;
	}
	PQreset(p->c);
	if (PQstatus(p->c) != CONNECTION_OK || session_setup(p) < 0) {
		if (PQstatus(p->c) != CONNECTION_OK)
			set_err(p, "reconnecting", PQerrorMessage(p->c));
		p->retry_ns = now + (uint64_t)p->backoff_ms * 1000000u;
		log_warnx("postgresql: %s; next attempt in %u ms", p->err,
			  p->backoff_ms);
		p->backoff_ms = COT_MIN(2 * p->backoff_ms, BACKOFF_MAX_MS);
		return -COT_EIO;
	}
	log_info("postgresql: reconnected");
	p->backoff_ms = BACKOFF_MIN_MS;
	p->retry_ns = 0;
	p->ndays = 0; /* partitions may have changed meanwhile */
	p->pre_day = -1;
	return 0;
}

static void part_name(char *buf, size_t len, int64_t day)
{
	snprintf(buf, len, "records_d%" PRId64, day);
}

static int day_known(const struct cot_store_pg *p, int64_t day)
{
	int i;

	for (i = 0; i < p->ndays; i++)
		if (p->days[i] == day)
			return 1;
	return 0;
}

static void day_remember(struct cot_store_pg *p, int64_t day)
{
	if (p->ndays < PART_CACHE) {
		p->days[p->ndays++] = day;
		return;
	}
	p->days[p->next_day] = day;
	p->next_day = (p->next_day + 1) % PART_CACHE;
}

/* 1 when the partition of @day exists, 0 not, negative on error. */
static int part_exists(struct cot_store_pg *p, int64_t day)
{
	char name[48];
	const char *v[1] = { name };
	PGresult *r;
	int rc;

	part_name(name, sizeof(name), day);
	r = PQexecPrepared(p->c, "has_part", 1, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		rc = res_rc(p, r, "looking up a partition");
	else
		rc = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return rc;
}

/*
 * CREATE the partition of @day (serialised across instances).  Rows of
 * that day already in records_default (stored while the day had none: a
 * tracker's clock days ahead, then the day came) would make CREATE ...
 * PARTITION OF fail, and the whole day would go to records_default; so
 * they are moved into a new table, which is then attached, all in the
 * caller's transaction.
 */
static int part_create(struct cot_store_pg *p, int64_t day)
{
	char sql[1024], name[48];
	int64_t lo = day * DAY_NS, hi = (day + 1) * DAY_NS;
	PGresult *r;
	int rc, held;

	part_name(name, sizeof(name), day);
	snprintf(sql, sizeof(sql),
		 "SELECT pg_advisory_xact_lock(%d);"
		 "SELECT EXISTS (SELECT 1 FROM records_default WHERE first_ns "
		 ">= %" PRId64 " AND first_ns < %" PRId64 ")",
		 LOCK_PART, lo, hi);
	r = PQexec(p->c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		rc = res_rc(p, r, "looking into records_default");
		PQclear(r);
		return rc;
	}
	held = PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (!held) {
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS %s PARTITION OF records"
			 " FOR VALUES FROM (%" PRId64 ") TO (%" PRId64 ")",
			 name, lo, hi);
		return exec_ok(p, sql);
	}
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE %s (LIKE records INCLUDING DEFAULTS);"
		 "WITH m AS (DELETE FROM records_default WHERE first_ns >= "
		 "%" PRId64 " AND first_ns < %" PRId64 " RETURNING *) "
		 "INSERT INTO %s SELECT * FROM m;"
		 "ALTER TABLE records ATTACH PARTITION %s FOR VALUES FROM "
		 "(%" PRId64 ") TO (%" PRId64 ")",
		 name, lo, hi, name, name, lo, hi);
	rc = exec_ok(p, sql);
	if (!rc)
		log_info("postgresql: day %" PRId64 "'s records moved from "
			 "records_default into its own partition %s",
			 day, name);
	return rc;
}

/*
 * Make sure the record of @first_ns has its day's partition, inside the
 * open transaction (under a savepoint: if it cannot be made, e.g. a
 * reader holds records_default while its rows of that day are to move,
 * the record goes to the default partition and the transaction goes
 * on).  Only days from
 * PART_PAST before today to tomorrow get a partition: a tracker cannot
 * make the server create tables without bound.
 */
static int part_ensure(struct cot_store_pg *p, int64_t first_ns)
{
	int64_t day, today = (int64_t)(cot_clock_real_ns() / DAY_NS);
	int rc;

	if (first_ns < 0)
		return 0;
	day = first_ns / DAY_NS;
	if (day_known(p, day))
		return 0;
	if (day < today - PART_PAST || day > today + 1) {
		day_remember(p, day); /* the default partition's */
		return 0;
	}
	rc = pipe_flush(p);
	if (rc)
		return rc;
	rc = part_exists(p, day);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		rc = exec_ok(p, "SAVEPOINT cot_part");
		if (rc)
			return rc;
		if (part_create(p, day) < 0) {
			log_info("postgresql: no partition for day %" PRId64
				 " (%s): its records go to records_default",
				 day, p->err);
			p->failed = 0;
			rc = exec_ok(p, "ROLLBACK TO SAVEPOINT cot_part");
			if (rc)
				return rc;
		}
		rc = exec_ok(p, "RELEASE SAVEPOINT cot_part");
		if (rc)
			return rc;
	}
	day_remember(p, day);
	return 0;
}

/*
 * Yesterday's, today's and tomorrow's partitions, each in a transaction
 * of its own before the batch's: the common case needs no DDL (and no
 * lock on the parent table) inside a batch.  Errors only mean the batch
 * makes it on demand.
 */
static void part_advance(struct cot_store_pg *p)
{
	int64_t d, today = (int64_t)(cot_clock_real_ns() / DAY_NS);

	if (today == p->pre_day)
		return;
	for (d = today - 1; d <= today + 1; d++) {
		if (part_exists(p, d) != 0)
			continue;
		if (exec_ok(p, "BEGIN") == 0 && part_create(p, d) == 0 &&
		    exec_ok(p, "COMMIT") == 0)
			continue;
		PQclear(PQexec(p->c, "ROLLBACK"));
	}
	p->failed = 0;
	p->ndays = 0;
	p->pre_day = today;
}

int cot_store_pg_begin(struct cot_store_pg *p)
{
	int rc = ensure_conn(p);

	if (rc)
		return rc;
	part_advance(p);
	rc = exec_ok(p, "BEGIN");
	if (!rc) {
		p->in_tx = 1;
		p->failed = 0;
	}
	return rc;
}

int cot_store_pg_commit(struct cot_store_pg *p)
{
	PGresult *r;
	int rc = pipe_flush(p);

	if (!rc && p->failed)
		rc = -COT_EIO;
	if (!rc) {
		r = PQexec(p->c, "COMMIT");
		/* COMMIT of a failed transaction answers ROLLBACK */
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = res_rc(p, r, "COMMIT");
		else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
			set_err(p, "COMMIT", "the transaction was rolled back");
			rc = -COT_EIO;
		}
		PQclear(r);
	}
	if (rc) {
		cot_store_pg_rollback(p);
		return rc;
	}
	p->in_tx = 0;
	return 0;
}

void cot_store_pg_rollback(struct cot_store_pg *p)
{
	p->npend = 0; /* never sent */
	pipe_drain(p);
	if (PQstatus(p->c) == CONNECTION_OK &&
	    PQtransactionStatus(p->c) != PQTRANS_IDLE)
		PQclear(PQexec(p->c, "ROLLBACK"));
	p->in_tx = 0;
	p->failed = 0;
	p->ndays = 0; /* partitions made in this transaction are gone */
}

/* Big-endian 64-bit column @col of row 0 (binary results). */
static int get_i64(PGresult *r, int row, int col, int64_t *v)
{
	const unsigned char *b;
	uint64_t x = 0;
	int i;

	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
		return -COT_EBADMSG;
	b = (const unsigned char *)PQgetvalue(r, row, col);
	for (i = 0; i < 8; i++)
		x = x << 8 | b[i];
	*v = (int64_t)x;
	return 0;
}

static const char *i64s(char *buf, int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

/* Run prepared @name with text parameters (NULL: SQL NULL), binary results. */
static PGresult *run(struct cot_store_pg *p, const char *name, int n,
		     const char *const *v, const int *len, const int *fmt)
{
	int rc = pipe_flush(p);

	if (rc)
		return NULL;
	return PQexecPrepared(p->c, name, n, v, len, fmt, 1);
}

int cot_store_pg_stream(struct cot_store_pg *p, const char *tracker,
			uint64_t epoch, const char *fingerprint,
			uint64_t now_ns, struct cot_stream_state *out)
{
	uint8_t h0[COT_CHAIN_LEN];
	char e[24], t[24];
	const char *v[5] = { tracker, i64s(e, (int64_t)epoch) };
	int len[5] = { 0 }, fmt[5] = { 0 };
	PGresult *r;
	int64_t n, last;
	int rc = 0, pass;

	memset(out, 0, sizeof(*out));
	r = run(p, "prev", 2, v, NULL, NULL);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		goto fail;
	if (PQntuples(r) == 1) {
		if (get_i64(r, 0, 0, &n) || get_i64(r, 0, 1, &out->prev_id) ||
		    get_i64(r, 0, 2, &last)) {
			rc = -COT_EBADMSG;
			goto out;
		}
		out->prev_epochs = (uint64_t)n;
		out->prev_last_seq = (uint64_t)last;
	}
	/*
	 * Lock the row, or make it: two passes at most, for an instance that
	 * made the same stream between our SELECT and INSERT.
	 */
	for (pass = 0; pass < 2; pass++) {
		PQclear(r);
		r = run(p, "get_stream", 2, v, NULL, NULL);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			goto fail;
		if (PQntuples(r) == 1) {
			if (get_i64(r, 0, 0, &out->id) ||
			    get_i64(r, 0, 1, &last) ||
			    PQgetlength(r, 0, 2) != COT_CHAIN_LEN) {
				rc = -COT_EBADMSG;
				goto out;
			}
			out->last_seq = (uint64_t)last;
			memcpy(out->last_hash, PQgetvalue(r, 0, 2),
			       COT_CHAIN_LEN);
			goto out;
		}
		if (pass)
			break;
		PQclear(r);
		cot_chain_init(h0);
		v[2] = fingerprint;
		v[3] = i64s(t, (int64_t)now_ns);
		v[4] = (const char *)h0;
		len[4] = COT_CHAIN_LEN;
		fmt[4] = 1;
		r = run(p, "ins_stream", 5, v, len, fmt);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			goto fail;
		if (PQntuples(r) == 1) {
			if (get_i64(r, 0, 0, &out->id)) {
				rc = -COT_EBADMSG;
				goto out;
			}
			memcpy(out->last_hash, h0, COT_CHAIN_LEN);
			out->created = 1;
			goto out;
		}
	}
	set_err(p, "stream", "neither found nor created");
	rc = -COT_EIO;
	goto out;
fail:
	rc = res_rc(p, r, "stream");
out:
	PQclear(r);
	return rc;
}

/* A prepared statement that returns no rows. */
static int run_cmd(struct cot_store_pg *p, const char *name, int n,
		   const char *const *v, const int *len, const int *fmt)
{
	PGresult *r = run(p, name, n, v, len, fmt);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = r ? res_rc(p, r, name) : -COT_EIO;
	PQclear(r);
	return rc;
}

int cot_store_pg_stream_update(struct cot_store_pg *p, int64_t id,
			       uint64_t last_seq,
			       const uint8_t hash[static COT_CHAIN_LEN])
{
	char a[24], b[24];
	const char *v[3] = { i64s(a, (int64_t)last_seq), (const char *)hash,
			     i64s(b, id) };
	int len[3] = { 0, COT_CHAIN_LEN, 0 }, fmt[3] = { 0, 1, 0 };

	return run_cmd(p, "upd_stream", 3, v, len, fmt);
}

/* Text parameter @i: @v, or NULL when !@present. */
static void par_i64(const char **v, char (*buf)[24], int i, int present,
		    int64_t x)
{
	v[i] = present ? i64s(buf[i], x) : NULL;
}

static void par_bin(const char **v, int *len, int *fmt, int i, const void *b,
		    int n)
{
	v[i] = b;
	len[i] = n;
	fmt[i] = 1;
}

/* "" is stored as NULL: absent, as the record encoding has it. */
static const char *str_or_null(const char *s)
{
	return s[0] ? s : NULL;
}

/* The NPARAM parameters of @e at @v, @len, @fmt, @buf. */
static void fill_row(const struct pend *e, const char **v, int *len, int *fmt,
		     char (*buf)[24])
{
	const struct cot_rec *r = &e->r;
	const struct cot_rec_owner *o[2] = { &r->src_owner, &r->dst_owner };
	int i = 0, k;

	memset(len, 0, NPARAM * sizeof(*len));
	memset(fmt, 0, NPARAM * sizeof(*fmt));
	par_i64(v, buf, i++, 1, e->stream);
	par_i64(v, buf, i++, 1, (int64_t)r->seq);
	v[i++] = r->vm;
	par_i64(v, buf, i++, 1, r->proto);
	par_i64(v, buf, i++, 1, r->ipproto);
	par_i64(v, buf, i++, 1, r->tcp_state);
	par_i64(v, buf, i++, 1, r->end);
	par_i64(v, buf, i++, 1, r->seen_by);
	par_i64(v, buf, i++, 1, r->flags);
	par_i64(v, buf, i++, 1, r->tcp_flags_fwd);
	par_i64(v, buf, i++, 1, r->tcp_flags_rev);
	par_i64(v, buf, i++, 1, r->sport);
	par_i64(v, buf, i++, 1, r->dport);
	par_bin(v, len, fmt, i++, r->src.b, 16);
	par_bin(v, len, fmt, i++, r->dst.b, 16);
	par_i64(v, buf, i++, 1, (int64_t)r->first_ns);
	par_i64(v, buf, i++, 1, (int64_t)r->last_ns);
	par_i64(v, buf, i++, 1, (int64_t)r->pkts_fwd);
	par_i64(v, buf, i++, 1, (int64_t)r->bytes_fwd);
	par_i64(v, buf, i++, 1, (int64_t)r->pkts_rev);
	par_i64(v, buf, i++, 1, (int64_t)r->bytes_rev);
	par_i64(v, buf, i++, 1, r->netns);
	for (k = 0; k < 2; k++) {
		par_i64(v, buf, i++, o[k]->pid != 0, o[k]->pid);
		v[i++] = o[k]->pid ? str_or_null(o[k]->comm) : NULL;
		v[i++] = o[k]->pid ? str_or_null(o[k]->cgroup) : NULL;
	}
	v[i++] = str_or_null(r->src_name);
	v[i++] = str_or_null(r->dst_name);
	par_i64(v, buf, i++, r->tun_type != 0, r->tun_type);
	par_i64(v, buf, i++, r->tun_type != 0, r->tun_id);
	if (r->tun_type) {
		par_bin(v, len, fmt, i++, r->tun_src.b, 16);
		par_bin(v, len, fmt, i++, r->tun_dst.b, 16);
	} else {
		v[i++] = NULL;
		v[i++] = NULL;
	}
	par_i64(v, buf, i++, r->inner_conns != 0, r->inner_conns);
	par_i64(v, buf, i++, 1, (int64_t)e->added_ns);
	par_i64(v, buf, i++, 1, (int64_t)e->stored_ns);
	par_bin(v, len, fmt, i++, e->hash, COT_CHAIN_LEN);
}

/*
 * Send the waiting records as one INSERT (prepared for ROWS records,
 * else made for their number) in pipeline mode; results are read now
 * and then, so the server's replies never fill the socket while libpq
 * waits to send (a blocking pipeline).
 */
static int rows_send(struct cot_store_pg *p)
{
	int i, n = p->npend, ok;

	if (!n)
		return 0;
	p->npend = 0;
	/* bounded: n <= ROWS */
	for (i = 0; i < n; i++)
		fill_row(&p->pend[i], p->pv + i * NPARAM, p->plen + i * NPARAM,
			 p->pfmt + i * NPARAM, p->pbuf + i * NPARAM);
	if (PQpipelineStatus(p->c) == PQ_PIPELINE_OFF &&
	    !PQenterPipelineMode(p->c))
		return res_rc(p, NULL, "entering pipeline mode");
	if (n == ROWS)
		ok = PQsendQueryPrepared(p->c, "ins_rows", n * NPARAM, p->pv,
					 p->plen, p->pfmt, 0);
	else
		ok = PQsendQueryParams(p->c, rows_sql(p, n), n * NPARAM, NULL,
				       p->pv, p->plen, p->pfmt, 0);
	if (!ok)
		return res_rc(p, NULL, "insert");
	if (++p->queued >= PIPE_MAX)
		return pipe_drain(p);
	return 0;
}

/* Everything sent, every result read, pipeline mode left. */
static int pipe_flush(struct cot_store_pg *p)
{
	int rc = rows_send(p), rc2 = pipe_drain(p);

	return rc ? rc : rc2;
}

int cot_store_pg_put(struct cot_store_pg *p, int64_t stream,
		     const struct cot_rec *r, uint64_t added_ns,
		     uint64_t stored_ns,
		     const uint8_t hash[static COT_CHAIN_LEN])
{
	struct pend *e;
	int rc;

	if (p->failed)
		return -COT_EIO;
	rc = part_ensure(p, (int64_t)r->first_ns);
	if (rc)
		return rc;
	e = &p->pend[p->npend++];
	e->r = *r;
	e->stream = stream;
	e->added_ns = added_ns;
	e->stored_ns = stored_ns;
	memcpy(e->hash, hash, COT_CHAIN_LEN);
	return p->npend == ROWS ? rows_send(p) : 0;
}

int cot_store_pg_hash(struct cot_store_pg *p, int64_t stream, uint64_t seq,
		      uint8_t hash[static COT_CHAIN_LEN])
{
	char a[24], b[24];
	const char *v[2] = { i64s(a, stream), i64s(b, (int64_t)seq) };
	PGresult *r;
	int rc = -COT_ENOENT;

	if (seq == 0) {
		cot_chain_init(hash);
		return 0;
	}
	r = run(p, "get_hash", 2, v, NULL, NULL);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = r ? res_rc(p, r, "get_hash") : -COT_EIO;
	else if (PQntuples(r) >= 1 && PQgetlength(r, 0, 0) == COT_CHAIN_LEN) {
		memcpy(hash, PQgetvalue(r, 0, 0), COT_CHAIN_LEN);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

/*
 * A copy of @s for a text column: PostgreSQL refuses invalid UTF-8, and
 * an event's strings can come from anyone who reaches the port (a
 * refused certificate's subject), so bytes outside printable ASCII
 * become '?' rather than cost the event.  NULL stays NULL.
 */
static const char *ascii(char *buf, size_t cap, const char *s)
{
	size_t i;

	if (!s)
		return NULL;
	/* bounded by @cap */
	for (i = 0; s[i] && i + 1 < cap; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

int cot_store_pg_event(struct cot_store_pg *p, uint64_t time_ns,
		       const char *kind, const char *tracker, int64_t stream,
		       uint64_t first, uint64_t last, const char *peer,
		       const char *detail)
{
	char buf[8][24], t[256], pe[128], d[1024];
	const char *v[8];

	par_i64(v, buf, 0, 1, (int64_t)time_ns);
	v[1] = kind;
	v[2] = ascii(t, sizeof(t), tracker);
	par_i64(v, buf, 3, stream != 0, stream);
	par_i64(v, buf, 4, first != 0, (int64_t)first);
	par_i64(v, buf, 5, last != 0, (int64_t)last);
	v[6] = ascii(pe, sizeof(pe), peer);
	v[7] = ascii(d, sizeof(d), detail);
	return run_cmd(p, "ins_event", 8, v, NULL, NULL);
}

int cot_store_pg_exec(struct cot_store_pg *p, const char *sql, int n,
		      const char *const *v, const int *len, const int *fmt)
{
	PGresult *r;
	int rc = pipe_flush(p);

	if (rc)
		return rc;
	r = PQexecParams(p->c, sql, n, NULL, v, len, fmt, 0);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK ||
			     PQresultStatus(r) == PGRES_TUPLES_OK
		     ? 0
		     : res_rc(p, r, "statement");
	PQclear(r);
	return rc;
}

int cot_store_pg_text(struct cot_store_pg *p, const char *sql, char *out,
		      size_t outlen)
{
	PGresult *r;
	int rc = pipe_flush(p);

	out[0] = '\0';
	if (rc)
		return rc;
	r = PQexec(p->c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = res_rc(p, r, "query");
	} else if (PQntuples(r) > 0 && PQnfields(r) > 0) {
		if ((size_t)PQgetlength(r, 0, 0) >= outlen) {
			set_err(p, "query", "answer too long");
			rc = -COT_EMSGSIZE;
		} else {
			snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
		}
	}
	PQclear(r);
	return rc;
}
