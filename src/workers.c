/*-------------------------------------------------------------------------
 * workers.c
 *	  How cachext describes its background workers to the postmaster: the
 *	  sync worker (sync_worker.c), the L1 dump worker (warm_restart.c) and
 *	  the event workers (event_worker.c) alike.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "workers.h"

/*
 * Fills *worker for cachext's function (its entry point in this library)
 * shown as type in pg_stat_activity.backend_type, and named type as well
 * (callers may name it more precisely afterwards): attached to shared
 * memory, able to connect to a database, started at start, and started
 * again restart_s seconds after it fails.
 */
void
workers_describe(BackgroundWorker *worker, const char *function,
				 const char *type, BgWorkerStartTime start, int restart_s)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = start;
	worker->bgw_restart_time = restart_s;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "cachext");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", type);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
}
