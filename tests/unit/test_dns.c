// SPDX-License-Identifier: MIT
/*
 * core/dns: queries and answers assembled here byte by byte, in real
 * Ethernet/IP/UDP frames parsed by core/pkt: compressed names, pointer
 * loops, CNAME chains, TTLs, AAAA, truncation, spoofed answers, a full
 * table.
 *
 * Frames are handed over as heap copies of exactly their length, so
 * ASan reports any read past the end.
 *
 * `test_dns --write-corpus DIR` writes query+answer pairs as the
 * libFuzzer seed corpus (fuzz/corpus/dns/, format in fuzz/fuzz_dns.c).
 */
#include <errno.h>
#include <stdint.h>

#include "t.h"
#include "cotrack/dns.h"

#define S 1000000000ULL

/* --- DNS message builder ----------------------------------------------- */

struct msg {
	uint8_t b[1400];
	uint32_t n;
};

static void m_u8(struct msg *m, uint8_t v)
{
	if (m->n >= sizeof(m->b))
		abort();
	m->b[m->n++] = v;
}

static void m_u16(struct msg *m, uint16_t v)
{
	m_u8(m, (uint8_t)(v >> 8));
	m_u8(m, (uint8_t)v);
}

static void m_u32(struct msg *m, uint32_t v)
{
	m_u16(m, (uint16_t)(v >> 16));
	m_u16(m, (uint16_t)v);
}

static void m_hdr(struct msg *m, uint16_t id, uint16_t fl, uint16_t qd,
		  uint16_t an)
{
	m->n = 0;
	m_u16(m, id);
	m_u16(m, fl);
	m_u16(m, qd);
	m_u16(m, an);
	m_u16(m, 0);
	m_u16(m, 0);
}

/* @d dotted; a label "" ends it without the root (for a pointer). */
static void m_labels(struct msg *m, const char *d)
{
	while (*d) {
		const char *e = strchr(d, '.');
		size_t l = e ? (size_t)(e - d) : strlen(d);

		m_u8(m, (uint8_t)l);
		for (size_t i = 0; i < l; i++)
			m_u8(m, (uint8_t)d[i]);
		d += l;
		if (*d == '.')
			d++;
	}
}

static void m_name(struct msg *m, const char *d)
{
	m_labels(m, d);
	m_u8(m, 0);
}

static void m_ptr(struct msg *m, uint16_t off)
{
	m_u16(m, (uint16_t)(0xc000 | off));
}

static void m_question(struct msg *m, const char *name, uint16_t qtype)
{
	m_name(m, name);
	m_u16(m, qtype);
	m_u16(m, 1);
}

/* Record header after an owner name already written. */
static void m_rr(struct msg *m, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	m_u16(m, type);
	m_u16(m, 1);
	m_u32(m, ttl);
	m_u16(m, rdlen);
}

static void m_a(struct msg *m, uint32_t ttl, const uint8_t ip[4])
{
	m_rr(m, 1, ttl, 4);
	for (int i = 0; i < 4; i++)
		m_u8(m, ip[i]);
}

static void m_cname(struct msg *m, uint32_t ttl, const char *target)
{
	uint32_t at;

	m_rr(m, 5, ttl, 0);
	at = m->n;
	m_name(m, target);
	m->b[at - 2] = (uint8_t)((m->n - at) >> 8);
	m->b[at - 1] = (uint8_t)(m->n - at);
}

/* --- frames ------------------------------------------------------------ */

struct ep {
	int v; /* 4 or 6 */
	uint8_t ip[16];
	uint16_t port;
};

static const struct ep VM_A = { 4, { 10, 0, 0, 2 }, 40000 };
static const struct ep VM_B = { 4, { 10, 0, 0, 3 }, 40000 };
static const struct ep RES = { 4, { 10, 0, 0, 53 }, 53 };
static const struct ep VM_A6 = { 6, { 0xfd, 0, [15] = 2 }, 41000 };
static const struct ep RES6 = { 6, { 0xfd, 0, [15] = 0x53 }, 53 };

