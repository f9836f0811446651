/*-------------------------------------------------------------------------
 * redis_cluster.c
 *	  A redis-cluster:// target: one connection per node, the slot map, and
 *	  every command sent to the node that owns the slot of its key.
 *
 * Slot map.  Learned with CLUSTER SLOTS from the first node that answers
 * (the URL's seeds first, then every node seen since), when the cluster
 * is opened, when a command finds a slot without a node, and after a node
 * fails to answer (a failover or a node removed).  A map that leaves a
 * slot without a master is refused: the cluster is down.
 *
 * Redirections.  MOVED <slot> <host:port> records the slot's new owner and
 * sends the command again there; ASK <slot> <host:port> (a slot being
 * migrated, the key already moved) sends ASKING and the command to that
 * node once, without changing the map; TRYAGAIN (a multi-key command
 * during a migration) waits a moment and sends it again.  After
 * MAX_ROUNDS rounds the exchange fails like a broken connection.
 *
 * A node that fails to answer.  The map is learned again (a replica may
 * have taken over) and the commands that went there are sent again, but
 * only those that cannot have run: the node could not be connected to, or
 * every command sent to it only reads (is_repeatable).  A node that timed
 * out or broke the connection after the commands were written may have
 * run them (a node paused past cachext.redis_timeout runs what its socket
 * holds once it resumes), and running a script, INCRBY, SET or UNLINK
 * twice is not the same as once: a counter counts twice, a fence is
 * placed twice, a value overwrites a later invalidation.  Then the
 * exchange fails, as one node's would, and the caller acts on the
 * failure as on any other (a queued invalidation, a fallback to L1).  So
 * that a node restarted while a connection to it lay idle does not fail a
 * write that way, a pipeline that is not repeatable first peeks at an
 * idle connection (redis_conn_idle_broken) and opens a new one if the
 * node closed it.
 *
 * Multi-key commands.  MGET, UNLINK and DEL are split by slot (Redis
 * Cluster refuses keys of two slots in one command), the pieces sent in
 * one pipeline per node, and their answers put back together: MGET's
 * values in the caller's order, UNLINK's and DEL's counts summed.  An
 * EVAL is routed by its first key; the caller makes sure its other keys
 * share that slot (l2_keys.c's slot tags).  SCAN has no key: the caller
 * sends it to every master with redis_cluster_exchange_on.
 *
 * Memory.  A RedisCluster, its nodes' targets and the map live in a
 * memory context of their own under TopMemoryContext (they outlive
 * transactions), deleted by redis_cluster_close; connections are
 * redis_conn.c's.  Per-exchange work is in the caller's memory context.
 * A process has at most one RedisCluster per connection it keeps; there is
 * no shared state and so no locking.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "redis_cluster.h"
#include "redis_slot.h"

/* How many times one exchange follows redirections before it gives up. */
#define MAX_ROUNDS			8

/*
 * How many times in one exchange a node may fail to answer (then the map
 * is learned again, in case a replica took over) before the exchange fails.
 */
#define MAX_NODE_FAILURES	2

/* The pause before a command answered TRYAGAIN is sent again. */
#define TRYAGAIN_PAUSE_MS	20

/* No node chosen (ClusterPart.ask_node). */
#define NO_NODE				REDIS_SLOT_NO_NODE

typedef struct ClusterNode
{
	RedisTarget target;			/* its address; the URL's credentials and TLS */
	RedisConn  *conn;			/* NULL until used, or after a failure */
} ClusterNode;

struct RedisCluster
{
	MemoryContext context;		/* this struct, the nodes, their strings */
	RedisTarget url;			/* the URL's target, strings copied */
	int			nnodes;
	int			max_nodes;		/* nodes' allocated length */
	ClusterNode *nodes;			/* the seeds first; only ever appended to */
	RedisSlotMap map;			/* slot -> index into nodes */
};

/*
 * One command as it goes to one node: a caller's command, or the keys of
 * one slot of a caller's MGET, UNLINK or DEL.
 */
typedef struct ClusterPart
{
	RedisCommand cmd;
	int			command;		/* the caller's command it answers */
	int		   *keys;			/* split: which of the caller's keys (from 0)
								 * cmd carries; NULL: cmd is the caller's */
	int			slot;			/* NO_NODE: no key (any master) */
	int			ask_node;		/* NO_NODE, or where ASK sent it */
	RedisReply *reply;			/* NULL until answered */
} ClusterPart;

