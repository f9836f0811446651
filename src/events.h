/*-------------------------------------------------------------------------
 * events.h
 *	  Cache events sent with NOTIFY.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_EVENTS_H
#define CACHEXT_EVENTS_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern void events_notify_key(const char *key, int key_len);
extern void events_notify_pattern(const char *pattern, int pattern_len);
extern void events_notify_tag(const char *tag, int tag_len);
extern void events_notify_clear(void);
extern void events_notify_change(const char *name, const char *table,
								 bool patterns, List *keys);

#endif							/* CACHEXT_EVENTS_H */
