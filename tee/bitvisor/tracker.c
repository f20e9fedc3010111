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
#include "cotrack/sched.h"
#include "cotrack/vmi.h"

/*
 * Limits of one VM's tracker inside BitVisor, whose heap is small:
 * 4096 NIC flows (the CoCo-Tracker guests run a few services), 256
 * fragment ids, 4096 ended tuples (remembered so that a TIME_WAIT socket
 * seen after its connection's record is not written again).
 */
#define BV_MAX_FLOWS   4096
#define BV_MAX_FRAGS   256
#define BV_ENDED_SLOTS 4096
#define BV_LINE_MAX    512
/* Expiry budget per frame: a frame costs at most this many slot visits. */
#define BV_EXPIRE_BUDGET 64
/*
 * Discovery of the guest kernel (cot_vmi_open) runs over one slice of
 * RAM per gate tick: 128 MiB is 32768 page starts, 10 bytes read each.
 * Slices are BV_VMI_GAP_NS apart; after a pass over all RAM that found
 * nothing (the guest had not booted yet) the next pass waits
 * BV_VMI_RETRY_NS.  At most BV_VMI_MAX_PASSES passes, then it gives up.
 */
#define BV_VMI_SLICE	  (128ull << 20)
#define BV_VMI_GAP_NS	  (10ull * 1000 * 1000)
#define BV_VMI_RETRY_NS	  (2ull * 1000 * 1000 * 1000)
#define BV_VMI_MAX_PASSES 600

/*
 * The socket scan, once the kernel and its profile are known: a full
 * snapshot every BV_SCAN_INTERVAL_NS (the merge's interval), taken in
 * budgeted steps of BV_STEP_BYTES / BV_STEP_WALKS, one per tick, so that
 * no frame waits for more than one step.  At most BV_VMI_CAP sockets
 * (4096, and as many ended tuples and memory-only connections: the
 * seeds' experiment, 1000 external and 1000 localhost connections within
 * TIME_WAIT's 60 s, has 2000 sockets at once; with 1024 snapshots were
 * truncated, sockets left and came back, and connections were written
 * twice).  The stats line counts truncated snapshots.
 * The guest's BTF (the profile's source) is read BV_BTF_CHUNK bytes per
 * tick into a buffer the module lends (cot_bv_vmi_btf).
 */
#define BV_SCAN_INTERVAL_NS (250ull * 1000 * 1000)
#define BV_STEP_BYTES	    (256ull << 10)
#define BV_STEP_WALKS	    1024
#define BV_VMI_CAP	    4096
#define BV_BTF_CHUNK	    (256u << 10)

enum bv_vmi_state {
	BV_VMI_OFF,
	BV_VMI_SEARCH,	 /* discovery, slice by slice */
	BV_VMI_NEED_BTF, /* kernel found: waiting for a BTF buffer */
	BV_VMI_READ_BTF, /* reading the guest's BTF, chunk by chunk */
	BV_VMI_SCAN,	 /* profile set: scanning */
	BV_VMI_GAVE_UP,
};

struct cot_bv {
	struct cot_merge *m;
	cot_bv_line_cb line;
	void *ctx;
	cot_bv_rec_cb rec; /* the shipper's, or NULL */
	void *rec_ctx;
	uint64_t epoch_off; /* wall-clock ns minus monotonic ns */
	uint64_t frames, frames_guest, records;
	/* the memory view: discovery state */
	int vmi_state;		/* enum bv_vmi_state */
	struct cot_vmi_mem mem; /* all RAM: what reads may touch */
	cot_bv_read_fn read;	/* the module's guest-physical read */
	void *read_ctx;
	uint32_t vmi_range; /* position of the search: range ... */
	uint64_t vmi_off;   /* ... and offset in it */
	uint32_t vmi_passes, vmi_slices;
	struct cot_sched vmi_gate;  /* ticks: ns of the module's clock */
	struct cot_sched exit_gate; /* ticks: the TSC (guest exits) */
	struct cot_vmi vmi;
	/* the guest's BTF, in the module's buffer while it is read */
	uint64_t btf_va;
	size_t btf_len, btf_done;
	uint8_t *btf;
	void *btf_idx;
	size_t btf_idx_len;
	bool btf_release; /* the module may free the buffer */
	/* the scan */
	struct cot_vmi_scan scan;
	bool in_scan;
	uint64_t scan_ns; /* when the scan in progress started */
	uint32_t nprev;
	struct cot_vmi_sock *prev, *cur;
	struct cot_vmi_sock socks[2][BV_VMI_CAP];
	uint64_t scans, scan_errors, scan_steps;
	uint64_t scans_truncated; /* snapshots that hit BV_VMI_CAP */
	char buf[BV_LINE_MAX];
	/* the merge object follows, 8-byte aligned */
};

