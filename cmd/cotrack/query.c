// SPDX-License-Identifier: MIT
/*
 * cotrack query: filter the records cotrack-logd stored.
 *
 *   cotrack query --db FILE [--vm NAME] [--tracker NAME] [--from T]
 *                 [--to T] [--addr A] [--port P] [--proto NAME]
 *                 [--seen-by nic|vmi|both] [--comm C] [--cgroup G]
 *                 [--name N] [--by vm|container|process|name]
 *                 [--limit N] [--format table|json|csv] [--explain]
 *
 * T: nanoseconds or seconds since the epoch (by magnitude), an RFC 3339
 * time "YYYY-MM-DD[THH:MM[:SS[.frac]]][Z|+HH:MM|-HH:MM]" (UTC without an
 * offset), "now", or an age before now: a duration with its unit
 * (host/cli.h: "-30s", "-10m", "-1.5h"; the "-" may be left out) or days
 * ("-7d").  --since and --until are other names of --from and --to.  A
 * record matches the window when its lifetime [first_ns, last_ns]
 * overlaps it.  --explain prints the SQL (values in place) and SQLite's
 * query plan for it instead of the records.  --addr and --port
 * match either end, and so do --comm, --cgroup (exact cgroup path) and
 * --name (the DNS name the VM looked up): records without names (version
 * 1, or no owner known) never match these.  Output is in (stream, seq)
 * order.
 *
 * --by groups the matching records by workload and prints, per group,
 * the connections, the bytes each way (initiator to responder, back)
 * and how many each view saw.  A record counts for the workload of its
 * initiator when the initiator's end is in the VM (an owner is known),
 * else for its responder's: a connection the frontend opens counts for
 * the frontend, one it accepts for its server.  Groups: vm (the record's
 * VM), container ("VM:cgroup-path"), process ("VM/comm"), name (the
 * remote's DNS name: dst_name, else src_name).  "-" stands for none
 * known: all records of version 1 fall there, except under vm.  Groups
 * are ordered by connections, then name.  --limit bounds the groups.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/cli.h"
#include "host/clock.h"
#include "host/ipfix.h"
#include "host/log.h"
#include "host/recfmt.h"
#include "host/db.h"
#include "host/recrow.h"
#include "host/store.h"
#include "cmds.h"
#include "query_util.h"

int cot_parse_time_arg(const char *what, const char *s, uint64_t now_ns,
		       uint64_t *out)
{
	if (cot_parse_time(s, now_ns, out) == 0)
		return 0;
	log_warnx("%s: bad time '%s' (want ns or seconds since the epoch, "
		  "an RFC 3339 time like 2026-12-02T06:00:00Z (UTC unless "
		  "it has an offset), 'now', or an age before now: -30s, "
		  "-10m, -2h, -7d)",
		  what, s);
	return -1;
}

/* ".123" after the seconds: up to 9 digits count, more are dropped. */
static const char *parse_frac(const char *p, uint64_t *ns)
{
	uint64_t scale = 100000000;
	int i;

	*ns = 0;
	if (*p != '.')
		return p;
	p++;
	if (*p < '0' || *p > '9')
		return NULL;
	/* bounded: at most 64 digits */
	for (i = 0; i < 64 && *p >= '0' && *p <= '9'; i++, p++) {
		*ns += (uint64_t)(*p - '0') * scale;
		scale /= 10;
	}
	return *p >= '0' && *p <= '9' ? NULL : p;
}

/* "Z", "" (UTC) or "+HH:MM" / "-HH:MM": seconds east of UTC. */
static int parse_zone(const char *p, int64_t *east)
{
	int sign;

	*east = 0;
	if (!*p || ((p[0] == 'Z' || p[0] == 'z') && !p[1]))
		return 0;
	if (p[0] != '+' && p[0] != '-')
		return -1;
	sign = p[0] == '-' ? -1 : 1;
	if (strlen(p) != 6 || p[3] != ':' || p[1] < '0' || p[1] > '2' ||
	    p[2] < '0' || p[2] > '9' || p[4] < '0' || p[4] > '5' ||
	    p[5] < '0' || p[5] > '9')
		return -1;
	*east = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
			((p[4] - '0') * 10 + (p[5] - '0')) * 60);
	return *east > 24 * 3600 || *east < -24 * 3600 ? -1 : 0;
}

