/*-------------------------------------------------------------------------
 * fence.h
 *	  The pre-commit fence of a committing transaction's invalidations.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_FENCE_H
#define CACHEXT_FENCE_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern void fence_place(List *keys, List *patterns);
extern void fence_lift(bool committed);

#endif							/* CACHEXT_FENCE_H */
