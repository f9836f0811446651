/*-------------------------------------------------------------------------
 * l1.c
 *	  The shared-memory store (L1): partitions, hash index, the eviction
 *	  policy (LRU or SIEVE), expiry heaps, the chunk allocator and the
 *	  counters.
 *
 * Layout.  The store is cachext.l1_partitions independent partitions.  A key
 * hashes to exactly one; each partition owns a share of the entry slots
 * (cachext.l1_max_entries) and of the memory (cachext.l1_memory), a hash
 * index, an LRU list, a min-heap of entries by expiry time, and its
 * counters.  With one partition the LRU order is exact and global; with more
 * it is exact within each partition.
 *
 * Memory.  Keys and values live in fixed-size chunks of L1_CHUNK_SIZE bytes
 * chained through a per-partition "next" array.  An entry of n bytes takes
 * ceil(n / L1_CHUNK_SIZE) chunks wherever they are free, so any mix of value
 * sizes can never fragment the store: a partition always accepts a new entry
 * once enough chunks (counted, not searched for) have been freed.  "bytes"
 * in the statistics counts chunks in use times L1_CHUNK_SIZE, which is what
 * cachext.l1_memory bounds.
 *
 * Making room.  When an insert needs an entry slot or chunks, expired entries
 * go first (earliest expiry first, off the heap), then the victim the
 * eviction policy chooses; the former count as expirations, the latter as
 * evictions.
 *
 * Eviction policy (cachext.l1_eviction, fixed at start-up).  Both keep the
 * entries on one doubly linked list per partition, newest at the head.
 * lru: a hit moves the entry to the head; the victim is the tail, the
 * least recently used entry.  sieve (Zhang et al., NSDI'24): the list is in
 * insertion order and never reordered; a hit only sets the entry's visited
 * bit.  The victim is found by a hand that walks from the tail towards the
 * head (wrapping to the tail), clearing visited bits, and stops at the
 * first entry whose bit is clear; the hand stays where the victim was.
 * The policy lives in the policy_* functions below and nowhere else.
 *
 * Stale copies.  An entry has a logical expiry (expires_at) and a time it
 * is kept until (keep_until: expires_at plus the storing session's
 * cachext.stale_ttl).  Between the two it is expired for everyone, except
 * that l1_lookup_entry() returns it, marked stale, to cache_get_or_set;
 * it is the first to go when room is made, and is counted as an
 * expiration when it is removed.  Removing a key (invalidation) removes
 * its stale copy too.
 *
 * Tags.  An entry may carry tags (cache_set(..., tags => ...)): their bytes
 * follow the value in the entry's chunks, each tag NUL-terminated, and
 * count towards its footprint.  l1_remove_tagged() finds a tag's entries
 * by scanning every partition, as pattern invalidation does; that is L1's
 * tag index, which works without Redis.
 *
 * Leases.  A load (cache_get_or_set) that began before an invalidation of
 * its key must not store what it read.  Each partition keeps a write
 * sequence per lease slot (a key's slot is its hash modulo L1_LEASE_SLOTS)
 * and a partition epoch; storing or removing a key bumps its slot, pattern
 * invalidation and clearing bump the epoch.  l1_take_lease() reads both;
 * l1_store() with that lease stores only if neither moved.  Keys sharing a
 * slot can only cause a needless refusal, never a stale store.
 *
 * Own writes.  An entry stored by this instance's own write (layers_set
 * with Redis configured) remembers a hash of the exact text it wrote to
 * Redis; an entry copied from Redis (a promotion) does not.  When Redis
 * announces that such a key changed, the sync worker leaves the entry in
 * place (l1_remove_changed without a hash), reads the key from Redis, and
 * keeps the entry only if Redis' text still hashes the same
 * (l1_remove_changed with that hash): L1 then equals what Redis held after
 * the announced change, and any later change is announced again.  Anything
 * else removes the entry, as for any other announced key.
 *
 * Generations.  The store has a generation, a word in shared memory that
 * only its owner, the sync worker, moves on (l1_begin_generation) when
 * what L1 holds may stop matching Redis without L1 hearing of it (the
 * invalidation stream is lost, or the worker stops) and when it hears
 * again (the stream is followed).  The word is a counter and, in its low
 * bit, whether the generation is open: entries of it may be served.  Each
 * entry records the generation in which its value was known to match: a
 * store under a lease records the lease's, read when the lease was taken
 * (before the value was read), any other store the generation at the
 * store.  A lookup names the generation it serves (L1_ANY_GENERATION:
 * all); an entry of another is a miss, counted as one, and is returned
 * only to a caller that asked for meta, marked other_generation, for it
 * to decide (layers.c serves it when Redis cannot answer).  Entries are
 * not removed when the generation moves: they are the copies L1 serves
 * while Redis is down.
 *
 * Fences.  A committing transaction fences the keys it invalidates before
 * its commit becomes visible and lifts the fence after invalidating them
 * (fence.c): while a key is fenced, lookups of it miss and stores under a
 * lease are refused, so nothing read before the commit is served or stored.
 * Fences are counters per lease slot (fences[]), and per partition
 * (partition_fences) for pattern invalidations and large transactions:
 * keys sharing a fenced slot or partition only miss meanwhile.
 *
 * Counters.  Each partition counts per key prefix (prefix_stats.c names
 * the prefixes): counters[s] holds the hits, misses, sets, evictions,
 * expirations, invalidations, entries and bytes of the keys whose prefix
 * has slot s, and an entry remembers its slot (prefix_slot), so a hit or a
 * removal counts without looking at its key again.  cache_stats' totals
 * are the sums over every slot and partition, so cache_prefix_stats adds
 * up to them exactly.  A miss looks its key's slot up after releasing the
 * lock (no entry names it).
 *
 * Locking.  Each partition is guarded by its own LWLock from the "cachext"
 * named tranche; everything in an L1Partition and in its arrays, counters
 * included, is read and written only with that lock held (exclusively for
 * any change, shared for reading statistics and listing entries), with
 * these exceptions, which are atomics: the counters' hits and misses, and
 * an entry's hits, last_access and visited bit.  The store's generation is
 * an atomic outside every partition, written by the sync worker alone.
 * Under lru a lookup takes the lock exclusively because a hit moves the
 * entry in the list.  Under
 * sieve it takes it shared: a hit writes nothing but those atomics (a
 * lookup that finds an entry past keep_until retries exclusively to remove
 * it).  Eviction clears visited bits under the exclusive lock, so it never
 * races with a hit of the same partition.
 * No code holds two partition locks at once, so there is no lock order.
 * Pattern removal never matches under a lock: it copies keys in bounded
 * batches under the shared lock, matches them unlocked, and removes the
 * matching ones under the exclusive lock (see MATCH_BATCH_SLOTS).
 * Only results are allocated under a lock: a lookup's copy of the value,
 * and l1_list_entries' rows (an out-of-memory error there is safe:
 * aborting releases LWLocks).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

#include "guc.h"
#include "keys.h"
#include "l1.h"
#include "prefix_stats.h"

/* Bytes of key + value data one chunk holds. */
#define L1_CHUNK_SIZE	128

/* Write sequences per partition for leases; a power of two. */
#define L1_LEASE_SLOTS	1024

#define L1_NONE			(-1)

#define L1_TRANCHE_NAME "cachext"

/*
 * One entry slot.  The plain fields are guarded by the owning partition's
 * lock; the atomics are written by hits under a shared lock too (see
 * "Locking" above).  A free slot is on the partition's free list through
 * bucket_next.
 */
