/*-------------------------------------------------------------------------
 * xact.c
 *	  The one transaction-end path: cachext's only transaction and
 *	  subtransaction callbacks, registered once from _PG_init, calling each
 *	  module's steps in the written order below, as core's
 *	  CommitTransaction calls its own.
 *
 * Commit, in order (core's steps in brackets):
 *   [deferred triggers fire]
 *   PRE_COMMIT  triggers_pre_commit: fences the transaction's keys,
 *               patterns and tags in L1 and Redis and removes them
 *               there (fence.c), writes them to the WAL for hot
 *               standbys (wal_invalidation.c; a test build may pause
 *               here: test_pause.c), then hands its events to
 *               events.c (Async_Notify, or the async queue);
 *               event_queue_pre_commit: copies async events into the
 *               shared ring as a pending record.
 *   [PreCommit_Notify; the commit record; the commit becomes visible]
 *   COMMIT      triggers_commit: lifts the fences, in Redis then in L1
 *               (nothing to remove again: see fence.c); event_queue_commit:
 *               marks the records committed and wakes the event worker --
 *               so an async event reaches listeners only once the fences
 *               of the invalidation it announces are lifted.
 *   [AtCommit_Notify signals listeners (cachext.events = on)]
 * With cachext.events = on a listener may read the notification as soon
 * as the commit is visible (before COMMIT); the fence is in force by then,
 * so what it reads is never the old value either.
 *
 * Abort (also on FATAL, and after a failed pre-commit): triggers_abort
 * lifts any fence, event_queue_abort marks any record aborted.
 * PRE_PREPARE: refused when either module has something pending, since
 * nothing could follow COMMIT PREPARED.
 * Subtransactions: a committed one's pending work becomes its parent's, an
 * aborted one's is discarded (and its memory freed), triggers first, then
 * the event queue.
 *
 * No step after the commit record raises an ERROR (fence.c, event_queue.c
 * say how).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "event_queue.h"
#include "triggers.h"
#include "xact.h"

static void
transaction_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			triggers_pre_commit();
			event_queue_pre_commit();
			break;
		case XACT_EVENT_COMMIT:
			triggers_commit();
			event_queue_commit();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			triggers_abort();
			event_queue_abort();
			break;
		case XACT_EVENT_PRE_PREPARE:
			triggers_check_prepare();
			event_queue_check_prepare();
			break;
		default:
			break;
	}
}

static void
subtransaction_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	switch (event)
	{
		case SUBXACT_EVENT_COMMIT_SUB:
			triggers_subxact_commit();
			event_queue_subxact_commit();
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			triggers_subxact_abort();
			event_queue_subxact_abort();
			break;
		default:
			break;
	}
}

/* Called once, from _PG_init: every backend inherits the registration. */
void
xact_register_callbacks(void)
{
	RegisterXactCallback(transaction_callback, NULL);
	RegisterSubXactCallback(subtransaction_callback, NULL);
}
