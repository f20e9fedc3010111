// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the socket walker over a hostile memory image.  A synthetic
 * guest (tests/unit/test_vmi_synth.h: page tables, tables, namespaces,
 * sockets of every kind) is built once; each input is a list of patches
 * "u32 offset, u8 length, bytes" applied to its RAM (anywhere: page
 * tables, buckets, chains, sockets, the namespace list), then a snapshot
 * runs and the patches are undone.  The walker must finish, with its
 * counted errors, whatever the patches do.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_vmi_synth.h"
#include "host/btf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PATCH 64

static struct syn s;
static struct cot_vmi *k;
static struct cot_vmi_sock out[4096];

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t saved[MAX_PATCH][255];
	static uint32_t soff[MAX_PATCH], slen[MAX_PATCH];
	struct cot_vmi_stats st;
	uint32_t np = 0, n;
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
	if (cot_vmi_snapshot(k, out, 4096, &n, &st) == 0 && n > 4096)
		__builtin_trap();
	while (np--) /* undo in reverse order */
		memcpy(s.mem + soff[np], saved[np], slen[np]);
	return 0;
}
