/* SPDX-License-Identifier: MIT */
/* cotrack-logd internals shared by its files. */
#ifndef COTRACK_LOGD_H
#define COTRACK_LOGD_H

#include <pthread.h>
#include <stdatomic.h>

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

/* Connection thread entry: takes ownership of @fd. */
void logd_serve(struct logd *d, int fd, const char *peer);

/* Record an event in its own transaction (logs it too). */
void logd_event(struct logd *d, const char *kind, const char *tracker,
		int64_t stream, uint64_t first, uint64_t last, const char *peer,
		const char *detail);

#endif
