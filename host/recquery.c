// SPDX-License-Identifier: MIT
/* host/recquery: filters, flows and the service map (see recquery.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recquery.h"
#include "recrow.h"

void cot_recq_filter_init(struct cot_recq_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->to_ns = UINT64_MAX >> 1; /* SQLite integers are signed */
	f->proto = -1;
	f->port = -1;
	f->seen_by = -1;
}

int cot_recq_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!s[0] || strlen(s) > 20)
		return -1;
	/* bounded: at most 20 digits */
	for (i = 0; s[i]; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int copy_text(char *dst, size_t len, const char *s, int sep_ok)
{
	size_t n = strlen(s), i;

	if (n >= len)
		return -COT_EINVAL;
	/*
	 * Records hold printable ASCII only (rec.h): nothing else matches;
	 * node ids also hold their \1 separators.
	 */
	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 ||
		     (unsigned char)s[i] >= 0x7f) &&
		    !(sep_ok && s[i] == 1))
			return -COT_EINVAL;
	memcpy(dst, s, n + 1);
	return 0;
}

int cot_recq_param(struct cot_recq_filter *f, const char *key, const char *val,
		   uint64_t now_ns)
{
	const uint64_t tmax = UINT64_MAX >> 1;
	uint64_t v;
	uint8_t v4[4];
	int i;

	if (!strcmp(key, "from") || !strcmp(key, "to")) {
		uint64_t *t = key[0] == 'f' ? &f->from_ns : &f->to_ns;

		if (!val[0]) {
			*t = key[0] == 'f' ? 0 : tmax;
			return 0;
		}
		if (cot_recq_parse_u64(val, tmax, &v) < 0)
			return -COT_EINVAL;
		*t = v;
		return 0;
	}
	if (!strcmp(key, "last")) {
		if (!val[0]) {
			f->from_ns = 0;
			f->to_ns = tmax;
			return 0;
		}
		/* at most ~100 years: the product stays far below 2^63 */
		if (cot_recq_parse_u64(val, 3200000000ull, &v) < 0)
			return -COT_EINVAL;
		v *= 1000000000ull;
		f->from_ns = now_ns > v ? now_ns - v : 0;
		f->to_ns = now_ns < tmax ? now_ns : tmax;
		return 0;
	}
	if (!strcmp(key, "vm"))
		return copy_text(f->vm, sizeof(f->vm), val, 0);
	if (!strcmp(key, "q"))
		return copy_text(f->q, sizeof(f->q), val, 0);
	if (!strcmp(key, "tracker"))
		return copy_text(f->tracker, sizeof(f->tracker), val, 0);
	if (!strcmp(key, "node"))
		return copy_text(f->node, sizeof(f->node), val, 1);
	if (!strcmp(key, "peer"))
		return copy_text(f->peer, sizeof(f->peer), val, 1);
	if (!strcmp(key, "proto")) {
		if (!val[0]) {
			f->proto = -1;
			return 0;
		}
		/* bounded: the protocol names */
		for (i = 0; i < COT_PROTO__COUNT; i++)
			if (!strcmp(val, cot_proto_name((unsigned)i))) {
				f->proto = i;
				return 0;
			}
		return -COT_EINVAL;
	}
	if (!strcmp(key, "port")) {
		if (!val[0]) {
			f->port = -1;
			return 0;
		}
		if (cot_recq_parse_u64(val, 65535, &v) < 0)
			return -COT_EINVAL;
		f->port = (int)v;
		return 0;
	}
	if (!strcmp(key, "seen")) {
		if (!val[0]) {
			f->seen_by = -1;
			return 0;
		}
		for (i = COT_SEEN_NIC; i <= COT_SEEN_BOTH; i++)
			if (!strcmp(val, cot_seen_name((unsigned)i))) {
				f->seen_by = i;
				return 0;
			}
		return -COT_EINVAL;
	}
	if (!strcmp(key, "addr")) {
		struct cot_addr a;

		if (!val[0]) {
			f->has_addr = 0;
			return 0;
		}
		if (strlen(val) >= INET6_ADDRSTRLEN)
			return -COT_EINVAL;
		if (inet_pton(AF_INET, val, v4) == 1) {
			cot_addr_from_v4(&a, v4);
			memcpy(f->addr, a.b, 16);
		} else if (inet_pton(AF_INET6, val, f->addr) != 1) {
			return -COT_EINVAL;
		}
		f->has_addr = 1;
		return 0;
	}
	return -COT_ENOENT;
}

/*
 * A record's own node keys (the map's, per record rather than per
 * connection): see WKEY below.  Written once for both engines: @ch1 is
 * char(1), @hexo/@hexc wrap hex() (upper-case on both), @lo4/@lo6 the
 * IPv4 loopback prefix and ::1 as blob literals.
 */
#define LOOP_SCOPE_X(lo4, lo6)                                                 \
	"CASE WHEN substr(r.src, 1, 13) = " lo4 " OR r.src = " lo6             \
	" THEN coalesce(r.vm, '') ELSE '' END"
#define RKEY_X(e, ch1, hexo, hexc, scope)                                      \
	"(CASE WHEN r." e "_pid IS NOT NULL THEN 'w' || r.vm || " ch1 " || "   \
	"coalesce(r." e "_cgroup, '') || " ch1 " || CASE WHEN r." e "_cgroup " \
	"IS NULL THEN coalesce(r." e "_comm, '') ELSE '' END WHEN r." e        \
	"_name IS NOT NULL THEN 'n' || r." e "_name ELSE 'a' || " scope        \
	" || " ch1 " || " hexo "r." e hexc " END)"
/* clang-format off */
#define LITE_LOOP                                                              \
	LOOP_SCOPE_X("X'00000000000000000000FFFF7F'",                          \
		     "X'00000000000000000000000000000001'")
#define PG_LOOP                                                                \
	LOOP_SCOPE_X("'\\x00000000000000000000ffff7f'::bytea",                 \
		     "'\\x00000000000000000000000000000001'::bytea")
/* clang-format on */
#define RKEY_LITE(e) RKEY_X(e, "char(1)", "hex(", ")", LITE_LOOP)
#define RKEY_PG(e)   RKEY_X(e, "chr(1)", "upper(encode(", ", 'hex'))", PG_LOOP)

/*
 * With the schema-3 indexes, the time window is the records found by
 * one range seek per span level (store.h, COT_STORE_WINDOW_ON; on
 * PostgreSQL COT_STORE_WINDOW_ON_PG), joined back by primary key;
 * without them (an old database, read-only) the plain overlap test,
 * which scans.
 */
#define WINDOW_INDEXED_X(on)                                                   \
	" AND (r.stream, r.seq) IN (SELECT w.stream, w.seq "                   \
	"FROM " COT_STORE_WINDOW_LEVELS " lv JOIN records w ON " on ")"

