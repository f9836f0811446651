/*-------------------------------------------------------------------------
 * l2_keys.h
 *	  The names of cachext's own keys in Redis (l2_keys.c).
 *-------------------------------------------------------------------------
 */
#ifndef CACHEXT_L2_KEYS_H
#define CACHEXT_L2_KEYS_H

#include "postgres.h"

extern void l2_keys_set_cluster(bool cluster);
extern bool l2_keys_for_cluster(void);
extern char *l2_keys_seq(const char *key, int key_len, int *len);
extern char *l2_keys_lock(const char *key, int key_len, int *len);
extern char *l2_keys_tag(const char *tag, int tag_len, int *len);
extern const char *l2_keys_seq_suffix(int *len);
extern const char *l2_keys_epoch(const char *key, int key_len, int *len);
extern const char *l2_keys_pattern_fences(const char *key, int key_len,
										  int *len);
extern int	l2_keys_shared_copies(void);
extern const char *l2_keys_epoch_copy(int i, int *len);
extern const char *l2_keys_pattern_fences_copy(int i, int *len);
extern int	l2_keys_buckets(void);
extern int	l2_keys_bucket(const char *key, int key_len);
extern char *l2_keys_bucket_fences(int bucket, int *len);
extern char *l2_keys_bucket_seq(int bucket, int *len);
extern bool l2_keys_is_fence(const char *key, size_t len);
extern bool l2_keys_is_tag(const char *key, size_t len);

#endif							/* CACHEXT_L2_KEYS_H */
