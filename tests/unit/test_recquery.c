// SPDX-License-Identifier: MIT
/*
 * host/recquery: the query-parameter parsers with good and bad input
 * (a bad value leaves the filter alone), the WHERE text never holds a
 * value, and flows / graph against a database built here: totals,
 * pages, sort, search with LIKE's own characters, chain status from
 * events, hidden nodes.
 */
#include <inttypes.h>
#include <stdint.h>
#include <unistd.h>

#include "cotrack/common.h"
#include "host/recquery.h"
#include "t.h"

#define NREC 50

static void test_params(void)
{
	static const char *const bad[][2] = {
		{ "port", "65536" },
		{ "port", "-1" },
		{ "port", "1x" },
		{ "port", " 80" },
		{ "port", "+80" },
		{ "from", "1e9" },
		{ "from", "99999999999999999999" },
		{ "to", "0x10" },
		{ "last", "-5" },
		{ "last", "9999999999" },
		{ "proto", "TCP" },
		{ "proto", "sctp" },
		{ "seen", "all" },
		{ "addr", "10.0.0" },
		{ "addr", "10.0.0.256" },
		{ "addr", "::g" },
		{ "addr", "10.0.0.1 " },
		{ "vm", "0123456789012345678901234567890123" },
		{ "vm", "a\nb" },
		{ "q", "\x7f" },
	};
	struct cot_recq_filter f, g;
	size_t i;

	cot_recq_filter_init(&f);
	for (i = 0; i < COT_ARRAY_SIZE(bad); i++) {
		g = f;
		if (cot_recq_param(&f, bad[i][0], bad[i][1], 1000) !=
		    -COT_EINVAL)
			printf("#   accepted %s=%s\n", bad[i][0], bad[i][1]);
		T_CHECK(!memcmp(&f, &g, sizeof(f)));
	}
	T_CHECK(cot_recq_param(&f, "nope", "1", 0) == -COT_ENOENT);
	T_CHECK(cot_recq_param(&f, "port", "65535", 0) == 0 && f.port == 65535);
	T_CHECK(cot_recq_param(&f, "port", "", 0) == 0 && f.port == -1);
	T_CHECK(cot_recq_param(&f, "proto", "udp", 0) == 0 &&
		f.proto == COT_PROTO_UDP);
	T_CHECK(cot_recq_param(&f, "seen", "both", 0) == 0 &&
		f.seen_by == COT_SEEN_BOTH);
	T_CHECK(cot_recq_param(&f, "addr", "10.0.1.2", 0) == 0 && f.has_addr &&
		f.addr[10] == 0xff && f.addr[15] == 2);
	T_CHECK(cot_recq_param(&f, "addr", "fe80::1", 0) == 0 &&
		f.addr[0] == 0xfe && f.addr[15] == 1);
	T_CHECK(cot_recq_param(&f, "last", "300", 1000000000000ull) == 0 &&
		f.from_ns == 700000000000ull && f.to_ns == 1000000000000ull);
	T_CHECK(cot_recq_param(&f, "from", "18446744073709551615", 0) ==
		-COT_EINVAL); /* above SQLite's signed range */
	T_CHECK(cot_recq_param(&f, "from", "9223372036854775807", 0) == 0);
}

static void test_where(void)
{
	struct cot_recq_filter f;
	char w[4096], small[20];

	cot_recq_filter_init(&f);
	T_CHECK(cot_recq_param(&f, "vm", "x' OR 1=1 --", 0) == 0);
	T_CHECK(cot_recq_param(&f, "q", "evil%_", 0) == 0);
	T_ASSERT(cot_recq_where(&f, 1, w, sizeof(w)) > 0);
	T_CHECK(strstr(w, "OR 1=1") == NULL && strstr(w, "evil") == NULL);
	T_CHECK(strstr(w, "r.vm = ?3") != NULL);
	T_CHECK(strstr(w, "?4") == NULL); /* proto unset: no term */
	T_CHECK(strstr(w, "?1") == NULL); /* all time: no window term */
	T_CHECK(cot_recq_where(&f, 1, small, sizeof(small)) == -COT_E2BIG);
	/* a window: the span-level seek with the indexes, else plain */
	T_CHECK(cot_recq_param(&f, "from", "5", 0) == 0);
	T_ASSERT(cot_recq_where(&f, 1, w, sizeof(w)) > 0);
	T_CHECK(strstr(w, "IN (SELECT w.stream, w.seq") != NULL);
	T_ASSERT(cot_recq_where(&f, 0, w, sizeof(w)) > 0);
	T_CHECK(strstr(w, "r.last_ns >= ?1 AND r.first_ns <= ?2") != NULL);
	T_CHECK(strstr(w, "IN (SELECT") == NULL);
}

static struct cot_store st;
static char path[64];

/* A store's reader for the query functions: its db and indexed flag. */
static struct cot_db tdb;
#define RQ(store)                                                              \
	(cot_db_wrap_sqlite(&tdb, (store)->db), &tdb), (store)->indexed

