/*-------------------------------------------------------------------------
 * redis_route.h
 *	  Which Redis node serves cachext's data, behind one interface: the
 *	  layer above opens a route to "the" server and runs commands on it,
 *	  never knowing whether a URL or Sentinels named one node or a Redis
 *	  Cluster's slot map picks a node per key.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_REDIS_ROUTE_H
#define CACHEXT_REDIS_ROUTE_H

#include "postgres.h"

#include "redis_conn.h"
#include "redis_url.h"


extern bool redis_route_parse(const char *url, RedisTarget *target,
							  const char **problem);
/* A route: one node's connection, or a cluster's; opaque. */
typedef struct RedisRoute RedisRoute;

/* The most masters redis_route_masters lists. */
#define REDIS_ROUTE_MAX_MASTERS	1024

/*
 * A Sentinel configuration epoch (SENTINEL MASTER's config-epoch), which
 * orders the masters Sentinels name; or none known.
 */
#define REDIS_EPOCH_UNKNOWN		(-1)

extern RedisRoute *redis_route_open(const RedisTarget *target,
									int64 min_epoch, int64 *epoch,
									RedisConnResult *result, char **reason);
extern RedisConnResult redis_route_exchange(RedisRoute *route, int ncommands,
											const RedisCommand *commands,
											RedisReply **replies,
											char **reason);
extern bool redis_route_send(RedisRoute *route, int ncommands,
							 const RedisCommand *commands,
							 RedisConnResult *result, char **reason);
extern int	redis_route_masters(RedisRoute *route, int *masters);
extern RedisConnResult redis_route_exchange_on(RedisRoute *route, int master,
											   int ncommands,
											   const RedisCommand *commands,
											   RedisReply **replies,
											   char **reason);
extern void redis_route_close(RedisRoute **route);

/* The nodes whose changes the sync worker follows. */
extern bool redis_route_masters_of(const RedisTarget *target,
								   RedisTarget **masters, int *nmasters,
								   char **reason);

/* One connection to the node of a single-node or Sentinel target. */
extern RedisConn *redis_route_connect(const RedisTarget *target,
									  int64 min_epoch, int64 *epoch,
									  RedisConnResult *result,
									  char **reason);

/* Following failovers (the sync worker). */
extern RedisConn *redis_route_watch(const RedisTarget *target, char **reason);
extern bool redis_route_master_switched(const char *service,
										const RedisReply *message);

#endif							/* CACHEXT_REDIS_ROUTE_H */