typedef struct L1Entry
{
	uint32		hash;			/* hash of the full key */
	bool		in_use;
	int32		bucket_next;	/* next entry in the bucket, or next free slot */
	int32		lru_newer;		/* towards the head: most recently used (lru)
								 * or inserted (sieve) */
	int32		lru_older;		/* towards the tail */
	int32		heap_pos;		/* index in the expiry heap, L1_NONE if none */
	int32		first_chunk;	/* key bytes, then value bytes */
	int32		nchunks;
	uint32		key_len;		/* namespace + user key */
	uint32		namespace_len;
	uint32		value_len;		/* the jsonb varlena, header included */
	uint32		tags_len;		/* NUL-terminated tags after the value */
	TimestampTz created_at;
	TimestampTz expires_at;		/* CACHEXT_NO_EXPIRY for none */
	TimestampTz keep_until;		/* stale copy kept until; >= expires_at */
	int64		load_us;		/* the load's duration, 0 if not loaded */
	pg_atomic_uint64 last_access;	/* a TimestampTz; only moves forward */
	pg_atomic_uint64 hits;
	pg_atomic_uint32 visited;	/* sieve: hit since the hand last passed */
	bool		own_write;		/* stored by this instance's own write */
	uint64		own_text_hash;	/* if so, the hash of the text it wrote */
	uint64		generation;		/* see "Generations" above */
	int32		encoding;		/* server encoding of the value's strings */
	int32		prefix_slot;	/* its key prefix's counters (see "Counters") */
} L1Entry;

/*
 * One key prefix's counters in one partition (see "Counters").  64 bytes
 * (with native atomics), and the array starts on a cache line, so hits of
 * different prefixes or partitions never write the same line.
 */
typedef struct L1PrefixCounters
{
	pg_atomic_uint64 hits;		/* atomic: sieve counts hits under a shared lock */
	pg_atomic_uint64 misses;	/* atomic: a miss counts after the lock */
	int64		sets;			/* the rest: the partition's lock */
	int64		evictions;
	int64		expirations;
	int64		invalidations;
	int64		entries;		/* sizes, not counters: a reset keeps them */
	int64		bytes;
} L1PrefixCounters;

/* Why an entry goes, for the counters. */
typedef enum L1Removal
{
	L1_REMOVAL_EVICTION,		/* the policy's victim */
	L1_REMOVAL_EXPIRATION,		/* expired (past its stale window for lookups) */
	L1_REMOVAL_INVALIDATION		/* removed live by an invalidation */
} L1Removal;

/*
 * A partition's header in shared memory.  Every field but the atomics is
 * guarded by the partition's LWLock.  Its arrays follow it in the same
 * allocation; their addresses are computed by each backend into an
 * L1PartitionView.
 */
typedef struct L1Partition
{
	/* sizes, fixed at start-up */
	int32		max_entries;
	int32		nchunks;
	int32		nbuckets;		/* power of two */

	/* state */
	int32		nentries;
	int32		chunks_used;
	int32		free_entry;		/* head of the free slot list */
	int32		free_chunk;		/* head of the free chunk list */
	int32		lru_newest;		/* the list's head */
	int32		lru_oldest;		/* the list's tail */
	int32		sieve_hand;		/* sieve: next entry the hand looks at;
								 * L1_NONE: start at the tail */
	int32		heap_size;

	/* leases: see "Leases" above */
	uint64		epoch;
	uint64		lease_seq[L1_LEASE_SLOTS];

	/* fences: see "Fences" above */
	uint32		partition_fences;
	uint32		fences[L1_LEASE_SLOTS];

	/*
	 * Counters per key prefix, prefix_stats_slots() of them, follow the
	 * arrays (L1PartitionView.counters); their lock is noted field by field.
	 */
} L1Partition;

/* Backend-local view of one partition: where its pieces are. */
typedef struct L1PartitionView
{
	L1Partition *header;
	LWLock	   *lock;
	int32	   *buckets;		/* nbuckets heads of entry chains */
	L1Entry    *entries;		/* max_entries slots */
	int32	   *heap;			/* entry indexes, min-heap on expires_at */
	int32	   *chunk_next;		/* nchunks links: next chunk or free chunk */
	char	   *chunk_data;		/* nchunks * L1_CHUNK_SIZE bytes */
	L1PrefixCounters *counters; /* prefix_stats_slots() */
} L1PartitionView;

/* What the store shares besides its partitions; first in its memory. */
typedef struct L1Shared
{
	pg_atomic_uint64 generation;	/* see "Generations"; atomic, written by
									 * the sync worker alone */
} L1Shared;

static L1Shared *shared = NULL;
static L1PartitionView *partitions = NULL;
static int	npartitions = 0;

/* The number of partitions actually used: a power of two, <= max entries. */
static int
effective_partitions(void)
{
	int			n = cachext_l1_partitions;

	while (n > 1 && n > cachext_l1_max_entries)
		n >>= 1;
	return n;
}

static int64
total_chunks(void)
{
	return ((int64) cachext_l1_memory_kb * 1024) / L1_CHUNK_SIZE;
}

/* Partition i's share of a total split as evenly as possible. */
static int32
share(int64 total, int i, int n)
{
	return (int32) (total / n + (i < total % n ? 1 : 0));
}

static Size
partition_size(int32 max_entries, int32 nchunks, int32 nbuckets)
{
	Size		size = MAXALIGN(sizeof(L1Partition));

	size = add_size(size, MAXALIGN(mul_size(nbuckets, sizeof(int32))));
	size = add_size(size, MAXALIGN(mul_size(max_entries, sizeof(L1Entry))));
	size = add_size(size, MAXALIGN(mul_size(max_entries, sizeof(int32))));
	size = add_size(size, MAXALIGN(mul_size(nchunks, sizeof(int32))));
	size = add_size(size, MAXALIGN(mul_size(nchunks, L1_CHUNK_SIZE)));
	/* the counters start on a cache line: room for the padding */
	size = add_size(size, PG_CACHE_LINE_SIZE);
	size = add_size(size, MAXALIGN(mul_size(prefix_stats_slots(),
											sizeof(L1PrefixCounters))));
	return size;
}

static int32
buckets_for(int32 max_entries)
{
	return (int32) pg_nextpower2_32((uint32) Max(max_entries, 2));
}

/* Total shared memory the store needs. */
Size
l1_shmem_size(void)
{
	int			n = effective_partitions();
	Size		size = MAXALIGN(sizeof(L1Shared));

	for (int i = 0; i < n; i++)
	{
		int32		entries = share(cachext_l1_max_entries, i, n);

		size = add_size(size, partition_size(entries,
											 share(total_chunks(), i, n),
											 buckets_for(entries)));
	}
	return size;
}

/* Asks the postmaster for the store's memory and locks. */
void
l1_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(l1_shmem_size(),
									prefix_stats_shmem_size()));
	RequestNamedLWLockTranche(L1_TRANCHE_NAME, effective_partitions());
}

/* Computes where partition's arrays sit, given its header. */
static void
view_partition(L1PartitionView *view, L1Partition *header)
{
	char	   *p = (char *) header + MAXALIGN(sizeof(L1Partition));

	view->header = header;
	view->buckets = (int32 *) p;
	p += MAXALIGN(header->nbuckets * sizeof(int32));
	view->entries = (L1Entry *) p;
	p += MAXALIGN(header->max_entries * sizeof(L1Entry));
	view->heap = (int32 *) p;
	p += MAXALIGN(header->max_entries * sizeof(int32));
	view->chunk_next = (int32 *) p;
	p += MAXALIGN(header->nchunks * sizeof(int32));
	view->chunk_data = p;
	p += MAXALIGN((Size) header->nchunks * L1_CHUNK_SIZE);
	view->counters = (L1PrefixCounters *) CACHELINEALIGN(p);
}

