/*-------------------------------------------------------------------------
 * redis_slot.h
 *	  Redis Cluster's key-to-slot mapping and a map from slot to node.
 *
 * Pure C with no PostgreSQL dependencies, so the unit tests link it alone.
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_REDIS_SLOT_H
#define CACHEXT_REDIS_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Redis Cluster's number of hash slots. */
#define REDIS_CLUSTER_SLOTS	16384

/* A slot no node serves (yet). */
#define REDIS_SLOT_NO_NODE	(-1)

/* The longest slot tag redis_slot_tag gives. */
#define REDIS_SLOT_TAG_MAX	3

/* Which node (an index into the caller's list of nodes) serves each slot. */
typedef struct RedisSlotMap
{
	int16_t		node[REDIS_CLUSTER_SLOTS];
} RedisSlotMap;

extern uint16_t redis_slot_crc16(const char *buf, size_t len);
extern int	redis_slot_of_key(const char *key, size_t len);

extern const char *redis_slot_tag(int slot);

extern void redis_slot_map_clear(RedisSlotMap *map);
extern bool redis_slot_map_assign(RedisSlotMap *map, long first, long last,
								  int node);
extern int	redis_slot_map_node(const RedisSlotMap *map, int slot);
extern bool redis_slot_map_complete(const RedisSlotMap *map);

#endif							/* CACHEXT_REDIS_SLOT_H */
