// SPDX-License-Identifier: MIT
/*
 * cotrack verify: re-check every stream's hash chain in a logd database
 * from the stored record fields, and list every anomaly logd recorded.
 * Exit status 0 only when every chain links from h_0 without a gap and
 * the events table is empty; 1 otherwise (2: usage, 3: cannot read).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "host/cli.h"
#include "host/log.h"
#include "host/db.h"
#include "host/recrow.h"
#include "host/store.h"
#include "cmds.h"

static void fmt_time(char *buf, size_t len, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Check one stream; returns the number of problems found. */
static uint64_t check_stream(struct cot_db *db, int64_t id, const char *tracker,
			     uint64_t epoch, uint64_t last_seq,
			     const uint8_t *last_hash)
{
	uint8_t h[COT_CHAIN_LEN], enc[COT_REC_WIRE_MAX];
	uint64_t prev = 0, n = 0, bad = 0, first = 0;
	struct cot_rec r;
	struct cot_dbq *s;
	const void *stored;
	size_t elen, slen;
	int rc;

	if (cot_dbq_prepare(db,
			    "SELECT " COT_STORE_REC_COLS ", hash FROM records "
			    "WHERE stream = ? ORDER BY seq",
			    &s) < 0 ||
	    cot_dbq_bind_int64(s, 1, id) < 0) {
		printf("stream %" PRId64 ": %s\n", id, cot_db_errmsg(db));
		cot_dbq_free(s);
		return 1;
	}
	cot_chain_init(h);
	while ((rc = cot_dbq_step(s)) == 1) {
		stored = cot_dbq_blob(s, COT_STORE_REC_NCOLS, &slen);
		if (cot_rec_from_row(s, 0, &r) < 0 || !stored ||
		    slen != COT_CHAIN_LEN) {
			printf("  stream %" PRId64 " seq %" PRIu64
			       ": malformed row\n",
			       id, r.seq);
			bad++;
			continue;
		}
		/* v1 or v2, whichever the fields make (the chain hashed it) */
		elen = (size_t)cot_rec_encode(enc, &r);
		if (cot_chain_check_enc(&r, enc, elen) < 0) {
			printf("  stream %" PRId64 " seq %" PRIu64
			       ": field values out of range\n",
			       id, r.seq);
			bad++;
		}
		if (r.seq != prev + 1) {
			printf("  stream %" PRId64 " (%s): gap, seq %" PRIu64
			       "..%" PRIu64 " missing; chain re-anchored\n",
			       id, tracker, prev + 1, r.seq - 1);
			bad++;
			memcpy(h, stored, COT_CHAIN_LEN);
		} else {
			cot_chain_next(h, h, enc, elen);
			if (memcmp(h, stored, COT_CHAIN_LEN) != 0) {
				printf("  stream %" PRId64 " (%s): seq %" PRIu64
				       " does not match its chain hash "
				       "(altered in the database?)\n",
				       id, tracker, r.seq);
				bad++;
				memcpy(h, stored, COT_CHAIN_LEN);
			}
		}
		prev = r.seq;
		if (!n++)
			first = r.seq;
	}
	cot_dbq_free(s);
	if (rc != 0) {
		printf("  stream %" PRId64 ": read error: %s\n", id,
		       cot_db_errmsg(db));
		return bad + 1;
	}
	if (prev != last_seq || (n && memcmp(h, last_hash, COT_CHAIN_LEN))) {
		printf("  stream %" PRId64 " (%s): head says seq %" PRIu64
		       ", records end at %" PRIu64 " or hash differs\n",
		       id, tracker, last_seq, prev);
		bad++;
	}
	printf("stream %" PRId64 " tracker %s epoch %016" PRIx64 ": %" PRIu64
	       " records, seq %" PRIu64 "..%" PRIu64 ": %s\n",
	       id, tracker, epoch, n, first, prev,
	       bad ? "PROBLEMS" : "chain ok");
	return bad;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cotrack verify --db FILE|postgresql://...\n"
		   "  re-checks every stream's hash chain from the stored "
		   "fields and lists\n"
		   "  every anomaly logd recorded; --db is logd's SQLite file "
		   "or a libpq\n"
		   "  connection URL (cotrack-logd --db postgresql://...).\n"
		   "  exit status: 0 every chain intact and no anomaly, 1 "
		   "problems found,\n"
		   "  2 usage error, 3 the database cannot be read.\n");
}

