/*
 * bench/write_path.c: the client of bench/run's write_path scenario, one
 * program for every variant so that their figures compare.
 *
 *   write_path -n ROWS [-c CLIENTS] (-T SECONDS | -t TRANSACTIONS)
 *              [-u HOST:PORT -k KEY_PREFIX] TABLE
 *     CLIENTS threads, each with its own PostgreSQL connection, each running
 *     the prepared one-row autocommit UPDATE TABLE SET v = v + 1 WHERE id = $1
 *     with a random id in 1..ROWS, for SECONDS or TRANSACTIONS each; prints
 *     the transactions per second.  With -u, each thread also has its own
 *     Redis connection and, once the commit has returned, sends
 *     UNLINK KEY_PREFIX<id>: the invalidation an application writes by hand.
 *
 *   write_path -n ROWS -l COMMITS [-r RATE] [-C CHANNEL] -k KEY_PREFIX TABLE
 *     One writer commits the UPDATE of ids 1..COMMITS, RATE a second, while a
 *     second connection LISTENs on CHANNEL (default cache_events); for each
 *     commit, the time from the writer's commit returning to the first
 *     notification naming the key KEY_PREFIX<id> (the watched table's event).
 *     Prints "p50_us p99_us received COMMITS" (microseconds); a latency is
 *     negative when the notification arrived before the writer saw its commit
 *     return.
 *
 * Connections take everything from the environment, as psql and pgbench do
 * (PGHOST, PGPORT, PGDATABASE, PGOPTIONS for settings such as
 * synchronous_commit and cachext.events).  Exits 1 on any error, saying why on
 * stderr.  Throughput threads share nothing: each counts its own
 * transactions, summed after they are joined.  The listener thread writes the
 * arrival times, which the writer reads once it has joined it, and an atomic
 * count of them, which the writer watches meanwhile.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#define UPDATE_STATEMENT "update_row"
#define DEFAULT_CHANNEL "cache_events"
#define DEFAULT_RATE 200
/* How long the listener waits for the last notifications after the writes. */
#define DRAIN_TIMEOUT_S 5.0
/* How often the listener looks at its stop flag while no notification comes. */
#define LISTEN_POLL_MS 50

typedef struct Options
{
	const char *table;
	long		rows;
	int			clients;
	double		seconds;		/* -T; 0 when -t is given */
	long		transactions;	/* -t; 0 when -T is given */
	const char *redis_host;		/* -u; NULL: no hand-written UNLINK */
	int			redis_port;
	const char *key_prefix;		/* -k */
	long		latency_commits;	/* -l; 0: throughput mode */
	int			rate;
	const char *channel;
} Options;

typedef struct Worker
{
	pthread_t	thread;
	const Options *options;
	PGconn	   *conn;
	redisContext *redis;
	unsigned int seed;
	double		deadline;		/* CLOCK_MONOTONIC seconds, with -T */
	long		done;			/* committed transactions */
	bool		failed;
} Worker;

typedef struct Listener
{
	pthread_t	thread;
	PGconn	   *conn;
	const char *key_prefix;
	long		commits;
	double	   *arrival;		/* per id - 1, 0 until its first notification */
	atomic_long arrived;		/* how many arrival[] are set */
	atomic_bool stop;
	bool		failed;
} Listener;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: write_path -n ROWS [-c CLIENTS] (-T SECONDS | -t TRANSACTIONS) "
			"[-u HOST:PORT -k KEY_PREFIX] TABLE\n"
			"       write_path -n ROWS -l COMMITS [-r RATE] [-C CHANNEL] "
			"-k KEY_PREFIX TABLE\n");
	exit(1);
}

/* A connection from the environment, the UPDATE prepared; exits on failure. */
static PGconn *
connect_postgres(const char *table)
{
	PGconn	   *conn = PQconnectdb("");
	PGresult   *res;
	char		sql[256];

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "write_path: cannot connect: %s", PQerrorMessage(conn));
		exit(1);
	}
	snprintf(sql, sizeof(sql), "UPDATE %s SET v = v + 1 WHERE id = $1", table);
	res = PQprepare(conn, UPDATE_STATEMENT, sql, 1, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "write_path: cannot prepare \"%s\": %s", sql,
				PQerrorMessage(conn));
		exit(1);
	}
	PQclear(res);
	return conn;
}

static redisContext *
connect_redis(const char *host, int port)
{
	redisContext *redis = redisConnect(host, port);

	if (redis == NULL || redis->err)
	{
		fprintf(stderr, "write_path: cannot connect to Redis at %s:%d: %s\n",
				host, port, redis ? redis->errstr : "out of memory");
		exit(1);
	}
	return redis;
}

