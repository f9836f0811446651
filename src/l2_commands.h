/*-------------------------------------------------------------------------
 * l2_commands.h
 *	  Every command and script cachext sends to Redis (l2_commands.c);
 *	  l2.c runs them.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_COMMANDS_H
#define CACHEXT_L2_COMMANDS_H

#include "postgres.h"

#include "l2_types.h"
#include "redis_conn.h"

/* How many commands l2_commands_set and l2_commands_unlink fill. */
#define L2_COMMANDS_SET		3
#define L2_COMMANDS_UNLINK	3

/* At most how many commands l2_commands_unlink_page fills. */
#define L2_COMMANDS_PAGE_UNLINKS 2

extern RedisCommand *l2_commands_get_multi(int nkeys,
										   const char *const *keys,
										   const int *key_lens);
extern void l2_commands_set(RedisCommand *commands, const char *key,
							int key_len, const char *value, int value_len,
							int64 ttl_ms);
extern void l2_commands_unlink(RedisCommand *commands, const char *key,
							   int key_len);
extern RedisCommand l2_commands_pttl(const char *key, int key_len);
extern RedisCommand l2_commands_scan(const char *cursor, const char *match,
									 int match_len);
extern int	l2_commands_unlink_page(const RedisReply *keys,
									RedisCommand *unlink, bool *first_counts);
extern RedisCommand *l2_commands_epoch_bumps(int *ncommands);
extern RedisCommand l2_commands_lease_read(const char *key, int key_len);
extern bool l2_commands_take_lease(const RedisReply *reply, L2Lease *lease);
extern RedisCommand l2_commands_write(const L2Write *write);
extern RedisCommand l2_commands_incr(const char *key, int key_len, int64 by,
									 int64 ttl_ms);
extern RedisCommand l2_commands_expire(const char *key, int key_len,
									   int64 ttl_ms);
extern RedisCommand l2_commands_tag_invalidate(const char *tag, int tag_len);
extern RedisCommand l2_commands_lock(const char *key, int key_len,
									 const char *token, int64 ttl_ms);
extern RedisCommand l2_commands_unlock(const char *key, int key_len,
									   const char *token);
extern RedisCommand *l2_commands_fence(int nkeys, const char *const *keys,
									   const int *key_lens, L2FenceStep step,
									   const char *token, bool unlink,
									   int64 fence_ttl_ms, int *ncommands,
									   int *nscripts, int *nfirst);
extern RedisCommand l2_commands_lift(int nkeys, const char *const *keys,
									 const int *key_lens, const char *token,
									 int64 fence_ttl_ms);
extern RedisCommand *l2_commands_pattern_fence(L2FenceStep step,
											   const char *token,
											   int64 fence_ttl_ms,
											   int *ncommands);

#endif							/* CACHEXT_L2_COMMANDS_H */
