/*-------------------------------------------------------------------------
 * redis_url.c
 *	  Parses cachext.redis_url into a RedisTarget:
 *	  redis://[[user]:password@]host[:port][/db],
 *	  rediss://[[user]:password@]host[:port][/db] (the same over TLS),
 *	  redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]
 *	  (the master Sentinels name for service; the credentials are the data
 *	  nodes'), redis-cluster://[[user]:password@]host[:port][,host[:port]...]
 *	  (seed nodes of a Redis Cluster, which serves db 0 only) or
 *	  unix://[[user]:password@]/path[?db=N].
 *
 * The user name and password may hold any byte but NUL written as %XX
 * (RFC 3986 percent-encoding), so a password with "@", ":" or "/" can be
 * given; a "%" not followed by two hexadecimal digits is rejected.  Nothing
 * else in the URL is decoded.
 *
 * A rejected URL is described by a fixed sentence that never quotes the
 * URL, which may hold a password; the display text of an accepted one
 * names the server and the database only.
 *
 * Memory.  The parsed strings are written into storage the caller provides
 * (REDIS_URL_STORAGE_SIZE bytes), so this file needs no allocator and
 * builds without the server (test/fuzz/fuzz_redis_url.c).
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "redis_url.h"

/* The largest TCP port. */
#define MAX_PORT 65535
/* The most decimal digits a number parse_number accepts has (INT_MAX's). */
#define MAX_DIGITS 10
/* The one query parameter of a unix:// URL. */
#define UNIX_DB_PARAMETER "?db="

#define STRINGIFY(x) STRINGIFY_VALUE(x)
#define STRINGIFY_VALUE(x) #x

/* The caller's storage, filled front to back. */
typedef struct Storage
{
	char	   *next;
} Storage;

/* Copies len bytes of s into storage as a NUL-terminated string. */
static char *
store_copy(Storage *storage, const char *s, size_t len)
{
	char	   *copy = storage->next;

	memcpy(copy, s, len);
	copy[len] = '\0';
	storage->next += len + 1;
	return copy;
}

/* What follows prefix in s, or NULL when s does not start with it. */
static const char *
after_prefix(const char *s, const char *prefix)
{
	size_t		len = strlen(prefix);

	return strncmp(s, prefix, len) == 0 ? s + len : NULL;
}

/* The value of a hexadecimal digit, or -1. */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Copies len bytes of s into storage, decoding %XX escapes; false with
 * *problem when an escape is malformed or decodes to NUL (which would cut
 * the credential short).
 */
static bool
store_decoded(Storage *storage, const char *s, size_t len, char **result,
			  const char **problem)
{
	char	   *out = storage->next;
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			int			high = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int			low = high >= 0 ? hex_value(s[i + 2]) : -1;

			if (high < 0 || low < 0)
			{
				*problem = "In the user name or password, \"%\" must be followed by two hexadecimal digits (write \"%25\" for \"%\").";
				return false;
			}
			if (high == 0 && low == 0)
			{
				*problem = "The user name or password must not contain %00.";
				return false;
			}
			out[n++] = (char) (high * 16 + low);
			i += 2;
		}
		else
			out[n++] = s[i];
	}
	out[n] = '\0';
	storage->next += n + 1;
	*result = out;
	return true;
}

/* Reads a non-negative decimal within [0, max]; false if s is not one. */
static bool
parse_number(const char *s, size_t len, int max, int *result)
{
	long		value = 0;

	if (len == 0 || len > MAX_DIGITS)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		value = value * 10 + (s[i] - '0');
	}
	if (value > max)
		return false;
	*result = (int) value;
	return true;
}

/* Splits "[user]:password" into target's user and password, decoded. */
static bool
parse_userinfo(const char *s, size_t len, RedisTarget *t, Storage *storage,
			   const char **problem)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL)
	{
		*problem = "Credentials must be written as \":password@\" or \"user:password@\".";
		return false;
	}
	if (colon > s &&
		!store_decoded(storage, s, colon - s, &t->user, problem))
		return false;
	return store_decoded(storage, colon + 1, len - (colon + 1 - s),
						 &t->password, problem);
}

/*
 * Parses "host[:port]" in [s, end) (an IPv6 address in brackets) into
 * *host and *port, which keeps its default when no port is given.
 */