static void mkrec(struct cot_rec *r, uint64_t seq)
{
	uint8_t a[4] = { 10, 0, 0, (uint8_t)(1 + seq % 3) };

	memset(r, 0, sizeof(*r));
	r->seq = seq;
	snprintf(r->vm, sizeof(r->vm), "%s", seq % 2 ? "vm-a" : "vm-b");
	r->proto = seq % 5 ? COT_PROTO_TCP : COT_PROTO_UDP;
	r->ipproto = seq % 5 ? 6 : 17;
	r->seen_by = (uint8_t)(1 + seq % 3);
	cot_addr_from_v4(&r->src, a);
	a[2] = 1;
	a[3] = 9;
	cot_addr_from_v4(&r->dst, a);
	r->sport = (uint16_t)(40000 + seq);
	r->dport = seq % 5 ? 443 : 53;
	r->first_ns = 1000000000ull * seq;
	r->last_ns = r->first_ns + 500;
	r->pkts_fwd = 1;
	r->bytes_fwd = 100 * seq;
	r->pkts_rev = 1;
	r->bytes_rev = 7;
	if (seq % 10 == 0) { /* a named workload with LIKE's characters */
		r->src_owner.pid = 42;
		snprintf(r->src_owner.comm, sizeof(r->src_owner.comm),
			 "we%%b_1");
	}
}

static void setup(void)
{
	struct cot_stream_state ss;
	uint8_t h[COT_CHAIN_LEN] = { 0 };
	char err[256];
	struct cot_rec r;
	uint64_t i;

	snprintf(path, sizeof(path), "/tmp/test_recquery.%d.db", (int)getpid());
	unlink(path);
	if (cot_store_open(&st, path, COT_STORE_RW, 0, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		exit(1);
	}
	cot_store_begin(&st);
	cot_store_stream(&st, "t1", 1, "fp", 1, &ss);
	for (i = 1; i <= NREC; i++) {
		if (i >= 20 && i < 25)
			continue; /* missing: a gap 20..24 */
		mkrec(&r, i);
		cot_store_put(&st, ss.id, &r, 1, 2, h);
	}
	cot_store_event(&st, 3, COT_EV_GAP, "t1", ss.id, 20, 24, NULL, NULL);
	if (cot_store_commit(&st) < 0) {
		printf("# commit: %s\n", cot_store_errmsg(&st));
		exit(1);
	}
}

struct seen {
	uint64_t seq[COT_RECQ_MAX_LIMIT];
	int chain[COT_RECQ_MAX_LIMIT];
	size_t n;
};

static int collect(void *ctx, const struct cot_recq_row *row)
{
	struct seen *s = ctx;

	if (s->n < COT_ARRAY_SIZE(s->seq)) {
		s->seq[s->n] = row->rec.seq;
		s->chain[s->n++] = row->chain;
	}
	return 0;
}

static void test_flows(void)
{
	struct cot_recq_filter f;
	struct seen a = { 0 }, b = { 0 };
	uint64_t total = 0;
	size_t i;

	cot_recq_filter_init(&f);
	T_ASSERT(cot_recq_flows(RQ(&st), &f, "first_ns", 0, 0, 10, &total,
				collect, &a) == 0);
	T_EQ_U(total, NREC - 5);
	T_EQ_U(a.n, 10);
	T_EQ_U(a.seq[0], 1);
	T_ASSERT(cot_recq_flows(RQ(&st), &f, "first_ns", 0, 10, 10, &total,
				collect, &b) == 0);
	T_EQ_U(b.seq[0], 11);
	T_EQ_U(b.seq[9], 25); /* 20..24 are missing */
	T_EQ_U(b.chain[9], COT_RECQ_GAP);
	T_EQ_U(b.chain[8], COT_RECQ_VERIFIED);

	memset(&a, 0, sizeof(a));
	T_ASSERT(cot_recq_flows(RQ(&st), &f, "bytes_fwd", 1, 0, 3, &total,
				collect, &a) == 0);
	T_EQ_U(a.seq[0], NREC);
	T_EQ_U(a.seq[2], NREC - 2);
	T_CHECK(cot_recq_flows(RQ(&st), &f, "hash; DROP", 0, 0, 3, &total,
			       collect, &a) == -COT_EINVAL);
	T_CHECK(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, COT_RECQ_MAX_LIMIT + 1,
			       &total, collect, &a) == -COT_EINVAL);

	/* search: "%" is a character, not a wildcard */
	memset(&a, 0, sizeof(a));
	T_CHECK(cot_recq_param(&f, "q", "e%b_", 0) == 0);
	T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 100, &total, collect,
				&a) == 0);
	T_EQ_U(total, 4); /* seq 10, 30, 40, 50 (20 is missing) */
	for (i = 0; i < a.n; i++)
		T_EQ_U(a.seq[i] % 10, 0);
	T_CHECK(cot_recq_param(&f, "q", "e_b", 0) == 0);
	T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 100, &total, collect,
				&a) == 0);
	T_EQ_U(total, 0);

	cot_recq_filter_init(&f);
	T_CHECK(cot_recq_param(&f, "port", "53", 0) == 0);
	T_CHECK(cot_recq_param(&f, "vm", "vm-a", 0) == 0);
	T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 100, &total, collect,
				&a) == 0);
	T_EQ_U(total, 5); /* odd multiples of 5 up to 50, not 20..24 */
	cot_recq_filter_init(&f);
	T_CHECK(cot_recq_param(&f, "from", "30000000000", 0) == 0);
	T_CHECK(cot_recq_param(&f, "to", "40000000000", 0) == 0);
	T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 100, &total, collect,
				&a) == 0);
	T_EQ_U(total, 11);
}

