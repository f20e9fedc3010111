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
 * "cotrack-rec ".
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
#include <net/netapi.h>

#include "tracker.h"

/* A stats line on the log at most this often (microseconds). */
#define COTRACK_STATS_US (10ULL * 1000 * 1000)

struct cotrack_side {
	void *handle;
	struct nicfunc *func;
	struct cotrack_nic *nic;
	bool to_guest; /* frames sent to this side go to the guest */
};

struct cotrack_nic {
	struct cotrack_side phys,
		virt; /* receive side: phys gets guest-bound */
	spinlock_t lock;
	struct cot_bv *t;
	u64 last_stats_us;
	char vm[32];
};

/* Records (JSON objects) get the "cotrack-rec " prefix; other lines
 * (the stats) already say "cotrack: ". */
static void cotrack_line(void *ctx, const char *line)
{
	printf("%s%s\n", line[0] == '{' ? "cotrack-rec " : "", line);
}

static void cotrack_account(struct cotrack_nic *n, unsigned int num,
			    void **packets, unsigned int *sizes,
			    bool from_guest)
{
	unsigned int i;
	u64 now = get_time();

	spinlock_lock(&n->lock);
	/* bounded by the driver's batch: num frames in this callback */
	for (i = 0; i < num; i++)
		cot_bv_frame(n->t, packets[i], sizes[i], from_guest,
			     now * 1000ULL);
	if (now - n->last_stats_us >= COTRACK_STATS_US) {
		n->last_stats_us = now;
		cot_bv_stats(n->t);
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
	return true;
}

static void cotrack_start(void *handle)
{
	struct cotrack_nic *n = handle;

	/* received on phys -> sent to virt (towards the guest) and back */
	n->phys.func->set_recv_callback(n->phys.handle, cotrack_recv, &n->virt);
	n->virt.func->set_recv_callback(n->virt.handle, cotrack_recv, &n->phys);
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
