/*-------------------------------------------------------------------------
 * sync_worker.c
 *	  The background worker "cachext sync": one per instance, following
 *	  Redis' invalidation messages so that this instance's L1 never serves
 *	  a value another instance (or any Redis client) has since changed.
 *
 * Stream.  Redis' client-side caching in broadcast mode, over RESP2 as
 * hiredis 0.14 speaks it, takes two connections per node: the stream connection
 * asks CLIENT ID and SUBSCRIBEs to __redis__:invalidate; the tracking
 * connection turns on CLIENT TRACKING ... REDIRECT <id> BCAST, with no
 * PREFIX, so that every change of any key (write, delete, expiry,
 * eviction) is announced on the stream.  An L1 key and its Redis key are
 * the same bytes, so each key announced is removed from L1 as it is (which
 * moves the key's lease even when L1 does not hold it, so a promotion whose
 * GET was in flight stores nothing).  A message without keys means Redis
 * was flushed (FLUSHALL, FLUSHDB): L1 is emptied.
 *
 * Own writes.  This instance's own writes are announced too, and evicting
 * them would cost every write a later Redis read (and lose the value if
 * Redis hangs).  Counting expected echoes is unsound: Redis batches a
 * broadcast per event-loop pass, keys deduplicated, so an own write and a
 * foreign one may come back as one key.  Instead L1 marks an own write with
 * a hash of the text it sent to Redis (see "Own writes" in l1.c); the keys
 * that L1 holds as own writes, over all the messages one read of the
 * stream holds, are read back with pipelined GETs on the tracking
 * connection (read after the messages, so never older than what they
 * announce), and each is kept only if Redis' text
 * hashes the same: then L1 equals what Redis held after the announced
 * change, and a later change is announced by a later message.  A miss, an
 * error reply or any other text removes the key; a GET that fails loses
 * the stream.
 *
 * Refusal.  A server may refuse the stream: NOPERM for an ACL user without
 * +client or +subscribe, an old server without CLIENT TRACKING, a proxy.
 * Any error reply while starting the stream, except those saying Redis is
 * busy for now (LOADING, BUSY, ...), is such a refusal.  L1 is then kept
 * coherent by expiry alone: every L1 copy of a Redis value expires within
 * cachext.l1_max_ttl (layers.c applies that bound in every mode).  The
 * worker says so once (a WARNING when the refusal begins, and cache_stats'
 * coherence column), keeps replaying the queue every heartbeat interval,
 * and asks for the stream again every TRACKING_RETRY_INTERVAL_MS.
 *
 * Generations.  Redis documents the rule for a lost stream: the local
 * cache may have missed invalidations, so what it holds must not be
 * served as it is.  The worker does not empty L1 for that (L1 is what
 * serves reads while Redis is down); it moves L1 on to a new generation
 * (see "Generations" in l1.c, and "Coherence" in layers.c): a closed one
 * when the stream is lost (EOF or error on either connection, or the
 * tracking connection not answering its heartbeat PING) and when the
 * worker starts or stops (a before_shmem_exit callback, so that the
 * postmaster's restart interval is covered too), an open one once the
 * stream is back (tracking on, before any message is read) or Redis
 * refused it.  While the generation is closed, reads ask Redis and L1
 * serves only when Redis cannot answer; once it is open again, L1 serves
 * what was stored in it, and older entries are read from Redis again.
 * Each change of coherence (a stream followed, refused or lost) counts in
 * cache_stats' sync_resets, with the FLUSHALLs that empty L1.
 * Reconnection is tried every cachext.redis_retry_interval; one LOG line
 * says the stream was lost and one that it is back, whatever the number of
 * attempts in between.
 *
 * Lag.  Each key announced (and each flush) is timed from the read of the
 * socket that brought it to its L1 removal, own writes once read back, in
 * cache_lag_histograms' sync_removal (lag_stats.c says what that covers).
 *
 * Queue.  While the stream is up, or refused by a Redis that answers,
 * every pass of the loop (at least one a second, the heartbeat) also
 * replays the invalidations queued for Redis (layers_replay_queue), so that
 * they reach Redis, and this instance's L1, within a second of Redis
 * answering again even when no backend uses the cache.  That replay goes
 * through the L2 module's per-process connection, breaker and counters, as
 * a backend's would.
 *
 * Sentinel.  Behind a redis-sentinel:// URL the worker also subscribes to
 * +switch-master on a Sentinel (before it looks the master up, so no
 * announcement falls in between); an announcement for our service loses
 * the stream -- a new generation, since the new master's changes were
 * never tracked -- and starts it again at once on the new master; it also
 * moves the instance's master generation (l2_master.c), so that every
 * backend's next command goes to the new master.  The other way round, a
 * new master another process learned of (a newer Sentinel epoch at its
 * connect, a READONLY reply) is noticed at the next heartbeat and restarts
 * the stream too.  A stream that starts under another master generation
 * than the last one (however the instance learned of it: also when the
 * stream was lost with the old master and found the new one at its
 * restart) first queues, as invalidations for the new master, what this
 * instance changed in Redis lately (l2_journal.c): the old master may have
 * lost it before the new one received it.
 *
 * Cluster.  Behind a redis-cluster:// URL there is a stream (both
 * connections) on every master, listed from the slot map when the streams
 * start; an own write announced by a master is read back on that master's
 * tracking connection.  Each heartbeat also compares the cluster's masters
 * with those followed, and a change (a failover, a node added or removed)
 * loses the streams -- a new generation -- and starts them again at once.
 * Losing any master's stream loses them all.
 *
 * Waiting.  The loop waits on the latch, the streams' sockets and the watched
 * Sentinel's, with a timeout for the next heartbeat or reconnection
 * attempt; SIGTERM is core's die, SIGHUP re-reads the configuration (a
 * changed cachext.redis_url, or TLS or Sentinel setting, restarts the
 * stream; an empty URL stops it).  Redis commands wait interruptibly
 * inside redis_conn.c.  Per-pass allocations go in a memory context reset
 * every pass; the URL followed lives in TopMemoryContext.  The worker
 * connects to no database (as core's launchers, so that it shows in
 * pg_stat_activity and an operator can pg_terminate_backend it), so it
 * also runs on a hot standby.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "durations.h"
#include "guc.h"
#include "l1.h"
#include "l2.h"
#include "l2_journal.h"
#include "l2_master.h"
#include "l2_queue.h"
#include "l2_stats.h"
#include "lag_stats.h"
#include "layers.h"
#include "redis_route.h"
#include "sync_worker.h"
#include "ttl_clock.h"
#include "wait_events.h"
#include "workers.h"

/* How often the tracking connection is asked whether it is still there. */
#define HEARTBEAT_INTERVAL_MS	1000

