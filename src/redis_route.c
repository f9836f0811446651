/*-------------------------------------------------------------------------
 * redis_route.c
 *	  Which Redis node serves cachext's data: the one node a redis://,
 *	  rediss:// or unix:// URL names, the master that Sentinels name for
 *	  a redis-sentinel:// service, or, for a redis-cluster:// URL, the
 *	  master owning each key's slot (redis_cluster.c).
 *
 * Every connection (a backend's, the sync worker's) is opened here, so a
 * new way of finding the node changes this file and nothing above it.  A
 * RedisRoute is what the L2 module runs commands on: one connection, or a
 * cluster; redis_route_masters and redis_route_exchange_on reach each
 * master in turn (SCAN), which for one node is that node.  The sync worker
 * follows each node redis_route_masters_of names, connecting to each with
 * redis_route_connect.
 *
 * Sentinel.  A connect asks the listed Sentinels in turn, each within
 * cachext.redis_connect_timeout and cachext.redis_timeout and as
 * cachext.redis_sentinel_user / cachext.redis_sentinel_password when set,
 * for SENTINEL get-master-addr-by-name and, in the same round trip, the
 * configuration epoch of that answer (SENTINEL MASTER's config-epoch);
 * connects to the address named with the URL's credentials and database;
 * and confirms with ROLE that the node is a master.  A node demoted since
 * is passed over for the next Sentinel, and so is a Sentinel naming a
 * master of an older epoch than the caller has seen (it has not heard of
 * a failover yet) while another names a current one.  Nothing is cached
 * here between connects: every reconnect finds the current master, and
 * the caller keeps the epoch (l2_master.c shares it between the
 * instance's processes).  The sync worker also keeps a subscription to
 * +switch-master on one Sentinel (redis_route_watch), so that the instance
 * re-points as soon as a failover is announced.
 *
 * Memory.  Strings of a resolved master live in the caller's memory
 * context; the settings' strings belong to the GUC machinery.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "guc.h"
#include "redis_cluster.h"
#include "redis_route.h"

/*
 * A route, in TopMemoryContext (it outlives transactions): exactly one of
 * conn and cluster is set.
 */
struct RedisRoute
{
	const RedisTarget *target;	/* the caller's; outlives the route */
	int64		min_epoch;		/* redis_route_connect's, for a reconnect */
	RedisConn  *conn;			/* one node (URL or Sentinel); NULL after
								 * a cancel closed it mid-exchange */
	RedisCluster *cluster;		/* redis-cluster:// */
};

/* The channel Sentinels announce a new master on. */
#define SWITCH_MASTER_CHANNEL	"+switch-master"

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

/* Sentinel i of target, as a node to connect to with Sentinel credentials. */
static RedisTarget
sentinel_node(const RedisTarget *target, int i)
{
	RedisTarget node;
	const char *host = target->addresses[i].host;

	memset(&node, 0, sizeof(node));
	node.host = target->addresses[i].host;
	node.port = target->addresses[i].port;
	if (cachext_redis_sentinel_password[0] != '\0')
	{
		node.password = cachext_redis_sentinel_password;
		if (cachext_redis_sentinel_user[0] != '\0')
			node.user = cachext_redis_sentinel_user;
	}
	node.display = psprintf(strchr(host, ':') ? "Sentinel [%s]:%d" :
							"Sentinel %s:%d", host, node.port);
	return node;
}

/*
 * The configuration epoch in a reply to SENTINEL MASTER (a flat list of
 * field names and values), REDIS_EPOCH_UNKNOWN if it holds none.
 */
static int64
config_epoch(const RedisReply *reply)
{
	if (reply->type != REPLY_ARRAY)
		return REDIS_EPOCH_UNKNOWN;
	for (size_t i = 0; i + 1 < reply->elements; i += 2)
		if (reply->element[i]->type == REPLY_STRING &&
			strcmp(reply->element[i]->str, "config-epoch") == 0 &&
			reply->element[i + 1]->type == REPLY_STRING)
			return strtoll(reply->element[i + 1]->str, NULL, 10);
	return REDIS_EPOCH_UNKNOWN;
}

/*
 * Asks Sentinel i where target's master is: *master is target with that
 * host and port, *epoch the configuration epoch under which the Sentinel
 * names it (REDIS_EPOCH_UNKNOWN if the Sentinel does not tell, as when an
 * ACL refuses SENTINEL MASTER).  Both come from one round trip, which a
 * Sentinel answers without a failover step in between.  False with
 * *reason.
 */
