/*-------------------------------------------------------------------------
 * guc.c
 *	  Every cachext.* setting: its variable, definition, bounds, and check
 *	  and assign hooks; and whether they were defined, which is whether
 *	  cachext was preloaded.
 *
 * Every cachext.* setting is defined here, in guc_define_settings (called
 * once by _PG_init inside shared_preload_libraries), and its variable is
 * declared in guc.h; the modules only read the variables.  A check or
 * assign hook that needs a module's knowledge (a Redis URL's syntax, the
 * connection to drop when a TLS file changes) calls that module's exported
 * function rather than living in it.  So one file answers "which settings
 * are there, with which bounds and who may set them", and
 * MarkGUCPrefixReserved runs once every one is defined.  Test builds'
 * settings (cachext.test_*) are here too, under CACHEXT_TEST_BUILD.
 *
 * Deprecated names.  cachext.lock_timeout and cachext.redis_prefix were
 * renamed cachext.load_wait_timeout and cachext.namespace in 0.2.0; the
 * old names stay settings of their own through 0.3.0.  The value in force
 * (the variable guc.h exports) is the new name's when it is set away
 * from its default, else the old name's; both names' assign hooks
 * recompute it, so SET, SET LOCAL, RESET, a rollback and a reload all
 * keep it right.  Setting an old name says so: a WARNING to the session,
 * or a LOG line from the postmaster for the configuration file.
 *
 * No shared memory and no locks: each process holds its own values.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <unistd.h>

#include "access/parallel.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "guc.h"
#include "l2_keys.h"
#include "redis_conn.h"
#include "redis_route.h"
#include "redis_url.h"

/*
 * The settings' variables.  Their defaults are the boot values given in
 * define_settings, which assigns them before anything reads them; a
 * process where guc_define_settings never ran never reads them (see
 * cachext_require_preloaded).  An enum's variable starts at its boot
 * value all the same: from PostgreSQL 16 on, an assert-enabled server
 * checks that when the setting is defined (check_GUC_init), and aborts
 * otherwise; integers, booleans and strings may start at 0, false and
 * NULL.
 */
#define L1_EVICTION_DEFAULT CACHEXT_EVICTION_SIEVE
#define EVENTS_DEFAULT CACHEXT_EVENTS_ASYNC
#define REDIS_TLS_VERIFY_DEFAULT REDIS_TLS_VERIFY_FULL
int			cachext_l1_max_entries;
int			cachext_l1_memory_kb;
int			cachext_l1_partitions;
int			cachext_l1_max_value_size_kb;
int			cachext_l1_max_ttl_ms;
int			cachext_l1_dump_interval_s;
int			cachext_l1_eviction = L1_EVICTION_DEFAULT;
int			cachext_default_ttl_s;
int			cachext_max_key_length;
char	   *cachext_notify_channel;
int			cachext_events = EVENTS_DEFAULT;
int			cachext_events_queue_size_kb;
int			cachext_fence_timeout_ms;
int			cachext_stale_ttl_ms;
bool		cachext_early_refresh;
char	   *cachext_redis_url;
int			cachext_redis_retry_interval_ms;
int			cachext_redis_connect_timeout_ms;
int			cachext_redis_timeout_ms;
char	   *cachext_redis_tls_ca_file;
char	   *cachext_redis_tls_cert_file;
char	   *cachext_redis_tls_key_file;
int			cachext_redis_tls_verify = REDIS_TLS_VERIFY_DEFAULT;
int			cachext_prefix_stats_max;
int			cachext_prefix_stats_segments;
int			cachext_table_stats_max;
char	   *cachext_redis_sentinel_user;
char	   *cachext_redis_sentinel_password;
#ifdef CACHEXT_TEST_BUILD
int			cachext_test_pause_after_fence_key;
#endif

/* True once guc_define_settings ran, inside shared_preload_libraries. */
static bool preloaded = false;

/*
 * The renamed settings (see "Deprecated names" above): each name's own
 * variable, and the value in force that guc.h exports.
 */
#define LOAD_WAIT_TIMEOUT_DEFAULT_MS 5000
#define NAMESPACE_DEFAULT "cache:"
static int	load_wait_timeout_setting;
static int	deprecated_lock_timeout_setting;
int			cachext_load_wait_timeout_ms;
static char *namespace_setting;
static char *deprecated_redis_prefix_setting;
char	   *cachext_namespace;

/* Partition counts must be powers of two: a key's partition is a bit mask. */
static bool
check_partitions(int *newval, void **extra, GucSource source)
{
	if ((*newval & (*newval - 1)) != 0)
	{
		GUC_check_errdetail("cachext.l1_partitions must be a power of two.");
		return false;
	}
	return true;
}

