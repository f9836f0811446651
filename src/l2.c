/*-------------------------------------------------------------------------
 * l2.c
 *	  Redis (L2): one connection per backend, non-blocking binary-safe
 *	  commands, and the per-backend circuit breaker.
 *
 * Connection.  Each backend opens its own connection lazily, on its first
 * use of L2, and keeps it across transactions; its state lives in static
 * variables whose strings are in a child of TopMemoryContext, because the
 * connection outlives every transaction.  A failure frees the connection;
 * the next use after cachext.redis_retry_interval opens a new one.  A
 * change of cachext.redis_url (SIGHUP) is noticed at the next use and
 * reconnects at once.  The socket is counted with AcquireExternalFD and closed at backend
 * exit by an on_proc_exit callback.  A process that follows Redis rather
 * than caching through it (the sync worker) opens connections of its own
 * with l2_open, which share the URL parsing, connecting and waiting below
 * but not the breaker, the counters or the WARNINGs.
 *
 * Waiting.  hiredis runs non-blocking; every wait is a wait on the socket,
 * this process' latch and postmaster death with the time left to the
 * deadline (cachext.redis_timeout per exchange,
 * cachext.redis_connect_timeout for the TCP connect), followed by
 * CHECK_FOR_INTERRUPTS.  The wait set is kept with the connection, so a
 * wait is one epoll_wait rather than WaitLatchOrSocket's five extra
 * system calls to build and free a set: an L2 hit is a handful of system
 * calls, and they are most of its cost.  A cancel or statement_timeout
 * raised there frees the connection (its protocol state is unknown) and
 * the replies read so far before the error propagates.
 *
 * Failures.  A connect error, a timeout, a broken connection or an error
 * reply about the server's state (anything but WRONGTYPE) opens this
 * backend's breaker: L2 is skipped for cachext.redis_retry_interval, and
 * one WARNING per failure -- so at most one per retry interval -- says so.
 * Neither the password nor any key ever appears in a message.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <limits.h>

#include <hiredis/hiredis.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "l2.h"
#include "l2_queue.h"
#include "l2_stats.h"
#include "redis_url.h"

char	   *cachext_redis_url = NULL;
int			cachext_redis_connect_timeout_ms = 200;
int			cachext_redis_timeout_ms = 100;
int			cachext_redis_retry_interval_ms = 1000;

/*
 * This backend's connection.  connected_url and target's strings live in
 * target_context, a child of TopMemoryContext reset when the URL changes.
 */
static redisContext *redis = NULL;
static MemoryContext target_context = NULL;
static char *connected_url = NULL;	/* the cachext.redis_url of target */
static RedisTarget target;
static TimestampTz breaker_open_until = 0;
static bool exit_callback_registered = false;

/*
 * The wait set of the socket waited on last (this backend's connection, or
 * one of the sync worker's): the socket at SOCKET_EVENT_POS for
 * socket_wait_events, this process' latch and postmaster death.  Rebuilt
 * when another socket is waited on, and freed when its connection closes,
 * since a later socket may reuse the descriptor number.
 */
#define SOCKET_EVENT_POS 0
static WaitEventSet *socket_wait_set = NULL;
static pgsocket socket_wait_fd = PGINVALID_SOCKET;
static uint32 socket_wait_events = 0;

/* One command: argv with lengths, so keys and values are binary-safe. */
typedef struct RedisCommand
{
	int			argc;
	const char **argv;
	size_t	   *argvlen;
} RedisCommand;

typedef enum ExchangeResult
{
	EXCHANGE_OK,
	EXCHANGE_TIMEOUT,
	EXCHANGE_FAILED
} ExchangeResult;

/*
 * Parses url (see redis_url.c) into t, its strings allocated in the current
 * context.  On failure sets *problem to a sentence that never quotes the
 * URL, which may hold a password.
 */
static bool
parse_redis_url(const char *url, RedisTarget *t, const char **problem)
{
	return redis_url_parse(url, t, palloc(REDIS_URL_STORAGE_SIZE(strlen(url))),
						   problem);
}

/*
 * Rejects a malformed cachext.redis_url when it is set, not when it is
 * used, without ever quoting the value.
 */
