/*
 * fuzz_l1.c
 *	  libFuzzer harness for the shared-memory store (src/l1.c) driven
 *	  through its API, run by `make fuzzcheck` with AddressSanitizer and
 *	  UBSan.
 *
 * The store is the real l1.c, included here so the checks can read its
 * partitions; the few server functions it calls come from
 * server_stubs.c.  The first bytes of the input size the store (1 to 8
 * partitions, 1 to 64 entries, 128 to 320 kB, the eviction policy: lru or
 * sieve); the rest is a sequence of
 * operations on 32 keys of 8 to 300 bytes in two namespaces: store (with
 * and without a lease, with and without a TTL and a stale window, values
 * of 4 bytes to 16 kB, with any of four tags), lookup (plain, or accepting
 * stale copies), remove, pattern remove, tag remove, a new expiry, clear,
 * list, take a lease, and let time pass.
 *
 * A model beside the store remembers what each key may hold.  After every
 * operation the harness checks the operation's answer and the store's
 * invariants: bounds never exceeded; every chunk owned by one entry or on
 * the free list, never both or twice, and chunks in use + free = total;
 * the free slot list, the hash index and the LRU list each hold exactly
 * the partition's entries; the list's order is the order of last use
 * (lru) or of insertion (sieve), a sieve hit sets the visited bit and the
 * hand is on an entry of the partition or nowhere; the expiry heap holds exactly the entries with a TTL and keeps the heap
 * property; every stored key and value reads back byte-identical to what
 * was last stored; the statistics agree; each entry counts under its key's
 * prefix (8 slots for the 32 prefixes the keys have, so most are other) and
 * each prefix's entries and bytes are its entries'; no lock is left held.
 */
#include "l1.c"

#include "server_stubs.h"

int			cachext_l1_max_entries;
int			cachext_l1_memory_kb;
int			cachext_l1_partitions;
int			cachext_l1_eviction;
int			cachext_prefix_stats_max = 8;	/* fewer than the 32 prefixes used */
int			cachext_prefix_stats_segments = 1;

#define NKEYS			32
#define NAMESPACE_LEN	6
#define MAX_KEY			320
#define GLOB_ALPHABET	"k0123456789abcdef:x*?[]^-\\"
#define NTAGS			4		/* tags "t0".."t3" */
#define MAX_TAGS_LEN	(NTAGS * 3)

/* What the harness knows of one key. */
typedef struct ModelKey
{
	char		key[MAX_KEY];
	int			key_len;
	bool		present;		/* may be in the store */
	char	   *value;			/* what was last stored */
	uint8_t		tags;			/* its tags, a bit per tag */
	TimestampTz expires_at;
	TimestampTz keep_until;
	uint64		writes;			/* stores and removes of this key */
	uint64		touched;		/* tick of the last store or hit */
	uint64		stored;			/* tick of the last store */
	bool		has_lease;
	L1Lease		lease;
	uint64		lease_writes;	/* writes and epoch when the lease was taken */
	uint64		lease_epoch;
} ModelKey;

static ModelKey model[NKEYS];
static uint64 tick;
static uint64 epoch;			/* pattern removes and clears */
static TimestampTz now;
static int64 sets;
static int64 hits;
static int64 misses;

/* The fuzz input, read a byte at a time; zeros once it is used up. */
static const uint8_t *input;
static size_t input_left;

static uint8_t
next_byte(void)
{
	if (input_left == 0)
		return 0;
	input_left--;
	return *input++;
}

static void
fail(const char *what)
{
	fprintf(stderr, "l1: %s\n", what);
	abort();
}

/* Key k: a namespace, then "k<k%16>:" and a filler of a length set by k. */
static void
init_model(void)
{
	for (int k = 0; k < NKEYS; k++)
	{
		ModelKey   *m = &model[k];
		int			filler = (k % 16) * 37 % 290;

		free(m->value);
		memset(m, 0, sizeof(ModelKey));
		m->key_len = sprintf(m->key, "%sk%x:", k < 16 ? "cache:" : "other:",
							 k % 16);
		memset(m->key + m->key_len, 'x', filler);
		m->key_len += filler;
	}
	tick = epoch = 0;
	sets = hits = misses = 0;
	now = 1000000;
}

