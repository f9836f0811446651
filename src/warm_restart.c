/*-------------------------------------------------------------------------
 * warm_restart.c
 *	  Warm restarts: L1's hot keys saved in the data directory and reloaded
 *	  at start-up, as pg_prewarm's autoprewarm does for shared buffers.
 *
 * The file.  $PGDATA/cachext_l1.keys holds L1's live entries, hottest first
 * (l1_dump_entries: by hits, then last access), each as its full key with
 * the length of its namespace and its database's encoding, so that a
 * reload builds the Redis key exactly as layers.c does.  A header says
 * which kind of file it is, and a CRC-32C over everything before it ends
 * the file; a file that fails either is ignored with a LOG.  It is always
 * written to a temporary file, fsynced and renamed (durable_rename), so a
 * crash leaves the old file or the new one.  Two writers:
 *
 *	- the worker "cachext l1 dump", every cachext.l1_dump_interval: keys
 *	  only;
 *	- the postmaster, at a clean shutdown (an on_shmem_exit callback
 *	  registered by the postmaster alone, returning at once for any exit
 *	  code but 0, as pg_stat_statements saves its file): with values
 *	  (value, absolute expiry, tags) when Redis is not configured, keys
 *	  only otherwise.  Every backend is gone then and the shutdown
 *	  checkpoint is written; the file records that checkpoint's location
 *	  and the cluster's system identifier.
 *
 * Values, once.  The postmaster loads a file with values in its
 * shared-memory start-up, before the startup process runs, only if all of
 * these hold: cachext.l1_dump_interval is not 0, Redis is not configured
 * (with Redis, other instances may have changed any key meanwhile), the
 * control file still says this cluster was shut down cleanly at the very
 * checkpoint the file records (so no server ran on this data directory
 * since, with or without cachext), and the entry has not expired.  The
 * unlink need not be durable: a file a power loss brings back fails that
 * check once the startup process has marked the cluster in production,
 * and before that nothing can commit.  It
 * unlinks the file at once whether it loaded it or not: a later crash, or
 * a start with other settings, can never load it again.  On a standby, the
 * startup process then replays the WAL from the restart point, the
 * invalidation records (wal_invalidation.c) included, after these entries
 * are in L1; so does any recovery.
 *
 * Keys, from Redis.  With Redis configured, the worker reads the key list
 * when it starts and copies the keys from Redis into L1 through
 * layers_reload(), the path of a read that L1 missed (a lease taken before
 * each batch's MGET, the promotion with the TTL Redis has left): an
 * invalidation that overtakes a batch wins.  It waits first for the sync
 * worker to follow Redis' stream (an open generation, see "Generations" in
 * l1.c): a copy stored in a closed generation would never be served.  It
 * goes hottest first, RELOAD_BATCH keys at a time, a batch's keys of one
 * namespace and one encoding; the worker belongs to no database, so it
 * takes each batch's encoding for its own (SetDatabaseEncoding), which
 * needs no conversion only for UTF8 and SQL_ASCII: keys of other encodings
 * are skipped.  A Redis that cannot answer ends the reload with one LOG
 * line; dumping goes on.
 *
 * Faults.  Nothing here raises an ERROR for a file or Redis fault: a dump
 * that cannot be written is a LOG, and a worker that cannot start
 * (max_worker_processes) is the postmaster's own LOG.
 *
 * No shared memory of its own; the worker's state is its own.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xlogdefs.h"
#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"

#include "guc.h"
#include "l1.h"
#include "l2.h"
#include "layers.h"
#include "ttl_clock.h"
#include "wait_events.h"
#include "warm_restart.h"
#include "workers.h"

/* The file, relative to the data directory, and its temporary name. */
#define DUMP_FILE		"cachext_l1.keys"
#define DUMP_FILE_TMP	DUMP_FILE ".tmp"

#define DUMP_MAGIC		0x4c31584b	/* "KX1L" */
#define DUMP_VERSION	1

