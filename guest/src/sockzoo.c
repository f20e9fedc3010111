// SPDX-License-Identifier: MIT
/*
 * sockzoo: runs inside the test guest and holds TCP sockets in every state
 * that can be kept still on loopback, so that the introspection tests have a
 * known, stable set to find in guest memory.
 *
 *   sockzoo hold [--ns2] [--count N]
 *	Creates the zoo (see zoo_init() for the list), in a second network
 *	namespace too with --ns2, plus N extra sockets with --count (a
 *	listener and (N-1)/2 established localhost pairs, for benchmarks).
 *	Everything is held by background processes; the foreground process
 *	prints "keeper=PID" (and "ns2=PID", a process inside the second
 *	namespace, for /proc/PID/net/tcp and /proc/PID/ns/net, comm
 *	"zoo-ns2"; without --count "share=PID", comm "zoo-share", a child
 *	of the keeper holding all its fds too) and exits 0
 *	once every socket is in place, 1 on any failure.
 *   sockzoo owners
 *	Prints "O PID FD INODE CGROUP COMM" for every socket fd of every
 *	process (/proc/PID/fd, /proc/PID/cgroup, /proc/PID/comm): the
 *	owners truth of `cotrack vmi snapshot` (guest/init "owners").
 *   sockzoo tw [--count N]
 *	Makes N IPv4 and N IPv6 TIME_WAIT sockets on loopback (the client
 *	closes first) and exits.  They live TCP_TIMEWAIT_LEN (60 s).
 *
 * Runs as PID>1 under the guest's /init; it is our own test workload, so
 * failures are fatal and loud rather than recovered.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_COUNT 200000 /* --count bound: fds; fs.nr_open is 1048576 */

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "sockzoo[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

static void mkaddr(int family, const char *ip, int port,
		   struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
			die("bad address %s", ip);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
			die("bad address %s", ip);
		*len = sizeof(*a);
	}
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname");
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* v6only: -1 leaves the default (dual-stack for "::"). */
static int mk_listen(int family, const char *ip, int port, int backlog,
		     int v6only, int defer_secs)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6 && v6only >= 0 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)))
		die("IPV6_V6ONLY");
	if (defer_secs > 0 && setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT,
					 &defer_secs, sizeof(defer_secs)))
		die("TCP_DEFER_ACCEPT");
	mkaddr(family, ip, port, &ss, &len);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind %s:%d", ip, port);
	if (listen(fd, backlog) < 0)
		die("listen %s:%d", ip, port);
	return fd;
}

/* Connects from bind_ip (NULL: any) to ip:port.  nonblock: return while
 * the handshake may still be in progress (for SYN_SENT). */
static int mk_connect(int family, const char *bind_ip, const char *ip, int port,
		      int nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	fd = socket(family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		die("socket");
	if (bind_ip) {
		mkaddr(family, bind_ip, 0, &ss, &len);
		if (bind(fd, (struct sockaddr *)&ss, len) < 0)
			die("bind %s", bind_ip);
	}
	if (nonblock) {
		/* Keep retrying the SYN for a long time (backoff is capped at
		 * TCP_RTO_MAX, 120 s): 127 retries is the kernel maximum. */
		int cnt = 127;

		if (setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &cnt, sizeof(cnt)))
			die("TCP_SYNCNT");
	}
	mkaddr(family, ip, port, &ss, &len);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
	    !(nonblock && errno == EINPROGRESS))
		die("connect %s:%d", ip, port);
	return fd;
}

static int acc(int lfd)
{
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		die("accept");
	return fd;
}