static bool
check_redis_url(char **newval, void **extra, GucSource source)
{
	MemoryContext parse_context;
	MemoryContext old_context;
	RedisTarget parsed;
	const char *problem = NULL;
	bool		ok = true;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	parse_context = AllocSetContextCreate(CurrentMemoryContext,
										  "cachext redis_url check",
										  ALLOCSET_SMALL_SIZES);
	old_context = MemoryContextSwitchTo(parse_context);
	ok = parse_redis_url(*newval, &parsed, &problem);
	MemoryContextSwitchTo(old_context);
	MemoryContextDelete(parse_context);
	if (!ok)
	{
		/* replaces the default message, which would quote the password */
		GUC_check_errmsg("invalid value for parameter \"cachext.redis_url\"");
		GUC_check_errdetail("%s", problem);
	}
	return ok;
}

/*
 * Defines cachext.redis_*; called from cachext.c's define_settings so that
 * every setting is registered in _PG_init, before MarkGUCPrefixReserved.
 */
void
l2_define_settings(void)
{
	DefineCustomStringVariable("cachext.redis_url",
							   "Redis server used as the shared cache (L2); empty means L1 only.",
							   "redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N].",
							   &cachext_redis_url,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_redis_url, NULL, NULL);
	DefineCustomIntVariable("cachext.redis_connect_timeout",
							"Longest wait for a connection to Redis.",
							NULL,
							&cachext_redis_connect_timeout_ms,
							200, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.redis_timeout",
							"Longest wait for Redis to answer one exchange of commands.",
							NULL,
							&cachext_redis_timeout_ms,
							100, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.redis_retry_interval",
							"How long a backend skips Redis after a failure.",
							NULL,
							&cachext_redis_retry_interval_ms,
							1000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* L2's shared memory: the counters and the invalidation queue. */
void
l2_shmem_request(void)
{
	RequestAddinShmemSpace(l2_stats_shmem_size());
	l2_queue_shmem_request();
}

void
l2_shmem_startup(void)
{
	l2_stats_shmem_startup();
	l2_queue_shmem_startup();
}

/* Frees the kept wait set (it holds a descriptor of its own). */
static void
forget_socket_wait_set(void)
{
	if (socket_wait_set != NULL)
		FreeWaitEventSet(socket_wait_set);
	socket_wait_set = NULL;
	socket_wait_fd = PGINVALID_SOCKET;
}

/*
 * The kept wait set, set up to wait for events on fd: built on the first
 * wait on this socket, adjusted in place when the events change.  The
 * descriptor is recorded only once the set is complete, so a set whose
 * building failed is freed by the next call.
 */
static WaitEventSet *
socket_wait_set_for(pgsocket fd, uint32 events)
{
	if (fd != socket_wait_fd)
	{
		forget_socket_wait_set();
		socket_wait_set = CreateSessionWaitEventSet(3);
		AddWaitEventToSet(socket_wait_set, events, fd, NULL, NULL);
		AddWaitEventToSet(socket_wait_set, WL_LATCH_SET, PGINVALID_SOCKET,
						  MyLatch, NULL);
		AddWaitEventToSet(socket_wait_set, WL_EXIT_ON_PM_DEATH,
						  PGINVALID_SOCKET, NULL, NULL);
		socket_wait_fd = fd;
		socket_wait_events = events;
	}
	else if (events != socket_wait_events)
	{
		ModifyWaitEvent(socket_wait_set, SOCKET_EVENT_POS, events, NULL);
		socket_wait_events = events;
	}
	return socket_wait_set;
}

/* Frees a connection, if any, and gives its socket back to fd.c's count. */
static void
close_connection(redisContext **conn)
{
	if (*conn == NULL)
		return;
	if ((*conn)->fd == socket_wait_fd)
		forget_socket_wait_set();
	redisFree(*conn);
	*conn = NULL;
	ReleaseExternalFD();
}

/* Frees this backend's connection. */
static void
disconnect(void)
{
	close_connection(&redis);
}

/* on_proc_exit callback: a backend leaving closes its socket politely. */
static void
disconnect_at_exit(int code, Datum arg)
{
	disconnect();
}

/*
 * Records a failure: drops the connection, opens the breaker, counts it
 * and says so (one WARNING per failure, and failures are at least a retry
 * interval apart since the breaker stops any attempt in between).
 */
static void
fail(bool timed_out, const char *reason)
{
	disconnect();
	breaker_open_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 cachext_redis_retry_interval_ms);
	l2_stats_count(timed_out ? L2_TIMEOUTS : L2_ERRORS, 1);
	l2_stats_set_redis_state(L2_REDIS_DOWN);
	ereport(WARNING,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("cachext could not use Redis at %s", target.display),
			 errdetail("%s", reason),
			 errhint("The cache serves from L1 alone until Redis answers again; "
					 "this backend retries after cachext.redis_retry_interval (%d ms).",
					 cachext_redis_retry_interval_ms)));
}

