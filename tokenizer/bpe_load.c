/* Loads the "model" object of tokenizer.json: a BPE vocabulary and its merges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_limits.h"

static mot_status opt_bool(const json_t *model, const char *key, const char *file, int *out) {
    const json_t *v = json_object_get(model, key);
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (!json_is_boolean(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: model.%s: expected true or false", file, key);
    }
    *out = json_is_true(v);
    return MOT_OK;
}

/* Options Llama/Mistral tokenizers never set: refuse them rather than encode differently. */
static mot_status check_unsupported_options(const json_t *model, const char *file) {
    const json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0)) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: model.dropout is not supported (BPE dropout is random)", file);
    }
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = json_object_get(model, affixes[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
            return mot_fail(MOT_ERR_UNSUPPORTED, "%s: model.%s is not supported", file, affixes[i]);
        }
    }
    return MOT_OK;
}

static mot_status load_vocab(tok_bpe *m, const json_t *vocab, const char *file) {
    if (!json_is_object(vocab)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: model.vocab: expected an object of token -> id", file);
    }
    long long max_id = -1;
    const long long limit = tok_id_limit(json_object_size(vocab));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            return mot_fail(MOT_ERR_FORMAT, "%s: model.vocab: token '%s' has no valid id", file, key);
        }
        if (json_integer_value(v) >= limit) { /* before the id-indexed table is allocated */
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: model.vocab: id %lld for '%.80s' exceeds the limit %lld (ids stay below 2 x the "
                            "%zu entries + %d, and below %d)",
                            file, (long long)json_integer_value(v), key, limit, json_object_size(vocab),
                            MOT_TOK_ID_SLACK, MOT_TOK_MAX_VOCAB);
        }
        if (json_integer_value(v) > max_id) {
            max_id = json_integer_value(v);
        }
    }
    m->n_tokens = (int)(max_id + 1);
    m->tokens = calloc(m->n_tokens ? m->n_tokens : 1, sizeof(char *));
    if (!m->tokens) {
        return tok_nomem();
    }
    json_object_foreach((json_t *)vocab, key, v) {
        int id = (int)json_integer_value(v);
        if (m->tokens[id]) {
            return mot_fail(MOT_ERR_FORMAT, "%s: model.vocab: tokens '%s' and '%s' share id %d", file,
                            m->tokens[id], key, id);
        }
        m->tokens[id] = strdup(key);
        if (!m->tokens[id]) {
            return tok_nomem();
        }
        MOT_TRY(tok_str_map_put(&m->vocab, m->tokens[id], strlen(key), id));
    }
    tok_bpe_find_byte_tokens(m);
    return MOT_OK;
}

void tok_bpe_find_byte_tokens(tok_bpe *m) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_ids[b] = tok_str_map_get(&m->vocab, name, 6);
    }
}

