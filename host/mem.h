/* SPDX-License-Identifier: MIT */
/*
 * Guest memory sources for core/vmi: a raw file (guest-physical address
 * = file offset, e.g. QEMU's memory-backend-file in /dev/shm, read live),
 * optionally through a region map (gpa ranges -> file offsets) for RAM
 * split around a PCI hole, or an ELF core from QEMU's dump-guest-memory
 * (PT_LOAD segments by p_paddr).  The file is mapped read-only and
 * shared, so a running guest's writes are visible; reads copy.
 *
 * A struct cot_hostmem is not thread-safe to open/close; reads through
 * cot_hostmem_iface() are thread-safe (they only copy).
 */
#ifndef COTRACK_HOST_MEM_H
#define COTRACK_HOST_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "cotrack/vmi.h"

enum cot_hostmem_kind {
	COT_HOSTMEM_RAW = 1,
	COT_HOSTMEM_ELF,
	COT_HOSTMEM_TABLE, /* a memory table: one mapping per region */
};

struct cot_hostmem_region {
	uint64_t gpa, off, len;
	const uint8_t *host; /* where gpa is mapped here */
};

/*
 * One region of a memory table as a vhost-user frontend hands it over
 * (SET_MEM_TABLE): @len bytes of guest-physical memory from @gpa are
 * the bytes of file @fd from offset @off.
 */
struct cot_hostmem_fdregion {
	uint64_t gpa, len, off;
	int fd;
};

struct cot_hostmem {
	int kind; /* enum cot_hostmem_kind */
	int fd;
	const uint8_t *map;
	size_t size;
	uint32_t nregions;
	struct cot_hostmem_region regions[COT_VMI_MAX_RANGES];
	/* COT_HOSTMEM_TABLE: each region's own mapping */
	void *tmap[COT_VMI_MAX_RANGES];
	size_t tlen[COT_VMI_MAX_RANGES];
};

/*
 * Open @path.  @map (may be NULL) is a region map "GPA:OFF:LEN[,...]"
 * (numbers in C syntax, e.g. 0:0:0x80000000,0x100000000:0x80000000:1G)
 * for raw files; an ELF file is recognised by its header and mapped by
 * its PT_LOAD segments.  Returns 0 or a negative errno; on error @msg
 * (size @msglen) says why.
 */
int cot_hostmem_open(struct cot_hostmem *m, const char *path, const char *map,
		     char *msg, size_t msglen);

/*
 * Open a memory table: map each of the @n regions of @t read-only and
 * shared from its file descriptor.  The mappings are our own: they stay
 * valid whatever the frontend or the library that received the table
 * does with theirs, until cot_hostmem_close().  The descriptors are not
 * taken (the caller may close them once this returns).  Regions must
 * not overlap in guest-physical space and must lie inside their files
 * (regular files: a memfd, hugetlbfs); at most COT_VMI_MAX_RANGES.  A
 * file that shrinks afterwards makes reads fault (SIGBUS): QEMU's
 * memory-backend-memfd seals its file against that (seal=on, the
 * default).
 * Returns 0 or a negative errno, with @msg saying why.
 */
int cot_hostmem_open_table(struct cot_hostmem *m,
			   const struct cot_hostmem_fdregion *t, uint32_t n,
			   char *msg, size_t msglen);

void cot_hostmem_close(struct cot_hostmem *m);

/* Fill @out with the read interface over @m (valid while @m is open). */
void cot_hostmem_iface(struct cot_hostmem *m, struct cot_vmi_mem *out);

/* The read callback itself (exposed for tests and fuzzers). */
int cot_hostmem_read(void *ctx, uint64_t gpa, void *buf, size_t len);

#endif
