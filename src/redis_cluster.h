/*-------------------------------------------------------------------------
 * redis_cluster.h
 *	  A redis-cluster:// target: connections to its nodes, the slot map,
 *	  and commands routed by the slot of their key (redis_route.c's
 *	  Cluster case; nothing else calls it).
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_REDIS_CLUSTER_H
#define CACHEXT_REDIS_CLUSTER_H

#include "postgres.h"

#include "redis_conn.h"
#include "redis_url.h"

/* One process' view of a cluster; opaque outside redis_cluster.c. */
typedef struct RedisCluster RedisCluster;

extern RedisCluster *redis_cluster_open(const RedisTarget *target,
										RedisConnResult *result,
										char **reason);
extern RedisConnResult redis_cluster_exchange(RedisCluster *cluster,
											  int ncommands,
											  const RedisCommand *commands,
											  RedisReply **replies,
											  char **reason);
extern int	redis_cluster_masters(RedisCluster *cluster, int *nodes,
								  int max_nodes);
extern const RedisTarget *redis_cluster_node(RedisCluster *cluster, int node);
extern RedisConnResult redis_cluster_exchange_on(RedisCluster *cluster,
												 int node, int ncommands,
												 const RedisCommand *commands,
												 RedisReply **replies,
												 char **reason);
extern void redis_cluster_close(RedisCluster **cluster);

#endif							/* CACHEXT_REDIS_CLUSTER_H */
