// SPDX-License-Identifier: MIT
/*
 * host/json: hostile strings come out as JSON that escapes every
 * control, non-ASCII and HTML-special byte; commas and nesting are the
 * writer's; misuse sticks as an error.
 */
#include "cotrack/common.h"
#include "host/json.h"
#include "t.h"

static void test_escape(void)
{
	static const char hostile[] = "a\"b\\c\n\x01</script>&\x7f\xc3\xa9";
	struct cot_json j;

	cot_json_init(&j);
	cot_json_obj(&j);
	cot_json_kstr(&j, "s", hostile);
	cot_json_key(&j, "a");
	cot_json_arr(&j);
	cot_json_u64(&j, 18446744073709551615ull);
	cot_json_i64(&j, -5);
	cot_json_dbl(&j, 1.0 / 0.0);
	cot_json_bool(&j, 1);
	cot_json_null(&j);
	cot_json_strn(&j, "x\0y", 3);
	cot_json_arr_end(&j);
	cot_json_obj_end(&j);
	T_ASSERT(cot_json_done(&j) == 0);
	T_EQ_S(j.buf,
	       "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\\u003c/script\\u003e"
	       "\\u0026\\u007f\\u00c3\\u00a9\",\"a\":[18446744073709551615"
	       ",-5,null,true,null,\"x\\u0000y\"]}");
	cot_json_free(&j);
}

static void test_misuse(void)
{
	struct cot_json j;
	int i;

	cot_json_init(&j);
	cot_json_obj(&j);
	cot_json_key(&j, "k");
	cot_json_obj_end(&j); /* a key without a value */
	T_CHECK(cot_json_done(&j) == -COT_EINVAL);
	cot_json_free(&j);

	cot_json_init(&j);
	cot_json_arr(&j);
	T_CHECK(cot_json_done(&j) == -COT_EINVAL); /* unclosed */
	cot_json_free(&j);

	cot_json_init(&j);
	for (i = 0; i < COT_JSON_DEPTH + 1; i++)
		cot_json_arr(&j);
	T_CHECK(cot_json_done(&j) == -COT_EINVAL); /* too deep */
	cot_json_free(&j);

	cot_json_init(&j);
	cot_json_arr(&j);
	cot_json_arr_end(&j);
	cot_json_arr_end(&j); /* one close too many */
	T_CHECK(cot_json_done(&j) == -COT_EINVAL);
	cot_json_free(&j);
}

static void test_big(void)
{
	struct cot_json j;
	char s[5000];
	int i;

	memset(s, 'x', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	cot_json_init(&j);
	cot_json_arr(&j);
	for (i = 0; i < 100; i++)
		cot_json_str(&j, s);
	cot_json_arr_end(&j);
	T_ASSERT(cot_json_done(&j) == 0);
	T_EQ_U(j.len, 2 + 100 * (sizeof(s) - 1 + 2) + 99);
	cot_json_free(&j);
}

int main(void)
{
	T_RUN(test_escape);
	T_RUN(test_misuse);
	T_RUN(test_big);
	return t_done();
}
