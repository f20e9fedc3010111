// SPDX-License-Identifier: MIT
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotrack/pkt.h"
#include "clock.h"
#include "replay.h"

struct replay {
	const struct cot_replay_opts *o;
	struct cot_replay_stats *st;
	uint64_t seq;
	struct cot_rec out; /* the record given to on_record, numbered */
	bool out_named;	    /* out holds owners or names */
};

/* on_flow() copies around them: owners and names lie together. */
_Static_assert(offsetof(struct cot_rec, src_owner) <
			       offsetof(struct cot_rec, dst_owner) &&
		       offsetof(struct cot_rec, dst_owner) <
			       offsetof(struct cot_rec, src_name) &&
		       offsetof(struct cot_rec, src_name) <
			       offsetof(struct cot_rec, dst_name) &&
		       offsetof(struct cot_rec, dst_name) <
			       offsetof(struct cot_rec, tun_type),
	       "struct cot_rec: owners and names between netns and tunnel");

static bool named(const struct cot_rec *r)
{
	return r->src_owner.pid || r->dst_owner.pid || r->src_name[0] ||
	       r->dst_name[0];
}

/*
 * The record, numbered.  Its owners and names (1 KiB of the 1.3) are
 * copied only when it has any, or the last one had: otherwise out's are
 * zero already, and a copy of the whole was 2% of cotrack replay's time.
 */
static void on_flow(void *ctx, enum cot_flow_event ev, const struct cot_rec *r,
		    uint32_t slot)
{
	struct replay *rp = ctx;
	struct cot_rec *out = &rp->out;
	bool nm;

	(void)slot;
	if (ev != COT_FLOW_ENDED)
		return;
	nm = named(r);
	if (nm || rp->out_named) {
		*out = *r;
		rp->out_named = nm;
	} else {
		memcpy(out, r, offsetof(struct cot_rec, src_owner));
		memcpy(&out->tun_type, &r->tun_type,
		       sizeof(*r) - offsetof(struct cot_rec, tun_type));
	}
	out->seq = ++rp->seq;
	rp->st->records++;
	if (rp->o->on_record)
		rp->o->on_record(rp->o->ctx, out);
}

/*
 * Link types other than Ethernet are tracked by giving the frame an
 * Ethernet header: the link header is dropped and the IP version picks
 * the EtherType.  Returns the L3 offset in the frame, or -1.
 */
static int l3_offset(int dlt, const uint8_t *d, uint32_t caplen,
		     uint16_t *etype)
{
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		if (caplen < 1)
			return -1;
		*etype = (d[0] >> 4) == 6 ? 0x86dd : 0x0800;
		return 0;
	case DLT_LINUX_SLL: /* 16-byte cooked header, protocol at 14 */
		if (caplen < 16)
			return -1;
		*etype = cot_get_be16(d + 14);
		return 16;
	case DLT_LINUX_SLL2: /* 20-byte header, protocol first */
		if (caplen < 20)
			return -1;
		*etype = cot_get_be16(d);
		return 20;
	}
	return -1;
}

static int supported(int dlt)
{
	return dlt == DLT_EN10MB || dlt == DLT_RAW || dlt == DLT_IPV4 ||
	       dlt == DLT_IPV6 || dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2;
}

#define HUGE ((size_t)2 << 20)

static double now_s(void)
{
	return (double)cot_clock_mono_ns() / 1e9;
}

/* Where frames come from: libpcap, or a classic pcap file in memory. */
struct src {
	pcap_t *p;
	const uint8_t *mem; /* the file, or a window of it (fd != -1) */
	size_t len, off;
	bool swap, nsec;
	int fd; /* read() in big chunks into buf */
	uint8_t *buf;
	size_t cap;
	uint64_t base; /* file offset of buf[0] */
	bool eof;
	char *rerr;
};

/*
 * Make at least @need bytes available at s->off (fd sources): move what
 * is left to the front and read until the buffer is full or the file
 * ends.  Reading big chunks costs far less here than libpcap's two
 * fread()s per frame or mapping the file (docs/bench.md).  The chunk is
 * 256 KiB (and room for the largest record, 16 + 262144 bytes): what
 * read() copied is then still in the cache when the frames are parsed,
 * which it was not with 1 MiB.
 */