static void test_graph(void)
{
	struct cot_recq_filter f;
	struct cot_recq_graph g;
	uint64_t sum = 0;
	const char *hide[1];
	size_t i;

	cot_recq_filter_init(&f);
	T_ASSERT(cot_recq_graph(RQ(&st), &f, 300, NULL, 0, &g) == 0);
	T_EQ_U(g.total, NREC - 5);
	T_EQ_U(g.shown, NREC - 5);
	for (i = 0; i < g.nedges; i++)
		sum += g.edges[i].conns;
	T_EQ_U(sum, NREC - 5);
	T_CHECK(g.nnodes >= 2);
	/* the workload we1... is a 'w' node in vm-b (seq 10, 30.. are even) */
	for (i = 0; i < g.nnodes; i++)
		if (g.nodes[i].kind == 'w')
			break;
	T_ASSERT(i < g.nnodes);
	T_EQ_S(g.nodes[i].box, "vm-b");
	T_EQ_S(g.nodes[i].title, "we%b_1");
	hide[0] = g.nodes[i].id;
	{
		struct cot_recq_graph h;

		T_ASSERT(cot_recq_graph(RQ(&st), &f, 300, hide, 1, &h) == 0);
		T_EQ_U(h.hidden, 4); /* seq 10, 30, 40, 50 */
		T_EQ_U(h.shown + h.hidden, g.total);
		cot_recq_graph_free(&h);
	}
	{ /* the flows of that node: the same 4 records */
		struct seen a = { 0 };
		uint64_t total = 0;

		T_CHECK(cot_recq_param(&f, "node", g.nodes[i].id, 0) == 0);
		T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 100, &total,
					collect, &a) == 0);
		T_EQ_U(total, 4);
		T_CHECK(cot_recq_param(&f, "peer", "nope", 0) == 0);
		T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 100, &total,
					collect, &a) == 0);
		T_EQ_U(total, 0);
		size_t j = 0;

		while (j < g.nedges && g.edges[j].src != i)
			j++;
		T_ASSERT(j < g.nedges);
		T_CHECK(cot_recq_param(&f, "peer", g.nodes[g.edges[j].dst].id,
				       0) == 0);
		T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 100, &total,
					collect, &a) == 0);
		T_EQ_U(total, 4);
		cot_recq_filter_init(&f);
	}
	cot_recq_graph_free(&g);
	T_ASSERT(cot_recq_graph(RQ(&st), &f, 1, NULL, 0, &g) == 0);
	T_EQ_U(g.nedges, 1);
	cot_recq_graph_free(&g);
}

/*
 * One connection fe 10.0.0.2 -> be 10.0.0.3:80 recorded at both VMs:
 * at fe its source is owned (nginx) and its destination is named
 * backend.svc; at be nothing is owned.  The destination is be's: an
 * address node in be's box, not the name outside every box.  The same
 * with neither end owned stays the name (nothing says whose it is).
 */
