// SPDX-License-Identifier: MIT
#include "cotrack/sched.h"

void cot_sched_init(struct cot_sched *s, uint64_t interval, uint64_t now)
{
	s->interval = interval;
	s->next = now;
	s->runs = 0;
	s->checks = 0;
}

uint64_t cot_sched_remaining(const struct cot_sched *s, uint64_t now)
{
	if (!s->interval)
		return UINT64_MAX;
	return now >= s->next ? 0 : s->next - now;
}
