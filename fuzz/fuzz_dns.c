// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for core/dns.  Input: a big-endian 16-bit length n,
 * then n bytes of a frame fed from the guest (a query, usually), then
 * the rest as a frame fed to the guest (its answer).  Seeds
 * (fuzz/corpus/dns, written by `test_dns --write-corpus`) are matching
 * pairs, so mutations reach the answer walk.  Checks that every name
 * the table then gives is plain text of at most 253 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "cotrack/dns.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static uint64_t mem[(2u << 20) / 8];

static void check_name(const struct cot_dns *t, const struct cot_addr *a)
{
	char buf[COT_DNS_NAMELEN];
	int n = cot_dns_lookup(t, a, 1, buf, sizeof(buf)), i;

	CHECK(n >= 0 && n <= COT_DNS_NAMELEN - 1);
	CHECK((size_t)n == strlen(buf));
	for (i = 0; i < n; i++)
		CHECK((buf[i] >= 'a' && buf[i] <= 'z') ||
		      (buf[i] >= '0' && buf[i] <= '9') || buf[i] == '-' ||
		      buf[i] == '_' || buf[i] == '.');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cot_dns_params p;
	struct cot_dns_stats st;
	struct cot_dns *t;
	struct cot_pkt pkt;
	uint32_t n1, n2, i;
	uint8_t *f1, *f2;

	if (size < 2 || size > 65536)
		return 0;
	n1 = (uint32_t)data[0] << 8 | data[1];
	if (n1 > size - 2)
		n1 = (uint32_t)(size - 2);
	n2 = (uint32_t)(size - 2 - n1);
	cot_dns_params_default(&p);
	p.max_names = 64;
	p.max_queries = 4;
	CHECK(cot_dns_memsize(&p) <= sizeof(mem));
	CHECK(cot_dns_init(&t, mem, sizeof(mem), &p) == 0);
	/* exact-size copies, so ASan sees any read past either frame */
	f1 = malloc(n1 ? n1 : 1);
	f2 = malloc(n2 ? n2 : 1);
	memcpy(f1, data + 2, n1);
	memcpy(f2, data + 2 + n1, n2);
	cot_pkt_parse(&pkt, f1, n1, n1);
	cot_dns_frame(t, &pkt, f1, n1, true, 0);
	cot_pkt_parse(&pkt, f2, n2, n2);
	cot_dns_frame(t, &pkt, f2, n2, false, 0);
	cot_dns_stats(t, &st);
	CHECK(st.answers == st.matched + st.unmatched + st.malformed);
	CHECK(st.answers <= 1 && st.queries <= 1);
	CHECK(st.names <= COT_DNS_MAX_ANSWERS);
	check_name(t, &pkt.src);
	check_name(t, &pkt.dst);
	/* every address an A/AAAA in the answer could carry */
	for (i = 0; i + 16 <= n2; i++) {
		struct cot_addr a;

		memcpy(a.b, f2 + i, 16);
		check_name(t, &a);
		cot_addr_from_v4(&a, f2 + i);
		check_name(t, &a);
	}
	free(f1);
	free(f2);
	return 0;
}
