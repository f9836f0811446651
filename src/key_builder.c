/*-------------------------------------------------------------------------
 * key_builder.c
 *	  Builds cache keys from a prefix and argument values, deterministically,
 *	  so that a service in another language can build the same keys.
 *
 * The rule (documented in the README):
 *	  key = prefix ":" part1 ":" part2 ...
 * where each part is the argument's text form with "\" written "\\" and ":"
 * written "\:", and SQL NULL written "\N" (which no escaped text form can
 * produce, so NULL and the string 'NULL' differ).  A key longer than
 * KEY_BUILDER_MAX_CHARS characters becomes prefix ":" md5(key) in lower-case
 * hex, as the design's decorator does.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "compat.h"
#include "key_builder.h"

static void
append_escaped(StringInfo key, const char *part)
{
	for (const char *c = part; *c; c++)
	{
		if (*c == '\\' || *c == ':')
			appendStringInfoChar(key, '\\');
		appendStringInfoChar(key, *c);
	}
}

/* Builds the key for prefix and parts (NULL entries are SQL NULLs). */
text *
key_builder_build(const char *prefix, const char **parts, int nparts)
{
	StringInfoData key;
	char		md5[33];

	initStringInfo(&key);
	appendStringInfoString(&key, prefix);
	for (int i = 0; i < nparts; i++)
	{
		appendStringInfoChar(&key, ':');
		if (parts[i] == NULL)
			appendStringInfoString(&key, "\\N");
		else
			append_escaped(&key, parts[i]);
	}
	if (pg_mbstrlen_with_len(key.data, key.len) <= KEY_BUILDER_MAX_CHARS)
		return cstring_to_text_with_len(key.data, key.len);

	if (!cachext_md5_hex(key.data, key.len, md5))
		elog(ERROR, "could not compute MD5 of a cache key");
	resetStringInfo(&key);
	appendStringInfo(&key, "%s:%s", prefix, md5);
	return cstring_to_text_with_len(key.data, key.len);
}
