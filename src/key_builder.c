/*-------------------------------------------------------------------------
 * key_builder.c
 *	  Builds cache keys from a prefix and argument values, deterministically,
 *	  so that a service in another language can build the same keys.
 *
 * The rule (documented in docs/reference.md) is keys_build()'s (keys.c), which
 * stays free of the server so the fuzzer can check it; this file adds that
 * a key longer than KEY_BUILDER_MAX_CHARS characters becomes
 * prefix ":" md5(key) in lower-case hex.
 *
 * cache_key() spans three files, one per kind of dependency: sql_api.c
 * turns its SQL arguments (VARIADIC "any") into text forms, which needs
 * fmgr (with key_text.c's fixed settings); this file counts characters in the server's encoding and hashes,
 * which needs the server but not fmgr; keys.c joins and escapes in pure C.
 * cache_function()'s wrappers call cache_key() in SQL, so they build the
 * same keys.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "compat.h"
#include "key_builder.h"
#include "keys.h"

/* Builds the key for prefix and parts (NULL entries are SQL NULLs). */
text *
key_builder_build(const char *prefix, const char **parts, int nparts)
{
	size_t		len = keys_build(prefix, parts, nparts, NULL);
	char	   *key = palloc(len + 1);
	char		md5[CACHEXT_MD5_HEX_SIZE];

	keys_build(prefix, parts, nparts, key);
	key[len] = '\0';
	if (pg_mbstrlen_with_len(key, len) <= KEY_BUILDER_MAX_CHARS)
		return cstring_to_text_with_len(key, len);

	if (!cachext_md5_hex(key, len, md5))
		elog(ERROR, "could not compute MD5 of a cache key");
	return cstring_to_text(psprintf("%s:%s", prefix, md5));
}