/* A time window other than all time is set. */
static int window_on(const struct cot_recq_filter *f)
{
	return f->from_ns > 0 || f->to_ns < (UINT64_MAX >> 1);
}

/* The conditions' fragments, SQLite's row then PostgreSQL's. */
/* clang-format off */
/* SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE does so too */
#define LIKE_TERM(L)                                                           \
	" AND (r.vm " L " ?7 ESCAPE '\\' OR r.src_comm " L " ?7 ESCAPE '\\' "  \
	"OR r.dst_comm " L " ?7 ESCAPE '\\' OR r.src_cgroup " L " ?7 ESCAPE "   \
	"'\\' OR r.dst_cgroup " L " ?7 ESCAPE '\\' OR r.src_name " L " ?7 "    \
	"ESCAPE '\\' OR r.dst_name " L " ?7 ESCAPE '\\')"
#define NODE_TERMS(K)                                                          \
	" AND (" K("src") " = ?12 OR " K("dst") " = ?12)",                     \
	" AND ((" K("src") " = ?12 AND " K("dst") " = ?13) OR (" K("src")      \
	" = ?13 AND " K("dst") " = ?12))"
static const char *const frags[2][12] = {
	{
		" AND r.last_ns >= ?1 AND r.first_ns <= ?2", " AND r.vm = ?3",
		" AND r.proto = ?4", " AND (r.sport = ?5 OR r.dport = ?5)",
		/* with a window: the port does not drive the search (a
		 * service's port is in a large share of all records; the
		 * window's seek is bounded) */
		" AND (+r.sport = ?5 OR +r.dport = ?5)",
		" AND (r.src = ?6 OR r.dst = ?6)",
		/* an address of many records does not drive the search
		 * when the window's seek does (window_seek) */
		" AND (+r.src = ?6 OR +r.dst = ?6)",
		LIKE_TERM("LIKE"), " AND r.seen_by = ?8",
		" AND s.tracker = ?9", NODE_TERMS(RKEY_LITE),
	},
	{
		/* PostgreSQL plans by its statistics: no unary + (nor
		 * one on bytea) */
		" AND r.last_ns >= ?1 AND r.first_ns <= ?2", " AND r.vm = ?3",
		" AND r.proto = ?4", " AND (r.sport = ?5 OR r.dport = ?5)",
		" AND (r.sport = ?5 OR r.dport = ?5)",
		" AND (r.src = ?6 OR r.dst = ?6)",
		" AND (r.src = ?6 OR r.dst = ?6)",
		LIKE_TERM("ILIKE"), " AND r.seen_by = ?8",
		" AND s.tracker = ?9", NODE_TERMS(RKEY_PG),
	},
};
/* clang-format on */

/*
 * The conditions of @f in @pg's SQL (0 SQLite, 1 PostgreSQL): the
 * window's term when @win, a port that cannot drive the search when
 * @port_plus (see frags[]).
 */
static int where_build(const struct cot_recq_filter *f, int pg, int indexed,
		       int win, int port_plus, int addr_plus, char *buf,
		       size_t len)
{
	static const char *const windows[2] = {
		WINDOW_INDEXED_X(COT_STORE_WINDOW_ON("w.")),
		WINDOW_INDEXED_X(COT_STORE_WINDOW_ON_PG("w.")),
	};
	const char *const *frag = frags[pg ? 1 : 0];
	int on[COT_ARRAY_SIZE(frags[0])] = {
		win,
		f->vm[0] != 0,
		f->proto >= 0,
		f->port >= 0 && !port_plus,
		f->port >= 0 && port_plus,
		f->has_addr && !addr_plus,
		f->has_addr && addr_plus,
		f->q[0] != 0,
		f->seen_by >= 0,
		f->tracker[0] != 0,
		f->node[0] != 0 && !f->peer[0],
		f->node[0] != 0 && f->peer[0] != 0,
	};
	size_t i, o = 0, n;

	buf[0] = '\0';
	for (i = 0; i < COT_ARRAY_SIZE(on); i++) {
		const char *x =
			i == 0 && indexed ? windows[pg ? 1 : 0] : frag[i];

		if (!on[i])
			continue;
		n = strlen(x);
		if (o + n + 1 > len)
			return -COT_E2BIG;
		memcpy(buf + o, x, n + 1);
		o += n;
	}
	return (int)o;
}

static int where_of(const struct cot_recq_filter *f, int pg, int indexed,
		    char *buf, size_t len)
{
	return where_build(f, pg, indexed, window_on(f), window_on(f),
			   indexed && window_on(f), buf, len);
}

/*
 * FROM records r joined with streams s (@join: "JOIN" or "LEFT JOIN")
 * and the conditions of @f, as "FROM ... WHERE 1 = 1 AND ...", for a
 * query that reads the selected records' indexed columns only (a count,
 * the map's rows).  When the window's seek drives (@seek, window_seek())
 * the span levels join records directly rather than through the IN
 * (...) of where_of(): on SQLite each level's range of rec_win, a
 * covering index (store.h), is then all that is read, not also a
 * primary-key read of the table per record (1 s of a 1 h window's map
 * on 10 million records, docs/bench.md).  The same records, the same
 * parameters.  Returns the length or -COT_E2BIG.
 */
static int from_where(const struct cot_recq_filter *f, int pg, int seek,
		      const char *join, char *buf, size_t len)
{
	int n, w;

	if (!seek || !window_on(f)) {
		n = snprintf(buf, len,
			     "FROM records r %s streams s ON s.id = r.stream "
			     "WHERE 1 = 1",
			     join);
		if (n < 0 || (size_t)n >= len)
			return -COT_E2BIG;
		w = where_of(f, pg, seek, buf + n, len - (size_t)n);
	} else {
		n = snprintf(buf, len,
			     "FROM " COT_STORE_WINDOW_LEVELS
			     " lv JOIN records r ON %s %s streams s ON s.id = "
			     "r.stream WHERE 1 = 1",
			     pg ? COT_STORE_WINDOW_ON_PG("r.")
				: COT_STORE_WINDOW_ON("r."),
			     join);
		if (n < 0 || (size_t)n >= len)
			return -COT_E2BIG;
		w = where_build(f, pg, 1, 0, 1, 1, buf + n, len - (size_t)n);
	}
	return w < 0 ? w : n + w;
}

int cot_recq_where(const struct cot_recq_filter *f, int indexed, char *buf,
		   size_t len)
{
	return where_of(f, 0, indexed, buf, len);
}

