/* SPDX-License-Identifier: MIT */
/*
 * Attaching to a guest: open its memory, find its kernel (core/vmi),
 * derive the struct offsets from its own BTF (host/btf.c), install them.
 * Shared by `cotrack vmi` and cotrackd.  Not thread-safe per object.
 */
#ifndef COTRACK_HOST_VMIATTACH_H
#define COTRACK_HOST_VMIATTACH_H

#include "cotrack/vmi.h"
#include "mem.h"

struct cot_vmi_attach_opts {
	const char *mem;    /* raw file or ELF core */
	const char *map;    /* region map for raw files, or NULL */
	const char *sysmap; /* System.map for kernels < 6.0, or NULL */
	const char *btf;    /* raw BTF file instead of guest BTF, or NULL */
	/*
	 * Instead of @mem: a memory table (a vhost-user frontend's regions,
	 * mapped by cot_hostmem_open_table(); the descriptors stay the
	 * caller's).
	 */
	const struct cot_hostmem_fdregion *table;
	uint32_t ntable;
};

struct cot_vmi_attach {
	struct cot_hostmem hm;
	struct cot_vmi *k;   /* allocated by cot_vmi_attach() */
	const char *btf_how; /* "guest memory" or "file" */
	size_t btf_len;	     /* bytes of guest BTF read */
	int open_err;	     /* what cot_vmi_open() returned */
	uint64_t open_bytes; /* guest bytes cot_vmi_open() read */
	uint64_t open_walks; /* and its page walks */
};

/*
 * Attach @a per @o.  Returns 0, or -1 with a one-line reason in @msg
 * (nothing left open).  A guest still booting (no VMCOREINFO yet) fails
 * with open_err == -COT_ENOENT.
 *
 * Cost of one attempt (cotrackd retries a booting guest): what
 * cot_vmi_open() reads, 10 bytes per 4 KiB page of the memory file's RAM
 * plus at most COT_VMI_OPEN_MAX_BYTES (128 MiB) and
 * COT_VMI_OPEN_MAX_WALKS for everything the guest controls (open_bytes,
 * open_walks say what it took), then the guest's BTF: at most
 * COT_VMI_BTF_MAX (64 MiB) read and given to libbpf.  A failed
 * attempt stops where it failed.
 */
int cot_vmi_attach(struct cot_vmi_attach *a,
		   const struct cot_vmi_attach_opts *o, char *msg,
		   size_t msglen);

/* Close and free what cot_vmi_attach() opened; idempotent. */
void cot_vmi_detach(struct cot_vmi_attach *a);

#endif
