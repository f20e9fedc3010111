// SPDX-License-Identifier: MIT
/*
 * host/db: the ?N -> $N translation, and the same reads on both stores:
 * rows past one cursor block, two statements stepped at once, each kind
 * of value and NULL, parameters of each type, reset, errors.  SQLite
 * always; PostgreSQL too when a URL is given (test_db postgresql://...,
 * as tests/logd/pg_db.t runs it against a server it starts).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "cotrack/common.h"
#include "host/db.h"
#include "t.h"

#define NROWS (3 * COT_DB_FETCH + 7)

static struct cot_db db;

static void test_pg_sql(void)
{
	char out[256], tiny[8];

	T_EQ_U(cot_db_pg_sql("SELECT 1", out, sizeof(out)), 0);
	T_EQ_S(out, "SELECT 1");
	T_EQ_U(cot_db_pg_sql("a = ?1 AND b = ?2 OR c = ?1", out, sizeof(out)),
	       2);
	T_EQ_S(out, "a = $1 AND b = $2 OR c = $1");
	/* plain ? continue after the highest number seen before them */
	T_EQ_U(cot_db_pg_sql("x = ? AND y = ? AND z = ?7 AND w = ?", out,
			     sizeof(out)),
	       8);
	T_EQ_S(out, "x = $1 AND y = $2 AND z = $7 AND w = $8");
	/* quoted text and identifiers are left alone, '' and "" inside */
	T_EQ_U(cot_db_pg_sql("s = '?' || 'it''s ?' AND \"a?\"\"b\" = ?", out,
			     sizeof(out)),
	       1);
	T_EQ_S(out, "s = '?' || 'it''s ?' AND \"a?\"\"b\" = $1");
	T_EQ_U(cot_db_pg_sql("a = ?33", out, sizeof(out)), -COT_E2BIG);
	T_EQ_U(cot_db_pg_sql("a = ?0", out, sizeof(out)), -COT_E2BIG);
	T_EQ_U(cot_db_pg_sql("a = ?99999999999999999999", out, sizeof(out)),
	       -COT_E2BIG);
	T_EQ_U(cot_db_pg_sql("SELECT 12345678", tiny, sizeof(tiny)),
	       -COT_E2BIG);
	T_EQ_U(cot_db_pg_sql("SELECT ?", tiny, 0), -COT_E2BIG);
	/* an unterminated quote is copied to the end, not read past it */
	T_EQ_U(cot_db_pg_sql("a = 'x?", out, sizeof(out)), 0);
	T_EQ_S(out, "a = 'x?");
}

