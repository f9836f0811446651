/*-------------------------------------------------------------------------
 * sql_api.c
 *	  The SQL-callable functions: argument checks, a call into a module
 *	  (layers.c for the cache, loader.c for cache_get_or_set, key_builder.c
 *	  for cache_key, the statistics modules), and building the result.  No
 *	  cache logic lives here.
 *
 * Every function first checks that cachext was preloaded
 * (cachext_require_preloaded), so a missing shared_preload_libraries entry
 * is one clear error, not a crash.
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
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "durations.h"
#include "event_queue.h"
#include "guc.h"
#include "key_builder.h"
#include "key_text.h"
#include "keys.h"
#include "l1.h"
#include "l2.h"
#include "l2_queue.h"
#include "l2_stats.h"
#include "lag_stats.h"
#include "layers.h"
#include "loader.h"
#include "op_stats.h"
#include "prefix_stats.h"
#include "table_stats.h"
#include "ttl_clock.h"

PG_FUNCTION_INFO_V1(cache_get);
PG_FUNCTION_INFO_V1(cache_set);
PG_FUNCTION_INFO_V1(cache_invalidate);
PG_FUNCTION_INFO_V1(cache_invalidate_pattern);
PG_FUNCTION_INFO_V1(cache_get_multi);
PG_FUNCTION_INFO_V1(cache_clear);
PG_FUNCTION_INFO_V1(cache_stats);
PG_FUNCTION_INFO_V1(cache_stats_reset);
PG_FUNCTION_INFO_V1(cache_prefix_stats);
PG_FUNCTION_INFO_V1(cache_table_stats);
PG_FUNCTION_INFO_V1(cache_lag_histograms);
PG_FUNCTION_INFO_V1(cache_event_stats);
PG_FUNCTION_INFO_V1(cache_entries);
PG_FUNCTION_INFO_V1(cache_get_or_set);
PG_FUNCTION_INFO_V1(cache_key);
PG_FUNCTION_INFO_V1(cache_get_or_set_tagged);
PG_FUNCTION_INFO_V1(cache_set_multi);
PG_FUNCTION_INFO_V1(cache_incr);
PG_FUNCTION_INFO_V1(cache_add);
PG_FUNCTION_INFO_V1(cache_replace);
PG_FUNCTION_INFO_V1(cache_ttl);
PG_FUNCTION_INFO_V1(cache_touch);
PG_FUNCTION_INFO_V1(cache_invalidate_tag);

/* The most tags one entry may carry. */
#define CACHE_MAX_TAGS	1000


/*
 * Checks a key or tag datum (possibly NULL): not null, not empty, at most
 * cachext.max_key_length bytes; returns its bytes and length.
 */
static const char *
checked_name(const text *name, bool is_null, bool is_tag, int *len)
{
	const char *what = is_tag ? "tag" : "key";

	if (is_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache %s must not be null", what)));
	*len = VARSIZE_ANY_EXHDR(name);
	if (*len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache %s must not be empty", what)));
	if (*len > cachext_max_key_length)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cache %s is too long", what),
				 errdetail("The %s has %d bytes.", what, *len),
				 is_tag ?
				 errhint("Tags may have at most %d bytes (cachext.max_key_length).",
						 cachext_max_key_length) :
				 errhint("Keys may have at most %d bytes (cachext.max_key_length); "
						 "use cache_key() to hash long keys.",
						 cachext_max_key_length)));
	return VARDATA_ANY(name);
}

/* Checks a key datum (possibly NULL) and returns its bytes and length. */
static const char *
checked_key(const text *key, bool is_null, int *key_len)
{
	return checked_name(key, is_null, false, key_len);
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
	return cachext_usecs_to_ms_ceil(usecs);
}

/*
 * The TTL in milliseconds from argument argno: cachext.default_ttl when the
 * argument is absent, CACHEXT_NO_TTL when it is NULL.
 */