/* How often a worker whose stream Redis refused asks for it again. */
#define TRACKING_RETRY_INTERVAL_MS	(60 * 1000)

/* Own writes read back per round trip (see OwnWrites). */
#define SYNC_READBACK_KEYS	1000

/* How long the postmaster waits before restarting a worker that failed. */
#define RESTART_INTERVAL_S		5

#define INVALIDATION_CHANNEL	"__redis__:invalidate"

/*
 * The streams followed, one per node holding data (one, or each master of
 * a cluster), each two connections; nstreams is 0 or all are open.
 */
static RedisConn *streams[REDIS_ROUTE_MAX_MASTERS];	/* subscribed to the
														 * channel */
static RedisConn *trackers[REDIS_ROUTE_MAX_MASTERS];	/* CLIENT TRACKING,
														 * redirecting */
static int	nstreams = 0;
static char *followed_masters = NULL;	/* redis-cluster://: the masters
										 * followed, in TopMemoryContext */
static RedisConn *watch = NULL;		/* redis-sentinel:// only: subscribed to
									 * +switch-master on a Sentinel */
static char *watched_service = NULL;	/* its service, in TopMemoryContext */
static char *followed_url = NULL;	/* in TopMemoryContext; NULL: none */
static L2MasterView followed_master;	/* the master generation the
										 * streams follow */
static bool started_before = false; /* a stream was started since the worker
									 * began, under started_generation */
