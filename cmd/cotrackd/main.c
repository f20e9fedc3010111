// SPDX-License-Identifier: MIT
/* cotrackd: options, start-up, the poll loop, signals. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cotrackd.h"
#include "host/log.h"
#include "host/spool.h"

volatile int cotrackd_stop, cotrackd_reopen, cotrackd_toggle;

static void usage(FILE *f)
{
	fprintf(f,
"usage: cotrackd --vm NAME,net=SOCKET[,mem=PATH[,map=MAP]] [--vm ...]\n"
"                [--uplink TAP[,netns=NS]] [OPTIONS]\n"
"\n"
"The tracker daemon.  It is the NIC backend of each VM (QEMU\n"
"  -netdev stream,id=n0,server=off,addr.type=unix,addr.path=SOCKET)\n"
"and switches frames between the VMs (a learning L2 switch) and an\n"
"optional tap uplink, unchanged.  Every frame goes through the packet\n"
"engine; each VM's memory (its -object memory-backend-file, e.g.\n"
"/dev/shm/NAME) is read to list its TCP sockets, at most every\n"
"--interval, driven by the VM's own frames (TSC-gated) and a fallback\n"
"timer.  Both views are merged into one record per connection, with\n"
"seen_by nic, vmi or both.  Start cotrackd before the VMs: QEMU connects\n"
"once, at start-up.\n"
"\n"
"VMs (up to %d):\n"
"  --vm NAME,net=SOCKET[,mem=PATH][,map=MAP]\n"
"        NAME (up to %d bytes) goes into every record; SOCKET is the unix\n"
"        socket cotrackd listens on for that VM's QEMU; PATH is its guest\n"
"        memory (a raw file: guest-physical address = file offset; MAP as\n"
"        in `cotrack vmi --map` for RAM split around a PCI hole).  Without\n"
"        mem=, only the NIC view runs for that VM.\n"
"  --uplink TAP[,netns=NS]\n"
"        also switch to tap device TAP, created inside network namespace NS\n"
"        (from `ip netns add NS`), so hosts there reach the VMs.\n"
"\n"
"Options:\n"
"  -o, --output FILE     write records to FILE as JSON lines, flushed per\n"
"                        record (default: standard output, or nothing with\n"
"                        --log-server); SIGHUP reopens FILE\n"
"  -i, --interval DUR    memory scan interval (default 10ms; units ns, us,\n"
"                        ms, s)\n"
"      --grace DUR       a TCP connection on the NIC for longer than this\n"
"                        (plus two intervals) with no guest socket is\n"
"                        flagged hidden-nic (default 1s)\n"
"      --no-timer        scan only on guest frames, no fallback timer\n"
"      --no-track        forward only: no tracking at all (a baseline for\n"
"                        benchmarks)\n"
"      --max-flows N     connection table size per VM (default 65536)\n"
"      --vmi-cap N       most guest sockets per scan (default 65536)\n"
"\n"
"Shipping to the user's log server (cotrack-logd; docs/logd.md):\n"
"      --log-server HOST:PORT  send every record over TLS 1.3 with mutual\n"
"                        authentication; records wait, sealed, until logd has\n"
"                        committed them, and are resent after a reconnect\n"
"      --pki DIR --name NAME   DIR/ca.pem, DIR/NAME.pem, DIR/NAME.key (from\n"
"                        `cotrack pki init DIR --tracker NAME`)\n"
"      --ca FILE --cert FILE --key FILE   the same, file by file\n"
"      --spool FILE      keep unacknowledged records in FILE, sealed with an\n"
"                        AEAD, across restarts (default: in memory only)\n"
"      --spool-key SPEC  fd:N (read from a descriptor, e.g. a pipe from the\n"
"                        provisioning agent), derive:PEM (from the tracker's\n"
"                        private key) or hex:HEX (tests); never on disk\n"
"      --spool-max N     most records waiting (default 262144); when full the\n"
"                        oldest is dropped and the loss reported to logd\n"
"  -v, --verbose         more messages (twice: debug)\n"
"  -q, --quiet           warnings only\n"
"  -h, --help            this text\n"
"\n"
"Signals: SIGTERM and SIGINT end every open connection (end \"shutdown\"),\n"
"write the records and a summary per VM on standard error, and exit;\n"
"SIGHUP reopens the output file (for log rotation); SIGUSR1 pauses or\n"
"resumes memory scanning (to compare its cost at the guest).\n",
		MAX_VMS, COT_VM_NAMELEN - 1);
}

/* Parse "10ms", "1s", "500us", "100ns" (a bare number is ms). */
static int parse_dur(const char *s, uint64_t *ns)
{
	char *end;
	double v, mul = 1e6;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	if (!strcmp(end, "ns"))
		mul = 1;
	else if (!strcmp(end, "us"))
		mul = 1e3;
	else if (!strcmp(end, "ms") || !*end)
		mul = 1e6;
	else if (!strcmp(end, "s"))
		mul = 1e9;
	else
		return -1;
	if (v * mul > 3600e9)
		return -1;
	*ns = (uint64_t)(v * mul);
	return 0;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t now_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return now_ns();
#endif
}

