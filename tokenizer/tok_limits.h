/* What a tokenizer file may ask for, so that a few bytes of it cannot cost gigabytes: the
 * tables are indexed by id (one id of 10^8 in a 10 KB tokenizer.json cost 786 MB), and a
 * chain of Replace steps multiplies the text at each step. Documented in docs/models.md
 * ("Limits"). */
#ifndef MOT_TOKENIZER_TOK_LIMITS_H
#define MOT_TOKENIZER_TOK_LIMITS_H

#include <stddef.h>

/* Ids stay below MOT_TOK_MAX_VOCAB (4194304; the largest vocabularies have ~256k) and below
 * 2 x the entries + 1024 (vocabularies are dense: a few holes, not a sparse table). */
#define MOT_TOK_MAX_VOCAB (1 << 22)
#define MOT_TOK_ID_SLACK 1024

static inline long long tok_id_limit(size_t entries) {
    long long dense = 2 * (long long)entries + MOT_TOK_ID_SLACK;
    return dense < MOT_TOK_MAX_VOCAB ? dense : MOT_TOK_MAX_VOCAB;
}

/* Normalized (or decoded) text of n bytes may grow to max(16 x n, n + 1 MiB) bytes: the
 * replacements real tokenizers make (" " -> "▁", 3 bytes) stay far below. */
#define MOT_TOK_GROWTH_FACTOR 16
#define MOT_TOK_GROWTH_SLACK ((size_t)1 << 20)

static inline size_t tok_growth_limit(size_t n) {
    size_t a = n > ((size_t)-1) / MOT_TOK_GROWTH_FACTOR ? (size_t)-1 : n * MOT_TOK_GROWTH_FACTOR;
    size_t b = n + MOT_TOK_GROWTH_SLACK;
    return a > b ? a : b;
}

#endif
