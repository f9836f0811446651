/*-------------------------------------------------------------------------
 * triggers.c
 *	  The invalidation handler: row triggers turn changed rows into cache
 *	  keys, collected per transaction and invalidated when it commits.
 *
 * cache_invalidation_trigger() runs AFTER each row change (and after
 * TRUNCATE) of a watched table.  Its arguments are the entity (USER, ITEM,
 * ...) and key templates such as 'user:{id}', where {column} stands for that
 * column's value in the row, written as in every session (key_text.c).
 * It invalidates nothing itself: it records the keys (patterns for
 * TRUNCATE) and the entity's event in the current (sub)transaction's
 * pending set.
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
 * stores what they name), then written to the WAL, for hot standbys to
 * replay before the commit record (wal_invalidation.c; a test build may
 * pause after that: test_pause.c), then the events are queued (with
 * NOTIFY, or for the event worker: see events.c), so they follow NOTIFY's
 * rules.  The fence removed every pending key (once however many rows
 * named it), pattern and tag from both layers before the commit record;
 * once the commit is visible the fence is lifted, with no second removal:
 * no load stored them meanwhile (the fences refuse it, and a lease read
 * before or during the fence never stores; see fence.c).  An aborted
 * transaction lifts its fence and invalidates nothing more.  PREPARE TRANSACTION with
 * pending invalidations is refused: they could not follow COMMIT PREPARED.
 * Without shared_preload_libraries no transaction-end step runs at all,
 * so the trigger refuses every write (cachext_require_preloaded) rather
 * than record keys nothing would invalidate or free.
 *
 * Partitions and inheritance children of a watched table get its triggers
 * from the SQL functions (cache_watch_descendants); the event trigger that
 * follows new ones asks cache_ddl_adds_descendant, below, which DDL can
 * have made one.
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
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "cachext.h"
#include "events.h"
#include "fence.h"
#include "key_text.h"
#include "l2.h"
#include "table_stats.h"
#include "test_pause.h"
#include "triggers.h"
#include "wal_invalidation.h"

/*
 * A set of strings that remembers insertion order: a simplehash of the
 * strings (open addressing, each entry with its hash, so a bulk UPDATE's
 * 100 000 keys cost one hash and about one probe each) and a list.
 */
typedef struct StringSetEntry
{
	const char *string;			/* the key; a copy in the set's context */
	uint32		hash;
	char		status;			/* simplehash's */
} StringSetEntry;

#define SH_PREFIX		strings
#define SH_ELEMENT_TYPE	StringSetEntry
#define SH_KEY_TYPE		const char *
#define SH_KEY			string
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct StringSet
{
	MemoryContext context;		/* of the strings, the index and the list */
	strings_hash *index;
	List	   *order;			/* the strings, first added first */
} StringSet;

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

static void
stringset_init(StringSet *set, MemoryContext context)
{
	set->context = context;
	set->index = strings_create(context, 64, NULL);
	set->order = NIL;
}

/*
 * Adds a copy of s unless present (the copy lives in the set's context);
 * true if it was new.
 */
static bool
stringset_add(StringSet *set, const char *s)
{
	bool		found;
	StringSetEntry *entry = strings_insert(set->index, s, &found);

	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(set->context);

		entry->string = pstrdup(s);
		set->order = lappend(set->order, (char *) entry->string);
		MemoryContextSwitchTo(old);
	}
	return !found;
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
	/* after the fence: a standby replaying it finds Redis' copies gone */
	wal_invalidation_log(pending->keys.order, pending->patterns.order,
						 pending->tags.order);
	test_pause_after_fence();
	send_pending_events(pending);
}

/* Commit: the commit is visible; invalidates and lifts the fence. */
void
triggers_commit(void)
{
	fence_lift(true);
	table_stats_commit();
	pending = NULL;
}

