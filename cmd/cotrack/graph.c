// SPDX-License-Identifier: MIT
/*
 * cotrack graph: the service map of the stored records.
 *
 *   cotrack graph --db FILE [--format dot|svg|png] [-o FILE] [--vm NAME]
 *                 [--tracker NAME] [--since T] [--until T] [--max-edges N]
 *                 [--by auto|workload|address]
 *
 * Two maps.  The workload map (--by workload; auto picks it when any
 * selected record names an owner or a remote) draws one box per VM
 * holding its workloads: a container node per cgroup (labelled with the
 * cgroup path and the comms seen in it), or a process node per comm
 * when the cgroup is unknown.  Ends outside the VMs are their DNS names
 * where the VM looked one up, else plain addresses; an end in a VM whose
 * owner is unknown is a plain address too (loopback ones inside their
 * VM's box).  A connection between two VMs recorded at both is one
 * edge, from the initiator's workload to the responder's, carrying the
 * name the initiator looked up.  Edges are labelled with the protocol
 * and port, connections, bytes each way and which view saw them;
 * localhost edges stay inside their VM's box.
 *
 * The address map (--by address, and auto for version-1-only data):
 * nodes: clients aggregated by address (ellipses), services by address,
 * port and protocol (boxes); both kinds of one address sit in a box
 * labelled with the address.  Edges: client -> service, labelled with
 * the number of connections and the bytes both ways; line width grows
 * with the connection count.  The heaviest --max-edges edges (by bytes,
 * default 300) are drawn.  svg and png are rendered by Graphviz's dot.
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"
#include "host/recfmt.h"
#include "host/recquery.h"
#include "host/db.h"
#include "host/store.h"
#include "cmds.h"
#include "query_util.h"

extern char **environ;

/*
 * Loopback addresses are the same in every VM: their nodes are scoped by
 * the VM that recorded them ("fe/127.0.0.1"), other addresses are not.
 */
struct edge {
	struct cot_addr src, dst;
	int dport, proto;
	uint64_t conns, bytes;
	char scope[COT_VM_NAMELEN];
};

struct node {
	struct cot_addr addr;
	int port, proto; /* port -1: the client node of this address */
	char scope[COT_VM_NAMELEN];
};

static void scoped(char *buf, size_t len, const struct cot_addr *a,
		   const char *scope)
{
	char ab[COT_ADDR_STRLEN];

	cot_addr_str(a, ab);
	if (scope[0])
		snprintf(buf, len, "%s/%s", scope, ab);
	else
		snprintf(buf, len, "%s", ab);
}

static void node_id(char *buf, size_t len, const struct cot_addr *a, int port,
		    int proto, const char *scope)
{
	char ab[COT_ADDR_STRLEN + COT_VM_NAMELEN + 2];

	scoped(ab, sizeof(ab), a, scope);
	if (port < 0)
		snprintf(buf, len, "c %s", ab);
	else
		snprintf(buf, len, "s %s %d %s", ab, port,
			 cot_proto_name((unsigned)proto));
}

static int add_node(struct node **nodes, size_t *n, size_t *cap,
		    const struct cot_addr *a, int port, int proto,
		    const char *scope)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (!memcmp(&(*nodes)[i].addr, a, sizeof(*a)) &&
		    (*nodes)[i].port == port && (*nodes)[i].proto == proto &&
		    !strcmp((*nodes)[i].scope, scope))
			return 0;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct node *nn = realloc(*nodes, nc * sizeof(*nn));

		if (!nn)
			return -1;
		*nodes = nn;
		*cap = nc;
	}
	(*nodes)[*n].addr = *a;
	(*nodes)[*n].port = port;
	(*nodes)[*n].proto = proto;
	snprintf((*nodes)[*n].scope, sizeof((*nodes)[*n].scope), "%s", scope);
	(*n)++;
	return 0;
}

static int cmp_node(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	if (c)
		return c;
	c = strcmp(x->scope, y->scope);
	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->proto - y->proto;
}

