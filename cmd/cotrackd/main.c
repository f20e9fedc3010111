// SPDX-License-Identifier: MIT
/* cotrackd: options, start-up, the end.  The loop is in loop.c. */
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cotrackd.h"
#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"
#include "host/spool.h"
#include "vhost.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cotrackd --vm "
		"NAME,net=SOCKET|vhost-user=SOCKET[,mem=PATH[,map=MAP]][,mac="
		"MAC][,offloads=on|off]\n"
		"                [--vm ...]\n"
		"                [--uplink TAP[,netns=NS]] [OPTIONS]\n"
		"\n"
		"The tracker daemon.  It is the NIC backend of each VM (QEMU\n"
		"  -netdev "
		"stream,id=n0,server=off,addr.type=unix,addr.path=SOCKET)\n"
		"and switches frames between the VMs (a learning L2 switch) "
		"and tap\n"
		"uplinks, unchanged.  Every frame goes through the packet "
		"engine; each\n"
		"VM's memory (its -object memory-backend-file, e.g. "
		"/dev/shm/NAME) is\n"
		"read to list its TCP sockets, at most every --interval, "
		"driven by the\n"
		"VM's own frames (TSC-gated) and a fallback timer, on a thread "
		"of its\n"
		"own with a budget per scan step.  Both views are merged into "
		"one\n"
		"record per connection, with seen_by nic, vmi or both.  Start "
		"cotrackd\n"
		"before the VMs: QEMU connects once, at start-up.\n"
		"\n"
		"VMs (up to %d) and uplinks (up to %d):\n"
		"  --vm "
		"NAME,net=SOCKET|vhost-user=SOCKET[,mem=PATH][,map=MAP][,mac="
		"MAC][,offloads=on|off]\n"
		"        NAME (up to %d bytes) goes into every record; SOCKET "
		"is the unix\n"
		"        socket cotrackd listens on for that VM's QEMU; PATH "
		"is its guest\n"
		"        memory (a raw file: guest-physical address = file "
		"offset; MAP as\n"
		"        in `cotrack vmi --map` for RAM split around a PCI "
		"hole).  Without\n"
		"        mem=, only the NIC view runs for that VM, except "
		"with\n"
		"        vhost-user=: cotrackd is then the VM's vhost-user-net "
		"backend\n"
		"        (QEMU -chardev socket,path=SOCKET,reconnect=1 -netdev "
		"vhost-user)\n"
		"        and reads guest memory from the memory table QEMU "
		"sends\n"
		"        (docs/vhost-user.md).  MAC "
		"(aa:bb:cc:dd:ee:ff)\n"
		"        fixes the VM's address: frames from it with any other "
		"source are\n"
		"        dropped.  offloads=on (vhost-user= only; default "
		"off) offers\n"
		"        the guest checksum offload and TSO both ways: its "
		"super-frames are\n"
		"        counted as the segments a wire carries, passed whole "
		"to VMs that\n"
		"        take them and segmented for every other port.\n"
		"  --uplink TAP[,netns=NS]\n"
		"        also switch to tap device TAP, created inside network "
		"namespace NS\n"
		"        (from `ip netns add NS`), so hosts there reach the "
		"VMs.\n"
		"\n"
		"Durations take a unit (ns, us, ms, s, m, h); a bare number is "
		"seconds.\n"
		"\n"
		"Options:\n"
		"  -o, --output FILE     write records to FILE as JSON lines, "
		"written out\n"
		"                        once per loop turn (default: standard "
		"output, or\n"
		"                        nothing with --log-server); SIGHUP "
		"reopens FILE\n"
		"  -i, --interval DUR    memory scan interval (default 10ms, "
		"at least 1us)\n"
		"      --grace DUR       a TCP connection on the NIC for "
		"longer than this\n"
		"                        (plus two intervals) with no guest "
		"socket is\n"
		"                        flagged hidden-nic (default 1s)\n"
		"      --scan-fast DUR   for %d ms after a TCP connection "
		"starts at the VM's\n"
		"                        NIC, scan every DUR instead "
		"(default 1ms; 0: never)\n"
		"      --scan-cpu PCT    ... while those scans take at most "
		"PCT%% of a core\n"
		"                        (default %d)\n"
		"      --no-timer        scan only on guest frames, no "
		"fallback timer\n"
		"      --no-track        forward only: no tracking at all (a "
		"baseline for\n"
		"                        benchmarks)\n"
		"      --max-flows N     connection table size per VM (default "
		"65536)\n"
		"      --vxlan-port P[,P..]  UDP ports taken as VXLAN "
		"(default 4789,8472)\n"
		"      --geneve-port P[,P..] UDP ports taken as Geneve "
		"(default 6081)\n"
		"      --no-decap        track tunnels as their outer flows "
		"only\n"
		"      --vmi-cap N       most guest sockets per scan (default "
		"65536)\n"
		"      --scan-bytes N    guest bytes one scan step may read "
		"(default %" PRIu64 ");\n"
		"                        a scan that needs more continues at "
		"the next\n"
		"                        interval, and is reported\n"
		"      --scan-walks N    page-table walks one scan step may do "
		"(default %" PRIu64 ")\n"
		"      --no-owners       no socket owners on the records (pid "
		"0)\n"
		"      --owners-cpu PCT  owners passes (after a scan that "
		"found\n"
		"                        new sockets) take at most PCT%% of a "
		"core (default %d)\n"
		"      --owners-every DUR  and run at most once per DUR "
		"(default 0)\n"
		"\n"
		"The switch (a guest cannot take it over):\n"
		"      --storm-pps N     broadcast, multicast and "
		"unknown-unicast frames a\n"
		"                        port may flood per second (default "
		"2000; 0: no\n"
		"                        limit); the rest is dropped and "
		"counted\n"
		"      --max-macs N      source addresses one VM port may use "
		"(default 16);\n"
		"                        frames from more are dropped and "
		"counted\n"
		"      --mac-age DUR     an address unused this long is "
		"forgotten (300s)\n"
		"\n"
		"Shipping to the user's log server (cotrack-logd; "
		"docs/logd.md):\n"
		"      --log-server HOST:PORT[,HOST:PORT...]  send every "
		"record over TLS 1.3\n"
		"                        with mutual authentication; records "
		"wait, sealed,\n"
		"                        until logd has committed them, and "
		"are "
		"resent after\n"
		"                        a reconnect; with a list (up to 8 "
		"logd "
		"instances on\n"
		"                        one store), a failing server gives "
		"way "
		"to the next\n"
		"      --pki DIR --name NAME   DIR/ca.pem, DIR/NAME.pem, "
		"DIR/NAME.key (from\n"
		"                        `cotrack pki init DIR --tracker "
		"NAME`)\n"
		"      --ca FILE --cert FILE --key FILE   the same, file by "
		"file\n"
		"      --spool FILE      keep unacknowledged records in FILE, "
		"sealed with an\n"
		"                        AEAD, across restarts (default: in "
		"memory only)\n"
		"      --spool-key SPEC  fd:N (read from a descriptor, e.g. a "
		"pipe from the\n"
		"                        provisioning agent), derive:PEM (from "
		"the tracker's\n"
		"                        private key) or hex:HEX (tests); "
		"never on disk\n"
		"      --spool-max N     most records waiting (default "
		"262144); when full the\n"
		"                        oldest is dropped and the loss "
		"reported to logd\n"
		"      --ack-timeout MS  a log server that keeps the "
		"connection but has not\n"
		"                        acknowledged for MS milliseconds "
		"while batches wait,\n"
		"                        or takes longer to take or give one "
		"frame, is left\n"
		"                        for the next (default 30000; "
		"1000..3600000)\n"
		"  -v, --verbose         more messages (twice: debug)\n"
		"  -q, --quiet           warnings only\n"
		"  -h, --help            this text\n"
		"\n"
		"Signals: SIGTERM and SIGINT end every open connection (end "
		"\"shutdown\"),\n"
		"write the records and a summary per VM on standard error, and "
		"exit;\n"
		"SIGHUP reopens the output file (for log rotation); SIGUSR1 "
		"pauses or\n"
		"resumes memory scanning (to compare its cost at the guest).\n"
		"Exit status: 0 after a signal, 1 on a start-up failure, 2 on "
		"a usage error.\n",
		MAX_VMS, MAX_UPLINKS, COT_VM_NAMELEN - 1,
		(int)(VM_BUSY_NS / 1000000), VM_SCAN_PCT,
		(uint64_t)VM_STEP_BYTES, (uint64_t)VM_STEP_WALKS,
		VM_OWNERS_PCT);
}