/* Abort: lifts any fence; nothing was invalidated. */
void
triggers_abort(void)
{
	fence_lift(false);
	table_stats_abort();
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

/*
 * Records a tag of a tag: template, if this Redis supports tags; true if
 * it was new to the set.
 */
static bool
record_tag(PendingSet *set, const char *tag)
{
	l2_require_tags_supported();
	return stringset_add(&set->tags, tag);
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

/* One part of a key template: literal text, or a {column}. */
typedef struct TemplatePart
{
	char	   *literal;		/* NULL for a column */
	AttrNumber	attnum;			/* the column's, resolved once */
	KeyTextOutput output;		/* how its type's values are written */
} TemplatePart;

/* A key template, split into its parts. */
typedef struct ParsedTemplate
{
	int			nparts;
	TemplatePart *parts;
	bool		needs_fixed_settings;	/* a part's text depends on settings */
} ParsedTemplate;

/*
 * What a trigger's rows have in common, parsed at its first row and kept
 * in fn_extra for the rest of the statement: the templates, the table's
 * name, and a buffer for keys (stringset_add copies them).
 */
typedef struct TriggerCache
{
	Oid			tgoid;			/* the trigger this was made for */
	char	   *table;			/* schema.table */
	int			ntemplates;		/* tgargs[1 ..] */
	ParsedTemplate *templates;
	bool		needs_fixed_settings;	/* a template's does */
	StringInfoData key;
	int			stats_slot;		/* the table's in table_stats.c */
} TriggerCache;

/*
 * Splits a key template into literal parts and {column} parts, resolving
 * each column of rel (and its output function) unless rel is NULL.
 */
static void
parse_template(const char *template, Relation rel, ParsedTemplate *parsed)
{
	const char *c = template;
	StringInfoData literal;

	parsed->nparts = 0;
	parsed->needs_fixed_settings = false;
	parsed->parts = palloc((strlen(template) + 1) * sizeof(TemplatePart));
	initStringInfo(&literal);
	while (true)
	{
		const char *close = NULL;
		TemplatePart *part;

		if (*c != '\0' && (*c != '{' || (close = strchr(c, '}')) == NULL))
		{
			appendStringInfoChar(&literal, *c++);
			continue;
		}
		if (literal.len > 0)
		{
			part = &parsed->parts[parsed->nparts++];
			part->literal = pstrdup(literal.data);
			resetStringInfo(&literal);
		}
		if (*c == '\0')
			break;
		part = &parsed->parts[parsed->nparts++];
		part->literal = NULL;
		part->attnum = InvalidAttrNumber;
		if (rel != NULL)
		{
			char	   *column = pnstrdup(c + 1, close - c - 1);
			TupleDesc	tupdesc = RelationGetDescr(rel);

			part->attnum = SPI_fnumber(tupdesc, column);
			if (part->attnum <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" named in cache key template \"%s\" does not exist in table \"%s\"",
								column, template, RelationGetRelationName(rel)),
						 errhint("Watch the table again with cache_watch_table() after changing its columns.")));
			key_text_output_init(&part->output,
								 TupleDescAttr(tupdesc, part->attnum - 1)->atttypid);
			parsed->needs_fixed_settings |= part->output.needs_fixed_settings;
		}
		c = close + 1;
	}
}

/*
 * The key a parsed template gives for a row, {column} replaced by the
 * column's text, in buf (valid until the next call), or NULL when a named
 * column is NULL: no key can name the row.  The caller has fixed the
 * settings if the template needs it (key_text.c).
 */
static char *
row_key(const ParsedTemplate *parsed, TupleDesc tupdesc, HeapTuple tuple,
		StringInfo buf)
{
	resetStringInfo(buf);
	for (int i = 0; i < parsed->nparts; i++)
	{
		const TemplatePart *part = &parsed->parts[i];
		Datum		value;
		bool		isnull;
		char	   *text;

		if (part->literal != NULL)
		{
			appendStringInfoString(buf, part->literal);
			continue;
		}
		value = heap_getattr(tuple, part->attnum, tupdesc, &isnull);
		if (isnull)
			return NULL;
		text = OutputFunctionCall((FmgrInfo *) &part->output.output, value);
		appendStringInfoString(buf, text);
		pfree(text);
	}
	return buf->data;
}

/*
 * The glob a parsed template gives for every row (TRUNCATE): literal parts
 * escaped, each {column} a '*'.
 */
static char *
template_pattern(const ParsedTemplate *parsed)
{
	StringInfoData pattern;

	initStringInfo(&pattern);
	for (int i = 0; i < parsed->nparts; i++)
	{
		const char *literal = parsed->parts[i].literal;

		if (literal == NULL)
			appendStringInfoChar(&pattern, '*');
		for (; literal != NULL && *literal; literal++)
		{
			if (strchr("*?[]\\", *literal) != NULL)
				appendStringInfoChar(&pattern, '\\');
			appendStringInfoChar(&pattern, *literal);
		}
	}
	return pattern.data;
}

/*
 * The trigger's cache (see TriggerCache), made at its first row in the
 * statement's memory (fn_mcxt), where the trigger's FmgrInfo lives.
 */
static TriggerCache *
trigger_cache(FunctionCallInfo fcinfo, TriggerData *trigger)
{
	TriggerCache *cache = fcinfo->flinfo->fn_extra;
	Trigger    *tg = trigger->tg_trigger;
	Relation	rel = trigger->tg_relation;
	MemoryContext old;

	if (cache != NULL && cache->tgoid == tg->tgoid)
		return cache;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cache = palloc(sizeof(TriggerCache));
	cache->tgoid = tg->tgoid;
	cache->table = psprintf("%s.%s",
							get_namespace_name(RelationGetNamespace(rel)),
							RelationGetRelationName(rel));
	cache->ntemplates = tg->tgnargs - 1;
	cache->templates = palloc(Max(cache->ntemplates, 1) *
							  sizeof(ParsedTemplate));
	/* TRUNCATE names no row: its templates become patterns, columns unresolved */
	cache->needs_fixed_settings = false;
	for (int i = 0; i < cache->ntemplates; i++)
	{
		parse_template(tg->tgargs[i + 1],
					   TRIGGER_FIRED_BY_TRUNCATE(trigger->tg_event) ? NULL : rel,
					   &cache->templates[i]);
		cache->needs_fixed_settings |= cache->templates[i].needs_fixed_settings;
	}
	initStringInfo(&cache->key);
	cache->stats_slot = table_stats_slot(RelationGetRelid(rel), cache->table);
	fcinfo->flinfo->fn_extra = cache;
	MemoryContextSwitchTo(old);
	return cache;
}