static void write_dot(FILE *f, const struct edge *e, size_t ne,
		      struct node *nodes, size_t nn, uint64_t total,
		      uint64_t shown)
{
	char id[160], id2[160], ab[COT_ADDR_STRLEN + COT_VM_NAMELEN + 2],
		b1[32];
	uint64_t maxc = 1;
	size_t i, j;

	for (i = 0; i < ne; i++)
		if (e[i].conns > maxc)
			maxc = e[i].conns;
	if (nn)
		qsort(nodes, nn, sizeof(*nodes), cmp_node);
	fprintf(f,
		"digraph cotrack {\n"
		"  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, "
		"labelloc=t, label=\"cotrack service map: %llu connections"
		"%s\"];\n"
		"  node [fontname=\"Helvetica\", fontsize=10];\n"
		"  edge [fontname=\"Helvetica\", fontsize=9, "
		"color=\"#4a6fa5\"];\n",
		(unsigned long long)total,
		shown < total ? " (heaviest edges only)" : "");
	/* One cluster per address: its client node and its services. */
	for (i = 0; i < nn; i = j) {
		scoped(ab, sizeof(ab), &nodes[i].addr, nodes[i].scope);
		fprintf(f,
			"  subgraph \"cluster %s\" {\n    label=\"%s\"; "
			"style=rounded; color=\"#999999\";\n",
			ab, ab);
		for (j = i; j < nn &&
			    !memcmp(&nodes[j].addr, &nodes[i].addr,
				    sizeof(nodes[i].addr)) &&
			    !strcmp(nodes[j].scope, nodes[i].scope);
		     j++) {
			node_id(id, sizeof(id), &nodes[j].addr, nodes[j].port,
				nodes[j].proto, nodes[j].scope);
			if (nodes[j].port < 0)
				fprintf(f,
					"    \"%s\" [label=\"client\", "
					"shape=ellipse, style=filled, "
					"fillcolor=\"#eef3fb\"];\n",
					id);
			else if (nodes[j].proto == COT_PROTO_TCP ||
				 nodes[j].proto == COT_PROTO_UDP)
				fprintf(f,
					"    \"%s\" [label=\"%s :%d\", "
					"shape=box, style=filled, "
					"fillcolor=\"#fdf1dc\"];\n",
					id,
					cot_proto_name(
						(unsigned)nodes[j].proto),
					nodes[j].port);
			else
				fprintf(f,
					"    \"%s\" [label=\"%s\", shape=box, "
					"style=filled, "
					"fillcolor=\"#fdf1dc\"];\n",
					id,
					cot_proto_name(
						(unsigned)nodes[j].proto));
		}
		fprintf(f, "  }\n");
	}
	for (i = 0; i < ne; i++) {
		node_id(id, sizeof(id), &e[i].src, -1, 0, e[i].scope);
		node_id(id2, sizeof(id2), &e[i].dst, e[i].dport, e[i].proto,
			e[i].scope);
		cot_recfmt_bytes(b1, sizeof(b1), e[i].bytes);
		fprintf(f,
			"  \"%s\" -> \"%s\" [label=\"%llu conn\\n%s\", "
			"penwidth=%.2f];\n",
			id, id2, (unsigned long long)e[i].conns, b1,
			1.0 + 4.0 * log1p((double)e[i].conns) /
					log1p((double)maxc));
	}
	fprintf(f, "}\n");
}

/* --- the workload map ---------------------------------------------------- */

#define WKEY_MAX   (COT_VM_NAMELEN + COT_CGROUP_LEN + COT_DNSNAME_LEN + 40)
#define WLABEL_MAX 200

struct wnode {
	char key[WKEY_MAX];
	char box[COT_VM_NAMELEN]; /* "" outside every VM */
	char label[WLABEL_MAX];
	int kind; /* 'w' workload, 'n' name, 'a' address */
};

struct wedge {
	size_t src, dst; /* wnode indices */
	int dport, proto;
	uint64_t conns, bf, br, seen[3]; /* nic, vmi, both */
	char dname[COT_DNSNAME_LEN];
};

/* A string inside a dot "..." literal: quote and backslash escaped. */
static void dot_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n') {
			fputs("\\n", f); /* our own line breaks in labels */
			continue;
		}
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
			fputc(*s, f);
	}
}

/*
 * Node of key @key (built in SQL: 'w' box \1 cgroup \1 comm, 'n' name,
 * 'a' box \1 hex address); @comms labels containers.  Returns the index,
 * or (size_t)-1 when out of memory.
 */
