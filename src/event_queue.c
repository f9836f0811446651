/*-------------------------------------------------------------------------
 * event_queue.c
 *	  cachext.events = async: a transaction's events are handed over at
 *	  commit to a per-database background worker (event_worker.c), which
 *	  sends them with NOTIFY in batches, so writers never take NOTIFY's
 *	  database-wide commit lock.
 *
 * Writer side.  events.c passes each payload to event_queue_add(), which
 * keeps it in a transaction-local list, tagged with the subtransaction
 * level that sent it, and drops repeats of a (channel, payload) pair the
 * transaction already sent, as NOTIFY does.  xact.c calls the steps at
 * transaction end.  Aborting a subtransaction drops (and frees) what it
 * sent; committing one hands its events to its parent.  At pre-commit,
 * after triggers.c has queued its events, event_queue_pre_commit() copies
 * the events not yet copied into the ring of its database's slot as one
 * record marked pending; at commit, after the transaction's invalidations
 * are done, the records are marked committed and the worker's latch is
 * set; at abort (also on FATAL: abort callbacks run) they are marked
 * aborted.  Pre-commit copies only the events not copied yet, so running
 * it again would add a further record.
 *
 * Fallback.  When no slot is free, the ring has no room, or no worker can
 * be started (max_worker_processes), the transaction sends all its events
 * itself with Async_Notify at pre-commit, as cachext.events = on does
 * (marking any record it already wrote aborted): nothing is lost, nothing
 * waits.  Such events may reach listeners before events this backend
 * queued earlier and that the worker has not sent yet.
 *
 * Shared side.  EVENT_SLOTS slots, each owning a database while it has
 * events in flight or a worker: a ring of cachext.events_queue_size bytes
 * holding records.  A record is an EventRecord header followed by its
 * events, each "channel\0payload\0"; records are RECORD_ALIGN-aligned and
 * never wrap: when one does not fit before the end of the ring, a padding
 * record fills the rest.  head and tail are byte positions that only grow
 * (the offset is the position modulo the ring size); [head, tail) holds
 * records.  The worker consumes records from the head, only while they are
 * committed or aborted (padding too), so a pending record holds back those
 * behind it until its transaction ends.
 *
 * Locking.  The table lock serialises claiming and releasing slots: a
 * slot's dboid changes only under both the table lock and the slot's lock,
 * so either one makes it stable (an unlocked read is a hint, re-checked
 * under the slot's lock).  Every other field of a slot, and its ring, is
 * guarded by the slot's lock, with one exception: the worker reads the
 * bodies of committed records between head and the first pending record
 * without the lock, since nobody writes there until it advances head.  The
 * counters are atomics, without lock.  Lock order: table lock, slot lock,
 * then (inside RegisterDynamicBackgroundWorker) BackgroundWorkerLock.
 *
 * Memory.  The writer's list lives in TopTransactionContext; the pointer
 * to it is cleared at every transaction end.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "event_queue.h"
#include "guc.h"
#include "workers.h"

#define EVENT_TRANCHE_NAME	"cachext events"

/* A worker asked for that has not attached after this long never will. */
#define WORKER_START_TIMEOUT_MS 10000

/* How soon the postmaster starts again a worker that died. */
#define WORKER_RESTART_INTERVAL_S	1

/* A transaction with this many events finds repeats by hash, not by scan. */
#define MIN_HASHED_EVENTS	16

#define RECORD_ALIGN		16
#define RECORD_SIZE(len)	TYPEALIGN(RECORD_ALIGN, sizeof(EventRecord) + (len))

typedef enum RecordState
{
	RECORD_PENDING,				/* its transaction has not ended */
	RECORD_COMMITTED,			/* to be sent */
	RECORD_ABORTED,				/* to be skipped */
	RECORD_PADDING				/* fills the end of the ring; skipped */
} RecordState;

/* The header of a record in a ring, followed by its events. */
typedef struct EventRecord
{
	uint32		length;			/* bytes, header included, aligned */
	uint32		state;			/* a RecordState */
	uint32		nevents;
	uint32		body_length;	/* bytes of "channel\0payload\0" pairs */
} EventRecord;

typedef enum SlotWorker
{
	WORKER_NONE,
	WORKER_STARTING,			/* registered, not attached yet */
	WORKER_RUNNING
} SlotWorker;