/* Is cmd's name (argument 0) name, in any case? */
static bool
is_command(const RedisCommand *cmd, const char *name)
{
	return cmd->argc > 0 && cmd->argvlen[0] == strlen(name) &&
		pg_strncasecmp(cmd->argv[0], name, cmd->argvlen[0]) == 0;
}

/*
 * Does cmd only read, so that a node may run it twice with the effect and
 * the answer of running it once?  (See "A node that fails to answer".)
 */
static bool
is_repeatable(const RedisCommand *cmd)
{
	static const char *const reads[] = {"GET", "MGET", "PTTL", "EXISTS",
	"PING", "SCAN"};

	for (int i = 0; i < lengthof(reads); i++)
		if (is_command(cmd, reads[i]))
			return true;
	return false;
}

/* Is cmd one whose arguments are all keys, split by slot here? */
static bool
is_multi_key(const RedisCommand *cmd)
{
	return is_command(cmd, "MGET") || is_command(cmd, "UNLINK") ||
		is_command(cmd, "DEL");
}

/* The slot of cmd's (first) key, or NO_NODE for a command without one. */
static int
command_slot(const RedisCommand *cmd)
{
	int			key = 1;

	if (is_command(cmd, "EVAL") || is_command(cmd, "EVALSHA"))
		key = cmd->argc > 3 && atoi(cmd->argv[2]) > 0 ? 3 : 0;
	else if (is_command(cmd, "SCAN") || is_command(cmd, "PING"))
		key = 0;
	if (key == 0 || key >= cmd->argc)
		return NO_NODE;
	return redis_slot_of_key(cmd->argv[key], cmd->argvlen[key]);
}

/* The node at host:port, added (with the URL's credentials) if new. */
static int
node_at(RedisCluster *cluster, const char *host, int port)
{
	MemoryContext old_context;
	ClusterNode *node;

	for (int i = 0; i < cluster->nnodes; i++)
		if (cluster->nodes[i].target.port == port &&
			strcmp(cluster->nodes[i].target.host, host) == 0)
			return i;
	old_context = MemoryContextSwitchTo(cluster->context);
	if (cluster->nnodes == cluster->max_nodes)
	{
		cluster->max_nodes *= 2;
		cluster->nodes = repalloc(cluster->nodes,
								  cluster->max_nodes * sizeof(ClusterNode));
	}
	node = &cluster->nodes[cluster->nnodes];
	memset(node, 0, sizeof(ClusterNode));
	node->target.host = pstrdup(host);
	node->target.port = port;
	node->target.tls = cluster->url.tls;
	node->target.user = cluster->url.user;
	node->target.password = cluster->url.password;
	node->target.display = psprintf(strchr(host, ':') ?
									"cluster node [%s]:%d" :
									"cluster node %s:%d", host, port);
	MemoryContextSwitchTo(old_context);
	return cluster->nnodes++;
}

/* Closes node's connection after a failure: the next use reconnects. */
static void
drop_node(RedisCluster *cluster, int node)
{
	redis_conn_close(&cluster->nodes[node].conn);
}

/* Connects node if it is not; false with *reason naming it. */
static RedisConnResult
node_connected(RedisCluster *cluster, int node, char **reason)
{
	ClusterNode *n = &cluster->nodes[node];
	RedisConnResult result = REDIS_CONN_OK;

	if (n->conn == NULL)
	{
		n->conn = redis_conn_open(&n->target, &result, reason);
		if (n->conn == NULL)
			*reason = psprintf("%s: %s", n->target.display, *reason);
	}
	return result;
}

/* Runs commands on node, connecting first; a failure drops the node. */
static RedisConnResult
node_exchange(RedisCluster *cluster, int node, int ncommands,
			  const RedisCommand *commands, RedisReply **replies,
			  char **reason)
{
	RedisConnResult result = node_connected(cluster, node, reason);

	if (result == REDIS_CONN_OK)
	{
		result = redis_conn_exchange(&cluster->nodes[node].conn, ncommands,
									 commands, replies, reason);
		if (result != REDIS_CONN_OK)
		{
			*reason = psprintf("%s: %s", cluster->nodes[node].target.display,
							   *reason);
			drop_node(cluster, node);
		}
	}
	return result;
}

