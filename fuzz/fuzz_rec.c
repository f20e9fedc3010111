// SPDX-License-Identifier: MIT
/*
 * fuzz_rec: the record decoder (core/rec.c), versions 1 and 2.  Whatever
 * it accepts must be bounded, NUL-terminated, printable, consistent with
 * its own length and, through cot_chain_check_enc, canonical: encoding
 * the decoded record gives the same bytes whenever the check passes.
 */
#include <stdlib.h>
#include <string.h>

#include "cotrack/chain.h"
#include "cotrack/pkt.h"
#include "cotrack/rec.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	CHECK(n < cap);
	/* bounded by cap */
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 &&
		      (unsigned char)s[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[COT_REC_WIRE_MAX];
	struct cot_rec r, r2;
	int n, wl, m;

	n = cot_rec_decode(&r, data, size);
	wl = cot_rec_wire_len(data, size);
	if (n < 0) {
		CHECK(n == -COT_EBADMSG || n == -COT_ENOTSUP);
		return 0;
	}
	CHECK(n == wl && (size_t)n <= size && n <= COT_REC_WIRE_MAX);
	CHECK(n == COT_REC_WIRE_V1_LEN || data[2] == 2 || data[2] == 3);
	CHECK(r.vm[COT_VM_NAMELEN - 1] == '\0');
	printable(r.src_owner.comm, COT_COMM_LEN);
	printable(r.dst_owner.comm, COT_COMM_LEN);
	printable(r.src_owner.cgroup, COT_CGROUP_LEN);
	printable(r.dst_owner.cgroup, COT_CGROUP_LEN);
	printable(r.src_name, COT_DNSNAME_LEN);
	printable(r.dst_name, COT_DNSNAME_LEN);
	CHECK(r.src_owner.pid ||
	      (!r.src_owner.comm[0] && !r.src_owner.cgroup[0]));
	CHECK(r.dst_owner.pid ||
	      (!r.dst_owner.comm[0] && !r.dst_owner.cgroup[0]));
	CHECK(data[2] == 3 || (data[2] == 2) == cot_rec_has_names(&r));
	CHECK((data[2] == 3) == cot_rec_has_tunnel(&r));
	CHECK(r.tun_type < COT_TUN__COUNT);
	/*
	 * re-encoding decodes to the same record (vm bytes after its NUL are
	 * not part of it: the encoder pads with zeros, check_enc rejects)
	 */
	m = (int)strnlen(r.vm, COT_VM_NAMELEN);
	memset(r.vm + m, 0, COT_VM_NAMELEN - (size_t)m);
	m = cot_rec_encode(again, &r);
	CHECK(cot_rec_decode(&r2, again, (size_t)m) == m);
	CHECK(memcmp(&r, &r2, sizeof(r)) == 0);
	if (cot_chain_check_enc(&r2, data, (size_t)n) == 0)
		CHECK(m == n && memcmp(again, data, (size_t)n) == 0);
	return 0;
}
