# husk: the one entry point. `make` builds everything under build/,
# `make check` runs every test, `make demo` shows a container in a VM.
.DEFAULT_GOAL := all
.SECONDEXPANSION:
SHELL := /bin/bash

VERSION := 0.1.0
B := build
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
DATADIR := $(PREFIX)/share/husk
export HUSK_CACHE ?= $(HOME)/.cache/husk
# Point these at another kernel or initrd to skip building ours.
KERNEL ?= $(B)/kernel/vmlinux
INITRD ?= $(B)/initrd.img
PYTHON ?= /usr/bin/python3

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
COMMON_CFLAGS := -std=gnu11 -g $(WARN) -fstack-protector-strong -D_GNU_SOURCE \
	-DHUSK_VERSION='"$(VERSION)"' -Iprotocol -MMD -MP

HOST_CC ?= gcc
# libnl-route-3 for the host side of the network (host-tool/netmirror.c)
NL_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0 2>/dev/null || echo -I/usr/include/libnl3)
NL_LIBS := $(shell pkg-config --libs libnl-route-3.0 2>/dev/null || echo -lnl-route-3 -lnl-3)
HOST_CFLAGS = $(COMMON_CFLAGS) $(NL_CFLAGS) -Wno-format-truncation -O2 -D_FORTIFY_SOURCE=2 -fPIE
HOST_LDFLAGS := -pie -Wl,-z,relro,-z,now
SAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer

MUSL := $(B)/musl
GUEST_CC := musl-gcc
GUEST_CFLAGS := $(COMMON_CFLAGS) -Wno-format-truncation -Os -I$(MUSL)/include -isystem $(MUSL)/kinc -ffunction-sections -fdata-sections
GUEST_LDFLAGS := -static -Wl,--gc-sections -Wl,-z,relro,-z,now -s