/* TSC ticks per nanosecond, measured against CLOCK_MONOTONIC. */
static double calibrate_tsc(void)
{
	struct timespec req = { 0, 20000000 };
	uint64_t t0 = now_ns(), c0 = now_tsc(), t1, c1;

	nanosleep(&req, NULL);
	t1 = now_ns();
	c1 = now_tsc();
	if (t1 <= t0 || c1 <= c0)
		return 1.0;
	return (double)(c1 - c0) / (double)(t1 - t0);
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		cotrackd_reopen = 1;
	else if (sig == SIGUSR1)
		cotrackd_toggle = 1;
	else
		cotrackd_stop = 1;
}

/* "NAME,net=SOCK,mem=PATH,map=MAP" */
static int add_vm(struct daemon *d, char *spec)
{
	struct vm *v;
	struct port *p;
	char *tok, *save = NULL, *net = NULL;

	if (d->nvms == MAX_VMS) {
		log_warnx("--vm: at most %d VMs", MAX_VMS);
		return -1;
	}
	v = &d->vms[d->nvms];
	tok = strtok_r(spec, ",", &save);
	if (!tok || !*tok || strchr(tok, '=') ||
	    strlen(tok) >= COT_VM_NAMELEN) {
		log_warnx("--vm: want NAME,net=SOCKET[,mem=PATH] with a name of "
			  "1..%d bytes", COT_VM_NAMELEN - 1);
		return -1;
	}
	snprintf(v->name, sizeof(v->name), "%s", tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "net=", 4))
			net = tok + 4;
		else if (!strncmp(tok, "mem=", 4))
			snprintf(v->mem_path, sizeof(v->mem_path), "%s",
				 tok + 4);
		else if (!strncmp(tok, "map=", 4))
			snprintf(v->map_path, sizeof(v->map_path), "%s",
				 tok + 4);
		else {
			log_warnx("--vm %s: unknown key '%s' (net=, mem=, "
				  "map=)", v->name, tok);
			return -1;
		}
	}
	if (!net || !*net) {
		log_warnx("--vm %s: net=SOCKET is required", v->name);
		return -1;
	}
	p = &d->ports[d->nports];
	p->idx = d->nports;
	p->kind = PORT_VM;
	memcpy(p->name, v->name, sizeof(v->name)); /* both NUL-terminated */
	if (port_listen(p, net) < 0)
		return -1;
	p->vm = v;
	v->port = p;
	v->d = d;
	v->vmi_on = v->mem_path[0] != '\0';
	d->nports++;
	d->nvms++;
	return 0;
}

static int add_uplink(struct daemon *d, char *spec)
{
	struct port *p = &d->ports[d->nports];
	char *comma = strchr(spec, ',');
	const char *ns = NULL;

	if (d->nports == MAX_PORTS) {
		log_warnx("--uplink: too many ports");
		return -1;
	}
	if (comma) {
		*comma = '\0';
		if (strncmp(comma + 1, "netns=", 6) != 0) {
			log_warnx("--uplink: want TAP[,netns=NS]");
			return -1;
		}
		ns = comma + 7;
	}
	if (!*spec || strlen(spec) >= 16) {
		log_warnx("--uplink: tap name of 1..15 bytes");
		return -1;
	}
	p->idx = d->nports;
	p->kind = PORT_TAP;
	snprintf(p->name, sizeof(p->name), "uplink %s", spec);
	if (port_tap(p, spec, ns) < 0)
		return -1;
	d->nports++;
	return 0;
}

struct ship_opts {
	const char *server, *pki, *name, *ca, *cert, *key, *spool, *spool_key;
	uint32_t max;
};

