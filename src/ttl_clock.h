/*-------------------------------------------------------------------------
 * ttl_clock.h
 *	  The clock L1's TTLs run on: created_at, last_access and expires_at
 *	  are taken from it, and expiry is judged by it.
 *
 * In a normal build it is GetCurrentTimestamp() and nothing else.  A build
 * with TEST_BUILD=1 (-DCACHEXT_TEST_BUILD, which scripts/test uses) adds an
 * instance-wide offset that cachext_test_advance_clock() moves forward, so
 * tests can expire entries without waiting; see ttl_clock.c.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_TTL_CLOCK_H
#define CACHEXT_TTL_CLOCK_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/timestamp.h"

#ifdef CACHEXT_TEST_BUILD

extern TimestampTz ttl_clock_now(void);
extern void ttl_clock_advance(int64 usecs);
extern void ttl_clock_shmem_request(void);
extern void ttl_clock_shmem_startup(void);

#else

/* The wall clock (not the transaction's start), so TTLs run in real time. */
static inline TimestampTz
ttl_clock_now(void)
{
	return GetCurrentTimestamp();
}

/* Without the test clock there is nothing in shared memory. */
static inline void
ttl_clock_shmem_request(void)
{
}

static inline void
ttl_clock_shmem_startup(void)
{
}

#endif							/* CACHEXT_TEST_BUILD */

#endif							/* CACHEXT_TTL_CLOCK_H */
