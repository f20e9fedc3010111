// SPDX-License-Identifier: MIT
/*
 * tee/bitvisor/ship: the shipper inside BitVisor (ship.h), BitVisor's
 * side: lwIP's netif on the physical NIC through BitVisor's own
 * "ippassfilter" netfunc, a TLS 1.2 client with mutual authentication
 * (lwIP's altcp_tls over mbedTLS 2.28, which has no TLS 1.3), and the
 * timer that drives the connection.  The protocol state (queue, seq,
 * chain, frames) is cotrack's core/shipq, shared through the plain-typed
 * cotrack/shipq.h.
 *
 * Several log servers (COT_BV_LOGD=IP:PORT,IP:PORT..., at most 8): the
 * rule of the hosted shipper (host/ship.h), from the same core object
 * (core/failover): stay on the server in use while it works; a refused
 * or timed-out connection, a failed handshake or certificate check, no
 * WELCOME, a connection logd closes, or batches unacknowledged for
 * COT_SHIP_ACK_TIMEOUT_MS move to the next server at once; only after a
 * whole round failed, a jittered backoff.  WELCOME says what the new
 * server holds and core/shipq resends the rest.
 *
 * Certificates: lwIP's altcp_tls asks mbedTLS for MBEDTLS_SSL_VERIFY_
 * OPTIONAL, so a handshake completes whatever the server presents; the
 * shipper checks, before it sends anything, that the chain verified
 * against the compiled-in CA (mbedtls_ssl_get_verify_result() == 0) and
 * that the certificate names the address of the server it connected to
 * in its subjectAltName: an iPAddress (which mbedTLS 2.28 does not
 * match itself; `cotrack pki init --server-name IP` writes one) or the
 * dotted address as a dNSName (what cotrack pki wrote before).
 *
 * Contexts: cot_ship_add() runs wherever the tracker writes a record
 * (the NIC callbacks, the module's timer); everything else on lwIP's
 * thread (net_main.c's net_thread: ip_main_task, then its task list).
 * One spinlock guards the queue and is held only inside shipq calls,
 * which call nothing.
 */
#include <core/config.h>
#include <core/mm.h>
#include <core/printf.h>
#include <core/spinlock.h>
#include <core/time.h>
#include <core/timer.h>
#include <net/netapi.h>

#include "lwip/altcp.h"
#include "lwip/altcp_tls.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "mbedtls/oid.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

#include "../../ip/net_main.h" /* net_main_task_add */
#include "include/cotrack/failover.h"
#include "include/cotrack/shipq.h"
#include "ship.h"
#include "ship_conf.h"

#define SHIP_PUMP_MS	   50	 /* the shipper's timer (BitVisor's) */
#define SHIP_CONNECT_MS	   15000 /* TCP + TLS handshake + WELCOME */
#define SHIP_BACKOFF_MIN   500
#define SHIP_BACKOFF_MAX   8000
#define SHIP_BATCH_RECORDS 64
#define SHIP_BUF	   (88 + SHIP_BATCH_RECORDS * 148)
#define SHIP_STATS_US	   (10ULL * 1000 * 1000)

enum ship_state { SHIP_IDLE, SHIP_CONNECTING, SHIP_UP };

/* The log servers, in order of preference (ship_conf.h). */
struct ship_server {
	u8 ip[4];
	u16 port;
	const char *name; /* "IP:PORT" */
};
static const struct ship_server ship_servers[] = COT_SHIP_SERVERS;
#define SHIP_NSERVERS (sizeof ship_servers / sizeof ship_servers[0])

