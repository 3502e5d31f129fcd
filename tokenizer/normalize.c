/* Normalizers: Prepend and Replace, in a Sequence (what Llama-2/Mistral tokenizer.json
 * files use: Sequence[Prepend("▁"), Replace(" ", "▁")]). Anything else is refused by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_limits.h"

typedef struct {
    tok_norm_step *data;
    size_t len, cap;
} step_list;

static mot_status add_step(step_list *v, tok_norm_step s) {
    MOT_TRY(tok_grow((void **)&v->data, &v->cap, v->len + 1, sizeof *v->data));
    v->data[v->len++] = s;
    return MOT_OK;
}

static mot_status string_key(const json_t *j, const char *key, const char *file, const char *type, char **out) {
    const json_t *v = json_object_get(j, key);
    if (!json_is_string(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: normalizer %s: key '%s' missing or not a string", file, type, key);
    }
    *out = strdup(json_string_value(v));
    return *out ? MOT_OK : tok_nomem();
}

static mot_status load_one(const json_t *j, const char *file, step_list *v) {
    const json_t *type_j = json_object_get(j, "type");
    const char *type = json_string_value(type_j);
    if (!type) {
        return mot_fail(MOT_ERR_FORMAT, "%s: normalizer: missing 'type'", file);
    }
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(j, "normalizers");
        if (!json_is_array(list)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: normalizer Sequence: 'normalizers' must be an array", file);
        }
        for (size_t i = 0; i < json_array_size(list); i++) {
            MOT_TRY(load_one(json_array_get(list, i), file, v));
        }
        return MOT_OK;
    }
    tok_norm_step s = {0};
    if (strcmp(type, "Prepend") == 0) {
        s.kind = TOK_NORM_PREPEND;
        MOT_TRY(string_key(j, "prepend", file, type, &s.content));
    } else if (strcmp(type, "Replace") == 0) {
        s.kind = TOK_NORM_REPLACE;
        MOT_TRY(string_key(j, "content", file, type, &s.content));
        char where[600];
        snprintf(where, sizeof where, "%s: normalizer Replace", file);
        mot_status st = tok_pattern_from_json(&s.pattern, json_object_get(j, "pattern"), where);
        if (st != MOT_OK) {
            free(s.content);
            return st;
        }
    } else {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: normalizer type '%s' is not supported", file, type);
    }
    mot_status st = add_step(v, s);
    if (st != MOT_OK) {
        free(s.content);
        tok_pattern_free(&s.pattern);
    }
    return st;
}

mot_status tok_normalizer_load(const json_t *j, const char *file, tok_norm_step **steps, size_t *n) {
    step_list v = {0};
    mot_status st = MOT_OK;
    if (j && !json_is_null(j)) {
        st = json_is_object(j) ? load_one(j, file, &v)
                               : mot_fail(MOT_ERR_FORMAT, "%s: normalizer: expected an object or null", file);
    }
    *steps = v.data;
    *n = v.len;
    return st;
}

void tok_normalizer_free(tok_norm_step *steps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(steps[i].content);
        tok_pattern_free(&steps[i].pattern);
    }
    free(steps);
}

mot_status tok_normalize(const tok_norm_step *steps, size_t n_steps, const char *s, size_t n, const char *file,
                         tok_buf *out) {
    tok_buf cur = {0}, next = {0};
    MOT_TRY(tok_buf_append(&cur, s, n));
    /* Every step against the original length: a chain of steps multiplies. */
    const size_t cap = tok_growth_limit(n);
    mot_status st = MOT_OK;
    for (size_t i = 0; st == MOT_OK && i < n_steps; i++) {
        next.len = 0;
        if (steps[i].kind == TOK_NORM_PREPEND) {
            /* HF prepends only to non-empty text. */
            if (cur.len > 0) {
                const size_t plen = strlen(steps[i].content);
                st = cur.len + plen > cap ? MOT_ERR_ARG : tok_buf_append(&next, steps[i].content, plen);
                if (st == MOT_OK) {
                    st = tok_buf_append(&next, cur.data, cur.len);
                }
            } else {
                st = tok_buf_append(&next, "", 0);
            }
        } else {
            st = tok_replace_all(&steps[i].pattern, cur.data, cur.len, steps[i].content, cap, &next);
        }
        if (st == MOT_ERR_ARG) {
            st = mot_fail(MOT_ERR_ARG,
                          "%s: normalizer %s: text of %zu byte%s grows beyond %zu bytes (the limit: 16 x its length, "
                          "or its length + 1 MiB)",
                          file, steps[i].kind == TOK_NORM_PREPEND ? "Prepend" : "Replace", n, n == 1 ? "" : "s", cap);
        }
        tok_buf t = cur;
        cur = next;
        next = t;
    }
    tok_buf_free(&next);
    if (st != MOT_OK) {
        tok_buf_free(&cur);
        return st;
    }
    *out = cur;
    return MOT_OK;
}
