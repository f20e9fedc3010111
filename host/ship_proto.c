// SPDX-License-Identifier: MIT
/* host/ship_proto: reading frames from TLS, the fast chain hash (ship_proto.h).
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "ship_proto.h"
#include "tls.h"

int cot_frame_read(struct cot_tls *c, uint8_t *buf, size_t cap, uint8_t *type,
		   uint32_t *len, int timeout_ms)
{
	uint8_t hdr[COT_FRAME_HDR];
	int rc;

	rc = cot_tls_read(c, hdr, sizeof(hdr), timeout_ms);
	if (rc < 0)
		return rc;
	rc = cot_frame_hdr_parse(hdr, type, len);
	if (rc < 0)
		return rc;
	if (*len > cap)
		return -COT_EMSGSIZE;
	return *len ? cot_tls_read(c, buf, *len, timeout_ms) : 0;
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	/* Kept for the life of the process (one object, on purpose). */
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void cot_chain_next_fast(uint8_t out[static COT_CHAIN_LEN],
			 const uint8_t prev[static COT_CHAIN_LEN],
			 const uint8_t *enc, size_t len)
{
	static const uint8_t tag[8] = { 'C', 'O', 'T', 'C', 'H', 'N', '1', 0 };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n;
	int ok;

	/* Fetch the implementation once, not on every digest. */
	pthread_once(&sha256_once, sha256_fetch);
	ok = ctx && sha256_md &&
	     EVP_DigestInit_ex2(ctx, sha256_md, NULL) == 1 &&
	     EVP_DigestUpdate(ctx, tag, sizeof(tag)) == 1 &&
	     EVP_DigestUpdate(ctx, prev, COT_CHAIN_LEN) == 1 &&
	     EVP_DigestUpdate(ctx, enc, len) == 1 &&
	     EVP_DigestFinal_ex(ctx, out, &n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		cot_chain_next(out, prev, enc,
			       len); /* never wrong, only slower */
}
