/*-------------------------------------------------------------------------
 * prefix_stats.h
 *	  The key prefixes L1 and L2 count separately (cache_prefix_stats):
 *	  which prefix a key has, and the slot its counters take.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_PREFIX_STATS_H
#define CACHEXT_PREFIX_STATS_H

#include "postgres.h"

/* The slot of the "other" bucket: prefixes past the table's capacity. */
#define PREFIX_STATS_OTHER	0

/* A claimed slot's name, copied out for cache_prefix_stats. */
typedef struct PrefixName
{
	char	   *namespace;
	char	   *prefix;
} PrefixName;

extern Size prefix_stats_shmem_size(void);
extern void prefix_stats_shmem_startup(void);

extern int	prefix_stats_slots(void);
extern int	prefix_stats_slot(const char *key, int key_len, int namespace_len);
extern bool prefix_stats_name(int slot, PrefixName *name);

#endif							/* CACHEXT_PREFIX_STATS_H */
