/* SPDX-License-Identifier: MIT */
/*
 * host/recquery: the record queries shared by the log server's web API
 * (cotrack-logd --web) and, in time, the CLI: a filter, the WHERE clause
 * it makes, the flows list and the service map.
 *
 * cmd/cotrack/query.c and graph.c still build their own SQL; they
 * should move onto this layer (filters, sort whitelist, the workload
 * map's keys), so that the console and the CLI cannot disagree.
 *
 * Both stores are read (host/db.h): a SQLite file or a PostgreSQL
 * database, through a struct cot_db and @indexed (the store's query
 * indexes exist: cot_store.indexed; always so on PostgreSQL).  The SQL
 * is written once where both engines take it, and per engine where they
 * differ (the node keys' functions, the window's level expression).
 * The caller brackets each call in cot_db_read_begin/end (one
 * snapshot; PostgreSQL's cursors need it).
 *
 * Every value of a filter reaches the database as a bound parameter;
 * the SQL text holds only fixed fragments chosen by which filters are
 * set (so the planner sees the terms it can use an index for).  The map
 * is aggregated in C from a stream of rows (cot_recq_map_agg), in memory
 * bounded by its connections, or by SQLite's GROUP BYs beyond that: no
 * call loads every row into memory.
 *
 * Thread-safety: the functions are reentrant; a cot_db is used by one
 * thread at a time (db.h).
 */
#ifndef COTRACK_HOST_RECQUERY_H
#define COTRACK_HOST_RECQUERY_H

#include <stddef.h>
#include <stdint.h>

#include "cotrack/rec.h"
#include "host/db.h"
#include "host/store.h"

#define COT_RECQ_QLEN	   128 /* text search, NUL included */
#define COT_RECQ_TRACKLEN  128
#define COT_RECQ_MAX_LIMIT 1000 /* rows per flows page at most */
/* A flows total above this is given as this + 1 ("more than"). */
#define COT_RECQ_MAX_TOTAL 100000
/* A map node's id: kind, VM, cgroup or name, separators */
#define COT_RECQ_KEYLEN (COT_VM_NAMELEN + COT_CGROUP_LEN + COT_DNSNAME_LEN + 40)

struct cot_recq_filter {
	uint64_t from_ns, to_ns; /* records overlapping [from_ns, to_ns] */
	char vm[COT_VM_NAMELEN]; /* "" any */
	int proto;		 /* enum cot_proto; -1 any */
	int port;		 /* either end; -1 any */
	int has_addr;
	uint8_t addr[16];      /* either end (stored form) */
	char q[COT_RECQ_QLEN]; /* substring of vm, comm, cgroup, name */
	int seen_by;	       /* enum cot_seen exactly; -1 any */
	char tracker[COT_RECQ_TRACKLEN]; /* "" any */
	/*
	 * A map node (cot_recq_node.id): records with it at one end; with
	 * peer too, records between the two.  Keyed per record, so of a
	 * connection recorded at both VMs at least one record matches.
	 */
	char node[COT_RECQ_KEYLEN], peer[COT_RECQ_KEYLEN];
};

/* Everything: all time, no condition. */
void cot_recq_filter_init(struct cot_recq_filter *f);

/*
 * Set the filter named @key from the text @val (a query parameter):
 *   from, to   decimal nanoseconds since the epoch
 *   last       decimal seconds: from = @now_ns - last, to = @now_ns
 *   vm         a VM name (< COT_VM_NAMELEN bytes)
 *   proto      tcp, udp, icmp, icmp6, other
 *   port       0..65535
 *   addr       an IPv4 or IPv6 address
 *   q          text (< COT_RECQ_QLEN bytes)
 *   seen       nic, vmi, both
 *   tracker    a tracker name
 *   node, peer a map node's id (printable or \1, < COT_RECQ_KEYLEN)
 * An empty @val clears the filter.  Returns 0, -COT_EINVAL (bad value:
 * the filter is unchanged) or -COT_ENOENT (@key is no filter's name).
 */
int cot_recq_param(struct cot_recq_filter *f, const char *key, const char *val,
		   uint64_t now_ns);

/* Strict decimal: digits only, no sign, no space, <= @max.  0 or -1. */
int cot_recq_parse_u64(const char *s, uint64_t max, uint64_t *out);