static size_t wnode_get(struct wnode **nodes, size_t *n, size_t *cap,
			const char *key, const char *comms,
			const struct cot_addr *addr)
{
	char ab[COT_ADDR_STRLEN];
	const char *a, *b;
	struct wnode *w;
	size_t i;

	/* bounded by n, itself bounded by 2 * max_edges */
	for (i = 0; i < *n; i++)
		if (!strcmp((*nodes)[i].key, key))
			return i;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct wnode *nn = realloc(*nodes, nc * sizeof(*nn));

		if (!nn)
			return (size_t)-1;
		*nodes = nn;
		*cap = nc;
	}
	w = &(*nodes)[*n];
	memset(w, 0, sizeof(*w));
	snprintf(w->key, sizeof(w->key), "%s", key);
	w->kind = key[0];
	a = strchr(key + 1, 1);
	switch (key[0]) {
	case 'w':
		b = a ? strchr(a + 1, 1) : NULL;
		if (!a || !b)
			break;
		snprintf(w->box, sizeof(w->box), "%.*s", (int)(a - key - 1),
			 key + 1);
		if (b > a + 1) /* a container: its comms and its cgroup */
			snprintf(w->label, sizeof(w->label), "%.80s\n%.*s",
				 comms[0] ? comms : "?", (int)(b - a - 1),
				 a + 1);
		else
			snprintf(w->label, sizeof(w->label), "%s", b + 1);
		break;
	case 'n':
		snprintf(w->label, sizeof(w->label), "%s", key + 1);
		break;
	default:
		if (a)
			snprintf(w->box, sizeof(w->box), "%.*s",
				 (int)(a - key - 1), key + 1);
		snprintf(w->label, sizeof(w->label), "%s",
			 cot_addr_str(addr, ab));
	}
	return (*n)++;
}

static void seen_str(char *buf, size_t len, const uint64_t seen[3])
{
	static const char *const names[3] = { "nic", "vmi", "both" };
	int i, kinds = 0;
	size_t o = 0;

	for (i = 0; i < 3; i++)
		kinds += seen[i] != 0;
	buf[0] = '\0';
	for (i = 0; i < 3 && o < len; i++) {
		if (!seen[i])
			continue;
		if (kinds == 1)
			o += (size_t)snprintf(buf + o, len - o, "seen %s",
					      names[i]);
		else
			o += (size_t)snprintf(buf + o, len - o, "%s%s %llu",
					      o ? ", " : "seen ", names[i],
					      (unsigned long long)seen[i]);
	}
}

static void write_wdot(FILE *f, const struct wedge *e, size_t ne,
		       const struct wnode *nodes, size_t nn, uint64_t total,
		       uint64_t shown)
{
	char b1[32], b2[32], sb[96];
	const char *box;
	uint64_t maxc = 1;
	size_t i, j;

	for (i = 0; i < ne; i++)
		if (e[i].conns > maxc)
			maxc = e[i].conns;
	fprintf(f,
		"digraph cotrack {\n"
		"  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, "
		"labelloc=t, label=\"cotrack service map by workload: %llu "
		"connections%s\"];\n"
		"  node [fontname=\"Helvetica\", fontsize=10];\n"
		"  edge [fontname=\"Helvetica\", fontsize=9, "
		"color=\"#4a6fa5\"];\n",
		(unsigned long long)total,
		shown < total ? " (heaviest edges only)" : "");
	/* nodes by box: each VM's once, in first-seen order (bounded: nn) */
	for (i = 0; i < nn; i++) {
		box = nodes[i].box;
		for (j = 0; j < i; j++)
			if (!strcmp(nodes[j].box, box))
				break;
		if (j < i)
			continue; /* this box is written already */
		if (box[0]) {
			fputs("  subgraph \"cluster vm ", f);
			dot_str(f, box);
			fputs("\" {\n    label=\"VM ", f);
			dot_str(f, box);
			fputs("\"; style=rounded; color=\"#555555\"; "
			      "penwidth=1.5;\n",
			      f);
		}
		for (j = i; j < nn; j++) {
			if (strcmp(nodes[j].box, box))
				continue;
			fprintf(f, "    w%zu [label=\"", j);
			dot_str(f, nodes[j].label);
			fprintf(f, "\", %s];\n",
				nodes[j].kind == 'w'
					? "shape=box, "
					  "style=\"rounded,filled\", "
					  "fillcolor=\"#fdf1dc\""
				: nodes[j].kind == 'n'
					? "shape=ellipse, style=filled, "
					  "fillcolor=\"#e6f2e6\""
					: "shape=ellipse, style=dashed");
		}
		if (box[0])
			fputs("  }\n", f);
	}
	for (i = 0; i < ne; i++) {
		cot_recfmt_bytes(b1, sizeof(b1), e[i].bf);
		cot_recfmt_bytes(b2, sizeof(b2), e[i].br);
		seen_str(sb, sizeof(sb), e[i].seen);
		fprintf(f, "  w%zu -> w%zu [label=\"", e[i].src, e[i].dst);
		if (e[i].proto == COT_PROTO_TCP || e[i].proto == COT_PROTO_UDP)
			fprintf(f, "%s :%d",
				cot_proto_name((unsigned)e[i].proto),
				e[i].dport);
		else
			fprintf(f, "%s", cot_proto_name((unsigned)e[i].proto));
		if (e[i].dname[0] && nodes[e[i].dst].kind != 'n') {
			fputs(" (", f);
			dot_str(f, e[i].dname);
			fputc(')', f);
		}
		fprintf(f,
			"\\n%llu conn\\n%s > / %s <\\n%s\", penwidth=%.2f];\n",
			(unsigned long long)e[i].conns, b1, b2, sb,
			1.0 + 4.0 * log1p((double)e[i].conns) /
					log1p((double)maxc));
	}
	fprintf(f, "}\n");
}