static uint64 started_generation = 0;
static uint64 followed_generation = 0;	/* redis_conn_settings_generation
										 * the stream was started under */
static bool reported_down = false;	/* the loss has been logged */
static L2Coherence coherence_now = L2_COHERENCE_NONE;	/* as set_coherence
														 * last said (a
														 * predecessor's
														 * exit said none) */
static bool refused = false;	/* Redis refused the stream (and it was
								 * logged); no stream since */

/*
 * Error replies by which Redis says it is busy for now rather than that it
 * refuses the stream: the worker retries as after a lost connection.
 */
static const char *const transient_errors[] = {
	"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"
};

/* How a command went. */
typedef enum CallResult
{
	CALL_OK,					/* the expected reply */
	CALL_FAILED,				/* no answer, or an unexpected one */
	CALL_REFUSED				/* an error reply that is not transient */
} CallResult;

/*
 * Registers the worker from _PG_init.  It starts at a consistent state, so
 * also on a hot standby, and is restarted a few seconds after a failure.
 */
void
sync_worker_register(void)
{
	BackgroundWorker worker;

	workers_describe(&worker, "cachext_sync_main", "cachext sync",
					 BgWorkerStart_ConsistentState, RESTART_INTERVAL_S);
	RegisterBackgroundWorker(&worker);
}

/* Empties L1 because Redis was flushed. */
static void
reset_l1(void)
{
	l1_clear();
	l2_stats_count(L2_SYNC_RESETS, 1);
}

/*
 * Records how L1 is kept coherent from now on, moving it on to a new
 * generation (see "Generations"): open for a followed or refused stream,
 * closed for none.  The generation goes first, so that no read serves an
 * entry L1 may no longer be told about.
 */
static void
set_coherence(L2Coherence coherence)
{
	l1_begin_generation(coherence != L2_COHERENCE_NONE);
	l2_stats_set_coherence(coherence);
	if (coherence != coherence_now)
		l2_stats_count(L2_SYNC_RESETS, 1);
	coherence_now = coherence;
}

/*
 * The worker stops (SIGTERM, an error, a restart): from now until its
 * successor follows the stream, nothing tells L1 of changes in Redis.
 */
static void
stop_following(int code, Datum arg)
{
	set_coherence(L2_COHERENCE_NONE);
}

/* Closes both connections of every stream, and the Sentinel watched. */
static void
close_streams(void)
{
	for (int i = 0; i < nstreams; i++)
	{
		redis_conn_close(&streams[i]);
		redis_conn_close(&trackers[i]);
	}
	nstreams = 0;
	redis_conn_close(&watch);
}

/*
 * Invalidations may be missed from now until the stream is back: a closed
 * generation, then the connections closed.  Logs the first loss of an
 * outage.
 */
static void
lose_stream(const char *reason)
{
	set_coherence(L2_COHERENCE_NONE);
	close_streams();
	refused = false;
	if (!reported_down)
		ereport(LOG,
				(errmsg("cachext sync worker lost Redis' invalidation stream"),
				 errdetail("%s", reason),
				 errhint("Until the stream is back, reads ask Redis, and L1 serves what it holds only while Redis cannot answer; the worker reconnects every cachext.redis_retry_interval (%d ms).",
						 cachext_redis_retry_interval_ms)));
	reported_down = true;
}

/* Does an error reply say Redis is busy for now? */
static bool
is_transient(const char *error)
{
	for (int i = 0; i < lengthof(transient_errors); i++)
		if (strncmp(error, transient_errors[i],
					strlen(transient_errors[i])) == 0)
			return true;
	return false;
}

/*
 * Runs one command of NUL-terminated arguments on *conn; CALL_OK if Redis
 * answered with a reply of the expected type, else sets *reason.  The
 * reply is freed unless wanted.
 */