/* --log-server: one shipper for the whole tracker (records carry vm). */
static int start_shipper(struct daemon *d, const struct ship_opts *o)
{
	static char host[256], ca[512], cert[512], key[512];
	static uint8_t spool_key[COT_SPOOL_KEYLEN];
	struct cot_shipper_params p;
	const char *colon;
	char err[256];

	if (!o->server) {
		log_warnx("--pki, --spool: only with --log-server HOST:PORT");
		return -1;
	}
	colon = strrchr(o->server, ':');
	if (!colon || colon == o->server || !colon[1] ||
	    (size_t)(colon - o->server) >= sizeof(host)) {
		log_warnx("--log-server: want HOST:PORT, got '%s'", o->server);
		return -1;
	}
	memset(&p, 0, sizeof(p));
	memcpy(host, o->server, (size_t)(colon - o->server));
	host[colon - o->server] = '\0';
	/* [::1]:6514 */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	p.host = host;
	p.port = colon + 1;
	if (o->pki) {
		if (!o->name) {
			log_warnx("--pki DIR needs --name NAME (this tracker)");
			return -1;
		}
		snprintf(ca, sizeof(ca), "%s/ca.pem", o->pki);
		snprintf(cert, sizeof(cert), "%s/%s.pem", o->pki, o->name);
		snprintf(key, sizeof(key), "%s/%s.key", o->pki, o->name);
		p.ca_file = ca;
		p.cert_file = cert;
		p.key_file = key;
	}
	if (o->ca)
		p.ca_file = o->ca;
	if (o->cert)
		p.cert_file = o->cert;
	if (o->key)
		p.key_file = o->key;
	if (!p.ca_file || !p.cert_file || !p.key_file) {
		log_warnx("--log-server needs --pki DIR --name NAME, or --ca, "
			  "--cert and --key");
		return -1;
	}
	if (o->spool) {
		if (!o->spool_key) {
			log_warnx("--spool needs --spool-key fd:N|derive:PEM|hex:HEX");
			return -1;
		}
		if (cot_spool_key_load(o->spool_key, spool_key, err,
				       sizeof(err)) < 0) {
			log_warnx("--spool-key: %s", err);
			return -1;
		}
		p.spool_path = o->spool;
		p.spool_key = spool_key;
	}
	p.max_records = o->max;
	if (cot_shipper_create(&d->sh, &p, err, sizeof(err)) < 0) {
		log_warnx("log shipping: %s", err);
		return -1;
	}
	log_info("shipping records to %s:%s", host, p.port);
	return 0;
}

/* Wait (boundedly) for logd to hold everything, then report. */
static void stop_shipper(struct daemon *d)
{
	struct cot_shipper_stats st;
	int rc = cot_shipper_flush(d->sh, 10000);

	cot_shipper_stats(d->sh, &st);
	fprintf(stderr,
		"shipping: %" PRIu64 " records, %" PRIu64
		" acknowledged by logd, %" PRIu64 " waiting%s, %" PRIu64
		" dropped (spool full)%s%s\n",
		st.last_seq, st.acked_seq, st.waiting,
		st.waiting ? " (kept in the spool)" : "", st.dropped,
		rc ? "; logd unreachable: " : "", rc ? st.last_error : "");
	cot_shipper_destroy(d->sh);
	d->sh = NULL;
}

static int open_output(struct daemon *d)
{
	FILE *f;

	if (!d->out_path) {
		d->out = stdout;
		return 0;
	}
	f = fopen(d->out_path, "a");
	if (!f) {
		log_warn("%s", d->out_path);
		return -1;
	}
	if (d->out && d->out != stdout)
		fclose(d->out);
	d->out = f;
	return 0;
}

static void accept_conn(struct daemon *d, struct port *p)
{
	int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (p->fd >= 0) {
		log_warnx("%s: a second connection on %s refused", p->name,
			  p->path);
		close(fd);
		return;
	}
	p->fd = fd;
	p->rlen = 0;
	p->connects++;
	log_info("%s: NIC connected", p->name);
	if (p->vm)
		p->vm->next_attach_ns = 0;
	(void)d;
}

