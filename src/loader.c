/*-------------------------------------------------------------------------
 * loader.c
 *	  cache_get_or_set: load a missing value with a factory query, once per
 *	  key at a time across the instance (single flight), under a lease.
 *
 * Single flight.  A backend that misses a key claims a LoadFlight for the
 * key's hash in shared memory before running the factory query; others that
 * miss the same key sleep on the flight's condition variable instead of
 * running the query too.  When the loader has stored its value (or failed)
 * it frees the flight and wakes them; they read the cache again and, on a
 * miss (the load failed, or its value was not stored), one of them loads.
 * A waiter gives up waiting after cachext.load_wait_timeout and loads on
 * its own.
 * Across instances sharing Redis, the loader also takes a short lock in
 * Redis (SET NX PX, released with a compare-and-delete script); a loader
 * that finds it taken polls the cache for the other instance's value, up
 * to the same deadline.
 * Flights are matched by hash only: two keys sharing a hash merely wait for
 * each other, since a waiter always re-reads its own key.
 *
 * Leases.  The loader takes the key's lease (l1.c) before running the
 * factory and stores with it, so a load that an invalidation or a write
 * overtook is returned to its caller but not stored.  This relies on the
 * factory's snapshot being taken after the lease, as SPI does for each query
 * in READ COMMITTED; under REPEATABLE READ or SERIALIZABLE the snapshot is
 * the transaction's, possibly older than a committed change whose
 * invalidation already ran, so such transactions store nothing.  A
 * transaction that has already written (it has an XID) stores nothing
 * either: its reads may include its own uncommitted rows; nor does a load
 * whose factory wrote (took an XID), in a transaction block or not: its
 * value is only true if the write commits, and a deferred constraint or a
 * later ROLLBACK can still undo it.
 *
 * Hot standby.  A standby never stores a load, in L1 or in Redis: its
 * snapshot may be older than a commit the primary has already invalidated,
 * and no lease can see that (the lease is read after the primary's bump).
 * Its callers get the factory's value uncached, each running the factory
 * (no single flight: there is nothing to share); Redis hits still promote,
 * under the L1 lease that the replay of a watched write's WAL record moves
 * (wal_invalidation.c).
 *
 * Errors.  Once a backend has claimed a flight, everything up to the end of
 * the load (the Redis load lock, the poll loop, the lease, the factory, the
 * store) runs inside one PG_TRY that frees the flight on error, so no
 * ERROR or cancel at any wait point leaves the key's later misses waiting
 * cachext.load_wait_timeout for a flight nobody runs.
 *
 * Freshness.  With cachext.stale_ttl set, an entry expired less than that
 * long ago (and still kept in L1, see "Stale copies" in l1.c) is a
 * fallback: a caller that finds another backend (or instance) loading the
 * key returns it at once instead of waiting (stale-while-revalidate), and
 * a loader whose factory raises an error returns it with a WARNING
 * (stale-if-error), provided the key was not invalidated meanwhile (the
 * copy is read again after the failure).  With cachext.early_refresh, a
 * caller may reload a live entry before it expires, with a probability
 * that rises as the expiry nears, scaled by how long its last load took
 * (XFetch: Vattani, Chierichetti and Lowenstein, VLDB 2015); only a caller
 * that claims the key's flight does, the others return the live value.
 * Whenever a fallback exists the factory runs in a subtransaction, so that
 * its error can be rolled back and the fallback returned; a cancel or a
 * shutdown is never turned into a fallback.  A plain cache_get never sees
 * a stale copy.
 *
 * Locking.  LoaderShared.lock (the "cachext loads" tranche) guards every
 * LoadFlight's in_use, hash, owner_pid and generation.  It is never held
 * together with a partition lock.  The counters are atomics.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "cachext.h"
#include "compat.h"
#include "layers.h"
#include "loader.h"
#include "ttl_clock.h"
#include "wait_events.h"

/* Loads that can be in flight at once; beyond that, loads run unshared. */
#define LOADER_FLIGHTS	512

#define LOADER_TRANCHE_NAME "cachext loads"

/* XFetch's beta: above 1 refreshes earlier, below 1 later (the paper's 1). */
#define XFETCH_BETA		1.0

/*
 * How often a backend waiting for another instance's load (which no
 * condition variable announces) looks in the cache for its value.
 */
#define REMOTE_LOAD_POLL_MS	10

/* What cache_get_or_set may return instead of a load's result. */
typedef struct Fallback
{
	Jsonb	   *value;			/* NULL: none, errors propagate */
	bool		stale;			/* past its expiry (else: an early refresh) */
} Fallback;

