// SPDX-License-Identifier: MIT
/*
 * pg_verify URL: `cotrack verify` for a PostgreSQL store, for the tests
 * until cotrack reads PostgreSQL itself.  For every stream: the records
 * in seq order, each re-encoded from its stored fields and hashed into
 * the chain, compared with its stored hash; gaps, duplicate seqs and the
 * head (streams.last_seq/last_hash).  Then every event.  Prints the lines
 * verify prints ("stream ... chain ok"), exit status 0 when every chain
 * is intact and there is no event, 1 problems, 3 the database cannot be
 * read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "cotrack/chain.h"
#include "cotrack/rec.h"
#include "host/store.h"

/* An integer column in binary format: int4 or int8; NULL reads 0. */
static int64_t col_i64(PGresult *r, int row, int c)
{
	const unsigned char *b = (const unsigned char *)PQgetvalue(r, row, c);
	int n = PQgetlength(r, row, c), i;
	uint64_t x = 0;

	if (PQgetisnull(r, row, c) || (n != 4 && n != 8))
		return 0;
	for (i = 0; i < n; i++)
		x = x << 8 | b[i];
	return n == 4 ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x;
}

/* A text column into @dst (NULL: ""); -1 when it does not fit. */
static int col_str(PGresult *r, int row, int c, char *dst, size_t cap)
{
	int n = PQgetlength(r, row, c);

	dst[0] = '\0';
	if (PQgetisnull(r, row, c))
		return 0;
	if (n < 0 || (size_t)n >= cap)
		return -1;
	memcpy(dst, PQgetvalue(r, row, c), (size_t)n);
	dst[n] = '\0';
	return 0;
}

static int col_blob(PGresult *r, int row, int c, uint8_t *dst, int len)
{
	if (PQgetisnull(r, row, c) || PQgetlength(r, row, c) != len)
		return -1;
	memcpy(dst, PQgetvalue(r, row, c), (size_t)len);
	return 0;
}

static int row_owner(PGresult *res, int row, int *c, struct cot_rec_owner *o)
{
	o->pid = (uint32_t)col_i64(res, row, *c);
	if (col_str(res, row, *c + 1, o->comm, sizeof(o->comm)) < 0 ||
	    col_str(res, row, *c + 2, o->cgroup, sizeof(o->cgroup)) < 0)
		return -1;
	*c += 3;
	return 0;
}

/* The columns of COT_STORE_REC_COLS into @r. */
static int row_rec(PGresult *res, int row, struct cot_rec *r)
{
	int c = 0;

	memset(r, 0, sizeof(*r));
	r->seq = (uint64_t)col_i64(res, row, c++);
	if (col_str(res, row, c++, r->vm, sizeof(r->vm)) < 0)
		return -1;
	r->proto = (uint8_t)col_i64(res, row, c++);
	r->ipproto = (uint8_t)col_i64(res, row, c++);
	r->tcp_state = (uint8_t)col_i64(res, row, c++);
	r->end = (uint8_t)col_i64(res, row, c++);
	r->seen_by = (uint8_t)col_i64(res, row, c++);
	r->flags = (uint8_t)col_i64(res, row, c++);
	r->tcp_flags_fwd = (uint8_t)col_i64(res, row, c++);
	r->tcp_flags_rev = (uint8_t)col_i64(res, row, c++);
	r->sport = (uint16_t)col_i64(res, row, c++);
	r->dport = (uint16_t)col_i64(res, row, c++);
	if (col_blob(res, row, c++, r->src.b, 16) < 0 ||
	    col_blob(res, row, c++, r->dst.b, 16) < 0)
		return -1;
	r->first_ns = (uint64_t)col_i64(res, row, c++);
	r->last_ns = (uint64_t)col_i64(res, row, c++);
	r->pkts_fwd = (uint64_t)col_i64(res, row, c++);
	r->bytes_fwd = (uint64_t)col_i64(res, row, c++);
	r->pkts_rev = (uint64_t)col_i64(res, row, c++);
	r->bytes_rev = (uint64_t)col_i64(res, row, c++);
	r->netns = (uint32_t)col_i64(res, row, c++);
	if (row_owner(res, row, &c, &r->src_owner) < 0 ||
	    row_owner(res, row, &c, &r->dst_owner) < 0 ||
	    col_str(res, row, c++, r->src_name, sizeof(r->src_name)) < 0 ||
	    col_str(res, row, c++, r->dst_name, sizeof(r->dst_name)) < 0)
		return -1;
	r->tun_type = (uint8_t)col_i64(res, row, c);
	r->tun_id = (uint32_t)col_i64(res, row, c + 1);
	if (r->tun_type && (col_blob(res, row, c + 2, r->tun_src.b, 16) < 0 ||
			    col_blob(res, row, c + 3, r->tun_dst.b, 16) < 0))
		return -1;
	r->inner_conns = (uint32_t)col_i64(res, row, c + 4);
	return 0;
}

