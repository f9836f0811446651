/*-------------------------------------------------------------------------
 * key_builder.h
 *	  Generated keys: cache_key()'s server side (see key_builder.c).
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_KEY_BUILDER_H
#define CACHEXT_KEY_BUILDER_H

#include "postgres.h"

/* Keys longer than this many characters are replaced by prefix:md5. */
#define KEY_BUILDER_MAX_CHARS 200

extern text *key_builder_build(const char *prefix, const char **parts,
							   int nparts);

#endif							/* CACHEXT_KEY_BUILDER_H */