/* The tags of a bit mask as L1 keeps them (NUL-terminated); their length. */
static int
tags_blob(uint8_t tags, char *blob)
{
	int			len = 0;

	for (int t = 0; t < NTAGS; t++)
		if (tags & (1 << t))
			len += sprintf(blob + len, "t%d", t) + 1;
	return len;
}

/* The model key whose bytes these are, or NULL. */
static ModelKey *
model_key(const char *key, int key_len)
{
	for (int k = 0; k < NKEYS; k++)
		if (model[k].key_len == key_len &&
			memcmp(model[k].key, key, key_len) == 0)
			return &model[k];
	return NULL;
}

/* Checks one in-use entry's chunks and contents; returns its chunk count. */
static int32
check_entry(L1PartitionView *view, int32 i, int32 *owner)
{
	L1Entry    *e = &view->entries[i];
	char	   *bytes = malloc(e->key_len + e->value_len + e->tags_len);
	ModelKey   *m;
	int32		c = e->first_chunk;
	char		tags[MAX_TAGS_LEN];

	if (e->nchunks != (int32) (l1_entry_footprint(e->key_len,
												  e->value_len + e->tags_len) /
							   L1_CHUNK_SIZE))
		fail("an entry's chunk count does not fit its size");
	for (int32 n = 0; n < e->nchunks; n++)
	{
		if (c < 0 || c >= view->header->nchunks)
			fail("a chunk chain leaves the partition");
		if (owner[c] != L1_NONE)
			fail("a chunk is owned twice");
		owner[c] = i;
		c = view->chunk_next[c];
	}
	if (partition_for(e->hash) != view)
		fail("an entry is in another partition than its hash names");
	if (e->expires_at == CACHEXT_NO_EXPIRY ? e->heap_pos != L1_NONE :
		e->heap_pos < 0 || e->heap_pos >= view->header->heap_size ||
		view->heap[e->heap_pos] != i)
		fail("an entry's heap position is wrong");

	chunks_copy(view, e->first_chunk, 0, e->key_len + e->value_len + e->tags_len,
				bytes, false);
	m = model_key(bytes, e->key_len);
	if (m == NULL || !m->present)
		fail("the store holds a key that was not stored or was removed");
	if (e->hash != hash_key(bytes, e->key_len) ||
		e->namespace_len != NAMESPACE_LEN)
		fail("an entry's hash or namespace length is wrong");
	if (e->value_len != VARSIZE(m->value) ||
		memcmp(bytes + e->key_len, m->value, e->value_len) != 0 ||
		e->expires_at != m->expires_at || e->keep_until != m->keep_until)
		fail("a value does not read back as it was stored");
	if (e->tags_len != (uint32) tags_blob(m->tags, tags) ||
		memcmp(bytes + e->key_len + e->value_len, tags, e->tags_len) != 0)
		fail("tags do not read back as they were stored");
	free(bytes);
	return e->nchunks;
}

