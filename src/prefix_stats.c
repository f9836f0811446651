/*-------------------------------------------------------------------------
 * prefix_stats.c
 *	  The key prefixes L1 and L2 count separately, behind
 *	  cache_prefix_stats: a key's prefix, and a fixed table in shared
 *	  memory that gives each prefix met a slot, claimed once.
 *
 * A key's prefix is its user key (the part after the namespace) up to and
 * including its cachext.prefix_stats_segments-th ':', or up to its last ':'
 * when it has fewer ("user:42" -> "user:"); a key without ':' has the empty
 * prefix.  A slot is named by the namespace and the prefix together.  The
 * first cachext.prefix_stats_max distinct names each claim a slot for the
 * life of the instance (L1 entries refer to their slot: see l1.c's
 * "Counters"); every later name, and a name longer than PREFIX_NAME_BYTES,
 * counts in the "other" bucket, slot PREFIX_STATS_OTHER.  So the number of
 * prefixes shown, and the cardinality of the metrics built on them, stays
 * bounded whatever keys are used.  The counters themselves live in l1.c,
 * under the partition locks it holds anyway, and in l2_stats.c (atomics);
 * this file only names slots, the same for both layers.
 *
 * Locking.  Claiming a slot takes the table's spinlock (mutex): it guards
 * nclaimed and the writing of names[] and index[].  Finding a slot takes
 * no lock: index[] entries go from empty to a slot number once, written
 * with a write barrier after the slot's name, and a reader that sees a
 * slot number reads its name after a read barrier; names never change once
 * published.  Under the spinlock only the probe and a copy of at most
 * PREFIX_NAME_BYTES are done, nothing that can fail.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "guc.h"
#include "prefix_stats.h"

/* Longest namespace + prefix a slot holds; longer ones count as other. */
#define PREFIX_NAME_BYTES	128

/* The separator of a key's segments. */
#define PREFIX_SEPARATOR	':'

/* One claimed name: written once under the mutex, then read-only. */
typedef struct PrefixSlot
{
	uint32		hash;
	uint16		namespace_len;
	uint16		len;			/* namespace + prefix */
	char		bytes[PREFIX_NAME_BYTES];
} PrefixSlot;

typedef struct PrefixTable
{
	slock_t		mutex;			/* guards claims: nclaimed, names, index */
	int32		nclaimed;		/* slots 1 .. nclaimed are named; mutex */
	uint32		index_mask;		/* index[] has index_mask + 1 entries */

	/*
	 * Open addressing on the name's hash: 0 for empty, else a slot number;
	 * each entry is written once, under mutex, and read without it.
	 */
	pg_atomic_uint32 index[FLEXIBLE_ARRAY_MEMBER];

	/*
	 * Then the names, names[s - 1] being slot s's: written under mutex
	 * before index[] publishes them, read-only afterwards.
	 */
} PrefixTable;

static PrefixTable *table = NULL;
static PrefixSlot *names = NULL;	/* where this process sees the names */

/* index[]'s size: a power of two at least twice the slots, so probes stay short. */
static uint32
index_size(void)
{
	return pg_nextpower2_32((uint32) Max(2 * cachext_prefix_stats_max, 2));
}

Size
prefix_stats_shmem_size(void)
{
	Size		size = offsetof(PrefixTable, index);

	size = add_size(size, mul_size(index_size(), sizeof(pg_atomic_uint32)));
	size = MAXALIGN(size);
	return add_size(size, mul_size(Max(cachext_prefix_stats_max, 1),
								   sizeof(PrefixSlot)));
}

/* Attaches to (and the first time, empties) the table; l1.c calls it. */
void
prefix_stats_shmem_startup(void)
{
	bool		found;
	uint32		n = index_size();

	table = ShmemInitStruct("cachext prefix stats", prefix_stats_shmem_size(),
							&found);
	if (!found)
	{
		SpinLockInit(&table->mutex);
		table->nclaimed = 0;
		table->index_mask = n - 1;
		for (uint32 i = 0; i < n; i++)
			pg_atomic_init_u32(&table->index[i], 0);
	}
	names = (PrefixSlot *) ((char *) table +
							MAXALIGN(offsetof(PrefixTable, index) +
									 n * sizeof(pg_atomic_uint32)));
}

