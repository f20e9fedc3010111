// SPDX-License-Identifier: MIT
/* host/db: one statement interface over SQLite and PostgreSQL (db.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotrack/common.h"
#include "host/db.h"

/* PostgreSQL type OIDs of bound parameters (pg_type.h). */
#define PG_BYTEA 17
#define PG_INT8	 20
#define PG_TEXT	 25

struct pgcol {
	unsigned char *buf; /* a decoded bytea */
	size_t len, cap;
	int row; /* the row buf holds, -1 none */
};

/* A PostgreSQL statement's state (struct cot_dbq.pg). */
struct cot_dbq_pg {
	char *declare; /* DECLARE <cursor> NO SCROLL CURSOR FOR <sql> */
	char cursor[24];
	int nparam;
	char *pval[COT_DB_MAXPARAM];
	int plen[COT_DB_MAXPARAM], pfmt[COT_DB_MAXPARAM];
	Oid ptype[COT_DB_MAXPARAM];
	uint8_t bound[COT_DB_MAXPARAM];
	PGresult *res;
	int row, nrows, open;
	struct pgcol col[COT_DB_MAXCOL];
};

static void set_err(struct cot_db *db, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct cot_db *db, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!db)
		return; /* a borrowed statement: its owner reads SQLite's */
	va_start(ap, fmt);
	vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
	n = strlen(db->err);
	while (n && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = '\0'; /* libpq's messages end in a newline */
}

int cot_db_is_url(const char *where)
{
	return where && (!strncmp(where, "postgresql://", 13) ||
			 !strncmp(where, "postgres://", 11));
}

void cot_db_wrap_sqlite(struct cot_db *db, sqlite3 *h)
{
	memset(db, 0, sizeof(*db));
	db->lite = h;
}

void cot_db_wrap_pg(struct cot_db *db, PGconn *h)
{
	memset(db, 0, sizeof(*db));
	db->pg = h;
}

int cot_db_open_pg(struct cot_db *db, const char *url, char *err, size_t errlen)
{
	PGconn *pg = PQconnectdb(url);
	size_t n;

	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, errlen, "%s",
			 pg ? PQerrorMessage(pg) : "no memory");
		n = strlen(err);
		while (n && err[n - 1] == '\n')
			err[--n] = '\0';
		PQfinish(pg);
		return -COT_EIO;
	}
	cot_db_wrap_pg(db, pg);
	db->owned = 1;
	return 0;
}

void cot_db_close(struct cot_db *db)
{
	cot_db_read_end(db);
	if (db->owned && db->pg)
		PQfinish(db->pg);
	if (db->owned && db->lite)
		sqlite3_close(db->lite);
	memset(db, 0, sizeof(*db));
}

int cot_db_kind(const struct cot_db *db)
{
	return db->pg ? COT_DB_PG : COT_DB_SQLITE;
}

int cot_db_lost(const struct cot_db *db)
{
	return db->pg && PQstatus(db->pg) == CONNECTION_BAD;
}

const char *cot_db_errmsg(const struct cot_db *db)
{
	return db->err[0] ? db->err : "no error";
}

/* Run @sql (no parameters, no rows) on PostgreSQL.  0 or -COT_EIO. */
static int pg_exec(struct cot_db *db, const char *sql)
{
	PGresult *r = PQexec(db->pg, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		set_err(db, "%s", PQerrorMessage(db->pg));
	PQclear(r);
	return ok ? 0 : -COT_EIO;
}

int cot_db_read_begin(struct cot_db *db)
{
	int rc;

	if (db->in_read)
		return 0;
	if (db->pg)
		rc = pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ "
				 "READ ONLY");
	else if (sqlite3_exec(db->lite, "BEGIN", NULL, NULL, NULL) !=
		 SQLITE_OK) {
		set_err(db, "%s", sqlite3_errmsg(db->lite));
		rc = -COT_EIO;
	} else
		rc = 0;
	if (rc == 0)
		db->in_read = 1;
	return rc;
}

void cot_db_read_end(struct cot_db *db)
{
	if (!db->in_read)
		return;
	db->in_read = 0;
	if (db->pg)
		pg_exec(db, "COMMIT");
	else
		sqlite3_exec(db->lite, "COMMIT", NULL, NULL, NULL);
}

/* Copy @n bytes of @s to @out at *@o, if they fit. */
static int put(char *out, size_t len, size_t *o, const char *s, size_t n)
{
	if (*o + n >= len)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	return 0;
}

