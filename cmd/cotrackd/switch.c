// SPDX-License-Identifier: MIT
/* cotrackd's learning switch: see switch.h. */
#include <string.h>

#include "switch.h"

static struct sw_mac *mac_slot(struct sw *s, const uint8_t *m, uint64_t now);

void sw_init(struct sw *s, const struct sw_params *p)
{
	memset(s, 0, sizeof(*s));
	s->p = *p;
}

void sw_port_add(struct sw *s, int i, bool vm, const uint8_t *mac)
{
	struct sw_port *sp = &s->port[i];

	memset(sp, 0, sizeof(*sp));
	sp->present = true;
	sp->vm = vm;
	sp->tokens = s->p.storm_pps;
	if (mac) {
		struct sw_mac *e = mac_slot(s, mac, 0);

		sp->fixed = true;
		memcpy(sp->mac, mac, 6);
		memcpy(e->mac, mac, 6);
		e->used = 1;
		e->pinned = 1;
		e->port = (uint8_t)i;
		e->seen_ns = 0;
	}
}

static void mac_free(struct sw *s, struct sw_mac *e)
{
	if (e->used && s->port[e->port].macs)
		s->port[e->port].macs--;
	e->used = 0;
	e->pinned = 0;
}

void sw_port_up(struct sw *s, int i)
{
	s->port[i].up = true;
}

void sw_port_down(struct sw *s, int i)
{
	/*
	 * Its addresses stay (and age): the same VM reconnects (a restarted
	 * QEMU, a reconnecting vhost-user frontend) with the same address.
	 * While the port is down they are not protected against moving.
	 */
	s->port[i].up = false;
}

static uint32_t mac_hash(const struct sw *s, const uint8_t *m)
{
	uint64_t h = s->p.seed, v = 0;
	int i;

	for (i = 0; i < 6; i++)
		v = v << 8 | m[i];
	h ^= v;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h ^= s->p.seed >> 17;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (uint32_t)h;
}

static bool fresh(const struct sw *s, const struct sw_mac *e, uint64_t now)
{
	return e->used && (e->pinned || now - e->seen_ns < s->p.age_ns);
}

/* The live entry of @m, or NULL.  Bounded by SW_PROBE. */
static struct sw_mac *mac_find(struct sw *s, const uint8_t *m, uint64_t now)
{
	uint32_t h = mac_hash(s, m), i;

	for (i = 0; i < SW_PROBE; i++) {
		struct sw_mac *e = &s->mac[(h + i) % SW_MACS];

		if (e->used && !memcmp(e->mac, m, 6))
			return fresh(s, e, now) ? e : NULL;
	}
	return NULL;
}

/*
 * A slot for a new address @m: a free or aged slot in its probe window,
 * else the oldest entry there (which is forgotten).  Bounded by SW_PROBE.
 */
static struct sw_mac *mac_slot(struct sw *s, const uint8_t *m, uint64_t now)
{
	uint32_t h = mac_hash(s, m), i;
	struct sw_mac *old = NULL;

	for (i = 0; i < SW_PROBE; i++) {
		struct sw_mac *e = &s->mac[(h + i) % SW_MACS];

		if (e->used && !memcmp(e->mac, m, 6))
			return e; /* aged out but still in place */
		if (!fresh(s, e, now)) {
			if (e->used) {
				mac_free(s, e);
				s->st.aged++;
			}
			return e;
		}
		if (!e->pinned && (!old || e->seen_ns < old->seen_ns))
			old = e;
	}
	/* A window of pinned entries only: at most MAX_VMS, never here. */
	if (!old)
		old = &s->mac[h % SW_MACS];
	mac_free(s, old);
	s->st.replaced++;
	return old;
}

static bool is_unicast(const uint8_t *m)
{
	return !(m[0] & 1);
}

/* Storm control: take one token; false when the port is over its rate. */
static bool storm_ok(struct sw *s, int in, uint64_t now)
{
	struct sw_port *sp = &s->port[in];
	double cap = s->p.storm_pps;

	if (!s->p.storm_pps)
		return true;
	if (now > sp->tokens_ns) {
		sp->tokens += (double)(now - sp->tokens_ns) * cap / 1e9;
		if (sp->tokens > cap)
			sp->tokens = cap;
	}
	sp->tokens_ns = now;
	if (sp->tokens < 1.0)
		return false;
	sp->tokens -= 1.0;
	return true;
}

/* Learn that source @m lives at @in.  Returns a drop reason or 0. */
static enum sw_verdict learn(struct sw *s, int in, const uint8_t *m,
			     uint64_t now)
{
	struct sw_port *sp = &s->port[in];
	struct sw_mac *e = mac_find(s, m, now);
	uint32_t cap = sp->vm ? s->p.vm_max_macs : s->p.tap_max_macs;

	if (sp->fixed && memcmp(m, sp->mac, 6) != 0)
		return SW_DROP_SPOOF;
	if (e && e->port != in) {
		/* A connected VM's address is that VM's while fresh. */
		if (e->pinned || (s->port[e->port].vm && s->port[e->port].up))
			return SW_DROP_SPOOF;
		mac_free(s, e); /* it moved (e.g. behind the uplink) */
		e = NULL;
	}
	if (e) {
		if (!e->pinned)
			e->seen_ns = now;
		return SW_FORWARD;
	}
	if (sp->macs >= cap)
		return sp->vm ? SW_DROP_MACLIMIT : SW_FORWARD; /* not learned */
	e = mac_slot(s, m, now);
	memcpy(e->mac, m, 6);
	e->used = 1;
	e->port = (uint8_t)in;
	e->seen_ns = now;
	sp->macs++;
	s->st.learned++;
	return SW_FORWARD;
}

enum sw_verdict sw_decide(struct sw *s, int in, const uint8_t *f, uint32_t len,
			  uint64_t now, uint32_t *out)
{
	enum sw_verdict v;
	struct sw_mac *e;
	uint32_t all = 0;
	int i;

	*out = 0;
	if (len < 14)
		return SW_DROP_RUNT;
	if (is_unicast(f + 6)) {
		v = learn(s, in, f + 6, now);
		if (v != SW_FORWARD)
			return v;
	} else if (s->port[in].vm) {
		return SW_DROP_SPOOF; /* a group address as source: forged */
	}
	if (is_unicast(f)) {
		e = mac_find(s, f, now);
		if (e) {
			if (e->port != in && s->port[e->port].up)
				*out = 1u << e->port;
			return SW_FORWARD;
		}
	}
	/* Broadcast, multicast, unknown unicast: flooded, rate-limited. */
	if (!storm_ok(s, in, now))
		return SW_DROP_STORM;
	for (i = 0; i < MAX_PORTS; i++)
		if (i != in && s->port[i].present && s->port[i].up)
			all |= 1u << i;
	*out = all;
	return SW_FORWARD;
}

void sw_age(struct sw *s, uint64_t now, uint32_t budget)
{
	uint32_t n;

	for (n = 0; n < budget && n < SW_MACS; n++) {
		struct sw_mac *e = &s->mac[s->sweep];

		if (e->used && !e->pinned && !fresh(s, e, now)) {
			mac_free(s, e);
			s->st.aged++;
		}
		s->sweep = (s->sweep + 1) % SW_MACS;
	}
}
