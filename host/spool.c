// SPDX-License-Identifier: MIT
/* host/spool: AEAD-sealed spool of unacknowledged records (spool.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "log.h"
#include "ship_proto.h"
#include "spool.h"

#define HDR_LEN 60
#define HDR_AAD 32
#define BLK_HDR 16 /* ct_len + nonce */
#define TAG_LEN 16
#define CT_MAX	COT_FRAME_MAX /* a block's plaintext is one batch payload */

struct cot_spool {
	char *path;
	int fd;
	int do_fsync;
	uint8_t key[COT_SPOOL_KEYLEN];
	uint8_t hdr[HDR_LEN];
	uint64_t epoch, gen;
	uint64_t nblocks; /* next block index */
	uint64_t records;
	off_t size;	  /* the file's valid bytes: header, whole blocks */
	int cut_pending;  /* a failed append left bytes past size */
	uint8_t *pt, *ct; /* CT_MAX scratch each */
};

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to @len bytes; returns bytes read (short only at EOF) or -errno. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* AES-256-GCM seal/open.  Returns 0 or -COT_EBADMSG / -COT_EIO. */
static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[12],
	       const uint8_t *aad1, size_t aad1len, const uint8_t *aad2,
	       size_t aad2len, const uint8_t *in, size_t len, uint8_t *out,
	       uint8_t tag[TAG_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok = 0;

	if (!c)
		return -COT_ENOMEM;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) !=
		    1 ||
	    EVP_CipherUpdate(c, NULL, &n, aad1, (int)aad1len) != 1 ||
	    (aad2len &&
	     EVP_CipherUpdate(c, NULL, &n, aad2, (int)aad2len) != 1) ||
	    (len && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1))
		goto out;
	if (!enc &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, out + len, &n) != 1)
		goto out;
	if (enc &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : (enc ? -COT_EIO : -COT_EBADMSG);
}

static int make_header(const uint8_t key[COT_SPOOL_KEYLEN], uint64_t epoch,
		       uint64_t gen, uint8_t h[HDR_LEN])
{
	memcpy(h, "COTSPOL1", 8);
	cot_put_le32(h + 8, 1);
	cot_put_le32(h + 12, 0);
	cot_put_le64(h + 16, epoch);
	cot_put_le64(h + 24, gen);
	if (RAND_bytes(h + 32, 12) != 1)
		return -COT_EIO;
	return gcm(1, key, h + 32, h, HDR_AAD, NULL, 0, NULL, 0, NULL, h + 44);
}

/* Seal sp->pt as block @idx of the file whose header is @hdr. */
static int seal_block(struct cot_spool *sp, const uint8_t hdr[HDR_LEN],
		      uint64_t idx, size_t ptlen, uint8_t *out)
{
	uint8_t aad[12];

	cot_put_le32(out, (uint32_t)ptlen);
	if (RAND_bytes(out + 4, 12) != 1)
		return -COT_EIO;
	cot_put_le64(aad, idx);
	cot_put_le32(aad + 8, (uint32_t)ptlen);
	return gcm(1, sp->key, out + 4, hdr, HDR_AAD, aad, sizeof(aad), sp->pt,
		   ptlen, out + BLK_HDR, out + BLK_HDR + ptlen);
}

/* Build the plaintext of a block (a batch payload) in sp->pt. */
static size_t fill_block(struct cot_spool *sp, cot_spool_get get, void *ctx,
			 size_t from, uint32_t n, const uint8_t prev[32])
{
	const struct cot_spool_rec *r = get(ctx, from), *last = r;
	uint8_t *p = sp->pt;
	size_t off;
	uint32_t i;

	cot_put_le64(p, r->seq);
	cot_put_le32(p + 8, n);
	cot_put_le32(p + 12, 0);
	memcpy(p + 16, prev, COT_CHAIN_LEN);
	off = COT_BATCH_HDR;
	/* n <= COT_BATCH_MAX: the block fits CT_MAX whatever the lengths */
	for (i = 0; i < n; i++) {
		last = get(ctx, from + i);
		off += cot_batch_entry_put(p + off, last->added_ns, last->enc,
					   last->len);
	}
	memcpy(p + 48, last->hash, COT_CHAIN_LEN);
	return off;
}

