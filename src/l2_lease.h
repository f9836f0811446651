/*-------------------------------------------------------------------------
 * l2_lease.h
 *	  The Redis side of leases and load locks: cachext's own keys beside a
 *	  cache key, and the commands and scripts that read and compare them,
 *	  or bump them with a write (conditional writes, counters, TTLs, tags).
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
	char	   *bucket_seq;		/* the sequence of the key's fence bucket */
	bool		fenced;			/* read while a fence stood: never stores */
} L2Lease;

/*
 * One write of l2_write (l2_lease_write_command's script): a key, its
 * value and how to write it.
 */
typedef struct L2Write
{
	const char *key;
	int			key_len;
	const char *value;			/* JSON text */
	int			value_len;
	int64		ttl_ms;			/* < 0: no expiry */
	const L2Lease *lease;		/* NULL: no lease to check */
	const char *condition;		/* NULL, "NX" (if absent), "XX" (if present) */
	int			ntags;
	const char *const *tags;	/* namespace + tag each */
	const int  *tag_lens;
} L2Write;

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
											 const char *token,
											 bool unlink,
											 int64 fence_ttl_ms,
											 int *ncommands, int *nscripts,
											 int *nfirst);
extern RedisCommand l2_lease_lift_command(int nkeys,
										  const char *const *keys,
										  const int *key_lens,
										  const char *token,
										  int64 fence_ttl_ms);
extern RedisCommand *l2_lease_pattern_fence_commands(L2FenceStep step,
													 const char *token,
													 int64 fence_ttl_ms,
													 int *ncommands);
extern void l2_lease_bump_commands(RedisCommand *commands, const char *key,
								   int key_len);
extern void l2_lease_set_cluster(bool cluster);
extern RedisCommand *l2_lease_epoch_bump_commands(int *ncommands);
extern RedisCommand l2_lease_read_command(const char *key, int key_len);
extern bool l2_lease_take(const RedisReply *reply, L2Lease *lease);
extern RedisCommand l2_lease_write_command(const L2Write *write);
extern RedisCommand l2_lease_incr_command(const char *key, int key_len,
										  int64 by, int64 ttl_ms);
extern RedisCommand l2_lease_expire_command(const char *key, int key_len,
											int64 ttl_ms);
extern RedisCommand l2_lease_tag_invalidate_command(const char *tag,
													int tag_len);
extern bool l2_lease_is_tag_key(const char *key, size_t len);
extern RedisCommand l2_lease_lock_command(const char *key, int key_len,
										  const char *token, int64 ttl_ms);
extern RedisCommand l2_lease_unlock_command(const char *key, int key_len,
											const char *token);

#endif							/* CACHEXT_L2_LEASE_H */
