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
 * the same bytes, so each key announced is removed from L1 as it is, with
 * l1_remove (which moves the key's lease even when L1 does not hold it, so
 * a promotion whose GET was in flight stores nothing).  A message without
 * keys means Redis was flushed (FLUSHALL, FLUSHDB): L1 is emptied.  This
 * instance's own writes come back too and evict what the writer had just
 * stored; that costs one Redis read, and keeps the rule simple.
 *
 * Loss.  Redis documents the rule for a lost stream: the local cache may
 * have missed invalidations, so it must be emptied.  L1 is emptied when the
 * stream is lost (EOF or error on either connection, or the tracking
 * connection not answering its heartbeat PING) and again once it is back
 * (tracking on, before any message is read), so nothing stored while the
 * stream was down survives.  Reconnection is tried every
 * cachext.redis_retry_interval; one LOG line says the stream was lost and
 * one that it is back, whatever the number of attempts in between.
 *
 * Queue.  While the stream is up, every pass of the loop (at least one a
 * second, the heartbeat) also replays the invalidations queued for Redis
 * (layers_replay_queue), so that they reach Redis, and this instance's L1,
 * within a second of Redis answering again even when no backend uses the
 * cache.  That replay goes through the L2 module's per-process connection,
 * breaker and counters, as a backend's would.
 *
 * Sentinel.  Behind a redis-sentinel:// URL the worker also subscribes to
 * +switch-master on a Sentinel (before it looks the master up, so no
 * announcement falls in between); an announcement for our service loses
 * the stream -- emptying L1, since the new master's changes were never
 * tracked -- and starts it again at once on the new master.
 *
 * Cluster.  Behind a redis-cluster:// URL there is a stream (both
 * connections) on every master, listed from the slot map when the streams
 * start; each heartbeat also compares the cluster's masters with those
 * followed, and a change (a failover, a node added or removed) loses the
 * streams -- emptying L1 -- and starts them again at once.  Losing any
 * master's stream loses them all.
 *
 * Waiting.  The loop waits on the latch, the streams' sockets and the watched
 * Sentinel's, with a timeout for the next heartbeat or reconnection
 * attempt; SIGTERM is core's die, SIGHUP re-reads the configuration (a
 * changed cachext.redis_url, or TLS or Sentinel setting, restarts the
 * stream; an empty URL stops it).  Redis commands wait interruptibly
 * inside redis_conn.c.  Per-pass allocations go in a memory context reset
 * every pass; the URL followed lives in TopMemoryContext.  The worker needs no database, so it also runs on a
 * hot standby.
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
#include "l1.h"
#include "l2.h"
#include "l2_stats.h"
#include "layers.h"
#include "redis_route.h"
#include "sync_worker.h"
#include "ttl_clock.h"

/* How often the tracking connection is asked whether it is still there. */
#define HEARTBEAT_INTERVAL_MS	1000

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
static uint64 followed_generation = 0;	/* redis_conn_settings_generation
										 * the stream was started under */
static bool reported_down = false;	/* the loss has been logged */

/*
 * Registers the worker from _PG_init.  It starts at a consistent state, so
 * also on a hot standby, and is restarted a few seconds after a failure.
 */
void
sync_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = RESTART_INTERVAL_S;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "cachext");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "cachext_sync_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "cachext sync");
	snprintf(worker.bgw_type, BGW_MAXLEN, "cachext sync");
	RegisterBackgroundWorker(&worker);
}

/* Empties L1 because the stream (re)started, was lost or Redis was flushed. */
static void
reset_l1(void)
{
	l1_clear();
	l2_stats_count(L2_SYNC_RESETS, 1);
}

/*
 * Closes both connections and empties L1: invalidations may be missed from
 * now until the stream is back.  Logs the first loss of an outage.
 */
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

static void
lose_stream(const char *reason)
{
	close_streams();
	reset_l1();
	if (!reported_down)
		ereport(LOG,
				(errmsg("cachext sync worker lost Redis' invalidation stream"),
				 errdetail("%s", reason),
				 errhint("L1 was emptied; the worker reconnects every cachext.redis_retry_interval (%d ms).",
						 cachext_redis_retry_interval_ms)));
	reported_down = true;
}

/*
 * Runs one command of NUL-terminated arguments on *conn; true if Redis
 * answered with a reply of the expected type, else sets *reason.  The
 * reply is freed unless wanted.
 */
static bool
call(RedisConn **conn, int argc, const char **argv, RedisReplyType expected_type,
	 RedisReply **wanted, char **reason)
{
	RedisReply *reply;

	if (redis_conn_call(conn, argc, argv, &reply, reason) != REDIS_CONN_OK)
		return false;
	if (reply->type != expected_type)
	{
		*reason = reply->type == REPLY_ERROR ?
			psprintf("Redis answered %s: %s", argv[0], reply->str) :
			psprintf("Redis answered %s with an unexpected reply.", argv[0]);
		redis_reply_free(reply);
		return false;
	}
	if (wanted != NULL)
		*wanted = reply;
	else
		redis_reply_free(reply);
	return true;
}

/*
 * Opens a connection of the worker's own to node (a URL's node, its master
 * through Sentinel, or a cluster's master); NULL with *reason (naming the
 * server, never the password) on failure.
 */
static RedisConn *
open_connection(const RedisTarget *node, char **reason)
{
	RedisConnResult result;
	RedisConn  *conn = redis_route_connect(node, &result, reason);

	if (conn == NULL)
		*reason = psprintf("Redis at %s: %s", node->display, *reason);
	return conn;
}

/*
 * The masters of a cluster as one string, "host:port" sorted, to notice a
 * change of them; NULL where the URL names no cluster or it cannot be
 * asked.
 */