int cot_db_pg_sql(const char *sql, char *out, size_t len)
{
	size_t o = 0, i = 0;
	int max = 0, next = 1, n;
	char num[16], q;

	if (!len)
		return -COT_E2BIG;
	while (sql[i]) {
		if (sql[i] == '\'' || sql[i] == '"') {
			/* a quoted string or identifier, '' and "" inside */
			size_t j = i + 1;

			q = sql[i];
			while (sql[j] && !(sql[j] == q && sql[j + 1] != q))
				j += sql[j] == q ? 2 : 1;
			if (sql[j])
				j++;
			if (put(out, len, &o, sql + i, j - i) < 0)
				return -COT_E2BIG;
			i = j;
			continue;
		}
		if (sql[i] != '?') {
			if (put(out, len, &o, sql + i, 1) < 0)
				return -COT_E2BIG;
			i++;
			continue;
		}
		i++;
		if (sql[i] >= '0' && sql[i] <= '9') {
			n = 0;
			while (sql[i] >= '0' && sql[i] <= '9' &&
			       n <= COT_DB_MAXPARAM)
				n = n * 10 + (sql[i++] - '0');
		} else
			n = next;
		if (n < 1 || n > COT_DB_MAXPARAM)
			return -COT_E2BIG;
		next = n + 1;
		if (n > max)
			max = n;
		snprintf(num, sizeof(num), "$%d", n);
		if (put(out, len, &o, num, strlen(num)) < 0)
			return -COT_E2BIG;
	}
	out[o] = '\0';
	return max;
}

int cot_dbq_prepare(struct cot_db *db, const char *sql, struct cot_dbq **qp)
{
	struct cot_dbq *q;
	size_t len, pre;
	int n;

	*qp = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -COT_ENOMEM;
	q->db = db;
	if (!db->pg) {
		if (sqlite3_prepare_v2(db->lite, sql, -1, &q->s, NULL) !=
		    SQLITE_OK) {
			set_err(db, "%s", sqlite3_errmsg(db->lite));
			free(q);
			return -COT_EIO;
		}
		*qp = q;
		return 0;
	}
	q->pg = calloc(1, sizeof(*q->pg));
	if (!q->pg) {
		free(q);
		return -COT_ENOMEM;
	}
	snprintf(q->pg->cursor, sizeof(q->pg->cursor), "cot_c%u",
		 db->cursors++);
	pre = strlen("DECLARE  NO SCROLL CURSOR FOR ") + strlen(q->pg->cursor);
	/* each ? may grow to $NN */
	len = pre + 3 * strlen(sql) + 1;
	q->pg->declare = malloc(len);
	if (!q->pg->declare) {
		free(q->pg);
		free(q);
		return -COT_ENOMEM;
	}
	snprintf(q->pg->declare, len, "DECLARE %s NO SCROLL CURSOR FOR ",
		 q->pg->cursor);
	n = cot_db_pg_sql(sql, q->pg->declare + pre, len - pre);
	if (n < 0) {
		set_err(db, "too many parameters in a statement");
		free(q->pg->declare);
		free(q->pg);
		free(q);
		return n;
	}
	q->pg->nparam = n;
	for (n = 0; n < COT_DB_MAXCOL; n++)
		q->pg->col[n].row = -1;
	*qp = q;
	return 0;
}

/* Close @q's cursor and drop its rows (PostgreSQL). */
static void pg_close(struct cot_dbq *q)
{
	char sql[48];
	int i;

	PQclear(q->pg->res);
	q->pg->res = NULL;
	q->pg->row = q->pg->nrows = 0;
	for (i = 0; i < COT_DB_MAXCOL; i++)
		q->pg->col[i].row = -1;
	if (q->pg->open && PQstatus(q->db->pg) == CONNECTION_OK &&
	    PQtransactionStatus(q->db->pg) == PQTRANS_INTRANS) {
		snprintf(sql, sizeof(sql), "CLOSE %s", q->pg->cursor);
		PGresult *r = PQexec(q->db->pg, sql);
		PQclear(r);
	}
	q->pg->open = q->done = 0;
}

void cot_dbq_free(struct cot_dbq *q)
{
	int i;

	if (!q)
		return;
	if (q->s)
		sqlite3_finalize(q->s);
	if (q->pg) {
		pg_close(q);
		for (i = 0; i < COT_DB_MAXPARAM; i++)
			free(q->pg->pval[i]);
		for (i = 0; i < COT_DB_MAXCOL; i++)
			free(q->pg->col[i].buf);
		free(q->pg->declare);
		free(q->pg);
	}
	free(q);
}

