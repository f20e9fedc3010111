// SPDX-License-Identifier: MIT
/* vhost-user NIC on librte_vhost: see vhost.h and docs/vhost-user.md. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_net.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "host/clock.h"
#include "host/log.h"
#include "port.h"
#include "vhost.h"

#define Q_RX  0 /* the guest's receive queue: we enqueue */
#define Q_TX  1 /* the guest's transmit queue: we dequeue */
#define BURST 32
/* Mbufs: a burst in each direction per VM, with room to spare. */
#define POOL_MBUFS 4095
#define MBUF_ROOM  (2048 + RTE_PKTMBUF_HEADROOM)

/*
 * Offloads negotiated off by default: the guest sends and takes frames
 * of wire size with full checksums, so every port and the tracker see
 * what a wire would carry.  With offloads=on (ON_OFFLOADS), the guest
 * may send TCP super-frames and partial checksums: librte_vhost's
 * legacy offload flags describe them in the mbuf (RTE_MBUF_F_TX_TCP_SEG,
 * tso_segsz; RTE_MBUF_F_TX_*_CKSUM), core/pkt counts them as their
 * segments and the loop segments them (gso.c) for ports that cannot
 * take them; and it may take super-frames (GUEST_TSO4/6, GUEST_CSUM),
 * which the loop then passes on whole.  ECN and UFO stay off: not
 * handled.
 */
#define OFFLOADS                                                               \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |     \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	 (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	 (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO))
#define ON_OFFLOADS                                                            \
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |      \
	 (1ULL << VIRTIO_NET_F_HOST_TSO6) |                                    \
	 (1ULL << VIRTIO_NET_F_GUEST_CSUM) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) |                                   \
	 (1ULL << VIRTIO_NET_F_GUEST_TSO6))

struct vhost {
	char name[64];
	char path[108];
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu: what the socket thread posts */
	int new_vid;	/* a device ready for the loop, or -1 */
	int active_vid; /* the device the loop uses, or -1 */
	bool want_down; /* destroy_device waits for the loop */
	bool refresh;	/* a queue changed */
	bool newtab;	/* SET_MEM_TABLE while running: tab is new */
	bool closing;	/* the loop is gone: nobody to wait for */
	int kick[2];	/* kick fds read in the callbacks */
	struct cot_hostmem_fdregion tab[COT_VMI_MAX_RANGES];
	uint32_t ntab;
	/* the loop thread's */
	int vid;
	int txkick, rxkick;
	struct rte_mbuf *rx[BURST];
	uint16_t nrx, irx;
	struct rte_mbuf *held; /* the frame handed out last */
	/*
	 * The transmit queue was seen empty after its notification was
	 * re-armed, so the guest kicks for its next entry.  False after
	 * every dequeue that took frames: with event index the guest kicks
	 * only when its avail index passes the entry we named at the last
	 * re-arm, so a queue left with entries (the turn's quota) or
	 * dequeued past that entry gets no kick; it stays pending until it
	 * is seen empty and re-armed.
	 */
	bool armed;
	bool stall_logged;    /* this device's stuck transmit queue, logged */
	uint64_t stall_since; /* first empty dequeue over entries, or 0 */
	/* hostile frontends (under mu; stalls: the loop thread's) */
	struct vhost_stats st;
	uint64_t features; /* negotiated, read at VHOST_UP */
};

/*
 * The request each connection's frontend sent last that librte_vhost
 * has not (yet) handled successfully, by device id, or 0: set by the
 * pre-message hook, cleared by the post-message hook (which librte_vhost
 * skips when its handler failed).  The socket thread's only.
 */
static uint32_t pending_req[RTE_MAX_VHOST_DEVICE];

/*
 * librte_vhost's callbacks carry only a device id, no context: the
 * registered backends are found by socket path in this table (written
 * at start-up and at the end, read by the callbacks; under reg_mu).
 */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vhost *reg[MAX_VMS];
static struct rte_mempool *pool;

