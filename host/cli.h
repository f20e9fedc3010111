/* SPDX-License-Identifier: MIT */
/*
 * host/cli: command-line argument parsers shared by every program, so a
 * value means the same thing everywhere: a duration, a number, a
 * HOST:PORT, a PKI directory.
 *
 * Exit status of every program: 0 ok, 1 a runtime error, COT_EXIT_USAGE
 * (2) a usage error; --help prints to standard output and exits 0.
 *
 * Each cot_cli_*() parser takes @what, the option it parses (e.g.
 * "--interval"), and returns 0 with the value stored, or -1 after logging
 * exactly one line with log_warnx() (host/log.h) that names @what and the
 * bad value and says what is wanted; nothing is stored then.  The
 * cot_cli_parse_*() functions are the same parsers without the log line,
 * for callers that report errors their own way (they return 0 or
 * -COT_EINVAL for a malformed value, -COT_ERANGE for one out of range).
 *
 * Every parser takes the whole string: no leading or trailing blanks, no
 * sign unless stated, decimal digits only (no 0x, no exponent).
 * Thread-safe (no state).
 */
#ifndef COTRACK_HOST_CLI_H
#define COTRACK_HOST_CLI_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "cotrack/pkt.h"

#define COT_EXIT_USAGE 2 /* every program: 2 usage, 1 runtime error, 0 ok */

/*
 * A duration: DIGITS[.DIGITS][UNIT], UNIT one of ns, us, ms, s, m, h; a
 * bare number means seconds (one meaning in every program).  "10ms",
 * "1.5s", "500us", "100ns", "2m", "1h", "30".  The value must be a whole
 * number of nanoseconds ("0.5ns" is refused), fit in 64 bits and lie in
 * [@min_ns, @max_ns].
 */
int cot_cli_duration(const char *what, const char *s, uint64_t min_ns,
		     uint64_t max_ns, uint64_t *ns);

/* Unsigned decimal integers in [@min, @max]. */
int cot_cli_u64(const char *what, const char *s, uint64_t min, uint64_t max,
		uint64_t *v);
int cot_cli_u32(const char *what, const char *s, uint32_t min, uint32_t max,
		uint32_t *v);

/*
 * Add the comma-separated UDP ports (1..65535) of @arg to @ports
 * (COT_PKT_MAX_PORTS slots, 0 free), clearing the defaults first unless
 * *@set (then set): --vxlan-port and --geneve-port, repeatable.  Returns
 * 0, or -1 (logged) for a bad port or too many.
 */
int cot_cli_ports(const char *opt, const char *arg,
		  uint16_t ports[COT_PKT_MAX_PORTS], bool *set);

/* A decimal int in [@min, @max]; a leading '-' is accepted if @min < 0. */
int cot_cli_int(const char *what, const char *s, int min, int max, int *v);

/*
 * "HOST:PORT" or "[IPV6]:PORT" (the brackets are removed); HOST is not
 * empty and, unbracketed, holds no ':'; PORT is decimal 1..65535, stored
 * in canonical form ("080" -> "80").  Fails if @host (NUL included)
 * does not fit in @hostlen or the port in @portlen.
 */
int cot_cli_hostport(const char *what, const char *s, char *host,
		     size_t hostlen, char *port, size_t portlen);

/*
 * A comma-separated list of HOST:PORT items (each as cot_cli_hostport(),
 * a host of at most 255 bytes), at most COT_CLI_MAX_SERVERS: --log-server
 * A,B.  Returns the number of items (>= 1), or -1 (logged) for an empty
 * list or item, a bad item or too many.
 */
#define COT_CLI_MAX_SERVERS 8
struct cot_cli_server {
	char host[256], port[8];
};
int cot_cli_hostports(const char *what, const char *s,
		      struct cot_cli_server out[COT_CLI_MAX_SERVERS]);

/* cot_cli_hostport() for an address to listen on: port 0 (any) allowed. */
int cot_cli_listen(const char *what, const char *s, char *host, size_t hostlen,
		   char *port, size_t portlen);

/*
 * The files of one identity in a PKI directory made by `cotrack pki`:
 * DIR/ca.pem, DIR/NAME.pem, DIR/NAME.key.  @what names the option that
 * gave @name (e.g. "--name"); @name must pass cot_cli_name_ok(); every
 * path must fit.
 */
struct cot_cli_pki {
	char ca[512], cert[512], key[512];
};
int cot_cli_pki(const char *what, const char *dir, const char *name,
		struct cot_cli_pki *out);

/*
 * 1 if @name is 1..64 bytes of [A-Za-z0-9._-] (a tracker or server
 * name: a file name in the PKI directory, a certificate CN), else 0.
 */
int cot_cli_name_ok(const char *name);

/* The parsers of cot_cli_duration() and cot_cli_u64(), silent. */
int cot_cli_parse_duration(const char *s, uint64_t min_ns, uint64_t max_ns,
			   uint64_t *ns);
int cot_cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v);

#endif