/* One database's queue.  Locking: see the file header. */
typedef struct EventSlot
{
	Oid			dboid;			/* InvalidOid: free; table lock + slot lock */
	/* the rest: slot lock */
	SlotWorker	worker;
	uint32		generation;		/* bumped at each worker registration */
	TimestampTz registered_at;	/* when the current one was registered */
	Latch	   *latch;			/* the running worker's; else NULL */
	uint64		head;			/* first byte not consumed; only the worker
								 * advances it */
	uint64		tail;			/* first free byte */
} EventSlot;

typedef struct EventQueueShared
{
	pg_atomic_uint64 counters[EVENT_NUM_COUNTERS];	/* atomics, no lock */
	EventSlot	slots[EVENT_SLOTS];
	/* followed by EVENT_SLOTS rings of ring_size bytes each */
} EventQueueShared;

static EventQueueShared *shared = NULL;
static LWLockPadded *locks = NULL;	/* [0] the table, [1 + i] slot i */
static Size ring_size = 0;

/* The hash entry that finds a QueuedEvent by channel and payload. */
typedef struct SeenEntry
{
	QueuedEvent *event;			/* hash key: hashed and compared by content */
} SeenEntry;

/* The current transaction's events and the records holding them. */
typedef struct TransactionEvents
{
	List	   *events;			/* QueuedEvent, in the order sent */
	HTAB	   *seen;			/* SeenEntry for each of events, once there
								 * are MIN_HASHED_EVENTS; else NULL */
	int			copied;			/* events[0 .. copied) are in records or
								 * were sent by the fallback */
	bool		fell_back;		/* sending them itself from now on */
	int			slot;			/* slot of the records; -1 before the first */
	uint64	   *records;		/* positions of this transaction's records */
	int			nrecords;
	int			maxrecords;
} TransactionEvents;

static TransactionEvents *current = NULL;

static inline LWLock *
table_lock(void)
{
	return &locks[0].lock;
}

static inline LWLock *
slot_lock(int slot)
{
	return &locks[1 + slot].lock;
}

static inline char *
slot_ring(int slot)
{
	return (char *) shared + MAXALIGN(sizeof(EventQueueShared)) +
		(Size) slot * ring_size;
}

static inline EventRecord *
record_at(int slot, uint64 position)
{
	return (EventRecord *) (slot_ring(slot) + position % ring_size);
}

/* Bytes of shared memory the slots and their rings need. */
static Size
event_queue_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(EventQueueShared)),
					mul_size(EVENT_SLOTS,
							 (Size) cachext_events_queue_size_kb * 1024));
}

/* Asks for the slots, their rings and their locks. */
void
event_queue_shmem_request(void)
{
	RequestAddinShmemSpace(event_queue_shmem_size());
	RequestNamedLWLockTranche(EVENT_TRANCHE_NAME, 1 + EVENT_SLOTS);
}

/* Attaches to (and the first time, initialises) the slots. */
void
event_queue_shmem_startup(void)
{
	bool		found;

	ring_size = (Size) cachext_events_queue_size_kb * 1024;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("cachext events", event_queue_shmem_size(),
							 &found);
	locks = GetNamedLWLockTranche(EVENT_TRANCHE_NAME);
	if (!found)
	{
		for (int i = 0; i < EVENT_NUM_COUNTERS; i++)
			pg_atomic_init_u64(&shared->counters[i], 0);
		memset(shared->slots, 0, sizeof(shared->slots));
	}
	LWLockRelease(AddinShmemInitLock);
}

/* (channel, payload) hashing and comparison for the writer's and worker's sets. */
static uint32
event_hash(const void *key, Size keysize)
{
	const QueuedEvent *event = *(QueuedEvent *const *) key;

	return hash_combine(string_hash(event->channel, NAMEDATALEN),
						hash_bytes((const unsigned char *) event->payload,
								   strlen(event->payload)));
}

static int
event_match(const void *a, const void *b, Size keysize)
{
	const QueuedEvent *x = *(QueuedEvent *const *) a;
	const QueuedEvent *y = *(QueuedEvent *const *) b;

	return strcmp(x->channel, y->channel) != 0 ||
		strcmp(x->payload, y->payload) != 0;
}

