// SPDX-License-Identifier: MIT
/* cotrack replay: connection records from a pcap/pcapng capture. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "host/cli.h"
#include "host/log.h"
#include "host/recfmt.h"
#include "host/replay.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cotrack replay [OPTIONS] FILE\n"
		"\n"
		"Track every connection in a pcap or pcapng capture (FILE, "
		"or - for\n"
		"standard input) and write one record per connection, in "
		"the order the\n"
		"connections end.  Connections still open at the end of the "
		"capture are\n"
		"written with end \"open\".\n"
		"\n"
		"Options:\n"
		"  -f, --format FMT     table (default), json (one object "
		"per line) or csv\n"
		"  -o, --output FILE    write records to FILE instead of "
		"standard output\n"
		"  -s, --stats          print counters to standard error at "
		"the end: frames,\n"
		"                       drops by reason, flows by how they "
		"ended\n"
		"      --vm NAME        VM name to put in every record "
		"(default: none)\n"
		"      --max-flows N    connection table size (default "
		"65536); when full,\n"
		"                       the longest-idle connection ends "
		"with \"shutdown\"\n"
		"      --tcp-idle DUR   idle timeout, established TCP "
		"(default 300s)\n"
		"      --tcp-trans-idle DUR  idle timeout, TCP "
		"handshake/closing (default 30s)\n"
		"      --udp-idle DUR   idle timeout, UDP (default 60s)\n"
		"      --other-idle DUR idle timeout, ICMP and others "
		"(default 30s)\n"
		"      --active DUR     report long connections every DUR "
		"with end\n"
		"                       \"active\" (default: never)\n"
		"      --vxlan-port PORT[,PORT...]  UDP ports taken as VXLAN "
		"(default\n"
		"                       4789,8472); repeatable, at most 4\n"
		"      --geneve-port PORT[,PORT...] UDP ports taken as "
		"Geneve (default 6081)\n"
		"      --no-decap       track tunnels (VXLAN, Geneve, GRE, "
		"ERSPAN, IP-in-IP)\n"
		"                       as their outer flows only; by "
		"default the inner\n"
		"                       connections are tracked too, "
		"keyed by the tunnel\n"
		"      --progress / --no-progress  progress on standard "
		"error (default:\n"
		"                       when it is a terminal and FILE is "
		"over 32 MiB)\n"
		"  -h, --help           this text\n"
		"\n"
		"DUR is a duration: 500ms, 1.5s, 2m, 1h; a bare number is "
		"seconds.\n"
		"\n"
		"Bytes are IP-layer bytes (IP header and payload, no link "
		"header);\n"
		"fwd counts initiator to responder.  Link types: Ethernet "
		"(with 802.1Q\n"
		"and QinQ tags), raw IP, Linux cooked (v1, v2).\n"
		"\n"
		"Exit status: 0 success, 1 bad or truncated capture "
		"(records up to the\n"
		"damage are still written), 2 usage error.\n");
}

/* Longest timeout: 10^9 s (as before), far from overflowing a sum. */
#define MAX_TIMEOUT_NS 1000000000000000000ull

/*
 * JSON and CSV records go to the output's file descriptor through a
 * cot_recbuf (256 KiB write()s, no stdio per record); the header and the
 * table through stdio, flushed before the first record.
 */
struct out {
	FILE *f;
	enum cot_recfmt fmt;
	struct cot_recbuf *w; /* NULL: the table, through f */
};

static void write_header(void *ctx)
{
	struct out *o = ctx;

	cot_recfmt_header(o->f, o->fmt);
	if (o->w)
		fflush(o->f);
}

static void write_rec(void *ctx, const struct cot_rec *r)
{
	struct out *o = ctx;

	if (o->w)
		cot_recbuf_write(o->w, r);
	else
		cot_recfmt_write(o->f, o->fmt, r);
}