#define READ_CHUNK (16 + 262144 + 4096)
static void refill(struct src *s, size_t need)
{
	size_t left;

	if (s->fd < 0 || s->len - s->off >= need || s->eof)
		return;
	left = s->len - s->off;
	memmove(s->buf, s->buf + s->off, left);
	s->base += s->off;
	s->off = 0;
	s->len = left;
	while (s->len < s->cap) {
		ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				s->rerr = strerror(errno);
			s->eof = true;
			break;
		}
		s->len += (size_t)n;
	}
	s->mem = s->buf;
}

struct frame {
	const uint8_t *data;
	uint32_t caplen, wirelen;
	uint64_t ts;
};

static uint32_t rd32(const struct src *s, const uint8_t *b)
{
	uint32_t v = cot_get_le32(b);

	return s->swap ? __builtin_bswap32(v) : v;
}

/*
 * Next frame of a classic pcap file held in memory.  Returns 1, 0 at the
 * end, -1 when the file is cut in the middle of a record or a record
 * claims more than any capture holds.
 */
static int mem_next_slow(struct src *s, struct frame *f, char *err,
			 size_t errlen)
{
	const uint8_t *h;
	uint32_t incl;

	refill(s, 16);
	if (s->rerr) {
		snprintf(err, errlen, "read error: %s", s->rerr);
		return -1;
	}
	if (s->off == s->len)
		return 0;
	if (s->len - s->off < 16) {
		snprintf(err, errlen,
			 "truncated record header at offset %" PRIu64,
			 s->base + s->off);
		return -1;
	}
	h = s->mem + s->off;
	incl = rd32(s, h + 8);
	/* libpcap's own bound: no record is larger than 256 KiB. */
	if (incl > 262144) {
		snprintf(err, errlen,
			 "record at offset %" PRIu64 " claims %u bytes",
			 s->base + s->off, incl);
		return -1;
	}
	refill(s, 16 + (size_t)incl);
	h = s->mem + s->off;
	if (s->len - s->off - 16 < incl) {
		snprintf(err, errlen,
			 "truncated dump file: record at offset %" PRIu64
			 " needs %u bytes, %zu left",
			 s->base + s->off, incl, s->len - s->off - 16);
		return -1;
	}
	f->data = h + 16;
	f->caplen = incl;
	f->wirelen = rd32(s, h + 12);
	f->ts = (uint64_t)rd32(s, h) * 1000000000ULL +
		(uint64_t)rd32(s, h + 4) * (s->nsec ? 1 : 1000);
	s->off += 16 + (size_t)incl;
	return 1;
}

/*
 * mem_next_slow() without its calls when the whole record is in the
 * buffer already (all but one record of each 256 KiB read): the header's
 * length checked as there, nothing to refill, no read error to report
 * (one is reported as soon as it happened, as there).
 */
static inline int mem_next(struct src *s, struct frame *f, char *err,
			   size_t errlen)
{
	size_t left = s->len - s->off;
	const uint8_t *h = s->mem + s->off;
	uint32_t incl;

	if (left < 16 || s->rerr)
		return mem_next_slow(s, f, err, errlen);
	incl = rd32(s, h + 8);
	if (incl > 262144 || left - 16 < incl)
		return mem_next_slow(s, f, err, errlen);
	f->data = h + 16;
	f->caplen = incl;
	f->wirelen = rd32(s, h + 12);
	f->ts = (uint64_t)rd32(s, h) * 1000000000ULL +
		(uint64_t)rd32(s, h + 4) * (s->nsec ? 1 : 1000);
	s->off += 16 + (size_t)incl;
	return 1;
}