/*
 * Records the keys the templates give for one row version; returns how
 * many keys and tags were new to the set.
 */
static int
record_row(PendingSet *set, PendingEvent *event, TriggerCache *cache,
		   TupleDesc tupdesc, HeapTuple tuple)
{
	int			added = 0;

	for (int i = 0; i < cache->ntemplates; i++)
	{
		char	   *key = row_key(&cache->templates[i], tupdesc, tuple,
								  &cache->key);
		size_t		key_len;

		if (key == NULL)
			continue;
		key_len = cache->key.len;
		if (strncmp(key, TAG_TEMPLATE_PREFIX, TAG_TEMPLATE_PREFIX_LEN) == 0)
		{
			size_t		tag_len = key_len - TAG_TEMPLATE_PREFIX_LEN;

			if (tag_len == 0 || tag_len > (size_t) cachext_max_key_length)
				continue;		/* no tag can be empty or that long */
			added += record_tag(set, key + TAG_TEMPLATE_PREFIX_LEN);
		}
		else if (key_len == 0 || key_len > (size_t) cachext_max_key_length)
			continue;			/* no cache key can be empty or that long */
		else
			added += stringset_add(&set->keys, key);
		stringset_add(&event->keys, key);
	}
	return added;
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
	TriggerCache *cache;
	const char *operation;
	PendingSet *set;
	PendingEvent *event;
	char		name[NAMEDATALEN * 2];
	bool		truncate;
	int			added = 0;		/* keys, patterns and tags new to the set */

	cachext_require_preloaded();
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
	cache = trigger_cache(fcinfo, trigger);

	set = current_set();
	event = pending_event(set, name, cache->table, truncate);
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
					added += record_tag(set, tag);
				else
					added += stringset_add(&set->patterns, "*");
				stringset_add(&event->keys, template);
				continue;
			}
			template = template_pattern(&cache->templates[i - 1]);
			added += stringset_add(&set->patterns, template);
			stringset_add(&event->keys, template);
		}
	}
	else
	{
		/*
		 * tg_trigtuple is the new row of an INSERT and the old row of an
		 * UPDATE or DELETE; an UPDATE also names the new row's keys, which
		 * differ where key columns changed (the sets deduplicate the rest).
		 * Values are written as in every other session (key_text.c).
		 */
		int			settings_level = cache->needs_fixed_settings ?
			key_text_fix_settings() : 0;

		added += record_row(set, event, cache, RelationGetDescr(rel),
							trigger->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
			added += record_row(set, event, cache, RelationGetDescr(rel),
								trigger->tg_newtuple);
		key_text_restore_settings(settings_level);
	}
	table_stats_count(cache->stats_slot, truncate ? 0 : 1, added);
	return PointerGetDatum(NULL);
}

/*
 * cache_ddl_adds_descendant(pg_ddl_command) returns boolean: whether a
 * command the event trigger cachext_watch_descendants collected can give a
 * table a new partition or inheritance child (CREATE TABLE ... PARTITION
 * OF or INHERITS, ALTER TABLE ... ATTACH PARTITION or INHERIT), so that
 * only those reach cache_watch_descendants: not the ALTER TABLE ... ENABLE
 * TRIGGER that a restored dump runs for a fire_on_replica table before
 * the descendants' own triggers are restored.
 */
PG_FUNCTION_INFO_V1(cache_ddl_adds_descendant);
Datum
cache_ddl_adds_descendant(PG_FUNCTION_ARGS)
{
	CollectedCommand *command = (CollectedCommand *) PG_GETARG_POINTER(0);
	ListCell   *lc;

	if (command->type == SCT_Simple && IsA(command->parsetree, CreateStmt))
		PG_RETURN_BOOL(((CreateStmt *) command->parsetree)->inhRelations != NIL);
	if (command->type != SCT_AlterTable)
		PG_RETURN_BOOL(false);
	foreach(lc, command->d.alterTable.subcmds)
	{
		CollectedATSubcmd *subcommand = lfirst(lc);
		AlterTableType subtype = castNode(AlterTableCmd, subcommand->parsetree)->subtype;

		if (subtype == AT_AttachPartition || subtype == AT_AddInherit)
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}
