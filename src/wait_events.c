/*-------------------------------------------------------------------------
 * wait_events.c
 *	  The wait events cachext's waits report: on PostgreSQL 17 and later a
 *	  named one per kind of wait (WaitEventExtensionNew), so that
 *	  pg_stat_activity.wait_event says whether a backend waits for Redis
 *	  or for a load; before 17 the generic "Extension".
 *
 * The names are registered once per shared memory, from the shared-memory
 * start-up hook (in the postmaster, and again in each process where
 * shared memory is attached anew), so a wait never has to register one
 * (which takes a lock and could fail).  The ids are process-local copies,
 * inherited by fork.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/wait_event.h"

#include "compat.h"
#include "wait_events.h"

/* Each wait's wait_event_info once registered; 0 before (and before 17). */
static uint32 wait_event_info[CACHEXT_NUM_WAITS];

/* Registers the names (17 and later); called from the start-up hook. */
void
wait_events_shmem_startup(void)
{
#ifdef CACHEXT_HAS_CUSTOM_WAIT_EVENTS
	/* pg_stat_activity.wait_event of each wait; see wait_events.h */
	static const char *const names[CACHEXT_NUM_WAITS] = {
		[CACHEXT_WAIT_REDIS] = "CachextRedis",
		[CACHEXT_WAIT_LOAD] = "CachextLoad",
		[CACHEXT_WAIT_REMOTE_LOAD] = "CachextRemoteLoad",
		[CACHEXT_WAIT_SYNC] = "CachextSyncStream",
		[CACHEXT_WAIT_EVENT_WORKER] = "CachextEventWorker",
		[CACHEXT_WAIT_L1_DUMP] = "CachextL1Dump",
	};

	for (int i = 0; i < CACHEXT_NUM_WAITS; i++)
		wait_event_info[i] = WaitEventExtensionNew(names[i]);
#endif
}

/* The wait_event_info a wait of this kind reports. */
uint32
cachext_wait_event(CachextWait wait)
{
	return wait_event_info[wait] != 0 ? wait_event_info[wait] :
		PG_WAIT_EXTENSION;
}