int cot_recq_bind(struct cot_dbq *q, const struct cot_recq_filter *f)
{
	char like[2 * COT_RECQ_QLEN + 3];
	int rc = 0;
	size_t i, o = 0;

	if (window_on(f)) {
		rc |= cot_dbq_bind_int64(q, 1, (int64_t)f->from_ns);
		rc |= cot_dbq_bind_int64(q, 2, (int64_t)f->to_ns);
	}
	if (f->vm[0])
		rc |= cot_dbq_bind_text(q, 3, f->vm);
	if (f->proto >= 0)
		rc |= cot_dbq_bind_int64(q, 4, f->proto);
	if (f->port >= 0)
		rc |= cot_dbq_bind_int64(q, 5, f->port);
	if (f->has_addr)
		rc |= cot_dbq_bind_blob(q, 6, f->addr, 16);
	if (f->q[0]) {
		/* %q%, with LIKE's own % _ and the escape escaped */
		like[o++] = '%';
		for (i = 0; f->q[i] && i < sizeof(f->q); i++) {
			if (f->q[i] == '%' || f->q[i] == '_' || f->q[i] == '\\')
				like[o++] = '\\';
			like[o++] = f->q[i];
		}
		like[o++] = '%';
		like[o] = '\0';
		rc |= cot_dbq_bind_text(q, 7, like);
	}
	if (f->seen_by >= 0)
		rc |= cot_dbq_bind_int64(q, 8, f->seen_by);
	if (f->tracker[0])
		rc |= cot_dbq_bind_text(q, 9, f->tracker);
	if (f->node[0])
		rc |= cot_dbq_bind_text(q, 12, f->node);
	if (f->node[0] && f->peer[0])
		rc |= cot_dbq_bind_text(q, 13, f->peer);
	return rc ? -COT_EIO : 0;
}

const char *cot_recq_chain_name(int chain)
{
	switch (chain) {
	case COT_RECQ_VERIFIED:
		return "verified";
	case COT_RECQ_GAP:
		return "gap";
	}
	return "not checked";
}

/* The sortable columns: name, then its expression inside and outside. */
static const struct {
	const char *name, *inner, *outer;
} sorts[] = {
	{ "first_ns", "r.first_ns", "x.first_ns" },
	{ "last_ns", "r.last_ns", "x.last_ns" },
	{ "vm", "r.vm", "x.vm" },
	{ "proto", "r.proto", "x.proto" },
	{ "src", "r.src", "x.src" },
	{ "sport", "r.sport", "x.sport" },
	{ "dst", "r.dst", "x.dst" },
	{ "dport", "r.dport", "x.dport" },
	{ "pkts_fwd", "r.pkts_fwd", "x.pkts_fwd" },
	{ "bytes_fwd", "r.bytes_fwd", "x.bytes_fwd" },
	{ "pkts_rev", "r.pkts_rev", "x.pkts_rev" },
	{ "bytes_rev", "r.bytes_rev", "x.bytes_rev" },
	{ "seen_by", "r.seen_by", "x.seen_by" },
	{ "end", "r.end_", "x.end_" },
	{ "tracker", "s.tracker", "x.tracker" },
	{ "seq", "r.seq", "x.seq" },
	{ "stored_ns", "r.stored_ns", "x.stored_ns" },
};

static int sort_index(const char *name)
{
	size_t i;

	for (i = 0; i < COT_ARRAY_SIZE(sorts); i++)
		if (!strcmp(name, sorts[i].name))
			return (int)i;
	return -1;
}

int cot_recq_sort_ok(const char *name)
{
	return sort_index(name) >= 0;
}

/*
 * The span-level window seek pays when the window is the most selective
 * filter.  An address often is more selective (a client's few records):
 * when at most ADDR_FEW records hold it at either end (two bounded index
 * probes), the address drives the search and the window is a plain
 * comparison on its records.
 */
#define ADDR_FEW 10000

static int window_seek(struct cot_db *db, int indexed,
		       const struct cot_recq_filter *f)
{
	struct cot_dbq *q = NULL;
	int64_t n = ADDR_FEW + 1;

	if (!indexed)
		return 0;
	if (!f->has_addr || !window_on(f))
		return 1;
	if (cot_dbq_prepare(db,
			    "SELECT (SELECT count(*) FROM (SELECT 1 FROM "
			    "records WHERE src = ?1 LIMIT ?2) AS a) + (SELECT "
			    "count(*) FROM (SELECT 1 FROM records WHERE dst "
			    "= ?1 LIMIT ?2) AS b)",
			    &q) == 0 &&
	    cot_dbq_bind_blob(q, 1, f->addr, 16) == 0 &&
	    cot_dbq_bind_int64(q, 2, ADDR_FEW + 1) == 0 && cot_dbq_step(q) == 1)
		n = cot_dbq_int64(q, 0);
	cot_dbq_free(q);
	return n > ADDR_FEW;
}

/* The page's columns over x (a page of records with their tracker). */
static const char page_head[] =
	"SELECT x.stream, coalesce(x.tracker, ''), x.stored_ns, "
	"CASE WHEN x.tracker IS NULL THEN 2 WHEN EXISTS (SELECT 1 FROM "
	"events e WHERE e.stream = x.stream AND ((e.kind = 'gap' AND "
	"e.seq_last + 1 = x.seq) OR (e.kind IN ('chain', 'conflict') "
	"AND x.seq BETWEEN e.seq_first AND e.seq_last))) THEN 1 ELSE 0 "
	"END, " COT_STORE_REC_COLS;

/*
 * A page by time in a window (all time: ?1 = 0, ?2 = INT64_MAX), with
 * the indexes: per span level, the level's records of the window in
 * first_ns order from the index (rec_win, or rec_vm_win), at most
 * offset + limit of them; the page is cut from their union.  Each
 * level's walk stops at its LIMIT: a page of a large window reads about
 * offset + limit rows a level, not the whole window, when the other
 * filters select a good share of what it walks (the caller's choice:
 * cot_recq_flows).  The lower bounds are COT_STORE_WINDOW_LEVELS'.
 */
static int page_by_time(const struct cot_recq_filter *f, int pg,
			const char *dir, char *sql, size_t len)
{
	static const char *const lo[] = {
		"?1 - 1000000000",	 "?1 - 10000000000",
		"?1 - 100000000000",	 "?1 - 1000000000000",
		"?1 - 10000000000000",	 "?1 - 100000000000000",
		"?1 - 1000000000000000", "-9223372036854775807 - 1",
	};
	const char *span =
		pg ? "cot_span(r.first_ns, r.last_ns)" : COT_STORE_SPAN("r.");
	char where[8192];
	size_t o;
	int rc, l;

	/* the other filters: the window is the levels' own, and they walk
	 * in time order whatever else is asked */
	if (where_build(f, pg, 1, 0, 1, 1, where, sizeof(where)) < 0)
		return -1;
	rc = snprintf(sql, len, "%s FROM (", page_head);
	if (rc < 0 || (size_t)rc >= len)
		return -1;
	o = (size_t)rc;
	/* bounded: the 8 levels */
	for (l = 0; l < (int)COT_ARRAY_SIZE(lo); l++) {
		rc = snprintf(sql + o, len - o,
			      "%sSELECT * FROM (SELECT s.tracker AS tracker, "
			      "r.* FROM records r LEFT JOIN streams s ON s.id "
			      "= r.stream WHERE %s = %d AND r.first_ns BETWEEN "
			      "%s AND ?2 AND r.last_ns >= ?1%s ORDER BY "
			      "r.first_ns %s, r.stream %s, r.seq %s LIMIT ?10 "
			      "+ ?11) AS l%d",
			      l ? " UNION ALL " : "", span, l, lo[l], where,
			      dir, dir, dir, l);
		if (rc < 0 || (size_t)rc >= len - o)
			return -1;
		o += (size_t)rc;
	}
	rc = snprintf(sql + o, len - o,
		      ") x ORDER BY x.first_ns %s, x.stream %s, x.seq %s "
		      "LIMIT ?10 OFFSET ?11",
		      dir, dir, dir);
	if (rc < 0 || (size_t)rc >= len - o)
		return -1;
	return (int)(o + (size_t)rc);
}

