// SPDX-License-Identifier: MIT
/*
 * vmiscan: the CPU cost of core/vmi's socket scan on one guest's memory,
 * for bench/vmi.sh.  Attaches as `cotrack vmi` does (host/vmiattach),
 * then times, in thread CPU time (so that other jobs on the machine
 * count less than in wall time):
 *   - full scans: one cot_vmi_scan_step() with no budget, REPEAT times;
 *   - with -b BYTES, the same scan spread over steps of at most BYTES
 *     (what cotrackd does, one step per interval): the CPU of each step,
 *     the steps a scan takes, and a check that the spread scan lists
 *     exactly what the full one lists.
 * Prints one line of key=value figures; "% of a core" is a scan's (or a
 * step's) CPU over the interval -i (default 10 ms).  Between two scans
 * (two steps) it sleeps that interval, as cotrackd's scanner does, so
 * that the caches hold what they hold for a scanner running every
 * interval on this machine, not what a tight loop of scans leaves.
 *
 *   vmiscan [-n REPEAT] [-N STEPPED] [-b STEP_BYTES] [-i INTERVAL_MS]
 *           [-c CAP] [--owners] MEM
 *
 * Uses only the public core/vmi and host/vmiattach interfaces, so that
 * bench/vmi.sh can build it against an earlier commit's libraries too
 * (its BASE= variant).  --owners times cot_vmi_owners() (owners and live
 * volumes) after each whole scan, inside the measured CPU; a core
 * without it (an earlier commit's) refuses the option.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cotrack/vmi.h"
#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"
#include "host/vmiattach.h"

static int usage(FILE *f, int status)
{
	fprintf(f,
		"usage: vmiscan [-n REPEAT] [-N STEPPED] [-b STEP_BYTES] "
		"[-i INTERVAL_MS] [-c CAP] [--owners] MEM\n"
		"  Times core/vmi's socket scan of guest memory MEM (a raw RAM "
		"file or ELF core)\n"
		"  in thread CPU time: REPEAT full scans (default 200), and "
		"with -b the same\n"
		"  scan in steps of at most STEP_BYTES bytes (checked to list "
		"the same sockets).\n"
		"  -N  how many scans in steps (default 20)\n"
		"  -i  interval slept between scans and steps, and for the %% "
		"of "
		"a core\n      figures (default 10 ms)\n"
		"  -c  socket capacity (default 65536)\n"
		"  --owners  after each whole scan also walk the socket "
		"owners and\n            volumes (cot_vmi_owners), timed with "
		"it\n");
	return status;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void pause_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double median_us(uint64_t *t, size_t n)
{
	qsort(t, n, sizeof(*t), cmp_u64);
	return n ? (double)t[n / 2] / 1e3 : 0.0;
}

/* The same sockets, in the same order, from the same addresses. */
static int same(const struct cot_vmi_sock *a, const struct cot_vmi_sock *b,
		uint32_t na, uint32_t nb)
{
	uint32_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (cot_vmi_sock_cmp(&a[i], &b[i]) || a[i].kaddr != b[i].kaddr)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "owners", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t repeat = 200, stepped = 20, cap = 65536, interval_ms = 10,
		 n = 0, nfull = 0;
	uint64_t step_bytes = 0, *cpu = NULL, *wall = NULL, *scpu = NULL;
	uint64_t steps_all = 0, scpu_sum = 0, scpu_max = 0, max_steps = 0;
	struct cot_vmi_sock *full = NULL, *v = NULL;
	struct cot_vmi_attach_opts ao = { 0 };
	struct cot_vmi_attach at;
	struct cot_vmi_scan sc;
	struct cot_vmi_stats st;
	double full_us, int_us;
	size_t nscpu = 0, scap = 0;
	char msg[512];
	uint32_t i;
	int c, rc = 1, owners = 0;
#ifdef COT_VMI_SOCK_VOLUMES
	struct cot_vmi_owners om = { 0 };
	struct cot_vmi_owner *own = NULL;
	uint64_t own_bytes = 0, own_walks = 0;
#endif

	log_init("vmiscan", 0);
	while ((c = getopt_long(argc, argv, "n:N:b:i:c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (cot_cli_u32("-n", optarg, 1, 1000000, &repeat) < 0)
				return 2;
			break;
		case 'N':
			if (cot_cli_u32("-N", optarg, 1, 1000000, &stepped) < 0)
				return 2;
			break;
		case 'b':
			if (cot_cli_u64("-b", optarg, 1, 1ull << 40,
					&step_bytes) < 0)
				return 2;
			break;
		case 'i':
			if (cot_cli_u32("-i", optarg, 1, 100000, &interval_ms) <
			    0)
				return 2;
			break;
		case 'c':
			if (cot_cli_u32("-c", optarg, 1, 1u << 24, &cap) < 0)
				return 2;
			break;
		case 'O':
#ifdef COT_VMI_SOCK_VOLUMES
			owners = 1;
			break;
#else
			fprintf(stderr, "vmiscan: --owners: the socket-owner "
					"walk is not in this core\n");
			return 2;
#endif
		case 'h':
			return usage(stdout, 0);
		default:
			return usage(stderr, 2);
		}
	}
	if (optind != argc - 1)
		return usage(stderr, 2);
	ao.mem = argv[optind];
	if (cot_vmi_attach(&at, &ao, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "vmiscan: %s\n", msg);
		return 1;
	}
	full = calloc(cap, sizeof(*full));
	v = calloc(cap, sizeof(*v));
	cpu = calloc(repeat, sizeof(*cpu));
	wall = calloc(repeat, sizeof(*wall));
	if (!full || !v || !cpu || !wall) {
		fprintf(stderr, "vmiscan: out of memory\n");
		goto out;
	}
#ifdef COT_VMI_SOCK_VOLUMES
	if (owners) {
		om.procs_cap = 1u << 16;
		om.cgroups_cap = 4096;
		om.files_cap = 1u << 18;
		om.procs = calloc(om.procs_cap, sizeof(*om.procs));
		om.cgroups = calloc(om.cgroups_cap, sizeof(*om.cgroups));
		om.files = calloc(om.files_cap, sizeof(*om.files));
		own = calloc(cap, sizeof(*own));
		if (!om.procs || !om.cgroups || !om.files || !own) {
			fprintf(stderr, "vmiscan: out of memory\n");
			goto out;
		}
	}
#endif
	for (i = 0; i < repeat; i++) {
		uint64_t c0, w0;
		int r;

		pause_ms(interval_ms);
		c0 = cot_clock_thread_cpu_ns();
		w0 = cot_clock_mono_ns();
		cot_vmi_scan_start(at.k, &sc, full, cap);
		r = cot_vmi_scan_step(at.k, &sc, UINT64_MAX, UINT64_MAX, &st);
#ifdef COT_VMI_SOCK_VOLUMES
		if (owners && r == 1) {
			uint64_t b0 = at.k->bytes_read, k0 = at.k->walks;

			cot_vmi_owners(at.k, &om, full, sc.n, own, UINT64_MAX,
				       UINT64_MAX);
			own_bytes = at.k->bytes_read - b0;
			own_walks = at.k->walks - k0;
		}
#endif
		cpu[i] = cot_clock_thread_cpu_ns() - c0;
		wall[i] = cot_clock_mono_ns() - w0;
		if (r != 1) {
			fprintf(stderr, "vmiscan: scan: %s\n",
				r < 0 ? cot_strerror(r) : "not complete");
			goto out;
		}
		nfull = sc.n;
	}
	int_us = interval_ms * 1e3;
	printf("sockets=%u buckets=%llu nets=%u tables=%u bytes=%llu "
	       "walks=%llu ",
	       nfull, (unsigned long long)st.buckets, st.nets, st.tables,
	       (unsigned long long)st.bytes_read, (unsigned long long)st.walks);
	printf("wall_us=%.1f ", median_us(wall, repeat));
	full_us = median_us(cpu, repeat);
	printf("cpu_min_us=%.1f cpu_us=%.1f core_pct=%.3f", cpu[0] / 1e3,
	       full_us, full_us / int_us * 100);
#ifdef COT_VMI_SOCK_VOLUMES
	if (owners)
		printf(" owners=1 procs=%u files=%u owned=%u volumes=%u "
		       "owner_bytes=%llu owner_walks=%llu owner_errors=%u",
		       om.nprocs, om.nfiles, om.st.owned, om.st.volumes,
		       (unsigned long long)own_bytes,
		       (unsigned long long)own_walks,
		       om.st.err_read + om.st.err_loop + om.st.err_long +
			       om.st.err_verify);
#endif
	if (step_bytes) {
		/* Bound: STEPPED scans of at most COT_VMI_MAX_SCAN_BUCKETS +
		 * a few thousand steps each (every step does one unit). */
		for (i = 0; i < stepped; i++) {
			uint64_t nsteps = 0;
			int r = 0;

			cot_vmi_scan_start(at.k, &sc, v, cap);
			while (r == 0) {
				uint64_t c0, d;

				pause_ms(interval_ms);
				c0 = cot_clock_thread_cpu_ns();
				r = cot_vmi_scan_step(at.k, &sc, step_bytes,
						      UINT64_MAX, &st);
				d = cot_clock_thread_cpu_ns() - c0;
				if (nscpu == scap) {
					size_t nc = scap ? 2 * scap : 4096;
					uint64_t *p =
						realloc(scpu, nc * sizeof(*p));

					if (!p) {
						fprintf(stderr, "vmiscan: out "
								"of memory\n");
						goto out;
					}
					scpu = p;
					scap = nc;
				}
				scpu[nscpu++] = d;
				scpu_sum += d;
				if (d > scpu_max)
					scpu_max = d;
				nsteps++;
			}
			if (r < 0) {
				fprintf(stderr, "vmiscan: stepped scan: %s\n",
					cot_strerror(r));
				goto out;
			}
			n = sc.n;
			if (!same(v, full, n, nfull)) {
				fprintf(stderr,
					"vmiscan: the scan in steps of "
					"%llu bytes lists other "
					"sockets than the full one\n",
					(unsigned long long)step_bytes);
				goto out;
			}
			steps_all += nsteps;
			if (nsteps > max_steps)
				max_steps = nsteps;
		}
		printf(" step_bytes=%llu steps=%.1f step_cpu_us=%.1f "
		       "step_cpu_mean_us=%.1f step_cpu_max_us=%.1f "
		       "step_core_pct=%.3f scan_ms=%.0f",
		       (unsigned long long)step_bytes,
		       (double)steps_all / stepped, median_us(scpu, nscpu),
		       (double)scpu_sum / (double)nscpu / 1e3, scpu_max / 1e3,
		       (double)scpu_sum / (double)nscpu / 1e3 / int_us * 100,
		       (double)max_steps * interval_ms);
	}
	printf("\n");
	rc = 0;
out:
#ifdef COT_VMI_SOCK_VOLUMES
	free(own);
	free(om.files);
	free(om.cgroups);
	free(om.procs);
#endif
	free(scpu);
	free(wall);
	free(cpu);
	free(v);
	free(full);
	cot_vmi_detach(&at);
	return rc;
}
