// SPDX-License-Identifier: MIT
/*
 * --web: the console.  HTTPS (libmicrohttpd over GnuTLS) with the
 * deployment's server certificate, in libmicrohttpd's own threads (a
 * small pool), each with its own reader opened on first use (a
 * read-only SQLite handle, or a PostgreSQL connection: host/db), and
 * each API request reads one snapshot: the console never takes the
 * writers' lock.  A PostgreSQL connection found lost is closed after
 * its request and opened again by the thread's next one.
 *
 * Only the holder of the token gets in.  GET /?token=SECRET sets a
 * cookie (HttpOnly, Secure, SameSite=Strict) and redirects to /; the API
 * under /api/ also takes "Authorization: Bearer SECRET"; every other
 * request, whatever the path, answers 401.  Tokens are compared as
 * SHA-256 digests with CRYPTO_memcmp (constant time whatever the
 * lengths).  Neither the token nor any URL is logged: libmicrohttpd's
 * messages go through a filter that drops any naming the token.
 *
 * The API (docs/console.md): /api/graph (the service map in Grafana
 * node-graph's nodes/edges shape, laid out by Graphviz's dot through
 * libgvc in a layout server of its own: see "The layout service"),
 * /api/flows (a page of records with their chain status), /api/health
 * (trackers, gaps, anomalies, records per second).  Every parameter is
 * checked (400 on a bad one) before any SQL runs; every string in a
 * reply goes through host/json's escaping.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <graphviz/gvc.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "host/clock.h"
#include "host/json.h"
#include "host/log.h"
#include "host/recfmt.h"
#include "host/recquery.h"
#include "logd.h"
#include "webassets.h"

#define WEB_THREADS   2	   /* libmicrohttpd's pool */
#define WEB_CONNS     64   /* connections at once */
#define WEB_TIMEOUT_S 30   /* idle connection */
#define MAX_HIDE      256  /* hide= values per request */
#define MAX_ARGS      64   /* query parameters per request */
#define DEF_EDGES     300  /* edges drawn unless max= says */
#define MAX_EDGES     2000 /* max= at most: dot's time grows fast */
#define MAX_PATH      64   /* spline points kept per edge */
#define PEM_MAX	      (1 << 20)
/*
 * Records per second over the last minute: per stream, only the newest
 * RATE_SCAN records are looked at (20000 records/s for 60 s), so a huge
 * stream costs a bounded index walk, not a scan.
 */
#define RATE_SCAN 1200000

static const char cookie_name[] = "cotrack_token";

struct web {
	struct logd_web *cfg;
	struct MHD_Daemon *d;
	pthread_mutex_t gvmu; /* lay: one request at a time */
	int lay;	      /* socket to the layout server, -1 none */
	pid_t lay_pid;
	pthread_mutex_t stmu; /* readers[] */
	struct reader *readers[WEB_THREADS + 4];
	int nreaders;
	uint8_t token_md[32];
	char *cert, *key;
};

/* A web thread's own connection to the store. */
struct reader {
	struct cot_store st; /* indexed: the query indexes exist */
	struct cot_db db;
	int open;
	int warned; /* the last open failed and said so */
};

static _Thread_local struct reader *my_reader;

/* --- token ---------------------------------------------------------------- */

static int digest(const void *p, size_t n, uint8_t md[32])
{
	unsigned int mdlen = 32;

	return EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
			       mdlen == 32
		       ? 0
		       : -1;
}

static int token_ok(const struct web *x, const char *t)
{
	uint8_t md[32];

	if (!t || !t[0] || strlen(t) > 1024 || digest(t, strlen(t), md) < 0)
		return 0;
	return CRYPTO_memcmp(md, x->token_md, 32) == 0;
}

/*
 * Read the token file, or create it (0600, 32 random bytes as hex) when
 * absent.  A file readable or writable by group or others is refused.
 */
static int load_token(struct web *x)
{
	const struct logd_web *w = x->cfg;
	char buf[300], hex[65];
	uint8_t rnd[32];
	struct stat sb;
	ssize_t n;
	size_t len, i;
	int fd;

	fd = open(w->token_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			log_warnx("--web-token: no random bytes");
			return -1;
		}
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
		OPENSSL_cleanse(rnd, sizeof(rnd));
		fd = open(w->token_path,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  0600);
		if (fd < 0 || write(fd, hex, 64) != 64 ||
		    write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
			log_warn("--web-token %s", w->token_path);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		log_info("web console: made a new token in %s", w->token_path);
		fd = open(w->token_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		log_warn("--web-token %s", w->token_path);
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		log_warnx("--web-token %s: not a regular file", w->token_path);
		close(fd);
		return -1;
	}
	if (sb.st_mode & 077) {
		log_warnx("--web-token %s: readable or writable by group or "
			  "others (mode %03o); chmod 600 it",
			  w->token_path, (unsigned)(sb.st_mode & 0777));
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		log_warn("--web-token %s", w->token_path);
		return -1;
	}
	len = (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	/* printable, no space: it goes into a URL and a cookie */
	for (i = 0; i < len; i++)
		if (buf[i] <= ' ' || buf[i] >= 0x7f || buf[i] == ';' ||
		    buf[i] == '&' || buf[i] == '%' || buf[i] == '+')
			break;
	if (len < 16 || len > 256 || i < len) {
		log_warnx("--web-token %s: want 16..256 characters without "
			  "spaces, ';', '&', '%%' or '+'",
			  w->token_path);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	i = (size_t)digest(buf, len, x->token_md);
	OPENSSL_cleanse(buf, sizeof(buf));
	return (int)i;
}

/* --- helpers ----------------------------------------------------------------
 */

static char *slurp(const char *path)
{
	char *b = NULL;
	size_t n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	b = calloc(1, PEM_MAX + 1);
	if (b)
		n = fread(b, 1, PEM_MAX, f);
	fclose(f);
	if (b && (n == 0 || n == PEM_MAX)) {
		free(b);
		return NULL;
	}
	return b;
}

/* Open @r on the log server's database.  0 or -1 (said once). */
static int reader_open(struct web *x, struct reader *r)
{
	char err[512];

	if (cot_store_open_reader(&r->st, &r->db, x->cfg->db, err,
				  sizeof(err)) < 0) {
		if (!r->warned)
			log_warnx("web: %s", err);
		r->warned = 1;
		return -1;
	}
	if (r->warned)
		log_info("web: database open again");
	r->warned = 0;
	r->open = 1;
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->open)
		cot_store_close_reader(&r->st, &r->db);
	r->open = 0;
}

/* This thread's reader, opened (again) if need be; NULL: 503. */
static struct reader *reader(struct web *x)
{
	struct reader *r = my_reader;

	if (r)
		return r->open || reader_open(x, r) == 0 ? r : NULL;
	pthread_mutex_lock(&x->stmu);
	if (x->nreaders == (int)COT_ARRAY_SIZE(x->readers)) {
		pthread_mutex_unlock(&x->stmu);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&x->stmu);
		log_warnx("web: out of memory");
		return NULL;
	}
	x->readers[x->nreaders++] = r;
	pthread_mutex_unlock(&x->stmu);
	my_reader = r;
	return reader_open(x, r) == 0 ? r : NULL;
}

static void headers(struct MHD_Response *r, const char *type)
{
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(
		r, "Content-Security-Policy",
		"default-src 'none'; script-src 'self'; style-src 'self'; "
		"img-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
		"base-uri 'none'; form-action 'none'");
	MHD_add_response_header(r, "Strict-Transport-Security",
				"max-age=31536000");
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
			     const char *type, const void *body, size_t len,
			     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free((void *)(uintptr_t)body);
		return MHD_NO;
	}
	headers(r, type);
	if (code == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate",
					"Bearer realm=\"cotrack\"");
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned code,
			    const char *msg)
{
	return reply(c, code, "text/plain; charset=utf-8", msg, strlen(msg),
		     MHD_RESPMEM_PERSISTENT);
}

