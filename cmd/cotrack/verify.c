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
static uint64_t check_stream(struct cot_store *st, int64_t id,
			     const char *tracker, uint64_t epoch,
			     uint64_t last_seq, const uint8_t *last_hash)
{
	uint8_t h[COT_CHAIN_LEN], enc[COT_REC_WIRE_MAX];
	uint64_t prev = 0, n = 0, bad = 0, first = 0;
	struct cot_rec r;
	sqlite3_stmt *s;
	const void *stored;
	size_t elen;
	int rc;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT " COT_STORE_REC_COLS
			       ", hash FROM records "
			       "WHERE stream = ? ORDER BY seq",
			       -1, &s, NULL) != SQLITE_OK) {
		printf("stream %" PRId64 ": %s\n", id, sqlite3_errmsg(st->db));
		return 1;
	}
	sqlite3_bind_int64(s, 1, id);
	cot_chain_init(h);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		stored = sqlite3_column_blob(s, COT_STORE_REC_NCOLS);
		if (cot_store_row_rec(s, 0, &r) < 0 || !stored ||
		    sqlite3_column_bytes(s, COT_STORE_REC_NCOLS) !=
			    COT_CHAIN_LEN) {
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
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		printf("  stream %" PRId64 ": read error\n", id);
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
	fprintf(f, "usage: cotrack verify --db FILE\n"
		   "  exit status: 0 every chain intact and no anomaly, 1 "
		   "problems found,\n"
		   "  2 usage error, 3 the database cannot be read.\n");
}

int cmd_verify(int argc, char **argv)
{
	const char *db = NULL;
	char err[512], when[32];
	struct cot_store st;
	sqlite3_stmt *s;
	uint64_t bad = 0, events = 0;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--db") && i + 1 < argc)
			db = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	if (!db) {
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	if (cot_store_open(&st, db, COT_STORE_RO, 0, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return 3;
	}
	/* One read transaction: a consistent snapshot while logd writes. */
	sqlite3_exec(st.db, "BEGIN", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(st.db,
			       "SELECT id, tracker, epoch, last_seq, last_hash "
			       "FROM streams ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK) {
		log_warnx("%s: %s", db, sqlite3_errmsg(st.db));
		cot_store_close(&st);
		return 3;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *lh = sqlite3_column_blob(s, 4);
		uint8_t zero[COT_CHAIN_LEN] = { 0 };

		if (sqlite3_column_bytes(s, 4) != COT_CHAIN_LEN)
			lh = zero;
		bad += check_stream(&st, sqlite3_column_int64(s, 0),
				    (const char *)sqlite3_column_text(s, 1),
				    (uint64_t)sqlite3_column_int64(s, 2),
				    (uint64_t)sqlite3_column_int64(s, 3), lh);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(
		    st.db,
		    "SELECT time_ns, kind, tracker, stream, seq_first,"
		    " seq_last, peer, detail FROM events ORDER BY id",
		    -1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW) {
			if (!events++)
				printf("anomalies recorded by logd:\n");
			fmt_time(when, sizeof(when),
				 (uint64_t)sqlite3_column_int64(s, 0));
			printf("  %s %-13s tracker %s", when,
			       (const char *)sqlite3_column_text(s, 1),
			       sqlite3_column_text(s, 2)
				       ? (const char *)sqlite3_column_text(s, 2)
				       : "-");
			if (sqlite3_column_type(s, 3) != SQLITE_NULL)
				printf(" stream %lld",
				       (long long)sqlite3_column_int64(s, 3));
			if (sqlite3_column_type(s, 4) != SQLITE_NULL)
				printf(" seq %lld",
				       (long long)sqlite3_column_int64(s, 4));
			if (sqlite3_column_type(s, 5) != SQLITE_NULL)
				printf("..%lld",
				       (long long)sqlite3_column_int64(s, 5));
			printf(" peer %s: %s\n",
			       sqlite3_column_text(s, 6)
				       ? (const char *)sqlite3_column_text(s, 6)
				       : "-",
			       sqlite3_column_text(s, 7)
				       ? (const char *)sqlite3_column_text(s, 7)
				       : "");
		}
		sqlite3_finalize(s);
	}
	sqlite3_exec(st.db, "COMMIT", NULL, NULL, NULL);
	cot_store_close(&st);
	printf("%" PRIu64 " chain problems, %" PRIu64 " anomalies: %s\n", bad,
	       events, bad || events ? "NOT OK" : "OK");
	return bad || events ? 1 : 0;
}