/* @sql's one integer, or -COT_EIO. */
static int count_of(struct cot_db *db, const char *sql,
		    const struct cot_recq_filter *f, uint64_t *n)
{
	struct cot_dbq *q = NULL;
	int rc = -COT_EIO;

	if (cot_dbq_prepare(db, sql, &q) == 0 && cot_recq_bind(q, f) == 0 &&
	    cot_dbq_step(q) == 1) {
		*n = (uint64_t)cot_dbq_int64(q, 0);
		rc = 0;
	}
	cot_dbq_free(q);
	return rc;
}

int cot_recq_flows(struct cot_db *db, int indexed,
		   const struct cot_recq_filter *f, const char *sort, int desc,
		   uint64_t offset, uint32_t limit, uint64_t *total,
		   int (*cb)(void *ctx, const struct cot_recq_row *row),
		   void *ctx)
{
	char where[8192], from[12288], sql[65536];
	const char *dir = desc ? "DESC" : "ASC";
	/* SQLite puts NULL first in ascending order, PostgreSQL last */
	const char *nulls = "";
	struct cot_recq_row row;
	struct cot_dbq *q = NULL;
	int si = sort ? sort_index(sort) : 0, rc, step, by_time, seek;
	int pg = cot_db_kind(db) == COT_DB_PG;

	if (si < 0 || limit > COT_RECQ_MAX_LIMIT || offset > (UINT64_MAX >> 1))
		return -COT_EINVAL;
	if (pg)
		nulls = desc ? " NULLS LAST" : " NULLS FIRST";
	seek = window_seek(db, indexed, f);
	if (where_of(f, pg, seek, where, sizeof(where)) < 0 ||
	    from_where(f, pg, seek, "LEFT JOIN", from, sizeof(from)) < 0)
		return -COT_EINVAL;
	/* Counted up to COT_RECQ_MAX_TOTAL: a count is a walk over every
	 * selected record, the page is not. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT 1 %s LIMIT %d) AS c", from,
		 COT_RECQ_MAX_TOTAL + 1);
	if (count_of(db, sql, f, total) < 0)
		return -COT_EIO;
	/*
	 * The page is cut inside; the chain status is computed outside, for
	 * the page's rows only.  A gap event [first, last] makes seq last+1
	 * unverifiable; chain and conflict events flag their range.
	 */
	/*
	 * By time, in a window or over more than COT_RECQ_MAX_TOTAL
	 * records (at least 1% of 10 million: the levels' walks meet the
	 * page soon): the levels' walks.  Otherwise the filters' indexes
	 * find the few records, which are then sorted.
	 */
	by_time = si == 0 && indexed &&
		  ((window_on(f) && seek) || *total > COT_RECQ_MAX_TOTAL);
	if (by_time)
		rc = page_by_time(f, pg, dir, sql, sizeof(sql));
	else
		rc = snprintf(
			sql, sizeof(sql),
			"%s FROM (SELECT s.tracker AS tracker, "
			"r.* FROM records r LEFT JOIN streams s ON s.id = "
			"r.stream WHERE 1 = 1%s ORDER BY %s %s%s, r.stream %s, "
			"r.seq %s LIMIT ?10 OFFSET ?11) x ORDER BY %s %s%s, "
			"x.stream %s, x.seq %s",
			page_head, where, sorts[si].inner, dir, nulls, dir, dir,
			sorts[si].outer, dir, nulls, dir, dir);
	if (rc < 0 || (size_t)rc >= sizeof(sql))
		return -COT_EINVAL;
	if (cot_dbq_prepare(db, sql, &q) < 0)
		return -COT_EIO;
	if (cot_recq_bind(q, f) < 0 ||
	    (by_time && !window_on(f) &&
	     (cot_dbq_bind_int64(q, 1, 0) < 0 ||
	      cot_dbq_bind_int64(q, 2, INT64_MAX) < 0)) ||
	    cot_dbq_bind_int64(q, 10, (int64_t)limit) < 0 ||
	    cot_dbq_bind_int64(q, 11, (int64_t)offset) < 0) {
		cot_dbq_free(q);
		return -COT_EIO;
	}
	rc = 0;
	/* bounded by LIMIT */
	while ((step = cot_dbq_step(q)) == 1) {
		memset(&row, 0, sizeof(row));
		row.stream = cot_dbq_int64(q, 0);
		row.tracker = cot_dbq_text(q, 1);
		if (!row.tracker)
			row.tracker = "";
		row.stored_ns = (uint64_t)cot_dbq_int64(q, 2);
		row.chain = (int)cot_dbq_int64(q, 3);
		if (cot_rec_from_row(q, 4, &row.rec) < 0)
			continue; /* bad blob sizes: not a record we can show */
		rc = cb(ctx, &row);
		if (rc)
			break;
	}
	if (!rc && step != 0)
		rc = -COT_EIO;
	cot_dbq_free(q);
	return rc;
}

static const char graph_head[] =
	COT_RECQ_MAP_SELECT "FROM records r JOIN streams s ON s.id = r.stream "
			    "WHERE 1";
static const char graph_tail[] = COT_RECQ_MAP_GROUP;

static const char *col_text(sqlite3_stmt *s, int c)
{
	const unsigned char *t = sqlite3_column_text(s, c);

	return t ? (const char *)t : "";
}

static int hidden(const char *key, const char *const *hide, size_t nhide)
{
	size_t i;

	for (i = 0; i < nhide; i++)
		if (!strcmp(key, hide[i]))
			return 1;
	return 0;
}

