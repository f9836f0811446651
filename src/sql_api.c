/*-------------------------------------------------------------------------
 * sql_api.c
 *	  The SQL-callable functions: argument checks, a call into layers.c or
 *	  l1.c, and building the result.  No cache logic lives here.
 *
 * Every function first checks that cachext was preloaded, so a missing
 * shared_preload_libraries entry is one clear error, not a crash.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "cachext.h"
#include "key_builder.h"
#include "keys.h"
#include "l1.h"
#include "layers.h"
#include "loader.h"

PG_FUNCTION_INFO_V1(cache_get);
PG_FUNCTION_INFO_V1(cache_set);
PG_FUNCTION_INFO_V1(cache_invalidate);
PG_FUNCTION_INFO_V1(cache_invalidate_pattern);
PG_FUNCTION_INFO_V1(cache_get_multi);
PG_FUNCTION_INFO_V1(cache_clear);
PG_FUNCTION_INFO_V1(cache_stats);
PG_FUNCTION_INFO_V1(cache_stats_reset);
PG_FUNCTION_INFO_V1(cache_entries);
PG_FUNCTION_INFO_V1(cache_get_or_set);
PG_FUNCTION_INFO_V1(cache_key);

/* Raises the not-preloaded error unless the store is attached. */
static void
require_preloaded(void)
{
	if (!l1_is_ready())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cachext must be loaded via shared_preload_libraries"),
				 errhint("Add cachext to shared_preload_libraries in postgresql.conf, "
						 "for example shared_preload_libraries = 'cachext', and restart the server.")));
}

/* Checks a key datum (possibly NULL) and returns its bytes and length. */
static const char *
checked_key(const text *key, bool is_null, int *key_len)
{
	if (is_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key must not be null")));
	*key_len = VARSIZE_ANY_EXHDR(key);
	if (*key_len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache key must not be empty")));
	if (*key_len > cachext_max_key_length)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache key is too long"),
				 errdetail("The key has %d bytes.", *key_len),
				 errhint("Keys may have at most %d bytes (cachext.max_key_length); "
						 "use cache_key() to hash long keys.",
						 cachext_max_key_length)));
	return VARDATA_ANY(key);
}

static const char *
key_argument(FunctionCallInfo fcinfo, int argno, int *key_len)
{
	return checked_key(PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno),
					   PG_ARGISNULL(argno), key_len);
}

/*
 * Converts a TTL interval to milliseconds, rounding a sub-millisecond
 * remainder up so that a positive TTL never becomes zero.
 */
static int64
ttl_to_ms(const Interval *ttl)
{
	int64		usecs;

	if (pg_mul_s64_overflow((int64) ttl->month * DAYS_PER_MONTH + ttl->day,
							USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, ttl->time, &usecs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache TTL is too large"),
				 errhint("Pass a smaller TTL, or NULL for an entry that never expires.")));
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache TTL must be positive"),
				 errdetail("The TTL given was %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(ttl)))),
				 errhint("Pass NULL for an entry that never expires, or call cache_invalidate() to remove one.")));
	return (usecs + 999) / 1000;
}

/*
 * The TTL in milliseconds from argument argno: cachext.default_ttl when the
 * argument is absent, LAYERS_NO_TTL when it is NULL.
 */
static int64
ttl_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno)
		return cachext_default_ttl_s > 0 ?
			(int64) cachext_default_ttl_s * 1000 : LAYERS_NO_TTL;
	if (PG_ARGISNULL(argno))
		return LAYERS_NO_TTL;
	return ttl_to_ms(PG_GETARG_INTERVAL_P(argno));
}

/* cache_get(key text) returns jsonb: the value, or NULL on a miss. */
Datum
cache_get(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;
	Jsonb	   *value;

	require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	value = layers_get(key, key_len);
	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(value);
}

/*
 * cache_set(key text, value jsonb [, ttl interval]): stores value.  Without
 * a ttl argument the entry lives cachext.default_ttl; a NULL ttl means no
 * expiry.
 */