/* A set of events by content, allocated in context. */
static HTAB *
create_event_set(const char *name, MemoryContext context)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(QueuedEvent *);
	ctl.entrysize = sizeof(SeenEntry);
	ctl.hash = event_hash;
	ctl.match = event_match;
	ctl.hcxt = context;
	return hash_create(name, 64, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * True if the transaction already holds this (channel, payload): looked up
 * in its set once it has one, else by a scan (cheaper for a few events).
 */
static bool
holds_event(QueuedEvent *event)
{
	ListCell   *lc;

	if (current->seen != NULL)
		return hash_search(current->seen, &event, HASH_FIND, NULL) != NULL;
	foreach(lc, current->events)
		if (event_match(&event, &lfirst(lc), 0) == 0)
			return true;
	return false;
}

/*
 * Queues one event of the current transaction for the worker; a repeat of
 * an event the transaction still holds is dropped, as NOTIFY drops it.
 */
void
event_queue_add(const char *channel, const char *payload)
{
	MemoryContext old;
	QueuedEvent *event;

	if (IsParallelWorker())
		elog(ERROR, "cannot send cache events from a parallel worker");
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (current == NULL)
	{
		current = palloc0(sizeof(TransactionEvents));
		current->slot = -1;
	}
	event = palloc(sizeof(QueuedEvent));
	event->level = GetCurrentTransactionNestLevel();
	event->channel = pstrdup(channel);
	event->payload = pstrdup(payload);
	if (holds_event(event))
	{
		pfree(event->channel);
		pfree(event->payload);
		pfree(event);
	}
	else
	{
		current->events = lappend(current->events, event);
		if (current->seen != NULL)
			hash_search(current->seen, &event, HASH_ENTER, NULL);
		else if (list_length(current->events) >= MIN_HASHED_EVENTS)
		{
			ListCell   *lc;

			current->seen = create_event_set("cachext transaction events",
											 TopTransactionContext);
			foreach(lc, current->events)
				hash_search(current->seen, &lfirst(lc), HASH_ENTER, NULL);
		}
	}
	MemoryContextSwitchTo(old);
}

/*
 * The slot of this database, claimed if it has none (a free slot, or one
 * without worker and without records), returned with its lock held.  -1
 * when every slot is taken.
 */
static int
find_slot(void)
{
	int			slot = -1;

	for (int i = 0; i < EVENT_SLOTS; i++)
	{
		if (shared->slots[i].dboid != MyDatabaseId)
			continue;
		LWLockAcquire(slot_lock(i), LW_EXCLUSIVE);
		if (shared->slots[i].dboid == MyDatabaseId)
			return i;
		LWLockRelease(slot_lock(i));
	}

	LWLockAcquire(table_lock(), LW_EXCLUSIVE);
	for (int i = 0; i < EVENT_SLOTS && slot < 0; i++)
		if (shared->slots[i].dboid == MyDatabaseId)
		{
			slot = i;
			LWLockAcquire(slot_lock(i), LW_EXCLUSIVE);
		}
	for (int i = 0; i < EVENT_SLOTS && slot < 0; i++)
	{
		EventSlot  *s = &shared->slots[i];

		LWLockAcquire(slot_lock(i), LW_EXCLUSIVE);
		if (s->dboid == InvalidOid ||
			(s->worker == WORKER_NONE && s->head == s->tail))
		{
			s->dboid = MyDatabaseId;
			s->worker = WORKER_NONE;
			s->latch = NULL;
			s->head = s->tail = 0;
			slot = i;
		}
		else
			LWLockRelease(slot_lock(i));
	}
	LWLockRelease(table_lock());
	return slot;
}

/*
 * Asks the postmaster for a worker (event_worker.c) serving slot of
 * database dboid.  False when no background worker slot is free.
 */
static bool
register_worker(int slot, Oid dboid, uint32 generation)
{
	BackgroundWorker worker;
	EventWorkerArgs args = {dboid, generation};

	workers_describe(&worker, "cachext_event_worker_main", "cachext events",
					 BgWorkerStart_RecoveryFinished, WORKER_RESTART_INTERVAL_S);
	snprintf(worker.bgw_name, BGW_MAXLEN, "cachext events for database %u",
			 dboid);
	worker.bgw_main_arg = Int32GetDatum(slot);
	memcpy(worker.bgw_extra, &args, sizeof(args));
	return RegisterDynamicBackgroundWorker(&worker, NULL);
}

/*
 * True if slot has a worker, or one could be registered now.  Caller holds
 * the slot's lock.  A registered worker that has not attached within
 * WORKER_START_TIMEOUT_MS (the postmaster could not fork it) is replaced.
 */
static bool
ensure_worker(int slot)
{
	EventSlot  *s = &shared->slots[slot];
	TimestampTz now;

	if (s->worker == WORKER_RUNNING)
		return true;
	now = GetCurrentTimestamp();
	if (s->worker == WORKER_STARTING &&
		!TimestampDifferenceExceeds(s->registered_at, now,
									WORKER_START_TIMEOUT_MS))
		return true;
	if (!register_worker(slot, MyDatabaseId, s->generation + 1))
	{
		s->worker = WORKER_NONE;
		return false;
	}
	s->generation++;
	s->worker = WORKER_STARTING;
	s->registered_at = now;
	pg_atomic_fetch_add_u64(&shared->counters[EVENT_WORKERS_STARTED], 1);
	return true;
}

/*
 * Writes events[from .. to) of the transaction as one pending record in
 * slot's ring.  False, writing nothing, if the ring has no room.  Caller
 * holds the slot's lock, and made room in current->records: nothing here
 * may fail, or the record would stay pending and hold back the ring.
 */
static bool
write_record(int slot, int from, int to)
{
	EventSlot  *s = &shared->slots[slot];
	Size		body_length = 0;
	Size		length;
	Size		room_to_end;
	Size		padding = 0;
	EventRecord *record;
	char	   *body;

	for (int i = from; i < to; i++)
	{
		QueuedEvent *event = list_nth(current->events, i);

		body_length += strlen(event->channel) + strlen(event->payload) + 2;
	}
	length = RECORD_SIZE(body_length);
	room_to_end = ring_size - s->tail % ring_size;
	if (length > room_to_end)
		padding = room_to_end;
	if (length > ring_size || s->tail - s->head + padding + length > ring_size)
		return false;
	if (padding > 0)
	{
		record = record_at(slot, s->tail);
		record->length = padding;
		record->state = RECORD_PADDING;
		s->tail += padding;
	}
	record = record_at(slot, s->tail);
	record->length = length;
	record->state = RECORD_PENDING;
	record->nevents = to - from;
	record->body_length = body_length;
	body = (char *) (record + 1);
	for (int i = from; i < to; i++)
	{
		QueuedEvent *event = list_nth(current->events, i);
		Size		n = strlen(event->channel) + 1;

		memcpy(body, event->channel, n);
		body += n;
		n = strlen(event->payload) + 1;
		memcpy(body, event->payload, n);
		body += n;
	}
	Assert(current->nrecords < current->maxrecords);
	current->records[current->nrecords++] = s->tail;
	s->tail += length;
	return true;
}

/*
 * Sets the state of the transaction's records and, committing, wakes the
 * worker.  A no-op without records.
 */
static void
end_records(RecordState state)
{
	EventSlot  *s;
	Latch	   *latch;

	if (current->nrecords == 0)
		return;
	s = &shared->slots[current->slot];
	LWLockAcquire(slot_lock(current->slot), LW_EXCLUSIVE);
	for (int i = 0; i < current->nrecords; i++)
		record_at(current->slot, current->records[i])->state = state;
	latch = s->latch;
	LWLockRelease(slot_lock(current->slot));
	current->nrecords = 0;
	if (state == RECORD_COMMITTED && latch != NULL)
		SetLatch(latch);
}

/*
 * Sends every event of the transaction with Async_Notify, in order, giving
 * up the records already written: the queue could not take the rest.
 */
static void
fall_back(void)
{
	ListCell   *lc;

	end_records(RECORD_ABORTED);
	foreach(lc, current->events)
	{
		QueuedEvent *event = lfirst(lc);

		Async_Notify(event->channel, event->payload);
	}
	pg_atomic_fetch_add_u64(&shared->counters[EVENT_FALLBACKS],
							list_length(current->events));
	current->copied = list_length(current->events);
	current->fell_back = true;
}

/*
 * Hands the transaction's new events to its database's worker as a
 * pending record, or sends them itself when it cannot (see the header).
 * Called at pre-commit, possibly more than once.
 */
void
event_queue_pre_commit(void)
{
	int			count;
	bool		written = false;

	if (current == NULL || current->copied == list_length(current->events))
		return;
	count = list_length(current->events);
	if (current->fell_back)
	{
		for (int i = current->copied; i < count; i++)
		{
			QueuedEvent *event = list_nth(current->events, i);

			Async_Notify(event->channel, event->payload);
		}
		pg_atomic_fetch_add_u64(&shared->counters[EVENT_FALLBACKS],
								count - current->copied);
		current->copied = count;
		return;
	}
	if (current->nrecords == current->maxrecords)
	{
		current->maxrecords = Max(4, current->maxrecords * 2);
		current->records = current->records == NULL ?
			MemoryContextAlloc(TopTransactionContext,
							   current->maxrecords * sizeof(uint64)) :
			repalloc(current->records, current->maxrecords * sizeof(uint64));
	}
	/* a slot holding this transaction's pending record stays its own */
	if (current->slot < 0)
		current->slot = find_slot();
	else
		LWLockAcquire(slot_lock(current->slot), LW_EXCLUSIVE);
	if (current->slot >= 0)
	{
		written = ensure_worker(current->slot) &&
			write_record(current->slot, current->copied, count);
		LWLockRelease(slot_lock(current->slot));
	}
	if (written)
		current->copied = count;
	else
		fall_back();
}

/* Commit: the records become committed, the worker is woken. */
void
event_queue_commit(void)
{
	if (current == NULL)
		return;
	end_records(RECORD_COMMITTED);
	current = NULL;
}

/* Abort: the records, if any, are skipped. */
void
event_queue_abort(void)
{
	if (current == NULL)
		return;
	end_records(RECORD_ABORTED);
	current = NULL;
}

/* Pre-prepare: refused with events queued. */
void
event_queue_check_prepare(void)
{
	if (current != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot prepare a transaction that has sent cache events"),
				 errdetail("cachext.events is async and this transaction sent cache events."),
				 errhint("Commit it directly instead of using two-phase commit.")));
}

