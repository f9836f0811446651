/*-------------------------------------------------------------------------
 * l2_stats.h
 *	  L2's counters in shared memory, behind the l2 row of cache_stats.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_STATS_H
#define CACHEXT_L2_STATS_H

#include "postgres.h"

typedef enum L2Counter
{
	/* counted per key prefix (l2_stats_count_key) */
	L2_HITS,
	L2_MISSES,
	L2_SETS,
	/* counted instance-wide (l2_stats_count) */
	L2_INVALIDATIONS,
	L2_ERRORS,					/* connect, protocol and data errors */
	L2_TIMEOUTS,				/* commands or connects past their timeout */
	L2_PROMOTIONS,				/* L2 hits copied into L1 */
	L2_QUEUED,					/* invalidations kept for later replay */
	L2_REPLAYED,				/* queued invalidations that reached Redis */
	L2_OVERFLOWS,				/* times the queue overflowed */
	L2_SYNC_EVICTIONS,			/* L1 entries the sync worker evicted on
								 * Redis' invalidation messages */
	L2_SYNC_RESETS,				/* times the coherence changed (a stream
								 * followed, refused or lost, the worker
								 * stopped) or the sync worker emptied L1
								 * on a FLUSHALL/FLUSHDB */
	L2_SYNC_KEPT,				/* own writes the sync worker kept in L1 on
								 * an invalidation message, Redis still
								 * holding their text */
	L2_NUM_COUNTERS
} L2Counter;

/* The counters kept per key prefix: L2_HITS, L2_MISSES, L2_SETS. */
#define L2_PREFIX_COUNTERS	(L2_SETS + 1)

/* What the last attempt to talk to Redis (any backend) found. */
typedef enum L2RedisState
{
	L2_REDIS_UNKNOWN = 0,		/* never tried since start */
	L2_REDIS_UP,
	L2_REDIS_DOWN
} L2RedisState;

/* How the sync worker keeps L1 coherent with Redis now. */
typedef enum L2Coherence
{
	L2_COHERENCE_NONE = 0,		/* no stream now (the worker starting,
								 * stopped, or Redis out of reach): reads
								 * ask Redis first (L1's generation is
								 * closed) */
	L2_COHERENCE_TRACKING,		/* Redis' invalidation stream is followed */
	L2_COHERENCE_TTL_BOUND		/* Redis refuses client tracking: L1 copies
								 * expire within cachext.l1_max_ttl */
} L2Coherence;

typedef struct L2Stats
{
	int64		counters[L2_NUM_COUNTERS];
	L2RedisState redis_state;
	L2Coherence coherence;
} L2Stats;

/* One key prefix's counters, copied out for cache_prefix_stats. */
typedef struct L2PrefixCounts
{
	int64		counters[L2_PREFIX_COUNTERS];
} L2PrefixCounts;

extern Size l2_stats_shmem_size(void);
extern void l2_stats_shmem_startup(void);

extern void l2_stats_count(L2Counter counter, int64 n);
extern void l2_stats_count_key(L2Counter counter, const char *key,
							   int key_len, int namespace_len);
extern void l2_stats_read_prefixes(L2PrefixCounts *counts);
extern void l2_stats_set_redis_state(L2RedisState state);
extern void l2_stats_set_coherence(L2Coherence coherence);
extern void l2_stats_read(L2Stats *stats);
extern void l2_stats_reset(void);

#endif							/* CACHEXT_L2_STATS_H */