static uint32_t mk_frame(uint8_t *f, const struct ep *s, const struct ep *d,
			 const struct msg *m)
{
	uint32_t n = 0, ulen = 8 + m->n;

	memset(f, 0, 14);
	f[12] = s->v == 4 ? 0x08 : 0x86;
	f[13] = s->v == 4 ? 0x00 : 0xdd;
	n = 14;
	if (s->v == 4) {
		uint8_t *h = f + n;

		memset(h, 0, 20);
		h[0] = 0x45;
		h[2] = (uint8_t)((20 + ulen) >> 8);
		h[3] = (uint8_t)(20 + ulen);
		h[8] = 64;
		h[9] = 17;
		memcpy(h + 12, s->ip, 4);
		memcpy(h + 16, d->ip, 4);
		n += 20;
	} else {
		uint8_t *h = f + n;

		memset(h, 0, 40);
		h[0] = 0x60;
		h[4] = (uint8_t)(ulen >> 8);
		h[5] = (uint8_t)ulen;
		h[6] = 17;
		h[7] = 64;
		memcpy(h + 8, s->ip, 16);
		memcpy(h + 24, d->ip, 16);
		n += 40;
	}
	f[n] = (uint8_t)(s->port >> 8);
	f[n + 1] = (uint8_t)s->port;
	f[n + 2] = (uint8_t)(d->port >> 8);
	f[n + 3] = (uint8_t)d->port;
	f[n + 4] = (uint8_t)(ulen >> 8);
	f[n + 5] = (uint8_t)ulen;
	f[n + 6] = f[n + 7] = 0;
	n += 8;
	memcpy(f + n, m->b, m->n);
	return n + m->n;
}

/* Feed @f[0..caplen) (of @wire bytes) as a heap copy of exactly caplen. */
static void feed_raw(struct cot_dns *t, const uint8_t *f, uint32_t caplen,
		     uint32_t wire, bool from_guest, uint64_t now)
{
	uint8_t *c = malloc(caplen ? caplen : 1);
	struct cot_pkt p;

	memcpy(c, f, caplen);
	cot_pkt_parse(&p, c, caplen, wire);
	cot_dns_frame(t, &p, c, caplen, from_guest, now);
	free(c);
}

static void feed(struct cot_dns *t, const struct ep *s, const struct ep *d,
		 const struct msg *m, bool from_guest, uint64_t now)
{
	uint8_t f[1600];
	uint32_t n = mk_frame(f, s, d, m);

	feed_raw(t, f, n, n, from_guest, now);
}

static struct cot_dns *mk(uint32_t names, uint32_t queries, void **mem)
{
	struct cot_dns_params p;
	struct cot_dns *t = NULL;
	size_t n;

	cot_dns_params_default(&p);
	p.max_names = names;
	p.max_queries = queries;
	p.hash_seed = 12345;
	n = cot_dns_memsize(&p);
	*mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	if (!*mem || cot_dns_init(&t, *mem, n, &p) < 0)
		return NULL;
	return t;
}

static struct cot_addr a4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct cot_addr x;
	uint8_t v[4] = { a, b, c, d };

	cot_addr_from_v4(&x, v);
	return x;
}

static const char *name_of(struct cot_dns *t, struct cot_addr a, uint64_t now)
{
	static char buf[COT_DNS_NAMELEN];

	cot_dns_lookup(t, &a, now, buf, sizeof(buf));
	return buf;
}

static void query(struct cot_dns *t, const struct ep *c, const struct ep *srv,
		  uint16_t id, const char *name, uint16_t qtype, uint64_t now)
{
	struct msg m;

	m_hdr(&m, id, 0x0100, 1, 0);
	m_question(&m, name, qtype);
	feed(t, c, srv, &m, true, now);
}

/* An answer to @name: one A @ip owned by a pointer to the question. */
static void answer_a(struct msg *m, uint16_t id, const char *name, uint32_t ttl,
		     const uint8_t ip[4])
{
	m_hdr(m, id, 0x8180, 1, 1);
	m_question(m, name, 1);
	m_ptr(m, 12);
	m_a(m, ttl, ip);
}

/* --- tests ------------------------------------------------------------- */

static void test_params(void)
{
	struct cot_dns_params p;
	struct cot_dns *t = (struct cot_dns *)1;
	static uint64_t mem[64];

	cot_dns_params_default(&p);
	T_CHECK(cot_dns_memsize(&p) > 0);
	p.max_names = 0;
	T_EQ_U(cot_dns_memsize(&p), 0);
	cot_dns_params_default(&p);
	p.max_queries = 0;
	T_EQ_U(cot_dns_memsize(&p), 0);
	cot_dns_params_default(&p);
	T_CHECK(cot_dns_init(&t, mem, sizeof(mem), &p) == -COT_ENOSPC);
	T_CHECK(t == NULL);
	T_CHECK(cot_dns_memsize(NULL) == 0);
}

