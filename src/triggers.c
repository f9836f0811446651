/*-------------------------------------------------------------------------
 * triggers.c
 *	  The invalidation handler: row triggers turn changed rows into cache
 *	  keys, collected per transaction and invalidated when it commits.
 *
 * cache_invalidation_trigger() runs AFTER each row change (and after
 * TRUNCATE) of a watched table.  Its arguments are the entity (USER, ITEM,
 * ...) and key templates such as 'user:{id}', where {column} stands for that
 * column's value in the row.  It invalidates nothing itself: it records the
 * keys (patterns for TRUNCATE) and the entity's event in the current
 * (sub)transaction's pending set.
 *
 * Tags.  A template beginning with "tag:" names a tag rather than a key:
 * 'tag:user:{id}' invalidates, at commit, every key stored with the tag
 * "user:42" (cache_invalidate_tag).  TRUNCATE cannot name the tags of rows
 * it does not see, so a tag template with a {column} makes it invalidate
 * the whole namespace (pattern "*"), the safe superset.
 *
 * Transactions.  xact.c calls the steps below at each transaction end.
 * Each subtransaction level that records something gets its own
 * PendingSet; committing a subtransaction merges its set into its
 * parent's, aborting one discards it.  At top-level pre-commit the keys,
 * patterns and tags are fenced (fence.c: from then on nothing reads or
 * stores what they name; a test build may pause there: test_pause.c),
 * then the events are queued (with NOTIFY, or for the event worker: see
 * events.c), so they follow NOTIFY's rules; once the commit is durable
 * and visible, every pending key is invalidated, once however many rows
 * named it, patterns and tags likewise, and the fence is lifted.
 * Invalidating again after the commit is visible is what makes
 * leases work: a load that read the old row took its lease before this
 * invalidation, so its value is not stored.  An aborted transaction lifts
 * its fence and invalidates nothing more.  PREPARE TRANSACTION with
 * pending invalidations is refused: they could not follow COMMIT PREPARED.
 *
 * Memory.  Each PendingSet lives in a memory context of its own, a child
 * of TopTransactionContext (which outlives the commit callbacks): an
 * aborted subtransaction's context is deleted, a committed one's is
 * deleted once merged into its parent's, so many subtransactions (an
 * exception block per row) leave only the distinct keys behind.  The
 * pointer is cleared at every transaction end.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "cachext.h"
#include "events.h"
#include "fence.h"
#include "l2.h"
#include "test_pause.h"
#include "triggers.h"

/* A set of strings that remembers insertion order. */
typedef struct StringSet
{
	MemoryContext context;		/* of the strings and the list */
	HTAB	   *index;			/* StringSetEntry by string */
	List	   *order;			/* the strings, first added first */
} StringSet;

typedef struct StringSetEntry
{
	const char *string;			/* hash key: the pointer, hashed by content */
} StringSetEntry;

/* One event to send at commit: its name, table and the keys it names. */
typedef struct PendingEvent
{
	char	   *name;			/* e.g. USER_UPDATED */
	char	   *table;			/* schema.table */
	bool		patterns;		/* keys are patterns (TRUNCATE) */
	StringSet	keys;
} PendingEvent;

/* What one (sub)transaction level will invalidate and announce. */
typedef struct PendingSet
{
	MemoryContext context;		/* holds the set and everything in it */
	int			level;			/* GetCurrentTransactionNestLevel() */
	StringSet	keys;
	StringSet	patterns;
	StringSet	tags;
	List	   *events;			/* PendingEvent */
	struct PendingSet *parent;
} PendingSet;

/* A key template beginning with this names a tag (see "Tags" above). */
#define TAG_TEMPLATE_PREFIX	"tag:"
#define TAG_TEMPLATE_PREFIX_LEN (sizeof(TAG_TEMPLATE_PREFIX) - 1)

static PendingSet *pending = NULL;

static uint32
string_pointer_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
string_pointer_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
stringset_init(StringSet *set, MemoryContext context)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(const char *);
	ctl.entrysize = sizeof(StringSetEntry);
	ctl.hash = string_pointer_hash;
	ctl.match = string_pointer_match;
	ctl.hcxt = context;
	set->context = context;
	set->index = hash_create("cachext pending strings", 64, &ctl,
							 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
							 HASH_CONTEXT);
	set->order = NIL;
}

/* Adds a copy of s unless present; the copy lives in the set's context. */
static void
stringset_add(StringSet *set, const char *s)
{
	bool		found;
	StringSetEntry *entry = hash_search(set->index, &s, HASH_ENTER, &found);

	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(set->context);

		entry->string = pstrdup(s);
		set->order = lappend(set->order, (char *) entry->string);
		MemoryContextSwitchTo(old);
	}
}

static void
stringset_add_all(StringSet *set, const StringSet *from)
{
	ListCell   *lc;

	foreach(lc, from->order)
		stringset_add(set, lfirst(lc));
}

