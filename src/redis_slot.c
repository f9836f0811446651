/*-------------------------------------------------------------------------
 * redis_slot.c
 *	  Redis Cluster's key-to-slot mapping -- CRC16 (XMODEM: polynomial
 *	  0x1021, initial value 0) of the key, or of its hash tag, modulo 16384
 *	  -- and a map from slot to node filled from the ranges CLUSTER SLOTS
 *	  answers.
 *
 * Hash tags.  When a key holds "{" and a later "}" with at least one byte
 * between them, only the bytes between the first "{" and the first "}"
 * after it are hashed, so that keys sharing a tag share a slot ("foo{}{bar}"
 * hashes whole, "foo{{bar}}zap" hashes "{bar", "foo{bar}{zap}" hashes
 * "bar"), exactly as Redis' keyHashSlot() does.
 *
 * Slot tags.  redis_slot_tag names, for each slot, a short alphanumeric
 * string that hashes to it, so that cachext's own keys can be put in a
 * given slot with "{<tag>}" (l2_keys.c: a data key's write sequence and
 * load lock, and each slot's epoch).  The table is found once per process
 * by trying strings in order, the same on every machine.
 *
 * Pure C with no PostgreSQL dependencies: redis_route.c uses it for
 * redis-cluster://; the caller owns each RedisSlotMap, and the only state is
 * the CRC16 and slot-tag tables, filled on first use and never changed after
 * (test/unit/test_redis_slot.c checks all of it against Redis' own CLUSTER
 * KEYSLOT answers and the tags against redis_slot_of_key).
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "redis_slot.h"

/* CRC16-CCITT's polynomial, in the XMODEM variant Redis Cluster uses. */
#define CRC16_POLYNOMIAL	0x1021

/* The characters slot tags are spelled with. */
static const char tag_alphabet[] =
"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* Each slot's tag, NUL-terminated; filled on first use. */
static char slot_tags[REDIS_CLUSTER_SLOTS][REDIS_SLOT_TAG_MAX + 1];
static bool slot_tags_filled = false;

/* CRC16 of each byte value, for a byte at a time; filled on first use. */
static uint16_t crc16_table[256];
static bool crc16_table_filled = false;

static void
fill_crc16_table(void)
{
	for (int byte = 0; byte < 256; byte++)
	{
		uint16_t	crc = (uint16_t) (byte << 8);

		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ CRC16_POLYNOMIAL) :
				(uint16_t) (crc << 1);
		crc16_table[byte] = crc;
	}
	crc16_table_filled = true;
}

/*
 * CRC16 (XMODEM) of buf, a byte at a time: a bulk commit hashes every key
 * it fences (l2_commands.c), so the per-bit loop showed in its profile.
 */
uint16_t
redis_slot_crc16(const char *buf, size_t len)
{
	uint16_t	crc = 0;

	if (!crc16_table_filled)
		fill_crc16_table();
	for (size_t i = 0; i < len; i++)
		crc = (uint16_t) ((crc << 8) ^
						  crc16_table[((crc >> 8) ^ (unsigned char) buf[i]) & 0xFF]);
	return crc;
}

/* The hash slot of key, honouring a hash tag. */
int
redis_slot_of_key(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);

	if (open != NULL)
	{
		const char *tag = open + 1;
		const char *close = memchr(tag, '}', len - (tag - key));

		if (close != NULL && close > tag)
			return redis_slot_crc16(tag, close - tag) % REDIS_CLUSTER_SLOTS;
	}
	return redis_slot_crc16(key, len) % REDIS_CLUSTER_SLOTS;
}

/* Forgets every slot's node. */
void
redis_slot_map_clear(RedisSlotMap *map)
{
	for (int slot = 0; slot < REDIS_CLUSTER_SLOTS; slot++)
		map->node[slot] = REDIS_SLOT_NO_NODE;
}

/*
 * Records that node serves slots first..last (one range of CLUSTER SLOTS);
 * false, changing nothing, when the range or the node index is not valid.
 */
bool
redis_slot_map_assign(RedisSlotMap *map, long first, long last, int node)
{
	if (first < 0 || last >= REDIS_CLUSTER_SLOTS || first > last ||
		node < 0 || node > INT16_MAX)
		return false;
	for (long slot = first; slot <= last; slot++)
		map->node[slot] = (int16_t) node;
	return true;
}

/* The node serving slot, or REDIS_SLOT_NO_NODE. */
int
redis_slot_map_node(const RedisSlotMap *map, int slot)
{
	if (slot < 0 || slot >= REDIS_CLUSTER_SLOTS)
		return REDIS_SLOT_NO_NODE;
	return map->node[slot];
}

/* Does every slot have a node (a cluster whose map may be used)? */
bool
redis_slot_map_complete(const RedisSlotMap *map)
{
	for (int slot = 0; slot < REDIS_CLUSTER_SLOTS; slot++)
		if (map->node[slot] == REDIS_SLOT_NO_NODE)
			return false;
	return true;
}

/*
 * Fills slot_tags: strings of the alphabet, shortest first, each kept for
 * the first slot it hashes to.  Three characters (238328 strings) reach
 * every slot; the unit test proves it.
 */
static void
fill_slot_tags(void)
{
	const int	base = sizeof(tag_alphabet) - 1;
	int			missing = REDIS_CLUSTER_SLOTS;

	for (int len = 1; len <= REDIS_SLOT_TAG_MAX && missing > 0; len++)
	{
		long		count = 1;

		for (int i = 0; i < len; i++)
			count *= base;
		for (long n = 0; n < count && missing > 0; n++)
		{
			char		tag[REDIS_SLOT_TAG_MAX + 1];
			long		rest = n;
			int			slot;

			for (int i = len - 1; i >= 0; i--)
			{
				tag[i] = tag_alphabet[rest % base];
				rest /= base;
			}
			tag[len] = '\0';
			slot = redis_slot_crc16(tag, len) % REDIS_CLUSTER_SLOTS;
			if (slot_tags[slot][0] == '\0')
			{
				memcpy(slot_tags[slot], tag, len + 1);
				missing--;
			}
		}
	}
	slot_tags_filled = true;
}

/*
 * A string that hashes to slot (alphanumeric, at most REDIS_SLOT_TAG_MAX
 * bytes), or NULL for a slot out of range.
 */
const char *
redis_slot_tag(int slot)
{
	if (slot < 0 || slot >= REDIS_CLUSTER_SLOTS)
		return NULL;
	if (!slot_tags_filled)
		fill_slot_tags();
	return slot_tags[slot][0] != '\0' ? slot_tags[slot] : NULL;
}