/* header flags */
#define DUMP_WITH_VALUES	0x0001	/* written at a clean shutdown, with
									 * values */

/* Keys per MGET of a reload from Redis. */
#define RELOAD_BATCH	100

/*
 * How long the reload waits for the sync worker to follow Redis' stream,
 * and how often it looks.
 */
#define RELOAD_WAIT_MS	30000
#define RELOAD_POLL_MS	100

/* Seconds before the postmaster starts a failed worker again. */
#define RESTART_INTERVAL_S	10

typedef struct DumpHeader
{
	uint32		magic;
	uint32		version;
	uint32		flags;
	uint32		nentries;
	/* with values: the cluster and its shutdown checkpoint */
	uint64		system_identifier;
	XLogRecPtr	checkpoint;
} DumpHeader;

/* An entry's fixed part; then the value and tags (with values), the key. */
typedef struct DumpEntryHeader
{
	uint32		key_len;
	uint32		namespace_len;
	int32		encoding;
	uint32		value_len;		/* 0 without values */
	uint32		tags_len;
	TimestampTz expires_at;
	TimestampTz keep_until;
} DumpEntryHeader;

/* A file being written: the stream and the CRC so far. */
typedef struct DumpWriter
{
	FILE	   *file;
	pg_crc32c	crc;
	bool		failed;
} DumpWriter;

static void
write_bytes(DumpWriter *w, const void *data, size_t len)
{
	if (w->failed || len == 0)
		return;
	COMP_CRC32C(w->crc, data, len);
	if (fwrite(data, 1, len, w->file) != len)
		w->failed = true;
}

/*
 * Writes n entries (with their values if with_values) to the file through
 * its temporary name; false, with a LOG, if that failed.
 */
static bool
write_dump(const L1DumpEntry *entries, int n, bool with_values,
		   const ControlFileData *control)
{
	DumpWriter	w = {0};
	DumpHeader	header = {0};

	w.file = AllocateFile(DUMP_FILE_TMP, PG_BINARY_W);
	if (w.file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", DUMP_FILE_TMP)));
		return false;
	}
	INIT_CRC32C(w.crc);
	header.magic = DUMP_MAGIC;
	header.version = DUMP_VERSION;
	header.flags = with_values ? DUMP_WITH_VALUES : 0;
	header.nentries = n;
	if (control != NULL)
	{
		header.system_identifier = control->system_identifier;
		header.checkpoint = control->checkPoint;
	}
	write_bytes(&w, &header, sizeof(header));
	for (int i = 0; i < n; i++)
	{
		const L1DumpEntry *e = &entries[i];
		DumpEntryHeader eh = {0};

		eh.key_len = e->key_len;
		eh.namespace_len = e->namespace_len;
		eh.encoding = e->encoding;
		if (with_values)
		{
			eh.value_len = VARSIZE(e->value);
			eh.tags_len = e->tags_len;
			eh.expires_at = e->expires_at;
			eh.keep_until = e->keep_until;
		}
		write_bytes(&w, &eh, sizeof(eh));
		if (with_values)
		{
			write_bytes(&w, e->value, eh.value_len);
			write_bytes(&w, e->tags, eh.tags_len);
		}
		write_bytes(&w, e->key, eh.key_len);
	}
	FIN_CRC32C(w.crc);
	if (!w.failed && fwrite(&w.crc, sizeof(w.crc), 1, w.file) != 1)
		w.failed = true;
	if (FreeFile(w.file) != 0)
		w.failed = true;
	if (w.failed)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", DUMP_FILE_TMP)));
		(void) unlink(DUMP_FILE_TMP);
		return false;
	}
	return durable_rename(DUMP_FILE_TMP, DUMP_FILE, LOG) == 0;
}

/*
 * Reads the file: its header and a palloc'd array of its entries (keys and
 * values pointing into one buffer).  False if there is none; false with a
 * LOG if it cannot be read or fails its checks.
 */