static int64
ttl_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno)
		return cachext_default_ttl_s > 0 ?
			(int64) cachext_default_ttl_s * 1000 : CACHEXT_NO_TTL;
	if (PG_ARGISNULL(argno))
		return CACHEXT_NO_TTL;
	return ttl_to_ms(PG_GETARG_INTERVAL_P(argno));
}

/*
 * Checks a tag datum as checked_key checks a key, and that tags can be
 * used with this Redis.
 */
static const char *
checked_tag(const text *tag, bool is_null, int *tag_len)
{
	l2_require_tags_supported();
	return checked_name(tag, is_null, true, tag_len);
}

/* One tag being sorted by tags_argument, with its bytes and length. */
typedef struct SortedTag
{
	const char *tag;
	int			len;
} SortedTag;

static int
compare_tags(const void *a, const void *b)
{
	const SortedTag *x = a;
	const SortedTag *y = b;
	int			c = memcmp(x->tag, y->tag, Min(x->len, y->len));

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/*
 * The tags of argument argno (text[]): NULL when the argument is NULL or
 * empty, else each tag checked, duplicates dropped, at most CACHE_MAX_TAGS.
 */
static LayersTags *
tags_argument(FunctionCallInfo fcinfo, int argno)
{
	Datum	   *elements;
	bool	   *nulls;
	int			n;
	SortedTag  *sorted;
	LayersTags *tags;
	const char **bytes;
	int		   *lens;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false,
					  TYPALIGN_INT, &elements, &nulls, &n);
	if (n == 0)
		return NULL;
	sorted = palloc(n * sizeof(SortedTag));
	for (int i = 0; i < n; i++)
		sorted[i].tag = checked_tag(nulls[i] ? NULL : DatumGetTextPP(elements[i]),
									nulls[i], &sorted[i].len);
	qsort(sorted, n, sizeof(SortedTag), compare_tags);
	tags = palloc(sizeof(LayersTags));
	tags->tags = bytes = palloc(n * sizeof(char *));
	tags->tag_lens = lens = palloc(n * sizeof(int));
	tags->ntags = 0;
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && compare_tags(&sorted[i - 1], &sorted[i]) == 0)
			continue;
		bytes[tags->ntags] = sorted[i].tag;
		lens[tags->ntags++] = sorted[i].len;
	}
	if (tags->ntags > CACHE_MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many cache tags"),
				 errdetail("The entry has %d distinct tags.", tags->ntags),
				 errhint("An entry may have at most %d tags.", CACHE_MAX_TAGS)));
	return tags;
}

/* Raises the error of a NULL value argument. */
static const Jsonb *
value_argument(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache value must not be null"),
				 errhint("Use cache_invalidate() to remove a key, or store 'null'::jsonb to cache a miss.")));
	return PG_GETARG_JSONB_P(argno);
}

/* cache_get(key text) returns jsonb: the value, or NULL on a miss. */
Datum
cache_get(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;
	Jsonb	   *value;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	value = layers_get(key, key_len);
	if (value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(value);
}

/*
 * cache_set(key text, value jsonb [, ttl interval [, tags text[]]]): stores
 * value.  Without a ttl argument the entry lives cachext.default_ttl (the
 * two-argument overload of 0.1.0's and 0.2.0's SQL; from 0.3.0 the SQL
 * default passes it); a NULL ttl means no expiry.
 */
Datum
cache_set(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	layers_set_tagged(key, key_len, value_argument(fcinfo, 1),
					  ttl_argument(fcinfo, 2), 0, NULL,
					  tags_argument(fcinfo, 3));
	PG_RETURN_VOID();
}

/*
 * The body of both cache_get_or_set entry points: params_argno is the
 * argument holding the VARIADIC params, tags_argno the tags (-1: none).
 */
static Datum
get_or_set(FunctionCallInfo fcinfo, int tags_argno, int params_argno)
{
	int			key_len;
	const char *key;
	Datum	   *params = NULL;
	bool	   *param_nulls = NULL;
	int			nparams = 0;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache factory query must not be null")));
	if (PG_NARGS() > params_argno && !PG_ARGISNULL(params_argno))
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(params_argno), TEXTOID, -1,
						  false, TYPALIGN_INT, &params, &param_nulls,
						  &nparams);
	PG_RETURN_JSONB_P(loader_get_or_set(key, key_len,
										text_to_cstring(PG_GETARG_TEXT_PP(1)),
										params, param_nulls, nparams,
										ttl_argument(fcinfo, 2),
										tags_argno < 0 ? NULL :
										tags_argument(fcinfo, tags_argno)));
}

