// SPDX-License-Identifier: MIT
/*
 * tee/bitvisor/tracker: cotrack's per-VM tracker (core/merge over
 * core/pkt and core/flow) behind the plain-typed interface of tracker.h,
 * for BitVisor's netfunc module.  Compiled inside BitVisor's build
 * (-nostdinc: <stdint.h> and friends come from the compiler's own
 * freestanding headers), linked with the core files it names; no libc,
 * no allocation: the module hands over one block at init.
 *
 * Records leave as one JSON line each, written here with our own
 * formatting helpers (no printf on this side of tracker.h).
 */
#include "tracker.h"

#include "cotrack/merge.h"
#include "cotrack/pkt.h"
#include "cotrack/rec.h"

/*
 * Limits of one VM's tracker inside BitVisor, whose heap is small:
 * 4096 NIC flows (the CoCo-Tracker guests run a few services), 256
 * fragment ids, no memory view yet (one memory-only slot, the minimum).
 */
#define BV_MAX_FLOWS   4096
#define BV_MAX_FRAGS   256
#define BV_ENDED_SLOTS 1024
#define BV_LINE_MAX    512
/* Expiry budget per frame: a frame costs at most this many slot visits. */
#define BV_EXPIRE_BUDGET 64

struct cot_bv {
	struct cot_merge *m;
	cot_bv_line_cb line;
	void *ctx;
	uint64_t epoch_off; /* wall-clock ns minus monotonic ns */
	uint64_t frames, frames_guest, records;
	char buf[BV_LINE_MAX];
	/* the merge object follows, 8-byte aligned */
};

static void params(struct cot_merge_params *p, uint64_t seed)
{
	cot_merge_params_default(p);
	p->flow.max_flows = BV_MAX_FLOWS;
	p->flow.max_frags = BV_MAX_FRAGS;
	p->flow.hash_seed = seed;
	p->vmi = false;
	p->max_conns = 1;
	p->ended_slots = BV_ENDED_SLOTS;
	p->max_listen = 1;
	p->hash_seed = seed ^ 0x9e3779b97f4a7c15ull;
}

static size_t head_size(void)
{
	return (sizeof(struct cot_bv) + 7) & ~(size_t)7;
}

unsigned long cot_bv_memsize(void)
{
	struct cot_merge_params p;
	size_t n;

	params(&p, 0);
	n = cot_merge_memsize(&p);
	return n ? head_size() + n : 0;
}

/* --- line formatting: bounded appends into t->buf -------------------- */

struct out {
	char *b;
	size_t n, cap; /* cap includes the NUL */
};

static void put_str(struct out *o, const char *s)
{
	/* bounded by the buffer: stops at cap - 1 */
	while (*s && o->n + 1 < o->cap)
		o->b[o->n++] = *s++;
	o->b[o->n] = '\0';
}

static void put_u64(struct out *o, uint64_t v)
{
	char d[21];
	int i = 20;

	d[i] = '\0';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i > 0);
	put_str(o, d + i);
}

static void put_kstr(struct out *o, const char *k, const char *v)
{
	put_str(o, ",\"");
	put_str(o, k);
	put_str(o, "\":\"");
	put_str(o, v);
	put_str(o, "\"");
}

static void put_knum(struct out *o, const char *k, uint64_t v)
{
	put_str(o, ",\"");
	put_str(o, k);
	put_str(o, "\":");
	put_u64(o, v);
}

