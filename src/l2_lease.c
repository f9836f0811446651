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
 * Scripts.  A store under a lease compares the sequence and the epoch and
 * sets the value in one EVAL, so no invalidation can slip between the
 * check and the SET; an unlock deletes the lock only if it still holds our
 * token, so a lock that expired and was taken by someone else is never
 * released by us.
 *
 * This file builds commands in the caller's memory context and never
 * talks to Redis itself (l2.c runs what it builds), so it has no state and
 * no locking.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

/* MGET of the key's write sequence and the epoch: the Redis side of a lease. */
RedisCommand
l2_lease_read_command(const char *key, int key_len)
{
	RedisCommand cmd = redis_command(3);
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	redis_command_arg_string(&cmd, 0, "MGET");
	redis_command_arg(&cmd, 1, seq, seq_len);
	redis_command_arg(&cmd, 2, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1);
	return cmd;
}

/* A string reply as a palloc'd string; "" for nil. */
static char *
reply_text(const RedisReply *reply)
{
	return reply->type == REPLY_STRING ?
		pnstrdup(reply->str, reply->len) : pstrdup("");
}

/* Reads the answer to l2_lease_read_command; false if it is not one. */
bool
l2_lease_take(const RedisReply *reply, L2Lease *lease)
{
	if (reply->type != REPLY_ARRAY || reply->elements != 2)
		return false;
	lease->seq = reply_text(reply->element[0]);
	lease->epoch = reply_text(reply->element[1]);
	return true;
}

/*
 * The script that stores value only if neither the key's write sequence
 * nor the epoch moved since the lease was read, and bumps the sequence;
 * it answers 1 when it stored.
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
							 "if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] or "
							 "(redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then return 0 end "
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
