/*-------------------------------------------------------------------------
 * redis_conn.h
 *	  One connection to one Redis server: connect (TCP, unix socket, TLS),
 *	  AUTH and SELECT, pipelined exchanges of binary-safe commands, all
 *	  waited for interruptibly.
 *
 * The only module that speaks the protocol (through hiredis' formatter and
 * reply reader); the rest of cachext sees RedisCommand and RedisReply.
 * Nothing here counts, logs or opens a breaker: a failure is returned with
 * a reason (a sentence naming no secret) for the caller to act on.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_REDIS_CONN_H
#define CACHEXT_REDIS_CONN_H

#include "postgres.h"

#include "redis_url.h"

/* One connection; opaque outside redis_conn.c. */
typedef struct RedisConn RedisConn;

/* One command: argv with lengths, so keys and values are binary-safe. */
typedef struct RedisCommand
{
	int			argc;
	const char **argv;
	size_t	   *argvlen;
} RedisCommand;

typedef enum RedisReplyType
{
	REPLY_STRING,
	REPLY_ARRAY,
	REPLY_INTEGER,
	REPLY_NIL,
	REPLY_STATUS,
	REPLY_ERROR
} RedisReplyType;

/* One reply, malloc'd by the reader: free it with redis_reply_free. */
typedef struct RedisReply
{
	RedisReplyType type;
	long long	integer;		/* REPLY_INTEGER */
	size_t		len;			/* REPLY_STRING, _STATUS, _ERROR */
	char	   *str;			/* the same, NUL-terminated */
	size_t		elements;		/* REPLY_ARRAY */
	struct RedisReply **element;
} RedisReply;

typedef enum RedisConnResult
{
	REDIS_CONN_OK,
	REDIS_CONN_TIMEOUT,
	REDIS_CONN_FAILED
} RedisConnResult;

/* What cachext.redis_tls_verify checks of a rediss:// server. */
typedef enum RedisTlsVerify
{
	REDIS_TLS_VERIFY_FULL,		/* the certificate and the host name */
	REDIS_TLS_VERIFY_CA,		/* the certificate only */
	REDIS_TLS_VERIFY_NONE		/* nothing: encryption without identity */
} RedisTlsVerify;

/*
 * The settings that say how to connect (cachext.redis_connect_timeout,
 * _timeout, _tls_*, _sentinel_*) are guc.c's; their assign hooks tell
 * this module when one changed.
 */
extern void redis_conn_settings_changed(void);
extern uint64 redis_conn_settings_generation(void);

/* Commands, built in the current memory context. */
extern RedisCommand redis_command(int argc);
extern void redis_command_arg(RedisCommand *cmd, int i, const char *arg,
							  size_t len);
extern void redis_command_arg_string(RedisCommand *cmd, int i,
									 const char *arg);

extern RedisConn *redis_conn_open(const RedisTarget *target,
								  RedisConnResult *result, char **reason);
extern RedisConnResult redis_conn_exchange(RedisConn **conn, int ncommands,
										   const RedisCommand *commands,
										   RedisReply **replies,
										   char **reason);
extern RedisConnResult redis_conn_send(RedisConn **conn, int ncommands,
									   const RedisCommand *commands,
									   char **reason);
extern RedisConnResult redis_conn_call(RedisConn **conn, int argc,
									   const char *const *argv,
									   RedisReply **reply, char **reason);
extern void redis_conn_close(RedisConn **conn);
extern bool redis_conn_idle_broken(const RedisConn *conn);

/* Following a stream of pushed replies (the sync worker's subscription). */
extern pgsocket redis_conn_socket(const RedisConn *conn);
extern bool redis_conn_read_available(RedisConn *conn, char **reason);
extern bool redis_conn_next_reply(RedisConn *conn, RedisReply **reply,
								  char **reason);

extern void redis_reply_free(RedisReply *reply);
extern void redis_replies_free(RedisReply **replies, int n);

#endif							/* CACHEXT_REDIS_CONN_H */