static bool
ask_sentinel(const RedisTarget *target, int i, RedisTarget *master,
			 int64 *epoch, char **reason)
{
	RedisTarget sentinel = sentinel_node(target, i);
	RedisCommand ask[2];
	RedisReply *replies[lengthof(ask)];
	RedisReply *reply;
	RedisConnResult result;
	RedisConn  *conn = redis_conn_open(&sentinel, &result, reason);
	bool		ok;

	ask[0] = redis_command(3);
	redis_command_arg_string(&ask[0], 0, "SENTINEL");
	redis_command_arg_string(&ask[0], 1, "get-master-addr-by-name");
	redis_command_arg_string(&ask[0], 2, target->service);
	ask[1] = redis_command(3);
	redis_command_arg_string(&ask[1], 0, "SENTINEL");
	redis_command_arg_string(&ask[1], 1, "MASTER");
	redis_command_arg_string(&ask[1], 2, target->service);
	if (conn == NULL || redis_conn_exchange(&conn, lengthof(ask), ask, replies,
											 reason) != REDIS_CONN_OK)
	{
		redis_conn_close(&conn);
		*reason = psprintf("%s: %s", sentinel.display, *reason);
		return false;
	}
	redis_conn_close(&conn);
	reply = replies[0];
	ok = reply->type == REPLY_ARRAY && reply->elements == 2 &&
		reply->element[0]->type == REPLY_STRING &&
		reply->element[1]->type == REPLY_STRING;
	if (ok)
	{
		*master = *target;
		master->service = NULL;
		master->naddresses = 0;
		master->host = pstrdup(reply->element[0]->str);
		master->port = atoi(reply->element[1]->str);
		master->display = psprintf(strchr(master->host, ':') ?
								   "[%s]:%d/%d (master of %s)" :
								   "%s:%d/%d (master of %s)",
								   master->host, master->port, master->db,
								   target->service);
		*epoch = config_epoch(replies[1]);
	}
	else if (reply->type == REPLY_ERROR)
		*reason = psprintf("%s answered: %s", sentinel.display, reply->str);
	else
		*reason = psprintf("%s knows no master named \"%s\".",
						   sentinel.display, target->service);
	redis_replies_free(replies, lengthof(ask));
	return ok;
}

/* Does ROLE say *conn's node is a master?  False with *reason. */
static bool
is_master(RedisConn **conn, const RedisTarget *node, char **reason)
{
	const char *role[] = {"ROLE"};
	RedisReply *reply;
	bool		ok;

	if (redis_conn_call(conn, lengthof(role), role, &reply,
						reason) != REDIS_CONN_OK)
	{
		*reason = psprintf("%s: %s", node->display, *reason);
		return false;
	}
	ok = reply->type == REPLY_ARRAY && reply->elements >= 1 &&
		reply->element[0]->type == REPLY_STRING &&
		strcmp(reply->element[0]->str, "master") == 0;
	if (!ok)
		*reason = psprintf("%s is not a master (ROLE says otherwise).",
						   node->display);
	redis_reply_free(reply);
	return ok;
}

/*
 * Connects to master and confirms with ROLE that it is one; NULL with
 * *result and *reason otherwise.
 */
static RedisConn *
connect_to_named_master(const RedisTarget *master, RedisConnResult *result,
						char **reason)
{
	RedisConn  *conn = redis_conn_open(master, result, reason);

	if (conn == NULL)
	{
		*reason = psprintf("%s: %s", master->display, *reason);
		return NULL;
	}
	if (is_master(&conn, master, reason))
		return conn;
	redis_conn_close(&conn);
	*result = REDIS_CONN_FAILED;
	return NULL;
}

/*
 * The master Sentinels name for target's service, connected, and in
 * *epoch the configuration epoch it was named under; NULL with *result
 * and *reason when no Sentinel names a master that confirms it.
 *
 * A Sentinel naming the master of an epoch older than min_epoch (one this
 * instance has seen) has not heard of a failover yet: it is passed over
 * while another Sentinel names a master of min_epoch or later, and its
 * master is tried only when none does (all the Sentinels were replaced, or
 * only lagging ones answer).
 */
