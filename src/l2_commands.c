/*-------------------------------------------------------------------------
 * l2_commands.c
 *	  Every command and script cachext sends to Redis, built here and only
 *	  here: reads, writes and invalidations of cache keys with the write
 *	  sequences they bump, leases and load locks, tags, and the fences of
 *	  committing transactions.  l2.c runs them; l2_keys.c names the keys
 *	  beside the cache keys that they read and write.
 *
 * Fence tokens.  A fences key (l2_keys.c: a bucket's, the patterns') is a
 * sorted set: each member is one transaction's token, scored by the moment
 * (Redis' clock, TIME) its fence expires, cachext.fence_timeout after it
 * was placed; a fence stands while its score is in the future.  So no
 * transaction's fence outlives its own timeout whatever others place
 * beside it (a shared counter whose expiry every placing pushed back could
 * stand forever on a busy table, and one left behind by a lost lift
 * refused every store until the writes stopped); placing or lifting twice
 * (a script sent again) changes nothing; and a lift that finds its token
 * gone or expired (timed out, evicted under maxmemory, FLUSHDB) says so,
 * so its caller invalidates again what a load may have stored meanwhile.
 * Expired members are trimmed at each placing, and the set expires with
 * its last member.  While a bucket or the patterns have a fence standing,
 * no store under a lease of the keys they cover succeeds (the other keys
 * of a fenced bucket only miss their store meanwhile, never serve
 * anything old).
 *
 * Leases.  A lease read creates a missing sequence (the key's or its
 * bucket's) or epoch with a random value, and notes whether a fence of the
 * key's bucket or of the patterns stands: a lease read then is fenced and
 * never stores (the row its load reads may be older than a commit about to
 * become visible), however the fence ends, lifted or expired.  A store
 * under a lease compares the sequences and the epoch and sets the value in
 * one EVAL, so no invalidation can slip between the check and the SET,
 * and a counter missing at the store never validates the lease
 * (LEASE_STILL_VALID); an unlock deletes the lock only if it still holds
 * our token, so a lock that expired and was taken by someone else is
 * never released by us.
 *
 * This file builds commands in the caller's memory context and never
 * talks to Redis itself; it has no state.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "l2_commands.h"
#include "l2_keys.h"

/*
 * How long a tag's member outlives its key's expiry: member sets are
 * scored by PostgreSQL's clock and expire by Redis', which may differ.
 */
#define L2_TAG_GRACE_MS		60000

/* How long a write sequence lives idle. */
#define L2_SEQ_TTL_MS		"3600000"

/* Most keys one UNLINK of a fence script names (Lua's unpack has a limit). */
#define L2_FENCE_UNLINK_CHUNK 500

/*
 * Lua: now, Redis' clock in ms (TIME: scripts replicate their effects, so
 * reading it is allowed), and whether the fences key k has a fence standing
 * (see "Fence tokens" above); scores are compared as text made with %.0f,
 * since Lua's own number to text rounds to 14 digits.
 */
#define REDIS_NOW_MS \
	"local time = redis.call('TIME') " \
	"local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) "
#define FENCE_STANDS(k) \
	"(redis.call('ZCOUNT', " k ", '(' .. string.format('%.0f', now), '+inf') > 0)"

/* ARGV of the fence scripts for each L2FenceStep. */
static const char *const fence_step_arg[] = {"place", "lift", "none"};

/*
 * Sets commands[0..2) to INCR and PEXPIRE of the key's write sequence,
 * sent with every write of the key so that a load begun before the write
 * does not overwrite it.
 */
static void
bump_commands(RedisCommand *commands, const char *key, int key_len)
{
	int			seq_len;
	char	   *seq = l2_keys_seq(key, key_len, &seq_len);

	commands[0] = redis_command(2);
	redis_command_arg_string(&commands[0], 0, "INCR");
	redis_command_arg(&commands[0], 1, seq, seq_len);
	commands[1] = redis_command(3);
	redis_command_arg_string(&commands[1], 0, "PEXPIRE");
	redis_command_arg(&commands[1], 1, seq, seq_len);
	redis_command_arg_string(&commands[1], 2, L2_SEQ_TTL_MS);
}

/*
 * GET (one key) or MGET of nkeys keys, then a PTTL per key, so that a
 * promotion keeps Redis' remaining TTL: nkeys + 1 commands.
 */
RedisCommand *
l2_commands_get_multi(int nkeys, const char *const *keys, const int *key_lens)
{
	RedisCommand *commands = palloc((nkeys + 1) * sizeof(RedisCommand));

	commands[0] = redis_command(nkeys + 1);
	redis_command_arg_string(&commands[0], 0, nkeys == 1 ? "GET" : "MGET");
	for (int i = 0; i < nkeys; i++)
	{
		redis_command_arg(&commands[0], i + 1, keys[i], key_lens[i]);
		commands[i + 1] = redis_command(2);
		redis_command_arg_string(&commands[i + 1], 0, "PTTL");
		redis_command_arg(&commands[i + 1], 1, keys[i], key_lens[i]);
	}
	return commands;
}

