# host/db's unit test (tests/unit/test_db.c) against a real PostgreSQL
# server of this test's own: rows past a cursor block, nested
# statements, every value type and NULL, parameters, reset, errors.
# (make check also runs it alone, on SQLite only.)
export LOGD_BACKEND=pg
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
[ -x "$O/tests/test_db" ] || skip_all "$O/tests/test_db not built"
"$O/tests/test_db" "$(db_arg)" 2>&1 | grep -v '^NOTICE' | sed 's/^ok /# (test_db) ok /'
rc=${PIPESTATUS[0]}
check "test_db passes on PostgreSQL (exit $rc)" test "$rc" = 0
t_end
