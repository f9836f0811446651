/*-------------------------------------------------------------------------
 * l2_journal.c
 *	  The keys, patterns and tags this instance wrote or invalidated in
 *	  Redis behind Sentinels lately, replayed as invalidations when the
 *	  master changes.
 *
 * Why.  Redis replicates asynchronously: an UNLINK (or a SET) the old
 * master acknowledged but had not yet sent to the replica Sentinel
 * promotes is lost, and the new master serves the older value to every
 * instance.  Writes also go on reaching the old master until the instance
 * hears of the new one.  So every change this instance made through a
 * redis-sentinel:// URL within the last L2_JOURNAL_WINDOW_MS is kept here,
 * and when the sync worker learns of a new master (l2_master.c) it moves
 * them into the invalidation queue (l2_queue.c), which replays them to the
 * new master: a key changed lately is removed there, the safe side (a
 * miss).  design.md weighs this against WAIT, with measurements.
 *
 * Contents.  Two buffers of L2_JOURNAL_HALF_BYTES; entries (a time, the
 * queue's kind, the namespace and the item, as in the queue) are appended
 * to the current one, and when it is full the other is emptied and
 * becomes current.  So the journal holds at least the last half's worth.
 * If entries dropped that way were younger than the window, the replay
 * cannot name them: it then invalidates every namespace it knows of (those
 * of the entries it holds, and this process' cachext.namespace), and says
 * so in a WARNING.
 *
 * Locking.  Every field is guarded by the single LWLock of the "cachext l2
 * journal" tranche, held to copy an entry in or the window out, never
 * while talking to Redis or holding another cachext lock.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/pg_list.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "l2_journal.h"

/* Bytes of each of the two buffers. */
#define L2_JOURNAL_HALF_BYTES	(128 * 1024)

/*
 * How far back a master change replays: at least Sentinel's
 * down-after-milliseconds (30 s by default) plus a failover's time, since
 * writes reach the old master until the instance hears of the new one.
 */
#define L2_JOURNAL_WINDOW_MS	60000

#define L2_JOURNAL_TRANCHE_NAME "cachext l2 journal"

typedef struct JournalEntry
{
	TimestampTz at;
	uint32		kind;			/* an L2QueueKind */
	uint32		namespace_len;
	uint32		item_len;
	/* namespace_len + item_len bytes follow, the entry is MAXALIGN'd */
} JournalEntry;

typedef struct L2Journal
{
	int			current;		/* the buffer appended to; lock */
	Size		used[2];		/* bytes in use in each; lock */
	TimestampTz newest[2];		/* the time of each one's last entry; lock */
	TimestampTz dropped_until;	/* the newest entry ever dropped, 0 if
								 * none; lock */
	char		data[2][L2_JOURNAL_HALF_BYTES];	/* lock */
} L2Journal;

static L2Journal *journal = NULL;
static LWLock *journal_lock = NULL;

Size
l2_journal_shmem_size(void)
{
	return MAXALIGN(sizeof(L2Journal));
}

void
l2_journal_shmem_request(void)
{
	RequestAddinShmemSpace(l2_journal_shmem_size());
	RequestNamedLWLockTranche(L2_JOURNAL_TRANCHE_NAME, 1);
}