/* A JSON error: {"error": msg} (msg is ours, never the request's). */
static enum MHD_Result jerror(struct MHD_Connection *c, unsigned code,
			      const char *msg)
{
	struct cot_json j;

	cot_json_init(&j);
	cot_json_obj(&j);
	cot_json_kstr(&j, "error", msg);
	cot_json_obj_end(&j);
	if (cot_json_done(&j) < 0) {
		cot_json_free(&j);
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "error\n");
	}
	return reply(c, code, "application/json", j.buf, j.len,
		     MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result jsend(struct MHD_Connection *c, struct cot_json *j)
{
	if (cot_json_done(j) < 0) {
		cot_json_free(j);
		return jerror(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
			      "out of memory");
	}
	return reply(c, MHD_HTTP_OK, "application/json", j->buf, j->len,
		     MHD_RESPMEM_MUST_FREE);
}

/* --- query parameters ------------------------------------------------------
 */

struct args {
	struct cot_recq_filter f;
	const char *hide[MAX_HIDE];
	size_t nhide;
	const char *sort;
	int desc;
	uint64_t offset, limit, max;
	int flows; /* sort, dir, offset, limit allowed */
	int graph; /* hide, max allowed */
	int n;
	const char *bad; /* the first bad parameter's name, or NULL */
	uint64_t now;
};

static void bad(struct args *a, const char *why)
{
	if (!a->bad)
		a->bad = why;
}

static enum MHD_Result arg_one(void *cls, enum MHD_ValueKind kind,
			       const char *key, const char *val)
{
	struct args *a = cls;
	uint64_t v;
	int rc;

	(void)kind;
	if (!val)
		val = "";
	if (++a->n > MAX_ARGS) {
		bad(a, "too many parameters");
		return MHD_NO;
	}
	rc = cot_recq_param(&a->f, key, val, a->now);
	if (rc == 0)
		return MHD_YES;
	if (rc == -COT_EINVAL) {
		bad(a, "bad value of a filter (from, to, last, vm, proto, "
		       "port, addr, q, seen, tracker, node, peer)");
		return MHD_YES;
	}
	if (a->graph && !strcmp(key, "hide")) {
		if (a->nhide == MAX_HIDE || strlen(val) >= COT_RECQ_KEYLEN)
			bad(a, "hide: too many or too long");
		else if (val[0])
			a->hide[a->nhide++] = val;
	} else if (a->graph && !strcmp(key, "max")) {
		if (cot_recq_parse_u64(val, MAX_EDGES, &v) < 0 || !v)
			bad(a, "max: 1..2000");
		else
			a->max = v;
	} else if (a->flows && !strcmp(key, "sort")) {
		if (!cot_recq_sort_ok(val))
			bad(a, "sort: not a sortable column");
		else
			a->sort = val;
	} else if (a->flows && !strcmp(key, "dir")) {
		if (!strcmp(val, "asc"))
			a->desc = 0;
		else if (!strcmp(val, "desc"))
			a->desc = 1;
		else
			bad(a, "dir: asc or desc");
	} else if (a->flows && !strcmp(key, "offset")) {
		if (cot_recq_parse_u64(val, 1000000000000ull, &v) < 0)
			bad(a, "offset: 0..10^12");
		else
			a->offset = v;
	} else if (a->flows && !strcmp(key, "limit")) {
		if (cot_recq_parse_u64(val, COT_RECQ_MAX_LIMIT, &v) < 0 || !v)
			bad(a, "limit: 1..1000");
		else
			a->limit = v;
	} else {
		bad(a, "unknown parameter");
	}
	return MHD_YES;
}

static int parse_args(struct MHD_Connection *c, struct args *a)
{
	a->now = cot_clock_real_ns();
	cot_recq_filter_init(&a->f);
	a->limit = 50;
	a->max = DEF_EDGES;
	a->desc = 1;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_one, a);
	return a->bad ? -1 : 0;
}

/* --- /api/graph ------------------------------------------------------------
 */

struct lay {
	double x, y, w, h;
};

struct epath {
	double lx, ly; /* label position; NAN none */
	size_t n;
	double pt[MAX_PATH][2];
};

struct box {
	const char *vm;
	double x, y, w, h;
};

static void edge_main(char *buf, size_t len, const struct cot_recq_edge *e)
{
	if (e->proto == COT_PROTO_TCP || e->proto == COT_PROTO_UDP)
		snprintf(buf, len, "%s :%d", cot_proto_name((unsigned)e->proto),
			 e->port);
	else
		snprintf(buf, len, "%s", cot_proto_name((unsigned)e->proto));
}

static void edge_second(char *buf, size_t len, const struct cot_recq_edge *e)
{
	char f[32], r[32];

	cot_recfmt_bytes(f, sizeof(f), e->bytes_fwd);
	cot_recfmt_bytes(r, sizeof(r), e->bytes_rev);
	snprintf(buf, len, "%" PRIu64 " conn, %s > / %s <", e->conns, f, r);
}