/* Index of the node @key, made if new; (size_t)-1 out of memory. */
static size_t node_get(struct cot_recq_graph *g, size_t *cap, const char *key,
		       const char *comms, const uint8_t addr[16])
{
	struct cot_recq_node *w;
	struct cot_addr a;
	const char *p, *q;
	char ab[COT_ADDR_STRLEN];
	size_t i;

	/* bounded by nnodes <= 2 * max_edges */
	for (i = 0; i < g->nnodes; i++)
		if (!strcmp(g->nodes[i].id, key))
			return i;
	if (g->nnodes == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct cot_recq_node *nn = realloc(g->nodes, nc * sizeof(*nn));

		if (!nn)
			return (size_t)-1;
		g->nodes = nn;
		*cap = nc;
	}
	w = &g->nodes[g->nnodes];
	memset(w, 0, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", key);
	w->kind = key[0];
	p = strchr(key + 1, 1);
	switch (key[0]) {
	case 'w':
		q = p ? strchr(p + 1, 1) : NULL;
		if (!p || !q)
			break;
		snprintf(w->box, sizeof(w->box), "%.*s", (int)(p - key - 1),
			 key + 1);
		if (q > p + 1) { /* a container: its comms and its cgroup */
			snprintf(w->title, sizeof(w->title), "%.100s",
				 comms[0] ? comms : "?");
			snprintf(w->sub, sizeof(w->sub), "%.*s",
				 (int)(q - p - 1), p + 1);
		} else {
			snprintf(w->title, sizeof(w->title), "%s", q + 1);
		}
		break;
	case 'n':
		snprintf(w->title, sizeof(w->title), "%s", key + 1);
		break;
	default:
		if (p)
			snprintf(w->box, sizeof(w->box), "%.*s",
				 (int)(p - key - 1), key + 1);
		memcpy(a.b, addr, 16);
		snprintf(w->title, sizeof(w->title), "%s",
			 cot_addr_format(ab, &a, true) >= 0 ? ab : "?");
	}
	return g->nnodes++;
}

/*
 * The service map aggregated here from one streamed SELECT of the
 * window's records (COT_RECQ_MAP_ROWS), the same numbers as the SQL of
 * COT_RECQ_MAP_SELECT / GROUP: SQLite's two GROUP BYs sort every record
 * of the window twice (3.5 s for the 417,000 records of a 1 h window on
 * 10 million, docs/bench.md).  Strings are interned in a pool (a few
 * hundred distinct VMs, comms, cgroups and names), so a connection costs
 * a fixed-size slot; the connection table is bounded by
 * COT_RECQ_MAP_MAX_CONNS, beyond which the caller falls back to the SQL.
 */
struct pool {
	char **s; /* open addressing, NULL = free */
	size_t cap, n;
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	/* FNV-1a; bounded by n */
	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static int pool_grow(struct pool *p)
{
	size_t nc = p->cap ? p->cap * 2 : 256, i, j;
	char **ns = calloc(nc, sizeof(*ns));

	if (!ns)
		return -COT_ENOMEM;
	/* bounded by the old capacity; each probe by the new one */
	for (i = 0; i < p->cap; i++) {
		if (!p->s[i])
			continue;
		j = hash_bytes(0xcbf29ce484222325ULL, p->s[i],
			       strlen(p->s[i])) &
		    (nc - 1);
		while (ns[j])
			j = (j + 1) & (nc - 1);
		ns[j] = p->s[i];
	}
	free(p->s);
	p->s = ns;
	p->cap = nc;
	return 0;
}

/* The pool's copy of @t (NULL stays NULL); *@err = -COT_ENOMEM on failure. */
static const char *pool_get(struct pool *p, const unsigned char *t, int *err)
{
	size_t len, j;

	if (!t)
		return NULL;
	len = strlen((const char *)t);
	if (p->n * 2 >= p->cap && pool_grow(p) < 0) {
		*err = -COT_ENOMEM;
		return NULL;
	}
	j = hash_bytes(0xcbf29ce484222325ULL, t, len) & (p->cap - 1);
	/* bounded: the table is at most half full */
	while (p->s[j]) {
		if (!strcmp(p->s[j], (const char *)t))
			return p->s[j];
		j = (j + 1) & (p->cap - 1);
	}
	p->s[j] = malloc(len + 1);
	if (!p->s[j]) {
		*err = -COT_ENOMEM;
		return NULL;
	}
	memcpy(p->s[j], t, len + 1);
	p->n++;
	return p->s[j];
}

static void pool_free(struct pool *p)
{
	size_t i;

	for (i = 0; i < p->cap; i++)
		free(p->s[i]);
	free(p->s);
	memset(p, 0, sizeof(*p));
}

/* One connection: the inner GROUP BY's row (pool strings, NULL = NULL). */
struct mconn {
	uint64_t h; /* 0: free slot */
	const char *tracker, *scope;
	const char *sv, *sc, *sg, *sn, *dv, *dc, *dg, *dn;
	const char *vmin, *vmax;
	int64_t first_ns, bf, br;
	int sport, dport, proto, seen, nvm; /* nvm 3: three or more */
	uint8_t src[16], dst[16];
};

#define MAP_COMMS 8 /* distinct comms kept per edge end (titles) */

struct medge {
	uint64_t h; /* 0: free slot */
	const char *sk, *dk, *dn;
	int dp, proto, nsc, ndc;
	uint64_t conns, bf, br, seen[3];
	uint8_t src[16], dst[16];
	const char *sc[MAP_COMMS], *dc[MAP_COMMS];
};

struct magg {
	struct pool pool;
	struct mconn *c; /* dense, in order of arrival */
	size_t ccap, nc;
	/*
	 * open addressing: the connection's hash's high half, then its
	 * index into c + 1 (0 = free): a probe compares the hash without
	 * reading c, a cache miss per probe on a large window
	 */
	uint64_t *slot;
	size_t scap;
	struct medge *e;
	size_t ecap, ne;
};

/* max() of SQLite text (BINARY collation; NULL below everything) */
static const char *text_max(const char *a, const char *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return strcmp(a, b) >= 0 ? a : b;
}

static uint64_t conn_hash(const struct mconn *k)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int64_t v[4] = { k->first_ns, k->sport, k->dport, k->proto };

	h = hash_bytes(h, &k->tracker, sizeof(k->tracker));
	h = hash_bytes(h, &k->scope, sizeof(k->scope));
	h = hash_bytes(h, k->src, 16);
	h = hash_bytes(h, k->dst, 16);
	h = hash_bytes(h, v, sizeof(v));
	/* murmur3's finaliser: the slot is the low bits */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h | 1;
}

static int conn_eq(const struct mconn *a, const struct mconn *b)
{
	return a->h == b->h && a->tracker == b->tracker &&
	       a->scope == b->scope && a->first_ns == b->first_ns &&
	       a->sport == b->sport && a->dport == b->dport &&
	       a->proto == b->proto && !memcmp(a->src, b->src, 16) &&
	       !memcmp(a->dst, b->dst, 16);
}

/* Open-addressing table growth, shared by connections and edges. */
static int table_grow(void **tab, size_t *cap, size_t sz,
		      uint64_t (*hof)(const void *))
{
	size_t nc = *cap ? *cap * 2 : 1024, i, j;
	unsigned char *nt = calloc(nc, sz), *ot = *tab;

	if (!nt)
		return -COT_ENOMEM;
	/* bounded by the old capacity; each probe by the new one */
	for (i = 0; i < *cap; i++) {
		uint64_t h = hof(ot + i * sz);

		if (!h)
			continue;
		j = h & (nc - 1);
		while (hof(nt + j * sz))
			j = (j + 1) & (nc - 1);
		memcpy(nt + j * sz, ot + i * sz, sz);
	}
	free(ot);
	*tab = nt;
	*cap = nc;
	return 0;
}

static uint64_t edge_h(const void *p)
{
	return ((const struct medge *)p)->h;
}

#define SLOT_TAG(h) ((h)&0xffffffff00000000ULL)
#define SLOT_IDX(v) ((size_t)((v)&0xffffffffu))

/* Double the connections' slot table (indices into the dense array). */
static int slot_grow(struct magg *m)
{
	size_t nc = m->scap ? m->scap * 2 : 2048, i, j;
	uint64_t *ns = calloc(nc, sizeof(*ns));

	if (!ns)
		return -COT_ENOMEM;
	/* bounded by the connections; each probe by the new capacity */
	for (i = 0; i < m->nc; i++) {
		j = m->c[i].h & (nc - 1);
		while (ns[j])
			j = (j + 1) & (nc - 1);
		ns[j] = SLOT_TAG(m->c[i].h) | (i + 1);
	}
	free(m->slot);
	m->slot = ns;
	m->scap = nc;
	return 0;
}

static void vm_add(struct mconn *c, const char *vm)
{
	if (!vm)
		return;
	if (!c->nvm) {
		c->vmin = c->vmax = vm;
		c->nvm = 1;
		return;
	}
	if (vm == c->vmin || vm == c->vmax)
		return;
	if (c->nvm < 3)
		c->nvm++;
	c->vmin = strcmp(vm, c->vmin) < 0 ? vm : c->vmin;
	c->vmax = strcmp(vm, c->vmax) > 0 ? vm : c->vmax;
}

static int blob16(struct cot_dbq *s, int col, uint8_t out[16])
{
	const void *b;
	size_t len;

	/* SQLite: a blob, not a text of 16 bytes */
	if (s->s && sqlite3_column_type(s->s, col) != SQLITE_BLOB)
		return -1;
	b = cot_dbq_blob(s, col, &len);
	if (!b || len != 16)
		return -1;
	memcpy(out, b, 16);
	return 0;
}

/* A text column as pool_get() takes it. */
static const unsigned char *utext(struct cot_dbq *s, int col)
{
	return (const unsigned char *)cot_dbq_text(s, col);
}

static const uint8_t v4lo[13] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127
};
static const uint8_t v6lo[16] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
};

