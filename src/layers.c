/*-------------------------------------------------------------------------
 * layers.c
 *	  The two-layer logic every SQL function goes through.
 *
 * A user key becomes a full key by prefixing it with the namespace,
 * cachext.namespace: two databases share entries only if they share the
 * namespace.  The full key is the L1 key and the Redis key alike.  Writes and
 * invalidations announce themselves through events.c.
 *
 * Reads look in L1, then (on a miss, when cachext.redis_url is set) in
 * Redis; an L2 hit is promoted into L1 with the TTL Redis has left (at most
 * cachext.l1_max_ttl, as for every L1 copy of a Redis value), under a
 * lease taken before the GET was sent: an invalidation of the key that
 * reaches L1 while the GET is in flight (a local write, or the sync
 * worker relaying Redis' invalidation message) wins over the older value
 * the GET returns.  Redis documents this race for client-side caching.
 * Writes go to both layers; a value larger than cachext.l1_max_value_size
 * goes to Redis alone.  L1 marks a write as this instance's own with a
 * hash of the JSON text sent to Redis, so that the sync worker keeps it
 * when Redis echoes the write (see "Own writes" in l1.c).  Invalidations
 * apply to both layers, and one that cannot reach Redis is queued
 * (l2_queue.c) rather than dropped; so is a write Redis did not take,
 * since Redis may then hold an older value.
 * Redis' failures never raise an ERROR here: l2.c has counted and logged
 * them, and the caller gets L1's answer.
 *
 * Coherence.  With Redis configured, an L1 entry is served without asking
 * Redis only while the sync worker follows Redis' invalidation stream (or
 * Redis refused it: then cachext.l1_max_ttl bounds every copy), and only
 * if it was stored in the generation the worker began when it started to
 * follow (see "Generations" in l1.c).  Any other copy is a miss: the read
 * asks Redis, whose hit replaces the copy (a promotion) and whose miss
 * removes it.  When Redis cannot answer (breaker open, timeout), L1
 * serves what it holds, of any generation: Redis down does not send every
 * read to the database, and cachext.l1_max_ttl bounds how old that is.
 *
 * Invalidation order.  An invalidation reaches Redis first, then L1: a
 * reader that promotes the Redis copy in between took its L1 lease before
 * the L1 removal, which bumps the lease and so refuses the promotion (or
 * removes it, if it came first).  The other order would let the old copy
 * back into L1 until the sync stream, if any, removed it again.  A
 * committing transaction's invalidations go through fence.c instead.
 *
 * Stale copies live in L1 only: an entry is kept in L1 for
 * cachext.stale_ttl past its expiry (see "Stale copies" in l1.c), while
 * Redis gets the plain TTL, so other clients and plain reads see the key
 * expire on time; layers_get_entry() is the one read that returns them.
 *
 * Counters, conditional writes and TTL refreshes are decided by Redis when
 * it is usable and by L1 alone otherwise (see the comment above
 * report_not_integer).  Tags live with L1's entries and in Redis' member
 * sets (l2.c); a tag's invalidation clears both.
 *
 * Values travel to Redis as JSON text exactly as jsonb prints it, so other
 * Redis clients can read and write them.  Text that is not valid JSON reads
 * as a miss and counts as an L2 error.
 *
 * Time is read with ttl_clock_now(): the wall clock (not the
 * transaction's start), so TTLs run in real time; test builds can shift
 * it (ttl_clock.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/int.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "durations.h"
#include "events.h"
#include "guc.h"
#include "keys.h"
#include "l1.h"
#include "l2.h"
#include "l2_queue.h"
#include "l2_stats.h"
#include "layers.h"
#include "op_stats.h"
#include "ttl_clock.h"

/* Keys this long or shorter are built on the stack. */
#define SHORT_KEY_BUFFER 256

/*
 * Writes namespace + key into buffer when it fits (buffer may be NULL),
 * else into palloc'd memory; returns the full key and sets *full_len.
 */
char *
layers_full_key(const char *key, int key_len, char *buffer, int *full_len)
{
	int			prefix_len = strlen(cachext_namespace);
	char	   *result = buffer;

	*full_len = prefix_len + key_len;
	if (buffer == NULL || *full_len > SHORT_KEY_BUFFER)
		result = palloc(*full_len);
	memcpy(result, cachext_namespace, prefix_len);
	memcpy(result + prefix_len, key, key_len);
	return result;
}

/* A hash of the key in this namespace: equal keys, equal hashes. */
uint32
layers_key_hash(const char *key, int key_len)
{
	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = layers_full_key(key, key_len, buffer, &len);

	return hash_bytes((const unsigned char *) full, len);
}

/*
 * The SCAN MATCH pattern of pattern in this namespace: the prefix with its
 * glob metacharacters escaped, then the pattern as given.
 */
static char *
namespace_match(const char *pattern, int pattern_len, int *match_len)
{
	int			prefix_len = strlen(cachext_namespace);
	char	   *match = palloc(2 * prefix_len + pattern_len);

	*match_len = keys_glob_escape(cachext_namespace, prefix_len, match);
	memcpy(match + *match_len, pattern, pattern_len);
	*match_len += pattern_len;
	return match;
}

/*
 * A queued invalidation has reached Redis: it applies to this instance's
 * L1 too.  The queue stands for writes Redis did not take, whose values
 * this L1 may still hold; Redis' invalidation message would not remove them
 * where Redis had no such key (deleting a missing key announces nothing),
 * and L1 would keep, for as long as the TTL, a value Redis does not have.
 */