/*
 * cache_get_or_set(key text, query text, ttl interval [, VARIADIC params
 * text[]]) returns jsonb: the cached value, or the factory query's, loaded
 * once across the instance.  The SQL default of ttl is cachext.default_ttl.
 */
Datum
cache_get_or_set(PG_FUNCTION_ARGS)
{
	return get_or_set(fcinfo, -1, 3);
}

/*
 * cache_get_or_set(key text, query text, ttl interval, tags text[] [,
 * VARIADIC params text[]]): the same, storing the loaded value with tags.
 */
Datum
cache_get_or_set_tagged(PG_FUNCTION_ARGS)
{
	return get_or_set(fcinfo, 3, 4);
}

/*
 * cache_key(prefix text, VARIADIC args "any") returns text: the key
 * key_builder.c's rule makes of the arguments' text forms, written as in
 * every session (key_text.c).
 */
Datum
cache_key(PG_FUNCTION_ARGS)
{
	const char **parts;
	int			nparts;
	KeyTextOutput output;
	int			settings_level = 0;

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

		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cache key argument array must not be null")));
		element_type = get_element_type(get_fn_expr_argtype(fcinfo->flinfo, 1));
		get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), element_type, typlen,
						  typbyval, typalign, &elements, &nulls, &nparts);
		key_text_output_init(&output, element_type);
		if (output.needs_fixed_settings)
			settings_level = key_text_fix_settings();
		parts = palloc(Max(nparts, 1) * sizeof(char *));
		for (int i = 0; i < nparts; i++)
			parts[i] = nulls[i] ? NULL : OutputFunctionCall(&output.output, elements[i]);
	}
	else
	{
		nparts = PG_NARGS() - 1;
		parts = palloc(Max(nparts, 1) * sizeof(char *));
		for (int i = 0; i < nparts; i++)
		{
			if (PG_ARGISNULL(i + 1))
			{
				parts[i] = NULL;
				continue;
			}
			key_text_output_init(&output,
								 get_fn_expr_argtype(fcinfo->flinfo, i + 1));
			if (output.needs_fixed_settings && settings_level == 0)
				settings_level = key_text_fix_settings();
			parts[i] = OutputFunctionCall(&output.output, PG_GETARG_DATUM(i + 1));
		}
	}
	key_text_restore_settings(settings_level);
	PG_RETURN_TEXT_P(key_builder_build(text_to_cstring(PG_GETARG_TEXT_PP(0)),
									   parts, nparts));
}

/* cache_invalidate(key text) returns boolean: true if the key was cached. */
Datum
cache_invalidate(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	PG_RETURN_BOOL(layers_invalidate(key, key_len, true));
}

/* cache_invalidate_pattern(pattern text) returns bigint: keys removed. */
Datum
cache_invalidate_pattern(PG_FUNCTION_ARGS)
{
	text	   *pattern;
	const char *problem;

	cachext_require_preloaded();
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
 * row per key found, in the array's order.  Every key is checked before
 * any is read; the keys L1 misses are read from Redis in one round trip.
 */
Datum
cache_get_multi(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	Datum	   *keys;
	bool	   *nulls;
	int			nkeys;
	const char **key_bytes;
	int		   *key_lens;
	Jsonb	  **values;

	cachext_require_preloaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key array must not be null")));
	store = begin_materialized_result(fcinfo, &tupdesc);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false,
					  TYPALIGN_INT, &keys, &nulls, &nkeys);
	if (nkeys == 0)
		return (Datum) 0;
	key_bytes = palloc(nkeys * sizeof(char *));
	key_lens = palloc(nkeys * sizeof(int));
	values = palloc(nkeys * sizeof(Jsonb *));
	for (int i = 0; i < nkeys; i++)
		key_bytes[i] = checked_key(nulls[i] ? NULL : DatumGetTextPP(keys[i]),
								   nulls[i], &key_lens[i]);
	layers_get_multi(nkeys, key_bytes, key_lens, values);
	for (int i = 0; i < nkeys; i++)
	{
		Datum		row[2];
		bool		isnull[2] = {false, false};

		if (values[i] == NULL)
			continue;
		row[0] = keys[i];
		row[1] = JsonbPGetDatum(values[i]);
		tuplestore_putvalues(store, tupdesc, row, isnull);
	}
	return (Datum) 0;
}

