# Helpers for test scripts (tests/*/*.t), sourced.  Each check prints one
# TAP line; tests/run.sh counts them.  $O is the build directory, $TOP the
# source tree.
set -u
: "${O:?run through tests/run.sh}" "${TOP:?}"
COTRACK=$O/cotrack
COTRACKD=$O/cotrackd
COTRACK_LOGD=$O/cotrack-logd
T_FAILS=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cotrack-test.XXXXXX")
t_cleanup_hooks=()
t_on_exit() { t_cleanup_hooks+=("$*"); }
t_exit_trap() {
	local h
	for h in "${t_cleanup_hooks[@]}"; do eval "$h" >/dev/null 2>&1; done
	# KEEP_TMP=1 keeps the files for debugging (processes still end).
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$T_TMP"
}
trap t_exit_trap EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; T_FAILS=$((T_FAILS + 1)); }
# check NAME CMD...: ok when CMD succeeds
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
skip_all() { echo "# skip: $*"; exit 77; }
t_end() { [ "$T_FAILS" = 0 ]; exit $?; }
