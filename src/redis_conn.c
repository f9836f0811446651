/*-------------------------------------------------------------------------
 * redis_conn.c
 *	  One connection to one Redis server: a non-blocking socket of our own
 *	  (TCP or unix), AUTH and SELECT, and pipelined exchanges of commands.
 *
 * Protocol.  hiredis does what it does well, and nothing else: it formats
 * commands (redisFormatCommandArgv) and parses replies (a redisReader
 * building RedisReply objects through our own object functions).  The
 * socket is ours: connected, written and read here, so that the same
 * waits serve every transport.  This is the only file that includes
 * hiredis.
 *
 * Memory.  A RedisConn and its reader are malloc'd by hiredis or palloc'd
 * in TopMemoryContext (it outlives transactions); replies are malloc'd by
 * the reader and freed with redis_reply_free on every path, including
 * before an error propagates.  Formatted commands live in the caller's
 * memory context for the length of one exchange.
 *
 * Descriptors.  Each socket is counted with AcquireExternalFD before it is
 * made and ReleaseExternalFD once it is closed.
 *
 * Waiting.  Every wait is a wait on the socket, this process' latch and
 * postmaster death with the time left to the deadline (the caller's
 * cachext.redis_timeout per exchange, cachext.redis_connect_timeout for
 * the connect), followed by CHECK_FOR_INTERRUPTS.  The wait set is kept
 * for the socket waited on last, so a wait is one epoll_wait rather than
 * WaitLatchOrSocket's five extra system calls to build and free a set: an
 * L2 hit is a handful of system calls, and they are most of its cost.  A
 * cancel or statement_timeout raised while waiting closes the connection
 * (its protocol state is unknown) and frees the replies read so far
 * before the error propagates.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"

#include "redis_conn.h"

int			cachext_redis_connect_timeout_ms = 200;
int			cachext_redis_timeout_ms = 100;

/* Bytes read from the socket at a time. */
#define READ_CHUNK_BYTES	(16 * 1024)

struct RedisConn
{
	pgsocket	fd;
	redisReader *reader;		/* malloc'd by hiredis */
};

/* What one read or write on the socket did. */
typedef enum IoResult
{
	IO_DONE,					/* some bytes moved */
	IO_WANT_READ,				/* wait until the socket is readable */
	IO_WANT_WRITE,				/* wait until the socket is writable */
	IO_FAILED					/* closed by the server, or an error */
} IoResult;

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

/*
 * Defines the connection's settings; called from cachext.c's
 * define_settings so that every setting is registered in _PG_init.
 */
void
redis_conn_define_settings(void)
{
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
}

/* Builds a command in the current memory context. */
RedisCommand
redis_command(int argc)
{
	RedisCommand cmd;

	cmd.argc = argc;
	cmd.argv = palloc(argc * sizeof(char *));
	cmd.argvlen = palloc(argc * sizeof(size_t));
	return cmd;
}

/* Sets argument i; arg is not copied and must outlive the exchange. */
void
redis_command_arg(RedisCommand *cmd, int i, const char *arg, size_t len)
{
	cmd->argv[i] = arg;
	cmd->argvlen[i] = len;
}

/* Sets argument i to a NUL-terminated string (command names, numbers). */
void
redis_command_arg_string(RedisCommand *cmd, int i, const char *arg)
{
	redis_command_arg(cmd, i, arg, strlen(arg));
}

/* Frees a reply and everything in it; NULL is allowed. */
void
redis_reply_free(RedisReply *reply)
{
	if (reply == NULL)
		return;
	for (size_t i = 0; i < reply->elements; i++)
		redis_reply_free(reply->element[i]);
	free(reply->element);
	free(reply->str);
	free(reply);
}

/* Frees the first n replies of an array, leaving NULLs. */
void
redis_replies_free(RedisReply **replies, int n)
{
	for (int i = 0; i < n; i++)
	{
		redis_reply_free(replies[i]);
		replies[i] = NULL;
	}
}

/*
 * The reader's object functions: they run inside hiredis, so they malloc
 * and answer NULL on failure (the reader then reports out of memory)
 * rather than raise an error.
 */
static void *
new_reply(const redisReadTask *task, RedisReplyType type)
{
	RedisReply *reply = calloc(1, sizeof(RedisReply));

	if (reply == NULL)
		return NULL;
	reply->type = type;
	if (task->parent != NULL)
		((RedisReply *) task->parent->obj)->element[task->idx] = reply;
	return reply;
}