struct opts {
	struct vm_params vp;
	struct sw_params swp;
	const char *out_path;
	const char *server, *pki, *name, *ca, *cert, *key, *spool, *spool_key;
	uint32_t spool_max;
	uint32_t ack_timeout_ms; /* 0: the shipper's default */
	/* --uplink, parsed, opened after the VMs */
	int nuplinks;
	char up_if[MAX_UPLINKS][16];
	char up_ns[MAX_UPLINKS][128];
};

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6)
		return -1;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* A port's own address is a unicast one. */
	return (mac[0] & 1) ? -1 : 0;
}

/* "NAME,net=SOCK,mem=PATH,map=MAP,mac=MAC" */
static int add_vm(struct daemon *d, char *spec)
{
	struct vm *v;
	struct port *p;
	char *tok, *save = NULL, *net = NULL, *vhost = NULL;
	int offloads = -1;

	if (d->nvms == MAX_VMS) {
		log_warnx("--vm: at most %d VMs", MAX_VMS);
		return -1;
	}
	if (d->nports == MAX_PORTS) {
		log_warnx("--vm: at most %d ports", MAX_PORTS);
		return -1;
	}
	v = &d->vms[d->nvms];
	memset(v, 0, sizeof(*v));
	tok = strtok_r(spec, ",", &save);
	if (!tok || !*tok || strchr(tok, '=') ||
	    strlen(tok) >= COT_VM_NAMELEN) {
		log_warnx(
			"--vm: want NAME,net=SOCKET[,mem=PATH] with a name of "
			"1..%d bytes",
			COT_VM_NAMELEN - 1);
		return -1;
	}
	snprintf(v->name, sizeof(v->name), "%s", tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "net=", 4)) {
			net = tok + 4;
		} else if (!strncmp(tok, "vhost-user=", 11)) {
			vhost = tok + 11;
		} else if (!strncmp(tok, "mem=", 4) && tok[4] &&
			   strlen(tok + 4) < sizeof(v->mem)) {
			snprintf(v->mem, sizeof(v->mem), "%s", tok + 4);
		} else if (!strncmp(tok, "map=", 4) && tok[4] &&
			   strlen(tok + 4) < sizeof(v->map)) {
			snprintf(v->map, sizeof(v->map), "%s", tok + 4);
		} else if (!strcmp(tok, "offloads=on") ||
			   !strcmp(tok, "offloads=off")) {
			offloads = !strcmp(tok, "offloads=on");
		} else if (!strncmp(tok, "mac=", 4)) {
			if (parse_mac(tok + 4, v->mac) < 0) {
				log_warnx("--vm %s: mac=%s is not a unicast "
					  "address like 52:54:00:12:34:56",
					  v->name, tok + 4);
				return -1;
			}
			v->has_mac = true;
		} else {
			log_warnx("--vm %s: bad or unknown key '%s' (net=, "
				  "vhost-user=, mem=, map=, mac=, "
				  "offloads=on|off)",
				  v->name, tok);
			return -1;
		}
	}
	if (!(net && *net) && !(vhost && *vhost)) {
		log_warnx("--vm %s: net=SOCKET is required (or "
			  "vhost-user=SOCKET)",
			  v->name);
		return -1;
	}
	if (net && vhost) {
		log_warnx("--vm %s: net= and vhost-user=: one NIC per VM",
			  v->name);
		return -1;
	}
	if (offloads >= 0 && !vhost) {
		log_warnx("--vm %s: offloads= needs vhost-user= (a stream "
			  "NIC carries no virtio-net header)",
			  v->name);
		return -1;
	}
	for (int i = 0; v->has_mac && i < d->nvms; i++)
		if (d->vms[i].has_mac && !memcmp(d->vms[i].mac, v->mac, 6)) {
			log_warnx("--vm %s: mac= is %s's already", v->name,
				  d->vms[i].name);
			return -1;
		}
	if (v->map[0] && !v->mem[0]) {
		log_warnx("--vm %s: map= needs mem=", v->name);
		return -1;
	}
	p = &d->ports[d->nports];
	if (port_init(p, d->nports, vhost ? PORT_VHOST : PORT_VM, v->name) < 0)
		return -1;
	p->offloads = offloads > 0;
	if (vhost) {
		/* Opened after DPDK's EAL is up (open_vhosts). */
		if (strlen(vhost) >= sizeof(p->path)) {
			log_warnx("--vm %s: socket path too long", v->name);
			port_free(p);
			return -1;
		}
		snprintf(p->path, sizeof(p->path), "%s", vhost);
	} else if (port_listen(p, net) < 0) {
		port_free(p);
		return -1;
	}
	v->port = d->nports;
	d->port_vm[d->nports] = d->nvms;
	d->nports++;
	d->nvms++;
	return 0;
}