static void
forget_replayed(L2QueueKind kind, const char *namespace, int namespace_len,
				const char *item, int item_len)
{
	TimestampTz now = ttl_clock_now();

	if (kind == L2_QUEUE_KEY)
		(void) l1_remove(namespace, namespace_len + item_len, now);
	else if (kind == L2_QUEUE_PATTERN)
		(void) l1_remove_matching(namespace, namespace_len, item, item_len,
								  now);
	else if (kind == L2_QUEUE_TAG)
		(void) l1_remove_tagged(namespace, namespace_len, item, item_len, now);
	else
		(void) l1_remove_matching(namespace, namespace_len, "*", 1, now);
}

/*
 * Queues an invalidation of this namespace (a key, a pattern, or all of it)
 * for when Redis can take it.
 */
void
layers_queue_invalidation(L2QueueKind kind, const char *item, int item_len)
{
	l2_queue_add(kind, cachext_namespace, strlen(cachext_namespace),
				 item, item_len);
}

/*
 * May this backend read from Redis now?  Queued invalidations go first: a
 * read must not see a value whose invalidation has not reached Redis.
 */
static bool
can_read_l2(void)
{
	return l2_is_usable() && l2_queue_replay(forget_replayed);
}

/* Before writing to Redis, replays what is queued (when Redis is usable). */
static bool
can_write_l2(void)
{
	if (!l2_is_usable())
		return false;
	(void) l2_queue_replay(forget_replayed);
	return true;
}

/*
 * Replays queued invalidations now, if Redis is usable: the sync worker
 * calls it every pass, so that they reach Redis (and L1) within a pass of
 * Redis answering again, even when no backend uses the cache.
 */
void
layers_replay_queue(void)
{
	if (l2_is_usable())
		(void) l2_queue_replay(forget_replayed);
}

/*
 * Parses JSON text read from Redis, which holds UTF-8 for every client and
 * every database.  Invalid text (not JSON, not UTF-8, containing NUL, or
 * with a character this database's encoding lacks) is a miss counted as an
 * L2 error, never an ERROR: only data errors of the conversion and of
 * jsonb_in are caught, anything else (a cancel, out of memory) propagates.
 */
