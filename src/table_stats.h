/*-------------------------------------------------------------------------
 * table_stats.h
 *	  Figures per watched table (cache_table_stats): rows seen, keys
 *	  invalidated, commits fenced, and the commit path's time in Redis.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_TABLE_STATS_H
#define CACHEXT_TABLE_STATS_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "portability/instr_time.h"

/* The slot of the "other" bucket: tables past the table's capacity. */
#define TABLE_STATS_OTHER	0

/* One slot's figures, copied out for cache_table_stats. */
typedef struct TableStats
{
	Oid			database;		/* InvalidOid for the other bucket */
	char	   *table;			/* schema.table; NULL for the other bucket */
	int64		rows;
	int64		keys;
	int64		commits;
	int64		redis_us;
} TableStats;

extern void table_stats_shmem_request(void);
extern void table_stats_shmem_startup(void);

/* The writer's side: triggers.c, and fence.c for the time in Redis. */
extern int	table_stats_slot(Oid relid, const char *table);
extern void table_stats_count(int slot, int64 rows, int64 keys);
extern void table_stats_add_redis_time(instr_time start);
extern void table_stats_commit(void);
extern void table_stats_abort(void);

/* The reader's side: cache_table_stats, cache_stats_reset. */
extern List *table_stats_read(void);
extern void table_stats_reset(void);

#endif							/* CACHEXT_TABLE_STATS_H */
