/*-------------------------------------------------------------------------
 * wal_invalidation.h
 *	  A watched write's invalidations in the WAL, replayed by hot standbys
 *	  into their L1; see wal_invalidation.c.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_WAL_INVALIDATION_H
#define CACHEXT_WAL_INVALIDATION_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern void wal_invalidation_register(void);
extern void wal_invalidation_log(List *keys, List *patterns, List *tags);

#endif							/* CACHEXT_WAL_INVALIDATION_H */
