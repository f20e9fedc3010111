// SPDX-License-Identifier: MIT
/* Address formatting without libc: dotted quad and RFC 5952 IPv6 text. */
#include "cotrack/common.h"

static char *put_dec(char *p, unsigned int v)
{
	char tmp[10];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(tmp));
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_hex16(char *p, unsigned int v)
{
	static const char hx[] = "0123456789abcdef";
	int shift, started = 0;

	for (shift = 12; shift >= 0; shift -= 4) {
		unsigned int d = (v >> shift) & 0xf;

		if (d || started || shift == 0) {
			*p++ = hx[d];
			started = 1;
		}
	}
	return p;
}

int cot_addr_format(char *buf, const struct cot_addr *a, bool v4_plain)
{
	char *p = buf;
	uint16_t w[8];
	int i, best = -1, bestlen = 0, run = -1, runlen = 0;
	bool mapped = cot_addr_is_v4(a);

	if (mapped && v4_plain) {
		for (i = 12; i < 16; i++) {
			p = put_dec(p, a->b[i]);
			if (i < 15)
				*p++ = '.';
		}
		*p = '\0';
		return (int)(p - buf);
	}
	for (i = 0; i < 8; i++)
		w[i] = cot_get_be16(a->b + 2 * i);
	/* RFC 5952 4.2: compress the longest run (>= 2) of zero words. */
	for (i = 0; i < 8; i++) {
		if (w[i] == 0) {
			if (run < 0) {
				run = i;
				runlen = 0;
			}
			runlen++;
			if (runlen > bestlen) {
				best = run;
				bestlen = runlen;
			}
		} else {
			run = -1;
		}
	}
	if (bestlen < 2)
		best = -1;
	if (mapped) {
		/* RFC 5952 5: ::ffff:a.b.c.d */
		const char pfx[] = "::ffff:";

		for (i = 0; pfx[i]; i++)
			*p++ = pfx[i];
		for (i = 12; i < 16; i++) {
			p = put_dec(p, a->b[i]);
			if (i < 15)
				*p++ = '.';
		}
		*p = '\0';
		return (int)(p - buf);
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			if (i == 0)
				*p++ = ':';
			i += bestlen - 1;
			continue;
		}
		p = put_hex16(p, w[i]);
		if (i < 7)
			*p++ = ':';
	}
	*p = '\0';
	return (int)(p - buf);
}