/*
 * Waits until the connection's socket is ready for events; false once the
 * deadline passes.  Interrupts are served on every pass.
 */
static bool
wait_for_socket(redisContext *conn, int events, TimestampTz deadline)
{
	WaitEventSet *set = socket_wait_set_for(conn->fd, events);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		WaitEvent	event;

		if (now >= deadline)
			return false;
		if (WaitEventSetWait(set, (long) ((deadline - now + 999) / 1000),
							 &event, 1, PG_WAIT_EXTENSION) == 0)
			continue;
		if (event.events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (event.events & events)
			return true;
	}
}

/* Frees the first n replies of an array. */
static void
free_replies(redisReply **replies, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (replies[i] != NULL)
			freeReplyObject(replies[i]);
		replies[i] = NULL;
	}
}

/*
 * Sends the commands on *conn in one write and reads their replies into
 * replies[] (all of them, or none: on failure every reply read is freed).
 * On failure *reason says why; the caller decides what to do with the
 * connection.  An error raised while waiting (a cancel) closes *conn,
 * whose protocol state is then unknown.
 */
static ExchangeResult
exchange(redisContext **conn, int ncommands, const RedisCommand *commands,
		 redisReply **replies, char **reason)
{
	redisContext *c = *conn;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   cachext_redis_timeout_ms);
	volatile int nreplies = 0;
	volatile ExchangeResult result = EXCHANGE_OK;

	for (int i = 0; i < ncommands; i++)
	{
		replies[i] = NULL;
		if (redisAppendCommandArgv(c, commands[i].argc, commands[i].argv,
								   commands[i].argvlen) != REDIS_OK)
		{
			*reason = pstrdup(c->errstr);
			return EXCHANGE_FAILED;
		}
	}

	PG_TRY();
	{
		int			done = 0;

		while (!done)
		{
			if (redisBufferWrite(c, &done) != REDIS_OK)
			{
				result = EXCHANGE_FAILED;
				break;
			}
			if (!done && !wait_for_socket(c, WL_SOCKET_WRITEABLE, deadline))
			{
				result = EXCHANGE_TIMEOUT;
				break;
			}
		}
		while (result == EXCHANGE_OK && nreplies < ncommands)
		{
			void	   *reply = NULL;

			if (redisGetReply(c, &reply) != REDIS_OK)
				result = EXCHANGE_FAILED;
			else if (reply != NULL)
				replies[nreplies++] = reply;
			else if (!wait_for_socket(c, WL_SOCKET_READABLE, deadline))
				result = EXCHANGE_TIMEOUT;
			else if (redisBufferRead(c) != REDIS_OK)
				result = EXCHANGE_FAILED;
		}
	}
	PG_CATCH();
	{
		free_replies(replies, nreplies);
		close_connection(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (result == EXCHANGE_FAILED)
		*reason = pstrdup(c->errstr[0] ? c->errstr : "The connection failed.");
	else if (result == EXCHANGE_TIMEOUT)
		*reason = psprintf("Redis did not answer within cachext.redis_timeout (%d ms).",
						   cachext_redis_timeout_ms);
	if (result != EXCHANGE_OK)
		free_replies(replies, nreplies);
	return result;
}

/*
 * Runs commands on this backend's connection, failing (breaker, count,
 * WARNING) when Redis cannot answer; true when replies[] is filled.
 */
static bool
run(int ncommands, const RedisCommand *commands, redisReply **replies)
{
	char	   *reason = NULL;
	ExchangeResult result = exchange(&redis, ncommands, commands, replies,
									 &reason);

	if (result != EXCHANGE_OK)
	{
		fail(result == EXCHANGE_TIMEOUT, reason);
		return false;
	}
	return true;
}

/*
 * An error reply about the server's state (NOAUTH, LOADING, READONLY, ...)
 * fails the connection like a broken socket; WRONGTYPE is about one key
 * and is only counted.  Frees every reply when it fails.
 */
static bool
check_error_replies(redisReply **replies, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (replies[i]->type != REDIS_REPLY_ERROR)
			continue;
		if (strncmp(replies[i]->str, "WRONGTYPE", 9) == 0)
			l2_stats_count(L2_ERRORS, 1);
		else
		{
			char	   *reason = psprintf("Redis answered: %s", replies[i]->str);

			free_replies(replies, n);
			fail(false, reason);
			return false;
		}
	}
	return true;
}

