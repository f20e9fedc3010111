# role "sockets": the socket zoo for the introspection tests (issue 3).
# Sourced by /init.  sockzoo (guest/src/sockzoo.c) holds the sockets; a
# process of the second namespace is added to COT_NS for the truth.
zoo_args=
[ "$COT_NS2" = 1 ] && zoo_args="--ns2"
[ "$COT_COUNT" -gt 0 ] 2>/dev/null && zoo_args="$zoo_args --count $COT_COUNT"
zoo=$(sockzoo hold $zoo_args) || cot_fail "sockzoo hold $zoo_args"
for kv in $zoo; do
	case $kv in ns2=*) COT_NS="$COT_NS ns2:${kv#ns2=}" ;; esac
done
cot_print_netns
[ "$COT_TRUTH" = 1 ] && cot_print_truth
cot_ready
cot_cmd_loop
