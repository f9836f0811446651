/*-------------------------------------------------------------------------
 * op_stats.h
 *	  Counters of cache operations that span both layers (cache_incr,
 *	  cache_add, cache_invalidate_tag), shown in cache_stats' l1 row.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_OP_STATS_H
#define CACHEXT_OP_STATS_H

#include "postgres.h"

typedef enum OpCounter
{
	OP_INCRS,					/* cache_incr calls that counted */
	OP_ADDS_REFUSED,			/* cache_add calls that found the key */
	OP_TAG_INVALIDATIONS,		/* tags invalidated, by call or trigger */
	OP_FENCES_LOST,				/* commits whose lift found a Redis fence
								 * gone or expired (fence.c) */
	OP_NUM_COUNTERS
} OpCounter;

extern void op_stats_shmem_request(void);
extern void op_stats_shmem_startup(void);

extern void op_stats_count(OpCounter counter);
extern void op_stats_read(int64 *counters);
extern void op_stats_reset(void);
extern void op_stats_fences_standing_add(int delta);
extern int64 op_stats_fences_standing(void);

#endif							/* CACHEXT_OP_STATS_H */
