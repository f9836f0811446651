/*-------------------------------------------------------------------------
 * l2_stats.c
 *	  L2's counters in shared memory.
 *
 * Per key prefix.  Hits, misses and sets (the first L2_PREFIX_COUNTERS
 * counters) are kept per key prefix, in the slots prefix_stats.c names for
 * L1 (the same prefixes and the same "other" bucket), and their totals are
 * the sums over the slots, so cache_prefix_stats' l2 rows add up to
 * cache_stats' l2 row exactly.  A key's slot is looked up when it is
 * counted (a hash and a probe, no lock).
 *
 * Locking.  There is none: every counter is a pg_atomic_uint64 and the
 * Redis state a pg_atomic_uint32, each updated on its own, so a reader may
 * see one counter a moment ahead of another (as pg_stat_statements' totals
 * can be).  A backend that cannot reach the struct (not preloaded) never
 * gets here: sql_api.c refuses first.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "l2_stats.h"
#include "prefix_stats.h"

/* One key prefix's hits, misses and sets in L2. */
typedef struct L2PrefixCounters
{
	pg_atomic_uint64 counters[L2_PREFIX_COUNTERS];	/* atomics, no lock */
} L2PrefixCounters;

typedef struct L2SharedStats
{
	/* atomics, no lock; the first L2_PREFIX_COUNTERS stay 0: see prefixes */
	pg_atomic_uint64 counters[L2_NUM_COUNTERS];
	pg_atomic_uint32 redis_state;	/* an L2RedisState; atomic, no lock */
	pg_atomic_uint32 coherence; /* an L2Coherence, written by the sync
								 * worker alone; atomic, no lock */
	/* prefix_stats_slots() of them, slot PREFIX_STATS_OTHER first */
	L2PrefixCounters prefixes[FLEXIBLE_ARRAY_MEMBER];
} L2SharedStats;

static L2SharedStats *shared_stats = NULL;

/* Bytes the counters need, requested by l2_shmem_request. */
Size
l2_stats_shmem_size(void)
{
	return MAXALIGN(add_size(offsetof(L2SharedStats, prefixes),
							 mul_size(prefix_stats_slots(),
									  sizeof(L2PrefixCounters))));
}

/* Attaches to (and the first time, zeroes) the counters. */
void
l2_stats_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_stats = ShmemInitStruct("cachext l2 stats", l2_stats_shmem_size(),
								   &found);
	if (!found)
	{
		for (int i = 0; i < L2_NUM_COUNTERS; i++)
			pg_atomic_init_u64(&shared_stats->counters[i], 0);
		for (int s = 0; s < prefix_stats_slots(); s++)
			for (int i = 0; i < L2_PREFIX_COUNTERS; i++)
				pg_atomic_init_u64(&shared_stats->prefixes[s].counters[i], 0);
		pg_atomic_init_u32(&shared_stats->redis_state, L2_REDIS_UNKNOWN);
		pg_atomic_init_u32(&shared_stats->coherence, L2_COHERENCE_NONE);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Adds n to a counter that is not kept per key prefix; a no-op before
 * start-up attached the struct.
 */
void
l2_stats_count(L2Counter counter, int64 n)
{
	Assert(counter >= L2_PREFIX_COUNTERS);
	if (shared_stats != NULL && n > 0)
		pg_atomic_fetch_add_u64(&shared_stats->counters[counter], (uint64) n);
}

/*
 * Counts one hit, miss or set of a full key (namespace_len bytes of
 * namespace, then the user key) for its key prefix; a no-op before
 * start-up attached the struct.
 */
void
l2_stats_count_key(L2Counter counter, const char *key, int key_len,
				   int namespace_len)
{
	int			slot;

	Assert(counter < L2_PREFIX_COUNTERS);
	if (shared_stats == NULL)
		return;
	slot = prefix_stats_slot(key, key_len, namespace_len);
	pg_atomic_fetch_add_u64(&shared_stats->prefixes[slot].counters[counter], 1);
}

/*
 * Fills counts[s] with key prefix slot s's hits, misses and sets, for the
 * prefix_stats_slots() slots.
 */
void
l2_stats_read_prefixes(L2PrefixCounts *counts)
{
	for (int s = 0; s < prefix_stats_slots(); s++)
		for (int i = 0; i < L2_PREFIX_COUNTERS; i++)
			counts[s].counters[i] = (int64)
				pg_atomic_read_u64(&shared_stats->prefixes[s].counters[i]);
}

/* Records the outcome of the latest exchange with Redis. */
void
l2_stats_set_redis_state(L2RedisState state)
{
	if (shared_stats != NULL &&
		pg_atomic_read_u32(&shared_stats->redis_state) != (uint32) state)
		pg_atomic_write_u32(&shared_stats->redis_state, (uint32) state);
}

/* Records how the sync worker keeps L1 coherent now. */
void
l2_stats_set_coherence(L2Coherence coherence)
{
	if (shared_stats != NULL)
		pg_atomic_write_u32(&shared_stats->coherence, (uint32) coherence);
}

/*
 * Copies every counter for cache_stats (each read atomically, not all at
 * once), those kept per key prefix summed over the prefixes.
 */
void
l2_stats_read(L2Stats *stats)
{
	for (int i = 0; i < L2_NUM_COUNTERS; i++)
		stats->counters[i] = (int64)
			pg_atomic_read_u64(&shared_stats->counters[i]);
	for (int s = 0; s < prefix_stats_slots(); s++)
		for (int i = 0; i < L2_PREFIX_COUNTERS; i++)
			stats->counters[i] += (int64)
				pg_atomic_read_u64(&shared_stats->prefixes[s].counters[i]);
	stats->redis_state = (L2RedisState)
		pg_atomic_read_u32(&shared_stats->redis_state);
	stats->coherence = (L2Coherence)
		pg_atomic_read_u32(&shared_stats->coherence);
}

/*
 * Zeroes the counters; the Redis state and the coherence are facts, not
 * counters, and stay.
 */
void
l2_stats_reset(void)
{
	for (int i = 0; i < L2_NUM_COUNTERS; i++)
		pg_atomic_write_u64(&shared_stats->counters[i], 0);
	for (int s = 0; s < prefix_stats_slots(); s++)
		for (int i = 0; i < L2_PREFIX_COUNTERS; i++)
			pg_atomic_write_u64(&shared_stats->prefixes[s].counters[i], 0);
}
