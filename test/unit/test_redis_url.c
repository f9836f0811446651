/*
 * test_redis_url.c
 *	  Unit tests of the cachext.redis_url parser (src/redis_url.c), run
 *	  without a server: `make unitcheck`.
 *
 * Each accepted case states every part the parser must find; each rejected
 * case a phrase of the problem it must give.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

typedef struct UrlCase
{
	const char *url;
	const char *host;
	int			port;
	const char *socket_path;
	const char *user;
	const char *password;
	int			db;
	const char *display;
} UrlCase;

static const UrlCase accepted_cases[] = {
	{"redis://cache.internal", "cache.internal", 6379, NULL, NULL, NULL, 0,
	"cache.internal:6379/0"},
	{"redis://127.0.0.1:6380/3", "127.0.0.1", 6380, NULL, NULL, NULL, 3,
	"127.0.0.1:6380/3"},
	{"redis://h/", "h", 6379, NULL, NULL, NULL, 0, "h:6379/0"},
	{"redis://[::1]:7000", "::1", 7000, NULL, NULL, NULL, 0, "[::1]:7000/0"},
	{"redis://:s3cret@h", "h", 6379, NULL, NULL, "s3cret", 0, "h:6379/0"},
	{"redis://alice:pw@h:1/2", "h", 1, NULL, "alice", "pw", 2, "h:1/2"},
	{"redis://:@h", "h", 6379, NULL, NULL, "", 0, "h:6379/0"},
	/* the password runs to the last "@" and may hold ":" */
	{"redis://:a@b:c@h", "h", 6379, NULL, NULL, "a@b:c", 0, "h:6379/0"},
	/* percent-encoded credentials are decoded (RFC 3986) */
	{"redis://user:p%40ss@host", "host", 6379, NULL, "user", "p@ss", 0,
	"host:6379/0"},
	{"redis://al%3Aice:%2f%3a%25%20x@h", "h", 6379, NULL, "al:ice", "/:% x", 0,
	"h:6379/0"},
	{"redis://:%C3%A9t%c3%a9@h", "h", 6379, NULL, NULL, "\xc3\xa9t\xc3\xa9", 0,
	"h:6379/0"},
	{"redis://:%ff@h", "h", 6379, NULL, NULL, "\xff", 0, "h:6379/0"},
	/* ... but nothing else is */
	{"redis://h%41/0", "h%41", 6379, NULL, NULL, NULL, 0, "h%41:6379/0"},
	/* rediss:// is the same over TLS */
	{"rediss://cache.internal", "cache.internal", 6379, NULL, NULL, NULL, 0,
	"cache.internal:6379/0"},
	{"rediss://alice:p%40w@[::1]:6390/5", "::1", 6390, NULL, "alice", "p@w", 5,
	"[::1]:6390/5"},
	{"unix:///run/redis.sock", NULL, 6379, "/run/redis.sock", NULL, NULL, 0,
	"unix:/run/redis.sock (db 0)"},
	{"unix:///run/redis.sock?db=4", NULL, 6379, "/run/redis.sock", NULL, NULL, 4,
	"unix:/run/redis.sock (db 4)"},
	{"unix://bob:p%2540@/s%20ock", NULL, 6379, "/s%20ock", "bob", "p%40", 0,
	"unix:/s%20ock (db 0)"},
	{"unix://:pw@/s", NULL, 6379, "/s", NULL, "pw", 0, "unix:/s (db 0)"},
};

typedef struct RejectedCase
{
	const char *url;
	const char *problem;		/* a phrase of the problem given */
} RejectedCase;

static const RejectedCase rejected_cases[] = {
	{"http://h", "must start with redis://, rediss://, redis-sentinel://, redis-cluster:// or unix://"},
	{"", "must start with redis://, rediss://, redis-sentinel://, redis-cluster:// or unix://"},
	{"redis:/h", "must start with redis://, rediss://, redis-sentinel://, redis-cluster:// or unix://"},
	{"rediss://", "names no host"},
	{"rediss://h:0", "port must be"},
	{"redis-sentinel://h:26379", "must name the service"},
	{"redis-sentinel://h:26379/", "must name the service"},
	{"redis-sentinel:///mymaster", "names no host"},
	{"redis-sentinel://a,,b/mymaster", "names no host"},
	{"redis-sentinel://a:0/mymaster", "port must be"},
	{"redis-sentinel://a/mymaster/x", "database after"},
	{"redis-sentinel://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/s", "At most 16 Sentinels or cluster nodes"},
	{"redis-cluster://a/1", "Redis Cluster serves database 0 only"},
	{"redis-cluster://", "names no host"},
	{"redis-cluster://a,,b", "names no host"},
	{"redis://", "names no host"},
	{"redis://[]:1", "names no host"},
	{"redis://:pw@", "names no host"},
	{"redis://[::1", "never closed"},
	{"redis://h:0", "port must be"},
	{"redis://h:65536", "port must be"},
	{"redis://h:", "port must be"},
	{"redis://[::1]x", "port must be"},
	{"redis://h/x", "database after"},
	{"redis://h/-1", "database after"},
	{"redis://h/2147483648", "database after"},
	{"redis://secret@h", "Credentials must be written"},
	{"redis://:p%4@h", "two hexadecimal digits"},
	{"redis://:p%@h", "two hexadecimal digits"},
	{"redis://:p%zz@h", "two hexadecimal digits"},
	{"redis://u%g1:p@h", "two hexadecimal digits"},
	{"redis://:a%00b@h", "must not contain %00"},
	{"redis://us%00er:p@h", "must not contain %00"},
	{"unix://run/redis.sock", "absolute socket path"},
	{"unix:///s?database=1", "only query parameter"},
	{"unix:///s?db=", "only query parameter"},
	{"unix://:a%0@/s", "two hexadecimal digits"},
};

