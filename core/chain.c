// SPDX-License-Identifier: MIT
/* core/chain: the per-stream hash chain over encoded records (chain.h). */
#include "cotrack/chain.h"

static const uint8_t chain_tag[8] = { 'C', 'O', 'T', 'C', 'H', 'N', '1', 0 };

void cot_chain_init(uint8_t h0[static COT_CHAIN_LEN])
{
	cot_sha256(h0, "cotrack chain v1", 16);
}

void cot_chain_next(uint8_t out[static COT_CHAIN_LEN],
		    const uint8_t prev[static COT_CHAIN_LEN],
		    const uint8_t *enc, size_t len)
{
	struct cot_sha256 c;

	cot_sha256_init(&c);
	cot_sha256_update(&c, chain_tag, sizeof(chain_tag));
	cot_sha256_update(&c, prev, COT_CHAIN_LEN);
	cot_sha256_update(&c, enc, len);
	cot_sha256_final(&c, out);
}

int cot_chain_check_enc(struct cot_rec *r, const uint8_t *enc, size_t len)
{
	uint8_t again[COT_REC_WIRE_MAX];
	int ret;

	ret = cot_rec_decode(r, enc, len);
	if (ret < 0)
		return ret;
	if ((size_t)ret != len || cot_rec_encode(again, r) != ret ||
	    cot_memcmp(again, enc, len) != 0)
		return -COT_EBADMSG;
	return 0;
}
