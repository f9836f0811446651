/*-------------------------------------------------------------------------
 * op_stats.c
 *	  Counters of cache operations that span both layers: increments,
 *	  refused adds, tag invalidations and lost fences, instance-wide; and
 *	  one gauge, the transactions whose fences stand now.
 *
 * Locking.  There is none: every counter is a pg_atomic_uint64 updated on
 * its own, so a reader may see one counter a moment ahead of another.  The
 * gauge is not reset with the counters (it counts what stands).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "op_stats.h"

typedef struct OpSharedStats
{
	pg_atomic_uint64 counters[OP_NUM_COUNTERS];	/* atomics, no lock */
	pg_atomic_uint64 fences_standing;	/* atomic, no lock: fences placed
										 * and not yet lifted */
} OpSharedStats;

static OpSharedStats *shared_stats = NULL;

void
op_stats_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(OpSharedStats)));
}

/* Attaches to (and the first time, zeroes) the counters. */
void
op_stats_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_stats = ShmemInitStruct("cachext op stats", sizeof(OpSharedStats),
								   &found);
	if (!found)
	{
		for (int i = 0; i < OP_NUM_COUNTERS; i++)
			pg_atomic_init_u64(&shared_stats->counters[i], 0);
		pg_atomic_init_u64(&shared_stats->fences_standing, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
op_stats_count(OpCounter counter)
{
	pg_atomic_fetch_add_u64(&shared_stats->counters[counter], 1);
}

/* Copies the OP_NUM_COUNTERS counters into counters[]. */
void
op_stats_read(int64 *counters)
{
	for (int i = 0; i < OP_NUM_COUNTERS; i++)
		counters[i] = (int64) pg_atomic_read_u64(&shared_stats->counters[i]);
}

void
op_stats_reset(void)
{
	for (int i = 0; i < OP_NUM_COUNTERS; i++)
		pg_atomic_write_u64(&shared_stats->counters[i], 0);
}

/* A transaction placed (1) or lifted (-1) its fences. */
void
op_stats_fences_standing_add(int delta)
{
	pg_atomic_fetch_add_u64(&shared_stats->fences_standing, delta);
}

/* How many transactions of this instance have fences standing now. */
int64
op_stats_fences_standing(void)
{
	return (int64) pg_atomic_read_u64(&shared_stats->fences_standing);
}
