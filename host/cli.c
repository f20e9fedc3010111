// SPDX-License-Identifier: MIT
/* host/cli: command-line argument parsers (cli.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cotrack/common.h"
#include "cotrack/pkt.h"
#include "cli.h"
#include "log.h"

#define NAME_MAX_LEN 64

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * @s as it goes into a log line: at most 60 bytes, control bytes as '?',
 * so a value can neither split the line nor flood it.
 */
static const char *shown(char buf[static 68], const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 60; i++)
		buf[i] = (unsigned char)s[i] < ' ' || s[i] == 0x7f ? '?' : s[i];
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/*
 * Digits at @s up to the first non-digit into @v; @end set past them.
 * Returns 0, -COT_EINVAL (no digit), -COT_ERANGE (more than 64 bits).
 */
static int digits_u64(const char *s, const char **end, uint64_t *v)
{
	uint64_t x = 0;
	const char *p = s;
	int over = 0;

	for (; is_digit(*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			over = 1;
		else
			x = x * 10 + d;
	}
	*end = p;
	if (p == s)
		return -COT_EINVAL;
	if (over)
		return -COT_ERANGE;
	*v = x;
	return 0;
}

int cot_cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	const char *end;
	uint64_t x;
	int rc;

	rc = digits_u64(s, &end, &x);
	if (rc == -COT_EINVAL || (rc == 0 && *end) ||
	    (rc == -COT_ERANGE && *end))
		return -COT_EINVAL;
	if (rc < 0 || x < min || x > max)
		return -COT_ERANGE;
	*v = x;
	return 0;
}

int cot_cli_u64(const char *what, const char *s, uint64_t min, uint64_t max,
		uint64_t *v)
{
	int rc = cot_cli_parse_u64(s, min, max, v);
	char b[68];

	if (rc == -COT_EINVAL)
		log_warnx("%s: '%s' is not a decimal number (want %" PRIu64
			  "..%" PRIu64 ")",
			  what, shown(b, s), min, max);
	else if (rc < 0)
		log_warnx("%s: %s is out of range (want %" PRIu64 "..%" PRIu64
			  ")",
			  what, shown(b, s), min, max);
	return rc < 0 ? -1 : 0;
}

