// SPDX-License-Identifier: MIT
/*
 * microsvc: the microservice workload of the test guests (issue 4), a tiny
 * HTTP/1.1 server and client, statically linked into the initramfs.
 *
 *   microsvc serve --name NAME --port P [--bind IP] [--call HOST:PORT]...
 *	Serves GET on IP:P (default 0.0.0.0), one process per connection,
 *	keep-alive honoured.  Per request it first GETs every --call
 *	upstream (a new TCP connection each, "Connection: close", in the
 *	order given) and answers 200 with one line naming itself and what
 *	each upstream said, or 502 if any upstream failed.
 *   microsvc get HOST:PORT[/PATH] [--count N] [--close-first]
 *	N sequential GETs, each on a new connection; prints
 *	"microsvc-get ok=N fail=M" and exits 0 iff all succeeded, then
 *	"microsvc-get-us n=N median=U p90=U mean=U max=U": each GET's time
 *	from connect to the end of the answer (CLOCK_MONOTONIC,
 *	microseconds; failed ones included).  --close-first: the client
 *	closes as soon as it has the whole body (Content-Length), before
 *	the server does, so that the client's socket ends in TIME_WAIT.
 *
 * With MICROSVC_CONNLOG=FILE in the environment, every connection a
 * server process accepts or dials is appended to FILE as one line
 * "C PID ALSO LOCAL LPORT REMOTE RPORT CGROUP COMM": the process's own
 * view (getpid, getsockname, getpeername, /proc/self/cgroup's v2 path
 * or "?", /proc/self/comm): the truth of the socket owners (issue 12).
 * ALSO is the parent's pid for an accepted connection (the parent holds
 * the socket too, from accept() until its close() after the fork), 0
 * for a dialled one.
 *
 * Everything read from the network is bounded (MAX_HDR, MAX_BODY) and every
 * socket has a receive/send timeout, so a dead peer costs at most IO_SECS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_HDR		  8192	/* request/response head limit */
#define MAX_BODY	  65536 /* upstream response limit */
#define MAX_CALLS	  4
#define IO_SECS		  10
#define MAX_REQS_PER_CONN 100000 /* keep-alive bound per connection */

static const char *name = "svc";

struct hostport {
	char host[64];
	int port;
	char path[128];
};

static int parse_hostport(const char *s, struct hostport *hp)
{
	const char *colon = strrchr(s, ':'), *slash;
	size_t hl;

	if (!colon || colon == s)
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(hp->host))
		return -1;
	memcpy(hp->host, s, hl);
	hp->host[hl] = 0;
	hp->port = atoi(colon + 1);
	if (hp->port <= 0 || hp->port > 65535)
		return -1;
	slash = strchr(colon, '/');
	snprintf(hp->path, sizeof(hp->path), "%s", slash ? slash : "/");
	return 0;
}

static void timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_SECS };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The first line of @path into @buf (newline cut), or "?". */
static void first_line_of(const char *path, const char *prefix, char *buf,
			  size_t len)
{
	char line[512];
	FILE *f = fopen(path, "r");

	snprintf(buf, len, "?");
	if (!f)
		return;
	/* Bound: the file's lines (a few). */
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, prefix, strlen(prefix))) {
			snprintf(buf, len, "%s", line + strlen(prefix));
			break;
		}
	}
	fclose(f);
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len,
		     int *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, buf, (socklen_t)len);
		*port = ntohs(a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)len);
		*port = ntohs(a->sin_port);
	}
}

/* MICROSVC_CONNLOG: one line for connection @fd (see the top). */
static void conn_log(int fd, int accepted)
{
	const char *path = getenv("MICROSVC_CONNLOG");
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);
	char la[64], ra[64], cg[300], comm[64], line[600];
	int lp, rp, n, out;

	if (!path || !*path || getsockname(fd, (void *)&l, &ll) < 0 ||
	    getpeername(fd, (void *)&r, &rl) < 0)
		return;
	addr_str(&l, la, sizeof(la), &lp);
	addr_str(&r, ra, sizeof(ra), &rp);
	first_line_of("/proc/self/cgroup", "0::", cg, sizeof(cg));
	first_line_of("/proc/self/comm", "", comm, sizeof(comm));
	n = snprintf(line, sizeof(line), "C %d %d %s %d %s %d %s %s\n",
		     (int)getpid(), accepted ? (int)getppid() : 0, la, lp, ra,
		     rp, cg, comm);
	out = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (out < 0)
		return;
	/* One write with O_APPEND: lines of many processes do not mix. */
	if (n > 0 && write(out, line, (size_t)n) < 0)
		perror("microsvc: connection log");
	close(out);
}