static void test_basic_a(void)
{
	static const uint8_t ip[4] = { 93, 184, 216, 34 };
	struct cot_dns_stats st;
	struct cot_dns *t;
	struct msg m;
	void *mem;
	char small[5];

	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	query(t, &VM_A, &RES, 0x1234, "WWW.Example.COM", 1, 1 * S);
	/* the answer echoes the question in another case (0x20 bit) */
	answer_a(&m, 0x1234, "www.EXAMPLE.com", 300, ip);
	feed(t, &RES, &VM_A, &m, false, 2 * S);
	T_EQ_S(name_of(t, a4(93, 184, 216, 34), 3 * S), "www.example.com");
	T_EQ_U(cot_dns_lookup(t, &(struct cot_addr){ 0 }, 3 * S, small,
			      sizeof(small)),
	       0);
	/* truncated safely */
	struct cot_addr x = a4(93, 184, 216, 34);
	T_EQ_U(cot_dns_lookup(t, &x, 3 * S, small, sizeof(small)), 4);
	T_EQ_S(small, "www.");
	T_EQ_U(cot_dns_lookup(t, &x, 3 * S, small, 0), 0);
	/* TTL: live at 301 s, gone at 302 s (learned at 2 s) */
	T_EQ_S(name_of(t, x, 301 * S), "www.example.com");
	T_EQ_S(name_of(t, x, 302 * S), "");
	/* the same answer again: its query was answered */
	feed(t, &RES, &VM_A, &m, false, 3 * S);
	cot_dns_stats(t, &st);
	T_EQ_U(st.queries, 1);
	T_EQ_U(st.answers, 2);
	T_EQ_U(st.matched, 1);
	T_EQ_U(st.unmatched, 1);
	T_EQ_U(st.malformed, 0);
	T_EQ_U(st.names, 1);
	free(mem);
}

static void test_ttl_clamp_zero(void)
{
	static const uint8_t ip[4] = { 1, 1, 1, 1 }, ip2[4] = { 1, 1, 1, 2 };
	struct cot_dns *t;
	struct msg m;
	void *mem;

	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	query(t, &VM_A, &RES, 1, "a.test", 1, 0);
	answer_a(&m, 1, "a.test", 0x7fffffff, ip);
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(1, 1, 1, 1), 3599 * S), "a.test");
	T_EQ_S(name_of(t, a4(1, 1, 1, 1), 3600 * S), ""); /* clamp 3600 s */
	/* TTL 0 and a TTL with the top bit set (RFC 2181: 0) keep nothing */
	query(t, &VM_A, &RES, 2, "b.test", 1, 0);
	answer_a(&m, 2, "b.test", 0, ip2);
	feed(t, &RES, &VM_A, &m, false, 0);
	query(t, &VM_A, &RES, 3, "c.test", 1, 0);
	answer_a(&m, 3, "c.test", 0x80000010, ip2);
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(1, 1, 1, 2), 0), "");
	free(mem);
}

static void test_cname_chain(void)
{
	static const uint8_t ip[4] = { 198, 51, 100, 7 };
	static const uint8_t other[4] = { 198, 51, 100, 8 };
	struct cot_dns *t;
	struct msg m;
	void *mem;
	uint32_t at;

	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	/* in order: www -> edge.cdn.net -> e1.cdn.net -> A; smallest TTL
	 * on the chain 60 */
	query(t, &VM_A, &RES, 7, "www.shop.test", 1, 0);
	m_hdr(&m, 7, 0x8180, 1, 5);
	m_question(&m, "www.shop.test", 1);
	m_ptr(&m, 12);
	m_cname(&m, 60, "edge.cdn.net");
	at = m.n;
	m_name(&m, "edge.cdn.net");
	m_cname(&m, 600, "e1.cdn.net");
	m_name(&m, "e1.cdn.net");
	m_a(&m, 300, ip);
	/* a record whose owner has bytes we do not keep is skipped, and
	 * does not spoil the answer */
	m_name(&m, "b\x01d.test");
	m_a(&m, 300, other);
	/* an A of a name off the chain: not the VM's name for it */
	m_name(&m, "evil.test");
	m_a(&m, 300, other);
	(void)at;
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(198, 51, 100, 7), 59 * S), "www.shop.test");
	T_EQ_S(name_of(t, a4(198, 51, 100, 7), 60 * S), "");
	T_EQ_S(name_of(t, a4(198, 51, 100, 8), 1 * S), "");

	/* out of order, with compressed CNAME targets */
	query(t, &VM_A, &RES, 8, "api.shop.test", 1, 100 * S);
	m_hdr(&m, 8, 0x8180, 1, 3);
	m_question(&m, "api.shop.test", 1); /* name at 12 */
	m_labels(&m, "z1");
	m_ptr(&m, 16); /* "z1.shop.test" at 31 */
	m_a(&m, 120, ip);
	m_labels(&m, "lb");
	m_ptr(&m, 16); /* lb.shop.test */
	m_cname(&m, 90, "z1.shop.test");
	m_ptr(&m, 12);
	m_cname(&m, 500, "lb.shop.test");
	feed(t, &RES, &VM_A, &m, false, 100 * S);
	T_EQ_S(name_of(t, a4(198, 51, 100, 7), 189 * S), "api.shop.test");
	T_EQ_S(name_of(t, a4(198, 51, 100, 7), 190 * S), "");

	/* a CNAME loop ends the chain; an A of the loop's names is kept */
	query(t, &VM_A, &RES, 9, "loop.test", 1, 200 * S);
	m_hdr(&m, 9, 0x8180, 1, 3);
	m_question(&m, "loop.test", 1);
	m_ptr(&m, 12);
	m_cname(&m, 50, "x.test");
	m_name(&m, "x.test");
	m_cname(&m, 50, "loop.test");
	m_name(&m, "x.test");
	m_a(&m, 50, other);
	feed(t, &RES, &VM_A, &m, false, 200 * S);
	T_EQ_S(name_of(t, a4(198, 51, 100, 8), 201 * S), "loop.test");
	free(mem);
}

