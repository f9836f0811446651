# cachext: PGXS build.
#
#   make                 build cachext.so
#   make install         install into the PostgreSQL that pg_config names
#   make unitcheck       unit tests of the pure-C parts (no server)
#   make fuzzcheck       a short libFuzzer run of each harness in test/fuzz/ (clang);
#                        FUZZERS=name to run one, FUZZ_SECONDS=N for each one's length
#   make installcheck    unit tests, then pg_regress (test/sql/), isolation (test/specs/) and TAP (test/t/)
#                        suites, each against a temporary instance started with
#                        cachext preloaded; needs redis-server on PATH for L2 tests
#
# Set PG_CONFIG to build against another PostgreSQL (the versions tested: docs/testing.md).

EXTENSION = cachext
MODULE_big = cachext
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA = $(wildcard sql/cachext--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lhiredis -lssl -lcrypto
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

TESTS = $(wildcard test/sql/*.sql)
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=$(srcdir)/test --temp-config=$(srcdir)/test/cachext.conf --temp-instance=$(CURDIR)/tmp_regress \
	--load-extension=cachext
# The pg_regress instance evicts by the default policy (sieve).  Files that
# show LRU's exact order run in an instance of their own that adds
# test/lru.conf (cachext.l1_eviction = lru, a restart setting); override, so
# that REGRESS="lru ..." on the command line picks them too.
REGRESS_LRU_FILES = lru
REGRESS_LRU := $(filter $(REGRESS_LRU_FILES),$(REGRESS))
override REGRESS := $(filter-out $(REGRESS_LRU_FILES),$(REGRESS))
REGRESS_LRU_OPTS = --inputdir=$(srcdir)/test --outputdir=$(CURDIR)/output_lru \
	--temp-config=$(srcdir)/test/cachext.conf --temp-config=$(srcdir)/test/lru.conf \
	--temp-instance=$(CURDIR)/tmp_regress_lru --load-extension=cachext

ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
# Specs that stop a writer at the pause point (src/test_pause.c) run only
# against a test build (TEST_BUILD=1, below).
ISOLATION_TEST_BUILD = load_between_fence_and_commit
ifndef TEST_BUILD
ISOLATION := $(filter-out $(ISOLATION_TEST_BUILD),$(ISOLATION))
endif
ISOLATION_OPTS = --inputdir=$(srcdir)/test --outputdir=$(CURDIR)/output_iso \
	--temp-config=$(srcdir)/test/cachext.conf --temp-instance=$(CURDIR)/tmp_check_iso \
	--load-extension=cachext

TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

EXTRA_CLEAN = src/*.d $(UNIT_TESTS) $(addprefix test/fuzz/fuzz_,$(FUZZERS)) test/fuzz/work tmp_check tmp_regress tmp_check_iso output_iso tmp_regress_lru output_lru results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Each object is rebuilt when a header it includes changes (the compiler
# writes src/*.d beside the objects; not for the bitcode, whose rule shares
# CPPFLAGS but not CFLAGS).
override CFLAGS += -MMD -MP
-include $(OBJS:.o=.d)

# Warnings are errors when asked (CI sets WERROR=1).
ifdef WERROR
override CFLAGS += -Werror
endif

# cachext's own Assert()s, even against a server built without them (CI sets
# ASSERTS=1).
ifdef ASSERTS
override CPPFLAGS += -DUSE_ASSERT_CHECKING
endif

# A test build (scripts/test sets TEST_BUILD=1; normal builds, the Debian
# package included, have none of this): the test clock (src/ttl_clock.c), an
# offset on L1's clock that tests move with cachext_test_advance_clock(), and
# the pause point after the pre-commit fence (src/test_pause.c,
# cachext.test_pause_after_fence).
ifdef TEST_BUILD
override CPPFLAGS += -DCACHEXT_TEST_BUILD
endif

# Unit tests of the pure-C parts, with AddressSanitizer and UBSan; no server.
# installcheck runs them first.
UNIT_CFLAGS = -Wall -Wextra -Werror -g -fsanitize=address,undefined \
	-fno-sanitize-recover=all -I$(srcdir)/src
UNIT_TESTS = test/unit/test_keys test/unit/test_redis_url test/unit/test_redis_slot

test/unit/test_keys: test/unit/test_keys.c src/keys.c src/keys.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_keys.c src/keys.c

test/unit/test_redis_url: test/unit/test_redis_url.c src/redis_url.c src/redis_url.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_redis_url.c src/redis_url.c

test/unit/test_redis_slot: test/unit/test_redis_slot.c src/redis_slot.c src/redis_slot.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_redis_slot.c src/redis_slot.c

.PHONY: unitcheck
unitcheck: $(UNIT_TESTS)
	$(foreach t,$(UNIT_TESTS),$(t) &&) true

# Short libFuzzer runs (clang, ASan, UBSan) of each harness in test/fuzz/,
# seeded from its corpus kept in test/fuzz/corpus_<name>/; each aborts on a
# property violation, and a failure found becomes a unit test or a corpus
# file.  FUZZ_SECONDS is each harness' length (CI: 4 x 15 s); FUZZERS
# picks some, e.g. `make fuzzcheck FUZZERS=l1 FUZZ_SECONDS=600`.
FUZZ_SECONDS ?= 15
FUZZERS ?= glob redis_url key_builder l1
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I$(srcdir)/src
FUZZ_MAX_LEN_glob = 80
FUZZ_MAX_LEN_redis_url = 200
FUZZ_MAX_LEN_key_builder = 256
FUZZ_MAX_LEN_l1 = 1024

test/fuzz/fuzz_glob: test/fuzz/fuzz_glob.c src/keys.c src/keys.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_glob.c src/keys.c

test/fuzz/fuzz_redis_url: test/fuzz/fuzz_redis_url.c src/redis_url.c src/redis_url.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_redis_url.c src/redis_url.c

test/fuzz/fuzz_key_builder: test/fuzz/fuzz_key_builder.c src/keys.c src/keys.h
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_key_builder.c src/keys.c

# The store runs as it is, against the server's headers, its own hash_bytes
# (libpgcommon, with libpgport for its printf) and test/fuzz/server_stubs.c.
PG_STATIC_LIBS = $(firstword $(wildcard $(pkglibdir)/libpgcommon.a $(libdir)/libpgcommon.a))
test/fuzz/fuzz_l1: test/fuzz/fuzz_l1.c test/fuzz/server_stubs.c test/fuzz/server_stubs.h \
		src/l1.c src/l1.h src/keys.c src/keys.h src/cachext.h \
		src/prefix_stats.c src/prefix_stats.h
	clang $(FUZZ_CFLAGS) -DUSE_ASSERT_CHECKING -Wno-ignored-attributes \
		-I$(srcdir)/test/fuzz -I$(includedir_server) -o $@ \
		test/fuzz/fuzz_l1.c test/fuzz/server_stubs.c src/keys.c src/prefix_stats.c \
		$(PG_STATIC_LIBS) $(dir $(PG_STATIC_LIBS))libpgport.a

# One harness' run: new inputs go to test/fuzz/work/<name>, failures to
# test/fuzz/work/<name>-crash-*; the kept corpus is only read.
define run_fuzzer
	mkdir -p test/fuzz/work/$(1)
	test/fuzz/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN_$(1)) \
		-artifact_prefix=test/fuzz/work/$(1)- test/fuzz/work/$(1) $(srcdir)/test/fuzz/corpus_$(1)
	@echo "fuzz_$(1): no failure in $(FUZZ_SECONDS) s"

endef

.PHONY: fuzzcheck
fuzzcheck: $(addprefix test/fuzz/fuzz_,$(FUZZERS))
	rm -rf test/fuzz/work
	$(foreach f,$(FUZZERS),$(call run_fuzzer,$(f)))

installcheck: unitcheck fuzzcheck lrucheck

# The LRU files' pg_regress run (REGRESS_LRU above), before the others.
.PHONY: lrucheck
lrucheck:
ifneq ($(strip $(REGRESS_LRU)),)
	$(pg_regress_installcheck) $(REGRESS_LRU_OPTS) $(REGRESS_LRU)
endif