static bool
parse_host_port(const char *s, const char *end, char **host, int *port,
				Storage *storage, const char **problem)
{
	const char *host_end;

	if (s < end && s[0] == '[')
	{
		host_end = memchr(s, ']', end - s);
		if (host_end == NULL)
		{
			*problem = "An IPv6 address opened with \"[\" is never closed.";
			return false;
		}
		*host = store_copy(storage, s + 1, host_end - s - 1);
		host_end++;
	}
	else
	{
		host_end = memchr(s, ':', end - s);
		if (host_end == NULL)
			host_end = end;
		*host = store_copy(storage, s, host_end - s);
	}
	if ((*host)[0] == '\0')
	{
		*problem = "The URL names no host.";
		return false;
	}
	if (host_end < end &&
		(*host_end != ':' ||
		 !parse_number(host_end + 1, end - host_end - 1, MAX_PORT, port) ||
		 *port == 0))
	{
		*problem = "The port must be a number between 1 and "
			STRINGIFY(MAX_PORT) ".";
		return false;
	}
	return true;
}

/* Reads the database number after "/", if any; false with *problem. */
static bool
parse_db(const char *slash, RedisTarget *t, const char **problem)
{
	if (slash != NULL && slash[1] != '\0' &&
		!parse_number(slash + 1, strlen(slash + 1), INT_MAX, &t->db))
	{
		*problem = "The database after \"/\" must be a non-negative number.";
		return false;
	}
	return true;
}

/* Takes the credentials before the last "@", if any; *rest moves past them. */
static bool
parse_credentials(const char **rest, RedisTarget *t, Storage *storage,
				  const char **problem)
{
	const char *at = strrchr(*rest, '@');

	if (at == NULL)
		return true;
	if (!parse_userinfo(*rest, at - *rest, t, storage, problem))
		return false;
	*rest = at + 1;
	return true;
}

/* Parses what follows "redis://" or "rediss://". */
static bool
parse_tcp(const char *rest, RedisTarget *t, Storage *storage,
		  const char **problem)
{
	const char *slash;

	if (!parse_credentials(&rest, t, storage, problem))
		return false;
	slash = strchr(rest, '/');
	if (!parse_host_port(rest, slash ? slash : rest + strlen(rest), &t->host,
						 &t->port, storage, problem) ||
		!parse_db(slash, t, problem))
		return false;
	t->display = storage->next;
	storage->next += sprintf(t->display,
							 strchr(t->host, ':') ? "[%s]:%d/%d" : "%s:%d/%d",
							 t->host, t->port, t->db) + 1;
	return true;
}

/*
 * Parses the comma-separated host[:port] list from rest to end into
 * t->addresses, each without a port given default_port.
 */
static bool
parse_addresses(const char *rest, const char *end, int default_port,
				RedisTarget *t, Storage *storage, const char **problem)
{
	for (const char *item = rest; item <= end;)
	{
		const char *comma = memchr(item, ',', end - item);
		const char *item_end = comma ? comma : end;
		RedisAddress *address = &t->addresses[t->naddresses];

		if (t->naddresses == REDIS_URL_MAX_SENTINELS)
		{
			*problem = "At most 16 Sentinels or cluster nodes can be listed.";
			return false;
		}
		address->port = default_port;
		if (!parse_host_port(item, item_end, &address->host, &address->port,
							 storage, problem))
			return false;
		t->naddresses++;
		item = item_end + 1;
	}
	return true;
}

/*
 * Parses what follows "redis-sentinel://": the Sentinels, comma-separated,
 * "/", the service name, and optionally "/" and the database.
 */
static bool
parse_sentinel(const char *rest, RedisTarget *t, Storage *storage,
			   const char **problem)
{
	const char *slash;
	const char *service_end;

	if (!parse_credentials(&rest, t, storage, problem))
		return false;
	slash = strchr(rest, '/');
	if (slash == NULL)
	{
		*problem = "A redis-sentinel:// URL must name the service after the Sentinels and \"/\".";
		return false;
	}
	if (!parse_addresses(rest, slash, REDIS_SENTINEL_DEFAULT_PORT, t, storage,
						 problem))
		return false;
	service_end = strchr(slash + 1, '/');
	if (service_end == NULL)
		service_end = slash + strlen(slash);
	if (service_end == slash + 1)
	{
		*problem = "A redis-sentinel:// URL must name the service after the Sentinels and \"/\".";
		return false;
	}
	t->service = store_copy(storage, slash + 1, service_end - slash - 1);
	if (!parse_db(*service_end ? service_end : NULL, t, problem))
		return false;
	t->display = storage->next;
	storage->next += sprintf(t->display, "service %s via Sentinel (db %d)",
							 t->service, t->db) + 1;
	return true;
}