static void test_graph_two_vms(void)
{
	struct cot_store s2;
	struct cot_stream_state ss;
	uint8_t h[COT_CHAIN_LEN] = { 0 };
	uint8_t a2[4] = { 10, 0, 0, 2 }, a3[4] = { 10, 0, 0, 3 };
	char p2[64], err[256];
	struct cot_recq_filter f;
	struct cot_recq_graph g;
	struct cot_rec r;
	int k;

	snprintf(p2, sizeof(p2), "/tmp/test_recquery2.%d.db", (int)getpid());
	unlink(p2);
	T_ASSERT(cot_store_open(&s2, p2, COT_STORE_RW, 0, err, sizeof(err)) ==
		 0);
	cot_store_begin(&s2);
	cot_store_stream(&s2, "t1", 1, "fp", 1, &ss);
	for (k = 0; k < 4; k++) {
		memset(&r, 0, sizeof(r));
		r.seq = (uint64_t)k + 1;
		snprintf(r.vm, sizeof(r.vm), "%s", k % 2 ? "be" : "fe");
		r.proto = COT_PROTO_TCP;
		r.ipproto = 6;
		r.seen_by = 3;
		cot_addr_from_v4(&r.src, a2);
		cot_addr_from_v4(&r.dst, a3);
		r.sport = (uint16_t)(k < 2 ? 40000 : 40001);
		r.dport = 80;
		r.first_ns = k < 2 ? 1000 : 2000; /* connection 1, then 2 */
		r.last_ns = r.first_ns + 10;
		r.pkts_fwd = r.pkts_rev = 1;
		r.bytes_fwd = r.bytes_rev = 10;
		if (k == 0) { /* connection 1 at fe: nginx, backend.svc */
			r.src_owner.pid = 7;
			snprintf(r.src_owner.comm, sizeof(r.src_owner.comm),
				 "nginx");
		}
		if (k % 2 == 0)
			snprintf(r.dst_name, sizeof(r.dst_name), "backend.svc");
		cot_store_put(&s2, ss.id, &r, 1, 2, h);
	}
	T_ASSERT(cot_store_commit(&s2) == 0);
	cot_recq_filter_init(&f);
	T_ASSERT(cot_recq_graph(RQ(&s2), &f, 300, NULL, 0, &g) == 0);
	T_EQ_U(g.nedges, 2);
	T_EQ_U(g.total, 2);
	for (k = 0; k < (int)g.nedges; k++) {
		const struct cot_recq_node *d = &g.nodes[g.edges[k].dst];
		const struct cot_recq_node *sn = &g.nodes[g.edges[k].src];

		if (sn->kind == 'w') { /* connection 1 */
			T_EQ_S(sn->box, "fe");
			T_CHECK(d->kind == 'a');
			T_EQ_S(d->box, "be");
			T_EQ_S(d->title, "10.0.0.3");
			T_EQ_S(g.edges[k].name, "backend.svc");
		} else { /* connection 2: no owner anywhere */
			T_CHECK(d->kind == 'n');
			T_EQ_S(d->box, "");
			T_EQ_S(d->title, "backend.svc");
		}
	}
	cot_recq_graph_free(&g);
	cot_store_close(&s2);
	unlink(p2);
}

struct edges {
	struct cot_recq_mapedge e[512];
	char sk[512][COT_RECQ_KEYLEN + 64], dk[512][COT_RECQ_KEYLEN + 64];
	char sc[512][COT_RECQ_COMMSLEN], dc[512][COT_RECQ_COMMSLEN];
	char dn[512][COT_DNSNAME_LEN];
	uint8_t src[512][16], dst[512][16];
	size_t n;
};

static int keep_edge(void *ctx, const struct cot_recq_mapedge *e)
{
	struct edges *es = ctx;
	size_t i = es->n;

	if (i == COT_ARRAY_SIZE(es->e))
		return -COT_E2BIG;
	es->e[i] = *e;
	snprintf(es->sk[i], sizeof(es->sk[i]), "%s", e->sk);
	snprintf(es->dk[i], sizeof(es->dk[i]), "%s", e->dk);
	snprintf(es->sc[i], sizeof(es->sc[i]), "%s", e->scomms);
	snprintf(es->dc[i], sizeof(es->dc[i]), "%s", e->dcomms);
	snprintf(es->dn[i], sizeof(es->dn[i]), "%s", e->dname);
	if (e->src)
		memcpy(es->src[i], e->src, 16);
	if (e->dst)
		memcpy(es->dst[i], e->dst, 16);
	es->n++;
	return 0;
}

/* the comms of a group_concat as a sorted list, to compare as sets */
static void sort_comms(char *b)
{
	char *part[16], out[COT_RECQ_COMMSLEN], *sv = NULL, *t;
	size_t n = 0, i, j, o = 0;

	for (t = strtok_r(b, ",", &sv); t && n < 16;
	     t = strtok_r(NULL, ",", &sv))
		part[n++] = t;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(part[j - 1], part[j]) > 0; j--) {
			t = part[j];
			part[j] = part[j - 1];
			part[j - 1] = t;
		}
	out[0] = 0;
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s",
				      i ? "," : "", part[i]);
	memcpy(b, out, o + 1);
}

/* The map of @from_where both ways: C (cot_recq_map_agg) and SQL. */
static void map_both(struct cot_store *s2, const char *from_where,
		     struct edges *c, struct edges *q)
{
	char sql[12288];
	sqlite3_stmt *s;
	uint64_t skipped = 1;
	struct cot_recq_mapedge me;