static const char *text_or(struct cot_dbq *q, int col, const char *none)
{
	const char *v = cot_dbq_text(q, col);

	return v ? v : none;
}

/* Print the events table; returns how many, or -1 on a read error. */
static int64_t list_events(struct cot_db *db)
{
	struct cot_dbq *s;
	char when[32];
	int64_t n = 0;
	int rc;

	if (cot_dbq_prepare(db,
			    "SELECT time_ns, kind, tracker, stream, seq_first,"
			    " seq_last, peer, detail FROM events ORDER BY id",
			    &s) < 0)
		return -1;
	while ((rc = cot_dbq_step(s)) == 1) {
		if (!n++)
			printf("anomalies recorded by logd:\n");
		fmt_time(when, sizeof(when), (uint64_t)cot_dbq_int64(s, 0));
		printf("  %s %-13s tracker %s", when, text_or(s, 1, ""),
		       text_or(s, 2, "-"));
		if (!cot_dbq_null(s, 3))
			printf(" stream %lld", (long long)cot_dbq_int64(s, 3));
		if (!cot_dbq_null(s, 4))
			printf(" seq %lld", (long long)cot_dbq_int64(s, 4));
		if (!cot_dbq_null(s, 5))
			printf("..%lld", (long long)cot_dbq_int64(s, 5));
		printf(" peer %s: %s\n", text_or(s, 6, "-"), text_or(s, 7, ""));
	}
	cot_dbq_free(s);
	return rc == 0 ? n : -1;
}

/* Check every stream; returns the problems found, or -1 (read error). */
static int64_t check_streams(struct cot_db *db)
{
	uint8_t zero[COT_CHAIN_LEN] = { 0 };
	struct cot_dbq *s;
	const void *lh;
	int64_t bad = 0;
	size_t len;
	int rc;

	if (cot_dbq_prepare(db,
			    "SELECT id, tracker, epoch, last_seq, last_hash "
			    "FROM streams ORDER BY id",
			    &s) < 0)
		return -1;
	while ((rc = cot_dbq_step(s)) == 1) {
		lh = cot_dbq_blob(s, 4, &len);
		if (!lh || len != COT_CHAIN_LEN)
			lh = zero;
		bad += (int64_t)check_stream(db, cot_dbq_int64(s, 0),
					     text_or(s, 1, "-"),
					     (uint64_t)cot_dbq_int64(s, 2),
					     (uint64_t)cot_dbq_int64(s, 3), lh);
	}
	cot_dbq_free(s);
	return rc == 0 ? bad : -1;
}

int cmd_verify(int argc, char **argv)
{
	const char *where = NULL;
	char err[512];
	struct cot_store st;
	struct cot_db db;
	int64_t bad, events = -1;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc)
			where = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	if (!where) {
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	if (cot_store_open_reader(&st, &db, where, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return 3;
	}
	/* One read transaction: a consistent snapshot while logd writes. */
	bad = cot_db_read_begin(&db) < 0 ? -1 : check_streams(&db);
	if (bad >= 0)
		events = list_events(&db);
	if (bad < 0 || events < 0)
		log_warnx("reading the database: %s", cot_db_errmsg(&db));
	cot_store_close_reader(&st, &db);
	if (bad < 0 || events < 0)
		return 3;
	printf("%" PRId64 " chain problems, %" PRId64 " anomalies: %s\n", bad,
	       events, bad || events ? "NOT OK" : "OK");
	return bad || events ? 1 : 0;
}