/*
 * One record (a row of COT_RECQ_MAP_ROWS) into its connection.  Returns
 * 0, 1 (a record whose addresses are not 16 bytes: counted in *@bad
 * only) or -COT_ENOMEM.
 */
static int agg_row(struct magg *m, struct cot_dbq *s, uint64_t *bad)
{
	struct mconn k, *c;
	const char *vm;
	size_t j;
	int err = 0;

	memset(&k, 0, sizeof(k));
	if (blob16(s, 1, k.src) < 0 || blob16(s, 3, k.dst) < 0) {
		(*bad)++;
		return 1;
	}
	k.tracker = pool_get(&m->pool, utext(s, 0), &err);
	vm = pool_get(&m->pool, utext(s, 7), &err);
	if (err)
		return err;
	k.sport = (int)cot_dbq_int64(s, 2);
	k.dport = (int)cot_dbq_int64(s, 4);
	k.proto = (int)cot_dbq_int64(s, 5);
	k.first_ns = cot_dbq_int64(s, 6);
	k.scope = !memcmp(k.src, v4lo, 13) || !memcmp(k.src, v6lo, 16)
			  ? (vm ? vm
				: pool_get(&m->pool, (const unsigned char *)"",
					   &err))
			  : NULL;
	if (err)
		return err;
	k.h = conn_hash(&k);
	if (m->nc * 2 >= m->scap && slot_grow(m) < 0)
		return -COT_ENOMEM;
	if (m->nc == m->ccap) {
		size_t nc = m->ccap ? m->ccap * 2 : 1024;
		struct mconn *cc = realloc(m->c, nc * sizeof(*cc));

		if (!cc)
			return -COT_ENOMEM;
		m->c = cc;
		m->ccap = nc;
	}
	j = k.h & (m->scap - 1);
	/* bounded: the slot table is at most half full */
	while (m->slot[j] && (SLOT_TAG(m->slot[j]) != SLOT_TAG(k.h) ||
			      !conn_eq(&m->c[SLOT_IDX(m->slot[j]) - 1], &k)))
		j = (j + 1) & (m->scap - 1);
	if (!m->slot[j]) {
		c = &m->c[m->nc];
		*c = k;
		c->bf = c->br = INT64_MIN;
		m->slot[j] = SLOT_TAG(k.h) | ++m->nc;
	} else {
		c = &m->c[SLOT_IDX(m->slot[j]) - 1];
	}
#define TEXT(col) pool_get(&m->pool, utext(s, col), &err)
	if ((int)cot_dbq_int64(s, 8))
		c->sv = text_max(c->sv, vm);
	c->sc = text_max(c->sc, TEXT(9));
	c->sg = text_max(c->sg, TEXT(10));
	c->sn = text_max(c->sn, TEXT(11));
	if ((int)cot_dbq_int64(s, 12))
		c->dv = text_max(c->dv, vm);
	c->dc = text_max(c->dc, TEXT(13));
	c->dg = text_max(c->dg, TEXT(14));
	c->dn = text_max(c->dn, TEXT(15));
#undef TEXT
	c->bf = COT_MAX(c->bf, cot_dbq_int64(s, 16));
	c->br = COT_MAX(c->br, cot_dbq_int64(s, 17));
	c->seen |= (int)cot_dbq_int64(s, 18) & 3;
	vm_add(c, vm);
	return err;
}

/* COT_RECQ_LOCALVM(mine, other) */
static const char *local_vm(const struct mconn *c, const char *mine,
			    const char *other)
{
	if (mine || !other || c->nvm != 2)
		return NULL;
	return c->vmin == other ? c->vmax : c->vmin;
}