/* Builds a command in the current memory context. */
static RedisCommand
command(int argc)
{
	RedisCommand cmd;

	cmd.argc = argc;
	cmd.argv = palloc(argc * sizeof(char *));
	cmd.argvlen = palloc(argc * sizeof(size_t));
	return cmd;
}

/* Sets argument i; arg is not copied and must outlive the exchange. */
static void
set_arg(RedisCommand *cmd, int i, const char *arg, size_t len)
{
	cmd->argv[i] = arg;
	cmd->argvlen[i] = len;
}

/* Sets argument i to a NUL-terminated string (command names, numbers). */
static void
set_arg_string(RedisCommand *cmd, int i, const char *arg)
{
	set_arg(cmd, i, arg, strlen(arg));
}

/*
 * Sends AUTH and SELECT on *conn as t asks; false with *reason (and
 * *timed_out) if Redis did not answer or refused.
 */
static bool
authenticate_and_select(redisContext **conn, const RedisTarget *t,
						bool *timed_out, char **reason)
{
	RedisCommand commands[2];
	redisReply *replies[2];
	int			n = 0;
	ExchangeResult result;
	bool		ok = true;

	if (t->password != NULL)
	{
		int			argc = t->user ? 3 : 2;

		commands[n] = command(argc);
		set_arg_string(&commands[n], 0, "AUTH");
		if (t->user)
			set_arg_string(&commands[n], 1, t->user);
		set_arg_string(&commands[n], argc - 1, t->password);
		n++;
	}
	if (t->db != 0)
	{
		commands[n] = command(2);
		set_arg_string(&commands[n], 0, "SELECT");
		set_arg_string(&commands[n], 1, psprintf("%d", t->db));
		n++;
	}
	if (n == 0)
		return true;
	result = exchange(conn, n, commands, replies, reason);
	if (result != EXCHANGE_OK)
	{
		*timed_out = result == EXCHANGE_TIMEOUT;
		return false;
	}
	for (int i = 0; i < n && ok; i++)
		if (replies[i]->type == REDIS_REPLY_ERROR)
		{
			/* Redis' own messages (WRONGPASS, NOAUTH, ERR DB index) quote no secret. */
			*reason = psprintf("Redis refused %s: %s",
							   commands[i].argv[0], replies[i]->str);
			ok = false;
		}
	free_replies(replies, n);
	return ok;
}

/*
 * Opens a connection to t: a non-blocking connect waited for up to
 * cachext.redis_connect_timeout, then AUTH and SELECT.  Returns NULL with
 * *reason (and *timed_out) on failure, having counted and logged nothing.
 */
static redisContext *
open_connection(const RedisTarget *t, bool *timed_out, char **reason)
{
	redisContext *volatile conn;
	TimestampTz deadline;
	int			socket_error = 0;
	socklen_t	optlen = sizeof(socket_error);
	bool		writable;

	*timed_out = false;
	if (!AcquireExternalFD())
	{
		*reason = pstrdup("This process has no file descriptor left for a Redis socket.");
		return NULL;
	}
	if (t->socket_path != NULL)
		conn = redisConnectUnixNonBlock(t->socket_path);
	else
		conn = redisConnectNonBlock(t->host, t->port);
	if (conn == NULL || conn->err)
	{
		*reason = pstrdup(conn ? conn->errstr : "Out of memory.");
		if (conn != NULL)
			close_connection((redisContext **) &conn);
		else
			ReleaseExternalFD();
		return NULL;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cachext_redis_connect_timeout_ms);
	PG_TRY();
	{
		writable = wait_for_socket(conn, WL_SOCKET_WRITEABLE, deadline);
	}
	PG_CATCH();
	{
		close_connection((redisContext **) &conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!writable)
	{
		*timed_out = true;
		*reason = psprintf("The connection took longer than cachext.redis_connect_timeout (%d ms).",
						   cachext_redis_connect_timeout_ms);
	}
	else if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &socket_error,
						&optlen) != 0)
		socket_error = errno;
	if (writable && socket_error != 0)
		*reason = psprintf("The connection failed: %s.", strerror(socket_error));
	if (!writable || socket_error != 0 ||
		!authenticate_and_select((redisContext **) &conn, t, timed_out, reason))
	{
		close_connection((redisContext **) &conn);
		return NULL;
	}
	return conn;
}