/*
 * The layout service.  dot leaks (Graphviz 2.42: the auxiliary edges of
 * clusters, ~100 kB a layout), and a layout is the one place a crafted
 * graph could hit a Graphviz bug.  So Graphviz never runs in logd: at
 * start, before logd has any thread, a child is forked (the layout
 * server, single-threaded); for each layout it forks a grandchild that
 * lays out, writes the result into a pipe and _exits, taking its leaks
 * with it.  The server relays complete results only (status 1 when the
 * grandchild failed or took longer than LAYOUT_S).
 *
 * What crosses: sizes and indices only, never a string from a record.
 *   request:  u32 LAY_MAGIC, nn, ne, nb; nn x struct lnode; ne x struct
 *             ledge; nb x u32 (characters of the box's label)
 *   reply:    u32 status; then (status 0) double width, height; nn x
 *             struct lay; ne x struct epath; nb x struct lbox
 * Both ends are this program (same structs); the server still checks
 * every count and index before use.
 */
#define LAY_MAGIC 0x31594c43u /* "CLY1" */
#define LAYOUT_S  15
#define LAY_WAIT  30000 /* ms: what logd waits for a reply at most */

struct lnode {
	int32_t box; /* index into the boxes, -1 none */
	uint32_t chars;
	uint32_t sub; /* has a second line */
};

struct ledge {
	uint32_t src, dst;
};

struct lbox {
	double x, y, w, h;
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	ssize_t w;