/* NOTIFY channels are identifiers: non-empty and shorter than NAMEDATALEN. */
static bool
check_notify_channel(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("cachext.notify_channel must be between 1 and %d bytes long.",
							NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/* The namespace prefixes every key, so it shares the keys' hard limit. */
static bool
check_namespace(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > CACHEXT_NAMESPACE_LENGTH_LIMIT)
	{
		GUC_check_errdetail("cachext.namespace must be at most %d bytes long.",
							CACHEXT_NAMESPACE_LENGTH_LIMIT);
		return false;
	}
	return true;
}

/*
 * Says that a deprecated name was set: to the session, or, for the
 * configuration file, once in the postmaster's log rather than once per
 * backend at every reload.  Parallel workers restoring the leader's
 * settings stay quiet: the leader said it.
 */
static void
report_deprecated(const char *old_name, const char *new_name,
				  GucSource source)
{
	if (source == PGC_S_DEFAULT || IsParallelWorker() ||
		(source == PGC_S_FILE && IsUnderPostmaster))
		return;
	ereport(source == PGC_S_FILE ? LOG : WARNING,
			(errcode(ERRCODE_WARNING_DEPRECATED_FEATURE),
			 errmsg("parameter \"%s\" is deprecated", old_name),
			 errdetail("It was renamed \"%s\" in cachext 0.2.0; the old name will be removed in 0.4.0.",
					   new_name),
			 errhint("Set \"%s\" instead.", new_name)));
}

static bool
check_deprecated_lock_timeout(int *newval, void **extra, GucSource source)
{
	report_deprecated("cachext.lock_timeout", "cachext.load_wait_timeout",
					  source);
	return true;
}

static bool
check_deprecated_redis_prefix(char **newval, void **extra, GucSource source)
{
	report_deprecated("cachext.redis_prefix", "cachext.namespace", source);
	return check_namespace(newval, extra, source);
}

/* The wait in force: the new name's unless it is at its default. */
static void
assign_load_wait_timeout(int newval, void *extra)
{
	cachext_load_wait_timeout_ms = newval != LOAD_WAIT_TIMEOUT_DEFAULT_MS ?
		newval : deprecated_lock_timeout_setting;
}

static void
assign_deprecated_lock_timeout(int newval, void *extra)
{
	cachext_load_wait_timeout_ms =
		load_wait_timeout_setting != LOAD_WAIT_TIMEOUT_DEFAULT_MS ?
		load_wait_timeout_setting : newval;
}

/*
 * The namespace in force: the new name's unless it is at its default.  It
 * points at one of the two settings' current strings, which the GUC
 * machinery keeps until that setting's next assignment, and every
 * assignment of either recomputes it.
 */
static char *
namespace_in_force(char *namespace_value, char *redis_prefix_value)
{
	if (redis_prefix_value == NULL ||
		(namespace_value != NULL &&
		 strcmp(namespace_value, NAMESPACE_DEFAULT) != 0))
		return namespace_value;
	return redis_prefix_value;
}

static void
assign_namespace(const char *newval, void *extra)
{
	cachext_namespace =
		namespace_in_force(unconstify(char *, newval),
						   deprecated_redis_prefix_setting);
}

static void
assign_deprecated_redis_prefix(const char *newval, void *extra)
{
	cachext_namespace =
		namespace_in_force(namespace_setting, unconstify(char *, newval));
}

/*
 * Rejects a malformed cachext.redis_url when it is set, not when it is
 * used, without ever quoting the value.
 */
static bool
check_redis_url(char **newval, void **extra, GucSource source)
{
	MemoryContext parse_context;
	MemoryContext old_context;
	RedisTarget parsed;
	const char *problem = NULL;
	bool		ok = true;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	parse_context = AllocSetContextCreate(CurrentMemoryContext,
										  "cachext redis_url check",
										  ALLOCSET_SMALL_SIZES);
	old_context = MemoryContextSwitchTo(parse_context);
	ok = redis_route_parse(*newval, &parsed, &problem);
	MemoryContextSwitchTo(old_context);
	MemoryContextDelete(parse_context);
	if (!ok)
	{
		/* replaces the default message, which would quote the password */
		GUC_check_errmsg("invalid value for parameter \"cachext.redis_url\"");
		GUC_check_errdetail("%s", problem);
	}
	return ok;
}

/*
 * A new cachext.redis_url names cachext's own keys for a cluster or a
 * single node at once, in every process, before any command is built.
 */
static void
assign_redis_url(const char *newval, void *extra)
{
	l2_keys_set_cluster(redis_url_is_cluster(newval));
}

/*
 * A TLS file setting must name a readable file (or be empty), checked when
 * it is set or reloaded, so that a typo is reported at once rather than as
 * a Redis fault at the next connection.
 */
static bool
check_tls_file(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (access(*newval, R_OK) != 0)
	{
		GUC_check_errdetail("File \"%s\" cannot be read: %m.", *newval);
		return false;
	}
	return true;
}

/*
 * A setting that says how to connect (a TLS file, the Sentinel
 * credentials) changed value: connections reconnect at their next use.
 */
static void
connection_string_assigned(const char *old_value, const char *new_value)
{
	if (strcmp(old_value ? old_value : "", new_value ? new_value : "") != 0)
		redis_conn_settings_changed();
}

static void
assign_tls_ca_file(const char *newval, void *extra)
{
	connection_string_assigned(cachext_redis_tls_ca_file, newval);
}

static void
assign_tls_cert_file(const char *newval, void *extra)
{
	connection_string_assigned(cachext_redis_tls_cert_file, newval);
}

static void
assign_tls_key_file(const char *newval, void *extra)
{
	connection_string_assigned(cachext_redis_tls_key_file, newval);
}

static void
assign_tls_verify(int newval, void *extra)
{
	if (newval != cachext_redis_tls_verify)
		redis_conn_settings_changed();
}

static void
assign_sentinel_user(const char *newval, void *extra)
{
	connection_string_assigned(cachext_redis_sentinel_user, newval);
}

static void
assign_sentinel_password(const char *newval, void *extra)
{
	connection_string_assigned(cachext_redis_sentinel_password, newval);
}

/*
 * cachext.events' values; true, false, yes, no, 1 and 0 are hidden
 * spellings of on and off, as for synchronous_commit.
 */
static const struct config_enum_entry events_options[] = {
	{"off", CACHEXT_EVENTS_OFF, false},
	{"on", CACHEXT_EVENTS_ON, false},
	{"async", CACHEXT_EVENTS_ASYNC, false},
	{"true", CACHEXT_EVENTS_ON, true},
	{"false", CACHEXT_EVENTS_OFF, true},
	{"yes", CACHEXT_EVENTS_ON, true},
	{"no", CACHEXT_EVENTS_OFF, true},
	{"1", CACHEXT_EVENTS_ON, true},
	{"0", CACHEXT_EVENTS_OFF, true},
	{NULL, 0, false}
};

/* cachext.l1_eviction's values. */
static const struct config_enum_entry eviction_options[] = {
	{"lru", CACHEXT_EVICTION_LRU, false},
	{"sieve", CACHEXT_EVICTION_SIEVE, false},
	{NULL, 0, false}
};

/* cachext.redis_tls_verify's values. */
static const struct config_enum_entry tls_verify_options[] = {
	{"full", REDIS_TLS_VERIFY_FULL, false},
	{"ca", REDIS_TLS_VERIFY_CA, false},
	{"none", REDIS_TLS_VERIFY_NONE, false},
	{NULL, 0, false}
};

/* The settings of L1, of the SQL functions, of events and of the namespace. */
static void
define_cache_settings(void)
{
	DefineCustomIntVariable("cachext.l1_max_entries",
							"Maximum number of entries in the shared-memory cache (L1).",
							NULL,
							&cachext_l1_max_entries,
							1000, 1, 100 * 1000 * 1000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_memory",
							"Shared memory for L1 keys and values.",
							NULL,
							&cachext_l1_memory_kb,
							64 * 1024, 128, INT_MAX / 8,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_partitions",
							"Number of independently locked L1 partitions (a power of two).",
							NULL,
							&cachext_l1_partitions,
							16, 1, 1024,
							PGC_POSTMASTER, 0,
							check_partitions, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_max_value_size",
							"Largest value L1 accepts.",
							NULL,
							&cachext_l1_max_value_size_kb,
							1024, 1, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_max_ttl",
							"Longest time an L1 copy of a Redis value lives; 0 means no bound.",
							"Bounds how stale L1 can be when Redis' invalidation messages cannot reach it "
							"(a server that refuses CLIENT TRACKING, a lost stream); unused without cachext.redis_url.",
							&cachext_l1_max_ttl_ms,
							60 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.l1_dump_interval",
							"How often L1's hot keys are saved for a warm restart; 0 turns warm restarts off.",
							"The list is written to the data directory at this interval and at a clean shutdown, "
							"and reloaded at start-up (see operations.md, Warm restarts).",
							&cachext_l1_dump_interval_s,
							300, 0, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("cachext.l1_eviction",
							 "Which entry L1 evicts when it is full: lru or sieve.",
							 "lru: the least recently used; a hit moves the entry, under the partition lock held exclusively. "
							 "sieve: SIEVE (NSDI'24); a hit sets a bit, under the lock held shared.",
							 &cachext_l1_eviction,
							 L1_EVICTION_DEFAULT, eviction_options,
							 PGC_POSTMASTER, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.stale_ttl",
							"How long past its expiry an L1 entry is kept for cache_get_or_set to serve while it reloads or when its reload fails; 0 turns it off.",
							"Applies to entries stored while it is set; the session calling cache_get_or_set serves stale values only as old as its own setting.",
							&cachext_stale_ttl_ms,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("cachext.early_refresh",
							 "Lets cache_get_or_set reload an entry shortly before it expires (XFetch), one caller at a time.",
							 NULL,
							 &cachext_early_refresh,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.default_ttl",
							"Time to live of entries stored without an explicit TTL; 0 means no expiry.",
							NULL,
							&cachext_default_ttl_s,
							3600, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.max_key_length",
							"Longest cache key accepted, in bytes, not counting cachext.namespace.",
							NULL,
							&cachext_max_key_length,
							1024, 1, CACHEXT_KEY_LENGTH_LIMIT,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.load_wait_timeout",
							"Longest time cache_get_or_set waits for another backend loading the same key.",
							"Not core's lock_timeout: no lock is waited for, but another session's load.",
							&load_wait_timeout_setting,
							LOAD_WAIT_TIMEOUT_DEFAULT_MS, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, assign_load_wait_timeout, NULL);
	DefineCustomIntVariable("cachext.lock_timeout",
							"Deprecated name of cachext.load_wait_timeout (removed in 0.4.0).",
							"Applies only while cachext.load_wait_timeout is at its default.",
							&deprecated_lock_timeout_setting,
							LOAD_WAIT_TIMEOUT_DEFAULT_MS, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							check_deprecated_lock_timeout,
							assign_deprecated_lock_timeout, NULL);
	DefineCustomEnumVariable("cachext.events",
							 "How cache events are sent (NOTIFY on cachext.notify_channel): async, on or off.",
							 "async: after the commit, by a background worker per database; "
							 "on: by the writing transaction, which then takes a database-wide lock while it commits.",
							 &cachext_events,
							 EVENTS_DEFAULT, events_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.events_queue_size",
							"Shared memory per database for events waiting for the worker (cachext.events = async).",
							NULL,
							&cachext_events_queue_size_kb,
							256, 1, 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomStringVariable("cachext.notify_channel",
							   "NOTIFY channel that cache events are sent on.",
							   NULL,
							   &cachext_notify_channel,
							   "cache_events",
							   PGC_SUSET, 0,
							   check_notify_channel, NULL, NULL);
	DefineCustomStringVariable("cachext.namespace",
							   "Namespace of this database's keys, in L1 and in Redis.",
							   NULL,
							   &namespace_setting,
							   NAMESPACE_DEFAULT,
							   PGC_SUSET, 0,
							   check_namespace, assign_namespace, NULL);
	DefineCustomStringVariable("cachext.redis_prefix",
							   "Deprecated name of cachext.namespace (removed in 0.4.0).",
							   "Applies only while cachext.namespace is at its default.",
							   &deprecated_redis_prefix_setting,
							   NAMESPACE_DEFAULT,
							   PGC_SUSET, 0,
							   check_deprecated_redis_prefix,
							   assign_deprecated_redis_prefix, NULL);
	DefineCustomIntVariable("cachext.fence_timeout",
							"Longest time a committing transaction's fences stand in Redis.",
							"They are lifted when the commit's invalidation ends; this bounds them should it never run.",
							&cachext_fence_timeout_ms,
							60000, 1000, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * The figures per key prefix and per watched table: how many of each are
 * tracked (shared memory, so at start) and how a key's prefix is cut.
 */
static void
define_stats_settings(void)
{
	DefineCustomIntVariable("cachext.prefix_stats_max",
							"Number of key prefixes L1 counts separately (cache_prefix_stats); later prefixes count as other.",
							"Each takes 64 bytes of shared memory per L1 partition; 0 counts every key as other.",
							&cachext_prefix_stats_max,
							64, 0, 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.prefix_stats_segments",
							"Number of ':'-separated segments of a key that form its prefix in cache_prefix_stats.",
							"1: \"user:42\" counts under \"user:\"; a key with fewer separators counts under the part up to its last one.",
							&cachext_prefix_stats_segments,
							1, 1, 16,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.table_stats_max",
							"Number of watched tables counted separately (cache_table_stats); later tables count as other.",
							NULL,
							&cachext_table_stats_max,
							256, 0, 10000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
}

/* Where Redis is and how to reach it. */
static void
define_redis_settings(void)
{
	DefineCustomStringVariable("cachext.redis_url",
							   "Redis server used as the shared cache (L2); empty means L1 only.",
							   "redis://[[user]:password@]host[:port][/db], rediss://... (TLS), "
							   "redis-sentinel://[[user]:password@]host[:port][,...]/service[/db], "
							   "redis-cluster://[[user]:password@]host[:port][,...] or unix:///path[?db=N].",
							   &cachext_redis_url,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_redis_url, assign_redis_url, NULL);
	DefineCustomIntVariable("cachext.redis_retry_interval",
							"How long a backend skips Redis after a failure.",
							NULL,
							&cachext_redis_retry_interval_ms,
							1000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("cachext.redis_tls_ca_file",
							   "Certificate authorities that a rediss:// server's certificate is verified against.",
							   "Empty means the system's store.",
							   &cachext_redis_tls_ca_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_tls_file, assign_tls_ca_file, NULL);
	DefineCustomStringVariable("cachext.redis_tls_cert_file",
							   "Client certificate shown to a rediss:// server (mutual TLS).",
							   "Empty means none; needs cachext.redis_tls_key_file.",
							   &cachext_redis_tls_cert_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_tls_file, assign_tls_cert_file, NULL);
	DefineCustomStringVariable("cachext.redis_tls_key_file",
							   "Private key of cachext.redis_tls_cert_file.",
							   NULL,
							   &cachext_redis_tls_key_file,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   check_tls_file, assign_tls_key_file, NULL);
	DefineCustomEnumVariable("cachext.redis_tls_verify",
							 "What is verified of a rediss:// server: full (certificate and host name), ca (certificate) or none.",
							 NULL,
							 &cachext_redis_tls_verify,
							 REDIS_TLS_VERIFY_DEFAULT, tls_verify_options,
							 PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							 NULL, assign_tls_verify, NULL);
	DefineCustomIntVariable("cachext.redis_connect_timeout",
							"Longest wait for a connection to Redis.",
							NULL,
							&cachext_redis_connect_timeout_ms,
							200, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("cachext.redis_timeout",
							"Longest wait for Redis to answer one exchange of commands.",
							NULL,
							&cachext_redis_timeout_ms,
							100, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomStringVariable("cachext.redis_sentinel_user",
							   "User name cachext authenticates as to Sentinels (redis-sentinel:// URLs).",
							   "Empty means AUTH with the password alone.",
							   &cachext_redis_sentinel_user,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, assign_sentinel_user, NULL);
	DefineCustomStringVariable("cachext.redis_sentinel_password",
							   "Password cachext authenticates with to Sentinels (redis-sentinel:// URLs).",
							   "Empty means no AUTH; the URL's credentials are the data nodes'.",
							   &cachext_redis_sentinel_password,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, assign_sentinel_password, NULL);
}

/*
 * The settings of test builds only (TEST_BUILD=1): the pause point of
 * test_pause.c.  Normal builds do not have them.
 */
static void
define_test_settings(void)
{
#ifdef CACHEXT_TEST_BUILD
	DefineCustomIntVariable("cachext.test_pause_after_fence",
							"Test builds only: after its pre-commit fence, a committing transaction waits for the advisory lock with this key; 0 turns it off.",
							"The wait lasts while another session holds pg_advisory_lock(key).",
							&cachext_test_pause_after_fence_key,
							0, 0, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
#endif
}

/*
 * Defines every setting, once, from _PG_init inside
 * shared_preload_libraries; from then on cachext_require_preloaded passes.
 */
void
guc_define_settings(void)
{
	define_cache_settings();
	define_stats_settings();
	define_redis_settings();
	define_test_settings();
	MarkGUCPrefixReserved("cachext");
	preloaded = true;
}

/*
 * Raises the not-preloaded error unless _PG_init ran inside
 * shared_preload_libraries (and so defined the settings): only then is the store attached, are the
 * settings defined and does a transaction callback invalidate (and free)
 * what the triggers record.
 */
void
cachext_require_preloaded(void)
{
	if (!preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cachext must be loaded via shared_preload_libraries"),
				 errhint("Add cachext to shared_preload_libraries in postgresql.conf, "
						 "for example shared_preload_libraries = 'cachext', and restart the server.")));
}
