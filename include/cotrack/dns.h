/* SPDX-License-Identifier: MIT */
/*
 * core/dns: one VM's table of DNS names, learned from the DNS answers
 * its NIC carries (the policy in prose: docs/names.md).  Freestanding;
 * lives entirely in memory the caller provides, sized once; feeding a
 * frame never allocates and never fails for lack of memory.
 *
 * A VM's UDP query to port 53 is remembered (client address and port,
 * server address, DNS id, question, and the link address it went to);
 * an answer to that VM counts only when it matches one of ITS
 * outstanding queries exactly (from that link address), and then every
 * A/AAAA record reached from the question's name (directly or through a
 * CNAME chain) maps that address to the name the VM asked for, until
 * the smallest TTL along the chain runs out.  Everything in the frames
 * is hostile input: every length is checked before it is read.
 *
 * Not thread-safe: one table per VM per thread.
 *
 * Usage:
 *	cot_dns_params_default(&p);
 *	size_t n = cot_dns_memsize(&p);
 *	void *mem = <caller allocates n bytes, 8-byte aligned>;
 *	cot_dns_init(&t, mem, n, &p);
 *	for each frame of the VM's port: cot_dns_frame(t, &pkt, frame, ...);
 *	to name an address: cot_dns_lookup(t, &addr, now, buf, sizeof(buf));
 */
#ifndef COTRACK_DNS_H
#define COTRACK_DNS_H

#include "cotrack/common.h"
#include "cotrack/pkt.h"

/* A name in dotted text, at most 253 bytes (RFC 1035 2.3.4) + NUL. */
#define COT_DNS_NAMELEN 254

/* Bounds of one answer's walk (the reason for each: core/dns.c). */
#define COT_DNS_MAX_ANSWERS 32 /* resource records read per answer */
#define COT_DNS_MAX_CHAIN   8  /* CNAMEs followed from the question */
#define COT_DNS_MAX_PTRS    16 /* compression pointers in one name */

struct cot_dns_params {
	uint32_t max_names;	   /* address -> name slots (>= 1) */
	uint32_t max_queries;	   /* outstanding-query slots (>= 1) */
	uint32_t max_ttl_s;	   /* TTLs above are clamped to this */
	uint64_t query_timeout_ns; /* a query unanswered this long is gone */
	uint64_t hash_seed;	   /* keys the address hash; random, so a guest
				    * cannot aim its addresses at one bucket */
};

/*
 * Defaults: 4096 names, 256 outstanding queries, TTL clamp 3600 s,
 * query timeout 10 s, a fixed hash seed.
 */
void cot_dns_params_default(struct cot_dns_params *p);

struct cot_dns_stats {
	uint64_t queries;	   /* queries from the guest remembered */
	uint64_t queries_bad;	   /* to port 53 but not a query we keep */
	uint64_t queries_replaced; /* query table full: the oldest went */
	uint64_t answers;	   /* UDP from port 53 to the guest */
	uint64_t matched;	   /* ... that matched an outstanding query */
	uint64_t unmatched;	   /* ... that matched none (ignored) */
	uint64_t malformed;	   /* ... cut short or inconsistent (ignored) */
	uint64_t names;		   /* address -> name entries written */
	uint64_t evicted;	   /* ... that replaced a live entry */
};

struct cot_dns;

/* Bytes of memory for a table with @p; 0 if @p is invalid. */
size_t cot_dns_memsize(const struct cot_dns_params *p);

/*
 * Lay out a table in @mem (@len >= cot_dns_memsize(p), 8-byte aligned).
 * Keeps no pointer to @p.  Returns 0, -COT_EINVAL or -COT_ENOSPC; *out
 * is NULL on failure.
 */
int cot_dns_init(struct cot_dns **out, void *mem, size_t len,
		 const struct cot_dns_params *p);

/*
 * Feed one frame of the VM's port: @pkt is @frame (@len bytes present)
 * parsed by cot_pkt_parse(); @from_guest says its direction.  Frames
 * that are not unfragmented UDP to (from the guest) or from (to the
 * guest) port 53 are ignored at the cost of a few compares.  @now_ns is
 * monotonic within a table.  No allocation; bounded work per frame
 * (max_queries compares plus the walk bounds above).
 */
void cot_dns_frame(struct cot_dns *t, const struct cot_pkt *pkt,
		   const uint8_t *frame, uint32_t len, bool from_guest,
		   uint64_t now_ns);

/*
 * The name the VM looked up for @a, if still within its TTL at @now_ns:
 * copied to @name (NUL-terminated, cut to @cap - 1 bytes).  Returns the
 * length copied, or 0 when there is none (or @cap is 0).
 */
int cot_dns_lookup(const struct cot_dns *t, const struct cot_addr *a,
		   uint64_t now_ns, char *name, size_t cap);

/* Copy the counters. */
void cot_dns_stats(const struct cot_dns *t, struct cot_dns_stats *s);

#endif