static struct vhost *find(int vid)
{
	char path[108];
	struct vhost *vh = NULL;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return NULL;
	pthread_mutex_lock(&reg_mu);
	for (int i = 0; i < MAX_VMS; i++)
		if (reg[i] && !strcmp(reg[i]->path, path))
			vh = reg[i];
	pthread_mutex_unlock(&reg_mu);
	return vh;
}

static void wake(struct vhost *vh)
{
	if (eventfd_write(vh->efd, 1) < 0)
		log_warn("%s: eventfd", vh->name);
}

static void close_tab(struct vhost *vh)
{
	for (uint32_t i = 0; i < vh->ntab; i++)
		close(vh->tab[i].fd);
	vh->ntab = 0;
}

/* Under vh->mu, on the socket thread. */
static void read_kicks(struct vhost *vh, int vid)
{
	struct rte_vhost_vring vr;

	vh->kick[0] = vh->kick[1] = -1;
	if (rte_vhost_get_vhost_vring(vid, Q_RX, &vr) == 0)
		vh->kick[0] = vr.kickfd;
	if (rte_vhost_get_vhost_vring(vid, Q_TX, &vr) == 0)
		vh->kick[1] = vr.kickfd;
}

/* Duplicate the memory table's descriptors: the scanner maps its own. */
static void read_table(struct vhost *vh, int vid)
{
	struct rte_vhost_memory *mem = NULL;
	uint32_t i;

	close_tab(vh);
	if (rte_vhost_get_mem_table(vid, &mem) < 0 || !mem)
		return;
	/* Bounded by COT_VMI_MAX_RANGES (more are ignored, logged). */
	for (i = 0; i < mem->nregions && vh->ntab < COT_VMI_MAX_RANGES; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];
		struct cot_hostmem_fdregion *t = &vh->tab[vh->ntab];

		if (r->fd < 0 || r->host_user_addr < (uintptr_t)r->mmap_addr)
			continue;
		t->fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
		if (t->fd < 0) {
			log_warn("%s: memory region", vh->name);
			continue;
		}
		t->gpa = r->guest_phys_addr;
		t->len = r->size;
		t->off = r->host_user_addr - (uintptr_t)r->mmap_addr;
		vh->ntab++;
	}
	if (i < mem->nregions)
		log_warnx("%s: memory table of %u regions: only %d read",
			  vh->name, mem->nregions, COT_VMI_MAX_RANGES);
	free(mem);
}

static int on_new(int vid)
{
	struct vhost *vh = find(vid);

	if (!vh)
		return -1;
	pthread_mutex_lock(&vh->mu);
	if ((vh->active_vid >= 0 && vh->active_vid != vid) ||
	    (vh->new_vid >= 0 && vh->new_vid != vid)) {
		/* One NIC per VM: a second frontend on the socket is not
		 * served (as a second stream connection is refused). */
		vh->st.refused++;
		pthread_mutex_unlock(&vh->mu);
		log_warnx("%s: a second vhost-user device on %s refused",
			  vh->name, vh->path);
		return -1;
	}
	vh->new_vid = vid;
	read_kicks(vh, vid);
	read_table(vh, vid);
	wake(vh);
	pthread_mutex_unlock(&vh->mu);
	return 0;
}

static void on_destroy(int vid)
{
	struct vhost *vh = find(vid);

	if (!vh)
		return;
	pthread_mutex_lock(&vh->mu);
	if (vh->new_vid == vid) {
		/* The loop never took it. */
		vh->new_vid = -1;
		close_tab(vh);
	}
	if (vh->active_vid == vid) {
		vh->want_down = true;
		wake(vh);
		/* The loop answers within a turn (it wakes at least every
		 * 100 ms); at the end, vhost_close() sets closing. */
		while (vh->active_vid == vid && !vh->closing)
			pthread_cond_wait(&vh->cv, &vh->mu);
		vh->want_down = false;
	}
	pthread_mutex_unlock(&vh->mu);
}

static int on_vring_state(int vid, uint16_t queue, int enable)
{
	struct vhost *vh = find(vid);

	if (!vh)
		return 0;
	pthread_mutex_lock(&vh->mu);
	if (vh->active_vid == vid && enable && queue <= Q_TX) {
		read_kicks(vh, vid);
		vh->refresh = true;
		wake(vh);
	}
	pthread_mutex_unlock(&vh->mu);
	return 0;
}

