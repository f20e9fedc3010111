// SPDX-License-Identifier: MIT
/*
 * host/mem's memory-table source (a vhost-user frontend's regions): each
 * guest-physical byte reads back the file byte the table names, reads
 * that leave a region or fall in a hole fail, bad tables are refused
 * with nothing left mapped, and the mappings are our own: they outlive
 * the descriptors and survive the file being mapped and unmapped
 * elsewhere.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/mem.h"
#include "t.h"

#define PG 4096u

/* A memfd of @pages pages, byte i = (i * 7 + i / PG) & 0xff. */
static int mkfile(uint32_t pages)
{
	int fd = memfd_create("hostmem-test", MFD_CLOEXEC);
	uint8_t *buf;

	if (fd < 0 || ftruncate(fd, (off_t)pages * PG) < 0)
		return -1;
	buf = malloc((size_t)pages * PG);
	if (!buf)
		return -1;
	for (uint32_t i = 0; i < pages * PG; i++)
		buf[i] = (uint8_t)(i * 7 + i / PG);
	if (pwrite(fd, buf, (size_t)pages * PG, 0) != (ssize_t)(pages * PG))
		fd = -1;
	free(buf);
	return fd;
}

static uint8_t expect(uint64_t off)
{
	return (uint8_t)(off * 7 + off / PG);
}

static void test_two_regions(void)
{
	char msg[256];
	struct cot_hostmem m;
	uint8_t b[64];
	int fd = mkfile(16);

	T_ASSERT(fd >= 0);
	/* RAM split around a hole: gpa 0..4 pages at file 0, gpa 1 MiB..
	 * at file page 4 plus 100 bytes (not page-aligned). */
	struct cot_hostmem_fdregion t[2] = {
		{ .gpa = 0, .len = 4 * PG, .off = 0, .fd = fd },
		{ .gpa = 1 << 20,
		  .len = 8 * PG,
		  .off = 4 * PG + 100,
		  .fd = fd },
	};
	T_ASSERT(cot_hostmem_open_table(&m, t, 2, msg, sizeof(msg)) == 0);
	close(fd); /* the mappings are ours */
	T_EQ_U(m.nregions, 2);
	T_CHECK(cot_hostmem_read(&m, 0, b, 16) == 0 && b[0] == expect(0) &&
		b[15] == expect(15));
	T_CHECK(cot_hostmem_read(&m, 4 * PG - 16, b, 16) == 0 &&
		b[15] == expect(4 * PG - 1));
	T_CHECK(cot_hostmem_read(&m, (1 << 20) + 5, b, 16) == 0 &&
		b[0] == expect(4 * PG + 105));
	/* The hole, a read across a region's end, past the last region. */
	T_CHECK(cot_hostmem_read(&m, 4 * PG, b, 1) < 0);
	T_CHECK(cot_hostmem_read(&m, 4 * PG - 8, b, 16) < 0);
	T_CHECK(cot_hostmem_read(&m, (1 << 20) + 8 * PG - 8, b, 16) < 0);
	T_CHECK(cot_hostmem_read(&m, UINT64_MAX - 4, b, 16) < 0);

	struct cot_vmi_mem iface;
	cot_hostmem_iface(&m, &iface);
	T_EQ_U(iface.nranges, 2);
	T_EQ_U(iface.ranges[1].start, 1 << 20);
	T_EQ_U(iface.ranges[1].len, 8 * PG);
	cot_hostmem_close(&m);
	cot_hostmem_close(&m); /* idempotent */
}

static void test_bad_tables(void)
{
	char msg[256];
	struct cot_hostmem m;
	int fd = mkfile(4);

	T_ASSERT(fd >= 0);
	struct cot_hostmem_fdregion ov[2] = {
		{ .gpa = 0, .len = 2 * PG, .off = 0, .fd = fd },
		{ .gpa = PG, .len = 2 * PG, .off = 0, .fd = fd },
	};
	T_CHECK(cot_hostmem_open_table(&m, ov, 2, msg, sizeof(msg)) < 0);
	T_CHECK(strstr(msg, "overlap") != NULL);
	T_EQ_U(m.nregions, 0);
	struct cot_hostmem_fdregion wrap = {
		.gpa = UINT64_MAX - PG, .len = 2 * PG, .off = 0, .fd = fd
	};
	T_CHECK(cot_hostmem_open_table(&m, &wrap, 1, msg, sizeof(msg)) < 0);
	/* Past the file's end (4 pages): a read there would be SIGBUS. */
	struct cot_hostmem_fdregion past = { .len = 4 * PG,
					     .off = 1,
					     .fd = fd };
	T_CHECK(cot_hostmem_open_table(&m, &past, 1, msg, sizeof(msg)) < 0);
	struct cot_hostmem_fdregion zero = { .len = 0, .fd = fd };
	T_CHECK(cot_hostmem_open_table(&m, &zero, 1, msg, sizeof(msg)) < 0);
	struct cot_hostmem_fdregion nofd = { .len = PG, .fd = -1 };
	T_CHECK(cot_hostmem_open_table(&m, &nofd, 1, msg, sizeof(msg)) < 0);
	T_CHECK(cot_hostmem_open_table(&m, ov, 0, msg, sizeof(msg)) < 0);
	T_CHECK(cot_hostmem_open_table(&m, ov, COT_VMI_MAX_RANGES + 1, msg,
				       sizeof(msg)) < 0);
	close(fd);
}

int main(void)
{
	T_RUN(test_two_regions);
	T_RUN(test_bad_tables);
	return t_done();
}
