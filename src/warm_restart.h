/*-------------------------------------------------------------------------
 * warm_restart.h
 *	  Warm restarts: L1's hot keys saved in the data directory and reloaded
 *	  at start-up (see warm_restart.c).
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_WARM_RESTART_H
#define CACHEXT_WARM_RESTART_H

#include "postgres.h"

extern void warm_restart_register(void);
extern void warm_restart_shmem_startup(void);
extern PGDLLEXPORT void cachext_l1_dump_main(Datum arg);

#endif							/* CACHEXT_WARM_RESTART_H */
