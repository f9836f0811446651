/*-------------------------------------------------------------------------
 * table_stats.c
 *	  Figures per watched table, behind cache_table_stats: the rows the
 *	  invalidation trigger saw, the keys they named, the commits that
 *	  fenced them, and the time those commits spent in Redis.
 *
 * What counts.  Everything is counted when a transaction commits: the
 * trigger (triggers.c) adds each row's figures to this backend's tally of
 * the transaction, fence.c adds the time its Redis steps took, and at the
 * commit (triggers_commit) each table the transaction touched gets its
 * rows and, if they named any key, its keys, one commit and the
 * transaction's whole time in Redis (a commit of two tables counts its
 * time for each).  An abort forgets the tally.  Keys are the distinct
 * keys, patterns and tags a row added to its (sub)transaction's pending
 * set: an UPDATE naming the same key twice, or two rows naming one key,
 * count once.  Rows of a subtransaction that rolled back are still counted
 * once the transaction commits.
 *
 * Slots.  A table (database and OID) claims a slot of a fixed array in
 * shared memory the first time its trigger fires, for the life of the
 * instance, keeping the table's name as it was then; once the
 * cachext.table_stats_max slots are claimed, further tables count in the
 * "other" bucket, slot TABLE_STATS_OTHER.  So the view's rows, and the
 * metrics' cardinality, stay bounded.
 *
 * Locking.  Claiming takes the spinlock (mutex), which guards writing a
 * slot's identity and nclaimed; a slot's identity is written before
 * nclaimed is raised past it, with a write barrier, so a reader that reads
 * nclaimed (atomically, with a read barrier after) may read slots below it
 * without the lock.  The counters are atomics, each updated on its own.
 * This backend's tally is local memory (TopMemoryContext).  Nothing here
 * raises an ERROR after the commit record: table_stats_commit only adds
 * atomics and clears the tally.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "cachext.h"
#include "l2.h"
#include "table_stats.h"

/* Longest "schema.table" kept: two names and the dot. */
#define TABLE_NAME_BYTES	(2 * NAMEDATALEN)

typedef struct TableSlot
{
	/* identity: written once under mutex, before nclaimed covers it */
	Oid			database;
	Oid			relid;
	char		table[TABLE_NAME_BYTES];

	/* counters: atomics, no lock */
	pg_atomic_uint64 rows;
	pg_atomic_uint64 keys;
	pg_atomic_uint64 commits;
	pg_atomic_uint64 redis_us;
} TableSlot;

typedef struct TableStatsShared
{
	slock_t		mutex;			/* guards claiming a slot */
	pg_atomic_uint32 nclaimed;	/* slots 1 .. nclaimed are named */
	TableSlot	slots[FLEXIBLE_ARRAY_MEMBER];	/* [0] is other */
} TableStatsShared;

static TableStatsShared *shared = NULL;

/* This backend's tally of the transaction (see "What counts"). */
typedef struct TableTally
{
	int64		rows;
	int64		keys;
	bool		touched;
} TableTally;

static TableTally *tally = NULL;	/* cachext.table_stats_max + 1 */
static int *touched = NULL;		/* the slots touched, ntouched of them */
static int	ntouched = 0;
static int64 transaction_redis_us = 0;

static Size
shared_size(void)
{
	return add_size(offsetof(TableStatsShared, slots),
					mul_size(cachext_table_stats_max + 1, sizeof(TableSlot)));
}

void
table_stats_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(shared_size()));
}

static void
zero_slot(TableSlot *slot)
{
	pg_atomic_write_u64(&slot->rows, 0);
	pg_atomic_write_u64(&slot->keys, 0);
	pg_atomic_write_u64(&slot->commits, 0);
	pg_atomic_write_u64(&slot->redis_us, 0);
}