/*
 * Sets commands[0..L2_COMMANDS_SET) to SET key value (PX ttl_ms, unless
 * ttl_ms < 0: no expiry) and the bump of the key's write sequence.
 */
void
l2_commands_set(RedisCommand *commands, const char *key, int key_len,
				const char *value, int value_len, int64 ttl_ms)
{
	RedisCommand *set = &commands[0];

	StaticAssertStmt(L2_COMMANDS_SET == 3, "SET and the two of the bump");
	*set = redis_command(ttl_ms >= 0 ? 5 : 3);
	redis_command_arg_string(set, 0, "SET");
	redis_command_arg(set, 1, key, key_len);
	redis_command_arg(set, 2, value, value_len);
	if (ttl_ms >= 0)
	{
		redis_command_arg_string(set, 3, "PX");
		redis_command_arg_string(set, 4, psprintf(INT64_FORMAT, ttl_ms));
	}
	bump_commands(commands + 1, key, key_len);
}

/*
 * Sets commands[0..L2_COMMANDS_UNLINK) to UNLINK key and the bump of its
 * write sequence.
 */
void
l2_commands_unlink(RedisCommand *commands, const char *key, int key_len)
{
	StaticAssertStmt(L2_COMMANDS_UNLINK == 3, "UNLINK and the two of the bump");
	commands[0] = redis_command(2);
	redis_command_arg_string(&commands[0], 0, "UNLINK");
	redis_command_arg(&commands[0], 1, key, key_len);
	bump_commands(commands + 1, key, key_len);
}

/* PTTL key. */
RedisCommand
l2_commands_pttl(const char *key, int key_len)
{
	RedisCommand cmd = redis_command(2);

	redis_command_arg_string(&cmd, 0, "PTTL");
	redis_command_arg(&cmd, 1, key, key_len);
	return cmd;
}

/* How many keys one SCAN looks at (its COUNT): bounds each page's work. */
#define SCAN_PAGE_KEYS "1000"

/*
 * SCAN cursor MATCH match COUNT SCAN_PAGE_KEYS: one page of a pattern
 * invalidation (never KEYS, which blocks Redis).
 */
RedisCommand
l2_commands_scan(const char *cursor, const char *match, int match_len)
{
	RedisCommand cmd = redis_command(6);

	redis_command_arg_string(&cmd, 0, "SCAN");
	redis_command_arg_string(&cmd, 1, cursor);
	redis_command_arg_string(&cmd, 2, "MATCH");
	redis_command_arg(&cmd, 3, match, match_len);
	redis_command_arg_string(&cmd, 4, "COUNT");
	redis_command_arg_string(&cmd, 5, SCAN_PAGE_KEYS);
	return cmd;
}

/*
 * The UNLINKs of the keys of a SCAN page (an array reply), into unlink[]
 * (L2_COMMANDS_PAGE_UNLINKS long); returns how many.  Two in one round
 * trip: cache entries, which are counted (*first_counts: the first one
 * unlinks them), and cachext's own keys (write sequences and load locks,
 * which contain a NUL), which are not.  Fences stay: they belong to
 * transactions still committing; so do tags' member sets, which name keys
 * outside the pattern.
 */
int
l2_commands_unlink_page(const RedisReply *keys, RedisCommand *unlink,
						bool *first_counts)
{
	int			n[2] = {1, 1};

	for (int c = 0; c < 2; c++)
	{
		unlink[c] = redis_command(keys->elements + 1);
		redis_command_arg_string(&unlink[c], 0, "UNLINK");
	}
	for (size_t i = 0; i < keys->elements; i++)
	{
		RedisReply *k = keys->element[i];
		int			c = memchr(k->str, '\0', k->len) != NULL;

		if (c == 1 && (l2_keys_is_fence(k->str, k->len) ||
					   l2_keys_is_tag(k->str, k->len)))
			continue;
		redis_command_arg(&unlink[c], n[c]++, k->str, k->len);
	}
	unlink[0].argc = n[0];
	unlink[1].argc = n[1];
	*first_counts = n[0] > 1;
	if (n[0] == 1)
		unlink[0] = unlink[1];	/* no cache entry on this page */
	return (n[0] > 1) + (n[1] > 1);
}

/*
 * INCRs of the epoch (in a cluster, of every slot's), so that loads begun
 * before a pattern invalidation fail; *ncommands says how many.
 */
