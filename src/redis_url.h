/*-------------------------------------------------------------------------
 * redis_url.h
 *	  Parsing of cachext.redis_url: where and as whom to connect to Redis.
 *
 * Pure C with no PostgreSQL dependencies, so the fuzzer and unit tests can
 * link it on its own; the caller provides the storage the parsed strings
 * live in.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_REDIS_URL_H
#define CACHEXT_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Where and as whom to connect, parsed from cachext.redis_url. */
typedef struct RedisTarget
{
	char	   *host;			/* NULL for a unix socket */
	int			port;
	char	   *socket_path;	/* NULL for TCP */
	char	   *user;			/* NULL: AUTH with the password alone */
	char	   *password;		/* NULL: no AUTH */
	int			db;
	char	   *display;		/* for messages: no secrets */
} RedisTarget;

/*
 * Bytes of storage redis_url_parse needs for a URL of url_len bytes: every
 * part is at most as long as the URL, the display text at most 24 bytes
 * longer than the host or socket path, plus the parts' terminating NULs.
 */
#define REDIS_URL_STORAGE_SIZE(url_len) (2 * (url_len) + 32)

extern bool redis_url_parse(const char *url, RedisTarget *t, char *storage,
							const char **problem);

#endif							/* CACHEXT_REDIS_URL_H */
