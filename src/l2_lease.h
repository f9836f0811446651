/*-------------------------------------------------------------------------
 * l2_lease.h
 *	  The Redis side of leases and load locks: cachext's own keys beside a
 *	  cache key, and the commands and scripts that read and compare them.
 *
 * Builds commands only; l2.c runs them.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_LEASE_H
#define CACHEXT_L2_LEASE_H

#include "postgres.h"

#include "redis_conn.h"

/* The Redis side of a lease: the counters' values when it was read. */
typedef struct L2Lease
{
	char	   *seq;			/* the key's write sequence */
	char	   *epoch;			/* the epoch of pattern invalidations */
} L2Lease;

/* How many commands l2_lease_bump_commands adds. */
#define L2_LEASE_BUMP_COMMANDS	2

/* What a fence script does besides invalidating (fence.c). */
typedef enum L2FenceStep
{
	L2_FENCE_PLACE,				/* place a fence */
	L2_FENCE_LIFT,				/* lift one this transaction placed */
	L2_FENCE_NONE				/* only invalidate */
} L2FenceStep;

extern bool l2_lease_is_fence_key(const char *key, size_t len);
extern RedisCommand *l2_lease_fence_commands(int nkeys,
											 const char *const *keys,
											 const int *key_lens,
											 L2FenceStep step,
											 int64 fence_ttl_ms,
											 int *ncommands);
extern RedisCommand *l2_lease_pattern_fence_commands(L2FenceStep step,
													 int64 fence_ttl_ms,
													 int *ncommands);
extern void l2_lease_bump_commands(RedisCommand *commands, const char *key,
								   int key_len);
extern void l2_lease_set_cluster(bool cluster);
extern RedisCommand *l2_lease_epoch_bump_commands(int *ncommands);
extern RedisCommand l2_lease_read_command(const char *key, int key_len);
extern bool l2_lease_take(const RedisReply *reply, L2Lease *lease);
extern RedisCommand l2_lease_store_command(const char *key, int key_len,
										   const char *value, int value_len,
										   int64 ttl_ms, const L2Lease *lease);
extern RedisCommand l2_lease_lock_command(const char *key, int key_len,
										  const char *token, int64 ttl_ms);
extern RedisCommand l2_lease_unlock_command(const char *key, int key_len,
											const char *token);

#endif							/* CACHEXT_L2_LEASE_H */
