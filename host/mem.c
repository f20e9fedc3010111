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
	for (uint32_t i = 0; i < m->nregions; i++)
		m->regions[i].host = m->map + m->regions[i].off;
	return 0;
err_map:
	munmap((void *)(uintptr_t)m->map, m->size);
err_fd:
	close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	return err;
}

int cot_hostmem_open_table(struct cot_hostmem *m,
			   const struct cot_hostmem_fdregion *t, uint32_t n,
			   char *msg, size_t msglen)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct stat sb;
	uint32_t i, j;
	int err;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->kind = COT_HOSTMEM_TABLE;
	if (n == 0 || n > COT_VMI_MAX_RANGES) {
		snprintf(msg, msglen, "memory table: %u regions (1..%d)", n,
			 COT_VMI_MAX_RANGES);
		return -EINVAL;
	}
	/* Bounded by @n <= COT_VMI_MAX_RANGES. */
	for (i = 0; i < n; i++) {
		uint64_t skip = t[i].off % (uint64_t)pg;
		void *p;

		if (t[i].len == 0 || t[i].gpa + t[i].len < t[i].gpa ||
		    t[i].off + t[i].len < t[i].off || t[i].fd < 0 ||
		    t[i].len > SIZE_MAX - skip) {
			snprintf(msg, msglen, "memory table: region %u bad", i);
			err = -EINVAL;
			goto err;
		}
		for (j = 0; j < i; j++)
			if (t[i].gpa < t[j].gpa + t[j].len &&
			    t[j].gpa < t[i].gpa + t[i].len) {
				snprintf(msg, msglen,
					 "memory table: regions %u and %u "
					 "overlap",
					 j, i);
				err = -EINVAL;
				goto err;
			}
		/* Past the file's end a read would fault (SIGBUS). */
		if (fstat(t[i].fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    t[i].off + t[i].len > (uint64_t)sb.st_size) {
			snprintf(msg, msglen,
				 "memory table: region %u is not inside a "
				 "regular file",
				 i);
			err = -EINVAL;
			goto err;
		}
		p = mmap(NULL, (size_t)(t[i].len + skip), PROT_READ, MAP_SHARED,
			 t[i].fd, (off_t)(t[i].off - skip));
		if (p == MAP_FAILED) {
			err = -errno;
			snprintf(msg, msglen,
				 "memory table: mmap region %u: %s", i,
				 strerror(errno));
			goto err;
		}
		m->tmap[i] = p;
		m->tlen[i] = (size_t)(t[i].len + skip);
		m->regions[i].gpa = t[i].gpa;
		m->regions[i].off = t[i].off;
		m->regions[i].len = t[i].len;
		m->regions[i].host = (const uint8_t *)p + skip;
		m->nregions = i + 1;
		m->size += (size_t)t[i].len;
	}
	return 0;
err:
	cot_hostmem_close(m);
	return err;
}

void cot_hostmem_close(struct cot_hostmem *m)
{
	if (!m)
		return;
	if (m->kind == COT_HOSTMEM_TABLE) {
		for (uint32_t i = 0; i < COT_VMI_MAX_RANGES; i++)
			if (m->tmap[i])
				munmap(m->tmap[i], m->tlen[i]);
		memset(m, 0, sizeof(*m));
		m->fd = -1;
		return;
	}
	if (!m->map)
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
		memcpy(buf, r->host + (gpa - r->gpa), len);
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
			const uint8_t *p = r->host + (gpa - r->gpa);

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
