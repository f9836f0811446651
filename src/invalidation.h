/*-------------------------------------------------------------------------
 * invalidation.h
 *	  Cache events sent with NOTIFY.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_INVALIDATION_H
#define CACHEXT_INVALIDATION_H

extern void invalidation_notify_key(const char *key, int key_len);
extern void invalidation_notify_pattern(const char *pattern, int pattern_len);
extern void invalidation_notify_clear(void);

#endif							/* CACHEXT_INVALIDATION_H */