static int parse_uplink(struct opts *o, char *spec)
{
	char *comma = strchr(spec, ',');
	const char *ns = "";

	if (o->nuplinks == MAX_UPLINKS) {
		log_warnx("--uplink: at most %d uplinks", MAX_UPLINKS);
		return -1;
	}
	if (comma) {
		*comma = '\0';
		if (strncmp(comma + 1, "netns=", 6) != 0 || !comma[7] ||
		    strlen(comma + 7) >= sizeof(o->up_ns[0]) ||
		    strchr(comma + 7, '/')) {
			log_warnx("--uplink: want TAP[,netns=NS]");
			return -1;
		}
		ns = comma + 7;
	}
	if (!*spec || strlen(spec) >= sizeof(o->up_if[0])) {
		log_warnx("--uplink: tap name of 1..15 bytes");
		return -1;
	}
	snprintf(o->up_if[o->nuplinks], sizeof(o->up_if[0]), "%s", spec);
	snprintf(o->up_ns[o->nuplinks], sizeof(o->up_ns[0]), "%s", ns);
	o->nuplinks++;
	return 0;
}

static int open_uplinks(struct daemon *d, const struct opts *o)
{
	char name[64];
	int i;

	for (i = 0; i < o->nuplinks; i++) {
		struct port *p = &d->ports[d->nports];

		if (d->nports == MAX_PORTS) {
			log_warnx("--uplink: at most %d ports", MAX_PORTS);
			return -1;
		}
		snprintf(name, sizeof(name), "uplink %s", o->up_if[i]);
		if (port_init(p, d->nports, PORT_TAP, name) < 0)
			return -1;
		if (port_tap(p, o->up_if[i],
			     o->up_ns[i][0] ? o->up_ns[i] : NULL) < 0) {
			port_free(p);
			return -1;
		}
		d->port_vm[d->nports] = -1;
		d->nports++;
	}
	return 0;
}