/* Zeroes a partition's counters; the sizes too when with_sizes. */
static void
zero_counters(L1PartitionView *view, bool with_sizes)
{
	for (int s = 0; s < prefix_stats_slots(); s++)
	{
		L1PrefixCounters *c = &view->counters[s];

		pg_atomic_write_u64(&c->hits, 0);
		pg_atomic_write_u64(&c->misses, 0);
		c->sets = c->evictions = c->expirations = c->invalidations = 0;
		if (with_sizes)
			c->entries = c->bytes = 0;
	}
}

/* Puts a partition in its empty state: every slot and chunk free. */
static void
reset_partition(L1PartitionView *view)
{
	L1Partition *h = view->header;

	h->nentries = 0;
	h->chunks_used = 0;
	h->lru_newest = h->lru_oldest = L1_NONE;
	h->sieve_hand = L1_NONE;
	h->heap_size = 0;
	for (int i = 0; i < h->nbuckets; i++)
		view->buckets[i] = L1_NONE;
	for (int i = 0; i < h->max_entries; i++)
	{
		view->entries[i].in_use = false;
		pg_atomic_init_u64(&view->entries[i].last_access, 0);
		pg_atomic_init_u64(&view->entries[i].hits, 0);
		pg_atomic_init_u32(&view->entries[i].visited, 0);
		view->entries[i].bucket_next = i + 1 < h->max_entries ? i + 1 : L1_NONE;
	}
	h->free_entry = h->max_entries > 0 ? 0 : L1_NONE;
	for (int i = 0; i < h->nchunks; i++)
		view->chunk_next[i] = i + 1 < h->nchunks ? i + 1 : L1_NONE;
	h->free_chunk = h->nchunks > 0 ? 0 : L1_NONE;
}

/*
 * Attaches to (and, the first time, initialises) the store.  Runs in the
 * postmaster and, on EXEC_BACKEND builds, in each backend.
 */
