#include "tokenizer/hash_maps.h"

#include "common/error.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_buf.h"

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* ---- strings ---- */

static tok_str_slot *str_find(tok_str_slot *slots, size_t cap, const char *key, size_t len) {
    size_t i = hash_bytes(key, len) & (cap - 1);
    while (slots[i].key && !(slots[i].key_len == len && memcmp(slots[i].key, key, len) == 0)) {
        i = (i + 1) & (cap - 1);
    }
    return &slots[i];
}

static mot_status str_grow(tok_str_map *m) {
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    tok_str_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) {
        return tok_nomem();
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key) {
            *str_find(ns, ncap, m->slots[i].key, m->slots[i].key_len) = m->slots[i];
        }
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return MOT_OK;
}

mot_status tok_str_map_put(tok_str_map *m, const char *key, size_t len, int value) {
    if ((m->count + 1) * 2 > m->cap) {
        MOT_TRY(str_grow(m));
    }
    tok_str_slot *s = str_find(m->slots, m->cap, key, len);
    if (!s->key) {
        m->count++;
    }
    *s = (tok_str_slot){key, len, value};
    return MOT_OK;
}

int tok_str_map_get(const tok_str_map *m, const char *key, size_t len) {
    if (!m->cap) {
        return -1;
    }
    const tok_str_slot *s = str_find(m->slots, m->cap, key, len);
    return s->key ? s->value : -1;
}

void tok_str_map_free(tok_str_map *m) {
    free(m->slots);
    *m = (tok_str_map){0};
}

/* ---- id pairs ---- */

static uint64_t pair_key(int left, int right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

static tok_pair_slot *pair_find(tok_pair_slot *slots, size_t cap, uint64_t key) {
    size_t i = hash_u64(key) & (cap - 1);
    while (slots[i].key != UINT64_MAX && slots[i].key != key) {
        i = (i + 1) & (cap - 1);
    }
    return &slots[i];
}

static mot_status pair_grow(tok_pair_map *m) {
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    tok_pair_slot *ns = malloc(ncap * sizeof *ns);
    if (!ns) {
        return tok_nomem();
    }
    for (size_t i = 0; i < ncap; i++) {
        ns[i].key = UINT64_MAX;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key != UINT64_MAX) {
            *pair_find(ns, ncap, m->slots[i].key) = m->slots[i];
        }
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return MOT_OK;
}

mot_status tok_pair_map_put(tok_pair_map *m, int left, int right, int rank, int merged_id) {
    if ((m->count + 1) * 2 > m->cap) {
        MOT_TRY(pair_grow(m));
    }
    uint64_t key = pair_key(left, right);
    tok_pair_slot *s = pair_find(m->slots, m->cap, key);
    if (s->key == UINT64_MAX) {
        m->count++;
    }
    *s = (tok_pair_slot){key, rank, merged_id};
    return MOT_OK;
}

const tok_pair_slot *tok_pair_map_get(const tok_pair_map *m, int left, int right) {
    if (!m->cap) {
        return NULL;
    }
    const tok_pair_slot *s = pair_find(m->slots, m->cap, pair_key(left, right));
    return s->key == UINT64_MAX ? NULL : s;
}

void tok_pair_map_free(tok_pair_map *m) {
    free(m->slots);
    *m = (tok_pair_map){0};
}