static CallResult
call(RedisConn **conn, int argc, const char **argv, RedisReplyType expected_type,
	 RedisReply **wanted, char **reason)
{
	RedisReply *reply;
	CallResult	result = CALL_OK;

	if (redis_conn_call(conn, argc, argv, &reply, reason) != REDIS_CONN_OK)
		return CALL_FAILED;
	if (reply->type == REPLY_ERROR)
	{
		*reason = psprintf("Redis answered %s: %s.", argv[0], reply->str);
		result = is_transient(reply->str) ? CALL_FAILED : CALL_REFUSED;
	}
	else if (reply->type != expected_type)
	{
		*reason = psprintf("Redis answered %s with an unexpected reply.",
						   argv[0]);
		result = CALL_FAILED;
	}
	if (result == CALL_OK && wanted != NULL)
		*wanted = reply;
	else
		redis_reply_free(reply);
	return result;
}

/*
 * Redis refused the stream: L1 is kept coherent by cachext.l1_max_ttl
 * alone from now on.  Says so once, when the refusal begins.
 */
static void
refuse_stream(const char *reason)
{
	if (!refused)
	{
		set_coherence(L2_COHERENCE_TTL_BOUND);
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cachext sync worker cannot follow Redis' invalidation stream: Redis refused client tracking"),
				 errdetail("%s L1 copies of Redis values now expire within cachext.l1_max_ttl (%d ms; 0 means no bound) instead of being evicted when Redis changes them.",
						   reason, cachext_l1_max_ttl_ms),
				 errhint("Allow the Redis user CLIENT and SUBSCRIBE (ACL +client +subscribe), or use a server with CLIENT TRACKING; the worker asks again every %d s.",
						 TRACKING_RETRY_INTERVAL_MS / 1000)));
	}
	refused = true;
	reported_down = false;
}

/*
 * Opens a connection of the worker's own to node (a URL's node, its master
 * through Sentinel, or a cluster's master) of followed_url, under the
 * master generation of followed_master; NULL with *reason (naming the
 * server, never the password) on failure.
 */
static RedisConn *
open_connection(const RedisTarget *node, char **reason)
{
	RedisConnResult result;
	int64		epoch;
	RedisConn  *conn = redis_route_connect(node, followed_master.min_epoch,
										   &epoch, &result, reason);

	if (conn == NULL)
		*reason = psprintf("Redis at %s: %s", node->display, *reason);
	else
		l2_master_reached(&followed_master, followed_url, epoch);
	return conn;
}

/*
 * The masters of a cluster as one string, "host:port" sorted, to notice a
 * change of them.
 */
static char *
masters_text(RedisTarget *masters, int nmasters)
{
	char	  **names = palloc(nmasters * sizeof(char *));
	StringInfoData text;

	for (int i = 0; i < nmasters; i++)
		names[i] = psprintf("%s:%d", masters[i].host, masters[i].port);
	qsort(names, nmasters, sizeof(char *), pg_qsort_strcmp);
	initStringInfo(&text);
	for (int i = 0; i < nmasters; i++)
		appendStringInfo(&text, "%s ", names[i]);
	return text.data;
}

/*
 * Opens the stream of one node into streams[i] and trackers[i]: the
 * subscribed connection, then tracking on the other, redirected to it.
 */
static CallResult
start_node_stream(int i, const RedisTarget *node, char **reason)
{
	const char *client_id[] = {"CLIENT", "ID"};
	const char *subscribe[] = {"SUBSCRIBE", INVALIDATION_CHANNEL};
	const char *tracking[] = {"CLIENT", "TRACKING", "on", "REDIRECT", NULL,
	"BCAST"};
	RedisReply *id;
	CallResult	result;

	streams[i] = open_connection(node, reason);
	if (streams[i] == NULL)
		return CALL_FAILED;
	result = call(&streams[i], 2, client_id, REPLY_INTEGER, &id, reason);
	if (result != CALL_OK)
		return result;
	tracking[4] = psprintf("%lld", id->integer);
	redis_reply_free(id);
	result = call(&streams[i], 2, subscribe, REPLY_ARRAY, NULL, reason);
	if (result != CALL_OK)
		return result;
	trackers[i] = open_connection(node, reason);
	if (trackers[i] == NULL)
		return CALL_FAILED;
	return call(&trackers[i], 6, tracking, REPLY_STATUS, NULL, reason);
}