/* vhost-user's SET_MEM_TABLE (the protocol's request number). */
#define REQ_SET_MEM_TABLE 5
/* The message header's flags (the second field, as on the wire). */
#define MSG_FLAGS_OFF  4
#define MSG_NEED_REPLY (1u << 3)
/* librte_vhost 22.11 knows requests 1..40 (VHOST_USER_MAX is 41). */
#define REQ_KNOWN_MAX 40

/* A request of device @vid failed in librte_vhost: count, log. */
static void rejected(int vid, uint32_t req, const char *then)
{
	struct vhost *vh = find(vid);

	if (!vh)
		return;
	pthread_mutex_lock(&vh->mu);
	vh->st.rejected++;
	pthread_mutex_unlock(&vh->mu);
	log_warnx("%s: vhost-user frontend's request %u refused by "
		  "librte_vhost%s",
		  vh->name, req, then);
}

/*
 * Before librte_vhost handles a message: remember its request; one
 * still remembered from the message before was refused (its post hook
 * never ran).  @msg starts with the request number, as on the wire.
 */
static enum rte_vhost_msg_result on_msg_start(int vid, void *msg)
{
	uint32_t req;

	memcpy(&req, msg, sizeof(req));
	if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE) {
		if (pending_req[vid])
			rejected(vid, pending_req[vid],
				 " (answered with an error)");
		pending_req[vid] = req ? req : UINT32_MAX;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/*
 * Whether each region of the table librte_vhost just mapped lies
 * inside its file.  librte_vhost 22.11 maps offset + size of the file
 * without looking at the file's size, and a read past the end of a
 * file is SIGBUS: the next ring translation (its own socket thread)
 * would kill cotrackd.  False (logged) for a table that does not.
 */
static bool table_fits(struct vhost *vh, int vid)
{
	struct rte_vhost_memory *mem = NULL;
	bool ok = true;

	if (rte_vhost_get_mem_table(vid, &mem) < 0 || !mem)
		return true; /* nothing mapped */
	for (uint32_t i = 0; i < mem->nregions && ok; i++) {
		const struct rte_vhost_mem_region *r = &mem->regions[i];
		struct stat sb;

		if (r->fd < 0 || fstat(r->fd, &sb) < 0 || sb.st_size < 0 ||
		    (uint64_t)sb.st_size < r->mmap_size) {
			log_warnx("%s: vhost-user memory table refused: region "
				  "%u maps %" PRIu64 " bytes of a file of %lld",
				  vh->name, i, (uint64_t)r->mmap_size,
				  r->fd < 0 ? -1LL : (long long)sb.st_size);
			ok = false;
		}
	}
	free(mem);
	return ok;
}

/*
 * After librte_vhost handled a message successfully.  A new memory
 * table is checked (table_fits()); a bad one is refused with the
 * connection: NEED_REPLY is cleared first, since librte_vhost keeps
 * the connection (and the mapped table) when it may answer with an
 * error.  A good table for a device that runs is read again, so the
 * scanner re-attaches (librte_vhost has no device callback for it).
 * @msg is librte_vhost's copy of the message (header as on the wire).
 */
static enum rte_vhost_msg_result on_msg_done(int vid, void *msg)
{
	struct vhost *vh;
	uint32_t req, flags;

	memcpy(&req, msg, sizeof(req));
	if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE)
		pending_req[vid] = 0;
	vh = find(vid);
	if (!vh)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	if (req == 0 || req > REQ_KNOWN_MAX) {
		/* No handler: librte_vhost answers it with an error. */
		rejected(vid, req, " (unknown request)");
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	}
	if (req != REQ_SET_MEM_TABLE)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	if (!table_fits(vh, vid)) {
		pthread_mutex_lock(&vh->mu);
		vh->st.bad_tables++;
		pthread_mutex_unlock(&vh->mu);
		memcpy(&flags, (uint8_t *)msg + MSG_FLAGS_OFF, sizeof(flags));
		flags &= ~MSG_NEED_REPLY;
		memcpy((uint8_t *)msg + MSG_FLAGS_OFF, &flags, sizeof(flags));
		return RTE_VHOST_MSG_RESULT_ERR;
	}
	pthread_mutex_lock(&vh->mu);
	if (vh->active_vid == vid) {
		read_table(vh, vid);
		vh->newtab = true;
		wake(vh);
	}
	pthread_mutex_unlock(&vh->mu);
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops ext_ops = {
	.pre_msg_handle = on_msg_start,
	.post_msg_handle = on_msg_done,
};

static int on_connection(int vid)
{
	struct vhost *vh = find(vid);

	if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE)
		pending_req[vid] = 0;
	if (vh) {
		pthread_mutex_lock(&vh->mu);
		vh->st.connections++;
		pthread_mutex_unlock(&vh->mu);
	}
	if (rte_vhost_extern_callback_register(vid, &ext_ops, NULL) < 0)
		log_warnx("vhost-user device %d: a new memory table will not "
			  "be seen while it runs",
			  vid);
	return 0;
}