static bool
read_dump(DumpHeader *header, L1DumpEntry **entries)
{
	FILE	   *file;
	struct stat st;
	char	   *buf;
	char	   *p;
	char	   *end;
	pg_crc32c	crc;
	const char *problem = NULL;

	file = AllocateFile(DUMP_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", DUMP_FILE)));
		return false;
	}
	if (fstat(fileno(file), &st) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", DUMP_FILE)));
		FreeFile(file);
		return false;
	}
	buf = palloc_extended(Max(st.st_size, 1), MCXT_ALLOC_HUGE);
	if (fread(buf, 1, st.st_size, file) != (size_t) st.st_size)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", DUMP_FILE)));
		FreeFile(file);
		return false;
	}
	FreeFile(file);

	if (st.st_size < (off_t) (sizeof(DumpHeader) + sizeof(pg_crc32c)))
		problem = "it is too short";
	else
	{
		end = buf + st.st_size - sizeof(pg_crc32c);
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, buf, end - buf);
		FIN_CRC32C(crc);
		memcpy(header, buf, sizeof(DumpHeader));
		if (!EQ_CRC32C(crc, *(pg_crc32c *) end))
			problem = "its checksum does not match";
		else if (header->magic != DUMP_MAGIC ||
				 header->version != DUMP_VERSION)
			problem = "it is not of this version of cachext";
	}
	*entries = NULL;
	if (problem == NULL)
	{
		*entries = palloc_extended(Max(header->nentries, 1) *
								   sizeof(L1DumpEntry), MCXT_ALLOC_HUGE);
		p = buf + sizeof(DumpHeader);
		for (uint32 i = 0; i < header->nentries && problem == NULL; i++)
		{
			DumpEntryHeader eh;
			L1DumpEntry *e = &(*entries)[i];

			if (end - p < (ptrdiff_t) sizeof(eh))
			{
				problem = "it is truncated";
				break;
			}
			memcpy(&eh, p, sizeof(eh));
			p += sizeof(eh);
			if ((uint64) (end - p) < (uint64) eh.value_len + eh.tags_len +
				eh.key_len || eh.namespace_len > eh.key_len ||
				(eh.value_len > 0 && eh.value_len < VARHDRSZ))
			{
				problem = "it is truncated";
				break;
			}
			memset(e, 0, sizeof(*e));
			e->key_len = eh.key_len;
			e->namespace_len = eh.namespace_len;
			e->encoding = eh.encoding;
			e->expires_at = eh.expires_at;
			e->keep_until = eh.keep_until;
			e->tags_len = eh.tags_len;
			if (eh.value_len > 0)
			{
				/* copied: a varlena must be aligned */
				e->value = palloc(eh.value_len);
				memcpy(e->value, p, eh.value_len);
			}
			p += eh.value_len;
			e->tags = eh.tags_len > 0 ? p : NULL;
			p += eh.tags_len;
			e->key = p;
			p += eh.key_len;
		}
		if (problem == NULL && p != end)
			problem = "it is longer than its entries";
	}
	if (problem != NULL)
	{
		ereport(LOG,
				(errmsg("ignoring cachext's L1 dump file \"%s\": %s",
						DUMP_FILE, problem)));
		return false;
	}
	return true;
}

/*
 * The control file (palloc'd) if it says the cluster was shut down
 * cleanly, else NULL.
 */
static ControlFileData *
clean_shutdown_control(void)
{
	bool		crc_ok;
	ControlFileData *control = get_controlfile(DataDir, &crc_ok);

	if (!crc_ok || (control->state != DB_SHUTDOWNED &&
					control->state != DB_SHUTDOWNED_IN_RECOVERY))
		return NULL;
	return control;
}

/* Why the postmaster does not load a file's values, or NULL if it may. */
static const char *
reason_not_to_load(const DumpHeader *header)
{
	ControlFileData *control;

	if (cachext_l1_dump_interval_s == 0)
		return "cachext.l1_dump_interval is 0";
	if (l2_is_configured())
		return "cachext.redis_url is set, and Redis may have changed any key since";
	control = clean_shutdown_control();
	if (control == NULL || control->checkPoint != header->checkpoint ||
		control->system_identifier != header->system_identifier)
		return "the server was not shut down cleanly right after it was written";
	return NULL;
}

