/*-------------------------------------------------------------------------
 * cachext.c
 *	  Module start-up: the settings, the shared-memory hooks, the
 *	  registration of the sync worker and of the transaction callbacks
 *	  (xact.c).
 *
 * cachext must be in shared_preload_libraries: its store lives in shared
 * memory sized at postmaster start.  Loaded any other way (CREATE EXTENSION
 * alone), _PG_init defines nothing and every SQL function reports the
 * missing preload (see sql_api.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "cachext.h"
#include "compat.h"
#include "event_queue.h"
#include "l1.h"
#include "l2.h"
#include "l2_queue.h"
#include "loader.h"
#include "op_stats.h"
#include "redis_conn.h"
#include "redis_route.h"
#include "sync_worker.h"
#include "test_pause.h"
#include "ttl_clock.h"
#include "xact.h"

PG_MODULE_MAGIC;

int			cachext_l1_max_entries = 1000;
int			cachext_l1_memory_kb = 64 * 1024;
int			cachext_l1_partitions = 16;
int			cachext_l1_max_value_size_kb = 1024;
int			cachext_l1_max_ttl_ms = 60 * 1000;
int			cachext_l1_eviction = CACHEXT_EVICTION_SIEVE;
int			cachext_default_ttl_s = 3600;
int			cachext_max_key_length = 1024;
int			cachext_lock_timeout_ms = 5000;
char	   *cachext_notify_channel = NULL;
int			cachext_events = CACHEXT_EVENTS_ON;
int			cachext_events_queue_size_kb = 256;
int			cachext_fence_timeout_ms = 60000;
char	   *cachext_redis_prefix = NULL;
int			cachext_stale_ttl_ms = 0;
bool		cachext_early_refresh = false;
bool		cachext_preloaded = false;

#ifdef CACHEXT_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

#ifdef CACHEXT_HAS_SHMEM_REQUEST_HOOK
static void
cachext_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	l1_shmem_request();
	l2_shmem_request();
	l2_queue_shmem_request();
	loader_shmem_request();
	op_stats_shmem_request();
	ttl_clock_shmem_request();
	event_queue_shmem_request();
}
#endif

static void
cachext_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	l1_shmem_startup();
	l2_shmem_startup();
	l2_queue_shmem_startup();
	loader_shmem_startup();
	op_stats_shmem_startup();
	ttl_clock_shmem_startup();
	event_queue_shmem_startup();
}

/* Partition counts must be powers of two: a key's partition is a bit mask. */
static bool
check_partitions(int *newval, void **extra, GucSource source)
{
	if ((*newval & (*newval - 1)) != 0)
	{
		GUC_check_errdetail("cachext.l1_partitions must be a power of two.");
		return false;
	}
	return true;
}