static int src_next(struct src *s, struct frame *f, char *err, size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *d;
	int rc;

	if (s->mem)
		return mem_next(s, f, err, errlen);
	rc = pcap_next_ex(s->p, &h, &d);
	if (rc == 1) {
		f->data = d;
		f->caplen = h->caplen;
		f->wirelen = h->len;
		/* Nanosecond precision was asked for at open time. */
		f->ts = (uint64_t)h->ts.tv_sec * 1000000000ULL +
			(uint64_t)h->ts.tv_usec;
		return 1;
	}
	if (rc == PCAP_ERROR) {
		snprintf(err, errlen, "%s", pcap_geterr(s->p));
		return -1;
	}
	return 0;
}

static void progress(const struct cot_replay_opts *o, const struct src *s,
		     const struct cot_replay_stats *st, int final)
{
	FILE *f = s->p ? pcap_file(s->p) : NULL;
	long pos = s->mem ? (long)(s->base + s->off) : f ? ftell(f) : -1;

	if (o->size > 0 && pos >= 0)
		fprintf(stderr,
			"\r%s: %3d%% %" PRIu64 " frames, %u open flows ",
			o->name, (int)(pos * 100 / o->size), st->frames,
			st->flow.active);
	else
		fprintf(stderr, "\r%s: %" PRIu64 " frames, %u open flows ",
			o->name, st->frames, st->flow.active);
	if (final)
		fputc('\n', stderr);
}

/*
 * Count @fr and parse it into @pkt, giving a non-Ethernet frame an
 * Ethernet header first.  Returns 1 when the link header is bad.
 */
static int prepare(const struct src *s, int dlt, const struct frame *fr,
		   uint8_t *scratch, struct cot_pkt *pkt,
		   struct cot_replay_stats *st, const struct cot_pkt_cfg *pc)
{
	const uint8_t *frame = fr->data;
	uint32_t caplen = fr->caplen, wirelen = fr->wirelen;

	(void)s;
	st->frames++;
	st->bytes += fr->wirelen;
	if (caplen < wirelen)
		st->snaplen_cut++;
	if (wirelen < caplen) /* corrupt header: trust what we hold */
		wirelen = caplen;
	if (dlt != DLT_EN10MB) {
		uint16_t et = 0;
		int off = l3_offset(dlt, fr->data, caplen, &et);

		if (off < 0) {
			st->bad_linktype++;
			return 1;
		}
		memset(scratch, 0, 12);
		cot_put_be16(scratch + 12, et);
		memcpy(scratch + 14, fr->data + off, caplen - (uint32_t)off);
		frame = scratch;
		caplen = caplen - (uint32_t)off + 14;
		wirelen = wirelen - (uint32_t)off + 14;
	}
	cot_pkt_parse_cfg(pkt, frame, caplen, wirelen, pc);
	return 0;
}

static int run(struct src *s, int dlt, const struct cot_replay_opts *o,
	       struct cot_replay_stats *st, char *err, size_t errlen)
{
	struct replay rp = { .o = o, .st = st };
	struct cot_flow_params fp = o->fp;
	struct cot_flowtab *t;
	struct frame fr;
	uint8_t *scratch = NULL;
	uint64_t now = 0, last_expire = 0;
	double next_progress = 0;
	char why[PCAP_ERRBUF_SIZE + 128];
	struct cot_pkt pk[COT_FLOW_BATCH];
	uint64_t nows[COT_FLOW_BATCH];
	uint32_t nb;
	void *mem;
	size_t len;
	int rc, ret = 0;