	c->n = q->n = 0;
	snprintf(sql, sizeof(sql), COT_RECQ_MAP_ROWS "%s", from_where);
	T_ASSERT(sqlite3_prepare_v2(s2->db, sql, -1, &s, NULL) == SQLITE_OK);
	T_CHECK(cot_recq_map_agg(&COT_DBQ_STMT(s), 100000, &skipped, keep_edge,
				 c) == 0);
	T_EQ_U(skipped, 0);
	sqlite3_reset(s);
	T_CHECK(cot_recq_map_agg(&COT_DBQ_STMT(s), 2, &skipped, keep_edge, q) ==
		-COT_E2BIG);
	sqlite3_finalize(s);
	q->n = 0;
	snprintf(sql, sizeof(sql), COT_RECQ_MAP_SELECT "%s" COT_RECQ_MAP_GROUP,
		 from_where);
	T_ASSERT(sqlite3_prepare_v2(s2->db, sql, -1, &s, NULL) == SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		cot_recq_map_sql_row(s, &me);
		T_ASSERT(keep_edge(q, &me) == 0);
	}
	sqlite3_finalize(s);
}

/*
 * The map aggregated in C against the SQL it replaces, on random
 * records: connections recorded at one, two or three VMs of a tracker,
 * at two trackers, loopback sources (scoped by VM), owners on either
 * end, names, comms and cgroups, NULL VMs.  Every edge, in order, with
 * the same numbers (the comms compared as sets).
 */
static void test_map_agg(void)
{
	static const char *const vms[] = { "va", "vb", "vc", "" };
	static const char *const comms[] = { "nginx", "curl", "pg", "redis" };
	static const char *const cgs[] = { "", "/a", "/b" };
	static const char *const names[] = { "", "db.svc", "web.svc" };
	static struct edges c, q;
	struct cot_store s2;
	struct cot_stream_state ss[2];
	uint8_t h[COT_CHAIN_LEN] = { 0 };
	uint8_t a[4] = { 10, 0, 0, 0 };
	char p2[64], err[256];
	uint64_t seq[2] = { 0, 0 };
	uint32_t rnd = 12345;
	struct cot_rec r;
	size_t i, k;
	int t;

#define RND(n) ((rnd = rnd * 1103515245u + 12345u) >> 16) % (n)
	snprintf(p2, sizeof(p2), "/tmp/test_recquery3.%d.db", (int)getpid());
	unlink(p2);
	T_ASSERT(cot_store_open(&s2, p2, COT_STORE_RW, 0, err, sizeof(err)) ==
		 0);
	cot_store_begin(&s2);
	cot_store_stream(&s2, "t1", 1, "fp", 1, &ss[0]);
	cot_store_stream(&s2, "t2", 1, "fp", 1, &ss[1]);
	for (i = 0; i < 600; i++) {
		int copies = 1 + (int)RND(3), trk = (int)RND(2);

		memset(&r, 0, sizeof(r));
		r.proto = RND(5) ? COT_PROTO_TCP : (uint8_t)(1 + RND(4));
		r.ipproto = 6;
		a[3] = (uint8_t)RND(6);
		if (RND(6) == 0) {
			uint8_t lo[4] = { 127, 0, 0, 1 };

			cot_addr_from_v4(&r.src, lo);
		} else {
			cot_addr_from_v4(&r.src, a);
		}
		a[3] = (uint8_t)(10 + RND(4));
		cot_addr_from_v4(&r.dst, a);
		r.sport = (uint16_t)(40000 + RND(50));
		r.dport = (uint16_t)(RND(2) ? 80 : 5432);
		r.first_ns = 1000 + RND(40);
		r.last_ns = r.first_ns + RND(100);
		/* the same connection at up to three VMs, with varied views */
		for (k = 0; k < (size_t)copies; k++) {
			snprintf(r.vm, sizeof(r.vm), "%s", vms[RND(4)]);
			r.seen_by = (uint8_t)(1 + RND(3));
			r.bytes_fwd = RND(1000);
			r.bytes_rev = RND(1000);
			memset(&r.src_owner, 0, sizeof(r.src_owner));
			memset(&r.dst_owner, 0, sizeof(r.dst_owner));
			if (RND(3) == 0) {
				r.src_owner.pid = 7;
				snprintf(r.src_owner.comm,
					 sizeof(r.src_owner.comm), "%s",
					 comms[RND(4)]);
				snprintf(r.src_owner.cgroup,
					 sizeof(r.src_owner.cgroup), "%s",
					 cgs[RND(3)]);
			}
			if (RND(3) == 0) {
				r.dst_owner.pid = 8;
				snprintf(r.dst_owner.comm,
					 sizeof(r.dst_owner.comm), "%s",
					 comms[RND(4)]);
				snprintf(r.dst_owner.cgroup,
					 sizeof(r.dst_owner.cgroup), "%s",
					 cgs[RND(3)]);
			}
			snprintf(r.src_name, sizeof(r.src_name), "%s",
				 names[RND(3)]);
			snprintf(r.dst_name, sizeof(r.dst_name), "%s",
				 names[RND(3)]);
			r.seq = ++seq[trk];
			T_ASSERT(cot_store_put(&s2, ss[trk].id, &r, 1, 2, h) ==
				 0);
		}
	}
#undef RND
	T_ASSERT(cot_store_commit(&s2) == 0);
	/* NULL VMs ("" is stored as text): some records without one */
	T_ASSERT(sqlite3_exec(s2.db,
			      "UPDATE records SET vm = NULL WHERE vm = ''",
			      NULL, NULL, NULL) == SQLITE_OK);
	for (t = 0; t < 3; t++) {
		static const char *const fw[] = {
			"FROM records r JOIN streams s ON s.id = r.stream "
			"WHERE 1",
			"FROM records r JOIN streams s ON s.id = r.stream "
			"WHERE r.vm = 'vb'",
			"FROM records r JOIN streams s ON s.id = r.stream "
			"WHERE r.first_ns BETWEEN 1010 AND 1020",
		};

		map_both(&s2, fw[t], &c, &q);
		T_CHECK(c.n > (t ? 5u : 50u));
		T_EQ_U(c.n, q.n);
		for (i = 0; i < c.n && i < q.n; i++) {
			int same;

			sort_comms(q.sc[i]);
			sort_comms(q.dc[i]);
			same = !strcmp(c.sk[i], q.sk[i]) &&
			       !strcmp(c.dk[i], q.dk[i]) &&
			       c.e[i].dp == q.e[i].dp &&
			       c.e[i].proto == q.e[i].proto &&
			       c.e[i].conns == q.e[i].conns &&
			       c.e[i].bytes_fwd == q.e[i].bytes_fwd &&
			       c.e[i].bytes_rev == q.e[i].bytes_rev &&
			       !memcmp(c.e[i].seen, q.e[i].seen,
				       sizeof(c.e[i].seen)) &&
			       !memcmp(c.src[i], q.src[i], 16) &&
			       !memcmp(c.dst[i], q.dst[i], 16) &&
			       !strcmp(c.sc[i], q.sc[i]) &&
			       !strcmp(c.dc[i], q.dc[i]) &&
			       !strcmp(c.dn[i], q.dn[i]);
			if (!same) {
				printf("#   edge %zu differs (filter %d)\n", i,
				       t);
				break;
			}
		}
		T_CHECK(i == c.n);
	}
	cot_store_close(&s2);
	unlink(p2);
}