/*
 * Opens the stream to url: one per node holding data (each master of a
 * cluster); then opens a new generation, since anything L1 holds may have
 * changed before tracking began.  On failure, every connection closed, returns
 * CALL_REFUSED if Redis refused a command, else CALL_FAILED, with *reason.
 */
static CallResult
start_stream(const char *url, char **reason)
{
	RedisTarget target;
	RedisTarget *masters;
	int			nmasters;
	const char *problem;
	CallResult	result = CALL_FAILED;

	if (!redis_route_parse(url, &target, &problem))
	{
		*reason = pstrdup(problem);
		return CALL_FAILED;
	}
	l2_master_view_begin(&followed_master, url);

	/*
	 * Behind Sentinels, the announcements of a new master are followed
	 * before the master is looked up, so that none can fall in between.
	 */
	if (target.service != NULL)
	{
		watch = redis_route_watch(&target, reason);
		if (watch == NULL)
			return CALL_FAILED;
		if (watched_service != NULL)
			pfree(watched_service);
		watched_service = MemoryContextStrdup(TopMemoryContext, target.service);
	}
	if (!redis_route_masters_of(&target, &masters, &nmasters, reason))
		goto failed;
	for (int i = 0; i < nmasters; i++)
	{
		/* counted first, so that a failure part way closes what is open */
		nstreams = i + 1;
		result = start_node_stream(i, &masters[i], reason);
		if (result != CALL_OK)
			goto failed;
	}
	if (followed_masters != NULL)
		pfree(followed_masters);
	followed_masters = target.cluster ?
		MemoryContextStrdup(TopMemoryContext, masters_text(masters, nmasters)) :
		NULL;

	if (started_before && started_generation != followed_master.generation)
		l2_journal_requeue(l2_queue_add);
	started_before = true;
	started_generation = followed_master.generation;

	set_coherence(L2_COHERENCE_TRACKING);
	ereport(LOG,
			(errmsg("cachext sync worker follows Redis' invalidation stream"),
			 errdetail_plural("From now on every change in Redis (%d node) evicts its key from L1, unless Redis still holds this instance's own write; what L1 held before is read from Redis again.",
							  "From now on every change in Redis (%d nodes) evicts its key from L1, unless Redis still holds this instance's own write; what L1 held before is read from Redis again.",
							  nmasters, nmasters)));
	reported_down = false;
	refused = false;
	return CALL_OK;

failed:
	close_streams();
	return result;
}

/*
 * Own writes Redis announced, collected over every message one read of a
 * stream holds, to be read back in one round trip: a bulk write announces
 * its keys one message each, and a round trip per message would keep the
 * worker busy long after the writer is done.
 */
typedef struct OwnWrites
{
	int			n;
	int			size;
	char	  **keys;			/* copies, in the read's memory context */
	int		   *lens;
} OwnWrites;

/*
 * Settles the own writes collected from node's stream: reads them back
 * from Redis on the tracking connection of that node, pipelined in round
 * trips of SYNC_READBACK_KEYS, keeps each whose text in Redis hashes as
 * the written text did, and removes the others.  If Redis cannot answer,
 * the stream is lost.  read_at is when the announcements were read (see
 * lag_stats.c).
 */
static void
revalidate_own_writes(int node, const OwnWrites *own, instr_time read_at)
{
	for (int first = 0; first < own->n; first += SYNC_READBACK_KEYS)
	{
		int			n = Min(own->n - first, SYNC_READBACK_KEYS);
		RedisCommand *gets = palloc(n * sizeof(RedisCommand));
		RedisReply **replies = palloc(n * sizeof(RedisReply *));
		char	   *reason;
		TimestampTz now;
		int64		kept = 0;
		int64		evicted = 0;

		for (int m = 0; m < n; m++)
		{
			gets[m] = redis_command(2);
			redis_command_arg_string(&gets[m], 0, "GET");
			redis_command_arg(&gets[m], 1, own->keys[first + m],
							  own->lens[first + m]);
		}
		if (redis_conn_exchange(&trackers[node], n, gets, replies, &reason) !=
			REDIS_CONN_OK)
		{
			lose_stream(reason);
			return;
		}
		now = ttl_clock_now();
		for (int m = 0; m < n; m++)
		{
			const char *key = own->keys[first + m];
			int			key_len = own->lens[first + m];
			L1Change	change;

			if (replies[m]->type == REPLY_STRING)
			{
				uint64		redis_text_hash = layers_text_hash(replies[m]->str,
															   replies[m]->len);

				change = l1_remove_changed(key, key_len, &redis_text_hash, now);
			}
			else
				change = l1_remove(key, key_len, now) ?
					L1_CHANGE_REMOVED : L1_CHANGE_ABSENT;
			kept += change == L1_CHANGE_OWN_WRITE;
			evicted += change == L1_CHANGE_REMOVED;
		}
		redis_replies_free(replies, n);
		lag_stats_observe_since(LAG_SYNC_REMOVAL, read_at, n);
		l2_stats_count(L2_SYNC_KEPT, kept);
		l2_stats_count(L2_SYNC_EVICTIONS, evicted);
	}
}