/*
 * Fills the map from node's CLUSTER SLOTS reply: [[first, last, [host,
 * port, ...], replicas...], ...].  False with *reason when the reply is
 * not one or leaves a slot without a master.
 */
static bool
take_slots(RedisCluster *cluster, int node, const RedisReply *reply,
		   char **reason)
{
	const char *asked = cluster->nodes[node].target.display;

	if (reply->type != REPLY_ARRAY)
	{
		*reason = reply->type == REPLY_ERROR ?
			psprintf("%s answered CLUSTER SLOTS: %s", asked, reply->str) :
			psprintf("%s answered CLUSTER SLOTS with an unexpected reply.", asked);
		return false;
	}
	redis_slot_map_clear(&cluster->map);
	for (size_t i = 0; i < reply->elements; i++)
	{
		const RedisReply *range = reply->element[i];
		const RedisReply *master;
		const char *host;

		if (range->type != REPLY_ARRAY || range->elements < 3 ||
			range->element[0]->type != REPLY_INTEGER ||
			range->element[1]->type != REPLY_INTEGER ||
			range->element[2]->type != REPLY_ARRAY ||
			range->element[2]->elements < 2 ||
			range->element[2]->element[0]->type != REPLY_STRING ||
			range->element[2]->element[1]->type != REPLY_INTEGER)
		{
			*reason = psprintf("%s answered CLUSTER SLOTS with an unexpected reply.",
							   asked);
			return false;
		}
		master = range->element[2];
		/* an empty host is the node asked, by the address we reached it at */
		host = master->element[0]->len > 0 ? master->element[0]->str :
			cluster->nodes[node].target.host;
		if (!redis_slot_map_assign(&cluster->map, range->element[0]->integer,
								   range->element[1]->integer,
								   node_at(cluster, host,
										   (int) master->element[1]->integer)))
		{
			*reason = psprintf("%s answered CLUSTER SLOTS with a slot range out of bounds.",
							   asked);
			return false;
		}
	}
	if (!redis_slot_map_complete(&cluster->map))
	{
		*reason = psprintf("%s says some hash slots have no master: the cluster is down.",
						   asked);
		return false;
	}
	return true;
}

/*
 * Learns the slot map from the first node that answers, the seeds first;
 * false with *reason (the last node's problem) when none does.
 */
static bool
refresh_map(RedisCluster *cluster, char **reason)
{
	const char *slots[] = {"CLUSTER", "SLOTS"};

	for (int i = 0; i < cluster->nnodes; i++)
	{
		RedisCommand cmd = redis_command(lengthof(slots));
		RedisReply *reply;
		bool		ok;

		for (int a = 0; a < lengthof(slots); a++)
			redis_command_arg_string(&cmd, a, slots[a]);
		if (node_exchange(cluster, i, 1, &cmd, &reply, reason) != REDIS_CONN_OK)
			continue;
		ok = take_slots(cluster, i, reply, reason);
		redis_reply_free(reply);
		if (ok)
			return true;
	}
	return false;
}

/*
 * Opens target's cluster: its seeds as the first nodes, and the slot map.
 * NULL with *result and *reason when no seed gives a complete map.
 */
RedisCluster *
redis_cluster_open(const RedisTarget *target, RedisConnResult *result,
				   char **reason)
{
	MemoryContext context = AllocSetContextCreate(TopMemoryContext,
												  "cachext redis cluster",
												  ALLOCSET_SMALL_SIZES);
	RedisCluster *cluster = MemoryContextAllocZero(context,
												   sizeof(RedisCluster));

	cluster->context = context;
	cluster->url = *target;
	cluster->url.user = target->user ?
		MemoryContextStrdup(context, target->user) : NULL;
	cluster->url.password = target->password ?
		MemoryContextStrdup(context, target->password) : NULL;
	cluster->max_nodes = Max(target->naddresses, 8);
	cluster->nodes = MemoryContextAlloc(context,
										cluster->max_nodes * sizeof(ClusterNode));
	for (int i = 0; i < target->naddresses; i++)
		node_at(cluster, target->addresses[i].host, target->addresses[i].port);
	if (!refresh_map(cluster, reason))
	{
		*result = REDIS_CONN_FAILED;
		redis_cluster_close(&cluster);
		return NULL;
	}
	*result = REDIS_CONN_OK;
	return cluster;
}

