// SPDX-License-Identifier: MIT
/*
 * core/vmi/btf (the profile without libbpf) against host/btf.c (with
 * libbpf): the same profile from the synthetic guest's BTF and from this
 * machine's own kernel BTF; hostile blobs (every truncation step, bit
 * flips in the header and the types) never read outside the blob (ASan)
 * and never give a profile libbpf would not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotrack/vmi.h"
#include "host/btf.h"
#include "t.h"
#include "test_vmi_synth.h"

static int core_profile(const void *d, size_t len, struct cot_vmi_profile *p)
{
	size_t ml = cot_vmi_btf_memsize(len);
	void *mem = malloc(ml);
	int err = cot_vmi_profile_btf(d, len, mem, ml, p);

	free(mem);
	return err;
}

static void same(const void *d, size_t len)
{
	struct cot_vmi_profile a, b;
	char msg[256];

	T_ASSERT(cot_vmi_profile_from_btf(d, len, &a, msg, sizeof(msg)) == 0);
	T_ASSERT(core_profile(d, len, &b) == 0);
	T_EQ_U(a.skc_num, b.skc_num);
	T_EQ_U(a.skc_net, b.skc_net);
	T_EQ_U(a.net_inum, b.net_inum);
	T_EQ_U(a.flags, b.flags);
	/* owners and volumes are in every kernel this machine or the
	 * synthetic guest has */
	T_CHECK(a.flags & COT_VMI_PF_OWNERS);
	T_CHECK(a.flags & COT_VMI_PF_VOLUMES);
	T_EQ_U(a.kn_parent, b.kn_parent);
	T_EQ_U(a.socket_ino, b.socket_ino);
	T_EQ_U(a.tp_bytes_acked, b.tp_bytes_acked);
	T_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

static void t_synthetic(void)
{
	size_t len;
	void *d = syn_btf(&len);

	same(d, len);
	{ /* the synthetic layout, kernfs_node.__parent (Linux >= 6.15) */
		struct cot_vmi_profile p;

		T_ASSERT(core_profile(d, len, &p) == 0);
		T_EQ_U(p.kn_parent, SYN_KN_PARENT);
		T_EQ_U(p.socket_ino, SYN_SOCKET_INO);
		T_EQ_U(p.sk_socket, SYN_SK_SOCKET);
		T_EQ_U(p.task_comm, SYN_TASK_COMM);
		T_EQ_U(p.fdt_open_fds, SYN_FDT_OPEN_FDS);
		T_EQ_U(p.tp_segs_in, SYN_TP_SEGS_IN);
	}
	free(d);
}

static void *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 1 << 20;
			buf = realloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0 && n < COT_VMI_BTF_MAX);
	fclose(f);
	*len = n;
	return buf;
}

static void t_host_kernel(void)
{
	size_t len;
	void *d = read_file("/sys/kernel/btf/vmlinux", &len);

	if (!d) {
		printf("# no /sys/kernel/btf/vmlinux: synthetic BTF only\n");
		return;
	}
	same(d, len);
	free(d);
}

static void t_small_mem(void)
{
	struct cot_vmi_profile p;
	size_t len;
	void *d = syn_btf(&len);
	uint32_t mem[4];

	T_CHECK(cot_vmi_profile_btf(d, len, mem, sizeof(mem), &p) ==
		-COT_ENOSPC);
	T_CHECK(cot_vmi_profile_btf(d, len, (char *)mem + 1, 8, &p) ==
		-COT_EINVAL);
	free(d);
}

/*
 * Every truncation and a flip of every bit of the header and of the
 * first 4 KiB of types: no read outside the blob (ASan), and whenever
 * the core returns a profile, libbpf accepts the blob and agrees, or
 * the flip was in bytes neither looks at.
 */
static void t_hostile(void)
{
	struct cot_vmi_profile a, b;
	char msg[256];
	size_t len, i, bit, disagree = 0;
	uint8_t *d = syn_btf(&len), *c = malloc(len);

	for (i = 0; i < len; i++) {
		memcpy(c, d, i);
		(void)core_profile(c, i, &b); /* exactly i bytes: ASan */
	}
	for (i = 0; i < len && i < 24 + 4096; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(c, d, len);
			c[i] ^= (uint8_t)(1u << bit);
			if (core_profile(c, len, &b) != 0)
				continue;
			if (cot_vmi_profile_from_btf(c, len, &a, msg,
						     sizeof(msg)) == 0 &&
			    memcmp(&a, &b, sizeof(a)) != 0)
				disagree++;
		}
	}
	/* libbpf validates more (e.g. names of unused types); where both
	 * accept a flipped blob they must agree */
	T_EQ_U(disagree, 0);
	free(c);
	free(d);
}

/* --write-btf FILE: the synthetic BTF, fuzz/corpus/vmi_btf's seed. */
static int write_btf(const char *path)
{
	size_t len;
	void *d = syn_btf(&len);
	FILE *f = fopen(path, "wb");
	int bad = !f || fwrite(d, 1, len, f) != len;

	if (f && fclose(f))
		bad = 1;
	free(d);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-btf"))
		return write_btf(argv[2]);
	T_RUN(t_synthetic);
	T_RUN(t_host_kernel);
	T_RUN(t_small_mem);
	T_RUN(t_hostile);
	return t_done();
}