/* librte_vhost closed a connection (the frontend left, or it refused a
 * message). */
static void on_disconnection(int vid)
{
	struct vhost *vh = find(vid);
	uint32_t req = 0;

	if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE) {
		req = pending_req[vid];
		pending_req[vid] = 0;
	}
	if (!vh)
		return;
	if (req)
		rejected(vid, req, ": connection closed");
	pthread_mutex_lock(&vh->mu);
	vh->st.disconnects++;
	pthread_mutex_unlock(&vh->mu);
	log_info("%s: vhost-user frontend disconnected", vh->name);
}

static const struct rte_vhost_device_ops ops = {
	.new_device = on_new,
	.destroy_device = on_destroy,
	.vring_state_changed = on_vring_state,
	.new_connection = on_connection,
	.destroy_connection = on_disconnection,
};

int vhost_global_init(void)
{
	char *argv[] = {
		"cotrackd",
		"--no-huge",
		"--no-pci",
		"--no-shconf",
		"--no-telemetry",
		"--iova-mode=va",
		"-m",
		"64",
		"-l",
		"0",
		"--log-level=notice",
		NULL,
	};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	cpu_set_t cpus;
	bool have_cpus;

	/* EAL pins the calling thread to lcore 0: give it its CPUs back. */
	have_cpus = sched_getaffinity(0, sizeof(cpus), &cpus) == 0;
	if (rte_eal_init(argc, argv) < 0) {
		log_warnx("DPDK EAL: %s", rte_strerror(rte_errno));
		return -1;
	}
	if (have_cpus && sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
		log_warn("sched_setaffinity");
	pool = rte_pktmbuf_pool_create("cotrackd", POOL_MBUFS, 128, 0,
				       MBUF_ROOM, SOCKET_ID_ANY);
	if (!pool) {
		log_warnx("DPDK mbuf pool: %s", rte_strerror(rte_errno));
		rte_eal_cleanup();
		return -1;
	}
	return 0;
}

void vhost_global_fini(void)
{
	rte_mempool_free(pool);
	pool = NULL;
	rte_eal_cleanup();
}

struct vhost *vhost_open(const char *name, const char *path, bool offloads)
{
	struct vhost *vh;
	struct stat sb;
	int slot = -1;

	if (strlen(path) >= sizeof(vh->path)) {
		log_warnx("%s: socket path too long", path);
		return NULL;
	}
	/* A stale socket from an earlier run: replace it, nothing else. */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			log_warnx("%s: exists and is not a socket", path);
			return NULL;
		}
		unlink(path);
	}
	vh = calloc(1, sizeof(*vh));
	if (!vh) {
		log_warnx("%s: out of memory", name);
		return NULL;
	}
	snprintf(vh->name, sizeof(vh->name), "%s", name);
	snprintf(vh->path, sizeof(vh->path), "%s", path);
	vh->new_vid = vh->active_vid = vh->vid = -1;
	vh->txkick = vh->rxkick = -1;
	vh->kick[0] = vh->kick[1] = -1;
	pthread_mutex_init(&vh->mu, NULL);
	pthread_cond_init(&vh->cv, NULL);
	vh->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vh->efd < 0) {
		log_warn("eventfd");
		goto err_free;
	}
	pthread_mutex_lock(&reg_mu);
	for (int i = 0; i < MAX_VMS && slot < 0; i++)
		if (!reg[i])
			slot = i;
	if (slot >= 0)
		reg[slot] = vh;
	pthread_mutex_unlock(&reg_mu);
	if (slot < 0)
		goto err_efd;
	/* Server mode: we listen, QEMU connects (and reconnects). */
	if (rte_vhost_driver_register(path, 0) < 0) {
		log_warnx("%s: vhost-user socket cannot be registered", path);
		goto err_reg;
	}
	if (rte_vhost_driver_disable_features(
		    path, offloads ? OFFLOADS & ~ON_OFFLOADS : OFFLOADS) < 0 ||
	    rte_vhost_driver_callback_register(path, &ops) < 0 ||
	    rte_vhost_driver_start(path) < 0) {
		log_warnx("%s: vhost-user backend cannot start", path);
		rte_vhost_driver_unregister(path);
		goto err_reg;
	}
	log_info("%s: vhost-user backend on %s (offloads %s)", name, path,
		 offloads ? "on: CSUM, HOST_TSO4, HOST_TSO6, GUEST_CSUM, "
			    "GUEST_TSO4, GUEST_TSO6"
			  : "off");
	return vh;
