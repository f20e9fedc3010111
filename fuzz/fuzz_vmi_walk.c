// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the socket walker over a hostile memory image.  A synthetic
 * guest (tests/unit/test_vmi_synth.h: page tables, tables, namespaces,
 * sockets of every kind) is built once; each input is a list of patches
 * "u32 offset, u8 length, bytes" applied to its RAM (anywhere: page
 * tables, buckets, chains, sockets, the namespace list), then the
 * guest is scanned twice and the patches are undone:
 *
 *  - with cot_vmi_scan_step() and a small budget derived from a hash of
 *    the input (so the corpus keeps its meaning): every step must cost
 *    what the read callback was asked for, at most max(budget, its
 *    first unit), the first unit at most COT_VMI_UNIT_MAX_BYTES/_WALKS;
 *  - with cot_vmi_snapshot(): when both end without a bound cutting
 *    them, the two must be the same snapshot (the memory did not
 *    change, so resuming must not change what is found).
 *
 * The walker must finish, with its counted errors, whatever the patches
 * do.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_vmi_synth.h"
#include "host/btf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PATCH 64
#define CAP	  4096
/* Steps per input: past this the scan is left unfinished (a patched
 * table of 2^24 buckets takes more with budgets this small). */
#define MAX_STEPS 1000

static struct syn s;
static struct cot_vmi *k;
static struct cot_vmi_sock out[CAP], ref[CAP];

static void setup(void)
{
	static const uint8_t lo[4] = { 127, 0, 0, 1 }, any[4] = { 0 };
	static const uint8_t lo6[16] = { [15] = 1 };
	struct cot_vmi_mem m;
	struct cot_vmi_profile p;
	uint64_t n2, va;
	char msg[256];
	size_t len;
	void *buf;
	int i;

	syn_init(&s, 5, 0, true, 16, 8);
	n2 = syn_add_net(&s, 4026532200u, 8);
	syn_sock(&s, s.init_net, 1, COT_VMI_TCP_LISTEN, 0, 4, any, 80, any, 0);
	for (i = 0; i < 12; i++)
		syn_sock(&s, s.init_net, (uint32_t)i, (uint8_t)(1 + i % 12),
			 COT_VMI_TCP_FIN_WAIT2, i & 1 ? 4 : 6, i & 1 ? lo : lo6,
			 (uint16_t)(1000 + i), i & 1 ? lo : lo6, 80);
	syn_sock(&s, n2, 3, COT_VMI_TCP_ESTABLISHED, 0, 4, lo, 5, lo, 6);
	k = calloc(1, sizeof(*k));
	syn_iface(&s, &m);
	if (cot_vmi_open(k, &m) || cot_vmi_btf_range(k, &va, &len))
		abort();
	buf = malloc(len);
	if (cot_vmi_read_va(k, va, buf, len) ||
	    cot_vmi_profile_from_btf(buf, len, &p, msg, sizeof(msg)) ||
	    cot_vmi_set_profile(k, &p))
		abort();
	free(buf);
}

/* FNV-1a: the budget of this input, without a field for it. */
static uint64_t hash(const uint8_t *d, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ d[i]) * 0x100000001b3ull;
	return h;
}

/* The prefetch hint: any address a (patched) page table gives, so
 * only its context is checked; it must not change what a scan finds. */
static void hint(void *ctx, uint64_t gpa)
{
	(void)gpa;
	if (ctx != &s)
		__builtin_trap();
}

static void scan(uint64_t h)
{
	uint64_t mb = 1 + (h & 0x3fff), mw = (h >> 16) & 7;
	struct cot_vmi_stats st, rst;
	struct cot_vmi_scan sc;
	uint32_t steps, n, i;
	int r = 0, rs;

	/* Half of the stepped scans with the lookahead prefetch (walk.c),
	 * compared below with a snapshot without it. */
	k->mem.prefetch = (h >> 20) & 1 ? hint : NULL;
	cot_vmi_scan_start(k, &sc, out, CAP);
	/* Bound: MAX_STEPS. */
	for (steps = 0; steps < MAX_STEPS; steps++) {
		uint64_t b0 = s.rd_bytes, w0 = k->walks;

		r = cot_vmi_scan_step(k, &sc, mb, mw, &st);
		if (sc.step_bytes != s.rd_bytes - b0 ||
		    sc.step_walks != k->walks - w0 ||
		    sc.step_bytes > COT_MAX(mb, sc.first_bytes) ||
		    sc.step_walks > COT_MAX(mw, sc.first_walks) ||
		    sc.first_bytes > COT_VMI_UNIT_MAX_BYTES ||
		    sc.first_walks > COT_VMI_UNIT_MAX_WALKS)
			__builtin_trap();
		if (r != 0)
			break;
	}
	if (r == 1 && (sc.n > CAP || st.steps != steps + 1 || st.cuts != steps))
		__builtin_trap();
	k->mem.prefetch = NULL;
	rs = cot_vmi_snapshot(k, ref, CAP, &n, &rst);
	if (rs == 0 && n > CAP)
		__builtin_trap();
	if (r < 0 && rs != r)
		__builtin_trap();
	/* Same memory, same snapshot, however many steps it took. */
	if (r != 1 || rs != 0 || st.err_budget || rst.err_budget)
		return;
	if (sc.n != n || st.buckets != rst.buckets ||
	    st.err_loop != rst.err_loop || st.err_read != rst.err_read ||
	    st.truncated != rst.truncated)
		__builtin_trap();
	for (i = 0; i < n; i++)
		if (cot_vmi_sock_cmp(&out[i], &ref[i]) ||
		    out[i].kaddr != ref[i].kaddr)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t saved[MAX_PATCH][255];
	static uint32_t soff[MAX_PATCH], slen[MAX_PATCH];
	uint32_t np = 0;
	size_t pos = 0;

	if (!k)
		setup();
	/* Patches land in the image and the used heap: page tables,
	 * kallsyms, BTF, tables, namespaces and sockets all live there. */
	while (pos + 5 <= size && np < MAX_PATCH) {
		uint32_t off = (uint32_t)SYN_IMG_PA +
			       cot_get_le32(data + pos) %
				       (uint32_t)(s.heap - SYN_IMG_PA);
		uint32_t len = data[pos + 4];

		pos += 5;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		if (len > s.size - off)
			len = (uint32_t)(s.size - off);
		memcpy(saved[np], s.mem + off, len);
		soff[np] = off;
		slen[np] = len;
		np++;
		memcpy(s.mem + off, data + pos, len);
		pos += len;
	}
	scan(hash(data, size));
	while (np--) /* undo in reverse order */
		memcpy(s.mem + soff[np], saved[np], slen[np]);
	return 0;
}