/* Counter slots per partition: the other bucket and every prefix's. */
int
prefix_stats_slots(void)
{
	return cachext_prefix_stats_max + 1;
}

/* Bytes of the user key that form its prefix (see the file header). */
static int
prefix_length(const char *user_key, int len)
{
	int			end = 0;
	int			segments = 0;

	for (int i = 0; i < len && segments < cachext_prefix_stats_segments; i++)
	{
		if (user_key[i] == PREFIX_SEPARATOR)
		{
			end = i + 1;
			segments++;
		}
	}
	return end;
}

static bool
slot_is(const PrefixSlot *slot, uint32 hash, const char *name, int len,
		int namespace_len)
{
	return slot->hash == hash && slot->len == len &&
		slot->namespace_len == namespace_len &&
		memcmp(slot->bytes, name, len) == 0;
}

/*
 * Looks name up from index position *pos on; returns its slot, or 0 with
 * *pos at the empty entry where it would go.
 */
static int
probe(uint32 hash, const char *name, int len, int namespace_len, uint32 *pos)
{
	for (*pos = hash & table->index_mask;; *pos = (*pos + 1) & table->index_mask)
	{
		uint32		slot = pg_atomic_read_u32(&table->index[*pos]);

		if (slot == 0)
			return 0;
		pg_read_barrier();
		if (slot_is(&names[slot - 1], hash, name, len, namespace_len))
			return (int) slot;
	}
}

/*
 * The counter slot of a full key (namespace_len bytes of namespace, then
 * the user key): its name's, claimed if new and the table has room, else
 * PREFIX_STATS_OTHER.  Never fails.
 */
int
prefix_stats_slot(const char *key, int key_len, int namespace_len)
{
	int			len = namespace_len +
		prefix_length(key + namespace_len, key_len - namespace_len);
	uint32		hash;
	uint32		pos;
	int			slot;
	PrefixSlot *claimed;

	if (cachext_prefix_stats_max == 0 || len > PREFIX_NAME_BYTES)
		return PREFIX_STATS_OTHER;
	hash = hash_bytes((const unsigned char *) key, len);
	slot = probe(hash, key, len, namespace_len, &pos);
	if (slot != 0)
		return slot;

	SpinLockAcquire(&table->mutex);
	/* another process may have claimed it meanwhile: look again */
	slot = probe(hash, key, len, namespace_len, &pos);
	if (slot == 0 && table->nclaimed < cachext_prefix_stats_max)
	{
		slot = ++table->nclaimed;
		claimed = &names[slot - 1];
		claimed->hash = hash;
		claimed->len = (uint16) len;
		claimed->namespace_len = (uint16) namespace_len;
		memcpy(claimed->bytes, key, len);
		pg_write_barrier();
		pg_atomic_write_u32(&table->index[pos], (uint32) slot);
	}
	SpinLockRelease(&table->mutex);
	return slot != 0 ? slot : PREFIX_STATS_OTHER;
}

/*
 * Copies slot's namespace and prefix (palloc'd) into name; false for the
 * other bucket and for slots not claimed yet.
 */
bool
prefix_stats_name(int slot, PrefixName *name)
{
	const PrefixSlot *named;
	int32		nclaimed;

	SpinLockAcquire(&table->mutex);
	nclaimed = table->nclaimed;
	SpinLockRelease(&table->mutex);
	if (slot == PREFIX_STATS_OTHER || slot > nclaimed)
		return false;
	named = &names[slot - 1];
	name->namespace = pnstrdup(named->bytes, named->namespace_len);
	name->prefix = pnstrdup(named->bytes + named->namespace_len,
							named->len - named->namespace_len);
	return true;
}
