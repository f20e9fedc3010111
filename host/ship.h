/* SPDX-License-Identifier: MIT */
/*
 * host/ship: the tracker's side of log shipping.  A cot_shipper numbers
 * each record (seq from 1, no gaps, per epoch), chains it (chain.h),
 * keeps it in a sealed spool (spool.h) and, from its own thread, sends
 * it over TLS 1.3 with mutual authentication to cotrack-logd until logd
 * acknowledges it (after its commit).  On every (re)connection logd says
 * what it holds and the shipper resends the rest; connection failures
 * back off exponentially (with jitter) up to backoff_max_ms.
 *
 * Full spool policy: at most max_records records wait for
 * acknowledgement.  When one more is added, the OLDEST waiting record is
 * dropped: the tracker never blocks and never loses recent records, and
 * the loss is reported loudly three ways: a warning log (first drop and
 * every 2^k-th), stats.dropped, and a LOST frame that makes logd record
 * a "tracker_drop" event with the exact seq range; logd also sees the gap
 * in the sequence ("gap" event).
 *
 * Several log servers (cotrackd --log-server A,B; they share one store,
 * docs/logd.md): the shipper stays on the server it is connected to
 * while that works.  When a connection attempt fails or is refused, the
 * HELLO is not answered, logd closes the connection, batches wait for
 * an acknowledgement longer than ack_timeout_ms, or one frame cannot be
 * written or read within it, it moves to the next server of the list at
 * once; only after a whole round of the list failed does it wait out
 * the backoff (with jitter) before the next round (the rule is
 * core/failover's, cotrack/failover.h, shared with the BitVisor
 * shipper).  There is no failing back: a working server is kept.  Each
 *connection begins with HELLO, and the server's WELCOME says what it holds, so
 *what it lacks is resent from the spool as on any reconnection.  A switch away
 * from a server that was connected is logged with the reason; failed
 * attempts are logged at debug level, and stats.last_error keeps the
 * last reason.
 *
 * Usage (cotrackd --log-server HOST:PORT):
 *	struct cot_shipper_params p = { .host = "logd.example", .port =
 *		"6514", .ca_file = ..., .cert_file = ..., .key_file = ...,
 *		.spool_path = "/var/lib/cotrack/spool", .spool_key = key };
 *	cot_shipper_create(&sh, &p, err, sizeof(err));
 *	for each connection record: cot_shipper_add(sh, &rec, NULL);
 *	at shutdown: cot_shipper_flush(sh, 5000); cot_shipper_destroy(sh);
 *
 * Thread-safety: add, flush and stats may be called from any threads
 * concurrently; destroy once, after every other call returned.  The
 * shipper ignores SIGPIPE process-wide (writes to a cut connection must
 * not kill the tracker) when SIGPIPE was at its default action.
 */
#ifndef COTRACK_HOST_SHIP_H
#define COTRACK_HOST_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "cotrack/rec.h"

struct cot_shipper;

/* One log server (cot_shipper_params.servers). */
struct cot_ship_server {
	const char *host, *port;
};
#define COT_SHIP_MAX_SERVERS 8 /* COT_FO_MAX (cotrack/failover.h) */

/* cot_shipper_params.ack_timeout_ms (cotrackd --ack-timeout MS). */
#define COT_SHIP_ACK_TIMEOUT_DEF 30000
#define COT_SHIP_ACK_TIMEOUT_MIN 1000
#define COT_SHIP_ACK_TIMEOUT_MAX 3600000