/*
 * cache_set_multi(keys text[], values jsonb[], ttl interval): stores
 * values[i] under keys[i], every key and value checked before any is
 * stored, in one round trip to Redis.
 */
Datum
cache_set_multi(PG_FUNCTION_ARGS)
{
	Datum	   *keys;
	bool	   *key_nulls;
	int			nkeys;
	Datum	   *values;
	bool	   *value_nulls;
	int			nvalues;
	const char **key_bytes;
	int		   *key_lens;
	Jsonb	  **jsonb_values;

	cachext_require_preloaded();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache key and value arrays must not be null")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false,
					  TYPALIGN_INT, &keys, &key_nulls, &nkeys);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), JSONBOID, -1, false,
					  TYPALIGN_INT, &values, &value_nulls, &nvalues);
	if (nkeys != nvalues)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("cache key and value arrays must have the same length"),
				 errdetail("There are %d keys and %d values.", nkeys, nvalues)));
	if (nkeys == 0)
		PG_RETURN_VOID();
	key_bytes = palloc(nkeys * sizeof(char *));
	key_lens = palloc(nkeys * sizeof(int));
	jsonb_values = palloc(nkeys * sizeof(Jsonb *));
	for (int i = 0; i < nkeys; i++)
	{
		key_bytes[i] = checked_key(key_nulls[i] ? NULL : DatumGetTextPP(keys[i]),
								   key_nulls[i], &key_lens[i]);
		if (value_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cache value must not be null"),
					 errdetail("The value of key number %d is NULL.", i + 1),
					 errhint("Store 'null'::jsonb to cache a miss.")));
		jsonb_values[i] = DatumGetJsonbP(values[i]);
	}
	layers_set_multi(nkeys, key_bytes, key_lens, jsonb_values,
					 ttl_argument(fcinfo, 2));
	PG_RETURN_VOID();
}

/*
 * cache_incr(key text, by bigint, ttl interval) returns bigint: adds by to
 * the integer cached under key (creating it as by, with ttl, when absent).
 */
Datum
cache_incr(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cache increment must not be null")));
	PG_RETURN_INT64(layers_incr(key, key_len, PG_GETARG_INT64(1),
								ttl_argument(fcinfo, 2)));
}

/* cache_add(key, value, ttl) returns boolean: stored only if absent. */
Datum
cache_add(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	PG_RETURN_BOOL(layers_add(key, key_len, value_argument(fcinfo, 1),
							  ttl_argument(fcinfo, 2)));
}

/* cache_replace(key, value, ttl) returns boolean: stored only if present. */
Datum
cache_replace(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	PG_RETURN_BOOL(layers_replace(key, key_len, value_argument(fcinfo, 1),
								  ttl_argument(fcinfo, 2)));
}

/*
 * cache_ttl(key text) returns interval: the remaining time to live, NULL
 * when the key is not cached, CACHEXT_NO_TTL milliseconds (-1, as Redis'
 * PTTL answers) when it never expires.
 */
Datum
cache_ttl(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;
	int64		ttl_ms;
	Interval   *result;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	if (!layers_ttl(key, key_len, &ttl_ms))
		PG_RETURN_NULL();
	result = palloc0(sizeof(Interval));
	result->time = ttl_ms * 1000;
	PG_RETURN_INTERVAL_P(result);
}

