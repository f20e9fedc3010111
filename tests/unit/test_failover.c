// SPDX-License-Identifier: MIT
/*
 * core/failover: the log server list's round rule, as host/ship.c and
 * tee/bitvisor/ship.c use it (cotrack/failover.h).
 */
#include "cotrack/common.h"
#include "cotrack/failover.h"
#include "t.h"

static void test_bad_params(void)
{
	struct cot_failover f;

	T_CHECK(cot_failover_init(&f, 0, 100, 1000, 1) == -COT_EINVAL);
	T_CHECK(cot_failover_init(&f, COT_FO_MAX + 1, 100, 1000, 1) ==
		-COT_EINVAL);
	T_CHECK(cot_failover_init(&f, 2, 0, 1000, 1) == -COT_EINVAL);
	T_EQ_U(cot_failover_init(&f, COT_FO_MAX, 100, 10, 1), 0);
	T_EQ_U(f.max_ms, 100); /* raised to the minimum */
}

/* Three servers: the next at once, a wait only after a whole round. */
static void test_round(void)
{
	struct cot_failover f;
	unsigned int w;
	int up = -1, i;

	T_ASSERT(cot_failover_init(&f, 3, 100, 10000, 42) == 0);
	T_EQ_U(f.cur, 0);
	T_EQ_U(cot_failover_down(&f, &up), 0);
	T_EQ_U(up, 0);
	T_EQ_U(f.cur, 1);
	T_EQ_U(cot_failover_down(&f, NULL), 0);
	T_EQ_U(f.cur, 2);
	w = cot_failover_down(&f, NULL); /* the round failed: back off */
	T_CHECK(w >= 50 && w <= 100);
	T_EQ_U(f.cur, 0);
	T_EQ_U(f.switches, 3);
	/* the next round: again at once until it is over, then 200 */
	T_EQ_U(cot_failover_down(&f, NULL), 0);
	T_EQ_U(cot_failover_down(&f, NULL), 0);
	w = cot_failover_down(&f, NULL);
	T_CHECK(w >= 100 && w <= 200);
	/* doubling stops at the maximum */
	for (i = 0; i < 3 * 20; i++)
		w = cot_failover_down(&f, NULL);
	T_EQ_U(f.backoff_ms, 10000);
	T_CHECK(w >= 5000 && w <= 10000);
}

/* A working server is kept; leaving it is said; acks reset the backoff. */
static void test_up_and_healthy(void)
{
	struct cot_failover f;
	unsigned int w;
	int up = -1;

	T_ASSERT(cot_failover_init(&f, 2, 100, 10000, 7) == 0);
	cot_failover_down(&f, NULL);
	w = cot_failover_down(&f, NULL); /* round 1 failed: 50..100 */
	T_CHECK(w >= 50 && w <= 100);
	T_EQ_U(f.backoff_ms, 200);
	/* server 0 welcomes: the round is over; it closes before an ack */
	cot_failover_up(&f);
	T_EQ_U(cot_failover_down(&f, &up), 0); /* to server 1 at once */
	T_EQ_U(up, 1);
	T_EQ_U(f.cur, 1);
	/* server 1 fails too: a whole round, and no ack since: 100..200 */
	w = cot_failover_down(&f, &up);
	T_EQ_U(up, 0);
	T_CHECK(w >= 100 && w <= 200);
	/* welcomed and acknowledged: the backoff starts over */
	cot_failover_up(&f);
	cot_failover_healthy(&f);
	T_EQ_U(f.backoff_ms, 100);
	T_EQ_U(cot_failover_down(&f, NULL), 0);
	w = cot_failover_down(&f, NULL);
	T_CHECK(w >= 50 && w <= 100);
}

/* One server: every failure is a whole round. */
static void test_one(void)
{
	struct cot_failover f;
	unsigned int w;

	T_ASSERT(cot_failover_init(&f, 1, 500, 8000, 1) == 0);
	w = cot_failover_down(&f, NULL);
	T_CHECK(w >= 250 && w <= 500);
	T_EQ_U(f.cur, 0);
	T_EQ_U(f.switches, 0);
	w = cot_failover_down(&f, NULL);
	T_CHECK(w >= 500 && w <= 1000);
}

/* Jitter: spread over the range, and different seeds differ. */
static void test_jitter(void)
{
	struct cot_failover a, b;
	unsigned int lo = ~0u, hi = 0, w, same = 0;
	int i;

	for (i = 0; i < 200; i++) {
		cot_failover_init(&a, 1, 1000, 1000, (unsigned long long)i);
		cot_failover_init(&b, 1, 1000, 1000, 1000u + i);
		w = cot_failover_down(&a, NULL);
		same += w == cot_failover_down(&b, NULL);
		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
	}
	T_CHECK(lo >= 500 && lo < 600);
	T_CHECK(hi <= 1000 && hi > 900);
	T_CHECK(same < 20);
	/* a backoff of 1 ms still waits (0 means "at once, same round") */
	cot_failover_init(&a, 1, 1, 1, 3);
	T_EQ_U(cot_failover_down(&a, NULL), 1);
}

int main(void)
{
	T_RUN(test_bad_params);
	T_RUN(test_round);
	T_RUN(test_up_and_healthy);
	T_RUN(test_one);
	T_RUN(test_jitter);
	return t_done();
}
