// SPDX-License-Identifier: MIT
/*
 * bulk: one TCP bulk transfer with a checksum of the payload, for the
 * offload tests (tests/e2e/vhost_gso.t).
 *
 *   bulk recv PORT                  take one connection, read to EOF
 *   bulk send HOST PORT BYTES [SEED] send BYTES of a seeded pattern
 *   bulk udp HOST PORT N SIZE        send N UDP datagrams of SIZE bytes
 *
 * Each side prints one line "bulk recv|send bytes=N fnv=HEX" (FNV-1a 64
 * over the bytes it read or wrote), so the test compares them.  Every
 * wait is bounded: the process gives up after 600 s (alarm).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (64 * 1024)

static uint8_t buf[BUF];

static uint64_t fnv(uint64_t h, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int usage(void)
{
	fprintf(stderr, "usage: bulk recv PORT | bulk send HOST PORT BYTES "
			"[SEED] | bulk udp HOST PORT N SIZE\n");
	return 2;
}

static long num(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 0 || v > max) {
		fprintf(stderr, "bulk: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int do_recv(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	uint64_t h = 0xcbf29ce484222325ULL, n = 0;
	int one = 1, l, c;
	ssize_t r;

	a.sin_port = htons((uint16_t)port);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, 4) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0) {
		perror("bulk recv: listen");
		return 1;
	}
	printf("bulk listening port=%d\n", port);
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("bulk recv: accept");
		return 1;
	}
	while ((r = read(c, buf, BUF)) > 0) {
		h = fnv(h, buf, (size_t)r);
		n += (uint64_t)r;
	}
	if (r < 0) {
		perror("bulk recv: read");
		return 1;
	}
	close(c);
	printf("bulk recv bytes=%llu fnv=%016llx\n", (unsigned long long)n,
	       (unsigned long long)h);
	return 0;
}

static int do_send(const char *host, int port, long bytes, uint64_t seed)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	uint64_t h = 0xcbf29ce484222325ULL, x = seed | 1,
		 left = (uint64_t)bytes;
	ssize_t r;
	int s;

	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "bulk: bad address '%s'\n", host);
		return 2;
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("bulk send: connect");
		return 1;
	}
	while (left) {
		size_t k = left < BUF ? (size_t)left : BUF, off = 0;

		for (size_t i = 0; i + 8 <= BUF; i += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		h = fnv(h, buf, k);
		while (off < k) {
			r = write(s, buf + off, k - off);
			if (r <= 0) {
				perror("bulk send: write");
				return 1;
			}
			off += (size_t)r;
		}
		left -= k;
	}
	shutdown(s, SHUT_WR);
	while ((r = read(s, buf, BUF)) > 0)
		;
	close(s);
	printf("bulk send bytes=%ld fnv=%016llx\n", bytes,
	       (unsigned long long)h);
	return 0;
}

static int do_udp(const char *host, int port, long n, long size)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	long i, sent = 0;
	int s;

	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "bulk: bad address '%s'\n", host);
		return 2;
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		perror("bulk udp: socket");
		return 1;
	}
	for (i = 0; i < (long)size; i++)
		buf[i] = (uint8_t)(i * 5);
	for (i = 0; i < n; i++) {
		if (sendto(s, buf, (size_t)size, 0, (struct sockaddr *)&a,
			   sizeof(a)) == size)
			sent++;
		usleep(10000);
	}
	printf("bulk udp sent=%ld size=%ld\n", sent, size);
	return 0;
}

int main(int argc, char **argv)
{
	alarm(600);
	if (argc == 3 && !strcmp(argv[1], "recv"))
		return do_recv((int)num(argv[2], 65535));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "send"))
		return do_send(argv[2], (int)num(argv[3], 65535),
			       num(argv[4], 1L << 40),
			       argc == 6 ? (uint64_t)num(argv[5], 1L << 40)
					 : 1);
	if (argc == 6 && !strcmp(argv[1], "udp"))
		return do_udp(argv[2], (int)num(argv[3], 65535),
			      num(argv[4], 100000), num(argv[5], 1472));
	return usage();
}