/* Closes every node's connection and frees the cluster; *cluster becomes NULL. */
void
redis_cluster_close(RedisCluster **cluster)
{
	RedisCluster *c = *cluster;

	if (c == NULL)
		return;
	for (int i = 0; i < c->nnodes; i++)
		drop_node(c, i);
	MemoryContextDelete(c->context);
	*cluster = NULL;
}

/*
 * The masters that own slots now, each once (indexes for
 * redis_cluster_exchange_on and redis_cluster_node); at most max_nodes.
 */
int
redis_cluster_masters(RedisCluster *cluster, int *nodes, int max_nodes)
{
	bool	   *seen = palloc0(cluster->nnodes * sizeof(bool));
	int			n = 0;

	for (int slot = 0; slot < REDIS_CLUSTER_SLOTS && n < max_nodes; slot++)
	{
		int			node = redis_slot_map_node(&cluster->map, slot);

		if (node != NO_NODE && !seen[node])
		{
			seen[node] = true;
			nodes[n++] = node;
		}
	}
	pfree(seen);
	return n;
}

/* Where node is and how to connect to it (valid until the cluster is closed). */
const RedisTarget *
redis_cluster_node(RedisCluster *cluster, int node)
{
	return &cluster->nodes[node].target;
}

/* Runs commands on one node (SCAN on each master), as they are. */
RedisConnResult
redis_cluster_exchange_on(RedisCluster *cluster, int node, int ncommands,
						  const RedisCommand *commands, RedisReply **replies,
						  char **reason)
{
	return node_exchange(cluster, node, ncommands, commands, replies, reason);
}

/*
 * Splits commands into parts: each multi-key command into one part per
 * slot of its keys, every other command as it is.  Returns the number of
 * parts; parts has room for one per key.
 */
static int
split_commands(int ncommands, const RedisCommand *commands,
			   ClusterPart *parts)
{
	int			nparts = 0;

	for (int c = 0; c < ncommands; c++)
	{
		const RedisCommand *cmd = &commands[c];
		int			first = nparts;

		if (!is_multi_key(cmd) || cmd->argc <= 2)
		{
			parts[nparts].cmd = *cmd;
			parts[nparts].command = c;
			parts[nparts].keys = NULL;
			parts[nparts].slot = command_slot(cmd);
			parts[nparts].ask_node = NO_NODE;
			parts[nparts].reply = NULL;
			nparts++;
			continue;
		}
		for (int k = 0; k < cmd->argc - 1; k++)
		{
			int			slot = redis_slot_of_key(cmd->argv[k + 1],
												 cmd->argvlen[k + 1]);
			ClusterPart *part = NULL;

			for (int p = first; p < nparts && part == NULL; p++)
				if (parts[p].slot == slot)
					part = &parts[p];
			if (part == NULL)
			{
				part = &parts[nparts++];
				part->cmd = redis_command(cmd->argc);
				part->cmd.argc = 1;
				redis_command_arg(&part->cmd, 0, cmd->argv[0], cmd->argvlen[0]);
				part->command = c;
				part->keys = palloc((cmd->argc - 1) * sizeof(int));
				part->slot = slot;
				part->ask_node = NO_NODE;
				part->reply = NULL;
			}
			part->keys[part->cmd.argc - 1] = k;
			redis_command_arg(&part->cmd, part->cmd.argc++, cmd->argv[k + 1],
							  cmd->argvlen[k + 1]);
		}
	}
	return nparts;
}

/* The node a part goes to now, or NO_NODE when the map names none. */
static int
part_node(RedisCluster *cluster, const ClusterPart *part)
{
	int			master;

	if (part->ask_node != NO_NODE)
		return part->ask_node;
	if (part->slot != NO_NODE)
		return redis_slot_map_node(&cluster->map, part->slot);
	return redis_cluster_masters(cluster, &master, 1) == 1 ? master : NO_NODE;
}

/*
 * The node named by a MOVED or ASK error, "<MOVED|ASK> <slot> <host>:<port>"
 * (the host may be an IPv6 address, so the port follows the last ":"), or
 * NO_NODE if it is not one.
 */