/* Opens this backend's connection, failing (breaker, count, WARNING) if it cannot. */
static bool
connect_to_redis(void)
{
	bool		timed_out;
	char	   *reason;

	redis = open_connection(&target, &timed_out, &reason);
	if (redis == NULL)
	{
		fail(timed_out, reason);
		return false;
	}
	return true;
}

/*
 * Makes sure this backend has a connection it may use: follows changes of
 * cachext.redis_url, honours the breaker, and connects when needed.
 */
static bool
ensure_connected(void)
{
	if (connected_url == NULL || strcmp(connected_url, cachext_redis_url) != 0)
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
		/* check_redis_url accepted it, so this parse succeeds */
		if (!parse_redis_url(connected_url, &target, &problem))
			elog(ERROR, "cachext.redis_url was accepted but does not parse");
		MemoryContextSwitchTo(old_context);
	}
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
	return connected_url == NULL ||
		strcmp(connected_url, cachext_redis_url) != 0 ||
		GetCurrentTimestamp() >= breaker_open_until;
}

/* Connects when needed and runs the commands; the common path of every call. */
static bool
connect_and_run(int ncommands, const RedisCommand *commands,
				redisReply **replies)
{
	if (!l2_is_configured() || !ensure_connected())
		return false;
	if (!run(ncommands, commands, replies))
		return false;
	if (!check_error_replies(replies, ncommands))
		return false;
	l2_stats_set_redis_state(L2_REDIS_UP);
	return true;
}

/* Copies a string reply into values[i] (a miss for nil or any other type). */
static void
take_value(redisReply *reply, L2Value *value)
{
	value->found = false;
	value->data = NULL;
	value->len = 0;
	value->pttl_ms = L2_NO_EXPIRY;
	if (reply->type != REDIS_REPLY_STRING)
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
	RedisCommand *commands = palloc(ncommands * sizeof(RedisCommand));
	redisReply **replies = palloc(ncommands * sizeof(redisReply *));

	commands[0] = command(nkeys + 1);
	set_arg_string(&commands[0], 0, nkeys == 1 ? "GET" : "MGET");
	for (int i = 0; i < nkeys; i++)
	{
		set_arg(&commands[0], i + 1, keys[i], key_lens[i]);
		commands[i + 1] = command(2);
		set_arg_string(&commands[i + 1], 0, "PTTL");
		set_arg(&commands[i + 1], 1, keys[i], key_lens[i]);
	}
	if (!connect_and_run(ncommands, commands, replies))
		return false;

	for (int i = 0; i < nkeys; i++)
	{
		redisReply *got = nkeys == 1 ? replies[0] :
			(replies[0]->type == REDIS_REPLY_ARRAY &&
			 replies[0]->elements == (size_t) nkeys) ?
			replies[0]->element[i] : NULL;
		redisReply *pttl = replies[i + 1];

		if (got == NULL)
		{
			values[i].found = false;
			values[i].data = NULL;
			continue;
		}
		take_value(got, &values[i]);
		if (values[i].found && pttl->type == REDIS_REPLY_INTEGER)
		{
			if (pttl->integer == -2)
			{
				pfree(values[i].data);
				values[i].found = false;
				values[i].data = NULL;
			}
			else if (pttl->integer >= 0)
				values[i].pttl_ms = pttl->integer;
		}
	}
	free_replies(replies, ncommands);
	return true;
}

/*
 * cachext's own Redis keys beside a cache key: the key, a NUL, then a
 * suffix.  No text key contains a NUL, so no cache entry can collide with
 * them.  "<key>\0seq" is the key's write sequence, the Redis side of a
 * lease: every write and invalidation of the key increments it, and it
 * expires after an hour idle.  "<key>\0load" is the key's load lock.
 */
