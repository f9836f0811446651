/*-------------------------------------------------------------------------
 * l2.c
 *	  Redis (L2): running the commands cachext sends (l2_commands.c builds
 *	  them), over this backend's connection, and the per-backend circuit
 *	  breaker.
 *
 * Connection.  Each backend opens its own connection lazily, on its first
 * use of L2, and keeps it across transactions; its state lives in static
 * variables whose strings are in a child of TopMemoryContext, because the
 * connection outlives every transaction.  The node (or, for a Redis
 * Cluster, the node of each key) is found by redis_route.c and spoken to by
 * redis_conn.c.  A failure frees the
 * connection; the next use after cachext.redis_retry_interval opens a new
 * one (finding the node again).  A change of cachext.redis_url, or of a
 * setting that says how to connect (TLS files and verification, Sentinel
 * credentials), is noticed at the next use and reconnects at once.  So is
 * a new master that any process of the instance learned of (l2_master.c):
 * each command first compares this backend's master generation with the
 * instance's, so a connection made before a failover is never used after
 * the instance heard of it, even while the old master is up and still a
 * master.  The socket is closed at backend exit by an on_proc_exit
 * callback.
 *
 * Failures.  A connect error (a TLS certificate that does not verify
 * included), a timeout, a broken connection or an error reply about the
 * server's state (anything but WRONGTYPE, and READONLY behind Sentinels:
 * see check_error_replies) opens this backend's breaker: L2
 * is skipped for cachext.redis_retry_interval, and one WARNING per failure
 * -- so at most one per retry interval -- says so, unless it repeats the
 * reason this backend logged last, before Redis answered again.
 * Neither the password nor any key ever appears in a message.
 *
 * Journal.  Behind Sentinels, every key, pattern and tag a command changed
 * in Redis is recorded, once the master answered, in l2_journal.c, which
 * the sync worker replays as invalidations when the master changes (an
 * acknowledged change may not have reached the new master).
 *
 * Commands.  Every command and script is built by l2_commands.c, with
 * the names of cachext's own keys from l2_keys.c; this file runs them and
 * reads their replies.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "keys.h"
#include "l2.h"
#include "l2_commands.h"
#include "l2_journal.h"
#include "l2_master.h"
#include "l2_stats.h"
#include "redis_route.h"

/* Arguments (keys, mostly) one round trip of fence scripts carries, about. */
#define L2_FENCE_ROUND_ARGS	2048

/*
 * This backend's connection.  connected_url and target's strings live in
 * target_context, a child of TopMemoryContext reset when the URL changes.
 */
static RedisRoute *redis = NULL;
static MemoryContext target_context = NULL;
static char *connected_url = NULL;	/* the cachext.redis_url of target */
static uint64 connected_generation = 0; /* redis_conn_settings_generation
										 * of target */
static RedisTarget target;
static TimestampTz breaker_open_until = 0;
static L2MasterView master_view;	/* the master generation redis follows */
static bool exit_callback_registered = false;

/*
 * The reason of the last failure this backend logged, in TopMemoryContext,
 * until Redis answers again: a failure that repeats it (the same refused
 * certificate or password, retry after retry) is logged at DEBUG1 only.
 */
static char *logged_reason = NULL;

/*
 * Tags need one Redis node: their scripts touch keys of many hash slots,
 * which a cluster refuses (and a queued tag invalidation would then never
 * replay).  Raises the error of a tag used behind redis-cluster://.
 */
void
l2_require_tags_supported(void)
{
	if (redis_url_is_cluster(cachext_redis_url))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cache tags are not supported with Redis Cluster"),
				 errdetail("cachext.redis_url names a cluster; a tag's member set and its keys lie in different hash slots."),
				 errhint("Use a single Redis node or Sentinel for tags, or key prefixes and cache_invalidate_pattern() instead.")));
}

/* L2's shared memory: its counters, the master generation, the journal. */
void
l2_shmem_request(void)
{
	RequestAddinShmemSpace(l2_stats_shmem_size());
	RequestAddinShmemSpace(l2_master_shmem_size());
	l2_journal_shmem_request();
}

void
l2_shmem_startup(void)
{
	l2_stats_shmem_startup();
	l2_master_shmem_startup();
	l2_journal_shmem_startup();
}

/* Frees this backend's connection. */
static void
disconnect(void)
{
	redis_route_close(&redis);
}

