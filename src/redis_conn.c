/*-------------------------------------------------------------------------
 * redis_conn.c
 *	  One connection to one Redis server: a non-blocking socket of our own
 *	  (TCP, unix, or TLS over TCP), AUTH and SELECT, and pipelined exchanges
 *	  of commands.
 *
 * Protocol.  hiredis does what it does well, and nothing else: it formats
 * commands (redisFormatCommandArgv) and parses replies (a redisReader
 * building RedisReply objects through our own object functions).  The
 * socket is ours: connected, written and read here, so that the same
 * waits serve every transport.  This is the only file that includes
 * hiredis.
 *
 * TLS.  For rediss://, OpenSSL runs on the same socket: a context built
 * per connection from the cachext.redis_tls_* settings in force (so a
 * reload applies to the next connection), SNI and, under verify = full,
 * the host name or IP address the certificate must carry; the handshake
 * and every SSL_read/SSL_write map WANT_READ/WANT_WRITE onto the same
 * waits.  OpenSSL's error queue is per thread and shared with PostgreSQL's
 * own TLS, so it is emptied before each call and after a failure.  A
 * certificate that does not verify fails the connect like any fault, with
 * OpenSSL's reason.  A change of a TLS setting (or of the Sentinel
 * credentials) bumps redis_conn_settings_generation, and the users of
 * connections reconnect when it moved.
 *
 * Memory.  A RedisConn is palloc'd in TopMemoryContext (it outlives
 * transactions); its reader and SSL object are malloc'd by hiredis and
 * OpenSSL; replies are malloc'd by the reader and freed with
 * redis_reply_free on every path, including before an error propagates.
 * Formatted commands live in the caller's memory context for the length
 * of one exchange.
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
#include <arpa/inet.h>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "durations.h"
#include "guc.h"
#include "redis_conn.h"
#include "wait_events.h"

/* Bytes read from the socket at a time. */
#define READ_CHUNK_BYTES	(16 * 1024)

struct RedisConn
{
	pgsocket	fd;
	SSL		   *ssl;			/* NULL unless rediss:// */
	redisReader *reader;		/* malloc'd by hiredis */
	int			unread;			/* replies owed to redis_conn_send's commands,
								 * dropped by the next exchange */
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
 * Counts changes of the settings that say how to connect (TLS files and
 * verification, Sentinel credentials): a process compares it with the
 * value it connected under, and reconnects when it moved, as it does for a
 * new cachext.redis_url.  Per process, bumped by the settings' assign
 * hooks (guc.c) when a value really changes (a reload assigns every
 * setting again).
 */
static uint64 settings_generation = 0;

/* A setting that says how to connect changed: bump the generation. */
void
redis_conn_settings_changed(void)
{
	settings_generation++;
}

/* The current generation of the connection settings. */
uint64
redis_conn_settings_generation(void)
{
	return settings_generation;
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
		if (WaitEventSetWait(set,
							 (long) cachext_usecs_to_ms_ceil(deadline - now),
							 &event, 1,
							 cachext_wait_event(CACHEXT_WAIT_REDIS)) == 0)
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
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->reader != NULL)
		redisReaderFree(c->reader);
	if (c->fd != PGINVALID_SOCKET)
	{
		close(c->fd);
		ReleaseExternalFD();
	}
	pfree(c);
}

/*
 * What an SSL call's failure asks for: a wait, or nothing more (with
 * *reason).  OpenSSL's error queue is per thread and shared with
 * PostgreSQL's own TLS, so it is emptied here.
 */
static IoResult
tls_result(RedisConn *conn, int rc, const char *doing, char **reason)
{
	int			error = SSL_get_error(conn->ssl, rc);
	unsigned long queued = ERR_get_error();

	ERR_clear_error();
	if (error == SSL_ERROR_WANT_READ)
		return IO_WANT_READ;
	if (error == SSL_ERROR_WANT_WRITE)
		return IO_WANT_WRITE;
	if (error == SSL_ERROR_ZERO_RETURN ||
		(error == SSL_ERROR_SYSCALL && queued == 0 && errno == 0))
		*reason = psprintf("Redis closed the connection while %s.", doing);
	else if (queued != 0)
		*reason = psprintf("TLS failed while %s: %s.", doing,
						   ERR_reason_error_string(queued) ?
						   ERR_reason_error_string(queued) : "unknown error");
	else
		*reason = psprintf("TLS failed while %s: %m.", doing);
	return IO_FAILED;
}

