/*-------------------------------------------------------------------------
 * guc.h
 *	  The settings (guc.c): their variables every module reads, the values
 *	  and bounds they take, and the constants every layer agrees on.
 *
 * Every setting is defined in guc.c (see its header for the rule), which
 * registers it as a GUC when _PG_init calls guc_define_settings; every
 * other module only reads the variables.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_GUC_H
#define CACHEXT_GUC_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* L1 sizing (PGC_POSTMASTER: they size shared memory) */
extern int	cachext_l1_max_entries;
extern int	cachext_l1_memory_kb;
extern int	cachext_l1_partitions;
extern int	cachext_l1_max_value_size_kb;
extern int	cachext_l1_eviction;		/* a CachextEviction */

/* How long an L1 copy of a Redis value lives at most; 0 means no bound */
extern int	cachext_l1_max_ttl_ms;

/* How often L1's hot keys are saved for a warm restart; 0: never */
extern int	cachext_l1_dump_interval_s;

/* Per-call behaviour */
extern int	cachext_default_ttl_s;		/* seconds; 0 means no expiry */
extern int	cachext_max_key_length;		/* bytes */
extern int	cachext_load_wait_timeout_ms;	/* cache_get_or_set's longest
											 * wait for another's load */
extern char *cachext_notify_channel;
extern int	cachext_events;				/* a CachextEvents */
extern int	cachext_events_queue_size_kb;	/* per database, async events */
extern char *cachext_namespace;		/* the namespace, in L1 and Redis */
extern int	cachext_stale_ttl_ms;		/* cache_get_or_set's stale window */
extern bool cachext_early_refresh;		/* cache_get_or_set's XFetch */
extern int	cachext_fence_timeout_ms;	/* Redis fences of a commit expire */

/* Figures per key prefix and per watched table */
extern int	cachext_prefix_stats_max;	/* prefixes with their own slot */
extern int	cachext_prefix_stats_segments;	/* ':'-segments in a prefix */
extern int	cachext_table_stats_max;	/* tables with their own slot */

/* Redis (L2): where it is and how to reach it */
extern char *cachext_redis_url;			/* empty: L1 only */
extern int	cachext_redis_retry_interval_ms;	/* breaker open after a
												 * failure */
extern int	cachext_redis_connect_timeout_ms;
extern int	cachext_redis_timeout_ms;	/* per exchange of commands */
extern char *cachext_redis_tls_ca_file;
extern char *cachext_redis_tls_cert_file;
extern char *cachext_redis_tls_key_file;
extern int	cachext_redis_tls_verify;	/* a RedisTlsVerify (redis_conn.h) */
extern char *cachext_redis_sentinel_user;
extern char *cachext_redis_sentinel_password;

#ifdef CACHEXT_TEST_BUILD
/* Test builds: the advisory lock key test_pause.c waits for; 0: none */
extern int	cachext_test_pause_after_fence_key;
#endif

/*
 * No expiry.  A TTL in milliseconds of CACHEXT_NO_TTL means the entry never
 * expires: SQL's NULL TTL becomes it, and it is what Redis' PTTL answers
 * for a key without expiry.  An L1 entry with no TTL expires at
 * CACHEXT_NO_EXPIRY, a timestamp later than any other.
 */
#define CACHEXT_NO_TTL		(-1)
#define CACHEXT_NO_EXPIRY	DT_NOEND

/* cachext.l1_eviction: which entry L1 evicts to make room. */
typedef enum CachextEviction
{
	CACHEXT_EVICTION_LRU,		/* the least recently used */
	CACHEXT_EVICTION_SIEVE		/* SIEVE's choice (see l1.c) */
} CachextEviction;

/* cachext.events: how cache events are sent. */
typedef enum CachextEvents
{
	CACHEXT_EVENTS_OFF,			/* not at all */
	CACHEXT_EVENTS_ON,			/* NOTIFY in the writing transaction */
	CACHEXT_EVENTS_ASYNC		/* NOTIFY by a worker after the commit */
} CachextEvents;

/* Hard limits behind the settings, so a full L1 key always fits a buffer. */
#define CACHEXT_KEY_LENGTH_LIMIT	65535	/* cachext.max_key_length's maximum */
#define CACHEXT_NAMESPACE_LENGTH_LIMIT 1024	/* cachext.namespace's maximum */
#define CACHEXT_FULL_KEY_LIMIT \
	(CACHEXT_KEY_LENGTH_LIMIT + CACHEXT_NAMESPACE_LENGTH_LIMIT)

/* Raises ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE unless preloaded. */
extern void cachext_require_preloaded(void);
extern void guc_define_settings(void);

#endif							/* CACHEXT_GUC_H */
