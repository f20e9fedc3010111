/* SPDX-License-Identifier: MIT */
/*
 * cotrack/ship_proto: the frames tracker and cotrack-logd exchange inside
 * TLS.  Every frame is an 8-byte header and a payload, little-endian:
 *
 *   off len
 *     0   2 magic 'C','L'
 *     2   1 protocol version (1)
 *     3   1 type (enum cot_frame_type)
 *     4   4 payload length (bounded per type, at most COT_FRAME_MAX)
 *
 * Conversation: tracker HELLO -> logd WELCOME (what logd holds for this
 * tracker's stream) -> tracker BATCHes (pipelined) -> logd ACK after each
 * commit.  LOST tells logd which records the tracker dropped and why;
 * ERROR carries a code and a short text either way before a close.
 *
 * Payloads (fixed sizes are exact; anything else is malformed):
 *   HELLO   40: u32 version, u32 flags (COT_HELLO_*), u64 epoch,
 *               u64 last_seq (highest assigned), u64 oldest_seq (lowest
 *               still held, 0 none), u64 dropped (records lost so far)
 *   WELCOME 48: u32 version, u32 flags, u64 held_seq, hash[32] (chain
 *               head at held_seq, h_0 when 0)
 *   BATCH   80 + entries: u64 first_seq, u32 count (1..COT_BATCH_MAX),
 *               u32 reserved (0), prev_hash[32] (h at first_seq - 1),
 *               last_hash[32] (h at the last record), then count entries
 *               of u64 added_ns (tracker's CLOCK_REALTIME at add) and
 *               the record encoding, whose length its own header gives
 *               (rec.h: 140 bytes in version 1, the u16 at offset 140 in
 *               version 2).  The entries must fill the payload exactly.
 *               A batch of version-1 records is byte for byte the
 *               protocol-1 batch of fixed 148-byte entries, so the
 *               protocol version stays 1: an older logd takes a newer
 *               tracker's records as long as none names a workload.
 *   ACK     40: u64 acked_seq, hash[32]
 *   LOST    20: u64 first, u64 last, u32 reason (COT_LOST_*)
 *   ERROR   4 + n (n <= 256): u32 code, n bytes of text
 *
 * The decoders check every length before reading and never trust a count
 * they have not multiplied out against the payload length.
 *
 * Freestanding (core/ship_proto.c): the hosted shipper and logd
 * (host/ship.c, cmd/cotrack-logd) and the BitVisor shipper
 * (tee/bitvisor/ship.c) use this one implementation.
 */
#ifndef COTRACK_SHIP_PROTO_H
#define COTRACK_SHIP_PROTO_H

#include "cotrack/chain.h"
#include "cotrack/common.h"

#define COT_PROTO_VERSION   1
#define COT_FRAME_HDR	    8
#define COT_BATCH_MAX	    4096
#define COT_BATCH_HDR	    80
#define COT_BATCH_ENTRY_MIN (8 + COT_REC_WIRE_V1_LEN)
#define COT_BATCH_ENTRY_MAX (8 + COT_REC_WIRE_MAX)
#define COT_FRAME_MAX	    (COT_BATCH_HDR + COT_BATCH_MAX * COT_BATCH_ENTRY_MAX)
#define COT_ERRMSG_MAX	    256

enum cot_frame_type {
	COT_FR_HELLO = 1,
	COT_FR_WELCOME = 2,
	COT_FR_BATCH = 3,
	COT_FR_ACK = 4,
	COT_FR_LOST = 5,
	COT_FR_ERROR = 6,
};

#define COT_HELLO_RESTART 0x1 /* first connection since the process began */
#define COT_HELLO_FRESH	  0x2 /* epoch began in this process (no spool) */

#define COT_LOST_SPOOL_FULL 1

struct cot_hello {
	uint32_t version, flags;
	uint64_t epoch, last_seq, oldest_seq, dropped;
};

struct cot_welcome {
	uint32_t version, flags;
	uint64_t held_seq;
	uint8_t hash[COT_CHAIN_LEN];
};