/* Checks the slot free list, the hash index and the LRU list. */
static void
check_lists(L1PartitionView *view)
{
	L1Partition *h = view->header;
	int32		count = 0;
	uint64		last_touched = UINT64_MAX;
	int32		older = L1_NONE;

	for (int32 i = h->free_entry; i != L1_NONE; i = view->entries[i].bucket_next)
		if (i < 0 || i >= h->max_entries || view->entries[i].in_use ||
			++count > h->max_entries - h->nentries)
			fail("the free slot list is wrong");
	if (count != h->max_entries - h->nentries)
		fail("free slots + entries != slots");

	count = 0;
	for (int32 b = 0; b < h->nbuckets; b++)
		for (int32 i = view->buckets[b]; i != L1_NONE; i = view->entries[i].bucket_next)
			if (i < 0 || i >= h->max_entries || !view->entries[i].in_use ||
				bucket_for(view, view->entries[i].hash) != &view->buckets[b] ||
				++count > h->nentries)
				fail("the hash index is wrong");
	if (count != h->nentries)
		fail("the hash index misses entries");

	count = 0;
	for (int32 i = h->lru_newest; i != L1_NONE; i = view->entries[i].lru_older)
	{
		L1Entry    *e = &view->entries[i];
		char		key[MAX_KEY];
		ModelKey   *m;

		if (i < 0 || i >= h->max_entries || !e->in_use ||
			e->lru_newer != older || ++count > h->nentries)
			fail("the LRU list is wrong");
		chunks_copy(view, e->first_chunk, 0, e->key_len, key, false);
		m = model_key(key, e->key_len);
		if (cachext_l1_eviction == CACHEXT_EVICTION_SIEVE ?
			m->stored >= last_touched : m->touched >= last_touched)
			fail("the list's order is not the policy's");
		last_touched = cachext_l1_eviction == CACHEXT_EVICTION_SIEVE ?
			m->stored : m->touched;
		older = i;
	}
	if (count != h->nentries || h->lru_oldest != older)
		fail("the LRU list misses entries");
	if (h->sieve_hand != L1_NONE &&
		(cachext_l1_eviction != CACHEXT_EVICTION_SIEVE ||
		 h->sieve_hand < 0 || h->sieve_hand >= h->max_entries ||
		 !view->entries[h->sieve_hand].in_use))
		fail("the sieve hand is not on an entry");
}

/* Checks the expiry heap: exactly the entries with a TTL, ordered. */
static void
check_heap(L1PartitionView *view)
{
	L1Partition *h = view->header;
	int32		with_ttl = 0;

	for (int32 i = 0; i < h->max_entries; i++)
		if (view->entries[i].in_use &&
			view->entries[i].expires_at != CACHEXT_NO_EXPIRY)
			with_ttl++;
	if (h->heap_size != with_ttl)
		fail("the heap does not hold exactly the entries with a TTL");
	for (int pos = 1; pos < h->heap_size; pos++)
		if (view->entries[view->heap[(pos - 1) / 2]].expires_at >
			view->entries[view->heap[pos]].expires_at)
			fail("the heap property does not hold");
}

/*
 * Each entry's prefix slot is its key's, and each slot's entries and bytes
 * in the partition are those of its entries.
 */
static void
check_prefix_counts(L1PartitionView *view)
{
	int			nslots = prefix_stats_slots();
	int64	   *entries = calloc(nslots, sizeof(int64));
	int64	   *bytes = calloc(nslots, sizeof(int64));
	char		key[MAX_KEY];

	for (int32 i = 0; i < view->header->max_entries; i++)
	{
		L1Entry    *e = &view->entries[i];

		if (!e->in_use)
			continue;
		if (e->prefix_slot < 0 || e->prefix_slot >= nslots)
			fail("an entry's prefix slot is out of range");
		chunks_copy(view, e->first_chunk, 0, e->key_len, key, false);
		if (prefix_stats_slot(key, e->key_len, e->namespace_len) != e->prefix_slot)
			fail("an entry counts under another prefix than its key's");
		entries[e->prefix_slot]++;
		bytes[e->prefix_slot] += (int64) e->nchunks * L1_CHUNK_SIZE;
	}
	for (int s = 0; s < nslots; s++)
		if (view->counters[s].entries != entries[s] ||
			view->counters[s].bytes != bytes[s])
			fail("a prefix's entries or bytes are miscounted");
	free(entries);
	free(bytes);
}