/* --log-server: one shipper for the whole tracker (records carry vm). */
static int start_shipper(struct daemon *d, const struct opts *o)
{
	static uint8_t spool_key[COT_SPOOL_KEYLEN];
	static struct cot_cli_server srv[COT_CLI_MAX_SERVERS];
	static struct cot_ship_server list[COT_CLI_MAX_SERVERS];
	static struct cot_cli_pki pki;
	struct cot_shipper_params p;
	char err[256];
	int i, n;

	if (!o->server) {
		log_warnx("--pki, --spool: only with --log-server HOST:PORT");
		return -1;
	}
	n = cot_cli_hostports("--log-server", o->server, srv);
	if (n < 0)
		return -1;
	memset(&p, 0, sizeof(p));
	for (i = 0; i < n; i++)
		list[i] = (struct cot_ship_server){ srv[i].host, srv[i].port };
	p.servers = list;
	p.nservers = (unsigned)n;
	if (o->pki) {
		if (!o->name) {
			log_warnx("--pki DIR needs --name NAME (this tracker)");
			return -1;
		}
		if (cot_cli_pki("--pki", o->pki, o->name, &pki) < 0)
			return -1;
		p.ca_file = pki.ca;
		p.cert_file = pki.cert;
		p.key_file = pki.key;
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
			log_warnx("--spool needs --spool-key "
				  "fd:N|derive:PEM|hex:HEX");
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
	p.max_records = o->spool_max;
	p.ack_timeout_ms = o->ack_timeout_ms;
	if (cot_shipper_create(&d->out.sh, &p, err, sizeof(err)) < 0) {
		log_warnx("log shipping: %s", err);
		return -1;
	}
	if (n == 1)
		log_info("shipping records to %s:%s", srv[0].host, srv[0].port);
	else
		log_info("shipping records to %s:%s (and %d more to fail over "
			 "to)",
			 srv[0].host, srv[0].port, n - 1);
	return 0;
}

/* Wait (boundedly) for logd to hold everything, then report. */
static void stop_shipper(struct daemon *d)
{
	struct cot_shipper_stats st;
	int rc = cot_shipper_flush(d->out.sh, 10000);

	cot_shipper_stats(d->out.sh, &st);
	fprintf(stderr,
		"shipping: %" PRIu64 " records, %" PRIu64
		" acknowledged by logd, %" PRIu64 " waiting%s, %" PRIu64
		" dropped (spool full), server %s, %" PRIu64 " switches%s%s\n",
		st.last_seq, st.acked_seq, st.waiting,
		st.waiting ? " (kept in the spool)" : "", st.dropped,
		st.server_name, st.switches, rc ? "; logd unreachable: " : "",
		rc ? st.last_error : "");
	cot_shipper_destroy(d->out.sh);
	d->out.sh = NULL;
}

enum {
	O_GRACE = 256,
	O_NOTIMER,
	O_NOTRACK,
	O_MAXF,
	O_VMICAP,
	O_VM,
	O_UPLINK,
	O_LOGSRV,
	O_PKI,
	O_NAME,
	O_CA,
	O_CERT,
	O_KEY,
	O_SPOOL,
	O_SPOOLKEY,
	O_SPOOLMAX,
	O_SCANB,
	O_SCANW,
	O_STORM,
	O_MAXMACS,
	O_MACAGE,
	O_NOOWNERS,
	O_OWNPCT,
	O_OWNGAP,
	O_SCANFAST,
	O_SCANPCT,
	O_VXLAN,
	O_GENEVE,
	O_NODECAP,
	O_ACKTO,
};

static const struct option longopts[] = {
	{ "vm", required_argument, NULL, O_VM },
	{ "uplink", required_argument, NULL, O_UPLINK },
	{ "output", required_argument, NULL, 'o' },
	{ "interval", required_argument, NULL, 'i' },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "scan-fast", required_argument, NULL, O_SCANFAST },
	{ "scan-cpu", required_argument, NULL, O_SCANPCT },
	{ "no-timer", no_argument, NULL, O_NOTIMER },
	{ "no-track", no_argument, NULL, O_NOTRACK },
	{ "max-flows", required_argument, NULL, O_MAXF },
	{ "vxlan-port", required_argument, NULL, O_VXLAN },
	{ "geneve-port", required_argument, NULL, O_GENEVE },
	{ "no-decap", no_argument, NULL, O_NODECAP },
	{ "vmi-cap", required_argument, NULL, O_VMICAP },
	{ "scan-bytes", required_argument, NULL, O_SCANB },
	{ "scan-walks", required_argument, NULL, O_SCANW },
	{ "no-owners", no_argument, NULL, O_NOOWNERS },
	{ "owners-cpu", required_argument, NULL, O_OWNPCT },
	{ "owners-every", required_argument, NULL, O_OWNGAP },
	{ "storm-pps", required_argument, NULL, O_STORM },
	{ "max-macs", required_argument, NULL, O_MAXMACS },
	{ "mac-age", required_argument, NULL, O_MACAGE },
	{ "log-server", required_argument, NULL, O_LOGSRV },
	{ "pki", required_argument, NULL, O_PKI },
	{ "name", required_argument, NULL, O_NAME },
	{ "ca", required_argument, NULL, O_CA },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "spool", required_argument, NULL, O_SPOOL },
	{ "spool-key", required_argument, NULL, O_SPOOLKEY },
	{ "spool-max", required_argument, NULL, O_SPOOLMAX },
	{ "ack-timeout", required_argument, NULL, O_ACKTO },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Tunnels (core/pkt): the defaults until an option changes them. */
