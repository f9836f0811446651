/*-------------------------------------------------------------------------
 * triggers.h
 *	  The invalidation handler's steps at transaction end (called by xact.c).
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_TRIGGERS_H
#define CACHEXT_TRIGGERS_H

extern void triggers_subxact_commit(void);
extern void triggers_subxact_abort(void);
extern void triggers_pre_commit(void);
extern void triggers_commit(void);
extern void triggers_abort(void);
extern void triggers_check_prepare(void);

#endif							/* CACHEXT_TRIGGERS_H */