/* COT_RECQ_WKEY into the pool; NULL with *@err set when out of memory. */
static const char *wkey(struct magg *m, const struct mconn *c, const char *v,
			const char *cm, const char *g, const char *n,
			const uint8_t a[16], const char *l, int *err)
{
	char b[COT_RECQ_KEYLEN + 64];
	char hex[33];
	int i;

	/* SQLite's hex(): upper case; snprintf per byte cost 1 s a window */
	for (i = 0; i < 16; i++) {
		hex[2 * i] = "0123456789ABCDEF"[a[i] >> 4];
		hex[2 * i + 1] = "0123456789ABCDEF"[a[i] & 15];
	}
	hex[32] = 0;
	if (v)
		snprintf(b, sizeof(b), "w%s\1%s\1%s", v, g ? g : "",
			 g    ? ""
			 : cm ? cm
			      : "");
	else if (l)
		snprintf(b, sizeof(b), "a%s\1%s", l, hex);
	else if (n)
		snprintf(b, sizeof(b), "n%s", n);
	else
		snprintf(b, sizeof(b), "a%s\1%s", c->scope ? c->scope : "",
			 hex);
	return pool_get(&m->pool, (const unsigned char *)b, err);
}

/*
 * Add @cm to an end's distinct comms; of more than MAP_COMMS the
 * smallest are kept, whatever order the records come in (a covering
 * index's window and a primary key's give other orders).
 */
static void comm_add(const char **set, int *n, const char *cm)
{
	int i, big = 0;

	if (!cm)
		return;
	/* bounded by MAP_COMMS */
	for (i = 0; i < *n; i++) {
		if (set[i] == cm)
			return;
		if (strcmp(set[i], set[big]) > 0)
			big = i;
	}
	if (*n < MAP_COMMS)
		set[(*n)++] = cm;
	else if (strcmp(cm, set[big]) < 0)
		set[big] = cm;
}

/* One connection into its edge (the outer GROUP BY). */
static int agg_edge(struct magg *m, const struct mconn *c)
{
	struct medge k, *e;
	size_t j;
	int err = 0, dp = c->proto == 1 || c->proto == 2 ? c->dport : 0;
	int64_t v[2] = { dp, c->proto };

	memset(&k, 0, sizeof(k));
	k.sk = wkey(m, c, c->sv, c->sc, c->sg, c->sn, c->src,
		    local_vm(c, c->sv, c->dv), &err);
	k.dk = wkey(m, c, c->dv, c->dc, c->dg, c->dn, c->dst,
		    local_vm(c, c->dv, c->sv), &err);
	if (err)
		return err;
	k.dp = dp;
	k.proto = c->proto;
	k.h = hash_bytes(hash_bytes(hash_bytes(0xcbf29ce484222325ULL, &k.sk,
					       sizeof(k.sk)),
				    &k.dk, sizeof(k.dk)),
			 v, sizeof(v)) |
	      1;
	if (m->ne * 2 >= m->ecap &&
	    table_grow((void **)&m->e, &m->ecap, sizeof(*m->e), edge_h) < 0)
		return -COT_ENOMEM;
	j = k.h & (m->ecap - 1);
	/* bounded: the table is at most half full */
	while (m->e[j].h &&
	       !(m->e[j].h == k.h && m->e[j].sk == k.sk && m->e[j].dk == k.dk &&
		 m->e[j].dp == k.dp && m->e[j].proto == k.proto))
		j = (j + 1) & (m->ecap - 1);
	e = &m->e[j];
	if (!e->h) {
		*e = k;
		memcpy(e->src, c->src, 16);
		memcpy(e->dst, c->dst, 16);
		m->ne++;
	}
	e->conns++;
	e->bf += (uint64_t)c->bf;
	e->br += (uint64_t)c->br;
	if (c->seen >= 1 && c->seen <= 3)
		e->seen[c->seen - 1]++;
	if (memcmp(c->src, e->src, 16) > 0)
		memcpy(e->src, c->src, 16);
	if (memcmp(c->dst, e->dst, 16) > 0)
		memcpy(e->dst, c->dst, 16);
	comm_add(e->sc, &e->nsc, c->sc);
	comm_add(e->dc, &e->ndc, c->dc);
	e->dn = text_max(e->dn, c->dn);
	return 0;
}