/*
 * An aborted subtransaction's events are dropped and freed (they are the
 * last ones of the list).
 */
void
event_queue_subxact_abort(void)
{
	int			level = GetCurrentTransactionNestLevel();

	if (current == NULL)
		return;
	while (current->events != NIL &&
		   ((QueuedEvent *) llast(current->events))->level >= level)
	{
		QueuedEvent *last = llast(current->events);

		if (current->seen != NULL)
			hash_search(current->seen, &last, HASH_REMOVE, NULL);
		current->events = list_delete_last(current->events);
		pfree(last->channel);
		pfree(last->payload);
		pfree(last);
	}
}

/* A committed subtransaction's events become its parent's. */
void
event_queue_subxact_commit(void)
{
	int			level = GetCurrentTransactionNestLevel();

	if (current == NULL)
		return;
	for (int i = list_length(current->events) - 1; i >= 0; i--)
	{
		QueuedEvent *e = list_nth(current->events, i);

		if (e->level < level)
			break;
		e->level = level - 1;
	}
}

/*
 * The worker's side.  event_queue_attach binds the calling worker to its
 * slot; false if the slot has since been given to another worker or
 * database (the worker then exits).
 */
bool
event_queue_attach(int slot, Oid dboid, uint32 generation)
{
	EventSlot  *s = &shared->slots[slot];
	bool		attached;

	LWLockAcquire(slot_lock(slot), LW_EXCLUSIVE);
	attached = s->dboid == dboid && s->generation == generation &&
		s->worker == WORKER_STARTING;
	if (attached)
	{
		s->worker = WORKER_RUNNING;
		s->latch = MyLatch;
	}
	LWLockRelease(slot_lock(slot));
	return attached;
}