static void test_cname_too_long(void)
{
	static const uint8_t ip[4] = { 203, 0, 113, 1 };
	struct cot_dns *t;
	struct msg m;
	void *mem;
	char a[24], b[24];
	int i;

	/* COT_DNS_MAX_CHAIN + 1 CNAMEs: the A at the end is not reached */
	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	query(t, &VM_A, &RES, 5, "c0.test", 1, 0);
	m_hdr(&m, 5, 0x8180, 1, COT_DNS_MAX_CHAIN + 2);
	m_question(&m, "c0.test", 1);
	for (i = 0; i <= COT_DNS_MAX_CHAIN; i++) {
		snprintf(a, sizeof(a), "c%d.test", i);
		snprintf(b, sizeof(b), "c%d.test", i + 1);
		m_name(&m, a);
		m_cname(&m, 100, b);
	}
	m_name(&m, b);
	m_a(&m, 100, ip);
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(203, 0, 113, 1), 1), "");
	/* one CNAME fewer: reached */
	query(t, &VM_A, &RES, 6, "c1.test", 1, 0);
	m.b[0] = 0;
	m.b[1] = 6;
	/* question c0.test -> c1.test: rewrite the question's label */
	m.b[14] = '1';
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(203, 0, 113, 1), 1), "c1.test");
	free(mem);
}

static void test_aaaa_v6(void)
{
	static const uint8_t ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x99 };
	struct cot_dns_stats st;
	struct cot_addr x;
	struct cot_dns *t;
	struct msg m;
	void *mem;

	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	query(t, &VM_A6, &RES6, 0x4242, "v6.test", 28, 0);
	m_hdr(&m, 0x4242, 0x8180, 1, 1);
	m_question(&m, "v6.test", 28);
	m_ptr(&m, 12);
	m_rr(&m, 28, 100, 16);
	for (int i = 0; i < 16; i++)
		m_u8(&m, ip6[i]);
	feed(t, &RES6, &VM_A6, &m, false, 0);
	memcpy(x.b, ip6, 16);
	T_EQ_S(name_of(t, x, 1), "v6.test");
	/* an AAAA with a 4-byte RDATA is malformed */
	query(t, &VM_A6, &RES6, 0x4243, "v6b.test", 28, 0);
	m_hdr(&m, 0x4243, 0x8180, 1, 1);
	m_question(&m, "v6b.test", 28);
	m_ptr(&m, 12);
	m_rr(&m, 28, 100, 4);
	m_u32(&m, 0x01020304);
	feed(t, &RES6, &VM_A6, &m, false, 0);
	cot_dns_stats(t, &st);
	T_EQ_U(st.matched, 1);
	T_EQ_U(st.malformed, 1);
	/* an A answer to the AAAA question: question type differs */
	free(mem);
}