void
l1_shmem_startup(void)
{
	bool		found;
	char	   *base;
	LWLockPadded *locks;
	int			n = effective_partitions();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("cachext l1", l1_shmem_size(), &found);
	locks = GetNamedLWLockTranche(L1_TRANCHE_NAME);
	shared = (L1Shared *) base;
	if (!found)
		pg_atomic_init_u64(&shared->generation, 0);	/* closed until followed */
	base += MAXALIGN(sizeof(L1Shared));

	partitions = MemoryContextAllocZero(TopMemoryContext,
										n * sizeof(L1PartitionView));
	for (int i = 0; i < n; i++)
	{
		L1Partition *header = (L1Partition *) base;

		if (!found)
		{
			memset(header, 0, sizeof(L1Partition));
			header->max_entries = share(cachext_l1_max_entries, i, n);
			header->nchunks = share(total_chunks(), i, n);
			header->nbuckets = buckets_for(header->max_entries);
		}
		view_partition(&partitions[i], header);
		partitions[i].lock = &locks[i].lock;
		if (!found)
		{
			for (int s = 0; s < prefix_stats_slots(); s++)
			{
				pg_atomic_init_u64(&partitions[i].counters[s].hits, 0);
				pg_atomic_init_u64(&partitions[i].counters[s].misses, 0);
			}
			zero_counters(&partitions[i], true);
			reset_partition(&partitions[i]);
		}
		base += partition_size(header->max_entries, header->nchunks,
							   header->nbuckets);
	}
	npartitions = n;
	prefix_stats_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

bool
l1_is_ready(void)
{
	return partitions != NULL;
}

/* Bytes of cachext.l1_memory an entry of these sizes occupies. */
Size
l1_entry_footprint(Size key_len, Size value_len)
{
	return ((key_len + value_len + L1_CHUNK_SIZE - 1) / L1_CHUNK_SIZE) *
		L1_CHUNK_SIZE;
}

/* The largest footprint any partition can hold. */
Size
l1_partition_capacity(void)
{
	return (Size) (total_chunks() / effective_partitions()) * L1_CHUNK_SIZE;
}

static uint32
hash_key(const char *key, int key_len)
{
	return hash_bytes((const unsigned char *) key, key_len);
}

static L1PartitionView *
partition_for(uint32 hash)
{
	return &partitions[hash & (npartitions - 1)];
}

static int32 *
bucket_for(L1PartitionView *view, uint32 hash)
{
	/* the low bits chose the partition; use the others for the bucket */
	uint32		bits = hash >> pg_leftmost_one_pos32((uint32) npartitions);

	return &view->buckets[bits & (view->header->nbuckets - 1)];
}

/*
 * Copies len bytes between buf and an entry's chunk chain, starting at byte
 * offset within the chain: into the chunks when to_chunks, else out of them.
 */
static void
chunks_copy(L1PartitionView *view, int32 first_chunk, Size offset, Size len,
			char *buf, bool to_chunks)
{
	int32		chunk = first_chunk;

	while (offset >= L1_CHUNK_SIZE)
	{
		chunk = view->chunk_next[chunk];
		offset -= L1_CHUNK_SIZE;
	}
	while (len > 0)
	{
		Size		n = Min(len, L1_CHUNK_SIZE - offset);
		char	   *data = view->chunk_data + (Size) chunk * L1_CHUNK_SIZE + offset;

		if (to_chunks)
			memcpy(data, buf, n);
		else
			memcpy(buf, data, n);
		buf += n;
		len -= n;
		offset = 0;
		chunk = view->chunk_next[chunk];
	}
}

/* Does the entry's key equal key?  Compares chunk by chunk, no copy. */
static bool
key_equals(L1PartitionView *view, const L1Entry *entry, uint32 hash,
		   const char *key, int key_len)
{
	int32		chunk = entry->first_chunk;
	Size		left = key_len;

	if (entry->hash != hash || entry->key_len != (uint32) key_len)
		return false;
	while (left > 0)
	{
		Size		n = Min(left, L1_CHUNK_SIZE);

		if (memcmp(view->chunk_data + (Size) chunk * L1_CHUNK_SIZE, key, n) != 0)
			return false;
		key += n;
		left -= n;
		chunk = view->chunk_next[chunk];
	}
	return true;
}

static int32
find_entry(L1PartitionView *view, uint32 hash, const char *key, int key_len)
{
	int32		i = *bucket_for(view, hash);

	while (i != L1_NONE)
	{
		if (key_equals(view, &view->entries[i], hash, key, key_len))
			return i;
		i = view->entries[i].bucket_next;
	}
	return L1_NONE;
}

/* The list of entries: newest at the head (see "Eviction policy" above). */
static void
list_unlink(L1PartitionView *view, int32 i)
{
	L1Entry    *e = &view->entries[i];
	L1Partition *h = view->header;

	if (e->lru_newer != L1_NONE)
		view->entries[e->lru_newer].lru_older = e->lru_older;
	else
		h->lru_newest = e->lru_older;
	if (e->lru_older != L1_NONE)
		view->entries[e->lru_older].lru_newer = e->lru_newer;
	else
		h->lru_oldest = e->lru_newer;
}

static void
list_push_head(L1PartitionView *view, int32 i)
{
	L1Entry    *e = &view->entries[i];
	L1Partition *h = view->header;

	e->lru_newer = L1_NONE;
	e->lru_older = h->lru_newest;
	if (h->lru_newest != L1_NONE)
		view->entries[h->lru_newest].lru_newer = i;
	h->lru_newest = i;
	if (h->lru_oldest == L1_NONE)
		h->lru_oldest = i;
}

/*
 * The eviction policy's hooks.  policy_hit_lock_mode says how a lookup
 * takes the partition lock; policy_on_hit runs with it held in that mode,
 * the others with it held exclusively.
 */
static LWLockMode
policy_hit_lock_mode(void)
{
	return cachext_l1_eviction == CACHEXT_EVICTION_SIEVE ? LW_SHARED :
		LW_EXCLUSIVE;
}

static void
policy_on_insert(L1PartitionView *view, int32 i)
{
	pg_atomic_write_u32(&view->entries[i].visited, 0);
	list_push_head(view, i);
}

/* lru moves the entry to the head; sieve marks it visited (once). */
static void
policy_on_hit(L1PartitionView *view, int32 i)
{
	L1Entry    *e = &view->entries[i];

	if (cachext_l1_eviction == CACHEXT_EVICTION_SIEVE)
	{
		/* read first: a hot entry's cache line is then only read */
		if (pg_atomic_read_u32(&e->visited) == 0)
			pg_atomic_write_u32(&e->visited, 1);
		return;
	}
	list_unlink(view, i);
	list_push_head(view, i);
}

/* An entry leaves the list; sieve's hand moves on past it. */
static void
policy_on_remove(L1PartitionView *view, int32 i)
{
	if (view->header->sieve_hand == i)
		view->header->sieve_hand = view->entries[i].lru_newer;
	list_unlink(view, i);
}

/* The entry to evict from a non-empty partition, which must remove it. */
static int32
policy_choose_victim(L1PartitionView *view)
{
	L1Partition *h = view->header;
	int32		i;

	Assert(h->lru_oldest != L1_NONE);
	if (cachext_l1_eviction != CACHEXT_EVICTION_SIEVE)
		return h->lru_oldest;
	i = h->sieve_hand != L1_NONE ? h->sieve_hand : h->lru_oldest;
	while (pg_atomic_read_u32(&view->entries[i].visited) != 0)
	{
		pg_atomic_write_u32(&view->entries[i].visited, 0);
		i = view->entries[i].lru_newer != L1_NONE ?
			view->entries[i].lru_newer : h->lru_oldest;
	}
	/* the hand stays on the victim, and moves on as it is removed */
	h->sieve_hand = i;
	return i;
}

/* Expiry heap: a binary min-heap of entry indexes on expires_at. */
static void
heap_place(L1PartitionView *view, int pos, int32 i)
{
	view->heap[pos] = i;
	view->entries[i].heap_pos = pos;
}

static void
heap_sift_up(L1PartitionView *view, int pos)
{
	int32		i = view->heap[pos];
	TimestampTz t = view->entries[i].expires_at;

	while (pos > 0)
	{
		int			parent = (pos - 1) / 2;

		if (view->entries[view->heap[parent]].expires_at <= t)
			break;
		heap_place(view, pos, view->heap[parent]);
		pos = parent;
	}
	heap_place(view, pos, i);
}

static void
heap_sift_down(L1PartitionView *view, int pos)
{
	int			size = view->header->heap_size;
	int32		i = view->heap[pos];
	TimestampTz t = view->entries[i].expires_at;

	for (;;)
	{
		int			child = 2 * pos + 1;

		if (child >= size)
			break;
		if (child + 1 < size &&
			view->entries[view->heap[child + 1]].expires_at <
			view->entries[view->heap[child]].expires_at)
			child++;
		if (view->entries[view->heap[child]].expires_at >= t)
			break;
		heap_place(view, pos, view->heap[child]);
		pos = child;
	}
	heap_place(view, pos, i);
}

static void
heap_remove(L1PartitionView *view, int32 i)
{
	int			pos = view->entries[i].heap_pos;
	int			last = --view->header->heap_size;

	int32		moved = view->heap[last];

	view->entries[i].heap_pos = L1_NONE;
	if (pos == last)
		return;
	/* the last element fills the hole, then moves whichever way it must */
	heap_place(view, pos, moved);
	heap_sift_down(view, pos);
	heap_sift_up(view, view->entries[moved].heap_pos);
}

/* Unlinks an entry from every structure and frees its slot and chunks. */
static void
remove_entry(L1PartitionView *view, int32 i)
{
	L1Entry    *e = &view->entries[i];
	L1Partition *h = view->header;
	int32	   *link = bucket_for(view, e->hash);
	int32		last_chunk = e->first_chunk;

	while (*link != i)
		link = &view->entries[*link].bucket_next;
	*link = e->bucket_next;

	policy_on_remove(view, i);
	if (e->heap_pos != L1_NONE)
		heap_remove(view, i);

	for (int c = 1; c < e->nchunks; c++)
		last_chunk = view->chunk_next[last_chunk];
	view->chunk_next[last_chunk] = h->free_chunk;
	h->free_chunk = e->first_chunk;
	h->chunks_used -= e->nchunks;
	view->counters[e->prefix_slot].entries--;
	view->counters[e->prefix_slot].bytes -= (int64) e->nchunks * L1_CHUNK_SIZE;

	e->in_use = false;
	e->bucket_next = h->free_entry;
	h->free_entry = i;
	h->nentries--;
}

/* Removes an entry, counted as why says.  Caller holds the lock exclusively. */
static void
remove_counted_as(L1PartitionView *view, int32 i, L1Removal why)
{
	L1PrefixCounters *c = &view->counters[view->entries[i].prefix_slot];

	switch (why)
	{
		case L1_REMOVAL_EVICTION:
			c->evictions++;
			break;
		case L1_REMOVAL_EXPIRATION:
			c->expirations++;
			break;
		case L1_REMOVAL_INVALIDATION:
			c->invalidations++;
			break;
	}
	remove_entry(view, i);
}

static bool
is_expired(const L1Entry *e, TimestampTz now)
{
	return e->expires_at != CACHEXT_NO_EXPIRY && e->expires_at <= now;
}

/* Past its stale window too: no lookup may return it any more. */
static bool
is_past_keeping(const L1Entry *e, TimestampTz now)
{
	return e->keep_until != CACHEXT_NO_EXPIRY && e->keep_until <= now;
}

/*
 * Frees entries until one slot and nchunks chunks are available: expired
 * entries first, earliest expiry first, then the policy's victim.
 */
static void
make_room(L1PartitionView *view, int32 nchunks, TimestampTz now)
{
	L1Partition *h = view->header;

	while (h->nentries >= h->max_entries ||
		   h->nchunks - h->chunks_used < nchunks)
	{
		if (h->heap_size > 0 &&
			is_expired(&view->entries[view->heap[0]], now))
			remove_counted_as(view, view->heap[0], L1_REMOVAL_EXPIRATION);
		else
			remove_counted_as(view, policy_choose_victim(view),
							  L1_REMOVAL_EVICTION);
	}
}

/* The lease slot of a key's hash; its fence counter has the same index. */
static int
lease_slot_index(uint32 hash)
{
	return (hash >> 16) & (L1_LEASE_SLOTS - 1);
}

static uint64 *
lease_slot(L1PartitionView *view, uint32 hash)
{
	return &view->header->lease_seq[lease_slot_index(hash)];
}

/* Is the key of this hash fenced?  Caller holds the partition's lock. */
static bool
is_fenced(L1PartitionView *view, uint32 hash)
{
	return view->header->partition_fences > 0 ||
		view->header->fences[lease_slot_index(hash)] > 0;
}

/*
 * Reads the key's lease: the write sequence a later l1_store() checks, so
 * that a value computed from data read after this call is stored only if no
 * write or invalidation of the key came in between.
 */
void
l1_take_lease(const char *key, int key_len, L1Lease *lease)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);

	lease->generation = l1_generation();
	LWLockAcquire(view->lock, LW_SHARED);
	lease->epoch = view->header->epoch;
	lease->seq = *lease_slot(view, hash);
	LWLockRelease(view->lock);
}

/* The store's generation now: see "Generations". */
uint64
l1_generation(void)
{
	return pg_atomic_read_u64(&shared->generation);
}

