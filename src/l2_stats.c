/*-------------------------------------------------------------------------
 * l2_stats.c
 *	  L2's counters in shared memory.
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

typedef struct L2SharedStats
{
	pg_atomic_uint64 counters[L2_NUM_COUNTERS];	/* atomics, no lock */
	pg_atomic_uint32 redis_state;	/* an L2RedisState; atomic, no lock */
	pg_atomic_uint32 coherence; /* an L2Coherence, written by the sync
								 * worker alone; atomic, no lock */
} L2SharedStats;

static L2SharedStats *shared_stats = NULL;

/* Bytes the counters need, requested by l2_shmem_request. */
Size
l2_stats_shmem_size(void)
{
	return MAXALIGN(sizeof(L2SharedStats));
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
		pg_atomic_init_u32(&shared_stats->redis_state, L2_REDIS_UNKNOWN);
		pg_atomic_init_u32(&shared_stats->coherence, L2_COHERENCE_NONE);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Adds n to a counter; a no-op before start-up attached the struct. */
void
l2_stats_count(L2Counter counter, int64 n)
{
	if (shared_stats != NULL && n > 0)
		pg_atomic_fetch_add_u64(&shared_stats->counters[counter], (uint64) n);
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

/* Copies every counter for cache_stats (each read atomically, not all at once). */
void
l2_stats_read(L2Stats *stats)
{
	for (int i = 0; i < L2_NUM_COUNTERS; i++)
		stats->counters[i] = (int64)
			pg_atomic_read_u64(&shared_stats->counters[i]);
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
}
