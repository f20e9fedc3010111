// SPDX-License-Identifier: MIT
/*
 * cotrack-loadgen: a synthetic tracker.  Sends N generated connection
 * records to cotrack-logd through the same shipper library cotrackd
 * uses (host/ship.h), waits for their acknowledgement and prints what it
 * measured: rate, and the delay from creating a record to logd's
 * acknowledgement (sent after the commit).  Used by tests/logd and
 * bench/logd.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"
#include "host/ship.h"
#include "host/spool.h"

#define MAX_COUNT 100000000 /* records per run: 1.6 GB of bookkeeping */

static uint64_t *add_ns; /* creation time per seq - base */
static uint64_t base_seq, nrec;
static uint32_t names_every;		/* --names: 0 none */
static uint32_t n_vms = 1, n_hosts = 8; /* --vms, --hosts */
static uint64_t spread_ns;		/* --spread: 0, records end now */
static uint64_t *delays;
static atomic_uint_fast64_t ndelays;
static atomic_uint_fast64_t prev_acked;

static void on_ack(void *ctx, uint64_t acked)
{
	uint64_t t = cot_clock_real_ns(), s, n;

	(void)ctx;
	/* Called from the shipper thread only: prev_acked is ours. */
	for (s = COT_MAX(prev_acked + 1, base_seq); s <= acked; s++) {
		if (s - base_seq >= nrec)
			break;
		n = atomic_load(&ndelays);
		delays[n] = t - add_ns[s - base_seq];
		atomic_store(&ndelays, n + 1);
	}
	if (acked > prev_acked)
		atomic_store(&prev_acked, acked);
}

/*
 * A small microservice deployment: 8 clients call the frontend on 443;
 * the frontend calls the api on 8080; the api calls the database and the
 * cache; everyone asks DNS.  Record i picks one call by a hash of i.
 */
