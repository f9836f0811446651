/*
 * fuzz_glob.c
 *	  libFuzzer harness for the glob matcher (src/keys.c): differential
 *	  against a small recursive reference of Redis' matching rules, run by
 *	  `make fuzzcheck` with AddressSanitizer and UBSan.
 *
 * Input: the first byte, modulo 32, is the pattern's length; the pattern
 * follows, then the string.  Well-formed patterns (keys_glob_problem()
 * returns NULL) must match exactly when the reference matches; malformed
 * ones only must not crash the checker.  Inputs are short and patterns
 * with more than three stars are skipped, so the reference's exponential
 * worst case stays cheap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "keys.h"

/* Does class at p (just after '[') contain c?  Sets *end past its ']'. */
static int
reference_class(const char *p, size_t plen, unsigned char c, size_t *end)
{
	size_t		i = 0;
	int			negate = 0;
	int			found = 0;

	if (i < plen && p[i] == '^')
	{
		negate = 1;
		i++;
	}
	for (;;)
	{
		if (p[i] == '\\' && i + 1 < plen)
		{
			found |= (unsigned char) p[i + 1] == c;
			i += 2;
		}
		else if (p[i] == ']')
			break;
		else if (i + 2 < plen && p[i + 1] == '-')
		{
			unsigned char lo = (unsigned char) p[i];
			unsigned char hi = (unsigned char) p[i + 2];

			if (lo > hi)
			{
				unsigned char t = lo;

				lo = hi;
				hi = t;
			}
			found |= c >= lo && c <= hi;
			i += 3;
		}
		else
		{
			found |= (unsigned char) p[i] == c;
			i++;
		}
	}
	*end = i + 1;
	return negate ? !found : found;
}

/* Redis' rules, written recursively for clarity rather than speed. */
static int
reference_match(const char *p, size_t plen, const char *s, size_t slen)
{
	size_t		end;

	if (plen == 0)
		return slen == 0;
	switch (p[0])
	{
		case '*':
			for (size_t k = 0; k <= slen; k++)
				if (reference_match(p + 1, plen - 1, s + k, slen - k))
					return 1;
			return 0;
		case '?':
			return slen > 0 && reference_match(p + 1, plen - 1, s + 1, slen - 1);
		case '[':
			if (slen == 0)
				return 0;
			if (!reference_class(p + 1, plen - 1, (unsigned char) s[0], &end))
				return 0;
			return reference_match(p + 1 + end, plen - 1 - end, s + 1, slen - 1);
		case '\\':
			if (plen >= 2)
			{
				p++;
				plen--;
			}
			/* FALLTHROUGH */
		default:
			return slen > 0 && p[0] == s[0] &&
				reference_match(p + 1, plen - 1, s + 1, slen - 1);
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		plen;
	const char *pattern;
	const char *string;
	size_t		slen;

	if (size < 1)
		return 0;
	plen = data[0] % 32;
	if (plen > size - 1)
		plen = size - 1;
	pattern = (const char *) data + 1;
	string = pattern + plen;
	slen = size - 1 - plen;
	if (slen > 32)
		slen = 32;

	if (keys_glob_problem(pattern, plen) != NULL)
		return 0;
	for (size_t i = 0, stars = 0; i < plen; i++)
		if (pattern[i] == '*' && ++stars > 3)
			return 0;
	if (keys_glob_match(pattern, plen, string, slen) !=
		(reference_match(pattern, plen, string, slen) != 0))
	{
		fprintf(stderr, "glob mismatch: pattern \"%.*s\" string \"%.*s\"\n",
				(int) plen, pattern, (int) slen, string);
		abort();
	}
	return 0;
}
