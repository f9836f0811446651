/*-------------------------------------------------------------------------
 * l2.h
 *	  Redis (L2): the commands cachext sends, over one connection per
 *	  backend, and the per-backend circuit breaker.
 *
 * Keys handed to these functions are full keys (namespace included) and
 * values are JSON text; l2.c knows nothing about jsonb or L1.  Every call
 * returns false when Redis could not be asked (not configured, breaker
 * open, connection failure, timeout, protocol error); a failure has then
 * already been counted and, at most once per retry interval, logged.  No
 * function here raises an ERROR because of Redis.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_H
#define CACHEXT_L2_H

#include "postgres.h"

#include "l2_types.h"

/*
 * PTTL's answer for a missing key; for a key without expiry it answers
 * CACHEXT_NO_TTL (guc.h).
 */
#define L2_MISSING		(-2)

/*
 * The longest string Redis takes in one argument by default
 * (proto-max-bulk-len, 512 MB).  Redis answers a longer one by closing the
 * connection once it has read it all, so cachext never sends one.
 */
#define L2_MAX_VALUE_LENGTH	((size_t) 512 * 1024 * 1024)

/* One key's answer to a read. */
typedef struct L2Value
{
	bool		found;
	char	   *data;			/* palloc'd, NUL-terminated; NULL on a miss */
	int			len;
	int64		pttl_ms;		/* remaining TTL, or CACHEXT_NO_TTL */
} L2Value;

/* How l2_incr went, once Redis answered. */
typedef enum L2IncrOutcome
{
	L2_INCR_DONE,
	L2_INCR_NOT_INTEGER,		/* the value is not an integer's text */
	L2_INCR_OVERFLOW			/* the result would leave bigint's range */
} L2IncrOutcome;

/* Shared memory of L2 (its counters). */
extern void l2_shmem_request(void);
extern void l2_shmem_startup(void);

/* True when cachext.redis_url names a Redis server. */
extern bool l2_is_configured(void);
extern void l2_require_tags_supported(void);

/* True when configured and the circuit breaker lets this backend try. */
extern bool l2_is_usable(void);

extern bool l2_get_multi(int nkeys, const char *const *keys,
						 const int *key_lens, L2Value *values);
extern bool l2_set(const char *key, int key_len, const char *value,
				   int value_len, int64 ttl_ms);
extern bool l2_set_multi(int nkeys, const char *const *keys,
						 const int *key_lens, const char *const *values,
						 const int *value_lens, int64 ttl_ms);
extern bool l2_write(const L2Write *write, bool *stored);
extern bool l2_incr(const char *key, int key_len, int64 by, int64 ttl_ms,
					L2IncrOutcome *outcome, int64 *result);
extern bool l2_pttl(const char *key, int key_len, int64 *pttl_ms);
extern bool l2_expire(const char *key, int key_len, int64 ttl_ms,
					  bool *existed);
extern bool l2_invalidate_tag(const char *tag, int tag_len, int64 *removed,
							  char ***members, int **member_lens,
							  int *nmembers);
extern bool l2_unlink(const char *key, int key_len, bool *existed);
extern bool l2_unlink_matching(const char *match, int match_len,
							   int64 *removed);

extern bool l2_read_lease(const char *key, int key_len, L2Lease *lease);
extern bool l2_fence_keys(int nkeys, const char *const *keys,
						  const int *key_lens, L2FenceStep step,
						  const char *token, bool unlink,
						  int64 fence_ttl_ms, int64 *removed, int64 *lost);
extern bool l2_fence_lift_unanswered(int nkeys, const char *const *keys,
									 const int *key_lens, const char *token,
									 int64 fence_ttl_ms, bool *sent);
extern bool l2_fence_patterns(L2FenceStep step, const char *token,
							  int64 fence_ttl_ms, bool *lost);
extern bool l2_lock(const char *key, int key_len, const char *token,
					int64 ttl_ms, bool *acquired);
extern bool l2_unlock(const char *key, int key_len, const char *token);

#endif							/* CACHEXT_L2_H */
