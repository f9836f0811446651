/*-------------------------------------------------------------------------
 * layers.c
 *	  The two-layer logic every SQL function goes through.
 *
 * A user key becomes a full key by prefixing it with cachext.redis_prefix,
 * the namespace: two databases share entries only if they share the
 * prefix.  Reads look in L1; writes and invalidations apply to every layer
 * and announce themselves through events.c.
 *
 * Time is read once per call with GetCurrentTimestamp() (wall clock, not
 * the transaction's start), so TTLs run in real time.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/int.h"
#include "utils/timestamp.h"

#include "cachext.h"
#include "events.h"
#include "l1.h"
#include "layers.h"

/* Keys this long or shorter are built on the stack. */
#define SHORT_KEY_BUFFER 256

/*
 * Writes namespace + key into buffer when it fits, else into palloc'd
 * memory; returns the full key and sets *full_len.
 */
static char *
full_key(const char *key, int key_len, char *buffer, int *full_len)
{
	int			prefix_len = strlen(cachext_redis_prefix);
	char	   *result = buffer;

	*full_len = prefix_len + key_len;
	if (*full_len > SHORT_KEY_BUFFER)
		result = palloc(*full_len);
	memcpy(result, cachext_redis_prefix, prefix_len);
	memcpy(result + prefix_len, key, key_len);
	return result;
}

/* A hash of the key in this namespace: equal keys, equal hashes. */
uint32
layers_key_hash(const char *key, int key_len)
{
	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = full_key(key, key_len, buffer, &len);

	return hash_bytes((const unsigned char *) full, len);
}

/* The value stored under key in this namespace, or NULL on a miss. */
Jsonb *
layers_get(const char *key, int key_len)
{
	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = full_key(key, key_len, buffer, &len);

	return l1_lookup(full, len, GetCurrentTimestamp());
}

/* Reads key's lease, for a later layers_set() of a value loaded now. */
void
layers_take_lease(const char *key, int key_len, L1Lease *lease)
{
	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = full_key(key, key_len, buffer, &len);

	l1_take_lease(full, len, lease);
}

/*
 * Stores value under key for ttl_ms milliseconds (LAYERS_NO_TTL: until
 * evicted or invalidated).  With a lease (from layers_take_lease), stores
 * only if the key was not written or invalidated since; returns whether it
 * stored.
 */
bool
layers_set(const char *key, int key_len, const Jsonb *value, int64 ttl_ms,
		   const L1Lease *lease)
{
	L1StoreResult result;

	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = full_key(key, key_len, buffer, &len);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz expires_at = L1_NO_EXPIRY;
	Size		value_len = VARSIZE(value);

	if (ttl_ms != LAYERS_NO_TTL &&
		(pg_mul_s64_overflow(ttl_ms, 1000, &expires_at) ||
		 pg_add_s64_overflow(expires_at, now, &expires_at) ||
		 !IS_VALID_TIMESTAMP(expires_at)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache TTL is too large"),
				 errdetail("The entry would expire beyond the largest timestamp PostgreSQL represents."),
				 errhint("Pass a smaller TTL, or NULL for an entry that never expires.")));

	if (value_len > (Size) cachext_l1_max_value_size_kb * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache value is too large"),
				 errdetail("The value takes %zu bytes; cachext.l1_max_value_size is %d kB.",
						   value_len, cachext_l1_max_value_size_kb),
				 errhint("Cache a smaller value, or raise cachext.l1_max_value_size.")));

	result = l1_store(full, len, strlen(cachext_redis_prefix), value,
					  expires_at, now, lease);
	if (result == L1_TOO_LARGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache entry does not fit in an L1 partition"),
				 errdetail("Key and value need %zu bytes; each of the L1 partitions holds %zu bytes.",
						   l1_entry_footprint(len, value_len),
						   l1_partition_capacity()),
				 errhint("Raise cachext.l1_memory or lower cachext.l1_partitions.")));
	return result == L1_STORED;
}

/*
 * Removes key from every layer; true if some layer held it.  announce sends
 * its CACHE_INVALIDATED event (the invalidation handler sends its own).
 */
bool
layers_invalidate(const char *key, int key_len, bool announce)
{
	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = full_key(key, key_len, buffer, &len);
	bool		was_present = l1_remove(full, len, GetCurrentTimestamp());

	if (announce)
		events_notify_key(key, key_len);
	return was_present;
}

/*
 * Removes every key of this namespace matching pattern; returns the count.
 * announce as for layers_invalidate.
 */
int64
layers_invalidate_pattern(const char *pattern, int pattern_len, bool announce)
{
	int64		removed = l1_remove_matching(cachext_redis_prefix,
											 strlen(cachext_redis_prefix),
											 pattern, pattern_len,
											 GetCurrentTimestamp());

	if (announce)
		events_notify_pattern(pattern, pattern_len);
	return removed;
}

/* Empties L1 (every namespace); returns how many entries it held. */
int64
layers_clear(void)
{
	int64		dropped = l1_clear();

	events_notify_clear();
	return dropped;
}
