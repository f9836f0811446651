/*-------------------------------------------------------------------------
 * l2_keys.c
 *	  The layout of cachext's own keys in Redis: the names of the keys it
 *	  keeps beside the cache keys (docs/reference.md, "The format in
 *	  Redis"), and which fence bucket a key falls in.
 *
 * Keys.  Each own key is the cache key, a NUL, then a suffix.  No text key
 * contains a NUL, so no cache entry can collide with them.  "<key>\0seq"
 * is the key's write sequence, the Redis side of a lease: every write and
 * single-key invalidation of the key increments it, and it expires after
 * an hour idle.  "<key>\0load" is the key's load lock.  "\0cachext:epoch"
 * counts every pattern invalidation, tag invalidation and clear, of any
 * prefix.  "<namespace><tag>\0tag" is a tag's member set (see
 * l2_commands_write).  "\0cachext:fences" holds the fences of the
 * committing transactions that fence patterns, of any prefix (fence.c).
 *
 * Fence buckets.  A committing transaction fences its keys by bucket, not
 * one by one, so that a commit of 100 000 keys costs Redis one UNLINK per
 * key and a few writes per bucket, not several writes per key (each of
 * them also announced to every tracking client).  A key's bucket is its
 * hash slot (redis_slot_of_key), on a single node modulo
 * L2_SINGLE_NODE_BUCKETS.  Bucket b has fences, "{<tag of b>}\0cachext:
 * bucket-fences", the committing transactions that fence a key of b, and a
 * sequence, "{<tag of b>}\0cachext:bucket-seq", part of every lease of b's
 * keys and bumped when a fence is placed or lifted (l2_commands.c says how
 * fences stand and end).
 *
 * Cluster.  Behind a redis-cluster:// URL every key an EVAL touches must be
 * in one hash slot, and a cluster has no single place for the epoch.  So
 * there (l2_keys_set_cluster) each own key starts with "{<tag>}", the tag
 * of the cache key's slot (redis_slot_tag), which puts it in the cache
 * key's slot while the cache key itself stays as it is, readable by any
 * client: "{<tag>}<key>\0seq", "{<tag>}<key>\0load", and a bucket is a
 * slot, so its keys share the slot of the cache keys it covers.  The epoch
 * and the pattern fences are one per slot, "{<tag>}\0cachext:epoch" and
 * "{<tag>}\0cachext:fences", and a pattern invalidation, a clear or a
 * pattern fence touches all 16384 of them (a pipeline per master).  A
 * single node keeps the names above, so instances of an earlier version
 * sharing it agree.
 *
 * Names are palloc'd in the caller's memory context.  The one state is
 * this process' naming mode, set by cachext.redis_url's assign hook
 * (guc.c), so there is no locking.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "l2_keys.h"
#include "redis_slot.h"

#define L2_SEQ_SUFFIX		"\0seq"
#define L2_LOCK_SUFFIX		"\0load"
#define L2_TAG_SUFFIX		"\0tag"
#define L2_EPOCH_KEY		"\0cachext:epoch"
#define L2_PATTERN_FENCE_KEY "\0cachext:fences"
#define L2_BUCKET_FENCE_KEY	"\0cachext:bucket-fences"
#define L2_BUCKET_SEQ_KEY	"\0cachext:bucket-seq"

/* Fence buckets of a single node (a cluster has one per slot). */
#define L2_SINGLE_NODE_BUCKETS 1024

/* Are own keys named for a cluster (in their cache key's slot)? */
static bool cluster_keys = false;

/* Names own keys for a cluster (true) or a single node, from now on. */
void
l2_keys_set_cluster(bool cluster)
{
	cluster_keys = cluster;
}

/* Are own keys named for a cluster? */
bool
l2_keys_for_cluster(void)
{
	return cluster_keys;
}

/* "{<tag of slot>}" followed by suffix, palloc'd; *len is its length. */
static char *
slot_key(int slot, const char *key, int key_len, const char *suffix,
		 int suffix_len, int *len)
{
	const char *tag = redis_slot_tag(slot);
	int			tag_len = strlen(tag);
	char	   *own = palloc(tag_len + 2 + key_len + suffix_len);

	own[0] = '{';
	memcpy(own + 1, tag, tag_len);
	own[tag_len + 1] = '}';
	memcpy(own + tag_len + 2, key, key_len);
	memcpy(own + tag_len + 2 + key_len, suffix, suffix_len);
	*len = tag_len + 2 + key_len + suffix_len;
	return own;
}

/*
 * An instance-wide key (the epoch, the pattern fence) as a lease on key
 * sees it: the one key, or in a cluster its copy in key's slot.
 */
static const char *
shared_key(const char *key, int key_len, const char *name, int name_len,
		   int *len)
{
	if (cluster_keys)
		return slot_key(redis_slot_of_key(key, key_len), "", 0, name,
						name_len, len);
	*len = name_len;
	return name;
}

/* How many copies of each instance-wide key there are: one per slot in a cluster. */
int
l2_keys_shared_copies(void)
{
	return cluster_keys ? REDIS_CLUSTER_SLOTS : 1;
}

/* Copy i (of shared_key_copies) of an instance-wide key. */
static const char *
shared_key_copy(int i, const char *name, int name_len, int *len)
{
	if (cluster_keys)
		return slot_key(i, "", 0, name, name_len, len);
	*len = name_len;
	return name;
}