static void params(struct cot_merge_params *p, uint64_t seed)
{
	cot_merge_params_default(p);
	p->flow.max_flows = BV_MAX_FLOWS;
	p->flow.max_frags = BV_MAX_FRAGS;
	p->flow.hash_seed = seed;
	p->vmi = true;
	p->interval_ns = BV_SCAN_INTERVAL_NS;
	p->max_conns = BV_VMI_CAP;
	p->ended_slots = BV_ENDED_SLOTS;
	p->max_listen = 256;
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

static void put_hex(struct out *o, uint64_t v)
{
	static const char x[] = "0123456789abcdef";
	char d[19];
	int i = 18;

	d[i] = '\0';
	do {
		d[--i] = x[v & 15];
		v >>= 4;
	} while (v && i > 2);
	d[--i] = 'x';
	d[--i] = '0';
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
	if (r->netns)
		put_knum(&o, "netns", r->netns);
	if (r->flags) {
		put_str(&o, ",\"flags\":\"");
		if (r->flags & COT_RF_HIDDEN_NIC)
			put_str(&o, "hidden-nic");
		if ((r->flags & COT_RF_HIDDEN_NIC) &&
		    (r->flags & COT_RF_HIDDEN_VMI))
			put_str(&o, ",");
		if (r->flags & COT_RF_HIDDEN_VMI)
			put_str(&o, "hidden-vmi");
		put_str(&o, "\"");
	}
	put_str(&o, "}");
	t->records++;
	if (t->line)
		t->line(t->ctx, t->buf);
	if (t->rec) {
		struct cot_rec w = *r;

		/* the shipped record carries wall-clock times too */
		w.first_ns += t->epoch_off;
		w.last_ns += t->epoch_off;
		t->rec(t->rec_ctx, &w);
	}
}

void cot_bv_set_rec(struct cot_bv *t, cot_bv_rec_cb rec, void *ctx)
{
	t->rec = rec;
	t->rec_ctx = ctx;
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

/* core/vmi's read interface on the module's (plain-typed) one */
static int bv_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct cot_bv *t = ctx;

	return t->read(t->read_ctx, gpa, buf, len) ? -COT_EFAULT : 0;
}

int cot_bv_vmi_attach(struct cot_bv *t, cot_bv_read_fn read, void *ctx,
		      const struct cot_bv_range *ranges, unsigned int n,
		      unsigned long long now_ns)
{
	unsigned int i;

	if (!read || !ranges || n == 0 || n > COT_VMI_MAX_RANGES)
		return -COT_EINVAL;
	cot_memset(&t->mem, 0, sizeof(t->mem));
	t->read = read;
	t->read_ctx = ctx;
	t->mem.read = bv_read;
	t->mem.ctx = t;
	for (i = 0; i < n; i++) {
		t->mem.ranges[i].start = ranges[i].start;
		t->mem.ranges[i].len = ranges[i].len;
	}
	t->mem.nranges = n;
	t->vmi_range = 0;
	t->vmi_off = 0;
	cot_sched_init(&t->vmi_gate, BV_VMI_GAP_NS, now_ns);
	t->vmi_state = BV_VMI_SEARCH;
	return 0;
}

static void vmi_line(struct cot_bv *t, const char *what, int64_t v)
{
	struct out o = { t->buf, 0, sizeof(t->buf) };

	put_str(&o, what);
	if (v) {
		put_str(&o, " ");
		if (v < 0) {
			put_str(&o, "-");
			v = -v;
		}
		put_u64(&o, (uint64_t)v);
	}
	if (t->line)
		t->line(t->ctx, t->buf);
}

static void vmi_found(struct cot_bv *t)
{
	struct out o = { t->buf, 0, sizeof(t->buf) };

	put_str(&o, "cotrack: vmi kernel osrelease=");
	put_str(&o, t->vmi.ci.osrelease);
	put_str(&o, " kaslr_offset=");
	put_hex(&o, t->vmi.ci.kerneloffset);
	put_str(&o, " vmcoreinfo_pa=");
	put_hex(&o, t->vmi.vmci_pa);
	put_str(&o, " levels=");
	put_u64(&o, t->vmi.levels);
	put_str(&o, " kallsyms=");
	put_u64(&o, t->vmi.nsyms);
	put_str(&o, " passes=");
	put_u64(&o, t->vmi_passes + 1);
	put_str(&o, " slices=");
	put_u64(&o, t->vmi_slices);
	put_str(&o, " bytes_read=");
	put_u64(&o, t->vmi.bytes_read);
	if (t->line)
		t->line(t->ctx, t->buf);
}

/*
 * One slice of discovery: cot_vmi_open over [off, off + slice) of the
 * current range.  Reads may go anywhere in RAM (kallsyms, page tables);
 * only the scan for the VMCOREINFO text is sliced.  The slice is
 * bounded (BV_VMI_SLICE), and so is what cot_vmi_open spends on
 * candidates (COT_VMI_OPEN_MAX_BYTES / _WALKS).
 */
static void vmi_step(struct cot_bv *t, uint64_t now_ns)
{
	struct cot_vmi_mem m = t->mem;
	const struct cot_vmi_range *r = &t->mem.ranges[t->vmi_range];
	uint64_t left = r->len - t->vmi_off;
	int rc;

	m.nranges = 1;
	m.ranges[0].start = r->start + t->vmi_off;
	m.ranges[0].len = COT_MIN(left, BV_VMI_SLICE);
	t->vmi_slices++;
	rc = cot_vmi_open(&t->vmi, &m);
	if (rc == 0 || rc == -COT_ENOTSUP) {
		t->vmi.mem = t->mem; /* later reads: all of RAM */
		vmi_found(t);
		if (cot_vmi_btf_range(&t->vmi, &t->btf_va, &t->btf_len) < 0) {
			vmi_line(t, "cotrack: vmi: the kernel has no BTF", 0);
			t->vmi_state = BV_VMI_GAVE_UP;
			return;
		}
		t->vmi_state = BV_VMI_NEED_BTF;
		return;
	}
	t->vmi_off += m.ranges[0].len;
	if (t->vmi_off < r->len)
		return;
	t->vmi_off = 0;
	if (++t->vmi_range < t->mem.nranges)
		return;
	/* a pass over all RAM found nothing: again later, a bounded number
	 * of times */
	t->vmi_range = 0;
	if (++t->vmi_passes >= BV_VMI_MAX_PASSES) {
		t->vmi_state = BV_VMI_GAVE_UP;
		return;
	}
	cot_sched_init(&t->vmi_gate, BV_VMI_GAP_NS, now_ns + BV_VMI_RETRY_NS);
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
	cot_bv_tick(t, now_ns);
}

int cot_bv_vmi_btf(struct cot_bv *t, unsigned long *need,
		   unsigned long *need_idx)
{
	if (t->btf_release) {
		t->btf_release = false;
		t->btf = NULL;
		t->btf_idx = NULL;
		return 2;
	}
	if (t->vmi_state != BV_VMI_NEED_BTF)
		return 0;
	*need = t->btf_len;
	*need_idx = cot_vmi_btf_memsize(t->btf_len);
	return 1;
}

void cot_bv_vmi_btf_give(struct cot_bv *t, void *buf, void *idx)
{
	if (t->vmi_state != BV_VMI_NEED_BTF)
		return;
	if (!buf || !idx) {
		vmi_line(t, "cotrack: vmi: no memory for the guest's BTF",
			 (int64_t)t->btf_len);
		t->vmi_state = BV_VMI_GAVE_UP;
		t->btf_release = true;
		return;
	}
	t->btf = buf;
	t->btf_idx = idx;
	t->btf_idx_len = cot_vmi_btf_memsize(t->btf_len);
	t->btf_done = 0;
	t->vmi_state = BV_VMI_READ_BTF;
}

/* One chunk of the guest's BTF; at the end, the profile from it.
 * Returns the step done (COT_BV_STEP_BTF or _PROFILE). */
static int btf_step(struct cot_bv *t, uint64_t now_ns)
{
	struct cot_vmi_profile p;
	size_t n = COT_MIN(t->btf_len - t->btf_done, (size_t)BV_BTF_CHUNK);
	int rc;

	rc = cot_vmi_read_va(&t->vmi, t->btf_va + t->btf_done,
			     t->btf + t->btf_done, n);
	if (rc < 0) {
		vmi_line(t, "cotrack: vmi: reading the guest's BTF failed", rc);
		goto out;
	}
	t->btf_done += n;
	if (t->btf_done < t->btf_len)
		return COT_BV_STEP_BTF;
	rc = cot_vmi_profile_btf(t->btf, t->btf_len, t->btf_idx, t->btf_idx_len,
				 &p);
	if (rc == 0)
		rc = cot_vmi_set_profile(&t->vmi, &p);
	if (rc < 0) {
		vmi_line(t, "cotrack: vmi: no profile from the guest's BTF",
			 rc);
		goto out;
	}
	vmi_line(t, "cotrack: vmi: profile from the guest's BTF, bytes",
		 (int64_t)t->btf_len);
	t->prev = t->socks[0];
	t->cur = t->socks[1];
	t->nprev = 0;
	t->in_scan = false;
	cot_sched_init(&t->vmi_gate, BV_SCAN_INTERVAL_NS, now_ns);
	cot_merge_vmi_up(t->m, now_ns);
	t->vmi_state = BV_VMI_SCAN;
	t->btf_release = true;
	return COT_BV_STEP_PROFILE;
out:
	t->vmi_state = BV_VMI_GAVE_UP;
	t->btf_release = true;
	return COT_BV_STEP_PROFILE;
}

static void on_diff(void *ctx, enum cot_vmi_event ev,
		    const struct cot_vmi_sock *old,
		    const struct cot_vmi_sock *now)
{
	struct cot_bv *t = ctx;

	cot_merge_sock(t->m, ev, old, now);
}

/*
 * One budgeted step of the socket scan; a complete snapshot is diffed
 * against the last one and its events go to the merge.  Returns the
 * step done (COT_BV_STEP_NONE when no scan was due).
 */
static int scan_step(struct cot_bv *t, uint64_t now_ns)
{
	struct cot_vmi_sock *tmp;
	int rc;

	if (!t->in_scan) {
		if (!cot_sched_due(&t->vmi_gate, now_ns))
			return COT_BV_STEP_NONE;
		cot_vmi_scan_start(&t->vmi, &t->scan, t->cur, BV_VMI_CAP);
		t->scan_ns = now_ns;
		t->in_scan = true;
	}
	t->scan_steps++;
	rc = cot_vmi_scan_step(&t->vmi, &t->scan, BV_STEP_BYTES, BV_STEP_WALKS,
			       NULL);
	if (rc == 0)
		return COT_BV_STEP_SCAN;
	t->in_scan = false;
	if (rc < 0) {
		if (t->scan_errors++ == 0)
			vmi_line(t, "cotrack: vmi: scan failed", rc);
		return COT_BV_STEP_SCAN;
	}
	if (t->scan.st.truncated)
		t->scans_truncated++;
	cot_merge_scan_begin(t->m, t->scan_ns);
	cot_vmi_diff(t->prev, t->nprev, t->cur, t->scan.n, on_diff, t);
	cot_merge_scan_end(t->m);
	tmp = t->prev;
	t->prev = t->cur;
	t->cur = tmp;
	t->nprev = t->scan.n;
	if (t->scans++ == 0) {
		struct out o = { t->buf, 0, sizeof(t->buf) };

		put_str(&o, "cotrack: vmi: first scan: sockets=");
		put_u64(&o, t->scan.n);
		put_str(&o, " bytes=");
		put_u64(&o, t->scan.st.bytes_read);
		put_str(&o, " nets=");
		put_u64(&o, t->scan.st.nets);
		put_str(&o, " tables=");
		put_u64(&o, t->scan.st.tables);
		put_str(&o, " buckets=");
		put_u64(&o, t->scan.st.buckets);
		put_str(&o, " steps=");
		put_u64(&o, t->scan.st.steps);
		put_str(&o, " errors=");
		put_u64(&o, (uint64_t)t->scan.st.err_read +
				    t->scan.st.err_loop + t->scan.st.err_long +
				    t->scan.st.err_family +
				    t->scan.st.err_table + t->scan.st.err_net +
				    t->scan.st.err_budget);
		if (t->line)
			t->line(t->ctx, t->buf);
	}
	return COT_BV_STEP_SCAN_END;
}

int cot_bv_tick(struct cot_bv *t, unsigned long long now_ns)
{
	cot_merge_expire(t->m, now_ns, BV_EXPIRE_BUDGET);
	switch (t->vmi_state) {
	case BV_VMI_SEARCH:
		if (!cot_sched_due(&t->vmi_gate, now_ns))
			break;
		vmi_step(t, now_ns);
		return COT_BV_STEP_SEARCH;
	case BV_VMI_READ_BTF:
		return btf_step(t, now_ns);
	case BV_VMI_SCAN:
		return scan_step(t, now_ns);
	default:
		break;
	}
	return COT_BV_STEP_NONE;
}

void cot_bv_exit_gate(struct cot_bv *t, unsigned long long interval,
		      unsigned long long tsc)
{
	cot_sched_init(&t->exit_gate, interval, tsc);
}

int cot_bv_exit(struct cot_bv *t, unsigned long long tsc,
		unsigned long long now_ns, unsigned long long *next)
{
	int step = -1;

	if (cot_sched_due(&t->exit_gate, tsc))
		step = cot_bv_tick(t, now_ns);
	*next = t->exit_gate.interval ? t->exit_gate.next : ~0ull;
	return step;
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
	put_str(&o, " scans=");
	put_u64(&o, t->scans);
	put_str(&o, " scan_steps=");
	put_u64(&o, t->scan_steps);
	put_str(&o, " truncated=");
	put_u64(&o, t->scans_truncated);
	put_str(&o, " by_vmi=");
	put_u64(&o, ms.by_seen[COT_SEEN_VMI]);
	put_str(&o, " by_both=");
	put_u64(&o, ms.by_seen[COT_SEEN_BOTH]);
	if (t->line)
		t->line(t->ctx, t->buf);
}