/*
 * Applies one message of the stream: evicts the keys it names, but adds
 * own writes to own (to be read back), or empties L1 when it names none
 * (Redis was flushed).  Other replies (the subscription's confirmation)
 * are ignored.  read_at is when the message was read (see lag_stats.c).
 */
static void
apply_message(const RedisReply *message, OwnWrites *own, instr_time read_at)
{
	const RedisReply *keys;
	TimestampTz now;
	int64		evicted = 0;
	int64		done = 0;		/* keys evicted, or not held */

	if (message->type != REPLY_ARRAY || message->elements != 3 ||
		message->element[0]->type != REPLY_STRING ||
		strcmp(message->element[0]->str, "message") != 0)
		return;
	keys = message->element[2];
	if (keys->type == REPLY_NIL)
	{
		reset_l1();
		lag_stats_observe_since(LAG_SYNC_REMOVAL, read_at, 1);
		return;
	}
	if (keys->type != REPLY_ARRAY)
		return;
	now = ttl_clock_now();
	for (size_t i = 0; i < keys->elements; i++)
	{
		const RedisReply *key = keys->element[i];

		if (key->type != REPLY_STRING)
			continue;
		switch (l1_remove_changed(key->str, (int) key->len, NULL, now))
		{
			case L1_CHANGE_REMOVED:
				evicted++;
				done++;
				break;
			case L1_CHANGE_OWN_WRITE:
				if (own->n == own->size)
				{
					own->size *= 2;
					own->keys = repalloc(own->keys, own->size * sizeof(char *));
					own->lens = repalloc(own->lens, own->size * sizeof(int));
				}
				own->keys[own->n] = pnstrdup(key->str, key->len);
				own->lens[own->n++] = (int) key->len;
				break;
			case L1_CHANGE_ABSENT:
				done++;
				break;
		}
	}
	lag_stats_observe_since(LAG_SYNC_REMOVAL, read_at, done);
	l2_stats_count(L2_SYNC_EVICTIONS, evicted);
}

/*
 * Reads what stream i's socket holds, applies every complete message, then
 * reads back the own writes they announced.
 */
static void
read_stream(int i)
{
	char	   *reason;
	OwnWrites	own;
	instr_time	read_at;

	if (!redis_conn_read_available(streams[i], &reason))
	{
		lose_stream(reason);
		return;
	}
	INSTR_TIME_SET_CURRENT(read_at);
	own.n = 0;
	own.size = 64;
	own.keys = palloc(own.size * sizeof(char *));
	own.lens = palloc(own.size * sizeof(int));
	for (;;)
	{
		RedisReply *message;

		if (!redis_conn_next_reply(streams[i], &message, &reason))
		{
			lose_stream(reason);
			return;
		}
		if (message == NULL)
			break;
		apply_message(message, &own, read_at);
		redis_reply_free(message);
		if (nstreams == 0)		/* lost while applying it */
			return;
	}
	revalidate_own_writes(i, &own, read_at);
}

/*
 * Reads what the Sentinel watched holds: an announcement of a new master
 * for our service loses the stream, which is then started again at once
 * on the new master.  True if that happened.
 */