static int
redirection_node(RedisCluster *cluster, const char *error)
{
	const char *address = strchr(error, ' ');
	const char *colon;
	char	   *host;
	int			node;

	if (address == NULL || (address = strchr(address + 1, ' ')) == NULL ||
		(colon = strrchr(address, ':')) == NULL)
		return NO_NODE;
	host = pnstrdup(address + 1, colon - address - 1);
	node = node_at(cluster, host, atoi(colon + 1));
	pfree(host);
	return node;
}

/* Is reply the error whose code (first word) is code? */
static bool
is_error(const RedisReply *reply, const char *code)
{
	size_t		len = strlen(code);

	return reply->type == REPLY_ERROR && reply->len > len &&
		strncmp(reply->str, code, len) == 0 && reply->str[len] == ' ';
}

/*
 * Sends every unanswered part going to node in one pipeline (ASKING before
 * a part an ASK sent there) and takes the answers: a redirection leaves
 * the part unanswered, to be sent again where it points; anything else
 * answers it.  When the node fails after the pipeline was written,
 * *may_have_run is set if a part it held is not repeatable.
 */
static RedisConnResult
send_to_node(RedisCluster *cluster, int node, ClusterPart *parts, int nparts,
			 bool *may_have_run, char **reason)
{
	RedisCommand *commands = palloc(2 * nparts * sizeof(RedisCommand));
	RedisReply **replies = palloc(2 * nparts * sizeof(RedisReply *));
	int		   *part_of = palloc(2 * nparts * sizeof(int));
	int			n = 0;
	bool		repeatable = true;
	RedisConnResult result;

	for (int p = 0; p < nparts; p++)
	{
		if (parts[p].reply != NULL || part_node(cluster, &parts[p]) != node)
			continue;
		if (parts[p].ask_node != NO_NODE)
		{
			commands[n] = redis_command(1);
			redis_command_arg_string(&commands[n], 0, "ASKING");
			part_of[n++] = NO_NODE;
		}
		commands[n] = parts[p].cmd;
		part_of[n++] = p;
		repeatable &= is_repeatable(&parts[p].cmd);
	}
	/* a connection found dead after the write would leave them in doubt */
	if (!repeatable && cluster->nodes[node].conn != NULL &&
		redis_conn_idle_broken(cluster->nodes[node].conn))
		drop_node(cluster, node);
	result = node_connected(cluster, node, reason);
	if (result != REDIS_CONN_OK)
		return result;			/* nothing was sent */
	result = node_exchange(cluster, node, n, commands, replies, reason);
	if (result != REDIS_CONN_OK)
	{
		*may_have_run |= !repeatable;
		return result;
	}
	for (int i = 0; i < n; i++)
	{
		ClusterPart *part = part_of[i] == NO_NODE ? NULL : &parts[part_of[i]];
		RedisReply *reply = replies[i];

		if (part == NULL)
			redis_reply_free(reply);	/* ASKING's OK */
		else if (is_error(reply, "MOVED"))
		{
			int			moved_to = redirection_node(cluster, reply->str);

			if (part->slot != NO_NODE && moved_to != NO_NODE)
				redis_slot_map_assign(&cluster->map, part->slot, part->slot,
									  moved_to);
			part->ask_node = NO_NODE;
			redis_reply_free(reply);
		}
		else if (is_error(reply, "ASK"))
		{
			part->ask_node = redirection_node(cluster, reply->str);
			redis_reply_free(reply);
		}
		else if (is_error(reply, "TRYAGAIN"))
		{
			part->ask_node = NO_NODE;
			pg_usleep(TRYAGAIN_PAUSE_MS * 1000L);
			redis_reply_free(reply);
		}
		else
		{
			part->ask_node = NO_NODE;
			part->reply = reply;
		}
	}
	return REDIS_CONN_OK;
}