/* A merge is "left right" or ["left", "right"]. */
static mot_status merge_parts(const json_t *item, size_t i, const char *file, const char **left, size_t *left_len,
                              const char **right, size_t *right_len) {
    if (json_is_string(item)) {
        const char *s = json_string_value(item);
        const char *space = strchr(s, ' ');
        if (!space || strchr(space + 1, ' ')) {
            return mot_fail(MOT_ERR_FORMAT, "%s: model.merges[%zu] '%s': expected two tokens separated by one space",
                            file, i, s);
        }
        *left = s;
        *left_len = (size_t)(space - s);
        *right = space + 1;
        *right_len = strlen(space + 1);
        return MOT_OK;
    }
    if (json_is_array(item) && json_array_size(item) == 2 && json_is_string(json_array_get(item, 0)) &&
        json_is_string(json_array_get(item, 1))) {
        *left = json_string_value(json_array_get(item, 0));
        *left_len = json_string_length(json_array_get(item, 0));
        *right = json_string_value(json_array_get(item, 1));
        *right_len = json_string_length(json_array_get(item, 1));
        return MOT_OK;
    }
    return mot_fail(MOT_ERR_FORMAT, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", file, i);
}

int tok_bpe_merge_ids(const tok_bpe *m, const char *l, size_t ll, const char *r, size_t rl, tok_buf *joined,
                      int ids[3]) {
    ids[0] = tok_str_map_get(&m->vocab, l, ll);
    ids[1] = tok_str_map_get(&m->vocab, r, rl);
    if (ids[0] < 0 || ids[1] < 0) {
        return ids[0] < 0 ? 0 : 1;
    }
    joined->len = 0;
    if (tok_buf_append(joined, l, ll) != MOT_OK || tok_buf_append(joined, r, rl) != MOT_OK) {
        return -2;
    }
    ids[2] = tok_str_map_get(&m->vocab, joined->data, joined->len);
    return ids[2] < 0 ? 2 : -1;
}

static mot_status load_merges(tok_bpe *m, const json_t *merges, const char *file) {
    if (!merges || json_is_null(merges)) {
        return MOT_OK;
    }
    if (!json_is_array(merges)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: model.merges: expected an array", file);
    }
    tok_buf joined = {0};
    mot_status st = MOT_OK;
    for (size_t i = 0; st == MOT_OK && i < json_array_size(merges); i++) {
        const char *l = NULL, *r = NULL;
        size_t ll = 0, rl = 0;
        if ((st = merge_parts(json_array_get(merges, i), i, file, &l, &ll, &r, &rl)) != MOT_OK) {
            break;
        }
        int ids[3];
        int missing = tok_bpe_merge_ids(m, l, ll, r, rl, &joined, ids);
        if (missing == -2) {
            st = tok_nomem();
        } else if (missing == 2) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: model.merges[%zu]: merged token '%s' is not in the vocab", file, i,
                          joined.data);
        } else if (missing >= 0) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: model.merges[%zu]: token '%.*s' is not in the vocab", file, i,
                          (int)(missing == 0 ? ll : rl), missing == 0 ? l : r);
        } else {
            /* A repeated pair takes its last rank, as HF's HashMap collect does. */
            st = tok_pair_map_put(&m->merges, ids[0], ids[1], (int)i, ids[2]);
        }
    }
    tok_buf_free(&joined);
    return st;
}

mot_status tok_bpe_load(tok_bpe *m, const json_t *model, const char *file) {
    *m = (tok_bpe){0};
    m->unk_id = -1;
    if (!json_is_object(model)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'model': missing or not an object", file);
    }
    const json_t *type = json_object_get(model, "type");
    if (type && !json_is_string(type)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: model.type: expected a string", file);
    }
    if (type && strcmp(json_string_value(type), "BPE") != 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: model type '%s' is not supported (only BPE)", file,
                        json_string_value(type));
    }
    if (!type && !json_object_get(model, "merges")) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: model without a type and without merges is not supported (only BPE)",
                        file);
    }
    MOT_TRY(check_unsupported_options(model, file));
    MOT_TRY(opt_bool(model, "byte_fallback", file, &m->byte_fallback));
    MOT_TRY(opt_bool(model, "fuse_unk", file, &m->fuse_unk));
    MOT_TRY(opt_bool(model, "ignore_merges", file, &m->ignore_merges));
    MOT_TRY(load_vocab(m, json_object_get(model, "vocab"), file));
    MOT_TRY(load_merges(m, json_object_get(model, "merges"), file));
    const json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: model.unk_token: expected a string", file);
        }
        m->unk_id = tok_str_map_get(&m->vocab, json_string_value(unk), json_string_length(unk));
        if (m->unk_id < 0) {
            return mot_fail(MOT_ERR_FORMAT, "%s: model.unk_token '%s' is not in the vocab", file,
                            json_string_value(unk));
        }
    }
    return MOT_OK;
}

void tok_bpe_free(tok_bpe *m) {
    for (int i = 0; i < m->n_tokens; i++) {
        free(m->tokens[i]);
    }
    free(m->tokens);
    tok_str_map_free(&m->vocab);
    tok_pair_map_free(&m->merges);
    *m = (tok_bpe){0};
}