static Jsonb *
parse_json_text(const L2Value *value)
{
	MemoryContext context = CurrentMemoryContext;
	Jsonb	   *volatile result = NULL;

	if (strlen(value->data) != (size_t) value->len ||
		!pg_verify_mbstr(PG_UTF8, value->data, value->len, true))
	{
		l2_stats_count(L2_ERRORS, 1);
		return NULL;
	}
	PG_TRY();
	{
		char	   *text = pg_any_to_server(value->data, value->len, PG_UTF8);

		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			category;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
		if (category != ERRCODE_DATA_EXCEPTION &&
			category != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
		l2_stats_count(L2_ERRORS, 1);
	}
	PG_END_TRY();
	return result;
}

static bool read_from_l2(char **full, const int *full_lens, int namespace_len,
						 const int *missing, int nmissing, Jsonb **values,
						 Jsonb *const *held);

/*
 * Sets *expires_at to ttl_ms milliseconds after now; false when that is
 * beyond the timestamps PostgreSQL represents.
 */
static bool
expiry_after(TimestampTz now, int64 ttl_ms, TimestampTz *expires_at)
{
	return !pg_mul_s64_overflow(ttl_ms, 1000, expires_at) &&
		!pg_add_s64_overflow(*expires_at, now, expires_at) &&
		IS_VALID_TIMESTAMP(*expires_at);
}

/*
 * With Redis configured, an L1 entry is a copy of a Redis value: it expires
 * within cachext.l1_max_ttl (0: no bound) of being stored, however long
 * Redis keeps the value.  That bounds how long L1 can serve a value Redis
 * no longer holds when no invalidation message reaches it: Redis refuses
 * client tracking, or the sync worker's stream is down.
 */
static TimestampTz
bounded_l1_expiry(TimestampTz now, TimestampTz expires_at)
{
	TimestampTz bound;

	if (cachext_l1_max_ttl_ms == 0 ||
		!expiry_after(now, cachext_l1_max_ttl_ms, &bound))
		return expires_at;
	return Min(expires_at, bound);
}

/*
 * A hash of JSON text written to Redis: L1 remembers it for this
 * instance's own writes, and the sync worker compares it with what Redis
 * holds (see "Own writes" in l1.c).
 */
uint64
layers_text_hash(const char *text, size_t len)
{
	return hash_bytes_extended((const unsigned char *) text, len, 0);
}

/*
 * When L1 drops the stale copy of an entry expiring at expires_at: after
 * this session's cachext.stale_ttl (at expires_at if that overflows).
 */
static TimestampTz
keep_until_after(TimestampTz expires_at)
{
	TimestampTz keep_until;

	if (expires_at == CACHEXT_NO_EXPIRY ||
		!expiry_after(expires_at, cachext_stale_ttl_ms, &keep_until))
		return expires_at;
	return keep_until;
}

/*
 * Copies an L2 hit into L1, expiring when Redis would (pttl_ms, or never
 * for CACHEXT_NO_TTL) or at cachext.l1_max_ttl's bound, unless the key's
 * lease, taken before the read was sent, has moved since; true if L1 took
 * it.  Values L1 refuses stay in Redis alone.  The TTL Redis had left is counted from sent_at, when the
 * read was sent, not from now: a backend descheduled between the answer
 * and this store must not keep the copy longer than Redis keeps the key.
 */
static bool
promote(const char *full, int full_len, int namespace_len, const Jsonb *value,
		int64 pttl_ms, TimestampTz sent_at, const L1Lease *lease)
{
	TimestampTz now = ttl_clock_now();
	TimestampTz expires_at = CACHEXT_NO_EXPIRY;

	if (VARSIZE(value) > (Size) cachext_l1_max_value_size_kb * 1024 ||
		pttl_ms == 0)
		return false;
	if (pttl_ms != CACHEXT_NO_TTL &&
		(!expiry_after(sent_at, pttl_ms, &expires_at) || expires_at <= now))
		return false;
	expires_at = bounded_l1_expiry(now, expires_at);
	return l1_store(full, full_len, namespace_len, value, expires_at,
					keep_until_after(expires_at), 0, now, lease,
					NULL) == L1_STORED;
}

/*
 * The generation of L1 entries a read serves without asking Redis (see
 * "Coherence" above): any without Redis, else the store's (a closed one
 * serves none).
 */
static uint64
served_generation(void)
{
	return l2_is_configured() ? l1_generation() : L1_ANY_GENERATION;
}

/*
 * Looks a full key up in L1 for a read serving generation: returns an
 * entry it may serve, and sets *held to a copy of another generation,
 * which it may serve only if Redis cannot answer.  With a closed
 * generation L1 is not looked at (fallback_lookup does, if Redis fails).
 */
static Jsonb *
lookup_served(const char *full, int full_len, TimestampTz now,
			  int64 stale_us, uint64 generation, L1EntryMeta *meta,
			  Jsonb **held)
{
	Jsonb	   *value;

	*held = NULL;
	if (!L1_GENERATION_IS_OPEN(generation))
		return NULL;
	value = l1_lookup_entry(full, full_len, strlen(cachext_namespace), now,
							stale_us, generation, meta);
	if (value != NULL && meta->other_generation)
	{
		*held = value;
		return NULL;
	}
	return value;
}

/*
 * What L1 serves for a key when Redis cannot answer a read that served
 * generation: what lookup_served held, or, with a closed generation, the
 * key's entry of any generation, looked up now.
 */
static Jsonb *
fallback_lookup(const char *full, int full_len, TimestampTz now,
				int64 stale_us, uint64 generation, L1EntryMeta *meta,
				Jsonb *held)
{
	if (L1_GENERATION_IS_OPEN(generation))
		return held;
	return l1_lookup_entry(full, full_len, strlen(cachext_namespace), now,
						   stale_us, L1_ANY_GENERATION, meta);
}

/*
 * Reads nkeys keys into values[] (NULL for a miss): L1 first, then the
 * keys L1 missed in one round trip to Redis (MGET with a PTTL per key),
 * promoting what Redis had under leases taken before the round trip.  If
 * Redis cannot answer, L1 serves what it holds (see "Coherence").
 */
void
layers_get_multi(int nkeys, const char *const *keys, const int *key_lens,
				 Jsonb **values)
{
	TimestampTz now = ttl_clock_now();
	uint64		generation = served_generation();
	char	  **full = palloc(nkeys * sizeof(char *));
	int		   *full_lens = palloc(nkeys * sizeof(int));
	int		   *missing = palloc(nkeys * sizeof(int));
	Jsonb	  **held = palloc(nkeys * sizeof(Jsonb *));
	L1EntryMeta meta;
	int			nmissing = 0;

	for (int i = 0; i < nkeys; i++)
	{
		full[i] = layers_full_key(keys[i], key_lens[i], NULL, &full_lens[i]);
		values[i] = lookup_served(full[i], full_lens[i], now, 0, generation,
								  &meta, &held[i]);
		if (values[i] == NULL)
			missing[nmissing++] = i;
	}
	if (read_from_l2(full, full_lens, strlen(cachext_namespace), missing,
					 nmissing, values, held))
		return;
	for (int m = 0; m < nmissing; m++)
	{
		int			i = missing[m];

		values[i] = fallback_lookup(full[i], full_lens[i], now, 0, generation,
									&meta, held[i]);
	}
}

/*
 * Reads the nmissing keys full[missing[...]] that L1 missed from Redis
 * into values[] (left as they are for a miss), in one round trip (MGET
 * with a PTTL per key), promoting what Redis had under leases taken before
 * the round trip; held[i] is a copy L1 holds of another generation, which
 * Redis' miss removes.  The keys' namespace is namespace_len bytes long.
 * False if Redis could not answer.
 */
static bool
read_from_l2(char **full, const int *full_lens, int namespace_len,
			 const int *missing, int nmissing, Jsonb **values,
			 Jsonb *const *held)
{
	const char **missing_keys;
	int		   *missing_lens;
	L2Value    *found;
	L1Lease    *leases;
	TimestampTz sent_at;
	int64		promotions = 0;

	if (nmissing == 0)
		return true;
	if (!can_read_l2())
		return false;

	missing_keys = palloc(nmissing * sizeof(char *));
	missing_lens = palloc(nmissing * sizeof(int));
	found = palloc(nmissing * sizeof(L2Value));
	leases = palloc(nmissing * sizeof(L1Lease));
	for (int m = 0; m < nmissing; m++)
	{
		missing_keys[m] = full[missing[m]];
		missing_lens[m] = full_lens[missing[m]];
		l1_take_lease(missing_keys[m], missing_lens[m], &leases[m]);
	}
	sent_at = ttl_clock_now();
	if (!l2_get_multi(nmissing, missing_keys, missing_lens, found))
		return false;

	for (int m = 0; m < nmissing; m++)
	{
		int			i = missing[m];
		Jsonb	   *value = NULL;

		if (!found[m].found)
		{
			/* Redis no longer holds what L1 kept from before */
			if (held[i] != NULL)
				(void) l1_remove(full[i], full_lens[i], sent_at);
		}
		else
			value = parse_json_text(&found[m]);
		l2_stats_count_key(value != NULL ? L2_HITS : L2_MISSES, full[i],
						   full_lens[i], namespace_len);
		if (value == NULL)
			continue;
		values[i] = value;
		if (promote(full[i], full_lens[i], namespace_len, values[i],
					found[m].pttl_ms, sent_at, &leases[m]))
			promotions++;
	}
	l2_stats_count(L2_PROMOTIONS, promotions);
	return true;
}

/*
 * Warm restarts (warm_restart.c): copies nkeys full keys of one namespace
 * (namespace_len bytes) from Redis into L1, as a read that L1 missed
 * would, under the same leases and with the TTL Redis has left; keys
 * Redis lacks are left alone.  The caller's database encoding is the
 * keys' one.  False if Redis could not answer.
 */
bool
layers_reload(int nkeys, char **full, const int *full_lens, int namespace_len)
{
	int		   *missing = palloc(nkeys * sizeof(int));
	Jsonb	  **values = palloc0(nkeys * sizeof(Jsonb *));
	Jsonb	  **held = palloc0(nkeys * sizeof(Jsonb *));

	for (int i = 0; i < nkeys; i++)
		missing[i] = i;
	return read_from_l2(full, full_lens, namespace_len, missing, nkeys,
						values, held);
}

/* The value stored under key in this namespace, or NULL on a miss. */
Jsonb *
layers_get(const char *key, int key_len)
{
	Jsonb	   *value;

	layers_get_multi(1, &key, &key_len, &value);
	return value;
}

/*
 * The read of cache_get_or_set: as layers_get, but an L1 entry expired for
 * less than stale_us (and still kept, see "Stale copies" in l1.c) is
 * returned when Redis has no fresh value, with meta->stale set (when Redis
 * cannot answer, one of any generation, as layers_get_multi does).  meta
 * tells the entry's expiry and load duration when L1 had it; for a value
 * from Redis it says no expiry and no load duration.
 */
Jsonb *
layers_get_entry(const char *key, int key_len, int64 stale_us,
				 L1EntryMeta *meta)
{
	int			len;
	char	   *full = layers_full_key(key, key_len, NULL, &len);
	TimestampTz now = ttl_clock_now();
	uint64		generation = served_generation();
	Jsonb	   *held;
	Jsonb	   *value = lookup_served(full, len, now, stale_us, generation,
									  meta, &held);
	Jsonb	   *fresh = NULL;
	int			missing = 0;

	if (value != NULL && !meta->stale)
		return value;
	if (!read_from_l2(&full, &len, strlen(cachext_namespace), &missing, 1,
					  &fresh, &held))
		return value != NULL ? value :
			fallback_lookup(full, len, now, stale_us, generation, meta, held);
	if (fresh == NULL)
		return value;
	meta->stale = false;
	meta->expires_at = CACHEXT_NO_EXPIRY;
	meta->load_us = 0;
	return fresh;
}

/*
 * Reads key's lease in both layers, for a later layers_set() of a value
 * loaded now.  Without a usable Redis only the L1 part is taken, and such a
 * load will not be stored in Redis.
 */
void
layers_take_lease(const char *key, int key_len, LayersLease *lease)
{
	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = layers_full_key(key, key_len, buffer, &len);

	l1_take_lease(full, len, &lease->l1);
	lease->in_l2 = can_write_l2() && l2_read_lease(full, len, &lease->l2);
}

/* Raises the error of a value L1 cannot hold when there is no L2 for it. */
static void
report_too_large_for_l1(int full_len, Size value_len, bool over_limit)
{
	if (over_limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache value is too large"),
				 errdetail("The value takes %zu bytes; cachext.l1_max_value_size is %d kB.",
						   value_len, cachext_l1_max_value_size_kb),
				 errhint("Cache a smaller value, or raise cachext.l1_max_value_size.")));
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("cache entry does not fit in an L1 partition"),
			 errdetail("Key and value need %zu bytes; each of the L1 partitions holds %zu bytes.",
					   l1_entry_footprint(full_len, value_len),
					   l1_partition_capacity()),
			 errhint("Raise cachext.l1_memory or lower cachext.l1_partitions.")));
}

