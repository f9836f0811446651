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
 * Cluster.  Behind a redis-cluster:// URL every key an EVAL touches must be
 * in one hash slot, and a cluster has no single place for the epoch.  So
 * there (l2_lease_set_cluster) each own key starts with "{<tag>}", the tag
 * of the cache key's slot (redis_slot_tag), which puts it in the cache
 * key's slot while the cache key itself stays as it is, readable by any
 * client: "{<tag>}<key>\0seq", "{<tag>}<key>\0load".  The epoch is one
 * per slot, "{<tag>}\0cachext:epoch", and a pattern invalidation or clear
 * bumps all 16384 of them (a pipeline per master).  A single node keeps
 * the names above, so instances of an earlier version sharing it agree.
 *
 * Scripts.  A store under a lease compares the sequence and the epoch and
 * sets the value in one EVAL, so no invalidation can slip between the
 * check and the SET; an unlock deletes the lock only if it still holds our
 * token, so a lock that expired and was taken by someone else is never
 * released by us.
 *
 * This file builds commands in the caller's memory context and never
 * talks to Redis itself (l2.c runs what it builds); its one state is this
 * process' naming mode, set by l2.c whenever it reads cachext.redis_url, so
 * there is no locking.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "l2_lease.h"
#include "redis_slot.h"

#define L2_SEQ_SUFFIX		"\0seq"
#define L2_LOCK_SUFFIX		"\0load"
#define L2_SEQ_TTL_MS		"3600000"
#define L2_EPOCH_KEY		"\0cachext:epoch"

/* Are own keys named for a cluster (in their cache key's slot)? */
static bool cluster_keys = false;

/* Names own keys for a cluster (true) or a single node, from now on. */
void
l2_lease_set_cluster(bool cluster)
{
	cluster_keys = cluster;
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

/* The epoch a lease on key compares: the one, or its slot's in a cluster. */
static const char *
epoch_key(const char *key, int key_len, int *len)
{
	if (cluster_keys)
		return slot_key(redis_slot_of_key(key, key_len), "", 0, L2_EPOCH_KEY,
						sizeof(L2_EPOCH_KEY) - 1, len);
	*len = sizeof(L2_EPOCH_KEY) - 1;
	return L2_EPOCH_KEY;
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

/*
 * INCRs of the epoch (in a cluster, of every slot's), so that loads begun
 * before a pattern invalidation fail; *ncommands says how many.
 */
RedisCommand *
l2_lease_epoch_bump_commands(int *ncommands)
{
	int			n = cluster_keys ? REDIS_CLUSTER_SLOTS : 1;
	RedisCommand *commands = palloc(n * sizeof(RedisCommand));

	for (int i = 0; i < n; i++)
	{
		int			len;
		const char *epoch = cluster_keys ?
			slot_key(i, "", 0, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1, &len) :
			epoch_key(NULL, 0, &len);

		commands[i] = redis_command(2);
		redis_command_arg_string(&commands[i], 0, "INCR");
		redis_command_arg(&commands[i], 1, epoch, len);
	}
	*ncommands = n;
	return commands;
}

/* MGET of the key's write sequence and the epoch: the Redis side of a lease. */
RedisCommand
l2_lease_read_command(const char *key, int key_len)
{
	RedisCommand cmd = redis_command(3);
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);
	int			epoch_len;
	const char *epoch = epoch_key(key, key_len, &epoch_len);

	redis_command_arg_string(&cmd, 0, "MGET");
	redis_command_arg(&cmd, 1, seq, seq_len);
	redis_command_arg(&cmd, 2, epoch, epoch_len);
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
	int			epoch_len;
	const char *epoch = epoch_key(key, key_len, &epoch_len);

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
	redis_command_arg(&cmd, 5, epoch, epoch_len);
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