/* Attaches to (and the first time, empties) the journal. */
void
l2_journal_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	journal = ShmemInitStruct("cachext l2 journal", l2_journal_shmem_size(),
							  &found);
	journal_lock = &GetNamedLWLockTranche(L2_JOURNAL_TRANCHE_NAME)[0].lock;
	if (!found)
	{
		journal->current = 0;
		journal->used[0] = journal->used[1] = 0;
		journal->newest[0] = journal->newest[1] = 0;
		journal->dropped_until = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

static Size
entry_size(Size namespace_len, Size item_len)
{
	return MAXALIGN(sizeof(JournalEntry) + namespace_len + item_len);
}

/* Records that namespace + item changed in Redis now. */
void
l2_journal_add(L2QueueKind kind, const char *namespace, int namespace_len,
			   const char *item, int item_len)
{
	Size		size = entry_size(namespace_len, item_len);
	TimestampTz now = GetCurrentTimestamp();
	JournalEntry *entry;
	int			current;

	LWLockAcquire(journal_lock, LW_EXCLUSIVE);
	if (size > L2_JOURNAL_HALF_BYTES)
	{
		journal->dropped_until = now;
		LWLockRelease(journal_lock);
		return;
	}
	current = journal->current;
	if (journal->used[current] + size > L2_JOURNAL_HALF_BYTES)
	{
		/* the other buffer, the older one, is dropped and reused */
		current = 1 - current;
		if (journal->used[current] > 0)
			journal->dropped_until = Max(journal->dropped_until,
										 journal->newest[current]);
		journal->used[current] = 0;
		journal->current = current;
	}
	entry = (JournalEntry *) (journal->data[current] + journal->used[current]);
	entry->at = now;
	entry->kind = kind;
	entry->namespace_len = namespace_len;
	entry->item_len = item_len;
	memcpy((char *) entry + sizeof(JournalEntry), namespace, namespace_len);
	memcpy((char *) entry + sizeof(JournalEntry) + namespace_len, item,
		   item_len);
	journal->used[current] += size;
	journal->newest[current] = now;
	LWLockRelease(journal_lock);
}

/* Queues a whole-namespace invalidation of namespace, once per namespace. */
static void
queue_namespace(List **queued, const char *namespace, int namespace_len,
				L2JournalRequeue requeue)
{
	ListCell   *lc;
	char	   *copy;

	foreach(lc, *queued)
		if (strlen(lfirst(lc)) == (size_t) namespace_len &&
			memcmp(lfirst(lc), namespace, namespace_len) == 0)
			return;
	copy = pnstrdup(namespace, namespace_len);
	*queued = lappend(*queued, copy);
	requeue(L2_QUEUE_NAMESPACE, copy, namespace_len, "", 0);
}

/*
 * The master changed: queues (requeue: l2_queue_add, which the caller
 * passes, so that the journal does not depend on the queue that replays
 * through l2.c) an invalidation of everything the journal holds from the
 * last L2_JOURNAL_WINDOW_MS (every namespace it knows of, if entries of
 * that window were dropped), for the new master.
 */
void
l2_journal_requeue(L2JournalRequeue requeue)
{
	TimestampTz since = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													-L2_JOURNAL_WINDOW_MS);
	char	   *copy = palloc(2 * L2_JOURNAL_HALF_BYTES);
	Size		copied = 0;
	bool		dropped;
	int64		nentries = 0;

	LWLockAcquire(journal_lock, LW_SHARED);
	for (int h = 0; h < 2; h++)
	{
		int			half = (journal->current + 1 + h) % 2;	/* older first */

		for (Size pos = 0; pos < journal->used[half];)
		{
			JournalEntry *entry = (JournalEntry *) (journal->data[half] + pos);
			Size		size = entry_size(entry->namespace_len,
										  entry->item_len);

			if (entry->at >= since)
			{
				memcpy(copy + copied, entry, size);
				copied += size;
			}
			pos += size;
		}
	}
	dropped = journal->dropped_until >= since;
	LWLockRelease(journal_lock);

	if (dropped)
	{
		List	   *queued = NIL;

		for (Size pos = 0; pos < copied;)
		{
			JournalEntry *entry = (JournalEntry *) (copy + pos);

			queue_namespace(&queued, (char *) entry + sizeof(JournalEntry),
							entry->namespace_len, requeue);
			pos += entry_size(entry->namespace_len, entry->item_len);
		}
		queue_namespace(&queued, cachext_namespace, strlen(cachext_namespace),
						requeue);
		ereport(WARNING,
				(errmsg("cachext invalidates whole namespaces in the new Redis master"),
				 errdetail("Redis' master changed, and this instance changed more keys in the last %d s than its journal holds; the old master may have lost some of those changes before the new one received them.",
						   L2_JOURNAL_WINDOW_MS / 1000)));
		return;
	}
	for (Size pos = 0; pos < copied;)
	{
		JournalEntry *entry = (JournalEntry *) (copy + pos);
		const char *namespace = (char *) entry + sizeof(JournalEntry);

		requeue(entry->kind, namespace, entry->namespace_len,
				namespace + entry->namespace_len, entry->item_len);
		nentries++;
		pos += entry_size(entry->namespace_len, entry->item_len);
	}
	if (nentries > 0)
		ereport(LOG,
				(errmsg("cachext replays %lld recent changes to the new Redis master as invalidations",
						(long long) nentries),
				 errdetail("The old master may have lost them before the new one received them.")));
}
