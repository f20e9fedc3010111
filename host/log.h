/* SPDX-License-Identifier: MIT */
/*
 * Hosted logging, OpenBSD style: log_warn appends strerror(errno),
 * log_warnx does not; fatal/fatalx exit(1) and belong in main and
 * start-up only.  Messages go to stderr, prefixed by the program name.
 * Thread-safe (one fprintf per message).
 */
#ifndef COTRACK_HOST_LOG_H
#define COTRACK_HOST_LOG_H

#include <stdarg.h>

void log_init(const char *progname, int verbosity);
extern int log_verbosity; /* 0 quiet .. 2 debug */

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* strerror() of a negative cot error code. */
const char *cot_strerror(int err);

#endif
