// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btf.h"
#include "log.h"
#include "vmiattach.h"

/* System.map: "ADDR TYPE NAME" lines; link-time addresses. */
static int load_sysmap(const char *path, uint64_t addr[COT_VMI_SYM__COUNT],
		       char *msg, size_t msglen)
{
	char line[512];
	FILE *f = fopen(path, "r");
	unsigned int i;

	if (!f) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	memset(addr, 0, sizeof(addr[0]) * COT_VMI_SYM__COUNT);
	/* One line at a time; a file of any length is read once. */
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a;
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &a, &type, name) != 3)
			continue;
		for (i = 0; i < COT_VMI_SYM__COUNT; i++)
			if (!addr[i] && !strcmp(name, cot_vmi_sym_name(i)))
				addr[i] = a;
	}
	fclose(f);
	return 0;
}

void cot_vmi_detach(struct cot_vmi_attach *a)
{
	free(a->k);
	a->k = NULL;
	cot_hostmem_close(&a->hm);
}

int cot_vmi_attach(struct cot_vmi_attach *a,
		   const struct cot_vmi_attach_opts *o, char *msg,
		   size_t msglen)
{
	struct cot_vmi_mem mem;
	struct cot_vmi_profile prof;
	const char *src = o->table ? "memory table" : o->mem;
	int err;

	memset(a, 0, sizeof(*a));
	msg[0] = '\0';
	if (o->table) {
		if (cot_hostmem_open_table(&a->hm, o->table, o->ntable, msg,
					   msglen))
			return -1;
	} else if (cot_hostmem_open(&a->hm, o->mem, o->map, msg, msglen)) {
		return -1;
	}
	a->k = calloc(1, sizeof(*a->k));
	if (!a->k) {
		snprintf(msg, msglen, "out of memory");
		goto err;
	}
	cot_hostmem_iface(&a->hm, &mem);
	err = cot_vmi_open(a->k, &mem);
	a->open_err = err;
	a->open_bytes = a->k->bytes_read;
	a->open_walks = a->k->walks;
	if (err == -COT_ENOENT) {
		snprintf(msg, msglen,
			 "%s: no Linux VMCOREINFO found in %zu bytes: not the "
			 "memory of a Linux guest (or its kernel lacks "
			 "CONFIG_CRASH_CORE)",
			 src, a->hm.size);
		goto err;
	}
	if (err == -COT_EPROTO) {
		snprintf(msg, msglen,
			 "%s: VMCOREINFO found (release %s) but %s%s", src,
			 a->k->ci.osrelease[0] ? a->k->ci.osrelease : "?",
			 a->k->ks_fail == COT_VMI_KS_UNREADABLE
				 ? "the kallsyms tables it names are not "
				   "readable"
			 : a->k->ks_fail == COT_VMI_KS_BAD
				 ? "its kallsyms tables do not decode "
				   "(_stext not where VMCOREINFO says)"
			 : a->k->ks_fail == COT_VMI_KS_NO_SYMBOL
				 ? "kallsyms has no tcp_hashinfo"
				 : "the kernel page tables could not be "
				   "walked from init_top_pgt",
			 a->k->refused ? "; discovery budget spent" : "");
		goto err;
	}
	if (err == -COT_ENOTSUP && !o->sysmap) {
		snprintf(msg, msglen,
			 "%s: kernel %s: %s: give --system-map FILE", src,
			 a->k->ci.osrelease,
			 a->k->ks_fail == COT_VMI_KS_NO_STEXT
				 ? "VMCOREINFO has neither kallsyms nor "
				   "SYMBOL(_stext) to search the image from"
			 : a->k->ks_fail == COT_VMI_KS_NOT_FOUND
				 ? "no kallsyms in VMCOREINFO (Linux < 6.0) "
				   "and no kallsyms tables found in the "
				   "kernel image"
				 : "no kallsyms in VMCOREINFO, and the tables "
				   "found in the image do not decode to its "
				   "_stext");
		goto err;
	}
	if (err && err != -COT_ENOTSUP) {
		snprintf(msg, msglen, "%s: %s", src, cot_strerror(err));
		goto err;
	}
	if (o->sysmap) {
		uint64_t addr[COT_VMI_SYM__COUNT];

		if (load_sysmap(o->sysmap, addr, msg, msglen))
			goto err;
		if (cot_vmi_set_symbols(a->k, addr)) {
			snprintf(msg, msglen, "%s: no tcp_hashinfo in it",
				 o->sysmap);
			goto err;
		}
	}
	if (o->btf) {
		err = cot_vmi_profile_from_btf_file(o->btf, &prof, msg, msglen);
		a->btf_how = "file";
	} else {
		uint64_t va;
		size_t len;
		void *buf;

		err = cot_vmi_btf_range(a->k, &va, &len);
		if (err) {
			snprintf(msg, msglen,
				 "%s: no usable __start_BTF/__stop_BTF in the "
				 "guest kernel (CONFIG_DEBUG_INFO_BTF?): give "
				 "--btf FILE",
				 src);
			goto err;
		}
		buf = malloc(len);
		if (!buf) {
			snprintf(msg, msglen, "out of memory");
			goto err;
		}
		err = cot_vmi_read_va(a->k, va, buf, len);
		if (err) {
			free(buf);
			snprintf(msg, msglen,
				 "%s: guest BTF (%zu bytes at %#" PRIx64
				 ") not readable",
				 src, len, va);
			goto err;
		}
		err = cot_vmi_profile_from_btf(buf, len, &prof, msg, msglen);
		free(buf);
		a->btf_how = "guest memory";
		a->btf_len = len;
	}
	if (err)
		goto err;
	if (cot_vmi_set_profile(a->k, &prof)) {
		snprintf(msg, msglen, "BTF gives offsets out of bounds");
		goto err;
	}
	return 0;
err:
	cot_vmi_detach(a);
	return -1;
}