RedisCommand *
l2_commands_epoch_bumps(int *ncommands)
{
	int			n = l2_keys_shared_copies();
	RedisCommand *commands = palloc(n * sizeof(RedisCommand));

	for (int i = 0; i < n; i++)
	{
		int			len;
		const char *epoch = l2_keys_epoch_copy(i, &len);

		commands[i] = redis_command(2);
		redis_command_arg_string(&commands[i], 0, "INCR");
		redis_command_arg(&commands[i], 1, epoch, len);
	}
	*ncommands = n;
	return commands;
}

/*
 * A counter's first value when a lease finds it missing: random, so that a
 * counter removed (evicted, deleted) after the lease read and created again
 * by a later INCR cannot come back to the value the lease holds.  62 bits
 * leave INCR room below the int64 limit.
 */
static char *
random_counter_start(void)
{
	uint64		random_bits;

	if (!pg_strong_random(&random_bits, sizeof(random_bits)))
		random_bits = ((uint64) random() << 31) ^ (uint64) random() ^
			(uint64) GetCurrentTimestamp();
	return psprintf(UINT64_FORMAT, (random_bits >> 2) | (UINT64CONST(1) << 61));
}

/*
 * The script that reads the Redis side of a lease: the key's write
 * sequence, the epoch and the key's bucket's sequence, each created first
 * with a random value when Redis does not hold it (the sequences with
 * their idle expiry), so that a lease always holds three values that
 * existed in Redis; and 1 when a fence of the key's bucket or of the
 * patterns stands (FENCE_STANDS), else 0.
 */
RedisCommand
l2_commands_lease_read(const char *key, int key_len)
{
	RedisCommand cmd = redis_command(11);
	int			seq_len;
	char	   *seq = l2_keys_seq(key, key_len, &seq_len);
	int			epoch_len;
	const char *epoch = l2_keys_epoch(key, key_len, &epoch_len);
	int			bucket_seq_len;
	char	   *bucket_seq = l2_keys_bucket_seq(l2_keys_bucket(key, key_len),
										&bucket_seq_len);
	int			fences_len;
	char	   *fences = l2_keys_bucket_fences(l2_keys_bucket(key, key_len),
											   &fences_len);
	int			pattern_fences_len;
	const char *pattern_fences = l2_keys_pattern_fences(key, key_len,
														&pattern_fences_len);
	int			a = 0;

	redis_command_arg_string(&cmd, a++, "EVAL");
	redis_command_arg_string(&cmd, a++,
							 "redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', " L2_SEQ_TTL_MS ") "
							 "redis.call('SET', KEYS[2], ARGV[2], 'NX') "
							 "redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', " L2_SEQ_TTL_MS ") "
							 REDIS_NOW_MS
							 "local counters = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3]) "
							 "table.insert(counters, (" FENCE_STANDS("KEYS[4]") " or "
							 FENCE_STANDS("KEYS[5]") ") and 1 or 0) "
							 "return counters");
	redis_command_arg_string(&cmd, a++, "5");
	redis_command_arg(&cmd, a++, seq, seq_len);
	redis_command_arg(&cmd, a++, epoch, epoch_len);
	redis_command_arg(&cmd, a++, bucket_seq, bucket_seq_len);
	redis_command_arg(&cmd, a++, fences, fences_len);
	redis_command_arg(&cmd, a++, pattern_fences, pattern_fences_len);
	redis_command_arg_string(&cmd, a++, random_counter_start());
	redis_command_arg_string(&cmd, a++, random_counter_start());
	redis_command_arg_string(&cmd, a++, random_counter_start());
	Assert(a == cmd.argc);
	return cmd;
}

/* Reads the answer to l2_commands_lease_read; false if it is not one. */
bool
l2_commands_take_lease(const RedisReply *reply, L2Lease *lease)
{
	if (reply->type != REPLY_ARRAY || reply->elements != 4 ||
		reply->element[3]->type != REPLY_INTEGER)
		return false;
	for (int i = 0; i < 3; i++)
		if (reply->element[i]->type != REPLY_STRING)
			return false;
	lease->fenced = reply->element[3]->integer != 0;
	lease->seq = pnstrdup(reply->element[0]->str, reply->element[0]->len);
	lease->epoch = pnstrdup(reply->element[1]->str, reply->element[1]->len);
	lease->bucket_seq = pnstrdup(reply->element[2]->str,
								 reply->element[2]->len);
	return true;
}

