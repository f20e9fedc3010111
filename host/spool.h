/* SPDX-License-Identifier: MIT */
/*
 * host/spool: the tracker's file of records not yet acknowledged by the
 * log server, sealed with AES-256-GCM so the disk (the cloud's) can
 * neither read nor alter them unnoticed.
 *
 * File (all integers little-endian):
 *   header 60 bytes: "COTSPOL1", u32 version (1), u32 0, u64 epoch,
 *          u64 generation, nonce[12], tag[16]   (GCM over no plaintext,
 *          AAD = the first 32 bytes: the header is authenticated)
 *   blocks: u32 ct_len, nonce[12], ct[ct_len], tag[16]
 *          AAD = header[0..32] || u64 block index || u32 ct_len
 *          plaintext = a BATCH payload (ship_proto.h): first_seq, count,
 *          prev_hash, last_hash, count x (added_ns, record encoding)
 *
 * The block index in the AAD makes reordering, removing or duplicating
 * blocks fail authentication; the header in the AAD ties blocks to this
 * epoch and generation.  On load every block is authenticated, every
 * record must be a canonical encoding, sequence numbers must be
 * consecutive and the hash chain must link across blocks.  Anything else
 * is tampering: cot_spool_open() fails with -COT_EBADMSG and loads
 * nothing.  A short last block (a write cut by a crash) is cut off with
 * a warning; the disk can always roll the file back to an older state,
 * which no file format can detect without trusted storage; logd sees it
 * (docs/logd.md, "rollback").
 *
 * Nonces are random (96 bits, RAND_bytes) per block and per header.
 * The key never touches the disk: see cot_spool_key_load().
 *
 * Thread-safety: a cot_spool belongs to one thread at a time.
 */
#ifndef COTRACK_HOST_SPOOL_H
#define COTRACK_HOST_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "cotrack/chain.h"
#include "cotrack/rec.h"

#define COT_SPOOL_KEYLEN 32

struct cot_spool;

struct cot_spool_rec {
	uint64_t seq, added_ns;
	uint32_t len; /* of enc: 140 (v1) .. COT_REC_WIRE_MAX (v2) */
	uint8_t enc[COT_REC_WIRE_MAX];
	uint8_t hash[COT_CHAIN_LEN]; /* h_seq, recomputed on load */
};

/* Called per record on load, in seq order; non-zero return aborts. */
typedef int (*cot_spool_load_cb)(void *ctx, const struct cot_spool_rec *r,
				 const uint8_t prev[COT_CHAIN_LEN]);

struct cot_spool_info {
	uint64_t epoch;	  /* stream epoch kept in the header */
	int created;	  /* 1: no file was there, a new epoch began */
	uint64_t records; /* records loaded */
	int torn;	  /* 1: a partial last block was cut off */
};

/*
 * Open @path, or create it with a new random epoch.  An existing file is
 * verified completely and its records passed to @cb.  Returns 0,
 * -COT_EBADMSG (tampered or wrong key: nothing usable), or another
 * negative code; @err says what.
 */
int cot_spool_open(struct cot_spool **out, const char *path,
		   const uint8_t key[static COT_SPOOL_KEYLEN], int do_fsync,
		   cot_spool_load_cb cb, void *ctx, struct cot_spool_info *info,
		   char *err, size_t errlen);

/*
 * Append @n (1..COT_BATCH_MAX) records with consecutive seqs; @prev is
 * the chain value before the first.  Returns 0 or a negative code (e.g.
 * -ENOSPC); on failure the partial block is cut off again, so the file
 * and @sp are as before the call and the same records may be appended
 * later.
 */
int cot_spool_append(struct cot_spool *sp, const struct cot_spool_rec *recs,
		     uint32_t n, const uint8_t prev[static COT_CHAIN_LEN]);

/* Fetches record @i (0-based) for cot_spool_rewrite(). */
typedef const struct cot_spool_rec *(*cot_spool_get)(void *ctx, size_t i);

/*
 * Replace the file atomically (temporary file PATH.tmp + rename) by one
 * holding @n records from @get, under @epoch (new or the same), next
 * generation.  @prev: chain value before the first record.  Returns 0 or
 * a negative code; on failure the old file is in place and @sp is
 * exactly as before (same header, epoch, generation and records), so
 * appends go on sealed against the header on disk.
 */
int cot_spool_rewrite(struct cot_spool *sp, uint64_t epoch, size_t n,
		      cot_spool_get get, void *ctx,
		      const uint8_t prev[static COT_CHAIN_LEN]);

/* Records written to the current file (live or already acknowledged). */
uint64_t cot_spool_records(const struct cot_spool *sp);

void cot_spool_close(struct cot_spool *sp);

/*
 * Get the spool's master key from @spec, never from the spool's disk:
 *   fd:N          read it from file descriptor N (64 hex digits or 32
 *                 raw bytes), then close N: e.g. a pipe from the
 *                 provisioning agent after attestation
 *   derive:PEM    HKDF-SHA256 of the tracker's private key file (for
 *                 installs where that key itself is sealed/provisioned)
 *   hex:HEX       64 hex digits on the command line (tests only: other
 *                 local users see argv)
 * The cipher key is HKDF-SHA256(master, info "cotrack spool v1").
 * Returns 0 or a negative code with @err set.
 */
int cot_spool_key_load(const char *spec, uint8_t key[static COT_SPOOL_KEYLEN],
		       char *err, size_t errlen);

#endif