PROTO_SRC := $(wildcard protocol/*.c)
AGENT_SRC := $(wildcard init/*.c agent/*.c)
# testhooks.c: only in the test build (build/test/husk, HUSK_TEST_BUILD)
HOST_TEST_SRC := host-tool/testhooks.c
HOST_SRC := $(filter-out host-tool/main.c $(HOST_TEST_SRC),$(wildcard host-tool/*.c))
MKINITRD_SRC := $(filter-out initrd-builder/main.c,$(wildcard initrd-builder/*.c))

hobj = $(patsubst %.c,$(B)/host/%.o,$(1))
gobj = $(patsubst %.c,$(B)/guest/%.o,$(1))

DEPS_STAMP := $(B)/.deps-installed

.PHONY: all deps kernel check unit fuzz-replay integration fuzz demo bench install clean soak \
	sanitize sanitize-unit sanitize-integration valgrind
all: $(B)/husk $(B)/husk-agent $(B)/husk-mkinitrd $(INITRD) $(KERNEL)

# Debian packages; re-checked when the list changes.
$(DEPS_STAMP): scripts/install-deps.sh
	@scripts/install-deps.sh
	@mkdir -p $(B) && touch $@
deps: $(DEPS_STAMP)

# libuv and json-c built against musl (cached outside the tree).
$(MUSL)/.done: scripts/musl-deps.sh | $(DEPS_STAMP)
	@scripts/musl-deps.sh $(MUSL)
	@test -f $@

$(B)/host/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -c $< -o $@

$(B)/guest/%.o: %.c | $(MUSL)/.done
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

HOST_LIBS = -luv -ljson-c -lutil $(NL_LIBS)
$(B)/husk: $(call hobj,$(PROTO_SRC) $(HOST_SRC) host-tool/main.c)
	$(HOST_CC) $(HOST_LDFLAGS) $^ -o $@ $(HOST_LIBS)

# The husk the integration tests drive, build/test/husk: the same code plus
# the fault injection of host-tool/testhooks.c, its objects apart. It finds
# the kernel and initrd next to itself, as build/husk does.
tobj = $(patsubst %.c,$(B)/test/%.o,$(1))
$(B)/test/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -DHUSK_TEST_BUILD -c $< -o $@
$(B)/test/husk: $(call tobj,$(PROTO_SRC) $(HOST_SRC) $(HOST_TEST_SRC) host-tool/main.c)
	$(HOST_CC) $(HOST_LDFLAGS) $^ -o $@ $(HOST_LIBS)
	@mkdir -p $(B)/test/kernel
	@ln -sfn $(abspath $(KERNEL)) $(B)/test/kernel/vmlinux
	@ln -sfn $(abspath $(INITRD)) $(B)/test/initrd.img

$(B)/husk-agent: $(call gobj,$(PROTO_SRC) $(AGENT_SRC))
	$(GUEST_CC) $(GUEST_LDFLAGS) $^ -o $@ $(MUSL)/lib/libuv.a $(MUSL)/lib/libjson-c.a \
		$(MUSL)/lib/libseccomp.a

$(B)/husk-mkinitrd: $(call hobj,protocol/err.c $(MKINITRD_SRC) initrd-builder/main.c)
	$(HOST_CC) $(HOST_LDFLAGS) $^ -o $@ -larchive -ljson-c

$(B)/initrd.img: $(B)/husk-mkinitrd $(B)/husk-agent initrd-builder/initrd.list
	$(B)/husk-mkinitrd -o $@ initrd-builder/initrd.list

$(B)/kernel/vmlinux: kernel/husk.config kernel/build.sh $(wildcard kernel/patches/*.patch) | $(DEPS_STAMP)
	kernel/build.sh $(B)/kernel
kernel: $(KERNEL)

# Small static programs for tests and benchmarks (musl, no libraries).
$(B)/tests/husk-testhelper: tests/helper/husk-testhelper.c | $(MUSL)/.done
	@mkdir -p $(@D)
	$(GUEST_CC) -std=gnu11 -Os $(WARN) -Wno-format-truncation -D_GNU_SOURCE -static -s $< -o $@
$(B)/tests/husk-probe: tests/helper/husk-probe.c | $(MUSL)/.done
	@mkdir -p $(@D)
	$(GUEST_CC) -std=gnu11 -Os $(WARN) -Wno-format-truncation -D_GNU_SOURCE -static -s $< -o $@
$(B)/bench/floor-init: bench/floor-init.c | $(MUSL)/.done
	@mkdir -p $(@D)
	$(GUEST_CC) -std=gnu11 -Os $(WARN) -Wno-format-truncation -D_GNU_SOURCE -static -s $< -o $@

# ---- unit tests (cmocka) ----
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS := $(addprefix $(B)/tests/,$(UNIT_TESTS))
# What each unit test links besides the protocol.
test_cpio_SRC := $(MKINITRD_SRC)
test_cpio_LIBS := -larchive
test_config_SRC := host-tool/config.c
test_cgroup_SRC := host-tool/cgroup.c host-tool/cgroup-limits.c
test_events_SRC := host-tool/statsjson.c
test_qmp_SRC := host-tool/qmp.c
test_qmp_LIBS := -luv
test_spec_SRC := agent/spec.c agent/resources.c
test_netlink_SRC := agent/netlink.c agent/net.c
test_bounds_SRC := host-tool/bounds.c
test_vmconf_SRC := host-tool/allow.c
test_binds_SRC := host-tool/binds.c host-tool/share.c
# unit tests and fuzzers are built in one step: they depend on the headers directly
TEST_HDRS := $(wildcard protocol/*.h agent/*.h host-tool/*.h initrd-builder/*.h)
$(B)/tests/test_%: tests/unit/test_%.c $(PROTO_SRC) $$(test_$$*_SRC) $(TEST_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(COMMON_CFLAGS) -Wno-format-truncation -O1 $(SAN_CFLAGS) $< $(PROTO_SRC) $(test_$*_SRC) -o $@ \
		-lcmocka -ljson-c $(test_$*_LIBS)
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# ---- sanitizers and valgrind (docs/architecture.md, "Sanitizer and valgrind passes") ----
# build/asan/ holds its own objects: the host tool, the unit tests and the
# agent's pure logic (agent/spec.c in test_spec) built with glibc under
# ASan+UBSan, every report fatal. The guest stays the normal kernel and initrd.
ASAN := $(B)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_CFLAGS = $(COMMON_CFLAGS) $(NL_CFLAGS) -Wno-format-truncation -O1 $(ASAN_FLAGS)
ASAN_UNIT_BINS := $(addprefix $(ASAN)/tests/,$(UNIT_TESTS))
ASAN_REPORTS := $(abspath $(ASAN))/reports
ASAN_OPTS := detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1
UBSAN_OPTS := halt_on_error=1:print_stacktrace=1
SAN_ENV := ASAN_OPTIONS=$(ASAN_OPTS) UBSAN_OPTIONS=$(UBSAN_OPTS)
# Every husk process (the proxy is a forked child of create and run -d)
# writes its reports to a file <asan|ubsan>.<pid>; any file fails the pass.
SAN_LOG_ENV := ASAN_OPTIONS=$(ASAN_OPTS):log_path=$(ASAN_REPORTS)/asan \
	UBSAN_OPTIONS=$(UBSAN_OPTS):log_path=$(ASAN_REPORTS)/ubsan
aobj = $(patsubst %.c,$(ASAN)/obj/%.o,$(1))
$(ASAN)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(ASAN_CFLAGS) -c $< -o $@
# ubsan-log.c: gcc's libubsan ignores log_path beside libasan; see the file.
$(ASAN)/husk: $(call aobj,$(PROTO_SRC) $(HOST_SRC) host-tool/main.c tests/sanitize/ubsan-log.c)
	$(HOST_CC) $(ASAN_FLAGS) $^ -o $@ $(HOST_LIBS)
$(ASAN)/tests/test_%: tests/unit/test_%.c $(PROTO_SRC) $$(test_$$*_SRC) $(TEST_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(HOST_CC) $(ASAN_CFLAGS) $< $(PROTO_SRC) $(test_$*_SRC) -o $@ \
		-lcmocka -ljson-c $(test_$*_LIBS)
sanitize-unit: $(ASAN_UNIT_BINS)
	@set -e; for t in $(ASAN_UNIT_BINS); do echo "== asan $$t"; $(SAN_ENV) $$t; done
# One pass of the spec, run and lifecycle tests driving build/asan/husk with
# the rootfs on 9p (the one pass of the 9p share mode: valgrind covers the
# default virtio-fs path of the same code); it finds the normal kernel and
# initrd next to itself, as husk in build/ does.
sanitize-integration: $(ASAN)/husk $(KERNEL) $(INITRD) $(B)/husk-mkinitrd $(B)/tests/husk-testhelper
	@mkdir -p $(ASAN)/kernel
	@ln -sfn $(abspath $(KERNEL)) $(ASAN)/kernel/vmlinux
	@ln -sfn $(abspath $(INITRD)) $(ASAN)/initrd.img
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS)
	@rc=0; $(SAN_LOG_ENV) HUSK_BUILD=$(abspath $(B)) HUSK_BIN=$(abspath $(ASAN))/husk HUSK_SHARE=9p \
		$(PYTHON) -m pytest -q tests/integration/test_spec.py tests/integration/test_run.py \
		tests/integration/test_lifecycle.py \
		|| rc=$$?; \
	if [ -n "$$(ls -A $(ASAN_REPORTS))" ]; then \
		for f in $(ASAN_REPORTS)/*; do echo "== sanitizer report $$f"; cat "$$f"; done; \
		echo "sanitize: reports from husk processes above"; exit 1; fi; \
	exit $$rc
sanitize: sanitize-unit sanitize-integration
# The host tool (normal build) under memcheck, with and without a VM.
valgrind: $(B)/husk $(KERNEL) $(INITRD)
	scripts/valgrind-host.sh $(B)

# ---- fuzz targets: one libFuzzer binary replays the corpus or fuzzes ----
FUZZERS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(B)/fuzz/,$(FUZZERS))
fuzz_config_SRC := host-tool/config.c
fuzz_spec_SRC := agent/spec.c agent/resources.c
fuzz_net_SRC := agent/net.c agent/netlink.c
# the proxy's session, processes and relays on a socketpair, no VM
fuzz_session_SRC := host-tool/session.c host-tool/session-raw.c host-tool/console.c host-tool/procs.c host-tool/relay.c host-tool/bounds.c
fuzz_session_LIBS := -luv
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(PROTO_SRC) $$(fuzz_$$*_SRC) $(TEST_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	clang $(COMMON_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined $< $(PROTO_SRC) \
		$(fuzz_$*_SRC) -o $@ -ljson-c $(fuzz_$*_LIBS)
fuzz-replay: $(FUZZ_BINS)
	@set -e; for f in $(FUZZERS); do echo "== replay $$f"; \
		$(B)/fuzz/$$f -runs=0 tests/fuzz/corpus/$$f; done
FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZERS); do mkdir -p $(B)/fuzz/corpus-$$f; \
		$(B)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/ \
		$(B)/fuzz/corpus-$$f tests/fuzz/corpus/$$f; done

# ---- integration tests: real VMs under TCG ----
# The suite drives the test build (HUSK_BIN); test_build.py checks that the
# release husk has none of its hooks.
ITEST_ENV := HUSK_BUILD=$(abspath $(B)) HUSK_BIN=$(abspath $(B))/test/husk
integration: all $(B)/test/husk $(B)/tests/husk-testhelper $(B)/tests/husk-probe
	$(ITEST_ENV) $(PYTHON) -m pytest -q --durations=30 tests/integration
	@# with the 9p share a VM starts from a snapshot (host-tool/snapshot.h):
	@# every fault test on that path, and pods grafting into a 9p share
	$(ITEST_ENV) HUSK_SHARE=9p $(PYTHON) -m pytest -q tests/integration/test_faults.py \
		tests/integration/test_pod.py
# The 9p share mode is covered by sanitize-integration, which runs the
# container, its process and the verbs with the rootfs on 9p (and so on the
# snapshot-restore path).

check: unit fuzz-replay integration sanitize valgrind

# The load tests are part of check; soak repeats them SOAK_RUNS times.
SOAK_RUNS ?= 10
soak: all $(B)/tests/husk-testhelper
	for i in $$(seq $(SOAK_RUNS)); do \
		HUSK_SOAK_EXECS=1000 HUSK_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -q \
			tests/integration/test_soak.py || exit 1; \
	done

demo: all
	@scripts/demo.sh $(B)

bench: all $(B)/bench/floor-init $(B)/tests/husk-testhelper
	@HUSK_BUILD=$(abspath $(B)) $(PYTHON) bench/run.py

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)
	install -m 0755 $(B)/husk $(DESTDIR)$(BINDIR)/husk
	install -m 0755 $(B)/husk-mkinitrd $(DESTDIR)$(BINDIR)/husk-mkinitrd
	install -m 0644 $(KERNEL) $(DESTDIR)$(DATADIR)/kernel
	install -m 0644 $(INITRD) $(DESTDIR)$(DATADIR)/initrd.img

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
