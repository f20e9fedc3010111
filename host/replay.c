// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cotrack/pkt.h"
#include "replay.h"

struct replay {
	const struct cot_replay_opts *o;
	struct cot_replay_stats *st;
	uint64_t seq;
};

static void on_flow(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		    uint32_t slot)
{
	struct replay *rp = ctx;
	struct cot_rec out;

	(void)slot;
	if (ev != COT_FLOW_ENDED)
		return;
	out = *r;
	out.seq = ++rp->seq;
	rp->st->records++;
	if (rp->o->on_record)
		rp->o->on_record(rp->o->ctx, &out);
}

/*
 * Link types other than Ethernet are tracked by giving the frame an
 * Ethernet header: the link header is dropped and the IP version picks
 * the EtherType.  Returns the L3 offset in the frame, or -1.
 */
static int l3_offset(int dlt, const uint8_t *d, uint32_t caplen,
		     uint16_t *etype)
{
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		if (caplen < 1)
			return -1;
		*etype = (d[0] >> 4) == 6 ? 0x86dd : 0x0800;
		return 0;
	case DLT_LINUX_SLL: /* 16-byte cooked header, protocol at 14 */
		if (caplen < 16)
			return -1;
		*etype = cot_get_be16(d + 14);
		return 16;
	case DLT_LINUX_SLL2: /* 20-byte header, protocol first */
		if (caplen < 20)
			return -1;
		*etype = cot_get_be16(d);
		return 20;
	}
	return -1;
}

static int supported(int dlt)
{
	return dlt == DLT_EN10MB || dlt == DLT_RAW || dlt == DLT_IPV4 ||
	       dlt == DLT_IPV6 || dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(const struct cot_replay_opts *o, pcap_t *p,
		     const struct cot_replay_stats *st, int final)
{
	FILE *f = pcap_file(p);
	long pos = f ? ftell(f) : -1;

	if (o->size > 0 && pos >= 0)
		fprintf(stderr, "\r%s: %3d%% %" PRIu64 " frames, %u open flows ",
			o->name, (int)(pos * 100 / o->size), st->frames,
			st->flow.active);
	else
		fprintf(stderr, "\r%s: %" PRIu64 " frames, %u open flows ",
			o->name, st->frames, st->flow.active);
	if (final)
		fputc('\n', stderr);
}

int cot_replay_pcap(pcap_t *p, const struct cot_replay_opts *o,
		    struct cot_replay_stats *st, char *err, size_t errlen)
{
	struct replay rp = { .o = o, .st = st };
	struct cot_flow_params fp = o->fp;
	struct cot_flowtab *t;
	struct pcap_pkthdr *h;
	const u_char *data;
	uint8_t *scratch = NULL;
	uint64_t now = 0, last_expire = 0;
	double next_progress = 0;
	void *mem;
	size_t len;
	int dlt = pcap_datalink(p), rc, ret = 0;

	memset(st, 0, sizeof(*st));
	st->linktype = dlt;
	if (err && errlen)
		err[0] = '\0';
	if (!supported(dlt)) {
		snprintf(err, errlen, "link type %s (%d) is not supported",
			 pcap_datalink_val_to_name(dlt) ?
				 pcap_datalink_val_to_name(dlt) : "?", dlt);
		return -COT_ENOTSUP;
	}
	fp.cb = on_flow;
	fp.cb_ctx = &rp;
	len = cot_flowtab_memsize(&fp);
	if (!len) {
		snprintf(err, errlen, "invalid table parameters");
		return -COT_EINVAL;
	}
	mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	if (dlt != DLT_EN10MB)
		scratch = malloc(14 + 65536);
	if (!mem || (dlt != DLT_EN10MB && !scratch)) {
		free(mem);
		free(scratch);
		snprintf(err, errlen, "cannot allocate %zu bytes for the table",
			 len);
		return -COT_ENOMEM;
	}
	cot_flowtab_init(&t, mem, len, &fp);
	if (o->progress)
		next_progress = now_s() + 0.5;

	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		struct cot_pkt pkt;
		uint64_t ts;
		const uint8_t *frame = data;
		uint32_t caplen = h->caplen, wirelen = h->len;

		st->frames++;
		st->bytes += h->len;
		if (caplen < wirelen)
			st->snaplen_cut++;
		if (wirelen < caplen) /* corrupt header: trust what we hold */
			wirelen = caplen;
		/* Nanosecond precision was asked for at open time. */
		ts = (uint64_t)h->ts.tv_sec * 1000000000ULL +
		     (uint64_t)h->ts.tv_usec;
		/* Captures can step back in time; the table cannot. */
		if (ts > now)
			now = ts;
		if (dlt != DLT_EN10MB) {
			uint16_t et = 0;
			int off = l3_offset(dlt, data, caplen, &et);

			if (off < 0 || caplen - (uint32_t)off > 65536) {
				st->bad_linktype++;
				continue;
			}
			memset(scratch, 0, 12);
			cot_put_be16(scratch + 12, et);
			memcpy(scratch + 14, data + off, caplen - (uint32_t)off);
			frame = scratch;
			caplen = caplen - (uint32_t)off + 14;
			wirelen = wirelen - (uint32_t)off + 14;
		}
		cot_pkt_parse(&pkt, frame, caplen, wirelen);
		cot_flowtab_update(t, &pkt, now);
		if (now - last_expire >= 1000000000ULL) {
			cot_flowtab_expire(t, now, 0);
			last_expire = now;
		}
		if (o->progress && (st->frames & 0xffff) == 0 &&
		    now_s() >= next_progress) {
			cot_flowtab_stats(t, &st->flow);
			progress(o, p, st, 0);
			next_progress = now_s() + 0.5;
		}
	}
	if (rc == PCAP_ERROR) {
		snprintf(err, errlen, "capture is corrupt or truncated after %" PRIu64
			 " frames: %s", st->frames, pcap_geterr(p));
		ret = -COT_EBADMSG;
	}
	cot_flowtab_flush(t, now, COT_END_OPEN);
	cot_flowtab_stats(t, &st->flow);
	if (o->progress)
		progress(o, p, st, 1);
	free(mem);
	free(scratch);
	return ret;
}

