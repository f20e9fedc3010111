// SPDX-License-Identifier: MIT
/* core/ship_proto: frames between tracker and logd (cotrack/ship_proto.h). */
#include "cotrack/ship_proto.h"

/* Largest payload per type; the batch bound comes from COT_BATCH_MAX. */
static uint32_t max_payload(uint8_t type)
{
	switch (type) {
	case COT_FR_HELLO:
		return 40;
	case COT_FR_WELCOME:
		return 48;
	case COT_FR_BATCH:
		return COT_FRAME_MAX;
	case COT_FR_ACK:
		return 40;
	case COT_FR_LOST:
		return 20;
	case COT_FR_ERROR:
		return 4 + COT_ERRMSG_MAX;
	}
	return 0;
}

int cot_frame_hdr_parse(const uint8_t hdr[static COT_FRAME_HDR], uint8_t *type,
			uint32_t *len)
{
	uint32_t n, max;

	if (hdr[0] != 'C' || hdr[1] != 'L')
		return -COT_EBADMSG;
	if (hdr[2] != COT_PROTO_VERSION)
		return -COT_ENOTSUP;
	max = max_payload(hdr[3]);
	n = cot_get_le32(hdr + 4);
	if (!max || n > max)
		return -COT_EBADMSG;
	*type = hdr[3];
	*len = n;
	return 0;
}

void cot_frame_hdr_put(uint8_t hdr[static COT_FRAME_HDR], uint8_t type,
		       uint32_t len)
{
	hdr[0] = 'C';
	hdr[1] = 'L';
	hdr[2] = COT_PROTO_VERSION;
	hdr[3] = type;
	cot_put_le32(hdr + 4, len);
}

int cot_hello_decode(struct cot_hello *h, const uint8_t *p, size_t len)
{
	if (len != 40)
		return -COT_EBADMSG;
	h->version = cot_get_le32(p);
	h->flags = cot_get_le32(p + 4);
	h->epoch = cot_get_le64(p + 8);
	h->last_seq = cot_get_le64(p + 16);
	h->oldest_seq = cot_get_le64(p + 24);
	h->dropped = cot_get_le64(p + 32);
	if (h->version != COT_PROTO_VERSION || h->epoch == 0)
		return -COT_EBADMSG;
	if (h->oldest_seq && h->oldest_seq > h->last_seq)
		return -COT_EBADMSG;
	return 0;
}

int cot_welcome_decode(struct cot_welcome *w, const uint8_t *p, size_t len)
{
	if (len != 48)
		return -COT_EBADMSG;
	w->version = cot_get_le32(p);
	w->flags = cot_get_le32(p + 4);
	w->held_seq = cot_get_le64(p + 8);
	cot_memcpy(w->hash, p + 16, COT_CHAIN_LEN);
	return w->version == COT_PROTO_VERSION ? 0 : -COT_EBADMSG;
}

int cot_ack_decode(struct cot_ack *a, const uint8_t *p, size_t len)
{
	if (len != 40)
		return -COT_EBADMSG;
	a->acked_seq = cot_get_le64(p);
	cot_memcpy(a->hash, p + 8, COT_CHAIN_LEN);
	return 0;
}

int cot_lost_decode(struct cot_lost *l, const uint8_t *p, size_t len)
{
	if (len != 20)
		return -COT_EBADMSG;
	l->first = cot_get_le64(p);
	l->last = cot_get_le64(p + 8);
	l->reason = cot_get_le32(p + 16);
	if (!l->first || l->first > l->last)
		return -COT_EBADMSG;
	return 0;
}

int cot_error_decode(struct cot_errframe *e, const uint8_t *p, size_t len)
{
	size_t i, n;

	if (len < 4 || len > 4 + COT_ERRMSG_MAX)
		return -COT_EBADMSG;
	e->code = cot_get_le32(p);
	n = len - 4;
	/* Keep printable ASCII only: the text ends up in logs. */
	for (i = 0; i < n; i++)
		e->msg[i] = p[4 + i] >= 0x20 && p[4 + i] < 0x7f ? (char)p[4 + i]
								: '?';
	e->msg[n] = '\0';
	return 0;
}

