/*-------------------------------------------------------------------------
 * workers.h
 *	  How cachext describes its background workers to the postmaster.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_WORKERS_H
#define CACHEXT_WORKERS_H

#include "postmaster/bgworker.h"

extern void workers_describe(BackgroundWorker *worker, const char *function,
							 const char *type, BgWorkerStartTime start,
							 int restart_s);

#endif							/* CACHEXT_WORKERS_H */