/* Loads a clean shutdown's values into L1 if it may; then the file goes. */
static void
load_values(void)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext,
												  "cachext L1 dump",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(context);
	DumpHeader	header;
	L1DumpEntry *entries;
	const char *reason;
	TimestampTz now = ttl_clock_now();
	int			loaded = 0;

	if (!read_dump(&header, &entries) ||
		(header.flags & DUMP_WITH_VALUES) == 0)
	{
		/* no file, a bad one, or a key list for the worker */
		MemoryContextSwitchTo(old);
		MemoryContextDelete(context);
		return;
	}
	reason = reason_not_to_load(&header);
	if (reason == NULL)
	{
		/*
		 * Coldest first: should L1 now be smaller, the eviction policy's
		 * victims are the entries stored first.
		 */
		for (int64 i = (int64) header.nentries - 1; i >= 0; i--)
			if ((entries[i].expires_at == CACHEXT_NO_EXPIRY ||
				 entries[i].expires_at > now) &&
				l1_restore(&entries[i], now) == L1_STORED)
				loaded++;
		ereport(LOG,
				(errmsg("cachext loaded %d of %u L1 entries saved at the last clean shutdown",
						loaded, header.nentries)));
	}
	else
		ereport(LOG,
				(errmsg("cachext did not load the L1 entries saved at the last shutdown"),
				 errdetail("Their values are used only if nothing can have changed them: %s.",
						   reason)));
	if (unlink(DUMP_FILE) != 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", DUMP_FILE)));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
}

/*
 * The postmaster's on_shmem_exit callback: at a clean shutdown (exit code
 * 0, the control file saying so), saves L1, with values unless Redis is
 * configured.
 */
static void
save_at_shutdown(int code, Datum arg)
{
	ControlFileData *control;
	L1DumpEntry *entries;
	int			n;
	bool		with_values = !l2_is_configured();

	if (code != 0 || cachext_l1_dump_interval_s == 0 || !l1_is_ready())
		return;
	control = clean_shutdown_control();
	if (control == NULL)
		return;
	entries = l1_dump_entries(ttl_clock_now(), with_values, &n);
	(void) write_dump(entries, n, with_values, with_values ? control : NULL);
}

/*
 * From the shared-memory start-up, after every module's: in the postmaster
 * (and a single-user backend) alone, loads a clean shutdown's values and
 * arranges for the next clean shutdown's.
 */
void
warm_restart_shmem_startup(void)
{
	if (IsUnderPostmaster)
		return;
	load_values();
	on_shmem_exit(save_at_shutdown, (Datum) 0);
}

/* Registers the worker "cachext l1 dump" from _PG_init. */
void
warm_restart_register(void)
{
	BackgroundWorker worker;

	workers_describe(&worker, "cachext_l1_dump_main", "cachext l1 dump",
					 BgWorkerStart_ConsistentState, RESTART_INTERVAL_S);
	RegisterBackgroundWorker(&worker);
}