struct cot_ship {
	spinlock_t lock; /* the queue */
	struct cot_bvq *q;
	u64 epoch_off_ns; /* wall clock = get_time() * 1000 + this */
	/* the two NICs and BitVisor's IP netfunc between them */
	void *phys_handle, *virt_handle;
	struct nicfunc *phys_func, *virt_func;
	struct nicfunc fake_phys, fake_virt;
	net_recv_callback_t *ip_phys_cb; /* ippassfilter's */
	void *ip_phys_param;
	net_recv_callback_t *to_guest;
	void *to_guest_param;
	struct netdata *ip;
	void *timer;	  /* BitVisor's timer: queues ship_task */
	bool task_queued; /* a ship_task waits in lwIP's task list */
	bool begun;	  /* ship_begin ran */
	/* lwIP's thread only */
	struct altcp_tls_config *tls;
	struct altcp_pcb *pcb;
	enum ship_state state;
	struct cot_failover fo; /* which server next, and when */
	u64 state_us, next_try_us, last_stats_us;
	u64 ack_seq, ack_us; /* last acked_seq seen, and since when waited */
	bool ack_wait;	     /* batches out, not yet acknowledged */
	u64 connect_failures, disconnects, write_failures, cert_failures;
	u8 buf[SHIP_BUF];
};

static const char ship_ca[] = COT_SHIP_CA_PEM;
static const char ship_cert[] = COT_SHIP_CERT_PEM;
static const char ship_key[] = COT_SHIP_KEY_PEM;

/* --- BitVisor's IP netfunc between the NICs ------------------------------ */

/* What ippassfilter sees as its physical NIC: the real one. */
static void fphys_info(void *handle, struct nicinfo *info)
{
	struct cot_ship *s = handle;

	s->phys_func->get_nic_info(s->phys_handle, info);
}

/* lwIP's own frames (BitVisor's address): to the wire, not tracked. */
static void fphys_send(void *handle, unsigned int num, void **packets,
		       unsigned int *sizes, bool print_ok)
{
	struct cot_ship *s = handle;

	s->phys_func->send(s->phys_handle, num, packets, sizes, print_ok);
}

static void fphys_set_recv(void *handle, net_recv_callback_t *cb, void *param)
{
	struct cot_ship *s = handle;

	s->ip_phys_param = param;
	s->ip_phys_cb = cb;
}

static void fphys_poll(void *handle)
{
	struct cot_ship *s = handle;

	if (s->phys_func->poll)
		s->phys_func->poll(s->phys_handle);
}

/* What ippassfilter sees as the guest's NIC. */
static void fvirt_info(void *handle, struct nicinfo *info)
{
	struct cot_ship *s = handle;

	s->virt_func->get_nic_info(s->virt_handle, info);
}

/* Frames from the wire that are not (only) BitVisor's: to the guest
 * through the module's tracking. */
static void fvirt_send(void *handle, unsigned int num, void **packets,
		       unsigned int *sizes, bool print_ok)
{
	struct cot_ship *s = handle;

	s->to_guest(NULL, num, packets, sizes, s->to_guest_param, NULL);
}

/* ippassfilter's guest receive path is not used: the module sends the
 * guest's frames to the wire itself. */
static void fvirt_set_recv(void *handle, net_recv_callback_t *cb, void *param)
{
}

void cot_ship_phys_recv(void *handle, unsigned int num, void **packets,
			unsigned int *sizes, void *param, long *premap)
{
	struct cot_ship *s = param;

	if (s->ip_phys_cb)
		s->ip_phys_cb(s, num, packets, sizes, s->ip_phys_param, premap);
	else
		s->to_guest(NULL, num, packets, sizes, s->to_guest_param, NULL);
}

/* --- the connection (lwIP's thread) --------------------------------------- */

static void ship_pump(void *arg);

