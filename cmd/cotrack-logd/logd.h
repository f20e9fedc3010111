/* SPDX-License-Identifier: MIT */
/* cotrack-logd internals shared by its files. */
#ifndef COTRACK_LOGD_H
#define COTRACK_LOGD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "host/store.h"
#include "host/tls.h"

struct logd {
	struct cot_tls_ctx *tls;
	struct cot_store store;
	pthread_mutex_t dbmu; /* serialises every use of store */
	atomic_int active;    /* connection threads running */
	atomic_int stop;
	int max_conns;
	int idle_ms; /* close a silent connection after this */
	/* client certificate CNs allowed to use TLS 1.2 (--tls12-tracker);
	 * none: TLS 1.3 only */
#define LOGD_TLS12_MAX 64
	char tls12[LOGD_TLS12_MAX][128];
	int ntls12;
};

/* --ipfix (export.c): the exporter thread's settings and counters. */
struct logd_export {
	const char *db;	  /* the database, opened again read-only */
	char target[256]; /* [udp://|tcp://]HOST:PORT */
	char state[4096]; /* the cursors' file */
	atomic_int *stop; /* logd's stop flag */
	unsigned rate;	  /* UDP: records per second at most, 0 no limit */
	_Atomic unsigned long long sent;
	atomic_int errors; /* transport errors */
	pthread_t thread;
	bool running;
};

/* Check the state file and start the thread.  0 or -1 (logged). */
int logd_export_start(struct logd_export *x);

/* After stop is set: wait for the thread (it sends what is committed). */
void logd_export_join(struct logd_export *x);

struct web;

/* --web (web.c): the console's settings. */
struct logd_web {
	const char *db;		    /* opened again read-only per thread */
	char cert[4096], key[4096]; /* PEM files (GnuTLS reads them) */
	char token_path[4096];
	char shown[300];  /* ADDR:PORT for the start-up line */
	struct web *priv; /* web.c's state while started */
};

/*
 * Read or create the token, start libmicrohttpd's threads on the
 * listening socket @fd (owned by the daemon from then on).  0 or -1
 * (logged).
 */
int logd_web_start(struct logd_web *w, int fd);

/* Stop the threads, close their databases.  A no-op if not started. */
void logd_web_stop(struct logd_web *w);

/* Connection thread entry: takes ownership of @fd. */
void logd_serve(struct logd *d, int fd, const char *peer);

/*
 * --migrate-from (migrate.c): copy the SQLite store @from into the
 * PostgreSQL database @url (empty, or already holding the same data).
 * Returns the exit status: 0 done, 1 failed or refused (logged).
 */
int logd_migrate(const char *from, const char *url);

/* Record an event in its own transaction (logs it too). */
void logd_event(struct logd *d, const char *kind, const char *tracker,
		int64_t stream, uint64_t first, uint64_t last, const char *peer,
		const char *detail);

#endif