/* Raises the error of a value whose JSON text Redis would refuse. */
static void
report_too_large_for_redis(size_t json_len)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("cache value is too large for Redis"),
			 errdetail("The value's JSON text takes %zu bytes; Redis takes at most %zu bytes in one string.",
					   json_len, L2_MAX_VALUE_LENGTH),
			 errhint("Cache a smaller value, or one with fewer characters that JSON escapes.")));
}

/*
 * The L1 expiry of an entry stored now for ttl_ms (CACHEXT_NO_TTL: none);
 * an error when that is beyond the timestamps PostgreSQL represents.
 */
static TimestampTz
expiry_for_ttl(TimestampTz now, int64 ttl_ms)
{
	TimestampTz expires_at = CACHEXT_NO_EXPIRY;

	if (ttl_ms != CACHEXT_NO_TTL && !expiry_after(now, ttl_ms, &expires_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache TTL is too large"),
				 errdetail("The entry would expire beyond the largest timestamp PostgreSQL represents."),
				 errhint("Pass a smaller TTL, or NULL for an entry that never expires.")));
	return expires_at;
}

/* A value on its way into the layers, checked by prepare_value. */
typedef struct PreparedValue
{
	const Jsonb *value;
	TimestampTz now;
	TimestampTz expires_at;		/* L1's; CACHEXT_NO_EXPIRY for none */
	bool		over_limit;		/* above cachext.l1_max_value_size */
	char	   *json;			/* the JSON text in UTF-8, with Redis
								 * configured */
	size_t		json_len;
	uint64		own_text_hash;	/* layers_text_hash of json */
} PreparedValue;

/*
 * Checks that value can be stored for ttl_ms and prepares it: its expiry
 * (bounded by cachext.l1_max_ttl with Redis configured), and its JSON text
 * and that text's hash (see "Own writes" in l1.c) when Redis is
 * configured.  Raises the errors of a
 * value no layer could take, before any layer changes.
 */
