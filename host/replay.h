/* SPDX-License-Identifier: MIT */
/*
 * Runs a capture (libpcap: pcap or pcapng) through the packet engine.
 * Used by `cotrack replay` and its fuzz target.  Not thread-safe.
 */
#ifndef COTRACK_HOST_REPLAY_H
#define COTRACK_HOST_REPLAY_H

#include <pcap/pcap.h>

#include "cotrack/flow.h"

struct cot_replay_opts {
	struct cot_flow_params fp; /* cb/cb_ctx are the replay's own */
	/* Called for every ended record, in order; seq already set. */
	void (*on_record)(void *ctx, const struct cot_rec *r);
	void *ctx;
	const char *name;	/* for messages and progress */
	long long size;		/* file size for progress; <= 0 unknown */
	int progress;		/* print progress on stderr */
};

struct cot_replay_stats {
	struct cot_flow_stats flow;
	uint64_t frames;	/* frames read from the capture */
	uint64_t bytes;		/* their original lengths */
	uint64_t snaplen_cut;	/* frames shorter than on the wire */
	uint64_t bad_linktype;	/* frames of an unsupported link type */
	uint64_t records;	/* records written */
	int linktype;
};

/*
 * Replay every frame of @p.  Records go to o->on_record as they end; at
 * the end of input the open ones are flushed with end "open".  Returns 0
 * at a clean end of file, -COT_ENOTSUP for a link type we cannot track
 * (nothing read), or -COT_EBADMSG when the capture is corrupt or
 * truncated (@err says how; the records up to there are still written).
 * -COT_ENOMEM when the table cannot be allocated.
 */
int cot_replay_pcap(pcap_t *p, const struct cot_replay_opts *o,
		    struct cot_replay_stats *st, char *err, size_t errlen);

/* The stats in readable form, one counter a line. */
void cot_replay_print_stats(FILE *f, const struct cot_replay_stats *st);

#endif
