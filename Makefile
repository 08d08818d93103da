# mta-stsd - one Makefile. `make` builds, `make run` serves the demo, `make test` tests.

CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= python3
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
# WERROR=1: a warning fails the build (make test, and so CI, sets it)
WERROR ?=
WARN_AS_ERROR = $(if $(filter 1,$(WERROR)),-Werror)
# hardening, as Debian builds its packages, for every build (normal, asan,
# fuzz, the image's): stack protector, position-independent executable, full
# RELRO with every symbol bound at start (BIND_NOW); _FORTIFY_SOURCE=2 only
# when CFLAGS optimise (glibc's checked functions need -O1 or more)
HARDEN_OPT := $(filter-out -O0,$(filter -O%,$(CFLAGS)))
HARDEN_CFLAGS = -fstack-protector-strong -fPIE \
	$(if $(HARDEN_OPT),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
HARDEN_LDFLAGS = -pie -Wl,-z,relro -Wl,-z,now
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(WARN_AS_ERROR) $(HARDEN_CFLAGS) $(CFLAGS) $(MBEDTLS_CFLAGS) $(MHD_CFLAGS) $(DEP_CFLAGS)

BUILD = build
VERSION = 0.1.0

# mbedTLS 3.6, by default built once from Debian 13's source package into
# .deps/mbedtls with mta-stsd's options and PSA drivers (scripts/fetch-mbedtls.sh,
# scripts/mbedtls-config.sh): the fast build (with nettle, a TLS handshake
# costs 0.9x nginx's server CPU, docs/BENCHMARKS.md). MBEDTLS_SYSTEM=yes uses
# the system's instead (pkg-config mbedtls >= 3.6; no drivers, slower).
MBEDTLS_PREFIX = $(CURDIR)/.deps/mbedtls
MBEDTLS_SYSTEM ?= no

# Set-up, before anything is built: what this machine lacks is installed by
# scripts/install-deps.sh when make runs as root (Debian); as another user make
# stops and prints the one command to run. The test goals check the whole list
# (dpkg, about half a second); the others probe only what the build needs, so a
# machine that has it (a container, another distribution) never runs the
# script. INSTALL_DEPS=no skips the set-up, and so does make -n.
INSTALL_DEPS ?= yes
ifneq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
INSTALL_DEPS = no
endif
GOALS = $(or $(MAKECMDGOALS),all)
TEST_GOALS = test check unit integration e2e asan fuzz
# NOGNUTLS=1 (below) builds its own libmicrohttpd; jansson: the ACME client's JSON
DEP_PKGS = $(if $(filter 1,$(NOGNUTLS)),inih,libmicrohttpd inih) jansson
# exits 0 when the build (and the demo, for make run) has what it needs
BUILD_PROBE = command -v $(CC) && pkg-config --exists $(DEP_PKGS) && \
	{ [ "$(MBEDTLS_SYSTEM)" = yes ] || \
	[ -f $(MBEDTLS_PREFIX)/lib/libmbedtls.a ] || { command -v cmake && command -v bzip2 && \
	command -v xz && python3 -c "import jinja2, jsonschema"; }; } && \
	{ [ -z "$(filter run,$(GOALS))" ] || command -v openssl; }
ifeq ($(INSTALL_DEPS),yes)
ifneq ($(filter $(TEST_GOALS),$(GOALS)),)
DEPS_SET = all
else ifneq ($(filter-out clean distclean,$(GOALS)),)
DEPS_SET := $(shell { $(BUILD_PROBE); } >/dev/null 2>&1 || echo --build)
endif
ifneq ($(DEPS_SET),)
# output to stderr so that apt's progress shows as it comes
DEPS_OUT := $(shell sh scripts/install-deps.sh $(filter --build,$(DEPS_SET)) >&2)
ifneq ($(.SHELLSTATUS),0)
$(error the set-up above failed; make again once it is fixed)
endif
endif
endif

# the nettle PSA driver (ECDSA P-256 and X25519 through libhogweed): on where
# pkg-config finds hogweed >= 3.6 (Debian: nettle-dev), NETTLE=no for without
ifndef NETTLE
NETTLE := $(shell pkg-config --atleast-version=3.6 hogweed 2>/dev/null && echo yes || echo no)
endif
# nettle, hogweed and GMP are linked statically: only the few functions the
# driver calls come along (as shared libraries their pages added 0.5 MiB to
# the resident size of a process serving one domain)
NETTLE_LIBS = -Wl,-Bstatic -lhogweed -lnettle -lgmp -Wl,-Bdynamic
ifeq ($(MBEDTLS_SYSTEM),yes)
MBEDTLS_CFLAGS := $(shell pkg-config --cflags mbedtls)
MBEDTLS_LIBS := $(shell pkg-config --libs mbedtls mbedx509 mbedcrypto)
MBEDTLS_DEP :=
else
MBEDTLS_CFLAGS := -isystem $(MBEDTLS_PREFIX)/include
# whether the build has the nettle driver is read from its configuration when
# linking (recursive: the first `make` builds mbedTLS before it links)
MBEDTLS_HAS_NETTLE = $(shell grep -qs '^\#define MTA_STSD_NETTLE_DRIVER_ENABLED' \
	$(MBEDTLS_PREFIX)/include/mbedtls/mbedtls_config.h && echo yes)
MBEDTLS_LIBS = $(MBEDTLS_PREFIX)/lib/libmbedtls.a $(MBEDTLS_PREFIX)/lib/libmbedx509.a \
	$(MBEDTLS_PREFIX)/lib/libmbedcrypto.a $(MBEDTLS_PREFIX)/lib/libeverest.a \
	$(MBEDTLS_PREFIX)/lib/libp256m.a \
	$(if $(MBEDTLS_HAS_NETTLE),$(MBEDTLS_PREFIX)/lib/libmtastsd-nettle.a $(NETTLE_LIBS))
MBEDTLS_DEP := $(MBEDTLS_PREFIX)/lib/libmbedtls.a
endif

# libmicrohttpd and inih from the system (Debian: libmicrohttpd-dev, libinih-dev).
# NOGNUTLS=1 (appliances, the container image): libmicrohttpd built without
# HTTPS from Debian 13's source package into .deps/microhttpd and linked
# statically (scripts/fetch-microhttpd.sh), so no GnuTLS is loaded; the
# objects and binary go to build-nognutls/. `make NOGNUTLS=1 install` installs it.
MHD_PREFIX = $(CURDIR)/.deps/microhttpd
ifeq ($(NOGNUTLS),1)
BUILD = build-nognutls
MHD_CFLAGS := -isystem $(MHD_PREFIX)/include
MHD_LIBS := $(MHD_PREFIX)/lib/libmicrohttpd.a -lpthread
MHD_DEP := $(MHD_PREFIX)/lib/libmicrohttpd.a
else
MHD_CFLAGS :=
MHD_LIBS :=
MHD_DEP :=
endif
DEP_MISSING := $(shell for p in $(DEP_PKGS); do pkg-config --exists $$p 2>/dev/null || echo $$p; done)
ifneq ($(DEP_MISSING),)
ifneq ($(filter-out clean distclean,$(GOALS)),)
$(error pkg-config does not find $(DEP_MISSING): install their development files (on Debian, \
	as root: sh scripts/install-deps.sh))
endif
endif
DEP_CFLAGS := $(shell pkg-config --cflags $(DEP_PKGS) 2>/dev/null)
DEP_LIBS := $(shell pkg-config --libs $(filter-out jansson,$(DEP_PKGS)) 2>/dev/null)
# jansson (Debian: libjansson-dev) is linked statically, as nettle is: only
# the functions called come along, and there is no shared library to map
# (resident pages) or to copy into the container image
JANSSON_LIBS := -Wl,-Bstatic $(shell pkg-config --libs --static jansson 2>/dev/null) -Wl,-Bdynamic
# -lresolv: glibc's DNS resolver API, for `mta-stsd check`
LIBS = $(MBEDTLS_LIBS) $(MHD_LIBS) $(DEP_LIBS) $(JANSSON_LIBS) -lresolv

# mbedTLS is built with one section per function: keep only what is called.
# --exclude-libs: the static libraries' symbols are not exported: nettle's
# and GMP's would otherwise interpose on the shared copies GnuTLS (loaded by
# Debian's libmicrohttpd) uses, and fill the dynamic symbol table (12 KiB of
# the binary's resident pages)
LINK_GC = -Wl,--gc-sections -Wl,--exclude-libs,ALL

# every server source except main.c forms a library the unit tests link too:
# the daemon and the pure code the tools share. The command-line tools
# (`check`, `dns`) are in server/tools/, linked into mta-stsd beside it; the
# library never includes a header of theirs.
SRCS := $(wildcard server/*.c)
LIB_OBJS := $(patsubst server/%.c,$(BUILD)/%.o,$(filter-out server/main.c,$(SRCS)))
TOOL_OBJS := $(patsubst server/%.c,$(BUILD)/%.o,$(wildcard server/tools/*.c))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/%,$(UNIT_SRCS))

.PHONY: all run test check unit integration e2e install clean distclean asan deps fuzz bench \
	image image-test

all: $(BUILD)/mta-stsd

deps: $(MBEDTLS_DEP) $(MHD_DEP)

# the mbedTLS build's inputs: the scripts and mta-stsd's PSA drivers
MBEDTLS_INPUTS = scripts/fetch-mbedtls.sh scripts/mbedtls-config.sh scripts/mbedtls-build.sh $(wildcard scripts/mbedtls-driver/*)

# (rebuilt when NETTLE differs from what the build was made with; the source
# tarball fetch-mbedtls.sh downloaded is kept in .deps/src and used again)
MBEDTLS_NETTLE_BUILT := $(shell cat $(MBEDTLS_PREFIX)/nettle 2>/dev/null)
MBEDTLS_TARBALL ?= $(firstword $(wildcard $(dir $(MBEDTLS_PREFIX))src/mbedtls_3.6*.orig.tar.*))
$(MBEDTLS_PREFIX)/lib/libmbedtls.a: $(MBEDTLS_INPUTS) $(if $(filter-out $(NETTLE),$(MBEDTLS_NETTLE_BUILT)),FORCE)
	rm -rf $(MBEDTLS_PREFIX)
	MTA_STSD_NETTLE=$(NETTLE) MBEDTLS_TARBALL=$(MBEDTLS_TARBALL) sh scripts/fetch-mbedtls.sh $(MBEDTLS_PREFIX)
	echo $(NETTLE) >$(MBEDTLS_PREFIX)/nettle

.PHONY: FORCE
FORCE:

$(MHD_PREFIX)/lib/libmicrohttpd.a: scripts/fetch-microhttpd.sh
	rm -rf $(MHD_PREFIX)
	sh scripts/fetch-microhttpd.sh $(MHD_PREFIX)

$(BUILD)/%.o: server/%.c server/*.h $(MBEDTLS_DEP) $(MHD_DEP) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -DMTA_STSD_VERSION='"$(VERSION)"' -c -o $@ $<

# the tools include the library's headers by their names (-Iserver)
$(BUILD)/tools/%.o: server/tools/%.c server/tools/*.h server/*.h $(MBEDTLS_DEP) $(MHD_DEP) | $(BUILD)
	@mkdir -p $(BUILD)/tools
	$(CC) $(ALL_CFLAGS) -Iserver -DMTA_STSD_VERSION='"$(VERSION)"' -c -o $@ $<

$(BUILD)/main.o: server/tools/*.h

$(BUILD)/libmtastsd.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

$(BUILD)/mta-stsd: $(BUILD)/main.o $(TOOL_OBJS) $(BUILD)/libmtastsd.a
	$(CC) $(CFLAGS) $(HARDEN_LDFLAGS) $(LDFLAGS) $(LINK_GC) -o $@ $(BUILD)/main.o \
		$(TOOL_OBJS) $(BUILD)/libmtastsd.a $(LIBS)

# unit tests link only the pure modules they test, so they build while the rest changes
UNIT_names = diag names
UNIT_policy = diag names policy
UNIT_config = diag names policy records strmap config
UNIT_certs = diag names certs
UNIT_certset = diag names strmap changes certs certset
UNIT_challenge = diag names certs files challenge
UNIT_records = diag names policy records
UNIT_strmap = strmap
UNIT_trim = trim
UNIT_json = json
UNIT_metrics = metrics policy names diag json
UNIT_diag = diag
UNIT_files = files
UNIT_acmed = acmed $(ACME_OBJS) certset changes snapshot config policy records strmap metrics
UNIT_loop = log json loop
UNIT_health = tools/health httpresp diag log json
UNIT_jose = json jose
UNIT_x509gen = diag names certs json jose x509gen
# acme.c's pure parsers (the rest of it is linked, not called)
ACME_OBJS = acme jose x509gen httpc netio httpresp challenge files certs names diag log json
UNIT_acme = $(ACME_OBJS)
UNIT_httpc = httpc netio httpresp diag
UNIT_nettle_driver =
# the nettle driver's test sees the PSA core's calls of the driver (--wrap), and
# counts mbedTLS's calloc()s (the PSA core's copies of buffers)
UNIT_LDFLAGS_nettle_driver = $(if $(MBEDTLS_HAS_NETTLE),$(patsubst %,-Wl$(comma)--wrap=mtasts_nettle_transparent_%,sign_hash export_public_key key_agreement aead_encrypt aead_decrypt) -Wl$(comma)--wrap=calloc)
# test_certs counts psa_import_key calls (a key imported once, not per signature)
UNIT_LDFLAGS_certs = -Wl,--wrap=psa_import_key
comma := ,
define unit_rule
$(BUILD)/test_$(1): tests/unit/test_$(1).c $(patsubst %,$(BUILD)/%.o,$(UNIT_$(1))) $$(MBEDTLS_DEP)
	$$(CC) $$(ALL_CFLAGS) $$(HARDEN_LDFLAGS) -Iserver $$$$(pkg-config --cflags cmocka) -o $$@ $$< \
		$(patsubst %,$(BUILD)/%.o,$(UNIT_$(1))) $$(UNIT_LDFLAGS_$(1)) $$(LIBS) $$$$(pkg-config --libs cmocka)
endef
$(foreach t,$(patsubst $(BUILD)/test_%,%,$(UNIT_BINS)),$(eval $(call unit_rule,$(t))))

$(BUILD):
	mkdir -p $(BUILD)

# the ACME protocol's test driver (tests/acme/order.c): one order, the chain
# on stdout; tests/acme/order_test.py runs it against Pebble
$(BUILD)/acme-order: tests/acme/order.c $(patsubst %,$(BUILD)/%.o,$(ACME_OBJS)) $(MBEDTLS_DEP)
	$(CC) $(ALL_CFLAGS) $(HARDEN_LDFLAGS) $(LDFLAGS) -Iserver -o $@ $< \
		$(patsubst %,$(BUILD)/%.o,$(ACME_OBJS)) $(LIBS)

# the HTTPS client's command-line driver for tests/integration/httpc_test.py
HTTPC_FETCH_OBJS = $(patsubst %,$(BUILD)/%.o,httpc netio httpresp diag)
$(BUILD)/httpc-fetch: tests/integration/httpc_fetch.c $(HTTPC_FETCH_OBJS) $(MBEDTLS_DEP)
	$(CC) $(ALL_CFLAGS) $(HARDEN_LDFLAGS) $(LDFLAGS) -Iserver -o $@ $< $(HTTPC_FETCH_OBJS) $(LIBS)

# the LD_PRELOAD shim of the allocation-failure test (tests/faults/): its own
# flags, never the sanitizers' (it stands between the program and glibc's malloc)
$(BUILD)/failalloc.so: tests/faults/failalloc.c | $(BUILD)
	$(CC) -std=c11 $(WARN) $(WARN_AS_ERROR) -O2 -g -fstack-protector-strong -shared -fPIC \
		-Wl,-z,relro -Wl,-z,now -o $@ $< -ldl

# the built-in demo: throwaway CA + certificate in .demo/, served on 127.0.0.1:8443
run: all
	sh scripts/demo.sh

unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

integration: all
	$(PYTHON) tests/integration/run.py --binary $(BUILD)/mta-stsd

e2e: all
	sh tests/e2e/sender.sh $(BUILD)/mta-stsd

# make test: everything CI runs - every suite on the normal build, again on
# the ASan + UBSan build, the integration suite under valgrind, and the
# fuzzers for FUZZ_TIME seconds each; what it builds, it builds with -Werror
# (WERROR=1 reaches the prerequisites and the asan sub-make). make check: the
# suites on the normal build only (a few minutes). Both check the include
# graph (scripts/include-graph.py). run-all.sh prints one "N passed, N failed".
test: WERROR = 1
test: all $(UNIT_BINS) $(BUILD)/failalloc.so $(BUILD)/httpc-fetch $(BUILD)/acme-order asan
	@FULL=1 BUILD=$(BUILD) PYTHON=$(PYTHON) FUZZ_TIME=$(FUZZ_TIME) sh tests/run-all.sh

check: all $(UNIT_BINS) $(BUILD)/failalloc.so $(BUILD)/httpc-fetch $(BUILD)/acme-order
	@BUILD=$(BUILD) PYTHON=$(PYTHON) sh tests/run-all.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(BUILD)/mta-stsd $(DESTDIR)$(PREFIX)/sbin/mta-stsd
	install -m 644 docs/mta-stsd.8 $(DESTDIR)$(PREFIX)/share/man/man8/mta-stsd.8

# mta-stsd against nginx, side by side (root: it uses a network namespace; installs
# nginx-light and wrk when missing). BENCH_QUICK=1 for a short run. See docs/BENCHMARKS.md.
.PHONY: bench
bench: all
	MTA_STSD=$(abspath $(BUILD))/mta-stsd PYTHON=$(PYTHON) bash bench/run.sh

# the container image (Dockerfile; README, section Container) with podman, or
# CONTAINER=docker; --format docker keeps the HEALTHCHECK
CONTAINER ?= podman
image:
	$(CONTAINER) build $(if $(filter podman,$(CONTAINER)),--format docker) \
		--build-arg VERSION=$(VERSION) -t mta-stsd:$(VERSION) .

# build the image with podman and run it as the README says (root; installs
# podman, runc and debootstrap when missing; bootstraps the Debian 13 base
# when no registry is reachable). See tests/image/run.sh.
image-test:
	bash tests/image/run.sh

# the elliptic-curve micro-benchmark (bench/crypto.sh: callgrind instruction
# counts and microseconds per operation, docs/BENCHMARKS.md)
$(BUILD)/bench_crypto: bench/crypto.c $(MBEDTLS_DEP) | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(MBEDTLS_LIBS)

# AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
asan:
	$(MAKE) BUILD=build-asan WERROR=$(WERROR) CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" build-asan/mta-stsd build-asan/httpc-fetch \
		$(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BINS))

# libFuzzer harnesses (clang from Debian), each run for FUZZ_TIME seconds from
# its seed corpus; a crash, a leak or a sanitizer report fails the target
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -fstack-protector-strong -fPIE -U_FORTIFY_SOURCE \
	-D_FORTIFY_SOURCE=2 $(HARDEN_LDFLAGS) -Iserver $(MBEDTLS_CFLAGS) $(MHD_CFLAGS) $(DEP_CFLAGS)
FUZZ_names = names
FUZZ_policy = policy names diag
FUZZ_config = config names diag policy records strmap
FUZZ_records = records policy names diag
# the server names of a ClientHello (tls.c; the harness stands in for snapshot_find)
FUZZ_tls = tls names
# the tools' parsers of network bytes: an HTTP answer, a DNS answer
FUZZ_probe = tools/probe netio certs names httpresp diag log json
FUZZ_resolve = tools/resolve
# the ACME client's parsers of the CA's JSON, certificates and chains
FUZZ_acme = $(ACME_OBJS)
# the ACME client's parser of the CA's HTTP answers
FUZZ_httpc = httpc netio httpresp diag
FUZZ_SEEDS_names = tests/fuzz/corpus/names
FUZZ_SEEDS_policy = tests/data/policies/good tests/data/policies/bad
FUZZ_SEEDS_config = tests/data/config/good tests/data/config/bad
FUZZ_SEEDS_records = tests/fuzz/corpus/records
FUZZ_SEEDS_probe = tests/fuzz/corpus/probe
FUZZ_SEEDS_resolve = tests/fuzz/corpus/resolve
FUZZ_SEEDS_tls = tests/fuzz/corpus/tls
FUZZ_SEEDS_acme = tests/fuzz/corpus/acme
FUZZ_SEEDS_httpc = tests/fuzz/corpus/httpc
FUZZERS = names policy config records tls probe resolve httpc acme
RPAREN = )

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h server/*.c server/*.h server/tools/*.c server/tools/*.h \
		$(MBEDTLS_DEP) $(MHD_DEP)
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(patsubst %,server/%.c,$(FUZZ_$*)) $(LIBS)

fuzz: $(patsubst %,build-fuzz/fuzz_%,$(FUZZERS))
	@for f in $(FUZZERS); do \
		mkdir -p build-fuzz/corpus-$$f; \
		case $$f in $(foreach f,$(FUZZERS),$(f)$(RPAREN) seeds="$(FUZZ_SEEDS_$(f))";;) esac; \
		echo "fuzz: $$f for $(FUZZ_TIME) s"; \
		build-fuzz/fuzz_$$f -max_total_time=$(FUZZ_TIME) -max_len=70000 -print_final_stats=0 \
			-artifact_prefix=build-fuzz/crash-$$f- build-fuzz/corpus-$$f $$seeds \
			>build-fuzz/fuzz_$$f.log 2>&1 || { tail -n 40 build-fuzz/fuzz_$$f.log; \
			echo "fuzz: $$f FAILED (artifact in build-fuzz/)"; exit 1; }; \
		tail -n 1 build-fuzz/fuzz_$$f.log; \
	done; echo "fuzz: every harness ran $(FUZZ_TIME) s without a finding"

clean:
	rm -rf build build-asan build-fuzz build-nognutls .demo

distclean: clean
	rm -rf .deps
