/*-------------------------------------------------------------------------
 * l2_lease.c
 *	  The Redis side of leases and load locks: cachext's own keys beside a
 *	  cache key, and the commands and scripts that read and compare them.
 *
 * Keys.  Each own key is the cache key, a NUL, then a suffix.  No text key
 * contains a NUL, so no cache entry can collide with them.  "<key>\0seq"
 * is the key's write sequence, the Redis side of a lease: every write and
 * invalidation of the key increments it, and it expires after an hour
 * idle.  "<key>\0load" is the key's load lock.  "\0cachext:epoch" counts
 * every pattern invalidation and clear, of any prefix.
 *
 * Scripts.  A lease read creates a missing sequence or epoch with a random
 * value; a store under a lease compares the sequence and the epoch and
 * sets the value in one EVAL, so no invalidation can slip between the
 * check and the SET, and a counter missing at the store never validates
 * the lease (LEASE_STILL_VALID); an unlock deletes the lock only if it still holds our
 * token, so a lock that expired and was taken by someone else is never
 * released by us.
 *
 * This file builds commands in the caller's memory context and never
 * talks to Redis itself (l2.c runs what it builds), so it has no state and
 * no locking.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "l2_lease.h"

#define L2_SEQ_SUFFIX		"\0seq"
#define L2_LOCK_SUFFIX		"\0load"
#define L2_SEQ_TTL_MS		"3600000"
#define L2_EPOCH_KEY		"\0cachext:epoch"

/* key followed by suffix, palloc'd; *len is its length. */
static char *
own_key(const char *key, int key_len, const char *suffix, int suffix_len,
		int *len)
{
	char	   *own = palloc(key_len + suffix_len);

	memcpy(own, key, key_len);
	memcpy(own + key_len, suffix, suffix_len);
	*len = key_len + suffix_len;
	return own;
}

/* The key's write sequence, "<key>\0seq". */
static char *
seq_key(const char *key, int key_len, int *len)
{
	return own_key(key, key_len, L2_SEQ_SUFFIX, sizeof(L2_SEQ_SUFFIX) - 1, len);
}

/* The key's load lock, "<key>\0load". */
static char *
lock_key(const char *key, int key_len, int *len)
{
	return own_key(key, key_len, L2_LOCK_SUFFIX, sizeof(L2_LOCK_SUFFIX) - 1,
				   len);
}

/*
 * Sets commands[0..L2_LEASE_BUMP_COMMANDS) to INCR and PEXPIRE of the
 * key's write sequence, sent with every write of the key so that a load
 * begun before the write does not overwrite it.
 */
void
l2_lease_bump_commands(RedisCommand *commands, const char *key, int key_len)
{
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	commands[0] = redis_command(2);
	redis_command_arg_string(&commands[0], 0, "INCR");
	redis_command_arg(&commands[0], 1, seq, seq_len);
	commands[1] = redis_command(3);
	redis_command_arg_string(&commands[1], 0, "PEXPIRE");
	redis_command_arg(&commands[1], 1, seq, seq_len);
	redis_command_arg_string(&commands[1], 2, L2_SEQ_TTL_MS);
}

