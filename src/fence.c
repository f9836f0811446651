/*-------------------------------------------------------------------------
 * fence.c
 *	  The pre-commit fence: a committing transaction's invalidations are in
 *	  force, in both layers, before its commit becomes visible.
 *
 * A watched write's keys (and TRUNCATE's patterns, and the tags of `tag:`
 * templates) are invalidated in two steps around the commit record (xact.c
 * calls them in order):
 *
 * 1. fence_place, at pre-commit: L1 fences the keys (l1.c: lookups miss,
 *    stores under a lease are refused), one lease slot per key, or every
 *    partition for patterns and tags and for more than FENCE_ALL_L1_ABOVE
 *    keys, and removes their entries (remove_from_l1).
 *    Then Redis: this transaction's fence, named by its token, is placed
 *    in each key's bucket (l2_keys.c, "Fence buckets"; l2_commands.c, "Fence
 *    tokens"), expiring cachext.fence_timeout later, then the keys are
 *    unlinked; patterns and tags place the token's
 *    pattern fence, then patterns are unlinked with SCAN and tags' members
 *    with the tag's script (layers_invalidate_tag_in_l2) here, before the
 *    commit record, so neither runs after it.  While the fences stand, no
 *    store under a lease succeeds in Redis (l2_write's script refuses), so
 *    a load that read the old row meanwhile stores nothing, here or on
 *    another instance.  Redis' failures are handled here, where they still
 *    can be: keys and patterns Redis did not take are queued
 *    (l2_queue.c), and this instance never reads Redis while its queue is
 *    non-empty.
 *
 * 2. fence_lift, once the commit is visible (or on abort, or at backend
 *    exit between the two): Redis first -- the buckets' sequences bumped
 *    and the token's fences removed; the pattern fence lifted with an
 *    epoch bump -- then L1's fences, which bumps their lease slots and
 *    epochs.  A commit of a few keys (FENCE_UNANSWERED_LIFT_KEYS, no
 *    patterns or tags) sends its Redis lift without waiting for the answer
 *    (l2_fence_lift_unanswered), so a commit costs one round trip, not two:
 *    the lift needs no answer (its script unlinks the keys again itself
 *    should a fence be gone), and until Redis runs it the fences only
 *    refuse stores a moment longer.  Should it never run (the connection
 *    lost right after), the fences expire, and nothing old can be stored
 *    meanwhile or after: the placing bumped the buckets' sequences, and a
 *    lease read while a fence stood is fenced for good (l2_commands.c).  Neither layer
 *    needs its keys removed again: nothing stored them under a lease while
 *    they were fenced.  Nothing here raises an
 *    ERROR: Redis' failures, and any error at all inside the Redis part,
 *    queue the invalidations instead (never dropped), and the L1 fences
 *    are lifted whatever happened.  An abort lifts the fences: the
 *    copies removed at step 1 only cost misses, and Redis fences an
 *    abort cannot lift expire.
 *
 * A commit whose steps lie further apart than cachext.fence_timeout (a
 * synchronous replication wait, say), or whose fences Redis lost meanwhile
 * (evicted, FLUSHDB), may have outlived them: loads that read the old row
 * may then have stored it.  The lift's scripts say so (their token's fence
 * was gone or expired), and the lift then unlinks the keys again and queues
 * the patterns and tags to be invalidated again.  Each fence expires on its
 * own, whatever other transactions place beside it, so one never lifted
 * (a backend killed between the steps, a lift Redis did not take) refuses
 * stores for cachext.fence_timeout and no longer.  L1 fences never
 * expire.  A placing that failed part way is lifted no more than one that
 * failed: what it placed stands (refusing stores, never serving anything
 * old) until cachext.fence_timeout.
 *
 * Memory.  The fence, its copies of the full keys and the patterns live in
 * TopTransactionContext, which outlives the commit and abort callbacks;
 * the Redis commands are built in a child context deleted after each step.
 * The lift's context is created at placing, with a first block of
 * FENCE_LIFT_RESERVE that it keeps when reset: after the commit record an
 * out-of-memory ERROR would be a PANIC, so the lift's Redis part runs in a
 * PG_TRY whose catch resets the context to that block and queues the
 * invalidations from it.  The pointer is cleared when the fence is lifted.  Backend exit between
 * the steps (FATAL) lifts the fence from a before_shmem_exit callback.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "fence.h"
#include "guc.h"
#include "l1.h"
#include "l2.h"
#include "l2_queue.h"
#include "l2_stats.h"
#include "lag_stats.h"
#include "layers.h"
#include "op_stats.h"
#include "table_stats.h"
#include "ttl_clock.h"

/* A transaction with more keys than this fences every L1 partition. */
#define FENCE_ALL_L1_ABOVE	10000

