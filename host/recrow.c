// SPDX-License-Identifier: MIT
/* host/recrow: a stored record from a row of either store (recrow.h). */
#include <stdio.h>
#include <string.h>

#include "cotrack/common.h"
#include "cotrack/pkt.h"
#include "host/recrow.h"

/* NULL reads as ""; a value that does not fit is malformed. */
static int row_str(struct cot_dbq *q, int c, char *dst, size_t cap)
{
	const char *v = cot_dbq_text(q, c);
	size_t n = cot_dbq_text_len(q, c);

	dst[0] = '\0';
	if (!v)
		return 0;
	if (n >= cap || strlen(v) != n)
		return -COT_EBADMSG;
	memcpy(dst, v, n + 1);
	return 0;
}

static int row_owner(struct cot_dbq *q, int *c, struct cot_rec_owner *o)
{
	int64_t pid = cot_dbq_int64(q, *c);

	if (pid < 0 || pid > UINT32_MAX)
		return -COT_EBADMSG;
	o->pid = (uint32_t)pid;
	if (row_str(q, *c + 1, o->comm, sizeof(o->comm)) < 0 ||
	    row_str(q, *c + 2, o->cgroup, sizeof(o->cgroup)) < 0)
		return -COT_EBADMSG;
	*c += 3;
	return 0;
}

/* A 16-byte address column into @a.  0 or -COT_EBADMSG. */
static int row_addr(struct cot_dbq *q, int c, uint8_t a[static 16])
{
	size_t len;
	const void *b = cot_dbq_blob(q, c, &len);

	if (!b || len != 16)
		return -COT_EBADMSG;
	memcpy(a, b, 16);
	return 0;
}

/* The tunnel columns at @c: all NULL (none) or a known type, an id
 * and two 16-byte addresses; inner_conns NULL (0) or a 32-bit count. */
static int row_tun(struct cot_dbq *q, int c, struct cot_rec *r)
{
	int64_t type = cot_dbq_int64(q, c);
	int64_t id = cot_dbq_int64(q, c + 1);
	int64_t inner = cot_dbq_int64(q, c + 4);

	if (inner < 0 || inner > UINT32_MAX)
		return -COT_EBADMSG;
	r->inner_conns = (uint32_t)inner;
	if (cot_dbq_null(q, c))
		return 0;
	if (type <= 0 || type >= COT_TUN__COUNT || id < 0 || id > UINT32_MAX ||
	    row_addr(q, c + 2, r->tun_src.b) < 0 ||
	    row_addr(q, c + 3, r->tun_dst.b) < 0)
		return -COT_EBADMSG;
	r->tun_type = (uint8_t)type;
	r->tun_id = (uint32_t)id;
	return 0;
}

int cot_rec_from_row(struct cot_dbq *q, int col, struct cot_rec *r)
{
	const char *vm;
	int c = col;

	memset(r, 0, sizeof(*r));
	r->seq = (uint64_t)cot_dbq_int64(q, c++);
	vm = cot_dbq_text(q, c++);
	if (vm)
		snprintf(r->vm, sizeof(r->vm), "%s", vm);
	r->proto = (uint8_t)cot_dbq_int64(q, c++);
	r->ipproto = (uint8_t)cot_dbq_int64(q, c++);
	r->tcp_state = (uint8_t)cot_dbq_int64(q, c++);
	r->end = (uint8_t)cot_dbq_int64(q, c++);
	r->seen_by = (uint8_t)cot_dbq_int64(q, c++);
	r->flags = (uint8_t)cot_dbq_int64(q, c++);
	r->tcp_flags_fwd = (uint8_t)cot_dbq_int64(q, c++);
	r->tcp_flags_rev = (uint8_t)cot_dbq_int64(q, c++);
	r->sport = (uint16_t)cot_dbq_int64(q, c++);
	r->dport = (uint16_t)cot_dbq_int64(q, c++);
	if (row_addr(q, c, r->src.b) < 0 || row_addr(q, c + 1, r->dst.b) < 0)
		return -COT_EBADMSG;
	c += 2;
	r->first_ns = (uint64_t)cot_dbq_int64(q, c++);
	r->last_ns = (uint64_t)cot_dbq_int64(q, c++);
	r->pkts_fwd = (uint64_t)cot_dbq_int64(q, c++);
	r->bytes_fwd = (uint64_t)cot_dbq_int64(q, c++);
	r->pkts_rev = (uint64_t)cot_dbq_int64(q, c++);
	r->bytes_rev = (uint64_t)cot_dbq_int64(q, c++);
	r->netns = (uint32_t)cot_dbq_int64(q, c++);
	if (row_owner(q, &c, &r->src_owner) < 0 ||
	    row_owner(q, &c, &r->dst_owner) < 0 ||
	    row_str(q, c++, r->src_name, sizeof(r->src_name)) < 0 ||
	    row_str(q, c++, r->dst_name, sizeof(r->dst_name)) < 0)
		return -COT_EBADMSG;
	return row_tun(q, c, r);
}
