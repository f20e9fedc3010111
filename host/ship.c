// SPDX-License-Identifier: MIT
/* host/ship: the tracker's log shipper (see ship.h). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cotrack/chain.h"
#include "cotrack/failover.h"
#include "clock.h"
#include "log.h"
#include "ship.h"
#include "ship_proto.h"
#include "spool.h"
#include "tls.h"

#define WINDOW_RECORDS	 131072 /* records sent and not yet acked */
#define WINDOW_BATCHES	 256	/* batches in flight: bounds logd's acks */
#define HELLO_TIMEOUT_MS 10000
#define LOST_RANGES	 16   /* beyond this, the last range absorbs new ones */
#define SPOOL_RETRY_MS	 1000 /* after a failed spool write */
#define COMPACT_RETRY_MS 30000 /* after a failed compaction */

struct cot_shipper {
	struct cot_shipper_params p;
	/* The log servers (copies); srv[fo.cur] is the one in use. */
	struct {
		char *host, *port;
	} srv[COT_SHIP_MAX_SERVERS];
	unsigned nsrv;
	struct cot_failover fo; /* which server next, and when (worker) */
	struct cot_tls_ctx *tls;
	struct cot_spool *spool;
	pthread_t thread;
	int evfd;

	pthread_mutex_t mu;
	pthread_cond_t acked_cv;
	/* Ring of waiting records: seq first_seq .. first_seq + n - 1. */
	struct cot_spool_rec *ring;
	uint32_t cap, head, n;
	uint64_t first_seq;
	uint8_t hash_before_first[COT_CHAIN_LEN];
	uint64_t last_seq;
	uint8_t last_hash[COT_CHAIN_LEN];
	uint64_t epoch;
	int fresh; /* epoch began in this process */
	uint64_t spooled_seq, sent_seq, acked_seq;
	/* Dropped, never-sent ranges to name in LOST frames (oldest first). */
	struct {
		uint64_t first, last;
	} lost[LOST_RANGES];
	uint32_t nlost;
	int wake_pending, stop;
	struct cot_shipper_stats st;

	/* Worker-only state. */
	struct cot_tls *conn;
	int restarted_hello_sent;
	int64_t next_try_ms;
	/*
	 * The spool file holds seqs up to file_seq, contiguous, sealed
	 * under the current epoch unless spool_stale (a new epoch whose
	 * empty file could not be written yet).  While writes fail
	 * (spool_failing), records are released to the connection without
	 * waiting for the file (spooled_seq runs ahead of file_seq) and
	 * the file is retried from file_seq + 1 once per SPOOL_RETRY_MS.
	 */
	uint64_t file_seq;
	int spool_stale, spool_failing;
	int64_t spool_retry_ms, compact_retry_ms;
	/*
	 * Last seq of each batch sent and not yet acknowledged, oldest first
	 * (a ring).  One ACK may cover several batches (logd commits what
	 * has arrived together), so acks pop by seq, not one per ACK.
	 */
	uint64_t batch_end[WINDOW_BATCHES];
	uint32_t batch_head, inflight_batches;
	int64_t last_ack_ms; /* last ACK, or first batch sent after one */
	uint8_t *frame;	     /* COT_FRAME_HDR + COT_FRAME_MAX */
	struct cot_spool_rec *scratch; /* COT_BATCH_MAX entries */
};

_Static_assert(COT_SHIP_MAX_SERVERS == COT_FO_MAX, "one limit of servers");

static int64_t mono_ms(void)
{
	return (int64_t)(cot_clock_mono_ns() / 1000000);
}

/*
 * How long the next batch or LOST frame may take to write: the ack
 * timeout, and while batches wait for an acknowledgement no longer than
 * until the acknowledgement is overdue (a logd that stopped reading is
 * left about ack_timeout_ms after its last ACK, not one write later).
 */
static int write_timeout(const struct cot_shipper *s)
{
	int64_t left;

	if (!s->inflight_batches)
		return (int)s->p.ack_timeout_ms;
	left = s->last_ack_ms + s->p.ack_timeout_ms - mono_ms();
	return (int)COT_MAX(1, COT_MIN(left, (int64_t)s->p.ack_timeout_ms));
}

/* Connect, handshake and WELCOME: 10 s, or the ack timeout if less. */
static int hello_timeout(const struct cot_shipper *s)
{
	return (int)COT_MIN(HELLO_TIMEOUT_MS, s->p.ack_timeout_ms);
}

/*
 * One frame from logd (header and payload) within @timeout_ms in all:
 * cot_frame_read() gives each of its two reads the whole timeout.
 */