/*
 * Moves the store on to a new generation, open or not (see
 * "Generations"); the sync worker alone calls it.
 */
void
l1_begin_generation(bool open)
{
	uint64		counter = pg_atomic_read_u64(&shared->generation) >> 1;

	pg_atomic_write_u64(&shared->generation, ((counter + 1) << 1) |
						(open ? 1 : 0));
}

/* Moves an entry's last access forward to now (never back: hits race). */
static void
touch(L1Entry *e, TimestampTz now)
{
	uint64		seen = pg_atomic_read_u64(&e->last_access);

	while ((int64) seen < now &&
		   !pg_atomic_compare_exchange_u64(&e->last_access, &seen, (uint64) now))
		;
}

/*
 * Returns a palloc'd copy of the key's value, or NULL on a miss.  An expired
 * entry is a miss; it is removed and counted once past its stale window.
 * A hit counts, updates the entry's last access and hit count, and tells
 * the eviction policy.
 *
 * Only an entry of generation (L1_ANY_GENERATION: of any) is a hit; with
 * meta, an entry of another generation is returned too, as a miss with
 * meta->other_generation set (see "Generations").
 *
 * With meta, an expired entry still within its stale window and expired
 * for less than stale_us is returned too, as a miss with meta->stale set;
 * meta also gets the entry's expiry and load duration.  namespace_len
 * says where the user key begins, for a miss's key prefix.
 */
Jsonb *
l1_lookup_entry(const char *key, int key_len, int namespace_len,
				TimestampTz now, int64 stale_us, uint64 generation,
				L1EntryMeta *meta)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);
	LWLockMode	mode = policy_hit_lock_mode();
	Jsonb	   *result = NULL;
	bool		stale = false;
	bool		other_generation = false;
	int32		i;

	for (;;)
	{
		LWLockAcquire(view->lock, mode);
		i = is_fenced(view, hash) ? L1_NONE : find_entry(view, hash, key, key_len);

		/*
		 * Databases of different encodings may share a namespace: a value
		 * whose strings are in another encoding is not this database's.
		 */
		if (i != L1_NONE &&
			view->entries[i].encoding != GetDatabaseEncoding())
			i = L1_NONE;
		if (i == L1_NONE || !is_expired(&view->entries[i], now))
			break;
		if (!is_past_keeping(&view->entries[i], now))
		{
			stale = meta != NULL && now - view->entries[i].expires_at < stale_us;
			if (!stale)
				i = L1_NONE;
			break;
		}
		if (mode == LW_EXCLUSIVE)
		{
			remove_counted_as(view, i, L1_REMOVAL_EXPIRATION);
			i = L1_NONE;
			break;
		}
		/* removing needs the lock exclusively: look again with it */
		LWLockRelease(view->lock);
		mode = LW_EXCLUSIVE;
	}
	if (i != L1_NONE && generation != L1_ANY_GENERATION &&
		view->entries[i].generation != generation)
	{
		other_generation = true;
		if (meta == NULL)
			i = L1_NONE;
	}
	if (i != L1_NONE && !stale && !other_generation)
	{
		L1PrefixCounters *c = &view->counters[view->entries[i].prefix_slot];

		pg_atomic_fetch_add_u64(&c->hits, 1);
		pg_atomic_fetch_add_u64(&view->entries[i].hits, 1);
		touch(&view->entries[i], now);
		policy_on_hit(view, i);
	}
	if (i != L1_NONE)
	{
		L1Entry    *e = &view->entries[i];

		result = (Jsonb *) palloc(e->value_len);
		chunks_copy(view, e->first_chunk, e->key_len, e->value_len,
					(char *) result, false);
		if (meta != NULL)
		{
			meta->stale = stale;
			meta->other_generation = other_generation;
			meta->expires_at = e->expires_at;
			meta->load_us = e->load_us;
		}
	}
	LWLockRelease(view->lock);
	if (i == L1_NONE || stale || other_generation)
	{
		int			slot = prefix_stats_slot(key, key_len, namespace_len);

		pg_atomic_fetch_add_u64(&view->counters[slot].misses, 1);
	}
	return result;
}

/* The key's live value of any generation (a palloc'd copy), or NULL. */
Jsonb *
l1_lookup(const char *key, int key_len, int namespace_len, TimestampTz now)
{
	return l1_lookup_entry(key, key_len, namespace_len, now, 0,
						   L1_ANY_GENERATION, NULL);
}

static L1StoreResult store_entry(const char *key, int key_len,
								 int namespace_len, const Jsonb *value,
								 const char *tags, int tags_len,
								 TimestampTz expires_at,
								 TimestampTz keep_until, int64 load_us,
								 TimestampTz now, const L1Lease *lease,
								 const uint64 *own_text_hash, int encoding);

/*
 * Stores value under key, replacing any previous value, making room as
 * needed.  expires_at is CACHEXT_NO_EXPIRY for an entry that never expires;
 * keep_until (>= expires_at) is when its stale copy goes; load_us is how
 * long loading it took (0: not loaded).  With a lease, stores nothing if
 * the key was written or invalidated since the lease was taken, or is
 * fenced.  The entry records the lease's generation, else the store's now
 * (see "Generations").  own_text_hash marks this instance's own write (see
 * "Own writes"); NULL for a value copied from Redis or kept in L1 alone.
 */
L1StoreResult
l1_store(const char *key, int key_len, int namespace_len, const Jsonb *value,
		 TimestampTz expires_at, TimestampTz keep_until, int64 load_us,
		 TimestampTz now, const L1Lease *lease, const uint64 *own_text_hash)
{
	return l1_store_tagged(key, key_len, namespace_len, value, NULL, 0,
						   expires_at, keep_until, load_us, now, lease,
						   own_text_hash);
}

/*
 * l1_store with tags: tags_len bytes of NUL-terminated tags (see "Tags"
 * above), kept with the entry for l1_remove_tagged().
 */
L1StoreResult
l1_store_tagged(const char *key, int key_len, int namespace_len,
				const Jsonb *value, const char *tags, int tags_len,
				TimestampTz expires_at, TimestampTz keep_until, int64 load_us,
				TimestampTz now, const L1Lease *lease,
				const uint64 *own_text_hash)
{
	return store_entry(key, key_len, namespace_len, value, tags, tags_len,
					   expires_at, keep_until, load_us, now, lease,
					   own_text_hash, GetDatabaseEncoding());
}

/*
 * Stores an entry a clean shutdown dumped (warm_restart.c), with the
 * encoding its database had: the postmaster that loads it belongs to no
 * database.
 */
L1StoreResult
l1_restore(const L1DumpEntry *entry, TimestampTz now)
{
	return store_entry(entry->key, entry->key_len, entry->namespace_len,
					   entry->value, entry->tags, entry->tags_len,
					   entry->expires_at, entry->keep_until, 0, now, NULL,
					   NULL, entry->encoding);
}

