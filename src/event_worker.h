/*-------------------------------------------------------------------------
 * event_worker.h
 *	  The background workers that send cachext.events = async's events;
 *	  event_queue.c registers them by this entry point's name.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_EVENT_WORKER_H
#define CACHEXT_EVENT_WORKER_H

#include "postgres.h"

extern PGDLLEXPORT void cachext_event_worker_main(Datum arg);

#endif							/* CACHEXT_EVENT_WORKER_H */