/* INCR of the epoch, so that loads begun before a pattern invalidation fail. */
RedisCommand
l2_lease_epoch_bump_command(void)
{
	RedisCommand cmd = redis_command(2);

	redis_command_arg_string(&cmd, 0, "INCR");
	redis_command_arg(&cmd, 1, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1);
	return cmd;
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
 * sequence and the epoch, each created first with a random value when
 * Redis does not hold it (the sequence with its idle expiry), so that a
 * lease always holds two values that existed in Redis.
 */
RedisCommand
l2_lease_read_command(const char *key, int key_len)
{
	RedisCommand cmd = redis_command(7);
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	redis_command_arg_string(&cmd, 0, "EVAL");
	redis_command_arg_string(&cmd, 1,
							 "redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', " L2_SEQ_TTL_MS ") "
							 "redis.call('SET', KEYS[2], ARGV[2], 'NX') "
							 "return redis.call('MGET', KEYS[1], KEYS[2])");
	redis_command_arg_string(&cmd, 2, "2");
	redis_command_arg(&cmd, 3, seq, seq_len);
	redis_command_arg(&cmd, 4, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1);
	redis_command_arg_string(&cmd, 5, random_counter_start());
	redis_command_arg_string(&cmd, 6, random_counter_start());
	return cmd;
}

/* Reads the answer to l2_lease_read_command; false if it is not one. */
bool
l2_lease_take(const RedisReply *reply, L2Lease *lease)
{
	if (reply->type != REPLY_ARRAY || reply->elements != 2 ||
		reply->element[0]->type != REPLY_STRING ||
		reply->element[1]->type != REPLY_STRING)
		return false;
	lease->seq = pnstrdup(reply->element[0]->str, reply->element[0]->len);
	lease->epoch = pnstrdup(reply->element[1]->str, reply->element[1]->len);
	return true;
}

/*
 * The one place a lease is checked (Lua, in the storing script, with the
 * key's write sequence as KEYS[2], the epoch as KEYS[3] and the lease's
 * values as ARGV[2] and ARGV[3]): both counters must exist and still hold
 * the values the lease read.  A missing counter never validates a lease:
 * the lease read created both, so missing means something (an eviction, a
 * DEL, a pattern invalidation's UNLINK) removed it since, and a counter
 * created again would not tell what happened meanwhile.
 */
#define LEASE_STILL_VALID \
	"local seq = redis.call('GET', KEYS[2]) " \
	"local epoch = redis.call('GET', KEYS[3]) " \
	"local lease_valid = seq and epoch and " \
	"seq == ARGV[2] and epoch == ARGV[3] "

/*
 * The script that stores value only if the lease is still valid
 * (LEASE_STILL_VALID), and bumps the sequence; it answers 1 when it stored.
 */
RedisCommand
l2_lease_store_command(const char *key, int key_len, const char *value,
					   int value_len, int64 ttl_ms, const L2Lease *lease)
{
	RedisCommand cmd = redis_command(10);
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	redis_command_arg_string(&cmd, 0, "EVAL");
	redis_command_arg_string(&cmd, 1,
							 LEASE_STILL_VALID
							 "if not lease_valid then return 0 end "
							 "if tonumber(ARGV[4]) >= 0 then "
							 "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4]) "
							 "else redis.call('SET', KEYS[1], ARGV[1]) end "
							 "redis.call('INCR', KEYS[2]) "
							 "redis.call('PEXPIRE', KEYS[2], " L2_SEQ_TTL_MS ") "
							 "return 1");
	redis_command_arg_string(&cmd, 2, "3");
	redis_command_arg(&cmd, 3, key, key_len);
	redis_command_arg(&cmd, 4, seq, seq_len);
	redis_command_arg(&cmd, 5, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1);
	redis_command_arg(&cmd, 6, value, value_len);
	redis_command_arg_string(&cmd, 7, lease->seq);
	redis_command_arg_string(&cmd, 8, lease->epoch);
	redis_command_arg_string(&cmd, 9,
							 psprintf(INT64_FORMAT, ttl_ms >= 0 ? ttl_ms : -1));
	return cmd;
}

/*
 * SET <key>\0load token NX PX ttl_ms: a load lock that expires by itself
 * if its owner dies; a status reply means it was taken.
 */
RedisCommand
l2_lease_lock_command(const char *key, int key_len, const char *token,
					  int64 ttl_ms)
{
	RedisCommand cmd = redis_command(6);
	int			lock_len;
	char	   *lock = lock_key(key, key_len, &lock_len);

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
l2_lease_unlock_command(const char *key, int key_len, const char *token)
{
	RedisCommand cmd = redis_command(5);
	int			lock_len;
	char	   *lock = lock_key(key, key_len, &lock_len);

	redis_command_arg_string(&cmd, 0, "EVAL");
	redis_command_arg_string(&cmd, 1,
							 "if redis.call('GET', KEYS[1]) == ARGV[1] then "
							 "return redis.call('DEL', KEYS[1]) else return 0 end");
	redis_command_arg_string(&cmd, 2, "1");
	redis_command_arg(&cmd, 3, lock, lock_len);
	redis_command_arg_string(&cmd, 4, token);
	return cmd;
}