static bool
read_watch(void)
{
	char	   *reason;

	if (!redis_conn_read_available(watch, &reason))
	{
		lose_stream(reason);
		return true;
	}
	for (;;)
	{
		RedisReply *message;
		bool		switched;

		if (!redis_conn_next_reply(watch, &message, &reason))
		{
			lose_stream(reason);
			return true;
		}
		if (message == NULL)
			return false;
		switched = redis_route_master_switched(watched_service, message);
		redis_reply_free(message);
		if (switched)
		{
			/* a failover is not an outage: say so, and follow at once */
			l2_master_announced();
			ereport(LOG,
					(errmsg("cachext sync worker follows a new Redis master"),
					 errdetail("Sentinel announced a new master for service \"%s\"; what L1 holds is read from it again.",
							   watched_service)));
			lose_stream("Sentinel announced a new master.");
			reported_down = false;
			return true;
		}
	}
}

/*
 * Waits for the latch, the streams' sockets and the watched Sentinel's, up
 * to timeout ms (-1: no timeout); stream_readable[i] says whether stream i
 * has input.  A set of the pass' own, freed before returning, since the
 * sockets change from pass to pass.
 */
static void
wait_for_events(long timeout, bool *stream_readable, bool *watch_readable)
{
	int			nevents = 3 + nstreams;
	WaitEventSet *set = CreateSessionWaitEventSet(nevents);
	WaitEvent  *occurred = palloc(nevents * sizeof(WaitEvent));
	int			n;

	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < nstreams; i++)
		AddWaitEventToSet(set, WL_SOCKET_READABLE,
						  redis_conn_socket(streams[i]), NULL, &streams[i]);
	if (watch != NULL)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, redis_conn_socket(watch),
						  NULL, &watch);
	n = WaitEventSetWait(set, timeout, occurred, nevents,
						 cachext_wait_event(CACHEXT_WAIT_SYNC));
	FreeWaitEventSet(set);
	memset(stream_readable, 0, nstreams * sizeof(bool));
	*watch_readable = false;
	for (int i = 0; i < n; i++)
	{
		if (occurred[i].events & WL_LATCH_SET)
			ResetLatch(MyLatch);
		if (occurred[i].events & WL_SOCKET_READABLE)
		{
			RedisConn **conn = occurred[i].user_data;

			if (conn == &watch)
				*watch_readable = true;
			else
				stream_readable[conn - streams] = true;
		}
	}
}

/*
 * Has the set of a cluster's masters changed since the streams started (a
 * failover, a node added or removed)?  Then the streams are lost -- a new
 * master's changes were never tracked -- and true says to start again at
 * once.  A cluster that cannot be asked is a loss too.
 */
static bool
masters_changed(void)
{
	RedisTarget target;
	RedisTarget *masters;
	int			nmasters;
	const char *problem;
	char	   *reason;

	if (followed_masters == NULL ||
		!redis_route_parse(followed_url, &target, &problem))
		return false;
	if (!redis_route_masters_of(&target, &masters, &nmasters, &reason))
	{
		lose_stream(reason);
		return false;
	}
	if (strcmp(masters_text(masters, nmasters), followed_masters) == 0)
		return false;
	ereport(LOG,
			(errmsg("cachext sync worker follows the new masters of the Redis cluster"),
			 errdetail("The cluster's masters changed; what L1 holds is read from them again.")));
	lose_stream("The cluster's masters changed.");
	reported_down = false;
	return true;
}

/*
 * Asks every tracking connection for a PONG (without tracking, no stream),
 * and a cluster whether its masters are still those followed.  True when
 * the streams must start again at once.
 */
static bool
heartbeat(void)
{
	const char *ping[] = {"PING"};
	char	   *reason;

	if (l2_master_moved(&followed_master))
	{
		ereport(LOG,
				(errmsg("cachext sync worker follows a new Redis master"),
				 errdetail("A process of this instance learned of a new master; what L1 holds is read from it again.")));
		lose_stream("A process of this instance learned of a new master.");
		reported_down = false;
		return true;
	}
	for (int i = 0; i < nstreams; i++)
		if (call(&trackers[i], 1, ping, REPLY_STATUS, NULL, &reason) != CALL_OK)
		{
			lose_stream(reason);
			return false;
		}
	return masters_changed();
}