/*
 * key followed by suffix (in a cluster, after its slot's tag), palloc'd;
 * *len is its length.
 */
static char *
own_key(const char *key, int key_len, const char *suffix, int suffix_len,
		int *len)
{
	char	   *own;

	if (cluster_keys)
		return slot_key(redis_slot_of_key(key, key_len), key, key_len,
						suffix, suffix_len, len);
	own = palloc(key_len + suffix_len);

	memcpy(own, key, key_len);
	memcpy(own + key_len, suffix, suffix_len);
	*len = key_len + suffix_len;
	return own;
}

/* Does the Redis key (as SCAN returns it) end with suffix? */
static bool
ends_with(const char *key, size_t len, const char *suffix, size_t suffix_len)
{
	return len >= suffix_len &&
		memcmp(key + len - suffix_len, suffix, suffix_len) == 0;
}

/* The key's write sequence, "<key>\0seq". */
char *
l2_keys_seq(const char *key, int key_len, int *len)
{
	return own_key(key, key_len, L2_SEQ_SUFFIX, sizeof(L2_SEQ_SUFFIX) - 1, len);
}

/* The fence bucket of a cache key (full key): see "Fence buckets" above. */
int
l2_keys_bucket(const char *key, int key_len)
{
	int			slot = redis_slot_of_key(key, key_len);

	return cluster_keys ? slot : slot % L2_SINGLE_NODE_BUCKETS;
}

/* Bucket b's own key name (L2_BUCKET_FENCE_KEY or L2_BUCKET_SEQ_KEY). */
static char *
bucket_key(int bucket, const char *name, int name_len, int *len)
{
	return slot_key(bucket, "", 0, name, name_len, len);
}

/* How many fence buckets there are: slots in a cluster, else 1024. */
int
l2_keys_buckets(void)
{
	return cluster_keys ? REDIS_CLUSTER_SLOTS : L2_SINGLE_NODE_BUCKETS;
}

/* Bucket b's fences, "{<tag of b>}\0cachext:bucket-fences". */
char *
l2_keys_bucket_fences(int bucket, int *len)
{
	return bucket_key(bucket, L2_BUCKET_FENCE_KEY,
					  sizeof(L2_BUCKET_FENCE_KEY) - 1, len);
}

/* Bucket b's sequence, "{<tag of b>}\0cachext:bucket-seq". */
char *
l2_keys_bucket_seq(int bucket, int *len)
{
	return bucket_key(bucket, L2_BUCKET_SEQ_KEY,
					  sizeof(L2_BUCKET_SEQ_KEY) - 1, len);
}

/* The epoch as a lease on key sees it (see "Cluster" above). */
const char *
l2_keys_epoch(const char *key, int key_len, int *len)
{
	return shared_key(key, key_len, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1,
					  len);
}

/* The pattern fences as a lease on key sees them. */
const char *
l2_keys_pattern_fences(const char *key, int key_len, int *len)
{
	return shared_key(key, key_len, L2_PATTERN_FENCE_KEY,
					  sizeof(L2_PATTERN_FENCE_KEY) - 1, len);
}

/* Copy i (of l2_keys_shared_copies) of the epoch. */
const char *
l2_keys_epoch_copy(int i, int *len)
{
	return shared_key_copy(i, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1, len);
}

/* Copy i (of l2_keys_shared_copies) of the pattern fences. */
const char *
l2_keys_pattern_fences_copy(int i, int *len)
{
	return shared_key_copy(i, L2_PATTERN_FENCE_KEY,
						   sizeof(L2_PATTERN_FENCE_KEY) - 1, len);
}

/*
 * The suffix of a write sequence, for a script that names the sequences
 * of keys it finds in Redis (a single node's: a tag's members).
 */
const char *
l2_keys_seq_suffix(int *len)
{
	*len = sizeof(L2_SEQ_SUFFIX) - 1;
	return L2_SEQ_SUFFIX;
}

/* Is this Redis key (as SCAN returns it) a fence, of a bucket or of patterns? */
bool
l2_keys_is_fence(const char *key, size_t len)
{
	return ends_with(key, len, L2_BUCKET_FENCE_KEY,
					 sizeof(L2_BUCKET_FENCE_KEY) - 1) ||
		ends_with(key, len, L2_PATTERN_FENCE_KEY,
				  sizeof(L2_PATTERN_FENCE_KEY) - 1);
}

/* The key's load lock, "<key>\0load". */
char *
l2_keys_lock(const char *key, int key_len, int *len)
{
	return own_key(key, key_len, L2_LOCK_SUFFIX, sizeof(L2_LOCK_SUFFIX) - 1,
				   len);
}

/* A tag's member set, "<namespace><tag>\0tag" (tag: namespace + tag). */
char *
l2_keys_tag(const char *tag, int tag_len, int *len)
{
	return own_key(tag, tag_len, L2_TAG_SUFFIX, sizeof(L2_TAG_SUFFIX) - 1, len);
}

/*
 * Is this Redis key a tag's member set?  A pattern invalidation or clear
 * leaves those: they name keys outside the pattern, which a later
 * invalidation of the tag must still find.
 */
bool
l2_keys_is_tag(const char *key, size_t len)
{
	return ends_with(key, len, L2_TAG_SUFFIX, sizeof(L2_TAG_SUFFIX) - 1);
}