static void ship_down(struct cot_ship *s, const char *why, bool abort_pcb)
{
	const struct ship_server *from = &ship_servers[s->fo.cur];
	u64 now = get_time(), n;
	unsigned int wait;
	int was_up;

	if (s->pcb) {
		altcp_arg(s->pcb, NULL);
		altcp_recv(s->pcb, NULL);
		altcp_err(s->pcb, NULL);
		altcp_sent(s->pcb, NULL);
		if (abort_pcb)
			altcp_abort(s->pcb);
		s->pcb = NULL;
	}
	if (s->state == SHIP_UP)
		s->disconnects++;
	else
		s->connect_failures++;
	s->state = SHIP_IDLE;
	s->ack_wait = false;
	wait = cot_failover_down(&s->fo, &was_up);
	s->next_try_us = now + wait * 1000ULL;
	n = s->connect_failures + s->disconnects;
	/* a server that was up, always; failed attempts: the first ones
	 * and then every 16th (a dead logd is quiet) */
	if (was_up && SHIP_NSERVERS > 1)
		printf("cotrack: ship: logd %s: %s; switching to %s\n",
		       from->name, why, ship_servers[s->fo.cur].name);
	else if (was_up || n <= 3 || !(n & 15))
		printf("cotrack: ship: logd %s down (%s), %s %s in %u ms\n",
		       from->name, why,
		       wait ? "retry" : "next:", ship_servers[s->fo.cur].name,
		       wait);
}

static bool ship_write(struct cot_ship *s, int n)
{
	if (altcp_write(s->pcb, s->buf, (u16_t)n, TCP_WRITE_FLAG_COPY) !=
	    ERR_OK) {
		s->write_failures++;
		return false;
	}
	return true;
}

static void ship_err(void *arg, err_t err)
{
	struct cot_ship *s = arg;

	if (!s)
		return;
	s->pcb = NULL; /* lwIP freed it */
	ship_down(s, err == ERR_RST ? "reset" : "error", false);
}

static err_t ship_recv(void *arg, struct altcp_pcb *pcb, struct pbuf *p,
		       err_t err)
{
	struct cot_ship *s = arg;
	struct pbuf *b;
	int rc = 0, ready = 0;

	if (!s)
		return ERR_OK;
	if (!p) {
		ship_down(s, "closed by logd", true);
		return ERR_ABRT;
	}
	/* bounded by the pbuf chain */
	for (b = p; b && rc == 0; b = b->next) {
		spinlock_lock(&s->lock);
		rc = cot_bvq_input(s->q, b->payload, b->len);
		ready = cot_bvq_ready(s->q);
		spinlock_unlock(&s->lock);
	}
	altcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	if (rc < 0) {
		printf("cotrack: ship: bad frame from logd (%d)\n", rc);
		ship_down(s, "protocol", true);
		return ERR_ABRT;
	}
	if (ready && s->state != SHIP_UP) {
		struct cot_bvq_stats st;

		spinlock_lock(&s->lock);
		cot_bvq_stats(s->q, &st);
		spinlock_unlock(&s->lock);
		printf("cotrack: ship: connected to %s, logd holds seq %llu "
		       "of epoch %016llx (acknowledged %llu, last %llu)\n",
		       ship_servers[s->fo.cur].name, st.held_seq, st.epoch,
		       st.acked_seq, st.last_seq);
		s->state = SHIP_UP;
		s->ack_seq = st.acked_seq;
		cot_failover_up(&s->fo);
	}
	return ERR_OK;
}

/*
 * The handshake is done, nothing is sent yet: is the server the one it
 * should be?  The chain verified against the CA (altcp_tls only asks for
 * VERIFY_OPTIONAL), and the certificate names @srv's address.
 */
