// SPDX-License-Identifier: MIT
/*
 * cotrack-logd --migrate-from FILE.sqlite --db postgresql://...: copy a
 * SQLite store into PostgreSQL, ids, seqs and chain values as they are,
 * in one transaction (a failed copy leaves the target as it was).  An
 * empty target is filled; a target holding exactly the same data (the
 * same streams with the same heads, as many records and events) is left
 * alone and succeeds, so a repeated run is harmless; anything else is
 * refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "host/clock.h"
#include "host/log.h"
#include "host/store_pg.h"
#include "logd.h"

#define PROGRESS_EVERY 100000 /* records between progress lines */

/* clang-format off */
#define PG_SUMMARY                                                             \
	"SELECT coalesce(encode(sha256(convert_to(string_agg(id || ':' ||"     \
	" tracker || ':' || epoch || ':' || last_seq || ':' ||"                \
	" encode(last_hash, 'hex'), ',' ORDER BY id), 'UTF8')), 'hex'),"       \
	" 'none') || '/' || (SELECT count(*) FROM records) || '/' ||"          \
	" (SELECT count(*) FROM events) FROM streams"
/* clang-format on */

/* One integer of a SQLite query (-1 on error). */
static int64_t lite_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/*
 * The same summary as PG_SUMMARY, of the SQLite file: SHA-256 of the
 * streams' "id:tracker:epoch:last_seq:hash" joined by ",", then the
 * record and event counts.
 */
static int lite_summary(sqlite3 *db, char *out, size_t len)
{
	struct cot_sha256 c;
	uint8_t d[COT_SHA256_LEN], h[COT_CHAIN_LEN];
	char line[512], hx[2 * COT_SHA256_LEN + 1];
	sqlite3_stmt *s;
	int i, n = 0, rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT id, tracker, epoch, last_seq, last_hash "
			       "FROM streams ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return -1;
	cot_sha256_init(&c);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(s, 4) != COT_CHAIN_LEN)
			break;
		memcpy(h, sqlite3_column_blob(s, 4), COT_CHAIN_LEN);
		for (i = 0; i < COT_CHAIN_LEN; i++)
			snprintf(hx + 2 * i, 3, "%02x", h[i]);
		snprintf(line, sizeof(line), "%s%lld:%s:%lld:%lld:%s",
			 n++ ? "," : "", (long long)sqlite3_column_int64(s, 0),
			 (const char *)sqlite3_column_text(s, 1),
			 (long long)sqlite3_column_int64(s, 2),
			 (long long)sqlite3_column_int64(s, 3), hx);
		cot_sha256_update(&c, line, strlen(line));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -1;
	cot_sha256_final(&c, d);
	for (i = 0; i < COT_SHA256_LEN; i++)
		snprintf(hx + 2 * i, 3, "%02x", d[i]);
	snprintf(out, len, "%s/%lld/%lld", n ? hx : "none",
		 (long long)lite_int(db, "SELECT count(*) FROM records"),
		 (long long)lite_int(db, "SELECT count(*) FROM events"));
	return 0;
}

/* Parameter @i of a copied row: SQLite's value as text, NULL as NULL. */
static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static int copy_streams(sqlite3 *db, struct cot_store_pg *pg)
{
	const char *v[7];
	int len[7] = { 0 }, fmt[7] = { 0, 0, 0, 0, 0, 0, 1 }, i, rc = 0;
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(db,
			       "SELECT id, tracker, epoch, fingerprint, "
			       "created_ns, last_seq, last_hash FROM streams "
			       "ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	while (!rc && sqlite3_step(s) == SQLITE_ROW) {
		for (i = 0; i < 6; i++)
			v[i] = col_text(s, i);
		v[6] = sqlite3_column_blob(s, 6);
		len[6] = sqlite3_column_bytes(s, 6);
		if (len[6] != COT_CHAIN_LEN) {
			log_warnx("stream %s: malformed last_hash", v[0]);
			rc = -COT_EBADMSG;
			break;
		}
		rc = cot_store_pg_exec(
			pg,
			"INSERT INTO streams(id, tracker, epoch, fingerprint,"
			" created_ns, last_seq, last_hash)"
			" VALUES($1,$2,$3,$4,$5,$6,$7)",
			7, v, len, fmt);
	}
	sqlite3_finalize(s);
	return rc;
}

static int copy_events(sqlite3 *db, struct cot_store_pg *pg)
{
	const char *v[9];
	int i, rc = 0;
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(db,
			       "SELECT id, time_ns, kind, tracker, stream, "
			       "seq_first, seq_last, peer, detail FROM events "
			       "ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	while (!rc && sqlite3_step(s) == SQLITE_ROW) {
		for (i = 0; i < 9; i++)
			v[i] = col_text(s, i);
		rc = cot_store_pg_exec(
			pg,
			"INSERT INTO events(id, time_ns, kind, tracker, stream,"
			" seq_first, seq_last, peer, detail)"
			" VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)",
			9, v, NULL, NULL);
	}
	sqlite3_finalize(s);
	return rc;
}