#define L2_SEQ_SUFFIX		"\0seq"
#define L2_LOCK_SUFFIX		"\0load"
#define L2_SEQ_TTL_MS		"3600000"

/* One counter for every pattern invalidation and clear, of any prefix. */
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

/* Adds INCR and PEXPIRE of the key's write sequence as commands[0..1]. */
static void
bump_commands(RedisCommand *commands, const char *seq, int seq_len)
{
	commands[0] = command(2);
	set_arg_string(&commands[0], 0, "INCR");
	set_arg(&commands[0], 1, seq, seq_len);
	commands[1] = command(3);
	set_arg_string(&commands[1], 0, "PEXPIRE");
	set_arg(&commands[1], 1, seq, seq_len);
	set_arg_string(&commands[1], 2, L2_SEQ_TTL_MS);
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
	RedisCommand commands[3];
	redisReply *replies[3];
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	commands[0] = command(ttl_ms >= 0 ? 5 : 3);
	set_arg_string(&commands[0], 0, "SET");
	set_arg(&commands[0], 1, key, key_len);
	set_arg(&commands[0], 2, value, value_len);
	if (ttl_ms >= 0)
	{
		set_arg_string(&commands[0], 3, "PX");
		set_arg_string(&commands[0], 4, psprintf(INT64_FORMAT, ttl_ms));
	}
	bump_commands(&commands[1], seq, seq_len);
	if (!connect_and_run(3, commands, replies))
		return false;
	free_replies(replies, 3);
	return true;
}

/* UNLINK key, bumping its write sequence; *existed says whether Redis held it. */
bool
l2_unlink(const char *key, int key_len, bool *existed)
{
	RedisCommand commands[3];
	redisReply *replies[3];
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	commands[0] = command(2);
	set_arg_string(&commands[0], 0, "UNLINK");
	set_arg(&commands[0], 1, key, key_len);
	bump_commands(&commands[1], seq, seq_len);
	if (!connect_and_run(3, commands, replies))
		return false;
	*existed = replies[0]->type == REDIS_REPLY_INTEGER && replies[0]->integer > 0;
	free_replies(replies, 3);
	return true;
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
 * Reads the Redis side of key's lease: its write sequence and the epoch of
 * pattern invalidations.  A counter Redis does not hold is created first
 * with a random value (the sequence with its idle expiry), so a lease
 * always holds two values that exist in Redis; see LEASE_STILL_VALID.
 */
bool
l2_read_lease(const char *key, int key_len, L2Lease *lease)
{
	RedisCommand cmd = command(7);
	redisReply *reply;
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	set_arg_string(&cmd, 0, "EVAL");
	set_arg_string(&cmd, 1,
				   "redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', " L2_SEQ_TTL_MS ") "
				   "redis.call('SET', KEYS[2], ARGV[2], 'NX') "
				   "return redis.call('MGET', KEYS[1], KEYS[2])");
	set_arg_string(&cmd, 2, "2");
	set_arg(&cmd, 3, seq, seq_len);
	set_arg(&cmd, 4, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1);
	set_arg_string(&cmd, 5, random_counter_start());
	set_arg_string(&cmd, 6, random_counter_start());
	if (!connect_and_run(1, &cmd, &reply))
		return false;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
		reply->element[0]->type != REDIS_REPLY_STRING ||
		reply->element[1]->type != REDIS_REPLY_STRING)
	{
		freeReplyObject(reply);
		return false;
	}
	lease->seq = pnstrdup(reply->element[0]->str, reply->element[0]->len);
	lease->epoch = pnstrdup(reply->element[1]->str, reply->element[1]->len);
	freeReplyObject(reply);
	return true;
}

/*
 * The one place a lease is checked (Lua, in the storing script, with the
 * key's write sequence as KEYS[2], the epoch as KEYS[3] and the lease's
 * values as ARGV[2] and ARGV[3]): both counters must exist and still hold
 * the values the lease read.  A missing counter never validates a lease:
 * l2_read_lease created both, so missing means something (an eviction, a
 * DEL, a pattern invalidation's UNLINK) removed it since, and a counter
 * created again would not tell what happened meanwhile.
 */