static void *
create_string(const redisReadTask *task, char *str, size_t len)
{
	char	   *copy = malloc(len + 1);
	RedisReply *reply;

	if (copy == NULL)
		return NULL;
	reply = new_reply(task, task->type == REDIS_REPLY_ERROR ? REPLY_ERROR :
					  task->type == REDIS_REPLY_STATUS ? REPLY_STATUS :
					  REPLY_STRING);
	if (reply == NULL)
	{
		free(copy);
		return NULL;
	}
	memcpy(copy, str, len);
	copy[len] = '\0';
	reply->str = copy;
	reply->len = len;
	return reply;
}

static void *
create_array(const redisReadTask *task, int elements)
{
	RedisReply **element = calloc(Max(elements, 1), sizeof(RedisReply *));
	RedisReply *reply;

	if (element == NULL)
		return NULL;
	reply = new_reply(task, REPLY_ARRAY);
	if (reply == NULL)
	{
		free(element);
		return NULL;
	}
	reply->element = element;
	reply->elements = elements;
	return reply;
}

static void *
create_integer(const redisReadTask *task, long long value)
{
	RedisReply *reply = new_reply(task, REPLY_INTEGER);

	if (reply != NULL)
		reply->integer = value;
	return reply;
}

static void *
create_nil(const redisReadTask *task)
{
	return new_reply(task, REPLY_NIL);
}

static void
free_object(void *reply)
{
	redis_reply_free(reply);
}

static redisReplyObjectFunctions reply_functions = {
	create_string, create_array, create_integer, create_nil, free_object
};

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

/*
 * Waits until fd is ready for events; false once the deadline passes.
 * Interrupts are served on every pass.
 */
