// SPDX-License-Identifier: MIT
/*
 * cotrack-logd: the user's log server.  Accepts trackers over TLS 1.3
 * with mutual authentication, stores their records in SQLite (WAL),
 * verifies sequence and hash chain, records anomalies as events, and
 * acknowledges only what is committed.  See docs/logd.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/cli.h"
#include "host/ipfix.h"
#include "host/log.h"
#include "host/store_pg.h"
#include "logd.h"

static struct logd D;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&D.stop, 1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cotrack-logd --db FILE|URL [--listen HOST:PORT]\n"
		"         (--pki DIR | --ca FILE --cert FILE --key FILE)\n"
		"         [--sync full|normal] [--max-conns N] [--idle DUR]\n"
		"         [--port-file FILE] [--tls12-tracker NAME]...\n"
		"         [--ipfix [udp://|tcp://]HOST:PORT [--ipfix-rate N]\n"
		"          [--ipfix-state FILE]]\n"
		"         [--web [ADDR:]PORT [--web-cert FILE --web-key FILE]\n"
		"          [--web-token FILE]] [-v|-q]\n"
		"       cotrack-logd --migrate-from FILE.sqlite --db "
		"postgresql://...\n"
		"  --db FILE     the SQLite database (made if absent)\n"
		"  --db URL      postgresql://... or postgres://...: a "
		"PostgreSQL\n"
		"                database (a libpq connection URI; the tables "
		"are "
		"made if\n"
		"                absent); several logd instances may share "
		"one\n"
		"                (docs/logd.md); --web needs SQLite for now;\n"
		"                --ipfix then needs --ipfix-state\n"
		"  --migrate-from FILE  copy the SQLite store FILE into the "
		"PostgreSQL\n"
		"                --db (streams, records, events; ids, seqs and "
		"hashes as\n"
		"                they are; one transaction, progress every "
		"100000 "
		"records),\n"
		"                then exit; an empty target is filled, one "
		"with "
		"the same\n"
		"                data left alone, any other refused (exit 1)\n"
		"  --pki DIR     use DIR/ca.pem, DIR/server.pem, "
		"DIR/server.key\n"
		"  --listen      default 127.0.0.1:6514 ([ADDR]:PORT for "
		"IPv6); port 0\n"
		"                picks a free one\n"
		"  --max-conns   connections at once, 1..65536 (default 256)\n"
		"  --idle DUR    close a silent connection after DUR, 1s..24h "
		"(default\n"
		"                120s; a bare number is seconds)\n"
		"  --sync full   fsync each commit (default; survives power "
		"loss)\n"
		"  --sync normal fsync at checkpoints (survives a killed "
		"logd);\n"
		"                on PostgreSQL synchronous_commit off (a "
		"crashed\n"
		"                server may lose the last acknowledged "
		"commits)\n"
		"  --port-file   write the bound port there once listening\n"
		"  --tls12-tracker NAME  let the tracker whose certificate "
		"CN is NAME\n"
		"                connect with TLS 1.2 (ECDHE with AES-GCM or "
		"ChaCha20-\n"
		"                Poly1305 only), for trackers whose TLS has no "
		"1.3\n"
		"                (BitVisor's mbedTLS); repeatable, at most 64; "
		"every\n"
		"                other client must use TLS 1.3 (the default "
		"and only\n"
		"                protocol without this option)\n"
		"  --ipfix TARGET  send every committed record, once, to an "
		"IPFIX\n"
		"                collector (RFC 7011 biflows, RFC 5103; UDP "
		"unless\n"
		"                tcp://), from the oldest record not yet "
		"sent\n"
		"  --ipfix-rate N  UDP: at most N records per second "
		"(default 20000;\n"
		"                0: no limit); a collector's socket buffer "
		"drops what\n"
		"                comes faster than it reads.  TCP is not "
		"paced\n"
		"  --ipfix-state FILE  where the export remembers how far it "
		"got\n"
		"                (default: the database path + .ipfix; delete "
		"it to\n"
		"                send everything again)\n"
		"  --web [ADDR:]PORT  serve the web console over HTTPS "
		"(docs/console.md);\n"
		"                a bare PORT is 127.0.0.1:PORT (loopback); any "
		"other\n"
		"                address only when given ([ADDR]:PORT for "
		"IPv6; "
		"port 0\n"
		"                picks a free one)\n"
		"  --web-cert FILE, --web-key FILE  the console's certificate "
		"and key\n"
		"                (PEM; default: the ones of --pki or --cert/"
		"--key)\n"
		"  --web-token FILE  the console's secret (default: the "
		"database path +\n"
		"                .token; required with --db postgresql://...); "
		"made with\n"
		"                mode 0600 when absent, refused when\n"
		"                group or others may read it; log in at\n"
		"                https://ADDR:PORT/?token=SECRET\n"
		"  exit status: 0 stopped by a signal, 1 error, 2 usage "
		"error\n");
}

struct job {
	int fd;
	char peer[80];
};

static void *conn_thread(void *arg)
{
	struct job *j = arg;

	logd_serve(&D, j->fd, j->peer);
	free(j);
	atomic_fetch_sub(&D.active, 1);
	return NULL;
}

static int listen_on(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE },
			*res, *ai;
	int fd = -1, one = 1, rc;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		fatalx("%s:%s: %s", host, port, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fatal("listen %s:%s", host, port);
	return fd;
}

static void write_port_file(const char *path, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char tmp[4096];
	FILE *f;
	int port;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		fatal("getsockname");
	port = ss.ss_family == AF_INET6
		       ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) < 0)
		fatal("%s", path);
}

static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, h, sizeof(h));
		port = ntohs(s4->sin_port);
		snprintf(buf, len, "%s:%d", h, port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof(h));
		port = ntohs(s6->sin6_port);
		snprintf(buf, len, "[%s]:%d", h, port);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "pki", required_argument, NULL, 'P' },
		{ "ca", required_argument, NULL, 'C' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "sync", required_argument, NULL, 's' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "idle", required_argument, NULL, 'i' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "tls12-tracker", required_argument, NULL, 'T' },
		{ "ipfix", required_argument, NULL, 'X' },
		{ "ipfix-state", required_argument, NULL, 'S' },
		{ "ipfix-rate", required_argument, NULL, 'R' },
		{ "web", required_argument, NULL, 'W' },
		{ "web-cert", required_argument, NULL, 'E' },
		{ "web-key", required_argument, NULL, 'K' },
		{ "web-token", required_argument, NULL, 'O' },
		{ "migrate-from", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char host[256] = "127.0.0.1", port[8] = "6514";
	char ca[4096] = "", cert[4096] = "", key[4096] = "", err[512];
	const char *db = NULL, *port_file = NULL, *ipfix = NULL;
	const char *ipfix_state = NULL, *migrate_from = NULL;
	static struct logd_export X;
	static struct logd_web Wb;
	char whost[256] = "127.0.0.1", wport[8] = "";
	const char *web_cert = NULL, *web_key = NULL, *web_token = NULL;
	int wfd = -1;
	static atomic_int xstop;
	int o, verbosity = 1, sync_full = 1, lfd, n;
	struct sigaction sa = { .sa_handler = on_signal };
	struct cot_cli_pki pki;
	pthread_attr_t attr;
	uint64_t idle_ns;

	log_init(argv[0], 1);
	X.rate = 20000;
	D.max_conns = 256;
	D.idle_ms = 120000;
	while ((o = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			db = optarg;
			break;
		case 'l':
			if (cot_cli_listen("--listen", optarg, host,
					   sizeof(host), port,
					   sizeof(port)) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'P':
			if (cot_cli_pki("--pki", optarg, "server", &pki) < 0)
				return COT_EXIT_USAGE;
			snprintf(ca, sizeof(ca), "%s", pki.ca);
			snprintf(cert, sizeof(cert), "%s", pki.cert);
			snprintf(key, sizeof(key), "%s", pki.key);
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
		case 's':
			if (!strcmp(optarg, "full")) {
				sync_full = 1;
			} else if (!strcmp(optarg, "normal")) {
				sync_full = 0;
			} else {
				log_warnx("--sync: '%s' is neither full nor "
					  "normal",
					  optarg);
				return COT_EXIT_USAGE;
			}
			break;
		case 'm':
			if (cot_cli_int("--max-conns", optarg, 1, 65536,
					&D.max_conns) < 0)
				return COT_EXIT_USAGE;
			break;
		case 'i':
			if (cot_cli_duration("--idle", optarg, 1000000000ull,
					     86400000000000ull, &idle_ns) < 0)
				return COT_EXIT_USAGE;
			D.idle_ms = (int)(idle_ns / 1000000);
			break;
		case 'p':
			port_file = optarg;
			break;
		case 'T':
			if (!optarg[0] ||
			    strlen(optarg) >= sizeof(D.tls12[0])) {
				log_warnx("--tls12-tracker: name empty or "
					  "longer than %zu bytes",
					  sizeof(D.tls12[0]) - 1);
				return COT_EXIT_USAGE;
			}
			if (D.ntls12 == LOGD_TLS12_MAX) {
				log_warnx("--tls12-tracker: at most %d",
					  LOGD_TLS12_MAX);
				return COT_EXIT_USAGE;
			}
			snprintf(D.tls12[D.ntls12++], sizeof(D.tls12[0]), "%s",
				 optarg);
			break;
		case 'X': {
			char h[256], p[8];
			bool tcp;

			if (strlen(optarg) >= sizeof(X.target) ||
			    cot_ipfix_parse_target(optarg, &tcp, h, sizeof(h),
						   p, sizeof(p)) < 0) {
				log_warnx("--ipfix %s: not "
					  "[udp://|tcp://]HOST:PORT",
					  optarg);
				return COT_EXIT_USAGE;
			}
			ipfix = optarg;
			break;
		}
		case 'R': {
			int v;

			if (cot_cli_int("--ipfix-rate", optarg, 0, 100000000,
					&v) < 0)
				return COT_EXIT_USAGE;
			X.rate = (unsigned)v;
			break;
		}
		case 'S':
			if (!optarg[0] ||
			    strlen(optarg) >= sizeof(X.state) - 8) {
				log_warnx("--ipfix-state: empty or too long");
				return COT_EXIT_USAGE;
			}
			ipfix_state = optarg;
			break;
		case 'W': {
			size_t i = strspn(optarg, "0123456789");

			if (optarg[0] && !optarg[i]) {
				if (i > 5 || atoi(optarg) > 65535) {
					log_warnx("--web %s: bad port", optarg);
					return COT_EXIT_USAGE;
				}
				snprintf(wport, sizeof(wport), "%s", optarg);
			} else if (cot_cli_listen("--web", optarg, whost,
						  sizeof(whost), wport,
						  sizeof(wport)) < 0) {
				return COT_EXIT_USAGE;
			}
			break;
		}
		case 'E':
			web_cert = optarg;
			break;
		case 'K':
			web_key = optarg;
			break;
		case 'O':
			web_token = optarg;
			break;
		case 'M':
			migrate_from = optarg;
			break;
		case 'v':
			verbosity = 2;
			break;
		case 'q':
			verbosity = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return COT_EXIT_USAGE;
		}
	}
	log_verbosity = verbosity;
	if (migrate_from) {
		if (!db || !cot_store_is_pg(db) || optind != argc) {
			log_warnx("--migrate-from FILE needs --db "
				  "postgresql://... and nothing else");
			return COT_EXIT_USAGE;
		}
		return logd_migrate(migrate_from, db);
	}
	if (!db || !ca[0] || !cert[0] || !key[0] || optind != argc) {
		if (optind != argc)
			log_warnx("unexpected argument '%s'", argv[optind]);
		else if (!db)
			log_warnx("--db FILE is required");
		else
			log_warnx("--pki DIR, or --ca, --cert and --key, "
				  "are required");
		usage(stderr);
		return COT_EXIT_USAGE;
	}

	if (cot_store_is_pg(db) && wport[0] && !web_token) {
		log_warnx("--web with --db postgresql://... needs "
			  "--web-token FILE");
		return COT_EXIT_USAGE;
	}
	if (cot_store_is_pg(db) && ipfix && !ipfix_state) {
		log_warnx("--ipfix with --db postgresql://... needs "
			  "--ipfix-state FILE");
		return COT_EXIT_USAGE;
	}

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	D.tls = cot_tls_ctx_new(COT_TLS_SERVER, ca, cert, key, err,
				sizeof(err));
	if (!D.tls)
		fatalx("tls: %s", err);
	if (D.ntls12 && cot_tls_ctx_allow_tls12(D.tls, err, sizeof(err)) < 0)
		fatalx("tls: %s", err);
	/* No global malloc statistics: one lock less per SQLite allocation. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (cot_store_open(&D.store, db, COT_STORE_RW, sync_full, err,
			   sizeof(err)) < 0)
		fatalx("%s", err);
	pthread_mutex_init(&D.dbmu, NULL);
	/* Before any thread: the console forks its layout server. */
	if (wport[0]) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char h[INET6_ADDRSTRLEN] = "?";
		int wp = 0;

		if ((!web_token && strlen(db) + 7 > sizeof(Wb.token_path)) ||
		    (web_token && strlen(web_token) >= sizeof(Wb.token_path)) ||
		    (web_cert && strlen(web_cert) >= sizeof(Wb.cert)) ||
		    (web_key && strlen(web_key) >= sizeof(Wb.key)))
			fatalx("--web: a path is too long");
		Wb.db = db;
		snprintf(Wb.cert, sizeof(Wb.cert), "%s",
			 web_cert ? web_cert : cert);
		snprintf(Wb.key, sizeof(Wb.key), "%s", web_key ? web_key : key);
		if (web_token)
			snprintf(Wb.token_path, sizeof(Wb.token_path), "%s",
				 web_token);
		else
			snprintf(Wb.token_path, sizeof(Wb.token_path),
				 "%s.token", db);
		wfd = listen_on(whost, wport);
		if (getsockname(wfd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET6) {
				inet_ntop(AF_INET6,
					  &((struct sockaddr_in6 *)&ss)
						   ->sin6_addr,
					  h, sizeof(h));
				wp = ntohs(((struct sockaddr_in6 *)&ss)
						   ->sin6_port);
				snprintf(Wb.shown, sizeof(Wb.shown), "[%s]:%d",
					 h, wp);
			} else {
				inet_ntop(
					AF_INET,
					&((struct sockaddr_in *)&ss)->sin_addr,
					h, sizeof(h));
				wp = ntohs(
					((struct sockaddr_in *)&ss)->sin_port);
				snprintf(Wb.shown, sizeof(Wb.shown), "%s:%d", h,
					 wp);
			}
		}
		if (logd_web_start(&Wb, wfd) < 0)
			return 1;
	}
	if (ipfix) {
		X.db = db;
		X.stop = &xstop;
		snprintf(X.target, sizeof(X.target), "%s", ipfix);
		if (ipfix_state)
			snprintf(X.state, sizeof(X.state), "%s", ipfix_state);
		else if (strlen(db) + 7 > sizeof(X.state))
			fatalx("--db path too long for its .ipfix state file");
		else
			snprintf(X.state, sizeof(X.state), "%s.ipfix", db);
		if (logd_export_start(&X) < 0)
			return 1;
	}
	lfd = listen_on(host, port);
	if (port_file)
		write_port_file(port_file, lfd);
	/* a URL may carry a password: not in the log */
	log_info("listening on %s:%s, database %s (sync %s)", host, port,
		 cot_store_is_pg(db) ? "on PostgreSQL" : db,
		 sync_full ? "full" : "normal");

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!atomic_load(&D.stop)) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct job *j;
		pthread_t t;
		int fd;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (atomic_load(&D.active) >= D.max_conns) {
			log_warnx("too many connections (%d); refusing one",
				  D.max_conns);
			close(fd);
			continue;
		}
		j = calloc(1, sizeof(*j));
		if (!j) {
			close(fd);
			continue;
		}
		j->fd = fd;
		peer_name(&ss, j->peer, sizeof(j->peer));
		atomic_fetch_add(&D.active, 1);
		if (pthread_create(&t, &attr, conn_thread, j) != 0) {
			atomic_fetch_sub(&D.active, 1);
			close(fd);
			free(j);
		}
	}
	close(lfd);
	/* Connection threads see stop within a second; wait at most 10 s. */
	for (n = 0; n < 100 && atomic_load(&D.active) > 0; n++)
		usleep(100000);
	logd_web_stop(&Wb);
	/* The exporter last: it sends what the connections committed. */
	atomic_store(&xstop, 1);
	logd_export_join(&X);
	if (atomic_load(&D.active) > 0) {
		log_warnx("%d connections still busy; exiting anyway",
			  atomic_load(&D.active));
		return 0; /* committed data is safe; skip closing the db */
	}
	pthread_mutex_lock(&D.dbmu);
	cot_store_close(&D.store);
	pthread_mutex_unlock(&D.dbmu);
	cot_tls_ctx_free(D.tls);
	log_info("stopped");
	return 0;
}