/*
 * Write records @from..@from+@n-1 as block @idx of the file @fd whose
 * header is @hdr; *@len gets the block's size.  Changes nothing in @sp
 * but its scratch buffers, so a failure leaves the object as it was.
 */
static int write_block(struct cot_spool *sp, int fd, const uint8_t hdr[HDR_LEN],
		       uint64_t idx, cot_spool_get get, void *ctx, size_t from,
		       uint32_t n, const uint8_t prev[32], size_t *len)
{
	size_t ptlen = fill_block(sp, get, ctx, from, n, prev);
	int rc;

	rc = seal_block(sp, hdr, idx, ptlen, sp->ct);
	if (rc < 0)
		return rc;
	*len = BLK_HDR + ptlen + TAG_LEN;
	return write_all(fd, sp->ct, *len);
}

/* Cut what a failed append left behind: the file ends at sp->size again. */
static int cut_back(struct cot_spool *sp)
{
	if (ftruncate(sp->fd, sp->size) < 0 ||
	    lseek(sp->fd, sp->size, SEEK_SET) < 0) {
		sp->cut_pending = 1;
		return -errno;
	}
	sp->cut_pending = 0;
	return 0;
}

static const struct cot_spool_rec *array_get(void *ctx, size_t i)
{
	return (const struct cot_spool_rec *)ctx + i;
}

int cot_spool_append(struct cot_spool *sp, const struct cot_spool_rec *recs,
		     uint32_t n, const uint8_t prev[static COT_CHAIN_LEN])
{
	size_t len;
	int rc;

	if (n < 1 || n > COT_BATCH_MAX)
		return -COT_EINVAL;
	if (sp->cut_pending) {
		rc = cut_back(sp);
		if (rc < 0)
			return rc;
	}
	/* Cast: array_get only reads. */
	rc = write_block(sp, sp->fd, sp->hdr, sp->nblocks, array_get,
			 (void *)(uintptr_t)recs, 0, n, prev, &len);
	if (rc == 0 && sp->do_fsync && fdatasync(sp->fd) < 0)
		rc = -errno;
	if (rc < 0) {
		/*
		 * A short write (full disk) or an unsynced block: cut it, so
		 * the file stays a valid spool and a retry of the same
		 * records appends them once.  If even that fails, the next
		 * append tries again first.
		 */
		cut_back(sp);
		return rc;
	}
	sp->nblocks++;
	sp->records += n;
	sp->size += (off_t)len;
	return 0;
}

/*
 * Verify and load every block.  Returns 0 or -COT_EBADMSG with @err set;
 * a torn tail is cut off.
 */
static int load(struct cot_spool *sp, cot_spool_load_cb cb, void *ctx,
		struct cot_spool_info *info, char *err, size_t errlen)
{
	uint8_t bh[BLK_HDR], aad[12], h[COT_CHAIN_LEN], tag[TAG_LEN];
	struct cot_spool_rec r;
	struct cot_batch_view b;
	struct cot_rec dec;
	uint64_t next_seq = 0;
	off_t off = HDR_LEN;
	ssize_t got;
	uint32_t len, i;
	int first = 1;