static void
prepare_value(const Jsonb *value, int64 ttl_ms, PreparedValue *p)
{
	Size		value_len = VARSIZE(value);

	p->value = value;
	p->now = ttl_clock_now();
	p->expires_at = expiry_for_ttl(p->now, ttl_ms);
	p->json = NULL;
	p->json_len = 0;
	p->own_text_hash = 0;

	/*
	 * With Redis configured, a value must fit Redis: escapes can make the
	 * text of a jsonb (at most 256 MB) longer than Redis takes, and a value
	 * kept in L1 alone would be one Redis' invalidation messages cannot
	 * reach.  Checked before either layer changes, so a refused write leaves
	 * both as they were.
	 */
	if (l2_is_configured())
	{
		p->json = JsonbToCString(NULL, (JsonbContainer *) &value->root,
								 value_len);
		/* Redis holds UTF-8, whatever this database's encoding */
		p->json = pg_server_to_any(p->json, strlen(p->json), PG_UTF8);
		p->json_len = strlen(p->json);
		if (p->json_len > L2_MAX_VALUE_LENGTH)
			report_too_large_for_redis(p->json_len);
		p->own_text_hash = layers_text_hash(p->json, p->json_len);
		p->expires_at = bounded_l1_expiry(p->now, p->expires_at);
	}
	p->over_limit = value_len > (Size) cachext_l1_max_value_size_kb * 1024;
	if (p->over_limit && !l2_is_configured())
		report_too_large_for_l1(0, value_len, true);
}

/*
 * Stores a prepared value in L1 (with tags_len bytes of tags), unless it
 * is over cachext.l1_max_value_size; with Redis configured, as this
 * instance's own write.  A value L1 cannot hold is an error
 * when there is no Redis to hold it instead.
 */
static L1StoreResult
store_in_l1(const char *full, int full_len, const PreparedValue *p,
			const char *tags, int tags_len, int64 load_us,
			const L1Lease *lease)
{
	L1StoreResult result;

	if (p->over_limit)
		return L1_TOO_LARGE;
	result = l1_store_tagged(full, full_len, strlen(cachext_namespace),
							 p->value, tags, tags_len, p->expires_at,
							 keep_until_after(p->expires_at), load_us, p->now,
							 lease,
							 l2_is_configured() ? &p->own_text_hash : NULL);
	if (result == L1_TOO_LARGE && !l2_is_configured())
		report_too_large_for_l1(full_len, VARSIZE(p->value) + tags_len, false);
	return result;
}

/* Tags as L1 keeps them: each NUL-terminated, one after the other. */
static char *
tags_for_l1(const LayersTags *tags, int *len)
{
	char	   *blob;
	char	   *p;

	*len = 0;
	if (tags == NULL)
		return NULL;
	for (int i = 0; i < tags->ntags; i++)
		*len += tags->tag_lens[i] + 1;
	p = blob = palloc(Max(*len, 1));
	for (int i = 0; i < tags->ntags; i++)
	{
		memcpy(p, tags->tags[i], tags->tag_lens[i]);
		p += tags->tag_lens[i];
		*p++ = '\0';
	}
	return blob;
}

/*
 * Stores value under key for ttl_ms milliseconds (CACHEXT_NO_TTL: until
 * evicted or invalidated), in L1 and in Redis; returns whether some layer
 * took it.  load_us is how long loading the value took (0: not loaded), and
 * L1 keeps its stale copy for cachext.stale_ttl past the expiry.  A value
 * L1 cannot hold goes to Redis alone when Redis is configured.  With a lease
 * (from layers_take_lease), stores nothing if the key was written or
 * invalidated since, in either layer: the newer write or invalidation wins,
 * L1 checking its sequence under its lock and Redis its own in the script
 * that stores.
 */
bool
layers_set(const char *key, int key_len, const Jsonb *value, int64 ttl_ms,
		   int64 load_us, const LayersLease *lease)
{
	return layers_set_tagged(key, key_len, value, ttl_ms, load_us, lease,
							 NULL);
}

/*
 * layers_set with tags (NULL: none): L1 keeps them with the entry, Redis
 * records the key in each tag's member set in the script that stores it.
 */
bool
layers_set_tagged(const char *key, int key_len, const Jsonb *value,
				  int64 ttl_ms, int64 load_us, const LayersLease *lease,
				  const LayersTags *tags)
{
	char		buffer[SHORT_KEY_BUFFER];
	int			len;
	char	   *full = layers_full_key(key, key_len, buffer, &len);
	PreparedValue p;
	int			tags_len;
	char	   *l1_tags = tags_for_l1(tags, &tags_len);
	L1StoreResult result;
	bool		in_l1;

	prepare_value(value, ttl_ms, &p);
	result = store_in_l1(full, len, &p, l1_tags, tags_len, load_us,
						 lease ? &lease->l1 : NULL);
	if (result == L1_LEASE_LOST)
		return false;
	in_l1 = result == L1_STORED;
	if (!l2_is_configured())
		return in_l1;

	/* An older value in L1 must not hide the one Redis alone now holds. */
	if (!in_l1)
		l1_remove(full, len, p.now);
	if (lease != NULL && !lease->in_l2)
	{
		/*
		 * Redis cannot check this lease, so the value is not written there;
		 * but what Redis holds may differ from the value L1 just took, so the
		 * key is queued like a write Redis did not take: its replay removes
		 * the key from both layers.
		 */
		if (in_l1)
			layers_queue_invalidation(L2_QUEUE_KEY, key, key_len);
		return in_l1;
	}
	if (can_write_l2())
	{
		bool		stored = true;
		bool		answered;

		if (lease == NULL && tags == NULL)
			answered = l2_set(full, len, p.json, p.json_len, ttl_ms);
		else
		{
			L2Write		write = {full, len, p.json, p.json_len, ttl_ms};

			write.lease = lease ? &lease->l2 : NULL;
			if (tags != NULL)
			{
				char	  **full_tags = palloc(tags->ntags * sizeof(char *));
				int		   *full_tag_lens = palloc(tags->ntags * sizeof(int));

				for (int i = 0; i < tags->ntags; i++)
					full_tags[i] = layers_full_key(tags->tags[i],
												   tags->tag_lens[i], NULL,
												   &full_tag_lens[i]);
				write.ntags = tags->ntags;
				write.tags = (const char *const *) full_tags;
				write.tag_lens = full_tag_lens;
			}
			answered = l2_write(&write, &stored);
		}
		if (answered)
		{
			if (!stored)
			{
				/* another instance wrote or invalidated it meanwhile */
				l1_remove(full, len, p.now);
				return false;
			}
			l2_stats_count_key(L2_SETS, full, len, strlen(cachext_namespace));
			return true;
		}
	}
	/* Redis did not take the value, so what it holds for key is stale. */
	layers_queue_invalidation(L2_QUEUE_KEY, key, key_len);
	return in_l1;
}

