/*-------------------------------------------------------------------------
 * l2_queue.h
 *	  Invalidations that could not reach Redis, kept in shared memory until
 *	  a backend that reaches Redis replays them.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_QUEUE_H
#define CACHEXT_L2_QUEUE_H

#include "postgres.h"

#include "l2_types.h"


extern void l2_queue_shmem_request(void);
extern void l2_queue_shmem_startup(void);

extern void l2_queue_add(L2QueueKind kind, const char *namespace,
						 int namespace_len, const char *item, int item_len);
/*
 * Called for each queued invalidation once Redis has taken it.  The item
 * follows the namespace in memory, so for an L2_QUEUE_KEY entry namespace
 * is the full key, namespace_len + item_len bytes long.
 */
typedef void (*L2QueueReplayed) (L2QueueKind kind, const char *namespace,
								 int namespace_len, const char *item,
								 int item_len);

extern bool l2_queue_replay(L2QueueReplayed replayed);
extern bool l2_queue_busy(void);
extern int64 l2_queue_length(void);

#endif							/* CACHEXT_L2_QUEUE_H */
