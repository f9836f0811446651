/*
 * fuzz_key_builder.c
 *	  libFuzzer harness for cache_key()'s joining and escaping
 *	  (keys_build() in src/keys.c), run by `make fuzzcheck` with
 *	  AddressSanitizer and UBSan.
 *
 * The input is split at NUL bytes: the first piece is the prefix, each
 * further piece an argument's text form, and a piece that is the single
 * byte 0x01 stands for SQL NULL.  The property: for a given prefix, the
 * arguments can be read back from the key (a left inverse, so distinct
 * argument lists give distinct keys), and measuring agrees with writing.
 * The MD5 that replaces keys over 200 characters (key_builder.c) is not
 * exercised: past that boundary keys are as distinct as MD5 makes them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

#define MAX_PARTS 64

static void
fail(const char *what, const char *key, size_t len)
{
	fprintf(stderr, "cache_key: %s: key \"%.*s\"\n", what, (int) len, key);
	abort();
}

/*
 * Reads the parts back from key after prefix, per the documented rule,
 * and compares them with parts.
 */
static void
check_decodes(const char *key, size_t len, size_t prefix_len,
			  const char *const *parts, int nparts)
{
	size_t		i = prefix_len;
	char	   *part = malloc(len + 1);

	for (int n = 0; n < nparts; n++)
	{
		size_t		plen = 0;
		int			is_null = 0;

		if (i >= len || key[i] != ':')
			fail("a part does not start with \":\"", key, len);
		i++;
		if (i + 2 <= len && key[i] == '\\' && key[i + 1] == 'N' &&
			(i + 2 == len || key[i + 2] == ':'))
		{
			is_null = 1;
			i += 2;
		}
		else
			while (i < len && key[i] != ':')
			{
				if (key[i] == '\\')
				{
					if (i + 1 >= len || (key[i + 1] != '\\' && key[i + 1] != ':'))
						fail("a backslash escapes neither \"\\\" nor \":\"", key, len);
					i++;
				}
				part[plen++] = key[i++];
			}
		if (is_null != (parts[n] == NULL) ||
			(!is_null && (strlen(parts[n]) != plen ||
						  memcmp(parts[n], part, plen) != 0)))
			fail("a part reads back differently", key, len);
	}
	if (i != len)
		fail("the key has more than its parts", key, len);
	free(part);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *input = malloc(size + 1);
	const char *parts[MAX_PARTS];
	int			nparts = 0;
	const char *prefix = input;
	size_t		len;
	char	   *key;

	memcpy(input, data, size);
	input[size] = '\0';
	for (size_t i = 0; i < size && nparts < MAX_PARTS; i++)
		if (input[i] == '\0')
		{
			const char *piece = input + i + 1;

			parts[nparts++] = strcmp(piece, "\x01") == 0 ? NULL : piece;
		}

	len = keys_build(prefix, parts, nparts, NULL);
	key = malloc(len + 1);
	if (keys_build(prefix, parts, nparts, key) != len)
		fail("measuring and writing disagree", key, len);
	if (memcmp(key, prefix, strlen(prefix)) != 0)
		fail("the key does not start with the prefix", key, len);
	check_decodes(key, len, strlen(prefix), parts, nparts);
	free(key);
	free(input);
	return 0;
}