/*
 * The conditions of @f over records r joined with streams s, as
 * " AND ..." fragments with the parameters ?1 (from) ... ?9 (tracker), ?12
 * (node), ?13 (peer), into @buf, in SQLite's SQL.  Returns the length
 * or -COT_E2BIG.
 */
int cot_recq_where(const struct cot_recq_filter *f, int indexed, char *buf,
		   size_t len);

/* Bind what cot_recq_where() refers to.  0 or -COT_EIO. */
int cot_recq_bind(struct cot_dbq *q, const struct cot_recq_filter *f);

/*
 * The service map's SQL, shared by cotrack graph (cmd/cotrack/graph.c)
 * and cot_recq_graph(): COT_RECQ_MAP_SELECT, then the selected records r
 * with their stream s ("FROM records r JOIN streams s ON ... WHERE ..."),
 * then COT_RECQ_MAP_GROUP.  The inner query makes one row per
 * connection (a connection recorded at two VMs of one tracker counts
 * once); the outer one an edge per (source key, destination key, port,
 * protocol), heaviest first.  Columns: sk, dk, dp, proto, conns, bytes
 * fwd, bytes rev, conns seen by nic, vmi, both, an example source and
 * destination address, the source and destination comms, the name the
 * initiator looked the destination up by ("" none).
 *
 * Node keys (COT_RECQ_WKEY): 'w' VM \1 cgroup \1 comm (a workload; comm
 * only when the cgroup is unknown), 'n' name (an end outside the VMs,
 * by the name its VM looked up), 'a' VM-or-"" \1 hex address.  char(1)
 * separates the parts: no record string holds it (rec.h: printable
 * only).  An end without an owner of a connection recorded at two VMs
 * whose other end is owned in one of them is the other VM's
 * (COT_RECQ_LOCALVM): an address node in its box, not the initiator's
 * name for it outside every box.
 */
/* The SQL text, one clause a line: */
/* clang-format off */
#define COT_RECQ_WKEY(v, c, g, n, a, l)                                        \
	"CASE WHEN " v " IS NOT NULL THEN 'w' || " v " || char(1) || "         \
	"ifnull(" g ", '') || char(1) || CASE WHEN " g " IS NULL THEN "        \
	"ifnull(" c ", '') ELSE '' END "                                       \
	"WHEN " l " IS NOT NULL THEN 'a' || " l " || char(1) || hex(" a ") "   \
	"WHEN " n " IS NOT NULL THEN 'n' || " n " "                            \
	"ELSE 'a' || scope || char(1) || hex(" a ") END"
#define COT_RECQ_LOCALVM(mine, other)                                          \
	"(CASE WHEN " mine " IS NULL AND " other " IS NOT NULL AND nvm = 2 "   \
	"THEN CASE WHEN vmin = " other " THEN vmax ELSE vmin END END)"
#define COT_RECQ_MAP_SELECT                                                    \
	"SELECT "                                                              \
	COT_RECQ_WKEY("sv", "sc", "sg", "sn", "src",                           \
		      COT_RECQ_LOCALVM("sv", "dv")) " AS sk, "                 \
	COT_RECQ_WKEY("dv", "dc", "dg", "dn", "dst",                           \
		      COT_RECQ_LOCALVM("dv", "sv")) " AS dk, "                 \
	"dp, proto, count(*), sum(bf), sum(br), sum(seen = 1), "               \
	"sum(seen = 2), sum(seen = 3), max(src), max(dst), "                   \
	"ifnull(group_concat(DISTINCT sc), ''), "                              \
	"ifnull(group_concat(DISTINCT dc), ''), ifnull(max(dn), '') FROM ("    \
	"SELECT max(CASE WHEN r.src_pid IS NOT NULL THEN r.vm END) AS sv, "    \
	"max(r.src_comm) AS sc, max(r.src_cgroup) AS sg, "                     \
	"max(r.src_name) AS sn, r.src AS src, "                                \
	"max(CASE WHEN r.dst_pid IS NOT NULL THEN r.vm END) AS dv, "           \
	"max(r.dst_comm) AS dc, max(r.dst_cgroup) AS dg, "                     \
	"max(r.dst_name) AS dn, r.dst AS dst, "                                \
	"CASE WHEN r.proto IN (1, 2) THEN r.dport ELSE 0 END AS dp, "          \
	"r.proto AS proto, max(r.bytes_fwd) AS bf, max(r.bytes_rev) AS br, "   \
	"max(r.seen_by & 1) | max(r.seen_by & 2) AS seen, "                    \
	"count(DISTINCT r.vm) AS nvm, min(r.vm) AS vmin, max(r.vm) AS vmax, "  \
	"CASE WHEN substr(r.src, 1, 13) = X'00000000000000000000FFFF7F' OR "   \
	"r.src = X'00000000000000000000000000000001' THEN ifnull(r.vm, '') "   \
	"ELSE '' END AS scope "