/*
 * Stores nkeys values under their keys for ttl_ms, in L1 and in Redis in
 * one pipelined round trip.  Every value is checked before any is stored.
 */
void
layers_set_multi(int nkeys, const char *const *keys, const int *key_lens,
				 Jsonb *const *values, int64 ttl_ms)
{
	char	  **full = palloc(nkeys * sizeof(char *));
	int		   *full_lens = palloc(nkeys * sizeof(int));
	PreparedValue *p = palloc(nkeys * sizeof(PreparedValue));
	const char **json = palloc(nkeys * sizeof(char *));
	int		   *json_lens = palloc(nkeys * sizeof(int));

	for (int i = 0; i < nkeys; i++)
	{
		full[i] = layers_full_key(keys[i], key_lens[i], NULL, &full_lens[i]);
		prepare_value(values[i], ttl_ms, &p[i]);
		json[i] = p[i].json;
		json_lens[i] = (int) p[i].json_len;
	}
	for (int i = 0; i < nkeys; i++)
		if (store_in_l1(full[i], full_lens[i], &p[i], NULL, 0, 0, NULL) !=
			L1_STORED && l2_is_configured())
			l1_remove(full[i], full_lens[i], p[i].now);
	if (!l2_is_configured())
		return;
	if (can_write_l2() &&
		l2_set_multi(nkeys, (const char *const *) full, full_lens,
					 (const char *const *) json, json_lens, ttl_ms))
	{
		for (int i = 0; i < nkeys; i++)
			l2_stats_count_key(L2_SETS, full[i], full_lens[i],
							   strlen(cachext_namespace));
		return;
	}
	for (int i = 0; i < nkeys; i++)
		layers_queue_invalidation(L2_QUEUE_KEY, keys[i], key_lens[i]);
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
	char	   *full = layers_full_key(key, key_len, buffer, &len);
	bool		in_l1;
	bool		in_l2 = false;

	/* Redis first, then L1: see "Invalidation order" */
	if (l2_is_configured())
	{
		if (can_write_l2() && l2_unlink(full, len, &in_l2))
			l2_stats_count(L2_INVALIDATIONS, in_l2 ? 1 : 0);
		else
			layers_queue_invalidation(L2_QUEUE_KEY, key, key_len);
	}
	in_l1 = l1_remove(full, len, ttl_clock_now());
	if (announce)
		events_notify_key(key, key_len);
	return in_l1 || in_l2;
}

/*
 * Removes the keys of this namespace that match pattern from Redis (SCAN +
 * UNLINK), queueing the invalidation if Redis cannot be reached; returns
 * how many Redis removed.
 */
int64
layers_invalidate_matching_in_l2(L2QueueKind kind, const char *pattern,
								 int pattern_len)
{
	int			match_len;
	char	   *match;
	int64		removed = 0;

	if (!l2_is_configured())
		return 0;
	match = namespace_match(pattern, pattern_len, &match_len);
	if (can_write_l2() && l2_unlink_matching(match, match_len, &removed))
	{
		l2_stats_count(L2_INVALIDATIONS, removed);
		return removed;
	}
	l2_stats_count(L2_INVALIDATIONS, removed);
	layers_queue_invalidation(kind, pattern,
							  kind == L2_QUEUE_PATTERN ? pattern_len : 0);
	return removed;
}

/*
 * Removes every key of this namespace matching pattern from both layers;
 * returns the larger of the two layers' counts (writes go to both, so a
 * key is normally in Redis whenever it is in L1, and counts once).
 * announce as for layers_invalidate.
 */
int64
layers_invalidate_pattern(const char *pattern, int pattern_len, bool announce)
{
	/* Redis first, then L1: see "Invalidation order" */
	int64		removed_l2 = layers_invalidate_matching_in_l2(L2_QUEUE_PATTERN,
															  pattern,
															  pattern_len);
	int64		removed = l1_remove_matching(cachext_namespace,
											 strlen(cachext_namespace),
											 pattern, pattern_len,
											 ttl_clock_now());

	if (announce)
		events_notify_pattern(pattern, pattern_len);
	return Max(removed, removed_l2);
}

/*
 * Empties L1 (every namespace) and this namespace in Redis; returns the
 * larger of the two counts.
 */
int64
layers_clear(void)
{
	/* Redis first, then L1: see "Invalidation order" */
	int64		dropped_l2 = layers_invalidate_matching_in_l2(L2_QUEUE_NAMESPACE,
															  "*", 1);
	int64		dropped = l1_clear();

	events_notify_clear();
	return Max(dropped, dropped_l2);
}

