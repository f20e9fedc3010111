// SPDX-License-Identifier: MIT
/* core/sha256 and core/chain: FIPS 180-4 vectors, OpenSSL agreement,
 * chain properties, canonical-encoding check. */
#include <openssl/sha.h>

#include "cotrack/chain.h"
#include "host/ship_proto.h"
#include "t.h"

static void hexof(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_vectors(void)
{
	uint8_t d[32];
	char h[65];
	struct cot_sha256 c;
	int i;

	cot_sha256(d, "", 0);
	hexof(h, d, 32);
	T_EQ_S(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852"
		  "b855");
	cot_sha256(d, "abc", 3);
	hexof(h, d, 32);
	T_EQ_S(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f200"
		  "15ad");
	cot_sha256(d,
		   "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		   56);
	hexof(h, d, 32);
	T_EQ_S(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db"
		  "06c1");
	/* One million 'a', fed in odd-sized pieces. */
	cot_sha256_init(&c);
	for (i = 0; i < 1000000; i += 7)
		cot_sha256_update(&c, "aaaaaaa", COT_MIN(7, 1000000 - i));
	cot_sha256_final(&c, d);
	hexof(h, d, 32);
	T_EQ_S(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc711"
		  "2cd0");
}

static void test_matches_openssl(void)
{
	uint8_t buf[300], a[32], b[32];
	size_t len, i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (len = 0; len <= sizeof(buf); len++) {
		cot_sha256(a, buf, len);
		SHA256(buf, len, b);
		T_ASSERT(memcmp(a, b, 32) == 0);
	}
}

static void mkrec(struct cot_rec *r, uint64_t seq)
{
	uint8_t v4[4] = { 10, 0, 0, (uint8_t)seq };

	memset(r, 0, sizeof(*r));
	r->seq = seq;
	strcpy(r->vm, "vm-test");
	r->proto = COT_PROTO_TCP;
	r->ipproto = 6;
	r->seen_by = COT_SEEN_NIC;
	r->end = COT_END_FIN;
	cot_addr_from_v4(&r->src, v4);
	cot_addr_from_v4(&r->dst, v4);
	r->sport = 1000;
	r->dport = 80;
	r->bytes_fwd = seq * 100;
}

static void test_chain_links(void)
{
	uint8_t h0[32], h[32], h2[32], enc[COT_REC_WIRE_MAX], ref[32 + 8 + 140];
	struct cot_rec r;
	char hx[65];

	cot_chain_init(h0);
	cot_sha256(h, "cotrack chain v1", 16);
	T_CHECK(memcmp(h0, h, 32) == 0);
	hexof(hx, h0, 32);
	printf("# h0 = %s\n", hx);
	mkrec(&r, 1);
	T_EQ_U(cot_rec_encode(enc, &r), 140);
	cot_chain_next(h, h0, enc, 140);
	/* Definition: SHA-256("COTCHN1\0" || prev || enc). */
	memcpy(ref, "COTCHN1", 8);
	memcpy(ref + 8, h0, 32);
	memcpy(ref + 40, enc, 140);
	cot_sha256(h2, ref, sizeof(ref));
	T_CHECK(memcmp(h, h2, 32) == 0);
	/* Aliasing out == prev is allowed. */
	memcpy(h2, h0, 32);
	cot_chain_next(h2, h2, enc, 140);
	T_CHECK(memcmp(h, h2, 32) == 0);
	/* Any change of the record or of the previous link changes it. */
	enc[120] ^= 1;
	cot_chain_next(h2, h0, enc, 140);
	T_CHECK(memcmp(h, h2, 32) != 0);
	enc[120] ^= 1;
	h0[0] ^= 1;
	cot_chain_next(h2, h0, enc, 140);
	T_CHECK(memcmp(h, h2, 32) != 0);
}

static void test_check_enc(void)
{
	uint8_t enc[COT_REC_WIRE_MAX];
	struct cot_rec r, out;
	int n;

	mkrec(&r, 42);
	cot_rec_encode(enc, &r);
	T_EQ_U(cot_chain_check_enc(&out, enc, 140), 0);
	/* the length must be the record's own */
	T_CHECK(cot_chain_check_enc(&out, enc, 141) == -COT_EBADMSG);
	T_EQ_U(out.seq, 42);
	/* Bytes after the vm name's NUL: not canonical. */
	enc[12 + 20] = 'x';
	T_CHECK(cot_chain_check_enc(&out, enc, 140) == -COT_EBADMSG);
	cot_rec_encode(enc, &r);
	enc[48] = 9; /* seen_by out of range */
	T_CHECK(cot_chain_check_enc(&out, enc, 140) == -COT_EBADMSG);
	cot_rec_encode(enc, &r);
	enc[2] = 4; /* version */
	T_CHECK(cot_chain_check_enc(&out, enc, 140) == -COT_ENOTSUP);
	/* version 2: checked and hashed over its whole length */
	r.dst_owner.pid = 77;
	snprintf(r.dst_owner.comm, sizeof(r.dst_owner.comm), "nginx");
	snprintf(r.dst_name, sizeof(r.dst_name), "backend.svc");
	n = cot_rec_encode(enc, &r);
	T_CHECK(n > 140);
	T_EQ_U(cot_chain_check_enc(&out, enc, (size_t)n), 0);
	T_CHECK(strcmp(out.dst_name, "backend.svc") == 0 &&
		out.dst_owner.pid == 77);
	T_CHECK(cot_chain_check_enc(&out, enc, (size_t)n - 1) == -COT_EBADMSG);
	T_CHECK(cot_chain_check_enc(&out, enc, 140) == -COT_EBADMSG);
}

/* The host's OpenSSL-based chain step equals the core's. */
static void test_fast_equals_core(void)
{
	uint8_t a[32], b[32], enc[COT_REC_WIRE_MAX];
	struct cot_rec r;
	size_t n;
	int i;

	cot_chain_init(a);
	memcpy(b, a, 32);
	for (i = 1; i <= 1000; i++) {
		mkrec(&r, (uint64_t)i);
		r.pkts_rev = (uint64_t)i * 7919;
		if (i % 2)
			snprintf(r.src_name, sizeof(r.src_name), "h%d.test", i);
		n = (size_t)cot_rec_encode(enc, &r);
		cot_chain_next(a, a, enc, n);
		cot_chain_next_fast(b, b, enc, n);
		T_ASSERT(memcmp(a, b, 32) == 0);
	}
}

int main(void)
{
	T_RUN(test_vectors);
	T_RUN(test_matches_openssl);
	T_RUN(test_chain_links);
	T_RUN(test_check_enc);
	T_RUN(test_fast_equals_core);
	return t_done();
}