/* l1_store_tagged for values of the given database encoding. */
static L1StoreResult
store_entry(const char *key, int key_len, int namespace_len,
			const Jsonb *value, const char *tags, int tags_len,
			TimestampTz expires_at, TimestampTz keep_until, int64 load_us,
			TimestampTz now, const L1Lease *lease,
			const uint64 *own_text_hash, int encoding)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);
	L1Partition *h = view->header;
	Size		value_len = VARSIZE(value);
	int32		nchunks = (int32) (l1_entry_footprint(key_len,
												  value_len + tags_len) /
								   L1_CHUNK_SIZE);
	int32		i;
	L1Entry    *e;
	int32		last_chunk;
	int			prefix_slot;
	L1PrefixCounters *c;

	if (nchunks > h->nchunks)
		return L1_TOO_LARGE;
	prefix_slot = prefix_stats_slot(key, key_len, namespace_len);
	c = &view->counters[prefix_slot];

	LWLockAcquire(view->lock, LW_EXCLUSIVE);
	if (lease != NULL &&
		(lease->epoch != h->epoch || lease->seq != *lease_slot(view, hash) ||
		 is_fenced(view, hash)))
	{
		LWLockRelease(view->lock);
		return L1_LEASE_LOST;
	}
	(*lease_slot(view, hash))++;
	i = find_entry(view, hash, key, key_len);
	if (i != L1_NONE)
		remove_entry(view, i);
	make_room(view, nchunks, now);

	i = h->free_entry;
	e = &view->entries[i];
	h->free_entry = e->bucket_next;
	h->nentries++;

	e->in_use = true;
	e->hash = hash;
	e->key_len = key_len;
	e->namespace_len = namespace_len;
	e->value_len = value_len;
	e->tags_len = tags_len;
	e->nchunks = nchunks;
	e->created_at = now;
	e->encoding = encoding;
	pg_atomic_write_u64(&e->last_access, (uint64) now);
	e->expires_at = expires_at;
	e->keep_until = keep_until;
	e->load_us = load_us;
	pg_atomic_write_u64(&e->hits, 0);
	e->own_write = own_text_hash != NULL;
	e->own_text_hash = own_text_hash != NULL ? *own_text_hash : 0;
	e->prefix_slot = prefix_slot;
	e->generation = lease != NULL ? lease->generation : l1_generation();

	/* take nchunks chunks off the free list, then fill them */
	e->first_chunk = last_chunk = h->free_chunk;
	for (int c = 1; c < nchunks; c++)
		last_chunk = view->chunk_next[last_chunk];
	h->free_chunk = view->chunk_next[last_chunk];
	h->chunks_used += nchunks;
	chunks_copy(view, e->first_chunk, 0, key_len, (char *) key, true);
	chunks_copy(view, e->first_chunk, key_len, value_len, (char *) value, true);
	if (tags_len > 0)
		chunks_copy(view, e->first_chunk, key_len + value_len, tags_len,
					(char *) tags, true);

	e->bucket_next = *bucket_for(view, hash);
	*bucket_for(view, hash) = i;
	policy_on_insert(view, i);
	e->heap_pos = L1_NONE;
	if (expires_at != CACHEXT_NO_EXPIRY)
	{
		heap_place(view, h->heap_size++, i);
		heap_sift_up(view, e->heap_pos);
	}
	c->sets++;
	c->entries++;
	c->bytes += (int64) nchunks * L1_CHUNK_SIZE;
	LWLockRelease(view->lock);
	return L1_STORED;
}

/*
 * Removes entry i, counting it as an invalidation if it was live, else as
 * an expiration; true if it was live.  Caller holds the partition's lock
 * exclusively.
 */
static bool
remove_counted(L1PartitionView *view, int32 i, TimestampTz now)
{
	bool		live = !is_expired(&view->entries[i], now);

	remove_counted_as(view, i, live ? L1_REMOVAL_INVALIDATION :
					  L1_REMOVAL_EXPIRATION);
	return live;
}

/*
 * Invalidates a key whose entry (L1_NONE for none) the caller found, under
 * the partition's exclusive lock: moves the key's lease, and removes the
 * entry, counted as an invalidation if live, else as an expiration.  True
 * if a live entry was removed.
 */
static bool
invalidate_key(L1PartitionView *view, uint32 hash, int32 i, TimestampTz now)
{
	(*lease_slot(view, hash))++;
	return i != L1_NONE && remove_counted(view, i, now);
}

/* Removes key; true if it was present (and unexpired). */
bool
l1_remove(const char *key, int key_len, TimestampTz now)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);
	bool		was_live;

	LWLockAcquire(view->lock, LW_EXCLUSIVE);
	was_live = invalidate_key(view, hash,
							  find_entry(view, hash, key, key_len), now);
	LWLockRelease(view->lock);
	return was_live;
}

/* Keys l1_remove_multi removes under one acquisition of a partition lock. */
#define L1_REMOVE_PER_LOCK	256

/*
 * Removes nkeys keys as l1_remove does, grouped by partition so that each
 * lock is taken once per L1_REMOVE_PER_LOCK keys rather than once per key
 * (a bulk commit's keys, fence.c).  Returns how many were live.
 */
int64
l1_remove_multi(int nkeys, char *const *keys, const int *key_lens,
				TimestampTz now)
{
	uint32	   *hashes = palloc(Max(nkeys, 1) * sizeof(uint32));
	int		   *order = palloc(Max(nkeys, 1) * sizeof(int));
	int		   *end = palloc0((npartitions + 1) * sizeof(int));
	int64		live = 0;

	/* a counting sort by partition: end[p + 1] counts, then ends, p's keys */
	for (int i = 0; i < nkeys; i++)
	{
		hashes[i] = hash_key(keys[i], key_lens[i]);
		end[(hashes[i] & (npartitions - 1)) + 1]++;
	}
	for (int p = 0; p < npartitions; p++)
		end[p + 1] += end[p];
	for (int i = 0; i < nkeys; i++)
		order[end[hashes[i] & (npartitions - 1)]++] = i;
	/* now end[p] is where partition p's keys end (and p + 1's begin) */
	for (int p = 0, first = 0; p < npartitions; first = end[p++])
	{
		L1PartitionView *view = &partitions[p];

		for (int j = first; j < end[p]; j += L1_REMOVE_PER_LOCK)
		{
			LWLockAcquire(view->lock, LW_EXCLUSIVE);
			for (int k = j; k < Min(end[p], j + L1_REMOVE_PER_LOCK); k++)
			{
				int			i = order[k];

				live += invalidate_key(view, hashes[i],
									   find_entry(view, hashes[i], keys[i],
												  key_lens[i]), now);
			}
			LWLockRelease(view->lock);
		}
	}
	pfree(hashes);
	pfree(order);
	pfree(end);
	return live;
}

/*
 * Applies Redis' announcement that key changed (see "Own writes"): keeps
 * an unexpired own write of the key while Redis' text is not yet read
 * (redis_text_hash NULL) or hashes as the written text did; otherwise
 * removes the key as l1_remove does.
 */
L1Change
l1_remove_changed(const char *key, int key_len, const uint64 *redis_text_hash,
				  TimestampTz now)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);
	L1Change	result = L1_CHANGE_ABSENT;
	int32		i;
	L1Entry    *e;

	LWLockAcquire(view->lock, LW_EXCLUSIVE);
	i = find_entry(view, hash, key, key_len);
	e = i != L1_NONE ? &view->entries[i] : NULL;
	if (e != NULL && e->own_write && !is_expired(e, now) &&
		(redis_text_hash == NULL || *redis_text_hash == e->own_text_hash))
		result = L1_CHANGE_OWN_WRITE;
	else if (invalidate_key(view, hash, i, now))
		result = L1_CHANGE_REMOVED;
	LWLockRelease(view->lock);
	return result;
}

/*
 * Fences key (delta 1) or lifts one fence of it (delta -1): see "Fences".
 * Lifting bumps the key's lease slot, so that no lease taken while it was
 * fenced can store afterwards.
 */
void
l1_fence_key(const char *key, int key_len, int delta)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);

	LWLockAcquire(view->lock, LW_EXCLUSIVE);
	view->header->fences[lease_slot_index(hash)] += delta;
	if (delta < 0)
		(*lease_slot(view, hash))++;
	LWLockRelease(view->lock);
}

/*
 * Fences every partition (delta 1), or lifts one such fence (delta -1),
 * bumping the epochs as it does.
 */
