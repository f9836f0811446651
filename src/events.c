/*-------------------------------------------------------------------------
 * events.c
 *	  Cache events: JSON payloads sent with NOTIFY on cachext.notify_channel.
 *
 * Events follow NOTIFY's rules: they are queued in the current transaction
 * and delivered when it commits, or dropped if it aborts.  A payload that
 * would reach NOTIFY's size limit is summarised (the key replaced by its
 * MD5 and length) rather than failing the caller's statement.  During
 * recovery (a hot standby) NOTIFY is impossible, so no event is sent.
 * A change event naming many keys is split into several payloads.
 *
 * cachext.events chooses who sends them.  on: the writing transaction,
 * with Async_Notify; but every transaction that NOTIFYs takes a
 * database-wide lock from pre-commit to the end of its commit, so writers
 * of watched tables then commit one at a time.  async: the same payloads,
 * on the same channel, delivered only after the commit (never after an
 * abort), in commit order per backend, by a per-database background worker
 * that NOTIFYs them in batches; the writer only copies them into shared
 * memory (event_queue.c, event_worker.c).  off: none at all.  The setting
 * is read at each event.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "compat.h"
#include "event_queue.h"
#include "events.h"
#include "guc.h"

/* NOTIFY refuses payloads of this many bytes or more (see async.c). */
#define NOTIFY_PAYLOAD_LIMIT (BLCKSZ - NAMEDATALEN - 128)

/*
 * Sends payload on the configured channel as cachext.events says: with
 * NOTIFY now, through the worker's queue, or not at all (also on a
 * standby).
 */
static void
send_event(StringInfo payload)
{
	if (cachext_events == CACHEXT_EVENTS_OFF || RecoveryInProgress())
		return;
	if (cachext_events == CACHEXT_EVENTS_ASYNC)
		event_queue_add(cachext_notify_channel, payload->data);
	else
		Async_Notify(cachext_notify_channel, payload->data);
}

/*
 * Sends {"event": "CACHE_INVALIDATED", "<field>": "<value>"}, or, when that
 * would be too long, {"event": ..., "<field>_md5": "...", "<field>_length": n}.
 */
static void
notify_invalidated(const char *field, const char *value, int value_len)
{
	/* one buffer for every event: a bulk commit sends one per key */
	static StringInfoData payload;
	char	   *text = pnstrdup(value, value_len);

	if (payload.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&payload);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&payload);
	appendStringInfo(&payload, "{\"event\": \"CACHE_INVALIDATED\", \"%s\": ",
					 field);
	escape_json(&payload, text);
	appendStringInfoChar(&payload, '}');

	if (payload.len >= NOTIFY_PAYLOAD_LIMIT)
	{
		char		md5[CACHEXT_MD5_HEX_SIZE];

		if (!cachext_md5_hex(value, value_len, md5))
			elog(ERROR, "could not compute MD5 of a cache key");
		resetStringInfo(&payload);
		appendStringInfo(&payload,
						 "{\"event\": \"CACHE_INVALIDATED\", \"%s_md5\": \"%s\", \"%s_length\": %d}",
						 field, md5, field, value_len);
	}
	send_event(&payload);
	pfree(text);
	/* a long key's payload does not keep its memory */
	if (payload.maxlen > NOTIFY_PAYLOAD_LIMIT)
	{
		pfree(payload.data);
		payload.data = NULL;
	}
}

void
events_notify_key(const char *key, int key_len)
{
	notify_invalidated("key", key, key_len);
}

void
events_notify_pattern(const char *pattern, int pattern_len)
{
	notify_invalidated("pattern", pattern, pattern_len);
}

void
events_notify_tag(const char *tag, int tag_len)
{
	notify_invalidated("tag", tag, tag_len);
}

void
events_notify_clear(void)
{
	StringInfoData payload;

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"event\": \"CACHE_CLEARED\"}");
	send_event(&payload);
	pfree(payload.data);
}

/* Starts {"event": name, "table": table, "<list>": [ */
static void
begin_change(StringInfo payload, const char *name, const char *table,
			 const char *list)
{
	resetStringInfo(payload);
	appendStringInfoString(payload, "{\"event\": ");
	escape_json(payload, name);
	appendStringInfoString(payload, ", \"table\": ");
	escape_json(payload, table);
	appendStringInfo(payload, ", \"%s\": [", list);
}

/*
 * What a change event's payload keeps free besides an item: ", " before
 * it, and the closing "], \"omitted\": N}" (MAXINT8LEN holds any N).
 */
#define CHANGE_OMITTED_FIELD ", \"omitted\": "
#define CHANGE_CLOSING_ROOM \
	(strlen(", ") + strlen("]" CHANGE_OMITTED_FIELD "}") + MAXINT8LEN)

/*
 * Sends {"event": "USER_UPDATED", "table": "public.users", "keys": [...]}
 * ("patterns" instead of "keys" for TRUNCATE), in as many payloads as the
 * size limit needs.  A key too long to fit any payload is left out of the
 * list and counted in "omitted" of the last payload; its own
 * CACHE_INVALIDATED event still names it (summarised).
 */
void
events_notify_change(const char *name, const char *table, bool patterns,
					 List *keys)
{
	const char *list = patterns ? "patterns" : "keys";
	StringInfoData payload;
	StringInfoData item;
	int			in_payload = 0;
	int			omitted = 0;
	ListCell   *lc;

	initStringInfo(&payload);
	initStringInfo(&item);
	begin_change(&payload, name, table, list);
	foreach(lc, keys)
	{
		resetStringInfo(&item);
		escape_json(&item, lfirst(lc));
		if (payload.len + item.len + CHANGE_CLOSING_ROOM >= NOTIFY_PAYLOAD_LIMIT &&
			in_payload > 0)
		{
			appendStringInfoString(&payload, "]}");
			send_event(&payload);
			begin_change(&payload, name, table, list);
			in_payload = 0;
		}
		if (payload.len + item.len + CHANGE_CLOSING_ROOM >= NOTIFY_PAYLOAD_LIMIT)
		{
			omitted++;
			continue;
		}
		if (in_payload++ > 0)
			appendStringInfoString(&payload, ", ");
		appendBinaryStringInfo(&payload, item.data, item.len);
	}
	appendStringInfoChar(&payload, ']');
	if (omitted > 0)
		appendStringInfo(&payload, CHANGE_OMITTED_FIELD "%d", omitted);
	appendStringInfoChar(&payload, '}');
	send_event(&payload);
	pfree(payload.data);
	pfree(item.data);
}
