/*
 * server_stubs.h
 *	  What test/fuzz/server_stubs.c offers a harness beyond the server's
 *	  own declarations.
 */
#ifndef CACHEXT_SERVER_STUBS_H
#define CACHEXT_SERVER_STUBS_H

/* Is any LWLock held?  Between calls into the store, none may be. */
extern bool stub_lock_held(void);

#endif							/* CACHEXT_SERVER_STUBS_H */