static int dial(const struct hostport *hp)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr *sa;
	socklen_t len;
	int fd;

	/* numeric addresses only: the guests have no resolver */
	if (inet_pton(AF_INET, hp->host, &a4.sin_addr) == 1) {
		a4.sin_port = htons((uint16_t)hp->port);
		sa = (struct sockaddr *)&a4, len = sizeof(a4);
	} else if (inet_pton(AF_INET6, hp->host, &a6.sin6_addr) == 1) {
		a6.sin6_port = htons((uint16_t)hp->port);
		sa = (struct sockaddr *)&a6, len = sizeof(a6);
	} else {
		return -1;
	}
	fd = socket(sa->sa_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	timeouts(fd);
	if (connect(fd, sa, len) < 0) {
		close(fd);
		return -1;
	}
	conn_log(fd, 0);
	return fd;
}

/* With --close-first: is the answer in buf[0, used) complete (its
 * head and Content-Length bytes of body)?  No Content-Length: never. */
static int http_complete(char *buf, size_t used)
{
	char *body, *cl;
	long n;

	buf[used] = 0;
	body = strstr(buf, "\r\n\r\n");
	if (!body)
		return 0;
	cl = strcasestr(buf, "\r\nContent-Length:");
	if (!cl || cl > body)
		return 0;
	n = strtol(cl + 17, NULL, 10);
	return n >= 0 && (size_t)(body + 4 - buf) + (size_t)n <= used;
}

static int close_first;

/* One GET on a new connection.  Copies the first body line (<= outlen-1)
 * to out.  Returns 0 on a 200 answer. */
static int http_get(const struct hostport *hp, char *out, size_t outlen)
{
	static char buf[MAX_BODY + MAX_HDR + 1];
	char req[256];
	size_t used = 0;
	int fd, n;
	char *body, *eol;

	out[0] = 0;
	fd = dial(hp);
	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
		     hp->path, hp->host);
	if (write_all(fd, req, (size_t)n) < 0) {
		close(fd);
		return -1;
	}
	while (used < sizeof(buf) - 1) { /* bounded by the buffer */
		ssize_t r = read(fd, buf + used, sizeof(buf) - 1 - used);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
		if (close_first && http_complete(buf, used))
			break;
	}
	close(fd);
	buf[used] = 0;
	if (strncmp(buf, "HTTP/1.1 200 ", 13) &&
	    strncmp(buf, "HTTP/1.0 200 ", 13))
		return -1;
	body = strstr(buf, "\r\n\r\n");
	if (!body)
		return -1;
	body += 4;
	eol = strchr(body, '\n');
	if (eol)
		*eol = 0;
	snprintf(out, outlen, "%s", body);
	return 0;
}

static struct hostport calls[MAX_CALLS];
static int ncalls;

/* Serves one client connection until it closes or asks to. */
static void serve_conn(int fd)
{
	static char hdr[MAX_HDR + 1];
	size_t used = 0;

	timeouts(fd);
	for (int nreq = 0; nreq < MAX_REQS_PER_CONN; nreq++) {
		char *end, resp[1024], body[768], up[256];
		int close_after, ok = 1, n;
		size_t blen, hlen;

		/* read one request head: bounded by MAX_HDR */
		while (!(end = memmem(hdr, used, "\r\n\r\n", 4))) {
			ssize_t r;

			if (used >= MAX_HDR)
				return;
			r = read(fd, hdr + used, MAX_HDR - used);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return;
			used += (size_t)r;
		}
		hdr[used] = 0;
		hlen = (size_t)(end - hdr) + 4;
		*end = 0;
		close_after =
			strcasestr(hdr, "\r\nConnection: close") != NULL ||
			strstr(hdr, "HTTP/1.0") != NULL;
		n = snprintf(body, sizeof(body), "%s ok", name);
		for (int i = 0; i < ncalls && ok; i++) {
			ok = http_get(&calls[i], up, sizeof(up)) == 0;
			if (n < (int)sizeof(body))
				n += snprintf(
					body + n, sizeof(body) - (size_t)n,
					" [%s:%d %s]", calls[i].host,
					calls[i].port, ok ? up : "FAILED");
		}
		blen = strlen(body);
		n = snprintf(
			resp, sizeof(resp),
			"HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
			"Content-Length: %zu\r\nConnection: %s\r\n\r\n%s\n",
			ok ? "200 OK" : "502 Bad Gateway", blen + 1,
			close_after ? "close" : "keep-alive", body);
		if (write_all(fd, resp, (size_t)n) < 0 || close_after)
			return;
		/* GET has no body: keep any pipelined bytes after the head */
		memmove(hdr, hdr + hlen, used - hlen);
		used -= hlen;
	}
}

