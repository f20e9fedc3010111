#!/usr/bin/env bash
# guest/run.sh always cleans up: QEMU killed and /dev/shm/NAME removed on
# the hard timeout and on SIGTERM; CMD mode passes CMD's exit status.
source "$TOP/tests/lib.sh"
G=$TOP/guest

"$G/build.sh" >"$T_TMP/build.log" 2>&1 || {
	not_ok "guest/build.sh"
	tail -20 "$T_TMP/build.log" | sed 's/^/# /'
	t_end
}

qemu_of() { cat "$1/qemu.pid" 2>/dev/null; }

# 1. hard timeout while the guest is still booting
n=cot-run-$$-a
"$G/run.sh" --role idle --name "$n" --dir "$T_TMP/a" --timeout 2 >"$T_TMP/a.out" 2>&1 &
pid=$!
t_on_exit "kill $pid"
for _ in $(seq 50); do [ -f "$T_TMP/a/qemu.pid" ] && break; sleep 0.1; done
q=$(qemu_of "$T_TMP/a")
wait "$pid"
check "hard timeout: exit 124" [ $? = 124 ]
check "hard timeout: QEMU gone" bash -c "! kill -0 ${q:-0} 2>/dev/null"
check "hard timeout: /dev/shm/$n removed" [ ! -e "/dev/shm/$n" ]

# 2. SIGTERM to a running guest
n=cot-run-$$-b
"$G/run.sh" --role idle --name "$n" --dir "$T_TMP/b" --timeout 120 >"$T_TMP/b.out" 2>&1 &
pid=$!
t_on_exit "kill $pid"
"$G/ctl.sh" "$T_TMP/b" wait-ready 60
check "idle guest ready" [ $? = 0 ]
q=$(qemu_of "$T_TMP/b")
check "RAM file exists while running" [ -f "/dev/shm/$n" ]
kill -TERM "$pid"
wait "$pid"
check "SIGTERM: exit 143" [ $? = 143 ]
check "SIGTERM: QEMU gone" bash -c "! kill -0 ${q:-0} 2>/dev/null"
check "SIGTERM: /dev/shm/$n removed" [ ! -e "/dev/shm/$n" ]

# 3. CMD mode: the command's status comes back, the guest is stopped
n=cot-run-$$-c
"$G/run.sh" --role idle --name "$n" --dir "$T_TMP/c" --timeout 120 -- \
	bash -c 'test -f "$COT_GUEST_MEM" && test "$COT_GUEST_MEMSIZE" = 268435456 && exit 7' \
	>"$T_TMP/c.out" 2>&1
check "CMD mode: CMD saw the RAM file and its status (7) is returned" [ $? = 7 ]
check "CMD mode: /dev/shm/$n removed" [ ! -e "/dev/shm/$n" ]
check "CMD mode: guest powered off through the console" grep -q '^==COTRACK-STOP==' "$T_TMP/c/console.log"

# 4. refuses RAM that would reach the PCI hole
"$G/run.sh" --mem 3G --name "cot-run-$$-d" --dir "$T_TMP/d" >/dev/null 2>&1
check "--mem 3G refused" [ $? = 1 ]
t_end