/*
 * A commit's lift of at most this many keys (and no patterns or tags) is
 * sent without waiting for Redis' answer: see lift_in_redis.
 */
#define FENCE_UNANSWERED_LIFT_KEYS 64

/*
 * The memory the lift reserves at placing: its context's first block,
 * which the context keeps when it is reset.  Enough to queue every
 * invalidation (one small entry at a time) should the lift's Redis part
 * fail for want of memory, since no ERROR may escape after the commit
 * record (it would be a PANIC).
 */
#define FENCE_LIFT_RESERVE	(64 * 1024)

/* A fence token's length: 16 random hex digits, the pid, the time. */
#define FENCE_TOKEN_LEN		40

/* The fence of the committing transaction. */
typedef struct Fence
{
	int			nkeys;
	char	  **keys;			/* full keys (namespace + key) */
	int		   *key_lens;
	List	   *patterns;		/* user patterns, as recorded */
	List	   *tags;			/* user tags, as recorded */
	bool		redis_placed;	/* every key's bucket fenced, and the keys
								 * unlinked, in Redis */
	char		token[FENCE_TOKEN_LEN + 1]; /* names this transaction's
											 * fences in Redis */
	bool		patterns_placed;	/* the pattern fence placed in Redis (for
									 * patterns and tags) */
	bool		l1_all;			/* every L1 partition fenced */
	int			l1_fenced;		/* keys[0 .. l1_fenced) fenced one by one */
	MemoryContext lift_context; /* the lift's memory, reserved at placing */
} Fence;

static Fence *fence = NULL;
static bool exit_callback_registered = false;

/* The user key of a full key: what the invalidation queue takes. */
static const char *
user_key(int i, int *len)
{
	int			prefix_len = strlen(cachext_namespace);

	*len = fence->key_lens[i] - prefix_len;
	return fence->keys[i] + prefix_len;
}

/* Queues every pattern and tag, for when Redis can take them. */
static void
queue_patterns_and_tags(void)
{
	ListCell   *lc;

	foreach(lc, fence->patterns)
		layers_queue_invalidation(L2_QUEUE_PATTERN, lfirst(lc),
								  strlen(lfirst(lc)));
	foreach(lc, fence->tags)
		layers_queue_invalidation(L2_QUEUE_TAG, lfirst(lc),
								  strlen(lfirst(lc)));
}

/*
 * Queues keys[from .. nkeys) and every pattern and tag, for when Redis can
 * take them.
 */
static void
queue_from(int from)
{
	for (int i = from; i < fence->nkeys; i++)
	{
		int			len;
		const char *key = user_key(i, &len);

		layers_queue_invalidation(L2_QUEUE_KEY, key, len);
	}
	queue_patterns_and_tags();
}

/*
 * Pre-commit's L1 part, once L1 fences the keys, patterns and tags: their
 * entries are removed.  No load can store them again until the lift (the
 * fences refuse it, and the lift bumps the leases taken before), and the
 * sync worker, told of the UNLINKs that follow, finds nothing left to read
 * back.  An abort then only costs misses.
 */
static void
remove_from_l1(void)
{
	TimestampTz now = ttl_clock_now();
	ListCell   *lc;

	(void) l1_remove_multi(fence->nkeys, fence->keys, fence->key_lens, now);
	foreach(lc, fence->patterns)
		(void) l1_remove_matching(cachext_namespace,
								  strlen(cachext_namespace),
								  lfirst(lc), strlen(lfirst(lc)), now);
	foreach(lc, fence->tags)
	{
		(void) l1_remove_tagged(cachext_namespace,
								strlen(cachext_namespace),
								lfirst(lc), strlen(lfirst(lc)), now);
		op_stats_count(OP_TAG_INVALIDATIONS);
	}
}

/*
 * Pre-commit's Redis part: places the fences (invalidating the keys), and
 * unlinks the patterns' keys and the tags' members; what Redis does not
 * take is queued.
 */