static bool ship_cert_ok(struct altcp_pcb *pcb, const struct ship_server *srv)
{
	mbedtls_ssl_context *ssl = altcp_tls_context(pcb);
	const mbedtls_x509_crt *crt;
	const mbedtls_x509_sequence *san;
	unsigned int i, k, tlen;
	u32 flags;

	if (!ssl)
		return false;
	flags = mbedtls_ssl_get_verify_result(ssl);
	if (flags) {
		printf("cotrack: ship: logd %s: certificate not trusted "
		       "(mbedTLS flags 0x%x)\n",
		       srv->name, flags);
		return false;
	}
	crt = mbedtls_ssl_get_peer_cert(ssl);
	if (!crt || !(crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME)) {
		printf("cotrack: ship: logd %s: certificate has no "
		       "subjectAltName\n",
		       srv->name);
		return false;
	}
	/* the address as text: srv->name up to its ':' (at most 15) */
	for (tlen = 0; srv->name[tlen] && srv->name[tlen] != ':'; tlen++)
		;
	/* the list mbedTLS parsed from the certificate; 64: more names
	 * than any logd certificate has */
	for (san = &crt->subject_alt_names, i = 0; san && i < 64;
	     san = san->next, i++) {
		if (!san->buf.p)
			continue;
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
				     MBEDTLS_X509_SAN_IP_ADDRESS) &&
		    san->buf.len == 4) {
			for (k = 0; k < 4 && san->buf.p[k] == srv->ip[k]; k++)
				;
			if (k == 4)
				return true;
		}
		/* certificates of older `cotrack pki` name the address
		 * as a dNSName, which is what mbedTLS's own host name
		 * check would compare */
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
				     MBEDTLS_X509_SAN_DNS_NAME) &&
		    san->buf.len == tlen) {
			for (k = 0; k < tlen && san->buf.p[k] == srv->name[k];
			     k++)
				;
			if (k == tlen)
				return true;
		}
	}
	printf("cotrack: ship: logd %s: certificate does not name "
	       "%u.%u.%u.%u\n",
	       srv->name, srv->ip[0], srv->ip[1], srv->ip[2], srv->ip[3]);
	return false;
}

static err_t ship_connected(void *arg, struct altcp_pcb *pcb, err_t err)
{
	struct cot_ship *s = arg;
	int n;

	if (!s)
		return ERR_OK;
	if (err != ERR_OK) {
		ship_down(s, "connect", true);
		return ERR_ABRT;
	}
	if (!ship_cert_ok(pcb, &ship_servers[s->fo.cur])) {
		s->cert_failures++;
		ship_down(s, "certificate", true);
		return ERR_ABRT;
	}
	spinlock_lock(&s->lock);
	n = cot_bvq_hello(s->q, s->buf, sizeof s->buf);
	spinlock_unlock(&s->lock);
	if (n <= 0 || !ship_write(s, n) || altcp_output(pcb) != ERR_OK) {
		ship_down(s, "hello", true);
		return ERR_ABRT;
	}
	return ERR_OK;
}

static void ship_connect(struct cot_ship *s)
{
	const struct ship_server *srv = &ship_servers[s->fo.cur];
	ip_addr_t ip;
	err_t e;

	IP_ADDR4(&ip, srv->ip[0], srv->ip[1], srv->ip[2], srv->ip[3]);
	s->pcb = altcp_tls_new(s->tls, IPADDR_TYPE_V4);
	if (!s->pcb) {
		ship_down(s, "no pcb", false);
		return;
	}
	altcp_arg(s->pcb, s);
	altcp_recv(s->pcb, ship_recv);
	altcp_err(s->pcb, ship_err);
	s->state = SHIP_CONNECTING;
	s->state_us = get_time();
	e = altcp_connect(s->pcb, &ip, srv->port, ship_connected);
	if (e != ERR_OK)
		ship_down(s, "connect call", true);
}

/* Batches while TCP's send buffer has room for one record at least. */
static void ship_send(struct cot_ship *s)
{
	unsigned int i;
	int n;

	/* bounded: at most 16 batches per timer tick */
	for (i = 0; i < 16 && s->pcb; i++) {
		u16_t room = altcp_sndbuf(s->pcb);

		if (room > sizeof s->buf)
			room = sizeof s->buf;
		spinlock_lock(&s->lock);
		n = cot_bvq_next(s->q, s->buf, room, SHIP_BATCH_RECORDS);
		spinlock_unlock(&s->lock);
		if (n <= 0)
			break;
		if (!ship_write(s, n)) {
			/* the queue counts it sent: start over from what
			 * logd says it holds */
			ship_down(s, "write", true);
			return;
		}
	}
	if (s->pcb && i)
		altcp_output(s->pcb);
}

