/*-------------------------------------------------------------------------
 * wait_events.h
 *	  What cachext's processes wait for, as pg_stat_activity shows it.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_WAIT_EVENTS_H
#define CACHEXT_WAIT_EVENTS_H

#include "postgres.h"

typedef enum CachextWait
{
	CACHEXT_WAIT_REDIS,			/* a reply from Redis, or a connect */
	CACHEXT_WAIT_LOAD,			/* another backend's load of the same key */
	CACHEXT_WAIT_REMOTE_LOAD,	/* another instance's load (its Redis lock) */
	CACHEXT_WAIT_SYNC,			/* the sync worker: Redis' invalidation stream */
	CACHEXT_WAIT_EVENT_WORKER,	/* the event worker: events to send */
	CACHEXT_WAIT_L1_DUMP,		/* the L1 dump worker: its next dump */
	CACHEXT_NUM_WAITS
} CachextWait;

extern void wait_events_shmem_startup(void);
extern uint32 cachext_wait_event(CachextWait wait);

#endif							/* CACHEXT_WAIT_EVENTS_H */