/* Checks every invariant of every partition, and the statistics. */
static void
check_store(void)
{
	int64		entries = 0;
	int64		chunks = 0;
	int64		max_entries = 0;
	L1Stats		stats;

	if (stub_lock_held())
		fail("a lock is held after a call returned");
	for (int p = 0; p < npartitions; p++)
	{
		L1PartitionView *view = &partitions[p];
		L1Partition *h = view->header;
		int32	   *owner = malloc(Max(h->nchunks, 1) * sizeof(int32));
		int32		used = 0;
		int32		nfree = 0;
		int32		in_use = 0;

		if (h->nentries < 0 || h->nentries > h->max_entries ||
			h->chunks_used < 0 || h->chunks_used > h->nchunks)
			fail("a bound is exceeded");
		for (int32 c = 0; c < h->nchunks; c++)
			owner[c] = L1_NONE;
		for (int32 i = 0; i < h->max_entries; i++)
			if (view->entries[i].in_use)
			{
				used += check_entry(view, i, owner);
				in_use++;
			}
		if (in_use != h->nentries || used != h->chunks_used)
			fail("entries or chunks in use are miscounted");
		for (int32 c = h->free_chunk; c != L1_NONE; c = view->chunk_next[c])
		{
			if (c < 0 || c >= h->nchunks || owner[c] != L1_NONE)
				fail("a free chunk is owned or listed twice");
			owner[c] = -2;
			nfree++;
		}
		if (used + nfree != h->nchunks)
			fail("chunks in use + free != total");
		free(owner);
		check_prefix_counts(view);
		check_lists(view);
		check_heap(view);
		entries += h->nentries;
		chunks += h->chunks_used;
		max_entries += h->max_entries;
	}
	l1_read_stats(&stats);
	if (max_entries != cachext_l1_max_entries ||
		stats.max_bytes != total_chunks() * L1_CHUNK_SIZE ||
		stats.entries != entries || stats.bytes != chunks * L1_CHUNK_SIZE ||
		stats.sets != sets || stats.hits != hits || stats.misses != misses)
		fail("the statistics disagree with the partitions");
}

/* Where key k is now, and whether it is live; without touching it. */
static int32
locate(ModelKey *m, L1PartitionView **view, bool *live)
{
	uint32		hash = hash_key(m->key, m->key_len);
	int32		i;

	*view = partition_for(hash);
	i = find_entry(*view, hash, m->key, m->key_len);
	*live = i != L1_NONE && !is_expired(&(*view)->entries[i], now);
	return i;
}

/* Which keys are in the store, and live, right now. */
typedef struct Presence
{
	bool		in[NKEYS];
	bool		live[NKEYS];
} Presence;

static void
take_presence(Presence *presence)
{
	for (int k = 0; k < NKEYS; k++)
	{
		L1PartitionView *view;

		presence->in[k] = locate(&model[k], &view, &presence->live[k]) != L1_NONE;
	}
}

/*
 * A partition's list and SIEVE state, by model key number, taken before a
 * store, to replay SIEVE on as its paper describes it (not as l1.c does).
 */
typedef struct SieveSnapshot
{
	int			n;
	int			order[NKEYS];	/* tail (oldest insert) first */
	bool		visited[NKEYS];
	int			hand;			/* -1: at the tail */
} SieveSnapshot;

static int
key_number(L1PartitionView *view, int32 i)
{
	char		key[MAX_KEY];

	chunks_copy(view, view->entries[i].first_chunk, 0,
				view->entries[i].key_len, key, false);
	return model_key(key, view->entries[i].key_len) - model;
}

static void
take_sieve_snapshot(L1PartitionView *view, SieveSnapshot *snap)
{
	snap->n = 0;
	snap->hand = -1;
	for (int32 i = view->header->lru_oldest; i != L1_NONE;
		 i = view->entries[i].lru_newer)
	{
		int			k = key_number(view, i);

		snap->visited[k] = pg_atomic_read_u32(&view->entries[i].visited) != 0;
		if (view->header->sieve_hand == i)
			snap->hand = k;
		snap->order[snap->n++] = k;
	}
}

/* Key k leaves the list; a hand on it moves one step headwards. */
static void
snapshot_remove(SieveSnapshot *snap, int k)
{
	int			at = 0;

	while (at < snap->n && snap->order[at] != k)
		at++;
	if (at == snap->n)
		return;
	if (snap->hand == k)
		snap->hand = at + 1 < snap->n ? snap->order[at + 1] : -1;
	memmove(&snap->order[at], &snap->order[at + 1],
			(snap->n - at - 1) * sizeof(int));
	snap->n--;
}

