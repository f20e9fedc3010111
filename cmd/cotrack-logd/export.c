// SPDX-License-Identifier: MIT
/*
 * --ipfix: every committed record, once, to an IPFIX collector.
 *
 * A thread of its own with its own read-only connection to the
 * database: it never holds the writers' lock.  It reads what is
 * committed, stream by stream in seq order after a cursor per stream,
 * hands it to host/ipfix, and moves the cursor once a batch is sent.
 * The cursors live in a state file next to the database (written
 * atomically: a temporary file renamed over it), so a restarted logd
 * goes on where it stopped, and deleting the file exports everything
 * again.  What "once" means per transport is in docs/logd.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/clock.h"
#include "host/db.h"
#include "host/ipfix.h"
#include "host/log.h"
#include "host/recrow.h"
#include "logd.h"

#define POLL_MS	     250
#define BATCH	     1000	    /* records per stream per round */
#define REOPEN_MS    2000	    /* after a transport error */
#define TEMPLATES_NS 30000000000ULL /* UDP: templates every 30 s */
#define MAX_STREAMS  65536	    /* cursors kept; more streams are logged */
#define MSG_RECS     12 /* UDP: records per message (< 1500 bytes) */

struct cursor {
	int64_t stream;
	uint64_t seq;
};

struct exp {
	struct logd_export *cfg;
	struct cot_store st; /* SQLite */
	struct cot_db db;    /* the reads, on either store */
	struct cot_dbq *streams, *q;
	struct cot_ipfix *x;
	struct cursor *cur;
	size_t ncur, capcur;
	bool dirty, tcp, warned_full;
	uint64_t last_templates;
	uint64_t next_ns; /* UDP pacing: when the next message may go */
};

/*
 * UDP has no flow control: a burst larger than the collector's socket
 * buffer is lost.  So messages of MSG_RECS records go out at most at
 * cfg->rate records per second (TCP is not paced: it has its own).
 */
static void pace(struct exp *e, uint32_t recs)
{
	uint64_t now = cot_clock_mono_ns();

	if (e->tcp || !e->cfg->rate)
		return;
	if (e->next_ns > now) {
		uint64_t d = e->next_ns - now;
		struct timespec ts = { (time_t)(d / 1000000000ULL),
				       (long)(d % 1000000000ULL) };

		nanosleep(&ts, NULL);
	} else {
		e->next_ns = now;
	}
	e->next_ns += (uint64_t)recs * 1000000000ULL / e->cfg->rate;
}

static struct cursor *cursor_of(struct exp *e, int64_t stream)
{
	struct cursor *c;

	/* Bounded by ncur <= MAX_STREAMS. */
	for (size_t i = 0; i < e->ncur; i++)
		if (e->cur[i].stream == stream)
			return &e->cur[i];
	if (e->ncur == MAX_STREAMS) {
		if (!e->warned_full)
			log_warnx("ipfix: more than %d streams: the newest "
				  "are not exported",
				  MAX_STREAMS);
		e->warned_full = true;
		return NULL;
	}
	if (e->ncur == e->capcur) {
		size_t n = e->capcur ? e->capcur * 2 : 64;
		struct cursor *p = realloc(e->cur, n * sizeof(*p));

		if (!p)
			return NULL;
		e->cur = p;
		e->capcur = n;
	}
	c = &e->cur[e->ncur++];
	c->stream = stream;
	c->seq = 0;
	return c;
}

/* The state file: one "STREAM SEQ" line per stream.  Missing: nothing
 * exported yet.  Bad lines are refused (logged), not guessed at. */
static int load_state(struct exp *e)
{
	FILE *f = fopen(e->cfg->state, "r");
	char line[128];
	int n = 0;

	if (!f)
		return errno == ENOENT ? 0 : -1;
	/* Bounded by the file; each line at most one cursor. */
	while (fgets(line, sizeof(line), f)) {
		int64_t s;
		uint64_t q;
		struct cursor *c;

		n++;
		if (sscanf(line, "%" SCNd64 " %" SCNu64, &s, &q) != 2 ||
		    s <= 0) {
			log_warnx("ipfix: %s line %d: not 'STREAM SEQ'",
				  e->cfg->state, n);
			fclose(f);
			return -1;
		}
		c = cursor_of(e, s);
		if (c)
			c->seq = q;
	}
	fclose(f);
	return 0;
}

