/* SPDX-License-Identifier: MIT */
/*
 * host/store_pg: the log server's store on PostgreSQL (libpq), behind
 * host/store.h's writer API: cot_store_open() with a postgresql:// or
 * postgres:// URL lands here, and every cot_store_* call on that store
 * dispatches to the function of the same name below.  Same tables and
 * columns as the SQLite store (store.h), same signed 64-bit cast of
 * uint64 values; records are range-partitioned by first_ns per UTC day.
 *
 * Several logd instances may share one database: cot_store_pg_stream()
 * locks the stream's row (SELECT ... FOR UPDATE) for the rest of the
 * transaction, so two instances never interleave one stream's records.
 *
 * A lost server connection fails the current call (-COT_EIO) and the
 * transaction; the next cot_store_pg_begin() reconnects, backing off
 * from 100 ms to 5 s between attempts.
 *
 * Thread-safety: one store per thread, or the caller serialises.
 */
#ifndef COTRACK_HOST_STORE_PG_H
#define COTRACK_HOST_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include "cotrack/chain.h"
#include "cotrack/rec.h"

struct cot_store_pg;
struct cot_stream_state;

/* 1 when @path names a PostgreSQL database (postgresql:// or postgres://). */
int cot_store_is_pg(const char *path);

/*
 * Connect to @url, create the schema if absent (under an advisory lock,
 * so instances starting together do not race), prepare the statements.
 * @sync_full 0: synchronous_commit off (a killed logd loses nothing, a
 * crashed server may lose the last commits).  Returns 0 or -COT_EIO
 * with @err set; *@out is NULL on failure.
 */
int cot_store_pg_open(struct cot_store_pg **out, const char *url, int sync_full,
		      char *err, size_t errlen);
void cot_store_pg_close(struct cot_store_pg *p);
const char *cot_store_pg_errmsg(const struct cot_store_pg *p);

int cot_store_pg_begin(struct cot_store_pg *p);
int cot_store_pg_commit(struct cot_store_pg *p);
void cot_store_pg_rollback(struct cot_store_pg *p);
int cot_store_pg_stream(struct cot_store_pg *p, const char *tracker,
			uint64_t epoch, const char *fingerprint,
			uint64_t now_ns, struct cot_stream_state *out);
int cot_store_pg_stream_update(struct cot_store_pg *p, int64_t id,
			       uint64_t last_seq,
			       const uint8_t hash[static COT_CHAIN_LEN]);
/* Queued in a libpq pipeline: an error may show at the next call. */
int cot_store_pg_put(struct cot_store_pg *p, int64_t stream,
		     const struct cot_rec *r, uint64_t added_ns,
		     uint64_t stored_ns,
		     const uint8_t hash[static COT_CHAIN_LEN]);
int cot_store_pg_hash(struct cot_store_pg *p, int64_t stream, uint64_t seq,
		      uint8_t hash[static COT_CHAIN_LEN]);
int cot_store_pg_event(struct cot_store_pg *p, uint64_t time_ns,
		       const char *kind, const char *tracker, int64_t stream,
		       uint64_t first, uint64_t last, const char *peer,
		       const char *detail);

/*
 * For cotrack-logd --migrate-from: run @sql with @n parameters (text, or
 * binary where @fmt says; NULL values are SQL NULL) inside the caller's
 * transaction.  cot_store_pg_exec expects no rows; cot_store_pg_text
 * copies the first row's first column, as text, into @out ("" for
 * none).  Return 0 or a negative code (cot_store_pg_errmsg says why).
 */
int cot_store_pg_exec(struct cot_store_pg *p, const char *sql, int n,
		      const char *const *v, const int *len, const int *fmt);
int cot_store_pg_text(struct cot_store_pg *p, const char *sql, char *out,
		      size_t outlen);

#endif