/* Keep a copy of PostgreSQL parameter @i. */
static int pg_param(struct cot_dbq *q, int i, const void *v, size_t len,
		    int fmt, Oid type)
{
	char *c = NULL;

	if (i < 1 || i > COT_DB_MAXPARAM || len > INT32_MAX)
		return -COT_EINVAL;
	if (v) {
		c = malloc(len + 1);
		if (!c)
			return -COT_ENOMEM;
		memcpy(c, v, len);
		c[len] = '\0';
	}
	free(q->pg->pval[i - 1]);
	q->pg->pval[i - 1] = c;
	q->pg->plen[i - 1] = (int)len;
	q->pg->pfmt[i - 1] = fmt;
	q->pg->ptype[i - 1] = type;
	q->pg->bound[i - 1] = 1;
	return 0;
}

static int lite_rc(struct cot_dbq *q, int rc)
{
	if (rc == SQLITE_OK)
		return 0;
	if (q->db)
		set_err(q->db, "%s", sqlite3_errmsg(q->db->lite));
	return rc == SQLITE_RANGE ? -COT_EINVAL : -COT_EIO;
}

int cot_dbq_bind_int64(struct cot_dbq *q, int i, int64_t v)
{
	char num[24];

	if (i < 1 || i > COT_DB_MAXPARAM)
		return -COT_EINVAL;
	if (q->s)
		return lite_rc(q, sqlite3_bind_int64(q->s, i, v));
	snprintf(num, sizeof(num), "%" PRId64, v);
	return pg_param(q, i, num, strlen(num), 0, PG_INT8);
}

int cot_dbq_bind_text(struct cot_dbq *q, int i, const char *v)
{
	if (i < 1 || i > COT_DB_MAXPARAM)
		return -COT_EINVAL;
	if (!v)
		return cot_dbq_bind_null(q, i);
	if (q->s)
		return lite_rc(
			q, sqlite3_bind_text(q->s, i, v, -1, SQLITE_TRANSIENT));
	return pg_param(q, i, v, strlen(v), 0, PG_TEXT);
}

int cot_dbq_bind_blob(struct cot_dbq *q, int i, const void *v, size_t len)
{
	static const char none;

	if (i < 1 || i > COT_DB_MAXPARAM)
		return -COT_EINVAL;
	if (q->s) {
		if (len > INT32_MAX)
			return -COT_EINVAL;
		return lite_rc(q,
			       sqlite3_bind_blob(q->s, i, v ? v : &none,
						 (int)len, SQLITE_TRANSIENT));
	}
	return pg_param(q, i, v ? v : &none, len, 1, PG_BYTEA);
}

int cot_dbq_bind_null(struct cot_dbq *q, int i)
{
	if (i < 1 || i > COT_DB_MAXPARAM)
		return -COT_EINVAL;
	if (q->s)
		return lite_rc(q, sqlite3_bind_null(q->s, i));
	return pg_param(q, i, NULL, 0, 0, 0);
}

/* DECLARE the cursor (PostgreSQL).  0 or -COT_EIO. */
static int pg_open(struct cot_dbq *q)
{
	struct cot_db *db = q->db;
	const char *vals[COT_DB_MAXPARAM];
	PGresult *r;
	int i, ok;

	if (PQtransactionStatus(db->pg) != PQTRANS_INTRANS) {
		set_err(db, "a PostgreSQL read outside cot_db_read_begin()");
		return -COT_EIO;
	}
	for (i = 0; i < q->pg->nparam; i++) {
		vals[i] = q->pg->pval[i];
		/*
		 * A number the text skips (?1 ?3) still counts for
		 * PostgreSQL, which wants its type: never bound, it is a
		 * NULL text nothing reads.
		 */
		if (!q->pg->bound[i])
			q->pg->ptype[i] = PG_TEXT;
	}
	r = PQexecParams(db->pg, q->pg->declare, q->pg->nparam, q->pg->ptype,
			 vals, q->pg->plen, q->pg->pfmt, 0);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		set_err(db, "%s", PQerrorMessage(db->pg));
	PQclear(r);
	if (!ok)
		return -COT_EIO;
	q->pg->open = 1;
	return 0;
}

/* The next block of rows (PostgreSQL).  0 or -COT_EIO. */
static int pg_fetch(struct cot_dbq *q)
{
	char sql[64];
	int i;

	PQclear(q->pg->res);
	snprintf(sql, sizeof(sql), "FETCH FORWARD %d FROM %s", COT_DB_FETCH,
		 q->pg->cursor);
	q->pg->res = PQexec(q->db->pg, sql);
	if (PQresultStatus(q->pg->res) != PGRES_TUPLES_OK) {
		set_err(q->db, "%s", PQerrorMessage(q->db->pg));
		PQclear(q->pg->res);
		q->pg->res = NULL;
		return -COT_EIO;
	}
	q->pg->nrows = PQntuples(q->pg->res);
	q->pg->row = 0;
	for (i = 0; i < COT_DB_MAXCOL; i++)
		q->pg->col[i].row = -1;
	return 0;
}

