// SPDX-License-Identifier: MIT
/*
 * engine: the packet engine's own per-packet cost, without file I/O.
 * Loads every frame of a capture into memory, then times cot_pkt_parse
 * alone, parse + cot_flowtab_update one frame at a time, and parse +
 * cot_flowtab_update_batch (with the next batch's frames prefetched, as
 * cotrack replay does) over all frames, several passes (a fresh table
 * each pass), and prints the best pass of each in ns per packet.
 *
 *   engine [-p PASSES] [-m MAX_FLOWS] [-w WHICH] [-s] CAPTURE
 *   (-p 0: only read it; -w: the loops to run, default 7 = all;
 *   -s: the frames on 4 KiB pages, not huge pages)
 */
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "cotrack/flow.h"
#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"

struct frame {
	uint32_t off, caplen, wirelen;
	uint64_t ts;
};

#define HUGE ((size_t)2 << 20)

static double now(void)
{
	return (double)cot_clock_mono_ns() / 1e9;
}

static int usage(FILE *f, int status)
{
	fprintf(f, "usage: engine [-p PASSES] [-m MAX_FLOWS] [-w 1|2|4] [-s] "
		   "CAPTURE\n"
		   "  -w: which loops (a sum): 1 parse only, 2 one by one, "
		   "4 batches\n"
		   "  -s: frames on 4 KiB pages (default: huge pages when the "
		   "kernel gives them)\n");
	return status;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	struct frame *fr = NULL;
	uint8_t *buf = NULL;
	size_t nfr = 0, cap = 0, blen = 0, bcap = 0, i;
	struct cot_flow_params fp;
	int passes = 5, c, pass, which = 7, small_pages = 0;
	struct stat sb;
	double best_parse = 1e9, best_all = 1e9, best_batch = 1e9;
	volatile uint32_t sink = 0;
	pcap_t *p;
	void *mem;
	size_t memlen;

	cot_flow_params_default(&fp);
	fp.max_flows = 131072;
	log_init("engine", 1);
	while ((c = getopt(argc, argv, "p:m:w:sh")) != -1) {
		switch (c) {
		case 'w':
			if (cot_cli_int("-w", optarg, 1, 7, &which) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'p':
			if (cot_cli_int("-p", optarg, 0, 1000000, &passes) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'm':
			if (cot_cli_u32("-m", optarg, 1, 1u << 26,
					&fp.max_flows) < 0)
				return COT_EXIT_USAGE;
			break;
		case 's':
			small_pages = 1;
			break;
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, COT_EXIT_USAGE);
		}
	}
	if (optind != argc - 1)
		return usage(stderr, COT_EXIT_USAGE);
	p = pcap_open_offline_with_tstamp_precision(
		argv[optind], PCAP_TSTAMP_PRECISION_NANO, err);
	if (!p || pcap_datalink(p) != DLT_EN10MB) {
		fprintf(stderr, "engine: %s: %s\n", argv[optind],
			p ? "not an Ethernet capture" : err);
		return 1;
	}
	/* The frames in one block no larger than the file, on huge pages
	 * unless -s: a frame source in RAM as a guest's memory usually is
	 * (hugetlbfs or THP), where a 4 KiB page per 15 frames would cost
	 * a TLB miss each (and end the hardware prefetcher's stream). */
	if (stat(argv[optind], &sb) < 0 || sb.st_size <= 0) {
		fprintf(stderr, "engine: %s: cannot stat\n", argv[optind]);
		return 1;
	}
	bcap = ((size_t)sb.st_size + HUGE - 1) & ~(size_t)(HUGE - 1);
	buf = aligned_alloc(HUGE, bcap);
	if (buf && !small_pages)
		madvise(buf, bcap, MADV_HUGEPAGE);
	while (buf && pcap_next_ex(p, &h, &d) == 1) {
		if (nfr == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			fr = realloc(fr, cap * sizeof(*fr));
		}
		if (!fr || blen + h->caplen > bcap) {
			fprintf(stderr, "engine: out of memory\n");
			return 1;
		}
		memcpy(buf + blen, d, h->caplen);
		fr[nfr].off = (uint32_t)blen;
		fr[nfr].caplen = h->caplen;
		fr[nfr].wirelen = h->len;
		fr[nfr].ts = (uint64_t)h->ts.tv_sec * 1000000000ULL +
			     (uint64_t)h->ts.tv_usec;
		blen += h->caplen;
		nfr++;
	}
	pcap_close(p);
	if (!buf) {
		fprintf(stderr, "engine: out of memory\n");
		return 1;
	}
	if (passes == 0) { /* -p 0: only read the capture (libpcap's cost) */
		printf("frames %zu read\n", nfr);
		return 0;
	}
	memlen = cot_flowtab_memsize(&fp);
	/* As cotrack replay allocates it: on huge pages when it can. */
	memlen = (memlen + HUGE - 1) & ~(size_t)(HUGE - 1);
	mem = aligned_alloc(HUGE, memlen);
	if (mem)
		madvise(mem, memlen, MADV_HUGEPAGE);
	if (!mem || !nfr) {
		fprintf(stderr, "engine: no frames or no memory\n");
		return 1;
	}
	for (pass = 0; pass < passes; pass++) {
		struct cot_flowtab *t;
		struct cot_pkt pk, bp[COT_FLOW_BATCH];
		uint64_t bts[COT_FLOW_BATCH];
		double t0, t1, t2, t3;

		t0 = now();
		for (i = 0; i < nfr && (which & 1); i++) {
			cot_pkt_parse(&pk, buf + fr[i].off, fr[i].caplen,
				      fr[i].wirelen);
			sink += pk.sport;
		}
		t1 = now();
		cot_flowtab_init(&t, mem, memlen, &fp);
		t2 = now();
		for (i = 0; i < nfr && (which & 2); i++) {
			cot_pkt_parse(&pk, buf + fr[i].off, fr[i].caplen,
				      fr[i].wirelen);
			cot_flowtab_update(t, &pk, fr[i].ts);
			if ((i & 4095) == 0)
				cot_flowtab_expire(t, fr[i].ts, 0);
		}
		t2 = now() - t2;
		/* As cotrack replay runs it: the frames of the next batch
		 * prefetched while this one is parsed, then the batch's
		 * lookups together (cot_flowtab_update_batch). */
		cot_flowtab_init(&t, mem, memlen, &fp);
		t3 = now();
		for (i = 0; i < nfr && (which & 4); i += COT_FLOW_BATCH) {
			size_t k = nfr - i < COT_FLOW_BATCH ? nfr - i
							    : COT_FLOW_BATCH;
			size_t j;

			for (j = 0; j < k; j++) {
				size_t ahead = i + j + COT_FLOW_BATCH;

				if (ahead < nfr) {
					__builtin_prefetch(buf + fr[ahead].off);
					__builtin_prefetch(buf + fr[ahead].off +
							   64);
				}
				cot_pkt_parse(&bp[j], buf + fr[i + j].off,
					      fr[i + j].caplen,
					      fr[i + j].wirelen);
				bts[j] = fr[i + j].ts;
			}
			cot_flowtab_update_batch(t, bp, bts, (uint32_t)k, NULL);
			if ((i & 4095) == 0)
				cot_flowtab_expire(t, fr[i].ts, 0);
		}
		t3 = now() - t3;
		if (t1 - t0 < best_parse)
			best_parse = t1 - t0;
		if (t2 < best_all)
			best_all = t2;
		if (t3 < best_batch)
			best_batch = t3;
	}
	printf("frames %zu, max_flows %u, best of %d passes\n", nfr,
	       fp.max_flows, passes);
	printf("parse only            %6.1f ns/packet  %6.2f Mpps\n",
	       best_parse * 1e9 / (double)nfr, (double)nfr / best_parse / 1e6);
	printf("parse + table update  %6.1f ns/packet  %6.2f Mpps  (one by "
	       "one)\n",
	       best_all * 1e9 / (double)nfr, (double)nfr / best_all / 1e6);
	printf("parse + table update  %6.1f ns/packet  %6.2f Mpps  (batches of "
	       "%d)\n",
	       best_batch * 1e9 / (double)nfr, (double)nfr / best_batch / 1e6,
	       COT_FLOW_BATCH);
	free(mem);
	free(buf);
	free(fr);
	return (int)(sink & 0);
}
