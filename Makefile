# cotrack: plain GNU Makefile.
#
#   make            build the programs into $(O) (default build/)
#   make demo       set up the machine, build, run the end-to-end demo
#   make demo-bitvisor  the same with the services' VM under BitVisor
#   make check      set up, build everything under ASan+UBSan into
#                   build/san and run every test; ends "N passed, N failed"
#   make bench      optimised build into build/rel, run bench/
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each
#   make freestanding-check   prove core/ links without libc
#   make format     clang-format the tree
#   make bitvisor   BitVisor with the cotrack netfunc module into
#                   build/bitvisor (docs/bitvisor.md); not part of all
#   make bench-bitvisor  only bench/bitvisor.sh: plain QEMU vs BitVisor
#                   vs BitVisor + tracking (docs/bench.md; root)
#   make bench-query  only bench/query.sh: cotrack query and graph on a
#                   10M-record database (built once, cached in build/bench)
#
# Sources are found by directory: core/**.c is the freestanding core,
# host/*.c the hosted library, cmd/NAME/*.c one program each,
# tests/unit/test_*.c one test binary each, tests/tools/*.c one helper
# program each (for the test scripts), fuzz/fuzz_*.c one fuzzer each.

O ?= build
SAN ?= 0
WERROR ?= 0
CC ?= cc
FUZZ_CC ?= clang
PKG_CONFIG ?= pkg-config
FUZZ_SECONDS ?= 60