int cot_parse_time(const char *s, uint64_t now_ns, uint64_t *out)
{
	size_t len;
	uint64_t v, age, frac = 0;
	int64_t east = 0, secs;
	struct tm tm;
	const char *rest;
	char num[24];
	bool neg = s[0] == '-';

	if (!strcmp(s, "now")) {
		*out = now_ns;
		return 0;
	}
	/* An age, "-10m" or "10m": before now. */
	if (neg)
		s++;
	len = strlen(s);
	/* "7d" (days), or any duration (host/cli.h): "90s", "1.5h". */
	if (len > 1 && s[len - 1] == 'd' && len < sizeof(num)) {
		memcpy(num, s, len - 1);
		num[len - 1] = '\0';
		if (cot_cli_parse_u64(num, 0, now_ns / 86400000000000ull, &v) <
		    0)
			return -1;
		*out = now_ns - v * 86400000000000ull;
		return 0;
	}
	if (len > 1 && s[len - 1] >= 'a' && s[len - 1] <= 'z') {
		if (cot_cli_parse_duration(s, 0, now_ns, &age) < 0)
			return -1;
		*out = now_ns - age;
		return 0;
	}
	if (neg) /* "-" goes with an age only */
		return -1;
	if (cot_cli_parse_u64(s, 0, UINT64_MAX, &v) == 0) {
		/* Seconds below 10^11 (year 5138), nanoseconds above. */
		if (v < 100000000000ull) {
			*out = v * 1000000000u;
			return 0;
		}
		if (v > INT64_MAX)
			return -1;
		*out = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%d", &tm);
	if (!rest)
		return -1;
	if (*rest == 'T' || *rest == 't' || *rest == ' ') {
		const char *r2 = strptime(rest + 1, "%H:%M:%S", &tm);

		if (r2)
			r2 = parse_frac(r2, &frac);
		else
			r2 = strptime(rest + 1, "%H:%M", &tm);
		rest = r2;
	}
	if (!rest || parse_zone(rest, &east) < 0)
		return -1;
	secs = (int64_t)timegm(&tm) - east;
	if (secs < 0 || (uint64_t)secs > INT64_MAX / 1000000000u - 1)
		return -1;
	*out = (uint64_t)secs * 1000000000u + frac;
	return 0;
}

int cot_parse_addr(const char *s, uint8_t out[16])
{
	uint8_t v4[4];
	struct cot_addr a;

	if (inet_pton(AF_INET, s, v4) == 1) {
		cot_addr_from_v4(&a, v4);
		memcpy(out, a.b, 16);
		return 0;
	}
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

int cot_parse_proto(const char *s)
{
	unsigned int i;

	for (i = 0; i < COT_PROTO__COUNT; i++)
		if (!strcmp(s, cot_proto_name(i)))
			return (int)i;
	return -1;
}

static int seen_num(const char *s)
{
	if (!strcmp(s, "nic"))
		return COT_SEEN_NIC;
	if (!strcmp(s, "vmi"))
		return COT_SEEN_VMI;
	if (!strcmp(s, "both"))
		return COT_SEEN_BOTH;
	return -1;
}

/* How many records view @v saw, in SQL both stores take. */
#define SEEN_SUM(v) "sum(CASE WHEN r.seen_by = " v " THEN 1 ELSE 0 END)"

/* The grouping key of --by, as SQL over records r (fixed text). */
static const char *by_expr(const char *by)
{
	if (!strcmp(by, "vm"))
		return "coalesce(r.vm, '-')";
	if (!strcmp(by, "container"))
		return "coalesce(r.vm, '-') || ':' || CASE"
		       " WHEN r.src_pid IS NOT NULL THEN "
		       "coalesce(r.src_cgroup, "
		       "'-')"
		       " WHEN r.dst_pid IS NOT NULL THEN "
		       "coalesce(r.dst_cgroup, "
		       "'-')"
		       " ELSE '-' END";
	if (!strcmp(by, "process"))
		return "coalesce(r.vm, '-') || '/' || CASE"
		       " WHEN r.src_pid IS NOT NULL THEN coalesce(r.src_comm, "
		       "'-')"
		       " WHEN r.dst_pid IS NOT NULL THEN coalesce(r.dst_comm, "
		       "'-')"
		       " ELSE '-' END";
	if (!strcmp(by, "name"))
		return "coalesce(r.dst_name, r.src_name, '-')";
	return NULL;
}

static void put_group(enum cot_recfmt fmt, const char *by, struct cot_dbq *s)
{
	const char *key = cot_dbq_text(s, 0);
	long long c = cot_dbq_int64(s, 1), bf = cot_dbq_int64(s, 2),
		  br = cot_dbq_int64(s, 3), nic = cot_dbq_int64(s, 4),
		  vmi = cot_dbq_int64(s, 5), both = cot_dbq_int64(s, 6);

	if (!key)
		key = "-";
	switch (fmt) {
	case COT_RECFMT_JSON:
		printf("{\"by\":\"%s\",\"group\":", by);
		cot_recfmt_json_str(stdout, key);
		printf(",\"connections\":%lld,\"bytes_fwd\":%lld,"
		       "\"bytes_rev\":%lld,\"seen_by\":{\"nic\":%lld,"
		       "\"vmi\":%lld,\"both\":%lld}}\n",
		       c, bf, br, nic, vmi, both);
		break;
	case COT_RECFMT_CSV:
		cot_recfmt_csv_str(stdout, key);
		printf(",%lld,%lld,%lld,%lld,%lld,%lld\n", c, bf, br, nic, vmi,
		       both);
		break;
	case COT_RECFMT_TABLE:
		printf("%-40s %8lld %12lld %12lld %8lld %8lld %8lld\n", key, c,
		       bf, br, nic, vmi, both);
		break;
	}
}

/* The filters given, for the SQL text (values are bound, not here). */
struct filt {
	bool pg; /* PostgreSQL's schema */
	bool window, indexed, vm, tracker, addr, port, proto, seen, comm,
		cgroup, name;
};

enum split {
	SPLIT_NONE,
	SPLIT_ADDR_SRC,
	SPLIT_ADDR_DST,
	SPLIT_PORT_SRC,
	SPLIT_PORT_DST,
};

struct sqlbuf {
	char b[8192];
	size_t n;
	bool over;
};

static void sb_add(struct sqlbuf *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_add(struct sqlbuf *q, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (q->over)
		return;
	va_start(ap, fmt);
	w = vsnprintf(q->b + q->n, sizeof(q->b) - q->n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= sizeof(q->b) - q->n)
		q->over = true;
	else
		q->n += (size_t)w;
}

/*
 * FROM and WHERE over records r.  The time window ?1..?2 joins the span
 * levels (store.h) when the database has the indexes; @split replaces
 * one either-end test by one of its ends (the UNION arms).
 */
static void sb_from_where(struct sqlbuf *q, const struct filt *f,
			  enum split split)
{
	const char *w = " WHERE ";

	if (f->window && f->indexed)
		sb_add(q,
		       "FROM " COT_STORE_WINDOW_LEVELS
		       " lv JOIN records r ON %s",
		       f->pg ? COT_STORE_WINDOW_ON_PG("r.")
			     : COT_STORE_WINDOW_ON("r."));
	else
		sb_add(q, "FROM records r");
#define COND(c)                                                                \
	do {                                                                   \
		sb_add(q, "%s%s", w, c);                                       \
		w = " AND ";                                                   \
	} while (0)
	if (f->window && !f->indexed)
		COND("r.last_ns >= ?1 AND r.first_ns <= ?2");
	if (f->vm)
		COND("r.vm = ?3");
	if (f->tracker)
		COND("r.stream IN (SELECT id FROM streams WHERE tracker = ?4)");
	if (f->addr)
		COND(split == SPLIT_ADDR_SRC   ? "r.src = ?5"
		     : split == SPLIT_ADDR_DST ? "r.dst = ?5"
					       : "(r.src = ?5 OR r.dst = ?5)");
	if (f->port)
		COND(split == SPLIT_PORT_SRC ? "r.sport = ?6"
		     : split == SPLIT_PORT_DST
			     ? "r.dport = ?6"
			     : "(r.sport = ?6 OR r.dport = ?6)");
	if (f->proto)
		COND("r.proto = ?7");
	if (f->seen)
		COND("r.seen_by = ?8");
	if (f->comm)
		COND("(r.src_comm = ?11 OR r.dst_comm = ?11)");
	if (f->cgroup)
		COND("(r.src_cgroup = ?12 OR r.dst_cgroup = ?12)");
	if (f->name)
		COND("(r.src_name = ?13 OR r.dst_name = ?13)");
#undef COND
}

/*
 * --explain: "SQL " and @s's statement with its bound values in place,
 * then SQLite's plan for @sql, one "ID PARENT DETAIL" line per step.
 */
int cot_query_explain(sqlite3 *db, sqlite3_stmt *s, const char *sql)
{
	struct sqlbuf e = { .n = 0 };
	sqlite3_stmt *p;
	char *x = sqlite3_expanded_sql(s);
	int rc;

	printf("SQL %s\n", x ? x : sql);
	sqlite3_free(x);
	sb_add(&e, "EXPLAIN QUERY PLAN %s", sql);
	if (e.over || sqlite3_prepare_v2(db, e.b, -1, &p, NULL) != SQLITE_OK) {
		log_warnx("explain: %s", sqlite3_errmsg(db));
		return -1;
	}
	/* bounded: one row per step of the plan SQLite made */
	while ((rc = sqlite3_step(p)) == SQLITE_ROW)
		printf("%d %d %s\n", sqlite3_column_int(p, 0),
		       sqlite3_column_int(p, 1),
		       (const char *)sqlite3_column_text(p, 3));
	sqlite3_finalize(p);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cotrack query --db FILE|postgresql://... [--vm NAME] "
		"[--tracker NAME]\n"
		"         [--from T] [--to T] [--addr A] [--port P]\n"
		"         [--proto tcp|udp|icmp|icmp6|other] [--seen-by "
		"nic|vmi|both]\n"
		"         [--comm C] [--cgroup G] [--name N]\n"
		"         [--by vm|container|process|name]\n"
		"         [--limit N] [--format table|json|csv] [--explain]\n"
		"         [--format ipfix -o FILE]\n"
		"  ipfix: the records as IPFIX biflows into FILE (RFC 5655; "
		"the elements\n"
		"     of cotrack-logd --ipfix, docs/logd.md)\n"
		"  --from/--to T (also --since/--until): records whose "
		"lifetime overlaps\n"
		"     the window.  T: ns or seconds since the epoch, RFC 3339 "
		"like\n"
		"     2026-12-02T06:00:00Z or 2026-12-02T07:00:00.5+01:00 "
		"(UTC if no\n"
		"     offset), 'now', or an age: -30s, -10m, -1.5h, -7d.\n"
		"  --explain: print SQLite's query plan instead of records.\n"
		"  --db: logd's SQLite file, or a libpq connection URL "
		"(cotrack-logd\n"
		"     --db postgresql://...).\n");
}

int cmd_query(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "vm", required_argument, NULL, 'v' },
		{ "tracker", required_argument, NULL, 'T' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "from", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 'u' },
		{ "explain", no_argument, NULL, 'E' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "proto", required_argument, NULL, 'P' },
		{ "seen-by", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'l' },
		{ "comm", required_argument, NULL, 'c' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "name", required_argument, NULL, 'n' },
		{ "by", required_argument, NULL, 'b' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *db = NULL, *vm = NULL, *tracker = NULL, *comm = NULL,
		   *cgroup = NULL, *name = NULL, *by = NULL, *group = NULL;
	uint64_t since = 0, until = UINT64_MAX >> 1, now = cot_clock_real_ns();
	int has_addr = 0, port = -1, proto = -1, seen = -1, o, i, rc = 1;
	uint64_t limit = UINT64_MAX; /* none */
	enum cot_recfmt fmt = COT_RECFMT_TABLE;
	const char *outfile = NULL;
	struct cot_ipfix *ix = NULL;
	bool ipfix = false;
	uint8_t addr[16];
	static struct sqlbuf q;
	struct filt f = { .window = false };
	bool window = false, explain = false;
	const char *sql;
	char err[512];
	struct cot_store st;
	struct cot_db dbc;
	struct cot_dbq *s = NULL;
	struct cot_rec r;
	uint64_t n = 0;
	int bad = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			db = optarg;
			break;
		case 'v':
			vm = optarg;
			break;
		case 'T':
			tracker = optarg;
			break;
		case 's':
		case 'u':
			if (cot_parse_time_arg(o == 's' ? "--from" : "--to",
					       optarg, now,
					       o == 's' ? &since : &until) < 0)
				return COT_EXIT_USAGE;
			window = true;
			break;
		case 'E':
			explain = true;
			break;
		case 'a':
			if (cot_parse_addr(optarg, addr) < 0) {
				log_warnx("bad address '%s'", optarg);
				return COT_EXIT_USAGE;
			}
			has_addr = 1;
			break;
		case 'p':
			if (cot_cli_int("--port", optarg, 0, 65535, &port) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'P':
			proto = cot_parse_proto(optarg);
			if (proto < 0) {
				log_warnx("bad protocol '%s'", optarg);
				return COT_EXIT_USAGE;
			}
			break;
		case 'S':
			seen = seen_num(optarg);
			if (seen < 0) {
				log_warnx("--seen-by nic|vmi|both");
				return COT_EXIT_USAGE;
			}
			break;
		case 'l':
			if (cot_cli_u64("--limit", optarg, 0, INT64_MAX,
					&limit) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'c':
			comm = optarg;
			break;
		case 'g':
			cgroup = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'b':
			by = optarg;
			group = by_expr(by);
			if (!group) {
				log_warnx("--by vm|container|process|name");
				return COT_EXIT_USAGE;
			}
			break;
		case 'f':
			ipfix = !strcmp(optarg, "ipfix");
			if (!ipfix && cot_recfmt_parse(optarg, &fmt) < 0) {
				log_warnx("--format table|json|csv|ipfix");
				return COT_EXIT_USAGE;
			}
			break;
		case 'o':
			outfile = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	if (!db || optind != argc) {
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	if (ipfix != (outfile != NULL)) {
		log_warnx(ipfix ? "--format ipfix needs -o FILE"
				: "-o FILE is for --format ipfix only");
		return COT_EXIT_USAGE;
	}
	if (ipfix && group) {
		log_warnx("--format ipfix writes records: not with --by");
		return COT_EXIT_USAGE;
	}
	if (cot_store_open_reader(&st, &dbc, db, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return 1;
	}
	if (cot_db_read_begin(&dbc) < 0) {
		log_warnx("%s", cot_db_errmsg(&dbc));
		goto out;
	}
	/*
	 * Every value is bound; the SQL text is fixed pieces only, and no
	 * indexed column is wrapped in a function (store.h: the indexes).
	 */
	f.pg = cot_db_kind(&dbc) == COT_DB_PG;
	f.window = window;
	f.indexed = st.indexed;
	f.vm = vm != NULL;
	f.tracker = tracker != NULL;
	f.addr = has_addr;
	f.port = port >= 0;
	f.proto = proto >= 0;
	f.seen = seen >= 0;
	f.comm = comm != NULL;
	f.cgroup = cgroup != NULL;
	f.name = name != NULL;
	if (group) {
		sb_add(&q,
		       "SELECT %s AS g, count(*), sum(r.bytes_fwd), "
		       "sum(r.bytes_rev), " SEEN_SUM("1") ", " SEEN_SUM(
			       "2") ", " SEEN_SUM("3") " ",
		       group);
		sb_from_where(&q, &f, SPLIT_NONE);
		sb_add(&q, " GROUP BY g ORDER BY 2 DESC, g LIMIT ?10");
	} else if (st.indexed && (has_addr || port >= 0)) {
		/*
		 * Either end: each arm searches one index in (stream, seq)
		 * order and SQLite merges them (MERGE (UNION)), so a LIMIT
		 * reads only the first rows of each; an OR would collect and
		 * sort every match first.  The arms' rows are whole records
		 * with their stream: UNION drops only a record both found.
		 */
		int side = has_addr ? SPLIT_ADDR_SRC : SPLIT_PORT_SRC;

		sb_add(&q, "SELECT r.stream, " COT_STORE_REC_COLS " ");
		sb_from_where(&q, &f, side);
		sb_add(&q, " UNION SELECT r.stream, " COT_STORE_REC_COLS " ");
		sb_from_where(&q, &f, side + 1);
		sb_add(&q, " ORDER BY 1, 2 LIMIT ?10");
	} else {
		sb_add(&q, "SELECT r.stream, " COT_STORE_REC_COLS " ");
		sb_from_where(&q, &f, SPLIT_NONE);
		sb_add(&q, " ORDER BY r.stream, r.seq LIMIT ?10");
	}
	if (q.over) {
		log_warnx("query too long");
		goto out;
	}
	sql = q.b;
	if (cot_dbq_prepare(&dbc, sql, &s) < 0) {
		log_warnx("%s", cot_db_errmsg(&dbc));
		goto out;
	}
	/* Clamped: first_ns/last_ns are int64 in the database. */
	bad |= cot_dbq_bind_int64(s, 1,
				  (int64_t)COT_MIN(since, (uint64_t)INT64_MAX));
	bad |= cot_dbq_bind_int64(s, 2,
				  (int64_t)COT_MIN(until, (uint64_t)INT64_MAX));
	if (vm)
		bad |= cot_dbq_bind_text(s, 3, vm);
	if (tracker)
		bad |= cot_dbq_bind_text(s, 4, tracker);
	if (has_addr)
		bad |= cot_dbq_bind_blob(s, 5, addr, 16);
	if (port >= 0)
		bad |= cot_dbq_bind_int64(s, 6, port);
	if (proto >= 0)
		bad |= cot_dbq_bind_int64(s, 7, proto);
	if (seen >= 0)
		bad |= cot_dbq_bind_int64(s, 8, seen);
	if (comm)
		bad |= cot_dbq_bind_text(s, 11, comm);
	if (cgroup)
		bad |= cot_dbq_bind_text(s, 12, cgroup);
	if (name)
		bad |= cot_dbq_bind_text(s, 13, name);
	/* no limit: the largest (a negative one is SQLite's only) */
	bad |= cot_dbq_bind_int64(
		s, 10, limit == UINT64_MAX ? INT64_MAX : (int64_t)limit);
	if (bad) {
		log_warnx("binding the query: %s", cot_db_errmsg(&dbc));
		goto out;
	}
	if (explain) {
		if (!s->s) {
			log_warnx("--explain: SQLite databases only");
			goto out;
		}
		if (cot_query_explain(st.db, s->s, sql) < 0)
			goto out;
		rc = 0;
		goto out;
	}
	if (group) {
		if (fmt == COT_RECFMT_TABLE)
			printf("%-40s %8s %12s %12s %8s %8s %8s\n",
			       by[0] == 'v'   ? "VM"
			       : by[0] == 'c' ? "VM/CONTAINER"
			       : by[0] == 'p' ? "VM/PROCESS"
					      : "NAME",
			       "CONNS", "BYTES>", "BYTES<", "NIC", "VMI",
			       "BOTH");
		else if (fmt == COT_RECFMT_CSV)
			printf("group,connections,bytes_fwd,bytes_rev,nic,vmi,"
			       "both\n");
		while ((i = cot_dbq_step(s)) == 1) {
			put_group(fmt, by, s);
			n++;
		}
		if (i != 0) {
			log_warnx("%s", cot_db_errmsg(&dbc));
			goto out;
		}
		if (fmt == COT_RECFMT_TABLE)
			fprintf(stderr, "%llu groups\n", (unsigned long long)n);
		rc = 0;
		goto out;
	}
	if (ipfix) {
		ix = cot_ipfix_open(outfile, true, 0, err, sizeof(err));
		if (!ix) {
			log_warnx("%s", err);
			goto out;
		}
	} else {
		cot_recfmt_header(stdout, fmt);
	}
	while ((i = cot_dbq_step(s)) == 1) {
		if (cot_rec_from_row(s, 1, &r) < 0) {
			log_warnx("malformed row skipped");
			continue;
		}
		if (!ix) {
			cot_recfmt_write(stdout, fmt, &r);
		} else if (cot_ipfix_add(ix, &r, err, sizeof(err)) < 0) {
			log_warnx("%s: %s", outfile, err);
			goto out;
		}
		n++;
	}
	if (ix && cot_ipfix_flush(ix, err, sizeof(err)) < 0) {
		log_warnx("%s: %s", outfile, err);
		goto out;
	}
	if (i != 0) {
		log_warnx("%s", cot_db_errmsg(&dbc));
		goto out;
	}
	if (fmt == COT_RECFMT_TABLE || ix)
		fprintf(stderr, "%llu records\n", (unsigned long long)n);
	rc = 0;
out:
	cot_ipfix_close(ix);
	cot_dbq_free(s);
	cot_store_close_reader(&st, &dbc);
	return rc;
}
