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
	struct cot_flow_params fp;    /* cb/cb_ctx are the replay's own */
	const struct cot_pkt_cfg *pc; /* tunnels; NULL: the defaults */
	/* cot_replay_fd(): called once it knows the file is a capture. */
	void (*on_header)(void *ctx);
	/* Called for every ended record, in order; seq already set. */
	void (*on_record)(void *ctx, const struct cot_rec *r);
	void *ctx;
	const char *name; /* for messages and progress */
	long long size;	  /* file size for progress; <= 0 unknown */
	int progress;	  /* print progress on stderr */
};

struct cot_replay_stats {
	struct cot_flow_stats flow;
	uint64_t frames;       /* frames read from the capture */
	uint64_t bytes;	       /* their original lengths */
	uint64_t snaplen_cut;  /* frames shorter than on the wire */
	uint64_t bad_linktype; /* frames of an unsupported link type */
	uint64_t records;      /* records written */
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

/*
 * The same for a classic pcap file held in memory (e.g. mmap'd): frames
 * are read in place, with no copy and no system call.  Returns
 * -COT_ENOTSUP without reading anything when @data is not a classic
 * pcap file (pcapng, ...): use libpcap then.  Every record header is
 * checked against the bytes left before its frame is touched.
 */
int cot_replay_mem(const uint8_t *data, size_t len,
		   const struct cot_replay_opts *o, struct cot_replay_stats *st,
		   char *err, size_t errlen);

/*
 * The same for a classic pcap file open on @fd (a regular file: it is
 * read with pread/lseek), read in 1 MiB chunks.  Returns -COT_ENOTSUP,
 * having consumed nothing that matters (the caller rewinds), when the
 * file is not classic pcap: use libpcap then.
 */
int cot_replay_fd(int fd, const struct cot_replay_opts *o,
		  struct cot_replay_stats *st, char *err, size_t errlen);

/* The stats in readable form, one counter a line. */
void cot_replay_print_stats(FILE *f, const struct cot_replay_stats *st);

#endif
