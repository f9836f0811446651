/*-------------------------------------------------------------------------
 * l2_queue.c
 *	  The invalidation queue: invalidations that could not reach Redis,
 *	  kept in shared memory and replayed by the next backend that reaches
 *	  Redis (or by the sync worker, within a second), so that Redis never
 *	  keeps serving a value PostgreSQL dropped.  The caller of the replay
 *	  applies each replayed entry to L1 as well (layers.c).
 *
 * Entries carry no Redis server: after a change of cachext.redis_url they
 * are replayed into the new server, the safe side (a key the new server
 * holds may be the stale one).
 *
 * Contents.  A fixed buffer of L2_QUEUE_BYTES holds entries one after the
 * other: a header, the namespace (cachext.namespace of the backend that
 * queued it), then the key, pattern or tag.  When an entry does not fit, the
 * queue overflows: every entry is replaced by one "whole namespace" entry
 * per distinct namespace, the safe superset of what was queued (replayed
 * as SCAN <namespace>* + UNLINK), and later invalidations in a namespace
 * that has such an entry are already covered.  Only if even those cannot fit (more
 * than about 60 distinct long namespaces) is an invalidation lost, with a
 * WARNING.
 *
 * Locking.  The queue's fields are guarded by the single LWLock of the
 * "cachext l2" tranche (the fields say which).  Redis is never called with
 * the lock held: a replaying backend moves the whole queue to local memory
 * under the lock, marks the queue as replaying, and releases the lock; what
 * it could not replay (Redis failed again, or a cancel or a terminated
 * backend interrupted it) goes back into the queue.  While a replay runs, readers
 * skip L2 (l2_queue_replay returns false) so that they cannot read a value
 * whose invalidation is still on its way.  This lock is never held with
 * any other cachext lock.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "keys.h"
#include "l2.h"
#include "l2_queue.h"
#include "l2_stats.h"

/* Room for queued invalidations; a namespace is at most 1 kB, so it holds 60+. */
#define L2_QUEUE_BYTES	(64 * 1024)

#define L2_QUEUE_TRANCHE_NAME "cachext l2"

typedef struct L2QueueEntry
{
	uint32		kind;			/* an L2QueueKind */
	uint32		namespace_len;
	uint32		item_len;
	/* namespace_len + item_len bytes follow, the entry is MAXALIGN'd */
} L2QueueEntry;

typedef struct L2Queue
{
	Size		used;			/* bytes of data in use; lock */
	int32		nentries;		/* lock */
	int32		nnamespaces;	/* how many entries are whole namespaces; lock */
	bool		replaying;		/* a backend holds the entries; lock */
	pg_atomic_uint32 busy;		/* 1 while nentries > 0 or replaying: written
								 * with the lock held, read without it as a
								 * cheap "anything to do?" hint */
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* L2_QUEUE_BYTES; lock */
} L2Queue;

static L2Queue *queue = NULL;
static LWLock *queue_lock = NULL;

/* The header plus the fixed buffer. */
static Size
queue_shmem_size(void)
{
	return add_size(offsetof(L2Queue, data), L2_QUEUE_BYTES);
}

/* Asks the postmaster for the queue's memory and its lock. */
void
l2_queue_shmem_request(void)
{
	RequestAddinShmemSpace(queue_shmem_size());
	RequestNamedLWLockTranche(L2_QUEUE_TRANCHE_NAME, 1);
}

