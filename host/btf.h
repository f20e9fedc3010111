/* SPDX-License-Identifier: MIT */
/*
 * Kernel profile from BTF: every struct offset core/vmi needs, derived
 * with libbpf from the guest kernel's own BTF (read from guest memory,
 * __start_BTF..__stop_BTF) or from a raw BTF file (--btf FILE, e.g. a
 * copy of the guest's /sys/kernel/btf/vmlinux).  The blob is hostile:
 * libbpf validates it, and every offset is checked against the profile
 * bounds before the core sees it.  Thread-safe (no global state).
 */
#ifndef COTRACK_HOST_BTF_H
#define COTRACK_HOST_BTF_H

#include <stddef.h>

#include "cotrack/vmi.h"

/*
 * Fill @p from the raw BTF in @data[0..len).  Returns 0, or a negative
 * errno with @msg saying which type or member is missing.
 */
int cot_vmi_profile_from_btf(const void *data, size_t len,
			     struct cot_vmi_profile *p, char *msg,
			     size_t msglen);

/* Same from a raw BTF file. */
int cot_vmi_profile_from_btf_file(const char *path, struct cot_vmi_profile *p,
				  char *msg, size_t msglen);

#endif
