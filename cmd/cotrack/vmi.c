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
	int no_owners;
};

/* Memory of one owner pass (cot_vmi_owners()). */
#define OWN_PROCS   (1u << 16)
#define OWN_CGROUPS 4096u
#define OWN_FILES   (1u << 18)

struct own_mem {
	struct cot_vmi_owners o;
	struct cot_vmi_owner *own;
};

static int own_alloc(struct own_mem *m, uint32_t n)
{
	memset(m, 0, sizeof(*m));
	m->o.procs = calloc(OWN_PROCS, sizeof(*m->o.procs));
	m->o.cgroups = calloc(OWN_CGROUPS, sizeof(*m->o.cgroups));
	m->o.files = calloc(OWN_FILES, sizeof(*m->o.files));
	m->own = calloc(n ? n : 1, sizeof(*m->own));
	m->o.procs_cap = OWN_PROCS;
	m->o.cgroups_cap = OWN_CGROUPS;
	m->o.files_cap = OWN_FILES;
	return m->o.procs && m->o.cgroups && m->o.files && m->own ? 0 : -1;
}

static void own_free(struct own_mem *m)
{
	free(m->o.procs);
	free(m->o.cgroups);
	free(m->o.files);
	free(m->own);
}

static void usage(FILE *f, const char *sub)
{
	if (!sub || !strcmp(sub, "snapshot"))
		fprintf(f,
			"usage: cotrack vmi snapshot --mem PATH [--format "
			"table|json] [OPTIONS]\n"
			"  List the guest's TCP sockets (every namespace), "
			"read from its memory:\n"
			"  what `ss -tan` inside the guest lists, with each "
			"socket's inode and\n"
			"  owner (ss -p: lowest pid holding it, its fd, comm, "
			"cgroup v2 path) and,\n"
			"  for full sockets, ss -ti's bytes_acked, "
			"bytes_received, segs_out,\n"
			"  segs_in (\"-\" where there is none).\n");
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
		   "      --no-owners       snapshot: no owners, inodes nor "
		   "volumes (the\n"
		   "                        socket walk alone)\n"
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

/* @str (at most @max bytes) as a JSON string or, with @json 0, between
 * double quotes as ss prints a comm (\" and \\ escaped, other bytes
 * outside printable ASCII as \u00XX or \xXX). */
static void put_str(FILE *f, const char *str, size_t max, int json)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < max && str[i]; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, json ? "\\u%04x" : "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void print_sock(FILE *f, const struct cot_vmi_sock *s, int json,
		       const char *ev, const struct cot_vmi_owners *o,
		       const struct cot_vmi_owner *ow)
{
	char l[COT_ADDR_STRLEN], r[COT_ADDR_STRLEN];
	const char *st = cot_vmi_state_name(s->state);
	const struct cot_vmi_proc *pr =
		ow && ow->proc < o->nprocs ? &o->procs[ow->proc] : NULL;
	const struct cot_vmi_cgroup *cg =
		pr && pr->cgroup < o->ncgroups ? &o->cgroups[pr->cgroup] : NULL;
	bool vol = s->flags & COT_VMI_SOCK_VOLUMES;

	cot_addr_format(l, &s->local, s->family == 4);
	cot_addr_format(r, &s->remote, s->family == 4);
	if (json) {
		fprintf(f, "{");
		if (ev)
			fprintf(f, "\"event\":\"%s\",", ev);
		fprintf(f,
			"\"netns\":%u,\"family\":\"ipv%u\",\"state\":\"%s\","
			"\"local\":\"%s\",\"lport\":%u,\"remote\":\"%s\","
			"\"rport\":%u",
			s->netns, s->family, st, l, s->lport, r, s->rport);
		if (ow && ow->inode)
			fprintf(f, ",\"inode\":%" PRIu64, ow->inode);
		if (pr) {
			fprintf(f, ",\"pid\":%u,\"fd\":%u,\"comm\":", pr->pid,
				ow->fd);
			put_str(f, pr->comm, sizeof(pr->comm), 1);
			if (cg) {
				fprintf(f, ",\"cgroup\":");
				put_str(f, cg->path, sizeof(cg->path), 1);
			}
		}
		if (vol)
			fprintf(f,
				",\"bytes_acked\":%" PRIu64
				",\"bytes_received\":%" PRIu64
				",\"segs_out\":%u,\"segs_in\":%u",
				s->bytes_acked, s->bytes_received, s->segs_out,
				s->segs_in);
		fprintf(f, "}\n");
		return;
	}
	if (ev)
		fprintf(f, "%-8s ", ev);
	fprintf(f, "%-10u %-4s %-12s %-39s %5u %-39s %5u", s->netns,
		s->family == 4 ? "ipv4" : "ipv6", st, l, s->lport, r, s->rport);
	if (!o) {
		fprintf(f, "\n");
		return;
	}
	if (ow && ow->inode)
		fprintf(f, " %10" PRIu64, ow->inode);
	else
		fprintf(f, " %10s", "-");
	if (vol)
		fprintf(f, " %12" PRIu64 " %12" PRIu64 " %9u %9u",
			s->bytes_acked, s->bytes_received, s->segs_out,
			s->segs_in);
	else
		fprintf(f, " %12s %12s %9s %9s", "-", "-", "-", "-");
	if (pr) {
		fprintf(f, " users:((");
		put_str(f, pr->comm, sizeof(pr->comm), 0);
		fprintf(f, ",pid=%u,fd=%u)) ", pr->pid, ow->fd);
		if (cg)
			fprintf(f, "%s%s", cg->path,
				cg->truncated ? "..." : "");
		else
			fprintf(f, "-");
	} else {
		fprintf(f, " - -");
	}
	fprintf(f, "\n");
}