static void
place_in_redis(void)
{
	int64		removed = 0;
	int64		failed = 0;
	bool		unused;
	ListCell   *lc;

	if (!l2_is_configured())
		return;
	if (!l2_is_usable())
	{
		queue_from(0);
		return;
	}
	fence->redis_placed = l2_fence_keys(fence->nkeys,
										(const char *const *) fence->keys,
										fence->key_lens, L2_FENCE_PLACE,
										fence->token, true,
										cachext_fence_timeout_ms, &removed,
										&failed) && failed == 0;
	l2_stats_count(L2_INVALIDATIONS, removed);
	if (!fence->redis_placed)
	{
		queue_from(0);
		return;
	}
	if (fence->patterns == NIL && fence->tags == NIL)
		return;
	fence->patterns_placed = l2_fence_patterns(L2_FENCE_PLACE, fence->token,
											   cachext_fence_timeout_ms,
											   &unused);
	if (!fence->patterns_placed)
	{
		queue_from(fence->nkeys);
		return;
	}
	foreach(lc, fence->patterns)
		(void) layers_invalidate_matching_in_l2(L2_QUEUE_PATTERN, lfirst(lc),
												strlen(lfirst(lc)));
	foreach(lc, fence->tags)
		(void) layers_invalidate_tag_in_l2(lfirst(lc), strlen(lfirst(lc)));
}

/*
 * Invalidates the keys in Redis again after a commit whose fences did not
 * stand to the end: bumps their buckets' sequences and unlinks them.
 */
static bool
unlink_again(void)
{
	int64		removed = 0;
	int64		unused;
	bool		done = l2_fence_keys(fence->nkeys,
									 (const char *const *) fence->keys,
									 fence->key_lens, L2_FENCE_NONE,
									 fence->token, true,
									 cachext_fence_timeout_ms, &removed,
									 &unused);

	l2_stats_count(L2_INVALIDATIONS, removed);
	return done;
}

/*
 * The lift's Redis part.  After a commit: lifts the fences pre-commit
 * placed (a few keys' without waiting, see the file header); where Redis
 * says one no longer stood, or none was placed, bumps the buckets'
 * sequences and the epoch, unlinks the keys again and queues the patterns
 * and tags; what Redis does not take is queued.  After an abort: lifts
 * what was placed, nothing more; what Redis does not take expires.
 */
static void
lift_in_redis(bool committed)
{
	int64		removed = 0;
	int64		lost = 0;
	bool		patterns_lost = false;

	if (!l2_is_configured() ||
		(!committed && !fence->redis_placed && !fence->patterns_placed))
		return;
	if (!l2_is_usable())
	{
		if (committed)
			queue_from(0);
		return;
	}
	if (committed && fence->redis_placed && fence->patterns == NIL &&
		fence->tags == NIL && fence->nkeys <= FENCE_UNANSWERED_LIFT_KEYS)
	{
		bool		sent;

		if (!l2_fence_lift_unanswered(fence->nkeys,
									  (const char *const *) fence->keys,
									  fence->key_lens, fence->token,
									  cachext_fence_timeout_ms, &sent))
		{
			queue_from(0);
			return;
		}
		if (sent)
			return;
	}
	if (fence->nkeys > 0 && (committed || fence->redis_placed))
	{
		bool		done = l2_fence_keys(fence->nkeys,
										 (const char *const *) fence->keys,
										 fence->key_lens,
										 fence->redis_placed ? L2_FENCE_LIFT :
										 L2_FENCE_NONE, fence->token,
										 committed && !fence->redis_placed,
										 cachext_fence_timeout_ms, &removed,
										 &lost);

		l2_stats_count(L2_INVALIDATIONS, removed);
		if (done && committed && lost > 0)
		{
			/* counted once per commit, here or for the patterns below */
			op_stats_count(OP_FENCES_LOST);
			done = unlink_again();
		}
		if (!done)
		{
			if (committed)
				queue_from(0);
			return;
		}
	}
	if (fence->patterns_placed &&
		l2_fence_patterns(L2_FENCE_LIFT, fence->token,
						  cachext_fence_timeout_ms, &patterns_lost) &&
		!patterns_lost)
		return;
	if (patterns_lost && committed && lost == 0)
		op_stats_count(OP_FENCES_LOST);
	if (committed)
		queue_patterns_and_tags();
}

/* At backend exit (FATAL between the steps), lifts what is still placed. */
static void
lift_at_exit(int code, Datum arg)
{
	if (fence != NULL)
		fence_lift(false);
}

/*
 * A token no other transaction, here or on another instance, uses: random
 * bits, then this backend's pid and the time, which set it apart should
 * the random source fail.
 */
static void
fence_token(char *token)
{
	uint64		random_bits = 0;

	(void) pg_strong_random(&random_bits, sizeof(random_bits));
	snprintf(token, FENCE_TOKEN_LEN + 1, "%016" INT64_MODIFIER "x%08x%016"
			 INT64_MODIFIER "x", random_bits, (uint32) MyProcPid,
			 (uint64) GetCurrentTimestamp());
}