/* One key being loaded.  See "Locking" above for what guards what. */
typedef struct LoadFlight
{
	bool		in_use;
	uint32		hash;			/* layers_key_hash() of the key */
	int			owner_pid;		/* the loading backend */
	uint64		generation;		/* tells one use of the slot from the next */
	ConditionVariable done;		/* broadcast when the load ends */
} LoadFlight;

typedef struct LoaderShared
{
	LWLock	   *lock;
	uint64		next_generation;	/* guarded by lock */
	pg_atomic_uint64 loads;		/* factory runs that succeeded */
	pg_atomic_uint64 load_failures; /* factory runs that raised an error */
	pg_atomic_uint64 load_time_us;	/* time spent in factory runs */
	pg_atomic_uint64 stale_served;	/* stale values returned */
	pg_atomic_uint64 early_refreshes;	/* reloads before the expiry */
	LoadFlight	flights[LOADER_FLIGHTS];
} LoaderShared;

static LoaderShared *loader = NULL;
static bool exit_callback_registered = false;

void
loader_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(LoaderShared)));
	RequestNamedLWLockTranche(LOADER_TRANCHE_NAME, 1);
}

void
loader_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	loader = ShmemInitStruct("cachext loader", sizeof(LoaderShared), &found);
	if (!found)
	{
		loader->lock = &(GetNamedLWLockTranche(LOADER_TRANCHE_NAME))->lock;
		loader->next_generation = 1;
		pg_atomic_init_u64(&loader->loads, 0);
		pg_atomic_init_u64(&loader->load_failures, 0);
		pg_atomic_init_u64(&loader->load_time_us, 0);
		pg_atomic_init_u64(&loader->stale_served, 0);
		pg_atomic_init_u64(&loader->early_refreshes, 0);
		for (int i = 0; i < LOADER_FLIGHTS; i++)
		{
			loader->flights[i].in_use = false;
			ConditionVariableInit(&loader->flights[i].done);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Frees a flight this backend owns and wakes its waiters. */
static void
end_flight(LoadFlight *flight)
{
	LWLockAcquire(loader->lock, LW_EXCLUSIVE);
	flight->in_use = false;
	LWLockRelease(loader->lock);
	ConditionVariableBroadcast(&flight->done);
}

/*
 * At backend exit (FATAL, terminate), frees any flight still owned, so its
 * waiters stop waiting at once; errors free theirs in loader_get_or_set.
 */
static void
end_own_flights(int code, Datum arg)
{
	for (int i = 0; i < LOADER_FLIGHTS; i++)
	{
		LoadFlight *flight = &loader->flights[i];
		bool		mine;

		LWLockAcquire(loader->lock, LW_SHARED);
		mine = flight->in_use && flight->owner_pid == MyProcPid;
		LWLockRelease(loader->lock);
		if (mine)
			end_flight(flight);
	}
}

/*
 * Claims the flight for hash, or finds the one another backend holds.
 * Returns the claimed flight (NULL if another holds it or none is free);
 * *busy is set to another's flight, with its generation, for waiting.
 */
static LoadFlight *
claim_flight(uint32 hash, LoadFlight **busy, uint64 *busy_generation)
{
	LoadFlight *free_flight = NULL;

	*busy = NULL;
	LWLockAcquire(loader->lock, LW_EXCLUSIVE);
	for (int i = 0; i < LOADER_FLIGHTS; i++)
	{
		LoadFlight *flight = &loader->flights[i];

		if (flight->in_use && flight->hash == hash)
		{
			*busy = flight;
			*busy_generation = flight->generation;
			LWLockRelease(loader->lock);
			return NULL;
		}
		if (!flight->in_use && free_flight == NULL)
			free_flight = flight;
	}
	if (free_flight != NULL)
	{
		free_flight->in_use = true;
		free_flight->hash = hash;
		free_flight->owner_pid = MyProcPid;
		free_flight->generation = loader->next_generation++;
	}
	LWLockRelease(loader->lock);
	return free_flight;
}

static bool
flight_still_running(LoadFlight *flight, uint64 generation)
{
	bool		running;

	LWLockAcquire(loader->lock, LW_SHARED);
	running = flight->in_use && flight->generation == generation;
	LWLockRelease(loader->lock);
	return running;
}

/*
 * Sleeps until another backend's load ends or the deadline passes; returns
 * false on the deadline.  Interruptible: cancel and statement_timeout work.
 */
static bool
wait_for_flight(LoadFlight *flight, uint64 generation, TimestampTz deadline)
{
	bool		ended = true;

	ConditionVariablePrepareToSleep(&flight->done);
	while (flight_still_running(flight, generation))
	{
		long		remaining_ms =
			TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

		if (remaining_ms <= 0 ||
			ConditionVariableTimedSleep(&flight->done, remaining_ms,
										cachext_wait_event(CACHEXT_WAIT_LOAD)))
		{
			ended = !flight_still_running(flight, generation);
			break;
		}
	}
	ConditionVariableCancelSleep();
	return ended;
}

/*
 * to_jsonb(value) for a value of any type, as the SQL function does it:
 * to_jsonb learns the argument's type from its call expression.
 */
static Jsonb *
value_to_jsonb(Datum value, bool isnull, Oid type, int32 typmod)
{
	FmgrInfo	flinfo;
	FuncExpr   *call;

	if (isnull)
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												  CStringGetDatum("null")));
	call = makeFuncExpr(F_TO_JSONB, JSONBOID,
						list_make1(makeNullConst(type, typmod, InvalidOid)),
						InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	fmgr_info(F_TO_JSONB, &flinfo);
	fmgr_info_set_expr((Node *) call, &flinfo);
	return DatumGetJsonbP(FunctionCall1(&flinfo, value));
}

/*
 * Runs the factory query with params bound as text $1..$n and returns its
 * single value as jsonb (JSON null for no row or a NULL value), allocated
 * in the caller's memory context.
 */
static Jsonb *
run_factory(const char *query, Datum *params, bool *param_nulls, int nparams)
{
	Oid		   *types = palloc(Max(nparams, 1) * sizeof(Oid));
	char	   *nulls = palloc(Max(nparams, 1));
	Jsonb	   *result;
	int			rc;

	for (int i = 0; i < nparams; i++)
	{
		types[i] = TEXTOID;
		nulls[i] = param_nulls[i] ? 'n' : ' ';
	}

	SPI_connect();
	rc = SPI_execute_with_args(query, nparams, types, params, nulls, false, 2);
	if (rc < 0 || SPI_tuptable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache factory query must return rows"),
				 errdetail("The query returned no result set (%s).",
						   SPI_result_code_string(rc)),
				 errhint("Use a SELECT, or a data-modifying statement with RETURNING.")));
	if (SPI_tuptable->tupdesc->natts != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache factory query must return exactly one column"),
				 errdetail("The query returned %d columns.",
						   SPI_tuptable->tupdesc->natts),
				 errhint("Wrap the columns in to_jsonb(row) or jsonb_build_object().")));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("cache factory query returned more than one row"),
				 errhint("Aggregate the rows, for example with jsonb_agg().")));

	if (SPI_processed == 0)
		result = value_to_jsonb((Datum) 0, true, InvalidOid, -1);
	else
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull);
		Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);

		result = value_to_jsonb(value, isnull, att->atttypid, att->atttypmod);
	}
	result = DatumGetJsonbP(SPI_datumTransfer(JsonbPGetDatum(result), false, -1));
	SPI_finish();
	return result;
}