/* Milliseconds since the Unix epoch by this server's clock. */
static int64
unix_ms_now(void)
{
	return GetCurrentTimestamp() / 1000 +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

/*
 * The one place a lease is checked (Lua, in the storing script, with the
 * key's write sequence as KEYS[2], the epoch as KEYS[3], the bucket's
 * sequence as KEYS[6] and the lease's values as ARGV[2], ARGV[3] and
 * ARGV[10]): the three counters must exist and still hold the values the
 * lease read.  A missing counter never validates a lease: the lease read
 * created them, so missing means something (an eviction, a DEL, a pattern
 * invalidation's UNLINK) removed it since, and a counter created again
 * would not tell what happened meanwhile.  The fences (KEYS[4], KEYS[5])
 * are checked beside it, in the same script.
 */
#define LEASE_STILL_VALID \
	"local seq = redis.call('GET', KEYS[2]) " \
	"local epoch = redis.call('GET', KEYS[3]) " \
	"local bucket_seq = redis.call('GET', KEYS[6]) " \
	"local lease_valid = seq and epoch and bucket_seq and " \
	"seq == ARGV[2] and epoch == ARGV[3] and bucket_seq == ARGV[10] "

/*
 * The script of l2_commands_write.  KEYS: the key, its write
 * sequence, the epoch, its bucket's fences, the patterns' fences, its
 * bucket's sequence, then the tags' member sets.  ARGV: value, the
 * lease's sequence and epoch, TTL in ms (-1: none), condition ("", "NX",
 * "XX"), "1" to check the lease ("fenced" for a fenced lease, which never
 * stores), the members' score, the score below which
 * members are trimmed, the write sequence's TTL, the lease's bucket
 * sequence.  Answers 1 when it stored.
 */
#define L2_WRITE_KEYS_BEFORE_TAGS 6
#define L2_WRITE_SCRIPT \
	"if ARGV[6] == 'fenced' then return 0 end " \
	"if ARGV[6] == '1' then " \
	REDIS_NOW_MS \
	"if " FENCE_STANDS("KEYS[4]") " or " FENCE_STANDS("KEYS[5]") " then " \
	"return 0 end " \
	LEASE_STILL_VALID \
	"if not lease_valid then return 0 end " \
	"end " \
	"local set = {'SET', KEYS[1], ARGV[1]} " \
	"if ARGV[5] ~= '' then table.insert(set, ARGV[5]) end " \
	"if tonumber(ARGV[4]) >= 0 then table.insert(set, 'PX') " \
	"table.insert(set, ARGV[4]) end " \
	"if not redis.call(unpack(set)) then return 0 end " \
	"redis.call('INCR', KEYS[2]) " \
	"redis.call('PEXPIRE', KEYS[2], ARGV[9]) " \
	"for i = " CppAsString2(L2_WRITE_KEYS_BEFORE_TAGS) " + 1, #KEYS do " \
	"redis.call('ZADD', KEYS[i], ARGV[7], KEYS[1]) " \
	"redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[8]) " \
	"local top = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')[2] " \
	"if top == 'inf' then redis.call('PERSIST', KEYS[i]) else " \
	"redis.call('PEXPIREAT', KEYS[i], string.format('%.0f', tonumber(top))) end " \
	"end " \
	"return 1"

/*
 * The script that writes one key as write says: under a lease or not (a
 * lease no longer valid (LEASE_STILL_VALID), or whose bucket or the patterns
 * are fenced by a committing transaction, stores nothing, and no
 * invalidation can slip between the check and the SET), only if absent
 * (NX) or present (XX) or always, bumping the key's sequence and recording
 * the key in its tags' member sets.  A member set is a sorted set of full
 * keys scored by their expiry plus L2_TAG_GRACE_MS (+inf for none); each
 * write trims the expired members and makes the set expire with its last
 * member, so sets do not outgrow their keys.  It answers 1 when it stored.
 */
RedisCommand
l2_commands_write(const L2Write *write)
{
	int			nkeys = L2_WRITE_KEYS_BEFORE_TAGS + write->ntags;
	RedisCommand cmd = redis_command(3 + nkeys + 10);
	int			seq_len;
	char	   *seq = l2_keys_seq(write->key, write->key_len, &seq_len);
	int			bucket = l2_keys_bucket(write->key, write->key_len);
	int			fence_len;
	char	   *fence = l2_keys_bucket_fences(bucket, &fence_len);
	int			bucket_seq_len;
	char	   *bucket_seq = l2_keys_bucket_seq(bucket, &bucket_seq_len);
	int			epoch_len;
	const char *epoch = l2_keys_epoch(write->key, write->key_len, &epoch_len);
	int			pattern_fence_len;
	const char *pattern_fence = l2_keys_pattern_fences(write->key, write->key_len,
													   &pattern_fence_len);
	int64		now_ms = unix_ms_now();
	int			a = 0;

	redis_command_arg_string(&cmd, a++, "EVAL");
	redis_command_arg_string(&cmd, a++, L2_WRITE_SCRIPT);
	redis_command_arg_string(&cmd, a++, psprintf("%d", nkeys));
	redis_command_arg(&cmd, a++, write->key, write->key_len);
	redis_command_arg(&cmd, a++, seq, seq_len);
	redis_command_arg(&cmd, a++, epoch, epoch_len);
	redis_command_arg(&cmd, a++, fence, fence_len);
	redis_command_arg(&cmd, a++, pattern_fence, pattern_fence_len);
	redis_command_arg(&cmd, a++, bucket_seq, bucket_seq_len);
	for (int i = 0; i < write->ntags; i++)
	{
		int			len;
		char	   *members = l2_keys_tag(write->tags[i], write->tag_lens[i], &len);

		redis_command_arg(&cmd, a++, members, len);
	}
	redis_command_arg(&cmd, a++, write->value, write->value_len);
	redis_command_arg_string(&cmd, a++, write->lease ? write->lease->seq : "");
	redis_command_arg_string(&cmd, a++, write->lease ? write->lease->epoch : "");
	redis_command_arg_string(&cmd, a++,
							 psprintf(INT64_FORMAT,
									  write->ttl_ms >= 0 ? write->ttl_ms : -1));
	redis_command_arg_string(&cmd, a++, write->condition ? write->condition : "");
	redis_command_arg_string(&cmd, a++, write->lease == NULL ? "0" :
							 write->lease->fenced ? "fenced" : "1");
	redis_command_arg_string(&cmd, a++, write->ttl_ms >= 0 ?
							 psprintf(INT64_FORMAT,
									  now_ms + write->ttl_ms + L2_TAG_GRACE_MS) :
							 "+inf");
	redis_command_arg_string(&cmd, a++, psprintf(INT64_FORMAT, now_ms));
	redis_command_arg_string(&cmd, a++, L2_SEQ_TTL_MS);
	redis_command_arg_string(&cmd, a++,
							 write->lease ? write->lease->bucket_seq : "");
	Assert(a == cmd.argc);
	return cmd;
}

/*
 * EVAL of a script on a key and its write sequence (KEYS[1], KEYS[2]),
 * with room for nargs ARGV from argument 5 on.
 */
static RedisCommand
key_script(const char *script, const char *key, int key_len, int nargs)
{
	RedisCommand cmd = redis_command(5 + nargs);
	int			seq_len;
	char	   *seq = l2_keys_seq(key, key_len, &seq_len);

	redis_command_arg_string(&cmd, 0, "EVAL");
	redis_command_arg_string(&cmd, 1, script);
	redis_command_arg_string(&cmd, 2, "2");
	redis_command_arg(&cmd, 3, key, key_len);
	redis_command_arg(&cmd, 4, seq, seq_len);
	return cmd;
}

/*
 * The script of INCRBY key by, creating the key with expiry ttl_ms (< 0:
 * none) when absent, and bumping its write sequence.  It answers {1, the
 * value's text after the increment} (a Lua number would round it), or {0,
 * Redis' error} for a value that is not an integer or an overflow.
 */
RedisCommand
l2_commands_incr(const char *key, int key_len, int64 by, int64 ttl_ms)
{
	RedisCommand cmd = key_script("local created = redis.call('EXISTS', KEYS[1]) == 0 "
								  "local r = redis.pcall('INCRBY', KEYS[1], ARGV[1]) "
								  "if type(r) == 'table' and r.err then return {0, r.err} end "
								  "if created and tonumber(ARGV[2]) >= 0 then "
								  "redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
								  "redis.call('INCR', KEYS[2]) "
								  "redis.call('PEXPIRE', KEYS[2], ARGV[3]) "
								  "return {1, redis.call('GET', KEYS[1])}",
								  key, key_len, 3);

	redis_command_arg_string(&cmd, 5, psprintf(INT64_FORMAT, by));
	redis_command_arg_string(&cmd, 6,
							 psprintf(INT64_FORMAT, ttl_ms >= 0 ? ttl_ms : -1));
	redis_command_arg_string(&cmd, 7, L2_SEQ_TTL_MS);
	return cmd;
}

/*
 * The script that gives key a new TTL (ttl_ms < 0: none) if Redis holds
 * it, bumping its write sequence; it answers 1 if the key was there.
 */
RedisCommand
l2_commands_expire(const char *key, int key_len, int64 ttl_ms)
{
	RedisCommand cmd = key_script("if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
								  "if tonumber(ARGV[1]) >= 0 then "
								  "redis.call('PEXPIRE', KEYS[1], ARGV[1]) "
								  "else redis.call('PERSIST', KEYS[1]) end "
								  "redis.call('INCR', KEYS[2]) "
								  "redis.call('PEXPIRE', KEYS[2], ARGV[2]) "
								  "return 1",
								  key, key_len, 2);

	redis_command_arg_string(&cmd, 5,
							 psprintf(INT64_FORMAT, ttl_ms >= 0 ? ttl_ms : -1));
	redis_command_arg_string(&cmd, 6, L2_SEQ_TTL_MS);
	return cmd;
}

/*
 * The script that invalidates a tag (tag: namespace + tag): unlinks every
 * member key, bumping each one's write sequence, deletes the member set
 * and bumps the epoch, so that no load begun before it stores (its key may
 * be about to join the tag).  It answers {keys Redis held, the members}.
 */
RedisCommand
l2_commands_tag_invalidate(const char *tag, int tag_len)
{
	RedisCommand cmd = redis_command(7);
	int			set_len;
	char	   *set = l2_keys_tag(tag, tag_len, &set_len);
	int			epoch_len;
	const char *epoch;
	int			suffix_len;
	const char *suffix;

	redis_command_arg_string(&cmd, 0, "EVAL");
	redis_command_arg_string(&cmd, 1,
							 "local members = redis.call('ZRANGE', KEYS[1], 0, -1) "
							 "local removed = 0 "
							 "for _, k in ipairs(members) do "
							 "removed = removed + redis.call('UNLINK', k) "
							 "redis.call('INCR', k .. ARGV[1]) "
							 "redis.call('PEXPIRE', k .. ARGV[1], ARGV[2]) "
							 "end "
							 "redis.call('DEL', KEYS[1]) "
							 "redis.call('INCR', KEYS[2]) "
							 "return {removed, members}");
	redis_command_arg_string(&cmd, 2, "2");
	redis_command_arg(&cmd, 3, set, set_len);
	epoch = l2_keys_epoch_copy(0, &epoch_len);
	redis_command_arg(&cmd, 4, epoch, epoch_len);
	suffix = l2_keys_seq_suffix(&suffix_len);
	redis_command_arg(&cmd, 5, suffix, suffix_len);
	redis_command_arg_string(&cmd, 6, L2_SEQ_TTL_MS);
	return cmd;
}

/*
 * SET <key>\0load token NX PX ttl_ms: a load lock that expires by itself
 * if its owner dies; a status reply means it was taken.
 */
RedisCommand
l2_commands_lock(const char *key, int key_len, const char *token,
					  int64 ttl_ms)
{
	RedisCommand cmd = redis_command(6);
	int			lock_len;
	char	   *lock = l2_keys_lock(key, key_len, &lock_len);

	redis_command_arg_string(&cmd, 0, "SET");
	redis_command_arg(&cmd, 1, lock, lock_len);
	redis_command_arg_string(&cmd, 2, token);
	redis_command_arg_string(&cmd, 3, "NX");
	redis_command_arg_string(&cmd, 4, "PX");
	redis_command_arg_string(&cmd, 5, psprintf(INT64_FORMAT, Max(ttl_ms, 1)));
	return cmd;
}

/* The script that releases the load lock only if it still holds token. */
RedisCommand
l2_commands_unlock(const char *key, int key_len, const char *token)
{
	RedisCommand cmd = redis_command(5);
	int			lock_len;
	char	   *lock = l2_keys_lock(key, key_len, &lock_len);

	redis_command_arg_string(&cmd, 0, "EVAL");
	redis_command_arg_string(&cmd, 1,
							 "if redis.call('GET', KEYS[1]) == ARGV[1] then "
							 "return redis.call('DEL', KEYS[1]) else return 0 end");
	redis_command_arg_string(&cmd, 2, "1");
	redis_command_arg(&cmd, 3, lock, lock_len);
	redis_command_arg_string(&cmd, 4, token);
	return cmd;
}

/*
 * Lua: places (ARGV[1] 'place') or lifts ('lift') the fence of token
 * ARGV[2] in the fences key k, with a TTL of ARGV[3] ms (see "Fence
 * tokens" above); lost counts the lifts that found their fence gone or
 * expired.  Uses now (REDIS_NOW_MS).
 */
#define FENCE_STEP(k) \
	"if ARGV[1] == 'place' then " \
	"redis.call('ZREMRANGEBYSCORE', " k ", '-inf', string.format('%.0f', now)) " \
	"redis.call('ZADD', " k ", string.format('%.0f', now + tonumber(ARGV[3])), ARGV[2]) " \
	"if redis.call('PTTL', " k ") < tonumber(ARGV[3]) then " \
	"redis.call('PEXPIRE', " k ", ARGV[3]) end " \
	"elseif ARGV[1] == 'lift' then " \
	"local expiry = redis.call('ZSCORE', " k ", ARGV[2]) " \
	"if not expiry or tonumber(expiry) <= now then lost = lost + 1 end " \
	"redis.call('ZREM', " k ", ARGV[2]) " \
	"end "

/*
 * The script of fence buckets (step; see "Fence buckets" above).  KEYS:
 * each bucket's fences and sequence (ARGV[5] of them), then cache keys to
 * unlink should a lifted fence be gone or expired.  ARGV: the step, the
 * transaction's token, the fence's TTL, the sequence's TTL, the number of
 * bucket keys.  Placing adds the token's fence, lifting removes it; every
 * step bumps the sequences, killing the leases of the buckets' keys read
 * before (a lease read while the fence stands is fenced anyway, see
 * "Scripts" above).  It answers how many of the lifted fences were gone or
 * expired.
 */
#define L2_FENCE_SCRIPT \
	REDIS_NOW_MS \
	"local lost = 0 " \
	"local nbucket_keys = tonumber(ARGV[5]) " \
	"for i = 1, nbucket_keys, 2 do " \
	FENCE_STEP("KEYS[i]") \
	"redis.call('INCR', KEYS[i + 1]) " \
	"redis.call('PEXPIRE', KEYS[i + 1], ARGV[4]) " \
	"end " \
	"if lost > 0 then " \
	"for i = nbucket_keys + 1, #KEYS do redis.call('UNLINK', KEYS[i]) end " \
	"end " \
	"return lost"

/*
 * The fence script of nbuckets buckets, buckets[0 ..], and of nkeys cache
 * keys to unlink should a lifted fence be gone.
 */
static RedisCommand
buckets_fence_command(int nbuckets, const int *buckets, L2FenceStep step,
					  const char *token, int64 fence_ttl_ms, int nkeys,
					  const char *const *keys, const int *key_lens)
{
	RedisCommand cmd = redis_command(2 * nbuckets + nkeys + 8);
	int			arg = 0;

	redis_command_arg_string(&cmd, arg++, "EVAL");
	redis_command_arg_string(&cmd, arg++, L2_FENCE_SCRIPT);
	redis_command_arg_string(&cmd, arg++, psprintf("%d", 2 * nbuckets + nkeys));
	for (int i = 0; i < nbuckets; i++)
	{
		int			len;
		char	   *own;

		own = l2_keys_bucket_fences(buckets[i], &len);
		redis_command_arg(&cmd, arg++, own, len);
		own = l2_keys_bucket_seq(buckets[i], &len);
		redis_command_arg(&cmd, arg++, own, len);
	}
	for (int i = 0; i < nkeys; i++)
		redis_command_arg(&cmd, arg++, keys[i], key_lens[i]);
	redis_command_arg_string(&cmd, arg++, fence_step_arg[step]);
	redis_command_arg_string(&cmd, arg++, token);
	redis_command_arg_string(&cmd, arg++, psprintf(INT64_FORMAT, fence_ttl_ms));
	redis_command_arg_string(&cmd, arg++, L2_SEQ_TTL_MS);
	redis_command_arg_string(&cmd, arg++, psprintf("%d", 2 * nbuckets));
	Assert(arg == cmd.argc);
	return cmd;
}

/*
 * The lift of token's fences on the buckets of nkeys cache keys as one
 * script that needs no answer read: should a fence be gone or expired, the
 * script itself unlinks the keys again.  A single node's (in a cluster a
 * script touches one slot).  For a few keys: their buckets are found by
 * comparing each with those before.
 */
RedisCommand
l2_commands_lift(int nkeys, const char *const *keys, const int *key_lens,
					  const char *token, int64 fence_ttl_ms)
{
	int		   *buckets = palloc(Max(nkeys, 1) * sizeof(int));
	int			nbuckets = 0;

	Assert(!l2_keys_for_cluster());
	for (int i = 0; i < nkeys; i++)
	{
		int			b = l2_keys_bucket(keys[i], key_lens[i]);
		int			j = 0;

		while (j < nbuckets && buckets[j] != b)
			j++;
		if (j == nbuckets)
			buckets[nbuckets++] = b;
	}
	return buckets_fence_command(nbuckets, buckets, L2_FENCE_LIFT, token,
								 fence_ttl_ms, nkeys, keys, key_lens);
}

/*
 * The commands that place or lift (step) the fences of the transaction
 * token of the buckets of nkeys cache keys: one script for them (in a
 * cluster, where a script touches one slot, one per bucket), *nscripts of
 * them first, then, when unlink is set,
 * UNLINKs of the keys, L2_FENCE_UNLINK_CHUNK keys each, grouped by bucket
 * (a cluster then splits each by slot into few pieces).  A fence placed
 * before its keys are unlinked, in the order Redis runs them, leaves a
 * load no moment to store an old value: before the UNLINK it is unlinked,
 * after the fence it is refused.  The keys are grouped with a counting
 * sort, so a commit costs a few writes per bucket however many keys it
 * has, and one UNLINK argument per key.  *ncommands says how many.
 * *nfirst says how many, from the first, must be answered before the
 * others are sent: the scripts in a cluster, where a redirection could
 * run a piece later than the rest; none on a single node, where one
 * connection runs a pipeline in order.
 */
RedisCommand *
l2_commands_fence(int nkeys, const char *const *keys,
						const int *key_lens, L2FenceStep step,
						const char *token, bool unlink, int64 fence_ttl_ms,
						int *ncommands, int *nscripts, int *nfirst)
{
	int			nbuckets = l2_keys_buckets();
	int		   *start = palloc0((nbuckets + 1) * sizeof(int));
	int		   *bucket_of = palloc(Max(nkeys, 1) * sizeof(int));
	RedisCommand *commands;
	int		   *buckets;
	int			per_script;
	int			nunlinks = unlink ?
		(nkeys + L2_FENCE_UNLINK_CHUNK - 1) / L2_FENCE_UNLINK_CHUNK : 0;
	int			n = 0;

	/* start[b + 1] counts bucket b's keys, then start[b] is its first */
	for (int i = 0; i < nkeys; i++)
	{
		bucket_of[i] = l2_keys_bucket(keys[i], key_lens[i]);
		start[bucket_of[i] + 1]++;
	}
	for (int b = 0; b < nbuckets; b++)
	{
		n += start[b + 1] > 0;
		start[b + 1] += start[b];
	}
	/* the buckets with keys; a script for all, or in a cluster one each */
	buckets = palloc(Max(n, 1) * sizeof(int));
	n = 0;
	for (int b = 0; b < nbuckets; b++)
		if (start[b + 1] > start[b])
			buckets[n++] = b;
	per_script = l2_keys_for_cluster() ? 1 : Max(n, 1);
	*nscripts = (n + per_script - 1) / per_script;
	commands = palloc((*nscripts + Max(nunlinks, 1)) * sizeof(RedisCommand));
	for (int c = 0; c < *nscripts; c++)
		commands[c] = buckets_fence_command(Min(per_script,
												n - c * per_script),
											buckets + c * per_script, step,
											token, fence_ttl_ms, 0, NULL, NULL);
	*nfirst = l2_keys_for_cluster() ? *nscripts : 0;
	n = *nscripts;
	for (int u = 0; u < nunlinks; u++)
	{
		int			count = Min(nkeys - u * L2_FENCE_UNLINK_CHUNK,
								L2_FENCE_UNLINK_CHUNK);

		commands[n + u] = redis_command(count + 1);
		redis_command_arg_string(&commands[n + u], 0, "UNLINK");
		commands[n + u].argc = 1;
	}
	/* each key goes into the next free place of its bucket's run */
	for (int i = 0; i < nkeys && unlink; i++)
	{
		int			at = start[bucket_of[i]]++;
		RedisCommand *cmd = &commands[n + at / L2_FENCE_UNLINK_CHUNK];

		redis_command_arg(cmd, 1 + at % L2_FENCE_UNLINK_CHUNK, keys[i],
						  key_lens[i]);
		cmd->argc++;
	}
	*ncommands = n + nunlinks;
	return commands;
}

/*
 * Copy i (l2_keys_pattern_fences_copy) of the pattern fence script: the token's fence
 * placed or lifted (FENCE_STEP) in the patterns' fences; every step bumps
 * the epoch.  It answers 1 when the lifted fence was gone or expired, else
 * 0.
 */
static RedisCommand
pattern_fence_command(int i, L2FenceStep step, const char *token,
					  int64 fence_ttl_ms)
{
	RedisCommand cmd = redis_command(8);
	int			epoch_len;
	const char *epoch = l2_keys_epoch_copy(i, &epoch_len);
	int			fence_len;
	const char *fence = l2_keys_pattern_fences_copy(i, &fence_len);

	redis_command_arg_string(&cmd, 0, "EVAL");
	redis_command_arg_string(&cmd, 1,
							 REDIS_NOW_MS
							 "local lost = 0 "
							 FENCE_STEP("KEYS[2]")
							 "redis.call('INCR', KEYS[1]) "
							 "return lost");
	redis_command_arg_string(&cmd, 2, "2");
	redis_command_arg(&cmd, 3, epoch, epoch_len);
	redis_command_arg(&cmd, 4, fence, fence_len);
	redis_command_arg_string(&cmd, 5, fence_step_arg[step]);
	redis_command_arg_string(&cmd, 6, token);
	redis_command_arg_string(&cmd, 7, psprintf(INT64_FORMAT, fence_ttl_ms));
	return cmd;
}

/*
 * The scripts that place or lift the fence of a committing transaction's
 * pattern invalidations (step, token): one, or in a cluster one per slot.
 * Each bumps the epoch, so that no lease read before can store.
 * *ncommands says how many.
 */
RedisCommand *
l2_commands_pattern_fence(L2FenceStep step, const char *token,
								int64 fence_ttl_ms, int *ncommands)
{
	int			n = l2_keys_shared_copies();
	RedisCommand *commands = palloc(n * sizeof(RedisCommand));

	for (int i = 0; i < n; i++)
		commands[i] = pattern_fence_command(i, step, token, fence_ttl_ms);
	*ncommands = n;
	return commands;
}
