/*-------------------------------------------------------------------------
 * test_pause.h
 *	  The test build's pause point between a commit's fence and its commit
 *	  record; see test_pause.c.
 *
 * Only a build with TEST_BUILD=1 (-DCACHEXT_TEST_BUILD, which scripts/test
 * uses) has it; in a normal build the function is empty and the setting
 * cachext.test_pause_after_fence (guc.c) does not exist.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_TEST_PAUSE_H
#define CACHEXT_TEST_PAUSE_H

#include "postgres.h"

#ifdef CACHEXT_TEST_BUILD

extern void test_pause_after_fence(void);

#else

static inline void
test_pause_after_fence(void)
{
}

#endif							/* CACHEXT_TEST_BUILD */

#endif							/* CACHEXT_TEST_PAUSE_H */