/* The map's SQL, shared with the console (host/recquery.h). */
static const char wsql_fmt[] = COT_RECQ_MAP_SELECT "%s" COT_RECQ_MAP_GROUP;

/*
 * The selected records r (with their stream s), as FROM and WHERE text
 * for ?1..?5 (since, until, vm, tracker, proto): only the filters given,
 * none wrapped in a function, and the time window through the span
 * levels when the database has the indexes (host/store.h).  The caller
 * binds with bind_sel().  The workload map of a window or a VM is
 * aggregated in C from the streamed rows (wmap_agg: memory bounded by
 * the connections, at most COT_RECQ_MAP_MAX_CONNS); everything else in
 * SQL, streamed: records are never all held here.
 */
struct sel {
	uint64_t since, until;
	const char *vm, *tracker;
	int proto;
	bool window;
	bool explain; /* --explain: print the map's SQL and plan only */
	bool pg;      /* PostgreSQL's schema (store.h) */
};

static void sel_sql(char *b, size_t cap, const struct cot_store *st,
		    const struct sel *q)
{
	/*
	 * Without a window or a VM every record is read: in table order,
	 * which a range on the primary key (every stream id) asks for.  Left
	 * to itself (no statistics; NOT INDEXED does not stop it on a
	 * WITHOUT ROWID table) SQLite walks a port index instead, one random
	 * table read per record: several times slower on 10 million
	 * (docs/bench.md).
	 */
	snprintf(b, cap,
		 "%s JOIN streams s ON s.id = r.stream WHERE 1 = 1%s%s%s%s",
		 q->window && q->pg
			 ? "FROM " COT_STORE_WINDOW_LEVELS
			   " lv JOIN records r ON " COT_STORE_WINDOW_ON_PG("r.")
		 : q->window && st->indexed
			 ? "FROM " COT_STORE_WINDOW_LEVELS
			   " lv JOIN records r ON " COT_STORE_WINDOW_ON("r.")
			 : "FROM records r",
		 q->window && !st->indexed && !q->pg
			 ? " AND r.last_ns >= ?1 AND r.first_ns <= ?2"
		 : !q->window && !q->vm
			 ? " AND r.stream >= -9223372036854775807 - 1"
			 : "",
		 q->vm ? " AND r.vm = ?3" : "",
		 q->tracker ? " AND s.tracker = ?4" : "",
		 q->proto >= 0 ? " AND r.proto = ?5" : "");
}