/*
 * cache_touch(key text, ttl interval) returns boolean: a new TTL (NULL:
 * none) for a cached key, its value untouched; true if it was cached.
 */
Datum
cache_touch(PG_FUNCTION_ARGS)
{
	int			key_len;
	const char *key;

	cachext_require_preloaded();
	key = key_argument(fcinfo, 0, &key_len);
	PG_RETURN_BOOL(layers_touch(key, key_len, ttl_argument(fcinfo, 1)));
}

/* cache_invalidate_tag(tag text) returns bigint: keys removed. */
Datum
cache_invalidate_tag(PG_FUNCTION_ARGS)
{
	int			tag_len;
	const char *tag;

	cachext_require_preloaded();
	tag = checked_tag(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0),
					  PG_ARGISNULL(0), &tag_len);
	PG_RETURN_INT64(layers_invalidate_tag(tag, tag_len, true));
}

/*
 * cache_clear() returns bigint: empties L1 (every namespace) and this
 * namespace in Redis, returning the larger of the two counts.
 */
Datum
cache_clear(PG_FUNCTION_ARGS)
{
	cachext_require_preloaded();
	PG_RETURN_INT64(layers_clear());
}

/*
 * cache_stats columns: the latest version's, and each released version's,
 * whose SQL declares fewer (columns are only ever added at the end).
 */
#define CACHE_STATS_COLS_V0_1	25
#define CACHE_STATS_COLS_V0_2	32
#define CACHE_STATS_COLS		34

/* One row of cache_stats, filled column by column in declaration order. */
typedef struct StatsRow
{
	Datum		values[CACHE_STATS_COLS];
	bool		nulls[CACHE_STATS_COLS];
	int			i;				/* the next column */
} StatsRow;

static void
put_datum(StatsRow *row, Datum value, bool isnull)
{
	row->nulls[row->i] = isnull;
	row->values[row->i++] = isnull ? (Datum) 0 : value;
}

/* A count, or NULL where the layer has no such count. */
static void
put_count(StatsRow *row, int64 count)
{
	put_datum(row, Int64GetDatum(count), false);
}

static void
put_null(StatsRow *row)
{
	put_datum(row, (Datum) 0, true);
}

/* hit_rate: NULL until the layer has been read at least once. */
static void
put_hit_rate(StatsRow *row, int64 hits, int64 misses)
{
	if (hits + misses == 0)
		put_null(row);
	else
		put_datum(row, Float8GetDatum((double) hits / (double) (hits + misses)),
				  false);
}

/* cache_stats' coherence column: how the sync worker keeps L1 coherent. */
static const char *
coherence_name(L2Coherence coherence)
{
	switch (coherence)
	{
		case L2_COHERENCE_TRACKING:
			return "tracking";
		case L2_COHERENCE_TTL_BOUND:
			return "ttl-bound";
		case L2_COHERENCE_NONE:
			break;
	}
	return "none";
}

/*
 * cache_stats(): one row per layer in use, behind the cache_stats view:
 * l1 always, l2 when cachext.redis_url is set.  Columns a layer has no
 * notion of (L1 errors, Redis' size) are NULL.  A database still on an
 * older version's SQL gets that version's leading columns.
 */