/* A reply made here, malloc'd like the reader's so redis_reply_free frees it. */
static RedisReply *
new_reply(RedisReplyType type, size_t elements)
{
	RedisReply *reply = calloc(1, sizeof(RedisReply));

	if (reply == NULL ||
		(elements > 0 &&
		 (reply->element = calloc(elements, sizeof(RedisReply *))) == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	reply->type = type;
	reply->elements = elements;
	return reply;
}

/*
 * The caller's reply to command c from its parts: the one part's reply, or
 * an error one of them got, or MGET's values back in order, or the sum of
 * UNLINK's or DEL's counts.  Takes the parts' replies.
 */
static RedisReply *
join_replies(const RedisCommand *cmd, int c, ClusterPart *parts, int nparts)
{
	RedisReply *joined = NULL;
	RedisReply *error = NULL;
	bool		mget = is_command(cmd, "MGET");

	for (int p = 0; p < nparts; p++)
	{
		RedisReply *reply = parts[p].reply;

		if (parts[p].command != c)
			continue;
		parts[p].reply = NULL;
		if (parts[p].keys == NULL)
			return reply;
		if (joined == NULL)
			joined = mget ? new_reply(REPLY_ARRAY, cmd->argc - 1) :
				new_reply(REPLY_INTEGER, 0);
		if (reply->type == REPLY_ERROR ||
			(mget && (reply->type != REPLY_ARRAY ||
					  reply->elements != (size_t) parts[p].cmd.argc - 1)))
		{
			if (error == NULL)
				error = reply;
			else
				redis_reply_free(reply);
			continue;
		}
		if (mget)
		{
			for (size_t e = 0; e < reply->elements; e++)
				joined->element[parts[p].keys[e]] = reply->element[e];
			reply->elements = 0;
		}
		else if (reply->type == REPLY_INTEGER)
			joined->integer += reply->integer;
		redis_reply_free(reply);
	}
	if (error != NULL)
	{
		redis_reply_free(joined);
		return error;
	}
	return joined;
}

/*
 * Runs commands, each on the node owning its key's slot, following
 * redirections; replies[i] answers commands[i] as one node would have.
 * On failure (nodes that failed to answer MAX_NODE_FAILURES times, or
 * once after they may have run commands that are not repeatable, a map
 * that cannot be learned, redirections without end) no reply is left and
 * *reason says why.
 */
RedisConnResult
redis_cluster_exchange(RedisCluster *cluster, int ncommands,
					   const RedisCommand *commands, RedisReply **replies,
					   char **reason)
{
	int			max_parts = 0;
	ClusterPart *parts;
	int			nparts;
	int			failures = 0;
	bool		may_have_run = false;
	RedisConnResult result = REDIS_CONN_FAILED;

	for (int c = 0; c < ncommands; c++)
		max_parts += Max(commands[c].argc - 1, 1);
	parts = palloc(max_parts * sizeof(ClusterPart));
	nparts = split_commands(ncommands, commands, parts);
	*reason = NULL;

	for (int round = 0;; round++)
	{
		bool		pending = false;
		bool		unmapped = false;
		bool		node_failed = false;

		for (int p = 0; p < nparts; p++)
			if (parts[p].reply == NULL)
			{
				pending = true;
				unmapped |= part_node(cluster, &parts[p]) == NO_NODE;
			}
		if (!pending)
		{
			result = REDIS_CONN_OK;
			break;
		}
		if (round == MAX_ROUNDS)
		{
			*reason = psprintf("The cluster still redirected commands after %d attempts.",
							   MAX_ROUNDS);
			break;
		}
		if (unmapped && !refresh_map(cluster, reason))
			break;
		/* nodes may be added while sending: a new one is sent to next round */
		for (int node = 0, nnodes = cluster->nnodes;
			 node < nnodes && !may_have_run; node++)
		{
			bool		goes_there = false;
			RedisConnResult sent;

			for (int p = 0; p < nparts && !goes_there; p++)
				goes_there = parts[p].reply == NULL &&
					part_node(cluster, &parts[p]) == node;
			if (!goes_there)
				continue;
			sent = send_to_node(cluster, node, parts, nparts, &may_have_run,
								reason);
			if (sent != REDIS_CONN_OK)
			{
				failures++;
				node_failed = true;
				result = sent;
			}
		}
		if (failures >= MAX_NODE_FAILURES || may_have_run)
			break;
		/* a node that failed may have been replaced: learn the map again */
		if (node_failed)
		{
			char	   *refresh_reason;

			if (!refresh_map(cluster, &refresh_reason))
				break;
		}
		result = REDIS_CONN_FAILED;
	}

	if (result != REDIS_CONN_OK)
	{
		for (int p = 0; p < nparts; p++)
			redis_reply_free(parts[p].reply);
		for (int c = 0; c < ncommands; c++)
			replies[c] = NULL;
		return result;
	}
	for (int c = 0; c < ncommands; c++)
		replies[c] = join_replies(&commands[c], c, parts, nparts);
	return REDIS_CONN_OK;
}