/* on_proc_exit callback: a backend leaving closes its socket politely. */
static void
disconnect_at_exit(int code, Datum arg)
{
	disconnect();
}

/*
 * Records a failure: drops the connection, opens the breaker for retry_ms
 * (0: the next use connects again), counts it and says so: one WARNING per
 * failure (failures are at least a retry interval apart since the breaker
 * stops any attempt in between), and only the first of a run of failures
 * with the same reason.
 */
static void
fail_and_retry_after(bool timed_out, const char *reason, int retry_ms)
{
	bool		repeated = logged_reason != NULL &&
		strcmp(logged_reason, reason) == 0;

	if (!repeated)
	{
		if (logged_reason != NULL)
			pfree(logged_reason);
		logged_reason = MemoryContextStrdup(TopMemoryContext, reason);
	}
	disconnect();
	breaker_open_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 retry_ms);
	l2_stats_count(timed_out ? L2_TIMEOUTS : L2_ERRORS, 1);
	l2_stats_set_redis_state(L2_REDIS_DOWN);
	ereport(repeated ? DEBUG1 : WARNING,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("cachext could not use Redis at %s", target.display),
			 errdetail("%s", reason),
			 retry_ms > 0 ?
			 errhint("The cache serves from L1 alone until Redis answers again; "
					 "this backend retries after cachext.redis_retry_interval (%d ms).",
					 retry_ms) :
			 errhint("This backend's next use of Redis connects again, to the master in force.")));
}

/* A failure with the breaker open for cachext.redis_retry_interval. */
static void
fail(bool timed_out, const char *reason)
{
	fail_and_retry_after(timed_out, reason, cachext_redis_retry_interval_ms);
}

/*
 * Runs commands on this backend's connection, failing (breaker, count,
 * WARNING) when Redis cannot answer; true when replies[] is filled.
 */
static bool
run(int ncommands, const RedisCommand *commands, RedisReply **replies)
{
	char	   *reason = NULL;
	RedisConnResult result = redis_route_exchange(redis, ncommands, commands,
												  replies, &reason);

	if (result != REDIS_CONN_OK)
	{
		fail(result == REDIS_CONN_TIMEOUT, reason);
		return false;
	}
	return true;
}

/*
 * An error reply about the server's state (NOAUTH, LOADING, ...) fails the
 * connection like a broken socket; WRONGTYPE is about one key and is only
 * counted.  Behind Sentinels, READONLY says the master was demoted: every
 * process of the instance still following it reconnects (l2_master.c),
 * this one at its next use, without waiting out the breaker, since the
 * master Sentinels name now is most likely up (and a connect confirms
 * with ROLE what it reaches, so this cannot loop).  A URL naming a
 * replica gets READONLY at every write: there it opens the breaker like
 * any fault.  Frees every reply when it fails.
 */
/* The error reply about one key holding another type than the command's */
#define WRONGTYPE_ERROR "WRONGTYPE"
/* The error reply of a replica to a write */
#define READONLY_ERROR "READONLY"

static bool
check_error_replies(RedisReply **replies, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (replies[i]->type != REPLY_ERROR)
			continue;
		if (strncmp(replies[i]->str, WRONGTYPE_ERROR,
					strlen(WRONGTYPE_ERROR)) == 0)
			l2_stats_count(L2_ERRORS, 1);
		else
		{
			char	   *reason = psprintf("Redis answered: %s", replies[i]->str);
			bool		demoted = target.service != NULL &&
				strncmp(replies[i]->str, READONLY_ERROR,
						strlen(READONLY_ERROR)) == 0;

			redis_replies_free(replies, n);
			if (demoted)
				l2_master_demoted(&master_view);
			fail_and_retry_after(false, reason,
								 demoted ? 0 : cachext_redis_retry_interval_ms);
			return false;
		}
	}
	return true;
}

/* Opens this backend's connection, failing (breaker, count, WARNING) if it cannot. */
static bool
connect_to_redis(void)
{
	RedisConnResult result;
	char	   *reason;
	int64		epoch;

	l2_master_view_begin(&master_view, connected_url);
	redis = redis_route_open(&target, master_view.min_epoch, &epoch, &result,
							 &reason);
	if (redis == NULL)
	{
		fail(result == REDIS_CONN_TIMEOUT, reason);
		return false;
	}
	l2_master_reached(&master_view, connected_url, epoch);
	return true;
}

