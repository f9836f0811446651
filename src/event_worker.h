/*-------------------------------------------------------------------------
 * event_worker.h
 *	  The background workers that send cachext.events = async's events.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_EVENT_WORKER_H
#define CACHEXT_EVENT_WORKER_H

#include "postgres.h"

extern bool event_worker_register(int slot, Oid dboid, uint32 generation);

#endif							/* CACHEXT_EVENT_WORKER_H */