Datum
cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	L1Stats		stats;
	LoaderStats loads;
	L2Stats		l2;
	int64		ops[OP_NUM_COUNTERS];
	StatsRow	row;

	cachext_require_preloaded();
	store = begin_materialized_result(fcinfo, &tupdesc);
	if (tupdesc->natts != CACHE_STATS_COLS_V0_1 &&
		tupdesc->natts != CACHE_STATS_COLS_V0_2 &&
		tupdesc->natts != CACHE_STATS_COLS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cache_stats() is declared with %d columns, which no version of cachext has",
						tupdesc->natts),
				 errhint("Run ALTER EXTENSION cachext UPDATE.")));
	l1_read_stats(&stats);
	loader_read_stats(&loads);
	op_stats_read(ops);

	row.i = 0;
	put_datum(&row, CStringGetTextDatum("l1"), false);	/* layer */
	put_count(&row, stats.hits);
	put_count(&row, stats.misses);
	put_hit_rate(&row, stats.hits, stats.misses);
	put_count(&row, stats.sets);
	put_count(&row, stats.evictions);
	put_count(&row, stats.expirations);
	put_count(&row, stats.invalidations);
	put_count(&row, stats.entries);
	put_count(&row, stats.bytes);
	put_count(&row, stats.max_entries);
	put_count(&row, stats.max_bytes);
	put_count(&row, loads.loads);
	put_count(&row, loads.load_failures);
	put_datum(&row, Float8GetDatum(loads.load_time_us / 1000.0), false);
	while (row.i < CACHE_STATS_COLS_V0_1)	/* L2's columns, errors to sync_resets */
		put_null(&row);
	put_count(&row, loads.stale_served);
	put_count(&row, loads.early_refreshes);
	put_null(&row);				/* sync_kept: in l2's row */
	put_null(&row);				/* coherence */
	/* instance-wide operations: shown once, in l1's row */
	put_count(&row, ops[OP_INCRS]);
	put_count(&row, ops[OP_ADDS_REFUSED]);
	put_count(&row, ops[OP_TAG_INVALIDATIONS]);
	put_count(&row, op_stats_fences_standing());
	put_count(&row, ops[OP_FENCES_LOST]);
	Assert(row.i == CACHE_STATS_COLS);
	tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	if (!l2_is_configured())
		return (Datum) 0;

	/* cache_get_or_set's loads are instance-wide: shown once, in l1's row */
	l2_stats_read(&l2);
	row.i = 0;
	put_datum(&row, CStringGetTextDatum("l2"), false);	/* layer */
	put_count(&row, l2.counters[L2_HITS]);
	put_count(&row, l2.counters[L2_MISSES]);
	put_hit_rate(&row, l2.counters[L2_HITS], l2.counters[L2_MISSES]);
	put_count(&row, l2.counters[L2_SETS]);
	put_null(&row);				/* evictions: not tracked in Redis */
	put_null(&row);				/* expirations */
	put_count(&row, l2.counters[L2_INVALIDATIONS]);
	put_null(&row);				/* entries */
	put_null(&row);				/* bytes */
	put_null(&row);				/* max_entries */
	put_null(&row);				/* max_bytes */
	put_null(&row);				/* loads: in l1's row */
	put_null(&row);				/* load_failures */
	put_null(&row);				/* load_time_ms */
	put_count(&row, l2.counters[L2_ERRORS]);
	put_count(&row, l2.counters[L2_TIMEOUTS]);
	put_count(&row, l2.counters[L2_PROMOTIONS]);
	put_datum(&row, BoolGetDatum(l2.redis_state == L2_REDIS_UP),
			  l2.redis_state == L2_REDIS_UNKNOWN);	/* redis_up */
	put_count(&row, l2.counters[L2_QUEUED]);
	put_count(&row, l2.counters[L2_REPLAYED]);
	put_count(&row, l2.counters[L2_OVERFLOWS]);
	put_count(&row, l2_queue_length());
	put_count(&row, l2.counters[L2_SYNC_EVICTIONS]);
	put_count(&row, l2.counters[L2_SYNC_RESETS]);
	put_null(&row);				/* stale_served: in l1's row */
	put_null(&row);				/* early_refreshes */
	put_count(&row, l2.counters[L2_SYNC_KEPT]);
	put_datum(&row, CStringGetTextDatum(coherence_name(l2.coherence)), false);
	put_null(&row);				/* incrs: in l1's row */
	put_null(&row);				/* adds_refused */
	put_null(&row);				/* tag_invalidations */
	put_null(&row);				/* fences_standing: in l1's row */
	put_null(&row);				/* fences_lost */
	Assert(row.i == CACHE_STATS_COLS);
	tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	return (Datum) 0;
}

/*
 * Starts slot's row of cache_prefix_stats: its layer, namespace and prefix
 * (NULL, NULL for the other bucket); false for a slot not claimed yet.
 */
