/*-------------------------------------------------------------------------
 * durations.h
 *	  PostgreSQL's microseconds (TimestampTz differences, interval times)
 *	  into the milliseconds Redis, WaitEventSetWait and cachext's TTLs
 *	  count in.
 *
 * Header only: it depends on nothing of cachext, so every module may use
 * it.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_DURATIONS_H
#define CACHEXT_DURATIONS_H

#include "postgres.h"

/*
 * Microseconds (not negative) to milliseconds, rounded up: a positive TTL
 * never becomes zero, and a wait never ends before its deadline.  Written
 * without usecs + 999, which overflows near the int64 limit.
 */
static inline int64
cachext_usecs_to_ms_ceil(int64 usecs)
{
	return usecs / 1000 + (usecs % 1000 != 0);
}

#endif							/* CACHEXT_DURATIONS_H */