/*
 * Unbinds the worker from its slot (it is exiting), leaving any records
 * for the next worker.  A no-op if the slot is no longer its own.  When
 * the postmaster will start the same worker again (restarting) and records
 * are left, the slot waits for it as for a newly registered one, so no
 * committed event waits for the next writer; if it does not come within
 * WORKER_START_TIMEOUT_MS, the next writer replaces it.
 */
void
event_queue_detach(int slot, uint32 generation, bool restarting)
{
	EventSlot  *s = &shared->slots[slot];

	LWLockAcquire(slot_lock(slot), LW_EXCLUSIVE);
	if (s->generation == generation && s->worker == WORKER_RUNNING)
	{
		if (restarting && s->head != s->tail)
		{
			s->worker = WORKER_STARTING;
			s->registered_at = GetCurrentTimestamp();
		}
		else
			s->worker = WORKER_NONE;
		s->latch = NULL;
	}
	LWLockRelease(slot_lock(slot));
}

/*
 * Frees the slot if its ring is empty: the idle worker may exit.  False if
 * a record arrived meanwhile.
 */
bool
event_queue_release_if_empty(int slot)
{
	EventSlot  *s = &shared->slots[slot];
	bool		empty;

	LWLockAcquire(table_lock(), LW_EXCLUSIVE);
	LWLockAcquire(slot_lock(slot), LW_EXCLUSIVE);
	empty = s->head == s->tail;
	if (empty)
	{
		s->dboid = InvalidOid;
		s->worker = WORKER_NONE;
		s->latch = NULL;
	}
	LWLockRelease(slot_lock(slot));
	LWLockRelease(table_lock());
	return empty;
}