int cot_batch_decode(struct cot_batch_view *b, const uint8_t *p, size_t len)
{
	uint64_t first;
	uint32_t count, i;
	size_t rest, off;
	int n;

	if (len < COT_BATCH_HDR)
		return -COT_EBADMSG;
	first = cot_get_le64(p);
	count = cot_get_le32(p + 8);
	if (count < 1 || count > COT_BATCH_MAX || cot_get_le32(p + 12) != 0)
		return -COT_EBADMSG;
	if (first < 1 || first > UINT64_MAX - count)
		return -COT_EBADMSG;
	/* count <= COT_BATCH_MAX, so the product cannot overflow. */
	if (len < COT_BATCH_HDR + (size_t)count * COT_BATCH_ENTRY_MIN ||
	    len > COT_BATCH_HDR + (size_t)count * COT_BATCH_ENTRY_MAX)
		return -COT_EBADMSG;
	b->entries = p + COT_BATCH_HDR;
	rest = len - COT_BATCH_HDR;
	/* bounded by count <= COT_BATCH_MAX; each entry takes >= 148 bytes */
	for (i = 0, off = 0; i < count; i++) {
		if (rest - off < 8)
			return -COT_EBADMSG;
		n = cot_rec_wire_len(b->entries + off + 8, rest - off - 8);
		if (n < 0)
			return n;
		b->off[i] = (uint32_t)off;
		b->len[i] = (uint16_t)n;
		off += 8 + (size_t)n;
	}
	if (off != rest)
		return -COT_EBADMSG;
	b->first_seq = first;
	b->count = count;
	b->prev_hash = p + 16;
	b->last_hash = p + 48;
	return 0;
}

static int frame_put(uint8_t *out, size_t cap, uint8_t type, uint32_t len)
{
	if (cap < COT_FRAME_HDR + (size_t)len)
		return -COT_ENOSPC;
	cot_frame_hdr_put(out, type, len);
	return (int)(COT_FRAME_HDR + len);
}

int cot_hello_encode(uint8_t *out, size_t cap, const struct cot_hello *h)
{
	int n = frame_put(out, cap, COT_FR_HELLO, 40);
	uint8_t *p = out + COT_FRAME_HDR;

	if (n < 0)
		return n;
	cot_put_le32(p, h->version);
	cot_put_le32(p + 4, h->flags);
	cot_put_le64(p + 8, h->epoch);
	cot_put_le64(p + 16, h->last_seq);
	cot_put_le64(p + 24, h->oldest_seq);
	cot_put_le64(p + 32, h->dropped);
	return n;
}

int cot_welcome_encode(uint8_t *out, size_t cap, const struct cot_welcome *w)
{
	int n = frame_put(out, cap, COT_FR_WELCOME, 48);
	uint8_t *p = out + COT_FRAME_HDR;

	if (n < 0)
		return n;
	cot_put_le32(p, w->version);
	cot_put_le32(p + 4, w->flags);
	cot_put_le64(p + 8, w->held_seq);
	cot_memcpy(p + 16, w->hash, COT_CHAIN_LEN);
	return n;
}

int cot_ack_encode(uint8_t *out, size_t cap, const struct cot_ack *a)
{
	int n = frame_put(out, cap, COT_FR_ACK, 40);
	uint8_t *p = out + COT_FRAME_HDR;

	if (n < 0)
		return n;
	cot_put_le64(p, a->acked_seq);
	cot_memcpy(p + 8, a->hash, COT_CHAIN_LEN);
	return n;
}

int cot_lost_encode(uint8_t *out, size_t cap, const struct cot_lost *l)
{
	int n = frame_put(out, cap, COT_FR_LOST, 20);
	uint8_t *p = out + COT_FRAME_HDR;

	if (n < 0)
		return n;
	cot_put_le64(p, l->first);
	cot_put_le64(p + 8, l->last);
	cot_put_le32(p + 16, l->reason);
	return n;
}

int cot_error_encode(uint8_t *out, size_t cap, uint32_t code, const char *msg)
{
	size_t m = 0;
	int n;

	/* bounded: at most COT_ERRMSG_MAX bytes of @msg are looked at */
	while (m < COT_ERRMSG_MAX && msg[m])
		m++;
	n = frame_put(out, cap, COT_FR_ERROR, (uint32_t)(4 + m));
	if (n < 0)
		return n;
	cot_put_le32(out + COT_FRAME_HDR, code);
	cot_memcpy(out + COT_FRAME_HDR + 4, msg, m);
	return n;
}

void cot_batch_hdr_put(uint8_t out[static COT_FRAME_HDR + COT_BATCH_HDR],
		       uint64_t first_seq, uint32_t count, size_t entries_len,
		       const uint8_t prev[static COT_CHAIN_LEN],
		       const uint8_t last[static COT_CHAIN_LEN])
{
	uint8_t *p = out + COT_FRAME_HDR;

	cot_frame_hdr_put(out, COT_FR_BATCH,
			  (uint32_t)(COT_BATCH_HDR + entries_len));
	cot_put_le64(p, first_seq);
	cot_put_le32(p + 8, count);
	cot_put_le32(p + 12, 0);
	cot_memcpy(p + 16, prev, COT_CHAIN_LEN);
	cot_memcpy(p + 48, last, COT_CHAIN_LEN);
}
