/*-------------------------------------------------------------------------
 * wal_invalidation.c
 *	  A watched write's invalidations in the WAL: a custom WAL resource
 *	  manager whose records a hot standby's startup process replays into
 *	  its L1, in WAL order, before the commit record that makes the rows
 *	  visible there.
 *
 * Why.  A standby's L1 otherwise learns of the primary's writes only from
 * Redis' tracking stream (sync_worker.c), and WAL replay can overtake that
 * stream: the standby's table shows the new row while its L1 still serves
 * the old value.  With the invalidations in the WAL, a standby whose table
 * shows a commit has already removed that commit's keys from its L1.
 *
 * Writing.  wal_invalidation_log() runs at pre-commit (triggers.c, right
 * after the fence is placed, so after Redis has unlinked the keys) and
 * inserts one or more records holding the namespace, the transaction's
 * patterns, tags and keys.  A watched write always has an XID, so the
 * records carry it and precede its commit record; they are not flushed by
 * themselves, the commit flushes them.  Records are cut at
 * RECORD_BYTES_TARGET (counting the full keys replay builds) so that
 * neither side ever handles a huge one.
 * Nothing is written below wal_level = replica: no standby can exist.
 *
 * Replay (the startup process, in WAL order).  The keys are removed from
 * L1 with l1_remove_multi, which moves each key's lease, so a promotion
 * from Redis begun before the replay stores nothing; one begun after it
 * reads Redis after the primary's UNLINK (the record was written after
 * it).  Patterns are removed with l1_remove_matching (which moves every
 * partition's epoch).  A tag removes every key of the namespace: a
 * standby's L1 holds promoted copies without their tags, and the tag's
 * members are known only to Redis, which replay never asks.  Replay never
 * raises an ERROR (a failed redo stops the standby) and never waits for
 * anything but L1's partition locks: a record it cannot read, or an error
 * while applying one, empties L1 instead, the safe superset, with a
 * WARNING.  A standby's loads are never stored (loader.c), so the leases
 * only have promotions to stop.
 *
 * Redis behind.  A promotion begun after the replay is safe only if Redis
 * took the primary's pre-commit.  When it did not (the breaker was open, a
 * timeout), the invalidations wait in the primary's queue (l2_queue.c), and
 * Redis may still hold the old values.  The primary then marks the record
 * (its queue was busy after the fence), and the standby's replay queues the
 * record's keys, patterns and tags in its own queue before removing them
 * from L1: the standby reads no Redis until a backend or its sync worker
 * has replayed them into Redis (l2_queue_add takes only the queue's lock).
 *
 * The resource manager's ID is RM_EXPERIMENTAL_ID (128); every server
 * replaying WAL written with cachext must preload cachext, or its recovery
 * stops at the first record ("resource manager with ID 128 not
 * registered").  pg_waldump, which cannot load extensions, shows the
 * records as custom128.
 *
 * Memory.  Records are built in the caller's memory context (pre-commit's);
 * replay works in a context of its own, a child of TopMemoryContext created
 * at the first record and reset after each.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "cachext.h"
#include "keys.h"
#include "l1.h"
#include "l2.h"
#include "l2_queue.h"
#include "ttl_clock.h"
#include "wal_invalidation.h"

/*
 * The resource manager's ID: the one PostgreSQL sets aside for extensions
 * that have not reserved one of their own (access/rmgr.h).
 */
#define WAL_INVALIDATION_RMGR_ID	RM_EXPERIMENTAL_ID

/* The only record type: invalidate what the record names. */
#define XLOG_CACHEXT_INVALIDATE		0x00

/*
 * A record is cut once its data, with the namespace replay puts before each
 * key, reaches this many bytes.
 */
#define RECORD_BYTES_TARGET			(256 * 1024)

/* The pattern that matches every key of a namespace. */
#define EVERY_KEY_PATTERN			"*"

/*
 * A record's flag: when the primary wrote it, its invalidation queue was
 * not empty, so Redis may not have taken the record's invalidations yet.
 */
#define RECORD_REDIS_BEHIND			0x01

/*
 * A record's fixed part.  Then come the namespace's bytes and, each as a
 * uint32 length followed by that many bytes, the patterns, the tags and
 * the keys (user keys, without the namespace).  Nothing in it is aligned:
 * it is read with memcpy.
 */
typedef struct WalInvalidationHeader
{
	uint32		flags;			/* RECORD_REDIS_BEHIND or 0 */
	uint32		npatterns;
	uint32		ntags;
	uint32		nkeys;
	uint32		namespace_len;
} WalInvalidationHeader;

/* A record checked by parse_record. */
typedef struct ParsedRecord
{
	WalInvalidationHeader header;
	const char *namespace;
	const char *strings;		/* the first pattern, tag or key */
	const char *end;			/* the end of the record's data */
} ParsedRecord;

static MemoryContext redo_context = NULL;

/* Appends one length-prefixed string. */
static void
append_string(StringInfo buf, const char *string, uint32 len)
{
	appendBinaryStringInfo(buf, (const char *) &len, sizeof(len));
	appendBinaryStringInfo(buf, string, len);
}