static void test_pointer_loops(void)
{
	static const uint8_t ip[4] = { 192, 0, 2, 1 };
	struct cot_dns_stats st;
	struct cot_dns *t;
	struct msg m;
	void *mem;
	uint32_t at;

	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	/* owner is a pointer to itself */
	query(t, &VM_A, &RES, 1, "p.test", 1, 0);
	m_hdr(&m, 1, 0x8180, 1, 1);
	m_question(&m, "p.test", 1);
	at = m.n;
	m_ptr(&m, (uint16_t)at);
	m_a(&m, 100, ip);
	feed(t, &RES, &VM_A, &m, false, 0);
	/* a forward pointer */
	query(t, &VM_A, &RES, 2, "p.test", 1, 0);
	m_hdr(&m, 2, 0x8180, 1, 1);
	m_question(&m, "p.test", 1);
	at = m.n;
	m_ptr(&m, (uint16_t)(at + 2));
	m_name(&m, "p.test");
	m_a(&m, 100, ip);
	feed(t, &RES, &VM_A, &m, false, 0);
	/* two names pointing at each other: label then back to the first */
	query(t, &VM_A, &RES, 3, "p.test", 1, 0);
	m_hdr(&m, 3, 0x8180, 1, 1);
	m_question(&m, "p.test", 1);
	at = m.n;
	m_labels(&m, "a");
	m_ptr(&m, (uint16_t)at); /* "a" then back to "a": a loop */
	m_a(&m, 100, ip);
	feed(t, &RES, &VM_A, &m, false, 0);
	/* a pointer into the header's bytes */
	query(t, &VM_A, &RES, 4, "p.test", 1, 0);
	m_hdr(&m, 4, 0x8180, 1, 1);
	m_question(&m, "p.test", 1);
	m_ptr(&m, 13);
	m_a(&m, 100, ip);
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(192, 0, 2, 1), 1), "");
	cot_dns_stats(t, &st);
	T_EQ_U(st.malformed, 4);
	T_EQ_U(st.matched, 0);
	/* the queries stay: the true answer still names the address */
	answer_a(&m, 4, "p.test", 100, ip);
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(192, 0, 2, 1), 1), "p.test");
	free(mem);
}

static void test_bad_names(void)
{
	struct cot_dns_stats st;
	struct cot_dns *t;
	struct msg m;
	void *mem;

	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	query(t, &VM_A, &RES, 1, "a b.test", 1, 0);
	query(t, &VM_A, &RES, 2, "a\033[31m.test", 1, 0);
	/* a '.' inside a label */
	m_hdr(&m, 3, 0x0100, 1, 0);
	m_u8(&m, 3);
	m_u8(&m, 'a');
	m_u8(&m, '.');
	m_u8(&m, 'b');
	m_u8(&m, 0);
	m_u16(&m, 1);
	m_u16(&m, 1);
	feed(t, &VM_A, &RES, &m, true, 0);
	/* a label over 63 bytes, a name over 255 */
	m_hdr(&m, 4, 0x0100, 1, 0);
	m_u8(&m, 64);
	for (int i = 0; i < 64; i++)
		m_u8(&m, 'x');
	m_u8(&m, 0);
	m_u16(&m, 1);
	m_u16(&m, 1);
	feed(t, &VM_A, &RES, &m, true, 0);
	m_hdr(&m, 5, 0x0100, 1, 0);
	for (int l = 0; l < 5; l++) {
		m_u8(&m, 60);
		for (int i = 0; i < 60; i++)
			m_u8(&m, 'y');
	}
	m_u8(&m, 0);
	m_u16(&m, 1);
	m_u16(&m, 1);
	feed(t, &VM_A, &RES, &m, true, 0);
	/* other query types, a response from the guest */
	query(t, &VM_A, &RES, 6, "mx.test", 15, 0);
	m_hdr(&m, 7, 0x8180, 1, 0);
	m_question(&m, "r.test", 1);
	feed(t, &VM_A, &RES, &m, true, 0);
	cot_dns_stats(t, &st);
	T_EQ_U(st.queries, 0);
	T_EQ_U(st.queries_bad, 7);
	/* the longest legal name: 4 labels of 63 = 255 on the wire */
	m_hdr(&m, 8, 0x0100, 1, 0);
	for (int l = 0; l < 3; l++) {
		m_u8(&m, 63);
		for (int i = 0; i < 63; i++)
			m_u8(&m, 'z');
	}
	m_u8(&m, 61);
	for (int i = 0; i < 61; i++)
		m_u8(&m, 'w');
	m_u8(&m, 0);
	m_u16(&m, 1);
	m_u16(&m, 1);
	feed(t, &VM_A, &RES, &m, true, 0);
	cot_dns_stats(t, &st);
	T_EQ_U(st.queries, 1);
	{
		static const uint8_t ip[4] = { 9, 9, 9, 9 };
		char buf[COT_DNS_NAMELEN];
		struct cot_addr x = a4(9, 9, 9, 9);
		struct msg q = m;

		q.b[2] = 0x81;
		q.b[3] = 0x80;
		q.b[7] = 1;
		m_ptr(&q, 12);
		m_a(&q, 10, ip);
		feed(t, &RES, &VM_A, &q, false, 0);
		T_EQ_U(cot_dns_lookup(t, &x, 1, buf, sizeof(buf)), 253);
		T_EQ_U(strlen(buf), 253);
	}
	free(mem);
}