static int copy_records(sqlite3 *db, struct cot_store_pg *pg, int64_t total)
{
	uint8_t h[COT_CHAIN_LEN];
	uint64_t n = 0, t0 = cot_clock_mono_ns();
	struct cot_rec r;
	sqlite3_stmt *s;
	int rc = 0, c = 1 + COT_STORE_REC_NCOLS;

	if (sqlite3_prepare_v2(db,
			       "SELECT stream, " COT_STORE_REC_COLS
			       ", added_ns, stored_ns, hash FROM records "
			       "ORDER BY stream, seq",
			       -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	while (!rc && sqlite3_step(s) == SQLITE_ROW) {
		if (cot_store_row_rec(s, 1, &r) < 0 ||
		    sqlite3_column_bytes(s, c + 2) != COT_CHAIN_LEN) {
			log_warnx("stream %lld seq %" PRIu64 ": malformed row",
				  (long long)sqlite3_column_int64(s, 0), r.seq);
			rc = -COT_EBADMSG;
			break;
		}
		memcpy(h, sqlite3_column_blob(s, c + 2), COT_CHAIN_LEN);
		rc = cot_store_pg_put(pg, sqlite3_column_int64(s, 0), &r,
				      (uint64_t)sqlite3_column_int64(s, c),
				      (uint64_t)sqlite3_column_int64(s, c + 1),
				      h);
		if (++n % PROGRESS_EVERY == 0)
			log_info(
				"copied %" PRIu64 " of %lld records (%.0f%%, "
				"%.0f rec/s)",
				n, (long long)total,
				100.0 * (double)n / (double)total,
				(double)n * 1e9 /
					(double)(cot_clock_mono_ns() - t0 + 1));
	}
	sqlite3_finalize(s);
	return rc;
}

int logd_migrate(const char *from, const char *url)
{
	struct cot_store src;
	struct cot_store_pg *pg;
	char err[512], want[128], have[128];
	int64_t total;
	int rc;

	if (cot_store_open(&src, from, COT_STORE_RO, 0, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return 1;
	}
	if (cot_store_pg_open(&pg, url, 1, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		cot_store_close(&src);
		return 1;
	}
	/* One read transaction: a consistent snapshot if logd still writes. */
	sqlite3_exec(src.db, "BEGIN", NULL, NULL, NULL);
	rc = lite_summary(src.db, want, sizeof(want));
	if (rc < 0) {
		log_warnx("%s: %s", from, sqlite3_errmsg(src.db));
		goto out;
	}
	rc = cot_store_pg_begin(pg);
	/* no logd writes the target meanwhile (they wait for the lock) */
	if (!rc)
		rc = cot_store_pg_exec(pg,
				       "LOCK TABLE streams, events IN "
				       "EXCLUSIVE MODE",
				       0, NULL, NULL, NULL);
	if (!rc)
		rc = cot_store_pg_text(pg, PG_SUMMARY, have, sizeof(have));
	if (rc)
		goto pgfail;
	if (!strcmp(have, want)) {
		log_info("the target already holds the same data (%s): "
			 "nothing to do",
			 want);
		cot_store_pg_rollback(pg);
		goto out;
	}
	if (strcmp(have, "none/0/0") != 0) {
		log_warnx("the target database is not empty and holds other "
			  "data (streams/records/events: %s, the file: %s); "
			  "refusing to merge",
			  have, want);
		cot_store_pg_rollback(pg);
		rc = -COT_EEXIST;
		goto out;
	}
	total = lite_int(src.db, "SELECT count(*) FROM records");
	log_info("copying %lld records from %s", (long long)total, from);
	rc = copy_streams(src.db, pg);
	if (!rc)
		rc = copy_records(src.db, pg, total > 0 ? total : 1);
	if (!rc)
		rc = copy_events(src.db, pg);
	/* the next ids logd makes follow the copied ones */
	if (!rc)
		rc = cot_store_pg_exec(
			pg,
			"SELECT setval(pg_get_serial_sequence('streams', 'id'),"
			" coalesce(max(id), 1), max(id) IS NOT NULL) FROM "
			"streams;",
			0, NULL, NULL, NULL);
	if (!rc)
		rc = cot_store_pg_exec(
			pg,
			"SELECT setval(pg_get_serial_sequence('events', 'id'),"
			" coalesce(max(id), 1), max(id) IS NOT NULL) FROM "
			"events;",
			0, NULL, NULL, NULL);
	if (!rc)
		rc = cot_store_pg_text(pg, PG_SUMMARY, have, sizeof(have));
	if (!rc && strcmp(have, want) != 0) {
		log_warnx("after the copy the target says %s, the file %s",
			  have, want);
		rc = -COT_EIO;
	}
	if (!rc)
		rc = cot_store_pg_commit(pg);
	if (rc)
		goto pgfail;
	log_info("copied %lld records; the target holds the same data (%s)",
		 (long long)total, have);
	goto out;
pgfail:
	log_warnx("postgresql: %s", cot_store_pg_errmsg(pg));
	cot_store_pg_rollback(pg);
out:
	sqlite3_exec(src.db, "COMMIT", NULL, NULL, NULL);
	cot_store_pg_close(pg);
	cot_store_close(&src);
	return rc ? 1 : 0;
}