void cot_replay_print_stats(FILE *f, const struct cot_replay_stats *st)
{
	const struct cot_flow_stats *fs = &st->flow;
	unsigned int i;

	fprintf(f, "frames            %" PRIu64 "\n", st->frames);
	fprintf(f, "bytes (on wire)   %" PRIu64 "\n", st->bytes);
	fprintf(f, "tracked           %" PRIu64 "\n", fs->tracked);
	fprintf(f, "not-ip            %" PRIu64 "\n", fs->not_ip);
	fprintf(f, "snaplen-cut       %" PRIu64 "\n", st->snaplen_cut);
	if (st->bad_linktype)
		fprintf(f, "bad-link-header   %" PRIu64 "\n", st->bad_linktype);
	for (i = 0; i < COT_PKT__COUNT; i++) {
		if (i == COT_PKT_OK || i == COT_PKT_NOT_IP)
			continue;
		fprintf(f, "dropped %-17s %" PRIu64 "\n", cot_pkt_reason_name(i),
			fs->dropped[i]);
	}
	fprintf(f, "fragment-orphans  %" PRIu64 "\n", fs->frag_orphan);
	fprintf(f, "flows opened      %" PRIu64 "\n", fs->opened);
	fprintf(f, "flows ended       %" PRIu64 "\n", fs->ended);
	for (i = 0; i < COT_END__COUNT; i++)
		fprintf(f, "  end %-12s  %" PRIu64 "\n", cot_end_name(i),
			fs->ended_by[i]);
	fprintf(f, "evicted (full)    %" PRIu64 "\n", fs->evicted);
	fprintf(f, "max open flows    %u\n", fs->active_max);
	fprintf(f, "records           %" PRIu64 "\n", st->records);
}