/*
 * True when a load's value may be stored: not on a hot standby, not in a
 * transaction that has written or whose snapshot predates the lease; asked
 * again after the factory, not when the factory wrote.  An XID is the only
 * sign of a write (nextval() can take one too, so this is conservative).
 */
static bool
may_store_load(void)
{
	return !TransactionIdIsValid(GetTopTransactionIdIfAny()) &&
		!IsolationUsesXactSnapshot() &&
		!RecoveryInProgress();
}

/*
 * Runs the factory as this key's loader and stores its value under the
 * lease when may_store_load() allows it.  The caller frees the flight.
 */
static Jsonb *
load(const char *key, int key_len, const char *query, Datum *params,
	 bool *param_nulls, int nparams, int64 ttl_ms, const LayersTags *tags)
{
	LayersLease lease;
	TimestampTz started = GetCurrentTimestamp();
	Jsonb	   *value;

	layers_take_lease(key, key_len, &lease);
	PG_TRY();
	{
		value = run_factory(query, params, param_nulls, nparams);
		if (may_store_load())
			layers_set_tagged(key, key_len, value, ttl_ms,
							  GetCurrentTimestamp() - started, &lease, tags);
	}
	PG_CATCH();
	{
		pg_atomic_fetch_add_u64(&loader->load_failures, 1);
		PG_RE_THROW();
	}
	PG_END_TRY();

	pg_atomic_fetch_add_u64(&loader->loads, 1);
	pg_atomic_fetch_add_u64(&loader->load_time_us,
							GetCurrentTimestamp() - started);
	return value;
}

