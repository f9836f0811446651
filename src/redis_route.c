/*-------------------------------------------------------------------------
 * redis_route.c
 *	  Which Redis node serves cachext's data: the one node cachext.redis_url
 *	  names.
 *
 * Every connection (a backend's, the sync worker's) is opened here, so a
 * new way of finding the node changes this file and nothing above it.
 * Nothing is cached between calls: each connect finds the node afresh.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "redis_route.h"

/*
 * Parses url (see redis_url.c) into target, its strings allocated in the
 * current memory context.  On failure sets *problem to a sentence that
 * never quotes the URL, which may hold a password.
 */
bool
redis_route_parse(const char *url, RedisTarget *target, const char **problem)
{
	return redis_url_parse(url, target,
						   palloc(REDIS_URL_STORAGE_SIZE(strlen(url))),
						   problem);
}

/*
 * Opens a connection to the node that serves target's data; NULL with
 * *result and *reason when it cannot, having counted and logged nothing.
 */
RedisConn *
redis_route_connect(const RedisTarget *target, RedisConnResult *result,
					char **reason)
{
	return redis_conn_open(target, result, reason);
}
