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
	const char *mem;	/* raw file or ELF core */
	const char *map;	/* region map for raw files, or NULL */
	const char *sysmap;	/* System.map for kernels < 6.0, or NULL */
	const char *btf;	/* raw BTF file instead of guest BTF, or NULL */
};

struct cot_vmi_attach {
	struct cot_hostmem hm;
	struct cot_vmi *k;	/* allocated by cot_vmi_attach() */
	const char *btf_how;	/* "guest memory" or "file" */
	size_t btf_len;		/* bytes of guest BTF read */
	int open_err;		/* what cot_vmi_open() returned */
};

/*
 * Attach @a per @o.  Returns 0, or -1 with a one-line reason in @msg
 * (nothing left open).  A guest still booting (no VMCOREINFO yet) fails
 * with open_err == -COT_ENOENT.
 */
int cot_vmi_attach(struct cot_vmi_attach *a,
		   const struct cot_vmi_attach_opts *o, char *msg,
		   size_t msglen);

/* Close and free what cot_vmi_attach() opened; idempotent. */
void cot_vmi_detach(struct cot_vmi_attach *a);

#endif
