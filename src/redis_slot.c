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
 * This is the first piece of redis-cluster:// (issue #12): the routing of
 * commands by slot, MOVED/ASK and per-node tracking streams will be built
 * on it.  Pure C with no PostgreSQL dependencies and no state: the caller
 * owns each RedisSlotMap (test/unit/test_redis_slot.c checks it against
 * Redis' own CLUSTER KEYSLOT answers).
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "redis_slot.h"

/* CRC16-CCITT's polynomial, in the XMODEM variant Redis Cluster uses. */
#define CRC16_POLYNOMIAL	0x1021

/* CRC16 (XMODEM) of buf, bit by bit: keys are short and this runs once per key. */
uint16_t
redis_slot_crc16(const char *buf, size_t len)
{
	uint16_t	crc = 0;

	for (size_t i = 0; i < len; i++)
	{
		crc ^= (uint16_t) ((unsigned char) buf[i] << 8);
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ CRC16_POLYNOMIAL) :
				(uint16_t) (crc << 1);
	}
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