/* Bind what sel_sql() refers to.  0 or a negative code. */
static int bind_sel(struct cot_dbq *s, const struct sel *q)
{
	int rc = 0;

	if (q->window) { /* the text has ?1 and ?2 only then */
		rc |= cot_dbq_bind_int64(
			s, 1, (int64_t)COT_MIN(q->since, (uint64_t)INT64_MAX));
		rc |= cot_dbq_bind_int64(
			s, 2, (int64_t)COT_MIN(q->until, (uint64_t)INT64_MAX));
	}
	if (q->vm)
		rc |= cot_dbq_bind_text(s, 3, q->vm);
	if (q->tracker)
		rc |= cot_dbq_bind_text(s, 4, q->tracker);
	if (q->proto >= 0)
		rc |= cot_dbq_bind_int64(s, 5, q->proto);
	return rc ? -COT_EIO : 0;
}

/* Prepare @sql on @db and bind @q.  0 or -COT_EIO (said by @db). */
static int prep(struct cot_db *db, const char *sql, const struct sel *q,
		struct cot_dbq **s)
{
	if (cot_dbq_prepare(db, sql, s) < 0)
		return -COT_EIO;
	if (bind_sel(*s, q) < 0) {
		cot_dbq_free(*s);
		*s = NULL;
		return -COT_EIO;
	}
	return 0;
}

/* --explain of @s (SQLite's plan only).  0 or -COT_EIO. */
static int run_explain(struct cot_db *db, struct cot_dbq *s, const char *sql)
{
	if (!s->s) {
		log_warnx("--explain: SQLite databases only");
		return -COT_EIO;
	}
	return cot_query_explain(db->lite, s->s, sql) < 0 ? -COT_EIO : 0;
}

/* Any selected record with a name? 1 yes, 0 no, -1 error. */
static int any_names(struct cot_store *st, struct cot_db *db,
		     const struct sel *q)
{
	char from[2048], sql[2560];
	struct cot_dbq *s;
	int rc;

	sel_sql(from, sizeof(from), st, q);
	snprintf(sql, sizeof(sql),
		 "SELECT 1 %s AND (r.src_pid IS NOT NULL OR r.dst_pid IS NOT "
		 "NULL OR r.src_name IS NOT NULL OR r.dst_name IS NOT NULL) "
		 "LIMIT 1",
		 from);
	if (prep(db, sql, q, &s) < 0)
		return -1;
	rc = cot_dbq_step(s);
	cot_dbq_free(s);
	return rc < 0 ? -1 : rc;
}

/* The workload map's edges as they come, heaviest first (wmap_edge). */
struct wmap {
	struct wnode *nodes;
	struct wedge *e;
	size_t ne, nn, ncap, max_edges;
	uint64_t total, shown;
};

static int wmap_edge(void *ctx, const struct cot_recq_mapedge *me)
{
	struct wmap *m = ctx;
	struct wedge *w = &m->e[m->ne];
	struct cot_addr sa, da;

	m->total += me->conns;
	if (m->ne == m->max_edges || !me->src || !me->dst)
		return 0;
	memcpy(sa.b, me->src, 16);
	memcpy(da.b, me->dst, 16);
	w->src =
		wnode_get(&m->nodes, &m->nn, &m->ncap, me->sk, me->scomms, &sa);
	w->dst =
		wnode_get(&m->nodes, &m->nn, &m->ncap, me->dk, me->dcomms, &da);
	if (w->src == (size_t)-1 || w->dst == (size_t)-1)
		return -COT_ENOMEM;
	w->dport = me->dp;
	w->proto = me->proto;
	w->conns = me->conns;
	w->bf = me->bytes_fwd;
	w->br = me->bytes_rev;
	memcpy(w->seen, me->seen, sizeof(w->seen));
	snprintf(w->dname, sizeof(w->dname), "%s", me->dname);
	m->shown += me->conns;
	m->ne++;
	return 0;
}

/*
 * The map by SQLite's two GROUP BYs (COT_RECQ_MAP_SELECT/GROUP): in
 * bounded memory for any number of records.  0, -COT_EIO or -COT_ENOMEM.
 */
static int wmap_sql(struct cot_db *db, const struct sel *q, const char *from,
		    struct wmap *m)
{
	struct cot_recq_mapedge me;
	char sql[6144];
	struct cot_dbq *s = NULL;
	int rc = 0, step;