/* Attaches to (and the first time, empties) the queue. */
void
l2_queue_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	queue = ShmemInitStruct("cachext l2 queue", queue_shmem_size(), &found);
	queue_lock = &GetNamedLWLockTranche(L2_QUEUE_TRANCHE_NAME)[0].lock;
	if (!found)
	{
		queue->used = 0;
		queue->nentries = 0;
		queue->nnamespaces = 0;
		queue->replaying = false;
		pg_atomic_init_u32(&queue->busy, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Bytes one entry takes in the buffer, aligned so the next header is too. */
static Size
entry_size(Size namespace_len, Size item_len)
{
	return MAXALIGN(sizeof(L2QueueEntry) + namespace_len + item_len);
}

/* The entry's bytes: the namespace, immediately followed by the item. */
static char *
entry_namespace(L2QueueEntry *entry)
{
	return (char *) entry + sizeof(L2QueueEntry);
}

/* Appends one entry to data (which must have room). */
static void
append_entry(char *data, Size *used, L2QueueKind kind, const char *namespace,
			 int namespace_len, const char *item, int item_len)
{
	L2QueueEntry *entry = (L2QueueEntry *) (data + *used);

	entry->kind = kind;
	entry->namespace_len = namespace_len;
	entry->item_len = item_len;
	memcpy(entry_namespace(entry), namespace, namespace_len);
	memcpy(entry_namespace(entry) + namespace_len, item, item_len);
	*used += entry_size(namespace_len, item_len);
}

/* Is there a whole-namespace entry for this namespace in data[0..used)? */
static bool
has_namespace_entry(char *data, Size used, const char *namespace,
					int namespace_len)
{
	for (Size pos = 0; pos < used;)
	{
		L2QueueEntry *entry = (L2QueueEntry *) (data + pos);

		if (entry->kind == L2_QUEUE_NAMESPACE &&
			entry->namespace_len == (uint32) namespace_len &&
			memcmp(entry_namespace(entry), namespace, namespace_len) == 0)
			return true;
		pos += entry_size(entry->namespace_len, entry->item_len);
	}
	return false;
}

/*
 * The overflow: rewrites the queue in place as one whole-namespace entry
 * per distinct namespace (never longer than what it replaces, so writing
 * trails reading).  Caller holds the lock exclusively.
 */
static void
compact_to_namespaces(void)
{
	Size		read_pos = 0;
	Size		write_pos = 0;
	int32		n = 0;

	while (read_pos < queue->used)
	{
		L2QueueEntry *entry = (L2QueueEntry *) (queue->data + read_pos);
		uint32		namespace_len = entry->namespace_len;

		read_pos += entry_size(namespace_len, entry->item_len);
		if (has_namespace_entry(queue->data, write_pos,
								entry_namespace(entry), namespace_len))
			continue;
		/* memmove-safe: the target never passes the entry being read */
		memmove(queue->data + write_pos + sizeof(L2QueueEntry),
				entry_namespace(entry), namespace_len);
		entry = (L2QueueEntry *) (queue->data + write_pos);
		entry->kind = L2_QUEUE_NAMESPACE;
		entry->namespace_len = namespace_len;
		entry->item_len = 0;
		write_pos += entry_size(namespace_len, 0);
		n++;
	}
	queue->used = write_pos;
	queue->nentries = n;
	queue->nnamespaces = n;
}

/*
 * Adds an entry, overflowing to whole namespaces when it does not fit.
 * Returns false only if even the namespace entry does not fit.  Caller
 * holds the lock exclusively.
 */
static bool
add_locked(L2QueueKind kind, const char *namespace, int namespace_len,
		   const char *item, int item_len, bool *overflowed)
{
	*overflowed = false;
	/* after an overflow, a whole-namespace entry already covers the rest */
	if (queue->nnamespaces > 0 &&
		has_namespace_entry(queue->data, queue->used, namespace, namespace_len))
		return true;
	if (queue->used + entry_size(namespace_len, item_len) > L2_QUEUE_BYTES)
	{
		*overflowed = true;
		compact_to_namespaces();
		if (has_namespace_entry(queue->data, queue->used, namespace,
								namespace_len))
			return true;
		kind = L2_QUEUE_NAMESPACE;
		item_len = 0;
		if (queue->used + entry_size(namespace_len, 0) > L2_QUEUE_BYTES)
			return false;
	}
	append_entry(queue->data, &queue->used, kind, namespace, namespace_len,
				 item, item_len);
	queue->nentries++;
	if (kind == L2_QUEUE_NAMESPACE)
		queue->nnamespaces++;
	pg_atomic_write_u32(&queue->busy, 1);
	return true;
}

/* Puts entries back (after a failed replay) or in for the first time. */
static void
add_entries(char *data, Size used, bool requeue)
{
	int64		overflows = 0;
	int64		lost = 0;
	int64		added = 0;

	LWLockAcquire(queue_lock, LW_EXCLUSIVE);
	for (Size pos = 0; pos < used;)
	{
		L2QueueEntry *entry = (L2QueueEntry *) (data + pos);
		bool		overflowed;

		if (!add_locked(entry->kind, entry_namespace(entry),
						entry->namespace_len,
						entry_namespace(entry) + entry->namespace_len,
						entry->item_len, &overflowed))
			lost++;
		else
			added++;
		overflows += overflowed;
		pos += entry_size(entry->namespace_len, entry->item_len);
	}
	if (requeue)
		queue->replaying = false;
	pg_atomic_write_u32(&queue->busy,
						queue->nentries > 0 || queue->replaying ? 1 : 0);
	LWLockRelease(queue_lock);

	if (!requeue)
		l2_stats_count(L2_QUEUED, added);
	l2_stats_count(L2_OVERFLOWS, overflows);
	if (lost > 0)
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cachext's queue of invalidations for Redis is full"),
				 errdetail("An invalidation of a whole namespace could not be kept; Redis may serve stale values in it."),
				 errhint("Run cache_clear() in each database once Redis is back.")));
}

