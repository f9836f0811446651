/*
 * test_keys.c
 *	  Unit tests of the pure-C key rules (src/keys.c): cache_key()'s joining
 *	  and the glob matcher in Redis' dialect, run without a server:
 *	  `make unitcheck`.
 *
 * Each case states what Redis' own matcher answers for the same pattern and
 * string, so L1 and SCAN MATCH on L2 agree.
 */
#include <stdio.h>
#include <string.h>

#include "keys.h"

typedef struct GlobCase
{
	const char *pattern;
	const char *string;
	int			matches;
} GlobCase;

static const GlobCase glob_cases[] = {
	{"*", "", 1},
	{"*", "anything", 1},
	{"user:*", "user:42", 1},
	{"user:*", "user:", 1},
	{"user:*", "item:42", 0},
	{"user:?", "user:4", 1},
	{"user:?", "user:42", 0},
	{"user:??", "user:42", 1},
	{"*:42", "user:42", 1},
	{"*:42", "user:420", 0},
	{"a*b*c", "aXXbYYc", 1},
	{"a*b*c", "aXXbYY", 0},
	{"a*b", "abab", 1},
	{"h[ae]llo", "hello", 1},
	{"h[ae]llo", "hallo", 1},
	{"h[ae]llo", "hillo", 0},
	{"h[^e]llo", "hallo", 1},
	{"h[^e]llo", "hello", 0},
	{"h[a-b]llo", "hbllo", 1},
	{"h[a-b]llo", "hcllo", 0},
	{"h[b-a]llo", "hallo", 1},		/* reversed ranges are swapped */
	{"[\\]]", "]", 1},
	{"[a\\-z]", "-", 1},
	{"[a\\-z]", "b", 0},
	{"a\\*b", "a*b", 1},
	{"a\\*b", "aXb", 0},
	{"a\\?b", "a?b", 1},
	{"a\\?b", "aXb", 0},
	{"\\[x]", "[x]", 1},
	{"\\\\", "\\", 1},
	{"", "", 1},
	{"", "x", 0},
	{"***", "x", 1},
	{"a**", "a", 1},
	{"?", "", 0},
	{"[abc]", "", 0},
	{"[a-]]", "]", 1},			/* the range a..']', as Redis reads it */
	{"[a-]]", "^", 1},
	{"[a-]]", "-", 0},
	{"[]", "]", 0},
	{"[^]", "x", 1},
};

typedef struct ProblemCase
{
	const char *pattern;
	int			malformed;
} ProblemCase;

static const ProblemCase problem_cases[] = {
	{"user:*", 0},
	{"[abc]", 0},
	{"[^a-z]x", 0},
	{"a\\*", 0},
	{"[abc", 1},
	{"[", 1},
	{"x[^", 1},
	{"abc\\", 1},
	{"[a\\", 1},
	{"[\\]", 1},
	{"[a-]", 1},				/* Redis takes ']' as the range's end */
	{"[a-]]", 0},
};

typedef struct BuildCase
{
	const char *prefix;
	int			nparts;
	const char *parts[3];		/* NULL: SQL NULL */
	const char *key;
} BuildCase;

/* docs/reference.md's examples of cache_key(), and the escaping's corners. */
static const BuildCase build_cases[] = {
	{"user", 1, {"42"}, "user:42"},
	{"search", 3, {"a:b", NULL, "3"}, "search:a\\:b:\\N:3"},
	{"p", 0, {NULL}, "p"},
	{"p", 1, {""}, "p:"},
	{"p", 2, {"\\N", "N"}, "p:\\\\N:N"},
	{"p", 1, {"a\\:"}, "p:a\\\\\\:"},
};

int
main(void)
{
	int			failed = 0;
	int			passed = 0;

	for (size_t i = 0; i < sizeof(build_cases) / sizeof(build_cases[0]); i++)
	{
		const BuildCase *c = &build_cases[i];
		char		key[64];
		size_t		len = keys_build(c->prefix, c->parts, c->nparts, key);

		if (len != strlen(c->key) || memcmp(key, c->key, len) != 0 ||
			keys_build(c->prefix, c->parts, c->nparts, NULL) != len)
		{
			printf("not ok: cache_key \"%s\" #%zu: got \"%.*s\", expected \"%s\"\n",
				   c->prefix, i, (int) len, key, c->key);
			failed++;
		}
		else
			passed++;
	}

	for (size_t i = 0; i < sizeof(glob_cases) / sizeof(glob_cases[0]); i++)
	{
		const GlobCase *c = &glob_cases[i];
		int			got = keys_glob_match(c->pattern, strlen(c->pattern),
										  c->string, strlen(c->string));

		if (got != c->matches)
		{
			printf("not ok: glob \"%s\" on \"%s\": got %d, expected %d\n",
				   c->pattern, c->string, got, c->matches);
			failed++;
		}
		else
			passed++;
	}
	for (size_t i = 0; i < sizeof(problem_cases) / sizeof(problem_cases[0]); i++)
	{
		const ProblemCase *c = &problem_cases[i];
		int			got = keys_glob_problem(c->pattern, strlen(c->pattern)) != NULL;

		if (got != c->malformed)
		{
			printf("not ok: pattern \"%s\" malformed: got %d, expected %d\n",
				   c->pattern, got, c->malformed);
			failed++;
		}
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