static void ship_stats(struct cot_ship *s, u64 now)
{
	struct cot_bvq_stats st;

	s->last_stats_us = now;
	spinlock_lock(&s->lock);
	cot_bvq_stats(s->q, &st);
	spinlock_unlock(&s->lock);
	printf("cotrack: ship stats up=%d epoch=%016llx last_seq=%llu "
	       "acked_seq=%llu sent=%llu waiting=%llu dropped=%llu "
	       "lost_frames=%llu connects=%llu connect_failures=%llu "
	       "disconnects=%llu cert_failures=%llu switches=%llu "
	       "server=%s\n",
	       s->state == SHIP_UP, st.epoch, st.last_seq, st.acked_seq,
	       st.sent, st.waiting, st.dropped, st.lost_frames, st.connects,
	       s->connect_failures, s->disconnects, s->cert_failures,
	       s->fo.switches, ship_servers[s->fo.cur].name);
}

/*
 * Batches out and no acknowledgement for COT_SHIP_ACK_TIMEOUT_MS: a logd
 * that keeps the connection but says nothing (stopped, stalled) is left
 * for the next server.  The clock starts when batches go out with none
 * waiting, and again at every acknowledgement.
 */
static void ship_ack_clock(struct cot_ship *s, u64 now)
{
	struct cot_bvq_stats st;

	spinlock_lock(&s->lock);
	cot_bvq_stats(s->q, &st);
	spinlock_unlock(&s->lock);
	if (st.acked_seq != s->ack_seq) {
		s->ack_seq = st.acked_seq;
		s->ack_us = now;
		cot_failover_healthy(&s->fo); /* acks flowing */
	}
	if (st.sent_seq <= st.acked_seq) {
		s->ack_wait = false;
		return;
	}
	if (!s->ack_wait) {
		s->ack_wait = true;
		s->ack_us = now;
	} else if (now - s->ack_us > COT_SHIP_ACK_TIMEOUT_MS * 1000ULL) {
		ship_down(s, "no acknowledgement", true);
	}
}

static void ship_pump(void *arg)
{
	struct cot_ship *s = arg;
	u64 now = get_time();

	switch (s->state) {
	case SHIP_IDLE:
		if (now >= s->next_try_us)
			ship_connect(s);
		break;
	case SHIP_CONNECTING:
		if (now - s->state_us > SHIP_CONNECT_MS * 1000ULL)
			ship_down(s, "timeout", true);
		break;
	case SHIP_UP:
		ship_send(s);
		if (s->pcb)
			ship_ack_clock(s, now);
		break;
	}
	if (now - s->last_stats_us >= SHIP_STATS_US)
		ship_stats(s, now);
}

/*
 * lwIP's pool of timeouts has room for lwIP's own timers only, so the
 * pump is not an lwIP timeout: BitVisor's timer (run on guest exits)
 * queues it on lwIP's thread (net_main.c's task list), one at a time.
 */
static void ship_task(void *arg)
{
	struct cot_ship *s = arg;

	s->task_queued = false;
	if (s->begun)
		ship_pump(s);
}

static void ship_timer(void *handle, void *data)
{
	struct cot_ship *s = data;

	if (!s->task_queued) {
		s->task_queued = true;
		net_main_task_add(ship_task, s);
	}
	timer_set(handle, SHIP_PUMP_MS * 1000ULL);
}

/* First call on lwIP's thread, after ip_main_init. */
static void ship_begin(void *arg)
{
	struct cot_ship *s = arg;

	s->tls = altcp_tls_create_config_client_2wayauth(
		(const u8_t *)ship_ca, sizeof ship_ca, (const u8_t *)ship_key,
		sizeof ship_key, NULL, 0, (const u8_t *)ship_cert,
		sizeof ship_cert);
	if (!s->tls) {
		printf("cotrack: ship: TLS configuration failed (CA, "
		       "certificate or key); no shipping\n");
		return;
	}
	printf("cotrack: ship: to %s, TLS 1.2 with mutual "
	       "authentication, ack timeout %u ms\n",
	       COT_SHIP_LOGD_STR, COT_SHIP_ACK_TIMEOUT_MS);
	s->last_stats_us = get_time();
	s->begun = true;
	ship_pump(s);
}

/* --- the module's calls --------------------------------------------------- */