/*
 * Does this backend's target follow the settings: the same
 * cachext.redis_url, and no change since of how to connect (TLS, Sentinel
 * credentials)?  Otherwise it is dropped and the breaker reset, at once.
 */
static bool
following_settings(void)
{
	return connected_url != NULL &&
		strcmp(connected_url, cachext_redis_url) == 0 &&
		connected_generation == redis_conn_settings_generation();
}

/*
 * Makes sure this backend has a connection it may use: follows changes of
 * cachext.redis_url, honours the breaker, and connects when needed.
 */
static bool
ensure_connected(void)
{
	if (!following_settings())
	{
		MemoryContext old_context;
		const char *problem;

		disconnect();
		breaker_open_until = 0;
		if (target_context == NULL)
			target_context = AllocSetContextCreate(TopMemoryContext,
												   "cachext redis target",
												   ALLOCSET_SMALL_SIZES);
		MemoryContextReset(target_context);
		old_context = MemoryContextSwitchTo(target_context);
		connected_url = pstrdup(cachext_redis_url);
		connected_generation = redis_conn_settings_generation();
		/* check_redis_url accepted it, so this parse succeeds */
		if (!redis_route_parse(connected_url, &target, &problem))
			elog(ERROR, "cachext.redis_url was accepted but does not parse");
		MemoryContextSwitchTo(old_context);
	}
	if (redis != NULL && l2_master_moved(&master_view))
		disconnect();			/* made before the instance's latest master */
	if (redis != NULL)
		return true;
	if (GetCurrentTimestamp() < breaker_open_until)
		return false;
	if (!exit_callback_registered)
	{
		on_proc_exit(disconnect_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	/*
	 * A connection alone does not say Redis is up: the kernel accepts it
	 * even while Redis is stopped.  The first answer (connect_and_run) does.
	 */
	return connect_to_redis();
}

/* An empty cachext.redis_url means L1 alone. */
bool
l2_is_configured(void)
{
	return cachext_redis_url != NULL && cachext_redis_url[0] != '\0';
}

/*
 * Whether a call would try Redis now: connected, or the breaker closed, or
 * a new URL (which resets the breaker).  Cheap: no system call but the clock.
 */
bool
l2_is_usable(void)
{
	if (!l2_is_configured())
		return false;
	if (redis != NULL)
		return true;
	return !following_settings() ||
		GetCurrentTimestamp() >= breaker_open_until;
}

/* Connects when needed and runs the commands; the common path of every call. */
static bool
connect_and_run(int ncommands, const RedisCommand *commands,
				RedisReply **replies)
{
	if (!l2_is_configured() || !ensure_connected())
		return false;
	if (!run(ncommands, commands, replies))
		return false;
	if (!check_error_replies(replies, ncommands))
		return false;
	l2_stats_set_redis_state(L2_REDIS_UP);
	if (logged_reason != NULL)
	{
		pfree(logged_reason);
		logged_reason = NULL;
	}
	return true;
}

/* Runs one command; the caller frees *reply. */
static bool
connect_and_run_one(RedisCommand cmd, RedisReply **reply)
{
	return connect_and_run(1, &cmd, reply);
}

/*
 * Behind Sentinels, records in the journal (l2_journal.c) that full, a key,
 * tag or SCAN pattern of this namespace (namespace + item; a pattern's
 * namespace glob-escaped), changed in Redis (the master answered), so that
 * a master change replays it as an invalidation.  A change Redis did not
 * take is queued by the caller instead.  Items of another namespace (a
 * queued invalidation replayed after cachext.namespace changed) are not
 * recorded: the journal names each item's namespace, since a journal that
 * overflows falls back to invalidating whole namespaces.
 */
static void
journal_change(L2QueueKind kind, const char *full, int full_len)
{
	const char *namespace = cachext_namespace;
	int			namespace_len = strlen(namespace);
	const char *prefix = namespace;
	int			prefix_len = namespace_len;

	if (target.service == NULL)
		return;
	if (kind == L2_QUEUE_PATTERN)
	{
		char	   *escaped = palloc(2 * namespace_len + 1);

		prefix_len = keys_glob_escape(namespace, namespace_len, escaped);
		prefix = escaped;
	}
	if (full_len < prefix_len || memcmp(full, prefix, prefix_len) != 0)
		return;
	l2_journal_add(kind, namespace, namespace_len, full + prefix_len,
				   full_len - prefix_len);
}

/* Copies a string reply into *value (a miss for nil or any other type). */
static void
take_value(RedisReply *reply, L2Value *value)
{
	value->found = false;
	value->data = NULL;
	value->len = 0;
	value->pttl_ms = CACHEXT_NO_TTL;
	if (reply->type != REPLY_STRING)
		return;
	value->found = true;
	value->data = pnstrdup(reply->str, reply->len);
	value->len = (int) reply->len;
}

/*
 * Reads keys in one round trip: GET (one key) or MGET, pipelined with a
 * PTTL per key so that a promotion keeps Redis' remaining TTL.  A key
 * that expired between the two commands (PTTL -2) reads as a miss.
 */
bool
l2_get_multi(int nkeys, const char *const *keys, const int *key_lens,
			 L2Value *values)
{
	int			ncommands = nkeys + 1;
	RedisCommand *commands = l2_commands_get_multi(nkeys, keys, key_lens);
	RedisReply **replies = palloc(ncommands * sizeof(RedisReply *));

	if (!connect_and_run(ncommands, commands, replies))
		return false;

	for (int i = 0; i < nkeys; i++)
	{
		RedisReply *got = nkeys == 1 ? replies[0] :
			(replies[0]->type == REPLY_ARRAY &&
			 replies[0]->elements == (size_t) nkeys) ?
			replies[0]->element[i] : NULL;
		RedisReply *pttl = replies[i + 1];

		if (got == NULL)
		{
			values[i].found = false;
			values[i].data = NULL;
			continue;
		}
		take_value(got, &values[i]);
		if (values[i].found && pttl->type == REPLY_INTEGER)
		{
			if (pttl->integer == L2_MISSING)
			{
				pfree(values[i].data);
				values[i].found = false;
				values[i].data = NULL;
			}
			else if (pttl->integer >= 0)
				values[i].pttl_ms = pttl->integer;
		}
	}
	redis_replies_free(replies, ncommands);
	return true;
}


/*
 * SET key value [PX ttl_ms] (ttl_ms < 0 stores without expiry), bumping
 * the key's write sequence in the same round trip so that a load begun
 * before this write does not overwrite it.
 */
bool
l2_set(const char *key, int key_len, const char *value, int value_len,
	   int64 ttl_ms)
{
	return l2_set_multi(1, &key, &key_len, &value, &value_len, ttl_ms);
}

/*
 * l2_set of nkeys keys in one pipelined round trip: a SET and the bump of
 * its write sequence per key.
 */
bool
l2_set_multi(int nkeys, const char *const *keys, const int *key_lens,
			 const char *const *values, const int *value_lens, int64 ttl_ms)
{
	int			ncommands = L2_COMMANDS_SET * nkeys;
	RedisCommand *commands = palloc(ncommands * sizeof(RedisCommand));
	RedisReply **replies = palloc(ncommands * sizeof(RedisReply *));

	for (int i = 0; i < nkeys; i++)
		l2_commands_set(&commands[L2_COMMANDS_SET * i], keys[i], key_lens[i],
						values[i], value_lens[i], ttl_ms);
	if (!connect_and_run(ncommands, commands, replies))
		return false;
	redis_replies_free(replies, ncommands);
	for (int i = 0; i < nkeys; i++)
		journal_change(L2_QUEUE_KEY, keys[i], key_lens[i]);
	return true;
}

/* UNLINK key, bumping its write sequence; *existed says whether Redis held it. */
bool
l2_unlink(const char *key, int key_len, bool *existed)
{
	RedisCommand commands[L2_COMMANDS_UNLINK];
	RedisReply *replies[L2_COMMANDS_UNLINK];

	l2_commands_unlink(commands, key, key_len);
	if (!connect_and_run(lengthof(commands), commands, replies))
		return false;
	journal_change(L2_QUEUE_KEY, key, key_len);
	*existed = replies[0]->type == REPLY_INTEGER && replies[0]->integer > 0;
	redis_replies_free(replies, lengthof(replies));
	return true;
}

/*
 * Reads the Redis side of key's lease: its write sequence and the epoch of
 * pattern invalidations (created when missing: see l2_commands.c).
 */
bool
l2_read_lease(const char *key, int key_len, L2Lease *lease)
{
	RedisReply *reply;
	bool		ok;

	if (!connect_and_run_one(l2_commands_lease_read(key, key_len), &reply))
		return false;
	ok = l2_commands_take_lease(reply, lease);
	redis_reply_free(reply);
	return ok;
}

/*
 * Writes one key as write says (l2_commands_write's script): under a
 * lease (refused while the key or the patterns are fenced) or not,
 * conditionally or not, with tags or not.  *stored says whether it wrote.
 */
bool
l2_write(const L2Write *write, bool *stored)
{
	RedisReply *reply;

	if (!connect_and_run_one(l2_commands_write(write), &reply))
		return false;
	journal_change(L2_QUEUE_KEY, write->key, write->key_len);
	*stored = reply->type == REPLY_INTEGER && reply->integer == 1;
	redis_reply_free(reply);
	return true;
}

/*
 * Is a script's reply the pair {integer, second_type} it answers?  If not,
 * frees it and fails the connection (saying what the script was for).
 */
static bool
is_pair_reply(RedisReply *reply, RedisReplyType second_type, const char *what)
{
	if (reply->type == REPLY_ARRAY && reply->elements == 2 &&
		reply->element[0]->type == REPLY_INTEGER &&
		reply->element[1]->type == second_type)
		return true;
	redis_reply_free(reply);
	fail(false, psprintf("Redis answered %s with an unexpected reply.", what));
	return false;
}

/*
 * INCRBY key by, creating it with expiry ttl_ms (< 0: none) when absent
 * (l2_commands.c's script).  Once Redis answered, *outcome says how it went:
 * done (*result is the new value), or Redis refused a value that is not
 * an integer or an overflow.
 */
bool
l2_incr(const char *key, int key_len, int64 by, int64 ttl_ms,
		L2IncrOutcome *outcome, int64 *result)
{
	RedisReply *reply;

	if (!connect_and_run_one(l2_commands_incr(key, key_len, by, ttl_ms),
							 &reply))
		return false;
	journal_change(L2_QUEUE_KEY, key, key_len);
	if (!is_pair_reply(reply, REPLY_STRING, "an increment"))
		return false;
	if (reply->element[0]->integer == 0)
		*outcome = strstr(reply->element[1]->str, "overflow") != NULL ?
			L2_INCR_OVERFLOW : L2_INCR_NOT_INTEGER;
	else
	{
		*outcome = L2_INCR_DONE;
		*result = strtoi64(reply->element[1]->str, NULL, 10);
	}
	redis_reply_free(reply);
	return true;
}

/* PTTL key: its remaining TTL in ms, CACHEXT_NO_TTL, or L2_MISSING. */
bool
l2_pttl(const char *key, int key_len, int64 *pttl_ms)
{
	RedisReply *reply;

	if (!connect_and_run_one(l2_commands_pttl(key, key_len), &reply))
		return false;
	*pttl_ms = reply->type == REPLY_INTEGER ? reply->integer : L2_MISSING;
	redis_reply_free(reply);
	return true;
}

/*
 * Gives key a new TTL (ttl_ms < 0: none) if Redis holds it, bumping its
 * write sequence (l2_commands.c's script); *existed says whether it did.
 */
bool
l2_expire(const char *key, int key_len, int64 ttl_ms, bool *existed)
{
	RedisReply *reply;

	if (!connect_and_run_one(l2_commands_expire(key, key_len, ttl_ms),
							 &reply))
		return false;
	journal_change(L2_QUEUE_KEY, key, key_len);
	*existed = reply->type == REPLY_INTEGER && reply->integer == 1;
	redis_reply_free(reply);
	return true;
}

/*
 * Invalidates a tag (tag: namespace + tag) in one script (l2_commands.c's):
 * every member key unlinked, the member set deleted, the epoch bumped.
 * Sets *removed to the number of keys Redis held and *members to the
 * member keys (palloc'd, *nmembers of them, lengths in *member_lens), for
 * the caller to drop from L1.
 */
bool
l2_invalidate_tag(const char *tag, int tag_len, int64 *removed,
				  char ***members, int **member_lens, int *nmembers)
{
	RedisReply *reply;
	RedisReply *keys;

	if (!connect_and_run_one(l2_commands_tag_invalidate(tag, tag_len),
							 &reply))
		return false;
	journal_change(L2_QUEUE_TAG, tag, tag_len);
	if (!is_pair_reply(reply, REPLY_ARRAY, "a tag invalidation"))
		return false;
	keys = reply->element[1];
	*removed = reply->element[0]->integer;
	*nmembers = (int) keys->elements;
	*members = palloc(Max(*nmembers, 1) * sizeof(char *));
	*member_lens = palloc(Max(*nmembers, 1) * sizeof(int));
	for (int i = 0; i < *nmembers; i++)
	{
		(*members)[i] = pnstrdup(keys->element[i]->str, keys->element[i]->len);
		(*member_lens)[i] = (int) keys->element[i]->len;
	}
	redis_reply_free(reply);
	return true;
}

/*
 * Unlinks every key matching a SCAN MATCH pattern on one master, one SCAN
 * page (COUNT SCAN_PAGE_KEYS) and one UNLINK at a time; never KEYS, which
 * blocks Redis.  Adds to *removed the cache entries it unlinked.
 */
static bool
unlink_matching_on(int master, const char *match, int match_len,
				   int64 *removed)
{
	char	   *cursor = pstrdup("0");

	do
	{
		RedisCommand scan = l2_commands_scan(cursor, match, match_len);
		RedisReply *page;
		RedisReply *keys;
		char	   *reason;
		RedisConnResult result;

		result = redis_route_exchange_on(redis, master, 1, &scan, &page,
										 &reason);
		if (result != REDIS_CONN_OK)
		{
			fail(result == REDIS_CONN_TIMEOUT, reason);
			return false;
		}
		if (!check_error_replies(&page, 1))
			return false;
		if (page->type != REPLY_ARRAY || page->elements != 2 ||
			page->element[0]->type != REPLY_STRING ||
			page->element[1]->type != REPLY_ARRAY)
		{
			redis_reply_free(page);
			fail(false, "Redis answered SCAN with an unexpected reply.");
			return false;
		}
		cursor = pnstrdup(page->element[0]->str, page->element[0]->len);
		keys = page->element[1];
		if (keys->elements > 0)
		{
			RedisCommand unlink[L2_COMMANDS_PAGE_UNLINKS];
			RedisReply *counts[L2_COMMANDS_PAGE_UNLINKS];
			bool		first_counts;
			int			ncommands = l2_commands_unlink_page(keys, unlink,
															&first_counts);

			if (ncommands > 0 && !connect_and_run(ncommands, unlink, counts))
			{
				redis_reply_free(page);
				return false;
			}
			if (first_counts && counts[0]->type == REPLY_INTEGER)
				*removed += counts[0]->integer;
			redis_replies_free(counts, ncommands);
		}
		redis_reply_free(page);
	} while (strcmp(cursor, "0") != 0);
	return true;
}

/*
 * Unlinks every key matching a SCAN MATCH pattern, on every master (one
 * node, or each master of a cluster).  The epoch is bumped first, so
 * loads begun before fail.  A failure part way leaves the rest; the caller
 * queues the pattern again.
 */
bool
l2_unlink_matching(const char *match, int match_len, int64 *removed)
{
	int			nbumps;
	RedisCommand *bumps = l2_commands_epoch_bumps(&nbumps);
	RedisReply **bumped = palloc(nbumps * sizeof(RedisReply *));
	int			masters[REDIS_ROUTE_MAX_MASTERS];
	int			nmasters;

	*removed = 0;
	if (!connect_and_run(nbumps, bumps, bumped))
		return false;
	journal_change(L2_QUEUE_PATTERN, match, match_len);
	redis_replies_free(bumped, nbumps);
	nmasters = redis_route_masters(redis, masters);
	for (int i = 0; i < nmasters; i++)
		if (!unlink_matching_on(masters[i], match, match_len, removed))
			return false;
	return true;
}

/*
 * Places or lifts the fences of a transaction (token) on nkeys cache keys'
 * buckets (step; see l2_commands_fence), unlinking the keys too when
 * unlink is set, the fences first, in round trips of about
 * L2_FENCE_ROUND_ARGS arguments, each ending where the commands that must
 * be answered first do.  True when Redis took every command; *removed
 * counts the cache entries Redis held, *lost the lifted fences Redis no
 * longer held standing.  A failure part way leaves some buckets done: the
 * caller queues every key.
 */
bool
l2_fence_keys(int nkeys, const char *const *keys, const int *key_lens,
			  L2FenceStep step, const char *token, bool unlink,
			  int64 fence_ttl_ms, int64 *removed, int64 *lost)
{
	int			ncommands;
	int			nscripts;
	int			nfirst;
	RedisCommand *commands = l2_commands_fence(nkeys, keys, key_lens,
													 step, token, unlink,
													 fence_ttl_ms, &ncommands,
													 &nscripts, &nfirst);
	RedisReply **replies = palloc(Max(ncommands, 1) * sizeof(RedisReply *));

	*removed = 0;
	*lost = 0;
	for (int done = 0; done < ncommands;)
	{
		int			n = 0;
		int			args = 0;

		while (done + n < ncommands && (n == 0 || args < L2_FENCE_ROUND_ARGS) &&
			   (done + n != nfirst || n == 0))
			args += commands[done + n++].argc;
		if (!connect_and_run(n, commands + done, replies))
			return false;
		for (int i = 0; i < n; i++)
		{
			bool		script = done + i < nscripts;

			if (replies[i]->type == REPLY_INTEGER)
				*(script ? lost : removed) += replies[i]->integer;
			else if (script)
				(*lost)++;		/* a script that failed placed nothing */
		}
		redis_replies_free(replies, n);
		done += n;
	}
	if (unlink && step != L2_FENCE_LIFT)	/* the lift unlinks them again */
		for (int i = 0; i < nkeys; i++)
			journal_change(L2_QUEUE_KEY, keys[i], key_lens[i]);
	return true;
}

/*
 * Sends the lift of a transaction's (token) fences on nkeys cache keys'
 * buckets without waiting for Redis' answer (l2_commands_lift: the
 * script unlinks the keys again itself should a fence be gone), so that a
 * commit does not wait a round trip for it; the next exchange on the
 * connection reads the answer.  *sent is false where that cannot be done
 * (a cluster: the caller lifts with l2_fence_keys); false on a failure,
 * when Redis may not have run it.
 */
bool
l2_fence_lift_unanswered(int nkeys, const char *const *keys,
						 const int *key_lens, const char *token,
						 int64 fence_ttl_ms, bool *sent)
{
	RedisCommand cmd;
	RedisConnResult result;
	char	   *reason;

	*sent = false;
	if (redis_url_is_cluster(cachext_redis_url))
		return true;
	if (!l2_is_configured() || !ensure_connected())
		return false;
	cmd = l2_commands_lift(nkeys, keys, key_lens, token, fence_ttl_ms);
	*sent = redis_route_send(redis, 1, &cmd, &result, &reason);
	if (!*sent && reason != NULL)
	{
		fail(result == REDIS_CONN_TIMEOUT, reason);
		return false;
	}
	return true;
}

/*
 * Places or lifts the fence of a transaction's (token) pattern
 * invalidations (step; see l2_commands_pattern_fence: in a cluster,
 * every slot's).  *lost says whether a lifted fence was no longer
 * standing somewhere.
 */
bool
l2_fence_patterns(L2FenceStep step, const char *token, int64 fence_ttl_ms,
				  bool *lost)
{
	int			nscripts;
	RedisCommand *scripts = l2_commands_pattern_fence(step, token,
															fence_ttl_ms,
															&nscripts);
	RedisReply **replies = palloc(nscripts * sizeof(RedisReply *));

	*lost = false;
	if (!connect_and_run(nscripts, scripts, replies))
		return false;
	for (int i = 0; i < nscripts; i++)
		*lost |= replies[i]->type != REPLY_INTEGER || replies[i]->integer != 0;
	redis_replies_free(replies, nscripts);
	return true;
}

/*
 * Takes the load lock of a cache key, a lock that expires by itself if its
 * owner dies.  *acquired says whether this call took it.
 */
bool
l2_lock(const char *key, int key_len, const char *token, int64 ttl_ms,
		bool *acquired)
{
	RedisReply *reply;

	if (!connect_and_run_one(l2_commands_lock(key, key_len, token, ttl_ms),
							 &reply))
		return false;
	*acquired = reply->type == REPLY_STATUS;
	redis_reply_free(reply);
	return true;
}

/* Releases a cache key's load lock if it still holds token. */
bool
l2_unlock(const char *key, int key_len, const char *token)
{
	RedisReply *reply;

	if (!connect_and_run_one(l2_commands_unlock(key, key_len, token),
							 &reply))
		return false;
	redis_reply_free(reply);
	return true;
}