/* SIEVE's victim: the hand walks headwards, wrapping, clearing bits. */
static int
snapshot_evict(SieveSnapshot *snap)
{
	int			at = 0;
	int			k;

	if (snap->hand >= 0)
		while (snap->order[at] != snap->hand)
			at++;
	while (snap->visited[snap->order[at]])
	{
		snap->visited[snap->order[at]] = false;
		at = (at + 1) % snap->n;
	}
	k = snap->order[at];
	snap->hand = k;
	snapshot_remove(snap, k);
	return k;
}

/*
 * Under sieve, the live entries a store of m evicted must be those SIEVE
 * evicts from the snapshot once m's old entry and the expired ones that
 * went are removed, and the hand must end where SIEVE's does.
 */
static void
check_sieve_victims(ModelKey *m, L1PartitionView *view, SieveSnapshot *snap,
					const bool *expired_gone, const bool *live_gone)
{
	int			nlive = 0;
	bool		expected[NKEYS] = {false};

	snapshot_remove(snap, m - model);
	for (int k = 0; k < NKEYS; k++)
	{
		if (expired_gone[k])
			snapshot_remove(snap, k);
		nlive += live_gone[k];
	}
	while (nlive-- > 0)
		expected[snapshot_evict(snap)] = true;
	for (int k = 0; k < NKEYS; k++)
		if (expected[k] != live_gone[k])
			fail("sieve evicted other entries than SIEVE would");
	if (snap->hand != (view->header->sieve_hand == L1_NONE ? -1 :
					   key_number(view, view->header->sieve_hand)))
		fail("the sieve hand is not where SIEVE leaves it");
}

/*
 * Checks what a store of m into view removed to make room: nothing if the
 * room was there; else expired entries earliest expiry first, and live
 * ones only once no expired one is left, least recently used first (lru)
 * or as SIEVE chooses (sieve, from snap).
 */
static void
check_make_room(ModelKey *m, L1PartitionView *view, const Presence *before,
				bool had_room, SieveSnapshot *snap)
{
	bool		expired_gone[NKEYS] = {false};
	bool		live_gone_keys[NKEYS] = {false};
	Presence	after;
	TimestampTz last_expired_gone = 0;
	uint64		last_live_gone = 0;
	TimestampTz first_expired_kept = DT_NOEND;
	uint64		first_live_kept = UINT64_MAX;
	bool		live_gone = false;

	take_presence(&after);
	for (int k = 0; k < NKEYS; k++)
	{
		L1PartitionView *other;
		bool		live;

		if (&model[k] == m || !before->in[k])
			continue;
		locate(&model[k], &other, &live);
		if (other != view)
			continue;
		if (after.in[k] && !before->live[k])
			first_expired_kept = Min(first_expired_kept, model[k].expires_at);
		else if (after.in[k])
			first_live_kept = Min(first_live_kept, model[k].touched);
		else if (had_room)
			fail("a store removed an entry though there was room");
		else if (!before->live[k])
		{
			last_expired_gone = Max(last_expired_gone, model[k].expires_at);
			expired_gone[k] = true;
		}
		else
		{
			last_live_gone = Max(last_live_gone, model[k].touched);
			live_gone = true;
			live_gone_keys[k] = true;
		}
	}
	if (last_expired_gone > first_expired_kept)
		fail("making room skipped an earlier expiry");
	if (live_gone && first_expired_kept != DT_NOEND)
		fail("making room evicted a live entry while an expired one was left");
	if (cachext_l1_eviction == CACHEXT_EVICTION_SIEVE)
		check_sieve_victims(m, view, snap, expired_gone, live_gone_keys);
	else if (live_gone && last_live_gone > first_live_kept)
		fail("making room evicted other than the least recently used");
}

/* The expiry an input byte asks for: none, or 1 to 3 s from now. */
static TimestampTz
expiry_of(uint8_t ttl)
{
	return ttl % 4 == 0 ? CACHEXT_NO_EXPIRY : now + (ttl % 4) * 1000;
}

/* The end of the stale window the same byte asks for: 0 to 1 s more. */
static TimestampTz
keep_until_of(uint8_t ttl, TimestampTz expires_at)
{
	return expires_at == CACHEXT_NO_EXPIRY ? CACHEXT_NO_EXPIRY :
		expires_at + (ttl / 4 % 3) * 500;
}