static int cmd_serve(const char *bind_ip, int port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	int one = 1, lfd, v6 = strchr(bind_ip, ':') != NULL;

	signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel */
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("microsvc: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6) {
		a6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, bind_ip, &a6.sin6_addr) != 1 ||
		    bind(lfd, (struct sockaddr *)&a6, sizeof(a6)) < 0) {
			perror("microsvc: bind");
			return 1;
		}
	} else {
		a4.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, bind_ip, &a4.sin_addr) != 1 ||
		    bind(lfd, (struct sockaddr *)&a4, sizeof(a4)) < 0) {
			perror("microsvc: bind");
			return 1;
		}
	}
	if (listen(lfd, 1024) < 0) {
		perror("microsvc: listen");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pid_t pid;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE)
				continue;
			perror("microsvc: accept");
			return 1;
		}
		pid = fork();
		if (pid == 0) {
			close(lfd);
			conn_log(fd, 1);
			serve_conn(fd);
			_exit(0);
		}
		close(fd);
	}
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* The times of at most MAX_TIMED requests are kept for the percentiles. */
#define MAX_TIMED 100000

static int cmd_get(const char *target, long count)
{
	struct hostport hp;
	char out[256];
	long ok = 0, fail = 0, n = 0;
	long long *us, sum = 0;

	if (parse_hostport(target, &hp) < 0) {
		fprintf(stderr, "microsvc: bad target %s\n", target);
		return 2;
	}
	us = calloc(count < MAX_TIMED ? count : MAX_TIMED, sizeof(*us));
	signal(SIGPIPE, SIG_IGN);
	for (long i = 0; i < count; i++) {
		long long t0 = now_us(), dt;

		if (http_get(&hp, out, sizeof(out)) == 0)
			ok++;
		else
			fail++;
		dt = now_us() - t0;
		sum += dt;
		if (us && n < MAX_TIMED)
			us[n++] = dt;
	}
	printf("microsvc-get ok=%ld fail=%ld last=%s\n", ok, fail, out);
	if (us && n) {
		qsort(us, (size_t)n, sizeof(*us), cmp_ll);
		printf("microsvc-get-us n=%ld median=%lld p90=%lld mean=%lld "
		       "max=%lld\n",
		       n, us[(n - 1) / 2], us[(n * 9 + 9) / 10 - 1],
		       sum / count, us[n - 1]);
	}
	free(us);
	return fail ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: microsvc serve --name NAME --port P [--bind "
			"IP] [--call HOST:PORT[/PATH]]...\n"
			"       microsvc get HOST:PORT[/PATH] [--count N] "
			"[--close-first]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *bind_ip = "0.0.0.0";
	int port = 80;
	long count = 1;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "get")) {
		if (argc < 3)
			usage();
		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--count") && i + 1 < argc)
				count = atol(argv[++i]);
			else if (!strcmp(argv[i], "--close-first"))
				close_first = 1;
			else
				usage();
		}
		if (count < 1 || count > 10000000)
			usage();
		return cmd_get(argv[2], count);
	}
	if (strcmp(argv[1], "serve"))
		usage();
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--name")) {
			name = argv[++i];
		} else if (!strcmp(argv[i], "--port")) {
			port = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--bind")) {
			bind_ip = argv[++i];
		} else if (!strcmp(argv[i], "--call")) {
			if (ncalls == MAX_CALLS ||
			    parse_hostport(argv[++i], &calls[ncalls]) < 0)
				usage();
			ncalls++;
		} else {
			usage();
		}
	}
	if (port <= 0 || port > 65535)
		usage();
	return cmd_serve(bind_ip, port);
}