	snprintf(sql, sizeof(sql), wsql_fmt, from);
	if (prep(db, sql, q, &s) < 0)
		return -COT_EIO;
	if (q->explain) {
		rc = run_explain(db, s, sql);
		cot_dbq_free(s);
		return rc;
	}
	/* bounded by the rows; at most max_edges kept */
	while (!rc && (step = cot_dbq_step(s)) == 1) {
		cot_recq_map_sql_row(s->s, &me);
		rc = wmap_edge(m, &me);
	}
	if (!rc && step != 0)
		rc = -COT_EIO;
	cot_dbq_free(s);
	return rc;
}

/*
 * A window or a VM: the map aggregated in C from one streamed SELECT
 * (host/recquery.h, cot_recq_map_agg), up to COT_RECQ_MAP_MAX_CONNS
 * connections; -COT_E2BIG beyond, then the SQL runs instead.
 */
static int wmap_agg(struct cot_db *db, const struct sel *q, const char *from,
		    struct wmap *m)
{
	char sql[4096];
	struct cot_dbq *s = NULL;
	uint64_t skipped = 0;
	int rc;

	snprintf(sql, sizeof(sql), COT_RECQ_MAP_ROWS "%s", from);
	if (prep(db, sql, q, &s) < 0)
		return -COT_EIO;
	if (q->explain) {
		rc = run_explain(db, s, sql);
		cot_dbq_free(s);
		return rc;
	}
	rc = cot_recq_map_agg(s, COT_RECQ_MAP_MAX_CONNS, &skipped, wmap_edge,
			      m);
	m->total += skipped;
	cot_dbq_free(s);
	if (rc == -COT_E2BIG) {
		free(m->nodes);
		m->nodes = NULL;
		m->ne = m->nn = m->ncap = 0;
		m->total = m->shown = 0;
	}
	return rc;
}

/* Build the workload map into @mf.  Returns 0 or -1 (message logged). */
static int workload_map(FILE *mf, struct cot_store *st, struct cot_db *dbc,
			const char *db, const struct sel *q, uint32_t max_edges,
			size_t *ne_out, size_t *nn_out, uint64_t *shown_out,
			uint64_t *total_out)
{
	struct wmap m;
	char from[2048];
	int rc = -COT_E2BIG;

	memset(&m, 0, sizeof(m));
	m.max_edges = max_edges;
	sel_sql(from, sizeof(from), st, q);
	if (!q->explain) {
		m.e = calloc((size_t)max_edges, sizeof(*m.e));
		if (!m.e) {
			log_warnx("out of memory");
			return -1;
		}
	}
	/* PostgreSQL: always in C (the SQL's text is SQLite's) */
	if (q->window || q->vm || q->pg)
		rc = wmap_agg(dbc, q, from, &m);
	if (rc == -COT_E2BIG && !q->pg)
		rc = wmap_sql(dbc, q, from, &m);
	if (rc == -COT_E2BIG)
		log_warnx("more than %d connections selected: narrow the "
			  "window (--from/--to) or pick a --vm",
			  COT_RECQ_MAP_MAX_CONNS);
	else if (rc < 0)
		log_warnx("%s: %s", q->pg ? "PostgreSQL" : db,
			  rc == -COT_ENOMEM ? "out of memory"
					    : cot_db_errmsg(dbc));
	else if (!q->explain)
		write_wdot(mf, m.e, m.ne, m.nodes, m.nn, m.total, m.shown);
	*ne_out = m.ne;
	*nn_out = m.nn;
	*shown_out = m.shown;
	*total_out = m.total;
	free(m.e);
	free(m.nodes);
	return rc < 0 ? -1 : 0;
}