static void
op_store(ModelKey *m, bool with_lease)
{
	uint8_t		size = next_byte();
	uint8_t		ttl = next_byte();
	uint8_t		seed = next_byte();
	uint8_t		tags = next_byte() % (1 << NTAGS);
	char		blob[MAX_TAGS_LEN];
	int			tags_len = tags_blob(tags, blob);
	Size		len = VARHDRSZ + (size < 200 ? size : (Size) (size - 199) * 300);
	char	   *value = malloc(len);
	TimestampTz expires_at = expiry_of(ttl);
	TimestampTz keep_until = keep_until_of(ttl, expires_at);
	const L1Lease *lease = with_lease && m->has_lease ? &m->lease : NULL;
	bool		stale = lease != NULL &&
		(m->writes != m->lease_writes || epoch != m->lease_epoch);
	L1PartitionView *view;
	bool		live;
	int32		old;
	int32		free_slots;
	int32		free_chunks;
	Presence	before;
	SieveSnapshot snap;
	L1StoreResult result;

	SET_VARSIZE(value, len);
	for (Size j = VARHDRSZ; j < len; j++)
		value[j] = (char) (seed + j * 7);
	take_presence(&before);
	old = locate(m, &view, &live);
	if (cachext_l1_eviction == CACHEXT_EVICTION_SIEVE)
		take_sieve_snapshot(view, &snap);
	free_slots = view->header->max_entries - view->header->nentries;
	free_chunks = view->header->nchunks - view->header->chunks_used;
	if (old != L1_NONE)
	{
		free_slots++;
		free_chunks += view->entries[old].nchunks;
	}
	result = l1_store_tagged(m->key, m->key_len, NAMESPACE_LEN, (Jsonb *) value,
							 blob, tags_len, expires_at, keep_until, 0, now,
							 lease, NULL);
	if (l1_entry_footprint(m->key_len, len + tags_len) / L1_CHUNK_SIZE >
		(Size) view->header->nchunks)
	{
		if (result != L1_TOO_LARGE)
			fail("an entry larger than its partition was not refused");
	}
	else if (result == L1_LEASE_LOST)
	{
		if (lease == NULL)
			fail("a store without a lease lost one");
	}
	else if (result != L1_STORED || stale)
		fail(stale ? "a store with a stale lease was not refused" :
			 "a store that fits was refused");
	if (result != L1_STORED)
	{
		free(value);
		return;
	}
	check_make_room(m, view, &before, free_slots >= 1 &&
					(Size) free_chunks >= l1_entry_footprint(m->key_len, len + tags_len) / L1_CHUNK_SIZE,
					&snap);
	free(m->value);
	m->value = value;
	m->tags = tags;
	m->present = true;
	m->expires_at = expires_at;
	m->keep_until = keep_until;
	m->writes++;
	m->touched = m->stored = ++tick;
	sets++;
	if (locate(m, &view, &live) == L1_NONE)
		fail("a stored key is not found");
}

/*
 * A lookup: a hit for a live entry; with stale_us, an expired entry still
 * kept and expired less than stale_us ago comes back marked stale (a
 * miss); an entry past keeping goes.
 */
static void
op_lookup(ModelKey *m, int64 stale_us)
{
	L1PartitionView *view;
	bool		live;
	int32		i = locate(m, &view, &live);
	bool		kept = i != L1_NONE && !is_past_keeping(&view->entries[i], now);
	bool		stale = kept && !live && now - m->expires_at < stale_us;
	L1EntryMeta meta;
	Jsonb	   *value = l1_lookup_entry(m->key, m->key_len, NAMESPACE_LEN, now,
										stale_us, L1_ANY_GENERATION, &meta);

	if ((value != NULL) != (live || stale))
		fail("a lookup's hit or miss is wrong");
	if (value != NULL)
	{
		if (VARSIZE(value) != VARSIZE(m->value) ||
			memcmp(value, m->value, VARSIZE(value)) != 0 ||
			meta.stale != stale || meta.expires_at != m->expires_at ||
			meta.load_us != 0)
			fail("a lookup returns another value than was stored");
		pfree(value);
	}
	if (live)
	{
		m->touched = ++tick;
		hits++;
		if (cachext_l1_eviction == CACHEXT_EVICTION_SIEVE &&
			pg_atomic_read_u32(&view->entries[i].visited) != 1)
			fail("a sieve hit did not set the visited bit");
	}
	else
		misses++;
	if ((locate(m, &view, &live) != L1_NONE) != (i != L1_NONE && kept))
		fail("a lookup removed a kept entry or kept one past keeping");
}