/* Attaches to (and the first time, empties) the slots. */
void
table_stats_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("cachext table stats", shared_size(), &found);
	if (!found)
	{
		SpinLockInit(&shared->mutex);
		pg_atomic_init_u32(&shared->nclaimed, 0);
		for (int i = 0; i <= cachext_table_stats_max; i++)
		{
			TableSlot  *slot = &shared->slots[i];

			slot->database = InvalidOid;
			slot->relid = InvalidOid;
			slot->table[0] = '\0';
			pg_atomic_init_u64(&slot->rows, 0);
			pg_atomic_init_u64(&slot->keys, 0);
			pg_atomic_init_u64(&slot->commits, 0);
			pg_atomic_init_u64(&slot->redis_us, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* The claimed slots' count, their identities readable after it. */
static int
claimed(void)
{
	int			n = (int) pg_atomic_read_u32(&shared->nclaimed);

	pg_read_barrier();
	return n;
}

static int
find_slot(Oid relid, int n)
{
	for (int i = 1; i <= n; i++)
		if (shared->slots[i].relid == relid &&
			shared->slots[i].database == MyDatabaseId)
			return i;
	return TABLE_STATS_OTHER;
}

/*
 * The slot of this database's table relid, named table (schema.table),
 * claimed if new and one is free, else TABLE_STATS_OTHER.  Called once per
 * statement by the trigger; never fails.
 */
int
table_stats_slot(Oid relid, const char *table)
{
	int			slot = find_slot(relid, claimed());
	int			n;

	if (slot != TABLE_STATS_OTHER || cachext_table_stats_max == 0)
		return slot;
	SpinLockAcquire(&shared->mutex);
	n = (int) pg_atomic_read_u32(&shared->nclaimed);
	slot = find_slot(relid, n);
	if (slot == TABLE_STATS_OTHER && n < cachext_table_stats_max)
	{
		TableSlot  *named = &shared->slots[++n];

		named->database = MyDatabaseId;
		named->relid = relid;
		strlcpy(named->table, table, TABLE_NAME_BYTES);
		pg_write_barrier();
		pg_atomic_write_u32(&shared->nclaimed, (uint32) n);
		slot = n;
	}
	SpinLockRelease(&shared->mutex);
	return slot;
}

/* Adds rows and keys to slot's tally in this transaction. */
void
table_stats_count(int slot, int64 rows, int64 keys)
{
	if (tally == NULL)
	{
		tally = MemoryContextAllocZero(TopMemoryContext,
									   (cachext_table_stats_max + 1) *
									   sizeof(TableTally));
		touched = MemoryContextAlloc(TopMemoryContext,
									 (cachext_table_stats_max + 1) *
									 sizeof(int));
	}
	if (!tally[slot].touched)
	{
		tally[slot].touched = true;
		touched[ntouched++] = slot;
	}
	tally[slot].rows += rows;
	tally[slot].keys += keys;
}

/*
 * Adds the time since start to this transaction's time in Redis; nothing
 * without Redis configured, where no time is spent there.
 */
void
table_stats_add_redis_time(instr_time start)
{
	instr_time	now;

	if (!l2_is_configured())
		return;
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	transaction_redis_us += INSTR_TIME_GET_MICROSEC(now);
}

/* Forgets this transaction's tally. */
void
table_stats_abort(void)
{
	for (int i = 0; i < ntouched; i++)
		memset(&tally[touched[i]], 0, sizeof(TableTally));
	ntouched = 0;
	transaction_redis_us = 0;
}

/* The transaction committed: its tally goes to the tables it touched. */
void
table_stats_commit(void)
{
	for (int i = 0; i < ntouched; i++)
	{
		TableSlot  *slot = &shared->slots[touched[i]];
		TableTally *t = &tally[touched[i]];

		pg_atomic_fetch_add_u64(&slot->rows, (uint64) t->rows);
		if (t->keys == 0)
			continue;			/* its rows named no key: nothing fenced */
		pg_atomic_fetch_add_u64(&slot->keys, (uint64) t->keys);
		pg_atomic_fetch_add_u64(&slot->commits, 1);
		pg_atomic_fetch_add_u64(&slot->redis_us,
								(uint64) transaction_redis_us);
	}
	table_stats_abort();
}

/*
 * Every claimed slot's figures, then the other bucket's, as palloc'd
 * TableStats.
 */
List *
table_stats_read(void)
{
	List	   *result = NIL;
	int			n = claimed();

	for (int i = 1; i <= n + 1; i++)
	{
		int			s = i <= n ? i : TABLE_STATS_OTHER;
		TableSlot  *slot = &shared->slots[s];
		TableStats *stats = palloc(sizeof(TableStats));

		stats->database = slot->database;
		stats->table = s == TABLE_STATS_OTHER ? NULL : pstrdup(slot->table);
		stats->rows = (int64) pg_atomic_read_u64(&slot->rows);
		stats->keys = (int64) pg_atomic_read_u64(&slot->keys);
		stats->commits = (int64) pg_atomic_read_u64(&slot->commits);
		stats->redis_us = (int64) pg_atomic_read_u64(&slot->redis_us);
		result = lappend(result, stats);
	}
	return result;
}

/* Zeroes every slot's counters; the slots stay claimed. */
void
table_stats_reset(void)
{
	for (int i = 0; i <= cachext_table_stats_max; i++)
		zero_slot(&shared->slots[i]);
}
