/*-------------------------------------------------------------------------
 * invalidation.c
 *	  Cache events: JSON payloads sent with NOTIFY on cachext.notify_channel.
 *
 * Events follow NOTIFY's rules: they are queued in the current transaction
 * and delivered when it commits, or dropped if it aborts.  A payload that
 * would reach NOTIFY's size limit is summarised (the key replaced by its
 * MD5 and length) rather than failing the caller's statement.  During
 * recovery (a hot standby) NOTIFY is impossible, so no event is sent.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/json.h"

#include "cachext.h"
#include "compat.h"
#include "invalidation.h"

/* NOTIFY refuses payloads of this many bytes or more (see async.c). */
#define NOTIFY_PAYLOAD_LIMIT (BLCKSZ - NAMEDATALEN - 128)

/* Sends payload on the configured channel, unless this is a standby. */
static void
send_event(StringInfo payload)
{
	if (RecoveryInProgress())
		return;
	Async_Notify(cachext_notify_channel, payload->data);
}

/*
 * Sends {"event": "CACHE_INVALIDATED", "<field>": "<value>"}, or, when that
 * would be too long, {"event": ..., "<field>_md5": "...", "<field>_length": n}.
 */
static void
notify_invalidated(const char *field, const char *value, int value_len)
{
	StringInfoData payload;
	char	   *text = pnstrdup(value, value_len);

	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"event\": \"CACHE_INVALIDATED\", \"%s\": ",
					 field);
	escape_json(&payload, text);
	appendStringInfoChar(&payload, '}');

	if (payload.len >= NOTIFY_PAYLOAD_LIMIT)
	{
		char		md5[33];

		if (!cachext_md5_hex(value, value_len, md5))
			elog(ERROR, "could not compute MD5 of a cache key");
		resetStringInfo(&payload);
		appendStringInfo(&payload,
						 "{\"event\": \"CACHE_INVALIDATED\", \"%s_md5\": \"%s\", \"%s_length\": %d}",
						 field, md5, field, value_len);
	}
	send_event(&payload);
	pfree(payload.data);
	pfree(text);
}

void
invalidation_notify_key(const char *key, int key_len)
{
	notify_invalidated("key", key, key_len);
}

void
invalidation_notify_pattern(const char *pattern, int pattern_len)
{
	notify_invalidated("pattern", pattern, pattern_len);
}

void
invalidation_notify_clear(void)
{
	StringInfoData payload;

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"event\": \"CACHE_CLEARED\"}");
	send_event(&payload);
	pfree(payload.data);
}