static int frame_read(struct cot_shipper *s, uint8_t *type, uint32_t *len,
		      int timeout_ms)
{
	uint8_t hdr[COT_FRAME_HDR];
	int64_t deadline = mono_ms() + timeout_ms;
	int rc;

	rc = cot_tls_read(s->conn, hdr, sizeof(hdr), timeout_ms);
	if (rc < 0)
		return rc;
	rc = cot_frame_hdr_parse(hdr, type, len);
	if (rc < 0)
		return rc;
	if (*len > COT_FRAME_MAX)
		return -COT_EMSGSIZE;
	if (!*len)
		return 0;
	return cot_tls_read(s->conn, s->frame, *len,
			    (int)COT_MAX(1, deadline - mono_ms()));
}

static struct cot_spool_rec *at(struct cot_shipper *s, uint64_t seq)
{
	return &s->ring[(s->head + (seq - s->first_seq)) % s->cap];
}

/* Chain value before @seq (which is in the ring, or first_seq). */
static const uint8_t *hash_before(struct cot_shipper *s, uint64_t seq)
{
	return seq == s->first_seq ? s->hash_before_first
				   : at(s, seq - 1)->hash;
}

static void set_error(struct cot_shipper *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_error(struct cot_shipper *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->mu);
	va_start(ap, fmt);
	vsnprintf(s->st.last_error, sizeof(s->st.last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->mu);
}

/* Drop ring entries up to @seq (acked, or held by logd).  Under mu. */
static void drop_upto(struct cot_shipper *s, uint64_t seq)
{
	struct cot_spool_rec *e;

	/* Bounded by n, the ring's fill. */
	while (s->n && s->first_seq <= seq) {
		e = &s->ring[s->head];
		memcpy(s->hash_before_first, e->hash, COT_CHAIN_LEN);
		s->head = (s->head + 1) % s->cap;
		s->n--;
		s->first_seq++;
	}
	if (!s->n)
		s->first_seq = s->last_seq + 1;
}

/* Remember that @seq was dropped before it was ever sent.  Under mu. */
static void note_lost(struct cot_shipper *s, uint64_t seq)
{
	if (s->nlost && s->lost[s->nlost - 1].last + 1 == seq) {
		s->lost[s->nlost - 1].last = seq;
	} else if (s->nlost < LOST_RANGES) {
		s->lost[s->nlost].first = seq;
		s->lost[s->nlost].last = seq;
		s->nlost++;
	} else {
		/* Out of slots: widen the last range (logd's gaps are exact).
		 */
		s->lost[s->nlost - 1].last = seq;
	}
}

static void wake(struct cot_shipper *s)
{
	uint64_t one = 1;

	if (!s->wake_pending) {
		s->wake_pending = 1;
		if (write(s->evfd, &one, sizeof(one)) < 0)
			s->wake_pending = 0;
	}
}

int cot_shipper_add(struct cot_shipper *s, const struct cot_rec *r,
		    uint64_t *seq)
{
	struct cot_rec copy = *r;
	struct cot_spool_rec *e;
	int dropped = 0;

	pthread_mutex_lock(&s->mu);
	if (s->n == s->cap) {
		/* Full spool: drop the oldest waiting record (ship.h). */
		uint64_t lost = s->first_seq;

		/*
		 * A record already sent may still be committed; LOST names
		 * only records that never left.  If the connection fails
		 * before an in-flight one is acked, logd reports the gap.
		 */
		if (lost > s->sent_seq)
			note_lost(s, lost);
		s->st.dropped++;
		if ((s->st.dropped & (s->st.dropped - 1)) == 0)
			log_warnx("spool full (%u records waiting for logd): "
				  "dropped the oldest, seq %" PRIu64
				  "; %" PRIu64 " dropped so far",
				  s->cap, lost, s->st.dropped);
		drop_upto(s, lost);
		dropped = 1;
	}
	copy.seq = ++s->last_seq;
	if (!s->n)
		s->first_seq = copy.seq;
	e = &s->ring[(s->head + s->n) % s->cap];
	e->seq = copy.seq;
	e->added_ns = cot_clock_real_ns();
	e->len = (uint32_t)cot_rec_encode(e->enc, &copy);
	cot_chain_next_fast(e->hash, s->last_hash, e->enc, e->len);
	memcpy(s->last_hash, e->hash, COT_CHAIN_LEN);
	s->n++;
	if (seq)
		*seq = copy.seq;
	wake(s);
	pthread_mutex_unlock(&s->mu);
	return dropped;
}

int cot_shipper_flush(struct cot_shipper *s, int timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&s->mu);
	while (s->acked_seq < s->last_seq && rc == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&s->acked_cv, &s->mu);
		else if (pthread_cond_timedwait(&s->acked_cv, &s->mu, &ts) ==
			 ETIMEDOUT)
			rc = s->acked_seq < s->last_seq ? -COT_EAGAIN : 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void cot_shipper_stats(struct cot_shipper *s, struct cot_shipper_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->epoch = s->epoch;
	st->last_seq = s->last_seq;
	st->acked_seq = s->acked_seq;
	st->waiting = s->n;
	memcpy(st->last_hash, s->last_hash, COT_CHAIN_LEN);
	pthread_mutex_unlock(&s->mu);
}

/* --- spool --------------------------------------------------------- */

static const struct cot_spool_rec *scratch_get(void *ctx, size_t i)
{
	return (const struct cot_spool_rec *)ctx + i;
}

static int load_cb(void *ctx, const struct cot_spool_rec *r,
		   const uint8_t prev[COT_CHAIN_LEN])
{
	struct cot_shipper *s = ctx;

	if (s->n == s->cap) {
		/* More in the spool than we may hold: same policy. */
		note_lost(s, s->first_seq);
		s->st.dropped++;
		drop_upto(s, s->first_seq);
	}
	if (!s->n) {
		s->first_seq = r->seq;
		memcpy(s->hash_before_first, prev, COT_CHAIN_LEN);
	}
	s->ring[(s->head + s->n) % s->cap] = *r;
	s->n++;
	s->last_seq = r->seq;
	memcpy(s->last_hash, r->hash, COT_CHAIN_LEN);
	return 0;
}

/*
 * Write records added since the last pass to the spool, one block per
 * COT_BATCH_MAX records.  Returns 1 if it wrote something, 0 if there
 * was nothing to write or the write failed (then it is retried after
 * SPOOL_RETRY_MS; destroy() tries once more at once).
 */
static int spool_new(struct cot_shipper *s)
{
	uint8_t prev[COT_CHAIN_LEN];
	uint64_t from, epoch;
	uint32_t k, i;
	int rc, rewrite;

	pthread_mutex_lock(&s->mu);
	if (!s->spool) {
		s->spooled_seq = s->last_seq;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	from = COT_MAX(s->file_seq + 1, s->first_seq);
	if (!s->n || from > s->last_seq) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (s->spool_failing && !s->stop && mono_ms() < s->spool_retry_ms) {
		/* Not yet: ship from memory meanwhile. */
		s->spooled_seq = s->last_seq;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	k = (uint32_t)COT_MIN(s->last_seq - from + 1, (uint64_t)COT_BATCH_MAX);
	for (i = 0; i < k; i++)
		s->scratch[i] = *at(s, from + i);
	memcpy(prev, hash_before(s, from), COT_CHAIN_LEN);
	/*
	 * Records that left memory (dropped when full, or acknowledged while
	 * the file could not be written) before they reached the file leave
	 * a hole; the file must stay contiguous, and every record in it is
	 * older than the hole, so start the file afresh from here.  So
	 * does a new epoch whose file is still the old one.
	 */
	rewrite = s->spool_stale ||
		  (from > s->file_seq + 1 && cot_spool_records(s->spool));
	epoch = s->epoch;
	pthread_mutex_unlock(&s->mu);

	if (rewrite)
		rc = cot_spool_rewrite(s->spool, epoch, k, scratch_get,
				       s->scratch, prev);
	else
		rc = cot_spool_append(s->spool, s->scratch, k, prev);
	if (rc < 0) {
		/*
		 * The file is still valid up to file_seq (host/spool.h); the
		 * records stay in memory and are still shipped: only a crash
		 * before they are acked would lose them.  Say so (once per
		 * run of failures) and go on.
		 */
		if (!s->spool_failing)
			log_warnx("spool write failed: %s; records are kept "
				  "in memory only until it works again",
				  strerror(-rc));
		set_error(s, "spool write: %s", strerror(-rc));
		pthread_mutex_lock(&s->mu);
		s->spool_failing = 1;
		s->spool_retry_ms = mono_ms() + SPOOL_RETRY_MS;
		s->spooled_seq = s->last_seq;
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	pthread_mutex_lock(&s->mu);
	s->file_seq = from + k - 1;
	s->spool_stale = 0;
	if (s->spooled_seq < s->file_seq)
		s->spooled_seq = s->file_seq;
	if (s->spool_failing) {
		log_warnx("spool writes work again");
		s->spool_failing = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return 1;
}

/* Rewrite the spool from memory when most of it is acknowledged. */
static void spool_compact(struct cot_shipper *s)
{
	uint64_t live, file, seq, epoch;
	struct cot_spool_rec *copy;
	uint8_t prev[COT_CHAIN_LEN];
	size_t i;
	int rc;

	if (!s->spool || s->spool_failing || mono_ms() < s->compact_retry_ms)
		return;
	pthread_mutex_lock(&s->mu);
	live = s->n && s->file_seq >= s->first_seq
		       ? s->file_seq - s->first_seq + 1
		       : 0;
	file = cot_spool_records(s->spool);
	/*
	 * Rewrite once acknowledged records outnumber waiting ones 4 to 1
	 * (and are at least 64k): rewriting costs at most a quarter of what
	 * was appended, and the file stays within 5 x waiting + 64k records.
	 */
	if (file < live || file - live < 4 * live + 65536) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	copy = live ? malloc(live * sizeof(*copy)) : NULL;
	if (live && !copy) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	seq = s->first_seq;
	for (i = 0; i < live; i++)
		copy[i] = *at(s, seq + i);
	memcpy(prev, s->hash_before_first, COT_CHAIN_LEN);
	epoch = s->epoch;
	pthread_mutex_unlock(&s->mu);
	rc = cot_spool_rewrite(s->spool, epoch, live, scratch_get, copy, prev);
	if (rc < 0) {
		/* The old file is intact (host/spool.h): try again later. */
		log_warnx("spool rewrite: %s", strerror(-rc));
		s->compact_retry_ms = mono_ms() + COMPACT_RETRY_MS;
	} else {
		s->spool_stale = 0;
	}
	free(copy);
}

/*
 * logd holds more of this epoch than we do: our spool was rolled back
 * or replaced.  Start a new epoch and renumber every waiting record
 * from 1 (none was acknowledged in it: logd's "held" is beyond them).
 * logd records the rollback and the new epoch.  Under mu.
 */
static void new_epoch_locked(struct cot_shipper *s)
{
	struct cot_spool_rec *e;
	struct cot_rec r;
	uint8_t h[COT_CHAIN_LEN];
	uint32_t i;

	do
		RAND_bytes((uint8_t *)&s->epoch, sizeof(s->epoch));
	while (!s->epoch);
	cot_chain_init(h);
	memcpy(s->hash_before_first, h, COT_CHAIN_LEN);
	/* Bounded by n <= cap. */
	for (i = 0; i < s->n; i++) {
		e = &s->ring[(s->head + i) % s->cap];
		if (cot_rec_decode(&r, e->enc, e->len) < 0)
			continue; /* cannot happen: encoded or verified here */
		r.seq = i + 1;
		e->seq = r.seq;
		e->len = (uint32_t)cot_rec_encode(e->enc, &r);
		cot_chain_next_fast(h, h, e->enc, e->len);
		memcpy(e->hash, h, COT_CHAIN_LEN);
	}
	s->first_seq = 1;
	s->last_seq = s->n;
	memcpy(s->last_hash, h, COT_CHAIN_LEN);
	s->spooled_seq = 0;
	s->file_seq = 0;
	s->sent_seq = 0;
	s->acked_seq = 0;
	s->nlost = 0;
	s->fresh = 1;
	if (s->spool) {
		/*
		 * Empty file under the new epoch; spool_new() refills it.
		 * If that fails the file keeps the old epoch, which nothing
		 * may be appended to: spool_new() rewrites it first.
		 */
		s->spool_stale = cot_spool_rewrite(s->spool, s->epoch, 0,
						   scratch_get, NULL, h) < 0;
		if (s->spool_stale)
			log_warnx("spool rewrite for the new epoch failed");
	}
}

/* --- connection ---------------------------------------------------- */

/* "HOST:PORT" of server @i into the stats (under mu). */
static void name_server_locked(struct cot_shipper *s)
{
	unsigned i = s->fo.cur;

	s->st.server = i;
	s->st.switches = s->fo.switches;
	snprintf(s->st.server_name, sizeof(s->st.server_name),
		 strchr(s->srv[i].host, ':') ? "[%s]:%s" : "%s:%s",
		 s->srv[i].host, s->srv[i].port);
}

/*
 * @why ended the current server's connection or attempt: on to the next
 * server of the list at once, or, after a whole round failed, wait out
 * the backoff (core/failover).
 */
static void next_server(struct cot_shipper *s, const char *why)
{
	unsigned from = s->fo.cur, wait;
	int was_up;

	wait = cot_failover_down(&s->fo, &was_up);
	pthread_mutex_lock(&s->mu);
	name_server_locked(s);
	pthread_mutex_unlock(&s->mu);
	if (s->fo.cur != from && was_up)
		log_info("log server %s:%s: %s; switching to %s:%s",
			 s->srv[from].host, s->srv[from].port, why,
			 s->srv[s->fo.cur].host, s->srv[s->fo.cur].port);
	else if (s->fo.cur != from)
		log_debug("log server %s:%s: %s; trying %s:%s",
			  s->srv[from].host, s->srv[from].port, why,
			  s->srv[s->fo.cur].host, s->srv[s->fo.cur].port);
	s->next_try_ms = mono_ms() + wait;
}

static void disconnect(struct cot_shipper *s, const char *why_in)
{
	char why[256];

	/* @why_in may point into the connection freed below. */
	snprintf(why, sizeof(why), "%s", why_in);
	if (s->conn) {
		log_info("logd connection closed: %s", why);
		cot_tls_close(s->conn);
		s->conn = NULL;
		pthread_mutex_lock(&s->mu);
		s->st.disconnects++;
		s->st.connected = 0;
		pthread_mutex_unlock(&s->mu);
	}
	set_error(s, "%s", why);
	next_server(s, why);
}

static int try_connect(struct cot_shipper *s)
{
	struct cot_hello h = { .version = COT_PROTO_VERSION };
	struct cot_welcome w;
	char err[300];
	uint8_t type;
	uint32_t len;
	int rc, n;

	rc = cot_tls_connect(&s->conn, s->tls, s->srv[s->fo.cur].host,
			     s->srv[s->fo.cur].port, hello_timeout(s), err,
			     sizeof(err));
	if (rc < 0) {
		pthread_mutex_lock(&s->mu);
		s->st.connect_failures++;
		pthread_mutex_unlock(&s->mu);
		log_debug("connect: %s", err);
		disconnect(s, err);
		return rc;
	}
	pthread_mutex_lock(&s->mu);
	h.flags = (s->restarted_hello_sent ? 0 : COT_HELLO_RESTART) |
		  (s->fresh ? COT_HELLO_FRESH : 0);
	h.epoch = s->epoch;
	h.last_seq = s->last_seq;
	h.oldest_seq = s->n ? s->first_seq : 0;
	h.dropped = s->st.dropped;
	pthread_mutex_unlock(&s->mu);
	n = cot_hello_encode(s->frame, COT_FRAME_HDR + COT_FRAME_MAX, &h);
	rc = cot_tls_write(s->conn, s->frame, (size_t)n, hello_timeout(s));
	if (rc == 0)
		rc = frame_read(s, &type, &len, hello_timeout(s));
	if (rc == 0 && (type != COT_FR_WELCOME ||
			cot_welcome_decode(&w, s->frame, len) < 0))
		rc = -COT_EPROTO;
	if (rc < 0) {
		snprintf(err, sizeof(err), "hello: %s",
			 rc == -COT_EPROTO && !cot_tls_error(s->conn)[0]
				 ? "bad WELCOME"
				 : cot_tls_error(s->conn));
		pthread_mutex_lock(&s->mu);
		s->st.connect_failures++;
		pthread_mutex_unlock(&s->mu);
		disconnect(s, err);
		return rc;
	}
	s->restarted_hello_sent = 1;
	cot_failover_up(&s->fo);
	s->inflight_batches = 0;
	s->batch_head = 0;
	pthread_mutex_lock(&s->mu);
	s->st.connects++;
	s->st.connected = 1;
	if (w.held_seq > s->last_seq) {
		log_warnx("logd holds seq %" PRIu64 " of epoch %016" PRIx64
			  " but this tracker only reached %" PRIu64
			  ": spool rolled back or replaced; starting a new "
			  "epoch",
			  w.held_seq, s->epoch, s->last_seq);
		new_epoch_locked(s);
		pthread_mutex_unlock(&s->mu);
		disconnect(s, "new epoch");
		s->next_try_ms = 0;
		return -COT_EAGAIN;
	}
	if (w.held_seq >= s->first_seq && w.held_seq <= s->last_seq &&
	    memcmp(at(s, w.held_seq)->hash, w.hash, COT_CHAIN_LEN) != 0)
		log_warnx("logd's chain at seq %" PRIu64
			  " differs from this tracker's",
			  w.held_seq);
	if (w.held_seq > s->acked_seq)
		s->acked_seq = w.held_seq;
	drop_upto(s, w.held_seq);
	s->sent_seq = COT_MAX(s->acked_seq, s->first_seq - 1);
	pthread_cond_broadcast(&s->acked_cv);
	pthread_mutex_unlock(&s->mu);
	log_info("connected to logd %s:%s: it holds seq %" PRIu64,
		 s->srv[s->fo.cur].host, s->srv[s->fo.cur].port, w.held_seq);
	if (s->p.on_ack && w.held_seq)
		s->p.on_ack(s->p.ctx, w.held_seq);
	return 0;
}

/* Send LOST frames for the ranges dropped before @from.  0 or error. */
static int send_lost(struct cot_shipper *s, uint64_t from)
{
	struct cot_lost l[LOST_RANGES];
	uint32_t i, n = 0;
	int rc = 0, len;

	pthread_mutex_lock(&s->mu);
	/* Bounded by LOST_RANGES. */
	while (n < s->nlost && s->lost[n].last < from) {
		l[n].first = s->lost[n].first;
		l[n].last = s->lost[n].last;
		l[n].reason = COT_LOST_SPOOL_FULL;
		n++;
	}
	memmove(s->lost, s->lost + n, (s->nlost - n) * sizeof(s->lost[0]));
	s->nlost -= n;
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < n && rc == 0; i++) {
		len = cot_lost_encode(s->frame, COT_FRAME_HDR + COT_FRAME_MAX,
				      &l[i]);
		rc = cot_tls_write(s->conn, s->frame, (size_t)len,
				   write_timeout(s));
	}
	return rc;
}

/* Send one batch if there is one and the window allows.  1 sent, 0 none. */
static int send_batch(struct cot_shipper *s)
{
	uint64_t from, seq;
	uint32_t k, i;
	uint8_t *p;
	int rc;

	pthread_mutex_lock(&s->mu);
	from = COT_MAX(s->sent_seq + 1, s->first_seq);
	if (!s->n || from > s->spooled_seq ||
	    s->inflight_batches >= WINDOW_BATCHES ||
	    (s->sent_seq > s->acked_seq &&
	     s->sent_seq - s->acked_seq >= WINDOW_RECORDS)) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (s->nlost && s->lost[0].last < from) {
		/* Name the dropped ranges once, before the gap shows. */
		pthread_mutex_unlock(&s->mu);
		rc = send_lost(s, from);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&s->mu);
		from = COT_MAX(s->sent_seq + 1, s->first_seq);
		if (!s->n || from > s->spooled_seq) {
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
	}
	k = (uint32_t)COT_MIN(s->spooled_seq - from + 1,
			      (uint64_t)COT_BATCH_MAX);
	/* the frame holds COT_BATCH_MAX entries of any length */
	p = s->frame + COT_FRAME_HDR + COT_BATCH_HDR;
	for (i = 0, seq = from; i < k; i++, seq++) {
		const struct cot_spool_rec *e = at(s, seq);

		p += cot_batch_entry_put(p, e->added_ns, e->enc, e->len);
	}
	cot_batch_hdr_put(s->frame, from, k,
			  (size_t)(p - s->frame) - COT_FRAME_HDR -
				  COT_BATCH_HDR,
			  hash_before(s, from), at(s, from + k - 1)->hash);
	s->sent_seq = from + k - 1;
	s->st.sent += k;
	pthread_mutex_unlock(&s->mu);
	rc = cot_tls_write(s->conn, s->frame, (size_t)(p - s->frame),
			   write_timeout(s));
	if (rc < 0)
		return rc;
	if (!s->inflight_batches)
		s->last_ack_ms = mono_ms(); /* the ack clock starts now */
	s->batch_end[(s->batch_head + s->inflight_batches) % WINDOW_BATCHES] =
		from + k - 1;
	s->inflight_batches++;
	return 1;
}

/* Read one frame from logd (ACK or ERROR).  0 or negative code. */
static int read_reply(struct cot_shipper *s)
{
	struct cot_errframe e;
	struct cot_ack a;
	uint8_t type;
	uint32_t len;
	int rc;

	rc = frame_read(s, &type, &len, (int)s->p.ack_timeout_ms);
	if (rc < 0)
		return rc;
	if (type == COT_FR_ERROR) {
		if (cot_error_decode(&e, s->frame, len) == 0) {
			log_warnx("logd: error %u: %s", e.code, e.msg);
			set_error(s, "logd: %s", e.msg);
		}
		return -COT_ENODATA;
	}
	if (type != COT_FR_ACK || cot_ack_decode(&a, s->frame, len) < 0)
		return -COT_EBADMSG;
	s->last_ack_ms = mono_ms();
	/* Bounded by WINDOW_BATCHES. */
	while (s->inflight_batches &&
	       s->batch_end[s->batch_head] <= a.acked_seq) {
		s->batch_head = (s->batch_head + 1) % WINDOW_BATCHES;
		s->inflight_batches--;
	}
	pthread_mutex_lock(&s->mu);
	if (a.acked_seq > s->last_seq) {
		pthread_mutex_unlock(&s->mu);
		return -COT_EBADMSG;
	}
	if (a.acked_seq > s->acked_seq)
		s->acked_seq = a.acked_seq;
	drop_upto(s, a.acked_seq);
	pthread_cond_broadcast(&s->acked_cv);
	pthread_mutex_unlock(&s->mu);
	/* Acks flowing: the link is healthy again. */
	cot_failover_healthy(&s->fo);
	if (s->p.on_ack)
		s->p.on_ack(s->p.ctx, a.acked_seq);
	return 0;
}

static void *worker(void *arg)
{
	struct cot_shipper *s = arg;
	struct pollfd pf[2];
	uint64_t v;
	int rc, busy, timeout, stop;
	int64_t now;

	for (;;) {
		/*
		 * Drain the eventfd before clearing wake_pending: a record
		 * added after the clear writes the eventfd again, one added
		 * before it is seen by spool_new() below.
		 */
		if (read(s->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_warn("eventfd");
		pthread_mutex_lock(&s->mu);
		stop = s->stop;
		s->wake_pending = 0;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		busy = spool_new(s);
		now = mono_ms();
		if (!s->conn && now >= s->next_try_ms)
			try_connect(s);
		if (s->conn) {
			rc = 0;
			/* Bounded by the window: at most WINDOW_BATCHES. */
			while (rc == 0 && (rc = send_batch(s)) == 1) {
				busy = 1;
				if (cot_tls_wait_readable(s->conn, 0) > 0)
					break;
			}
			/* Every reply already here; at most the batches sent.
			 */
			while (rc >= 0 &&
			       cot_tls_wait_readable(s->conn, 0) > 0) {
				rc = read_reply(s);
				busy = 1;
			}
			if (rc < 0)
				disconnect(s, rc == -COT_ENODATA || !s->conn
						      ? "closed by logd"
						      : cot_tls_error(s->conn));
			else if (s->inflight_batches &&
				 mono_ms() - s->last_ack_ms >=
					 s->p.ack_timeout_ms)
				/* Batches out, no ack for long: dead link. */
				disconnect(s, "no acknowledgement from logd");
			else
				spool_compact(s);
		}
		if (busy)
			continue;
		pf[0] = (struct pollfd){ .fd = s->evfd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = s->conn ? cot_tls_fd(s->conn)
						       : -1,
					 .events = POLLIN };
		timeout = 1000;
		if (!s->conn)
			timeout = (int)COT_MAX(
				0, COT_MIN(s->next_try_ms - mono_ms(), 1000));
		else if (s->inflight_batches)
			/* wake when the acknowledgement is overdue */
			timeout = (int)COT_MAX(
				0,
				COT_MIN(s->last_ack_ms + s->p.ack_timeout_ms -
						mono_ms(),
					1000));
		poll(pf, 2, timeout);
	}
	return NULL;
}

/* --- life cycle ---------------------------------------------------- */

static int open_spool(struct cot_shipper *s, char *err, size_t errlen)
{
	struct cot_spool_info info;
	char aside[4200];
	int rc;

	rc = cot_spool_open(&s->spool, s->p.spool_path, s->p.spool_key,
			    s->p.spool_fsync, load_cb, s, &info, err, errlen);
	if (rc == -COT_EBADMSG && s->p.discard_bad_spool) {
		snprintf(aside, sizeof(aside), "%s.bad.%ld", s->p.spool_path,
			 (long)time(NULL));
		log_warnx("spool %s is not trustworthy (%s): moved to %s, "
			  "starting a new epoch; its records are lost",
			  s->p.spool_path, err, aside);
		if (rename(s->p.spool_path, aside) < 0)
			return -COT_EIO;
		s->n = 0;
		s->head = 0;
		s->last_seq = 0;
		cot_chain_init(s->last_hash);
		rc = cot_spool_open(&s->spool, s->p.spool_path, s->p.spool_key,
				    s->p.spool_fsync, load_cb, s, &info, err,
				    errlen);
	}
	if (rc < 0)
		return rc;
	s->epoch = info.epoch;
	s->fresh = info.created;
	s->spooled_seq = s->last_seq;
	s->file_seq = s->last_seq;
	s->st.loaded = info.records;
	if (info.records)
		log_info("spool %s: %" PRIu64 " records waiting, seq %" PRIu64
			 "..%" PRIu64,
			 s->p.spool_path, info.records, s->first_seq,
			 s->last_seq);
	return 0;
}

/* Copy the server list of the parameters.  0 or -COT_ENOMEM. */
static int copy_servers(struct cot_shipper *s)
{
	const struct cot_ship_server one = { s->p.host, s->p.port };
	const struct cot_ship_server *l = s->p.nservers ? s->p.servers : &one;
	unsigned i;

	s->nsrv = s->p.nservers ? s->p.nservers : 1;
	for (i = 0; i < s->nsrv; i++) {
		s->srv[i].host = strdup(l[i].host);
		s->srv[i].port = strdup(l[i].port);
		if (!s->srv[i].host || !s->srv[i].port)
			return -COT_ENOMEM;
	}
	name_server_locked(s); /* before the worker starts */
	return 0;
}

/* Free the copies (any that were made). */
static void free_servers(struct cot_shipper *s)
{
	unsigned i;

	for (i = 0; i < COT_SHIP_MAX_SERVERS; i++) {
		free(s->srv[i].host);
		free(s->srv[i].port);
	}
}

/* The server list of @p is usable: 1 or 0. */
static int servers_ok(const struct cot_shipper_params *p)
{
	unsigned i;

	if (!p->nservers)
		return p->host && p->port;
	if (p->nservers > COT_SHIP_MAX_SERVERS || !p->servers)
		return 0;
	for (i = 0; i < p->nservers; i++)
		if (!p->servers[i].host || !p->servers[i].port)
			return 0;
	return 1;
}

int cot_shipper_create(struct cot_shipper **out,
		       const struct cot_shipper_params *p, char *err,
		       size_t errlen)
{
	struct cot_shipper *s;
	struct sigaction old;
	unsigned long long seed = 0;
	int rc;

	*out = NULL;
	if (!servers_ok(p) || !p->ca_file || !p->cert_file || !p->key_file ||
	    (p->spool_path && !p->spool_key)) {
		snprintf(err, errlen, "shipper: missing parameter");
		return -COT_EINVAL;
	}
	if (p->ack_timeout_ms &&
	    (p->ack_timeout_ms < COT_SHIP_ACK_TIMEOUT_MIN ||
	     p->ack_timeout_ms > COT_SHIP_ACK_TIMEOUT_MAX)) {
		snprintf(err, errlen,
			 "shipper: ack timeout %u ms not in %u..%u ms",
			 p->ack_timeout_ms, COT_SHIP_ACK_TIMEOUT_MIN,
			 COT_SHIP_ACK_TIMEOUT_MAX);
		return -COT_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -COT_ENOMEM;
	s->p = *p;
	if (!s->p.max_records)
		s->p.max_records = 262144;
	if (!s->p.backoff_min_ms)
		s->p.backoff_min_ms = 100;
	if (!s->p.backoff_max_ms)
		s->p.backoff_max_ms = 10000;
	if (s->p.backoff_max_ms < s->p.backoff_min_ms)
		s->p.backoff_max_ms = s->p.backoff_min_ms;
	if (!s->p.ack_timeout_ms)
		s->p.ack_timeout_ms = COT_SHIP_ACK_TIMEOUT_DEF;
	/* each tracker its own jitter: trackers that fail together must
	 * not retry together (a failed RAND_bytes leaves a fixed seed) */
	RAND_bytes((uint8_t *)&seed, sizeof(seed));
	cot_failover_init(&s->fo, p->nservers ? p->nservers : 1,
			  s->p.backoff_min_ms, s->p.backoff_max_ms, seed);
	s->cap = s->p.max_records;
	s->evfd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->acked_cv, NULL);
	cot_chain_init(s->last_hash);
	cot_chain_init(s->hash_before_first);
	s->first_seq = 1;
	rc = -COT_ENOMEM;
	snprintf(err, errlen, "out of memory");
	s->ring = calloc(s->cap, sizeof(*s->ring));
	s->frame = malloc(COT_FRAME_HDR + COT_FRAME_MAX);
	s->scratch = calloc(COT_BATCH_MAX, sizeof(*s->scratch));
	if (!s->ring || !s->frame || !s->scratch || copy_servers(s) < 0)
		goto err;
	s->tls = cot_tls_ctx_new(COT_TLS_CLIENT, p->ca_file, p->cert_file,
				 p->key_file, err, errlen);
	if (!s->tls) {
		rc = -COT_EINVAL;
		goto err;
	}
	if (p->spool_path) {
		rc = open_spool(s, err, errlen);
		if (rc < 0)
			goto err;
	} else {
		do
			RAND_bytes((uint8_t *)&s->epoch, sizeof(s->epoch));
		while (!s->epoch);
		s->fresh = 1;
	}
	s->acked_seq = s->n ? s->first_seq - 1 : s->last_seq;
	s->sent_seq = s->acked_seq;
	s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->evfd < 0) {
		rc = -COT_EIO;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto err;
	}
	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&s->thread, NULL, worker, s) != 0) {
		rc = -COT_EAGAIN;
		snprintf(err, errlen, "pthread_create failed");
		goto err;
	}
	err[0] = '\0';
	*out = s;
	return 0;
err:
	if (s->evfd >= 0)
		close(s->evfd);
	cot_spool_close(s->spool);
	cot_tls_ctx_free(s->tls);
	free(s->ring);
	free(s->frame);
	free(s->scratch);
	free_servers(s);
	free(s);
	return rc;
}

void cot_shipper_destroy(struct cot_shipper *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_mutex_unlock(&s->mu);
	if (write(s->evfd, &one, sizeof(one)) < 0)
		log_warn("eventfd");
	pthread_join(s->thread, NULL);
	/* Anything added but not yet spooled goes to the spool now. */
	while (spool_new(s) == 1)
		;
	cot_tls_close(s->conn);
	cot_spool_close(s->spool);
	cot_tls_ctx_free(s->tls);
	close(s->evfd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->acked_cv);
	free(s->ring);
	free(s->frame);
	free(s->scratch);
	free_servers(s);
	free(s);
}
