// SPDX-License-Identifier: MIT
/*
 * Socket sets: order, sort, and the difference of two snapshots as
 * opened / closed / changed events.
 */
#include "cotrack/vmi.h"

static const char *const state_names[COT_VMI_TCP__COUNT] = {
	[COT_VMI_TCP_ESTABLISHED] = "ESTABLISHED",
	[COT_VMI_TCP_SYN_SENT] = "SYN_SENT",
	[COT_VMI_TCP_SYN_RECV] = "SYN_RECV",
	[COT_VMI_TCP_FIN_WAIT1] = "FIN_WAIT1",
	[COT_VMI_TCP_FIN_WAIT2] = "FIN_WAIT2",
	[COT_VMI_TCP_TIME_WAIT] = "TIME_WAIT",
	[COT_VMI_TCP_CLOSE] = "CLOSE",
	[COT_VMI_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[COT_VMI_TCP_LAST_ACK] = "LAST_ACK",
	[COT_VMI_TCP_LISTEN] = "LISTEN",
	[COT_VMI_TCP_CLOSING] = "CLOSING",
	[COT_VMI_TCP_NEW_SYN_RECV] = "NEW_SYN_RECV",
};

const char *cot_vmi_state_name(unsigned int st)
{
	return st < COT_VMI_TCP__COUNT && state_names[st] ? state_names[st]
							  : "?";
}

const char *cot_vmi_event_name(unsigned int ev)
{
	switch (ev) {
	case COT_VMI_EV_OPENED:
		return "opened";
	case COT_VMI_EV_CLOSED:
		return "closed";
	case COT_VMI_EV_CHANGED:
		return "changed";
	}
	return "?";
}

static int cmp_u(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static bool is_listen(const struct cot_vmi_sock *s)
{
	return s->kind == COT_VMI_SK_LISTEN;
}

/* The connection's identity, in human order. */
static int ident_cmp(const struct cot_vmi_sock *a, const struct cot_vmi_sock *b)
{
	int c;

	if ((c = cmp_u(a->netns, b->netns)) ||
	    (c = cmp_u(a->family, b->family)))
		return c;
	if ((c = cot_memcmp(a->local.b, b->local.b, 16)))
		return c;
	if ((c = cmp_u(a->lport, b->lport)))
		return c;
	if ((c = cot_memcmp(a->remote.b, b->remote.b, 16)))
		return c;
	if ((c = cmp_u(a->rport, b->rport)))
		return c;
	return cmp_u(is_listen(a), is_listen(b));
}

/* The connection key of the snapshot order: pos first. */
static int key_cmp(const struct cot_vmi_sock *a, const struct cot_vmi_sock *b)
{
	int c = cmp_u(a->pos, b->pos);

	return c ? c : ident_cmp(a, b);
}

static int rest_cmp(const struct cot_vmi_sock *a, const struct cot_vmi_sock *b)
{
	int c;

	if ((c = cmp_u(a->state, b->state)) || (c = cmp_u(a->kind, b->kind)))
		return c;
	return cmp_u(a->kaddr, b->kaddr);
}

int cot_vmi_sock_cmp(const struct cot_vmi_sock *a, const struct cot_vmi_sock *b)
{
	int c = key_cmp(a, b);

	return c ? c : rest_cmp(a, b);
}

int cot_vmi_sock_cmp_human(const struct cot_vmi_sock *a,
			   const struct cot_vmi_sock *b)
{
	int c = ident_cmp(a, b);

	return c ? c : rest_cmp(a, b);
}

static void swap(struct cot_vmi_sock *a, struct cot_vmi_sock *b)
{
	struct cot_vmi_sock t = *a;

	*a = *b;
	*b = t;
}

static void sift(struct cot_vmi_sock *v, uint32_t root, uint32_t n)
{
	/* Bound: the depth of the heap, log2(n). */
	for (;;) {
		uint32_t c = 2 * root + 1;

		if (c >= n)
			return;
		if (c + 1 < n && cot_vmi_sock_cmp(&v[c], &v[c + 1]) < 0)
			c++;
		if (cot_vmi_sock_cmp(&v[root], &v[c]) >= 0)
			return;
		swap(&v[root], &v[c]);
		root = c;
	}
}

static void heap_sort(struct cot_vmi_sock *v, uint32_t n)
{
	uint32_t i;

	if (n < 2)
		return;
	for (i = n / 2; i-- > 0;)
		sift(v, i, n);
	for (i = n - 1; i > 0; i--) {
		swap(&v[0], &v[i]);
		sift(v, 0, i);
	}
}

static void insertion_sort(struct cot_vmi_sock *v, uint32_t n)
{
	uint32_t i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && cot_vmi_sock_cmp(&v[j - 1], &v[j]) > 0;
		     j--)
			swap(&v[j - 1], &v[j]);
}

/* Hoare partition of v[0..n) (n >= 3) around a median of three;
 * returns the split: v[0..p) <= pivot <= v[p..n). */
static uint32_t partition(struct cot_vmi_sock *v, uint32_t n)
{
	uint32_t m = n / 2, i = 0, j = n - 1;
	struct cot_vmi_sock pivot;

	if (cot_vmi_sock_cmp(&v[m], &v[0]) < 0)
		swap(&v[m], &v[0]);
	if (cot_vmi_sock_cmp(&v[n - 1], &v[0]) < 0)
		swap(&v[n - 1], &v[0]);
	if (cot_vmi_sock_cmp(&v[n - 1], &v[m]) < 0)
		swap(&v[n - 1], &v[m]);
	pivot = v[m];
	/* Bound: i and j only move towards each other. */
	for (;;) {
		while (cot_vmi_sock_cmp(&v[i], &pivot) < 0)
			i++;
		while (cot_vmi_sock_cmp(&v[j], &pivot) > 0)
			j--;
		if (i >= j)
			return j + 1;
		swap(&v[i], &v[j]);
		i++;
		j--;
	}
}

static void intro_sort(struct cot_vmi_sock *v, uint32_t n)
{
	struct {
		uint32_t lo, n, depth;
	} stack[64];
	uint32_t sp = 0, i, depth = 0;

	for (i = n; i; i >>= 1)
		depth += 2; /* 2 log2(n) levels of quicksort at most */
	stack[sp].lo = 0;
	stack[sp].n = n;
	stack[sp].depth = depth;
	sp++;
	/* Bound: the larger part is pushed, the smaller one continued, so
	 * the stack holds at most log2(n) + 1 entries < 64. */
	while (sp) {
		uint32_t lo, len, d;

		sp--;
		lo = stack[sp].lo;
		len = stack[sp].n;
		d = stack[sp].depth;
		while (len > 16) {
			uint32_t p;

			if (d == 0) {
				heap_sort(v + lo, len);
				len = 0;
				break;
			}
			d--;
			p = partition(v + lo, len);
			if (p < len - p) {
				stack[sp].lo = lo + p;
				stack[sp].n = len - p;
				stack[sp].depth = d;
				sp++;
				len = p;
			} else {
				stack[sp].lo = lo;
				stack[sp].n = p;
				stack[sp].depth = d;
				sp++;
				lo += p;
				len -= p;
			}
		}
		insertion_sort(v + lo, len);
	}
}

void cot_vmi_sort(struct cot_vmi_sock *v, uint32_t n)
{
	uint32_t i, start = 0;

	for (i = 1; i < n; i++)
		if (v[i - 1].pos > v[i].pos)
			break;
	if (i < n) { /* not in pos order: not from a walk */
		intro_sort(v, n);
		return;
	}
	/* Bound: one pass; each run of equal pos sorted once. */
	for (i = 1; i <= n; i++) {
		if (i < n && v[i].pos == v[start].pos)
			continue;
		if (i - start > 1)
			intro_sort(v + start, i - start);
		start = i;
	}
}

uint32_t cot_vmi_diff(const struct cot_vmi_sock *prev, uint32_t nprev,
		      const struct cot_vmi_sock *cur, uint32_t ncur,
		      cot_vmi_diff_cb cb, void *ctx)
{
	uint32_t i = 0, j = 0, ev = 0;

	/* Bound: each step advances i or j. */
	while (i < nprev || j < ncur) {
		int c;

		if (i == nprev)
			c = 1;
		else if (j == ncur)
			c = -1;
		else
			c = key_cmp(&prev[i], &cur[j]);
		if (c < 0) {
			if (cb)
				cb(ctx, COT_VMI_EV_CLOSED, &prev[i], NULL);
			ev++;
			i++;
		} else if (c > 0) {
			if (cb)
				cb(ctx, COT_VMI_EV_OPENED, NULL, &cur[j]);
			ev++;
			j++;
		} else {
			/* A new state, or another kernel socket on the same
			 * tuple (a port reused from TIME_WAIT). */
			if (prev[i].state != cur[j].state ||
			    prev[i].kind != cur[j].kind ||
			    prev[i].kaddr != cur[j].kaddr) {
				if (cb)
					cb(ctx, COT_VMI_EV_CHANGED, &prev[i],
					   &cur[j]);
				ev++;
			}
			i++;
			j++;
		}
	}
	return ev;
}
