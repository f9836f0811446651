/*-------------------------------------------------------------------------
 * ttl_clock.c
 *	  The test clock: an offset added to the wall clock L1's TTLs run on,
 *	  compiled in only with TEST_BUILD=1 (-DCACHEXT_TEST_BUILD).
 *
 * Tests of expiry (test/t/030_model.pl) must make time pass without
 * sleeping.  cachext_test_advance_clock(interval), declared by the test
 * itself and not by the extension's SQL script, moves the offset forward;
 * ttl_clock_now() is GetCurrentTimestamp() plus the offset, for every
 * backend and the sync worker alike.  The offset never moves back, so
 * L1's time never does either.  Redis' own TTLs (L2) are not shifted.
 * Without the switch this file compiles to nothing and ttl_clock.h's
 * ttl_clock_now() is GetCurrentTimestamp() itself: normal builds carry no
 * offset, no shared memory and no such symbol.
 *
 * Locking.  None: the offset is one pg_atomic_uint64 in shared memory,
 * read and compare-and-swapped on its own.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef CACHEXT_TEST_BUILD

#include "common/int.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "ttl_clock.h"

/* Microseconds added to the wall clock; an atomic, no lock. */
static pg_atomic_uint64 *clock_offset = NULL;

void
ttl_clock_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(pg_atomic_uint64)));
}

/* Attaches to (and the first time, zeroes) the offset. */
void
ttl_clock_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	clock_offset = ShmemInitStruct("cachext test clock",
								   MAXALIGN(sizeof(pg_atomic_uint64)), &found);
	if (!found)
		pg_atomic_init_u64(clock_offset, 0);
	LWLockRelease(AddinShmemInitLock);
}

/* The wall clock plus the offset. */
TimestampTz
ttl_clock_now(void)
{
	Assert(clock_offset != NULL);
	return GetCurrentTimestamp() + (int64) pg_atomic_read_u64(clock_offset);
}

/*
 * Moves the clock usecs (> 0) forward for the whole instance; refuses a
 * step that would take it beyond the timestamps PostgreSQL represents.
 */
void
ttl_clock_advance(int64 usecs)
{
	uint64		old = pg_atomic_read_u64(clock_offset);
	int64		offset;
	TimestampTz now;

	Assert(usecs > 0);
	do
	{
		if (pg_add_s64_overflow((int64) old, usecs, &offset) ||
			pg_add_s64_overflow(GetCurrentTimestamp(), offset, &now) ||
			!IS_VALID_TIMESTAMP(now))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("test clock cannot be advanced that far"),
					 errdetail("The clock would pass the largest timestamp PostgreSQL represents."),
					 errhint("Advance it by a smaller interval.")));
	} while (!pg_atomic_compare_exchange_u64(clock_offset, &old,
											 (uint64) offset));
}

#endif							/* CACHEXT_TEST_BUILD */
