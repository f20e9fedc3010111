/* SPDX-License-Identifier: MIT */
/*
 * host/clock: the clocks every program reads, in one place.
 * Thread-safe; cot_clock_tsc_per_ns() sleeps ~20 ms.
 */
#ifndef COTRACK_HOST_CLOCK_H
#define COTRACK_HOST_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ns: for intervals and deadlines. */
uint64_t cot_clock_mono_ns(void);

/* CLOCK_REALTIME in ns since the epoch: for timestamps in records. */
uint64_t cot_clock_real_ns(void);

/* CPU time of the calling thread in ns (0 if it cannot be read). */
uint64_t cot_clock_thread_cpu_ns(void);

/* The CPU's time-stamp counter (rdtsc) on x86, else cot_clock_mono_ns(). */
uint64_t cot_clock_tsc(void);

/*
 * TSC ticks per nanosecond, measured against CLOCK_MONOTONIC over about
 * 20 ms; 1.0 if it cannot be measured (or there is no TSC).  Call once
 * at start-up.
 */
double cot_clock_tsc_per_ns(void);

#endif
