/*-------------------------------------------------------------------------
 * keys.c
 *	  The two rules about keys that other programs must share with cachext:
 *	  how cache_key() joins a prefix and arguments into a key, and glob
 *	  patterns in the dialect Redis' SCAN MATCH and KEYS use.
 *
 * Building.  key = prefix ":" part1 ":" part2 ... where each part is the
 * argument's text form with "\" written "\\" and ":" written "\:", and SQL
 * NULL written "\N" (which no escaped text form can produce).  For one
 * prefix this is injective: the parts can be read back from the key
 * (test/fuzz/fuzz_key_builder.c checks it).  key_builder.c adds the
 * replacement of long keys by their MD5, which needs the server.
 *
 * Matching.  cache_invalidate_pattern applies one pattern to L1 and to L2,
 * so both must agree on what it matches: this is Redis' dialect (`*`, `?`,
 * `[abc]`, `[a-z]`, `[^a]`, and `\` escaping the next character anywhere).
 * Unlike Redis, a pattern with an unterminated class or a trailing lone
 * backslash is rejected instead of being read leniently, so a typo cannot
 * silently widen or narrow an invalidation.  Like Redis, "x-y" inside a
 * class is a range whatever y is, so "[a-]" is a range a..']' left
 * unterminated.
 *
 * Nothing here allocates or depends on PostgreSQL: the fuzz harnesses and
 * unit tests link this file alone.
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "keys.h"

/* Writes c at out[*len] (unless only measuring) and counts it. */
static void
put(char *out, size_t *len, char c)
{
	if (out != NULL)
		out[*len] = c;
	(*len)++;
}

/*
 * Writes the key for prefix and parts (NULL entries are SQL NULLs) into
 * out, unterminated, and returns its length; with out NULL it only
 * measures, so the caller sizes the buffer with the code that fills it.
 */
size_t
keys_build(const char *prefix, const char *const *parts, int nparts, char *out)
{
	size_t		len = 0;

	for (const char *c = prefix; *c; c++)
		put(out, &len, *c);
	for (int i = 0; i < nparts; i++)
	{
		put(out, &len, ':');
		if (parts[i] == NULL)
		{
			put(out, &len, '\\');
			put(out, &len, 'N');
			continue;
		}
		for (const char *c = parts[i]; *c; c++)
		{
			if (*c == '\\' || *c == ':')
				put(out, &len, '\\');
			put(out, &len, *c);
		}
	}
	return len;
}

/*
 * Returns NULL for a well-formed pattern, else a description of the first
 * defect found.
 */
const char *
keys_glob_problem(const char *pattern, size_t pattern_len)
{
	size_t		i = 0;

	while (i < pattern_len)
	{
		char		c = pattern[i++];

		if (c == '\\')
		{
			if (i >= pattern_len)
				return "The pattern ends with a lone backslash.";
			i++;
		}
		else if (c == '[')
		{
			if (i < pattern_len && pattern[i] == '^')
				i++;
			for (;;)
			{
				if (i >= pattern_len)
					return "A character class opened with \"[\" is never closed.";
				c = pattern[i++];
				if (c == '\\')
				{
					if (i >= pattern_len)
						return "The pattern ends with a lone backslash.";
					i++;
				}
				else if (c == ']')
					break;
				else if (i + 1 < pattern_len && pattern[i] == '-')
					i += 2;		/* a range: its end may even be ']' */
			}
		}
	}
	return NULL;
}

/*
 * Does the class starting just after '[' at pattern[*pos] contain c?  Leaves
 * *pos just past the closing ']'.
 */
static bool
class_matches(const char *pattern, size_t pattern_len, size_t *pos, char c)
{
	size_t		i = *pos;
	bool		negate = false;
	bool		found = false;

	if (i < pattern_len && pattern[i] == '^')
	{
		negate = true;
		i++;
	}
	while (i < pattern_len && pattern[i] != ']')
	{
		unsigned char lo;
		unsigned char hi;

		if (pattern[i] == '\\' && i + 1 < pattern_len)
		{
			i++;
			if (pattern[i] == c)
				found = true;
			i++;
		}
		else if (i + 2 < pattern_len && pattern[i + 1] == '-')
		{
			lo = (unsigned char) pattern[i];
			hi = (unsigned char) pattern[i + 2];
			if (lo > hi)
			{
				unsigned char swap = lo;

				lo = hi;
				hi = swap;
			}
			if ((unsigned char) c >= lo && (unsigned char) c <= hi)
				found = true;
			i += 3;
		}
		else
		{
			if (pattern[i] == c)
				found = true;
			i++;
		}
	}
	*pos = i + 1;				/* past ']' */
	return negate ? !found : found;
}

/*
 * Iterative matcher with single-star backtracking: linear in practice and
 * never recursive, so a hostile pattern cannot exhaust the stack.
 */
bool
keys_glob_match(const char *pattern, size_t pattern_len,
				const char *string, size_t string_len)
{
	size_t		p = 0;
	size_t		s = 0;
	size_t		star_p = (size_t) -1;	/* pattern position after last '*' */
	size_t		star_s = 0;		/* string position that '*' is retried from */

	while (s < string_len)
	{
		if (p < pattern_len)
		{
			char		c = pattern[p];

			if (c == '*')
			{
				while (p < pattern_len && pattern[p] == '*')
					p++;
				if (p == pattern_len)
					return true;
				star_p = p;
				star_s = s;
				continue;
			}
			if (c == '?')
			{
				p++;
				s++;
				continue;
			}
			if (c == '[')
			{
				size_t		after = p + 1;

				if (class_matches(pattern, pattern_len, &after, string[s]))
				{
					p = after;
					s++;
					continue;
				}
			}
			else
			{
				if (c == '\\' && p + 1 < pattern_len)
					c = pattern[++p];
				if (c == string[s])
				{
					p++;
					s++;
					continue;
				}
			}
		}
		/* mismatch: let the last star swallow one more character */
		if (star_p == (size_t) -1)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (p < pattern_len && pattern[p] == '*')
		p++;
	return p == pattern_len;
}

/*
 * Copies s to out with every glob metacharacter (* ? [ ] \) escaped by a
 * backslash, so that it matches itself literally; out needs room for
 * 2 * len bytes.  Returns the number of bytes written.  The namespace in
 * front of a SCAN MATCH pattern goes through this, so a prefix such as
 * "app[1]:" cannot widen an invalidation to other namespaces.
 */
size_t
keys_glob_escape(const char *s, size_t len, char *out)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
			out[n++] = '\\';
		out[n++] = c;
	}
	return n;
}