/* Run @sql on the store directly (set-up: db.h reads only). */
static int run(const char *sql)
{
	if (db.pg) {
		PGresult *r = PQexec(db.pg, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

		if (!ok)
			printf("# %s: %s", sql, PQerrorMessage(db.pg));
		PQclear(r);
		return ok ? 0 : -1;
	}
	if (sqlite3_exec(db.lite, sql, NULL, NULL, NULL) != SQLITE_OK) {
		printf("# %s: %s\n", sql, sqlite3_errmsg(db.lite));
		return -1;
	}
	return 0;
}

static int setup_rows(void)
{
	char sql[256];
	int i;

	if (run("DROP TABLE IF EXISTS t") < 0 ||
	    run(db.pg ? "CREATE TABLE t (i bigint, s text, b bytea)"
		      : "CREATE TABLE t (i INTEGER, s TEXT, b BLOB)") < 0 ||
	    run("BEGIN") < 0)
		return -1;
	for (i = 0; i < NROWS; i++) {
		/* b = 00 0i, as each engine writes a blob literal */
		snprintf(sql, sizeof(sql),
			 db.pg ? "INSERT INTO t VALUES (%d, 'row %d', "
				 "'\\x00%02x'::bytea)"
			       : "INSERT INTO t VALUES (%d, 'row %d', "
				 "X'00%02x')",
			 i, i, i & 0xff);
		if (run(sql) < 0)
			return -1;
	}
	return run("INSERT INTO t VALUES (-9223372036854775807 - 1, NULL, "
		   "NULL)") < 0 ||
			       run("COMMIT") < 0
		       ? -1
		       : 0;
}

static void test_rows(void)
{
	struct cot_dbq *q = NULL, *in = NULL;
	const unsigned char *b;
	char want[32];
	int64_t n = 0, sum = 0;
	size_t len;
	int rc, bad = 0;

	T_ASSERT(setup_rows() == 0);
	T_ASSERT(cot_db_read_begin(&db) == 0);
	T_ASSERT(cot_dbq_prepare(&db,
				 "SELECT i, s, b FROM t WHERE i >= ? "
				 "ORDER BY i",
				 &q) == 0);
	/* a second statement stepped inside the first one's loop */
	T_ASSERT(cot_dbq_prepare(&db, "SELECT s FROM t WHERE i = ?1", &in) ==
		 0);
	T_ASSERT(cot_dbq_bind_int64(q, 1, 0) == 0);
	while ((rc = cot_dbq_step(q)) == 1) {
		int64_t i = cot_dbq_int64(q, 0);

		snprintf(want, sizeof(want), "row %" PRId64, i);
		b = cot_dbq_blob(q, 2, &len);
		if (i != n || !cot_dbq_text(q, 1) ||
		    strcmp(cot_dbq_text(q, 1), want) || len != 2 || !b ||
		    b[0] != 0 || b[1] != (i & 0xff) || cot_dbq_null(q, 0))
			bad++;
		/* the blob again: the same bytes */
		b = cot_dbq_blob(q, 2, &len);
		if (len != 2 || b[1] != (i & 0xff))
			bad++;
		if (i % 100 == 0) {
			cot_dbq_reset(in);
			T_CHECK(cot_dbq_bind_int64(in, 1, i) == 0);
			T_CHECK(cot_dbq_step(in) == 1);
			T_EQ_S(cot_dbq_text(in, 0), want);
			T_CHECK(cot_dbq_step(in) == 0);
		}
		sum += i;
		n++;
	}
	T_EQ_U(rc, 0);
	T_EQ_U(n, NROWS);
	T_EQ_U(bad, 0);
	T_EQ_U(sum, (int64_t)NROWS * (NROWS - 1) / 2);
	T_EQ_U(cot_dbq_step(q), 0); /* stays done */

	/* reset with the bindings kept: the same rows again */
	cot_dbq_reset(q);
	n = 0;
	while (cot_dbq_step(q) == 1)
		n++;
	T_EQ_U(n, NROWS);

	/* the NULL row and the smallest int64 */
	cot_dbq_reset(q);
	T_CHECK(cot_dbq_bind_int64(q, 1, INT64_MIN) == 0);
	T_ASSERT(cot_dbq_step(q) == 1);
	T_CHECK(cot_dbq_int64(q, 0) == INT64_MIN);
	T_CHECK(cot_dbq_null(q, 1) && cot_dbq_text(q, 1) == NULL);
	T_CHECK(cot_dbq_null(q, 2) && cot_dbq_blob(q, 2, &len) == NULL &&
		len == 0);
	cot_dbq_free(q);
	cot_dbq_free(in);

	/* text, blob and NULL parameters */
	T_ASSERT(
		cot_dbq_prepare(&db,
				"SELECT count(*) FROM t WHERE s = ?1 OR b = ?2 "
				"OR s = ?3",
				&q) == 0);
	T_CHECK(cot_dbq_bind_text(q, 1, "row 5") == 0);
	T_CHECK(cot_dbq_bind_blob(q, 2, "\0\7", 2) == 0);
	T_CHECK(cot_dbq_bind_null(q, 3) == 0);
	T_ASSERT(cot_dbq_step(q) == 1);
	/* row 5, and rows 7, 263 and 519 (b = 00 07) */
	T_EQ_U(cot_dbq_int64(q, 0), 4);
	T_CHECK(cot_dbq_bind_int64(q, 0, 1) == -COT_EINVAL);
	T_CHECK(cot_dbq_bind_int64(q, COT_DB_MAXPARAM + 1, 1) == -COT_EINVAL);
	cot_dbq_free(q);

	/* numbers the text skips, never bound: no error */
	T_ASSERT(cot_dbq_prepare(
			 &db, "SELECT count(*) FROM t WHERE i = ?2 OR i = ?5",
			 &q) == 0);
	T_CHECK(cot_dbq_bind_int64(q, 2, 3) == 0);
	T_CHECK(cot_dbq_bind_int64(q, 5, 4) == 0);
	T_CHECK(cot_dbq_step(q) == 1);
	T_EQ_U(cot_dbq_int64(q, 0), 2);
	cot_dbq_free(q);

	/* an error: a message, not a crash */
	rc = cot_dbq_prepare(&db, "SELECT nosuch FROM t", &q);
	if (rc == 0) { /* PostgreSQL says so at the first step */
		rc = cot_dbq_step(q);
		cot_dbq_free(q);
	}
	T_EQ_U(rc, -COT_EIO);
	T_CHECK(strlen(cot_db_errmsg(&db)) > 0);
	cot_db_read_end(&db);
	if (db.pg) {
		/* PostgreSQL's cursors need the read transaction */
		T_ASSERT(cot_dbq_prepare(&db, "SELECT 1", &q) == 0);
		T_CHECK(cot_dbq_step(q) == -COT_EIO);
		cot_dbq_free(q);
	}
}

int main(int argc, char **argv)
{
	char path[] = "/tmp/test_db.XXXXXX";
	sqlite3 *lite = NULL;
	PGconn *pg = NULL;
	int fd;

	T_RUN(test_pg_sql);
	fd = mkstemp(path);
	if (fd < 0 || sqlite3_open(path, &lite) != SQLITE_OK) {
		printf("not ok - cannot make %s\n", path);
		return 1;
	}
	cot_db_wrap_sqlite(&db, lite);
	printf("# SQLite\n");
	T_RUN(test_rows);
	sqlite3_close(lite);
	close(fd);
	unlink(path);
	if (argc > 1) {
		pg = PQconnectdb(argv[1]);
		if (PQstatus(pg) != CONNECTION_OK) {
			printf("not ok - %s: %s", argv[1], PQerrorMessage(pg));
			PQfinish(pg);
			return 1;
		}
		cot_db_wrap_pg(&db, pg);
		printf("# PostgreSQL\n");
		T_RUN(test_rows);
		run("DROP TABLE IF EXISTS t");
		PQfinish(pg);
	}
	return t_done();
}
