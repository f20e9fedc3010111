// SPDX-License-Identifier: MIT
/*
 * Proof that the core links with no libc: a static -nostdlib program
 * that calls into every core module.  It is linked, not run.  The four
 * shims are what a freestanding host (BitVisor, an SVSM) provides.
 */
#include "cotrack/pkt.h"
#include "cotrack/flow.h"
#include "cotrack/rec.h"
#include "cotrack/vmi.h"

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void _start(void);

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *dp = d;

	while (n--)
		*dp++ = (unsigned char)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *ap = a, *bp = b;

	for (; n; n--, ap++, bp++)
		if (*ap != *bp)
			return *ap - *bp;
	return 0;
}

static uint64_t table_mem[1 << 16];
volatile int sink;

/* core/vmi: guest memory is whatever the host's read callback gives. */
static const uint8_t guest_ram[4096];
static struct cot_vmi vmi;
static struct cot_vmi_sock socks[16];

static int guest_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx;
	if (gpa > sizeof(guest_ram) || len > sizeof(guest_ram) - gpa)
		return -COT_EFAULT;
	memcpy(buf, guest_ram + gpa, len);
	return 0;
}

static void vmi_calls(void)
{
	struct cot_vmi_mem m = { .read = guest_read, .nranges = 1 };
	struct cot_vmi_profile prof = { .ehash_bucket_size = 8,
					.lhash2_bucket_size = 16 };
	struct cot_vmi_stats st;
	uint32_t n = 0;

	m.ranges[0].len = sizeof(guest_ram);
	sink += cot_vmi_open(&vmi, &m);
	sink += cot_vmi_set_profile(&vmi, &prof);
	sink += cot_vmi_snapshot(&vmi, socks, 16, &n, &st);
	sink += (int)cot_vmi_diff(socks, n, socks, n, 0, 0);
}

void _start(void)
{
	static const uint8_t frame[64];
	struct cot_pkt p;
	struct cot_flow_params fp;
	struct cot_flowtab *t;
	struct cot_rec r = { 0 };
	uint8_t wire[COT_REC_WIRE_MAX];

	cot_flow_params_default(&fp);
	fp.max_flows = 64;
	sink = cot_pkt_parse(&p, frame, sizeof(frame), sizeof(frame));
	if (cot_flowtab_init(&t, table_mem, sizeof(table_mem), &fp) == 0) {
		sink += cot_flowtab_update(t, &p, 1);
		sink += (int)cot_flowtab_flush(t, 2, COT_END_OPEN);
	}
	sink += cot_rec_encode(wire, &r);
	sink += cot_rec_decode(&r, wire, sizeof(wire));
	vmi_calls();
	for (;;)
		;
}