/*
 * Takes key's load lock in Redis, shared by every instance, for ttl_ms.
 * Returns LAYERS_LOCK_NONE when there is no usable L2 (the load goes on
 * unshared), else whether this backend took it.
 */
LayersLock
layers_lock_load(const char *key, int key_len, const char *token,
				 int64 ttl_ms)
{
	int			len;
	char	   *full = layers_full_key(key, key_len, NULL, &len);
	bool		acquired;

	if (!l2_is_usable() || !l2_lock(full, len, token, ttl_ms, &acquired))
		return LAYERS_LOCK_NONE;
	return acquired ? LAYERS_LOCK_TAKEN : LAYERS_LOCK_BUSY;
}

/* Releases key's load lock if it still holds token. */
void
layers_unlock_load(const char *key, int key_len, const char *token)
{
	int			len;
	char	   *full = layers_full_key(key, key_len, NULL, &len);

	if (l2_is_usable())
		(void) l2_unlock(full, len, token);
}

/*
 * The conditional writes, counters and TTL calls below follow one rule:
 * with Redis usable, Redis decides (it is the truth every instance and
 * client shares), in a script that also bumps the key's write sequence,
 * and L1 then drops or adjusts its copy, moving the key's lease; without
 * Redis (not configured, or failing), L1 decides alone, atomically within
 * the instance by retrying under the key's lease, and a change Redis did
 * not see queues the key's invalidation as any write Redis missed does.
 */

/* Raises cache_incr's error for a value that is not an integer. */
static void
report_not_integer(const char *key, int key_len)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cached value of key \"%.*s\" is not an integer", key_len, key),
			 errdetail("cache_incr() adds to a JSON number with no fraction or exponent, within the range of bigint."),
			 errhint("Store an integer under the key, or count under another key.")));
}

/* Raises cache_incr's error for a result outside bigint's range. */
static void
report_incr_overflow(const char *key, int key_len, int64 by)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("cache_incr() of key \"%.*s\" is out of range for type bigint", key_len, key),
			 errdetail("Adding " INT64_FORMAT " to the cached value would leave the range of bigint.", by)));
}

/*
 * The integer a jsonb holds, by the rule Redis' INCRBY applies to its
 * text: optional minus, digits, within int64; false for anything else.
 */
static bool
jsonb_integer(const Jsonb *value, int64 *result)
{
	char	   *text = JsonbToCString(NULL, (JsonbContainer *) &value->root,
									  VARSIZE(value));
	char	   *digits = text[0] == '-' ? text + 1 : text;
	char	   *end;

	if (digits[0] < '0' || digits[0] > '9' ||
		strspn(digits, "0123456789") != strlen(digits))
		return false;
	errno = 0;
	*result = strtoi64(text, &end, 10);
	return errno == 0 && *end == '\0';
}

/* A jsonb number of an int64. */
static Jsonb *
jsonb_of_integer(int64 n)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(psprintf(INT64_FORMAT, n))));
}

/*
 * L1's side of a read-modify-write without Redis: reads the key's live
 * value and expiry under a lease for the caller to decide on.  The caller
 * stores with the lease and starts again if the lease was lost.
 */
static Jsonb *
read_for_update(const char *full, int full_len, L1Lease *lease,
				TimestampTz now, TimestampTz *expires_at)
{
	l1_take_lease(full, full_len, lease);
	if (!l1_expiry(full, full_len, now, expires_at))
		return NULL;
	return l1_lookup(full, full_len, strlen(cachext_namespace), now);
}

/*
 * cache_incr: adds by to the integer under key, creating it as by with
 * expiry ttl_ms when absent; returns the new value.
 */
int64
layers_incr(const char *key, int key_len, int64 by, int64 ttl_ms)
{
	int			len;
	char	   *full = layers_full_key(key, key_len, NULL, &len);
	int64		result;

	/* a TTL Redis would refuse must not reach it: that would fail Redis */
	(void) expiry_for_ttl(ttl_clock_now(), ttl_ms);
	op_stats_count(OP_INCRS);
	if (can_write_l2())
	{
		L2IncrOutcome outcome;

		if (l2_incr(full, len, by, ttl_ms, &outcome, &result))
		{
			l1_remove(full, len, ttl_clock_now());
			if (outcome == L2_INCR_NOT_INTEGER)
				report_not_integer(key, key_len);
			if (outcome == L2_INCR_OVERFLOW)
				report_incr_overflow(key, key_len, by);
			return result;
		}
	}
	for (;;)
	{
		L1Lease		lease;
		TimestampTz now = ttl_clock_now();
		TimestampTz expires_at;
		Jsonb	   *value = read_for_update(full, len, &lease, now,
											&expires_at);
		int64		current = 0;

		if (value == NULL)
			expires_at = expiry_for_ttl(now, ttl_ms);
		else if (!jsonb_integer(value, &current))
			report_not_integer(key, key_len);
		if (pg_add_s64_overflow(current, by, &result))
			report_incr_overflow(key, key_len, by);
		if (l1_store(full, len, strlen(cachext_namespace),
					 jsonb_of_integer(result), expires_at,
					 keep_until_after(expires_at), 0, now, &lease,
					 NULL) == L1_LEASE_LOST)
			continue;
		if (l2_is_configured())
			layers_queue_invalidation(L2_QUEUE_KEY, key, key_len);
		return result;
	}
}

/*
 * Stores value only if the key is present (if_present) or absent in every
 * layer: Redis' SET XX or NX decides when Redis is usable; true if stored.
 */
