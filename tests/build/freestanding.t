# The core builds with -ffreestanding -nostdlib, references nothing but
# the four allowed shims (memcpy, memset, memcmp, memmove), and links into
# a static program with no libc at all (tests/freestanding/start.c).
source "$TOP/tests/lib.sh"
out=$(make -C "$TOP" --no-print-directory -s O="$O/fs-check" freestanding-check 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "core links without libc (make freestanding-check)" test "$rc" = 0
check "the no-libc program exists" test -x "$O/fs-check/freestanding/core-nolibc"
if [ -x "$O/fs-check/freestanding/core-nolibc" ]; then
	# No dynamic section and no libc symbol in the linked program.
	if nm "$O/fs-check/freestanding/core-nolibc" | grep -Eq ' U |__libc|printf|malloc'; then
		not_ok "linked program has libc symbols"
	else
		ok "linked program has no undefined or libc symbols"
	fi
fi
# And the check really catches a libc call: a core file calling strlen.
mkdir -p "$T_TMP/core"
cat >"$T_TMP/bad.c" <<'C'
#include <stddef.h>
size_t strlen(const char *s);
size_t cot_bad(const char *s);
size_t cot_bad(const char *s) { return strlen(s); }
C
cc -std=c11 -O2 -ffreestanding -nostdlib -c "$T_TMP/bad.c" -o "$T_TMP/bad.o"
if nm -u "$T_TMP/bad.o" | grep -q strlen; then
	ok "the symbol check sees a libc reference (strlen)"
else
	not_ok "the symbol check misses strlen"
fi
t_end