/*
 * An edge end of more than 8 distinct comms keeps the 8 smallest,
 * whatever order the rows come in: a window read from the covering
 * index rec_win arrives by time, not by (stream, seq) (store.h).  12
 * comms c00..c11 on one source, rows read forwards and backwards.
 */
static void test_map_comms_order(void)
{
	static struct edges c;
	static const char *const order[] = { "ORDER BY r.seq",
					     "ORDER BY r.seq DESC" };
	struct cot_store s2;
	struct cot_stream_state ss;
	uint8_t h[COT_CHAIN_LEN] = { 0 };
	char p2[64], err[256], sql[2048];
	struct cot_rec r;
	sqlite3_stmt *s;
	uint64_t skipped;
	int i, o;

	snprintf(p2, sizeof(p2), "/tmp/test_recquery5.%d.db", (int)getpid());
	unlink(p2);
	T_ASSERT(cot_store_open(&s2, p2, COT_STORE_RW, 0, err, sizeof(err)) ==
		 0);
	cot_store_begin(&s2);
	cot_store_stream(&s2, "t1", 1, "fp", 1, &ss);
	for (i = 0; i < 24; i++) {
		mkrec(&r, (uint64_t)i + 1);
		snprintf(r.vm, sizeof(r.vm), "vm-a");
		r.proto = COT_PROTO_TCP;
		r.dport = 443;
		r.src_owner.pid = 42;
		/* the largest comms first: an order that keeps them loses */
		snprintf(r.src_owner.comm, sizeof(r.src_owner.comm), "c%02d",
			 11 - i % 12);
		snprintf(r.src_owner.cgroup, sizeof(r.src_owner.cgroup), "/k");
		T_ASSERT(cot_store_put(&s2, ss.id, &r, 1, 2, h) == 0);
	}
	T_ASSERT(cot_store_commit(&s2) == 0);
	for (o = 0; o < 2; o++) {
		snprintf(sql, sizeof(sql),
			 COT_RECQ_MAP_ROWS "FROM records r JOIN streams s ON "
					   "s.id = r.stream %s",
			 order[o]);
		T_ASSERT(sqlite3_prepare_v2(s2.db, sql, -1, &s, NULL) ==
			 SQLITE_OK);
		c.n = 0;
		T_CHECK(cot_recq_map_agg(&COT_DBQ_STMT(s), 1000, &skipped,
					 keep_edge, &c) == 0);
		sqlite3_finalize(s);
		T_ASSERT(c.n >= 1);
		/* every record's source is the one workload */
		T_EQ_U(c.n, 1);
		T_EQ_S(c.sc[0], "c00,c01,c02,c03,c04,c05,c06,c07");
	}
	cot_store_close(&s2);
	unlink(p2);
}

/*
 * The map and the flows' total over a time window read through rec_win
 * (the span levels joined straight to records: a covering index) are
 * those of the plain overlap test (indexed = 0), with each filter the
 * window's query reads from the index.
 */
