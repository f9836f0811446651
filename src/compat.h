/*-------------------------------------------------------------------------
 * compat.h
 *	  Every PG_VERSION_NUM difference cachext cares about, in one place.
 *
 * Which PostgreSQL versions cachext is tested against, when and how, is
 * told in one place: docs/testing.md, "PostgreSQL versions".
 * Code elsewhere uses the names defined here and never tests
 * PG_VERSION_NUM itself.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_COMPAT_H
#define CACHEXT_COMPAT_H

#include "postgres.h"

/* shmem_request_hook exists from 15 on; before that, request in _PG_init. */
#if PG_VERSION_NUM >= 150000
#define CACHEXT_HAS_SHMEM_REQUEST_HOOK 1
#endif

/* MarkGUCPrefixReserved replaced EmitWarningsOnPlaceholders in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * A wait set that lives as long as the process: owned by TopMemoryContext
 * before 17, by no resource owner from 17 on.
 */
#include "storage/latch.h"
#include "utils/memutils.h"
#if PG_VERSION_NUM >= 170000
#define CreateSessionWaitEventSet(nevents) CreateWaitEventSet(NULL, (nevents))
#else
#define CreateSessionWaitEventSet(nevents) CreateWaitEventSet(TopMemoryContext, (nevents))
#endif

/* Extensions name their own wait events (WaitEventExtensionNew) from 17 on. */
#if PG_VERSION_NUM >= 170000
#define CACHEXT_HAS_CUSTOM_WAIT_EVENTS 1
#endif

/*
 * ExceptionalCondition, which a failed Assert calls, lost its errorType
 * argument in 16 (only test/fuzz/server_stubs.c defines it).
 */
#if PG_VERSION_NUM < 160000
#define CACHEXT_EXCEPTIONAL_CONDITION_HAS_ERROR_TYPE 1
#endif

#include "common/md5.h"

/* cachext_md5_hex's output: two hex digits a byte, and a NUL. */
#define CACHEXT_MD5_HEX_SIZE	(2 * MD5_DIGEST_LENGTH + 1)

/* pg_md5_hash gained an error-string argument in 15. */
static inline bool
cachext_md5_hex(const void *data, size_t len, char *hex)
{
#if PG_VERSION_NUM >= 150000
	const char *errstr = NULL;

	return pg_md5_hash(data, len, hex, &errstr);
#else
	return pg_md5_hash(data, len, hex);
#endif
}

/*
 * A uint64 in hexadecimal, for printf after its flags and width ("%016"
 * CACHEXT_UINT64_HEX): 18 dropped INT64_MODIFIER, its uint64 being
 * <inttypes.h>'s uint64_t.
 */
#if PG_VERSION_NUM >= 180000
#define CACHEXT_UINT64_HEX PRIx64
#else
#define CACHEXT_UINT64_HEX INT64_MODIFIER "x"
#endif

/* A uniform draw in [0, 1): pg_prng from 15 on, random() before. */
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#define cachext_random_fraction() pg_prng_double(&pg_global_prng_state)
#else
#define cachext_random_fraction() ((double) random() / ((double) MAX_RANDOM_VALUE + 1))
#endif

#endif							/* CACHEXT_COMPAT_H */