static bool
begin_prefix_row(StatsRow *row, const char *layer, int slot)
{
	PrefixName	name;
	bool		other = slot == PREFIX_STATS_OTHER;

	if (!other && !prefix_stats_name(slot, &name))
		return false;
	row->i = 0;
	put_datum(row, CStringGetTextDatum(layer), false);
	put_datum(row, other ? 0 : CStringGetTextDatum(name.namespace), other);
	put_datum(row, other ? 0 : CStringGetTextDatum(name.prefix), other);
	return true;
}

/* An L1 row's counts: every column, as in cache_stats' l1 row. */
static void
put_l1_prefix_counts(StatsRow *row, const L1Stats *c)
{
	put_count(row, c->hits);
	put_count(row, c->misses);
	put_hit_rate(row, c->hits, c->misses);
	put_count(row, c->sets);
	put_count(row, c->evictions);
	put_count(row, c->expirations);
	put_count(row, c->invalidations);
	put_count(row, c->entries);
	put_count(row, c->bytes);
}

/*
 * An L2 row's counts: hits, misses and sets; Redis keeps no figures per
 * prefix, and the rest are NULL (see reference.md).
 */
static void
put_l2_prefix_counts(StatsRow *row, const L2PrefixCounts *c)
{
	put_count(row, c->counters[L2_HITS]);
	put_count(row, c->counters[L2_MISSES]);
	put_hit_rate(row, c->counters[L2_HITS], c->counters[L2_MISSES]);
	put_count(row, c->counters[L2_SETS]);
	put_null(row);				/* evictions */
	put_null(row);				/* expirations */
	put_null(row);				/* invalidations */
	put_null(row);				/* entries */
	put_null(row);				/* bytes */
}

/*
 * cache_prefix_stats(): per layer (L1, then L2 when cachext.redis_url is
 * set), one row per key prefix counted separately, then the other bucket
 * (namespace and prefix NULL), behind the view of that name; each column
 * that is counted sums to the layer's row of cache_stats.
 */
Datum
cache_prefix_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	int			nslots = prefix_stats_slots();
	L1Stats    *l1_counts = palloc(nslots * sizeof(L1Stats));
	L2PrefixCounts *l2_counts = palloc(nslots * sizeof(L2PrefixCounts));
	int			nlayers = l2_is_configured() ? 2 : 1;

	cachext_require_preloaded();
	store = begin_materialized_result(fcinfo, &tupdesc);
	l1_read_prefix_stats(l1_counts);
	if (nlayers == 2)
		l2_stats_read_prefixes(l2_counts);
	for (int layer = 0; layer < nlayers; layer++)
	{
		for (int s = 1; s <= nslots; s++)
		{
			/* the other bucket last: it is the one that grows when full */
			int			slot = s < nslots ? s : PREFIX_STATS_OTHER;
			StatsRow	row;

			if (!begin_prefix_row(&row, layer == 0 ? "l1" : "l2", slot))
				continue;		/* not claimed yet */
			if (layer == 0)
				put_l1_prefix_counts(&row, &l1_counts[slot]);
			else
				put_l2_prefix_counts(&row, &l2_counts[slot]);
			Assert(row.i == tupdesc->natts);
			tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
		}
	}
	return (Datum) 0;
}

/*
 * cache_table_stats(): one row per watched table counted separately, in
 * every database, then the other bucket (database and table NULL), behind
 * the view of that name.
 */
Datum
cache_table_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	ListCell   *lc;

	cachext_require_preloaded();
	store = begin_materialized_result(fcinfo, &tupdesc);
	foreach(lc, table_stats_read())
	{
		TableStats *t = lfirst(lc);
		StatsRow	row;

		row.i = 0;
		put_datum(&row, ObjectIdGetDatum(t->database),
				  t->database == InvalidOid);
		put_datum(&row, t->table != NULL ? CStringGetTextDatum(t->table) : 0,
				  t->table == NULL);
		put_count(&row, t->rows);
		put_count(&row, t->keys);
		put_count(&row, t->commits);
		put_datum(&row, Float8GetDatum(t->redis_us / 1000.0), false);
		Assert(row.i == tupdesc->natts);
		tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	}
	return (Datum) 0;
}

