// SPDX-License-Identifier: MIT
/*
 * cotrack vmi: a guest's TCP sockets from its memory alone.
 *
 *   cotrack vmi snapshot --mem PATH [--format table|json]
 *   cotrack vmi watch --mem PATH [--interval 10ms] [--count N] [--duration D]
 *   cotrack vmi info --mem PATH
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"
#include "host/vmiattach.h"
#include "host/mem.h"
#include "cotrack/vmi.h"

/* Longest --interval / --duration: 10^9 s, far from overflowing a sum. */
#define MAX_DUR_NS 1000000000000000000ull

struct opts {
	const char *mem, *map, *sysmap, *btf;
	int json;
	uint64_t interval_ns, duration_ns;
	uint64_t count;
	uint32_t max;
	uint32_t repeat;
	int stats;
};

static void usage(FILE *f, const char *sub)
{
	if (!sub || !strcmp(sub, "snapshot"))
		fprintf(f, "usage: cotrack vmi snapshot --mem PATH [--format "
			   "table|json] [OPTIONS]\n"
			   "  List the guest's TCP sockets (every namespace), "
			   "read from its memory:\n"
			   "  what `ss -tan` inside the guest lists.\n");
	if (!sub || !strcmp(sub, "watch"))
		fprintf(f, "usage: cotrack vmi watch --mem PATH [--interval "
			   "10ms] [--count N]\n"
			   "                         [--duration D] [--format "
			   "table|json] [OPTIONS]\n"
			   "  Snapshot every interval and print "
			   "opened/closed/changed events (the\n"
			   "  first snapshot's sockets are reported as "
			   "opened).  Stops after N\n"
			   "  snapshots or D of time when given, else at "
			   "SIGINT.\n");
	if (!sub || !strcmp(sub, "info"))
		fprintf(f, "usage: cotrack vmi info --mem PATH [OPTIONS]\n"
			   "  Kernel release, KASLR offset, paging mode, and "
			   "what was found how.\n");
	fprintf(f, "options:\n"
		   "  -m, --mem PATH        guest memory: raw file (gpa = "
		   "offset, e.g.\n"
		   "                        /dev/shm/NAME of "
		   "memory-backend-file) or ELF core\n"
		   "                        from QEMU dump-guest-memory\n"
		   "      --map GPA:OFF:LEN[,...]  region map of a raw file "
		   "(PCI hole)\n"
		   "  -f, --format FMT      table (default) or json (one "
		   "object per line)\n"
		   "  -i, --interval D      watch period (default 10ms; units "
		   "ns us ms s m h,\n"
		   "                        a bare number is seconds)\n"
		   "  -n, --count N         watch: stop after N snapshots\n"
		   "  -d, --duration D      watch: stop after D\n"
		   "      --max N           at most N sockets per snapshot "
		   "(default 1048576)\n"
		   "      --system-map FILE symbols for kernels without "
		   "kallsyms in\n"
		   "                        VMCOREINFO (Linux < 6.0)\n"
		   "      --btf FILE        raw BTF of the guest kernel "
		   "instead of the BTF\n"
		   "                        read from guest memory\n"
		   "  -s, --stats           print walk counters on stderr\n"
		   "      --repeat N        snapshot: time N snapshots, print "
		   "figures only\n"
		   "  -h, --help\n"
		   "exit status: 0 ok, 1 error, 2 usage error.\n");
}

static void vmi_close(struct cot_vmi_attach *c)
{
	cot_vmi_detach(c);
}

static int vmi_setup(struct cot_vmi_attach *c, const struct opts *o)
{
	struct cot_vmi_attach_opts ao = {
		.mem = o->mem,
		.map = o->map,
		.sysmap = o->sysmap,
		.btf = o->btf,
	};
	char msg[512];

	if (cot_vmi_attach(c, &ao, msg, sizeof(msg)) < 0) {
		log_warnx("%s", msg);
		return -1;
	}
	return 0;
}

static void print_sock(FILE *f, const struct cot_vmi_sock *s, int json,
		       const char *ev)
{
	char l[COT_ADDR_STRLEN], r[COT_ADDR_STRLEN];
	const char *st = cot_vmi_state_name(s->state);

	cot_addr_format(l, &s->local, s->family == 4);
	cot_addr_format(r, &s->remote, s->family == 4);
	if (json) {
		fprintf(f, "{");
		if (ev)
			fprintf(f, "\"event\":\"%s\",", ev);
		fprintf(f,
			"\"netns\":%u,\"family\":\"ipv%u\",\"state\":\"%s\","
			"\"local\":\"%s\",\"lport\":%u,\"remote\":\"%s\","
			"\"rport\":%u}\n",
			s->netns, s->family, st, l, s->lport, r, s->rport);
		return;
	}
	if (ev)
		fprintf(f, "%-8s ", ev);
	fprintf(f, "%-10u %-4s %-12s %-39s %5u %-39s %5u\n", s->netns,
		s->family == 4 ? "ipv4" : "ipv6", st, l, s->lport, r, s->rport);
}

