# leakwatch — plain GNU make, out-of-tree build in build/.  `make V=1` shows the commands.
#   make            the shim (build/libleakwatch.so) and the command (build/leakwatch)
#   make check      installs missing Debian packages (as root), builds, runs every test
#   make check-unit the fast suites alone (seconds): the shim's core, locks, reports, the command's logic
#   make check-e2e  the slow suites alone: programs under the shim, valgrind, the demo, nginx and the JVM
#   make check-witness  the shim's unit tests once more, built with the lock-order witness (lock.h)
#   make demo       the example gateway under `leakwatch gate`
#   make bench      the speed benchmarks (not part of check)
#   make fuzz       a short fuzzing pass over the report and suppression readers (part of check)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
DESTDIR ?=
B       := build
CC      ?= gcc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS_ALL := -D_GNU_SOURCE -Iinclude -MMD -MP
# LW_DEBUG_LOCKS=1: every shim lock checks the lock order on each acquisition (shim/lock.h)
ifeq ($(LW_DEBUG_LOCKS),1)
CPPFLAGS_ALL += -DLW_LOCK_WITNESS
endif
ifneq ($(V),1)
Q := @
endif

# --- the shim: shim/hooks.c holds only the exported libc names; everything else is the core ---------------
SHIM_SRC   := $(wildcard shim/*.c)
SHIM_OBJ   := $(SHIM_SRC:%.c=$(B)/%.o)
CORE_OBJ   := $(filter-out $(B)/shim/hooks.o $(B)/shim/preload.o,$(SHIM_OBJ))
SHIM_CFLAGS := $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
	-fno-strict-aliasing -fno-omit-frame-pointer -pthread
SHIM_LIBS  := -lunwind -ldl -pthread
# JNI/JVMTI headers for Java frames (shim/jvm.c); without a JDK the shim builds without them.
JAVA_INCLUDE ?= $(firstword $(wildcard /usr/lib/jvm/default-java/include /usr/lib/jvm/java-17-openjdk-*/include \
	/usr/lib/jvm/java-*-openjdk-*/include))
ifneq ($(JAVA_INCLUDE),)
SHIM_CFLAGS += -I$(JAVA_INCLUDE) -I$(JAVA_INCLUDE)/linux
endif