/* A redis-sentinel:// or redis-cluster:// (service NULL) URL's parts beyond UrlCase's. */
typedef struct SentinelCase
{
	const char *url;
	const char *service;
	int			db;
	int			naddresses;
	const char *last_host;		/* the last Sentinel listed */
	int			last_port;
	const char *password;
	const char *display;
} SentinelCase;

static const SentinelCase sentinel_cases[] = {
	{"redis-sentinel://s1/mymaster", "mymaster", 0, 1, "s1", 26379, NULL,
	"service mymaster via Sentinel (db 0)"},
	{"redis-cluster://n1", NULL, 0, 1, "n1", 6379, NULL,
	"cluster seeded by n1"},
	{"redis-cluster://:pw@n1:7000,[::1]:7001,n3:7002/0", NULL, 0, 3, "n3", 7002,
	"pw", "cluster seeded by n1 and others"},
	{"redis-sentinel://:p%40w@s1:5000,[::1]:5001,s3/cache/2", "cache", 2, 3,
	"s3", 26379, "p@w", "service cache via Sentinel (db 2)"},
	{"redis-sentinel://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p/s/", "s", 0, 16, "p",
	26379, NULL, "service s via Sentinel (db 0)"},
};

/* Does an optional string part equal what the case expects? */
static int
same(const char *got, const char *expected)
{
	if (got == NULL || expected == NULL)
		return got == expected;
	return strcmp(got, expected) == 0;
}

/* Parses url; returns the problem, or NULL with *t filled. */
static const char *
parse(const char *url, RedisTarget *t, char **storage)
{
	const char *problem = NULL;

	*storage = malloc(REDIS_URL_STORAGE_SIZE(strlen(url)));
	if (!redis_url_parse(url, t, *storage, &problem))
		return problem;
	return NULL;
}

/* Says what went wrong with an accepted case, frees its storage. */
static int
reported(const char *url, const char *problem, int ok, char *storage)
{
	if (!ok)
		printf("not ok: redis_url \"%s\": %s\n", url,
			   problem ? problem : "accepted, with other parts than expected");
	free(storage);
	return ok;
}

static int
check_accepted(const UrlCase *c)
{
	RedisTarget t;
	char	   *storage;
	const char *problem = parse(c->url, &t, &storage);
	int			ok = problem == NULL && same(t.host, c->host) &&
		t.port == c->port && same(t.socket_path, c->socket_path) &&
		same(t.user, c->user) && same(t.password, c->password) &&
		t.db == c->db && same(t.display, c->display) &&
		t.tls == (strncmp(c->url, "rediss://", 9) == 0);

	return reported(c->url, problem, ok, storage);
}

static int
check_sentinel(const SentinelCase *c)
{
	RedisTarget t;
	char	   *storage;
	const char *problem = parse(c->url, &t, &storage);
	int			ok = problem == NULL && t.host == NULL &&
		t.socket_path == NULL && !t.tls && same(t.service, c->service) &&
		t.cluster == (c->service == NULL) &&
		t.db == c->db && t.naddresses == c->naddresses &&
		same(t.addresses[t.naddresses - 1].host, c->last_host) &&
		t.addresses[t.naddresses - 1].port == c->last_port &&
		same(t.password, c->password) && same(t.display, c->display);

	return reported(c->url, problem, ok, storage);
}

static int
check_rejected(const RejectedCase *c)
{
	RedisTarget t;
	char	   *storage;
	const char *problem = parse(c->url, &t, &storage);
	int			ok = problem != NULL && strstr(problem, c->problem) != NULL;

	if (!ok)
		printf("not ok: redis_url \"%s\": expected a problem with \"%s\", got %s\n",
			   c->url, c->problem, problem ? problem : "acceptance");
	free(storage);
	return ok;
}

int
main(void)
{
	int			failed = 0;
	int			passed = 0;

	for (size_t i = 0; i < sizeof(accepted_cases) / sizeof(accepted_cases[0]); i++)
	{
		if (check_accepted(&accepted_cases[i]))
			passed++;
		else
			failed++;
	}
	for (size_t i = 0; i < sizeof(sentinel_cases) / sizeof(sentinel_cases[0]); i++)
	{
		if (check_sentinel(&sentinel_cases[i]))
			passed++;
		else
			failed++;
	}
	for (size_t i = 0; i < sizeof(rejected_cases) / sizeof(rejected_cases[0]); i++)
	{
		if (check_rejected(&rejected_cases[i]))
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