/* NOTIFY channels are identifiers: non-empty and shorter than NAMEDATALEN. */
static bool
check_notify_channel(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("cachext.notify_channel must be between 1 and %d bytes long.",
							NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/* The prefix is part of every key, so it shares the keys' hard limit. */
static bool
check_redis_prefix(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > CACHEXT_PREFIX_LENGTH_LIMIT)
	{
		GUC_check_errdetail("cachext.redis_prefix must be at most %d bytes long.",
							CACHEXT_PREFIX_LENGTH_LIMIT);
		return false;
	}
	return true;
}

/*
 * cachext.events' values; true, false, yes, no, 1 and 0 are hidden
 * spellings of on and off, as for synchronous_commit.
 */
static const struct config_enum_entry events_options[] = {
	{"off", CACHEXT_EVENTS_OFF, false},
	{"on", CACHEXT_EVENTS_ON, false},
	{"async", CACHEXT_EVENTS_ASYNC, false},
	{"true", CACHEXT_EVENTS_ON, true},
	{"false", CACHEXT_EVENTS_OFF, true},
	{"yes", CACHEXT_EVENTS_ON, true},
	{"no", CACHEXT_EVENTS_OFF, true},
	{"1", CACHEXT_EVENTS_ON, true},
	{"0", CACHEXT_EVENTS_OFF, true},
	{NULL, 0, false}
};

/* cachext.l1_eviction's values. */
static const struct config_enum_entry eviction_options[] = {
	{"lru", CACHEXT_EVICTION_LRU, false},
	{"sieve", CACHEXT_EVICTION_SIEVE, false},
	{NULL, 0, false}
};

static void
define_settings(void)
{
	DefineCustomIntVariable("cachext.l1_max_entries",
							"Maximum number of entries in the shared-memory cache (L1).",
							NULL,
							&cachext_l1_max_entries,
							1000, 1, 100 * 1000 * 1000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_memory",
							"Shared memory for L1 keys and values.",
							NULL,
							&cachext_l1_memory_kb,
							64 * 1024, 128, INT_MAX / 8,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_partitions",
							"Number of independently locked L1 partitions (a power of two).",
							NULL,
							&cachext_l1_partitions,
							16, 1, 1024,
							PGC_POSTMASTER, 0,
							check_partitions, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_max_value_size",
							"Largest value L1 accepts.",
							NULL,
							&cachext_l1_max_value_size_kb,
							1024, 1, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_max_ttl",
							"Longest time an L1 copy of a Redis value lives; 0 means no bound.",
							"Bounds how stale L1 can be when Redis' invalidation messages cannot reach it "
							"(a server that refuses CLIENT TRACKING, a lost stream); unused without cachext.redis_url.",
							&cachext_l1_max_ttl_ms,
							60 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("cachext.l1_eviction",
							 "Which entry L1 evicts when it is full: lru or sieve.",
							 "lru: the least recently used; a hit moves the entry, under the partition lock held exclusively. "
							 "sieve: SIEVE (NSDI'24); a hit sets a bit, under the lock held shared.",
							 &cachext_l1_eviction,
							 CACHEXT_EVICTION_SIEVE, eviction_options,
							 PGC_POSTMASTER, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.stale_ttl",
							"How long past its expiry an L1 entry is kept for cache_get_or_set to serve while it reloads or when its reload fails; 0 turns it off.",
							"Applies to entries stored while it is set; the session calling cache_get_or_set serves stale values only as old as its own setting.",
							&cachext_stale_ttl_ms,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("cachext.early_refresh",
							 "Lets cache_get_or_set reload an entry shortly before it expires (XFetch), one caller at a time.",
							 NULL,
							 &cachext_early_refresh,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.default_ttl",
							"Time to live of entries stored without an explicit TTL; 0 means no expiry.",
							NULL,
							&cachext_default_ttl_s,
							3600, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.max_key_length",
							"Longest cache key accepted, in bytes, not counting cachext.redis_prefix.",
							NULL,
							&cachext_max_key_length,
							1024, 1, CACHEXT_KEY_LENGTH_LIMIT,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.lock_timeout",
							"Longest time cache_get_or_set waits for another backend loading the same key.",
							NULL,
							&cachext_lock_timeout_ms,
							5000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("cachext.events",
							 "How cache events are sent (NOTIFY on cachext.notify_channel): on, async or off.",
							 "on: by the writing transaction, which then takes a database-wide lock while it commits; "
							 "async: after the commit, by a background worker per database.",
							 &cachext_events,
							 CACHEXT_EVENTS_ON, events_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.events_queue_size",
							"Shared memory per database for events waiting for the worker (cachext.events = async).",
							NULL,
							&cachext_events_queue_size_kb,
							256, 1, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomStringVariable("cachext.notify_channel",
							   "NOTIFY channel that cache events are sent on.",
							   NULL,
							   &cachext_notify_channel,
							   "cache_events",
							   PGC_USERSET, 0,
							   check_notify_channel, NULL, NULL);
	DefineCustomStringVariable("cachext.redis_prefix",
							   "Namespace of this database's keys, in L1 and in Redis.",
							   NULL,
							   &cachext_redis_prefix,
							   "cache:",
							   PGC_SUSET, 0,
							   check_redis_prefix, NULL, NULL);
	DefineCustomIntVariable("cachext.fence_timeout",
							"Longest time a committing transaction's fences stand in Redis.",
							"They are lifted when the commit's invalidation ends; this bounds them should it never run.",
							&cachext_fence_timeout_ms,
							60000, 1000, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	l2_define_settings();
	redis_conn_define_settings();
	redis_route_define_settings();
	test_pause_define_settings();
	MarkGUCPrefixReserved("cachext");
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	define_settings();

#ifdef CACHEXT_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cachext_shmem_request;
#else
	l1_shmem_request();
	l2_shmem_request();
	l2_queue_shmem_request();
	loader_shmem_request();
	op_stats_shmem_request();
	ttl_clock_shmem_request();
	event_queue_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cachext_shmem_startup;
	sync_worker_register();
	xact_register_callbacks();
	cachext_preloaded = true;
}
