/* Open-addressing hash maps: token string -> id (the vocabulary) and id pair -> merge
 * (rank, merged id). Both are filled once at load and only read while encoding. */
#ifndef MOT_TOKENIZER_HASH_MAPS_H
#define MOT_TOKENIZER_HASH_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "mot.h"

typedef struct {
    const char *key; /* borrowed: points into the owner's token strings */
    size_t key_len;
    int value;
} tok_str_slot;

typedef struct {
    tok_str_slot *slots; /* capacity is a power of two; key NULL = empty */
    size_t cap, count;
} tok_str_map;

/* Inserts or overwrites. The key must outlive the map. */
mot_status tok_str_map_put(tok_str_map *m, const char *key, size_t len, int value);
/* The value, or -1 when absent. */
int tok_str_map_get(const tok_str_map *m, const char *key, size_t len);
void tok_str_map_free(tok_str_map *m);

typedef struct {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX = empty */
    int rank, merged_id;
} tok_pair_slot;

typedef struct {
    tok_pair_slot *slots;
    size_t cap, count;
} tok_pair_map;

mot_status tok_pair_map_put(tok_pair_map *m, int left, int right, int rank, int merged_id);
/* The slot for (left, right), or NULL. */
const tok_pair_slot *tok_pair_map_get(const tok_pair_map *m, int left, int right);
void tok_pair_map_free(tok_pair_map *m);

#endif