static void test_truncated(void)
{
	static const uint8_t ip[4] = { 192, 0, 2, 77 };
	struct cot_dns_stats st;
	struct cot_dns *t;
	struct msg m, c;
	uint8_t f[1600];
	uint32_t n, i, full;
	void *mem;

	T_ASSERT((t = mk(16, 8, &mem)) != NULL);
	m_hdr(&m, 9, 0x8180, 1, 2);
	m_question(&m, "cut.test", 1);
	m_ptr(&m, 12);
	m_cname(&m, 100, "cut2.test");
	m_labels(&m, "cut2");
	m_ptr(&m, 16);
	m_a(&m, 100, ip);
	full = m.n;
	/* the capture cut the frame (snaplen): every length */
	n = mk_frame(f, &RES, &VM_A, &m);
	for (i = 0; i < n; i++) {
		query(t, &VM_A, &RES, 9, "cut.test", 1, 0);
		feed_raw(t, f, i, n, false, 0);
	}
	T_EQ_S(name_of(t, a4(192, 0, 2, 77), 1), "");
	/* the datagram itself ends early (consistent UDP length) */
	for (i = 12; i < full; i++) {
		c = m;
		c.n = i;
		query(t, &VM_A, &RES, 9, "cut.test", 1, 0);
		feed(t, &RES, &VM_A, &c, false, 0);
	}
	T_EQ_S(name_of(t, a4(192, 0, 2, 77), 1), "");
	cot_dns_stats(t, &st);
	T_EQ_U(st.matched, 0);
	/* and whole, it works */
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(192, 0, 2, 77), 1), "cut.test");
	free(mem);
}

static void test_spoof(void)
{
	static const uint8_t ip[4] = { 10, 9, 9, 9 }, ip2[4] = { 10, 9, 9, 8 };
	struct cot_dns *ta, *tb;
	struct cot_dns_stats st;
	struct ep other_res = RES, other_port = VM_A;
	struct msg m;
	void *ma, *mb;

	T_ASSERT((ta = mk(16, 8, &ma)) != NULL);
	T_ASSERT((tb = mk(16, 8, &mb)) != NULL);
	/* VM A asks; an answer to that query delivered to VM B (or a
	 * forged one to B) must not name the address in B's table */
	query(ta, &VM_A, &RES, 0x55, "bank.test", 1, 0);
	answer_a(&m, 0x55, "bank.test", 100, ip);
	feed(tb, &RES, &VM_B, &m, false, 0);
	feed(tb, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(tb, a4(10, 9, 9, 9), 1), "");
	cot_dns_stats(tb, &st);
	T_EQ_U(st.unmatched, 2);
	/* and B's own query for another name does not let an answer for
	 * A's name in */
	query(tb, &VM_B, &RES, 0x55, "mine.test", 1, 0);
	feed(tb, &RES, &VM_B, &m, false, 0);
	T_EQ_S(name_of(tb, a4(10, 9, 9, 9), 1), "");
	/* in A's table: wrong id, wrong server, wrong client port, wrong
	 * client address, wrong question type: all refused */
	answer_a(&m, 0x56, "bank.test", 100, ip2);
	feed(ta, &RES, &VM_A, &m, false, 0);
	answer_a(&m, 0x55, "bank.test", 100, ip2);
	other_res.ip[3] = 54;
	feed(ta, &other_res, &VM_A, &m, false, 0);
	other_port.port = 40001;
	feed(ta, &RES, &other_port, &m, false, 0);
	feed(ta, &RES, &VM_B, &m, false, 0);
	m.b[m.n - 4 - 10 - 2 - 3] = 28; /* qtype AAAA in the question */
	feed(ta, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(ta, a4(10, 9, 9, 8), 1), "");
	cot_dns_stats(ta, &st);
	T_EQ_U(st.unmatched, 5);
	T_EQ_U(st.matched, 0);
	/* exact in every field, but from another link address than the
	 * one the query went to (a neighbour answering in the resolver's
	 * name): refused */
	{
		uint8_t f[1600];
		uint32_t n;

		answer_a(&m, 0x55, "bank.test", 100, ip2);
		n = mk_frame(f, &RES, &VM_A, &m);
		f[11] = 0xee;
		feed_raw(ta, f, n, n, false, 0);
		T_EQ_S(name_of(ta, a4(10, 9, 9, 8), 1), "");
		cot_dns_stats(ta, &st);
		T_EQ_U(st.unmatched, 6);
	}
	/* the real answer, to A: named in A only */
	answer_a(&m, 0x55, "bank.test", 100, ip);
	feed(ta, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(ta, a4(10, 9, 9, 9), 1), "bank.test");
	T_EQ_S(name_of(tb, a4(10, 9, 9, 9), 1), "");
	/* a frame from the guest from port 53 (the guest answering) is not
	 * an answer to it */
	query(ta, &VM_A, &RES, 0x57, "self.test", 1, 0);
	answer_a(&m, 0x57, "self.test", 100, ip2);
	feed(ta, &RES, &VM_A, &m, true, 0);
	T_EQ_S(name_of(ta, a4(10, 9, 9, 8), 1), "");
	/* a timed-out query is not answered */
	feed(ta, &RES, &VM_A, &m, false, 11 * S);
	T_EQ_S(name_of(ta, a4(10, 9, 9, 8), 11 * S), "");
	free(ma);
	free(mb);
}