static void gen(struct cot_rec *r, uint64_t i, const char *vm, uint64_t t,
		uint64_t dur)
{
	static const struct {
		uint8_t src, dst; /* last octet; 10.0.0.x clients, 10.0.1.x
				     services */
		uint16_t dport;
		uint8_t weight;
	} calls[] = {
		{ 0, 1, 443, 40 },  { 1, 2, 8080, 30 }, { 2, 3, 5432, 12 },
		{ 2, 4, 6379, 10 }, { 1, 53, 53, 4 },	{ 2, 53, 53, 4 },
	};
	uint32_t x = (uint32_t)(i * 2654435761u), w = x % 100, k;
	uint8_t a[4] = { 10, 0, 1, 0 };

	for (k = 0; k < COT_ARRAY_SIZE(calls) - 1 && w >= calls[k].weight; k++)
		w -= calls[k].weight;
	memset(r, 0, sizeof(*r));
	if (n_vms > 1)
		snprintf(r->vm, sizeof(r->vm), "%s-%u", vm,
			 (unsigned)((x >> 20) % n_vms));
	else
		snprintf(r->vm, sizeof(r->vm), "%s", vm);
	if (calls[k].src == 0 && n_hosts <= 8) {
		a[2] = 0;
		a[3] = (uint8_t)(1 + (x >> 8) % n_hosts);
	} else if (calls[k].src == 0) {
		/* 10.2.0.0 on: up to 2^22 client addresses */
		uint32_t h =
			(uint32_t)((i * 0x9e3779b97f4a7c15ull) >> 40) % n_hosts;

		a[1] = (uint8_t)(2 + (h >> 16));
		a[2] = (uint8_t)(h >> 8);
		a[3] = (uint8_t)h;
		cot_addr_from_v4(&r->src, a);
		a[1] = 0;
	} else {
		a[3] = calls[k].src;
	}
	if (calls[k].src != 0 || n_hosts <= 8)
		cot_addr_from_v4(&r->src, a);
	a[2] = 1;
	a[3] = calls[k].dst;
	cot_addr_from_v4(&r->dst, a);
	r->dport = calls[k].dport;
	r->sport = (uint16_t)(32768 + i % 28000);
	if (r->dport == 53) {
		r->proto = COT_PROTO_UDP;
		r->ipproto = 17;
		r->end = COT_END_IDLE;
	} else {
		r->proto = COT_PROTO_TCP;
		r->ipproto = 6;
		r->tcp_state = COT_TCP_CLOSED;
		r->end = COT_END_FIN;
		r->tcp_flags_fwd = 0x1b;
		r->tcp_flags_rev = 0x1b;
	}
	r->seen_by = COT_SEEN_NIC + (uint8_t)(x % 3);
	r->first_ns = t - dur;
	r->last_ns = t;
	r->pkts_fwd = 5 + x % 7;
	r->bytes_fwd = 400 + x % 5000;
	r->pkts_rev = 4 + x % 9;
	r->bytes_rev = 300 + (x >> 4) % 90000;
	r->netns = 4026531840u;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cotrack-loadgen --server HOST:PORT[,HOST:PORT...] "
		"(--pki DIR\n"
		"         --name NAME |"
		"         --ca FILE --cert FILE --key FILE) [--count N] "
		"[--rate R]\n"
		"         [--spool FILE --spool-key fd:N|derive:PEM|hex:HEX]\n"
		"         [--max-records N] [--discard-bad-spool] [--vm NAME]\n"
		"         [--timeout DUR] [--progress] [--names K]\n"
		"         [--spread DUR] [--vms K] [--hosts N] [--ack-timeout "
		"MS]\n"
		"  Adds N synthetic records (default 1000; R per second, 0: "
		"as fast as\n"
		"  possible), waits up to DUR (default 60s; a bare number is "
		"seconds)\n"
		"  for logd to acknowledge them all, prints a summary (rate, "
		"delay\n"
		"  creation->ack median/p99, chain head).\n"
		"  --names K: every K-th record names its workloads (record\n"
		"  version 2: a client process and the service's DNS name).\n"
		"  --spread DUR: the records' times spread evenly over the DUR "
		"before\n"
		"  now, in seq order, lasting 1 ms to 6 h (most under 1 s); "
		"default:\n"
		"  each ends when made and lasts 1 ms.  --vms K: records of K "
		"VMs\n"
		"  (NAME-0 ..); --hosts N: N client addresses (default 8).\n"
		"  --ack-timeout MS: leave a log server that has not "
		"acknowledged for\n"
		"  MS milliseconds while batches wait, or that takes longer to "
		"take or\n"
		"  give one frame (default 30000; 1000..3600000).\n"
		"  Exit status: 0 all acknowledged, 3 timeout, 1 error, 2 "
		"usage error.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "pki", required_argument, NULL, 'P' },
		{ "name", required_argument, NULL, 'n' },
		{ "ca", required_argument, NULL, 'C' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "count", required_argument, NULL, 'N' },
		{ "rate", required_argument, NULL, 'r' },
		{ "spool", required_argument, NULL, 'S' },
		{ "spool-key", required_argument, NULL, 'K' },
		{ "max-records", required_argument, NULL, 'm' },
		{ "discard-bad-spool", no_argument, NULL, 'D' },
		{ "vm", required_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 't' },
		{ "progress", no_argument, NULL, 'p' },
		{ "names", required_argument, NULL, 'W' },
		{ "spread", required_argument, NULL, 'Y' },
		{ "vms", required_argument, NULL, 'M' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "ack-timeout", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cot_shipper_params p = { .on_ack = on_ack };
	struct cot_shipper_stats st;
	struct cot_shipper *sh;
	static char ca[4096], cert[4096], key[4096], err[512];
	static struct cot_cli_server srv[COT_CLI_MAX_SERVERS];
	struct cot_ship_server list[COT_CLI_MAX_SERVERS];
	int nsrv = 0;
	const char *pki = NULL, *name = NULL, *keyspec = NULL, *vm = "vm-a";
	uint8_t spool_key[COT_SPOOL_KEYLEN];
	uint64_t count = 1000, rate = 0, i, t0, t1, tnext, med = 0, p99 = 0;
	uint64_t timeout_ns = 60000000000ull;
	int o, progress = 0, rc;
	struct cot_cli_pki files;
	struct cot_rec r;
	double secs;

	log_init(argv[0], 1);
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			nsrv = cot_cli_hostports("--server", optarg, srv);
			if (nsrv < 0)
				return COT_EXIT_USAGE;
			break;
		case 'P':
			pki = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'C':
			snprintf(ca, sizeof(ca), "%s", optarg);
			break;
		case 'c':
			snprintf(cert, sizeof(cert), "%s", optarg);
			break;
		case 'k':
			snprintf(key, sizeof(key), "%s", optarg);
			break;
		case 'N':
			if (cot_cli_u64("--count", optarg, 0, MAX_COUNT,
					&count) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'r':
			if (cot_cli_u64("--rate", optarg, 0, 1000000000,
					&rate) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'S':
			p.spool_path = optarg;
			break;
		case 'K':
			keyspec = optarg;
			break;
		case 'm':
			if (cot_cli_u32("--max-records", optarg, 0, 1u << 24,
					&p.max_records) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'D':
			p.discard_bad_spool = 1;
			break;
		case 'V':
			vm = optarg;
			break;
		case 'W':
			if (cot_cli_u32("--names", optarg, 1, UINT32_MAX,
					&names_every) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'Y':
			if (cot_cli_duration("--spread", optarg, 1,
					     3650 * 86400000000000ull,
					     &spread_ns) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'M':
			if (cot_cli_u32("--vms", optarg, 1, 1000, &n_vms) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'H':
			if (cot_cli_u32("--hosts", optarg, 1, 1u << 22,
					&n_hosts) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'A':
			if (cot_cli_u32("--ack-timeout", optarg,
					COT_SHIP_ACK_TIMEOUT_MIN,
					COT_SHIP_ACK_TIMEOUT_MAX,
					&p.ack_timeout_ms) < 0)
				return COT_EXIT_USAGE;
			break;
		case 't':
			if (cot_cli_duration("--timeout", optarg, 0,
					     86400000000000ull,
					     &timeout_ns) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'p':
			progress = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	if (!pki != !name) {
		log_warnx("--pki DIR and --name NAME go together");
		return COT_EXIT_USAGE;
	}
	if (pki) {
		if (cot_cli_pki("--name", pki, name, &files) < 0)
			return COT_EXIT_USAGE;
		snprintf(ca, sizeof(ca), "%s", files.ca);
		snprintf(cert, sizeof(cert), "%s", files.cert);
		snprintf(key, sizeof(key), "%s", files.key);
	}
	if (nsrv <= 0 || !ca[0] || !cert[0] || !key[0] || optind != argc ||
	    (p.spool_path && !keyspec)) {
		if (optind != argc)
			log_warnx("unexpected argument '%s'", argv[optind]);
		else if (nsrv <= 0)
			log_warnx("--server HOST:PORT is required");
		else if (p.spool_path && !keyspec)
			log_warnx("--spool needs --spool-key");
		else
			log_warnx("--pki DIR --name NAME, or --ca, --cert and "
				  "--key, are required");
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	for (i = 0; i < (uint64_t)nsrv; i++)
		list[i] = (struct cot_ship_server){ srv[i].host, srv[i].port };
	p.servers = list;
	p.nservers = (unsigned)nsrv;
	p.ca_file = ca;
	p.cert_file = cert;
	p.key_file = key;
	if (keyspec) {
		if (cot_spool_key_load(keyspec, spool_key, err, sizeof(err)) <
		    0)
			fatalx("spool key: %s", err);
		p.spool_key = spool_key;
	}
	add_ns = calloc(count + 1, sizeof(*add_ns));
	delays = calloc(count + 1, sizeof(*delays));
	if (!add_ns || !delays)
		fatalx("out of memory");
	nrec = count;

	rc = cot_shipper_create(&sh, &p, err, sizeof(err));
	if (rc < 0)
		fatalx("shipper: %s", err);
	cot_shipper_stats(sh, &st);
	base_seq = st.last_seq + 1;
	prev_acked = 0;
	printf("epoch %016" PRIx64 " loaded %" PRIu64 " next seq %" PRIu64 "\n",
	       st.epoch, st.loaded, base_seq);
	fflush(stdout);

	t0 = cot_clock_real_ns();
	tnext = t0;
	for (i = 0; i < count; i++) {
		uint64_t t;

		if (rate && i % 64 == 0) {
			/* Pace in steps of 64 records. */
			tnext = t0 + i * 1000000000u / rate;
			t = cot_clock_real_ns();
			if (tnext > t) {
				struct timespec d = {
					.tv_sec = (time_t)((tnext - t) /
							   1000000000u),
					.tv_nsec = (long)((tnext - t) %
							  1000000000u),
				};
				nanosleep(&d, NULL);
			}
		}
		t = cot_clock_real_ns();
		add_ns[i] = t;
		if (spread_ns) {
			uint64_t y = ((base_seq + i) * 0xd1b54a32d192ed03ull) >>
				     32,
				 c = y % 1000, dur;

			/* 90% < 1 s, 9% < 1 min, 0.9% < 1 h, 0.1% < 6 h */
			if (c < 900)
				dur = 1000000 + y % 999000000;
			else if (c < 990)
				dur = 1000000000 + y % 59000000000ull;
			else if (c < 999)
				dur = 60000000000ull + y % 3540000000000ull;
			else
				dur = 3600000000000ull + y % 18000000000000ull;
			gen(&r, base_seq + i, vm,
			    t0 - spread_ns +
				    (uint64_t)((double)spread_ns * (double)i /
					       (double)count),
			    dur);
		} else {
			gen(&r, base_seq + i, vm, t, 1000000);
		}
		if (names_every && i % names_every == 0) {
			r.src_owner.pid = 1000 + (uint32_t)(i % 7);
			snprintf(r.src_owner.comm, sizeof(r.src_owner.comm),
				 "client%u", (unsigned)(i % 7));
			snprintf(r.src_owner.cgroup, sizeof(r.src_owner.cgroup),
				 "/loadgen/c%u", (unsigned)(i % 7));
			snprintf(r.dst_name, sizeof(r.dst_name), "svc%u.test",
				 (unsigned)r.dport);
		}
		cot_shipper_add(sh, &r, NULL);
		if (progress && i % 5000 == 4999) {
			cot_shipper_stats(sh, &st);
			printf("progress added %" PRIu64 " acked %" PRIu64 "\n",
			       st.last_seq, st.acked_seq);
			fflush(stdout);
		}
	}
	t1 = cot_clock_real_ns();
	rc = cot_shipper_flush(sh, (int)(timeout_ns / 1000000));
	secs = (double)(cot_clock_real_ns() - t0) / 1e9;
	cot_shipper_stats(sh, &st);
	/* on_ack runs just after flush wakes us: let it finish (<= 1 s). */
	for (i = 0;
	     rc == 0 && i < 1000 && atomic_load(&prev_acked) < st.acked_seq;
	     i++)
		usleep(1000);
	{
		uint64_t n = atomic_load(&ndelays);

		if (n) {
			qsort(delays, n, sizeof(*delays), cmp_u64);
			med = delays[n / 2];
			p99 = delays[n * 99 / 100];
		}
		printf("added %" PRIu64 " in %.3f s (%.0f rec/s offered); all "
		       "acked after %.3f s: %.0f rec/s\n",
		       count, (double)(t1 - t0) / 1e9,
		       count / ((double)(t1 - t0) / 1e9 + 1e-9), secs,
		       count / (secs + 1e-9));
		if (st.dropped)
			printf("delay create->ack: not measured (%" PRIu64
			       " records dropped, spool full)\n",
			       st.dropped);
		else
			printf("delay create->ack over %" PRIu64
			       " records: median %.2f ms, p99 %.2f ms\n",
			       n, med / 1e6, p99 / 1e6);
	}
	printf("last_seq %" PRIu64 " acked %" PRIu64 " dropped %" PRIu64
	       " connects %" PRIu64 " failures %" PRIu64 " disconnects %" PRIu64
	       " switches %" PRIu64 " server %s\nhead ",
	       st.last_seq, st.acked_seq, st.dropped, st.connects,
	       st.connect_failures, st.disconnects, st.switches,
	       st.server_name);
	for (i = 0; i < 32; i++)
		printf("%02X", st.last_hash[i]);
	printf("\n%s\n", rc == 0 ? "result complete" : "result timeout");
	if (rc < 0 && st.last_error[0])
		printf("last error: %s\n", st.last_error);
	fflush(stdout);
	cot_shipper_destroy(sh);
	free(add_ns);
	free(delays);
	return rc == 0 ? 0 : 3;
}