struct cot_shipper_params {
	/*
	 * The log servers, in order of preference: servers[0 ..
	 * nservers - 1] (at most COT_SHIP_MAX_SERVERS), or with nservers 0
	 * the one at host, port.  Each server's certificate must be signed
	 * by ca_file and name the host it is reached by (its own entry's
	 * host: a DNS name or an IP address in its subjectAltName).
	 */
	const char *host, *port; /* logd address */
	const struct cot_ship_server *servers;
	unsigned nservers;
	const char *ca_file; /* CA that signed logd's certificate */
	const char *cert_file, *key_file; /* this tracker's identity */
	/*
	 * Sealed spool file, or NULL to hold unacknowledged records in
	 * memory only (lost if the tracker dies).  With a spool,
	 * spool_key is COT_SPOOL_KEYLEN bytes (cot_spool_key_load()).
	 */
	const char *spool_path;
	const uint8_t *spool_key;
	int spool_fsync; /* fdatasync after each spool append */
	/*
	 * A spool that fails verification makes create() fail
	 * (-COT_EBADMSG) unless this is set: then it is renamed to
	 * PATH.bad.<time>, a warning is logged and a new epoch begins
	 * (logd records a "new_epoch" event).
	 */
	int discard_bad_spool;
	uint32_t max_records;	 /* waiting records; 0: 262144 */
	uint32_t backoff_min_ms; /* 0: 100 */
	uint32_t backoff_max_ms; /* 0: 10000 */
	/*
	 * A logd that keeps the connection open but stops answering (a
	 * stopped process, a stalled disk) is left after this long without
	 * an acknowledgement while batches wait, and no single frame write
	 * or read may take longer; it also bounds connect + handshake +
	 * WELCOME when below their 10 s.  0: COT_SHIP_ACK_TIMEOUT_DEF;
	 * else COT_SHIP_ACK_TIMEOUT_MIN..COT_SHIP_ACK_TIMEOUT_MAX.
	 */
	uint32_t ack_timeout_ms;
	/*
	 * Called from the shipper's thread, with no lock held, each time
	 * logd acknowledges up to @acked_seq.  May be NULL.
	 */
	void (*on_ack)(void *ctx, uint64_t acked_seq);
	void *ctx;
};

struct cot_shipper_stats {
	uint64_t epoch;	       /* stream epoch (spool header) */
	uint64_t last_seq;     /* highest seq assigned */
	uint64_t acked_seq;    /* highest seq logd acknowledged */
	uint8_t last_hash[32]; /* chain head at last_seq (chain.h) */
	uint64_t waiting;      /* records held until acknowledged */
	uint64_t dropped;      /* oldest records dropped: spool full */
	uint64_t loaded;       /* records found in the spool at create */
	uint64_t sent;	       /* records written to logd (with resends) */
	uint64_t connects, connect_failures, disconnects;
	uint64_t switches; /* moves to the next log server of the list */
	int connected;
	unsigned server;       /* index of the current log server */
	char server_name[264]; /* its HOST:PORT */
	char last_error[192];
};

/*
 * Load or create the spool, start the shipper's thread.  Connecting is
 * asynchronous: create() succeeds while logd is unreachable.  Returns 0,
 * -COT_EBADMSG (spool tampered), -COT_EINVAL (a missing parameter, more
 * than COT_SHIP_MAX_SERVERS servers, ack_timeout_ms out of range) or
 * another negative code, with @err set.
 */
int cot_shipper_create(struct cot_shipper **out,
		       const struct cot_shipper_params *p, char *err,
		       size_t errlen);

/*
 * Number, chain and queue a copy of @r (its seq is ignored).  Never
 * blocks on the network or the disk.  Stores the assigned seq in *@seq
 * when @seq is not NULL.  Returns 0, or 1 when the spool was full and
 * the oldest waiting record was dropped to make room.
 */
int cot_shipper_add(struct cot_shipper *s, const struct cot_rec *r,
		    uint64_t *seq);

/*
 * Wait until logd has acknowledged every record added so far, at most
 * @timeout_ms (-1: forever).  Returns 0 or -COT_EAGAIN on timeout.
 */
int cot_shipper_flush(struct cot_shipper *s, int timeout_ms);

void cot_shipper_stats(struct cot_shipper *s, struct cot_shipper_stats *st);

/*
 * Stop the thread, close the connection and the spool, free.  Records
 * not yet acknowledged stay in the spool for the next start.  NULL ok.
 */
void cot_shipper_destroy(struct cot_shipper *s);

#endif