static int save_state(struct exp *e)
{
	char tmp[sizeof(e->cfg->state) + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", e->cfg->state);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	for (size_t i = 0; i < e->ncur; i++)
		fprintf(f, "%" PRId64 " %" PRIu64 "\n", e->cur[i].stream,
			e->cur[i].seq);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	if (rename(tmp, e->cfg->state) < 0) {
		unlink(tmp);
		return -1;
	}
	e->dirty = false;
	return 0;
}

static bool open_exporter(struct exp *e)
{
	char err[256];

	e->x = cot_ipfix_open(e->cfg->target, false, 0, err, sizeof(err));
	if (!e->x) {
		log_warnx("ipfix: %s", err);
		return false;
	}
	e->last_templates = cot_clock_mono_ns();
	log_info("ipfix: exporting to %s", e->cfg->target);
	return true;
}

static void drop_exporter(struct exp *e, const char *err)
{
	log_warnx("ipfix: %s: %s (reconnecting)", e->cfg->target, err);
	cot_ipfix_close(e->x);
	e->x = NULL;
	atomic_fetch_add(&e->cfg->errors, 1);
}

/*
 * One stream's records after its cursor, at most BATCH: sent, then the
 * cursor moves.  Returns records sent, or -1 (transport error).
 */
static int export_stream(struct exp *e, struct cursor *c)
{
	struct cot_dbq *q = e->q;
	char err[256];
	uint64_t last = c->seq;
	int n = 0, rc;

	cot_dbq_reset(q);
	if (cot_dbq_bind_int64(q, 1, c->stream) < 0 ||
	    cot_dbq_bind_int64(q, 2, (int64_t)c->seq) < 0 ||
	    cot_dbq_bind_int64(q, 3, BATCH) < 0)
		return -2;
	/* Bounded by LIMIT BATCH. */
	while ((rc = cot_dbq_step(q)) == 1) {
		struct cot_rec r;

		if (cot_rec_from_row(q, 0, &r) < 0) {
			/* A row this logd cannot read: skipped, said. */
			log_warnx("ipfix: stream %" PRId64 " seq %lld: bad row",
				  c->stream, (long long)cot_dbq_int64(q, 0));
			last = (uint64_t)cot_dbq_int64(q, 0);
			continue;
		}
		if (cot_ipfix_add(e->x, &r, err, sizeof(err)) < 0) {
			drop_exporter(e, err);
			return -1;
		}
		last = r.seq;
		n++;
		if (!e->tcp && n % MSG_RECS == 0) {
			pace(e, MSG_RECS);
			if (cot_ipfix_flush(e->x, err, sizeof(err)) < 0) {
				drop_exporter(e, err);
				return -1;
			}
		}
	}
	cot_dbq_reset(q);
	if (rc != 0)
		return -2;
	if (last == c->seq)
		return 0;
	if (n % MSG_RECS)
		pace(e, (uint32_t)(n % MSG_RECS));
	if (cot_ipfix_flush(e->x, err, sizeof(err)) < 0) {
		drop_exporter(e, err);
		return -1;
	}
	c->seq = last;
	e->dirty = true;
	atomic_fetch_add(&e->cfg->sent, (uint64_t)n);
	return n;
}

/*
 * One round over every stream, in one read snapshot.  Returns records
 * sent, -1 (transport error) or -2 (database error, said).  A stream
 * with more than BATCH waiting is read again at once; until logd stops,
 * or, in the @final round, to its end (bounded by what is committed).
 */
static int round_once(struct exp *e, bool final)
{
	int total = 0, rc, n = 0;

	if (cot_db_read_begin(&e->db) < 0) {
		log_warnx("ipfix: reading: %s", cot_db_errmsg(&e->db));
		return -2;
	}
	cot_dbq_reset(e->streams);
	/* Bounded by the streams table (and MAX_STREAMS cursors). */
	while ((rc = cot_dbq_step(e->streams)) == 1) {
		struct cursor *c = cursor_of(e, cot_dbq_int64(e->streams, 0));

		if (!c)
			continue;
		do {
			n = export_stream(e, c);
			if (n < 0)
				break;
			total += n;
		} while (n == BATCH && (final || !atomic_load(e->cfg->stop)));
		if (n < 0)
			break;
	}
	if (rc < 0 || n == -2)
		log_warnx("ipfix: reading records: %s", cot_db_errmsg(&e->db));
	cot_dbq_reset(e->streams);
	cot_db_read_end(&e->db);
	return rc < 0 ? -2 : n < 0 ? n : total;
}

/* Close the database (and its statements). */
static void db_close(struct exp *e)
{
	cot_dbq_free(e->streams);
	cot_dbq_free(e->q);
	e->streams = e->q = NULL;
	cot_store_close_reader(&e->st, &e->db);
}

/* Open the database read-only and prepare the two reads.  0 or -1. */
static int db_open(struct exp *e)
{
	char err[256];

	if (cot_store_open_reader(&e->st, &e->db, e->cfg->db, err,
				  sizeof(err)) < 0) {
		log_warnx("ipfix: %s", err);
		return -1;
	}
	if (cot_dbq_prepare(&e->db, "SELECT id FROM streams ORDER BY id",
			    &e->streams) < 0 ||
	    cot_dbq_prepare(&e->db,
			    "SELECT " COT_STORE_REC_COLS
			    " FROM records r WHERE r.stream = ?1 AND "
			    "r.seq > ?2 ORDER BY r.seq LIMIT ?3",
			    &e->q) < 0) {
		log_warnx("ipfix: %s", cot_db_errmsg(&e->db));
		db_close(e);
		return -1;
	}
	return 0;
}

static void *export_thread(void *arg)
{
	struct exp e = { .cfg = arg };
	char err[256], h[256], p[8];
	uint64_t retry_at = 0, db_at = 0;
	int n;

	/* Checked by main already. */
	(void)cot_ipfix_parse_target(e.cfg->target, &e.tcp, h, sizeof(h), p,
				     sizeof(p));

	if (load_state(&e) < 0) {
		log_warnx("ipfix: cannot use the state file %s", e.cfg->state);
		return NULL;
	}
	if (db_open(&e) < 0) {
		free(e.cur);
		return NULL;
	}
	/* Bounded by the stop flag, polled every POLL_MS. */
	while (!atomic_load(e.cfg->stop)) {
		uint64_t now = cot_clock_mono_ns();

		if (!e.streams && now >= db_at && db_open(&e) < 0)
			db_at = now + REOPEN_MS * 1000000ULL;
		if (!e.x && now >= retry_at && !open_exporter(&e))
			retry_at = now + REOPEN_MS * 1000000ULL;
		if (e.x && now - e.last_templates >= TEMPLATES_NS) {
			if (cot_ipfix_templates(e.x, err, sizeof(err)) < 0)
				drop_exporter(&e, err);
			else
				e.last_templates = now;
		}
		n = e.x && e.streams ? round_once(&e, false) : 0;
		if (n == -1)
			retry_at = cot_clock_mono_ns() + REOPEN_MS * 1000000ULL;
		if (n == -2 && e.db.pg) {
			/* a lost PostgreSQL connection: a new one, later */
			db_close(&e);
			db_at = cot_clock_mono_ns() + REOPEN_MS * 1000000ULL;
		}
		if (e.dirty && save_state(&e) < 0)
			log_warn("ipfix: %s", e.cfg->state);
		usleep(POLL_MS * 1000);
	}
	/* What was committed up to the stop: sent before leaving. */
	if (e.x && e.streams && round_once(&e, true) >= 0 && e.dirty &&
	    save_state(&e) < 0)
		log_warn("ipfix: %s", e.cfg->state);
	db_close(&e);
	cot_ipfix_close(e.x);
	free(e.cur);
	log_info("ipfix: %" PRIu64 " records exported, %d transport errors",
		 (uint64_t)atomic_load(&e.cfg->sent),
		 atomic_load(&e.cfg->errors));
	return NULL;
}

int logd_export_start(struct logd_export *x)
{
	struct exp probe = { .cfg = x };
	int rc;

	/* A state file we cannot read stops logd now, not later. */
	rc = load_state(&probe);
	free(probe.cur);
	if (rc < 0) {
		log_warnx("ipfix: cannot use the state file %s", x->state);
		return -1;
	}
	if (pthread_create(&x->thread, NULL, export_thread, x) != 0) {
		log_warnx("ipfix: cannot start the exporter thread");
		return -1;
	}
	x->running = true;
	return 0;
}

void logd_export_join(struct logd_export *x)
{
	if (x->running)
		pthread_join(x->thread, NULL);
	x->running = false;
}
