// SPDX-License-Identifier: MIT
/* host/clock: monotonic, real-time and TSC clocks (clock.h). */
#include <time.h>

#include "clock.h"

static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cot_clock_mono_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

uint64_t cot_clock_real_ns(void)
{
	return read_clock(CLOCK_REALTIME);
}

uint64_t cot_clock_thread_cpu_ns(void)
{
	return read_clock(CLOCK_THREAD_CPUTIME_ID);
}

uint64_t cot_clock_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return cot_clock_mono_ns();
#endif
}

double cot_clock_tsc_per_ns(void)
{
	struct timespec req = { 0, 20000000 };
	uint64_t t0, c0, t1, c1;

	t0 = cot_clock_mono_ns();
	c0 = cot_clock_tsc();
	/* A signal may cut the sleep short: the measure stays valid. */
	nanosleep(&req, NULL);
	t1 = cot_clock_mono_ns();
	c1 = cot_clock_tsc();
	if (t1 <= t0 || c1 <= c0)
		return 1.0;
	return (double)(c1 - c0) / (double)(t1 - t0);
}
