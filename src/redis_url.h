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

/*
 * Addresses a redis-sentinel:// URL (Sentinels) or a redis-cluster:// URL
 * (seed nodes) may list, and the default port of a Sentinel and of a node.
 */
#define REDIS_URL_MAX_SENTINELS		16
#define REDIS_SENTINEL_DEFAULT_PORT	26379
#define REDIS_DEFAULT_PORT			6379

typedef struct RedisAddress
{
	char	   *host;
	int			port;
} RedisAddress;

/* The schemes of cachext.redis_url. */
#define REDIS_SCHEME				"redis://"
#define REDIS_TLS_SCHEME			"rediss://"
#define REDIS_SENTINEL_SCHEME		"redis-sentinel://"
#define REDIS_CLUSTER_SCHEME		"redis-cluster://"
#define REDIS_UNIX_SCHEME			"unix://"

/*
 * Where and as whom to connect, parsed from cachext.redis_url.  Exactly one
 * of host (TCP), socket_path (unix), service (Sentinel) and cluster is set.
 */
typedef struct RedisTarget
{
	char	   *host;			/* NULL for a unix socket */
	int			port;
	char	   *socket_path;	/* NULL for TCP */
	bool		tls;			/* rediss://: TLS over TCP */
	char	   *user;			/* NULL: AUTH with the password alone */
	char	   *password;		/* NULL: no AUTH */
	int			db;
	char	   *display;		/* for messages: no secrets */
	char	   *service;		/* redis-sentinel://: the master's name */
	bool		cluster;		/* redis-cluster://: routed by slot (db 0) */
	int			naddresses;		/* the Sentinels, or the cluster's seeds */
	RedisAddress addresses[REDIS_URL_MAX_SENTINELS];
} RedisTarget;

/*
 * Bytes of storage redis_url_parse needs for a URL of url_len bytes: the
 * parts together are at most as long as the URL, plus their terminating
 * NULs (at most REDIS_URL_MAX_SENTINELS + 3), plus the display text, at
 * most 40 bytes longer than the host, socket path or service.
 */
#define REDIS_URL_STORAGE_SIZE(url_len) (2 * (url_len) + 64)

extern bool redis_url_parse(const char *url, RedisTarget *t, char *storage,
							const char **problem);
extern bool redis_url_is_cluster(const char *url);

#endif							/* CACHEXT_REDIS_URL_H */