	/*
	 * Each pass consumes one block of at least BLK_HDR + TAG_LEN bytes,
	 * so the file's size bounds the loop.
	 */
	for (;;) {
		got = read_full(sp->fd, bh, BLK_HDR);
		if (got < 0)
			goto io;
		if (got == 0)
			break;
		if (got < BLK_HDR)
			goto torn;
		len = cot_get_le32(bh);
		if (len < COT_BATCH_HDR || len > CT_MAX) {
			snprintf(err, errlen, "block %" PRIu64 ": bad length",
				 sp->nblocks);
			return -COT_EBADMSG;
		}
		got = read_full(sp->fd, sp->ct, (size_t)len + TAG_LEN);
		if (got < 0)
			goto io;
		if ((size_t)got < (size_t)len + TAG_LEN)
			goto torn;
		memcpy(tag, sp->ct + len, TAG_LEN);
		cot_put_le64(aad, sp->nblocks);
		cot_put_le32(aad + 8, len);
		if (gcm(0, sp->key, bh + 4, sp->hdr, HDR_AAD, aad, sizeof(aad),
			sp->ct, len, sp->pt, tag) < 0) {
			snprintf(err, errlen,
				 "block %" PRIu64 " fails authentication",
				 sp->nblocks);
			return -COT_EBADMSG;
		}
		if (cot_batch_decode(&b, sp->pt, len) < 0 ||
		    (!first && b.first_seq != next_seq) ||
		    (!first && memcmp(b.prev_hash, h, COT_CHAIN_LEN) != 0)) {
			snprintf(err, errlen,
				 "block %" PRIu64
				 " does not continue the chain",
				 sp->nblocks);
			return -COT_EBADMSG;
		}
		if (first)
			memcpy(h, b.prev_hash, COT_CHAIN_LEN);
		first = 0;
		for (i = 0; i < b.count; i++) {
			const uint8_t *enc = cot_batch_enc(&b, i);
			size_t elen = cot_batch_enc_len(&b, i);
			uint8_t prev[COT_CHAIN_LEN];

			if (cot_chain_check_enc(&dec, enc, elen) < 0 ||
			    dec.seq != b.first_seq + i) {
				snprintf(err, errlen,
					 "block %" PRIu64 ": bad record",
					 sp->nblocks);
				return -COT_EBADMSG;
			}
			memcpy(prev, h, COT_CHAIN_LEN);
			cot_chain_next_fast(h, h, enc, elen);
			r.seq = dec.seq;
			r.added_ns = cot_batch_added(&b, i);
			r.len = (uint32_t)elen;
			memcpy(r.enc, enc, elen);
			memcpy(r.hash, h, COT_CHAIN_LEN);
			if (cb && cb(ctx, &r, prev) != 0) {
				snprintf(err, errlen, "load callback refused");
				return -COT_EINVAL;
			}
		}
		if (memcmp(h, b.last_hash, COT_CHAIN_LEN) != 0) {
			snprintf(err, errlen,
				 "block %" PRIu64 ": chain head mismatch",
				 sp->nblocks);
			return -COT_EBADMSG;
		}
		next_seq = b.first_seq + b.count;
		sp->nblocks++;
		sp->records += b.count;
		info->records += b.count;
		off += BLK_HDR + (off_t)len + TAG_LEN;
	}
	sp->size = off;
	return 0;
torn:
	log_warnx("%s: partial last block (crash during write?) cut off",
		  sp->path);
	info->torn = 1;
	if (ftruncate(sp->fd, off) < 0 || lseek(sp->fd, off, SEEK_SET) < 0)
		goto io;
	sp->size = off;
	return 0;
io:
	snprintf(err, errlen, "%s: %s", sp->path, strerror(errno));
	return -COT_EIO;
}