static RedisConn *
connect_to_master(const RedisTarget *target, int64 min_epoch, int64 *epoch,
				  RedisConnResult *result, char **reason)
{
	RedisTarget lagging_master = {0};
	int64		lagging_epoch = REDIS_EPOCH_UNKNOWN;
	bool		current_named = false;
	RedisConn  *conn;

	for (int i = 0; i < target->naddresses; i++)
	{
		RedisTarget master;

		if (!ask_sentinel(target, i, &master, epoch, reason))
			continue;
		if (*epoch != REDIS_EPOCH_UNKNOWN && *epoch < min_epoch)
		{
			if (lagging_epoch == REDIS_EPOCH_UNKNOWN || *epoch > lagging_epoch)
			{
				lagging_master = master;
				lagging_epoch = *epoch;
			}
			*reason = psprintf("%s names a master of configuration epoch " INT64_FORMAT ", older than epoch " INT64_FORMAT " this instance has seen.",
							   sentinel_node(target, i).display, *epoch,
							   min_epoch);
			continue;
		}
		current_named = true;
		conn = connect_to_named_master(&master, result, reason);
		if (conn != NULL)
			return conn;
	}
	if (!current_named && lagging_epoch != REDIS_EPOCH_UNKNOWN)
	{
		*epoch = lagging_epoch;
		conn = connect_to_named_master(&lagging_master, result, reason);
		if (conn != NULL)
			return conn;
	}
	*result = REDIS_CONN_FAILED;
	*reason = psprintf("No Sentinel named a master that could be used; the last problem: %s",
					   *reason);
	return NULL;
}

/*
 * Opens a connection to the node that serves target's data; NULL with
 * *result and *reason when it cannot, having counted and logged nothing.
 * Behind Sentinels, *epoch is the configuration epoch of the master
 * connected to, which is at least min_epoch while any Sentinel names such
 * a master (see connect_to_master); else REDIS_EPOCH_UNKNOWN.
 */
RedisConn *
redis_route_connect(const RedisTarget *target, int64 min_epoch, int64 *epoch,
					RedisConnResult *result, char **reason)
{
	Assert(!target->cluster);
	*epoch = REDIS_EPOCH_UNKNOWN;
	if (target->service != NULL)
		return connect_to_master(target, min_epoch, epoch, result, reason);
	return redis_conn_open(target, result, reason);
}

/*
 * Opens a route to target's data (target must outlive it); NULL with
 * *result and *reason when no node can be reached, having counted and
 * logged nothing.  min_epoch and *epoch are redis_route_connect's.
 */
RedisRoute *
redis_route_open(const RedisTarget *target, int64 min_epoch, int64 *epoch,
				 RedisConnResult *result, char **reason)
{
	RedisConn  *conn = NULL;
	RedisCluster *cluster = NULL;
	RedisRoute *route;

	*epoch = REDIS_EPOCH_UNKNOWN;
	if (target->cluster)
		cluster = redis_cluster_open(target, result, reason);
	else
		conn = redis_route_connect(target, min_epoch, epoch, result, reason);
	if (conn == NULL && cluster == NULL)
		return NULL;
	route = MemoryContextAlloc(TopMemoryContext, sizeof(RedisRoute));
	route->target = target;
	route->min_epoch = min_epoch;
	route->conn = conn;
	route->cluster = cluster;
	return route;
}

/*
 * Makes sure route's one connection is open: a cancel closes it
 * mid-exchange, and the next use connects again (through the Sentinels, at
 * the epoch floor the route was opened with).  False with *result and
 * *reason if it cannot.
 */
static bool
connection_open(RedisRoute *route, RedisConnResult *result, char **reason)
{
	int64		epoch;

	if (route->conn == NULL)
		route->conn = redis_route_connect(route->target, route->min_epoch,
										  &epoch, result, reason);
	return route->conn != NULL;
}

/*
 * Runs commands over route, each where its key lives; replies[i] answers
 * commands[i].  A failure leaves no reply; the caller closes the route.
 */
RedisConnResult
redis_route_exchange(RedisRoute *route, int ncommands,
					 const RedisCommand *commands, RedisReply **replies,
					 char **reason)
{
	RedisConnResult result;

	if (route->cluster != NULL)
		return redis_cluster_exchange(route->cluster, ncommands, commands,
									  replies, reason);
	if (!connection_open(route, &result, reason))
		return result;
	return redis_conn_exchange(&route->conn, ncommands, commands, replies,
							   reason);
}

/*
 * Sends commands without waiting for their replies (redis_conn_send), on a
 * route with one connection; a cluster's commands may be redirected, so
 * there it sends nothing and answers false with no reason, and the caller
 * runs them with redis_route_exchange instead.
 */
bool
redis_route_send(RedisRoute *route, int ncommands,
				 const RedisCommand *commands, RedisConnResult *result,
				 char **reason)
{
	*reason = NULL;
	if (route->cluster != NULL)
		return false;
	if (!connection_open(route, result, reason))
		return false;
	*result = redis_conn_send(&route->conn, ncommands, commands, reason);
	return *result == REDIS_CONN_OK;
}