static void set_rcvtimeo(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * n TIME_WAIT sockets in `family` on loopback: the client closes first
 * (FIN_WAIT2), the server sees EOF and closes, the client's ACK of that FIN
 * turns it into TIME_WAIT.  The server side ends in LAST_ACK -> CLOSED.
 */
static void make_tw(int family, int n)
{
	const char *lo = family == AF_INET ? "127.0.0.1" : "::1";
	int l = mk_listen(family, lo, 0, 128, 1, 0);
	int port = port_of(l);
	char c1;

	for (int i = 0; i < n; i++) {
		int c = mk_connect(family, NULL, lo, port, 0);
		int s = acc(l);

		close(c);
		set_rcvtimeo(s, 5);
		if (read(s, &c1, 1) != 0)
			die("expected EOF from the closing client");
		close(s);
	}
	usleep(100 *
	       1000); /* let the last ACKs land before the listener goes */
	close(l);
}

/*
 * Known volumes for `cotrack vmi`'s live counters: @n bytes written on
 * @from and read in full on @to (bounded by the receive timeout).
 */
#define XFER_UP	  100000 /* client 127.0.0.3 -> server 127.0.0.5:7001 */
#define XFER_DOWN 3333	 /* and back */
static void xfer(int from, int to, int n)
{
	static char buf[16384];
	int sent = 0, got = 0;

	memset(buf, 'x', sizeof(buf));
	set_rcvtimeo(to, 5);
	while (got < n) {
		ssize_t r;

		if (sent < n) {
			int len = n - sent < (int)sizeof(buf)
					  ? n - sent
					  : (int)sizeof(buf);
			r = write(from, buf, (size_t)len);
			if (r <= 0)
				die("xfer write");
			sent += (int)r;
		}
		r = read(to, buf, sizeof(buf));
		if (r <= 0)
			die("xfer read (%d of %d)", got, n);
		got += (int)r;
	}
	if (got != n)
		die("xfer: %d bytes, not %d", got, n);
}

/* fds the keeper holds for its lifetime */
static int held[64];
static int nheld;

static void hold(int fd)
{
	if (nheld >= (int)(sizeof(held) / sizeof(held[0])))
		die("too many held sockets");
	held[nheld++] = fd;
}

/*
 * The zoo of one namespace.  Ports are fixed so a human can read the
 * truth; the second namespace uses its own ports (7005, 7015) to make
 * mix-ups between namespaces visible.
 *   LISTEN        0.0.0.0:7001  127.0.0.1:7002  [::1]:7003 (v6only)
 *                 [::]:7004 (dual stack)  127.0.0.1:7006 (defer accept)
 *                 127.0.0.1:7007 (backlog 1, kept full)
 *   ESTABLISHED   127.0.0.1 -> 127.0.0.1:7002, 127.0.0.3 -> 127.0.0.5:7001,
 *                 [::1] -> [::1]:7003,
 *                 127.0.0.1 -> [::]:7004: server side is an IPv6 socket
 *                   with v4-mapped addresses,
 *                 IPv6 socket -> ::ffff:127.0.0.1:7001 (v4-mapped client),
 *                 two unaccepted children of 7007
 *   FIN_WAIT2 / CLOSE_WAIT  127.0.0.1 -> 7002 and [::1] -> 7003 after the
 *                 client's shutdown(SHUT_WR): both ends keep their fds, so
 *                 neither state times out
 *   SYN_RECV      the server side of a connect to 7006: TCP_DEFER_ACCEPT
 *                 keeps the request socket (kernel state NEW_SYN_RECV;
 *                 /proc/net/tcp prints it as 03 SYN_RECV) for ~10 min
 *   SYN_SENT      a third connect to 7007: its SYN is dropped while the
 *                 accept queue is full, retried up to 127 times
 *   TIME_WAIT     2 IPv4 + 2 IPv6 (60 s only: see "tw" to make more)
 */
static void zoo_init(void)
{
	int l1, l2, l3, l4, l6, l7, c, s;
	char c1;

	l1 = mk_listen(AF_INET, "0.0.0.0", 7001, 128, -1, 0);
	l2 = mk_listen(AF_INET, "127.0.0.1", 7002, 128, -1, 0);
	l3 = mk_listen(AF_INET6, "::1", 7003, 128, 1, 0);
	l4 = mk_listen(AF_INET6, "::", 7004, 128, 0, 0);
	l6 = mk_listen(AF_INET, "127.0.0.1", 7006, 128, -1, 600);
	l7 = mk_listen(AF_INET, "127.0.0.1", 7007, 1, -1, 0);
	hold(l1), hold(l2), hold(l3), hold(l4), hold(l6), hold(l7);

	hold(mk_connect(AF_INET, NULL, "127.0.0.1", 7002, 0)), hold(acc(l2));
	c = mk_connect(AF_INET, "127.0.0.3", "127.0.0.5", 7001, 0);
	s = acc(l1);
	xfer(c, s, XFER_UP);
	xfer(s, c, XFER_DOWN);
	hold(c), hold(s);
	hold(mk_connect(AF_INET6, NULL, "::1", 7003, 0)), hold(acc(l3));
	hold(mk_connect(AF_INET, NULL, "127.0.0.1", 7004, 0)), hold(acc(l4));
	hold(mk_connect(AF_INET6, NULL, "::ffff:127.0.0.1", 7001, 0)),
		hold(acc(l1));

	/* FIN_WAIT2 (client) / CLOSE_WAIT (server), IPv4 and IPv6 */
	c = mk_connect(AF_INET, NULL, "127.0.0.1", 7002, 0);
	s = acc(l2);
	shutdown(c, SHUT_WR);
	set_rcvtimeo(s, 5);
	if (read(s, &c1, 1) != 0)
		die("expected EOF (v4 half-close)");
	hold(c), hold(s);
	c = mk_connect(AF_INET6, NULL, "::1", 7003, 0);
	s = acc(l3);
	shutdown(c, SHUT_WR);
	set_rcvtimeo(s, 5);
	if (read(s, &c1, 1) != 0)
		die("expected EOF (v6 half-close)");
	hold(c), hold(s);

	/* request socket held by TCP_DEFER_ACCEPT: the client's bare ACK is
	 * dropped, so the handshake never completes on the server side */
	hold(mk_connect(AF_INET, NULL, "127.0.0.1", 7006, 0));

	/* fill 7007's accept queue (backlog 1 admits two), then SYN_SENT */
	hold(mk_connect(AF_INET, NULL, "127.0.0.1", 7007, 0));
	hold(mk_connect(AF_INET, NULL, "127.0.0.1", 7007, 0));
	hold(mk_connect(AF_INET, NULL, "127.0.0.1", 7007, 1));

	make_tw(AF_INET, 2);
	make_tw(AF_INET6, 2);
	usleep(100 * 1000); /* handshakes on loopback are synchronous; margin */
}

static void zoo_ns2(void)
{
	int l, l6;

	l = mk_listen(AF_INET, "0.0.0.0", 7005, 128, -1, 0);
	l6 = mk_listen(AF_INET6, "::1", 7015, 128, 1, 0);
	hold(l), hold(l6);
	hold(mk_connect(AF_INET, NULL, "127.0.0.1", 7005, 0)), hold(acc(l));
	hold(mk_connect(AF_INET6, NULL, "::1", 7015, 0)), hold(acc(l6));
	make_tw(AF_INET, 1);
	usleep(100 * 1000);
}

/* a listener on 9000 and (n-1)/2 established localhost pairs */
static void zoo_count(int n)
{
	struct rlimit rl;
	int l, pairs = (n - 1) / 2;

	rl.rlim_cur = rl.rlim_max = (rlim_t)n + 256;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit(NOFILE, %d) (fs.nr_open?)", n + 256);
	l = mk_listen(AF_INET, "127.0.0.1", 9000, 4096, -1, 0);
	for (int i = 0; i < pairs; i++) {
		mk_connect(AF_INET, NULL, "127.0.0.1", 9000, 0);
		acc(l);
	}
	(void)l; /* held implicitly: these fds are never closed */
}

static void lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS lo");
	close(fd);
	usleep(50 * 1000); /* ::1 is added by addrconf when lo comes up */
}

