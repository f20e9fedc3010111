/* SPDX-License-Identifier: MIT */
/*
 * host/ipfix: connection records as IPFIX (RFC 7011) biflows (RFC 5103),
 * through libfixbuf: to a collector over UDP or TCP, or into an IPFIX
 * file (RFC 5655).  The elements are in docs/logd.md, "IPFIX export".
 *
 * One exporter per thread; nothing is shared between exporters.
 */
#ifndef COTRACK_HOST_IPFIX_H
#define COTRACK_HOST_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cotrack/rec.h"

/* Our enterprise number: 32473, the one RFC 5612 sets aside for
 * documentation, until cotrack has one of its own. */
#define COT_IPFIX_PEN 32473

struct cot_ipfix;

/*
 * A collector: "HOST:PORT" or "udp://HOST:PORT" (UDP), "tcp://HOST:PORT"
 * (TCP); IPv6 hosts in brackets.  Parses only; 0 or -COT_EINVAL.
 * @host gets the host (cap bytes), @port the port as text.
 */
int cot_ipfix_parse_target(const char *spec, bool *tcp, char *host,
			   size_t hostcap, char *port, size_t portcap);

/*
 * Open an exporter to the collector @spec (cot_ipfix_parse_target), or
 * into the file @path when @file.  @domain is the observation domain.
 * Returns NULL with @err set.  A TCP collector that is not there yet is
 * an error of the first cot_ipfix_flush(), not of this call.
 */
struct cot_ipfix *cot_ipfix_open(const char *spec, bool file, uint32_t domain,
				 char *err, size_t errlen);

/*
 * Add @r to the message being built (sent when full).  0, or -COT_EIO
 * with @err set (the transport failed: close and open again; records
 * added since the last successful flush may not have reached it).
 */
int cot_ipfix_add(struct cot_ipfix *x, const struct cot_rec *r, char *err,
		  size_t errlen);

/* Send what is built.  0 or -COT_EIO (@err). */
int cot_ipfix_flush(struct cot_ipfix *x, char *err, size_t errlen);

/* Queue the templates again (UDP collectors forget them). 0 or -COT_EIO. */
int cot_ipfix_templates(struct cot_ipfix *x, char *err, size_t errlen);

/* Flush and free; NULL is a no-op. */
void cot_ipfix_close(struct cot_ipfix *x);

#endif