#define COT_RECQ_MAP_GROUP                                                     \
	" GROUP BY s.tracker, r.src, r.sport, r.dst, r.dport, r.proto, "       \
	"r.first_ns, scope) GROUP BY sk, dk, dp, proto ORDER BY sum(bf) + "    \
	"sum(br) DESC, sk, dk"
/* clang-format on */

/*
 * The map aggregated in C (cot_recq_map_agg): COT_RECQ_MAP_ROWS, then
 * the selected records r with their stream s as for COT_RECQ_MAP_SELECT,
 * no GROUP BY.  One row per record: tracker, src, sport, dst, dport,
 * proto, first_ns, vm, src owned (0/1), src comm, cgroup, name, dst
 * owned, dst comm, cgroup, name, bytes fwd, bytes rev, seen_by.
 */
#define COT_RECQ_MAP_ROWS                                                      \
	"SELECT s.tracker, r.src, r.sport, r.dst, r.dport, r.proto, "          \
	"r.first_ns, r.vm, r.src_pid IS NOT NULL, r.src_comm, r.src_cgroup, "  \
	"r.src_name, r.dst_pid IS NOT NULL, r.dst_comm, r.dst_cgroup, "        \
	"r.dst_name, r.bytes_fwd, r.bytes_rev, r.seen_by "

/*
 * Connections the console's map aggregates in memory at most (about 200
 * bytes each with their slot: 200 MB at most; a 1 h window of the
 * 10-million-record benchmark holds 417,000).
 */
#define COT_RECQ_MAP_MAX_CONNS 1000000
#define COT_RECQ_COMMSLEN      128

/*
 * One edge of the map: the columns of COT_RECQ_MAP_SELECT/GROUP's rows.
 * src/dst: an example address each (the largest), NULL when the SQL's is
 * not 16 bytes; scomms/dcomms: the distinct comms, comma-separated (the
 * SQL's group_concat(DISTINCT) order is SQLite's; here sorted, the 8
 * smallest whatever the rows' order, at most COT_RECQ_COMMSLEN bytes).
 * Strings valid during the callback.
 */
struct cot_recq_mapedge {
	const char *sk, *dk;
	int dp, proto;
	uint64_t conns, bytes_fwd, bytes_rev;
	uint64_t seen[3]; /* connections seen by nic only, vmi only, both */
	const uint8_t *src, *dst;
	const char *scomms, *dcomms, *dname;
};

/*
 * Step @s (COT_RECQ_MAP_ROWS ..., prepared and bound by the caller, on
 * either store: host/db.h; a SQLite statement as COT_DBQ_STMT()) to
 * its end and call @cb per edge, heaviest first (bytes both ways, then
 * source key, destination key, port, protocol): the same edges and
 * numbers as COT_RECQ_MAP_SELECT/GROUP over the same records, in memory
 * bounded by the connections (at most @max_conns, else -COT_E2BIG: run
 * the SQL instead), never by the records.  @skipped gets the records
 * whose addresses are not 16 bytes (malformed: in no edge).  A non-zero
 * return of @cb stops and is returned; else 0, -COT_ENOMEM, -COT_E2BIG
 * or -COT_EIO.  Not thread-safe on one statement.
 */
int cot_recq_map_agg(struct cot_dbq *s, size_t max_conns, uint64_t *skipped,
		     int (*cb)(void *ctx, const struct cot_recq_mapedge *e),
		     void *ctx);
/* A row of COT_RECQ_MAP_SELECT/GROUP as an edge (strings: the row's). */
int cot_recq_map_sql_row(sqlite3_stmt *s, struct cot_recq_mapedge *e);