int cot_spool_open(struct cot_spool **out, const char *path,
		   const uint8_t key[static COT_SPOOL_KEYLEN], int do_fsync,
		   cot_spool_load_cb cb, void *ctx, struct cot_spool_info *info,
		   char *err, size_t errlen)
{
	struct cot_spool *sp;
	ssize_t got;
	int rc;

	*out = NULL;
	memset(info, 0, sizeof(*info));
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -COT_ENOMEM;
	sp->fd = -1;
	sp->do_fsync = do_fsync;
	memcpy(sp->key, key, COT_SPOOL_KEYLEN);
	sp->path = strdup(path);
	sp->pt = malloc(CT_MAX);
	sp->ct = malloc(BLK_HDR + CT_MAX + TAG_LEN);
	if (!sp->path || !sp->pt || !sp->ct) {
		rc = -COT_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	sp->fd = open(path, O_RDWR | O_CLOEXEC);
	if (sp->fd < 0 && errno == ENOENT) {
		/* No spool: a new epoch begins. */
		do {
			if (RAND_bytes((uint8_t *)&sp->epoch,
				       sizeof(sp->epoch)) != 1) {
				rc = -COT_EIO;
				snprintf(err, errlen, "RAND_bytes");
				goto err;
			}
		} while (!sp->epoch);
		sp->gen = 1;
		rc = cot_spool_rewrite(sp, sp->epoch, 0, NULL, NULL,
				       (const uint8_t[COT_CHAIN_LEN]){ 0 });
		if (rc < 0) {
			snprintf(err, errlen, "creating %s: %s", path,
				 strerror(-rc));
			goto err;
		}
		info->created = 1;
		info->epoch = sp->epoch;
		*out = sp;
		return 0;
	}
	if (sp->fd < 0) {
		rc = -COT_EIO;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err;
	}
	got = read_full(sp->fd, sp->hdr, HDR_LEN);
	if (got != HDR_LEN || memcmp(sp->hdr, "COTSPOL1", 8) != 0 ||
	    cot_get_le32(sp->hdr + 8) != 1 ||
	    gcm(0, sp->key, sp->hdr + 32, sp->hdr, HDR_AAD, NULL, 0, NULL, 0,
		NULL, sp->hdr + 44) < 0) {
		rc = -COT_EBADMSG;
		snprintf(err, errlen,
			 "%s: header fails authentication (tampered, or "
			 "another key)",
			 path);
		goto err;
	}
	sp->epoch = cot_get_le64(sp->hdr + 16);
	sp->gen = cot_get_le64(sp->hdr + 24);
	info->epoch = sp->epoch;
	rc = load(sp, cb, ctx, info, err, errlen);
	if (rc < 0)
		goto err;
	*out = sp;
	return 0;
err:
	cot_spool_close(sp);
	return rc;
}

int cot_spool_rewrite(struct cot_spool *sp, uint64_t epoch, size_t n,
		      cot_spool_get get, void *ctx,
		      const uint8_t prev[static COT_CHAIN_LEN])
{
	uint8_t hdr[HDR_LEN], h[COT_CHAIN_LEN];
	uint64_t gen = sp->gen + 1, nblocks = 0;
	off_t size = HDR_LEN;
	size_t i, len;
	char *tmp;
	uint32_t k;
	int fd, rc;

	/*
	 * The new file is built beside the old one under its own header;
	 * @sp takes the new header, epoch, generation and counts only once
	 * the rename has put the new file in place.  Until then, and on
	 * any failure, @sp and the file on disk are what they were.
	 */
	rc = make_header(sp->key, epoch, gen, hdr);
	if (rc < 0)
		return rc;
	if (asprintf(&tmp, "%s.tmp", sp->path) < 0)
		return -COT_ENOMEM;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		free(tmp);
		return rc;
	}
	rc = write_all(fd, hdr, HDR_LEN);
	memcpy(h, prev, COT_CHAIN_LEN);
	/* n is bounded by the caller's queue; blocks of COT_BATCH_MAX. */
	for (i = 0; rc == 0 && i < n; i += k) {
		k = (uint32_t)COT_MIN(n - i, (size_t)COT_BATCH_MAX);
		rc = write_block(sp, fd, hdr, nblocks, get, ctx, i, k, h, &len);
		if (rc == 0) {
			memcpy(h, get(ctx, i + k - 1)->hash, COT_CHAIN_LEN);
			nblocks++;
			size += (off_t)len;
		}
	}
	if (rc == 0 && sp->do_fsync && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, sp->path) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = fd;
	memcpy(sp->hdr, hdr, HDR_LEN);
	sp->epoch = epoch;
	sp->gen = gen;
	sp->nblocks = nblocks;
	sp->records = n;
	sp->size = size;
	sp->cut_pending = 0;
	return 0;
}