static void
op_remove(ModelKey *m)
{
	L1PartitionView *view;
	bool		live;

	locate(m, &view, &live);
	if (l1_remove(m->key, m->key_len, now) != live)
		fail("remove's answer is wrong");
	m->present = false;
	m->writes++;
	if (locate(m, &view, &live) != L1_NONE)
		fail("a removed key is still found");
}

/* l1_remove_multi of up to 8 keys, some maybe named twice. */
static void
op_remove_multi(void)
{
	int			n = 1 + next_byte() % 8;
	char	   *keys[8];
	int			key_lens[8];
	bool		counted[NKEYS] = {false};
	int64		expected = 0;

	for (int j = 0; j < n; j++)
	{
		int			k = next_byte() % NKEYS;
		L1PartitionView *view;
		bool		live;

		keys[j] = model[k].key;
		key_lens[j] = model[k].key_len;
		locate(&model[k], &view, &live);
		expected += live && !counted[k];
		counted[k] = true;
	}
	if (l1_remove_multi(n, keys, key_lens, now) != expected)
		fail("remove_multi's count is wrong");
	for (int k = 0; k < NKEYS; k++)
	{
		L1PartitionView *view;
		bool		live;

		if (!counted[k])
			continue;
		model[k].present = false;
		model[k].writes++;
		if (locate(&model[k], &view, &live) != L1_NONE)
			fail("a key removed by remove_multi is still found");
	}
}

static void
op_remove_matching(void)
{
	const char *namespace = next_byte() % 2 ? "cache:" : "other:";
	char		pattern[8];
	int			pattern_len = next_byte() % sizeof(pattern);
	int64		expected = 0;

	for (int j = 0; j < pattern_len; j++)
		pattern[j] = GLOB_ALPHABET[next_byte() % (sizeof(GLOB_ALPHABET) - 1)];
	if (keys_glob_problem(pattern, pattern_len) != NULL)
		return;
	for (int k = 0; k < NKEYS; k++)
	{
		ModelKey   *m = &model[k];
		L1PartitionView *view;
		bool		live;

		if (memcmp(m->key, namespace, NAMESPACE_LEN) != 0 ||
			!keys_glob_match(pattern, pattern_len, m->key + NAMESPACE_LEN,
							 m->key_len - NAMESPACE_LEN))
			continue;
		locate(m, &view, &live);
		expected += live;
		m->present = false;
	}
	if (l1_remove_matching(namespace, NAMESPACE_LEN, pattern, pattern_len,
						   now) != expected)
		fail("remove_matching's count is wrong");
	epoch++;
}

static void
op_remove_tagged(void)
{
	const char *namespace = next_byte() % 2 ? "cache:" : "other:";
	int			t = next_byte() % NTAGS;
	char		tag[4];
	int			tag_len = sprintf(tag, "t%d", t);
	int64		expected = 0;

	for (int k = 0; k < NKEYS; k++)
	{
		ModelKey   *m = &model[k];
		L1PartitionView *view;
		bool		live;

		if (memcmp(m->key, namespace, NAMESPACE_LEN) != 0 ||
			locate(m, &view, &live) == L1_NONE || !(m->tags & (1 << t)))
			continue;
		expected += live;
		m->present = false;
	}
	if (l1_remove_tagged(namespace, NAMESPACE_LEN, tag, tag_len, now) != expected)
		fail("remove_tagged's count is wrong");
	for (int k = 0; k < NKEYS; k++)
	{
		L1PartitionView *view;
		bool		live;

		if (!model[k].present && locate(&model[k], &view, &live) != L1_NONE)
			fail("a tagged key survives its tag's removal");
	}
	epoch++;
}

