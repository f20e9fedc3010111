// SPDX-License-Identifier: MIT
/* Guest memory sources: raw file, region map, ELF core.  See mem.h. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"

static int parse_num(const char *s, char **end, uint64_t *v)
{
	unsigned long long x;

	errno = 0;
	x = strtoull(s, end, 0);
	if (errno || *end == s)
		return -EINVAL;
	switch (**end) {
	case 'K':
	case 'k':
		x <<= 10;
		(*end)++;
		break;
	case 'M':
	case 'm':
		x <<= 20;
		(*end)++;
		break;
	case 'G':
	case 'g':
		x <<= 30;
		(*end)++;
		break;
	}
	*v = x;
	return 0;
}

static int parse_map(struct cot_hostmem *m, const char *map, char *msg,
		     size_t msglen)
{
	const char *s = map;

	m->nregions = 0;
	while (*s) {
		struct cot_hostmem_region *r;
		char *e;

		if (m->nregions == COT_VMI_MAX_RANGES) {
			snprintf(msg, msglen,
				 "region map: more than %d regions",
				 COT_VMI_MAX_RANGES);
			return -EINVAL;
		}
		r = &m->regions[m->nregions];
		if (parse_num(s, &e, &r->gpa) || *e != ':' ||
		    parse_num(e + 1, &e, &r->off) || *e != ':' ||
		    parse_num(e + 1, &e, &r->len) || (*e && *e != ',')) {
			snprintf(msg, msglen,
				 "region map: expected GPA:OFF:LEN[,...] at "
				 "'%s'",
				 s);
			return -EINVAL;
		}
		if (r->len == 0 || r->off + r->len < r->off ||
		    r->off + r->len > m->size || r->gpa + r->len < r->gpa) {
			snprintf(msg, msglen,
				 "region map: region at '%s' is outside the "
				 "file",
				 s);
			return -EINVAL;
		}
		m->nregions++;
		s = *e ? e + 1 : e;
	}
	return 0;
}

static int parse_elf(struct cot_hostmem *m, char *msg, size_t msglen)
{
	Elf64_Ehdr eh;
	uint32_t i;

	if (m->size < sizeof(eh)) {
		snprintf(msg, msglen, "ELF file too short");
		return -EINVAL;
	}
	memcpy(&eh, m->map, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_CORE ||
	    eh.e_phentsize != sizeof(Elf64_Phdr)) {
		snprintf(msg, msglen,
			 "ELF file is not a 64-bit little-endian core dump");
		return -EINVAL;
	}
	if (eh.e_phoff > m->size ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > m->size - eh.e_phoff) {
		snprintf(msg, msglen, "ELF program headers outside the file");
		return -EINVAL;
	}
	m->nregions = 0;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		struct cot_hostmem_region *r;

		memcpy(&ph, m->map + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_filesz == 0)
			continue;
		if (ph.p_offset > m->size ||
		    ph.p_filesz > m->size - ph.p_offset) {
			snprintf(msg, msglen, "ELF segment %u outside the file",
				 i);
			return -EINVAL;
		}
		if (m->nregions == COT_VMI_MAX_RANGES) {
			snprintf(msg, msglen,
				 "ELF core has more than %d segments",
				 COT_VMI_MAX_RANGES);
			return -EINVAL;
		}
		r = &m->regions[m->nregions++];
		r->gpa = ph.p_paddr;
		r->off = ph.p_offset;
		r->len = ph.p_filesz;
	}
	if (!m->nregions) {
		snprintf(msg, msglen, "ELF core has no PT_LOAD segment");
		return -EINVAL;
	}
	return 0;
}

int cot_hostmem_open(struct cot_hostmem *m, const char *path, const char *map,
		     char *msg, size_t msglen)
{
	struct stat sb;
	void *p;
	int err;

	memset(m, 0, sizeof(*m));
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0) {
		err = -errno;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return err;
	}
	if (fstat(m->fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
		snprintf(msg, msglen, "%s: not a non-empty regular file", path);
		err = -EINVAL;
		goto err_fd;
	}
	m->size = (size_t)sb.st_size;
	p = mmap(NULL, m->size, PROT_READ, MAP_SHARED, m->fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		snprintf(msg, msglen, "%s: mmap: %s", path, strerror(errno));
		goto err_fd;
	}
	m->map = p;
	if (m->size >= SELFMAG && !memcmp(m->map, ELFMAG, SELFMAG)) {
		m->kind = COT_HOSTMEM_ELF;
		err = parse_elf(m, msg, msglen);
	} else if (map && *map) {
		m->kind = COT_HOSTMEM_RAW;
		err = parse_map(m, map, msg, msglen);
	} else {
		m->kind = COT_HOSTMEM_RAW;
		m->nregions = 1;
		m->regions[0].gpa = 0;
		m->regions[0].off = 0;
		m->regions[0].len = m->size;
		err = 0;
	}
	if (err)
		goto err_map;
	return 0;
err_map:
	munmap((void *)(uintptr_t)m->map, m->size);
err_fd:
	close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	return err;
}

void cot_hostmem_close(struct cot_hostmem *m)
{
	if (!m || !m->map)
		return;
	munmap((void *)(uintptr_t)m->map, m->size);
	close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

int cot_hostmem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	const struct cot_hostmem *m = ctx;
	uint32_t i;

	/* A read must lie inside one region (the core never needs to
	 * cross one: it reads at most a page at a time). */
	for (i = 0; i < m->nregions; i++) {
		const struct cot_hostmem_region *r = &m->regions[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->len ||
		    len > r->len - (gpa - r->gpa))
			continue;
		memcpy(buf, m->map + r->off + (gpa - r->gpa), len);
		return 0;
	}
	return -COT_EFAULT;
}

static void hostmem_prefetch(void *ctx, uint64_t gpa)
{
	const struct cot_hostmem *m = ctx;
	uint32_t i;

	for (i = 0; i < m->nregions; i++) {
		const struct cot_hostmem_region *r = &m->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->len) {
			const uint8_t *p = m->map + r->off + (gpa - r->gpa);

			/* the node and the sock_common fields around it */
			__builtin_prefetch(p);
			__builtin_prefetch(p - 64);
			__builtin_prefetch(p - 128);
			return;
		}
	}
}

void cot_hostmem_iface(struct cot_hostmem *m, struct cot_vmi_mem *out)
{
	uint32_t i;

	memset(out, 0, sizeof(*out));
	out->read = cot_hostmem_read;
	out->prefetch = hostmem_prefetch;
	out->ctx = m;
	for (i = 0; i < m->nregions; i++) {
		out->ranges[i].start = m->regions[i].gpa;
		out->ranges[i].len = m->regions[i].len;
	}
	out->nranges = m->nregions;
}
