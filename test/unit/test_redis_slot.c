/*
 * test_redis_slot.c
 *	  Unit tests of Redis Cluster's key-to-slot mapping and the slot map
 *	  (src/redis_slot.c), run without a server: `make unitcheck`.
 *
 * The expected slots are Redis 7.0's own answers to CLUSTER KEYSLOT.
 */
#include <stdio.h>
#include <string.h>

#include "redis_slot.h"

typedef struct SlotCase
{
	const char *key;
	int			slot;
} SlotCase;

static const SlotCase slot_cases[] = {
	{"foo", 12182},
	{"bar", 5061},
	{"123456789", 12739},
	{"cache:user:1", 11844},
	{"", 0},
	/* a hash tag: only what is between the first "{" and the next "}" */
	{"{user1000}.following", 3443},
	{"{user1000}.followers", 3443},
	{"foo{bar}{zap}", 5061},
	{"foo{{bar}}zap", 4015},
	/* no tag: an empty one, or no "}" */
	{"foo{}{bar}", 8363},
	{"{}", 15257},
	{"{a", 10276},
};

static int	passed = 0;
static int	failed = 0;

static void
check(int ok, const char *what)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("not ok: %s\n", what);
	}
}

int
main(void)
{
	static RedisSlotMap map;
	char		what[128];

	/* CRC16/XMODEM's check value */
	check(redis_slot_crc16("123456789", 9) == 0x31C3, "crc16 of 123456789");
	for (size_t i = 0; i < sizeof(slot_cases) / sizeof(slot_cases[0]); i++)
	{
		const SlotCase *c = &slot_cases[i];
		int			slot = redis_slot_of_key(c->key, strlen(c->key));

		snprintf(what, sizeof(what), "slot of \"%s\": %d, Redis says %d",
				 c->key, slot, c->slot);
		check(slot == c->slot, what);
	}
	/* a NUL is a byte like any other (cachext's own keys hold one) */
	check(redis_slot_of_key("{k}\0seq", 7) == redis_slot_of_key("k", 1),
		  "a tagged key with a NUL hashes its tag");

	redis_slot_map_clear(&map);
	check(!redis_slot_map_complete(&map), "an empty map is not complete");
	check(redis_slot_map_node(&map, 0) == REDIS_SLOT_NO_NODE,
		  "an empty map has no node");
	check(redis_slot_map_assign(&map, 0, 5460, 0) &&
		  redis_slot_map_assign(&map, 5461, 10922, 1) &&
		  !redis_slot_map_complete(&map) &&
		  redis_slot_map_assign(&map, 10923, 16383, 2) &&
		  redis_slot_map_complete(&map), "three ranges complete the map");
	check(redis_slot_map_node(&map, 5460) == 0 &&
		  redis_slot_map_node(&map, 5461) == 1 &&
		  redis_slot_map_node(&map, 16383) == 2, "range ends");
	check(redis_slot_map_node(&map, redis_slot_of_key("foo", 3)) == 2,
		  "foo is on the third node");
	check(!redis_slot_map_assign(&map, 10, 5, 1) &&
		  !redis_slot_map_assign(&map, -1, 5, 1) &&
		  !redis_slot_map_assign(&map, 0, REDIS_CLUSTER_SLOTS, 1) &&
		  !redis_slot_map_assign(&map, 0, 1, -1) &&
		  redis_slot_map_node(&map, 0) == 0, "invalid ranges change nothing");
	check(redis_slot_map_node(&map, -1) == REDIS_SLOT_NO_NODE &&
		  redis_slot_map_node(&map, REDIS_CLUSTER_SLOTS) == REDIS_SLOT_NO_NODE,
		  "slots out of range have no node");
	/* a migrated slot (MOVED) is one more assignment */
	check(redis_slot_map_assign(&map, 12182, 12182, 0) &&
		  redis_slot_map_node(&map, redis_slot_of_key("foo", 3)) == 0,
		  "a moved slot follows its new node");

	/* every slot has a tag, and "{<tag>}..." lands in that slot */
	{
		int			tagged = 0;

		for (int slot = 0; slot < REDIS_CLUSTER_SLOTS; slot++)
		{
			const char *tag = redis_slot_tag(slot);
			char		key[REDIS_SLOT_TAG_MAX + 16];

			if (tag == NULL || strlen(tag) > REDIS_SLOT_TAG_MAX)
				continue;
			snprintf(key, sizeof(key), "{%s}ns:k", tag);
			tagged += redis_slot_of_key(key, strlen(key)) == slot;
		}
		check(tagged == REDIS_CLUSTER_SLOTS, "every slot has a tag that hashes to it");
		check(redis_slot_tag(-1) == NULL &&
			  redis_slot_tag(REDIS_CLUSTER_SLOTS) == NULL,
			  "slots out of range have no tag");
	}

	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
