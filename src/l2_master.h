/*-------------------------------------------------------------------------
 * l2_master.h
 *	  Which Redis master this instance's processes follow: a generation in
 *	  shared memory that any process moves when it learns the master
 *	  changed, and that every process compares before its next command.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_MASTER_H
#define CACHEXT_L2_MASTER_H

#include "postgres.h"

/*
 * What one process' connection (or set of connections) follows: the
 * instance's master generation when it connected, and the lowest Sentinel
 * configuration epoch a master it connects to may have.
 */
typedef struct L2MasterView
{
	uint64		generation;
	int64		min_epoch;		/* REDIS_EPOCH_UNKNOWN: no floor */
} L2MasterView;

extern Size l2_master_shmem_size(void);
extern void l2_master_shmem_startup(void);

extern void l2_master_view_begin(L2MasterView *view, const char *url);
extern void l2_master_reached(L2MasterView *view, const char *url,
							  int64 epoch);
extern bool l2_master_moved(const L2MasterView *view);
extern void l2_master_demoted(const L2MasterView *view);
extern void l2_master_announced(void);

#endif							/* CACHEXT_L2_MASTER_H */
