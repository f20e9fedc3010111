/* SPDX-License-Identifier: MIT */
/* Helpers shared by query.c and graph.c. */
#ifndef COTRACK_QUERY_UTIL_H
#define COTRACK_QUERY_UTIL_H

#include <stdint.h>
#include <sqlite3.h>

/* Parse a time argument (see query.c); 0 or -1. */
int cot_parse_time(const char *s, uint64_t now_ns, uint64_t *out);
/* The same for option @what (--since, --until): logs what is wanted. */
int cot_parse_time_arg(const char *what, const char *s, uint64_t now_ns,
		       uint64_t *out);
/* Parse an IPv4 or IPv6 address into the 16-byte stored form; 0 or -1. */
int cot_parse_addr(const char *s, uint8_t out[16]);

/* Protocol name (tcp, udp, icmp, icmp6, other) -> enum cot_proto, or -1. */
int cot_parse_proto(const char *s);

/*
 * --explain of query and graph: print "SQL " and @s (prepared from @sql,
 * values bound) with its values in place, then SQLite's plan, one
 * "ID PARENT DETAIL" line per step.  0 or -1 (logged).
 */
int cot_query_explain(sqlite3 *db, sqlite3_stmt *s, const char *sql);

#endif