/* A new expiry: only for a live entry, which keeps its value and LRU place. */
static void
op_set_expiry(ModelKey *m)
{
	uint8_t		ttl = next_byte();
	TimestampTz expires_at = expiry_of(ttl);
	TimestampTz keep_until = keep_until_of(ttl, expires_at);
	L1PartitionView *view;
	bool		live;
	int32		i = locate(m, &view, &live);

	if (l1_set_expiry(m->key, m->key_len, expires_at, keep_until, now) != live)
		fail("set_expiry's answer is wrong");
	m->writes++;
	if (live)
	{
		m->expires_at = expires_at;
		m->keep_until = keep_until;
	}
	else if (i != L1_NONE)
	{
		m->present = false;
		if (locate(m, &view, &live) != L1_NONE)
			fail("an expired entry survives a new expiry");
	}
}

static void
op_clear(void)
{
	int64		expected = 0;

	for (int p = 0; p < npartitions; p++)
		expected += partitions[p].header->nentries;
	if (l1_clear() != expected)
		fail("clear's count is wrong");
	for (int k = 0; k < NKEYS; k++)
		model[k].present = false;
	epoch++;
}

/* The listing names exactly the live entries, as they were stored. */
static void
op_list(void)
{
	List	   *list = l1_list_entries(now);
	int			live_entries = 0;

	for (int k = 0; k < NKEYS; k++)
	{
		L1PartitionView *view;
		bool		live;

		locate(&model[k], &view, &live);
		live_entries += live;
	}
	if (list_length(list) != live_entries)
		fail("the listing does not have the live entries");
	for (int j = 0; j < list_length(list); j++)
	{
		L1EntryInfo *info = list->elements[j].ptr_value;
		char		key[MAX_KEY];
		char		blob[MAX_TAGS_LEN];
		int			len = snprintf(key, sizeof(key), "%s%s", info->namespace,
								   info->key);
		ModelKey   *m = model_key(key, len);

		if (m == NULL || strlen(info->namespace) != NAMESPACE_LEN ||
			info->expires_at != m->expires_at ||
			info->bytes != (int64) l1_entry_footprint(m->key_len, VARSIZE(m->value) +
													   tags_blob(m->tags, blob)))
			fail("a listed entry is not as it was stored");
		pfree(info->namespace);
		pfree(info->key);
		pfree(info);
	}
	if (list != NIL)
	{
		free(list->elements);
		pfree(list);
	}
}

static void
op_take_lease(ModelKey *m)
{
	l1_take_lease(m->key, m->key_len, &m->lease);
	m->has_lease = true;
	m->lease_writes = m->writes;
	m->lease_epoch = epoch;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input = data;
	input_left = size;
	cachext_l1_partitions = 1 << (next_byte() % 4);
	cachext_l1_max_entries = 1 + next_byte() % 64;
	cachext_l1_memory_kb = 128 + (next_byte() % 4) * 64;
	cachext_l1_eviction = next_byte() % 2 ? CACHEXT_EVICTION_SIEVE :
		CACHEXT_EVICTION_LRU;
	free(partitions);
	partitions = NULL;
	l1_shmem_startup();
	init_model();
	check_store();

	while (input_left > 0)
	{
		uint8_t		op = next_byte();
		ModelKey   *m = &model[next_byte() % NKEYS];

		switch (op % 8)
		{
			case 0:
			case 1:
				op_store(m, op % 8 == 1);
				break;
			case 2:
				op_lookup(m, op / 8 % 2 ? 0 : 1000);
				break;
			case 3:
				if (op / 8 % 2 == 0)
					op_remove(m);
				else
					op_remove_multi();
				break;
			case 4:
				op_remove_matching();
				break;
			case 5:
				if (op / 8 % 4 == 0)
					op_remove_tagged();
				else if (op / 8 % 4 == 1)
					op_set_expiry(m);
				else
					now += next_byte() * 100;
				break;
			case 6:
				op_take_lease(m);
				break;
			case 7:
				if (op / 8 % 4 == 0)
					op_clear();
				else
					op_list();
				break;
		}
		check_store();
	}
	return 0;
}
