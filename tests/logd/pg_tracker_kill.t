# tracker_kill.t, with logd storing in PostgreSQL: a server this test starts
# itself (tests/tools/pg.sh, through logd-lib.sh's LOGD_BACKEND=pg).
export LOGD_BACKEND=pg
source "$TOP/tests/logd/tracker_kill.t"