#define LEASE_STILL_VALID \
	"local seq = redis.call('GET', KEYS[2]) " \
	"local epoch = redis.call('GET', KEYS[3]) " \
	"local lease_valid = seq and epoch and " \
	"seq == ARGV[2] and epoch == ARGV[3] "

/*
 * Stores value only if the lease is still valid (LEASE_STILL_VALID): the
 * check and the SET run as one script, so no invalidation can slip between
 * them.  *stored says whether it stored.
 */
bool
l2_set_under_lease(const char *key, int key_len, const char *value,
				   int value_len, int64 ttl_ms, const L2Lease *lease,
				   bool *stored)
{
	RedisCommand cmd = command(10);
	redisReply *reply;
	int			seq_len;
	char	   *seq = seq_key(key, key_len, &seq_len);

	set_arg_string(&cmd, 0, "EVAL");
	set_arg_string(&cmd, 1,
				   LEASE_STILL_VALID
				   "if not lease_valid then return 0 end "
				   "if tonumber(ARGV[4]) >= 0 then "
				   "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4]) "
				   "else redis.call('SET', KEYS[1], ARGV[1]) end "
				   "redis.call('INCR', KEYS[2]) "
				   "redis.call('PEXPIRE', KEYS[2], " L2_SEQ_TTL_MS ") "
				   "return 1");
	set_arg_string(&cmd, 2, "3");
	set_arg(&cmd, 3, key, key_len);
	set_arg(&cmd, 4, seq, seq_len);
	set_arg(&cmd, 5, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1);
	set_arg(&cmd, 6, value, value_len);
	set_arg_string(&cmd, 7, lease->seq);
	set_arg_string(&cmd, 8, lease->epoch);
	set_arg_string(&cmd, 9, psprintf(INT64_FORMAT, ttl_ms >= 0 ? ttl_ms : -1));
	if (!connect_and_run(1, &cmd, &reply))
		return false;
	*stored = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
	freeReplyObject(reply);
	return true;
}

/* Bumps the epoch of pattern invalidations, so loads begun before it fail. */
static bool
bump_epoch(void)
{
	RedisCommand cmd = command(2);
	redisReply *reply;

	set_arg_string(&cmd, 0, "INCR");
	set_arg(&cmd, 1, L2_EPOCH_KEY, sizeof(L2_EPOCH_KEY) - 1);
	if (!connect_and_run(1, &cmd, &reply))
		return false;
	freeReplyObject(reply);
	return true;
}

/*
 * Unlinks every key matching a SCAN MATCH pattern, one SCAN page (COUNT
 * 1000) and one UNLINK at a time; never KEYS, which blocks Redis.  A
 * failure part way leaves the rest; the caller queues the pattern again.
 */
bool
l2_unlink_matching(const char *match, int match_len, int64 *removed)
{
	char	   *cursor = pstrdup("0");

	*removed = 0;
	if (!bump_epoch())
		return false;
	do
	{
		RedisCommand scan = command(6);
		redisReply *page;
		redisReply *keys;

		set_arg_string(&scan, 0, "SCAN");
		set_arg_string(&scan, 1, cursor);
		set_arg_string(&scan, 2, "MATCH");
		set_arg(&scan, 3, match, match_len);
		set_arg_string(&scan, 4, "COUNT");
		set_arg_string(&scan, 5, "1000");
		if (!connect_and_run(1, &scan, &page))
			return false;
		if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
			page->element[0]->type != REDIS_REPLY_STRING ||
			page->element[1]->type != REDIS_REPLY_ARRAY)
		{
			freeReplyObject(page);
			fail(false, "Redis answered SCAN with an unexpected reply.");
			return false;
		}
		cursor = pnstrdup(page->element[0]->str, page->element[0]->len);
		keys = page->element[1];
		if (keys->elements > 0)
		{
			/*
			 * Two UNLINKs in one round trip: cache entries, which are
			 * counted, and cachext's own keys (write sequences and load
			 * locks, which contain a NUL), which are not.
			 */
			RedisCommand unlink[2] = {command(keys->elements + 1),
			command(keys->elements + 1)};
			redisReply *counts[2];
			int			n[2] = {1, 1};
			int			ncommands;

			for (int c = 0; c < 2; c++)
				set_arg_string(&unlink[c], 0, "UNLINK");
			for (size_t i = 0; i < keys->elements; i++)
			{
				int			c = memchr(keys->element[i]->str, '\0',
									   keys->element[i]->len) != NULL;

				set_arg(&unlink[c], n[c]++, keys->element[i]->str,
						keys->element[i]->len);
			}
			unlink[0].argc = n[0];
			unlink[1].argc = n[1];
			ncommands = (n[0] > 1) + (n[1] > 1);
			if (n[0] == 1)
				unlink[0] = unlink[1];	/* no cache entry on this page */
			if (!connect_and_run(ncommands, unlink, counts))
			{
				freeReplyObject(page);
				return false;
			}
			if (n[0] > 1 && counts[0]->type == REDIS_REPLY_INTEGER)
				*removed += counts[0]->integer;
			free_replies(counts, ncommands);
		}
		freeReplyObject(page);
	} while (strcmp(cursor, "0") != 0);
	return true;
}

