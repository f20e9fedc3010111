// SPDX-License-Identifier: MIT
/*
 * cotrack-logd: one tracker connection.  Handshake, HELLO/WELCOME, then
 * batches: each is checked (frame, record encodings, sequence, chain),
 * stored in one transaction with whatever else is already waiting, and
 * acknowledged only after the commit returned.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/clock.h"
#include "host/log.h"
#include "host/ship_proto.h"
#include "logd.h"

/* Frames stored per transaction (each at most COT_BATCH_MAX records). */
#define GROUP_FRAMES 8

struct conn {
	struct logd *d;
	struct cot_tls *tls;
	char peer[80];
	char tracker[128];
	char fp[65];
	uint64_t epoch;
	int64_t stream;
	uint64_t acked;	    /* highest seq acknowledged on this connection */
	int chain_reported; /* report a chain mismatch once per connection */
	uint64_t stored, dups;
	uint8_t *bufs[GROUP_FRAMES]; /* allocated when first needed */
	struct cot_rec *recs;	     /* decoded batch, COT_BATCH_MAX entries */
};

/* Stream state inside one transaction. */
struct txstate {
	uint64_t last;
	uint8_t hash[COT_CHAIN_LEN];
	uint64_t nrec; /* records handled in this transaction */
};

static void hex(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Event inside the caller's open transaction. */
static void ev_tx(struct conn *c, const char *kind, uint64_t first,
		  uint64_t last, const char *detail)
{
	log_warnx("%s: %s %s seq %" PRIu64 "..%" PRIu64 ": %s", c->peer,
		  c->tracker, kind, first, last, detail ? detail : "");
	if (cot_store_event(&c->d->store, cot_clock_real_ns(), kind, c->tracker,
			    c->stream, first, last, c->peer, detail) < 0)
		log_warnx("storing event: %s", cot_store_errmsg(&c->d->store));
}

void logd_event(struct logd *d, const char *kind, const char *tracker,
		int64_t stream, uint64_t first, uint64_t last, const char *peer,
		const char *detail)
{
	int rc;

	log_warnx("%s: %s %s: %s", peer ? peer : "-", tracker ? tracker : "-",
		  kind, detail ? detail : "");
	pthread_mutex_lock(&d->dbmu);
	rc = cot_store_begin(&d->store);
	if (!rc)
		rc = cot_store_event(&d->store, cot_clock_real_ns(), kind,
				     tracker, stream, first, last, peer,
				     detail);
	if (!rc)
		rc = cot_store_commit(&d->store);
	else
		cot_store_rollback(&d->store);
	pthread_mutex_unlock(&d->dbmu);
	if (rc)
		log_warnx("could not store %s event: %s", kind,
			  cot_strerror(rc));
}

static void send_error(struct conn *c, uint32_t code, const char *msg)
{
	uint8_t out[COT_FRAME_HDR + 4 + COT_ERRMSG_MAX];
	int n = cot_error_encode(out, sizeof(out), code, msg);

	if (n > 0)
		cot_tls_write(c->tls, out, (size_t)n, 1000);
}

/* Load the stream's committed state (under dbmu, inside a transaction). */
static int load_state(struct conn *c, struct txstate *tx)
{
	struct cot_stream_state s;
	int rc;

	rc = cot_store_stream(&c->d->store, c->tracker, c->epoch, c->fp,
			      cot_clock_real_ns(), &s);
	if (rc < 0)
		return rc;
	tx->last = s.last_seq;
	memcpy(tx->hash, s.last_hash, COT_CHAIN_LEN);
	return 0;
}

/*
 * One BATCH inside the open transaction.  Returns 0, or -COT_EBADMSG for
 * a protocol violation (the caller rolls back and closes), or a storage
 * error.
 */
static int handle_batch(struct conn *c, const uint8_t *p, uint32_t len,
			struct txstate *tx)
{
	struct cot_store *st = &c->d->store;
	struct cot_batch_view b;
	uint8_t h[COT_CHAIN_LEN], stored[COT_CHAIN_LEN];
	char detail[200], hx[2 * COT_CHAIN_LEN + 1];
	uint64_t end, now, ov_end;
	uint32_t i, i0 = 0;
	int rc;

	if (cot_batch_decode(&b, p, len) < 0)
		return -COT_EBADMSG;
	/* count <= COT_BATCH_MAX (checked by the decoder) bounds this loop. */
	for (i = 0; i < b.count; i++) {
		if (cot_chain_check_enc(&c->recs[i], cot_batch_enc(&b, i),
					cot_batch_enc_len(&b, i)) < 0 ||
		    c->recs[i].seq != b.first_seq + i)
			return -COT_EBADMSG;
	}
	end = b.first_seq + b.count - 1;
	tx->nrec += b.count;
	if (end <= c->acked) {
		/* A tracker never resends on the connection that acked. */
		ev_tx(c, COT_EV_REPLAY, b.first_seq, end,
		      "records already acknowledged on this connection sent "
		      "again; ignored");
		return 0;
	}
	if (b.first_seq <= tx->last) {
		/* Resent records logd holds: identical, or a conflict. */
		ov_end = COT_MIN(end, tx->last);
		rc = cot_store_hash(st, c->stream, b.first_seq - 1, h);
		if (rc == 0) {
			for (i = 0; b.first_seq + i <= ov_end; i++)
				cot_chain_next_fast(h, h, cot_batch_enc(&b, i),
						    cot_batch_enc_len(&b, i));
			rc = cot_store_hash(st, c->stream, ov_end, stored);
			if (rc == 0 && memcmp(h, stored, COT_CHAIN_LEN) != 0)
				ev_tx(c, COT_EV_CONFLICT, b.first_seq, ov_end,
				      "resent records differ from the stored "
				      "ones; kept the stored");
		}
		if (rc < 0 && rc != -COT_ENOENT)
			return rc;
		c->dups += ov_end - b.first_seq + 1;
		i0 = (uint32_t)(ov_end - b.first_seq + 1);
	}
	if (i0 == b.count)
		return 0;
	memcpy(h, tx->hash, COT_CHAIN_LEN);
	if (i0 == 0 && b.first_seq > tx->last + 1) {
		hex(hx, b.prev_hash, 8);
		snprintf(detail, sizeof(detail),
			 "records never received; the chain resumes from the "
			 "tracker's h=%s... (unverifiable link)",
			 hx);
		ev_tx(c, COT_EV_GAP, tx->last + 1, b.first_seq - 1, detail);
		memcpy(h, b.prev_hash, COT_CHAIN_LEN);
	} else if (i0 == 0 && memcmp(b.prev_hash, h, COT_CHAIN_LEN) != 0 &&
		   !c->chain_reported) {
		c->chain_reported = 1;
		ev_tx(c, COT_EV_CHAIN, b.first_seq, b.first_seq,
		      "tracker's previous hash differs from the stored chain "
		      "head; kept the stored chain");
	}
	now = cot_clock_real_ns();
	for (i = i0; i < b.count; i++) {
		cot_chain_next_fast(h, h, cot_batch_enc(&b, i),
				    cot_batch_enc_len(&b, i));
		rc = cot_store_put(st, c->stream, &c->recs[i],
				   cot_batch_added(&b, i), now, h);
		if (rc < 0)
			return rc;
	}
	if (memcmp(h, b.last_hash, COT_CHAIN_LEN) != 0 && !c->chain_reported) {
		c->chain_reported = 1;
		ev_tx(c, COT_EV_CHAIN, b.first_seq, end,
		      "tracker's chain head differs from the recomputed one");
	}
	c->stored += b.count - i0;
	tx->last = end;
	memcpy(tx->hash, h, COT_CHAIN_LEN);
	return 0;
}

static int handle_frame(struct conn *c, const uint8_t *p, uint8_t type,
			uint32_t len, struct txstate *tx, const char **why)
{
	struct cot_lost l;
	struct cot_errframe e;
	char detail[COT_ERRMSG_MAX + 64];
	int rc;

	switch (type) {
	case COT_FR_BATCH:
		rc = handle_batch(c, p, len, tx);
		if (rc == -COT_EBADMSG)
			*why = "malformed batch or record";
		return rc;
	case COT_FR_LOST:
		if (cot_lost_decode(&l, p, len) < 0) {
			*why = "malformed LOST";
			return -COT_EBADMSG;
		}
		/* Name only what logd does not hold: the gap is authoritative.
		 */
		if (l.last <= tx->last)
			return 0;
		if (l.first <= tx->last)
			l.first = tx->last + 1;
		ev_tx(c, COT_EV_DROP, l.first, l.last,
		      l.reason == COT_LOST_SPOOL_FULL
			      ? "tracker's spool was full: it dropped these"
			      : "tracker dropped these");
		return 0;
	case COT_FR_ERROR:
		if (cot_error_decode(&e, p, len) == 0) {
			snprintf(detail, sizeof(detail), "tracker error %u: %s",
				 e.code, e.msg);
			log_warnx("%s: %s: %s", c->peer, c->tracker, detail);
		}
		*why = "tracker sent an error";
		return -COT_ENODATA;
	default:
		*why = "unexpected frame type";
		return -COT_EBADMSG;
	}
}

static int hello(struct conn *c)
{
	struct cot_stream_state s;
	struct cot_hello h;
	struct cot_welcome w = { .version = COT_PROTO_VERSION };
	uint8_t out[COT_FRAME_HDR + 48], hbuf[64];
	char detail[256];
	uint8_t type;
	uint32_t len;
	int rc, n;

	rc = cot_frame_read(c->tls, hbuf, sizeof(hbuf), &type, &len,
			    c->d->idle_ms);
	if (rc < 0)
		return rc;
	if (type != COT_FR_HELLO || cot_hello_decode(&h, hbuf, len) < 0) {
		logd_event(c->d, COT_EV_PROTO, c->tracker, 0, 0, 0, c->peer,
			   "first frame is not a valid HELLO");
		send_error(c, 1, "expected HELLO");
		return -COT_EINVAL; /* reported above */
	}
	c->epoch = h.epoch;
	pthread_mutex_lock(&c->d->dbmu);
	rc = cot_store_begin(&c->d->store);
	if (rc < 0)
		goto unlock;
	rc = cot_store_stream(&c->d->store, c->tracker, h.epoch, c->fp,
			      cot_clock_real_ns(), &s);
	if (rc < 0)
		goto rollback;
	c->stream = s.id;
	if (s.created && s.prev_epochs) {
		snprintf(detail, sizeof(detail),
			 "tracker began epoch %016" PRIx64
			 " (restarted without its spool, or the spool was "
			 "rolled back or refused); the previous stream %" PRId64
			 " ends at seq %" PRIu64
			 ": records after that and not yet acknowledged may be "
			 "lost",
			 h.epoch, s.prev_id, s.prev_last_seq);
		ev_tx(c, COT_EV_EPOCH, s.prev_last_seq + 1, 0, detail);
	}
	if (h.last_seq < s.last_seq) {
		snprintf(detail, sizeof(detail),
			 "tracker holds up to seq %" PRIu64
			 " but logd has %" PRIu64
			 ": its spool was rolled back or replaced",
			 h.last_seq, s.last_seq);
		ev_tx(c, COT_EV_ROLLBACK, h.last_seq + 1, s.last_seq, detail);
	}
	rc = cot_store_commit(&c->d->store);
	if (rc < 0)
		goto unlock;
	pthread_mutex_unlock(&c->d->dbmu);
	log_info("%s: tracker %s epoch %016" PRIx64 " stream %" PRId64
		 ": holds %" PRIu64 ", tracker at %" PRIu64 "%s",
		 c->peer, c->tracker, h.epoch, c->stream, s.last_seq,
		 h.last_seq, h.flags & COT_HELLO_RESTART ? " (restarted)" : "");
	w.held_seq = s.last_seq;
	memcpy(w.hash, s.last_hash, COT_CHAIN_LEN);
	c->acked = 0;
	n = cot_welcome_encode(out, sizeof(out), &w);
	return cot_tls_write(c->tls, out, (size_t)n, c->d->idle_ms);

rollback:
	cot_store_rollback(&c->d->store);
unlock:
	/* the store's message belongs to whoever holds dbmu next */
	snprintf(detail, sizeof(detail), "%s", cot_store_errmsg(&c->d->store));
	pthread_mutex_unlock(&c->d->dbmu);
	log_warnx("%s: storage: %s (%s)", c->peer, cot_strerror(rc), detail);
	send_error(c, 2, "storage failure");
	return rc;
}

static void tls_failure(struct conn *c, int rc, const char *what)
{
	char detail[320];

	switch (rc) {
	case -COT_EPROTO:
		/* Bad record MAC, decryption failure, ...: altered stream. */
		snprintf(detail, sizeof(detail), "%s: %s", what,
			 cot_tls_error(c->tls));
		logd_event(c->d, COT_EV_TAMPER, c->tracker, c->stream, 0, 0,
			   c->peer, detail);
		break;
	case -COT_EBADMSG:
	case -COT_ENOTSUP:
	case -COT_EMSGSIZE:
		snprintf(detail, sizeof(detail), "%s: bad frame header (%s)",
			 what, cot_strerror(rc));
		logd_event(c->d, COT_EV_PROTO, c->tracker, c->stream, 0, 0,
			   c->peer, detail);
		break;
	default:
		log_info("%s: %s: %s: %s", c->peer, c->tracker, what,
			 rc == -COT_EAGAIN ? "idle timeout"
					   : cot_tls_error(c->tls));
	}
}

/*
 * Batches until the connection ends.  Frames that have already arrived
 * (up to GROUP_FRAMES) are read first, outside the database lock, and
 * then stored in one transaction: a busy tracker pays one commit (one
 * fsync) for many batches, and a slow or stalled peer never holds the
 * lock other trackers need.
 */
static void serve_batches(struct conn *c)
{
	struct logd *d = c->d;
	struct txstate tx;
	struct cot_ack a;
	uint8_t out[COT_FRAME_HDR + 40];
	uint8_t type[GROUP_FRAMES];
	uint32_t len[GROUP_FRAMES];
	const char *why = NULL;
	int rc, r, n, waited, rd_rc, i, nf;

	/* Each pass waits at most 1 s for stop; idle_ms bounds the total. */
	for (waited = 0; !atomic_load(&d->stop);) {
		r = cot_tls_wait_readable(c->tls, 1000);
		if (r < 0)
			return;
		if (r == 0) {
			waited += 1000;
			if (waited >= d->idle_ms) {
				log_info("%s: %s: idle, closing", c->peer,
					 c->tracker);
				return;
			}
			continue;
		}
		waited = 0;
		/* Read what is there, at least one frame; no lock held. */
		rd_rc = 0;
		for (nf = 0; nf < GROUP_FRAMES; nf++) {
			if (nf && cot_tls_wait_readable(c->tls, 0) <= 0)
				break;
			if (!c->bufs[nf])
				c->bufs[nf] = malloc(COT_FRAME_MAX);
			if (!c->bufs[nf]) {
				rd_rc = -COT_ENOMEM;
				break;
			}
			rd_rc = cot_frame_read(c->tls, c->bufs[nf],
					       COT_FRAME_MAX, &type[nf],
					       &len[nf], d->idle_ms);
			if (rd_rc < 0)
				break;
		}
		if (!nf) {
			tls_failure(c, rd_rc, "reading frame");
			return;
		}
		/* Store the frames read completely, even if a read failed. */
		pthread_mutex_lock(&d->dbmu);
		rc = cot_store_begin(&d->store);
		if (rc == 0)
			rc = load_state(c, &tx);
		tx.nrec = 0;
		why = NULL;
		for (i = 0; rc == 0 && i < nf; i++)
			rc = handle_frame(c, c->bufs[i], type[i], len[i], &tx,
					  &why);
		if (rc == 0)
			rc = cot_store_stream_update(&d->store, c->stream,
						     tx.last, tx.hash);
		if (rc == 0) {
			rc = cot_store_commit(&d->store);
			if (rc < 0)
				why = "commit failed";
		} else {
			cot_store_rollback(&d->store);
		}
		pthread_mutex_unlock(&d->dbmu);
		if (rc < 0) {
			if (rc == -COT_EBADMSG) {
				logd_event(d, COT_EV_PROTO, c->tracker,
					   c->stream, 0, 0, c->peer,
					   why ? why : "malformed");
				send_error(c, 1, why ? why : "malformed");
			} else if (rc != -COT_ENODATA) {
				log_warnx("%s: %s: %s: %s (%s); nothing "
					  "acknowledged",
					  c->peer, c->tracker,
					  why ? why : "storage",
					  cot_strerror(rc),
					  cot_store_errmsg(&d->store));
				send_error(c, 2, "storage failure");
			}
			return;
		}
		if (rd_rc < 0) {
			/*
			 * The session is dead (TLS sent a fatal alert): report
			 * why; the tracker resends what this commit stored and
			 * logd keeps the first copy.
			 */
			tls_failure(c, rd_rc, "reading frame");
			return;
		}
		a.acked_seq = tx.last;
		memcpy(a.hash, tx.hash, COT_CHAIN_LEN);
		n = cot_ack_encode(out, sizeof(out), &a);
		rc = cot_tls_write(c->tls, out, (size_t)n, d->idle_ms);
		if (rc < 0) {
			tls_failure(c, rc, "sending ack");
			return;
		}
		c->acked = tx.last;
	}
}

/*
 * Unauthenticated peers can fail handshakes as fast as they can connect:
 * record at most HS_EVENTS_MAX such events per HS_WINDOW_NS, then one
 * event saying how many more were refused.
 */
#define HS_EVENTS_MAX 50
#define HS_WINDOW_NS  60000000000ull

static pthread_mutex_t hs_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t hs_window_start, hs_count, hs_suppressed;

static void handshake_event(struct logd *d, const char *kind, const char *peer,
			    const char *detail)
{
	uint64_t now = cot_clock_real_ns(), suppressed = 0;
	char note[128];
	int record;

	pthread_mutex_lock(&hs_mu);
	if (now - hs_window_start > HS_WINDOW_NS) {
		suppressed = hs_suppressed;
		hs_window_start = now;
		hs_count = 0;
		hs_suppressed = 0;
	}
	record = hs_count < HS_EVENTS_MAX;
	if (record)
		hs_count++;
	else
		hs_suppressed++;
	pthread_mutex_unlock(&hs_mu);
	if (suppressed) {
		snprintf(note, sizeof(note),
			 "%llu more failed handshakes in the last minute "
			 "were not recorded one by one",
			 (unsigned long long)suppressed);
		logd_event(d, COT_EV_HANDSHAKE, NULL, 0, 0, 0, "-", note);
	}
	if (record)
		logd_event(d, kind, NULL, 0, 0, 0, peer, detail);
	else
		log_info("%s: %s (not recorded: too many)", peer, detail);
}

void logd_serve(struct logd *d, int fd, const char *peer)
{
	struct conn c = { .d = d };
	enum cot_tls_fail why;
	char subject[256], err[320], detail[700];
	int rc, i;

	snprintf(c.peer, sizeof(c.peer), "%s", peer);
	snprintf(c.tracker, sizeof(c.tracker), "?");
	rc = cot_tls_accept(&c.tls, d->tls, fd, 10000, &why, subject,
			    sizeof(subject), err, sizeof(err));
	if (rc < 0) {
		if (why == COT_TLS_FAIL_CERT) {
			snprintf(detail, sizeof(detail),
				 "client certificate refused: %s%s%s", err,
				 subject[0] ? "; subject " : "", subject);
			handshake_event(d, COT_EV_CERT, peer, detail);
		} else if (rc == -COT_EPROTO) {
			snprintf(detail, sizeof(detail), "%s", err);
			handshake_event(d, COT_EV_HANDSHAKE, peer, detail);
		} else {
			log_info("%s: handshake: %s", peer, err);
		}
		return;
	}
	if (cot_tls_peer_cn(c.tls, c.tracker, sizeof(c.tracker)) < 0 ||
	    !c.tracker[0]) {
		logd_event(d, COT_EV_CERT, NULL, 0, 0, 0, peer,
			   "certificate has no common name");
		goto out;
	}
	if (cot_tls_version(c.tls) != 13) {
		for (i = 0; i < d->ntls12; i++)
			if (!strcmp(d->tls12[i], c.tracker))
				break;
		if (i == d->ntls12) {
			snprintf(detail, sizeof(detail),
				 "TLS 1.2 refused for %s: not a "
				 "--tls12-tracker",
				 c.tracker);
			handshake_event(d, COT_EV_HANDSHAKE, peer, detail);
			goto out;
		}
	}
	cot_tls_peer_fingerprint(c.tls, c.fp);
	c.recs = calloc(COT_BATCH_MAX, sizeof(*c.recs));
	if (!c.recs) {
		log_warnx("%s: out of memory", peer);
		goto out;
	}
	rc = hello(&c);
	if (rc < 0) {
		tls_failure(&c, rc, "hello");
		goto out;
	}
	serve_batches(&c);
	log_info("%s: %s: closed; stored %" PRIu64 ", duplicates %" PRIu64,
		 peer, c.tracker, c.stored, c.dups);
out:
	for (i = 0; i < GROUP_FRAMES; i++)
		free(c.bufs[i]);
	free(c.recs);
	cot_tls_close(c.tls);
}