static void print_header(FILE *f, int json, int ev, int own)
{
	if (json)
		return;
	if (ev)
		fprintf(f, "%-8s ", "EVENT");
	fprintf(f, "%-10s %-4s %-12s %-39s %5s %-39s %5s", "NETNS", "FAM",
		"STATE", "LOCAL", "LPORT", "REMOTE", "RPORT");
	if (own)
		fprintf(f, " %10s %12s %12s %9s %9s %s %s", "INODE",
			"BYTES_ACKED", "BYTES_RCVD", "SEGS_OUT", "SEGS_IN",
			"USERS", "CGROUP");
	fprintf(f, "\n");
}

static void print_own_stats(const struct cot_vmi_owner_stats *st, uint64_t ns)
{
	fprintf(stderr,
		"vmi owners: %u processes, %u file tables, %" PRIu64
		" fds, %u files, %u cgroups; %u sockets owned, %u with inode, "
		"%u with volumes in %.1f us; read %" PRIu64 " bytes, %" PRIu64
		" page walks; errors: read %u loop %u long %u verify %u "
		"truncated %u%s\n",
		st->tasks, st->tables, st->fds, st->files, st->cgroups,
		st->owned, st->inodes, st->volumes, (double)ns / 1e3,
		st->bytes_read, st->walks, st->err_read, st->err_loop,
		st->err_long, st->err_verify, st->truncated,
		st->err_budget ? "; incomplete (budget)" : "");
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
		 const struct opts *o, struct own_mem *om)
{
	uint64_t *t = calloc(o->repeat, sizeof(*t)), sum = 0;
	struct cot_vmi_stats st;
	uint32_t i, n = 0;

	if (!t)
		return -1;
	for (i = 0; i < o->repeat; i++) {
		uint64_t t0 = cot_clock_mono_ns();

		if (cot_vmi_snapshot(c->k, v, o->max, &n, &st) ||
		    (om && cot_vmi_owners(c->k, &om->o, v, n, om->own,
					  COT_VMI_DEFAULT_SCAN_BYTES,
					  COT_VMI_DEFAULT_SCAN_WALKS))) {
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
	if (om) { /* what cotrackd adds per scan: the volumes pass alone */
		uint64_t *tv = calloc(o->repeat, sizeof(*tv));

		for (i = 0; tv && i < o->repeat; i++) {
			uint64_t t0 = cot_clock_mono_ns();

			cot_vmi_owners(c->k, &om->o, v, n, NULL,
				       COT_VMI_DEFAULT_SCAN_BYTES,
				       COT_VMI_DEFAULT_SCAN_WALKS);
			tv[i] = cot_clock_mono_ns() - t0;
		}
		if (tv) {
			qsort(tv, o->repeat, sizeof(*tv), cmp_u64);
			printf("volumes_only=1 vol_min_us=%.1f "
			       "vol_median_us=%.1f "
			       "vol_bytes_read=%" PRIu64 " vol_walks=%" PRIu64
			       "\n",
			       tv[0] / 1e3, tv[o->repeat / 2] / 1e3,
			       om->o.st.bytes_read, om->o.st.walks);
			free(tv);
		}
		/* the last full pass's figures again */
		cot_vmi_owners(c->k, &om->o, v, n, om->own,
			       COT_VMI_DEFAULT_SCAN_BYTES,
			       COT_VMI_DEFAULT_SCAN_WALKS);
	}
	if (om)
		printf("owners=1 procs=%u fds=%" PRIu64 " owned=%u volumes=%u "
		       "owner_bytes_read=%" PRIu64 " owner_walks=%" PRIu64
		       " owner_errors=%u\n",
		       om->o.st.tasks, om->o.st.fds, om->o.st.owned,
		       om->o.st.volumes, om->o.st.bytes_read, om->o.st.walks,
		       om->o.st.err_read + om->o.st.err_loop +
			       om->o.st.err_long + om->o.st.err_verify +
			       om->o.st.truncated + om->o.st.err_budget);
	free(t);
	return 0;
}

static int do_snapshot(const struct opts *o)
{
	struct cot_vmi_attach c;
	struct cot_vmi_stats st;
	struct cot_vmi_sock *v;
	struct own_mem om;
	uint32_t n, i;
	uint64_t t0, t1 = 0;
	int err;

	if (vmi_setup(&c, o))
		return 1;
	v = calloc(o->max, sizeof(*v));
	if (!v || (!o->no_owners && own_alloc(&om, o->max))) {
		log_warnx("out of memory");
		free(v);
		if (!o->no_owners)
			own_free(&om);
		vmi_close(&c);
		return 1;
	}
	if (o->repeat) {
		err = bench(&c, v, o, o->no_owners ? NULL : &om);
		free(v);
		if (!o->no_owners)
			own_free(&om);
		vmi_close(&c);
		return err ? 1 : 0;
	}
	t0 = cot_clock_mono_ns();
	err = cot_vmi_snapshot(c.k, v, o->max, &n, &st);
	t0 = cot_clock_mono_ns() - t0;
	if (err) {
		log_warnx("snapshot: %s", cot_strerror(err));
		free(v);
		if (!o->no_owners)
			own_free(&om);
		vmi_close(&c);
		return 1;
	}
	qsort(v, n, sizeof(*v), cmp_human);
	if (!o->no_owners) {
		t1 = cot_clock_mono_ns();
		err = cot_vmi_owners(c.k, &om.o, v, n, om.own,
				     COT_VMI_DEFAULT_SCAN_BYTES,
				     COT_VMI_DEFAULT_SCAN_WALKS);
		t1 = cot_clock_mono_ns() - t1;
		if (err)
			log_warnx("owners: %s", cot_strerror(err));
		else if (!(c.k->prof.flags & COT_VMI_PF_OWNERS) ||
			 !c.k->sym[COT_VMI_SYM_INIT_TASK])
			log_warnx("owners: not known (%s)",
				  (c.k->prof.flags & COT_VMI_PF_OWNERS)
					  ? "no init_task symbol"
					  : "BTF lacks the task/file/cgroup "
					    "members");
	}
	print_header(stdout, o->json, 0, !o->no_owners);
	for (i = 0; i < n; i++)
		print_sock(stdout, &v[i], o->json, NULL,
			   o->no_owners ? NULL : &om.o,
			   o->no_owners ? NULL : &om.own[i]);
	if (o->stats) {
		print_stats(&st, t0);
		if (!o->no_owners)
			print_own_stats(&om.o.st, t1);
	}
	if (!o->no_owners && om.o.st.err_budget)
		log_warnx("owners incomplete: the budget ended the pass");
	if (st.truncated)
		log_warnx("%u sockets not listed: more than --max %u",
			  st.truncated, o->max);
	if (st.err_budget)
		log_warnx("snapshot incomplete: the scan's bound was reached "
			  "after %" PRIu64 " bytes (forged or huge tables?)",
			  st.bytes_read);
	free(v);
	if (!o->no_owners)
		own_free(&om);
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

	print_sock(stdout, now ? now : old, w->json, cot_vmi_event_name(ev),
		   NULL, NULL);
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
	print_header(stdout, o->json, 1, 0);
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
	if (k->prof.flags & COT_VMI_PF_OWNERS)
		printf("                 owners: task tasks %u tgid %u comm %u "
		       "files %u cgroups %u; fdt %u max_fds %u fd %u "
		       "open_fds %u; file private_data %u; socket file %u sk "
		       "%u ino %u; sk_socket %u; dfl_cgrp %u kn %u; kn name "
		       "%u parent %u\n",
		       k->prof.task_tasks, k->prof.task_tgid, k->prof.task_comm,
		       k->prof.task_files, k->prof.task_cgroups,
		       k->prof.files_fdt, k->prof.fdt_max_fds, k->prof.fdt_fd,
		       k->prof.fdt_open_fds, k->prof.file_private_data,
		       k->prof.socket_file, k->prof.socket_sk,
		       k->prof.socket_ino, k->prof.sk_socket,
		       k->prof.css_dfl_cgrp, k->prof.cgroup_kn, k->prof.kn_name,
		       k->prof.kn_parent);
	else
		printf("                 owners: not in this kernel's BTF\n");
	if (k->prof.flags & COT_VMI_PF_VOLUMES)
		printf("                 volumes: tcp_sock bytes_acked %u "
		       "bytes_received %u segs_out %u segs_in %u\n",
		       k->prof.tp_bytes_acked, k->prof.tp_bytes_received,
		       k->prof.tp_segs_out, k->prof.tp_segs_in);
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
		{ "no-owners", no_argument, NULL, 'O' },
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
		case 'O':
			o.no_owners = 1;
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
