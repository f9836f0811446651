/*-------------------------------------------------------------------------
 * loader.h
 *	  cache_get_or_set's loading: single flight, leases, the SPI factory.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_LOADER_H
#define CACHEXT_LOADER_H

#include "postgres.h"

#include "utils/jsonb.h"

typedef struct LoaderStats
{
	uint64		loads;
	uint64		load_failures;
	uint64		load_time_us;
	uint64		stale_served;	/* stale values cache_get_or_set returned */
	uint64		early_refreshes;	/* reloads before the expiry (XFetch) */
} LoaderStats;

extern void loader_shmem_request(void);
extern void loader_shmem_startup(void);

extern Jsonb *loader_get_or_set(const char *key, int key_len,
								const char *query, Datum *params,
								bool *param_nulls, int nparams, int64 ttl_ms);

extern void loader_read_stats(LoaderStats *stats);
extern void loader_reset_stats(void);

#endif							/* CACHEXT_LOADER_H */
