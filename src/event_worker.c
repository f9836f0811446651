/*-------------------------------------------------------------------------
 * event_worker.c
 *	  The background worker "cachext events": one per database with
 *	  cachext.events = async events in flight, sending them with NOTIFY.
 *
 * A writer registers it on demand at pre-commit (event_queue.c, with the
 * rest of the slot's bookkeeping), as a dynamic worker; it takes a
 * max_worker_processes slot, and when none is free the writer sends its
 * events itself.  This file is the worker alone: it uses the queue's API,
 * and the queue names it only by its entry point's name.  The
 * worker connects to its database as the bootstrap superuser, binds to its
 * queue slot, and then loops: it takes the committed events at the head of
 * the queue, sends them with Async_Notify in one transaction (so NOTIFY's
 * database-wide commit lock is taken once per batch, by the worker alone),
 * and only then marks them consumed; a worker that fails mid-batch leaves
 * them to the next one, so an event may then arrive twice, never not at
 * all.  Writers set its latch when they commit events; after sending, it
 * waits BATCH_INTERVAL_MS before looking again, so that batches gather.
 *
 * Exit.  After IDLE_EXIT_MS without events it frees its slot (unless an
 * event arrived meanwhile) and exits.  That is also what lets DROP DATABASE
 * through: DROP DATABASE waits 5 s for the database's sessions to leave,
 * and with no session left no event comes, so the worker is gone within
 * IDLE_EXIT_MS.  SIGTERM (DROP DATABASE ... WITH (FORCE), pg_terminate_backend)
 * is core's die; the slot is unbound on any exit.
 *
 * Restart.  A worker that dies once connected (an ERROR, which is FATAL in
 * a worker, or pg_terminate_backend: exit code 1) is started again by the
 * postmaster after WORKER_RESTART_INTERVAL_S (event_queue.c) with the same
 * arguments; if it left
 * committed events, its slot waits for it (event_queue_detach), so they
 * are delivered without waiting for the next writer.  A clean exit (idle,
 * or replaced: exit code 0) unregisters it for good, as does a restarted
 * worker whose slot no longer waits for it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "event_queue.h"
#include "event_worker.h"
#include "wait_events.h"

/* How long a worker without events stays. */
#define IDLE_EXIT_MS		1000

/*
 * After sending, the worker waits this long before looking again, so that
 * under a steady stream of commits each NOTIFY transaction carries the
 * events of many: woken at every commit, it would send them almost one
 * transaction each, and those transactions (each assigns an XID and writes
 * a commit record) would cost about what the writers saved.
 */
#define BATCH_INTERVAL_MS	1

static int	my_slot = -1;
static uint32 my_generation = 0;
static bool connected = false;	/* to its database: a restart can work */

/*
 * on_shmem_exit: unbinds the slot, whatever ended the worker; after a
 * failure (code 1) the postmaster restarts it (see "Restart").
 */
static void
detach_at_exit(int code, Datum arg)
{
	if (my_slot >= 0)
		event_queue_detach(my_slot, my_generation, code != 0 && connected);
}

/*
 * Sends the next batch in one transaction and marks it consumed.  False if
 * there was nothing to consume.
 */
static bool
send_batch(void)
{
	EventBatch	batch;
	ListCell   *lc;

	if (!event_queue_next_batch(my_slot, &batch))
		return false;
	if (batch.events != NIL)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		pgstat_report_activity(STATE_RUNNING, "sending cache events");
		foreach(lc, batch.events)
		{
			QueuedEvent *event = lfirst(lc);

			Async_Notify(event->channel, event->payload);
		}
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	event_queue_consume(my_slot, &batch);
	return true;
}

/*
 * Sends batches until none is left, each allocated in context.  False if
 * there was nothing to consume.
 */
static bool
send_all(MemoryContext context)
{
	bool		any = false;

	for (;;)
	{
		bool		sent;

		MemoryContextReset(context);
		MemoryContextSwitchTo(context);
		sent = send_batch();
		MemoryContextSwitchTo(TopMemoryContext);
		if (!sent)
			return any;
		any = true;
	}
}

/* The worker's entry point; arg is its slot. */
void
cachext_event_worker_main(Datum arg)
{
	EventWorkerArgs args;
	MemoryContext batch_context;
	TimestampTz last_event;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (!event_queue_attach(DatumGetInt32(arg), args.dboid, args.generation))
		proc_exit(0);			/* replaced by another worker meanwhile */
	my_slot = DatumGetInt32(arg);
	my_generation = args.generation;
	on_shmem_exit(detach_at_exit, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);
	connected = true;
	batch_context = AllocSetContextCreate(TopMemoryContext,
										  "cachext events batch",
										  ALLOCSET_DEFAULT_SIZES);
	last_event = GetCurrentTimestamp();
	for (;;)
	{
		long		idle_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		ResetLatch(MyLatch);
		if (send_all(batch_context))
		{
			/* let the next events gather: see BATCH_INTERVAL_MS */
			last_event = GetCurrentTimestamp();
			(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 BATCH_INTERVAL_MS,
							 cachext_wait_event(CACHEXT_WAIT_EVENT_WORKER));
			continue;
		}
		idle_ms = (GetCurrentTimestamp() - last_event) / 1000;
		if (idle_ms >= IDLE_EXIT_MS)
		{
			if (event_queue_release_if_empty(my_slot))
			{
				my_slot = -1;
				proc_exit(0);
			}
			/* a record arrived, still pending: its commit sets the latch */
			last_event = GetCurrentTimestamp();
			idle_ms = 0;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 IDLE_EXIT_MS - idle_ms,
						 cachext_wait_event(CACHEXT_WAIT_EVENT_WORKER));
	}
}
