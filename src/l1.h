/*-------------------------------------------------------------------------
 * l1.h
 *	  The shared-memory store (L1).
 *
 * Keys handed to these functions are full L1 keys: the namespace (the
 * database's cachext.namespace) followed by the user's key; namespace_len
 * says where the two meet.  Values are jsonb varlenas with a 4-byte header,
 * stored and returned as they are, so a hit needs no parsing.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L1_H
#define CACHEXT_L1_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* Why l1_store did or did not store. */
typedef enum L1StoreResult
{
	L1_STORED,
	L1_TOO_LARGE,				/* key + value exceed one partition's memory */
	L1_LEASE_LOST				/* the key was written or invalidated since the
								 * lease was taken */
} L1StoreResult;

/* What l1_remove_changed() did with a key Redis announced changed. */
typedef enum L1Change
{
	L1_CHANGE_ABSENT,			/* L1 held no live entry of the key */
	L1_CHANGE_REMOVED,			/* it removed the key's live entry */
	L1_CHANGE_OWN_WRITE			/* it kept this instance's own write */
} L1Change;

/* What l1_take_lease() read; see "Leases" and "Generations" in l1.c. */
typedef struct L1Lease
{
	uint64		epoch;
	uint64		seq;
	uint64		generation;		/* the store's generation when taken */
} L1Lease;

/*
 * The store's generation (see "Generations" in l1.c): a counter and, in
 * the low bit, whether the generation is open.  L1_ANY_GENERATION asks a
 * lookup for entries of every generation.
 */
#define L1_GENERATION_IS_OPEN(generation)	(((generation) & 1) != 0)
#define L1_ANY_GENERATION	PG_UINT64_MAX

/* What l1_lookup_entry() says of the entry it returns. */
typedef struct L1EntryMeta
{
	bool		stale;			/* expired, returned from its stale window */
	TimestampTz expires_at;		/* CACHEXT_NO_EXPIRY for none */
	int64		load_us;		/* how long its load took; 0 if not loaded */
	bool		other_generation;	/* stored in another generation than the
									 * lookup asked for: a miss, returned
									 * for the caller to decide on */
} L1EntryMeta;

/* Counters and sizes summed over all partitions (and one key prefix's). */
typedef struct L1Stats
{
	int64		hits;
	int64		misses;
	int64		sets;
	int64		evictions;
	int64		expirations;
	int64		invalidations;
	int64		entries;
	int64		bytes;
	int64		max_entries;
	int64		max_bytes;
} L1Stats;

/* One live entry, as cache_entries shows it. */
typedef struct L1EntryInfo
{
	char	   *namespace;
	char	   *key;
	int64		bytes;
	TimestampTz created_at;
	TimestampTz expires_at;
	TimestampTz last_access;
	int64		hits;
} L1EntryInfo;

/*
 * One live entry as warm_restart.c dumps it: the full key, the namespace's
 * length and the database encoding of its value, how hot it is, and, when
 * asked for, its value, tags and expiry.
 */
typedef struct L1DumpEntry
{
	char	   *key;			/* the full key, key_len bytes */
	int			key_len;
	int			namespace_len;
	int			encoding;
	int64		hits;
	TimestampTz last_access;
	TimestampTz expires_at;		/* CACHEXT_NO_EXPIRY for none */
	TimestampTz keep_until;
	Jsonb	   *value;			/* NULL unless values were asked for */
	char	   *tags;			/* tags_len bytes, NUL-terminated tags */
	int			tags_len;
} L1DumpEntry;

/* Start-up: called from cachext.c's hooks. */
extern Size l1_shmem_size(void);
extern void l1_shmem_request(void);
extern void l1_shmem_startup(void);
extern bool l1_is_ready(void);

/* Bytes one entry of these sizes takes from cachext.l1_memory. */
extern Size l1_entry_footprint(Size key_len, Size value_len);
extern Size l1_partition_capacity(void);

extern Jsonb *l1_lookup(const char *key, int key_len, int namespace_len,
						TimestampTz now);
extern Jsonb *l1_lookup_entry(const char *key, int key_len, int namespace_len,
							  TimestampTz now, int64 stale_us,
							  uint64 generation, L1EntryMeta *meta);
extern uint64 l1_generation(void);
extern void l1_begin_generation(bool open);
extern void l1_take_lease(const char *key, int key_len, L1Lease *lease);
extern L1StoreResult l1_store(const char *key, int key_len, int namespace_len,
							  const Jsonb *value, TimestampTz expires_at,
							  TimestampTz keep_until, int64 load_us,
							  TimestampTz now, const L1Lease *lease,
							  const uint64 *own_text_hash);
extern L1StoreResult l1_store_tagged(const char *key, int key_len,
									 int namespace_len, const Jsonb *value,
									 const char *tags, int tags_len,
									 TimestampTz expires_at,
									 TimestampTz keep_until, int64 load_us,
									 TimestampTz now, const L1Lease *lease,
									 const uint64 *own_text_hash);
extern bool l1_remove(const char *key, int key_len, TimestampTz now);
extern int64 l1_remove_multi(int nkeys, char *const *keys,
							 const int *key_lens, TimestampTz now);
extern L1Change l1_remove_changed(const char *key, int key_len,
								  const uint64 *redis_text_hash,
								  TimestampTz now);
extern int64 l1_remove_tagged(const char *namespace, int namespace_len,
							  const char *tag, int tag_len, TimestampTz now);
extern bool l1_expiry(const char *key, int key_len, TimestampTz now,
					  TimestampTz *expires_at);
extern bool l1_set_expiry(const char *key, int key_len,
						  TimestampTz expires_at, TimestampTz keep_until,
						  TimestampTz now);
extern int64 l1_remove_matching(const char *namespace, int namespace_len,
								const char *pattern, int pattern_len,
								TimestampTz now);
extern int64 l1_clear(void);
extern void l1_fence_key(const char *key, int key_len, int delta);
extern void l1_fence_all(int delta);

extern void l1_read_stats(L1Stats *stats);
extern void l1_read_prefix_stats(L1Stats *counts);
extern void l1_reset_stats(void);
extern List *l1_list_entries(TimestampTz now);
extern L1DumpEntry *l1_dump_entries(TimestampTz now, bool with_values,
									int *nentries);
extern L1StoreResult l1_restore(const L1DumpEntry *entry, TimestampTz now);

#endif							/* CACHEXT_L1_H */