/* One autocommit UPDATE of row id; false (said on stderr) if it failed. */
static bool
update_row(PGconn *conn, long id)
{
	char		id_text[32];
	const char *values[1] = {id_text};
	PGresult   *res;
	bool		ok;

	snprintf(id_text, sizeof(id_text), "%ld", id);
	res = PQexecPrepared(conn, UPDATE_STATEMENT, 1, values, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "write_path: UPDATE of id %ld failed: %s", id,
				PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/* The hand-written invalidation: UNLINK of the row's key after the commit. */
static bool
unlink_key(Worker *worker, long id)
{
	redisReply *reply = redisCommand(worker->redis, "UNLINK %s%ld",
									 worker->options->key_prefix, id);
	bool		ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER;
	const char *why;

	if (!ok)
	{
		if (reply == NULL)
			why = worker->redis->errstr;
		else if (reply->type == REDIS_REPLY_ERROR)
			why = reply->str;
		else
			why = "unexpected reply";
		fprintf(stderr, "write_path: UNLINK %s%ld failed: %s\n",
				worker->options->key_prefix, id, why);
	}
	if (reply)
		freeReplyObject(reply);
	return ok;
}

static void *
run_worker(void *arg)
{
	Worker	   *worker = arg;
	const Options *options = worker->options;

	while (options->transactions > 0 ? worker->done < options->transactions
		   : now() < worker->deadline)
	{
		long		id = 1 + rand_r(&worker->seed) % options->rows;

		if (!update_row(worker->conn, id) ||
			(worker->redis != NULL && !unlink_key(worker, id)))
		{
			worker->failed = true;
			break;
		}
		worker->done++;
	}
	return NULL;
}

/* Throughput mode: prints the transactions per second of all clients. */
static int
measure_throughput(const Options *options)
{
	Worker	   *workers = calloc(options->clients, sizeof(Worker));
	double		start,
				elapsed;
	long		total = 0;
	bool		failed = false;

	if (workers == NULL)
	{
		fprintf(stderr, "write_path: out of memory\n");
		return 1;
	}
	/* Every connection first, so that the timed part is the writes alone. */
	for (int i = 0; i < options->clients; i++)
	{
		workers[i].options = options;
		workers[i].conn = connect_postgres(options->table);
		if (options->redis_host)
			workers[i].redis = connect_redis(options->redis_host,
											 options->redis_port);
		workers[i].seed = (unsigned int) (time(NULL) ^ (getpid() << 8) ^ i);
	}
	start = now();
	for (int i = 0; i < options->clients; i++)
	{
		workers[i].deadline = start + options->seconds;
		if (pthread_create(&workers[i].thread, NULL, run_worker,
						   &workers[i]) != 0)
		{
			fprintf(stderr, "write_path: cannot start a thread\n");
			return 1;
		}
	}
	for (int i = 0; i < options->clients; i++)
	{
		pthread_join(workers[i].thread, NULL);
		total += workers[i].done;
		failed |= workers[i].failed;
	}
	elapsed = now() - start;
	for (int i = 0; i < options->clients; i++)
	{
		PQfinish(workers[i].conn);
		if (workers[i].redis)
			redisFree(workers[i].redis);
	}
	free(workers);
	if (failed)
		return 1;
	printf("%.1f\n", elapsed > 0 ? total / elapsed : 0.0);
	return 0;
}

/* Records the arrival of the first notification naming KEY_PREFIX<id>. */
static void
note_arrival(Listener *listener, const char *payload, double arrived)
{
	size_t		prefix_length = strlen(listener->key_prefix);
	const char *at = payload;

	/* The key is a JSON string: a quote, the prefix, the id, a quote. */
	while ((at = strstr(at, listener->key_prefix)) != NULL)
	{
		char	   *end;
		long		id;

		if (at == payload || at[-1] != '"')
		{
			at += prefix_length;
			continue;
		}
		id = strtol(at + prefix_length, &end, 10);
		if (*end == '"' && id >= 1 && id <= listener->commits &&
			listener->arrival[id - 1] == 0)
		{
			listener->arrival[id - 1] = arrived;
			atomic_fetch_add(&listener->arrived, 1);
		}
		at = end;
	}
}

static void *
run_listener(void *arg)
{
	Listener   *listener = arg;
	struct pollfd pfd = {.fd = PQsocket(listener->conn), .events = POLLIN};

	while (!atomic_load(&listener->stop))
	{
		PGnotify   *notify;
		double		arrived;

		if (poll(&pfd, 1, LISTEN_POLL_MS) < 0 && errno != EINTR)
		{
			fprintf(stderr, "write_path: poll failed: %s\n", strerror(errno));
			listener->failed = true;
			break;
		}
		arrived = now();
		if (!PQconsumeInput(listener->conn))
		{
			fprintf(stderr, "write_path: listener: %s",
					PQerrorMessage(listener->conn));
			listener->failed = true;
			break;
		}
		while ((notify = PQnotifies(listener->conn)) != NULL)
		{
			note_arrival(listener, notify->extra, arrived);
			PQfreemem(notify);
		}
	}
	return NULL;
}

static int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static double
percentile(const double *sorted, long n, double fraction)
{
	long		rank = (long) (fraction * n + 0.999999);

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

/* Latency mode: commit-to-listener times of COMMITS single-row commits. */
static int
measure_latency(const Options *options)
{
	long		commits = options->latency_commits;
	double	   *committed = calloc(commits, sizeof(double));
	double	   *latency = calloc(commits, sizeof(double));
	Listener	listener = {0};
	PGconn	   *writer;
	PGresult   *res;
	char	   *channel;
	char		sql[256];
	double		start,
				deadline;
	long		received = 0;
	bool		failed = false;

	listener.arrival = calloc(commits, sizeof(double));
	if (committed == NULL || latency == NULL || listener.arrival == NULL)
	{
		fprintf(stderr, "write_path: out of memory\n");
		return 1;
	}
	listener.key_prefix = options->key_prefix;
	listener.commits = commits;
	atomic_init(&listener.arrived, 0);
	atomic_init(&listener.stop, false);
	listener.conn = PQconnectdb("");
	if (PQstatus(listener.conn) != CONNECTION_OK)
	{
		fprintf(stderr, "write_path: cannot connect: %s",
				PQerrorMessage(listener.conn));
		return 1;
	}
	channel = PQescapeIdentifier(listener.conn, options->channel,
								 strlen(options->channel));
	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	PQfreemem(channel);
	res = PQexec(listener.conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "write_path: %s failed: %s", sql,
				PQerrorMessage(listener.conn));
		return 1;
	}
	PQclear(res);
	writer = connect_postgres(options->table);
	if (pthread_create(&listener.thread, NULL, run_listener, &listener) != 0)
	{
		fprintf(stderr, "write_path: cannot start a thread\n");
		return 1;
	}

	/* One commit every 1/RATE seconds, on a fixed schedule. */
	start = now();
	for (long i = 0; i < commits && !failed; i++)
	{
		double		wait = start + (double) i / options->rate - now();

		if (wait > 0)
		{
			struct timespec ts = {.tv_sec = (time_t) wait,
			.tv_nsec = (long) ((wait - (time_t) wait) * 1e9)};

			nanosleep(&ts, NULL);
		}
		failed = !update_row(writer, i + 1);
		committed[i] = now();
	}

	/* The last notifications, for DRAIN_TIMEOUT_S at most. */
	deadline = now() + DRAIN_TIMEOUT_S;
	while (!failed && now() < deadline &&
		   atomic_load(&listener.arrived) < commits)
		usleep(LISTEN_POLL_MS * 1000);
	atomic_store(&listener.stop, true);
	pthread_join(listener.thread, NULL);
	PQfinish(writer);
	PQfinish(listener.conn);
	if (failed || listener.failed)
		return 1;

	for (long i = 0; i < commits; i++)
		if (listener.arrival[i] != 0)
			latency[received++] = (listener.arrival[i] - committed[i]) * 1e6;
	if (received == 0)
	{
		fprintf(stderr, "write_path: no notification naming %s<id> on channel %s "
				"within %.0f s\n", options->key_prefix, options->channel,
				DRAIN_TIMEOUT_S);
		return 1;
	}
	qsort(latency, received, sizeof(double), compare_doubles);
	printf("%.1f %.1f %ld %ld\n", percentile(latency, received, 0.50),
		   percentile(latency, received, 0.99), received, commits);
	free(committed);
	free(latency);
	free(listener.arrival);
	return 0;
}

int
main(int argc, char **argv)
{
	Options		options = {.clients = 1, .rate = DEFAULT_RATE,
	.channel = DEFAULT_CHANNEL};
	char	   *colon;
	int			c;

	while ((c = getopt(argc, argv, "n:c:T:t:u:k:l:r:C:")) != -1)
	{
		switch (c)
		{
			case 'n':
				options.rows = atol(optarg);
				break;
			case 'c':
				options.clients = atoi(optarg);
				break;
			case 'T':
				options.seconds = atof(optarg);
				break;
			case 't':
				options.transactions = atol(optarg);
				break;
			case 'u':
				colon = strrchr(optarg, ':');
				if (colon == NULL)
					usage();
				*colon = '\0';
				options.redis_host = optarg;
				options.redis_port = atoi(colon + 1);
				break;
			case 'k':
				options.key_prefix = optarg;
				break;
			case 'l':
				options.latency_commits = atol(optarg);
				break;
			case 'r':
				options.rate = atoi(optarg);
				break;
			case 'C':
				options.channel = optarg;
				break;
			default:
				usage();
		}
	}
	if (optind != argc - 1 || options.rows < 1)
		usage();
	options.table = argv[optind];

	if (options.latency_commits > 0)
	{
		if (options.key_prefix == NULL || options.rate < 1 ||
			options.latency_commits > options.rows)
			usage();
		return measure_latency(&options);
	}
	if (options.clients < 1 ||
		(options.seconds > 0) == (options.transactions > 0) ||
		(options.redis_host != NULL) != (options.key_prefix != NULL))
		usage();
	return measure_throughput(&options);
}