static void print_header(FILE *f, int json, int ev)
{
	if (json)
		return;
	if (ev)
		fprintf(f, "%-8s ", "EVENT");
	fprintf(f, "%-10s %-4s %-12s %-39s %5s %-39s %5s\n", "NETNS", "FAM",
		"STATE", "LOCAL", "LPORT", "REMOTE", "RPORT");
}

static void print_stats(const struct cot_vmi_stats *st, uint64_t ns)
{
	fprintf(stderr,
		"vmi: %" PRIu64 " sockets, %u nets, %u ehash tables, %" PRIu64
		" buckets in %.1f us; read %" PRIu64 " bytes, %" PRIu64
		" page walks; rewalks %u; errors: read %u loop %u "
		"long %u family %u table %u net %u; truncated %u%s\n",
		st->sockets, st->nets, st->tables, st->buckets,
		(double)ns / 1e3, st->bytes_read, st->walks, st->rewalks,
		st->err_read, st->err_loop, st->err_long, st->err_family,
		st->err_table, st->err_net, st->truncated,
		st->err_budget ? "; incomplete (budget)" : "");
}

static int cmp_human(const void *a, const void *b)
{
	return cot_vmi_sock_cmp_human(a, b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --repeat N: time N snapshots, one line of figures for bench/vmi.sh. */
static int bench(struct cot_vmi_attach *c, struct cot_vmi_sock *v,
		 const struct opts *o)
{
	uint64_t *t = calloc(o->repeat, sizeof(*t)), sum = 0;
	struct cot_vmi_stats st;
	uint32_t i, n = 0;

	if (!t)
		return -1;
	for (i = 0; i < o->repeat; i++) {
		uint64_t t0 = cot_clock_mono_ns();

		if (cot_vmi_snapshot(c->k, v, o->max, &n, &st)) {
			free(t);
			return -1;
		}
		t[i] = cot_clock_mono_ns() - t0;
		sum += t[i];
	}
	qsort(t, o->repeat, sizeof(*t), cmp_u64);
	printf("snapshots=%u sockets=%u buckets=%" PRIu64 " nets=%u tables=%u "
	       "min_us=%.1f median_us=%.1f mean_us=%.1f max_us=%.1f "
	       "ns_per_bucket=%.1f ns_per_socket=%.1f errors=%u "
	       "bytes_read=%" PRIu64 " walks=%" PRIu64 "\n",
	       o->repeat, n, st.buckets, st.nets, st.tables, t[0] / 1e3,
	       t[o->repeat / 2] / 1e3, (double)sum / o->repeat / 1e3,
	       t[o->repeat - 1] / 1e3,
	       st.buckets ? (double)t[o->repeat / 2] / (double)st.buckets : 0.0,
	       n ? (double)t[o->repeat / 2] / n : 0.0,
	       st.err_read + st.err_loop + st.err_long + st.err_family +
		       st.err_table + st.err_net + st.truncated + st.err_budget,
	       st.bytes_read, st.walks);
	free(t);
	return 0;
}

static int do_snapshot(const struct opts *o)
{
	struct cot_vmi_attach c;
	struct cot_vmi_stats st;
	struct cot_vmi_sock *v;
	uint32_t n, i;
	uint64_t t0;
	int err;

	if (vmi_setup(&c, o))
		return 1;
	v = calloc(o->max, sizeof(*v));
	if (!v) {
		log_warnx("out of memory");
		vmi_close(&c);
		return 1;
	}
	if (o->repeat) {
		err = bench(&c, v, o);
		free(v);
		vmi_close(&c);
		return err ? 1 : 0;
	}
	t0 = cot_clock_mono_ns();
	err = cot_vmi_snapshot(c.k, v, o->max, &n, &st);
	t0 = cot_clock_mono_ns() - t0;
	if (err) {
		log_warnx("snapshot: %s", cot_strerror(err));
		free(v);
		vmi_close(&c);
		return 1;
	}
	qsort(v, n, sizeof(*v), cmp_human);
	print_header(stdout, o->json, 0);
	for (i = 0; i < n; i++)
		print_sock(stdout, &v[i], o->json, NULL);
	if (o->stats)
		print_stats(&st, t0);
	if (st.truncated)
		log_warnx("%u sockets not listed: more than --max %u",
			  st.truncated, o->max);
	if (st.err_budget)
		log_warnx("snapshot incomplete: the scan's bound was reached "
			  "after %" PRIu64 " bytes (forged or huge tables?)",
			  st.bytes_read);
	free(v);
	vmi_close(&c);
	return 0;
}

struct watch_out {
	int json;
};

static void on_event(void *ctx, enum cot_vmi_event ev,
		     const struct cot_vmi_sock *old,
		     const struct cot_vmi_sock *now)
{
	const struct watch_out *w = ctx;

	print_sock(stdout, now ? now : old, w->json, cot_vmi_event_name(ev));
}

static int do_watch(const struct opts *o)
{
	struct cot_vmi_attach c;
	struct cot_vmi_sock *a, *b, *t;
	struct watch_out w = { o->json };
	struct cot_vmi_stats st;
	uint32_t na = 0, nb;
	uint64_t start, next, snaps = 0;
	int rc = 0;

	if (vmi_setup(&c, o))
		return 1;
	a = calloc(o->max, sizeof(*a));
	b = calloc(o->max, sizeof(*b));
	if (!a || !b) {
		log_warnx("out of memory");
		rc = 1;
		goto out;
	}
	print_header(stdout, o->json, 1);
	start = next = cot_clock_mono_ns();
	for (;;) {
		uint64_t t0 = cot_clock_mono_ns();
		int err = cot_vmi_snapshot(c.k, b, o->max, &nb, &st);

		if (err) {
			log_warnx("snapshot: %s", cot_strerror(err));
			rc = 1;
			break;
		}
		if (o->stats)
			print_stats(&st, cot_clock_mono_ns() - t0);
		cot_vmi_diff(a, na, b, nb, on_event, &w);
		fflush(stdout);
		t = a, a = b, b = t;
		na = nb;
		snaps++;
		if (o->count && snaps >= o->count)
			break;
		next += o->interval_ns;
		if (o->duration_ns && next - start >= o->duration_ns)
			break;
		t0 = cot_clock_mono_ns();
		if (next > t0) {
			struct timespec ts = {
				.tv_sec = (time_t)((next - t0) / 1000000000ull),
				.tv_nsec = (long)((next - t0) % 1000000000ull),
			};

			nanosleep(&ts, NULL);
		} else {
			next = t0; /* fell behind: do not burst */
		}
	}
out:
	free(a);
	free(b);
	vmi_close(&c);
	return rc;
}

static int do_info(const struct opts *o)
{
	struct cot_vmi_attach c;
	const struct cot_vmi *k;
	struct cot_vmi_stats st;
	struct cot_vmi_sock *v;
	uint32_t n = 0, i;
	uint64_t t0;

	if (vmi_setup(&c, o))
		return 1;
	k = c.k;
	printf("memory:          %s (%s, %zu bytes, %u region%s)\n", o->mem,
	       c.hm.kind == COT_HOSTMEM_ELF ? "ELF core" : "raw", c.hm.size,
	       c.hm.nregions, c.hm.nregions == 1 ? "" : "s");
	printf("vmcoreinfo:      found by scanning RAM at gpa %#" PRIx64
	       " (%u lines, %u ignored)\n",
	       k->vmci_pa, k->ci.lines, k->ci.bad_lines);
	printf("kernel release:  %s\n", k->ci.osrelease);
	printf("kaslr offset:    %#" PRIx64 "%s\n", k->ci.kerneloffset,
	       (k->ci.have & COT_VMCI_KERNELOFFSET) ? "" : " (not given)");
	printf("phys_base:       %#" PRIx64 "\n", k->ci.phys_base);
	printf("paging:          %u-level (init_top_pgt %#" PRIx64
	       " at gpa %#" PRIx64 ")\n",
	       k->levels, k->ci.init_top_pgt, k->root_pa);
	if (k->how & COT_VMI_HOW_KALLSYMS)
		printf("symbols:         kallsyms in guest memory (%u "
		       "symbols, %s, tables %s, token index at %#" PRIx64 ")\n",
		       k->nsyms,
		       k->ks_enc == COT_KALLSYMS_PLACE_REL  ? "place-relative"
		       : k->ks_enc == COT_KALLSYMS_ABSOLUTE ? "absolute"
							    : "base-relative",
		       (k->how & COT_VMI_HOW_KS_LOCATED)
			       ? "found in the kernel image"
			       : "from VMCOREINFO",
		       k->ks_token_index);
	else
		printf("symbols:         System.map %s + KERNELOFFSET\n",
		       o->sysmap);
	for (i = 0; i < COT_VMI_SYM__COUNT; i++)
		printf("  %-20s %#" PRIx64 "\n", cot_vmi_sym_name(i),
		       k->sym[i]);
	printf("btf:             %s", c.btf_how);
	if (c.btf_len)
		printf(" (%zu bytes)", c.btf_len);
	printf("\n");
	printf("profile:         sock_common: daddr %u rcv_saddr %u dport %u "
	       "num %u family %u state %u net %u v6_daddr %u v6_rcv_saddr %u "
	       "nulls_node %u; tw_substate %u; listen node %u (%s)\n",
	       k->prof.skc_daddr, k->prof.skc_rcv_saddr, k->prof.skc_dport,
	       k->prof.skc_num, k->prof.skc_family, k->prof.skc_state,
	       k->prof.skc_net, k->prof.skc_v6_daddr, k->prof.skc_v6_rcv_saddr,
	       k->prof.skc_nulls_node, k->prof.tw_substate, k->prof.listen_node,
	       (k->prof.flags & COT_VMI_PF_LHASH2_NULLS) ? "hlist_nulls"
							 : "hlist");
	printf("                 per-netns ehash: %s\n",
	       (k->prof.flags & COT_VMI_PF_PERNET)
		       ? ((k->prof.flags & COT_VMI_PF_DR_PTR)
				  ? "net->ipv4.tcp_death_row->hashinfo"
				  : "net->ipv4.tcp_death_row.hashinfo")
		       : "no (global tcp_hashinfo only)");
	v = calloc(o->max, sizeof(*v));
	if (v) {
		t0 = cot_clock_mono_ns();
		cot_vmi_snapshot(c.k, v, o->max, &n, &st);
		t0 = cot_clock_mono_ns() - t0;
		printf("namespaces:      %u:", st.nets);
		for (i = 0; i < c.k->nnets; i++)
			printf(" %u", c.k->nets[i].inum);
		printf("\n");
		printf("sockets:         %u in %u ehash table%s, %" PRIu64
		       " buckets, %.1f us\n",
		       n, st.tables, st.tables == 1 ? "" : "s", st.buckets,
		       (double)t0 / 1e3);
		printf("walk errors:     read %u loop %u long %u family %u "
		       "table %u net %u truncated %u budget %u (rewalks "
		       "%u)\n",
		       st.err_read, st.err_loop, st.err_long, st.err_family,
		       st.err_table, st.err_net, st.truncated, st.err_budget,
		       st.rewalks);
		printf("read:            discovery %" PRIu64 " bytes, %" PRIu64
		       " page walks; snapshot %" PRIu64 " bytes, %" PRIu64
		       " page walks\n",
		       c.open_bytes, c.open_walks, st.bytes_read, st.walks);
		free(v);
	}
	vmi_close(&c);
	return 0;
}

int cmd_vmi(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "map", required_argument, NULL, 'M' },
		{ "format", required_argument, NULL, 'f' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "max", required_argument, NULL, 'X' },
		{ "system-map", required_argument, NULL, 'S' },
		{ "btf", required_argument, NULL, 'B' },
		{ "stats", no_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .interval_ns = 10000000ull, .max = 1u << 20 };
	const char *sub;
	int ch;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout, NULL);
		return argc < 2 ? COT_EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "snapshot") && strcmp(sub, "watch") &&
	    strcmp(sub, "info")) {
		log_warnx(
			"vmi: unknown subcommand '%s' (snapshot, watch, info)",
			sub);
		return COT_EXIT_USAGE;
	}
	optind = 1;
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "m:f:i:n:d:sh", lopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'm':
			o.mem = optarg;
			break;
		case 'M':
			o.map = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "json"))
				o.json = 1;
			else if (strcmp(optarg, "table")) {
				log_warnx("unknown format '%s' (table, json)",
					  optarg);
				return COT_EXIT_USAGE;
			}
			break;
		case 'i':
			if (cot_cli_duration("--interval", optarg, 1,
					     MAX_DUR_NS, &o.interval_ns) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'd':
			if (cot_cli_duration("--duration", optarg, 0,
					     MAX_DUR_NS, &o.duration_ns) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'n':
			if (cot_cli_u64("--count", optarg, 0, UINT64_MAX,
					&o.count) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'X':
			if (cot_cli_u32("--max", optarg, 1, 1u << 26, &o.max) <
			    0)
				return COT_EXIT_USAGE;
			break;
		case 'R':
			if (cot_cli_u32("--repeat", optarg, 1, 1000000,
					&o.repeat) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'S':
			o.sysmap = optarg;
			break;
		case 'B':
			o.btf = optarg;
			break;
		case 's':
			o.stats = 1;
			break;
		case 'h':
			usage(stdout, sub);
			return 0;
		default:
			usage(stderr, sub);
			return COT_EXIT_USAGE;
		}
	}
	if (optind != argc || !o.mem) {
		if (!o.mem)
			log_warnx("vmi %s: --mem PATH is required", sub);
		usage(stderr, sub);
		return COT_EXIT_USAGE;
	}
	if (!strcmp(sub, "snapshot"))
		return do_snapshot(&o);
	if (!strcmp(sub, "watch"))
		return do_watch(&o);
	return do_info(&o);
}
