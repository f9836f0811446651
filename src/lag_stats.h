/*-------------------------------------------------------------------------
 * lag_stats.h
 *	  Invalidation lag as histograms (cache_lag_histograms): the sync
 *	  worker's removals, the fence's place and lift steps.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_LAG_STATS_H
#define CACHEXT_LAG_STATS_H

#include "postgres.h"

#include "portability/instr_time.h"

/* What a histogram times (lag_stats_step_name names it). */
typedef enum LagStep
{
	LAG_SYNC_REMOVAL,			/* announcement read -> its L1 removal done */
	LAG_FENCE_PLACE,			/* a committing backend's fence_place */
	LAG_FENCE_LIFT,				/* its fence_lift after the commit */
	LAG_NUM_STEPS
} LagStep;

/* Buckets: LAG_NUM_BOUNDS upper bounds, then +Inf. */
#define LAG_NUM_BOUNDS	17
#define LAG_NUM_BUCKETS (LAG_NUM_BOUNDS + 1)

/* One histogram, copied out: cumulative counts (the last is +Inf's). */
typedef struct LagHistogram
{
	int64		cumulative[LAG_NUM_BUCKETS];
	int64		sum_us;
} LagHistogram;

extern void lag_stats_shmem_request(void);
extern void lag_stats_shmem_startup(void);

/* The writers' side: sync_worker.c, fence.c. */
extern void lag_stats_observe_since(LagStep step, instr_time start, int64 n);
extern void lag_stats_fence_placed(instr_time start);
extern void lag_stats_fence_lifted(bool committed, instr_time start);

/* The reader's side: cache_lag_histograms, cache_stats_reset. */
extern const char *lag_stats_step_name(LagStep step);
extern double lag_stats_bound_seconds(int bucket);
extern void lag_stats_read(LagStep step, LagHistogram *histogram);
extern void lag_stats_reset(void);

#endif							/* CACHEXT_LAG_STATS_H */