	memset(st, 0, sizeof(*st));
	st->linktype = dlt;
	if (err && errlen)
		err[0] = '\0';
	if (!supported(dlt)) {
		snprintf(err, errlen, "link type %s (%d) is not supported",
			 pcap_datalink_val_to_name(dlt)
				 ? pcap_datalink_val_to_name(dlt)
				 : "?",
			 dlt);
		return -COT_ENOTSUP;
	}
	fp.cb = on_flow;
	fp.cb_ctx = &rp;
	len = cot_flowtab_memsize(&fp);
	if (!len) {
		snprintf(err, errlen, "invalid table parameters");
		return -COT_EINVAL;
	}
	/* On huge pages when the kernel gives them (THP "madvise"): fewer
	 * TLB misses for the table's random accesses (bench/engine, batches,
	 * streaming: 3-29% less time a packet in three pairs). */
	len = (len + HUGE - 1) & ~(size_t)(HUGE - 1);
	mem = aligned_alloc(HUGE, len);
	if (mem)
		madvise(mem, len, MADV_HUGEPAGE);
	if (dlt != DLT_EN10MB)
		scratch = malloc(14 + 262144);
	if (!mem || (dlt != DLT_EN10MB && !scratch)) {
		free(mem);
		free(scratch);
		snprintf(err, errlen, "cannot allocate %zu bytes for the table",
			 len);
		return -COT_ENOMEM;
	}
	cot_flowtab_init(&t, mem, len, &fp);
	if (o->progress)
		next_progress = now_s() + 0.5;

	/*
	 * Frames are parsed as they are read and their lookups done in
	 * batches (cot_flowtab_update_batch: the cache misses of several
	 * overlap).  The order of work is the same as one frame at a time:
	 * for each frame, its time; the expiry when one is due, after the
	 * frames before it (so the batch is cut there); its update.
	 */
	nb = 0;
	for (;;) {
		rc = src_next(s, &fr, why, sizeof(why));
		if (rc != 1)
			break;
		if (prepare(s, dlt, &fr, scratch, &pk[nb], st, o->pc))
			continue; /* counted: bad link header */
		/* Captures can step back in time; the table cannot. */
		if (fr.ts > now)
			now = fr.ts;
		if (now - last_expire >= 1000000000ULL) {
			cot_flowtab_update_batch(t, pk, nows, nb, NULL);
			pk[0] = pk[nb];
			nb = 0;
			cot_flowtab_expire(t, now, 0);
			last_expire = now;
		}
		nows[nb++] = now;
		if (nb == COT_FLOW_BATCH) {
			cot_flowtab_update_batch(t, pk, nows, nb, NULL);
			nb = 0;
		}
		if (o->progress && (st->frames & 0xffff) == 0 &&
		    now_s() >= next_progress) {
			cot_flowtab_stats(t, &st->flow);
			progress(o, s, st, 0);
			next_progress = now_s() + 0.5;
		}
	}
	cot_flowtab_update_batch(t, pk, nows, nb, NULL);
	if (rc < 0) {
		snprintf(err, errlen,
			 "capture is corrupt or truncated after %" PRIu64
			 " frames: %s",
			 st->frames, why);
		ret = -COT_EBADMSG;
	}
	cot_flowtab_flush(t, now, COT_END_OPEN);
	cot_flowtab_stats(t, &st->flow);
	if (o->progress)
		progress(o, s, st, 1);
	free(mem);
	free(scratch);
	return ret;
}

int cot_replay_pcap(pcap_t *p, const struct cot_replay_opts *o,
		    struct cot_replay_stats *st, char *err, size_t errlen)
{
	struct src s = { .p = p, .fd = -1 };

	return run(&s, pcap_datalink(p), o, st, err, errlen);
}

/* Sets up @s from the 24-byte file header; -COT_ENOTSUP if not pcap. */
static int classic_header(struct src *s, const uint8_t *data, size_t len,
			  int *dlt)
{
	uint32_t magic, linktype;

	if (len < 24)
		return -COT_ENOTSUP;
	magic = cot_get_le32(data);
	switch (magic) {
	case 0xa1b2c3d4:
		break;
	case 0xa1b23c4d:
		s->nsec = true;
		break;
	case 0xd4c3b2a1:
		s->swap = true;
		break;
	case 0x4d3cb2a1:
		s->swap = s->nsec = true;
		break;
	default:
		return -COT_ENOTSUP; /* pcapng or not a capture: libpcap */
	}
	/* Major version 2 only; the low 16 bits of the link field are the
	 * link type (the upper bits carry FCS information). */
	if ((s->swap ? __builtin_bswap16(cot_get_le16(data + 4))
		     : cot_get_le16(data + 4)) != 2)
		return -COT_ENOTSUP;
	linktype = rd32(s, data + 20) & 0xffff;
	/* LINKTYPE_ numbers equal DLT_ ones but for raw IP (101 vs 12). */
	*dlt = linktype == 101 ? DLT_RAW : (int)linktype;
	return 0;
}