/*
 * Parses what follows "redis-cluster://": the seed nodes, comma-separated,
 * and nothing else but an optional "/0" (a cluster has no other database).
 */
static bool
parse_cluster(const char *rest, RedisTarget *t, Storage *storage,
			  const char **problem)
{
	const char *slash;

	if (!parse_credentials(&rest, t, storage, problem))
		return false;
	slash = strchr(rest, '/');
	if (slash != NULL && strcmp(slash, "/") != 0 && strcmp(slash, "/0") != 0)
	{
		*problem = "A redis-cluster:// URL names no database: Redis Cluster serves database 0 only.";
		return false;
	}
	t->cluster = true;
	if (!parse_addresses(rest, slash ? slash : rest + strlen(rest),
						 REDIS_DEFAULT_PORT, t, storage, problem))
		return false;
	t->display = storage->next;
	storage->next += sprintf(t->display, "cluster seeded by %s%s",
							 t->addresses[0].host,
							 t->naddresses > 1 ? " and others" : "") + 1;
	return true;
}

/* Parses what follows "unix://". */
static bool
parse_unix(const char *rest, RedisTarget *t, Storage *storage,
		   const char **problem)
{
	const char *query;
	const char *db;

	if (rest[0] != '/')
	{
		const char *at = strstr(rest, "@/");

		if (at == NULL)
		{
			*problem = "A unix:// URL must give an absolute socket path.";
			return false;
		}
		if (!parse_userinfo(rest, at - rest, t, storage, problem))
			return false;
		rest = at + 1;
	}
	query = strchr(rest, '?');
	t->socket_path = store_copy(storage, rest,
								query ? (size_t) (query - rest) : strlen(rest));
	if (query != NULL &&
		((db = after_prefix(query, UNIX_DB_PARAMETER)) == NULL ||
		 !parse_number(db, strlen(db), INT_MAX, &t->db)))
	{
		*problem = "The only query parameter of a unix:// URL is db=N.";
		return false;
	}
	t->display = storage->next;
	storage->next += sprintf(t->display, "unix:%s (db %d)",
							 t->socket_path, t->db) + 1;
	return true;
}

/*
 * Parses url into t, writing its strings into storage, which must hold
 * REDIS_URL_STORAGE_SIZE(strlen(url)) bytes.  On failure sets *problem to a
 * sentence that never quotes the URL.
 */
bool
redis_url_parse(const char *url, RedisTarget *t, char *storage,
				const char **problem)
{
	Storage		s = {storage};
	const char *rest;

	memset(t, 0, sizeof(RedisTarget));
	t->port = REDIS_DEFAULT_PORT;
	if ((rest = after_prefix(url, REDIS_SCHEME)) != NULL)
		return parse_tcp(rest, t, &s, problem);
	if ((rest = after_prefix(url, REDIS_TLS_SCHEME)) != NULL)
	{
		t->tls = true;
		return parse_tcp(rest, t, &s, problem);
	}
	if ((rest = after_prefix(url, REDIS_SENTINEL_SCHEME)) != NULL)
		return parse_sentinel(rest, t, &s, problem);
	if ((rest = after_prefix(url, REDIS_CLUSTER_SCHEME)) != NULL)
		return parse_cluster(rest, t, &s, problem);
	if ((rest = after_prefix(url, REDIS_UNIX_SCHEME)) != NULL)
		return parse_unix(rest, t, &s, problem);
	*problem = "The URL must start with " REDIS_SCHEME ", " REDIS_TLS_SCHEME
		", " REDIS_SENTINEL_SCHEME ", " REDIS_CLUSTER_SCHEME " or "
		REDIS_UNIX_SCHEME ".";
	return false;
}

/*
 * Does url name a Redis Cluster?  (cachext names its own keys for one, and
 * refuses tags there.)  A NULL or empty URL does not.
 */
bool
redis_url_is_cluster(const char *url)
{
	return url != NULL && after_prefix(url, REDIS_CLUSTER_SCHEME) != NULL;
}
