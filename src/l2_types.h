/*-------------------------------------------------------------------------
 * l2_types.h
 *	  The types the Redis side's modules hand each other: the Redis side of
 *	  a lease, one write, a fence's step (l2.c's callers; l2_commands.c
 *	  builds the commands from them), and what an invalidation names (the
 *	  queue and the journal).  Types only.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_TYPES_H
#define CACHEXT_L2_TYPES_H

#include "postgres.h"

/* The Redis side of a lease: the counters' values when it was read. */
typedef struct L2Lease
{
	char	   *seq;			/* the key's write sequence */
	char	   *epoch;			/* the epoch of pattern invalidations */
	char	   *bucket_seq;		/* the sequence of the key's fence bucket */
	bool		fenced;			/* read while a fence stood: never stores */
} L2Lease;

/*
 * One write of l2_write (l2_commands_write's script): a key, its
 * value and how to write it.
 */
typedef struct L2Write
{
	const char *key;
	int			key_len;
	const char *value;			/* JSON text */
	int			value_len;
	int64		ttl_ms;			/* < 0: no expiry */
	const L2Lease *lease;		/* NULL: no lease to check */
	const char *condition;		/* NULL, "NX" (if absent), "XX" (if present) */
	int			ntags;
	const char *const *tags;	/* namespace + tag each */
	const int  *tag_lens;
} L2Write;

/* What a fence script does besides invalidating (fence.c). */
typedef enum L2FenceStep
{
	L2_FENCE_PLACE,				/* place a fence */
	L2_FENCE_LIFT,				/* lift one this transaction placed */
	L2_FENCE_NONE				/* only invalidate */
} L2FenceStep;

/* What an invalidation names (the queue, the journal and their callers). */
typedef enum L2QueueKind
{
	L2_QUEUE_KEY,				/* UNLINK namespace + item */
	L2_QUEUE_PATTERN,			/* SCAN MATCH escaped namespace + item, UNLINK */
	L2_QUEUE_TAG,				/* the keys of tag item in namespace */
	L2_QUEUE_NAMESPACE			/* the whole namespace (after an overflow) */
} L2QueueKind;

#endif							/* CACHEXT_L2_TYPES_H */
