// SPDX-License-Identifier: MIT
/*
 * tee/bitvisor/cotrack: the "cotrack" netfunc module of BitVisor.
 *
 * Selected by `net=cotrack` (or `net=cotrack:VMNAME`) in a
 * `.vmm.driver.pci` option, e.g. "driver=pro1000, net=cotrack,
 * virtio=1": BitVisor's pro1000 driver owns the physical NIC and gives
 * the guest a virtio-net; this module sits between them.  Every frame
 * either way is handed to the tracker (tracker.c: cotrack's core/pkt +
 * core/flow + core/merge), then forwarded unchanged.  Records go out as
 * one JSON line each on BitVisor's log (its serial port), prefixed
 * "cotrack-rec ", and, in a build with COT_BV_PKI, to cotrack-logd
 * through the shipper (ship.c), which also puts BitVisor's own IP stack
 * on the physical side.
 *
 * Time: get_time(), BitVisor's TSC clock calibrated at boot
 * (currentcpu->hz; microseconds), times 1000.  Expiry runs from the frame
 * callbacks: a budgeted cot_merge_expire per frame (tracker.c), so with
 * no frames at all nothing expires (there is no timer thread here).
 *
 * Memory: one alloc() at new_nic, never freed (BitVisor never removes a
 * NIC).  Both receive callbacks may run on any CPU: one spinlock per VM
 * serialises the tracker.
 */
#include <core/config.h>
#include <core/initfunc.h>
#include <core/mm.h>
#include <core/printf.h>
#include <core/random.h>
#include <core/spinlock.h>
#include <core/string.h>
#include <core/time.h>
#include <core/timer.h>
#include <net/netapi.h>

#include "../../core/x86/callrealmode.h" /* SYSMEMMAP_TYPE_AVAILABLE */
#include "../../core/x86/vmm_mem.h"
#include "ship.h"
#include "tracker.h"

/* The module's timer: expiry and the memory view without frames. */
#define COTRACK_TICK_US (100ULL * 1000)
/* A stats line on the log at most this often (microseconds). */
#define COTRACK_STATS_US (10ULL * 1000 * 1000)

struct cotrack_side {
	void *handle;
	struct nicfunc *func;
	struct cotrack_nic *nic;
	bool to_guest; /* frames sent to this side go to the guest */
};

/*
 * Guest-physical reads go through a window of the guest's address space
 * (as_passvm) mapped into BitVisor's: discovery reads page after page,
 * so one mapping serves 512 of them.
 */
#define COTRACK_WIN	   (2ULL << 20)
#define COTRACK_MAX_RANGES 16 /* core/vmi's COT_VMI_MAX_RANGES */

struct cotrack_nic {
	struct cotrack_side phys,
		virt; /* receive side: phys gets guest-bound */
	spinlock_t lock;
	struct cot_bv *t;
	struct cot_ship *ship; /* records to logd (ship.c), or NULL */
	u64 last_stats_us;
	char vm[32];
	/* the memory view's read interface */
	struct cot_bv_range ram[COTRACK_MAX_RANGES];
	unsigned int nram;
	u8 *win; /* mapping of [win_base, win_base + COTRACK_WIN) */
	u64 win_base;
	u64 win_maps; /* mappings made */
	void *timer;
	u64 ticks;
	void *btf, *btf_idx; /* lent to the tracker while it reads BTF */
	/* the longest time one call into the tracker took (microseconds):
	 * what a frame may wait for the tracker */
	u64 max_frame_us, max_tick_us;
};

/* Records (JSON objects) get the "cotrack-rec " prefix; other lines
 * (the stats) already say "cotrack: ". */
static void cotrack_line(void *ctx, const char *line)
{
	printf("%s%s\n", line[0] == '{' ? "cotrack-rec " : "", line);
}

/* Each record also to the shipper's queue (ship.c). */
static void cotrack_rec(void *ctx, const void *rec)
{
	struct cotrack_nic *n = ctx;

	cot_ship_add(n->ship, rec);
}

/* Is [gpa, gpa + len) inside one RAM range?  Widened: no overflow. */
static bool cotrack_in_ram(struct cotrack_nic *n, u64 gpa, u64 len)
{
	unsigned int i;

	for (i = 0; i < n->nram; i++)
		if (gpa >= n->ram[i].start &&
		    len <= n->ram[i].len - (gpa - n->ram[i].start) &&
		    gpa - n->ram[i].start <= n->ram[i].len)
			return true;
	return false;
}

