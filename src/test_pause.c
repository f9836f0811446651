/*-------------------------------------------------------------------------
 * test_pause.c
 *	  The test build's pause point: a committing transaction waits, after
 *	  its pre-commit fence and before its commit record, for an advisory
 *	  lock another session holds.  Compiled in only with TEST_BUILD=1
 *	  (-DCACHEXT_TEST_BUILD).
 *
 * No SQL runs between the pre-commit callback and the commit record, so a
 * test cannot stop a writer there by itself (PostgreSQL 17's injection
 * points do this for core).  With cachext.test_pause_after_fence = K, a
 * transaction that fenced something waits at that point for a share lock
 * on the advisory lock K (the lock pg_advisory_lock(K) takes): while
 * another session holds it, readers run against the fence with the old row
 * still visible, and the writer commits once that session lets go.  The
 * wait is an ordinary heavyweight lock wait, so it is interruptible (a
 * cancel or lock_timeout aborts the transaction, which lifts the fence),
 * the deadlock detector sees it, and isolationtester reports the writer as
 * blocked by the holder (pg_isolation_test_session_is_blocked).  The lock
 * is released at once: it only marks the moment.
 *
 * Locking.  The lock manager's own; nothing in shared memory here.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef CACHEXT_TEST_BUILD

#include "miscadmin.h"
#include "storage/lock.h"

#include "guc.h"
#include "test_pause.h"

/*
 * Waits, if the setting asks, for a share lock on the advisory lock
 * pg_advisory_lock(key) names (a bigint key: its high half in field1,
 * its low half in field2, class 1), then releases it.
 */
void
test_pause_after_fence(void)
{
	LOCKTAG		tag;
	int64		key = cachext_test_pause_after_fence_key;

	if (key == 0)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (key >> 32),
						 (uint32) key, 1);
	(void) LockAcquire(&tag, ShareLock, false, false);
	LockRelease(&tag, ShareLock, false);
}

#endif							/* CACHEXT_TEST_BUILD */