/* Counts a stale value served. */
static Jsonb *
serve_stale(Jsonb *value)
{
	pg_atomic_fetch_add_u64(&loader->stale_served, 1);
	return value;
}

/*
 * Loads as this instance's loader of key, first taking the key's load lock
 * in Redis so that instances sharing it do not all load: while another
 * instance holds it, returns the fallback if there is one, else polls the
 * cache for its value (every REMOTE_LOAD_POLL_MS, until deadline) and
 * returns that.
 * Without a usable L2 it just loads.  The lock is released after the
 * store, and on error too (it would otherwise only expire after
 * cachext.load_wait_timeout).
 */
static Jsonb *
load_across_instances(const char *key, int key_len, const char *query,
					  Datum *params, bool *param_nulls, int nparams,
					  int64 ttl_ms, const LayersTags *tags, TimestampTz deadline,
					  const Fallback *fallback)
{
	char	   *token = psprintf("%d:" INT64_FORMAT ":%ld", MyProcPid,
								 GetCurrentTimestamp(), random());

	for (;;)
	{
		LayersLock lock = layers_lock_load(key, key_len, token,
										   cachext_load_wait_timeout_ms);
		Jsonb	   *value;

		if (lock != LAYERS_LOCK_BUSY ||
			GetCurrentTimestamp() >= deadline)
		{
			if (lock != LAYERS_LOCK_TAKEN)
				return load(key, key_len, query, params, param_nulls, nparams,
							ttl_ms, tags);
			PG_TRY();
			{
				value = load(key, key_len, query, params, param_nulls,
							 nparams, ttl_ms, tags);
			}
			PG_CATCH();
			{
				HOLD_INTERRUPTS();
				layers_unlock_load(key, key_len, token);
				RESUME_INTERRUPTS();
				PG_RE_THROW();
			}
			PG_END_TRY();
			layers_unlock_load(key, key_len, token);
			return value;
		}
		if (fallback->value != NULL)
			return fallback->stale ? serve_stale(fallback->value) :
				fallback->value;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 REMOTE_LOAD_POLL_MS,
						 cachext_wait_event(CACHEXT_WAIT_REMOTE_LOAD));
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		value = layers_get(key, key_len);
		if (value != NULL)
			return value;
	}
}

/* May the failure in edata be answered with a fallback value? */
static bool
error_allows_fallback(const ErrorData *edata)
{
	return edata->sqlerrcode != ERRCODE_QUERY_CANCELED &&
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) !=
		ERRCODE_OPERATOR_INTERVENTION;
}

/*
 * Loads key as load_across_instances does; with a fallback, runs the load
 * in a subtransaction and, if it raises an error (other than a cancel),
 * rolls it back and returns the key's copy in L1 as it is now, with a
 * WARNING: the fallback itself unless the key was written meanwhile, and
 * nothing (the error is raised) if it was invalidated.
 */
static Jsonb *
load_with_fallback(const char *key, int key_len, const char *query,
				   Datum *params, bool *param_nulls, int nparams,
				   int64 ttl_ms, const LayersTags *tags, TimestampTz deadline,
				   const Fallback *fallback)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Jsonb	   *volatile value = NULL;
	ErrorData  *volatile edata = NULL;
	L1EntryMeta meta;
	Jsonb	   *copy;

	if (fallback->value == NULL)
		return load_across_instances(key, key_len, query, params, param_nulls,
									 nparams, ttl_ms, tags, deadline, fallback);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		value = load_across_instances(key, key_len, query, params,
									  param_nulls, nparams, ttl_ms, tags,
									  deadline, fallback);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	if (edata == NULL)
		return value;

	/* any stale copy will do, however old: this one was already accepted */
	copy = error_allows_fallback(edata) ?
		layers_get_entry(key, key_len, PG_INT64_MAX, &meta) : NULL;
	if (copy == NULL)
		ReThrowError(edata);
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("could not reload cache key \"%.*s\", returning its %s value",
					key_len, key, meta.stale ? "stale" : "cached"),
			 errdetail("The factory query failed: %s", edata->message),
			 meta.stale ?
			 errhint("The value expired; cachext.stale_ttl allows serving it for %d ms past its expiry.",
					 cachext_stale_ttl_ms) : 0));
	FreeErrorData(edata);
	return meta.stale ? serve_stale(copy) : copy;
}

/*
 * Loads key as load_with_fallback does, as the owner of flight (NULL when
 * every slot was taken: the load is then unshared), freeing the flight
 * however the load ends: an ERROR or cancel at any wait point included.
 */