static uint64_t check_stream(PGconn *db, int64_t id, const char *tracker,
			     uint64_t last_seq, const uint8_t *last_hash)
{
	uint8_t h[COT_CHAIN_LEN], stored[COT_CHAIN_LEN], enc[COT_REC_WIRE_MAX];
	uint64_t prev = 0, bad = 0, first = 0;
	char ids[24];
	const char *v[1] = { ids };
	struct cot_rec r;
	PGresult *res;
	size_t elen;
	int i, n;

	snprintf(ids, sizeof(ids), "%" PRId64, id);
	res = PQexecParams(db,
			   "SELECT " COT_STORE_REC_COLS ", hash FROM records "
			   "WHERE stream = $1 ORDER BY seq",
			   1, NULL, v, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		printf("stream %" PRId64 ": %s", id, PQerrorMessage(db));
		PQclear(res);
		return 1;
	}
	n = PQntuples(res);
	cot_chain_init(h);
	for (i = 0; i < n; i++) {
		if (row_rec(res, i, &r) < 0 ||
		    col_blob(res, i, COT_STORE_REC_NCOLS, stored,
			     COT_CHAIN_LEN) < 0) {
			printf("  stream %" PRId64 " row %d: malformed row\n",
			       id, i);
			bad++;
			continue;
		}
		elen = (size_t)cot_rec_encode(enc, &r);
		if (cot_chain_check_enc(&r, enc, elen) < 0) {
			printf("  stream %" PRId64 " seq %" PRIu64
			       ": field values out of range\n",
			       id, r.seq);
			bad++;
		}
		if (i && r.seq == prev) {
			printf("  stream %" PRId64 " (%s): seq %" PRIu64
			       " stored twice\n",
			       id, tracker, r.seq);
			bad++;
			continue;
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
				       " does not match its chain hash\n",
				       id, tracker, r.seq);
				bad++;
				memcpy(h, stored, COT_CHAIN_LEN);
			}
		}
		prev = r.seq;
		if (!i)
			first = r.seq;
	}
	PQclear(res);
	if (prev != last_seq || (n && memcmp(h, last_hash, COT_CHAIN_LEN))) {
		printf("  stream %" PRId64 " (%s): head says seq %" PRIu64
		       ", records end at %" PRIu64 " or hash differs\n",
		       id, tracker, last_seq, prev);
		bad++;
	}
	printf("stream %" PRId64 " tracker %s: %d records, seq %" PRIu64
	       "..%" PRIu64 ": %s\n",
	       id, tracker, n, first, prev, bad ? "PROBLEMS" : "chain ok");
	return bad;
}

int main(int argc, char **argv)
{
	uint8_t head[COT_CHAIN_LEN];
	char tracker[256];
	uint64_t bad = 0;
	PGresult *res;
	PGconn *db;
	int i, n, events;

	if (argc != 2) {
		fprintf(stderr, "usage: pg_verify postgresql://...\n");
		return 2;
	}
	db = PQconnectdb(argv[1]);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "pg_verify: %s", PQerrorMessage(db));
		PQfinish(db);
		return 3;
	}
	res = PQexecParams(db,
			   "SELECT id, tracker, last_seq, last_hash FROM "
			   "streams ORDER BY id",
			   0, NULL, NULL, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "pg_verify: %s", PQerrorMessage(db));
		PQclear(res);
		PQfinish(db);
		return 3;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if (col_str(res, i, 1, tracker, sizeof(tracker)) < 0 ||
		    col_blob(res, i, 3, head, COT_CHAIN_LEN) < 0) {
			printf("stream row %d: malformed\n", i);
			bad++;
			continue;
		}
		bad += check_stream(db, col_i64(res, i, 0), tracker,
				    (uint64_t)col_i64(res, i, 2), head);
	}
	PQclear(res);
	/* one line per event, as cotrack verify prints them */
	res = PQexec(db, "SELECT to_char(to_timestamp(time_ns / 1e9) AT TIME"
			 " ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), kind,"
			 " coalesce(tracker, '-'), coalesce(seq_first, 0),"
			 " coalesce(seq_last, 0), coalesce(peer, '-'),"
			 " coalesce(detail, '') FROM events ORDER BY id");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "pg_verify: %s", PQerrorMessage(db));
		PQclear(res);
		PQfinish(db);
		return 3;
	}
	events = PQntuples(res);
	if (events)
		printf("anomalies recorded by logd:\n");
	/* bounded by the rows returned */
	for (i = 0; i < events; i++)
		printf("  %s %-13s tracker %s seq %s..%s peer %s: %s\n",
		       PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		       PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
		       PQgetvalue(res, i, 6));
	PQclear(res);
	PQfinish(db);
	printf("%" PRIu64 " chain problems, %d anomalies: %s\n", bad, events,
	       bad || events ? "NOT OK" : "OK");
	return bad || events ? 1 : 0;
}