PKGS := libpcap libbpf openssl sqlite3 libpq
# DPDK's librte_vhost: only cotrackd's vhost-user port uses it, and only
# that file sees its flags (they force -march and an -include).
DPDK_CFLAGS := $(shell $(PKG_CONFIG) --cflags libdpdk 2>/dev/null)
DPDK_LIBS := $(shell $(PKG_CONFIG) --libs libdpdk 2>/dev/null)
# libfixbuf (IPFIX export): only host/ipfix.c sees its (and GLib's) flags.
FIXBUF_CFLAGS := $(shell $(PKG_CONFIG) --cflags libfixbuf 2>/dev/null)
FIXBUF_LIBS := $(shell $(PKG_CONFIG) --libs libfixbuf 2>/dev/null)
# libmicrohttpd and Graphviz's libgvc (cotrack-logd --web): only
# cmd/cotrack-logd/web.c sees their flags; the console's files in
# cmd/cotrack-logd/web/ are embedded by a generated C file.
WEB_CFLAGS := $(shell $(PKG_CONFIG) --cflags libmicrohttpd libgvc 2>/dev/null)
WEB_LIBS := $(shell $(PKG_CONFIG) --libs libmicrohttpd libgvc 2>/dev/null)
WEB_ASSETS := $(sort $(wildcard cmd/cotrack-logd/web/*.html cmd/cotrack-logd/web/*.js cmd/cotrack-logd/web/*.css))

WARN := -Wall -Wextra -Wshadow -Wcast-qual -Wpointer-arith \
	-Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wundef
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(SAN),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
SANLD := -fsanitize=address,undefined
else
OPT := -O2 -g
SANLD :=
endif

BASE_CFLAGS := -std=c11 -Iinclude -I. -MMD -MP $(WARN) $(OPT) $(EXTRA_CFLAGS)
CORE_CFLAGS := $(BASE_CFLAGS) -ffreestanding
HOST_CFLAGS := $(BASE_CFLAGS) -D_GNU_SOURCE \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm

CORE_SRCS := $(sort $(wildcard core/*.c core/*/*.c))
HOST_SRCS := $(sort $(wildcard host/*.c))
PROGS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard cmd/*/*.c)))))
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
BENCH_SRCS := $(sort $(wildcard bench/*.c))

CORE_OBJS := $(CORE_SRCS:%.c=$(O)/obj/%.o)
HOST_OBJS := $(HOST_SRCS:%.c=$(O)/obj/%.o)
CORE_LIB := $(O)/libcotrack-core.a
HOST_LIB := $(O)/libcotrack-host.a
PROG_BINS := $(PROGS:%=$(O)/%)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(O)/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(O)/tests/tools/%)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(O)/bench/%)

.PHONY: all setup demo demo-bitvisor check check-build test bench bench-build fuzz fuzz-build \
	freestanding-check format clean guest bitvisor bench-bitvisor bench-query
.DEFAULT_GOAL := all

all: $(PROG_BINS) $(TOOL_BINS)

$(O)/obj/core/%.o: core/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(HOST_LIB): $(HOST_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# One program per cmd/ folder.
define prog_rule
$(O)/$(1): $(patsubst %.c,$(O)/obj/%.o,$(wildcard cmd/$(1)/*.c)) $(HOST_LIB) $(CORE_LIB)
	$$(CC) $(SANLD) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(O)/obj/cmd/cotrackd/vhost.o $(O)/obj/tests/unit/test_switch.o: HOST_CFLAGS += $(DPDK_CFLAGS)
$(O)/cotrackd $(O)/tests/test_switch: LDLIBS += $(DPDK_LIBS)
$(O)/obj/host/ipfix.o: HOST_CFLAGS += $(FIXBUF_CFLAGS)
$(O)/cotrack-logd $(O)/cotrack $(O)/tests/test_ipfix: LDLIBS += $(FIXBUF_LIBS)
$(O)/obj/cmd/cotrack-logd/web.o: HOST_CFLAGS += $(WEB_CFLAGS)
$(O)/cotrack-logd: LDLIBS += $(WEB_LIBS)
$(O)/cotrack-logd: $(O)/obj/gen/webassets.o
$(O)/gen/webassets.c: $(WEB_ASSETS) scripts/embed-assets.sh
	@mkdir -p $(dir $@)
	scripts/embed-assets.sh $@ $(WEB_ASSETS)
$(O)/obj/gen/webassets.o: $(O)/gen/webassets.c cmd/cotrack-logd/webassets.h
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -Icmd/cotrack-logd -c $< -o $@

$(O)/tests/%: $(O)/obj/tests/unit/%.o $(HOST_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(SANLD) -o $@ $^ $(LDLIBS)

# Helper programs of the test scripts: one per tests/tools/*.c.
$(O)/tests/tools/%: $(O)/obj/tests/tools/%.o $(HOST_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(SANLD) -o $@ $^ $(LDLIBS)

# Benchmark drivers: one program per bench/*.c.
$(O)/bench/%: $(O)/obj/bench/%.o $(HOST_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(SANLD) -o $@ $^ $(LDLIBS)

bench-build: all $(BENCH_BINS) $(O)/tests/tools/vhostfe

# --- set-up -----------------------------------------------------------
setup:
	@scripts/setup

guest: setup
	@guest/build.sh

# BitVisor (tee/bitvisor): unpack the shared tarball, patch, configure,
# build bitvisor.elf and loadvmm.efi with our module and the core files.
bitvisor: setup
	@tee/bitvisor/build.sh build/bitvisor

# --- check ------------------------------------------------------------
check-build: all $(TEST_BINS) $(TOOL_BINS)

check: setup
	@$(MAKE) --no-print-directory -s check-build O=build/san SAN=1 WERROR=1
	@$(MAKE) --no-print-directory -s fuzz-build
	@$(MAKE) --no-print-directory -s O=build/rel all
	@tests/run.sh build/san

test: check

# --- freestanding proof -------------------------------------------------
FS_DIR := $(O)/freestanding
FS_OBJS := $(CORE_SRCS:%.c=$(FS_DIR)/%.o)
FS_ALLOWED := memcpy memset memcmp memmove
$(FS_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Iinclude $(WARN) -O2 -ffreestanding -nostdlib \
		-fno-stack-protector -fno-pic -c $< -o $@

freestanding-check: $(FS_OBJS) tests/freestanding/start.c
	@mkdir -p $(FS_DIR)
	ld -r -o $(FS_DIR)/core.o $(FS_OBJS)
	@undef=$$(nm -u $(FS_DIR)/core.o | awk '{print $$2}' | sort -u); \
	bad=$$(for s in $$undef; do case " $(FS_ALLOWED) " in *" $$s "*) ;; \
		*) echo $$s;; esac; done); \
	if [ -n "$$bad" ]; then echo "core references outside the allowed shims: $$bad"; exit 1; fi; \
	echo "core undefined symbols: $$(echo $$undef) (allowed: $(FS_ALLOWED))"
	$(CC) -std=c11 -Iinclude -O2 -ffreestanding -nostdlib -static -fno-pic \
		-no-pie -fno-stack-protector -o $(FS_DIR)/core-nolibc \
		tests/freestanding/start.c $(FS_DIR)/core.o
	@echo "core links with -nostdlib -static: $(FS_DIR)/core-nolibc"

# --- fuzzing ------------------------------------------------------------
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS := -std=c11 -Iinclude -I. -D_GNU_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# host/ipfix.c (libfixbuf, GLib) is no fuzz target's: left out.
FUZZ_HOST_SRCS := $(filter-out host/ipfix.c,$(HOST_SRCS))
build/fuzz/%: fuzz/%.c $(CORE_SRCS) $(FUZZ_HOST_SRCS) $(wildcard include/cotrack/*.h host/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) $(FUZZ_HOST_SRCS) $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); \
		mkdir -p build/fuzz/corpus-$$n; \
		echo "== $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build/fuzz/corpus-$$n fuzz/corpus/$${n#fuzz_} || exit 1; \
	done

# --- demo and bench -----------------------------------------------------
demo: setup
	@$(MAKE) --no-print-directory -s O=build/rel all
	@scripts/demo.sh build/rel

# the same scenario with the services' VM under BitVisor (docs/bitvisor.md)
demo-bitvisor: setup
	@$(MAKE) --no-print-directory -s O=build/rel all
	@scripts/demo-bitvisor.sh build/rel

bench: setup
	@$(MAKE) --no-print-directory -s O=build/rel bench-build
	@bench/run.sh build/rel

# The seeds' experiment in BitVisor mode alone (bench/bitvisor.sh, root).
bench-bitvisor: setup
	@mkdir -p build/rel && BENCH=bitvisor bench/run.sh build/rel

# Queries at scale alone (bench/query.sh; docs/bench.md).
bench-query: setup
	@$(MAKE) --no-print-directory -s O=build/rel all
	@BENCH=query bench/run.sh build/rel

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(CORE_OBJS:.o=.d) $(HOST_OBJS:.o=.d) $(wildcard $(O)/obj/cmd/*/*.d) \
	$(wildcard $(O)/obj/tests/unit/*.d) $(wildcard $(O)/obj/tests/tools/*.d) \
	$(wildcard $(O)/obj/bench/*.d)