/* Sleeps up to timeout_ms (-1: until woken), reloading the settings. */
static void
worker_wait(long timeout_ms)
{
	(void) WaitLatch(MyLatch,
					 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
					 (timeout_ms >= 0 ? WL_TIMEOUT : 0),
					 timeout_ms, cachext_wait_event(CACHEXT_WAIT_L1_DUMP));
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * Waits for the sync worker to follow Redis' stream (an open generation);
 * false if it did not within RELOAD_WAIT_MS.
 */
static bool
wait_for_open_generation(void)
{
	for (int waited = 0; waited < RELOAD_WAIT_MS; waited += RELOAD_POLL_MS)
	{
		if (L1_GENERATION_IS_OPEN(l1_generation()))
			return true;
		worker_wait(RELOAD_POLL_MS);
	}
	return L1_GENERATION_IS_OPEN(l1_generation());
}

/* Can a batch of this encoding be reloaded by a worker of no database? */
static bool
reloadable_encoding(int encoding)
{
	return encoding == PG_UTF8 || encoding == PG_SQL_ASCII;
}

/* Copies the key list's keys from Redis into L1; see "Keys, from Redis". */
static void
reload_from_redis(MemoryContext batch_context)
{
	DumpHeader	header;
	L1DumpEntry *entries;
	int64		asked = 0;
	int64		skipped = 0;
	uint32		i = 0;

	if (!read_dump(&header, &entries) || header.nentries == 0)
		return;
	if (!wait_for_open_generation())
	{
		ereport(LOG,
				(errmsg("cachext did not reload L1 from Redis: Redis' invalidation stream is not followed")));
		return;
	}
	while (i < header.nentries)
	{
		char	   *keys[RELOAD_BATCH];
		int			lens[RELOAD_BATCH];
		int			namespace_len = entries[i].namespace_len;
		int			encoding = entries[i].encoding;
		int			n = 0;
		MemoryContext old;
		bool		reloaded;

		while (i < header.nentries && n < RELOAD_BATCH &&
			   entries[i].namespace_len == namespace_len &&
			   entries[i].encoding == encoding)
		{
			keys[n] = entries[i].key;
			lens[n++] = entries[i++].key_len;
		}
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			worker_wait(0);
		if (cachext_l1_dump_interval_s == 0 || !l2_is_configured())
			return;
		if (!reloadable_encoding(encoding))
		{
			skipped += n;
			continue;
		}
		SetDatabaseEncoding(encoding);
		MemoryContextReset(batch_context);
		old = MemoryContextSwitchTo(batch_context);
		reloaded = layers_reload(n, keys, lens, namespace_len);
		MemoryContextSwitchTo(old);
		if (!reloaded)
		{
			ereport(LOG,
					(errmsg("cachext stopped reloading L1 from Redis after %lld keys: Redis could not answer",
							(long long) asked)));
			return;
		}
		asked += n;
	}
	ereport(LOG,
			(errmsg("cachext reloaded L1 from Redis: %lld keys read", (long long) asked),
			 skipped > 0 ?
			 errdetail("%lld keys of databases in other encodings than UTF8 and SQL_ASCII were skipped.",
					   (long long) skipped) : 0));
}

/* Writes the key list now. */
static void
dump_keys(void)
{
	int			n;
	L1DumpEntry *entries = l1_dump_entries(ttl_clock_now(), false, &n);

	(void) write_dump(entries, n, false, NULL);
}

/*
 * The worker's entry point: reloads from Redis (when configured), then
 * writes the key list every cachext.l1_dump_interval, counted from the
 * last one, so that a changed interval applies at once.
 */
void
cachext_l1_dump_main(Datum arg)
{
	MemoryContext pass_context;
	TimestampTz last_dump;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pass_context = AllocSetContextCreate(TopMemoryContext,
										 "cachext l1 dump worker pass",
										 ALLOCSET_DEFAULT_SIZES);

	if (cachext_l1_dump_interval_s > 0 && l2_is_configured())
	{
		MemoryContext list_context = AllocSetContextCreate(TopMemoryContext,
														   "cachext l1 reload",
														   ALLOCSET_DEFAULT_SIZES);

		MemoryContextSwitchTo(list_context);
		reload_from_redis(pass_context);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextDelete(list_context);
	}

	last_dump = GetCurrentTimestamp();
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz due;

		if (cachext_l1_dump_interval_s == 0)
		{
			worker_wait(-1);
			continue;
		}
		due = TimestampTzPlusMilliseconds(last_dump,
										  cachext_l1_dump_interval_s * 1000L);
		if (now < due)
		{
			worker_wait((long) ((due - now + 999) / 1000));
			continue;
		}
		MemoryContextReset(pass_context);
		MemoryContextSwitchTo(pass_context);
		dump_keys();
		MemoryContextSwitchTo(TopMemoryContext);
		last_dump = now;
	}
}