int cot_replay_mem(const uint8_t *data, size_t len,
		   const struct cot_replay_opts *o, struct cot_replay_stats *st,
		   char *err, size_t errlen)
{
	struct src s = { .mem = data, .len = len, .off = 24, .fd = -1 };
	int dlt;

	if (classic_header(&s, data, len, &dlt) < 0)
		return -COT_ENOTSUP;
	return run(&s, dlt, o, st, err, errlen);
}

int cot_replay_fd(int fd, const struct cot_replay_opts *o,
		  struct cot_replay_stats *st, char *err, size_t errlen)
{
	struct src s = { .fd = fd, .cap = READ_CHUNK };
	uint8_t hdr[24];
	size_t got = 0;
	int dlt, rc;

	while (got < sizeof(hdr)) {
		ssize_t n = pread(fd, hdr + got, sizeof(hdr) - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -COT_ENOTSUP;
		got += (size_t)n;
	}
	if (classic_header(&s, hdr, sizeof(hdr), &dlt) < 0)
		return -COT_ENOTSUP;
	if (lseek(fd, 24, SEEK_SET) != 24)
		return -COT_ENOTSUP;
	s.buf = malloc(s.cap);
	if (!s.buf) {
		snprintf(err, errlen, "out of memory");
		return -COT_ENOMEM;
	}
	s.mem = s.buf;
	s.base = 24;
	if (o->on_header)
		o->on_header(o->ctx);
	rc = run(&s, dlt, o, st, err, errlen);
	free(s.buf);
	return rc;
}

void cot_replay_print_stats(FILE *f, const struct cot_replay_stats *st)
{
	const struct cot_flow_stats *fs = &st->flow;
	unsigned int i;

	fprintf(f, "frames            %" PRIu64 "\n", st->frames);
	fprintf(f, "bytes (on wire)   %" PRIu64 "\n", st->bytes);
	fprintf(f, "tracked           %" PRIu64 "\n", fs->tracked);
	fprintf(f, "not-ip            %" PRIu64 "\n", fs->not_ip);
	fprintf(f, "snaplen-cut       %" PRIu64 "\n", st->snaplen_cut);
	if (st->bad_linktype)
		fprintf(f, "bad-link-header   %" PRIu64 "\n", st->bad_linktype);
	/* The tunnel reasons only ever stop a decapsulation (below). */
	for (i = 0; i < COT_PKT_TRUNC_TUN; i++) {
		if (i == COT_PKT_OK || i == COT_PKT_NOT_IP)
			continue;
		fprintf(f, "dropped %-17s %" PRIu64 "\n",
			cot_pkt_reason_name(i), fs->dropped[i]);
	}
	if (fs->tunneled)
		fprintf(f, "decapsulated      %" PRIu64 "\n", fs->tunneled);
	for (i = 0; i < COT_PKT__COUNT; i++) {
		if (fs->inner_dropped[i])
			fprintf(f, "not decapsulated %-10s %" PRIu64 "\n",
				cot_pkt_reason_name(i), fs->inner_dropped[i]);
	}
	fprintf(f, "fragment-orphans  %" PRIu64 "\n", fs->frag_orphan);
	fprintf(f, "flows opened      %" PRIu64 "\n", fs->opened);
	fprintf(f, "flows ended       %" PRIu64 "\n", fs->ended);
	for (i = 0; i < COT_END__COUNT; i++)
		fprintf(f, "  end %-12s  %" PRIu64 "\n", cot_end_name(i),
			fs->ended_by[i]);
	fprintf(f, "evicted (full)    %" PRIu64 "\n", fs->evicted);
	fprintf(f, "max open flows    %u\n", fs->active_max);
	fprintf(f, "records           %" PRIu64 "\n", st->records);
}