/*
 * Fills masters (REDIS_ROUTE_MAX_MASTERS long) with every master of the
 * route, for redis_route_exchange_on; returns how many.
 */
int
redis_route_masters(RedisRoute *route, int *masters)
{
	if (route->cluster != NULL)
		return redis_cluster_masters(route->cluster, masters,
									 REDIS_ROUTE_MAX_MASTERS);
	masters[0] = 0;
	return 1;
}

/* Runs commands as they are on one master (from redis_route_masters). */
RedisConnResult
redis_route_exchange_on(RedisRoute *route, int master, int ncommands,
						const RedisCommand *commands, RedisReply **replies,
						char **reason)
{
	if (route->cluster != NULL)
		return redis_cluster_exchange_on(route->cluster, master, ncommands,
										 commands, replies, reason);
	return redis_route_exchange(route, ncommands, commands, replies, reason);
}

/* Closes every connection of *route and frees it; *route becomes NULL. */
void
redis_route_close(RedisRoute **route)
{
	if (*route == NULL)
		return;
	redis_conn_close(&(*route)->conn);
	redis_cluster_close(&(*route)->cluster);
	pfree(*route);
	*route = NULL;
}

/*
 * The nodes that hold target's data, each a target redis_route_connect
 * opens: target itself, or a cluster's masters now (learned from its
 * seeds), in the caller's memory context.  False with *reason when a
 * cluster cannot be asked.
 */
bool
redis_route_masters_of(const RedisTarget *target, RedisTarget **masters,
					   int *nmasters, char **reason)
{
	RedisConnResult result;
	RedisCluster *cluster;
	int		   *nodes;

	if (!target->cluster)
	{
		*masters = palloc(sizeof(RedisTarget));
		**masters = *target;
		*nmasters = 1;
		return true;
	}
	cluster = redis_cluster_open(target, &result, reason);
	if (cluster == NULL)
		return false;
	nodes = palloc(REDIS_ROUTE_MAX_MASTERS * sizeof(int));
	*nmasters = redis_cluster_masters(cluster, nodes, REDIS_ROUTE_MAX_MASTERS);
	*masters = palloc(*nmasters * sizeof(RedisTarget));
	for (int i = 0; i < *nmasters; i++)
	{
		RedisTarget *master = &(*masters)[i];

		*master = *redis_cluster_node(cluster, nodes[i]);
		master->host = pstrdup(master->host);
		master->display = pstrdup(master->display);
		master->user = target->user;
		master->password = target->password;
	}
	redis_cluster_close(&cluster);
	return true;
}

/*
 * For a redis-sentinel:// target, a connection to the first Sentinel that
 * answers, subscribed to +switch-master; NULL with *reason if none does.
 * Other targets have nothing to watch: NULL with *reason NULL.
 */
RedisConn *
redis_route_watch(const RedisTarget *target, char **reason)
{
	const char *subscribe[] = {"SUBSCRIBE", SWITCH_MASTER_CHANNEL};

	*reason = NULL;
	for (int i = 0; i < target->naddresses; i++)
	{
		RedisTarget sentinel = sentinel_node(target, i);
		RedisConnResult result;
		RedisConn  *conn = redis_conn_open(&sentinel, &result, reason);
		RedisReply *reply;

		if (conn == NULL || redis_conn_call(&conn, lengthof(subscribe), subscribe,
											 &reply, reason) != REDIS_CONN_OK)
		{
			redis_conn_close(&conn);
			*reason = psprintf("%s: %s", sentinel.display, *reason);
			continue;
		}
		if (reply->type == REPLY_ARRAY)
		{
			redis_reply_free(reply);
			return conn;
		}
		*reason = psprintf("%s refused SUBSCRIBE %s.", sentinel.display,
						   SWITCH_MASTER_CHANNEL);
		redis_reply_free(reply);
		redis_conn_close(&conn);
	}
	return NULL;
}

/*
 * Is message, read from redis_route_watch's connection, the announcement
 * of a new master for service?  ("message", "+switch-master",
 * "<service> <old ip> <old port> <new ip> <new port>")
 */
bool
redis_route_master_switched(const char *service, const RedisReply *message)
{
	size_t		service_len = strlen(service);
	const RedisReply *payload;

	if (message->type != REPLY_ARRAY || message->elements != 3 ||
		message->element[0]->type != REPLY_STRING ||
		strcmp(message->element[0]->str, "message") != 0)
		return false;
	payload = message->element[2];
	return payload->type == REPLY_STRING && payload->len > service_len &&
		strncmp(payload->str, service, service_len) == 0 &&
		payload->str[service_len] == ' ';
}
