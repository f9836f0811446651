/*-------------------------------------------------------------------------
 * keys.h
 *	  Key handling shared by the layers: building cache_key()'s keys, and
 *	  glob patterns in Redis' dialect.
 *
 * Pure C with no PostgreSQL dependencies, so the fuzzers and unit tests
 * can link it on its own.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_KEYS_H
#define CACHEXT_KEYS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Joins prefix and escaped parts (NULL: SQL NULL) into out, unterminated;
 * returns the length.  With out NULL, only returns the length.
 */
extern size_t keys_build(const char *prefix, const char *const *parts,
						 int nparts, char *out);

/*
 * Checks a glob pattern; returns NULL when it is well formed, or a sentence
 * saying what is wrong with it.
 */
extern const char *keys_glob_problem(const char *pattern, size_t pattern_len);

/* Matches a string against a well-formed glob pattern (Redis' dialect). */
extern bool keys_glob_match(const char *pattern, size_t pattern_len,
							const char *string, size_t string_len);

/* Escapes glob metacharacters so s matches itself; out holds 2 * len bytes. */
extern size_t keys_glob_escape(const char *s, size_t len, char *out);

#endif							/* CACHEXT_KEYS_H */