/*
 * Collects the next batch of committed events into batch: from the head up
 * to the first pending record, at most about EVENT_BATCH_MAX events, and
 * stopping before a record that repeats an event of the batch (one NOTIFY
 * transaction would merge the two).  The strings point into the ring; the
 * list is allocated in the current memory context.  False if there is
 * nothing to consume (not even aborted records or padding).
 */
bool
event_queue_next_batch(int slot, EventBatch *batch)
{
	EventSlot  *s = &shared->slots[slot];
	uint64		head;
	uint64		position;
	uint64		end;
	HTAB	   *seen;

	LWLockAcquire(slot_lock(slot), LW_EXCLUSIVE);
	head = s->head;
	for (end = head; end < s->tail; end += record_at(slot, end)->length)
		if (record_at(slot, end)->state == RECORD_PENDING)
			break;
	LWLockRelease(slot_lock(slot));

	batch->events = NIL;
	seen = create_event_set("cachext batch events", CurrentMemoryContext);
	for (position = head; position < end;
		 position += record_at(slot, position)->length)
	{
		EventRecord *record = record_at(slot, position);
		char	   *body = (char *) (record + 1);
		List	   *events = NIL;
		ListCell   *lc;
		bool		repeats = false;

		if (record->state != RECORD_COMMITTED)
			continue;
		if (list_length(batch->events) + record->nevents > EVENT_BATCH_MAX &&
			batch->events != NIL)
			break;
		for (uint32 i = 0; i < record->nevents; i++)
		{
			QueuedEvent *event = palloc(sizeof(QueuedEvent));

			event->level = 0;
			event->channel = body;
			body += strlen(body) + 1;
			event->payload = body;
			body += strlen(body) + 1;
			repeats |= hash_search(seen, &event, HASH_FIND, NULL) != NULL;
			events = lappend(events, event);
		}
		if (repeats && batch->events != NIL)
			break;
		foreach(lc, events)
			hash_search(seen, &lfirst(lc), HASH_ENTER, NULL);
		batch->events = list_concat(batch->events, events);
	}
	hash_destroy(seen);
	batch->end = position;
	return position > head;
}

/* Marks the batch consumed (sent, or only aborted records) and counts it. */
void
event_queue_consume(int slot, const EventBatch *batch)
{
	LWLockAcquire(slot_lock(slot), LW_EXCLUSIVE);
	shared->slots[slot].head = batch->end;
	LWLockRelease(slot_lock(slot));
	pg_atomic_fetch_add_u64(&shared->counters[EVENT_SENT],
							list_length(batch->events));
	if (batch->events != NIL)
		pg_atomic_fetch_add_u64(&shared->counters[EVENT_BATCHES], 1);
}

/* Copies the counters for cache_event_stats. */
void
event_queue_read_stats(int64 *counters)
{
	for (int i = 0; i < EVENT_NUM_COUNTERS; i++)
		counters[i] = (int64) pg_atomic_read_u64(&shared->counters[i]);
}

/* Zeroes the counters. */
void
event_queue_reset_stats(void)
{
	for (int i = 0; i < EVENT_NUM_COUNTERS; i++)
		pg_atomic_write_u64(&shared->counters[i], 0);
}
