/*-------------------------------------------------------------------------
 * event_queue.h
 *	  cachext.events = async: the per-database queues of committed events
 *	  and the writer's side of them.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_EVENT_QUEUE_H
#define CACHEXT_EVENT_QUEUE_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* Databases that can have events in flight at once. */
#define EVENT_SLOTS			8

/* About the most events the worker sends in one transaction. */
#define EVENT_BATCH_MAX		1000

typedef enum EventCounter
{
	EVENT_SENT,					/* events the workers sent */
	EVENT_FALLBACKS,			/* events writers sent themselves: no slot,
								 * no room or no worker */
	EVENT_BATCHES,				/* transactions the workers sent them in */
	EVENT_WORKERS_STARTED,		/* workers registered */
	EVENT_NUM_COUNTERS
} EventCounter;

/* One event: the channel and payload of a NOTIFY. */
typedef struct QueuedEvent
{
	int			level;			/* writer: subtransaction level that sent it */
	char	   *channel;
	char	   *payload;
} QueuedEvent;

/* What the worker sends in one transaction. */
typedef struct EventBatch
{
	List	   *events;			/* QueuedEvent, pointing into the ring */
	uint64		end;			/* ring position after the batch */
} EventBatch;

/* What a worker is started with, in bgw_extra (bgw_main_arg is its slot). */
typedef struct EventWorkerArgs
{
	Oid			dboid;
	uint32		generation;
} EventWorkerArgs;

extern void event_queue_shmem_request(void);
extern void event_queue_shmem_startup(void);

/* writers */
extern void event_queue_add(const char *channel, const char *payload);
extern void event_queue_pre_commit(void);
extern void event_queue_commit(void);
extern void event_queue_abort(void);
extern void event_queue_check_prepare(void);
extern void event_queue_subxact_commit(void);
extern void event_queue_subxact_abort(void);

/* the worker */
extern bool event_queue_attach(int slot, Oid dboid, uint32 generation);
extern void event_queue_detach(int slot, uint32 generation, bool restarting);
extern bool event_queue_release_if_empty(int slot);
extern bool event_queue_next_batch(int slot, EventBatch *batch);
extern void event_queue_consume(int slot, const EventBatch *batch);

/* cache_event_stats */
extern void event_queue_read_stats(int64 *counters);
extern void event_queue_reset_stats(void);

#endif							/* CACHEXT_EVENT_QUEUE_H */