/* core/vmi's read interface (tracker.h): a copy, nonzero when outside RAM */
static int cotrack_gread(void *ctx, unsigned long long gpa, void *buf,
			 unsigned long len)
{
	struct cotrack_nic *n = ctx;
	u8 *out = buf;

	if (!cotrack_in_ram(n, gpa, len))
		return -1;
	/* bounded by len: each turn copies at least one byte */
	while (len) {
		u64 base = gpa & ~(COTRACK_WIN - 1);
		u64 off = gpa - base;
		u64 chunk = COTRACK_WIN - off;

		if (chunk > len)
			chunk = len;
		if (!n->win || n->win_base != base) {
			if (n->win)
				unmapmem(n->win, COTRACK_WIN);
			n->win = mapmem_as(as_passvm, base, COTRACK_WIN,
					   MAPMEM_CANFAIL);
			if (!n->win)
				return -1;
			n->win_base = base;
			n->win_maps++;
		}
		memcpy(out, n->win + off, chunk);
		out += chunk;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}

/*
 * RAM for discovery: the available ranges of BitVisor's system memory
 * map above 1 MiB (below it: firmware and legacy holes), at most
 * COTRACK_MAX_RANGES; the walk over the map is bounded by 64 regions.
 */
static void cotrack_ram(struct cotrack_nic *n)
{
	phys_t phys = 1ULL << 20, start;
	u64 len;
	u32 type;
	int i;

	n->nram = 0;
	for (i = 0; i < 64 && n->nram < COTRACK_MAX_RANGES; i++) {
		if (!vmm_mem_continuous_sysmem_type_region(phys, &start, &len,
							   &type))
			break;
		if (start + len <= phys)
			break;
		if (type == SYSMEMMAP_TYPE_AVAILABLE) {
			u64 s = start < phys ? phys : start;

			n->ram[n->nram].start = s;
			n->ram[n->nram].len = start + len - s;
			n->nram++;
		}
		phys = start + len;
	}
}

static void cotrack_btf(struct cotrack_nic *n);

static void cotrack_account(struct cotrack_nic *n, unsigned int num,
			    void **packets, unsigned int *sizes,
			    bool from_guest)
{
	unsigned int i;
	u64 now = get_time(), dt;

	spinlock_lock(&n->lock);
	/* bounded by the driver's batch: num frames in this callback */
	for (i = 0; i < num; i++)
		cot_bv_frame(n->t, packets[i], sizes[i], from_guest,
			     now * 1000ULL);
	dt = get_time() - now;
	if (dt > n->max_frame_us)
		n->max_frame_us = dt;
	if (now - n->last_stats_us >= COTRACK_STATS_US) {
		n->last_stats_us = now;
		cot_bv_stats(n->t);
		printf("cotrack: timer ticks=%llu vmi window maps=%llu "
		       "max_frame_batch_us=%llu max_tick_us=%llu\n",
		       n->ticks, n->win_maps, n->max_frame_us, n->max_tick_us);
	}
	cotrack_btf(n);
	spinlock_unlock(&n->lock);
}

/*
 * The tracker's requests for memory: the guest's BTF and its index
 * (a few MiB, once, while the profile is derived).  Under the lock.
 */
static void cotrack_btf(struct cotrack_nic *n)
{
	unsigned long need = 0, need_idx = 0;

	switch (cot_bv_vmi_btf(n->t, &need, &need_idx)) {
	case 1:
		n->btf = alloc(need);
		n->btf_idx = alloc(need_idx);
		if (!n->btf || !n->btf_idx) {
			if (n->btf)
				free(n->btf);
			if (n->btf_idx)
				free(n->btf_idx);
			n->btf = n->btf_idx = NULL;
		}
		cot_bv_vmi_btf_give(n->t, n->btf, n->btf_idx);
		break;
	case 2:
		if (n->btf)
			free(n->btf);
		if (n->btf_idx)
			free(n->btf_idx);
		n->btf = n->btf_idx = NULL;
		break;
	}
}

/*
 * BitVisor's timer thread calls this (a cooperative thread: it runs
 * when the VMM schedules, on guest exits), every COTRACK_TICK_US.
 */
static void cotrack_tick(void *handle, void *data)
{
	struct cotrack_nic *n = data;
	u64 now = get_time(), dt;

	spinlock_lock(&n->lock);
	n->ticks++;
	cot_bv_tick(n->t, now * 1000ULL);
	dt = get_time() - now;
	if (dt > n->max_tick_us)
		n->max_tick_us = dt;
	cotrack_btf(n);
	spinlock_unlock(&n->lock);
	timer_set(handle, COTRACK_TICK_US);
}

/* Frames received on one side: account, then send them out of the other. */
static void cotrack_recv(void *handle, unsigned int num_packets, void **packets,
			 unsigned int *packet_sizes, void *param, long *premap)
{
	struct cotrack_side *to = param;
	struct cotrack_nic *n = to->nic;

	if (n->t)
		cotrack_account(n, num_packets, packets, packet_sizes,
				!to->to_guest);
	to->func->send(to->handle, num_packets, packets, packet_sizes, true);
}

static void *cotrack_new_nic(char *arg, void *param)
{
	struct cotrack_nic *n;
	unsigned long len = cot_bv_memsize();
	unsigned int r1 = 0, r2 = 0;
	long long sec;
	int usec, i, rc;
	u64 now;
	void *mem;

	n = alloc(sizeof *n);
	memset(n, 0, sizeof *n);
	spinlock_init(&n->lock);
	/* VM name: the text after "cotrack:", at most 31 bytes */
	if (!arg || !*arg)
		arg = "bv0";
	for (i = 0; i < (int)sizeof n->vm - 1 && arg[i]; i++)
		n->vm[i] = arg[i];
	n->vm[i] = '\0';
	mem = len ? alloc(len) : NULL;
	if (!mem) {
		printf("cotrack: cannot allocate %lu bytes; forwarding only\n",
		       len);
		return n;
	}
	random_num_hw(10, &r1);
	r2 = random_num_sw();
	now = get_time();
	get_epoch_time(&sec, &usec);
	rc = cot_bv_init(&n->t, mem, len, n->vm, now * 1000ULL,
			 (u64)sec * 1000000000ULL + (u64)usec * 1000ULL,
			 ((u64)r1 << 32 | r2) ^ get_cpu_time(), cotrack_line,
			 n);
	if (rc < 0) {
		printf("cotrack: tracker init failed (%d); forwarding only\n",
		       rc);
		n->t = NULL;
		return n;
	}
	n->last_stats_us = now;
	printf("cotrack: tracker for vm %s, %lu bytes\n", n->vm, len);
	n->ship = cot_ship_new(((u64)r1 << 32 | r2) ^ get_cpu_time());
	if (n->ship)
		cot_bv_set_rec(n->t, cotrack_rec, n);
	cotrack_ram(n);
	for (i = 0; i < (int)n->nram; i++)
		printf("cotrack: vmi ram 0x%llx-0x%llx\n", n->ram[i].start,
		       n->ram[i].start + n->ram[i].len);
	rc = cot_bv_vmi_attach(n->t, cotrack_gread, n, n->ram, n->nram,
			       now * 1000ULL);
	if (rc < 0)
		printf("cotrack: no memory view (%d)\n", rc);
	return n;
}

static bool cotrack_init(void *handle, void *phys_handle,
			 struct nicfunc *phys_func, void *virt_handle,
			 struct nicfunc *virt_func)
{
	struct cotrack_nic *n = handle;

	if (!virt_func) {
		printf("cotrack: needs a virtual NIC (virtio=1)\n");
		return false;
	}
	/* phys.* is where frames are sent to reach the wire; a frame
	 * received from the virtual NIC comes from the guest */
	n->phys.handle = phys_handle;
	n->phys.func = phys_func;
	n->phys.nic = n;
	n->phys.to_guest = false;
	n->virt.handle = virt_handle;
	n->virt.func = virt_func;
	n->virt.nic = n;
	n->virt.to_guest = true;
	/* BitVisor's IP stack on the physical side: frames from the wire
	 * that are not BitVisor's go on to the guest through cotrack_recv */
	if (n->ship &&
	    !cot_ship_attach(n->ship, phys_handle, phys_func, virt_handle,
			     virt_func, cotrack_recv, &n->virt)) {
		cot_bv_set_rec(n->t, NULL, NULL);
		n->ship = NULL;
	}
	return true;
}

static void cotrack_start(void *handle)
{
	struct cotrack_nic *n = handle;

	/* received on phys -> sent to virt (towards the guest) and back */
	if (n->ship)
		n->phys.func->set_recv_callback(n->phys.handle,
						cot_ship_phys_recv, n->ship);
	else
		n->phys.func->set_recv_callback(n->phys.handle, cotrack_recv,
						&n->virt);
	n->virt.func->set_recv_callback(n->virt.handle, cotrack_recv, &n->phys);
	if (n->t) {
		n->timer = timer_new(cotrack_tick, n);
		if (n->timer)
			timer_set(n->timer, COTRACK_TICK_US);
		else
			printf("cotrack: no timer: expiry from frames only\n");
	}
	if (n->ship)
		cot_ship_start(n->ship);
}

static struct netfunc cotrack_func = {
	.new_nic = cotrack_new_nic,
	.init = cotrack_init,
	.start = cotrack_start,
};

static void cotrack_register(void)
{
	net_register("cotrack", &cotrack_func, NULL);
}

INITFUNC("driver1", cotrack_register);
