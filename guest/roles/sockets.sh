# role "sockets": the socket zoo for the introspection tests (issue 3).
# Sourced by /init.  sockzoo (guest/src/sockzoo.c) holds the sockets; a
# process of the second namespace is added to COT_NS for the truth.
zoo_args=
[ "$COT_NS2" = 1 ] && zoo_args="--ns2"
[ "$COT_COUNT" -gt 0 ] 2>/dev/null && zoo_args="$zoo_args --count $COT_COUNT"
zoo=$(sockzoo hold $zoo_args) || cot_fail "sockzoo hold $zoo_args"
# Owners (issue 11): the processes in cgroups of their own (cgroup v2),
# two levels deep, so that `cotrack vmi snapshot` has paths to find.
mkdir -p /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
for kv in $zoo; do
	case $kv in
	ns2=*) COT_NS="$COT_NS ns2:${kv#ns2=}"; cg=svc/ns2 ;;
	keeper=*) cg=svc/zoo ;;
	*) cg= ;;
	esac
	if [ -n "$cg" ] && [ -e /sys/fs/cgroup/cgroup.procs ]; then
		mkdir -p "/sys/fs/cgroup/$cg"
		echo "${kv#*=}" >"/sys/fs/cgroup/$cg/cgroup.procs" ||
			cot_fail "cgroup $cg"
	fi
done
cot_print_netns
[ "$COT_TRUTH" = 1 ] && cot_print_truth
cot_ready
cot_cmd_loop