int cot_cli_u32(const char *what, const char *s, uint32_t min, uint32_t max,
		uint32_t *v)
{
	uint64_t x;

	if (cot_cli_u64(what, s, min, max, &x) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int cot_cli_int(const char *what, const char *s, int min, int max, int *v)
{
	const char *p = s;
	uint64_t mag;
	int64_t x;
	int neg = 0, rc;
	char b[68];

	if (*p == '-' && min < 0) {
		neg = 1;
		p++;
	}
	/* Any magnitude beyond 2^32 is out of every int range. */
	rc = cot_cli_parse_u64(p, 0, UINT64_MAX, &mag);
	if (rc == -COT_EINVAL) {
		log_warnx("%s: '%s' is not a decimal number (want %d..%d)",
			  what, shown(b, s), min, max);
		return -1;
	}
	if (rc == 0 && mag <= (uint64_t)1 << 32) {
		x = neg ? -(int64_t)mag : (int64_t)mag;
		if (x >= min && x <= max) {
			*v = (int)x;
			return 0;
		}
	}
	log_warnx("%s: %s is out of range (want %d..%d)", what, shown(b, s),
		  min, max);
	return -1;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	/* Largest first: fmt_dur() picks the first that divides. */
	{ "h", 3600000000000ull }, { "m", 60000000000ull },
	{ "s", 1000000000ull },	   { "ms", 1000000ull },
	{ "us", 1000ull },	   { "ns", 1ull },
};

enum { DUR_OK, DUR_SYNTAX, DUR_FINE, DUR_RANGE };

/* DIGITS[.DIGITS][UNIT] -> ns, exact; see cli.h. */
static int parse_dur(const char *s, uint64_t *ns)
{
	const char *p, *frac = NULL;
	uint64_t ip, fp = 0, mult = 1000000000ull, pow10 = 1, den, g, fns;
	size_t nf = 0, i;
	int rc;

	rc = digits_u64(s, &p, &ip);
	if (rc == -COT_EINVAL)
		return DUR_SYNTAX;
	if (*p == '.') {
		frac = ++p;
		while (is_digit(*p))
			p++;
		nf = (size_t)(p - frac);
		if (!nf)
			return DUR_SYNTAX;
	}
	if (*p) {
		for (i = 0; i < COT_ARRAY_SIZE(units); i++)
			if (!strcmp(p, units[i].name))
				break;
		if (i == COT_ARRAY_SIZE(units))
			return DUR_SYNTAX;
		mult = units[i].ns;
	}
	if (rc == -COT_ERANGE)
		return DUR_RANGE;
	/* Trailing zeros of the fraction carry nothing. */
	while (nf && frac[nf - 1] == '0')
		nf--;
	/*
	 * Fraction f / 10^nf, last digit not 0: whole nanoseconds need
	 * 10^nf / gcd(mult, 10^nf) to divide f.  Reduced, f / 10^nf keeps
	 * 2^nf or 5^nf in its denominator and no unit has more than 2^13
	 * or 5^11 in it, so beyond 13 digits it never is (and beyond 19,
	 * 10^nf would not fit).
	 */
	if (nf > 19)
		return DUR_FINE;
	for (i = 0; i < nf; i++) {
		fp = fp * 10 + (uint64_t)(frac[i] - '0');
		pow10 *= 10;
	}
	g = gcd_u64(mult, pow10);
	den = pow10 / g;
	if (fp % den)
		return DUR_FINE;
	fns = fp / den * (mult / g); /* < mult: fits */
	if (ip > (UINT64_MAX - fns) / mult)
		return DUR_RANGE;
	*ns = ip * mult + fns;
	return DUR_OK;
}

/* @ns in the largest unit that divides it: "10ms", "1h", "1500us". */
static void fmt_dur(char *buf, size_t len, uint64_t ns)
{
	size_t i;

	for (i = 0; i < COT_ARRAY_SIZE(units) - 1; i++)
		if (ns && ns % units[i].ns == 0)
			break;
	if (!ns)
		i = 2; /* "0s" */
	snprintf(buf, len, "%" PRIu64 "%s", ns / units[i].ns, units[i].name);
}

int cot_cli_parse_duration(const char *s, uint64_t min_ns, uint64_t max_ns,
			   uint64_t *ns)
{
	uint64_t v;

	switch (parse_dur(s, &v)) {
	case DUR_OK:
		if (v < min_ns || v > max_ns)
			return -COT_ERANGE;
		*ns = v;
		return 0;
	case DUR_RANGE:
		return -COT_ERANGE;
	default:
		return -COT_EINVAL;
	}
}

int cot_cli_duration(const char *what, const char *s, uint64_t min_ns,
		     uint64_t max_ns, uint64_t *ns)
{
	char lo[32], hi[32], b[68];
	uint64_t v;
	int rc = parse_dur(s, &v);

	if (rc == DUR_OK && v >= min_ns && v <= max_ns) {
		*ns = v;
		return 0;
	}
	fmt_dur(lo, sizeof(lo), min_ns);
	fmt_dur(hi, sizeof(hi), max_ns);
	if (rc == DUR_SYNTAX)
		log_warnx("%s: '%s' is not a duration (want %s..%s, e.g. "
			  "500us, 10ms, 1.5s, 2m, 1h; a bare number is "
			  "seconds)",
			  what, shown(b, s), lo, hi);
	else if (rc == DUR_FINE)
		log_warnx("%s: '%s' is not a whole number of nanoseconds "
			  "(want %s..%s)",
			  what, shown(b, s), lo, hi);
	else
		log_warnx("%s: %s is out of range (want %s..%s)", what,
			  shown(b, s), lo, hi);
	return -1;
}

static int hostport(const char *what, const char *s, unsigned int min_port,
		    char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *h, *he, *ps, *p;
	char b[68], pb[68];
	uint64_t pn;
	size_t hl;

	if (s[0] == '[') {
		h = s + 1;
		he = strchr(h, ']');
		if (!he || (he[1] && he[1] != ':')) {
			log_warnx("%s: '%s' is not [IPV6]:PORT", what,
				  shown(b, s));
			return -1;
		}
		ps = he[1] ? he + 2 : NULL;
	} else {
		h = s;
		he = strchr(s, ':');
		ps = he ? he + 1 : NULL;
		if (!he)
			he = s + strlen(s);
		if (ps && strchr(ps, ':')) {
			log_warnx("%s: '%s': an IPv6 address needs brackets "
				  "([ADDR]:PORT)",
				  what, shown(b, s));
			return -1;
		}
	}
	if (he == h) {
		log_warnx("%s: '%s': no host (want HOST:PORT)", what,
			  shown(b, s));
		return -1;
	}
	for (p = h; p < he; p++) {
		if ((unsigned char)*p <= ' ' || *p == '[' || *p == ']' ||
		    *p == '/' || (unsigned char)*p == 0x7f) {
			log_warnx("%s: '%s': bad character in the host", what,
				  shown(b, s));
			return -1;
		}
	}
	if (!ps || !*ps) {
		log_warnx("%s: '%s': no port (want HOST:PORT)", what,
			  shown(b, s));
		return -1;
	}
	if (cot_cli_parse_u64(ps, min_port, 65535, &pn) < 0) {
		log_warnx("%s: '%s': port '%s' is not %u..65535", what,
			  shown(b, s), shown(pb, ps), min_port);
		return -1;
	}
	hl = (size_t)(he - h);
	if (hl >= hostlen) {
		log_warnx("%s: '%s': host longer than %zu bytes", what,
			  shown(b, s), hostlen ? hostlen - 1 : 0);
		return -1;
	}
	if ((size_t)snprintf(NULL, 0, "%" PRIu64, pn) >= portlen) {
		log_warnx("%s: '%s': no room for the port", what, shown(b, s));
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%" PRIu64, pn);
	return 0;
}

int cot_cli_hostport(const char *what, const char *s, char *host,
		     size_t hostlen, char *port, size_t portlen)
{
	return hostport(what, s, 1, host, hostlen, port, portlen);
}

int cot_cli_hostports(const char *what, const char *s,
		      struct cot_cli_server out[COT_CLI_MAX_SERVERS])
{
	char item[300], b[68];
	const char *p = s, *comma;
	size_t len;
	int n = 0;

	/* Bounded: each turn consumes an item and its comma. */
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0) {
			log_warnx("%s '%s': an empty item (want "
				  "HOST:PORT[,HOST:PORT...])",
				  what, shown(b, s));
			return -1;
		}
		if (n == COT_CLI_MAX_SERVERS) {
			log_warnx("%s: more than %d servers", what,
				  COT_CLI_MAX_SERVERS);
			return -1;
		}
		if (len >= sizeof(item)) {
			log_warnx("%s: an item longer than %zu bytes", what,
				  sizeof(item) - 1);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (cot_cli_hostport(what, item, out[n].host,
				     sizeof(out[n].host), out[n].port,
				     sizeof(out[n].port)) < 0)
			return -1;
		n++;
		if (!comma)
			return n;
		p = comma + 1;
	}
}

int cot_cli_listen(const char *what, const char *s, char *host, size_t hostlen,
		   char *port, size_t portlen)
{
	return hostport(what, s, 0, host, hostlen, port, portlen);
}

int cot_cli_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (i == NAME_MAX_LEN ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      is_digit(c) || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return i > 0;
}

static int pki_path(const char *what, char *out, size_t len, const char *dir,
		    const char *file, const char *ext)
{
	if ((size_t)snprintf(out, len, "%s/%s%s", dir, file, ext) < len)
		return 0;
	char b[68];

	log_warnx("%s: '%s/%s%s' is longer than %zu bytes", what, shown(b, dir),
		  file, ext, len - 1);
	return -1;
}

int cot_cli_pki(const char *what, const char *dir, const char *name,
		struct cot_cli_pki *out)
{
	struct cot_cli_pki p;
	char b[68];

	if (!cot_cli_name_ok(name)) {
		log_warnx("%s: '%s' is not a name (want 1..%d bytes of "
			  "A-Z a-z 0-9 . _ -)",
			  what, shown(b, name), NAME_MAX_LEN);
		return -1;
	}
	if (!dir[0]) {
		log_warnx("%s: empty PKI directory", what);
		return -1;
	}
	if (pki_path(what, p.ca, sizeof(p.ca), dir, "ca", ".pem") < 0 ||
	    pki_path(what, p.cert, sizeof(p.cert), dir, name, ".pem") < 0 ||
	    pki_path(what, p.key, sizeof(p.key), dir, name, ".key") < 0)
		return -1;
	*out = p;
	return 0;
}

/*
 * Tunnel ports (--vxlan-port, --geneve-port; see cli.h).
 */
int cot_cli_ports(const char *opt, const char *arg,
		  uint16_t ports[COT_PKT_MAX_PORTS], bool *set)
{
	char buf[128], *tok, *save = NULL;
	unsigned int n = 0;

	if (!*set) {
		memset(ports, 0, COT_PKT_MAX_PORTS * sizeof(ports[0]));
		*set = true;
	}
	while (n < COT_PKT_MAX_PORTS && ports[n])
		n++;
	if (strlen(arg) >= sizeof(buf)) {
		log_warnx("%s: list too long", opt);
		return -1;
	}
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint32_t v;

		if (cot_cli_u32(opt, tok, 1, 65535, &v) < 0)
			return -1;
		if (n == COT_PKT_MAX_PORTS) {
			log_warnx("%s: at most %d ports", opt,
				  COT_PKT_MAX_PORTS);
			return -1;
		}
		ports[n++] = (uint16_t)v;
	}
	return 0;
}