static void test_full_tables(void)
{
	struct cot_dns_stats st;
	struct cot_dns *t;
	struct msg m;
	char nm[32];
	void *mem;
	int i;

	/* 4 name slots: 6 live names evict the 2 oldest */
	T_ASSERT((t = mk(4, 8, &mem)) != NULL);
	for (i = 0; i < 6; i++) {
		uint8_t ip[4] = { 10, 1, 0, (uint8_t)i };

		snprintf(nm, sizeof(nm), "n%d.test", i);
		query(t, &VM_A, &RES, (uint16_t)(100 + i), nm, 1, 0);
		answer_a(&m, (uint16_t)(100 + i), nm, 1000, ip);
		feed(t, &RES, &VM_A, &m, false, 0);
	}
	cot_dns_stats(t, &st);
	T_EQ_U(st.names, 6);
	T_EQ_U(st.evicted, 2);
	T_EQ_S(name_of(t, a4(10, 1, 0, 0), 1), "");
	T_EQ_S(name_of(t, a4(10, 1, 0, 1), 1), "");
	for (i = 2; i < 6; i++) {
		snprintf(nm, sizeof(nm), "n%d.test", i);
		T_EQ_S(name_of(t, a4(10, 1, 0, (uint8_t)i), 1), nm);
	}
	/* an expired entry is taken before a live one: n3 with a short TTL
	 * refreshed, expired at 20 s; the next name takes its slot */
	{
		uint8_t ip[4] = { 10, 1, 0, 3 }, ip9[4] = { 10, 1, 0, 9 };

		query(t, &VM_A, &RES, 200, "n3.test", 1, 0);
		answer_a(&m, 200, "n3.test", 10, ip);
		feed(t, &RES, &VM_A, &m, false, 0);
		query(t, &VM_A, &RES, 201, "n9.test", 1, 20 * S);
		answer_a(&m, 201, "n9.test", 1000, ip9);
		feed(t, &RES, &VM_A, &m, false, 20 * S);
	}
	cot_dns_stats(t, &st);
	T_EQ_U(st.evicted, 2);
	T_EQ_S(name_of(t, a4(10, 1, 0, 9), 21 * S), "n9.test");
	T_EQ_S(name_of(t, a4(10, 1, 0, 2), 21 * S), "n2.test");
	T_EQ_S(name_of(t, a4(10, 1, 0, 4), 21 * S), "n4.test");
	T_EQ_S(name_of(t, a4(10, 1, 0, 5), 21 * S), "n5.test");
	free(mem);

	/* 2 query slots: a third query replaces the oldest */
	T_ASSERT((t = mk(4, 2, &mem)) != NULL);
	query(t, &VM_A, &RES, 1, "q1.test", 1, 1);
	query(t, &VM_A, &RES, 2, "q2.test", 1, 2);
	query(t, &VM_A, &RES, 3, "q3.test", 1, 3);
	{
		uint8_t ip[4] = { 10, 2, 0, 1 };

		answer_a(&m, 1, "q1.test", 100, ip);
		feed(t, &RES, &VM_A, &m, false, 4);
		T_EQ_S(name_of(t, a4(10, 2, 0, 1), 5), "");
		answer_a(&m, 3, "q3.test", 100, ip);
		feed(t, &RES, &VM_A, &m, false, 4);
		T_EQ_S(name_of(t, a4(10, 2, 0, 1), 5), "q3.test");
	}
	cot_dns_stats(t, &st);
	T_EQ_U(st.queries_replaced, 1);
	T_EQ_U(st.unmatched, 1);
	free(mem);
}