static struct cot_pkt_cfg pkt_cfg;
static bool vx_set, gn_set;

/* Parse the command line.  0, or COT_EXIT_USAGE (reported), or -1 (help). */
static int parse_args(struct daemon *d, struct opts *o, int argc, char **argv,
		      int *verbosity)
{
	int c;

	cot_pkt_cfg_default(&pkt_cfg);
	cot_loop_pkt_cfg = &pkt_cfg;
	while ((c = getopt_long(argc, argv, "o:i:vqh", longopts, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case O_VM:
			rc = add_vm(d, optarg);
			break;
		case O_UPLINK:
			rc = parse_uplink(o, optarg);
			break;
		case 'o':
			o->out_path = optarg;
			break;
		case 'i':
			rc = cot_cli_duration("--interval", optarg, 1000,
					      3600000000000ULL,
					      &o->vp.interval_ns);
			break;
		case O_GRACE:
			rc = cot_cli_duration("--grace", optarg, 0,
					      3600000000000ULL,
					      &o->vp.grace_ns);
			break;
		case O_NOTIMER:
			d->vmi_timer = false;
			break;
		case O_NOTRACK:
			d->track = false;
			break;
		case O_MAXF:
			rc = cot_cli_u32("--max-flows", optarg, 1, 1u << 24,
					 &o->vp.max_flows);
			break;
		case O_VXLAN:
			rc = cot_cli_ports("--vxlan-port", optarg,
					   pkt_cfg.vxlan_port, &vx_set);
			break;
		case O_GENEVE:
			rc = cot_cli_ports("--geneve-port", optarg,
					   pkt_cfg.geneve_port, &gn_set);
			break;
		case O_NODECAP:
			pkt_cfg.decap = false;
			break;
		case O_VMICAP:
			rc = cot_cli_u32("--vmi-cap", optarg, 1, 1u << 24,
					 &o->vp.vmi_cap);
			break;
		case O_SCANB:
			rc = cot_cli_u64("--scan-bytes", optarg, 16384,
					 1ULL << 40, &o->vp.step_bytes);
			break;
		case O_SCANW:
			rc = cot_cli_u64("--scan-walks", optarg, 16, 1ULL << 32,
					 &o->vp.step_walks);
			break;
		case O_SCANFAST:
			rc = cot_cli_duration("--scan-fast", optarg, 0,
					      3600ULL * 1000000000ULL,
					      &o->vp.fast_ns);
			break;
		case O_SCANPCT:
			rc = cot_cli_u32("--scan-cpu", optarg, 1, 100,
					 &o->vp.scan_pct);
			break;
		case O_NOOWNERS:
			o->vp.owners = false;
			break;
		case O_OWNPCT:
			rc = cot_cli_u32("--owners-cpu", optarg, 1, 100,
					 &o->vp.owners_pct);
			break;
		case O_OWNGAP:
			rc = cot_cli_duration("--owners-every", optarg, 0,
					      3600ULL * 1000000000ULL,
					      &o->vp.owners_gap_ns);
			break;
		case O_STORM:
			rc = cot_cli_u32("--storm-pps", optarg, 0, 100000000,
					 &o->swp.storm_pps);
			break;
		case O_MAXMACS:
			rc = cot_cli_u32("--max-macs", optarg, 1, SW_MACS / 4,
					 &o->swp.vm_max_macs);
			break;
		case O_MACAGE:
			rc = cot_cli_duration("--mac-age", optarg,
					      1000000000ULL, 86400000000000ULL,
					      &o->swp.age_ns);
			break;
		case O_LOGSRV:
			o->server = optarg;
			break;
		case O_PKI:
			o->pki = optarg;
			break;
		case O_NAME:
			o->name = optarg;
			break;
		case O_CA:
			o->ca = optarg;
			break;
		case O_CERT:
			o->cert = optarg;
			break;
		case O_KEY:
			o->key = optarg;
			break;
		case O_SPOOL:
			o->spool = optarg;
			break;
		case O_SPOOLKEY:
			o->spool_key = optarg;
			break;
		case O_SPOOLMAX:
			rc = cot_cli_u32("--spool-max", optarg, 1, 1u << 26,
					 &o->spool_max);
			break;
		case O_ACKTO:
			rc = cot_cli_u32("--ack-timeout", optarg,
					 COT_SHIP_ACK_TIMEOUT_MIN,
					 COT_SHIP_ACK_TIMEOUT_MAX,
					 &o->ack_timeout_ms);
			break;
		case 'v':
			(*verbosity)++;
			break;
		case 'q':
			*verbosity = 0;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return COT_EXIT_USAGE;
		}
		if (rc < 0)
			return COT_EXIT_USAGE;
	}
	if (optind != argc || d->nvms == 0) {
		if (optind != argc)
			log_warnx("unexpected argument '%s'", argv[optind]);
		else
			log_warnx("no --vm given");
		usage(stderr);
		return COT_EXIT_USAGE;
	}
	if (d->nports + o->nuplinks > MAX_PORTS) {
		log_warnx("%d VMs and %d uplinks: at most %d ports", d->nvms,
			  o->nuplinks, MAX_PORTS);
		return COT_EXIT_USAGE;
	}
	if ((o->pki || o->spool || o->ca || o->cert || o->key || o->name ||
	     o->ack_timeout_ms) &&
	    !o->server) {
		log_warnx("--pki, --name, --ca, --cert, --key, --spool, "
			  "--ack-timeout: only with --log-server HOST:PORT");
		return COT_EXIT_USAGE;
	}
	return 0;
}

static void defaults(struct daemon *d, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	d->track = true;
	d->vmi_timer = true;
	for (i = 0; i < MAX_PORTS; i++)
		d->port_vm[i] = -1;
	o->vp.interval_ns = 10000000ULL;
	o->vp.grace_ns = 1000000000ULL;
	o->vp.max_flows = 65536;
	o->vp.vmi_cap = 65536;
	o->vp.step_bytes = VM_STEP_BYTES;
	o->vp.step_walks = VM_STEP_WALKS;
	o->vp.owners = true;
	o->vp.owners_pct = VM_OWNERS_PCT;
	o->vp.owners_gap_ns = 0;
	o->vp.fast_ns = VM_FAST_NS;
	o->vp.scan_pct = VM_SCAN_PCT;
	o->swp.age_ns = 300000000000ULL;
	o->swp.storm_pps = 2000;
	o->swp.vm_max_macs = 16;
	o->swp.tap_max_macs = SW_MACS / 2;
}

static bool any_vhost(const struct daemon *d)
{
	for (int i = 0; i < d->nports; i++)
		if (d->ports[i].kind == PORT_VHOST)
			return true;
	return false;
}

/* DPDK's EAL, then each vhost-user port's socket.  0 or -1 (logged). */
static int open_vhosts(struct daemon *d)
{
	char path[sizeof(d->ports[0].path)];

	if (!any_vhost(d))
		return 0;
	if (vhost_global_init() < 0)
		return -1;
	d->eal = true;
	for (int i = 0; i < d->nports; i++) {
		struct port *p = &d->ports[i];

		if (p->kind != PORT_VHOST)
			continue;
		snprintf(path, sizeof(path), "%s", p->path);
		if (port_vhost(p, path) < 0)
			return -1;
	}
	return 0;
}

static void cleanup(struct daemon *d)
{
	int i;

	for (i = 0; i < d->nvms; i++)
		vm_free(&d->vms[i]);
	for (i = 0; i < d->nports; i++)
		port_free(&d->ports[i]);
	if (d->eal)
		vhost_global_fini();
	out_close(&d->out);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	struct opts o;
	uint64_t seed;
	int i, rc, verbosity = 1;

	log_init("cotrackd", 1);
	defaults(&d, &o);
	rc = parse_args(&d, &o, argc, argv, &verbosity);
	if (rc) {
		cleanup(&d);
		return rc < 0 ? 0 : rc;
	}
	log_init("cotrackd", verbosity);
	/*
	 * Queued frames are malloc'd and freed one by one; without this,
	 * glibc trims and regrows the heap (brk) at a high rate.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		log_warn("getrandom: hashes keyed with a weak seed");
		seed = cot_clock_real_ns() ^ (uint64_t)getpid() << 32;
	}
	o.swp.seed = seed;
	sw_init(&d.sw, &o.swp);
	d.tsc_per_ns = cot_clock_tsc_per_ns();
	o.vp.tsc_per_ns = d.tsc_per_ns;
	/* Shipping to logd: no local copy unless -o asks for one. */
	if (out_open(&d.out, o.out_path, !o.server,
		     cot_clock_real_ns() - cot_clock_mono_ns()) < 0) {
		cleanup(&d);
		return 1;
	}
	if (o.server && start_shipper(&d, &o) < 0) {
		cleanup(&d);
		return COT_EXIT_USAGE;
	}
	if (open_uplinks(&d, &o) < 0) {
		if (d.out.sh)
			stop_shipper(&d);
		cleanup(&d);
		return 1;
	}
	for (i = 0; i < d.nports; i++) {
		int vi = d.port_vm[i];

		sw_port_add(&d.sw, i, vi >= 0,
			    vi >= 0 && d.vms[vi].has_mac ? d.vms[vi].mac
							 : NULL);
		if (d.ports[i].kind == PORT_TAP)
			sw_port_up(&d.sw, i);
	}
	for (i = 0; i < d.nvms; i++) {
		struct vm *v = &d.vms[i];

		o.vp.mem = v->mem[0] ? v->mem : NULL;
		o.vp.map = v->map[0] ? v->map : NULL;
		o.vp.memtab = d.ports[v->port].kind == PORT_VHOST;
		/* Each VM its own key: one VM's tuples tell nothing of
		 * another's. */
		o.vp.seed = seed ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL);
		if (vm_init(v, &o.vp, &d.out) < 0) {
			if (d.out.sh)
				stop_shipper(&d);
			cleanup(&d);
			return 1;
		}
	}
	/* Signals blocked first: DPDK's threads inherit the mask. */
	loop_signals();
	if (open_vhosts(&d) < 0) {
		if (d.out.sh)
			stop_shipper(&d);
		cleanup(&d);
		return 1;
	}
	log_info("serving %d VM(s), %d port(s); memory scan every %.3f ms; "
		 "TSC %.3f GHz",
		 d.nvms, d.nports, (double)o.vp.interval_ns / 1e6,
		 d.tsc_per_ns);
	loop_run(&d);

	log_info("stopping");
	for (i = 0; i < d.nvms; i++)
		vm_finish(&d.vms[i], cot_clock_mono_ns());
	for (i = 0; i < d.nvms; i++)
		vm_summary(&d.vms[i], &d.ports[d.vms[i].port], stderr);
	for (i = 0; i < d.nports; i++) {
		const struct port *p = &d.ports[i];

		if (p->kind != PORT_TAP)
			continue;
		fprintf(stderr,
			"%s: frames in %" PRIu64 ", out %" PRIu64
			", queue drops %" PRIu64
			" (its own frames at full peers %" PRIu64
			"), spoofed source %" PRIu64
			", over the storm limit %" PRIu64 "\n",
			p->name, p->st.rx, p->st.tx, p->st.drop_qfull,
			p->st.drop_peer, p->st.drop_spoof, p->st.drop_storm);
	}
	out_flush(&d.out);
	if (d.out.sh)
		stop_shipper(&d);
	cleanup(&d);
	return 0;
}