# --- the command --------------------------------------------------------------------------------------------
TOOLS_SRC  := $(wildcard tools/*.c)
TOOLS_OBJ  := $(TOOLS_SRC:%.c=$(B)/%.o)
TOOLS_LIB_OBJ := $(filter-out $(B)/tools/main.o,$(TOOLS_OBJ))
TOOLS_CFLAGS := $(CFLAGS) $(WARN)
TOOLS_LIBS := -ljansson -ldw -lelf -lz -lm -pthread

# --- tests: Check suites (tests/check_*.c, joined by tests/check_main.c) and fixture programs ----------------
CHECK_SRC  := $(wildcard tests/check_*.c) tests/testutil.c tests/fakereport.c
CHECK_OBJ  := $(CHECK_SRC:%.c=$(B)/%.o)
FIXTURE_SRC := $(wildcard tests/fixtures/*.c)
FIXTURES   := $(FIXTURE_SRC:tests/fixtures/%.c=$(B)/fixtures/%)
STATIC_FIXTURE_SRC := $(wildcard tests/fixtures/static/*.c)
STATIC_FIXTURES := $(STATIC_FIXTURE_SRC:tests/fixtures/static/%.c=$(B)/fixtures/static_%)
DEMO_SRC   := $(wildcard tests/demo/*.c)
DEMO_BIN   := $(DEMO_SRC:tests/demo/%.c=$(B)/demo/%)
BENCH_SRC  := $(wildcard tests/bench/*.c)
BENCH_BIN  := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)

# --- the fuzzing pass over the readers of untrusted input (tests/fuzz), with AddressSanitizer and UBSan ------
FUZZ_SRC   := tests/fuzz/fuzz_input.c $(filter-out tools/main.c,$(TOOLS_SRC)) shim/config.c shim/log.c shim/out.c
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SECONDS ?= 3

.PHONY: all check check-unit check-e2e check-witness deps bench demo install clean fuzz
all: $(B)/libleakwatch.so $(B)/leakwatch $(FIXTURES) $(STATIC_FIXTURES) $(DEMO_BIN)

$(B)/shim/%.o: shim/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) $(SHIM_CFLAGS) -c $< -o $@

$(B)/libleakwatch.so: $(SHIM_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-z,defs -Wl,-z,now -Wl,-soname,libleakwatch.so -o $@ $^ $(SHIM_LIBS)

$(B)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) -Itools -Ishim $(TOOLS_CFLAGS) -c $< -o $@

# The settings parser and its limits are the shim's own (shim/config.c), so run and gate reject up front
# what the shim would refuse.
TOOLS_SHIM_OBJ := $(B)/shim/config.o $(B)/shim/log.o $(B)/shim/out.o
$(B)/leakwatch: $(TOOLS_OBJ) $(TOOLS_SHIM_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(TOOLS_LIBS)

$(B)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) -Ishim -Itools $(CFLAGS) $(WARN) -pthread -c $< -o $@

$(B)/tests/check_runner: $(CHECK_OBJ) $(CORE_OBJ) $(TOOLS_LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -o $@ $^ $(shell pkg-config --libs check) -ljansson -ldw -lelf -lz -lunwind -ldl -pthread -lm

# Fixtures keep their frames simple to read in reports: no inlining, frame pointers kept.
$(B)/fixtures/%: tests/fixtures/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) -Iinclude -O1 -g -fno-inline -fno-omit-frame-pointer -fno-optimize-sibling-calls \
		$(WARN) -pthread $< -o $@

# Statically linked fixtures: programs leakwatch attach must refuse (no dynamic loader to load the shim).
$(B)/fixtures/static_%: tests/fixtures/static/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) -O1 -g -static $(WARN) $< -o $@

$(B)/demo/%: tests/demo/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) -O2 -g -fno-inline $(WARN) -pthread $< -o $@

$(B)/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) -O2 -g $(WARN) -pthread $< -o $@

$(B)/fuzz/fuzz_input: $(FUZZ_SRC) $(wildcard tools/*.h shim/*.h)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $@ (asan, ubsan)")
	$(Q)$(CC) $(CPPFLAGS_ALL) -Itools -Ishim $(FUZZ_FLAGS) $(WARN) $(FUZZ_SRC) -o $@ $(TOOLS_LIBS)

# A short deterministic pass (fixed seed, FUZZ_SECONDS per reader); part of check.
fuzz: $(B)/fuzz/fuzz_input
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/fuzz/fuzz_input tests/fuzz/corpus \
		$(FUZZ_SECONDS)

deps:
	$(Q)scripts/deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory all $(B)/tests/check_runner
	$(Q)LEAKWATCH_BUILD=$(abspath $(B)) $(B)/tests/check_runner
	$(Q)scripts/module-graph.sh $(B)
	$(Q)$(MAKE) --no-print-directory check-witness
	$(Q)$(MAKE) --no-print-directory fuzz

# `check` runs every registered suite (a new suite file needs no edit here); these two split them for a
# developer. A suite in neither list still runs in `check`.
UNIT_SUITES := shim cfi locks report tools input baseline html
E2E_SUITES  := integration robust security attach live containers exactness tools_live pprof demo e2e
check-unit: deps all $(B)/tests/check_runner
	$(Q)scripts/module-graph.sh $(B)
	$(Q)for suite in $(UNIT_SUITES); do \
		LEAKWATCH_BUILD=$(abspath $(B)) CK_RUN_SUITE=$$suite $(B)/tests/check_runner || exit 1; \
	done
check-e2e: deps all $(B)/tests/check_runner
	$(Q)for suite in $(E2E_SUITES); do \
		LEAKWATCH_BUILD=$(abspath $(B)) CK_RUN_SUITE=$$suite $(B)/tests/check_runner || exit 1; \
	done

# The witness build lives in its own directory so it never mixes with the normal objects.
WITNESS_B := $(B)/witness
check-witness:
	$(Q)$(MAKE) --no-print-directory B=$(WITNESS_B) LW_DEBUG_LOCKS=1 all $(WITNESS_B)/tests/check_runner
	$(Q)for suite in shim locks; do \
		LEAKWATCH_BUILD=$(abspath $(WITNESS_B)) CK_RUN_SUITE=$$suite $(WITNESS_B)/tests/check_runner || exit 1; \
	done

bench: all $(BENCH_BIN)
	$(Q)LEAKWATCH_BUILD=$(abspath $(B)) tests/bench/run.sh

# Like check, demo starts with deps: it is the README's first command on a fresh machine.
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)LEAKWATCH_BUILD=$(abspath $(B)) tests/demo/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(B)/libleakwatch.so $(DESTDIR)$(PREFIX)/lib/libleakwatch.so
	install -m 0755 $(B)/leakwatch $(DESTDIR)$(PREFIX)/bin/leakwatch
	install -m 0644 include/leakwatch.h $(DESTDIR)$(PREFIX)/include/leakwatch.h
	install -m 0644 docs/leakwatch.1 $(DESTDIR)$(PREFIX)/share/man/man1/leakwatch.1
	install -d $(DESTDIR)$(PREFIX)/share/leakwatch
	install -m 0644 docs/suppressions/hotspot.supp $(DESTDIR)$(PREFIX)/share/leakwatch/hotspot.supp

clean:
	rm -rf $(B)

-include $(shell find $(B) -path $(B)/witness -prune -o -name '*.d' -print 2>/dev/null)