err_reg:
	pthread_mutex_lock(&reg_mu);
	reg[slot] = NULL;
	pthread_mutex_unlock(&reg_mu);
err_efd:
	close(vh->efd);
err_free:
	free(vh);
	return NULL;
}

static void free_rx(struct vhost *vh)
{
	if (vh->held)
		rte_pktmbuf_free(vh->held);
	vh->held = NULL;
	while (vh->irx < vh->nrx)
		rte_pktmbuf_free(vh->rx[vh->irx++]);
	vh->nrx = vh->irx = 0;
	vh->armed = false;
}

void vhost_close(struct vhost *vh)
{
	int i;

	if (!vh)
		return;
	pthread_mutex_lock(&vh->mu);
	vh->closing = true;
	vh->active_vid = -1;
	pthread_cond_broadcast(&vh->cv);
	pthread_mutex_unlock(&vh->mu);
	free_rx(vh);
	/* Bounded: librte_vhost retries while its socket thread is busy. */
	for (i = 0; i < 100 && rte_vhost_driver_unregister(vh->path) == -EAGAIN;
	     i++)
		usleep(10000);
	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < MAX_VMS; i++)
		if (reg[i] == vh)
			reg[i] = NULL;
	pthread_mutex_unlock(&reg_mu);
	close_tab(vh);
	close(vh->efd);
	unlink(vh->path);
	free(vh);
}

int vhost_efd(const struct vhost *vh)
{
	return vh->efd;
}

enum vhost_change vhost_take_change(struct vhost *vh,
				    struct cot_hostmem_fdregion *t, uint32_t *n)
{
	enum vhost_change c = VHOST_NONE;
	eventfd_t v;