int cot_dbq_step(struct cot_dbq *q)
{
	int rc;

	if (q->done)
		return 0;
	if (q->s) {
		rc = sqlite3_step(q->s);
		if (rc == SQLITE_ROW)
			return 1;
		q->done = 1; /* SQLite would start again: it does not */
		if (rc == SQLITE_DONE)
			return 0;
		if (q->db)
			set_err(q->db, "%s", sqlite3_errmsg(q->db->lite));
		return -COT_EIO;
	}
	if (!q->pg->open && pg_open(q) < 0)
		return -COT_EIO;
	if (q->pg->res && q->pg->row + 1 < q->pg->nrows) {
		q->pg->row++;
		return 1;
	}
	if (q->pg->res && q->pg->nrows < COT_DB_FETCH) {
		q->done = 1; /* a short block was the last */
		return 0;
	}
	if (pg_fetch(q) < 0)
		return -COT_EIO;
	if (q->pg->nrows == 0) {
		q->done = 1;
		return 0;
	}
	return 1;
}

void cot_dbq_reset(struct cot_dbq *q)
{
	if (q->s) {
		sqlite3_reset(q->s);
		q->done = 0;
	} else
		pg_close(q);
}

static int pg_valid(const struct cot_dbq *q, int col)
{
	return q->pg->res && q->pg->row < q->pg->nrows && col >= 0 &&
	       col < PQnfields(q->pg->res);
}

int cot_dbq_null(struct cot_dbq *q, int col)
{
	if (q->s)
		return sqlite3_column_type(q->s, col) == SQLITE_NULL;
	return !pg_valid(q, col) || PQgetisnull(q->pg->res, q->pg->row, col);
}

int64_t cot_dbq_int64(struct cot_dbq *q, int col)
{
	const char *v;

	if (q->s)
		return sqlite3_column_int64(q->s, col);
	if (cot_dbq_null(q, col))
		return 0;
	v = PQgetvalue(q->pg->res, q->pg->row, col);
	if (!strcmp(v, "t"))
		return 1; /* a boolean */
	return (int64_t)strtoll(v, NULL, 10);
}

const char *cot_dbq_text(struct cot_dbq *q, int col)
{
	if (q->s)
		return (const char *)sqlite3_column_text(q->s, col);
	if (cot_dbq_null(q, col))
		return NULL;
	return PQgetvalue(q->pg->res, q->pg->row, col);
}

size_t cot_dbq_text_len(struct cot_dbq *q, int col)
{
	if (q->s)
		return (size_t)sqlite3_column_bytes(q->s, col);
	if (cot_dbq_null(q, col))
		return 0;
	return (size_t)PQgetlength(q->pg->res, q->pg->row, col);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a bytea's hex text form ("\x0a1b...") into @c.  0 or -1. */
static int pg_bytea(struct pgcol *c, const char *v, size_t vlen)
{
	size_t i, n;
	int hi, lo;

	if (vlen < 2 || v[0] != '\\' || v[1] != 'x' || (vlen - 2) % 2)
		return -1;
	n = (vlen - 2) / 2;
	if (n + 1 > c->cap) {
		unsigned char *b = realloc(c->buf, n + 1);

		if (!b)
			return -1;
		c->buf = b;
		c->cap = n + 1;
	}
	for (i = 0; i < n; i++) {
		hi = hexval(v[2 + 2 * i]);
		lo = hexval(v[3 + 2 * i]);
		if (hi < 0 || lo < 0)
			return -1;
		c->buf[i] = (unsigned char)(hi << 4 | lo);
	}
	c->len = n;
	return 0;
}

const void *cot_dbq_blob(struct cot_dbq *q, int col, size_t *len)
{
	struct pgcol *c;
	const char *v;

	*len = 0;
	if (q->s) {
		const void *b = sqlite3_column_blob(q->s, col);

		*len = (size_t)sqlite3_column_bytes(q->s, col);
		return b;
	}
	if (cot_dbq_null(q, col) || col >= COT_DB_MAXCOL)
		return NULL;
	c = &q->pg->col[col];
	if (c->row != q->pg->row) {
		v = PQgetvalue(q->pg->res, q->pg->row, col);
		if (pg_bytea(c, v,
			     (size_t)PQgetlength(q->pg->res, q->pg->row, col)) <
		    0) {
			/* not a bytea: its text, as SQLite gives a text */
			*len = (size_t)PQgetlength(q->pg->res, q->pg->row, col);
			return v;
		}
		c->row = q->pg->row;
	}
	*len = c->len;
	return c->buf;
}
