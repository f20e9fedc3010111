// SPDX-License-Identifier: MIT
/*
 * host/cli and host/clock: every parser with good and bad input.  A bad
 * value must return -1, leave the output alone and log exactly one line
 * that names the option and the value; a good one must log nothing.
 * stderr is captured into a file per call, so the log lines neither mix
 * with this test's ok / not ok lines nor go unchecked.
 */
#include <stdint.h>
#include <unistd.h>

#include "cotrack/common.h"
#include "host/cli.h"
#include "host/clock.h"
#include "host/log.h"
#include "t.h"

static FILE *cap;
static int saved_err = -1;
static char logged[4096];

static void cap_begin(void)
{
	fflush(stderr);
	rewind(cap);
	if (ftruncate(fileno(cap), 0) < 0)
		perror("ftruncate");
	saved_err = dup(2);
	dup2(fileno(cap), 2);
}

static void cap_end(void)
{
	size_t n;

	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	rewind(cap);
	n = fread(logged, 1, sizeof(logged) - 1, cap);
	logged[n] = '\0';
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One log line naming @what and (when short enough to quote) @val. */
static int one_line(const char *what, const char *val)
{
	size_t len = strlen(logged);

	if (count_lines(logged) != 1 || logged[len - 1] != '\n' ||
	    !strstr(logged, what) ||
	    (strlen(val) <= 40 && !strstr(logged, val))) {
		printf("#   want one line naming %s and '%s', got: %s", what,
		       val, logged[0] ? logged : "(nothing)\n");
		return 0;
	}
	return 1;
}

static int quiet(const char *val)
{
	if (logged[0]) {
		printf("#   '%s' logged: %s", val, logged);
		return 0;
	}
	return 1;
}

#define SENTINEL 0x5a5a5a5a5a5a5a5aull

static int dur(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	int rc;

	*v = SENTINEL;
	cap_begin();
	rc = cot_cli_duration("--interval", s, min, max, v);
	cap_end();
	return rc;
}

static void dur_good(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
	uint64_t v;

	if (dur(s, min, max, &v) != 0 || v != want || !quiet(s)) {
		printf("#   duration '%s': got %llu, want %llu\n", s,
		       (unsigned long long)v, (unsigned long long)want);
		t_failed_now = 1;
	}
}

static void dur_bad(const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (dur(s, min, max, &v) != -1 || v != SENTINEL ||
	    !one_line("--interval", s)) {
		printf("#   duration '%s' not refused as it should be\n", s);
		t_failed_now = 1;
	}
}

static void test_duration(void)
{
	const uint64_t H = 3600000000000ull, MAX = UINT64_MAX;
	static const char *const bad[] = {
		"",	 "-1",	 "+1",	 "1e3", " 5",	 "5 ",	  "5s ", "s",
		"ms",	 ".5s",	 "1.",	 "1.s", "0x10",	 "inf",	  "nan", "1sec",
		"10 ms", "10MS", "1,5s", "5d",	"1..5s", "1.5.s", "--1", "1ms5",
	};
	size_t i;

	dur_good("10ms", 0, MAX, 10000000);
	dur_good("1.5s", 0, MAX, 1500000000);
	dur_good("500us", 0, MAX, 500000);
	dur_good("100ns", 0, MAX, 100);
	dur_good("2m", 0, MAX, 120000000000ull);
	dur_good("1h", 0, MAX, H);
	dur_good("0.5m", 0, MAX, 30000000000ull);
	dur_good("0.25ms", 0, MAX, 250000);
	dur_good("1.000000001s", 0, MAX, 1000000001);
	dur_good("1.50000000000000000000000s", 0, MAX, 1500000000);
	dur_good("007ms", 0, MAX, 7000000);
	dur_good("0", 0, MAX, 0);
	dur_good("0ns", 0, MAX, 0);
	/* A bare number is seconds, fractions too. */
	dur_good("30", 0, MAX, 30000000000ull);
	dur_good("2.5", 0, MAX, 2500000000ull);
	/* The largest value, exactly; one more overflows. */
	dur_good("18446744073709551615ns", 0, MAX, MAX);
	dur_bad("18446744073709551616ns", 0, MAX);
	dur_bad("18446744073709551616", 0, MAX);
	dur_bad("99999999999999999999999999h", 0, MAX);
	dur_bad("18446744074s", 0, MAX); /* fits in u64 seconds, not ns */
	dur_bad("5124096h", 0, MAX);
	dur_good("5124095h", 0, MAX, 5124095 * H);
	/* Finer than a nanosecond. */
	dur_bad("0.0000001ns", 0, MAX);
	dur_bad("1.5ns", 0, MAX);
	dur_bad("1.0000000001s", 0, MAX);
	dur_bad("0.00000000000000000000001h", 0, MAX);
	/* Range, both ends inclusive. */
	dur_good("1us", 1000, H, 1000);
	dur_good("1h", 1000, H, H);
	dur_bad("999ns", 1000, H);
	dur_bad("3600.000000001", 1000, H);
	dur_bad("0", 1, MAX);
	for (i = 0; i < COT_ARRAY_SIZE(bad); i++)
		dur_bad(bad[i], 0, MAX);
	/* The message says what is wanted, in units. */
	dur_bad("2h", 1000000, H);
	T_CHECK(strstr(logged, "1ms..1h") != NULL);
	T_CHECK(cot_cli_parse_duration("2h", 0, H, &(uint64_t){ 0 }) ==
		-COT_ERANGE);
	T_CHECK(cot_cli_parse_duration("2x", 0, H, &(uint64_t){ 0 }) ==
		-COT_EINVAL);
}

static void u64_case(const char *s, uint64_t min, uint64_t max, int ok,
		     uint64_t want)
{
	uint64_t v = SENTINEL;
	int rc;

	cap_begin();
	rc = cot_cli_u64("--count", s, min, max, &v);
	cap_end();
	if (ok ? (rc != 0 || v != want || !quiet(s))
	       : (rc != -1 || v != SENTINEL || !one_line("--count", s))) {
		printf("#   u64 '%s' [%llu, %llu]: rc %d v %llu\n", s,
		       (unsigned long long)min, (unsigned long long)max, rc,
		       (unsigned long long)v);
		t_failed_now = 1;
	}
}

static void test_u64(void)
{
	static const char *const bad[] = {
		"",   "-1",  "+1", "1e3", " 5", "5 ",  "0x10",
		"1.", "1.5", "5k", "--",  "a",	"1 2",
	};
	size_t i;

	u64_case("0", 0, UINT64_MAX, 1, 0);
	u64_case("42", 0, UINT64_MAX, 1, 42);
	u64_case("0042", 0, UINT64_MAX, 1, 42);
	u64_case("18446744073709551615", 0, UINT64_MAX, 1, UINT64_MAX);
	u64_case("18446744073709551616", 0, UINT64_MAX, 0, 0);
	u64_case("99999999999999999999999", 0, UINT64_MAX, 0, 0);
	u64_case("10", 10, 20, 1, 10);
	u64_case("20", 10, 20, 1, 20);
	u64_case("9", 10, 20, 0, 0);
	u64_case("21", 10, 20, 0, 0);
	for (i = 0; i < COT_ARRAY_SIZE(bad); i++)
		u64_case(bad[i], 0, UINT64_MAX, 0, 0);
}

static void u32_case(const char *s, uint32_t min, uint32_t max, int ok,
		     uint32_t want)
{
	uint32_t v = 0x5a5a5a5a;
	int rc;

	cap_begin();
	rc = cot_cli_u32("--max", s, min, max, &v);
	cap_end();
	if (ok ? (rc != 0 || v != want || !quiet(s))
	       : (rc != -1 || v != 0x5a5a5a5a || !one_line("--max", s))) {
		printf("#   u32 '%s': rc %d v %u\n", s, rc, v);
		t_failed_now = 1;
	}
}

static void test_u32(void)
{
	u32_case("4294967295", 0, UINT32_MAX, 1, UINT32_MAX);
	u32_case("4294967296", 0, UINT32_MAX, 0, 0);
	u32_case("18446744073709551616", 0, UINT32_MAX, 0, 0);
	u32_case("1", 1, 100, 1, 1);
	u32_case("0", 1, 100, 0, 0);
	u32_case("101", 1, 100, 0, 0);
	u32_case("-1", 0, UINT32_MAX, 0, 0);
	u32_case("", 0, UINT32_MAX, 0, 0);
	u32_case(" 5", 0, UINT32_MAX, 0, 0);
	u32_case("5 ", 0, UINT32_MAX, 0, 0);
	u32_case("1e3", 0, UINT32_MAX, 0, 0);
}

static void int_case(const char *s, int min, int max, int ok, int want)
{
	int v = 0x5a5a5a5a, rc;

	cap_begin();
	rc = cot_cli_int("--port", s, min, max, &v);
	cap_end();
	if (ok ? (rc != 0 || v != want || !quiet(s))
	       : (rc != -1 || v != 0x5a5a5a5a || !one_line("--port", s))) {
		printf("#   int '%s' [%d, %d]: rc %d v %d\n", s, min, max, rc,
		       v);
		t_failed_now = 1;
	}
}

static void test_int(void)
{
	int_case("0", 0, 65535, 1, 0);
	int_case("65535", 0, 65535, 1, 65535);
	int_case("65536", 0, 65535, 0, 0);
	int_case("-1", 0, 65535, 0, 0);
	int_case("-1", -5, 5, 1, -1);
	int_case("-5", -5, 5, 1, -5);
	int_case("-6", -5, 5, 0, 0);
	int_case("-0", -5, 5, 1, 0);
	int_case("2147483647", INT32_MIN, INT32_MAX, 1, INT32_MAX);
	int_case("-2147483648", INT32_MIN, INT32_MAX, 1, INT32_MIN);
	int_case("2147483648", INT32_MIN, INT32_MAX, 0, 0);
	int_case("-2147483649", INT32_MIN, INT32_MAX, 0, 0);
	int_case("4294967296", INT32_MIN, INT32_MAX, 0, 0);
	int_case("-4294967296", INT32_MIN, INT32_MAX, 0, 0);
	int_case("18446744073709551616", INT32_MIN, INT32_MAX, 0, 0);
	int_case("-18446744073709551616", INT32_MIN, INT32_MAX, 0, 0);
	int_case("", -5, 5, 0, 0);
	int_case("-", -5, 5, 0, 0);
	int_case("--1", -5, 5, 0, 0);
	int_case("+1", -5, 5, 0, 0);
	int_case(" 5", -5, 5, 0, 0);
	int_case("5 ", -5, 5, 0, 0);
	int_case("1e3", 0, 65535, 0, 0);
	int_case("12abc", 0, 65535, 0, 0);
}

static void hp_case(const char *s, unsigned int min_port, int ok,
		    const char *want_host, const char *want_port)
{
	char host[64], port[8];
	int rc;

	memset(host, 'X', sizeof(host));
	memset(port, 'X', sizeof(port));
	host[sizeof(host) - 1] = port[sizeof(port) - 1] = '\0';
	cap_begin();
	rc = min_port ? cot_cli_hostport("--server", s, host, sizeof(host),
					 port, sizeof(port))
		      : cot_cli_listen("--server", s, host, sizeof(host), port,
				       sizeof(port));
	cap_end();
	if (ok ? (rc != 0 || strcmp(host, want_host) ||
		  strcmp(port, want_port) || !quiet(s))
	       : (rc != -1 || host[0] != 'X' || port[0] != 'X' ||
		  !one_line("--server", s))) {
		printf("#   hostport '%s': rc %d host '%s' port '%s'\n", s, rc,
		       host, port);
		t_failed_now = 1;
	}
}

static void test_hostport(void)
{
	char lng[200];
	static const char *const bad[] = {
		"[::1]",
		":80",
		"host:0",
		"host:65536",
		"host",
		"host:",
		"",
		":",
		"[]:80",
		"[::1]80",
		"[::1]:",
		"::1:80",
		"a:b:c",
		"host:-1",
		"host:+80",
		"host: 80",
		"host:80 ",
		" host:80",
		"ho st:80",
		"[::1:80",
		"host:1e3",
		"host:0x50",
		"host:http",
		"host:99999999999999999999",
		"[::1]:6514x",
		"host]:80",
		"[a]b]:80",
	};
	size_t i;

	hp_case("[::1]:6514", 1, 1, "::1", "6514");
	hp_case("127.0.0.1:6514", 1, 1, "127.0.0.1", "6514");
	hp_case("logd.example:1", 1, 1, "logd.example", "1");
	hp_case("h:65535", 1, 1, "h", "65535");
	hp_case("h:080", 1, 1, "h", "80");
	hp_case("[fe80::1%eth0]:443", 1, 1, "fe80::1%eth0", "443");
	for (i = 0; i < COT_ARRAY_SIZE(bad); i++)
		hp_case(bad[i], 1, 0, NULL, NULL);
	/* A host that does not fit, and one that just does (63 + NUL). */
	memset(lng, 'a', sizeof(lng));
	snprintf(lng + 150, 50, ":80");
	hp_case(lng, 1, 0, NULL, NULL);
	T_CHECK(strstr(logged, "longer than 63") != NULL);
	snprintf(lng + 63, 50, ":80");
	hp_case(lng, 1, 1,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaa",
		"80");
	snprintf(lng + 64, 50, ":80");
	hp_case(lng, 1, 0, NULL, NULL);
	/* To listen on, port 0 (any) is fine; nothing else changes. */
	hp_case("127.0.0.1:0", 0, 1, "127.0.0.1", "0");
	hp_case("[::]:0", 0, 1, "::", "0");
	hp_case(":0", 0, 0, NULL, NULL);
	hp_case("h:65536", 0, 0, NULL, NULL);
	/* A port buffer too small for the port is refused, not cut. */
	{
		char h[16], p[3];

		cap_begin();
		T_CHECK(cot_cli_hostport("--server", "h:443", h, sizeof(h), p,
					 sizeof(p)) == -1);
		cap_end();
		T_CHECK(count_lines(logged) == 1);
	}
}

/*
 * cot_cli_hostports: @n items, the last @last_host @last_port; or with
 * @n 0 refused, in one line naming @last_host (the bad item, or what is
 * wrong with the list).
 */
static void hps_case(const char *s, int n, const char *last_host,
		     const char *last_port)
{
	struct cot_cli_server srv[COT_CLI_MAX_SERVERS];
	int rc;

	cap_begin();
	rc = cot_cli_hostports("--log-server", s, srv);
	cap_end();
	if (n ? (rc != n || strcmp(srv[n - 1].host, last_host) ||
		 strcmp(srv[n - 1].port, last_port) || !quiet(s))
	      : (rc != -1 || !one_line("--log-server", last_host))) {
		printf("#   hostports '%s': rc %d\n", s, rc);
		t_failed_now = 1;
	}
}

static void test_hostports(void)
{
	char lng[400], want[256];

	hps_case("a:1", 1, "a", "1");
	hps_case("a:1,b:2", 2, "b", "2");
	hps_case("a:1,[::1]:0443,c:3", 3, "c", "3");
	hps_case("a:1,[::1]:0443", 2, "::1", "443");
	hps_case("1:1,2:2,3:3,4:4,5:5,6:6,7:7,8:8", 8, "8", "8");
	hps_case("1:1,2:2,3:3,4:4,5:5,6:6,7:7,8:8,9:9", 0, "more than 8", NULL);
	hps_case("", 0, "empty item", NULL);
	hps_case(",", 0, "empty item", NULL);
	hps_case("a:1,", 0, "empty item", NULL);
	hps_case(",a:1", 0, "empty item", NULL);
	hps_case("a:1,,b:2", 0, "empty item", NULL);
	hps_case("a:1,b", 0, "'b'", NULL);
	hps_case("a:1,b:0", 0, "'b:0'", NULL);
	hps_case("a:1, b:2", 0, "' b:2'", NULL);
	/* an item longer than any host:port, and a host over 255 bytes */
	memset(lng, 'h', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	hps_case(lng, 0, "longer than", NULL);
	memcpy(lng + 256, ":1", 3);
	hps_case(lng, 0, "--log-server", NULL);
	memcpy(lng + 255, ":1", 3); /* 255 bytes: the longest host */
	memcpy(want, lng, 255);
	want[255] = '\0';
	hps_case(lng, 1, want, "1");
}

static void test_pki(void)
{
	struct cot_cli_pki p, q;
	char name[80], dir[600];
	static const char *const bad[] = { "",	  "a/b",	 "../x", "a b",
					   "a\n", "caf\xc3\xa9", "a:b",	 "*" };
	size_t i;

	cap_begin();
	T_CHECK(cot_cli_pki("--name", "/etc/cotrack/pki", "host-a.1_x", &p) ==
		0);
	cap_end();
	T_CHECK(quiet("host-a.1_x"));
	T_EQ_S(p.ca, "/etc/cotrack/pki/ca.pem");
	T_EQ_S(p.cert, "/etc/cotrack/pki/host-a.1_x.pem");
	T_EQ_S(p.key, "/etc/cotrack/pki/host-a.1_x.key");
	memset(name, 'n', 64);
	name[64] = '\0';
	cap_begin();
	T_CHECK(cot_cli_pki("--name", "d", name, &p) == 0);
	cap_end();
	T_CHECK(quiet(name));
	name[64] = 'n';
	name[65] = '\0';
	T_CHECK(!cot_cli_name_ok(name));
	memset(&q, 0x5a, sizeof(q));
	for (i = 0; i < COT_ARRAY_SIZE(bad) + 1; i++) {
		const char *n = i < COT_ARRAY_SIZE(bad) ? bad[i] : name;

		cap_begin();
		T_CHECK(cot_cli_pki("--name", "d", n, &q) == -1);
		cap_end();
		T_CHECK(q.ca[0] == 0x5a);
		if (!one_line("--name", strchr(n, '\n') ? "" : n))
			t_failed_now = 1;
	}
	T_CHECK(cot_cli_name_ok("server") && cot_cli_name_ok("a"));
	/* Paths that do not fit. */
	memset(dir, 'd', sizeof(dir));
	dir[503] = '\0'; /* "/ca.pem" fits (510), "/x.key" 509 fits */
	cap_begin();
	T_CHECK(cot_cli_pki("--pki", dir, "x", &p) == 0);
	cap_end();
	T_CHECK(quiet("dir"));
	cap_begin();
	T_CHECK(cot_cli_pki("--pki", dir, "xxxxx", &q) == -1);
	cap_end();
	T_CHECK(q.ca[0] == 0x5a && one_line("--pki", ""));
	dir[503] = 'd';
	dir[599] = '\0';
	cap_begin();
	T_CHECK(cot_cli_pki("--pki", dir, "x", &q) == -1);
	cap_end();
	T_CHECK(q.ca[0] == 0x5a && one_line("--pki", ""));
	cap_begin();
	T_CHECK(cot_cli_pki("--pki", "", "x", &q) == -1);
	cap_end();
	T_CHECK(one_line("--pki", ""));
}

static void test_clock(void)
{
	uint64_t a, b, r, t0, t1;
	double f;
	int i;

	a = cot_clock_mono_ns();
	for (i = 0; i < 100000; i++) {
		b = cot_clock_mono_ns();
		T_ASSERT(b >= a);
		a = b;
	}
	/* The real-time clock is past 2020 and far from the monotonic one. */
	r = cot_clock_real_ns();
	T_CHECK(r > 1577836800ull * 1000000000ull);
	t0 = cot_clock_tsc();
	f = cot_clock_tsc_per_ns();
	t1 = cot_clock_tsc();
	T_CHECK(f > 0);
	T_CHECK(t1 > t0);
	printf("#   tsc %.3f ticks/ns\n", f);
	/* The measure took about 20 ms, by both clocks. */
	a = cot_clock_mono_ns();
	f = cot_clock_tsc_per_ns();
	b = cot_clock_mono_ns() - a;
	T_CHECK(b >= 20000000 && b < 2000000000);
	T_CHECK(f > 0);
}

int main(void)
{
	log_init("test_cli", 1);
	cap = tmpfile();
	if (!cap)
		return 1;
	T_RUN(test_duration);
	T_RUN(test_u64);
	T_RUN(test_u32);
	T_RUN(test_int);
	T_RUN(test_hostport);
	T_RUN(test_hostports);
	T_RUN(test_pki);
	T_RUN(test_clock);
	fclose(cap);
	return t_done();
}