	/* bounded: each write moves on or fails */
	while (n) {
		w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly @n bytes within @ms in all (-1: no limit); 0 or -1. */
static int read_all(int fd, void *p, size_t n, int ms)
{
	uint64_t end =
		cot_clock_mono_ns() + (uint64_t)(ms < 0 ? 0 : ms) * 1000000;
	char *b = p;
	ssize_t r;

	/* bounded by the deadline (or by the peer closing) */
	while (n) {
		uint64_t now = cot_clock_mono_ns();
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (ms >= 0 &&
		    (now >= end ||
		     poll(&pf, 1, (int)((end - now) / 1000000) + 1) <= 0))
			return -1;
		r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * Lay out with dot: clusters per box, nodes sized from their text's
 * length.  Coordinates come back in points with y growing downwards
 * (SVG's).  Runs in the grandchild.  Returns 0 or -1.
 */
static int layout(GVC_t *gvc, uint32_t nn, uint32_t ne, uint32_t nb,
		  const struct lnode *ln, const struct ledge *le,
		  const uint32_t *bchars, struct lay *nl, struct epath *el,
		  struct lbox *bl, double *gw, double *gh)
{
	Agraph_t *G, **sub = NULL;
	Agnode_t **n = NULL;
	Agedge_t **e = NULL;
	char name[32], num[32], lab[64];
	size_t i, k, t;
	boxf bb;
	int rc = -1;

	G = agopen((char *)"m", Agdirected, NULL);
	if (!G)
		goto out;
	agsafeset(G, (char *)"rankdir", (char *)"LR", (char *)"");
	agsafeset(G, (char *)"nodesep", (char *)"0.15", (char *)"");
	agsafeset(G, (char *)"ranksep", (char *)"2.5", (char *)"");
	n = calloc(nn + 1, sizeof(*n));
	e = calloc(ne + 1, sizeof(*e));
	sub = calloc(nb + 1, sizeof(*sub));
	if (!n || !e || !sub)
		goto out;
	for (k = 0; k < nb; k++) {
		snprintf(name, sizeof(name), "cluster_%zu", k);
		sub[k] = agsubg(G, name, 1);
		if (!sub[k])
			goto out;
		/* room for "VM name": as many M as it has characters */
		t = COT_MIN(bchars[k] + 3, sizeof(lab) - 1);
		memset(lab, 'M', t);
		lab[t] = '\0';
		agsafeset(sub[k], (char *)"label", lab, (char *)"");
		agsafeset(sub[k], (char *)"labeljust", (char *)"l", (char *)"");
	}
	for (i = 0; i < nn; i++) {
		size_t chars = COT_MIN(ln[i].chars, 48);

		snprintf(name, sizeof(name), "n%zu", i);
		n[i] = agnode(ln[i].box >= 0 ? sub[ln[i].box] : G, name, 1);
		if (!n[i])
			goto out;
		snprintf(num, sizeof(num), "%.2f",
			 (double)(chars * 7 + 24) / 72);
		agsafeset(n[i], (char *)"shape", (char *)"box", (char *)"");
		agsafeset(n[i], (char *)"fixedsize", (char *)"true",
			  (char *)"");
		agsafeset(n[i], (char *)"width", num, (char *)"");
		agsafeset(n[i], (char *)"height",
			  (char *)(ln[i].sub ? "0.65" : "0.45"), (char *)"");
		agsafeset(n[i], (char *)"label", (char *)"", (char *)"");
	}
	/*
	 * Edges without labels: dot would stack one label node per edge
	 * in the middle rank (a map as tall as its edge count); the page
	 * writes labels at the splines' middles instead.
	 */
	for (i = 0; i < ne; i++) {
		snprintf(name, sizeof(name), "e%zu", i);
		e[i] = agedge(G, n[le[i].src], n[le[i].dst], name, 1);
		if (!e[i])
			goto out;
	}
	if (gvLayout(gvc, G, "dot") != 0)
		goto out;
	bb = GD_bb(G);
	*gw = bb.UR.x - bb.LL.x;
	*gh = bb.UR.y - bb.LL.y;
#define FX(px) ((px)-bb.LL.x)
#define FY(py) (bb.UR.y - (py))
	for (i = 0; i < nn; i++) {
		pointf c = ND_coord(n[i]);

		nl[i].w = ND_width(n[i]) * 72;
		nl[i].h = ND_height(n[i]) * 72;
		nl[i].x = FX(c.x);
		nl[i].y = FY(c.y);
	}
	for (i = 0; i < ne; i++) {
		splines *sp = ED_spl(e[i]);

		el[i].n = 0;
		el[i].lx = el[i].ly = NAN;
		if (!sp || sp->size < 1)
			continue;
		/* bounded by MAX_PATH; then the end point (its arrowhead) */
		for (k = 0;
		     k < (size_t)sp->list[0].size && el[i].n < MAX_PATH - 1;
		     k++) {
			el[i].pt[el[i].n][0] = FX(sp->list[0].list[k].x);
			el[i].pt[el[i].n][1] = FY(sp->list[0].list[k].y);
			el[i].n++;
		}
		if (sp->list[0].eflag) {
			el[i].pt[el[i].n][0] = FX(sp->list[0].ep.x);
			el[i].pt[el[i].n][1] = FY(sp->list[0].ep.y);
			el[i].n++;
		}
	}
	for (k = 0; k < nb; k++) {
		boxf cb = GD_bb(sub[k]);

		bl[k].x = FX(cb.LL.x);
		bl[k].y = FY(cb.UR.y);
		bl[k].w = cb.UR.x - cb.LL.x;
		bl[k].h = cb.UR.y - cb.LL.y;
	}
#undef FX
#undef FY
	gvFreeLayout(gvc, G);
	rc = 0;
out:
	if (G)
		agclose(G);
	free(n);
	free(e);
	free(sub);
	return rc;
}

static size_t reply_len(uint32_t nn, uint32_t ne, uint32_t nb)
{
	return 2 * sizeof(double) + nn * sizeof(struct lay) +
	       ne * sizeof(struct epath) + nb * sizeof(struct lbox);
}

/* The grandchild: lay out, write the reply's body to @fd, exit. */
static void __attribute__((noreturn))
lay_one(GVC_t *gvc, int fd, uint32_t nn, uint32_t ne, uint32_t nb,
	const char *req)
{
	const struct lnode *ln = (const struct lnode *)req;
	const struct ledge *le = (const struct ledge *)(ln + nn);
	const uint32_t *bc = (const uint32_t *)(le + ne);
	char *out = calloc(1, reply_len(nn, ne, nb));
	double *hdr = (double *)out;
	struct lay *nl = (struct lay *)(hdr + 2);
	struct epath *el = (struct epath *)(nl + nn);
	struct lbox *bl = (struct lbox *)(el + ne);

	alarm(LAYOUT_S);
	if (!out ||
	    layout(gvc, nn, ne, nb, ln, le, bc, nl, el, bl, &hdr[0], &hdr[1]) <
		    0 ||
	    write_all(fd, out, reply_len(nn, ne, nb)) < 0)
		_exit(1);
	_exit(0);
}

/* The layout server's loop (a child of logd); returns only to exit. */
static void lay_server(int sock)
{
	GVC_t *gvc = gvContext();
	uint32_t h[4], st;
	size_t rlen, qlen;
	char *req, *rep;
	int pfd[2], ws;
	uint32_t i;
	pid_t pid;

	/* one request at a time; ends when logd closes its end */
	while (gvc && read_all(sock, h, sizeof(h), -1) == 0) {
		const struct lnode *ln;
		const struct ledge *le;
		const uint32_t *bc;
		int ok = h[0] == LAY_MAGIC && h[1] <= 2 * MAX_EDGES &&
			 h[2] <= MAX_EDGES && h[3] <= h[1];

		if (!ok)
			return; /* out of step: logd sees the socket close */
		qlen = h[1] * sizeof(*ln) + h[2] * sizeof(*le) +
		       h[3] * sizeof(*bc);
		rlen = reply_len(h[1], h[2], h[3]);
		req = calloc(1, qlen + 1);
		rep = calloc(1, rlen + 1);
		if (!req || !rep || read_all(sock, req, qlen, 5000) < 0)
			return;
		ln = (const struct lnode *)req;
		le = (const struct ledge *)(ln + h[1]);
		bc = (const uint32_t *)(le + h[2]);
		/* every index in range before Graphviz sees it */
		for (i = 0; ok && i < h[1]; i++)
			ok = ln[i].box >= -1 && ln[i].box < (int32_t)h[3];
		for (i = 0; ok && i < h[2]; i++)
			ok = le[i].src < h[1] && le[i].dst < h[1];
		for (i = 0; ok && i < h[3]; i++)
			ok = bc[i] <= COT_VM_NAMELEN;
		st = 1;
		if (ok && pipe(pfd) == 0) {
			pid = fork();
			if (pid == 0) {
				close(pfd[0]);
				close(sock);
				lay_one(gvc, pfd[1], h[1], h[2], h[3], req);
			}
			close(pfd[1]);
			if (pid > 0 && read_all(pfd[0], rep, rlen,
						(LAYOUT_S + 2) * 1000) == 0)
				st = 0;
			close(pfd[0]);
			if (pid > 0) {
				if (st)
					kill(pid, SIGKILL); /* late or dead */
				while (waitpid(pid, &ws, 0) < 0 &&
				       errno == EINTR)
					;
				if (!WIFEXITED(ws) || WEXITSTATUS(ws))
					st = 1;
			}
		}
		if (write_all(sock, &st, sizeof(st)) < 0 ||
		    (st == 0 && write_all(sock, rep, rlen) < 0))
			return;
		free(req);
		free(rep);
	}
}

/*
 * Fork the layout server (x->lay is logd's end).  Called before logd
 * starts any thread, so the server is a single-threaded copy that may
 * fork in turn.  It closes @close_fd (the console's listening socket)
 * and touches none of logd's other descriptors.  0 or -1.
 */
static int lay_start(struct web *x, int close_fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = SIG_IGN };

		close(sv[0]);
		close(close_fd);
		/* logd's ^C and TERM are logd's: this ends with its socket */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		lay_server(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	x->lay = sv[0];
	x->lay_pid = pid;
	return 0;
}

/*
 * Lay @g out through the server.  The boxes are the VMs in first-seen
 * order.  Returns 0, or -1 (no positions; a server that fails to
 * answer in LAY_WAIT is given up for good, logged once).
 */
static int layout_remote(struct web *x, const struct cot_recq_graph *g,
			 struct lay *nl, struct epath *el, struct box *bl,
			 size_t *nbox, double *gw, double *gh)
{
	uint32_t h[4] = { LAY_MAGIC, (uint32_t)g->nnodes, (uint32_t)g->nedges,
			  0 };
	struct lnode *ln = calloc(g->nnodes + 1, sizeof(*ln));
	struct ledge *le = calloc(g->nedges + 1, sizeof(*le));
	uint32_t *bc = calloc(g->nnodes + 1, sizeof(*bc));
	struct lbox *lb = calloc(g->nnodes + 1, sizeof(*lb));
	double dim[2];
	uint32_t st = 1;
	size_t i, k;
	int rc = -1;

	*nbox = 0;
	if (!ln || !le || !bc || !lb || g->nnodes > 2 * MAX_EDGES ||
	    g->nedges > MAX_EDGES)
		goto out;
	for (i = 0; i < g->nnodes; i++) {
		const struct cot_recq_node *v = &g->nodes[i];

		ln[i].box = -1;
		ln[i].chars = (uint32_t)COT_MIN(
			COT_MAX(strlen(v->title), strlen(v->sub)), 48);
		ln[i].sub = v->sub[0] != 0;
		if (!v->box[0])
			continue;
		/* bounded by nbox <= nnodes */
		for (k = 0; k < *nbox; k++)
			if (!strcmp(bl[k].vm, v->box))
				break;
		if (k == *nbox) {
			bl[k].vm = v->box;
			bc[k] = (uint32_t)strlen(v->box);
			(*nbox)++;
		}
		ln[i].box = (int32_t)k;
	}
	for (i = 0; i < g->nedges; i++) {
		le[i].src = (uint32_t)g->edges[i].src;
		le[i].dst = (uint32_t)g->edges[i].dst;
	}
	h[3] = (uint32_t)*nbox;
	pthread_mutex_lock(&x->gvmu);
	if (x->lay < 0) {
		pthread_mutex_unlock(&x->gvmu);
		goto out;
	}
	if (write_all(x->lay, h, sizeof(h)) < 0 ||
	    write_all(x->lay, ln, g->nnodes * sizeof(*ln)) < 0 ||
	    write_all(x->lay, le, g->nedges * sizeof(*le)) < 0 ||
	    write_all(x->lay, bc, *nbox * sizeof(*bc)) < 0 ||
	    read_all(x->lay, &st, sizeof(st), LAY_WAIT) < 0 ||
	    (st == 0 &&
	     (read_all(x->lay, dim, sizeof(dim), LAY_WAIT) < 0 ||
	      read_all(x->lay, nl, g->nnodes * sizeof(*nl), LAY_WAIT) < 0 ||
	      read_all(x->lay, el, g->nedges * sizeof(*el), LAY_WAIT) < 0 ||
	      read_all(x->lay, lb, *nbox * sizeof(*lb), LAY_WAIT) < 0))) {
		log_warnx("web: the layout server does not answer; maps "
			  "come without positions from now on");
		close(x->lay);
		x->lay = -1;
		st = 1;
	}
	pthread_mutex_unlock(&x->gvmu);
	if (st != 0)
		goto out;
	for (i = 0; i < g->nedges; i++)
		if (el[i].n > MAX_PATH)
			goto out;
	for (k = 0; k < *nbox; k++) {
		bl[k].x = lb[k].x;
		bl[k].y = lb[k].y;
		bl[k].w = lb[k].w;
		bl[k].h = lb[k].h;
	}
	*gw = dim[0];
	*gh = dim[1];
	rc = 0;
out:
	if (rc < 0)
		*nbox = 0;
	free(ln);
	free(le);
	free(bc);
	free(lb);
	return rc;
}

static void write_graph(struct cot_json *j, const struct cot_recq_graph *g,
			const struct lay *nl, const struct epath *el,
			const struct box *bl, size_t nbox, double gw, double gh)
{
	uint64_t(*seen)[3] = calloc(g->nnodes + 1, sizeof(*seen));
	char b1[32], b2[32], s[128];
	size_t i, k;

	cot_json_obj(j);
	cot_json_ku64(j, "total_conns", g->total);
	cot_json_ku64(j, "shown_conns", g->shown);
	cot_json_ku64(j, "hidden_conns", g->hidden);
	cot_json_kdbl(j, "width", gw);
	cot_json_kdbl(j, "height", gh);
	for (i = 0; seen && i < g->nedges; i++)
		for (k = 0; k < 3; k++) {
			seen[g->edges[i].src][k] += g->edges[i].seen[k];
			if (g->edges[i].dst != g->edges[i].src)
				seen[g->edges[i].dst][k] += g->edges[i].seen[k];
		}
	cot_json_key(j, "nodes");
	cot_json_arr(j);
	for (i = 0; i < g->nnodes; i++) {
		const struct cot_recq_node *v = &g->nodes[i];
		double c = v->conns ? (double)v->conns : 1;

		cot_json_obj(j);
		cot_json_kstr(j, "id", v->id);
		cot_json_kstr(j, "title", v->title);
		cot_json_kstr(j, "subTitle", v->sub[0] ? v->sub : v->box);
		snprintf(s, sizeof(s), "%" PRIu64 " conn", v->conns);
		cot_json_kstr(j, "mainStat", s);
		cot_recfmt_bytes(b1, sizeof(b1), v->bytes_out);
		cot_recfmt_bytes(b2, sizeof(b2), v->bytes_in);
		snprintf(s, sizeof(s), "%s out / %s in", b1, b2);
		cot_json_kstr(j, "secondaryStat", s);
		if (seen) {
			cot_json_kdbl(j, "arc__nic", seen[i][0] / c);
			cot_json_kdbl(j, "arc__vmi", seen[i][1] / c);
			cot_json_kdbl(j, "arc__both", seen[i][2] / c);
		}
		cot_json_kstr(j, "vm", v->box);
		cot_json_kstr(j, "kind",
			      v->kind == 'w'   ? "workload"
			      : v->kind == 'n' ? "name"
					       : "address");
		cot_json_ku64(j, "conns", v->conns);
		if (nl) {
			cot_json_kdbl(j, "x", nl[i].x);
			cot_json_kdbl(j, "y", nl[i].y);
			cot_json_kdbl(j, "w", nl[i].w);
			cot_json_kdbl(j, "h", nl[i].h);
		}
		cot_json_obj_end(j);
	}
	cot_json_arr_end(j);
	cot_json_key(j, "edges");
	cot_json_arr(j);
	for (i = 0; i < g->nedges; i++) {
		const struct cot_recq_edge *e = &g->edges[i];

		cot_json_obj(j);
		snprintf(s, sizeof(s), "e%zu", i);
		cot_json_kstr(j, "id", s);
		cot_json_kstr(j, "source", g->nodes[e->src].id);
		cot_json_kstr(j, "target", g->nodes[e->dst].id);
		edge_main(s, sizeof(s), e);
		cot_json_kstr(j, "mainStat", s);
		edge_second(s, sizeof(s), e);
		cot_json_kstr(j, "secondaryStat", s);
		cot_json_kstr(j, "proto", cot_proto_name((unsigned)e->proto));
		cot_json_ku64(j, "port", (uint64_t)e->port);
		cot_json_ku64(j, "conns", e->conns);
		cot_json_ku64(j, "bytes_fwd", e->bytes_fwd);
		cot_json_ku64(j, "bytes_rev", e->bytes_rev);
		cot_json_key(j, "seen_by");
		cot_json_obj(j);
		cot_json_ku64(j, "nic", e->seen[0]);
		cot_json_ku64(j, "vmi", e->seen[1]);
		cot_json_ku64(j, "both", e->seen[2]);
		cot_json_obj_end(j);
		cot_json_kstr(j, "name", e->name);
		if (el) {
			if (!isnan(el[i].lx)) {
				cot_json_kdbl(j, "label_x", el[i].lx);
				cot_json_kdbl(j, "label_y", el[i].ly);
			}
			cot_json_key(j, "path");
			cot_json_arr(j);
			for (k = 0; k < el[i].n; k++) {
				cot_json_dbl(j, el[i].pt[k][0]);
				cot_json_dbl(j, el[i].pt[k][1]);
			}
			cot_json_arr_end(j);
		}
		cot_json_obj_end(j);
	}
	cot_json_arr_end(j);
	cot_json_key(j, "clusters");
	cot_json_arr(j);
	for (k = 0; k < nbox; k++) {
		cot_json_obj(j);
		cot_json_kstr(j, "vm", bl[k].vm);
		cot_json_kdbl(j, "x", bl[k].x);
		cot_json_kdbl(j, "y", bl[k].y);
		cot_json_kdbl(j, "w", bl[k].w);
		cot_json_kdbl(j, "h", bl[k].h);
		cot_json_obj_end(j);
	}
	cot_json_arr_end(j);
	cot_json_obj_end(j);
	free(seen);
}

static enum MHD_Result api_graph(struct web *x, struct MHD_Connection *c,
				 struct reader *rd)
{
	struct args a = { .graph = 1 };
	struct cot_recq_graph g;
	struct lay *nl = NULL;
	struct epath *el = NULL;
	struct box *bl = NULL;
	size_t nbox = 0;
	double gw = 0, gh = 0;
	struct cot_json j;
	int rc;

	if (parse_args(c, &a) < 0)
		return jerror(c, MHD_HTTP_BAD_REQUEST, a.bad);
	rc = cot_recq_graph(&rd->db, rd->st.indexed, &a.f, (uint32_t)a.max,
			    a.hide, a.nhide, &g);
	if (rc == -COT_E2BIG) {
		char why[128];

		snprintf(why, sizeof(why),
			 "more than %d connections selected: narrow the "
			 "window or filter",
			 COT_RECQ_MAP_MAX_CONNS);
		return jerror(c, MHD_HTTP_BAD_REQUEST, why);
	}
	if (rc < 0)
		return jerror(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
			      "database error");
	nl = calloc(g.nnodes + 1, sizeof(*nl));
	el = calloc(g.nedges + 1, sizeof(*el));
	bl = calloc(g.nnodes + 1, sizeof(*bl));
	if (!nl || !el || !bl ||
	    layout_remote(x, &g, nl, el, bl, &nbox, &gw, &gh) < 0) {
		log_warnx("web: graph layout failed; sending no positions");
		free(nl);
		free(el);
		nl = NULL;
		el = NULL;
		nbox = 0;
	}
	cot_json_init(&j);
	write_graph(&j, &g, nl, el, bl, nbox, gw, gh);
	free(nl);
	free(el);
	free(bl);
	cot_recq_graph_free(&g);
	return jsend(c, &j);
}

/* --- /api/flows ------------------------------------------------------------
 */

static void kaddr(struct cot_json *j, const char *k, const struct cot_addr *a)
{
	char b[COT_ADDR_STRLEN];

	cot_json_kstr(j, k, cot_addr_format(b, a, true) >= 0 ? b : "?");
}

static void kowner(struct cot_json *j, const char *end,
		   const struct cot_rec_owner *o)
{
	char k[16];

	snprintf(k, sizeof(k), "%s_pid", end);
	cot_json_key(j, k);
	if (o->pid)
		cot_json_u64(j, o->pid);
	else
		cot_json_null(j);
	snprintf(k, sizeof(k), "%s_comm", end);
	cot_json_kstr(j, k, o->comm);
	snprintf(k, sizeof(k), "%s_cgroup", end);
	cot_json_kstr(j, k, o->cgroup);
}

static int flow_row(void *ctx, const struct cot_recq_row *row)
{
	const struct cot_rec *r = &row->rec;
	struct cot_json *j = ctx;

	cot_json_obj(j);
	cot_json_ki64(j, "stream", row->stream);
	cot_json_kstr(j, "tracker", row->tracker);
	cot_json_ku64(j, "seq", r->seq);
	cot_json_kstr(j, "vm", r->vm);
	cot_json_kstr(j, "proto", cot_proto_name(r->proto));
	cot_json_ku64(j, "ipproto", r->ipproto);
	kaddr(j, "src", &r->src);
	cot_json_ku64(j, "sport", r->sport);
	kaddr(j, "dst", &r->dst);
	cot_json_ku64(j, "dport", r->dport);
	cot_json_ku64(j, "first_ns", r->first_ns);
	cot_json_ku64(j, "last_ns", r->last_ns);
	cot_json_ku64(j, "pkts_fwd", r->pkts_fwd);
	cot_json_ku64(j, "bytes_fwd", r->bytes_fwd);
	cot_json_ku64(j, "pkts_rev", r->pkts_rev);
	cot_json_ku64(j, "bytes_rev", r->bytes_rev);
	cot_json_kstr(j, "tcp_state", cot_tcp_state_name(r->tcp_state));
	cot_json_ku64(j, "tcp_flags_fwd", r->tcp_flags_fwd);
	cot_json_ku64(j, "tcp_flags_rev", r->tcp_flags_rev);
	cot_json_kstr(j, "end", cot_end_name(r->end));
	cot_json_kstr(j, "seen_by", cot_seen_name(r->seen_by));
	cot_json_ku64(j, "flags", r->flags);
	cot_json_ku64(j, "netns", r->netns);
	kowner(j, "src", &r->src_owner);
	kowner(j, "dst", &r->dst_owner);
	cot_json_kstr(j, "src_name", r->src_name);
	cot_json_kstr(j, "dst_name", r->dst_name);
	cot_json_ku64(j, "stored_ns", row->stored_ns);
	cot_json_kstr(j, "chain", cot_recq_chain_name(row->chain));
	cot_json_obj_end(j);
	return j->err;
}

static enum MHD_Result api_flows(struct MHD_Connection *c, struct reader *rd)
{
	struct args a = { .flows = 1 };
	struct cot_json j;
	uint64_t total = 0;
	int rc;

	if (parse_args(c, &a) < 0)
		return jerror(c, MHD_HTTP_BAD_REQUEST, a.bad);
	cot_json_init(&j);
	cot_json_obj(&j);
	cot_json_key(&j, "rows");
	cot_json_arr(&j);
	rc = cot_recq_flows(&rd->db, rd->st.indexed, &a.f, a.sort, a.desc,
			    a.offset, (uint32_t)a.limit, &total, flow_row, &j);
	if (rc < 0) {
		cot_json_free(&j);
		return jerror(c,
			      rc == -COT_ENOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR
						: MHD_HTTP_SERVICE_UNAVAILABLE,
			      "database error");
	}
	cot_json_arr_end(&j);
	/* more than COT_RECQ_MAX_TOTAL: counted no further */
	cot_json_ku64(&j, "total", total);
	cot_json_ku64(&j, "total_more", total > COT_RECQ_MAX_TOTAL);
	cot_json_ku64(&j, "offset", a.offset);
	cot_json_ku64(&j, "limit", a.limit);
	cot_json_kstr(&j, "sort", a.sort ? a.sort : "first_ns");
	cot_json_kstr(&j, "dir", a.desc ? "desc" : "asc");
	cot_json_obj_end(&j);
	return jsend(c, &j);
}

/* --- /api/health -----------------------------------------------------------
 */

static const char *col_text(struct cot_dbq *q, int c)
{
	const char *t = cot_dbq_text(q, c);

	return t ? t : "";
}

/*
 * Records of @stream stored at or after @since, among its newest
 * RATE_SCAN (seq above @last_seq - RATE_SCAN).  logd stores a stream in
 * seq order, so stored_ns does not fall as seq grows: a binary search
 * over seq (about 21 primary-key seeks) finds the first one, and the
 * count is a primary-key range.  0 on a database error.
 */
static const char recent_at[] = "SELECT stored_ns FROM records WHERE stream = "
				"?1 AND seq >= ?2 ORDER BY seq LIMIT 1";
static const char recent_cnt[] = "SELECT count(*) FROM records WHERE stream = "
				 "?1 AND seq >= ?2 AND seq <= ?3";

/* @at and @cnt: recent_at and recent_cnt prepared (NULL: 0). */
static uint64_t recent(struct cot_dbq *at, struct cot_dbq *cnt, int64_t stream,
		       uint64_t last_seq, uint64_t since)
{
	uint64_t lo = last_seq > RATE_SCAN ? last_seq - RATE_SCAN + 1 : 1;
	uint64_t hi = last_seq + 1, n = 0;

	if (!at || !cnt)
		return 0;
	/* the first seq in [lo, hi) whose next record is recent; bounded:
	 * log2(RATE_SCAN) + 1 rounds */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int old = 1;

		cot_dbq_reset(at);
		if (cot_dbq_bind_int64(at, 1, stream) < 0 ||
		    cot_dbq_bind_int64(at, 2, (int64_t)mid) < 0)
			return 0;
		if (cot_dbq_step(at) == 1)
			old = (uint64_t)cot_dbq_int64(at, 0) < since;
		else
			old = 0; /* none at or after mid */
		if (old)
			lo = mid + 1;
		else
			hi = mid;
	}
	cot_dbq_reset(cnt);
	if (cot_dbq_bind_int64(cnt, 1, stream) == 0 &&
	    cot_dbq_bind_int64(cnt, 2, (int64_t)lo) == 0 &&
	    cot_dbq_bind_int64(cnt, 3, (int64_t)last_seq) == 0 &&
	    cot_dbq_step(cnt) == 1)
		n = (uint64_t)cot_dbq_int64(cnt, 0);
	return n;
}

static enum MHD_Result api_health(struct MHD_Connection *c, struct reader *rd)
{
	static const char sql[] =
		"SELECT s.id, s.tracker, s.epoch, s.last_seq, "
		"(SELECT r.stored_ns FROM records r WHERE r.stream = s.id "
		"ORDER BY r.seq DESC LIMIT 1), "
		"(SELECT count(*) FROM events e WHERE e.stream = s.id AND "
		"e.kind = 'gap'), "
		"(SELECT count(*) FROM events e WHERE e.stream = s.id AND "
		"e.kind <> 'gap') "
		"FROM streams s ORDER BY s.tracker, s.epoch LIMIT 10000";
	struct args a = { 0 };
	uint64_t now, minute = 0, recs = 0;
	struct cot_dbq *q = NULL, *at = NULL, *cnt = NULL;
	struct cot_json j;
	int step;

	if (parse_args(c, &a) < 0)
		return jerror(c, MHD_HTTP_BAD_REQUEST, a.bad);
	now = cot_clock_real_ns();
	/* a failed one makes the rates 0, not the answer */
	if (cot_dbq_prepare(&rd->db, recent_at, &at) < 0)
		at = NULL;
	if (cot_dbq_prepare(&rd->db, recent_cnt, &cnt) < 0)
		cnt = NULL;
	if (cot_dbq_prepare(&rd->db, sql, &q) < 0) {
		cot_dbq_free(at);
		cot_dbq_free(cnt);
		return jerror(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			      "database error");
	}
	cot_json_init(&j);
	cot_json_obj(&j);
	cot_json_ku64(&j, "now_ns", now);
	cot_json_key(&j, "trackers");
	cot_json_arr(&j);
	/* bounded by LIMIT */
	while ((step = cot_dbq_step(q)) == 1) {
		uint64_t m = recent(at, cnt, cot_dbq_int64(q, 0),
				    (uint64_t)cot_dbq_int64(q, 3),
				    now - 60000000000ull);

		cot_json_obj(&j);
		cot_json_ki64(&j, "stream", cot_dbq_int64(q, 0));
		cot_json_kstr(&j, "tracker", col_text(q, 1));
		cot_json_ku64(&j, "epoch", (uint64_t)cot_dbq_int64(q, 2));
		cot_json_ku64(&j, "last_seq", (uint64_t)cot_dbq_int64(q, 3));
		cot_json_key(&j, "last_stored_ns");
		if (cot_dbq_null(q, 4))
			cot_json_null(&j);
		else
			cot_json_u64(&j, (uint64_t)cot_dbq_int64(q, 4));
		cot_json_ku64(&j, "gaps", (uint64_t)cot_dbq_int64(q, 5));
		cot_json_ku64(&j, "anomalies", (uint64_t)cot_dbq_int64(q, 6));
		cot_json_kdbl(&j, "records_per_s", (double)m / 60);
		cot_json_obj_end(&j);
		minute += m;
		recs += (uint64_t)cot_dbq_int64(q, 3);
	}
	cot_dbq_free(q);
	cot_dbq_free(at);
	cot_dbq_free(cnt);
	cot_json_arr_end(&j);
	if (step != 0) {
		cot_json_free(&j);
		return jerror(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			      "database error");
	}
	cot_json_kdbl(&j, "records_per_s", (double)minute / 60);
	cot_json_ku64(&j, "records", recs);
	/* events by kind, stream or not (handshakes, unknown certs) */
	cot_json_key(&j, "events");
	cot_json_obj(&j);
	if (cot_dbq_prepare(&rd->db,
			    "SELECT kind, count(*) FROM events GROUP BY "
			    "kind ORDER BY kind LIMIT 100",
			    &q) == 0) {
		/* bounded by LIMIT */
		while (cot_dbq_step(q) == 1)
			cot_json_ku64(&j, col_text(q, 0),
				      (uint64_t)cot_dbq_int64(q, 1));
		cot_dbq_free(q);
	}
	cot_json_obj_end(&j);
	cot_json_obj_end(&j);
	return jsend(c, &j);
}

/* One API request on @rd, in one read snapshot. */
static enum MHD_Result api(struct web *x, struct MHD_Connection *c,
			   const char *url, struct reader *rd)
{
	enum MHD_Result res;

	if (cot_db_read_begin(&rd->db) < 0)
		res = jerror(c, MHD_HTTP_SERVICE_UNAVAILABLE, "database error");
	else if (!strcmp(url, "/api/graph"))
		res = api_graph(x, c, rd);
	else if (!strcmp(url, "/api/flows"))
		res = api_flows(c, rd);
	else if (!strcmp(url, "/api/health"))
		res = api_health(c, rd);
	else
		res = jerror(c, MHD_HTTP_NOT_FOUND, "no such API");
	cot_db_read_end(&rd->db);
	if (cot_db_lost(&rd->db)) {
		log_warnx("web: lost the database connection; opening it "
			  "again at the next request");
		reader_close(rd);
	}
	return res;
}

/* --- dispatch --------------------------------------------------------------
 */

static const char *bearer(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	return h + 7;
}

static enum MHD_Result login(const struct web *x, struct MHD_Connection *c,
			     const char *tok)
{
	struct MHD_Response *r;
	enum MHD_Result rc;
	char cookie[400];

	if (!token_ok(x, tok))
		return text(c, MHD_HTTP_UNAUTHORIZED, "unauthorized\n");
	/* token_ok: at most 256 printable characters without ';' */
	snprintf(cookie, sizeof(cookie),
		 "%s=%s; Path=/; HttpOnly; Secure; SameSite=Strict",
		 cookie_name, tok);
	r = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "",
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	headers(r, "text/plain");
	MHD_add_response_header(r, "Set-Cookie", cookie);
	MHD_add_response_header(r, "Location", "/");
	rc = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, r);
	MHD_destroy_response(r);
	OPENSSL_cleanse(cookie, sizeof(cookie));
	return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	const char *tok;
	struct reader *rd;
	size_t i;
	int is_api = !strncmp(url, "/api/", 5);
	struct web *x = cls;

	(void)version;
	(void)upload;
	(void)state;
	if (*upload_len)
		return text(c, MHD_HTTP_CONTENT_TOO_LARGE, "no bodies\n");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
	tok = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
	if (!strcmp(url, "/") && tok)
		return login(x, c, tok);
	tok = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, cookie_name);
	if (!token_ok(x, tok) && !(is_api && token_ok(x, bearer(c))))
		return is_api ? jerror(c, MHD_HTTP_UNAUTHORIZED, "unauthorized")
			      : text(c, MHD_HTTP_UNAUTHORIZED,
				     "unauthorized\n");
	if (is_api) {
		rd = reader(x);
		if (!rd)
			return jerror(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				      "cannot open the database");
		return api(x, c, url, rd);
	}
	if (!strcmp(url, "/"))
		url = "/index.html";
	/* bounded: the embedded assets */
	for (i = 0; i < logd_nassets; i++)
		if (!strcmp(url + 1, logd_assets[i].path))
			return reply(c, MHD_HTTP_OK, logd_assets[i].type,
				     logd_assets[i].data, logd_assets[i].len,
				     MHD_RESPMEM_PERSISTENT);
	return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/*
 * libmicrohttpd's messages: never one that could hold the token (a URL,
 * a header); the rest as warnings.
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strstr(msg, "token") || strstr(msg, "/?") ||
	    strstr(msg, "Bearer") || strstr(msg, cookie_name))
		return;
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("web: %s", msg);
}

int logd_web_start(struct logd_web *w, int fd)
{
	struct web *x = calloc(1, sizeof(*x));

	if (!x) {
		log_warnx("--web: out of memory");
		return -1;
	}
	w->priv = x;
	x->cfg = w;
	pthread_mutex_init(&x->gvmu, NULL);
	pthread_mutex_init(&x->stmu, NULL);
	if (load_token(x) < 0)
		return -1;
	x->cert = slurp(w->cert);
	x->key = slurp(w->key);
	if (!x->cert || !x->key) {
		log_warnx("--web: cannot read %s", !x->cert ? w->cert : w->key);
		return -1;
	}
	x->lay = -1;
	if (lay_start(x, fd) < 0) {
		log_warn("--web: layout server");
		return -1;
	}
	x->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_TLS |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, handle, x, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_HTTPS_MEM_CERT,
		x->cert, MHD_OPTION_HTTPS_MEM_KEY, x->key,
		MHD_OPTION_HTTPS_PRIORITIES,
		"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)WEB_THREADS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)WEB_CONNS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
		MHD_OPTION_END);
	OPENSSL_cleanse(x->key, strlen(x->key));
	if (!x->d) {
		log_warnx("--web: libmicrohttpd did not start (certificate "
			  "or key not usable by GnuTLS?)");
		return -1;
	}
	log_info("web console: https://%s/ (token in %s)", w->shown,
		 w->token_path);
	return 0;
}

void logd_web_stop(struct logd_web *w)
{
	struct web *x = w->priv;
	int i;

	if (!x)
		return;
	w->priv = NULL;
	if (!x->d)
		goto out;
	MHD_stop_daemon(x->d); /* joins its threads */
	x->d = NULL;
	for (i = 0; i < x->nreaders; i++) {
		reader_close(x->readers[i]);
		free(x->readers[i]);
	}
	x->nreaders = 0;
	if (x->lay >= 0)
		close(x->lay); /* the server ends */
	x->lay = -1;
	if (x->lay_pid > 0)
		while (waitpid(x->lay_pid, NULL, 0) < 0 && errno == EINTR)
			;
out:
	free(x->cert);
	free(x->key);
	free(x);
}
