# console.t, with logd storing in PostgreSQL (a server this test starts
# itself: tests/tools/pg.sh through logd-lib.sh's LOGD_BACKEND=pg): the
# console's map, flows, health and browser checks read PostgreSQL.
export LOGD_BACKEND=pg
source "$TOP/tests/logd/console.t"