Datum
cache_set(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache value must not be null"),
				 errhint("Use cache_invalidate() to remove a key, or store 'null'::jsonb to cache a miss.")));
	layers_set(key, key_len, PG_GETARG_JSONB_P(1), ttl_argument(fcinfo, 2),
			   NULL);
	PG_RETURN_VOID();
}

/*
 * cache_get_or_set(key text, query text, ttl interval [, VARIADIC params
 * text[]]) returns jsonb: the cached value, or the factory query's, loaded
 * once across the instance.  The SQL default of ttl is cachext.default_ttl.
 */
Datum
cache_get_or_set(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;
	Datum	   *params = NULL;
	bool	   *param_nulls = NULL;
	int			nparams = 0;

	require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache factory query must not be null")));
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false,
						  TYPALIGN_INT, &params, &param_nulls, &nparams);
	PG_RETURN_JSONB_P(loader_get_or_set(key, key_len,
										text_to_cstring(PG_GETARG_TEXT_PP(1)),
										params, param_nulls, nparams,
										ttl_argument(fcinfo, 2)));
}

/*
 * cache_key(prefix text, VARIADIC args "any") returns text: the key
 * key_builder.c's rule makes of the arguments' text forms.
 */
Datum
cache_key(PG_FUNCTION_ARGS)
{
	const char **parts;
	int			nparts;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key prefix must not be null")));

	if (get_fn_expr_variadic(fcinfo->flinfo))
	{
		/* called as cache_key(prefix, VARIADIC array): the array's elements */
		Oid			element_type;
		Datum	   *elements;
		bool	   *nulls;
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Oid			output;
		bool		varlena;

		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cache key argument array must not be null")));
		element_type = get_element_type(get_fn_expr_argtype(fcinfo->flinfo, 1));
		get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), element_type, typlen,
						  typbyval, typalign, &elements, &nulls, &nparts);
		getTypeOutputInfo(element_type, &output, &varlena);
		parts = palloc(Max(nparts, 1) * sizeof(char *));
		for (int i = 0; i < nparts; i++)
			parts[i] = nulls[i] ? NULL : OidOutputFunctionCall(output, elements[i]);
	}
	else
	{
		nparts = PG_NARGS() - 1;
		parts = palloc(Max(nparts, 1) * sizeof(char *));
		for (int i = 0; i < nparts; i++)
		{
			Oid			output;
			bool		varlena;

			if (PG_ARGISNULL(i + 1))
			{
				parts[i] = NULL;
				continue;
			}
			getTypeOutputInfo(get_fn_expr_argtype(fcinfo->flinfo, i + 1),
							  &output, &varlena);
			parts[i] = OidOutputFunctionCall(output, PG_GETARG_DATUM(i + 1));
		}
	}
	PG_RETURN_TEXT_P(key_builder_build(text_to_cstring(PG_GETARG_TEXT_PP(0)),
									   parts, nparts));
}

/* cache_invalidate(key text) returns boolean: true if the key was cached. */
Datum
cache_invalidate(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	PG_RETURN_BOOL(layers_invalidate(key, key_len, true));
}

/* cache_invalidate_pattern(pattern text) returns bigint: keys removed. */
Datum
cache_invalidate_pattern(PG_FUNCTION_ARGS)
{
	text	   *pattern;
	const char *problem;

	require_preloaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key pattern must not be null")));
	pattern = PG_GETARG_TEXT_PP(0);
	if (VARSIZE_ANY_EXHDR(pattern) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache key pattern must not be empty"),
				 errhint("Use '*' to match every key, or cache_clear().")));
	problem = keys_glob_problem(VARDATA_ANY(pattern),
								VARSIZE_ANY_EXHDR(pattern));
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("invalid cache key pattern \"%s\"", text_to_cstring(pattern)),
				 errdetail("%s", problem),
				 errhint("Patterns use Redis' glob syntax: *, ?, [abc], [a-z], [^a], and \\ to escape.")));
	PG_RETURN_INT64(layers_invalidate_pattern(VARDATA_ANY(pattern),
											  VARSIZE_ANY_EXHDR(pattern), true));
}

/*
 * Starts a materialized set-returning call, as the classic tuplestore
 * pattern that works on every supported PostgreSQL version.
 */