	*n = 0;
	(void)eventfd_read(vh->efd, &v);
	pthread_mutex_lock(&vh->mu);
	if (vh->want_down && vh->active_vid >= 0) {
		free_rx(vh);
		vh->vid = vh->active_vid = -1;
		vh->txkick = vh->rxkick = -1;
		pthread_cond_broadcast(&vh->cv);
		c = VHOST_DOWN;
	} else if (vh->new_vid >= 0 && vh->active_vid < 0) {
		vh->vid = vh->active_vid = vh->new_vid;
		vh->new_vid = -1;
		vh->rxkick = vh->kick[0];
		vh->txkick = vh->kick[1];
		memcpy(t, vh->tab, vh->ntab * sizeof(*t));
		*n = vh->ntab;
		vh->ntab = 0; /* the caller owns the descriptors now */
		vh->refresh = vh->newtab = false;
		vh->stall_logged = false;
		vh->stall_since = 0;
		c = VHOST_UP;
	} else if (vh->refresh && vh->active_vid >= 0) {
		vh->refresh = false;
		vh->rxkick = vh->kick[0];
		vh->txkick = vh->kick[1];
		c = VHOST_REFRESH;
	} else if (vh->newtab && vh->active_vid >= 0) {
		vh->newtab = false;
		memcpy(t, vh->tab, vh->ntab * sizeof(*t));
		*n = vh->ntab;
		vh->ntab = 0;
		c = VHOST_MEMTAB;
	}
	/* More than one change posted: come back for the next. */
	if (c != VHOST_NONE &&
	    (vh->want_down || vh->new_vid >= 0 || vh->refresh || vh->newtab))
		wake(vh);
	pthread_mutex_unlock(&vh->mu);
	if (c == VHOST_UP) {
		if (rte_vhost_get_negotiated_features(vh->vid, &vh->features) <
		    0)
			vh->features = 0;
		/* Notification mode: the guest kicks, we never poll.  Not
		 * armed yet: entries the guest published before we came up
		 * (a reconnect) get no kick; the loop drains them first. */
		rte_vhost_enable_guest_notification(vh->vid, Q_RX, 1);
		rte_vhost_enable_guest_notification(vh->vid, Q_TX, 1);
		vh->armed = false;
	}
	return c;
}

int vhost_tx_kickfd(const struct vhost *vh)
{
	return vh->vid >= 0 ? vh->txkick : -1;
}

int vhost_rx_kickfd(const struct vhost *vh)
{
	return vh->vid >= 0 ? vh->rxkick : -1;
}

void vhost_clear_kick(int fd)
{
	eventfd_t v;

	if (fd >= 0)
		(void)eventfd_read(fd, &v);
}

bool vhost_pending(const struct vhost *vh)
{
	return vh->vid >= 0 && (vh->irx < vh->nrx || !vh->armed);
}

static uint16_t dequeue(struct vhost *vh)
{
	uint16_t n =
		rte_vhost_dequeue_burst(vh->vid, Q_TX, pool, vh->rx, BURST);

	vh->nrx = n;
	vh->irx = 0;
	if (n) {
		vh->armed = false;
		vh->stall_since = 0;
	}
	return n;
}

/*
 * Nothing dequeued: entries the guest published that librte_vhost does
 * not take mean a descriptor it refused (a loop, an address outside
 * guest memory, a length past a region, a bad index: librte_vhost 22.11
 * stops at such an entry without a word, and the queue moves no more).
 * librte_vhost also returns nothing for a moment while its protocol
 * thread holds the queue (a trylock) or the mbuf pool is short, so an
 * empty dequeue counts only once the entries have waited STALL_NS with
 * nothing taken; then per empty dequeue (per kick, at most per loop
 * turn), logged once per device.
 */
#define STALL_NS 100000000ULL

static void stalled(struct vhost *vh)
{
	uint16_t n = rte_vhost_avail_entries(vh->vid, Q_TX);
	uint64_t now;

	if (!n) {
		vh->stall_since = 0;
		return;
	}
	now = cot_clock_mono_ns();
	if (!vh->stall_since) {
		vh->stall_since = now ? now : 1;
		return;
	}
	if (now - vh->stall_since < STALL_NS)
		return;
	vh->st.stalls++;
	if (!vh->stall_logged)
		log_warnx("%s: the guest's transmit queue holds %u entries "
			  "librte_vhost does not take (a bad descriptor): "
			  "its frames stop there",
			  vh->name, n);
	vh->stall_logged = true;
}

void vhost_get_stats(struct vhost *vh, struct vhost_stats *st)
{
	pthread_mutex_lock(&vh->mu);
	*st = vh->st;
	pthread_mutex_unlock(&vh->mu);
}

