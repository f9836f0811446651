/*-------------------------------------------------------------------------
 * sync_worker.h
 *	  The background worker that keeps this instance's L1 coherent with
 *	  Redis by following Redis' invalidation messages.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_SYNC_WORKER_H
#define CACHEXT_SYNC_WORKER_H

#include "postgres.h"

extern void sync_worker_register(void);
extern PGDLLEXPORT void cachext_sync_main(Datum arg);

#endif							/* CACHEXT_SYNC_WORKER_H */