static bool
set_if(const char *key, int key_len, const Jsonb *value, int64 ttl_ms,
	   bool if_present)
{
	int			len;
	char	   *full = layers_full_key(key, key_len, NULL, &len);
	PreparedValue p;

	prepare_value(value, ttl_ms, &p);
	if (can_write_l2())
	{
		L2Write		write = {full, len, p.json, p.json_len, ttl_ms};
		bool		stored;

		write.condition = if_present ? "XX" : "NX";
		if (l2_write(&write, &stored))
		{
			if (stored)
			{
				l1_remove(full, len, p.now);
				l2_stats_count_key(L2_SETS, full, len,
								   strlen(cachext_namespace));
			}
			return stored;
		}
	}
	for (;;)
	{
		L1Lease		lease;
		TimestampTz expires_at;
		bool		present = read_for_update(full, len, &lease, p.now,
											  &expires_at) != NULL;
		L1StoreResult result;

		if (present != if_present)
			return false;
		result = store_in_l1(full, len, &p, NULL, 0, 0, &lease);
		if (result == L1_LEASE_LOST)
			continue;
		if (l2_is_configured())
			layers_queue_invalidation(L2_QUEUE_KEY, key, key_len);
		return result == L1_STORED;
	}
}

/* cache_add: stores value only if no layer holds key; true if it stored. */
bool
layers_add(const char *key, int key_len, const Jsonb *value, int64 ttl_ms)
{
	bool		stored = set_if(key, key_len, value, ttl_ms, false);

	if (!stored)
		op_stats_count(OP_ADDS_REFUSED);
	return stored;
}

/* cache_replace: stores value only if key is cached; true if it stored. */
bool
layers_replace(const char *key, int key_len, const Jsonb *value,
			   int64 ttl_ms)
{
	return set_if(key, key_len, value, ttl_ms, true);
}

/*
 * cache_ttl: sets *ttl_ms to key's remaining time to live (CACHEXT_NO_TTL
 * for none), from Redis when Redis holds the key, else from L1; false
 * when neither holds it.
 */
bool
layers_ttl(const char *key, int key_len, int64 *ttl_ms)
{
	int			len;
	char	   *full = layers_full_key(key, key_len, NULL, &len);
	TimestampTz now = ttl_clock_now();
	TimestampTz expires_at;
	int64		pttl_ms;

	if (can_read_l2() && l2_pttl(full, len, &pttl_ms) && pttl_ms != L2_MISSING)
	{
		*ttl_ms = pttl_ms;		/* PTTL answers CACHEXT_NO_TTL for no expiry */
		return true;
	}
	if (!l1_expiry(full, len, now, &expires_at))
		return false;
	*ttl_ms = expires_at == CACHEXT_NO_EXPIRY ? CACHEXT_NO_TTL :
		cachext_usecs_to_ms_ceil(expires_at - now);
	return true;
}

/*
 * cache_touch: gives key a new TTL (CACHEXT_NO_TTL: none) in both layers
 * without rewriting its value; true if it was cached.
 */
bool
layers_touch(const char *key, int key_len, int64 ttl_ms)
{
	int			len;
	char	   *full = layers_full_key(key, key_len, NULL, &len);
	TimestampTz now = ttl_clock_now();
	TimestampTz expires_at = expiry_for_ttl(now, ttl_ms);
	TimestampTz keep_until = keep_until_after(expires_at);
	bool		in_l1;

	if (can_write_l2())
	{
		bool		in_l2;

		if (l2_expire(full, len, ttl_ms, &in_l2))
		{
			if (!in_l2 || !l1_set_expiry(full, len, expires_at, keep_until,
										 now))
				l1_remove(full, len, now);
			return in_l2;
		}
	}
	in_l1 = l1_set_expiry(full, len, expires_at, keep_until, now);
	if (in_l1 && l2_is_configured())
		layers_queue_invalidation(L2_QUEUE_KEY, key, key_len);
	return in_l1;
}

/*
 * Removes the keys stored with tag in this namespace from Redis (the tag's
 * members, which this L1 then drops too: it may hold them promoted, without
 * the tag; other instances' L1s follow Redis' invalidation messages),
 * queueing the invalidation if Redis cannot take it; returns how many
 * Redis removed.
 */
int64
layers_invalidate_tag_in_l2(const char *tag, int tag_len)
{
	int			len;
	char	   *full;
	char	  **members;
	int		   *member_lens;
	int			nmembers;
	int64		removed = 0;

	if (!l2_is_configured())
		return 0;
	full = layers_full_key(tag, tag_len, NULL, &len);
	if (can_write_l2() &&
		l2_invalidate_tag(full, len, &removed, &members, &member_lens,
						  &nmembers))
	{
		TimestampTz now = ttl_clock_now();

		for (int i = 0; i < nmembers; i++)
			l1_remove(members[i], member_lens[i], now);
		l2_stats_count(L2_INVALIDATIONS, removed);
	}
	else
		layers_queue_invalidation(L2_QUEUE_TAG, tag, tag_len);
	return removed;
}

/*
 * cache_invalidate_tag: removes every key stored with tag in this
 * namespace from both layers, Redis first (see "Invalidation order"), then
 * L1's tagged entries.  Returns the larger of the two layers' counts;
 * announce as for layers_invalidate.
 */
int64
layers_invalidate_tag(const char *tag, int tag_len, bool announce)
{
	int64		removed_l2 = layers_invalidate_tag_in_l2(tag, tag_len);
	int64		removed = l1_remove_tagged(cachext_namespace,
										   strlen(cachext_namespace),
										   tag, tag_len, ttl_clock_now());

	op_stats_count(OP_TAG_INVALIDATIONS);
	if (announce)
		events_notify_tag(tag, tag_len);
	return Max(removed, removed_l2);
}