struct cot_ship *cot_ship_new(unsigned long long seed)
{
	struct cot_ship *s;
	unsigned long len = cot_bvq_memsize(COT_SHIP_QUEUE);
	unsigned long long epoch;
	long long sec;
	int usec;
	void *mem;

	if (!COT_SHIP_ENABLED) {
		printf("cotrack: ship: not configured in this build "
		       "(COT_BV_PKI); records on the serial log only\n");
		return NULL;
	}
	s = alloc(sizeof *s);
	mem = len ? alloc(len) : NULL;
	if (!s || !mem) {
		printf("cotrack: ship: cannot allocate %lu bytes\n", len);
		return NULL;
	}
	memset(s, 0, sizeof *s);
	spinlock_init(&s->lock);
	get_epoch_time(&sec, &usec);
	s->epoch_off_ns = (u64)sec * 1000000000ULL + (u64)usec * 1000ULL -
			  get_time() * 1000ULL;
	epoch = seed ^ (s->epoch_off_ns * 0x9e3779b97f4a7c15ULL);
	if (!epoch)
		epoch = 1;
	if (cot_bvq_init(&s->q, mem, len, COT_SHIP_QUEUE, epoch) < 0) {
		printf("cotrack: ship: queue init failed\n");
		return NULL;
	}
	if (cot_failover_init(&s->fo, SHIP_NSERVERS, SHIP_BACKOFF_MIN,
			      SHIP_BACKOFF_MAX, epoch) < 0) {
		printf("cotrack: ship: bad list of %u log servers\n",
		       (unsigned int)SHIP_NSERVERS);
		return NULL;
	}
	printf("cotrack: ship: queue of %u records (%lu bytes), epoch "
	       "%016llx\n",
	       COT_SHIP_QUEUE, len, epoch);
	return s;
}

bool cot_ship_attach(struct cot_ship *s, void *phys_handle,
		     struct nicfunc *phys_func, void *virt_handle,
		     struct nicfunc *virt_func, net_recv_callback_t *to_guest,
		     void *param)
{
	s->phys_handle = phys_handle;
	s->phys_func = phys_func;
	s->virt_handle = virt_handle;
	s->virt_func = virt_func;
	s->to_guest = to_guest;
	s->to_guest_param = param;
	s->fake_phys.get_nic_info = fphys_info;
	s->fake_phys.send = fphys_send;
	s->fake_phys.set_recv_callback = fphys_set_recv;
	s->fake_phys.poll = fphys_poll;
	s->fake_virt.get_nic_info = fvirt_info;
	s->fake_virt.send = fvirt_send;
	s->fake_virt.set_recv_callback = fvirt_set_recv;
	s->fake_virt.poll = NULL;
	/* frames for BitVisor's address to lwIP, the rest to the guest */
	s->ip = net_new_nic("ippassfilter", false);
	if (!s->ip || !net_init(s->ip, s, &s->fake_phys, s, &s->fake_virt)) {
		printf("cotrack: ship: BitVisor's IP netfunc failed\n");
		return false;
	}
	return true;
}

void cot_ship_start(struct cot_ship *s)
{
	net_start(s->ip); /* sets fphys_set_recv, starts lwIP's thread */
	net_main_task_add(ship_begin, s);
	s->timer = timer_new(ship_timer, s);
	if (s->timer)
		timer_set(s->timer, SHIP_PUMP_MS * 1000ULL);
	else
		printf("cotrack: ship: no timer: no shipping\n");
	printf("cotrack: ship: BitVisor's IP %u.%u.%u.%u on the physical "
	       "NIC\n",
	       config.ip.ipaddr[0], config.ip.ipaddr[1], config.ip.ipaddr[2],
	       config.ip.ipaddr[3]);
}

void cot_ship_add(struct cot_ship *s, const void *rec)
{
	u64 now = get_time() * 1000ULL + s->epoch_off_ns;

	spinlock_lock(&s->lock);
	cot_bvq_add(s->q, rec, now);
	spinlock_unlock(&s->lock);
}