/*
 * Step 1, at pre-commit: fences keys (char *, as recorded), patterns and
 * tags in L1, then in Redis.  May raise an ERROR (memory, a cancel): the abort
 * then lifts what was placed.
 */
void
fence_place(List *keys, List *patterns, List *tags)
{
	MemoryContext old;
	MemoryContext lift_context;
	MemoryContext work;
	ListCell   *lc;
	instr_time	redis_start;
	instr_time	place_start;

	Assert(fence == NULL);
	if (keys == NIL && patterns == NIL && tags == NIL)
		return;
	INSTR_TIME_SET_CURRENT(place_start);
	if (!exit_callback_registered)
	{
		before_shmem_exit(lift_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	/* the lift's reserve first, so that a lift after any failure below has it */
	lift_context = AllocSetContextCreate(TopTransactionContext,
										 "cachext fence lift",
										 FENCE_LIFT_RESERVE,
										 FENCE_LIFT_RESERVE,
										 ALLOCSET_DEFAULT_MAXSIZE);
	old = MemoryContextSwitchTo(TopTransactionContext);
	fence = palloc0(sizeof(Fence));
	fence->lift_context = lift_context;
	op_stats_fences_standing_add(1);
	fence->keys = palloc(Max(list_length(keys), 1) * sizeof(char *));
	fence->key_lens = palloc(Max(list_length(keys), 1) * sizeof(int));
	/* nkeys counts the keys built, should building fail part way */
	foreach(lc, keys)
	{
		fence->keys[fence->nkeys] = layers_full_key(lfirst(lc),
													strlen(lfirst(lc)), NULL,
													&fence->key_lens[fence->nkeys]);
		fence->nkeys++;
	}
	foreach(lc, patterns)
		fence->patterns = lappend(fence->patterns, pstrdup(lfirst(lc)));
	foreach(lc, tags)
		fence->tags = lappend(fence->tags, pstrdup(lfirst(lc)));
	fence_token(fence->token);
	work = AllocSetContextCreate(TopTransactionContext, "cachext fence",
								 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);

	if (patterns != NIL || tags != NIL || fence->nkeys > FENCE_ALL_L1_ABOVE)
	{
		l1_fence_all(1);
		fence->l1_all = true;
	}
	else
		for (; fence->l1_fenced < fence->nkeys; fence->l1_fenced++)
			l1_fence_key(fence->keys[fence->l1_fenced],
						 fence->key_lens[fence->l1_fenced], 1);
	remove_from_l1();
	INSTR_TIME_SET_CURRENT(redis_start);
	place_in_redis();
	table_stats_add_redis_time(redis_start);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	lag_stats_fence_placed(place_start);
}

/*
 * Ends an ERROR caught after the commit record, where it must not
 * propagate: back to the caller's memory context and interrupt holdoff,
 * error state flushed.
 */
static void
swallow_error(MemoryContext context, int holdoff)
{
	MemoryContextSwitchTo(context);
	InterruptHoldoffCount = holdoff;
	FlushErrorState();
}

/*
 * Step 2, after the commit (committed) or on abort: lifts the fences in
 * Redis (invalidating again there when they may have expired), then in
 * L1.  Never raises an ERROR (see the file header): an error in the Redis
 * part queues every invalidation.  A no-op without a fence.
 */
void
fence_lift(bool committed)
{
	MemoryContext old = CurrentMemoryContext;
	MemoryContext work;
	Fence	   *lifting = fence;
	int			holdoff = InterruptHoldoffCount;
	instr_time	redis_start;
	instr_time	lift_start;

	if (lifting == NULL)
		return;
	INSTR_TIME_SET_CURRENT(lift_start);
	work = lifting->lift_context;
	MemoryContextSwitchTo(work);
	INSTR_TIME_SET_CURRENT(redis_start);
	PG_TRY();
	{
		lift_in_redis(committed);
	}
	PG_CATCH();
	{
		swallow_error(work, holdoff);
		/* back to the reserved block, whatever the Redis part took */
		MemoryContextReset(work);
		if (committed && l2_is_configured())
			queue_from(0);
	}
	PG_END_TRY();
	table_stats_add_redis_time(redis_start);

	/* L1's fences go whatever happened above; the lift bumps the leases */
	if (lifting->l1_all)
		l1_fence_all(-1);
	for (int i = 0; i < lifting->l1_fenced; i++)
		l1_fence_key(lifting->keys[i], lifting->key_lens[i], -1);
	fence = NULL;
	op_stats_fences_standing_add(-1);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	lag_stats_fence_lifted(committed, lift_start);
}