static void test_many_answers(void)
{
	struct cot_dns *t;
	struct msg m;
	void *mem;
	int i;

	/* ANCOUNT 65535 with 40 records: the first COT_DNS_MAX_ANSWERS are
	 * read, the rest not even looked at */
	T_ASSERT((t = mk(64, 8, &mem)) != NULL);
	query(t, &VM_A, &RES, 77, "many.test", 1, 0);
	m_hdr(&m, 77, 0x8180, 1, 0xffff);
	m_question(&m, "many.test", 1);
	for (i = 0; i < 40; i++) {
		uint8_t ip[4] = { 10, 3, 0, (uint8_t)i };

		m_ptr(&m, 12);
		m_a(&m, 100, ip);
	}
	feed(t, &RES, &VM_A, &m, false, 0);
	T_EQ_S(name_of(t, a4(10, 3, 0, 0), 1), "many.test");
	T_EQ_S(name_of(t, a4(10, 3, 0, COT_DNS_MAX_ANSWERS - 1), 1),
	       "many.test");
	T_EQ_S(name_of(t, a4(10, 3, 0, COT_DNS_MAX_ANSWERS), 1), "");
	free(mem);
}

/* --- seed corpus ------------------------------------------------------- */

/* Format of fuzz/fuzz_dns.c: be16 length of the query frame, the query
 * frame (from the guest), the answer frame (to the guest). */
static int write_pair(const char *dir, const char *name, const struct ep *c,
		      const struct ep *srv, const struct msg *q,
		      const struct msg *a)
{
	uint8_t f1[1600], f2[1600];
	uint32_t n1 = mk_frame(f1, c, srv, q), n2 = mk_frame(f2, srv, c, a);
	char path[512];
	FILE *fp;
	uint8_t l[2] = { (uint8_t)(n1 >> 8), (uint8_t)n1 };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp)
		return 1;
	fwrite(l, 1, 2, fp);
	fwrite(f1, 1, n1, fp);
	fwrite(f2, 1, n2, fp);
	if (fclose(fp) != 0)
		return 1;
	/* a seed that names nothing would not reach the answer walk */
	{
		struct cot_dns_stats st;
		struct cot_dns *t;
		void *mem;

		t = mk(16, 4, &mem);
		if (!t)
			return 1;
		feed_raw(t, f1, n1, n1, true, 0);
		feed_raw(t, f2, n2, n2, false, 0);
		cot_dns_stats(t, &st);
		free(mem);
		if (st.names == 0) {
			fprintf(stderr, "seed %s names nothing\n", name);
			return 1;
		}
	}
	return 0;
}

static int write_corpus(const char *dir)
{
	static const uint8_t ip[4] = { 192, 0, 2, 5 };
	struct msg q, a;
	int e = 0;

	m_hdr(&q, 0x1111, 0x0100, 1, 0);
	m_question(&q, "www.example.com", 1);
	answer_a(&a, 0x1111, "www.example.com", 300, ip);
	e |= write_pair(dir, "a", &VM_A, &RES, &q, &a);

	m_hdr(&a, 0x1111, 0x8180, 1, 3);
	m_question(&a, "www.example.com", 1); /* 12..32 */
	m_ptr(&a, 12);
	m_cname(&a, 60, "edge.cdn.net"); /* the target at 45, "cdn" at 50 */
	m_ptr(&a, 45);
	m_rr(&a, 5, 60, 5);
	m_labels(&a, "e1");
	m_ptr(&a, 50);
	m_labels(&a, "e1");
	m_ptr(&a, 50);
	m_a(&a, 30, ip);
	e |= write_pair(dir, "cname", &VM_A, &RES, &q, &a);

	m_hdr(&q, 0x2222, 0x0100, 1, 0);
	m_question(&q, "v6.test", 28);
	m_hdr(&a, 0x2222, 0x8180, 1, 1);
	m_question(&a, "v6.test", 28);
	m_ptr(&a, 12);
	m_rr(&a, 28, 100, 16);
	for (int i = 0; i < 16; i++)
		m_u8(&a, (uint8_t)(0x20 + i));
	e |= write_pair(dir, "aaaa6", &VM_A6, &RES6, &q, &a);
	return e;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	T_RUN(test_params);
	T_RUN(test_basic_a);
	T_RUN(test_ttl_clamp_zero);
	T_RUN(test_cname_chain);
	T_RUN(test_cname_too_long);
	T_RUN(test_aaaa_v6);
	T_RUN(test_pointer_loops);
	T_RUN(test_bad_names);
	T_RUN(test_truncated);
	T_RUN(test_spoof);
	T_RUN(test_full_tables);
	T_RUN(test_many_answers);
	return t_done();
}