/* ORDER BY sum(bf) + sum(br) DESC, sk, dk (then port, protocol) */
static int edge_cmp(const void *pa, const void *pb)
{
	const struct medge *a = pa, *b = pb;
	uint64_t wa = a->bf + a->br, wb = b->bf + b->br;
	int c;

	if (wa != wb)
		return wa > wb ? -1 : 1;
	c = strcmp(a->sk, b->sk);
	if (!c)
		c = strcmp(a->dk, b->dk);
	if (!c)
		c = a->dp != b->dp ? (a->dp < b->dp ? -1 : 1) : 0;
	if (!c)
		c = a->proto != b->proto ? (a->proto < b->proto ? -1 : 1) : 0;
	return c;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void comms_join(char *b, size_t cap, const char **set, int n)
{
	size_t o = 0;
	int i;

	b[0] = 0;
	qsort(set, (size_t)n, sizeof(*set), str_cmp);
	/* bounded by MAP_COMMS */
	for (i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s%s", i ? "," : "",
				      set[i]);
}

static void magg_free(struct magg *m)
{
	pool_free(&m->pool);
	free(m->c);
	free(m->slot);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

int cot_recq_map_agg(struct cot_dbq *s, size_t max_conns, uint64_t *skipped,
		     int (*cb)(void *ctx, const struct cot_recq_mapedge *e),
		     void *ctx)
{
	struct magg m;
	struct cot_recq_mapedge out;
	char scomms[COT_RECQ_COMMSLEN], dcomms[COT_RECQ_COMMSLEN];
	uint64_t bad = 0;
	size_t i, n;
	int rc = 0, step;

	memset(&m, 0, sizeof(m));
	*skipped = 0;
	if (max_conns > UINT32_MAX - 1) /* a slot holds a 32-bit index */
		max_conns = UINT32_MAX - 1;
	/* bounded by the selected records; the table by max_conns */
	while ((step = cot_dbq_step(s)) == 1) {
		rc = agg_row(&m, s, &bad);
		if (rc < 0)
			goto out;
		if (m.nc > max_conns) {
			rc = -COT_E2BIG;
			goto out;
		}
	}
	*skipped = bad;
	if (step != 0) {
		rc = -COT_EIO;
		goto out;
	}
	/* bounded by the connection table */
	for (i = 0; i < m.nc; i++)
		if ((rc = agg_edge(&m, &m.c[i])) < 0)
			goto out;
	free(m.c);
	free(m.slot);
	m.c = NULL;
	m.slot = NULL;
	m.ccap = m.scap = m.nc = 0;
	/* compact the edges, then sort them */
	for (i = n = 0; i < m.ecap; i++)
		if (m.e[i].h)
			m.e[n++] = m.e[i];
	if (n) /* qsort's base must not be NULL, even for no element */
		qsort(m.e, n, sizeof(*m.e), edge_cmp);
	rc = 0;
	/* bounded by the edges */
	for (i = 0; i < n && !rc; i++) {
		const struct medge *e = &m.e[i];

		comms_join(scomms, sizeof(scomms), m.e[i].sc, e->nsc);
		comms_join(dcomms, sizeof(dcomms), m.e[i].dc, e->ndc);
		memset(&out, 0, sizeof(out));
		out.sk = e->sk;
		out.dk = e->dk;
		out.dp = e->dp;
		out.proto = e->proto;
		out.conns = e->conns;
		out.bytes_fwd = e->bf;
		out.bytes_rev = e->br;
		memcpy(out.seen, e->seen, sizeof(out.seen));
		out.src = e->src;
		out.dst = e->dst;
		out.scomms = scomms;
		out.dcomms = dcomms;
		out.dname = e->dn ? e->dn : "";
		rc = cb(ctx, &out);
	}
out:
	magg_free(&m);
	return rc;
}

struct graph_ctx {
	struct cot_recq_graph *out;
	size_t ncap;
	uint32_t max_edges;
	const char *const *hide;
	size_t nhide;
};

/* One edge of the map, heaviest first: kept unless hidden or over max. */
static int graph_edge(void *ctx, const struct cot_recq_mapedge *me)
{
	struct graph_ctx *gc = ctx;
	struct cot_recq_graph *out = gc->out;
	struct cot_recq_edge *e = &out->edges[out->nedges];
	uint64_t c = me->conns;

	out->total += c;
	if (!me->src || !me->dst)
		return 0;
	if (hidden(me->sk, gc->hide, gc->nhide) ||
	    hidden(me->dk, gc->hide, gc->nhide)) {
		out->hidden += c;
		return 0;
	}
	if (out->nedges == gc->max_edges)
		return 0;
	e->src = node_get(out, &gc->ncap, me->sk, me->scomms, me->src);
	e->dst = node_get(out, &gc->ncap, me->dk, me->dcomms, me->dst);
	if (e->src == (size_t)-1 || e->dst == (size_t)-1)
		return -COT_ENOMEM;
	e->port = me->dp;
	e->proto = me->proto;
	e->conns = c;
	e->bytes_fwd = me->bytes_fwd;
	e->bytes_rev = me->bytes_rev;
	memcpy(e->seen, me->seen, sizeof(e->seen));
	snprintf(e->name, sizeof(e->name), "%s", me->dname);
	out->nodes[e->src].conns += c;
	out->nodes[e->src].bytes_out += e->bytes_fwd;
	out->nodes[e->src].bytes_in += e->bytes_rev;
	if (e->dst != e->src) {
		out->nodes[e->dst].conns += c;
		out->nodes[e->dst].bytes_in += e->bytes_fwd;
		out->nodes[e->dst].bytes_out += e->bytes_rev;
	}
	out->shown += c;
	out->nedges++;
	return 0;
}

int cot_recq_map_sql_row(sqlite3_stmt *s, struct cot_recq_mapedge *e)
{
	int i;

	memset(e, 0, sizeof(*e));
	e->sk = col_text(s, 0);
	e->dk = col_text(s, 1);
	e->dp = sqlite3_column_int(s, 2);
	e->proto = sqlite3_column_int(s, 3);
	e->conns = (uint64_t)sqlite3_column_int64(s, 4);
	e->bytes_fwd = (uint64_t)sqlite3_column_int64(s, 5);
	e->bytes_rev = (uint64_t)sqlite3_column_int64(s, 6);
	for (i = 0; i < 3; i++)
		e->seen[i] = (uint64_t)sqlite3_column_int64(s, 7 + i);
	e->src = sqlite3_column_bytes(s, 10) == 16 ? sqlite3_column_blob(s, 10)
						   : NULL;
	e->dst = sqlite3_column_bytes(s, 11) == 16 ? sqlite3_column_blob(s, 11)
						   : NULL;
	e->scomms = col_text(s, 12);
	e->dcomms = col_text(s, 13);
	e->dname = col_text(s, 14);
	return 0;
}

/* The map by SQLite's GROUP BYs: a window of more connections than fit. */
static int graph_sql(struct cot_db *db, const struct cot_recq_filter *f,
		     const char *where, struct graph_ctx *gc)
{
	struct cot_recq_mapedge me;
	char sql[16384];
	struct cot_dbq *q = NULL;
	int rc = -COT_EIO, step;

	snprintf(sql, sizeof(sql), "%s%s%s", graph_head, where, graph_tail);
	if (cot_dbq_prepare(db, sql, &q) < 0)
		return -COT_EIO;
	if (cot_recq_bind(q, f) < 0)
		goto out;
	/* bounded by the aggregated rows */
	while ((step = cot_dbq_step(q)) == 1) {
		cot_recq_map_sql_row(q->s, &me);
		rc = graph_edge(gc, &me);
		if (rc < 0)
			goto out;
	}
	rc = step == 0 ? 0 : -COT_EIO;
out:
	cot_dbq_free(q);
	return rc;
}

int cot_recq_graph(struct cot_db *db, int indexed,
		   const struct cot_recq_filter *f, uint32_t max_edges,
		   const char *const *hide, size_t nhide,
		   struct cot_recq_graph *out)
{
	struct graph_ctx gc = { out, 0, max_edges, hide, nhide };
	char where[8192], from[12288], sql[12288 + sizeof(COT_RECQ_MAP_ROWS)];
	struct cot_dbq *q = NULL;
	uint64_t skipped = 0;
	int rc = -COT_EIO, pg = cot_db_kind(db) == COT_DB_PG;
	int seek = window_seek(db, indexed, f);

	memset(out, 0, sizeof(*out));
	if (!max_edges || max_edges > 100000 ||
	    where_of(f, pg, seek, where, sizeof(where)) < 0 ||
	    from_where(f, pg, seek, "JOIN", from, sizeof(from)) < 0)
		return -COT_EINVAL;
	out->edges = calloc(max_edges, sizeof(*out->edges));
	if (!out->edges)
		return -COT_ENOMEM;
	snprintf(sql, sizeof(sql), COT_RECQ_MAP_ROWS "%s", from);
	if (cot_dbq_prepare(db, sql, &q) < 0)
		goto out;
	if (cot_recq_bind(q, f) < 0)
		goto out;
	rc = cot_recq_map_agg(q, COT_RECQ_MAP_MAX_CONNS, &skipped, graph_edge,
			      &gc);
	out->total += skipped;
	if (rc == -COT_E2BIG && !pg) {
		/* more connections than the table holds: SQLite sorts them
		 * (the SQL is SQLite's; PostgreSQL's answer is the error) */
		free(out->nodes);
		memset(out->edges, 0, max_edges * sizeof(*out->edges));
		out->nodes = NULL;
		out->nnodes = out->nedges = 0;
		out->total = out->shown = out->hidden = 0;
		gc.ncap = 0;
		rc = graph_sql(db, f, where, &gc);
	}
out:
	cot_dbq_free(q);
	if (rc < 0)
		cot_recq_graph_free(out);
	return rc;
}

void cot_recq_graph_free(struct cot_recq_graph *g)
{
	free(g->nodes);
	free(g->edges);
	memset(g, 0, sizeof(*g));
}
