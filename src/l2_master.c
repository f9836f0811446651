/*-------------------------------------------------------------------------
 * l2_master.c
 *	  Which Redis master this instance's processes follow, in shared
 *	  memory: once any process learns of a new master, every process'
 *	  next command goes to it.
 *
 * Each process keeps its own connection (l2.c for a backend, the sync
 * worker's streams), so a failover that leaves the old master up and
 * still a master (a manual SENTINEL FAILOVER, a partition) would leave
 * every connection made before it writing where no instance reads.  The
 * instance therefore keeps a master generation.  A process records it in
 * an L2MasterView when it connects, compares it before each command
 * (l2_master_moved: one atomic read) and reconnects when it moved.  It is
 * moved by whichever process learns first:
 *
 *	- the sync worker hearing Sentinel's +switch-master (l2_master_announced);
 *	- a process whose connect reaches, through a Sentinel, a master of a
 *	  newer configuration epoch than any this instance has seen
 *	  (l2_master_reached);
 *	- a process whose master answered READONLY, i.e. was demoted
 *	  (l2_master_demoted): it moves the generation only from the value it
 *	  connected under, so the many backends that meet the same demoted
 *	  master move it once.
 *
 * The epoch.  Sentinels order their configurations by a configuration
 * epoch (SENTINEL MASTER's config-epoch), raised at each failover; a
 * Sentinel that has not yet heard of a failover still names the old master
 * with the old epoch.  The highest epoch seen under a cachext.redis_url is
 * kept here with a hash of that URL, and a connect passes over Sentinels
 * naming an older one (redis_route.c): without it, a backend reconnecting
 * after the generation moved could ask a lagging Sentinel and go back to
 * the old master.  Another URL's epochs are another deployment's, so a
 * connect under another URL replaces the pair.
 *
 * Locking.  generation is a pg_atomic_uint64, read without a lock before
 * every command and moved by atomic increments or a compare-and-exchange.
 * epoch and url_hash are read and written together under mutex (a
 * spinlock: a few instructions, no call while held).  A process that
 * raises the epoch moves the generation after releasing mutex; one that
 * begins a view reads the generation before the epoch, so a view never
 * holds a generation newer than its floor.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "l2_master.h"
#include "redis_route.h"

typedef struct L2MasterShared
{
	pg_atomic_uint64 generation;	/* atomic, no lock */
	slock_t		mutex;			/* guards epoch and url_hash */
	int64		epoch;			/* the highest Sentinel configuration epoch
								 * seen, REDIS_EPOCH_UNKNOWN if none */
	uint32		url_hash;		/* of the cachext.redis_url it was seen
								 * under */
} L2MasterShared;

static L2MasterShared *shared_master = NULL;

Size
l2_master_shmem_size(void)
{
	return MAXALIGN(sizeof(L2MasterShared));
}

/* Attaches to (and the first time, initialises) the shared state. */
void
l2_master_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_master = ShmemInitStruct("cachext l2 master",
									l2_master_shmem_size(), &found);
	if (!found)
	{
		pg_atomic_init_u64(&shared_master->generation, 0);
		SpinLockInit(&shared_master->mutex);
		shared_master->epoch = REDIS_EPOCH_UNKNOWN;
		shared_master->url_hash = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

static uint32
url_hash(const char *url)
{
	return hash_bytes((const unsigned char *) url, (int) strlen(url));
}

/*
 * Starts a view before connecting under url: the generation now, and the
 * floor of Sentinel epochs the connect may accept.
 */
void
l2_master_view_begin(L2MasterView *view, const char *url)
{
	uint32		hash = url_hash(url);

	view->generation = pg_atomic_read_u64(&shared_master->generation);
	pg_memory_barrier();
	SpinLockAcquire(&shared_master->mutex);
	view->min_epoch = shared_master->url_hash == hash ?
		shared_master->epoch : REDIS_EPOCH_UNKNOWN;
	SpinLockRelease(&shared_master->mutex);
}

/*
 * The view's connect reached a master of Sentinel configuration epoch
 * (REDIS_EPOCH_UNKNOWN when not told).  A newer epoch than any seen
 * under url means a new master: the generation moves, and the view
 * follows the new one, its connection being to that master.
 */
void
l2_master_reached(L2MasterView *view, const char *url, int64 epoch)
{
	uint32		hash = url_hash(url);
	bool		newer;

	if (epoch == REDIS_EPOCH_UNKNOWN)
		return;
	SpinLockAcquire(&shared_master->mutex);
	newer = shared_master->url_hash != hash || epoch > shared_master->epoch;
	if (newer)
	{
		/* the first epoch seen under a URL is news only to later views */
		if (shared_master->url_hash != hash ||
			shared_master->epoch == REDIS_EPOCH_UNKNOWN)
			newer = false;
		shared_master->url_hash = hash;
		shared_master->epoch = epoch;
	}
	SpinLockRelease(&shared_master->mutex);
	if (newer)
		view->generation =
			pg_atomic_add_fetch_u64(&shared_master->generation, 1);
	if (epoch > view->min_epoch)
		view->min_epoch = epoch;
}

/* Has the instance learned of a new master since the view began? */
bool
l2_master_moved(const L2MasterView *view)
{
	return pg_atomic_read_u64(&shared_master->generation) != view->generation;
}

/*
 * The view's master is no longer a master (it answered READONLY): every
 * process still following it reconnects.  Moves the generation only if
 * nobody moved it since the view began.
 */
void
l2_master_demoted(const L2MasterView *view)
{
	uint64		expected = view->generation;

	pg_atomic_compare_exchange_u64(&shared_master->generation, &expected,
								   expected + 1);
}

/* Sentinel announced a new master (+switch-master): everyone reconnects. */
void
l2_master_announced(void)
{
	pg_atomic_fetch_add_u64(&shared_master->generation, 1);
}
