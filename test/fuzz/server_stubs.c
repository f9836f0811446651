/*
 * server_stubs.c
 *	  The few server functions src/l1.c calls, for running the store in a
 *	  harness without a server (test/fuzz/fuzz_l1.c).
 *
 * Memory comes from malloc; shared memory is one malloc'd block per
 * ShmemInitStruct call, "not found" each time so every run starts empty
 * (the store's and the key prefixes' table, src/prefix_stats.c, each have
 * one, found by name).  A spinlock is never contended in one thread.
 * The lock stubs check l1.c's locking rule: no code holds two partition
 * locks at once, and every release matches an acquire; stub_lock_held()
 * lets the harness check that nothing is held between calls.  hash_bytes
 * is the server's own, from libpgcommon.
 */
#include "postgres.h"

#include <stdio.h>

#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "compat.h"
#include "server_stubs.h"

#define STUB_MAX_LOCKS 1024

static LWLockPadded main_locks[NUM_FIXED_LWLOCKS];
static LWLockPadded tranche_locks[STUB_MAX_LOCKS];

MemoryContext TopMemoryContext = NULL;
LWLockPadded *MainLWLockArray = main_locks;

static LWLock *held = NULL;

/* The store records each value's encoding: one database, UTF8. */
int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

/* The blocks ShmemInitStruct handed out, by name (l1.c's, prefix_stats.c's). */
#define STUB_MAX_SHMEM_BLOCKS 4
static struct
{
	const char *name;
	void	   *block;
}			shmem_blocks[STUB_MAX_SHMEM_BLOCKS];

#ifdef CACHEXT_EXCEPTIONAL_CONDITION_HAS_ERROR_TYPE
void
ExceptionalCondition(const char *conditionName, const char *errorType,
					 const char *fileName, int lineNumber)
#else
void
ExceptionalCondition(const char *conditionName,
					 const char *fileName, int lineNumber)
#endif
{
	fprintf(stderr, "TRAP: failed Assert(\"%s\") at %s:%d\n", conditionName,
			fileName, lineNumber);
	abort();
}

/*
 * The server's allocators over malloc.  Each of them must be stubbed here:
 * one left out pulls libpgcommon's frontend fe_memutils.o in, whose
 * palloc clashes with this one.
 */
void *
palloc_extended(Size size, int flags)
{
	void	   *p = (flags & MCXT_ALLOC_ZERO) ? calloc(1, size) : malloc(size);

	if (p == NULL && !(flags & MCXT_ALLOC_NO_OOM))
		abort();
	return p;
}

void *
palloc(Size size)
{
	return palloc_extended(size, 0);
}

void *
palloc0(Size size)
{
	return palloc_extended(size, MCXT_ALLOC_ZERO);
}

void
pfree(void *pointer)
{
	free(pointer);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	void	   *p = calloc(1, size);

	if (p == NULL)
		abort();
	return p;
}

Size
add_size(Size s1, Size s2)
{
	if (s1 + s2 < s1)
		abort();
	return s1 + s2;
}

Size
mul_size(Size s1, Size s2)
{
	if (s1 != 0 && (s1 * s2) / s1 != s2)
		abort();
	return s1 * s2;
}

void
RequestAddinShmemSpace(Size size)
{
}

void
RequestNamedLWLockTranche(const char *tranche_name, int num_lwlocks)
{
}

/* A fresh block each time; the previous run's of that name is freed. */
void *
ShmemInitStruct(const char *name, Size size, bool *foundPtr)
{
	int			i = 0;

	while (shmem_blocks[i].name != NULL && strcmp(shmem_blocks[i].name, name) != 0)
		if (++i == STUB_MAX_SHMEM_BLOCKS)
			abort();
	free(shmem_blocks[i].block);
	shmem_blocks[i].name = name;
	shmem_blocks[i].block = palloc(size);
	memset(shmem_blocks[i].block, 0x7f, size);	/* garbage, as fresh memory may be */
	*foundPtr = false;
	return shmem_blocks[i].block;
}

/* Only a contended spinlock gets here, which one thread never makes. */
int
s_lock(volatile slock_t *lock, const char *file, int line, const char *func)
{
	fprintf(stderr, "a spinlock taken twice at %s:%d\n", file, line);
	abort();
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out = palloc(len + 1);

	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

LWLockPadded *
GetNamedLWLockTranche(const char *tranche_name)
{
	return tranche_locks;
}

bool
LWLockAcquire(LWLock *lock, LWLockMode mode)
{
	if (held != NULL)
	{
		fprintf(stderr, "a second LWLock taken while one is held\n");
		abort();
	}
	held = lock;
	return true;
}

void
LWLockRelease(LWLock *lock)
{
	if (held != lock)
	{
		fprintf(stderr, "an LWLock released that is not held\n");
		abort();
	}
	held = NULL;
}

bool
stub_lock_held(void)
{
	return held != NULL;
}

/* Enough of pg_list for l1_list_entries: elements kept out of line. */
List *
lappend(List *list, void *datum)
{
	if (list == NIL)
	{
		list = palloc(sizeof(List));
		list->type = T_List;
		list->length = 0;
		list->max_length = 0;
		list->elements = NULL;
	}
	if (list->length == list->max_length)
	{
		list->max_length = list->max_length * 2 + 8;
		list->elements = realloc(list->elements,
								 list->max_length * sizeof(ListCell));
		if (list->elements == NULL)
			abort();
	}
	list->elements[list->length++].ptr_value = datum;
	return list;
}