static void loop(struct daemon *d)
{
	struct pollfd pfd[2 * MAX_PORTS];
	struct port *who[2 * MAX_PORTS];
	sigset_t none;
	int i, n;

	sigemptyset(&none);
	while (!cotrackd_stop) {
		uint64_t wait = 100000000ULL, now;
		struct timespec ts;

		if (cotrackd_reopen) {
			cotrackd_reopen = 0;
			if (d->out_path && open_output(d) == 0)
				log_info("output reopened");
		}
		if (cotrackd_toggle) {
			cotrackd_toggle = 0;
			d->vmi_paused = !d->vmi_paused;
			log_info("memory scanning %s",
				 d->vmi_paused ? "paused" : "resumed");
		}
		n = 0;
		for (i = 0; i < d->nports; i++) {
			struct port *p = &d->ports[i];

			/* The listener too: a second QEMU is refused at once. */
			if (p->lfd >= 0) {
				pfd[n].fd = p->lfd;
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				who[n++] = p;
			}
			if (p->fd >= 0) {
				pfd[n].fd = p->fd;
				pfd[n].events = POLLIN;
				if (p->q.count)
					pfd[n].events |= POLLOUT;
				pfd[n].revents = 0;
				who[n++] = p;
			}
		}
		for (i = 0; i < d->nvms; i++) {
			uint64_t w = vm_next_due_ns(d, &d->vms[i]);

			if (w < wait)
				wait = w;
		}
		ts.tv_sec = (time_t)(wait / 1000000000ULL);
		ts.tv_nsec = (long)(wait % 1000000000ULL);
		if (ppoll(pfd, (nfds_t)n, &ts, &none) < 0 && errno != EINTR)
			fatal("ppoll");
		for (i = 0; i < n; i++) {
			struct port *p = who[i];

			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == p->lfd && p->lfd >= 0) {
				accept_conn(d, p);
				continue;
			}
			if ((pfd[i].revents & POLLOUT) && port_flush(p) < 0) {
				port_close_conn(d, p, "write failed");
				continue;
			}
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    port_read(d, p) < 0) {
				if (p->kind == PORT_TAP) {
					log_warn("%s: read", p->name);
					continue;
				}
				port_close_conn(d, p, "disconnected");
				continue;
			}
		}
		/* Frames just queued: try to send them at once. */
		for (i = 0; i < d->nports; i++)
			if (d->ports[i].fd >= 0 && d->ports[i].q.count &&
			    port_flush(&d->ports[i]) < 0)
				port_close_conn(d, &d->ports[i], "write failed");
		now = now_ns();
		for (i = 0; i < d->nvms; i++)
			vm_tick(d, &d->vms[i], now);
	}
}