/*
 * Re-reads the configuration; a new cachext.redis_url stops the stream
 * (the caller starts one to the new URL at once).  True if the URL changed.
 */
static bool
reload_configuration(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	if ((followed_url == NULL ? !l2_is_configured() :
		 strcmp(followed_url, cachext_redis_url) == 0) &&
		followed_generation == redis_conn_settings_generation())
		return false;
	followed_generation = redis_conn_settings_generation();
	if (nstreams > 0)
		lose_stream("cachext.redis_url or a setting of the connection changed.");
	else
		set_coherence(L2_COHERENCE_NONE);
	reported_down = false;
	refused = false;
	if (followed_url != NULL)
		pfree(followed_url);
	followed_url = l2_is_configured() ?
		MemoryContextStrdup(TopMemoryContext, cachext_redis_url) : NULL;
	return true;
}

/* Milliseconds from now until then, at least 0. */
static long
ms_until(TimestampTz then)
{
	TimestampTz now = GetCurrentTimestamp();

	return then <= now ? 0 : (long) cachext_usecs_to_ms_ceil(then - now);
}

/* The worker's entry point. */
void
cachext_sync_main(Datum arg)
{
	MemoryContext pass_context;
	TimestampTz next_attempt = 0;
	TimestampTz next_heartbeat = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* a predecessor's stream is gone; and so is ours when we stop */
	set_coherence(L2_COHERENCE_NONE);
	before_shmem_exit(stop_following, (Datum) 0);
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	pass_context = AllocSetContextCreate(TopMemoryContext,
										 "cachext sync worker pass",
										 ALLOCSET_DEFAULT_SIZES);
	if (l2_is_configured())
		followed_url = MemoryContextStrdup(TopMemoryContext, cachext_redis_url);
	followed_generation = redis_conn_settings_generation();

	for (;;)
	{
		long		timeout = -1;
		bool		stream_readable[REDIS_ROUTE_MAX_MASTERS];
		bool		watch_readable;

		MemoryContextReset(pass_context);
		MemoryContextSwitchTo(pass_context);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending && reload_configuration())
			next_attempt = 0;

		if (nstreams == 0 && followed_url != NULL &&
			GetCurrentTimestamp() >= next_attempt)
		{
			char	   *reason;

			switch (start_stream(followed_url, &reason))
			{
				case CALL_OK:
					next_heartbeat = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																 HEARTBEAT_INTERVAL_MS);
					/* what came with the subscriptions' answers is read already */
					for (int i = 0; i < nstreams; i++)
						read_stream(i);
					if (watch != NULL && read_watch())
						next_attempt = 0;
					break;
				case CALL_REFUSED:
					refuse_stream(reason);
					next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   TRACKING_RETRY_INTERVAL_MS);
					break;
				case CALL_FAILED:
					if (!reported_down)
						lose_stream(reason);
					next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   cachext_redis_retry_interval_ms);
					break;
			}
		}
		if (nstreams > 0 && GetCurrentTimestamp() >= next_heartbeat)
		{
			bool		restart = heartbeat();

			next_heartbeat = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 HEARTBEAT_INTERVAL_MS);
			if (restart)
				next_attempt = 0;
			else if (nstreams == 0)
				next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   cachext_redis_retry_interval_ms);
		}

		if (nstreams > 0 || refused)
			layers_replay_queue();

		if (nstreams > 0)
			timeout = ms_until(next_heartbeat);
		else if (refused)		/* Redis answers: replay the queue meanwhile */
			timeout = Min(ms_until(next_attempt), HEARTBEAT_INTERVAL_MS);
		else if (followed_url != NULL)
			timeout = ms_until(next_attempt);
		wait_for_events(timeout, stream_readable, &watch_readable);
		if (watch_readable && watch != NULL && read_watch())
			next_attempt = 0;
		else if (nstreams > 0)
		{
			for (int i = 0; i < nstreams && nstreams > 0; i++)
				if (stream_readable[i])
					read_stream(i);
			if (nstreams == 0)
				next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   cachext_redis_retry_interval_ms);
		}
	}
}
