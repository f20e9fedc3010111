// SPDX-License-Identifier: MIT
/* host/recquery: filters, flows and the service map (see recquery.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recquery.h"

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
 * connection): see WKEY below.
 */
#define LOOP_SCOPE                                                             \
	"CASE WHEN substr(r.src, 1, 13) = X'00000000000000000000FFFF7F' OR "   \
	"r.src = X'00000000000000000000000000000001' THEN ifnull(r.vm, '') "   \
	"ELSE '' END"
#define RKEY(e)                                                                \
	"(CASE WHEN r." e "_pid IS NOT NULL THEN 'w' || r.vm || char(1) || "   \
	"ifnull(r." e "_cgroup, '') || char(1) || CASE WHEN r." e "_cgroup "   \
	"IS NULL THEN ifnull(r." e "_comm, '') ELSE '' END WHEN r." e          \
	"_name IS NOT NULL THEN 'n' || r." e "_name ELSE 'a' || " LOOP_SCOPE   \
	" || char(1) || hex(r." e ") END)"

/*
 * With the schema-3 indexes, the time window is the records found by
 * one range seek per span level (store.h, COT_STORE_WINDOW_ON), joined
 * back by primary key; without them (an old database, read-only) the
 * plain overlap test, which scans.
 */
#define WINDOW_INDEXED                                                         \
	" AND (r.stream, r.seq) IN (SELECT w.stream, w.seq "                   \
	"FROM " COT_STORE_WINDOW_LEVELS                                        \
	" lv JOIN records w ON " COT_STORE_WINDOW_ON("w.") ")"

/* A time window other than all time is set. */
static int window_on(const struct cot_recq_filter *f)
{
	return f->from_ns > 0 || f->to_ns < (UINT64_MAX >> 1);
}

/*
 * The conditions of @f: the window's term when @win, a port that cannot
 * drive the search when @port_plus (see frag[]).
 */
