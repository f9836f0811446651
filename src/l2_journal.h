/*-------------------------------------------------------------------------
 * l2_journal.h
 *	  The keys, patterns and tags this instance wrote or invalidated in
 *	  Redis lately, replayed as invalidations when the master changes.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_JOURNAL_H
#define CACHEXT_L2_JOURNAL_H

#include "postgres.h"

#include "l2_types.h"

extern Size l2_journal_shmem_size(void);
extern void l2_journal_shmem_request(void);
extern void l2_journal_shmem_startup(void);

extern void l2_journal_add(L2QueueKind kind, const char *namespace,
						   int namespace_len, const char *item,
						   int item_len);
/* Where l2_journal_requeue sends each change: the queue's l2_queue_add. */
typedef void (*L2JournalRequeue) (L2QueueKind kind, const char *namespace,
								  int namespace_len, const char *item,
								  int item_len);

extern void l2_journal_requeue(L2JournalRequeue requeue);

#endif							/* CACHEXT_L2_JOURNAL_H */