uint64_t cot_spool_records(const struct cot_spool *sp)
{
	return sp->records;
}

void cot_spool_close(struct cot_spool *sp)
{
	if (!sp)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	OPENSSL_cleanse(sp->key, sizeof(sp->key));
	free(sp->path);
	free(sp->pt);
	free(sp->ct);
	free(sp);
}

static int hkdf(uint8_t out[32], const uint8_t *ikm, size_t ikmlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	static char info[] = "cotrack spool v1";
	static char md[] = "SHA256";
	OSSL_PARAM params[4];
	int ok;

	EVP_KDF_free(kdf);
	if (!kc)
		return -COT_EIO;
	params[0] =
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)ikm, ikmlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						      strlen(info));
	params[3] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kc, out, 32, params) == 1;
	EVP_KDF_CTX_free(kc);
	return ok ? 0 : -COT_EIO;
}

static int unhex(uint8_t *out, size_t n, const char *s, size_t slen)
{
	size_t i;
	unsigned int v;

	if (slen != 2 * n)
		return -COT_EINVAL;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -COT_EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int cot_spool_key_load(const char *spec, uint8_t key[static COT_SPOOL_KEYLEN],
		       char *err, size_t errlen)
{
	uint8_t master[COT_SPOOL_KEYLEN], *buf = NULL;
	char raw[130];
	ssize_t got;
	size_t len;
	int fd, rc = -COT_EINVAL;
	struct stat sb;

	if (!strncmp(spec, "hex:", 4)) {
		if (unhex(master, sizeof(master), spec + 4, strlen(spec + 4)) <
		    0) {
			snprintf(err, errlen, "hex: wants 64 hex digits");
			return -COT_EINVAL;
		}
		rc = 0;
	} else if (!strncmp(spec, "fd:", 3)) {
		fd = atoi(spec + 3);
		got = read_full(fd, raw, sizeof(raw) - 1);
		close(fd);
		if (got < 0) {
			snprintf(err, errlen, "fd %d: %s", fd, strerror(errno));
			return -COT_EIO;
		}
		len = (size_t)got;
		while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
			len--;
		if (len == COT_SPOOL_KEYLEN) {
			memcpy(master, raw, COT_SPOOL_KEYLEN);
			rc = 0;
		} else {
			rc = unhex(master, sizeof(master), raw, len);
		}
		OPENSSL_cleanse(raw, sizeof(raw));
		if (rc < 0) {
			snprintf(err, errlen,
				 "fd %d: want 32 bytes or 64 hex digits", fd);
			return rc;
		}
	} else if (!strncmp(spec, "derive:", 7)) {
		fd = open(spec + 7, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size <= 0 ||
		    sb.st_size > 1 << 20) {
			snprintf(err, errlen, "%s: unreadable", spec + 7);
			if (fd >= 0)
				close(fd);
			return -COT_EIO;
		}
		buf = malloc((size_t)sb.st_size);
		got = buf ? read_full(fd, buf, (size_t)sb.st_size) : -1;
		close(fd);
		if (got != sb.st_size) {
			free(buf);
			snprintf(err, errlen, "%s: read failed", spec + 7);
			return -COT_EIO;
		}
		rc = hkdf(master, buf, (size_t)got);
		OPENSSL_cleanse(buf, (size_t)got);
		free(buf);
		if (rc < 0) {
			snprintf(err, errlen, "HKDF failed");
			return rc;
		}
	} else {
		snprintf(err, errlen,
			 "key spec must be fd:N, derive:FILE or hex:HEX");
		return -COT_EINVAL;
	}
	rc = hkdf(key, master, sizeof(master));
	OPENSSL_cleanse(master, sizeof(master));
	if (rc < 0)
		snprintf(err, errlen, "HKDF failed");
	return rc;
}
