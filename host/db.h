/* SPDX-License-Identifier: MIT */
/*
 * host/db: one statement interface over the log server's two stores, a
 * SQLite file and a PostgreSQL database (libpq), for the programs that
 * read records: prepare, bind, step through rows, read columns.
 *
 * The SQL text is written once, with SQLite's numbered parameters ?N (or
 * plain ?, numbered in order); for PostgreSQL they become $N.  Only SQL
 * both engines accept may be used (COALESCE not ifnull, no blob
 * literals, no hex()); a query that needs an engine's own functions
 * asks cot_db_kind() and picks its text.
 *
 * Rows stream: SQLite steps its statement; PostgreSQL reads through a
 * server-side cursor (DECLARE ... CURSOR, FETCH COT_DB_FETCH rows at a
 * time), so memory is bounded by that many rows whatever the result's
 * size, and several statements may be stepped at once (nested loops).
 * Cursors live in a transaction: on PostgreSQL every statement must be
 * stepped between cot_db_read_begin() and cot_db_read_end() (a
 * repeatable-read, read-only snapshot); on SQLite the two make one read
 * transaction, a consistent snapshot while logd writes.
 *
 * PostgreSQL's values arrive as text and are converted on reading: an
 * integer column read as text gives its decimal form, a bytea column
 * read as a blob its bytes (decoded from the hex form).
 *
 * Thread-safety: a cot_db and its statements are used by one thread at
 * a time.
 */
#ifndef COTRACK_HOST_DB_H
#define COTRACK_HOST_DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#define COT_DB_SQLITE 1
#define COT_DB_PG     2

#define COT_DB_FETCH	256 /* rows per FETCH of a PostgreSQL cursor */
#define COT_DB_MAXPARAM 32
#define COT_DB_MAXCOL	64

/* A connection: exactly one of the two handles is set (not owned). */
struct cot_db {
	sqlite3 *lite;
	PGconn *pg;
	unsigned cursors; /* names the PostgreSQL cursors */
	int owned;	  /* cot_db_close() closes the handle */
	int in_read;
	char err[256];
};

/* 1 when @where names a PostgreSQL database (postgresql:// or postgres://). */
int cot_db_is_url(const char *where);

/* Wrap an open handle (the caller keeps it and closes it after). */
void cot_db_wrap_sqlite(struct cot_db *db, sqlite3 *h);
void cot_db_wrap_pg(struct cot_db *db, PGconn *h);

/*
 * Connect to the PostgreSQL database @url (owned: cot_db_close() ends
 * it).  0, or -COT_EIO with libpq's message in @err.
 */
int cot_db_open_pg(struct cot_db *db, const char *url, char *err,
		   size_t errlen);
/* End an owned connection; a wrapped one is left to its owner. */
void cot_db_close(struct cot_db *db);

int cot_db_kind(const struct cot_db *db);

/* Message of the last error on @db or one of its statements. */
const char *cot_db_errmsg(const struct cot_db *db);

/*
 * 1 when @db's PostgreSQL connection is lost (libpq says it is bad):
 * close it and open another.  0 for SQLite.
 */
int cot_db_lost(const struct cot_db *db);

/* A read snapshot around the statements (see above).  0 or -COT_EIO. */
int cot_db_read_begin(struct cot_db *db);
void cot_db_read_end(struct cot_db *db);

/*
 * A statement.  Its fields are this file's own, but for one use: a
 * SQLite statement prepared elsewhere may be read through the column
 * functions (and cot_rec_from_row(), recrow.h) as COT_DBQ_STMT(s), at no
 * cost; stepping and freeing it stay its owner's.
 */
struct cot_dbq_pg;
struct cot_dbq {
	struct cot_db *db; /* NULL when borrowed */
	sqlite3_stmt *s;   /* SQLite */
	struct cot_dbq_pg *pg;
	int done;
};
#define COT_DBQ_STMT(stmt) ((struct cot_dbq){ .s = (stmt) })

/* Prepare @sql.  0, -COT_ENOMEM, -COT_E2BIG (too many ?) or -COT_EIO. */
int cot_dbq_prepare(struct cot_db *db, const char *sql, struct cot_dbq **q);
/* Finalize (and close its cursor).  NULL is a no-op. */
void cot_dbq_free(struct cot_dbq *q);

/* Bind parameter @i (1-based, as ?@i).  0 or -COT_EINVAL. */
int cot_dbq_bind_int64(struct cot_dbq *q, int i, int64_t v);
int cot_dbq_bind_text(struct cot_dbq *q, int i, const char *v);
int cot_dbq_bind_blob(struct cot_dbq *q, int i, const void *v, size_t len);
int cot_dbq_bind_null(struct cot_dbq *q, int i);

/*
 * The next row: 1 a row, 0 no more, -COT_EIO an error (cot_db_errmsg).
 * After 0 or an error, step again only after cot_dbq_reset().
 */
int cot_dbq_step(struct cot_dbq *q);
/* Back to before the first row, keeping the bindings. */
void cot_dbq_reset(struct cot_dbq *q);

/* Columns of the current row, 0-based.  NULL reads as 0, NULL, 0 bytes. */
int cot_dbq_null(struct cot_dbq *q, int col);
int64_t cot_dbq_int64(struct cot_dbq *q, int col);
/* Valid until the next step, reset or free. */
const char *cot_dbq_text(struct cot_dbq *q, int col);
/* The length of the text cot_dbq_text() just gave. */
size_t cot_dbq_text_len(struct cot_dbq *q, int col);
const void *cot_dbq_blob(struct cot_dbq *q, int col, size_t *len);

/*
 * The PostgreSQL text of @sql (?N and ? become $N; quoted text and
 * identifiers are copied as they are) into @out.  Returns the number of
 * parameters, or -COT_E2BIG (@out too small, or a number above
 * COT_DB_MAXPARAM).  Exposed for tests.
 */
int cot_db_pg_sql(const char *sql, char *out, size_t len);

#endif