void
l1_fence_all(int delta)
{
	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];

		LWLockAcquire(view->lock, LW_EXCLUSIVE);
		view->header->partition_fences += delta;
		if (delta < 0)
			view->header->epoch++;
		LWLockRelease(view->lock);
	}
}

/*
 * Pattern removal works through a partition in batches of at most
 * MATCH_BATCH_SLOTS entry slots and MATCH_BATCH_BYTES of key bytes: the keys
 * are copied under the shared lock, matched with no lock held (a glob's
 * cost can grow with the product of pattern and key lengths), and the
 * matching keys removed under the exclusive lock.  No lock is thus held
 * longer than copying or removing one batch takes, whatever the pattern.
 */
#define MATCH_BATCH_SLOTS	256
#define MATCH_BATCH_BYTES	(256 * 1024)

/* Keys copied out of a partition for matching. */
typedef struct MatchBatch
{
	int			nkeys;
	uint32		hashes[MATCH_BATCH_SLOTS];
	int			key_lens[MATCH_BATCH_SLOTS];
	Size		offsets[MATCH_BATCH_SLOTS];
	char	   *bytes;			/* MATCH_BATCH_BYTES + one longest key */
} MatchBatch;

/*
 * Copies the keys in namespace of entry slots from *next on into batch,
 * under the partition's shared lock; advances *next past the slots read.
 */
static void
copy_batch(L1PartitionView *view, int namespace_len, int32 *next,
		   MatchBatch *batch)
{
	Size		used = 0;
	int32		i;

	batch->nkeys = 0;
	LWLockAcquire(view->lock, LW_SHARED);
	for (i = *next; i < view->header->max_entries &&
		 i - *next < MATCH_BATCH_SLOTS && used < MATCH_BATCH_BYTES; i++)
	{
		L1Entry    *e = &view->entries[i];

		if (!e->in_use || e->key_len < (uint32) namespace_len)
			continue;
		batch->hashes[batch->nkeys] = e->hash;
		batch->key_lens[batch->nkeys] = e->key_len;
		batch->offsets[batch->nkeys] = used;
		chunks_copy(view, e->first_chunk, 0, e->key_len, batch->bytes + used,
					false);
		used += e->key_len;
		batch->nkeys++;
	}
	LWLockRelease(view->lock);
	*next = i;
}

/*
 * Removes every entry whose full key is namespace followed by a string
 * matching a well-formed glob pattern, as SCAN MATCH sees Redis' flat key
 * space (whatever namespace the entry was stored under); returns how many
 * live ones it removed.  Each partition's epoch is bumped before its first
 * batch is read, so no load begun before can store a matching key behind
 * the scan.
 */
int64
l1_remove_matching(const char *namespace, int namespace_len,
				   const char *pattern, int pattern_len, TimestampTz now)
{
	MatchBatch *batch = palloc(sizeof(MatchBatch));
	int64		removed = 0;

	batch->bytes = palloc(MATCH_BATCH_BYTES + CACHEXT_FULL_KEY_LIMIT);
	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];
		int32		next = 0;

		LWLockAcquire(view->lock, LW_EXCLUSIVE);
		view->header->epoch++;
		LWLockRelease(view->lock);
		while (next < view->header->max_entries)
		{
			int			nmatching = 0;

			copy_batch(view, namespace_len, &next, batch);
			for (int k = 0; k < batch->nkeys; k++)
			{
				char	   *key = batch->bytes + batch->offsets[k];

				if (memcmp(key, namespace, namespace_len) == 0 &&
					keys_glob_match(pattern, pattern_len, key + namespace_len,
									batch->key_lens[k] - namespace_len))
				{
					batch->hashes[nmatching] = batch->hashes[k];
					batch->key_lens[nmatching] = batch->key_lens[k];
					batch->offsets[nmatching] = batch->offsets[k];
					nmatching++;
				}
			}
			if (nmatching == 0)
				continue;

			/* a key written again meanwhile is removed all the same */
			LWLockAcquire(view->lock, LW_EXCLUSIVE);
			for (int k = 0; k < nmatching; k++)
			{
				int32		i = find_entry(view, batch->hashes[k],
										   batch->bytes + batch->offsets[k],
										   batch->key_lens[k]);

				if (i != L1_NONE && remove_counted(view, i, now))
					removed++;
			}
			LWLockRelease(view->lock);
		}
	}
	pfree(batch->bytes);
	pfree(batch);
	return removed;
}

/*
 * Does the entry carry the tag?  Walks its NUL-terminated tags byte by
 * byte across its chunks, without copying them.
 */
static bool
has_tag(L1PartitionView *view, const L1Entry *e, const char *tag, int tag_len)
{
	Size		offset = e->key_len + e->value_len;
	int32		chunk = e->first_chunk;
	int			matched = 0;
	bool		differs = false;

	for (; offset >= L1_CHUNK_SIZE; offset -= L1_CHUNK_SIZE)
		chunk = view->chunk_next[chunk];
	for (uint32 n = 0; n < e->tags_len; n++)
	{
		char		c = view->chunk_data[(Size) chunk * L1_CHUNK_SIZE + offset];

		if (c == '\0')
		{
			if (!differs && matched == tag_len)
				return true;
			matched = 0;
			differs = false;
		}
		else if (!differs && matched < tag_len && c == tag[matched])
			matched++;
		else
			differs = true;
		if (++offset == L1_CHUNK_SIZE)
		{
			offset = 0;
			chunk = view->chunk_next[chunk];
		}
	}
	return false;
}

/*
 * Removes every entry of namespace stored with tag; returns how many live
 * ones it removed.  Like pattern invalidation it moves every partition's
 * epoch, so a load of a key that would have been tagged stores nothing.
 * Matching a tag costs a walk over the entry's tags, so each partition is
 * scanned under its exclusive lock in one pass.
 */
int64
l1_remove_tagged(const char *namespace, int namespace_len, const char *tag,
				 int tag_len, TimestampTz now)
{
	char	   *key = palloc(CACHEXT_FULL_KEY_LIMIT);
	int64		removed = 0;

	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];

		LWLockAcquire(view->lock, LW_EXCLUSIVE);
		view->header->epoch++;
		for (int32 i = 0; i < view->header->max_entries; i++)
		{
			L1Entry    *e = &view->entries[i];

			if (!e->in_use || e->key_len < (uint32) namespace_len ||
				e->tags_len == 0)
				continue;
			chunks_copy(view, e->first_chunk, 0, namespace_len, key, false);
			if (memcmp(key, namespace, namespace_len) == 0 &&
				has_tag(view, e, tag, tag_len) && remove_counted(view, i, now))
				removed++;
		}
		LWLockRelease(view->lock);
	}
	pfree(key);
	return removed;
}

/*
 * Sets *expires_at to the key's expiry (CACHEXT_NO_EXPIRY for none); false
 * when L1 does not hold the key live (or it is fenced, as for lookups).
 * Counts nothing, moves nothing.
 */
bool
l1_expiry(const char *key, int key_len, TimestampTz now,
		  TimestampTz *expires_at)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);
	bool		found = false;
	int32		i;

	LWLockAcquire(view->lock, LW_SHARED);
	i = is_fenced(view, hash) ? L1_NONE : find_entry(view, hash, key, key_len);
	if (i != L1_NONE && !is_expired(&view->entries[i], now))
	{
		*expires_at = view->entries[i].expires_at;
		found = true;
	}
	LWLockRelease(view->lock);
	return found;
}

/*
 * Gives a live entry a new expiry (CACHEXT_NO_EXPIRY for none) and stale
 * window end (keep_until, as for l1_store) without rewriting its value; false when L1 does not hold the key live.  Moves
 * the key's lease like a write, so a load begun before it stores nothing.
 */