static void on_rec(void *ctx, const struct cot_rec *r)
{
	struct cot_bv *t = ctx;
	struct out o = { t->buf, 0, sizeof(t->buf) };
	char a[COT_ADDR_STRLEN];
	char vm[COT_VM_NAMELEN];
	size_t i;

	/* r->vm is ours (from init), but bound it anyway */
	for (i = 0; i + 1 < sizeof(vm) && r->vm[i]; i++)
		vm[i] = (r->vm[i] == '"' || r->vm[i] == '\\') ? '_' : r->vm[i];
	vm[i] = '\0';
	put_str(&o, "{\"vm\":\"");
	put_str(&o, vm);
	put_str(&o, "\"");
	put_kstr(&o, "proto", cot_proto_name(r->proto));
	cot_addr_format(a, &r->src, true);
	put_kstr(&o, "src", a);
	put_knum(&o, "sport", r->sport);
	cot_addr_format(a, &r->dst, true);
	put_kstr(&o, "dst", a);
	put_knum(&o, "dport", r->dport);
	put_knum(&o, "first_ns", r->first_ns + t->epoch_off);
	put_knum(&o, "last_ns", r->last_ns + t->epoch_off);
	put_knum(&o, "pkts_fwd", r->pkts_fwd);
	put_knum(&o, "bytes_fwd", r->bytes_fwd);
	put_knum(&o, "pkts_rev", r->pkts_rev);
	put_knum(&o, "bytes_rev", r->bytes_rev);
	put_kstr(&o, "tcp_state", cot_tcp_state_name(r->tcp_state));
	put_kstr(&o, "end", cot_end_name(r->end));
	put_kstr(&o, "seen_by", cot_seen_name(r->seen_by));
	put_str(&o, "}");
	t->records++;
	if (t->line)
		t->line(t->ctx, t->buf);
}

int cot_bv_init(struct cot_bv **out, void *mem, unsigned long len,
		const char *vm, unsigned long long now_ns,
		unsigned long long epoch_ns, unsigned long long seed,
		cot_bv_line_cb line, void *ctx)
{
	struct cot_merge_params p;
	struct cot_bv *t = mem;
	size_t need = cot_bv_memsize();
	int rc;

	*out = NULL;
	if (!mem || !need || len < need || ((uintptr_t)mem & 7))
		return -COT_EINVAL;
	cot_memset(t, 0, sizeof(*t));
	params(&p, seed);
	p.vm = vm;
	p.cb = on_rec;
	p.cb_ctx = t;
	rc = cot_merge_init(&t->m, (char *)mem + head_size(), len - head_size(),
			    &p);
	if (rc < 0)
		return rc;
	t->line = line;
	t->ctx = ctx;
	t->epoch_off = epoch_ns - now_ns;
	*out = t;
	return 0;
}

void cot_bv_frame(struct cot_bv *t, const void *frame, unsigned int len,
		  int from_guest, unsigned long long now_ns)
{
	struct cot_pkt pkt;

	t->frames++;
	if (from_guest)
		t->frames_guest++;
	/* the parser checks every length against @len; a non-IP frame or a
	 * dropped one only bumps the flow table's counters */
	cot_pkt_parse(&pkt, frame, len, len);
	cot_merge_pkt(t->m, &pkt, now_ns, from_guest != 0);
	cot_merge_expire(t->m, now_ns, BV_EXPIRE_BUDGET);
}

void cot_bv_expire(struct cot_bv *t, unsigned long long now_ns,
		   unsigned int budget)
{
	cot_merge_expire(t->m, now_ns, budget);
}

void cot_bv_stats(struct cot_bv *t)
{
	struct cot_merge_stats ms;
	struct cot_flow_stats fs;
	struct out o = { t->buf, 0, sizeof(t->buf) };

	cot_merge_stats(t->m, &ms, &fs);
	put_str(&o, "cotrack: stats");
	put_str(&o, " frames=");
	put_u64(&o, t->frames);
	put_str(&o, " from_guest=");
	put_u64(&o, t->frames_guest);
	put_str(&o, " tracked=");
	put_u64(&o, fs.tracked);
	put_str(&o, " not_ip=");
	put_u64(&o, fs.not_ip);
	put_str(&o, " flows=");
	put_u64(&o, fs.active);
	put_str(&o, " records=");
	put_u64(&o, t->records);
	put_str(&o, " evicted=");
	put_u64(&o, fs.evicted);
	if (t->line)
		t->line(t->ctx, t->buf);
}
