/*-------------------------------------------------------------------------
 * guc.h
 *	  The definition of every cachext.* setting (guc.c); the settings'
 *	  variables are declared in cachext.h.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_GUC_H
#define CACHEXT_GUC_H

extern void guc_define_settings(void);

#endif							/* CACHEXT_GUC_H */