/*
 * Takes the load lock of a cache key (SET <key>\0load token NX PX ttl_ms):
 * a lock that expires by itself if its owner dies.  *acquired says whether
 * this call took it.
 */
bool
l2_lock(const char *key, int key_len, const char *token, int64 ttl_ms,
		bool *acquired)
{
	RedisCommand cmd = command(6);
	redisReply *reply;
	int			lock_len;
	char	   *lock = lock_key(key, key_len, &lock_len);

	set_arg_string(&cmd, 0, "SET");
	set_arg(&cmd, 1, lock, lock_len);
	set_arg_string(&cmd, 2, token);
	set_arg_string(&cmd, 3, "NX");
	set_arg_string(&cmd, 4, "PX");
	set_arg_string(&cmd, 5, psprintf(INT64_FORMAT, Max(ttl_ms, 1)));
	if (!connect_and_run(1, &cmd, &reply))
		return false;
	*acquired = reply->type == REDIS_REPLY_STATUS;
	freeReplyObject(reply);
	return true;
}

/*
 * Releases a cache key's load lock only if it still holds token, in one
 * script so that a lock that expired and was taken by someone else is never
 * released by us.
 */
bool
l2_unlock(const char *key, int key_len, const char *token)
{
	RedisCommand cmd = command(5);
	redisReply *reply;
	int			lock_len;
	char	   *lock = lock_key(key, key_len, &lock_len);

	set_arg_string(&cmd, 0, "EVAL");
	set_arg_string(&cmd, 1,
				   "if redis.call('GET', KEYS[1]) == ARGV[1] then "
				   "return redis.call('DEL', KEYS[1]) else return 0 end");
	set_arg_string(&cmd, 2, "1");
	set_arg(&cmd, 3, lock, lock_len);
	set_arg_string(&cmd, 4, token);
	if (!connect_and_run(1, &cmd, &reply))
		return false;
	freeReplyObject(reply);
	return true;
}

/*
 * Opens a connection of the caller's own to the Redis server url names
 * (url must have passed check_redis_url), for a process that follows Redis
 * rather than caching through it: the sync worker.  Nothing is counted, no
 * breaker opens and nothing is logged; on failure returns NULL and sets
 * *reason to a sentence naming the server, never the password.
 */
redisContext *
l2_open(const char *url, char **reason)
{
	RedisTarget parsed;
	const char *problem;
	bool		timed_out;
	char	   *why;
	redisContext *conn;

	if (!parse_redis_url(url, &parsed, &problem))
	{
		*reason = pstrdup(problem);
		return NULL;
	}
	conn = open_connection(&parsed, &timed_out, &why);
	if (conn == NULL)
		*reason = psprintf("Redis at %s: %s", parsed.display, why);
	return conn;
}

/*
 * Runs one command of NUL-terminated arguments on a connection from
 * l2_open, waiting up to cachext.redis_timeout; on failure returns false
 * with *reason, and the caller should l2_close the connection.  The reply
 * (possibly an error reply) is the caller's to free.
 */
bool
l2_call(redisContext **conn, int argc, const char **argv, redisReply **reply,
		char **reason)
{
	RedisCommand cmd = command(argc);

	for (int i = 0; i < argc; i++)
		set_arg_string(&cmd, i, argv[i]);
	return exchange(conn, 1, &cmd, reply, reason) == EXCHANGE_OK;
}

/* Closes a connection from l2_open; *conn becomes NULL. */
void
l2_close(redisContext **conn)
{
	close_connection(conn);
}
