/*-------------------------------------------------------------------------
 * xact.h
 *	  The one transaction-end path.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_XACT_H
#define CACHEXT_XACT_H

extern void xact_register_callbacks(void);

#endif							/* CACHEXT_XACT_H */
