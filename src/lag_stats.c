/*-------------------------------------------------------------------------
 * lag_stats.c
 *	  Invalidation lag as histograms, behind cache_lag_histograms: how long
 *	  the sync worker takes from a Redis change announcement to its L1
 *	  removal, and how long a committing backend spends in the fence's
 *	  place and lift steps.
 *
 * What is timed.  sync_removal: from the moment the worker has read an
 * announcement off its stream socket to the moment that key's L1 removal
 * is done (for an own write, once it was read back and kept or removed),
 * one observation per key announced (and one per FLUSHALL/FLUSHDB, which
 * empties L1).  Redis puts no time in an announcement, so neither the
 * network nor Redis' own delay in sending it is included; the worker's
 * queueing (the messages read before it in the same read), its batching
 * (own writes read back together) and the L1 locks are.  fence_place and
 * fence_lift: the time a committing backend spends in fence.c's two
 * steps, both layers; a lift sent without waiting for Redis' answer (see
 * fence.c) is timed up to the send, which is what the commit waits for.
 * A fence step is observed only for a transaction that committed: the
 * place step's time is kept in this backend until its lift, observed
 * together after a commit and forgotten after an abort, so both
 * histograms count exactly the commits that fenced.
 *
 * Buckets.  Fixed bounds, bound_us[], from 50 us to 10 s, then +Inf; each
 * bucket counts the observations that fell in it (not cumulatively), and a
 * reader adds them up into Prometheus' cumulative le buckets.  The count
 * of a histogram is its +Inf cumulative bucket, so a reader never sees a
 * count that disagrees with the buckets; the sum may be read a moment
 * ahead of or behind them.
 *
 * Locking.  There is none: every bucket and sum is a pg_atomic_uint64
 * updated on its own.  The place step's time waiting for its lift is this
 * backend's (a static).  Nothing here raises an ERROR: the lift's side
 * runs after the commit record.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/float.h"

#include "lag_stats.h"

/* The buckets' upper bounds in microseconds, LAG_NUM_BOUNDS of them. */
static const int64 bound_us[LAG_NUM_BOUNDS] = {
	50, 100, 250, 500,
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};

/* The steps' names in cache_lag_histograms, in LagStep's order. */
static const char *const step_names[LAG_NUM_STEPS] = {
	"sync_removal", "fence_place", "fence_lift"
};

typedef struct LagSharedHistogram
{
	pg_atomic_uint64 buckets[LAG_NUM_BUCKETS];	/* atomics, no lock */
	pg_atomic_uint64 sum_us;	/* atomic, no lock */
} LagSharedHistogram;

typedef struct LagShared
{
	LagSharedHistogram histograms[LAG_NUM_STEPS];
} LagShared;

static LagShared *shared = NULL;

/* This backend's fence_place time, until its lift; -1: none placed. */
static int64 placed_us = -1;

void
lag_stats_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(LagShared)));
}

/* Attaches to (and the first time, zeroes) the histograms. */
void
lag_stats_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("cachext lag stats", sizeof(LagShared), &found);
	if (!found)
	{
		for (int h = 0; h < LAG_NUM_STEPS; h++)
		{
			for (int b = 0; b < LAG_NUM_BUCKETS; b++)
				pg_atomic_init_u64(&shared->histograms[h].buckets[b], 0);
			pg_atomic_init_u64(&shared->histograms[h].sum_us, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Microseconds since start (never negative). */
static int64
elapsed_us(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return Max((int64) INSTR_TIME_GET_MICROSEC(now), 0);
}

/* Adds n observations of us microseconds to step's histogram. */
static void
observe(LagStep step, int64 us, int64 n)
{
	LagSharedHistogram *h;
	int			b = 0;

	if (shared == NULL || n <= 0)
		return;
	h = &shared->histograms[step];
	while (b < LAG_NUM_BOUNDS && us > bound_us[b])
		b++;
	pg_atomic_fetch_add_u64(&h->buckets[b], (uint64) n);
	pg_atomic_fetch_add_u64(&h->sum_us, (uint64) (us * n));
}

/* Adds n observations of the time since start to step's histogram. */
void
lag_stats_observe_since(LagStep step, instr_time start, int64 n)
{
	observe(step, elapsed_us(start), n);
}

/* fence_place is done, having started at start: kept until the lift. */
void
lag_stats_fence_placed(instr_time start)
{
	placed_us = elapsed_us(start);
}

/*
 * fence_lift is done, having started at start: after a commit, the place
 * and lift steps are observed; after an abort, forgotten.
 */
void
lag_stats_fence_lifted(bool committed, instr_time start)
{
	if (committed && placed_us >= 0)
	{
		observe(LAG_FENCE_PLACE, placed_us, 1);
		observe(LAG_FENCE_LIFT, elapsed_us(start), 1);
	}
	placed_us = -1;
}

const char *
lag_stats_step_name(LagStep step)
{
	return step_names[step];
}

/* A bucket's upper bound in seconds; +Inf for the last. */
double
lag_stats_bound_seconds(int bucket)
{
	Assert(bucket >= 0 && bucket < LAG_NUM_BUCKETS);
	if (bucket == LAG_NUM_BOUNDS)
		return get_float8_infinity();
	return bound_us[bucket] / 1000000.0;
}

/* Copies step's histogram, its buckets made cumulative. */
void
lag_stats_read(LagStep step, LagHistogram *histogram)
{
	LagSharedHistogram *h = &shared->histograms[step];
	int64		total = 0;

	for (int b = 0; b < LAG_NUM_BUCKETS; b++)
	{
		total += (int64) pg_atomic_read_u64(&h->buckets[b]);
		histogram->cumulative[b] = total;
	}
	histogram->sum_us = (int64) pg_atomic_read_u64(&h->sum_us);
}

void
lag_stats_reset(void)
{
	for (int h = 0; h < LAG_NUM_STEPS; h++)
	{
		for (int b = 0; b < LAG_NUM_BUCKETS; b++)
			pg_atomic_write_u64(&shared->histograms[h].buckets[b], 0);
		pg_atomic_write_u64(&shared->histograms[h].sum_us, 0);
	}
}