static bool
wait_for_socket(pgsocket fd, int events, TimestampTz deadline)
{
	WaitEventSet *set = socket_wait_set_for(fd, events);

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

/* Waits for what an IoResult asks; false once the deadline passes. */
static bool
wait_for_io(RedisConn *conn, IoResult wanted, TimestampTz deadline)
{
	return wait_for_socket(conn->fd,
						   wanted == IO_WANT_WRITE ? WL_SOCKET_WRITEABLE :
						   WL_SOCKET_READABLE, deadline);
}

/* Closes a connection, if any, and gives its socket back to fd.c's count. */
void
redis_conn_close(RedisConn **conn)
{
	RedisConn  *c = *conn;

	if (c == NULL)
		return;
	*conn = NULL;
	if (c->fd == socket_wait_fd)
		forget_socket_wait_set();
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	if (c->fd != PGINVALID_SOCKET)
	{
		close(c->fd);
		ReleaseExternalFD();
	}
	pfree(c);
}

/* Writes what it can of buf; *written says how much. */
static IoResult
write_some(RedisConn *conn, const char *buf, size_t len, size_t *written,
		   char **reason)
{
	ssize_t		n;

	do
		n = send(conn->fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
	{
		*written = n;
		return IO_DONE;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return IO_WANT_WRITE;
	*reason = psprintf("Writing to Redis failed: %m.");
	return IO_FAILED;
}

/* Reads what the socket holds into buf; *nread says how much. */
static IoResult
read_some(RedisConn *conn, char *buf, size_t len, size_t *nread,
		  char **reason)
{
	ssize_t		n;

	do
		n = recv(conn->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
	{
		*nread = n;
		return IO_DONE;
	}
	if (n == 0)
	{
		*reason = pstrdup("Redis closed the connection.");
		return IO_FAILED;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return IO_WANT_READ;
	*reason = psprintf("Reading from Redis failed: %m.");
	return IO_FAILED;
}

/*
 * Moves what the socket holds now into the reader, without waiting;
 * *fed says whether any byte came.  Returns IO_WANT_READ (or
 * IO_WANT_WRITE) once nothing more can be read now, IO_FAILED with
 * *reason on failure.
 */
static IoResult
read_into_reader(RedisConn *conn, bool *fed, char **reason)
{
	char		buf[READ_CHUNK_BYTES];

	*fed = false;
	for (;;)
	{
		size_t		nread = 0;
		IoResult	result = read_some(conn, buf, sizeof(buf), &nread, reason);

		/* what came before a failure is read first; it repeats next time */
		if (result == IO_FAILED && *fed)
			return IO_WANT_READ;
		if (result != IO_DONE)
			return result;
		if (redisReaderFeed(conn->reader, buf, nread) != REDIS_OK)
		{
			*reason = pstrdup(conn->reader->errstr);
			return IO_FAILED;
		}
		*fed = true;
	}
}

/*
 * Takes the next complete reply from what was read; *reply is NULL when
 * none is complete yet.  False with *reason on a protocol error.
 */
bool
redis_conn_next_reply(RedisConn *conn, RedisReply **reply, char **reason)
{
	void	   *got = NULL;

	if (redisReaderGetReply(conn->reader, &got) != REDIS_OK)
	{
		*reason = psprintf("Redis' reply could not be read: %s",
						   conn->reader->errstr);
		return false;
	}
	*reply = got;
	return true;
}

/*
 * Reads what the socket holds now, without waiting, for
 * redis_conn_next_reply to take; false with *reason if the connection
 * failed.
 */
bool
redis_conn_read_available(RedisConn *conn, char **reason)
{
	bool		fed;

	return read_into_reader(conn, &fed, reason) != IO_FAILED;
}

/* The connection's socket, to wait on. */
pgsocket
redis_conn_socket(const RedisConn *conn)
{
	return conn->fd;
}

/*
 * Sends the commands on *conn in one write and reads their replies into
 * replies[] (all of them, or none: on failure every reply read is freed).
 * On failure *reason says why; the caller decides what to do with the
 * connection.  An error raised while waiting (a cancel) closes *conn,
 * whose protocol state is then unknown.
 */
RedisConnResult
redis_conn_exchange(RedisConn **conn, int ncommands,
					const RedisCommand *commands, RedisReply **replies,
					char **reason)
{
	RedisConn  *c = *conn;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   cachext_redis_timeout_ms);
	StringInfoData out;
	volatile int nreplies = 0;
	volatile RedisConnResult result = REDIS_CONN_OK;

	initStringInfo(&out);
	for (int i = 0; i < ncommands; i++)
	{
		char	   *formatted;
		int			len = redisFormatCommandArgv(&formatted, commands[i].argc,
												 commands[i].argv,
												 commands[i].argvlen);

		replies[i] = NULL;
		if (len < 0)
		{
			*reason = pstrdup("Out of memory formatting a command.");
			return REDIS_CONN_FAILED;
		}
		appendBinaryStringInfo(&out, formatted, len);
		redisFreeCommand(formatted);
	}

	*reason = NULL;
	PG_TRY();
	{
		size_t		sent = 0;

		while (sent < (size_t) out.len && result == REDIS_CONN_OK)
		{
			size_t		written = 0;
			IoResult	io = write_some(c, out.data + sent, out.len - sent,
										&written, reason);

			if (io == IO_DONE)
				sent += written;
			else if (io == IO_FAILED)
				result = REDIS_CONN_FAILED;
			else if (!wait_for_io(c, io, deadline))
				result = REDIS_CONN_TIMEOUT;
		}
		while (result == REDIS_CONN_OK && nreplies < ncommands)
		{
			RedisReply *reply;
			IoResult	io;
			bool		fed;

			if (!redis_conn_next_reply(c, &reply, reason))
				result = REDIS_CONN_FAILED;
			else if (reply != NULL)
				replies[nreplies++] = reply;
			else if ((io = read_into_reader(c, &fed, reason)) == IO_FAILED)
				result = REDIS_CONN_FAILED;
			else if (!fed && !wait_for_io(c, io, deadline))
				result = REDIS_CONN_TIMEOUT;
		}
	}
	PG_CATCH();
	{
		redis_replies_free(replies, nreplies);
		redis_conn_close(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (result == REDIS_CONN_TIMEOUT)
		*reason = psprintf("Redis did not answer within cachext.redis_timeout (%d ms).",
						   cachext_redis_timeout_ms);
	if (result != REDIS_CONN_OK)
		redis_replies_free(replies, nreplies);
	pfree(out.data);
	return result;
}

/*
 * Starts a non-blocking connect to t's host and port (or socket path);
 * the socket, or PGINVALID_SOCKET with *reason.  The caller has acquired
 * the external descriptor.
 */
static pgsocket
start_connect(const RedisTarget *t, char **reason)
{
	pgsocket	fd = PGINVALID_SOCKET;

	if (t->socket_path != NULL)
	{
		struct sockaddr_un addr;

		memset(&addr, 0, sizeof(addr));
		addr.sun_family = AF_UNIX;
		if (strlen(t->socket_path) >= sizeof(addr.sun_path))
		{
			*reason = pstrdup("The unix socket path is too long.");
			return PGINVALID_SOCKET;
		}
		strcpy(addr.sun_path, t->socket_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 ||
			(connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0 &&
			 errno != EINPROGRESS))
		{
			*reason = psprintf("The connection failed: %m.");
			if (fd >= 0)
				close(fd);
			return PGINVALID_SOCKET;
		}
	}
	else
	{
		struct addrinfo hints;
		struct addrinfo *addresses;
		char		port[16];
		int			rc;
		int			one = 1;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof(port), "%d", t->port);
		rc = getaddrinfo(t->host, port, &hints, &addresses);
		if (rc != 0)
		{
			*reason = psprintf("The host name could not be resolved: %s.",
							   gai_strerror(rc));
			return PGINVALID_SOCKET;
		}
		*reason = pstrdup("The host name resolved to no address.");
		for (struct addrinfo *a = addresses; a != NULL; a = a->ai_next)
		{
			fd = socket(a->ai_family,
						a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
						a->ai_protocol);
			if (fd < 0)
				continue;
			if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
				errno == EINPROGRESS)
				break;
			*reason = psprintf("The connection failed: %m.");
			close(fd);
			fd = PGINVALID_SOCKET;
		}
		freeaddrinfo(addresses);
		if (fd != PGINVALID_SOCKET)
			(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

/* Did the non-blocking connect of fd succeed?  False with *reason. */
static bool
socket_connected(pgsocket fd, char **reason)
{
	int			socket_error = 0;
	socklen_t	optlen = sizeof(socket_error);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &socket_error, &optlen) != 0)
		socket_error = errno;
	if (socket_error == 0)
		return true;
	*reason = psprintf("The connection failed: %s.", strerror(socket_error));
	return false;
}

/*
 * Sends AUTH and SELECT on *conn as t asks; false with *reason (and
 * *result) if Redis did not answer or refused.
 */
static bool
authenticate_and_select(RedisConn **conn, const RedisTarget *t,
						RedisConnResult *result, char **reason)
{
	RedisCommand commands[2];
	RedisReply *replies[2];
	int			n = 0;
	bool		ok = true;

	if (t->password != NULL)
	{
		int			argc = t->user ? 3 : 2;

		commands[n] = redis_command(argc);
		redis_command_arg_string(&commands[n], 0, "AUTH");
		if (t->user)
			redis_command_arg_string(&commands[n], 1, t->user);
		redis_command_arg_string(&commands[n], argc - 1, t->password);
		n++;
	}
	if (t->db != 0)
	{
		commands[n] = redis_command(2);
		redis_command_arg_string(&commands[n], 0, "SELECT");
		redis_command_arg_string(&commands[n], 1, psprintf("%d", t->db));
		n++;
	}
	if (n == 0)
		return true;
	*result = redis_conn_exchange(conn, n, commands, replies, reason);
	if (*result != REDIS_CONN_OK)
		return false;
	for (int i = 0; i < n && ok; i++)
		if (replies[i]->type == REPLY_ERROR)
		{
			/* Redis' own messages (WRONGPASS, NOAUTH, ERR DB index) quote no secret. */
			*reason = psprintf("Redis refused %s: %s",
							   commands[i].argv[0], replies[i]->str);
			*result = REDIS_CONN_FAILED;
			ok = false;
		}
	redis_replies_free(replies, n);
	return ok;
}

/*
 * Opens a connection to t: a non-blocking connect waited for up to
 * cachext.redis_connect_timeout, then AUTH and SELECT.  Returns NULL with
 * *result and *reason on failure, having counted and logged nothing.
 */
RedisConn *
redis_conn_open(const RedisTarget *t, RedisConnResult *result, char **reason)
{
	RedisConn  *volatile conn;
	TimestampTz deadline;
	volatile bool connected = false;

	*result = REDIS_CONN_FAILED;
	if (!AcquireExternalFD())
	{
		*reason = pstrdup("This process has no file descriptor left for a Redis socket.");
		return NULL;
	}
	conn = MemoryContextAllocZero(TopMemoryContext, sizeof(RedisConn));
	conn->fd = start_connect(t, reason);
	if (conn->fd == PGINVALID_SOCKET)
	{
		pfree(conn);
		ReleaseExternalFD();
		return NULL;
	}
	conn->reader = redisReaderCreateWithFunctions(&reply_functions);
	if (conn->reader == NULL)
	{
		*reason = pstrdup("Out of memory.");
		redis_conn_close((RedisConn **) &conn);
		return NULL;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   cachext_redis_connect_timeout_ms);
	PG_TRY();
	{
		if (!wait_for_socket(conn->fd, WL_SOCKET_WRITEABLE, deadline))
		{
			*result = REDIS_CONN_TIMEOUT;
			*reason = psprintf("The connection took longer than cachext.redis_connect_timeout (%d ms).",
							   cachext_redis_connect_timeout_ms);
		}
		else if (socket_connected(conn->fd, reason))
			connected = true;
	}
	PG_CATCH();
	{
		redis_conn_close((RedisConn **) &conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!connected ||
		!authenticate_and_select((RedisConn **) &conn, t, result, reason))
	{
		redis_conn_close((RedisConn **) &conn);
		return NULL;
	}
	*result = REDIS_CONN_OK;
	return conn;
}