static void test_window_map(void)
{
	static const char *const filt[][2] = {
		{ "", "" },	    { "vm", "vm-a" },
		{ "port", "53" },   { "addr", "10.0.0.2" },
		{ "proto", "udp" }, { "seen", "vmi" },
		{ "q", "we%b" },    { "tracker", "t1" },
	};
	struct cot_recq_filter f;
	struct cot_recq_graph a, b;
	struct seen x;
	uint64_t ta, tb;
	size_t k, i;

	for (k = 0; k < COT_ARRAY_SIZE(filt); k++) {
		cot_recq_filter_init(&f);
		/* 500 ns after record 29 ended: just outside */
		T_ASSERT(cot_recq_param(&f, "from", "29000001000", 0) == 0);
		T_ASSERT(cot_recq_param(&f, "to", "90000000000", 0) == 0);
		if (filt[k][0][0])
			T_ASSERT(cot_recq_param(&f, filt[k][0], filt[k][1],
						0) == 0);
		st.indexed = 1;
		T_ASSERT(cot_recq_graph(RQ(&st), &f, 300, NULL, 0, &a) == 0);
		memset(&x, 0, sizeof(x));
		T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 10, &ta,
					collect, &x) == 0);
		st.indexed = 0;
		T_ASSERT(cot_recq_graph(RQ(&st), &f, 300, NULL, 0, &b) == 0);
		T_ASSERT(cot_recq_flows(RQ(&st), &f, NULL, 0, 0, 10, &tb,
					collect, &x) == 0);
		st.indexed = 1;
		printf("# %s=%s: %zu edges, %" PRIu64 " conns, total %" PRIu64
		       "\n",
		       filt[k][0], filt[k][1], a.nedges, a.total, ta);
		T_CHECK(a.total > 0 && ta > 0);
		T_EQ_U(ta, tb);
		T_EQ_U(a.total, b.total);
		T_EQ_U(a.nedges, b.nedges);
		T_EQ_U(a.nnodes, b.nnodes);
		for (i = 0; i < a.nedges && i < b.nedges; i++)
			if (memcmp(&a.edges[i], &b.edges[i],
				   sizeof(a.edges[i])))
				break;
		T_CHECK(i == a.nedges);
		for (i = 0; i < a.nnodes && i < b.nnodes; i++)
			if (memcmp(&a.nodes[i], &b.nodes[i],
				   sizeof(a.nodes[i])))
				break;
		T_CHECK(i == a.nnodes);
		cot_recq_graph_free(&a);
		cot_recq_graph_free(&b);
	}
}

/*
 * Pages by time in a window: the per-level walk (indexes) gives the same
 * rows in the same order as the plain overlap test (indexed = 0), for
 * records of every span level, both directions, several offsets, with
 * and without a VM and a port filter.
 */
static void test_window_pages(void)
{
	static const uint64_t span[] = { 500,
					 5000000000ull,
					 50000000000ull,
					 500000000000ull,
					 5000000000000ull,
					 50000000000000ull,
					 500000000000000ull,
					 5000000000000000ull };
	struct cot_store s3;
	struct cot_stream_state ss;
	uint8_t h[COT_CHAIN_LEN] = { 0 };
	char p3[64], err[256], num[32];
	uint64_t x = 88172645463325252ull, i;
	int k, d, pass;

	snprintf(p3, sizeof(p3), "/tmp/test_recquery3.%d.db", (int)getpid());
	unlink(p3);
	T_ASSERT(cot_store_open(&s3, p3, COT_STORE_RW, 0, err, sizeof(err)) ==
		 0);
	T_ASSERT(s3.indexed);
	cot_store_begin(&s3);
	cot_store_stream(&s3, "t1", 1, "fp", 1, &ss);
	for (i = 1; i <= 600; i++) {
		struct cot_rec r;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		mkrec(&r, i);
		r.first_ns = 1000000000000000000ull + x % 20000000000000000ull;
		r.last_ns = r.first_ns + span[i % 8] + x % 1000;
		/* a quarter at the window's start, of every level: one
		 * half straddles it (in), the other ends just before (out) */
		if ((i / 8) % 4 < 2) {
			uint64_t from =
				1000000000000000000ull + 5000000000000000ull;

			r.first_ns = from - span[i % 8] / 2 - 1;
			r.last_ns = (i / 8) % 4 ? from - 1
						: r.first_ns + span[i % 8];
		}
		cot_store_put(&s3, ss.id, &r, 1, 2, h);
	}
	T_ASSERT(cot_store_commit(&s3) == 0);
	/* bounded: 2 directions x 4 filters x 3 offsets, 2 paths each */
	for (d = 0; d < 2; d++)
		for (k = 0; k < 4; k++)
			for (pass = 0; pass < 3; pass++) {
				struct cot_recq_filter f;
				struct seen a = { 0 }, b = { 0 };
				uint64_t ta = 0, tb = 0;
				uint64_t off = (uint64_t)pass * 7;

				cot_recq_filter_init(&f);
				snprintf(num, sizeof(num), "%llu",
					 1000000000000000000ull +
						 5000000000000000ull);
				T_CHECK(cot_recq_param(&f, "from", num, 0) ==
					0);
				snprintf(num, sizeof(num), "%llu",
					 1000000000000000000ull +
						 5300000000000000ull);
				T_CHECK(cot_recq_param(&f, "to", num, 0) == 0);
				if (k == 1)
					T_CHECK(cot_recq_param(&f, "vm", "vm-a",
							       0) == 0);
				if (k == 2)
					T_CHECK(cot_recq_param(&f, "port",
							       "443", 0) == 0);
				if (k == 3) /* few records: it drives */
					T_CHECK(cot_recq_param(&f, "addr",
							       "10.0.0.2",
							       0) == 0);
				s3.indexed = 1;
				T_ASSERT(cot_recq_flows(RQ(&s3), &f, "first_ns",
							d, off, 20, &ta,
							collect, &a) == 0);
				s3.indexed = 0;
				T_ASSERT(cot_recq_flows(RQ(&s3), &f, "first_ns",
							d, off, 20, &tb,
							collect, &b) == 0);
				T_EQ_U(ta, tb);
				T_EQ_U(a.n, b.n);
				T_CHECK(a.n > 0);
				T_CHECK(memcmp(a.seq, b.seq,
					       a.n * sizeof(a.seq[0])) == 0);
			}
	s3.indexed = 1;
	cot_store_close(&s3);
	unlink(p3);
}