int vhost_recv(struct vhost *vh, const uint8_t **f, uint32_t *len, uint8_t *lin,
	       uint32_t max)
{
	struct rte_mbuf *m;
	const void *p;

	if (vh->held) {
		rte_pktmbuf_free(vh->held);
		vh->held = NULL;
	}
	if (vh->vid < 0)
		return 0;
	if (vh->irx == vh->nrx && !dequeue(vh)) {
		/*
		 * Ring empty: re-arm the notification (with event index it
		 * names the next entry), then look once more, so an entry
		 * added in between is not left waiting for a kick.
		 */
		rte_vhost_enable_guest_notification(vh->vid, Q_TX, 1);
		if (!dequeue(vh)) {
			vh->armed = true;
			stalled(vh);
			return 0;
		}
	}
	m = vh->rx[vh->irx++];
	vh->held = m;
	if (m->pkt_len > max)
		return -1;
	p = rte_pktmbuf_read(m, 0, m->pkt_len, lin);
	if (!p)
		return -1;
	*f = p;
	*len = m->pkt_len;
	return 1;
}

/* An mbuf chain holding a copy of @len bytes at @data, or NULL. */
static struct rte_mbuf *copy_in(const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(pool), *m = head;
	uint32_t off = 0;

	if (!head)
		return NULL;
	/* Bounded by len / MBUF_ROOM segments (MAX_FRAME: 35). */
	for (;;) {
		uint32_t room = rte_pktmbuf_tailroom(m), k;

		k = len - off < room ? len - off : room;
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), data + off, k);
		m->data_len = (uint16_t)k;
		off += k;
		if (off == len)
			break;
		struct rte_mbuf *nx = rte_pktmbuf_alloc(pool);

		if (!nx || rte_pktmbuf_chain(head, nx) < 0) {
			rte_pktmbuf_free(nx);
			rte_pktmbuf_free(head);
			return NULL;
		}
		m = nx;
	}
	head->pkt_len = len;
	return head;
}

bool vhost_takes_tso(const struct vhost *vh, bool v6)
{
	uint64_t want = (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
			(1ULL << (v6 ? VIRTIO_NET_F_GUEST_TSO6
				     : VIRTIO_NET_F_GUEST_TSO4));

	return vh->vid >= 0 && (vh->features & want) == want;
}

/*
 * librte_vhost writes the virtio-net header from these flags (DPDK 22.11
 * virtio_enqueue_offload(): NEEDS_CSUM at l2 + l3 with the pseudo-header
 * sum, gso_type TCPV4/TCPV6, gso_size, hdr_len; the IPv4 header checksum
 * recomputed).
 */
static void set_gso(struct rte_mbuf *m, const struct txgso *g)
{
	m->l2_len = g->l2;
	m->l3_len = g->l3;
	m->l4_len = g->l4;
	m->tso_segsz = g->mss;
	m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM |
		       (g->v6 ? RTE_MBUF_F_TX_IPV6
			      : RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM);
}

uint32_t vhost_send(struct vhost *vh, const struct iovec *iov,
		    const struct txgso *gso, uint32_t k, uint64_t *dropped)
{
	struct rte_mbuf *m[BURST];
	uint32_t i, lead = 0, n = 0, sent;

	if (vh->vid < 0 || !k)
		return 0;
	if (k > BURST)
		k = BURST;
	for (i = 0; i < k; i++) {
		struct rte_mbuf *x =
			copy_in(iov[i].iov_base, (uint32_t)iov[i].iov_len);

		if (!x) {
			/* Out of mbufs: a leading frame is dropped (taken);
			 * a later one waits, to keep the order. */
			if (n)
				break;
			lead++;
			(*dropped)++;
			continue;
		}
		if (gso && gso[i].mss)
			set_gso(x, &gso[i]);
		m[n++] = x;
	}
	sent = n ? rte_vhost_enqueue_burst(vh->vid, Q_RX, m, (uint16_t)n) : 0;
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(m[i]); /* enqueue copies */
	if (sent < n)
		rte_vhost_enable_guest_notification(vh->vid, Q_RX, 1);
	return lead + sent;
}

void vhost_offload(const struct vhost *vh, uint32_t *mss, bool *csum)
{
	const struct rte_mbuf *m = vh->held;

	*mss = 0;
	*csum = false;
	if (!m)
		return;
	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG)
		*mss = m->tso_segsz;
	*csum = (m->ol_flags & RTE_MBUF_F_TX_L4_MASK) != 0;
}