/* Queues one invalidation that could not reach Redis. */
void
l2_queue_add(L2QueueKind kind, const char *namespace, int namespace_len,
			 const char *item, int item_len)
{
	Size		used = 0;
	char	   *data = palloc(entry_size(namespace_len, item_len));

	append_entry(data, &used, kind, namespace, namespace_len, item, item_len);
	add_entries(data, used, false);
	pfree(data);
}

/* Sends one queued invalidation to Redis; false if Redis failed. */
static bool
replay_entry(L2QueueEntry *entry)
{
	const char *namespace = entry_namespace(entry);
	const char *item = namespace + entry->namespace_len;
	char	   *match;
	Size		match_len;
	int64		removed;
	bool		existed;
	char	  **members;
	int		   *member_lens;
	int			nmembers;

	if (entry->kind == L2_QUEUE_KEY)
		return l2_unlink(namespace, entry->namespace_len + entry->item_len,
						 &existed);
	if (entry->kind == L2_QUEUE_TAG)
		return l2_invalidate_tag(namespace,
								 entry->namespace_len + entry->item_len,
								 &removed, &members, &member_lens, &nmembers);
	match = palloc(2 * entry->namespace_len + Max(entry->item_len, 1));
	match_len = keys_glob_escape(namespace, entry->namespace_len, match);
	if (entry->kind == L2_QUEUE_NAMESPACE)
		match[match_len++] = '*';
	else
	{
		memcpy(match + match_len, item, entry->item_len);
		match_len += entry->item_len;
	}
	return l2_unlink_matching(match, match_len, &removed);
}

/* What a replay holds outside the queue, for putting back what is left. */
typedef struct Replay
{
	char	   *data;
	Size		used;
	Size		pos;			/* entries before pos reached Redis */
} Replay;

/*
 * Puts back the entries a replay did not finish; runs on ERROR and on
 * FATAL (PG_ENSURE_ERROR_CLEANUP), so a cancel or a terminated backend
 * never loses them nor leaves the queue marked as replaying.
 */
static void
requeue_unreplayed(int code, Datum arg)
{
	Replay	   *replay = (Replay *) DatumGetPointer(arg);

	add_entries(replay->data + replay->pos, replay->used - replay->pos, true);
}

/*
 * Replays the queue if it has entries, calling replayed for each entry
 * Redis took.  True when nothing is left to replay; false when Redis
 * failed again (the rest is queued again) or another backend is replaying
 * right now (readers then skip L2).
 */
bool
l2_queue_replay(L2QueueReplayed replayed)
{
	Replay		replay;
	volatile int64 nreplayed = 0;

	if (queue == NULL || pg_atomic_read_u32(&queue->busy) == 0)
		return true;

	replay.data = palloc(L2_QUEUE_BYTES);
	replay.pos = 0;
	LWLockAcquire(queue_lock, LW_EXCLUSIVE);
	if (queue->replaying)
	{
		LWLockRelease(queue_lock);
		pfree(replay.data);
		return false;
	}
	replay.used = queue->used;
	memcpy(replay.data, queue->data, replay.used);
	queue->used = 0;
	queue->nentries = 0;
	queue->nnamespaces = 0;
	queue->replaying = true;
	LWLockRelease(queue_lock);

	PG_ENSURE_ERROR_CLEANUP(requeue_unreplayed, PointerGetDatum(&replay));
	{
		while (replay.pos < replay.used)
		{
			L2QueueEntry *entry = (L2QueueEntry *) (replay.data + replay.pos);

			if (!replay_entry(entry))
				break;
			replayed(entry->kind, entry_namespace(entry),
					 entry->namespace_len,
					 entry_namespace(entry) + entry->namespace_len,
					 entry->item_len);
			nreplayed++;
			replay.pos += entry_size(entry->namespace_len, entry->item_len);
		}
	}
	PG_END_ENSURE_ERROR_CLEANUP(requeue_unreplayed, PointerGetDatum(&replay));

	requeue_unreplayed(0, PointerGetDatum(&replay));
	l2_stats_count(L2_REPLAYED, nreplayed);
	pfree(replay.data);
	return replay.pos == replay.used;
}

/*
 * Whether anything waits for Redis or is being replayed: false means that
 * every invalidation queued so far has reached Redis.  A hint read without
 * the lock.
 */
bool
l2_queue_busy(void)
{
	return queue != NULL && pg_atomic_read_u32(&queue->busy) != 0;
}

/* Entries waiting for Redis now. */
int64
l2_queue_length(void)
{
	int64		n;

	LWLockAcquire(queue_lock, LW_SHARED);
	n = queue->nentries;
	LWLockRelease(queue_lock);
	return n;
}
