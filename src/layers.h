/*-------------------------------------------------------------------------
 * layers.h
 *	  The cache as the SQL functions see it: one get/set/invalidate over
 *	  every layer, in the current database's namespace.
 *
 * Keys and patterns arrive already checked (non-empty, within
 * cachext.max_key_length, well-formed): by sql_api.c for the SQL
 * functions (loader.c included), by triggers.c for the keys a watched row
 * names, which fence.c invalidates.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_LAYERS_H
#define CACHEXT_LAYERS_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "l1.h"
#include "l2.h"
#include "l2_queue.h"

extern char *layers_full_key(const char *key, int key_len, char *buffer,
							 int *full_len);
extern uint32 layers_key_hash(const char *key, int key_len);
extern uint64 layers_text_hash(const char *text, size_t len);
extern Jsonb *layers_get(const char *key, int key_len);
extern bool layers_reload(int nkeys, char **full, const int *full_lens,
						  int namespace_len);
extern void layers_get_multi(int nkeys, const char *const *keys,
							 const int *key_lens, Jsonb **values);
extern Jsonb *layers_get_entry(const char *key, int key_len, int64 stale_us,
							   L1EntryMeta *meta);
/*
 * A lease on a key in both layers (see "Leases" in l1.c): a load that began
 * before a write or invalidation of the key, in either layer, stores nothing.
 */
typedef struct LayersLease
{
	L1Lease		l1;
	bool		in_l2;			/* l2 was read: Redis can check it */
	L2Lease		l2;
} LayersLease;

/* Tags of a write, in this namespace: distinct, checked by sql_api.c. */
typedef struct LayersTags
{
	int			ntags;
	const char *const *tags;
	const int  *tag_lens;
} LayersTags;

extern void layers_take_lease(const char *key, int key_len,
							  LayersLease *lease);
extern bool layers_set(const char *key, int key_len, const Jsonb *value,
					   int64 ttl_ms, int64 load_us, const LayersLease *lease);
extern bool layers_set_tagged(const char *key, int key_len,
							  const Jsonb *value, int64 ttl_ms, int64 load_us,
							  const LayersLease *lease,
							  const LayersTags *tags);
extern void layers_set_multi(int nkeys, const char *const *keys,
							 const int *key_lens, Jsonb *const *values,
							 int64 ttl_ms);
extern int64 layers_incr(const char *key, int key_len, int64 by,
						 int64 ttl_ms);
extern bool layers_add(const char *key, int key_len, const Jsonb *value,
					   int64 ttl_ms);
extern bool layers_replace(const char *key, int key_len, const Jsonb *value,
						   int64 ttl_ms);
extern bool layers_ttl(const char *key, int key_len, int64 *ttl_ms);
extern bool layers_touch(const char *key, int key_len, int64 ttl_ms);
extern int64 layers_invalidate_tag(const char *tag, int tag_len,
								   bool announce);
extern bool layers_invalidate(const char *key, int key_len, bool announce);
extern int64 layers_invalidate_pattern(const char *pattern, int pattern_len,
									   bool announce);
extern int64 layers_clear(void);
extern void layers_queue_invalidation(L2QueueKind kind, const char *item,
									  int item_len);
extern int64 layers_invalidate_matching_in_l2(L2QueueKind kind,
											  const char *pattern,
											  int pattern_len);
extern int64 layers_invalidate_tag_in_l2(const char *tag, int tag_len);
extern void layers_replay_queue(void);

/* What layers_lock_load() got. */
typedef enum LayersLock
{
	LAYERS_LOCK_NONE,			/* no usable L2: nothing to share */
	LAYERS_LOCK_TAKEN,			/* this backend loads */
	LAYERS_LOCK_BUSY			/* another instance loads */
} LayersLock;

extern LayersLock layers_lock_load(const char *key, int key_len,
								   const char *token, int64 ttl_ms);
extern void layers_unlock_load(const char *key, int key_len,
							   const char *token);

#endif							/* CACHEXT_LAYERS_H */