static Jsonb *
load_in_flight(LoadFlight *flight, const char *key, int key_len,
			   const char *query, Datum *params, bool *param_nulls,
			   int nparams, int64 ttl_ms, const LayersTags *tags,
			   TimestampTz deadline, const Fallback *fallback)
{
	Jsonb	   *value;

	PG_TRY();
	{
		value = load_with_fallback(key, key_len, query, params, param_nulls,
								   nparams, ttl_ms, tags, deadline, fallback);
	}
	PG_CATCH();
	{
		if (flight != NULL)
			end_flight(flight);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (flight != NULL)
		end_flight(flight);
	return value;
}

/*
 * XFetch: should a caller reload this live entry now?  Yes with a
 * probability that reaches 1 at its expiry: when its last load's duration,
 * times beta, times -ln(u) for u uniform in (0, 1], covers the time left.
 */
static bool
refresh_early(const L1EntryMeta *meta)
{
	double		draw;

	if (!cachext_early_refresh || meta->expires_at == CACHEXT_NO_EXPIRY ||
		meta->load_us <= 0)
		return false;
	draw = -log(1.0 - cachext_random_fraction());
	return (double) meta->load_us * XFETCH_BETA * draw >=
		(double) (meta->expires_at - ttl_clock_now());
}

/*
 * The cache-aside pattern in one call: the cached value of key, or else the
 * factory query's value, loaded by one backend of the instance at a time
 * and stored with tags (NULL: none); see "Freshness" above for stale
 * values and early refreshes.
 */
Jsonb *
loader_get_or_set(const char *key, int key_len, const char *query,
				  Datum *params, bool *param_nulls, int nparams, int64 ttl_ms,
				  const LayersTags *tags)
{
	uint32		hash = layers_key_hash(key, key_len);
	int64		stale_us = (int64) cachext_stale_ttl_ms * 1000;
	TimestampTz deadline =
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
									cachext_load_wait_timeout_ms);

	if (!exit_callback_registered)
	{
		before_shmem_exit(end_own_flights, (Datum) 0);
		exit_callback_registered = true;
	}

	for (;;)
	{
		L1EntryMeta meta;
		Fallback	fallback;
		LoadFlight *flight;
		LoadFlight *busy;
		uint64		busy_generation;

		fallback.value = layers_get_entry(key, key_len, stale_us, &meta);
		fallback.stale = fallback.value != NULL && meta.stale;
		if (fallback.value != NULL && !fallback.stale)
		{
			/* live: reload early only as the key's one loader */
			if (!refresh_early(&meta) || !may_store_load())
				return fallback.value;
			flight = claim_flight(hash, &busy, &busy_generation);
			if (flight == NULL)
				return fallback.value;
			pg_atomic_fetch_add_u64(&loader->early_refreshes, 1);
			return load_in_flight(flight, key, key_len, query, params,
								  param_nulls, nparams, ttl_ms, tags, deadline,
								  &fallback);
		}
		/* a load that will not be stored has nothing to share: no flight */
		if (!may_store_load())
			return load(key, key_len, query, params, param_nulls, nparams,
						ttl_ms, tags);

		flight = claim_flight(hash, &busy, &busy_generation);
		if (busy == NULL)
			return load_in_flight(flight, key, key_len, query, params,
								  param_nulls, nparams, ttl_ms, tags, deadline,
								  &fallback);
		if (fallback.stale)
			return serve_stale(fallback.value);
		if (!wait_for_flight(busy, busy_generation, deadline))
			return load(key, key_len, query, params, param_nulls, nparams,
						ttl_ms, tags);
	}
}

/* The loader's counters, for cache_stats. */
void
loader_read_stats(LoaderStats *stats)
{
	stats->loads = pg_atomic_read_u64(&loader->loads);
	stats->load_failures = pg_atomic_read_u64(&loader->load_failures);
	stats->load_time_us = pg_atomic_read_u64(&loader->load_time_us);
	stats->stale_served = pg_atomic_read_u64(&loader->stale_served);
	stats->early_refreshes = pg_atomic_read_u64(&loader->early_refreshes);
}

void
loader_reset_stats(void)
{
	pg_atomic_write_u64(&loader->loads, 0);
	pg_atomic_write_u64(&loader->load_failures, 0);
	pg_atomic_write_u64(&loader->load_time_us, 0);
	pg_atomic_write_u64(&loader->stale_served, 0);
	pg_atomic_write_u64(&loader->early_refreshes, 0);
}