/* The event of this name and table in set, created if new. */
static PendingEvent *
pending_event(PendingSet *set, const char *name, const char *table,
			  bool patterns)
{
	ListCell   *lc;
	PendingEvent *event;
	MemoryContext old;

	foreach(lc, set->events)
	{
		event = lfirst(lc);
		if (strcmp(event->name, name) == 0 && strcmp(event->table, table) == 0)
			return event;
	}
	old = MemoryContextSwitchTo(set->context);
	event = palloc(sizeof(PendingEvent));
	event->name = pstrdup(name);
	event->table = pstrdup(table);
	event->patterns = patterns;
	stringset_init(&event->keys, set->context);
	set->events = lappend(set->events, event);
	MemoryContextSwitchTo(old);
	return event;
}

/* Merges child's keys, patterns and events into parent. */
static void
merge_into(PendingSet *parent, PendingSet *child)
{
	ListCell   *lc;

	stringset_add_all(&parent->keys, &child->keys);
	stringset_add_all(&parent->patterns, &child->patterns);
	stringset_add_all(&parent->tags, &child->tags);
	foreach(lc, child->events)
	{
		PendingEvent *event = lfirst(lc);

		stringset_add_all(&pending_event(parent, event->name, event->table,
										 event->patterns)->keys,
						  &event->keys);
	}
}

/* Sends every pending event: the entity events, then one per key/pattern. */
static void
send_pending_events(PendingSet *set)
{
	ListCell   *lc;

	foreach(lc, set->events)
	{
		PendingEvent *event = lfirst(lc);

		events_notify_change(event->name, event->table, event->patterns,
							 event->keys.order);
	}
	foreach(lc, set->keys.order)
		events_notify_key(lfirst(lc), strlen(lfirst(lc)));
	foreach(lc, set->patterns.order)
		events_notify_pattern(lfirst(lc), strlen(lfirst(lc)));
	foreach(lc, set->tags.order)
		events_notify_tag(lfirst(lc), strlen(lfirst(lc)));
}

/*
 * Pre-commit: fences what the transaction invalidates, then sends its
 * events.  Every subtransaction has been merged by now.
 */
void
triggers_pre_commit(void)
{
	if (pending == NULL)
		return;
	Assert(pending->parent == NULL);
	fence_place(pending->keys.order, pending->patterns.order,
				pending->tags.order);
	test_pause_after_fence();
	send_pending_events(pending);
}

/* Commit: the commit is visible; invalidates and lifts the fence. */
void
triggers_commit(void)
{
	fence_lift(true);
	pending = NULL;
}

/* Abort: lifts any fence; nothing was invalidated. */
void
triggers_abort(void)
{
	fence_lift(false);
	pending = NULL;
}

/* Pre-prepare: refused with pending invalidations. */
void
triggers_check_prepare(void)
{
	if (pending != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot prepare a transaction that has pending cache invalidations"),
				 errdetail("Rows of a table watched by cachext changed in this transaction."),
				 errhint("Commit it directly instead of using two-phase commit.")));
}

/*
 * A committed subtransaction's set becomes its parent's (merged into the
 * parent's own set, if it has one, and then freed).
 */
void
triggers_subxact_commit(void)
{
	int			level = GetCurrentTransactionNestLevel();
	PendingSet *child = pending;

	if (child == NULL || child->level != level)
		return;
	if (child->parent != NULL && child->parent->level == level - 1)
	{
		merge_into(child->parent, child);
		pending = child->parent;
		MemoryContextDelete(child->context);
	}
	else
		child->level = level - 1;
}

/* An aborted subtransaction's set is discarded and freed. */
void
triggers_subxact_abort(void)
{
	PendingSet *child = pending;

	if (child == NULL || child->level != GetCurrentTransactionNestLevel())
		return;
	pending = child->parent;
	MemoryContextDelete(child->context);
}

/* Records a tag of a tag: template, if this Redis supports tags. */
static void
record_tag(PendingSet *set, const char *tag)
{
	l2_require_tags_supported();
	stringset_add(&set->tags, tag);
}

/* The pending set of the current (sub)transaction level, created if new. */
static PendingSet *
current_set(void)
{
	int			level = GetCurrentTransactionNestLevel();

	if (pending == NULL || pending->level < level)
	{
		MemoryContext context = AllocSetContextCreate(TopTransactionContext,
													  "cachext pending invalidations",
													  ALLOCSET_SMALL_SIZES);
		PendingSet *set = MemoryContextAlloc(context, sizeof(PendingSet));

		set->context = context;
		set->level = level;
		stringset_init(&set->keys, context);
		stringset_init(&set->patterns, context);
		stringset_init(&set->tags, context);
		set->events = NIL;
		set->parent = pending;
		pending = set;
	}
	return pending;
}

/*
 * Expands a key template for a row: {column} becomes the column's text
 * value.  Returns NULL when a named column is NULL (no key can name the
 * row), or, with as_pattern, the glob matching every value: literal parts
 * escaped, each {column} a '*'.
 */
