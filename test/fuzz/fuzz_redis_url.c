/*
 * fuzz_redis_url.c
 *	  libFuzzer harness for the cachext.redis_url parser (src/redis_url.c),
 *	  run by `make fuzzcheck` with AddressSanitizer and UBSan.
 *
 * The input is the URL, except that each byte 0x01 becomes MARKER and each
 * byte 0x02 becomes MARKER percent-encoded, so the fuzzer can place a
 * recognisable secret anywhere.  Beyond "no crash and no out-of-bounds
 * write into the storage" it checks:
 *	- a rejection's problem never quotes the URL (so never the password);
 *	- an accepted URL's parts are consistent: a non-empty host or an
 *	  absolute socket path (never both), a port in 1..65535, db >= 0, a
 *	  user only with a password, and a display text that quotes no
 *	  credential;
 *	- rendering the accepted target as a URL again (credentials
 *	  percent-encoded) and parsing that gives the same target.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

#define MARKER			"Pw0Mark"
#define MARKER_ENCODED	"%50w0Mark"

/* Parses url into *t with fresh storage (*storage, the caller frees). */
static const char *
parse(const char *url, RedisTarget *t, char **storage)
{
	const char *problem = NULL;

	*storage = malloc(REDIS_URL_STORAGE_SIZE(strlen(url)));
	if (!redis_url_parse(url, t, *storage, &problem))
	{
		if (problem == NULL)
		{
			fprintf(stderr, "rejected without a problem: \"%s\"\n", url);
			abort();
		}
		return problem;
	}
	return NULL;
}

static void
fail(const char *what, const char *url)
{
	fprintf(stderr, "redis_url: %s: \"%s\"\n", what, url);
	abort();
}

/* Appends s percent-encoding all but RFC 3986's unreserved characters. */
static char *
append_encoded(char *out, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
			*out++ = (char) c;
		else
			out += sprintf(out, "%%%02X", c);
	}
	return out;
}

/* Writes t back as a URL; out holds 3 * the parts' lengths + 64 bytes. */
static void
render(const RedisTarget *t, char *out)
{
	out += sprintf(out, t->socket_path ? "unix://" :
				   t->service ? "redis-sentinel://" :
				   t->cluster ? "redis-cluster://" :
				   t->tls ? "rediss://" : "redis://");
	if (t->password != NULL)
	{
		if (t->user != NULL)
			out = append_encoded(out, t->user);
		*out++ = ':';
		out = append_encoded(out, t->password);
		*out++ = '@';
	}
	if (t->socket_path != NULL)
		sprintf(out, "%s?db=%d", t->socket_path, t->db);
	else if (t->service != NULL || t->cluster)
	{
		for (int i = 0; i < t->naddresses; i++)
			out += sprintf(out, strchr(t->addresses[i].host, ':') != NULL ||
						   t->addresses[i].host[0] == '[' ? "%s[%s]:%d" : "%s%s:%d",
						   i > 0 ? "," : "", t->addresses[i].host,
						   t->addresses[i].port);
		if (t->service != NULL)
			sprintf(out, "/%s/%d", t->service, t->db);
	}
	else if (strchr(t->host, ':') != NULL || t->host[0] == '[')
		sprintf(out, "[%s]:%d/%d", t->host, t->port, t->db);
	else
		sprintf(out, "%s:%d/%d", t->host, t->port, t->db);
}

/* Do two optional strings agree? */
static int
same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Do two targets list the same Sentinels or cluster seeds? */
static int
same_sentinels(const RedisTarget *a, const RedisTarget *b)
{
	if (a->naddresses != b->naddresses)
		return 0;
	for (int i = 0; i < a->naddresses; i++)
		if (!same(a->addresses[i].host, b->addresses[i].host) ||
			a->addresses[i].port != b->addresses[i].port)
			return 0;
	return 1;
}

static void
check_accepted(const RedisTarget *t, const char *url)
{
	const char *place = t->host ? t->host :
		t->socket_path ? t->socket_path :
		t->service ? t->service : t->addresses[0].host;
	size_t		len;
	char	   *again;
	char	   *storage;
	RedisTarget u;
	const char *problem;

	if ((t->host != NULL) + (t->socket_path != NULL) + (t->service != NULL) +
		t->cluster != 1)
		fail("not exactly one of host, socket path, service and cluster", url);
	if ((t->service != NULL || t->cluster) != (t->naddresses > 0) ||
		t->naddresses > REDIS_URL_MAX_SENTINELS)
		fail("a service or cluster without addresses, or addresses without either", url);
	if (t->cluster && t->db != 0)
		fail("a cluster with a database other than 0", url);
	for (int i = 0; i < t->naddresses; i++)
		if (t->addresses[i].host[0] == '\0' || t->addresses[i].port < 1 ||
			t->addresses[i].port > 65535)
			fail("a Sentinel without a host or with a port out of range", url);
	if (t->service != NULL && t->service[0] == '\0')
		fail("an empty service", url);
	if (t->host != NULL && t->host[0] == '\0')
		fail("empty host accepted", url);
	if (t->socket_path != NULL && t->socket_path[0] != '/')
		fail("relative socket path accepted", url);
	if (t->port < 1 || t->port > 65535 || t->db < 0)
		fail("port or db out of range", url);
	if (t->user != NULL && t->password == NULL)
		fail("a user without a password", url);
	if (t->tls && t->socket_path != NULL)
		fail("TLS over a unix socket", url);
	if (t->display == NULL)
		fail("no display text", url);
	if (strstr(place, MARKER) == NULL && strstr(t->display, MARKER) != NULL)
		fail("the display text quotes a credential", url);

	len = strlen(url) + 10 * REDIS_URL_MAX_SENTINELS + strlen(place) + (t->user ? 3 * strlen(t->user) : 0) +
		(t->password ? 3 * strlen(t->password) : 0) + 64;
	again = malloc(len);
	render(t, again);
	problem = parse(again, &u, &storage);
	if (problem != NULL)
	{
		fprintf(stderr, "re-rendered as \"%s\": %s\n", again, problem);
		fail("the re-rendered target is rejected", url);
	}
	if (!same(t->host, u.host) || t->port != u.port ||
		!same(t->socket_path, u.socket_path) || !same(t->user, u.user) ||
		!same(t->password, u.password) || t->db != u.db || t->tls != u.tls ||
		!same(t->service, u.service) || t->cluster != u.cluster ||
		!same_sentinels(t, &u) ||
		!same(t->display, u.display))
	{
		fprintf(stderr, "re-rendered as \"%s\"\n", again);
		fail("the re-rendered target parses differently", url);
	}
	free(storage);
	free(again);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *url = malloc(size * sizeof(MARKER_ENCODED) + 1);
	char	   *out = url;
	char	   *storage;
	RedisTarget t;
	const char *problem;

	for (size_t i = 0; i < size; i++)
	{
		if (data[i] == 0x01)
			out += sprintf(out, MARKER);
		else if (data[i] == 0x02)
			out += sprintf(out, "%s", MARKER_ENCODED);
		else if (data[i] != '\0')
			*out++ = (char) data[i];
	}
	*out = '\0';

	problem = parse(url, &t, &storage);
	if (problem != NULL && strstr(problem, MARKER) != NULL)
		fail("a problem quotes the URL", url);
	if (problem == NULL)
		check_accepted(&t, url);
	free(storage);
	free(url);
	return 0;
}