int cmd_replay(int argc, char **argv)
{
	enum {
		O_VM = 256,
		O_MAXF,
		O_TCPI,
		O_TCPT,
		O_UDPI,
		O_OTHI,
		O_ACT,
		O_PROG,
		O_NOPROG,
		O_VXLAN,
		O_GENEVE,
		O_NODECAP
	};
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "stats", no_argument, NULL, 's' },
		{ "vm", required_argument, NULL, O_VM },
		{ "max-flows", required_argument, NULL, O_MAXF },
		{ "tcp-idle", required_argument, NULL, O_TCPI },
		{ "tcp-trans-idle", required_argument, NULL, O_TCPT },
		{ "udp-idle", required_argument, NULL, O_UDPI },
		{ "other-idle", required_argument, NULL, O_OTHI },
		{ "active", required_argument, NULL, O_ACT },
		{ "progress", no_argument, NULL, O_PROG },
		{ "no-progress", no_argument, NULL, O_NOPROG },
		{ "vxlan-port", required_argument, NULL, O_VXLAN },
		{ "geneve-port", required_argument, NULL, O_GENEVE },
		{ "no-decap", no_argument, NULL, O_NODECAP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cot_replay_opts ro;
	struct cot_pkt_cfg pc;
	bool vx_set = false, gn_set = false;
	struct cot_replay_stats st;
	struct out out = { stdout, COT_RECFMT_TABLE, NULL };
	const char *outpath = NULL, *path;
	char errbuf[PCAP_ERRBUF_SIZE + 256], optname[32];
	int c, li = 0, stats = 0, prog = -1, rc, wrc, status = 0;
	uint64_t *dst;
	FILE *in;
	pcap_t *p;

	memset(&ro, 0, sizeof(ro));
	cot_flow_params_default(&ro.fp);
	cot_pkt_cfg_default(&pc);
	ro.pc = &pc;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:sh", opts, &li)) != -1) {
		switch (c) {
		case 'f':
			if (cot_recfmt_parse(optarg, &out.fmt) < 0) {
				log_warnx("unknown format '%s' (table, json, "
					  "csv)",
					  optarg);
				return COT_EXIT_USAGE;
			}
			break;
		case 'o':
			outpath = optarg;
			break;
		case 's':
			stats = 1;
			break;
		case O_VM:
			if (strlen(optarg) >= COT_VM_NAMELEN) {
				log_warnx("--vm: name longer than %d bytes",
					  COT_VM_NAMELEN - 1);
				return COT_EXIT_USAGE;
			}
			ro.fp.vm = optarg;
			break;
		case O_MAXF:
			if (cot_cli_u32("--max-flows", optarg, 1, 1u << 26,
					&ro.fp.max_flows) < 0)
				return COT_EXIT_USAGE;
			break;
		case O_TCPI:
		case O_TCPT:
		case O_UDPI:
		case O_OTHI:
		case O_ACT:
			dst = c == O_TCPI   ? &ro.fp.tcp_idle_ns
			      : c == O_TCPT ? &ro.fp.tcp_trans_idle_ns
			      : c == O_UDPI ? &ro.fp.udp_idle_ns
			      : c == O_OTHI ? &ro.fp.other_idle_ns
					    : &ro.fp.active_ns;
			snprintf(optname, sizeof(optname), "--%s",
				 opts[li].name);
			if (cot_cli_duration(optname, optarg, 0, MAX_TIMEOUT_NS,
					     dst) < 0)
				return COT_EXIT_USAGE;
			break;
		case O_VXLAN:
		case O_GENEVE:
			/* The first use replaces the defaults. */
			if (cot_cli_ports(c == O_VXLAN ? "--vxlan-port"
						       : "--geneve-port",
					  optarg,
					  c == O_VXLAN ? pc.vxlan_port
						       : pc.geneve_port,
					  c == O_VXLAN ? &vx_set : &gn_set) < 0)
				return COT_EXIT_USAGE;
			break;
		case O_NODECAP:
			pc.decap = false;
			break;
		case O_PROG:
			prog = 1;
			break;
		case O_NOPROG:
			prog = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	path = argv[optind];
	ro.name = path;
	if (strcmp(path, "-") != 0) {
		struct stat sb;

		if (stat(path, &sb) < 0) {
			log_warn("%s", path);
			return 1;
		}
		if (S_ISDIR(sb.st_mode)) {
			log_warnx("%s: is a directory", path);
			return 1;
		}
		ro.size = (long long)sb.st_size;
		if (sb.st_size == 0) {
			log_warnx("%s: empty file, not a capture", path);
			return 1;
		}
	}
	if (prog < 0)
		prog = isatty(2) && ro.size > 32LL << 20;
	ro.progress = prog;
	if (outpath) {
		out.f = fopen(outpath, "w");
		if (!out.f) {
			log_warn("%s", outpath);
			return 1;
		}
	}
	if (out.fmt != COT_RECFMT_TABLE) {
		out.w = cot_recbuf_new(fileno(out.f), out.fmt);
		if (!out.w) {
			log_warnx("out of memory");
			if (outpath)
				fclose(out.f);
			return 1;
		}
	}
	ro.on_record = write_rec;
	ro.ctx = &out;

	/* A classic pcap file is read in big chunks, without libpcap. */
	if (strcmp(path, "-") != 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ro.on_header = write_header;
			rc = cot_replay_fd(fd, &ro, &st, errbuf,
					   sizeof(errbuf));
			close(fd);
			ro.on_header = NULL;
			if (rc != -COT_ENOTSUP)
				goto done;
		}
	}
	/*
	 * Otherwise (pcapng, standard input) libpcap reads it: open the
	 * stream ourselves, since libpcap reads each frame with two fread()s
	 * and a 1 MiB buffer (set before any read) saves system calls.
	 */
	in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!in) {
		log_warn("%s", path);
		cot_recbuf_free(out.w);
		return 1;
	}
	setvbuf(in, NULL, _IOFBF, 1 << 20);
	p = pcap_fopen_offline_with_tstamp_precision(
		in, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!p) {
		if (in != stdin)
			fclose(in);
		if (strstr(errbuf, "unknown file format") ||
		    strstr(errbuf, "bad dump file format"))
			log_warnx("%s: not a pcap or pcapng capture (%s)", path,
				  errbuf);
		else
			log_warnx("%s: %s", path, errbuf);
		cot_recbuf_free(out.w);
		return 1;
	}
	write_header(&out);
	rc = cot_replay_pcap(p, &ro, &st, errbuf, sizeof(errbuf));
	pcap_close(p);
done:
	if (rc < 0) {
		log_warnx("%s: %s", path, errbuf);
		status = 1;
	}
	wrc = cot_recbuf_free(out.w);
	if (wrc < 0) {
		log_warnx("%s: %s", outpath ? outpath : "standard output",
			  strerror(-wrc));
		status = 1;
	} else if (fflush(out.f) != 0 || ferror(out.f)) {
		log_warn("%s", outpath ? outpath : "standard output");
		status = 1;
	}
	if (outpath && fclose(out.f) != 0) {
		log_warn("%s", outpath);
		status = 1;
	}
	if (stats)
		cot_replay_print_stats(stderr, &st);
	return status;
}