static int where_build(const struct cot_recq_filter *f, int indexed, int win,
		       int port_plus, int addr_plus, char *buf, size_t len)
{
	static const char *const frag[] = {
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
		" AND (r.vm LIKE ?7 ESCAPE '\\' OR r.src_comm LIKE ?7 ESCAPE "
		"'\\' OR r.dst_comm LIKE ?7 ESCAPE '\\' OR r.src_cgroup LIKE "
		"?7 "
		"ESCAPE '\\' OR r.dst_cgroup LIKE ?7 ESCAPE '\\' OR r.src_name "
		"LIKE ?7 ESCAPE '\\' OR r.dst_name LIKE ?7 ESCAPE '\\')",
		" AND r.seen_by = ?8", " AND s.tracker = ?9",
		" AND (" RKEY("src") " = ?12 OR " RKEY("dst") " = ?12)",
		/* clang-format off */
		" AND ((" RKEY("src") " = ?12 AND " RKEY("dst") " = ?13) OR ("
		RKEY("src") " = ?13 AND " RKEY("dst") " = ?12))",
		/* clang-format on */
	};
	int on[COT_ARRAY_SIZE(frag)] = {
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
	for (i = 0; i < COT_ARRAY_SIZE(frag); i++) {
		const char *x = i == 0 && indexed ? WINDOW_INDEXED : frag[i];

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

int cot_recq_where(const struct cot_recq_filter *f, int indexed, char *buf,
		   size_t len)
{
	return where_build(f, indexed, window_on(f), window_on(f),
			   indexed && window_on(f), buf, len);
}

int cot_recq_bind(sqlite3_stmt *s, const struct cot_recq_filter *f)
{
	char like[2 * COT_RECQ_QLEN + 3];
	int rc = SQLITE_OK;
	size_t i, o = 0;

	if (window_on(f)) {
		rc |= sqlite3_bind_int64(s, 1, (int64_t)f->from_ns);
		rc |= sqlite3_bind_int64(s, 2, (int64_t)f->to_ns);
	}
	if (f->vm[0])
		rc |= sqlite3_bind_text(s, 3, f->vm, -1, SQLITE_TRANSIENT);
	if (f->proto >= 0)
		rc |= sqlite3_bind_int(s, 4, f->proto);
	if (f->port >= 0)
		rc |= sqlite3_bind_int(s, 5, f->port);
	if (f->has_addr)
		rc |= sqlite3_bind_blob(s, 6, f->addr, 16, SQLITE_TRANSIENT);
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
		rc |= sqlite3_bind_text(s, 7, like, -1, SQLITE_TRANSIENT);
	}
	if (f->seen_by >= 0)
		rc |= sqlite3_bind_int(s, 8, f->seen_by);
	if (f->tracker[0])
		rc |= sqlite3_bind_text(s, 9, f->tracker, -1, SQLITE_TRANSIENT);
	if (f->node[0])
		rc |= sqlite3_bind_text(s, 12, f->node, -1, SQLITE_TRANSIENT);
	if (f->node[0] && f->peer[0])
		rc |= sqlite3_bind_text(s, 13, f->peer, -1, SQLITE_TRANSIENT);
	return rc == SQLITE_OK ? 0 : -COT_EIO;
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

static int window_seek(struct cot_store *st, const struct cot_recq_filter *f)
{
	sqlite3_stmt *s = NULL;
	int64_t n = ADDR_FEW + 1;

	if (!st->indexed)
		return 0;
	if (!f->has_addr || !window_on(f))
		return 1;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT (SELECT count(*) FROM (SELECT 1 FROM "
			       "records WHERE src = ?1 LIMIT ?2)) + (SELECT "
			       "count(*) FROM (SELECT 1 FROM records WHERE dst "
			       "= ?1 LIMIT ?2))",
			       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_bind_blob(s, 1, f->addr, 16, SQLITE_TRANSIENT) ==
		    SQLITE_OK &&
	    sqlite3_bind_int(s, 2, ADDR_FEW + 1) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n > ADDR_FEW;
}

/* The page's columns over x (a page of records with their tracker). */
static const char page_head[] =
	"SELECT x.stream, ifnull(x.tracker, ''), x.stored_ns, "
	"CASE WHEN x.tracker IS NULL THEN 2 WHEN EXISTS (SELECT 1 FROM "
	"events e WHERE e.stream = x.stream AND ((e.kind = 'gap' AND "
	"e.seq_last + 1 = x.seq) OR (e.kind IN ('chain', 'conflict') "
	"AND x.seq BETWEEN e.seq_first AND e.seq_last))) THEN 1 ELSE 0 "
	"END, " COT_STORE_REC_COLS;

/*
 * A page by time in a window (all time: ?1 = 0, ?2 = INT64_MAX), with
 * the indexes: per span level, the level's records of the window in
 * first_ns order from the index (rec_span, or rec_vm_span), at most
 * offset + limit of them; the page is cut from their union.  Each
 * level's walk stops at its LIMIT: a page of a large window reads about
 * offset + limit rows a level, not the whole window, when the other
 * filters select a good share of what it walks (the caller's choice:
 * cot_recq_flows).  The lower bounds are COT_STORE_WINDOW_LEVELS'.
 */
static int page_by_time(const struct cot_recq_filter *f, const char *dir,
			char *sql, size_t len)
{
	static const char *const lo[] = {
		"?1 - 1000000000",	 "?1 - 10000000000",
		"?1 - 100000000000",	 "?1 - 1000000000000",
		"?1 - 10000000000000",	 "?1 - 100000000000000",
		"?1 - 1000000000000000", "-9223372036854775807 - 1",
	};
	char where[4096];
	size_t o;
	int rc, l;

	/* the other filters: the window is the levels' own, and they walk
	 * in time order whatever else is asked */
	if (where_build(f, 1, 0, 1, 1, where, sizeof(where)) < 0)
		return -1;
	rc = snprintf(sql, len, "%s FROM (", page_head);
	if (rc < 0 || (size_t)rc >= len)
		return -1;
	o = (size_t)rc;
	/* bounded: the 8 levels */
	for (l = 0; l < (int)COT_ARRAY_SIZE(lo); l++) {
		rc = snprintf(
			sql + o, len - o,
			"%sSELECT * FROM (SELECT s.tracker AS tracker, "
			"r.* FROM records r LEFT JOIN streams s ON s.id = "
			"r.stream WHERE " COT_STORE_SPAN(
				"r.") " = %d AND "
				      "r.first_ns BETWEEN %s AND ?2 AND "
				      "r.last_ns >= ?1"
				      "%s ORDER BY r.first_ns %s, r.stream %s, "
				      "r.seq %s "
				      "LIMIT ?10 + ?11)",
			l ? " UNION ALL " : "", l, lo[l], where, dir, dir, dir);
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

int cot_recq_flows(struct cot_store *st, const struct cot_recq_filter *f,
		   const char *sort, int desc, uint64_t offset, uint32_t limit,
		   uint64_t *total,
		   int (*cb)(void *ctx, const struct cot_recq_row *row),
		   void *ctx)
{
	char where[4096], sql[32768];
	const char *dir = desc ? "DESC" : "ASC";
	struct cot_recq_row row;
	sqlite3_stmt *s = NULL;
	int si = sort ? sort_index(sort) : 0, rc, step, by_time, seek;

	if (si < 0 || limit > COT_RECQ_MAX_LIMIT || offset > (UINT64_MAX >> 1))
		return -COT_EINVAL;
	seek = window_seek(st, f);
	if (cot_recq_where(f, seek, where, sizeof(where)) < 0)
		return -COT_EINVAL;
	/* Counted up to COT_RECQ_MAX_TOTAL: a count is a walk over every
	 * selected record, the page is not. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT 1 FROM records r LEFT JOIN "
		 "streams s ON s.id = r.stream WHERE 1%s LIMIT %d)",
		 where, COT_RECQ_MAX_TOTAL + 1);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	if (cot_recq_bind(s, f) < 0 || sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return -COT_EIO;
	}
	*total = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
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
	by_time = si == 0 && st->indexed &&
		  ((window_on(f) && seek) || *total > COT_RECQ_MAX_TOTAL);
	if (by_time)
		rc = page_by_time(f, dir, sql, sizeof(sql));
	else
		rc = snprintf(
			sql, sizeof(sql),
			"%s FROM (SELECT s.tracker AS tracker, "
			"r.* FROM records r LEFT JOIN streams s ON s.id = "
			"r.stream WHERE 1%s ORDER BY %s %s, r.stream %s, "
			"r.seq %s LIMIT ?10 OFFSET ?11) x ORDER BY %s %s, "
			"x.stream %s, x.seq %s",
			page_head, where, sorts[si].inner, dir, dir, dir,
			sorts[si].outer, dir, dir, dir);
	if (rc < 0 || (size_t)rc >= sizeof(sql))
		return -COT_EINVAL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	if (cot_recq_bind(s, f) < 0 ||
	    (by_time && !window_on(f) &&
	     (sqlite3_bind_int64(s, 1, 0) != SQLITE_OK ||
	      sqlite3_bind_int64(s, 2, INT64_MAX) != SQLITE_OK)) ||
	    sqlite3_bind_int64(s, 10, (int64_t)limit) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 11, (int64_t)offset) != SQLITE_OK) {
		sqlite3_finalize(s);
		return -COT_EIO;
	}
	rc = 0;
	/* bounded by LIMIT */
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 1);

		memset(&row, 0, sizeof(row));
		row.stream = sqlite3_column_int64(s, 0);
		row.tracker = t ? (const char *)t : "";
		row.stored_ns = (uint64_t)sqlite3_column_int64(s, 2);
		row.chain = sqlite3_column_int(s, 3);
		if (cot_store_row_rec(s, 4, &row.rec) < 0)
			continue; /* bad blob sizes: not a record we can show */
		rc = cb(ctx, &row);
		if (rc)
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = -COT_EIO;
	sqlite3_finalize(s);
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

int cot_recq_graph(struct cot_store *st, const struct cot_recq_filter *f,
		   uint32_t max_edges, const char *const *hide, size_t nhide,
		   struct cot_recq_graph *out)
{
	char where[4096], sql[12288];
	size_t ncap = 0;
	sqlite3_stmt *s = NULL;
	int rc = -COT_EIO, step;

	memset(out, 0, sizeof(*out));
	if (!max_edges || max_edges > 100000 ||
	    cot_recq_where(f, window_seek(st, f), where, sizeof(where)) < 0)
		return -COT_EINVAL;
	snprintf(sql, sizeof(sql), "%s%s%s", graph_head, where, graph_tail);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -COT_EIO;
	if (cot_recq_bind(s, f) < 0)
		goto out;
	out->edges = calloc(max_edges, sizeof(*out->edges));
	if (!out->edges) {
		rc = -COT_ENOMEM;
		goto out;
	}
	/* bounded by the aggregated rows; at most max_edges kept */
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t c = (uint64_t)sqlite3_column_int64(s, 4);
		struct cot_recq_edge *e = &out->edges[out->nedges];
		const char *sk = col_text(s, 0), *dk = col_text(s, 1);
		int i;

		out->total += c;
		if (sqlite3_column_bytes(s, 10) != 16 ||
		    sqlite3_column_bytes(s, 11) != 16)
			continue;
		if (hidden(sk, hide, nhide) || hidden(dk, hide, nhide)) {
			out->hidden += c;
			continue;
		}
		if (out->nedges == max_edges)
			continue;
		e->src = node_get(out, &ncap, sk, col_text(s, 12),
				  sqlite3_column_blob(s, 10));
		e->dst = node_get(out, &ncap, dk, col_text(s, 13),
				  sqlite3_column_blob(s, 11));
		if (e->src == (size_t)-1 || e->dst == (size_t)-1) {
			rc = -COT_ENOMEM;
			goto out;
		}
		e->port = sqlite3_column_int(s, 2);
		e->proto = sqlite3_column_int(s, 3);
		e->conns = c;
		e->bytes_fwd = (uint64_t)sqlite3_column_int64(s, 5);
		e->bytes_rev = (uint64_t)sqlite3_column_int64(s, 6);
		for (i = 0; i < 3; i++)
			e->seen[i] = (uint64_t)sqlite3_column_int64(s, 7 + i);
		snprintf(e->name, sizeof(e->name), "%s", col_text(s, 14));
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
	}
	rc = step == SQLITE_DONE ? 0 : -COT_EIO;
out:
	sqlite3_finalize(s);
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
