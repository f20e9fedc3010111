/* SPDX-License-Identifier: MIT */
/*
 * A tiny TAP-style harness for unit tests.  Each test is a function;
 * T_CHECK records a failure (with file:line and the expression) and
 * goes on, T_ASSERT records and returns from the test.  main() calls
 * T_RUN(fn) per test and returns t_done().  tests/run.sh counts the
 * "ok" / "not ok" lines.
 */
#ifndef COTRACK_TEST_T_H
#define COTRACK_TEST_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_now;
static int t_n, t_nfail;

#define T_CHECK(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stdout, "#   %s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			t_failed_now = 1;                                      \
		}                                                              \
	} while (0)

#define T_ASSERT(cond)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stdout, "#   %s:%d: assertion failed: %s\n",   \
				__FILE__, __LINE__, #cond);                    \
			t_failed_now = 1;                                      \
			return;                                                \
		}                                                              \
	} while (0)

#define T_EQ_U(a, b)                                                           \
	do {                                                                   \
		unsigned long long t_a_ = (a), t_b_ = (b);                     \
		if (t_a_ != t_b_) {                                            \
			fprintf(stdout, "#   %s:%d: %s == %s: %llu != %llu\n", \
				__FILE__, __LINE__, #a, #b, t_a_, t_b_);       \
			t_failed_now = 1;                                      \
		}                                                              \
	} while (0)

#define T_EQ_S(a, b)                                                           \
	do {                                                                   \
		const char *t_a_ = (a), *t_b_ = (b);                           \
		if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {               \
			fprintf(stdout,                                        \
				"#   %s:%d: %s == %s: \"%s\" != \"%s\"\n",     \
				__FILE__, __LINE__, #a, #b,                    \
				t_a_ ? t_a_ : "(null)",                        \
				t_b_ ? t_b_ : "(null)");                       \
			t_failed_now = 1;                                      \
		}                                                              \
	} while (0)

#define T_RUN(fn)                                                              \
	do {                                                                   \
		t_failed_now = 0;                                              \
		fn();                                                          \
		t_n++;                                                         \
		if (t_failed_now)                                              \
			t_nfail++;                                             \
		fprintf(stdout, "%s %d - %s\n",                                \
			t_failed_now ? "not ok" : "ok", t_n, #fn);             \
		fflush(stdout);                                                \
	} while (0)

static inline int t_done(void)
{
	fprintf(stdout, "1..%d\n", t_n);
	return t_nfail ? 1 : 0;
}

#endif
