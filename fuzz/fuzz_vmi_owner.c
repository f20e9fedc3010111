// SPDX-License-Identifier: MIT
/*
 * libFuzzer: socket owners and live volumes (core/vmi/owner.c) over a
 * hostile memory image.  A synthetic guest (tests/unit/test_vmi_synth.h)
 * with processes in cgroups holding sockets (shared fds, a second fd
 * word, an unheld socket file) is built once; each input is a list of
 * patches "u32 offset, u8 length, bytes" applied to its RAM (anywhere:
 * the task list, file tables, bitmaps, files, sockets, kernfs nodes,
 * names, page tables), then:
 *
 *  - a snapshot, and cot_vmi_owners() with a small budget derived from
 *    a hash of the input: the pass must stay within it (the read path
 *    counts bytes and walks; the pass has no first unit done in full)
 *    and say so (err_budget) when it was cut;
 *  - the pass again without a budget: it must end, every owner it gives
 *    must name a process it listed, every cgroup path be NUL-terminated
 *    and start with '/'.
 *
 * The patches are undone after each input.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_vmi_synth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PATCH 64
#define CAP	  256

static struct syn s;
static struct cot_vmi *k;
static struct cot_vmi_sock socks[CAP];
static struct cot_vmi_owner own[CAP];
static struct cot_vmi_proc procs[64];
static struct cot_vmi_cgroup cgroups[16];
static struct cot_vmi_fent files[256];
static struct cot_vmi_owners o;

static void setup(void)
{
	static const uint8_t lo[4] = { 127, 0, 0, 1 };
	struct cot_vmi_profile p;
	struct cot_vmi_mem m;
	uint64_t va, a, b, c, css1, css2, sk, f;
	size_t len, ml;
	void *buf, *mem;
	int i;

	k = calloc(1, sizeof(*k));
	syn_init(&s, 4, 0, false, 16, 8);
	css1 = syn_cgroup(&s, "system.slice/a.service");
	css2 = syn_cgroup(&s, "b");
	a = syn_task(&s, 100, "a", css1, 64);
	b = syn_task(&s, 50, "b", css2, 256);
	c = syn_task(&s, 7, "c", css1, 64);
	sk = syn_sock(&s, s.init_net, 1, COT_VMI_TCP_LISTEN, 0, 4, lo, 80, lo,
		      0);
	f = syn_sockfile(&s, sk, 1000);
	syn_fd(&s, a, 3, f);
	syn_fd(&s, b, 200, f);
	for (i = 0; i < 12; i++) {
		sk = syn_sock(&s, s.init_net, (uint32_t)i,
			      COT_VMI_TCP_ESTABLISHED, 0, 4, lo,
			      (uint16_t)(1000 + i), lo, 80);
		syn_volumes(&s, sk, (uint64_t)i * 10, (uint64_t)i, 3, 4);
		f = syn_sockfile(&s, sk, 2000u + (uint32_t)i);
		if (i != 11) /* the last: a file no process holds */
			syn_fd(&s, i % 2 ? b : c, (uint32_t)(4 + i * 9), f);
	}
	syn_sock(&s, s.init_net, 5, COT_VMI_TCP_TIME_WAIT, 6, 4, lo, 81, lo, 9);
	syn_iface(&s, &m);
	if (cot_vmi_open(k, &m) || cot_vmi_btf_range(k, &va, &len))
		abort();
	buf = malloc(len);
	ml = cot_vmi_btf_memsize(len);
	mem = malloc(ml);
	if (cot_vmi_read_va(k, va, buf, len) ||
	    cot_vmi_profile_btf(buf, len, mem, ml, &p) ||
	    cot_vmi_set_profile(k, &p))
		abort();
	free(buf);
	free(mem);
	o.procs = procs;
	o.procs_cap = COT_ARRAY_SIZE(procs);
	o.cgroups = cgroups;
	o.cgroups_cap = COT_ARRAY_SIZE(cgroups);
	o.files = files;
	o.files_cap = COT_ARRAY_SIZE(files);
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

static void run(uint64_t h)
{
	uint64_t mb = 1 + (h & 0x7fff), mw = (h >> 16) & 15, b0;
	struct cot_vmi_stats st;
	uint32_t n = 0, i;

	if (cot_vmi_snapshot(k, socks, CAP, &n, &st) || n > CAP)
		return;
	b0 = s.rd_bytes;
	if (cot_vmi_owners(k, &o, socks, n, own, mb, mw) != 0)
		__builtin_trap();
	if (o.st.bytes_read != s.rd_bytes - b0 || o.st.bytes_read > mb ||
	    o.st.walks > mw)
		__builtin_trap();
	if (cot_vmi_owners(k, &o, socks, n, own, UINT64_MAX, UINT64_MAX) ||
	    o.st.err_budget || o.nprocs > o.procs_cap ||
	    o.ncgroups > o.cgroups_cap || o.nfiles >= o.files_cap)
		__builtin_trap();
	for (i = 0; i < n; i++)
		if (own[i].proc != UINT32_MAX && own[i].proc >= o.nprocs)
			__builtin_trap();
	for (i = 0; i < o.nprocs; i++)
		if (procs[i].comm[COT_VMI_COMM_LEN - 1] != '\0' ||
		    (procs[i].cgroup != UINT32_MAX &&
		     procs[i].cgroup >= o.ncgroups))
			__builtin_trap();
	for (i = 0; i < o.ncgroups; i++)
		if (cgroups[i].path[0] != '/' ||
		    !memchr(cgroups[i].path, 0, COT_VMI_CGROUP_LEN))
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
	run(hash(data, size));
	while (np--) /* undo in reverse order */
		memcpy(s.mem + soff[np], saved[np], slen[np]);
	return 0;
}