/* Run dot -T@fmt [-o @out] with @text on its stdin. */
static int render(const char *fmt, const char *out, const char *text,
		  size_t len)
{
	char tflag[16];
	char *argv[6];
	int pfd[2], st, i = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	size_t off = 0;
	ssize_t n;

	snprintf(tflag, sizeof(tflag), "-T%s", fmt);
	argv[i++] = (char *)"dot";
	argv[i++] = tflag;
	if (out) {
		argv[i++] = (char *)"-o";
		argv[i++] = (char *)(uintptr_t)out;
	}
	argv[i] = NULL;
	if (pipe(pfd) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
	posix_spawn_file_actions_addclose(&fa, pfd[1]);
	if (posix_spawnp(&pid, "dot", &fa, NULL, argv, environ) != 0) {
		log_warnx(
			"cannot run Graphviz's dot (apt-get install graphviz)");
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[0]);
	while (off < len) {
		n = write(pfd[1], text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(pfd[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (off < len || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_warnx("dot failed");
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cotrack graph --db FILE|postgresql://... [--format "
		"dot|svg|png]\n"
		"         [-o FILE]\n"
		"         [--vm NAME] [--tracker NAME] [--from T] [--to T]\n"
		"         [--max-edges N] [--proto tcp|udp|icmp|icmp6|other]\n"
		"         [--by auto|workload|address] [--explain]\n"
		"  --explain: print the map's SQL and SQLite's plan for it.\n"
		"  On PostgreSQL the workload map is always aggregated in "
		"memory (at most\n"
		"  1,000,000 connections: narrow the window or pick a VM "
		"beyond).\n"
		"  --from/--to (also --since/--until): as cotrack query "
		"--help.\n"
		"  A connection between two VMs of one tracker, recorded at\n"
		"  both, counts once.\n");
}

int cmd_graph(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "vm", required_argument, NULL, 'v' },
		{ "tracker", required_argument, NULL, 'T' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "from", required_argument, NULL, 's' },
		{ "to", required_argument, NULL, 'u' },
		{ "max-edges", required_argument, NULL, 'm' },
		{ "proto", required_argument, NULL, 'P' },
		{ "by", required_argument, NULL, 'b' },
		{ "explain", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *db = NULL, *fmt = "dot", *out = NULL, *vm = NULL,
		   *tracker = NULL;
	uint64_t since = 0, until = UINT64_MAX >> 1, now = cot_clock_real_ns();
	uint64_t total = 0, shown = 0;
	bool window = false, explain = false;
	struct sel q;
	uint32_t max_edges = 300;
	struct edge *e = NULL;
	struct node *nodes = NULL;
	size_t ne = 0, nn = 0, ncap = 0, len = 0;
	char from[2048], sql[3072], err[512], *text = NULL;
	struct cot_store st;
	struct cot_db dbc;
	struct cot_dbq *s = NULL;
	static const uint8_t lo4[13] = { 0, 0, 0, 0,	0,    0,  0,
					 0, 0, 0, 0xff, 0xff, 127 };
	static const uint8_t lo6[16] = { 0, 0, 0, 0, 0, 0, 0, 0,
					 0, 0, 0, 0, 0, 0, 0, 1 };
	const void *sb, *db_;
	size_t sl, dl;
	FILE *mf, *f;
	int o, rc = 1, proto = -1, by = -1; /* -1 auto, 1 workload, 0 addr */
	int step;

	optind = 1;
	while ((o = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			db = optarg;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'o':
			out = optarg;
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
		case 'm':
			if (cot_cli_u32("--max-edges", optarg, 1, 100000,
					&max_edges) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'P':
			proto = cot_parse_proto(optarg);
			if (proto < 0) {
				log_warnx("bad protocol '%s' (tcp, udp, icmp, "
					  "icmp6, other)",
					  optarg);
				return COT_EXIT_USAGE;
			}
			break;
		case 'b':
			if (!strcmp(optarg, "auto")) {
				by = -1;
			} else if (!strcmp(optarg, "workload")) {
				by = 1;
			} else if (!strcmp(optarg, "address")) {
				by = 0;
			} else {
				log_warnx("--by auto|workload|address");
				return COT_EXIT_USAGE;
			}
			break;
		case 'E':
			explain = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	if (!db || optind != argc ||
	    (strcmp(fmt, "dot") && strcmp(fmt, "svg") && strcmp(fmt, "png"))) {
		usage(stderr);
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
	q = (struct sel){ .since = since,
			  .until = until,
			  .vm = vm,
			  .tracker = tracker,
			  .proto = proto,
			  .window = window,
			  .explain = explain,
			  .pg = cot_db_kind(&dbc) == COT_DB_PG };
	sel_sql(from, sizeof(from), &st, &q);
	if (by < 0)
		by = any_names(&st, &dbc, &q);
	if (by < 0) {
		log_warnx("%s", cot_db_errmsg(&dbc));
		goto out;
	}
	if (by) {
		mf = open_memstream(&text, &len);
		if (!mf)
			goto out;
		if (workload_map(mf, &st, &dbc, db, &q, max_edges, &ne, &nn,
				 &shown, &total) < 0) {
			fclose(mf);
			goto out;
		}
		fclose(mf);
		if (q.explain) {
			rc = 0;
			goto out;
		}
		goto emit;
	}
	/*
	 * One connection between two VMs of one tracker is recorded at both
	 * (each VM's view); both records share the tuple and the time of
	 * the first frame, so the inner query counts it once.
	 */
	snprintf(sql, sizeof(sql),
		 "SELECT src, dst, dp, proto, count(*), sum(b), scope FROM ("
		 "SELECT r.src AS src, r.dst AS dst, CASE WHEN r.proto IN (1, "
		 "2) "
		 "THEN r.dport ELSE 0 END AS dp, r.proto AS proto, "
		 "max(r.bytes_fwd + r.bytes_rev) AS b, "
		 /* loopback: 127/8 (IPv4-mapped, ?6) or ::1 (?7) */
		 "CASE WHEN substr(r.src, 1, 13) = ?6 OR r.src = ?7 "
		 "THEN coalesce(r.vm, '') ELSE '' END AS scope "
		 "%s "
		 "GROUP BY s.tracker, r.src, r.sport, r.dst, r.dport, r.proto, "
		 "r.first_ns, scope) AS c GROUP BY src, dst, dp, proto, scope "
		 "ORDER BY 6 DESC, 1, 2, 3, 4, 7",
		 from);
	if (prep(&dbc, sql, &q, &s) < 0 ||
	    cot_dbq_bind_blob(s, 6, lo4, sizeof(lo4)) < 0 ||
	    cot_dbq_bind_blob(s, 7, lo6, sizeof(lo6)) < 0) {
		log_warnx("%s", cot_db_errmsg(&dbc));
		goto out;
	}
	if (q.explain) {
		rc = run_explain(&dbc, s, sql) < 0;
		goto out;
	}
	e = calloc((size_t)max_edges, sizeof(*e));
	if (!e)
		goto out;
	while ((step = cot_dbq_step(s)) == 1) {
		uint64_t c = (uint64_t)cot_dbq_int64(s, 4);

		total += c;
		sb = cot_dbq_blob(s, 0, &sl);
		if (ne == (size_t)max_edges || !sb || sl != 16)
			continue;
		memcpy(e[ne].src.b, sb, 16);
		db_ = cot_dbq_blob(s, 1, &dl);
		if (!db_ || dl != 16)
			continue;
		memcpy(e[ne].dst.b, db_, 16);
		e[ne].dport = (int)cot_dbq_int64(s, 2);
		e[ne].proto = (int)cot_dbq_int64(s, 3);
		e[ne].conns = c;
		e[ne].bytes = (uint64_t)cot_dbq_int64(s, 5);
		snprintf(e[ne].scope, sizeof(e[ne].scope), "%s",
			 cot_dbq_text(s, 6) ? cot_dbq_text(s, 6) : "");
		shown += c;
		if (add_node(&nodes, &nn, &ncap, &e[ne].src, -1, 0,
			     e[ne].scope) < 0 ||
		    add_node(&nodes, &nn, &ncap, &e[ne].dst, e[ne].dport,
			     e[ne].proto, e[ne].scope) < 0)
			goto out;
		ne++;
	}
	if (step < 0) {
		log_warnx("%s", cot_db_errmsg(&dbc));
		goto out;
	}
	mf = open_memstream(&text, &len);
	if (!mf)
		goto out;
	write_dot(mf, e, ne, nodes, nn, total, shown);
	fclose(mf);
emit:
	if (!strcmp(fmt, "dot")) {
		f = out ? fopen(out, "w") : stdout;
		if (!f || fwrite(text, 1, len, f) != len ||
		    (out && fclose(f) != 0)) {
			log_warn("%s", out ? out : "stdout");
			goto out;
		}
	} else if (render(fmt, out, text, len) < 0) {
		goto out;
	}
	if (out)
		fprintf(stderr,
			"service map: %zu edges, %zu nodes, %llu of %llu "
			"connections -> %s\n",
			ne, nn, (unsigned long long)shown,
			(unsigned long long)total, out);
	rc = 0;
out:
	free(text);
	free(e);
	free(nodes);
	cot_dbq_free(s);
	cot_store_close_reader(&st, &dbc);
	return rc;
}