struct cot_ack {
	uint64_t acked_seq;
	uint8_t hash[COT_CHAIN_LEN];
};

struct cot_lost {
	uint64_t first, last;
	uint32_t reason;
};

struct cot_errframe {
	uint32_t code;
	char msg[COT_ERRMSG_MAX + 1]; /* NUL-terminated */
};

/*
 * A validated view into a BATCH payload (points into the buffer).  The
 * decoder has walked every entry: off[i] is entry i's offset from
 * entries, len[i] its record encoding's length.
 */
struct cot_batch_view {
	uint64_t first_seq;
	uint32_t count;
	const uint8_t *prev_hash, *last_hash;
	const uint8_t *entries;
	uint32_t off[COT_BATCH_MAX];
	uint16_t len[COT_BATCH_MAX];
};

static inline const uint8_t *cot_batch_enc(const struct cot_batch_view *b,
					   uint32_t i)
{
	return b->entries + b->off[i] + 8;
}

static inline size_t cot_batch_enc_len(const struct cot_batch_view *b,
				       uint32_t i)
{
	return b->len[i];
}

static inline uint64_t cot_batch_added(const struct cot_batch_view *b,
				       uint32_t i)
{
	return cot_get_le64(b->entries + b->off[i]);
}

/* Write one entry at @p; returns its length (8 + @len). */
static inline size_t cot_batch_entry_put(uint8_t *p, uint64_t added_ns,
					 const uint8_t *enc, size_t len)
{
	cot_put_le64(p, added_ns);
	cot_memcpy(p + 8, enc, len);
	return 8 + len;
}

/*
 * Check a frame header.  Returns 0 with *type and *len (payload bytes,
 * within the type's bound), -COT_EBADMSG (magic, unknown type, bad
 * length) or -COT_ENOTSUP (version).
 */
int cot_frame_hdr_parse(const uint8_t hdr[static COT_FRAME_HDR], uint8_t *type,
			uint32_t *len);
void cot_frame_hdr_put(uint8_t hdr[static COT_FRAME_HDR], uint8_t type,
		       uint32_t len);

/* Payload decoders: 0 or -COT_EBADMSG.  @p holds @len bytes. */
int cot_hello_decode(struct cot_hello *h, const uint8_t *p, size_t len);
int cot_welcome_decode(struct cot_welcome *w, const uint8_t *p, size_t len);
int cot_ack_decode(struct cot_ack *a, const uint8_t *p, size_t len);
int cot_lost_decode(struct cot_lost *l, const uint8_t *p, size_t len);
int cot_error_decode(struct cot_errframe *e, const uint8_t *p, size_t len);
/*
 * Also rejects seq overflow (first_seq + count - 1 must fit, first >= 1)
 * and entries that do not fill the payload exactly; -COT_ENOTSUP when an
 * entry's record has an unknown version.
 */
int cot_batch_decode(struct cot_batch_view *b, const uint8_t *p, size_t len);

/*
 * Encoders write header + payload into @out (@cap bytes) and return the
 * frame's total length, or -COT_ENOSPC.
 */
int cot_hello_encode(uint8_t *out, size_t cap, const struct cot_hello *h);
int cot_welcome_encode(uint8_t *out, size_t cap, const struct cot_welcome *w);
int cot_ack_encode(uint8_t *out, size_t cap, const struct cot_ack *a);
int cot_lost_encode(uint8_t *out, size_t cap, const struct cot_lost *l);
int cot_error_encode(uint8_t *out, size_t cap, uint32_t code, const char *msg);
/*
 * Batch header only; the caller puts count entries (@entries_len bytes in
 * all, cot_batch_entry_put) after it.
 */
void cot_batch_hdr_put(uint8_t out[static COT_FRAME_HDR + COT_BATCH_HDR],
		       uint64_t first_seq, uint32_t count, size_t entries_len,
		       const uint8_t prev[static COT_CHAIN_LEN],
		       const uint8_t last[static COT_CHAIN_LEN]);

#endif
