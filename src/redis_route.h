/*-------------------------------------------------------------------------
 * redis_route.h
 *	  Which Redis node serves cachext's data, behind one interface: the
 *	  layer above asks for a connection to "the" server and never knows
 *	  whether a URL or Sentinels named it.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_REDIS_ROUTE_H
#define CACHEXT_REDIS_ROUTE_H

#include "postgres.h"

#include "redis_conn.h"
#include "redis_url.h"

/* Settings (cachext.redis_sentinel_user, cachext.redis_sentinel_password). */
extern char *cachext_redis_sentinel_user;
extern char *cachext_redis_sentinel_password;
extern void redis_route_define_settings(void);

extern bool redis_route_parse(const char *url, RedisTarget *target,
							  const char **problem);
extern RedisConn *redis_route_connect(const RedisTarget *target,
									  RedisConnResult *result,
									  char **reason);

/* Following failovers (the sync worker). */
extern RedisConn *redis_route_watch(const RedisTarget *target, char **reason);
extern bool redis_route_master_switched(const char *service,
										const RedisReply *message);

#endif							/* CACHEXT_REDIS_ROUTE_H */