/* One SSL_write (writing) or SSL_read of buf; *moved says how much. */
static IoResult
tls_transfer(RedisConn *conn, bool writing, const char *buf, size_t len,
			 size_t *moved, char **reason)
{
	int			rc;

	ERR_clear_error();
	errno = 0;
	rc = writing ? SSL_write(conn->ssl, buf, (int) Min(len, INT_MAX)) :
		SSL_read(conn->ssl, (char *) buf, (int) Min(len, INT_MAX));
	if (rc > 0)
	{
		*moved = rc;
		return IO_DONE;
	}
	return tls_result(conn, rc, writing ? "writing" : "reading", reason);
}

/* Writes what it can of buf; *written says how much. */
static IoResult
write_some(RedisConn *conn, const char *buf, size_t len, size_t *written,
		   char **reason)
{
	ssize_t		n;

	if (conn->ssl != NULL)
		return tls_transfer(conn, true, buf, len, written, reason);

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

	if (conn->ssl != NULL)
		return tls_transfer(conn, false, buf, len, nread, reason);

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
 * Moves what the socket holds into the reader, without waiting: until it
 * would block when all is true (so that nothing stays buffered inside
 * OpenSSL while the caller waits on the socket), else while reads fill
 * the buffer (an exchange parses before it reads more, which saves the
 * read that would find nothing).  Returns IO_DONE if bytes came and
 * reading stopped before the socket ran dry, IO_WANT_READ (or
 * IO_WANT_WRITE) once it did, IO_FAILED with *reason on failure.  What
 * came before a failure is returned first: the failure repeats next time.
 */
static IoResult
read_into_reader(RedisConn *conn, bool all, char **reason)
{
	char		buf[READ_CHUNK_BYTES];
	bool		fed = false;

	for (;;)
	{
		size_t		nread = 0;
		IoResult	result = read_some(conn, buf, sizeof(buf), &nread, reason);

		if (result == IO_FAILED && fed)
			return IO_WANT_READ;
		if (result != IO_DONE)
			return result;
		if (redisReaderFeed(conn->reader, buf, nread) != REDIS_OK)
		{
			*reason = pstrdup(conn->reader->errstr);
			return IO_FAILED;
		}
		fed = true;
		if (!all && nread < sizeof(buf))
			return IO_DONE;
	}
}

/* Does OpenSSL hold bytes of ours that a wait on the socket would miss? */
static bool
has_buffered_input(RedisConn *conn)
{
	return conn->ssl != NULL && SSL_has_pending(conn->ssl);
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
	return read_into_reader(conn, true, reason) != IO_FAILED;
}

/*
 * Did the server close conn, or send something unasked, while it lay idle
 * between exchanges (a node restarted since)?  One peek at the socket that
 * never waits: any byte or end of stream says so, since an idle
 * connection of cachext's has nothing to read.  Lets a caller that must
 * not send a command twice open a new connection before writing, rather
 * than find the old one dead after writing, not knowing whether the
 * command ran.
 */
bool
redis_conn_idle_broken(const RedisConn *conn)
{
	char		byte;
	ssize_t		n = recv(conn->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The connection's socket, to wait on. */
pgsocket
redis_conn_socket(const RedisConn *conn)
{
	return conn->fd;
}

/* Formats commands in Redis' protocol into *out (initialised here). */
static bool
format_commands(int ncommands, const RedisCommand *commands,
				StringInfo out, char **reason)
{
	initStringInfo(out);
	for (int i = 0; i < ncommands; i++)
	{
		char	   *formatted;
		int			len = redisFormatCommandArgv(&formatted, commands[i].argc,
												 commands[i].argv,
												 commands[i].argvlen);

		if (len < 0)
		{
			*reason = pstrdup("Out of memory formatting a command.");
			pfree(out->data);
			return false;
		}
		appendBinaryStringInfo(out, formatted, len);
		redisFreeCommand(formatted);
	}
	return true;
}

/* Writes out whole to the socket, waiting while it is full, until deadline. */
static RedisConnResult
send_all(RedisConn *c, const StringInfo out, TimestampTz deadline,
		 char **reason)
{
	size_t		sent = 0;

	while (sent < (size_t) out->len)
	{
		size_t		written = 0;
		IoResult	io = write_some(c, out->data + sent, out->len - sent,
									&written, reason);

		if (io == IO_DONE)
			sent += written;
		else if (io == IO_FAILED)
			return REDIS_CONN_FAILED;
		else if (!wait_for_io(c, io, deadline))
			return REDIS_CONN_TIMEOUT;
	}
	return REDIS_CONN_OK;
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

	for (int i = 0; i < ncommands; i++)
		replies[i] = NULL;
	if (!format_commands(ncommands, commands, &out, reason))
		return REDIS_CONN_FAILED;

	*reason = NULL;
	PG_TRY();
	{
		IoResult	wanted = IO_WANT_READ;

		result = send_all(c, &out, deadline, reason);
		/*
		 * Wait, then read: a reply is rarely there the moment the commands
		 * are sent, and a read that finds nothing is a system call lost.
		 * The replies owed to commands sent before without waiting come
		 * first, and are dropped.
		 */
		while (result == REDIS_CONN_OK && nreplies < ncommands)
		{
			RedisReply *reply;
			IoResult	io;

			if (!redis_conn_next_reply(c, &reply, reason))
				result = REDIS_CONN_FAILED;
			else if (reply != NULL && c->unread > 0)
			{
				c->unread--;
				redis_reply_free(reply);
			}
			else if (reply != NULL)
				replies[nreplies++] = reply;
			else if (!has_buffered_input(c) && !wait_for_io(c, wanted, deadline))
				result = REDIS_CONN_TIMEOUT;
			else if ((io = read_into_reader(c, false, reason)) == IO_FAILED)
				result = REDIS_CONN_FAILED;
			else
				wanted = io == IO_WANT_WRITE ? IO_WANT_WRITE : IO_WANT_READ;
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
 * Sends commands on *conn without waiting for their replies: the next
 * redis_conn_exchange reads and drops them before its own.  Redis runs a
 * connection's commands in order, so what is sent here runs before
 * anything sent after it on this connection.  On a failure (or a cancel)
 * the connection is closed, and whether Redis ran the commands is unknown.
 */
RedisConnResult
redis_conn_send(RedisConn **conn, int ncommands, const RedisCommand *commands,
				char **reason)
{
	RedisConn  *c = *conn;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   cachext_redis_timeout_ms);
	StringInfoData out;
	RedisConnResult result;

	if (!format_commands(ncommands, commands, &out, reason))
		return REDIS_CONN_FAILED;
	*reason = NULL;
	PG_TRY();
	{
		result = send_all(c, &out, deadline, reason);
	}
	PG_CATCH();
	{
		redis_conn_close(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (result == REDIS_CONN_TIMEOUT)
		*reason = psprintf("Redis did not take the commands within cachext.redis_timeout (%d ms).",
						   cachext_redis_timeout_ms);
	if (result == REDIS_CONN_OK)
		c->unread += ncommands;
	pfree(out.data);
	return result;
}

/*
 * Runs one command of NUL-terminated arguments (names, numbers, names of
 * channels) on *conn; the reply, possibly an error reply, is the caller's.
 */
RedisConnResult
redis_conn_call(RedisConn **conn, int argc, const char *const *argv,
				RedisReply **reply, char **reason)
{
	RedisCommand cmd = redis_command(argc);

	for (int i = 0; i < argc; i++)
		redis_command_arg_string(&cmd, i, argv[i]);
	return redis_conn_exchange(conn, 1, &cmd, reply, reason);
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

/*
 * Is TCP socket fd connected to itself?  A connect to a port of this host
 * that nothing listens on, when the port lies in the kernel's ephemeral
 * range, can be given that very port as its source and then completes as
 * TCP's simultaneous open: the socket is its own peer.  Every command
 * would read back as its own reply, and the socket would hold the port the
 * Redis server needs to start again.
 */
static bool
socket_is_own_peer(pgsocket fd)
{
	struct sockaddr_storage local;
	struct sockaddr_storage peer;
	socklen_t	local_len = sizeof(local);
	socklen_t	peer_len = sizeof(peer);

	if (getsockname(fd, (struct sockaddr *) &local, &local_len) != 0 ||
		getpeername(fd, (struct sockaddr *) &peer, &peer_len) != 0 ||
		local.ss_family != peer.ss_family)
		return false;
	if (local.ss_family == AF_INET)
	{
		struct sockaddr_in *l = (struct sockaddr_in *) &local;
		struct sockaddr_in *p = (struct sockaddr_in *) &peer;

		return l->sin_port == p->sin_port &&
			l->sin_addr.s_addr == p->sin_addr.s_addr;
	}
	if (local.ss_family == AF_INET6)
	{
		struct sockaddr_in6 *l = (struct sockaddr_in6 *) &local;
		struct sockaddr_in6 *p = (struct sockaddr_in6 *) &peer;

		return l->sin6_port == p->sin6_port &&
			memcmp(&l->sin6_addr, &p->sin6_addr, sizeof(l->sin6_addr)) == 0;
	}
	return false;
}

/*
 * Did the non-blocking connect of fd succeed, to a peer other than fd
 * itself?  False with *reason.
 */
static bool
socket_connected(pgsocket fd, char **reason)
{
	int			socket_error = 0;
	socklen_t	optlen = sizeof(socket_error);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &socket_error, &optlen) != 0)
		socket_error = errno;
	if (socket_error != 0)
	{
		*reason = psprintf("The connection failed: %s.", strerror(socket_error));
		return false;
	}
	if (socket_is_own_peer(fd))
	{
		/*
		 * Closed with a reset rather than a FIN: a FIN would leave the port
		 * in TIME_WAIT for a minute, and Redis could not bind it meanwhile.
		 */
		struct linger reset = {.l_onoff = 1,.l_linger = 0};

		(void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		*reason = pstrdup("The connection reached its own socket: nothing listens on the port, which is in this host's ephemeral port range.");
		return false;
	}
	return true;
}

/*
 * A TLS context for one connection, from the current cachext.redis_tls_*
 * settings (so a reload applies to the next connection); NULL with
 * *reason if a file cannot be used.
 */
static SSL_CTX *
tls_context(char **reason)
{
	SSL_CTX    *ctx = SSL_CTX_new(TLS_client_method());
	const char *problem = NULL;

	if (ctx == NULL)
		problem = "creating a TLS context";
	else if (cachext_redis_tls_verify != REDIS_TLS_VERIFY_NONE &&
			 (cachext_redis_tls_ca_file[0] != '\0' ?
			  SSL_CTX_load_verify_locations(ctx, cachext_redis_tls_ca_file, NULL) :
			  SSL_CTX_set_default_verify_paths(ctx)) != 1)
		problem = "loading cachext.redis_tls_ca_file";
	else if (cachext_redis_tls_cert_file[0] != '\0' &&
			 SSL_CTX_use_certificate_chain_file(ctx, cachext_redis_tls_cert_file) != 1)
		problem = "loading cachext.redis_tls_cert_file";
	else if (cachext_redis_tls_key_file[0] != '\0' &&
			 SSL_CTX_use_PrivateKey_file(ctx, cachext_redis_tls_key_file,
										 SSL_FILETYPE_PEM) != 1)
		problem = "loading cachext.redis_tls_key_file";
	if (problem != NULL)
	{
		unsigned long queued = ERR_get_error();

		ERR_clear_error();
		*reason = psprintf("TLS failed while %s: %s.", problem,
						   queued && ERR_reason_error_string(queued) ?
						   ERR_reason_error_string(queued) : "unknown error");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, cachext_redis_tls_verify == REDIS_TLS_VERIFY_NONE ?
					   SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

/*
 * Sets up TLS on a connected socket: SNI and, under verify = full, the
 * name (or address) the certificate must carry.  False with *reason.
 */
static bool
tls_start(RedisConn *conn, const RedisTarget *t, char **reason)
{
	SSL_CTX    *ctx = tls_context(reason);
	unsigned char address[sizeof(struct in6_addr)];
	bool		is_address = inet_pton(AF_INET, t->host, address) == 1 ||
		inet_pton(AF_INET6, t->host, address) == 1;
	bool		ok;

	if (ctx == NULL)
		return false;
	conn->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);			/* the SSL holds its own reference */
	ok = conn->ssl != NULL && SSL_set_fd(conn->ssl, conn->fd) == 1 &&
		(is_address || SSL_set_tlsext_host_name(conn->ssl, t->host) == 1);
	if (ok && cachext_redis_tls_verify == REDIS_TLS_VERIFY_FULL)
		ok = is_address ?
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(conn->ssl), t->host) == 1 :
			SSL_set1_host(conn->ssl, t->host) == 1;
	ERR_clear_error();
	if (!ok)
		*reason = pstrdup("TLS could not be set up for this connection.");
	return ok;
}

/*
 * Runs the TLS handshake until the deadline.  A certificate that does not
 * verify is named in *reason as OpenSSL words it ("certificate has
 * expired", "hostname mismatch", ...).
 */
static bool
tls_handshake(RedisConn *conn, TimestampTz deadline, RedisConnResult *result,
			  char **reason)
{
	for (;;)
	{
		int			rc;
		IoResult	io;

		ERR_clear_error();
		errno = 0;
		rc = SSL_connect(conn->ssl);
		if (rc == 1)
			return true;
		io = tls_result(conn, rc, "connecting", reason);
		if (io == IO_FAILED)
		{
			long		verified = SSL_get_verify_result(conn->ssl);

			if (verified != X509_V_OK)
				*reason = psprintf("The server's TLS certificate was not accepted: %s.",
								   X509_verify_cert_error_string(verified));
			return false;
		}
		if (!wait_for_io(conn, io, deadline))
		{
			*result = REDIS_CONN_TIMEOUT;
			*reason = psprintf("The connection took longer than cachext.redis_connect_timeout (%d ms).",
							   cachext_redis_connect_timeout_ms);
			return false;
		}
	}
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
 * Opens a connection to t: a non-blocking connect and, for rediss://, the
 * TLS handshake, waited for up to cachext.redis_connect_timeout; then AUTH
 * and SELECT.  Returns NULL with
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
		else if (socket_connected(conn->fd, reason) &&
				 (!t->tls || (tls_start(conn, t, reason) &&
							  tls_handshake(conn, deadline, result, reason))))
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