/*
 * cache_lag_histograms(): every invalidation lag histogram, one row per
 * bucket, cumulative as Prometheus' le buckets (the +Inf row's count is
 * the histogram's), each row with its histogram's sum; behind the view of
 * that name.
 */
Datum
cache_lag_histograms(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;

	cachext_require_preloaded();
	store = begin_materialized_result(fcinfo, &tupdesc);
	for (int step = 0; step < LAG_NUM_STEPS; step++)
	{
		LagHistogram histogram;

		lag_stats_read((LagStep) step, &histogram);
		for (int b = 0; b < LAG_NUM_BUCKETS; b++)
		{
			StatsRow	row;

			row.i = 0;
			put_datum(&row, CStringGetTextDatum(lag_stats_step_name((LagStep) step)), false);
			put_datum(&row, Float8GetDatum(lag_stats_bound_seconds(b)), false);
			put_count(&row, histogram.cumulative[b]);
			put_datum(&row, Float8GetDatum(histogram.sum_us / 1000000.0), false);
			Assert(row.i == tupdesc->natts);
			tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
		}
	}
	return (Datum) 0;
}

/* cache_stats_reset(): zeroes every counter (entries stay). */
Datum
cache_stats_reset(PG_FUNCTION_ARGS)
{
	cachext_require_preloaded();
	l1_reset_stats();
	loader_reset_stats();
	l2_stats_reset();
	op_stats_reset();
	table_stats_reset();
	lag_stats_reset();
	event_queue_reset_stats();
	PG_RETURN_VOID();
}

/*
 * cache_event_stats(): how cachext.events = async's events went out: sent
 * by the workers, sent by writers themselves (fallbacks), workers started.
 */
Datum
cache_event_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	int64		counters[EVENT_NUM_COUNTERS];
	Datum		values[EVENT_NUM_COUNTERS];
	bool		nulls[EVENT_NUM_COUNTERS] = {false};

	cachext_require_preloaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	event_queue_read_stats(counters);
	for (int i = 0; i < EVENT_NUM_COUNTERS; i++)
		values[i] = Int64GetDatum(counters[i]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/* cache_entries(): one row per live L1 entry, behind the cache_entries view. */
Datum
cache_entries(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	ListCell   *lc;
	List	   *entries;

	cachext_require_preloaded();
	store = begin_materialized_result(fcinfo, &tupdesc);
	entries = l1_list_entries(ttl_clock_now());
	foreach(lc, entries)
	{
		L1EntryInfo *e = lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = CStringGetTextDatum(e->namespace);
		values[1] = CStringGetTextDatum(e->key);
		values[2] = Int64GetDatum(e->bytes);
		values[3] = TimestampTzGetDatum(e->created_at);
		if (e->expires_at == CACHEXT_NO_EXPIRY)
			nulls[4] = true;
		else
			values[4] = TimestampTzGetDatum(e->expires_at);
		values[5] = TimestampTzGetDatum(e->last_access);
		values[6] = Int64GetDatum(e->hits);
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

#ifdef CACHEXT_TEST_BUILD
PG_FUNCTION_INFO_V1(cachext_test_advance_clock);

/*
 * cachext_test_advance_clock(step interval): moves L1's clock forward by
 * step (positive, millisecond precision, like a TTL) for the whole
 * instance.  Test builds only (TEST_BUILD=1); the extension's SQL script
 * does not declare it, a test does with CREATE FUNCTION ... AS
 * '$libdir/cachext', 'cachext_test_advance_clock'.
 */
Datum
cachext_test_advance_clock(PG_FUNCTION_ARGS)
{
	cachext_require_preloaded();
	ttl_clock_advance(ttl_to_ms(PG_GETARG_INTERVAL_P(0)) * 1000);
	PG_RETURN_VOID();
}
#endif