/* Starts a record in buf: room for the header, then the namespace. */
static void
start_record(StringInfo buf, WalInvalidationHeader *header, uint32 flags)
{
	memset(header, 0, sizeof(*header));
	header->flags = flags;
	header->namespace_len = strlen(cachext_namespace);
	resetStringInfo(buf);
	appendBinaryStringInfo(buf, (const char *) header, sizeof(*header));
	appendBinaryStringInfo(buf, cachext_namespace, header->namespace_len);
}

/* Inserts the record built in buf, with its counts in header. */
static void
insert_record(StringInfo buf, const WalInvalidationHeader *header)
{
	memcpy(buf->data, header, sizeof(*header));
	XLogBeginInsert();
	XLogRegisterData(buf->data, buf->len);
	(void) XLogInsert(WAL_INVALIDATION_RMGR_ID, XLOG_CACHEXT_INVALIDATE);
}

/*
 * At pre-commit, after the fence: writes the transaction's keys, patterns
 * and tags (char *, as recorded) to the WAL, for standbys to replay before
 * its commit record.  May raise an ERROR (memory), which aborts the
 * transaction as any pre-commit failure does.
 */
void
wal_invalidation_log(List *keys, List *patterns, List *tags)
{
	StringInfoData buf;
	WalInvalidationHeader header;
	uint32		flags = 0;
	ListCell   *lc;

	if (!XLogStandbyInfoActive() ||
		(keys == NIL && patterns == NIL && tags == NIL))
		return;
	/* after the fence: busy if Redis did not take it (or older ones) */
	if (l2_is_configured() && l2_queue_busy())
		flags = RECORD_REDIS_BEHIND;
	initStringInfo(&buf);
	start_record(&buf, &header, flags);
	foreach(lc, patterns)
	{
		append_string(&buf, lfirst(lc), strlen(lfirst(lc)));
		header.npatterns++;
	}
	foreach(lc, tags)
	{
		append_string(&buf, lfirst(lc), strlen(lfirst(lc)));
		header.ntags++;
	}
	foreach(lc, keys)
	{
		if (buf.len + (Size) header.nkeys * header.namespace_len >=
			RECORD_BYTES_TARGET)
		{
			insert_record(&buf, &header);
			start_record(&buf, &header, flags);
		}
		append_string(&buf, lfirst(lc), strlen(lfirst(lc)));
		header.nkeys++;
	}
	insert_record(&buf, &header);
	pfree(buf.data);
}

/*
 * Reads the string at *cursor, before end; returns it and its length and
 * moves *cursor past it, or returns NULL if it would run past end.
 */
static const char *
next_string(const char **cursor, const char *end, uint32 *len)
{
	const char *string;

	if (end - *cursor < (ptrdiff_t) sizeof(uint32))
		return NULL;
	memcpy(len, *cursor, sizeof(uint32));
	string = *cursor + sizeof(uint32);
	if ((Size) (end - string) < *len)
		return NULL;
	*cursor = string + *len;
	return string;
}

/*
 * Checks a record's data: its counts, every length, and every pattern;
 * false if anything is off (a record of another cachext version, say).
 */
static bool
parse_record(const char *data, Size len, ParsedRecord *parsed)
{
	const char *end = data + len;
	const char *cursor;
	uint64		nstrings;

	parsed->end = end;
	if (len < sizeof(WalInvalidationHeader))
		return false;
	memcpy(&parsed->header, data, sizeof(WalInvalidationHeader));
	parsed->namespace = data + sizeof(WalInvalidationHeader);
	if ((Size) (end - parsed->namespace) < parsed->header.namespace_len ||
		parsed->header.namespace_len > CACHEXT_NAMESPACE_LENGTH_LIMIT ||
		(parsed->header.flags & ~RECORD_REDIS_BEHIND) != 0)
		return false;
	parsed->strings = parsed->namespace + parsed->header.namespace_len;
	cursor = parsed->strings;
	nstrings = (uint64) parsed->header.npatterns + parsed->header.ntags +
		parsed->header.nkeys;
	for (uint64 i = 0; i < nstrings; i++)
	{
		uint32		string_len;
		const char *string = next_string(&cursor, end, &string_len);

		if (string == NULL ||
			(i < parsed->header.npatterns &&
			 keys_glob_problem(string, string_len) != NULL))
			return false;
	}
	return cursor == end;
}

/*
 * Queues an invalidation of the record's namespace for this instance's
 * Redis when the primary's Redis was behind (see the file header).
 */
static void
queue_if_behind(const ParsedRecord *parsed, L2QueueKind kind,
				const char *item, uint32 item_len)
{
	if ((parsed->header.flags & RECORD_REDIS_BEHIND) != 0 &&
		l2_is_configured())
		l2_queue_add(kind, parsed->namespace, parsed->header.namespace_len,
					 item, item_len);
}