bool
l1_set_expiry(const char *key, int key_len, TimestampTz expires_at,
			  TimestampTz keep_until, TimestampTz now)
{
	uint32		hash = hash_key(key, key_len);
	L1PartitionView *view = partition_for(hash);
	bool		found = false;
	int32		i;

	LWLockAcquire(view->lock, LW_EXCLUSIVE);
	(*lease_slot(view, hash))++;
	i = find_entry(view, hash, key, key_len);
	if (i != L1_NONE && is_expired(&view->entries[i], now))
		remove_counted_as(view, i, L1_REMOVAL_EXPIRATION);
	else if (i != L1_NONE)
	{
		L1Entry    *e = &view->entries[i];

		if (e->heap_pos != L1_NONE)
			heap_remove(view, i);
		e->expires_at = expires_at;
		e->keep_until = keep_until;
		if (expires_at != CACHEXT_NO_EXPIRY)
		{
			heap_place(view, view->header->heap_size++, i);
			heap_sift_up(view, e->heap_pos);
		}
		found = true;
	}
	LWLockRelease(view->lock);
	return found;
}

/* Empties every partition; returns how many entries were dropped. */
int64
l1_clear(void)
{
	int64		dropped = 0;

	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];

		LWLockAcquire(view->lock, LW_EXCLUSIVE);
		dropped += view->header->nentries;
		view->header->epoch++;
		for (int s = 0; s < prefix_stats_slots(); s++)
		{
			L1PrefixCounters *c = &view->counters[s];

			c->invalidations += c->entries;
			c->entries = c->bytes = 0;
		}
		reset_partition(view);
		LWLockRelease(view->lock);
	}
	return dropped;
}

/* Adds one prefix's counters in one partition to counts. */
static void
add_counters(L1Stats *counts, L1PrefixCounters *c)
{
	counts->hits += pg_atomic_read_u64(&c->hits);
	counts->misses += pg_atomic_read_u64(&c->misses);
	counts->sets += c->sets;
	counts->evictions += c->evictions;
	counts->expirations += c->expirations;
	counts->invalidations += c->invalidations;
	counts->entries += c->entries;
	counts->bytes += c->bytes;
}

/* Sums the counters and sizes of all partitions. */
void
l1_read_stats(L1Stats *stats)
{
	memset(stats, 0, sizeof(L1Stats));
	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];

		LWLockAcquire(view->lock, LW_SHARED);
		for (int s = 0; s < prefix_stats_slots(); s++)
			add_counters(stats, &view->counters[s]);
		stats->max_entries += view->header->max_entries;
		stats->max_bytes += (int64) view->header->nchunks * L1_CHUNK_SIZE;
		LWLockRelease(view->lock);
	}
}

/*
 * Fills counts[s] with the sums over all partitions of key prefix slot s's
 * counters and sizes, for the prefix_stats_slots() slots (max_entries and
 * max_bytes stay 0: a prefix has no bound of its own).
 */
void
l1_read_prefix_stats(L1Stats *counts)
{
	memset(counts, 0, prefix_stats_slots() * sizeof(L1Stats));
	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];

		LWLockAcquire(view->lock, LW_SHARED);
		for (int s = 0; s < prefix_stats_slots(); s++)
			add_counters(&counts[s], &view->counters[s]);
		LWLockRelease(view->lock);
	}
}

void
l1_reset_stats(void)
{
	for (int p = 0; p < npartitions; p++)
	{
		LWLockAcquire(partitions[p].lock, LW_EXCLUSIVE);
		zero_counters(&partitions[p], false);
		LWLockRelease(partitions[p].lock);
	}
}

/* qsort order of l1_dump_entries: more hits first, then later access. */
static int
hotter_first(const void *a, const void *b)
{
	const L1DumpEntry *x = a;
	const L1DumpEntry *y = b;

	if (x->hits != y->hits)
		return x->hits > y->hits ? -1 : 1;
	if (x->last_access != y->last_access)
		return x->last_access > y->last_access ? -1 : 1;
	return 0;
}

/*
 * Lists the live (unexpired) entries, head of the list first within each
 * partition (lru: most recently used first; sieve: most recently inserted
 * first), as palloc'd L1EntryInfo.  Expired entries are left for lazy removal.
 */
List *
l1_list_entries(TimestampTz now)
{
	List	   *result = NIL;

	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];

		LWLockAcquire(view->lock, LW_SHARED);
		for (int32 i = view->header->lru_newest; i != L1_NONE;
			 i = view->entries[i].lru_older)
		{
			L1Entry    *e = &view->entries[i];
			L1EntryInfo *info;

			if (is_expired(e, now))
				continue;
			info = palloc(sizeof(L1EntryInfo));
			info->namespace = palloc(e->namespace_len + 1);
			chunks_copy(view, e->first_chunk, 0, e->namespace_len,
						info->namespace, false);
			info->namespace[e->namespace_len] = '\0';
			info->key = palloc(e->key_len - e->namespace_len + 1);
			chunks_copy(view, e->first_chunk, e->namespace_len,
						e->key_len - e->namespace_len, info->key, false);
			info->key[e->key_len - e->namespace_len] = '\0';
			info->bytes = (int64) e->nchunks * L1_CHUNK_SIZE;
			info->created_at = e->created_at;
			info->expires_at = e->expires_at;
			info->last_access = (TimestampTz) pg_atomic_read_u64(&e->last_access);
			info->hits = (int64) pg_atomic_read_u64(&e->hits);
			result = lappend(result, info);
		}
		LWLockRelease(view->lock);
	}
	return result;
}

/*
 * Copies every live entry out for a dump (warm_restart.c), hottest first:
 * by hits, then by last access.  With with_values, each comes with its
 * value and tags.  Returns a palloc'd array and sets *nentries.  Each
 * partition is copied under its shared lock; the sort runs unlocked.
 */
L1DumpEntry *
l1_dump_entries(TimestampTz now, bool with_values, int *nentries)
{
	int			capacity = 0;
	int			n = 0;
	L1DumpEntry *result;

	for (int p = 0; p < npartitions; p++)
		capacity += partitions[p].header->max_entries;
	result = palloc_extended(Max(capacity, 1) * sizeof(L1DumpEntry),
							 MCXT_ALLOC_HUGE);
	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];

		LWLockAcquire(view->lock, LW_SHARED);
		for (int32 i = view->header->lru_newest; i != L1_NONE && n < capacity;
			 i = view->entries[i].lru_older)
		{
			L1Entry    *e = &view->entries[i];
			L1DumpEntry *d = &result[n];

			if (is_expired(e, now))
				continue;
			n++;
			d->key = palloc(e->key_len);
			chunks_copy(view, e->first_chunk, 0, e->key_len, d->key, false);
			d->key_len = e->key_len;
			d->namespace_len = e->namespace_len;
			d->encoding = e->encoding;
			d->hits = (int64) pg_atomic_read_u64(&e->hits);
			d->last_access = (TimestampTz) pg_atomic_read_u64(&e->last_access);
			d->expires_at = e->expires_at;
			d->keep_until = e->keep_until;
			d->value = NULL;
			d->tags = NULL;
			d->tags_len = 0;
			if (!with_values)
				continue;
			d->value = palloc(e->value_len);
			chunks_copy(view, e->first_chunk, e->key_len, e->value_len,
						(char *) d->value, false);
			d->tags_len = e->tags_len;
			if (e->tags_len > 0)
			{
				d->tags = palloc(e->tags_len);
				chunks_copy(view, e->first_chunk, e->key_len + e->value_len,
							e->tags_len, d->tags, false);
			}
		}
		LWLockRelease(view->lock);
	}
	qsort(result, n, sizeof(L1DumpEntry), hotter_first);
	*nentries = n;
	return result;
}