static Tuplestorestate *
begin_materialized_result(FunctionCallInfo fcinfo, TupleDesc *tupdesc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	*tupdesc = CreateTupleDescCopy(*tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = *tupdesc;
	MemoryContextSwitchTo(oldcontext);
	return store;
}

/*
 * cache_get_multi(keys text[]) returns table(key text, value jsonb): one
 * row per key found, in the array's order.
 */
Datum
cache_get_multi(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	Datum	   *keys;
	bool	   *nulls;
	int			nkeys;

	require_preloaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key array must not be null")));
	store = begin_materialized_result(fcinfo, &tupdesc);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false,
					  TYPALIGN_INT, &keys, &nulls, &nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		int			key_len;
		const char *key = checked_key(nulls[i] ? NULL : DatumGetTextPP(keys[i]),
									  nulls[i], &key_len);
		Jsonb	   *value = layers_get(key, key_len);
		Datum		values[2];
		bool		isnull[2] = {false, false};

		if (value == NULL)
			continue;
		values[0] = keys[i];
		values[1] = JsonbPGetDatum(value);
		tuplestore_putvalues(store, tupdesc, values, isnull);
	}
	return (Datum) 0;
}

/* cache_clear() returns bigint: empties L1, returning how many it held. */
Datum
cache_clear(PG_FUNCTION_ARGS)
{
	require_preloaded();
	PG_RETURN_INT64(layers_clear());
}

/* cache_stats(): one row per layer, behind the cache_stats view. */
Datum
cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	L1Stats		stats;
	LoaderStats loads;
	Datum		values[15];
	bool		nulls[15] = {false};
	int64		reads;

	require_preloaded();
	store = begin_materialized_result(fcinfo, &tupdesc);
	l1_read_stats(&stats);
	loader_read_stats(&loads);
	reads = stats.hits + stats.misses;

	values[0] = CStringGetTextDatum("l1");
	values[1] = Int64GetDatum(stats.hits);
	values[2] = Int64GetDatum(stats.misses);
	if (reads > 0)
		values[3] = Float8GetDatum((double) stats.hits / (double) reads);
	else
		nulls[3] = true;
	values[4] = Int64GetDatum(stats.sets);
	values[5] = Int64GetDatum(stats.evictions);
	values[6] = Int64GetDatum(stats.expirations);
	values[7] = Int64GetDatum(stats.invalidations);
	values[8] = Int64GetDatum(stats.entries);
	values[9] = Int64GetDatum(stats.bytes);
	values[10] = Int64GetDatum(stats.max_entries);
	values[11] = Int64GetDatum(stats.max_bytes);
	values[12] = Int64GetDatum(loads.loads);
	values[13] = Int64GetDatum(loads.load_failures);
	values[14] = Float8GetDatum(loads.load_time_us / 1000.0);
	tuplestore_putvalues(store, tupdesc, values, nulls);
	return (Datum) 0;
}

/* cache_stats_reset(): zeroes every counter (entries stay). */
Datum
cache_stats_reset(PG_FUNCTION_ARGS)
{
	require_preloaded();
	l1_reset_stats();
	loader_reset_stats();
	PG_RETURN_VOID();
}

/* cache_entries(): one row per live L1 entry, behind the cache_entries view. */
Datum
cache_entries(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	ListCell   *lc;
	List	   *entries;

	require_preloaded();
	store = begin_materialized_result(fcinfo, &tupdesc);
	entries = l1_list_entries(GetCurrentTimestamp());
	foreach(lc, entries)
	{
		L1EntryInfo *e = lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = CStringGetTextDatum(e->namespace);
		values[1] = CStringGetTextDatum(e->key);
		values[2] = Int64GetDatum(e->bytes);
		values[3] = TimestampTzGetDatum(e->created_at);
		if (e->expires_at == L1_NO_EXPIRY)
			nulls[4] = true;
		else
			values[4] = TimestampTzGetDatum(e->expires_at);
		values[5] = TimestampTzGetDatum(e->last_access);
		values[6] = Int64GetDatum(e->hits);
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}