/*
 * More than COT_RECQ_MAX_TOTAL selected over all time: the page by time
 * is the levels' walk (indexed) and equals the plain sort (indexed = 0).
 */
static void test_big_pages(void)
{
	struct cot_store s4;
	struct cot_stream_state ss;
	uint8_t h[COT_CHAIN_LEN] = { 0 };
	char p4[64], err[256];
	uint64_t x = 2463534242ull, i;
	int d, pass;

	snprintf(p4, sizeof(p4), "/tmp/test_recquery4.%d.db", (int)getpid());
	unlink(p4);
	T_ASSERT(cot_store_open(&s4, p4, COT_STORE_RW, 0, err, sizeof(err)) ==
		 0);
	cot_store_begin(&s4);
	cot_store_stream(&s4, "t1", 1, "fp", 1, &ss);
	/* bounded: 5/4 COT_RECQ_MAX_TOTAL + 200 records, of which 4 in 5
	 * have port 443 (mkrec): more than COT_RECQ_MAX_TOTAL either way */
	for (i = 1; i <= COT_RECQ_MAX_TOTAL / 4 * 5 + 200; i++) {
		struct cot_rec r;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		mkrec(&r, i);
		r.first_ns = 1000000000000000000ull + x % 100000000000000ull;
		r.last_ns = r.first_ns + (x >> 40) % 10000000000000ull;
		cot_store_put(&s4, ss.id, &r, 1, 2, h);
	}
	T_ASSERT(cot_store_commit(&s4) == 0);
	/* bounded: 2 directions x 2 offsets x 2 filters */
	for (d = 0; d < 2; d++)
		for (pass = 0; pass < 4; pass++) {
			struct cot_recq_filter f;
			struct seen a = { 0 }, b = { 0 };
			uint64_t ta = 0, tb = 0;

			cot_recq_filter_init(&f);
			if (pass >= 2) /* 4 in 5 records */
				T_CHECK(cot_recq_param(&f, "port", "443", 0) ==
					0);
			s4.indexed = 1;
			T_ASSERT(cot_recq_flows(RQ(&s4), &f, "first_ns", d,
						(uint64_t)(pass % 2) * 30, 20,
						&ta, collect, &a) == 0);
			s4.indexed = 0;
			T_ASSERT(cot_recq_flows(RQ(&s4), &f, "first_ns", d,
						(uint64_t)(pass % 2) * 30, 20,
						&tb, collect, &b) == 0);
			T_EQ_U(ta, COT_RECQ_MAX_TOTAL + 1);
			T_EQ_U(ta, tb);
			T_EQ_U(a.n, 20);
			T_EQ_U(b.n, 20);
			T_CHECK(memcmp(a.seq, b.seq, a.n * sizeof(a.seq[0])) ==
				0);
		}
	s4.indexed = 1;
	cot_store_close(&s4);
	unlink(p4);
}

int main(void)
{
	T_RUN(test_params);
	T_RUN(test_where);
	setup();
	T_RUN(test_flows);
	T_RUN(test_graph);
	T_RUN(test_graph_two_vms);
	T_RUN(test_map_agg);
	T_RUN(test_map_comms_order);
	T_RUN(test_window_map);
	T_RUN(test_window_pages);
	T_RUN(test_big_pages);
	cot_store_close(&st);
	if (!getenv("KEEP"))
		unlink(path);
	return t_done();
}