/* Chain status of a stored record (cot_recq_row.chain). */
enum cot_recq_chain {
	/*
	 * logd linked it to its stored predecessor when it stored it and
	 * no event of its stream flags it (cotrack verify re-checks).
	 */
	COT_RECQ_VERIFIED = 0,
	/*
	 * The first record after missing ones (a "gap" event ending just
	 * before it: its link is unverifiable), or inside the range of a
	 * "chain" or "conflict" event.
	 */
	COT_RECQ_GAP = 1,
	/* Its stream has no streams row: nothing checked it. */
	COT_RECQ_UNCHECKED = 2,
};
const char *cot_recq_chain_name(int chain);

struct cot_recq_row {
	int64_t stream;
	const char *tracker; /* "" when unknown; valid during the callback */
	uint64_t stored_ns;
	int chain; /* enum cot_recq_chain */
	struct cot_rec rec;
};

/* 1 when @name is a column flows can sort by, else 0. */
int cot_recq_sort_ok(const char *name);

/*
 * One page of the records @f selects, sorted by @sort (a name
 * cot_recq_sort_ok() accepts; NULL: first_ns), @desc, then by stream
 * and seq (a stable order for paging); @limit <= COT_RECQ_MAX_LIMIT.
 * @total gets the number of all selected records, or COT_RECQ_MAX_TOTAL
 * + 1 when there are more.  @cb is called per
 * row (bounded by @limit); a non-zero return stops and is returned.
 * Returns 0, -COT_EINVAL or -COT_EIO.
 */
int cot_recq_flows(struct cot_db *db, int indexed,
		   const struct cot_recq_filter *f, const char *sort, int desc,
		   uint64_t offset, uint32_t limit, uint64_t *total,
		   int (*cb)(void *ctx, const struct cot_recq_row *row),
		   void *ctx);

/*
 * The service map (the workload map of cotrack graph): a node per
 * workload (kind 'w': a container by VM and cgroup, or a process by VM
 * and comm where the cgroup is unknown), per DNS name ('n': an end
 * outside the VMs the VM looked up) or per address ('a').  box is the
 * VM a node belongs to ("" outside every VM).  One edge per (source,
 * destination, port, protocol); a connection between two VMs of one
 * tracker recorded at both counts once.
 */
#define COT_RECQ_KEYLEN (COT_VM_NAMELEN + COT_CGROUP_LEN + COT_DNSNAME_LEN + 40)

struct cot_recq_node {
	char id[COT_RECQ_KEYLEN]; /* stable key; parts separated by \1 */
	char box[COT_VM_NAMELEN];
	char title[COT_DNSNAME_LEN]; /* comm(s), name or address */
	char sub[COT_CGROUP_LEN];    /* cgroup, or "" */
	int kind;		     /* 'w', 'n', 'a' */
	uint64_t conns, bytes_in, bytes_out;
};

struct cot_recq_edge {
	size_t src, dst; /* node indices */
	int port, proto;
	uint64_t conns, bytes_fwd, bytes_rev;
	uint64_t seen[3]; /* connections seen by nic only, vmi only, both */
	char name[COT_DNSNAME_LEN]; /* the name the initiator looked up */
};

struct cot_recq_graph {
	struct cot_recq_node *nodes;
	size_t nnodes;
	struct cot_recq_edge *edges;
	size_t nedges;
	uint64_t total;	 /* connections selected */
	uint64_t shown;	 /* connections on the drawn edges */
	uint64_t hidden; /* connections of edges touching a hidden node */
};

/*
 * Build the map of what @f selects: the heaviest @max_edges edges (by
 * bytes) whose ends are not among the @nhide node ids @hide.  @out is
 * owned by the caller (cot_recq_graph_free).  Returns 0, -COT_ENOMEM,
 * -COT_EIO or, on PostgreSQL, -COT_E2BIG when @f selects more than
 * COT_RECQ_MAP_MAX_CONNS connections (SQLite's GROUP BYs take those).
 * Text order (sorting by vm, tracker) is the database's collation: byte
 * order on SQLite and on a PostgreSQL database made with the C locale.
 */
int cot_recq_graph(struct cot_db *db, int indexed,
		   const struct cot_recq_filter *f, uint32_t max_edges,
		   const char *const *hide, size_t nhide,
		   struct cot_recq_graph *out);
void cot_recq_graph_free(struct cot_recq_graph *g);

#endif
