// SPDX-License-Identifier: MIT
/* core/failover: the log server list's round rule (cotrack/failover.h). */
#include "cotrack/common.h"

#include "cotrack/failover.h"

int cot_failover_init(struct cot_failover *f, unsigned int n,
		      unsigned int min_ms, unsigned int max_ms,
		      unsigned long long seed)
{
	if (!n || n > COT_FO_MAX || !min_ms)
		return -COT_EINVAL;
	cot_memset(f, 0, sizeof(*f));
	f->n = n;
	f->min_ms = min_ms;
	f->max_ms = max_ms < min_ms ? min_ms : max_ms;
	f->backoff_ms = min_ms;
	f->rnd = seed;
	return 0;
}

void cot_failover_up(struct cot_failover *f)
{
	f->tried = 0;
	f->had_conn = 1;
}

void cot_failover_healthy(struct cot_failover *f)
{
	f->backoff_ms = f->min_ms;
}

/* splitmix64: a different stream per seed, no state beyond 64 bits */
static uint64_t next_rnd(struct cot_failover *f)
{
	uint64_t z = (f->rnd += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

unsigned int cot_failover_down(struct cot_failover *f, int *was_up)
{
	uint32_t half, wait;

	if (was_up)
		*was_up = f->had_conn;
	f->had_conn = 0;
	if (f->n > 1) {
		f->cur = (f->cur + 1) % f->n;
		f->switches++;
		if (++f->tried < f->n)
			return 0; /* the round goes on: the next one at once */
	}
	f->tried = 0;
	/* between half and all of the current backoff, then double */
	half = f->backoff_ms / 2;
	wait = half + (uint32_t)(next_rnd(f) % ((uint64_t)half + 1));
	if (wait < 1)
		wait = 1;
	f->backoff_ms =
		f->backoff_ms > f->max_ms / 2 ? f->max_ms : f->backoff_ms * 2;
	return wait;
}
