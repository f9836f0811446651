/*-------------------------------------------------------------------------
 * op_stats.c
 *	  Counters of cache operations that span both layers: increments,
 *	  refused adds and tag invalidations, instance-wide.
 *
 * Locking.  There is none: every counter is a pg_atomic_uint64 updated on
 * its own, so a reader may see one counter a moment ahead of another.
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