int main(int argc, char **argv)
{
	enum { O_GRACE = 256, O_NOTIMER, O_NOTRACK, O_MAXF, O_VMICAP, O_VM,
	       O_UPLINK, O_LOGSRV, O_PKI, O_NAME, O_CA, O_CERT, O_KEY, O_SPOOL,
	       O_SPOOLKEY, O_SPOOLMAX };
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, O_VM },
		{ "uplink", required_argument, NULL, O_UPLINK },
		{ "output", required_argument, NULL, 'o' },
		{ "interval", required_argument, NULL, 'i' },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "no-timer", no_argument, NULL, O_NOTIMER },
		{ "no-track", no_argument, NULL, O_NOTRACK },
		{ "max-flows", required_argument, NULL, O_MAXF },
		{ "vmi-cap", required_argument, NULL, O_VMICAP },
		{ "log-server", required_argument, NULL, O_LOGSRV },
		{ "pki", required_argument, NULL, O_PKI },
		{ "name", required_argument, NULL, O_NAME },
		{ "ca", required_argument, NULL, O_CA },
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "spool", required_argument, NULL, O_SPOOL },
		{ "spool-key", required_argument, NULL, O_SPOOLKEY },
		{ "spool-max", required_argument, NULL, O_SPOOLMAX },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct daemon d;
	struct sigaction sa;
	sigset_t block;
	uint64_t mono, real;
	struct timespec ts;
	int c, i, verbosity = 1;
	unsigned long v;
	char *end;
	struct ship_opts so = { 0 };

	log_init("cotrackd", 1);
	d.interval_ns = 10000000ULL;
	d.grace_ns = 1000000000ULL;
	d.max_flows = 65536;
	d.vmi_cap = 65536;
	d.track = true;
	d.vmi_timer = true;
	while ((c = getopt_long(argc, argv, "o:i:vqh", opts, NULL)) != -1) {
		switch (c) {
		case O_VM:
			if (add_vm(&d, optarg) < 0)
				return 2;
			break;
		case O_UPLINK:
			if (add_uplink(&d, optarg) < 0)
				return 2;
			break;
		case 'o':
			d.out_path = optarg;
			break;
		case 'i':
			if (parse_dur(optarg, &d.interval_ns) < 0 ||
			    d.interval_ns < 1000) {
				log_warnx("--interval: want a duration of at "
					  "least 1us, e.g. 10ms");
				return 2;
			}
			break;
		case O_GRACE:
			if (parse_dur(optarg, &d.grace_ns) < 0) {
				log_warnx("--grace: want a duration, e.g. 1s");
				return 2;
			}
			break;
		case O_NOTIMER:
			d.vmi_timer = false;
			break;
		case O_NOTRACK:
			d.track = false;
			break;
		case O_MAXF:
		case O_VMICAP:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > (1UL << 24)) {
				log_warnx("%s: want 1..%lu", argv[optind - 1],
					  1UL << 24);
				return 2;
			}
			if (c == O_MAXF)
				d.max_flows = (uint32_t)v;
			else
				d.vmi_cap = (uint32_t)v;
			break;
		case O_LOGSRV:
			so.server = optarg;
			break;
		case O_PKI:
			so.pki = optarg;
			break;
		case O_NAME:
			so.name = optarg;
			break;
		case O_CA:
			so.ca = optarg;
			break;
		case O_CERT:
			so.cert = optarg;
			break;
		case O_KEY:
			so.key = optarg;
			break;
		case O_SPOOL:
			so.spool = optarg;
			break;
		case O_SPOOLKEY:
			so.spool_key = optarg;
			break;
		case O_SPOOLMAX:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > (1UL << 26)) {
				log_warnx("--spool-max: want 1..%lu", 1UL << 26);
				return 2;
			}
			so.max = (uint32_t)v;
			break;
		case 'v':
			verbosity++;
			break;
		case 'q':
			verbosity = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	log_init("cotrackd", verbosity);
	if (optind != argc || d.nvms == 0) {
		if (optind != argc)
			log_warnx("unexpected argument '%s'", argv[optind]);
		else
			log_warnx("no --vm given");
		usage(stderr);
		return 2;
	}
	/*
	 * Queued frames are malloc'd and freed one by one; without this,
	 * glibc trims and regrows the heap (brk) at a high rate.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	if (getrandom(d.hash_seed, sizeof(d.hash_seed), 0) !=
	    (ssize_t)sizeof(d.hash_seed))
		log_warn("getrandom: flow hash keyed with a fixed seed");
	d.tsc_per_ns = calibrate_tsc();
	clock_gettime(CLOCK_REALTIME, &ts);
	real = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	mono = now_ns();
	d.mono_to_real_ns = real - mono;
	/* Shipping to logd: no local copy unless -o asks for one. */
	if ((!so.server || d.out_path) && open_output(&d) < 0)
		return 1;
	if ((so.server || so.pki || so.spool) && start_shipper(&d, &so) < 0)
		return 2;
	for (i = 0; i < d.nports; i++) {
		d.ports[i].rbuf = malloc(RBUF_SIZE);
		if (!d.ports[i].rbuf)
			fatal("malloc");
	}
	for (i = 0; i < d.nvms; i++)
		if (vm_track_init(&d, &d.vms[i]) < 0)
			fatalx("%s: cannot allocate the tracking state",
			       d.vms[i].name);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Signals arrive only inside ppoll(): no lost wake-up. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);

	log_info("serving %d VM(s), %d port(s); memory scan every %.3f ms; "
		 "TSC %.3f GHz", d.nvms, d.nports, (double)d.interval_ns / 1e6,
		 d.tsc_per_ns);
	loop(&d);

	log_info("stopping");
	for (i = 0; i < d.nvms; i++)
		vm_track_finish(&d, &d.vms[i]);
	for (i = 0; i < d.nvms; i++)
		vm_summary(&d, &d.vms[i], stderr);
	if (d.out)
		fflush(d.out);
	if (d.sh)
		stop_shipper(&d);
	for (i = 0; i < d.nports; i++)
		if (d.ports[i].lfd >= 0 && d.ports[i].path[0])
			unlink(d.ports[i].path);
	return 0;
}
