// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the capture front end.  The input is a whole capture file
 * run through the engine with a tiny table (so eviction, expiry and
 * fragments all get exercised) twice: by our own classic-pcap reader
 * (cot_replay_mem, which replay uses for regular files) and by libpcap
 * (pcapng, standard input).  Both must agree on a classic pcap file.
 */
#include <stdio.h>
#include <string.h>

#include "host/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *ctx, const struct cot_rec *r)
{
	uint64_t *n = ctx;
	uint8_t wire[COT_REC_WIRE_MAX];
	struct cot_rec back;
	int len;

	/* Every record must survive its own encoding. */
	len = cot_rec_encode(wire, r);
	if (cot_rec_decode(&back, wire, sizeof(wire)) != len ||
	    back.pkts_fwd != r->pkts_fwd || back.seq != r->seq)
		__builtin_trap();
	if (r->first_ns > r->last_ns && r->end != COT_END_ACTIVE)
		__builtin_trap();
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PCAP_ERRBUF_SIZE + 256];
	struct cot_replay_opts o;
	struct cot_replay_stats st;
	struct cot_replay_stats ours;
	uint64_t n = 0;
	int have_ours = 0, ours_rc = -1, rc;
	FILE *f;
	pcap_t *p;

	if (size == 0)
		return 0;
	memset(&o, 0, sizeof(o));
	cot_flow_params_default(&o.fp);
	o.fp.max_flows = 16;
	o.fp.max_frags = 8;
	o.fp.active_ns = 1000000000ULL;
	o.on_record = sink;
	o.ctx = &n;
	o.name = "fuzz";
	ours_rc = cot_replay_mem(data, size, &o, &st, err, sizeof(err));
	if (ours_rc != -COT_ENOTSUP) {
		if (n != st.records)
			__builtin_trap();
		ours = st;
		have_ours = 1;
	}
	n = 0;
	f = fmemopen((void *)(uintptr_t)data, size, "rb");
	if (!f)
		return 0;
	p = pcap_fopen_offline_with_tstamp_precision(
		f, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!p) {
		fclose(f);
		return 0;
	}
	rc = cot_replay_pcap(p, &o, &st, err, sizeof(err));
	if (n != st.records)
		__builtin_trap();
	/* A capture both readers read to the end: the same frames. */
	if (have_ours && rc == 0 && ours_rc == 0 && ours.frames != st.frames)
		__builtin_trap();
	pcap_close(p);
	return 0;
}
