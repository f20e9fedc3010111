/* SPDX-License-Identifier: MIT */
/*
 * Shared definitions of the freestanding core: error codes and the few
 * helpers every module uses.  Nothing here needs libc.
 */
#ifndef COTRACK_COMMON_H
#define COTRACK_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * Error codes.  Functions return 0 or a negative code.  The values are
 * the Linux errno numbers so host code can hand them to strerror(), but
 * the core needs no <errno.h>.
 */
#define COT_EPERM     1
#define COT_ENOENT    2
#define COT_EIO	      5
#define COT_E2BIG     7
#define COT_EAGAIN    11
#define COT_ENOMEM    12
#define COT_EFAULT    14
#define COT_EBUSY     16
#define COT_EEXIST    17
#define COT_EINVAL    22
#define COT_ENOSPC    28
#define COT_ERANGE    34
#define COT_ELOOP     40
#define COT_ENODATA   61
#define COT_EPROTO    71
#define COT_EOVERFLOW 75
#define COT_EBADMSG   74
#define COT_EMSGSIZE  90
#define COT_ENOTSUP   95

/*
 * The core may call only these four libc functions; the compiler emits
 * them for struct copies anyway, and the freestanding check allows them.
 */
#define cot_memcpy  __builtin_memcpy
#define cot_memset  __builtin_memset
#define cot_memcmp  __builtin_memcmp
#define cot_memmove __builtin_memmove

#define COT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define COT_MIN(a, b)	  ((a) < (b) ? (a) : (b))
#define COT_MAX(a, b)	  ((a) > (b) ? (a) : (b))

static inline uint16_t cot_get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t cot_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t cot_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t cot_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t cot_get_le64(const uint8_t *p)
{
	return (uint64_t)cot_get_le32(p) | (uint64_t)cot_get_le32(p + 4) << 32;
}

static inline void cot_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void cot_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void cot_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void cot_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void cot_put_le64(uint8_t *p, uint64_t v)
{
	cot_put_le32(p, (uint32_t)v);
	cot_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* IP address, IPv4 stored as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct cot_addr {
	uint8_t b[16];
};

static inline bool cot_addr_is_v4(const struct cot_addr *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0,	   0,
					 0, 0, 0, 0, 0xff, 0xff };

	return cot_memcmp(a->b, pfx, 12) == 0;
}

static inline void cot_addr_from_v4(struct cot_addr *a, const uint8_t v4[4])
{
	cot_memset(a->b, 0, 10);
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	cot_memcpy(a->b + 12, v4, 4);
}

/*
 * Format @a into @buf (at least COT_ADDR_STRLEN bytes): dotted quad for
 * IPv4-mapped addresses when @v4_plain, else RFC 5952 IPv6 text.
 * Returns the length written, excluding the NUL.
 */
#define COT_ADDR_STRLEN 48
int cot_addr_format(char *buf, const struct cot_addr *a, bool v4_plain);

#endif