static void report(int wfd, const char *what)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s=%d\n", what, (int)getpid());

	if (write(wfd, line, (size_t)n) != n)
		die("write to parent");
	close(wfd);
}

static void park(void)
{
	for (;;)
		pause();
}

static int cmd_hold(int ns2, int count)
{
	int p[2], want = (ns2 ? 2 : 1) + (count == 0), got = 0;
	char buf[256];
	size_t used = 0;

	if (pipe(p) < 0)
		die("pipe");
	if (fork() == 0) { /* keeper */
		int nul = open("/dev/null", O_RDWR);

		/* the caller may wait for EOF on our stdout: $(sockzoo hold) */
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0)
			die("/dev/null");
		close(nul);
		close(p[0]);
		setsid();
		signal(SIGPIPE, SIG_IGN);
		if (ns2 && fork() == 0) {
			prctl(PR_SET_NAME, "zoo-ns2", 0, 0, 0);
			if (unshare(CLONE_NEWNET) < 0)
				die("unshare(CLONE_NEWNET)");
			lo_up();
			zoo_ns2();
			report(p[1], "ns2");
			park();
		}
		zoo_init();
		if (count > 0)
			zoo_count(count);
		/* a second process holding every zoo fd (inherited): the
		 * owner is the lowest pid, the keeper */
		if (count == 0 && fork() == 0) {
			prctl(PR_SET_NAME, "zoo-share", 0, 0, 0);
			report(p[1], "share");
			park();
		}
		report(p[1], "keeper");
		park();
	}
	close(p[1]);
	alarm(120); /* bound: the zoo is up in ~1 s even under TCG */
	while (got < want && used < sizeof(buf) - 1) {
		ssize_t n = read(p[0], buf + used, sizeof(buf) - 1 - used);

		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			got += buf[used + (size_t)i] == '\n';
		used += (size_t)n;
	}
	buf[used] = 0;
	fputs(buf, stdout);
	if (got < want) {
		fprintf(stderr, "sockzoo: set-up failed\n");
		return 1;
	}
	return 0;
}