/* Removes from L1 what a parsed record names (see the file header). */
static void
apply_record(const ParsedRecord *parsed)
{
	const WalInvalidationHeader *header = &parsed->header;
	TimestampTz now = ttl_clock_now();
	const char *cursor = parsed->strings;
	char	  **full_keys = palloc(Max(header->nkeys, 1) * sizeof(char *));
	int		   *full_lens = palloc(Max(header->nkeys, 1) * sizeof(int));
	uint32		len;

	/* parse_record checked every length: next_string never fails here */
	for (uint32 i = 0; i < header->npatterns; i++)
	{
		const char *pattern = next_string(&cursor, parsed->end, &len);

		queue_if_behind(parsed, L2_QUEUE_PATTERN, pattern, len);
		(void) l1_remove_matching(parsed->namespace, header->namespace_len,
								  pattern, len, now);
	}
	for (uint32 i = 0; i < header->ntags; i++)
	{
		const char *tag = next_string(&cursor, parsed->end, &len);

		queue_if_behind(parsed, L2_QUEUE_TAG, tag, len);
	}
	if (header->ntags > 0)
		(void) l1_remove_matching(parsed->namespace, header->namespace_len,
								  EVERY_KEY_PATTERN,
								  strlen(EVERY_KEY_PATTERN), now);
	for (uint32 i = 0; i < header->nkeys; i++)
	{
		const char *key = next_string(&cursor, parsed->end, &len);

		queue_if_behind(parsed, L2_QUEUE_KEY, key, len);
		full_lens[i] = header->namespace_len + len;
		full_keys[i] = palloc(full_lens[i]);
		memcpy(full_keys[i], parsed->namespace, header->namespace_len);
		memcpy(full_keys[i] + header->namespace_len, key, len);
	}
	(void) l1_remove_multi(header->nkeys, full_keys, full_lens, now);
}

/*
 * Empties L1, the safe superset of a record replay cannot apply, and says
 * why (a sentence) with a WARNING.
 */
static void
clear_l1(XLogReaderState *record, int sqlerrcode, const char *why)
{
	(void) l1_clear();
	ereport(WARNING,
			(errcode(sqlerrcode),
			 errmsg("cachext emptied L1 at WAL record %X/%X",
					LSN_FORMAT_ARGS(record->ReadRecPtr)),
			 errdetail("%s", why),
			 sqlerrcode == ERRCODE_DATA_CORRUPTED ?
			 errhint("Run the same cachext version on the primary and its standbys.") : 0));
}

/*
 * The resource manager's redo: removes from L1 what the record names.
 * Never raises an ERROR (see the file header).
 */
static void
wal_invalidation_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	MemoryContext old;
	int			holdoff = InterruptHoldoffCount;
	ParsedRecord parsed;

	if (!l1_is_ready())
		return;
	if (redo_context == NULL)
		redo_context = AllocSetContextCreate(TopMemoryContext,
											 "cachext WAL invalidations",
											 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(redo_context);
	PG_TRY();
	{
		if (info != XLOG_CACHEXT_INVALIDATE)
			clear_l1(record, ERRCODE_DATA_CORRUPTED,
					 psprintf("The record's type %u is unknown.", info));
		else if (!parse_record(XLogRecGetData(record),
							   XLogRecGetDataLen(record), &parsed))
			clear_l1(record, ERRCODE_DATA_CORRUPTED,
					 "The record's keys, patterns or tags are malformed.");
		else
			apply_record(&parsed);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(redo_context);
		InterruptHoldoffCount = holdoff;
		error = CopyErrorData();
		FlushErrorState();
		clear_l1(record, ERRCODE_INTERNAL_ERROR,
				 psprintf("Applying the record failed: %s", error->message));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(redo_context);
}

/* What pg_walinspect (and a loaded cachext's tools) show of a record. */
static void
wal_invalidation_desc(StringInfo buf, XLogReaderState *record)
{
	ParsedRecord parsed;

	if (!parse_record(XLogRecGetData(record), XLogRecGetDataLen(record),
					  &parsed))
	{
		appendStringInfoString(buf, "malformed");
		return;
	}
	appendStringInfo(buf, "namespace \"%.*s\"; %u keys, %u patterns, %u tags%s",
					 (int) parsed.header.namespace_len, parsed.namespace,
					 parsed.header.nkeys, parsed.header.npatterns,
					 parsed.header.ntags,
					 (parsed.header.flags & RECORD_REDIS_BEHIND) != 0 ?
					 "; Redis behind" : "");
}

static const char *
wal_invalidation_identify(uint8 info)
{
	if ((info & ~XLR_INFO_MASK) == XLOG_CACHEXT_INVALIDATE)
		return "INVALIDATE";
	return NULL;
}

/*
 * Not const: RegisterCustomRmgr takes a non-const pointer up to 15.  No
 * rm_decode: logical decoding then only notes the record's XID.
 */
static RmgrData wal_invalidation_rmgr = {
	.rm_name = "cachext",
	.rm_redo = wal_invalidation_redo,
	.rm_desc = wal_invalidation_desc,
	.rm_identify = wal_invalidation_identify,
};

/* Called from _PG_init, while shared_preload_libraries is processed. */
void
wal_invalidation_register(void)
{
	RegisterCustomRmgr(WAL_INVALIDATION_RMGR_ID, &wal_invalidation_rmgr);
}
