// SPDX-License-Identifier: MIT
/*
 * tee/bitvisor/cotrack: the "cotrack" netfunc module of BitVisor.
 *
 * Selected by `net=cotrack` (or `net=cotrack:VMNAME`, or
 * `net=cotrack:VMNAME:notrack` to forward without tracking: the baseline
 * of bench/bitvisor.sh) in a
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
 * (currentcpu->hz; microseconds), times 1000.  Expiry and the memory
 * view tick on every frame, on BitVisor's timer (100 ms asked) and, by
 * default, on guest exits: BitVisor patch 0004 calls cotrack_exit after
 * every SVM exit, which reads the TSC and ticks when the tracker's
 * 10 ms gate is due (`net=cotrack:VM:timer`: no exit gate).
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
#include "../../core/x86/pcpu.h"	 /* currentcpu->hz: TSC ticks/s */
#include "../../core/x86/svm_main.h"	 /* svm_set_exit_hook (patch 0004) */
#include "../../core/x86/vmm_mem.h"
#include "ship.h"
#include "tracker.h"

/* The module's timer: expiry and the memory view without frames. */
#define COTRACK_TICK_US (100ULL * 1000)
/* A stats line on the log at most this often (microseconds). */
#define COTRACK_STATS_US (10ULL * 1000 * 1000)
/* The TSC gate on guest exits: a tick at most every 10 ms of TSC. */
#define COTRACK_EXIT_GATE_MS 10

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
	 * what a frame may wait for the tracker; per tick, also split by
	 * the memory view's step (COT_BV_STEP_*) */
	u64 max_frame_us, max_tick_us, max_step_us[COT_BV_NSTEPS];
	/* the exit gate: off with the "timer" option (net=cotrack:VM:timer) */
	bool exit_hook;
	u64 exit_next; /* TSC at which the gate is next due (a hint) */
	u64 exits, exit_ticks, exit_busy;
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

/* Every COTRACK_STATS_US at most (on a frame or a tick): the tracker's
 * counters and the module's.  Under the lock. */
static void cotrack_stats(struct cotrack_nic *n, u64 now)
{
	const u64 *m = n->max_step_us;

	if (now - n->last_stats_us < COTRACK_STATS_US)
		return;
	n->last_stats_us = now;
	cot_bv_stats(n->t);
	printf("cotrack: timer ticks=%llu exit_ticks=%llu exits=%llu "
	       "exit_busy=%llu t_ms=%llu vmi window maps=%llu "
	       "max_frame_batch_us=%llu max_tick_us=%llu\n",
	       n->ticks, n->exit_ticks, n->exits, n->exit_busy, now / 1000,
	       n->win_maps, n->max_frame_us, n->max_tick_us);
	printf("cotrack: max_tick_us by step: expire=%llu search=%llu "
	       "btf=%llu profile=%llu scan=%llu scan_end=%llu\n",
	       m[COT_BV_STEP_NONE], m[COT_BV_STEP_SEARCH], m[COT_BV_STEP_BTF],
	       m[COT_BV_STEP_PROFILE], m[COT_BV_STEP_SCAN],
	       m[COT_BV_STEP_SCAN_END]);
}

/* A tick's time, into the maxima (overall and of its step). */
static void cotrack_tick_time(struct cotrack_nic *n, int step, u64 dt)
{
	if (dt > n->max_tick_us)
		n->max_tick_us = dt;
	if (step >= 0 && step < COT_BV_NSTEPS && dt > n->max_step_us[step])
		n->max_step_us[step] = dt;
}

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
	cotrack_stats(n, now);
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
	u64 now = get_time();
	int step;

	spinlock_lock(&n->lock);
	n->ticks++;
	step = cot_bv_tick(n->t, now * 1000ULL);
	cotrack_tick_time(n, step, get_time() - now);
	cotrack_stats(n, now);
	cotrack_btf(n);
	spinlock_unlock(&n->lock);
	timer_set(handle, COTRACK_TICK_US);
}

static bool cotrack_trylock(spinlock_t *l)
{
	return __atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE) == 0;
}

/*
 * After every guest exit (BitVisor's SVM loop, patch 0004): read the TSC
 * and, when the tracker's exit gate (core/sched) is due, one tick.  The
 * exit may come while this CPU or another holds the lock (a frame
 * callback, the timer): then the tick is skipped, never waited for.
 */
static void cotrack_exit(void *data)
{
	struct cotrack_nic *n = data;
	u32 lo, hi;
	u64 tsc, now;
	int step;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	tsc = (u64)hi << 32 | lo;
	n->exits++; /* a counter only: racy with several CPUs */
	if (tsc < n->exit_next)
		return;
	if (!cotrack_trylock(&n->lock)) {
		n->exit_busy++;
		return;
	}
	now = get_time();
	step = cot_bv_exit(n->t, tsc, now * 1000ULL, &n->exit_next);
	if (step >= 0) {
		n->exit_ticks++;
		cotrack_tick_time(n, step, get_time() - now);
		cotrack_stats(n, now);
		cotrack_btf(n);
	}
	spinlock_unlock(&n->lock);
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
	/* VM name: the text after "cotrack:" up to the next ':', at most
	 * 31 bytes; then options: "notrack" forwards without the tracker */
	if (!arg || !*arg)
		arg = "bv0";
	for (i = 0; i < (int)sizeof n->vm - 1 && arg[i] && arg[i] != ':'; i++)
		n->vm[i] = arg[i];
	n->vm[i] = '\0';
	if (!i)
		memcpy(n->vm, "bv0", 4);
	while (arg[i] && arg[i] != ':') /* a name longer than 31 bytes */
		i++;
	if (arg[i] == ':' && !strcmp(&arg[i + 1], "notrack")) {
		printf("cotrack: vm %s: notrack, forwarding only\n", n->vm);
		return n;
	}
	n->exit_hook = true;
	if (arg[i] == ':' && !strcmp(&arg[i + 1], "timer")) {
		printf("cotrack: vm %s: no exit gate, ticks on the timer\n",
		       n->vm);
		n->exit_hook = false;
	} else if (arg[i] == ':') {
		printf("cotrack: vm %s: unknown option %s; forwarding only\n",
		       n->vm, &arg[i + 1]);
		return n;
	}
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
	if (n->t && n->exit_hook && currentcpu->hz) {
		u32 lo, hi;

		asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
		spinlock_lock(&n->lock);
		cot_bv_exit_gate(n->t,
				 currentcpu->hz / 1000 * COTRACK_EXIT_GATE_MS,
				 (u64)hi << 32 | lo);
		spinlock_unlock(&n->lock);
		svm_set_exit_hook(cotrack_exit, n);
		printf("cotrack: exit gate every %d ms of TSC (%llu Hz)\n",
		       COTRACK_EXIT_GATE_MS, currentcpu->hz);
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