/* The first line of @path without its newline into @buf ("?" if none). */
static void first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, (int)len, f))
		snprintf(buf, len, "?");
	buf[strcspn(buf, "\n")] = 0;
	if (f)
		fclose(f);
}

/*
 * The owners truth in one process (a shell loop forks per file, slow
 * under TCG): for every process, every fd that is a socket, as
 * "O PID FD INODE CGROUP COMM" (CGROUP the v2 path of /proc/PID/cgroup,
 * "?" when there is none).
 */
static int cmd_owners(void)
{
	DIR *pd = opendir("/proc"), *fd;
	struct dirent *p, *e;

	if (!pd)
		die("/proc");
	while ((p = readdir(pd))) {
		char path[300], comm[64], cg[512] = "?", line[512], link[64];
		FILE *f;

		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", p->d_name);
		first_line(path, comm, sizeof(comm));
		snprintf(path, sizeof(path), "/proc/%s/cgroup", p->d_name);
		if ((f = fopen(path, "r"))) {
			while (fgets(line, sizeof(line), f))
				if (!strncmp(line, "0::", 3)) {
					line[strcspn(line, "\n")] = 0;
					snprintf(cg, sizeof(cg), "%s",
						 line + 3);
				}
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		if (!(fd = opendir(path)))
			continue; /* gone meanwhile */
		while ((e = readdir(fd))) {
			char lp[600];
			ssize_t n;
			unsigned long ino;

			if (e->d_name[0] == '.')
				continue;
			snprintf(lp, sizeof(lp), "%s/%s", path, e->d_name);
			n = readlink(lp, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			if (sscanf(link, "socket:[%lu]", &ino) == 1)
				printf("O %s %s %lu %s %s\n", p->d_name,
				       e->d_name, ino, cg, comm);
		}
		closedir(fd);
	}
	closedir(pd);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: sockzoo hold [--ns2] [--count N]\n"
			"       sockzoo owners\n"
			"       sockzoo tw [--count N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int ns2 = 0, count = 0;

	if (argc < 2)
		usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--ns2")) {
			ns2 = 1;
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = atoi(argv[++i]);
			if (count < 0 || count > MAX_COUNT)
				usage();
		} else {
			usage();
		}
	}
	if (!strcmp(argv[1], "hold"))
		return cmd_hold(ns2, count);
	if (!strcmp(argv[1], "owners"))
		return cmd_owners();
	if (!strcmp(argv[1], "tw")) {
		make_tw(AF_INET, count ? count : 1);
		make_tw(AF_INET6, count ? count : 1);
		return 0;
	}
	usage();
}