static char *
expand_template(const char *template, Relation rel, HeapTuple tuple,
				bool as_pattern)
{
	StringInfoData key;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	const char *c = template;

	initStringInfo(&key);
	while (*c)
	{
		const char *close;

		if (*c != '{' || (close = strchr(c, '}')) == NULL)
		{
			if (as_pattern && strchr("*?[]\\", *c) != NULL)
				appendStringInfoChar(&key, '\\');
			appendStringInfoChar(&key, *c++);
			continue;
		}
		if (as_pattern)
			appendStringInfoChar(&key, '*');
		else
		{
			char	   *column = pnstrdup(c + 1, close - c - 1);
			int			attnum = SPI_fnumber(tupdesc, column);
			char	   *value;

			if (attnum <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" named in cache key template \"%s\" does not exist in table \"%s\"",
								column, template, RelationGetRelationName(rel)),
						 errhint("Watch the table again with cache_watch_table() after changing its columns.")));
			value = SPI_getvalue(tuple, tupdesc, attnum);
			if (value == NULL)
				return NULL;
			appendStringInfoString(&key, value);
		}
		c = close + 1;
	}
	return key.data;
}

/* Records the keys the templates give for one row version. */
static void
record_row(PendingSet *set, PendingEvent *event, TriggerData *trigger,
		   HeapTuple tuple)
{
	Trigger    *tg = trigger->tg_trigger;

	for (int i = 1; i < tg->tgnargs; i++)
	{
		char	   *key = expand_template(tg->tgargs[i], trigger->tg_relation,
										  tuple, false);

		if (key == NULL)
			continue;
		if (strncmp(key, TAG_TEMPLATE_PREFIX, TAG_TEMPLATE_PREFIX_LEN) == 0)
		{
			char	   *tag = key + TAG_TEMPLATE_PREFIX_LEN;

			if (strlen(tag) == 0 || strlen(tag) > (size_t) cachext_max_key_length)
				continue;		/* no tag can be empty or that long */
			record_tag(set, tag);
		}
		else if (strlen(key) == 0 || strlen(key) > (size_t) cachext_max_key_length)
			continue;			/* no cache key can be empty or that long */
		else
			stringset_add(&set->keys, key);
		stringset_add(&event->keys, key);
	}
}

/*
 * cache_invalidation_trigger(entity, template, ...): the trigger function
 * cache_watch_table() attaches, AFTER ... FOR EACH ROW and AFTER TRUNCATE.
 */
PG_FUNCTION_INFO_V1(cache_invalidation_trigger);
Datum
cache_invalidation_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	Relation	rel;
	char	   *table;
	const char *operation;
	PendingSet *set;
	PendingEvent *event;
	char		name[NAMEDATALEN * 2];
	bool		truncate;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cache_invalidation_trigger() must be called as a trigger")));
	tg = trigger->tg_trigger;
	rel = trigger->tg_relation;
	truncate = TRIGGER_FIRED_BY_TRUNCATE(trigger->tg_event);
	if (!TRIGGER_FIRED_AFTER(trigger->tg_event) ||
		(!truncate && !TRIGGER_FIRED_FOR_ROW(trigger->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cache_invalidation_trigger() must fire AFTER each row, or AFTER TRUNCATE"),
				 errhint("Use cache_watch_table() to attach it.")));
	if (tg->tgnargs < 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cache_invalidation_trigger() needs an entity and at least one key template as arguments"),
				 errhint("Use cache_watch_table() to attach it.")));

	if (truncate)
		operation = "TRUNCATED";
	else if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event))
		operation = "CREATED";
	else if (TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
		operation = "DELETED";
	else
		operation = "UPDATED";
	snprintf(name, sizeof(name), "%s_%s", tg->tgargs[0], operation);
	table = psprintf("%s.%s",
					 get_namespace_name(RelationGetNamespace(rel)),
					 RelationGetRelationName(rel));

	set = current_set();
	event = pending_event(set, name, table, truncate);
	if (truncate)
	{
		for (int i = 1; i < tg->tgnargs; i++)
		{
			const char *template = tg->tgargs[i];

			if (strncmp(template, TAG_TEMPLATE_PREFIX, TAG_TEMPLATE_PREFIX_LEN) == 0)
			{
				const char *tag = template + TAG_TEMPLATE_PREFIX_LEN;

				if (tag[0] == '\0')
					continue;	/* no tag can be empty */
				if (strchr(tag, '{') == NULL)
					record_tag(set, tag);
				else
					stringset_add(&set->patterns, "*");
				stringset_add(&event->keys, template);
				continue;
			}
			template = expand_template(template, rel, NULL, true);
			stringset_add(&set->patterns, template);
			stringset_add(&event->keys, template);
		}
	}
	else
	{
		/*
		 * tg_trigtuple is the new row of an INSERT and the old row of an
		 * UPDATE or DELETE; an UPDATE also names the new row's keys, which
		 * differ where key columns changed (the sets deduplicate the rest).
		 */
		record_row(set, event, trigger, trigger->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
			record_row(set, event, trigger, trigger->tg_newtuple);
	}
	return PointerGetDatum(NULL);
}