static char *
masters_text(const RedisTarget *target, RedisTarget *masters, int nmasters)
{
	char	  **names;
	StringInfoData text;

	if (!target->cluster)
		return NULL;
	names = palloc(nmasters * sizeof(char *));
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
static bool
start_node_stream(int i, const RedisTarget *node, char **reason)
{
	const char *client_id[] = {"CLIENT", "ID"};
	const char *subscribe[] = {"SUBSCRIBE", INVALIDATION_CHANNEL};
	const char *tracking[] = {"CLIENT", "TRACKING", "on", "REDIRECT", NULL,
	"BCAST"};
	RedisReply *id;

	streams[i] = open_connection(node, reason);
	if (streams[i] == NULL)
		return false;
	if (!call(&streams[i], 2, client_id, REPLY_INTEGER, &id, reason))
		return false;
	tracking[4] = psprintf("%lld", id->integer);
	redis_reply_free(id);
	if (!call(&streams[i], 2, subscribe, REPLY_ARRAY, NULL, reason))
		return false;
	trackers[i] = open_connection(node, reason);
	if (trackers[i] == NULL)
		return false;
	return call(&trackers[i], 6, tracking, REPLY_STATUS, NULL, reason);
}

/*
 * Opens the stream to url: one per node holding data (each master of a
 * cluster); then empties L1, since anything it holds may have changed
 * before tracking began.  False with *reason on failure, every connection
 * closed.
 */
static bool
start_stream(const char *url, char **reason)
{
	RedisTarget target;
	RedisTarget *masters;
	int			nmasters;
	const char *problem;

	if (!redis_route_parse(url, &target, &problem))
	{
		*reason = pstrdup(problem);
		return false;
	}

	/*
	 * Behind Sentinels, the announcements of a new master are followed
	 * before the master is looked up, so that none can fall in between.
	 */
	if (target.service != NULL)
	{
		watch = redis_route_watch(&target, reason);
		if (watch == NULL)
			return false;
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
		if (!start_node_stream(i, &masters[i], reason))
			goto failed;
	}
	if (followed_masters != NULL)
		pfree(followed_masters);
	followed_masters = NULL;
	if (target.cluster)
		followed_masters = MemoryContextStrdup(TopMemoryContext,
											   masters_text(&target, masters,
															nmasters));

	reset_l1();
	ereport(LOG,
			(errmsg("cachext sync worker follows Redis' invalidation stream"),
			 errdetail_plural("L1 was emptied; from now on every change in Redis (%d node) evicts its key from L1.",
							  "L1 was emptied; from now on every change in Redis (%d nodes) evicts its key from L1.",
							  nmasters, nmasters)));
	reported_down = false;
	return true;

failed:
	close_streams();
	return false;
}

/*
 * Applies one message of the stream: evicts the keys it names, or empties
 * L1 when it names none (Redis was flushed).  Other replies (the
 * subscription's confirmation) are ignored.
 */
static void
apply_message(const RedisReply *message)
{
	const RedisReply *keys;
	TimestampTz now;
	int64		evicted = 0;

	if (message->type != REPLY_ARRAY || message->elements != 3 ||
		message->element[0]->type != REPLY_STRING ||
		strcmp(message->element[0]->str, "message") != 0)
		return;
	keys = message->element[2];
	if (keys->type == REPLY_NIL)
	{
		reset_l1();
		return;
	}
	if (keys->type != REPLY_ARRAY)
		return;
	now = ttl_clock_now();
	for (size_t i = 0; i < keys->elements; i++)
		if (keys->element[i]->type == REPLY_STRING &&
			l1_remove(keys->element[i]->str, (int) keys->element[i]->len, now))
			evicted++;
	l2_stats_count(L2_SYNC_EVICTIONS, evicted);
}

/* Reads what stream i's socket holds and applies every complete message. */
static void
read_stream(int i)
{
	char	   *reason;

	if (!redis_conn_read_available(streams[i], &reason))
	{
		lose_stream(reason);
		return;
	}
	for (;;)
	{
		RedisReply *message;

		if (!redis_conn_next_reply(streams[i], &message, &reason))
		{
			lose_stream(reason);
			return;
		}
		if (message == NULL)
			return;
		apply_message(message);
		redis_reply_free(message);
	}
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
			ereport(LOG,
					(errmsg("cachext sync worker follows a new Redis master"),
					 errdetail("Sentinel announced a new master for service \"%s\"; L1 is emptied.",
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
	n = WaitEventSetWait(set, timeout, occurred, nevents, PG_WAIT_EXTENSION);
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
	if (strcmp(masters_text(&target, masters, nmasters), followed_masters) == 0)
		return false;
	ereport(LOG,
			(errmsg("cachext sync worker follows the new masters of the Redis cluster"),
			 errdetail("The cluster's masters changed; L1 is emptied.")));
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

	for (int i = 0; i < nstreams; i++)
		if (!call(&trackers[i], 1, ping, REPLY_STATUS, NULL, &reason))
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
	reported_down = false;
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

	return then <= now ? 0 : (long) ((then - now + 999) / 1000);
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

			if (start_stream(followed_url, &reason))
			{
				next_heartbeat = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															 HEARTBEAT_INTERVAL_MS);
				/* what came with the subscriptions' answers is read already */
				for (int i = 0; i < nstreams; i++)
					read_stream(i);
				if (watch != NULL && read_watch())
					next_attempt = 0;
			}
			else
			{
				if (!reported_down)
					lose_stream(reason);
				next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   cachext_redis_retry_interval_ms);
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

		if (nstreams > 0)
			layers_replay_queue();

		if (nstreams > 0)
			timeout = ms_until(next_heartbeat);
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
