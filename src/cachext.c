/*-------------------------------------------------------------------------
 * cachext.c
 *	  Module start-up: the settings (guc.c), the shared-memory hooks, the
 *	  registration of the sync worker, of the L1 dump worker
 *	  (warm_restart.c), of the transaction callbacks
 *	  (xact.c) and of the WAL resource manager (wal_invalidation.c).
 *
 * cachext must be in shared_preload_libraries: its store lives in shared
 * memory sized at postmaster start, and its transaction callbacks
 * (xact.c) are registered there.  Loaded any other way (CREATE EXTENSION
 * alone, LOAD), _PG_init defines nothing, and every SQL function and the
 * watched tables' trigger report the missing preload through
 * cachext_require_preloaded (guc.c) before touching anything.
 *
 * This file is the top of the module: it calls every module's start-up
 * steps and no module calls into it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "compat.h"
#include "event_queue.h"
#include "guc.h"
#include "l1.h"
#include "l2.h"
#include "l2_queue.h"
#include "lag_stats.h"
#include "loader.h"
#include "op_stats.h"
#include "sync_worker.h"
#include "table_stats.h"
#include "ttl_clock.h"
#include "wait_events.h"
#include "wal_invalidation.h"
#include "warm_restart.h"
#include "xact.h"

PG_MODULE_MAGIC;

#ifdef CACHEXT_HAS_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

/* Every module's share of shared memory. */
static void
request_shared_memory(void)
{
	l1_shmem_request();
	l2_shmem_request();
	l2_queue_shmem_request();
	loader_shmem_request();
	op_stats_shmem_request();
	lag_stats_shmem_request();
	table_stats_shmem_request();
	ttl_clock_shmem_request();
	event_queue_shmem_request();
}

#ifdef CACHEXT_HAS_SHMEM_REQUEST_HOOK
static void
cachext_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	request_shared_memory();
}
#endif

static void
cachext_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	l1_shmem_startup();
	l2_shmem_startup();
	l2_queue_shmem_startup();
	loader_shmem_startup();
	op_stats_shmem_startup();
	lag_stats_shmem_startup();
	table_stats_shmem_startup();
	ttl_clock_shmem_startup();
	event_queue_shmem_startup();
	wait_events_shmem_startup();
	/* last: it stores into L1 and reads the TTL clock */
	warm_restart_shmem_startup();
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	guc_define_settings();

#ifdef CACHEXT_HAS_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cachext_shmem_request;
#else
	request_shared_memory();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cachext_shmem_startup;
	sync_worker_register();
	warm_restart_register();
	xact_register_callbacks();
	wal_invalidation_register();
}
