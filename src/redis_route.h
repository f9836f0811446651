/*-------------------------------------------------------------------------
 * redis_route.h
 *	  Which Redis node serves cachext's data, behind one interface: the
 *	  layer above asks for a connection to "the" server and never knows
 *	  how it was found.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_REDIS_ROUTE_H
#define CACHEXT_REDIS_ROUTE_H

#include "postgres.h"

#include "redis_conn.h"
#include "redis_url.h"

extern bool redis_route_parse(const char *url, RedisTarget *target,
							  const char **problem);
extern RedisConn *redis_route_connect(const RedisTarget *target,
									  RedisConnResult *result,
									  char **reason);

#endif							/* CACHEXT_REDIS_ROUTE_H */
