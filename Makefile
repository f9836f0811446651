# cachext: PGXS build.
#
#   make                 build cachext.so
#   make install         install into the PostgreSQL that pg_config names
#   make unitcheck       unit tests of the pure-C parts (no server)
#   make fuzzcheck       a short libFuzzer run of the glob matcher (clang)
#   make installcheck    unit tests, then pg_regress (sql/), isolation (test/specs/) and TAP (test/t/)
#                        suites, each against a temporary instance started with
#                        cachext preloaded; needs redis-server on PATH for L2 tests
#
# Set PG_CONFIG to build against another PostgreSQL (13-17).

EXTENSION = cachext
MODULE_big = cachext
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA = $(wildcard sql/cachext--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lhiredis
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

TESTS = $(filter-out sql/cachext--%,$(wildcard sql/*.sql))
REGRESS = $(patsubst sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --temp-config=$(srcdir)/test/cachext.conf --temp-instance=$(CURDIR)/tmp_regress \
	--load-extension=cachext

ISOLATION = $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec))
ISOLATION_OPTS = --inputdir=$(srcdir)/test --outputdir=$(CURDIR)/output_iso \
	--temp-config=$(srcdir)/test/cachext.conf --temp-instance=$(CURDIR)/tmp_check_iso \
	--load-extension=cachext

TAP_TESTS = 1
PROVE_TESTS = $(wildcard test/t/*.pl)

EXTRA_CLEAN = test/unit/test_keys test/fuzz/fuzz_glob test/fuzz/work tmp_check tmp_regress tmp_check_iso output_iso results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Warnings are errors when asked (CI sets WERROR=1).
ifdef WERROR
override CFLAGS += -Werror
endif

# cachext's own Assert()s, even against a server built without them (CI sets
# ASSERTS=1).
ifdef ASSERTS
override CPPFLAGS += -DUSE_ASSERT_CHECKING
endif

# The test clock (src/ttl_clock.c): an offset on L1's clock that tests move
# with cachext_test_advance_clock() (scripts/test sets TEST_CLOCK=1; normal
# builds do not have it).
ifdef TEST_CLOCK
override CPPFLAGS += -DCACHEXT_TEST_CLOCK
endif

# Unit tests of the pure-C parts, with AddressSanitizer and UBSan; no server.
# installcheck runs them first.
UNIT_CFLAGS = -Wall -Wextra -Werror -g -fsanitize=address,undefined \
	-fno-sanitize-recover=all -I$(srcdir)/src

test/unit/test_keys: test/unit/test_keys.c src/keys.c src/keys.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_keys.c src/keys.c

.PHONY: unitcheck
unitcheck: test/unit/test_keys
	test/unit/test_keys

# A short differential fuzzing run of the glob matcher (libFuzzer, clang),
# seeded from the corpus kept in test/fuzz/; a crash it finds becomes a case
# in test/unit/test_keys.c.  FUZZ_SECONDS sets its length.
FUZZ_SECONDS ?= 20
test/fuzz/fuzz_glob: test/fuzz/fuzz_glob.c src/keys.c src/keys.h
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I$(srcdir)/src -o $@ test/fuzz/fuzz_glob.c src/keys.c

.PHONY: fuzzcheck
fuzzcheck: test/fuzz/fuzz_glob
	rm -rf test/fuzz/work && mkdir -p test/fuzz/work
	test/fuzz/fuzz_glob -max_total_time=$(FUZZ_SECONDS) -max_len=80 -artifact_prefix=test/fuzz/work/ \
		test/fuzz/work $(srcdir)/test/fuzz/corpus_glob
	@echo "fuzz_glob: no mismatch in $(FUZZ_SECONDS) s"

installcheck: unitcheck fuzzcheck
