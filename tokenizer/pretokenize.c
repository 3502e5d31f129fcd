/* Pre-tokenizers: Split (regex or string, every HF behaviour, invert), ByteLevel
 * (add_prefix_space, use_regex, then the byte-to-unicode map), Metaspace (replacement,
 * prepend_scheme, split) and Digits, in a Sequence. Others are refused by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tok_internal.h"

typedef struct {
    tok_pre_step *data;
    size_t len, cap;
} step_list;

static mot_status add_step(step_list *v, tok_pre_step s) {
    if (tok_grow((void **)&v->data, &v->cap, v->len + 1, sizeof *v->data) != MOT_OK) {
        tok_pattern_free(&s.pattern);
        return MOT_ERR_NOMEM;
    }
    v->data[v->len++] = s;
    return MOT_OK;
}

static mot_status opt_bool(const json_t *j, const char *key, const char *where, int *out) {
    const json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (!json_is_boolean(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: '%s' must be true or false", where, key);
    }
    *out = json_is_true(v);
    return MOT_OK;
}

mot_status tok_parse_prepend_scheme(const json_t *j, const char *where, tok_prepend_scheme *out) {
    const json_t *scheme = json_object_get(j, "prepend_scheme");
    if (json_is_string(scheme)) {
        const char *s = json_string_value(scheme);
        if (strcmp(s, "always") == 0) {
            *out = TOK_PREPEND_ALWAYS;
        } else if (strcmp(s, "first") == 0) {
            *out = TOK_PREPEND_FIRST;
        } else if (strcmp(s, "never") == 0) {
            *out = TOK_PREPEND_NEVER;
        } else {
            return mot_fail(MOT_ERR_FORMAT, "%s: prepend_scheme '%s' is not always, first or never", where, s);
        }
        return MOT_OK;
    }
    int add_prefix_space = 1; /* the legacy key; HF's default is to prepend */
    MOT_TRY(opt_bool(j, "add_prefix_space", where, &add_prefix_space));
    *out = add_prefix_space ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
    return MOT_OK;
}

static mot_status load_metaspace(const json_t *j, const char *where, tok_pre_step *s) {
    s->kind = TOK_PRE_METASPACE;
    const json_t *rep = json_object_get(j, "replacement");
    const char *r = json_is_string(rep) ? json_string_value(rep) : "\xE2\x96\x81";
    if (strlen(r) == 0 || strlen(r) >= sizeof s->replacement) {
        return mot_fail(MOT_ERR_FORMAT, "%s: 'replacement' must be one character", where);
    }
    strcpy(s->replacement, r);
    MOT_TRY(tok_parse_prepend_scheme(j, where, &s->prepend));
    int split = 1;
    MOT_TRY(opt_bool(j, "split", where, &split));
    if (split) {
        s->has_pattern = 1;
        MOT_TRY(tok_pattern_literal(&s->pattern, s->replacement, strlen(s->replacement)));
        s->behavior = TOK_SPLIT_MERGED_WITH_NEXT;
    }
    return MOT_OK;
}

static mot_status load_one(const json_t *j, const char *file, step_list *v) {
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) {
        return mot_fail(MOT_ERR_FORMAT, "%s: pre_tokenizer: missing 'type'", file);
    }
    char where[600];
    snprintf(where, sizeof where, "%s: pre_tokenizer %s", file, type);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(j, "pretokenizers");
        if (!json_is_array(list)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: 'pretokenizers' must be an array", where);
        }
        for (size_t i = 0; i < json_array_size(list); i++) {
            MOT_TRY(load_one(json_array_get(list, i), file, v));
        }
        return MOT_OK;
    }
    tok_pre_step s = {0};
    mot_status st = MOT_OK;
    if (strcmp(type, "Split") == 0) {
        s.kind = TOK_PRE_SPLIT;
        s.has_pattern = 1;
        st = tok_pattern_from_json(&s.pattern, json_object_get(j, "pattern"), where);
        if (st == MOT_OK) {
            st = tok_split_behavior_parse(json_string_value(json_object_get(j, "behavior")), &s.behavior, where);
        }
        if (st == MOT_OK) {
            st = opt_bool(j, "invert", where, &s.invert);
        }
    } else if (strcmp(type, "ByteLevel") == 0) {
        s.kind = TOK_PRE_BYTE_LEVEL;
        s.add_prefix_space = 1; /* HF's defaults */
        int use_regex = 1;
        st = opt_bool(j, "add_prefix_space", where, &s.add_prefix_space);
        if (st == MOT_OK) {
            st = opt_bool(j, "use_regex", where, &use_regex);
        }
        if (st == MOT_OK && use_regex) {
            s.has_pattern = 1;
            s.behavior = TOK_SPLIT_ISOLATED;
            st = tok_pattern_regex(&s.pattern, tok_gpt2_regex, where);
        }
    } else if (strcmp(type, "Metaspace") == 0) {
        st = load_metaspace(j, where, &s);
    } else if (strcmp(type, "Digits") == 0) {
        s.kind = TOK_PRE_DIGITS;
        int individual = 0;
        st = opt_bool(j, "individual_digits", where, &individual);
        s.behavior = individual ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS;
        s.has_pattern = 1;
        if (st == MOT_OK) {
            st = tok_pattern_regex(&s.pattern, "\\p{N}", where);
        }
    } else {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: pre_tokenizer type '%s' is not supported", file, type);
    }
    if (st != MOT_OK) {
        tok_pattern_free(&s.pattern);
        return st;
    }
    return add_step(v, s);
}

mot_status tok_pretokenizer_load(const json_t *j, const char *file, tok_pre_step **steps, size_t *n) {
    step_list v = {0};
    mot_status st = MOT_OK;
    if (j && !json_is_null(j)) {
        st = json_is_object(j) ? load_one(j, file, &v)
                               : mot_fail(MOT_ERR_FORMAT, "%s: pre_tokenizer: expected an object or null", file);
    }
    *steps = v.data;
    *n = v.len;
    return st;
}

void tok_pretokenizer_free(tok_pre_step *steps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tok_pattern_free(&steps[i].pattern);
    }
    free(steps);
}

/* ByteLevel on one piece: optional leading space, regex split, then every byte mapped. */
static mot_status byte_level(const tok_pre_step *s, const tok_piece *p, tok_pieces *out) {
    tok_buf text = {0};
    mot_status st = MOT_OK;
    if (s->add_prefix_space && p->s[0] != ' ') {
        st = tok_buf_append(&text, " ", 1);
    }
    if (st == MOT_OK) {
        st = tok_buf_append(&text, p->s, p->len);
    }
    tok_piece whole = {text.data, text.len, p->at_start};
    tok_pieces parts = {0};
    if (st == MOT_OK) {
        st = s->has_pattern ? tok_split(&s->pattern, 0, TOK_SPLIT_ISOLATED, &whole, &parts)
                            : tok_pieces_push(&parts, whole.s, whole.len, whole.at_start);
    }
    for (size_t i = 0; st == MOT_OK && i < parts.len; i++) {
        tok_buf mapped = {0};
        st = tok_bytes_to_unicode(&mapped, parts.data[i].s, parts.data[i].len);
        if (st == MOT_OK) {
            st = tok_pieces_push_buf(out, &mapped, parts.data[i].at_start);
        }
        tok_buf_free(&mapped);
    }
    tok_pieces_free(&parts);
    tok_buf_free(&text);
    return st;
}

/* Metaspace on one piece: spaces become the replacement, which is prepended as the scheme
 * says (unless already there), then the piece splits before each replacement. */
static mot_status metaspace(const tok_pre_step *s, const tok_piece *p, tok_pieces *out) {
    tok_pattern space = {.literal = " ", .literal_len = 1};
    size_t rlen = strlen(s->replacement);
    tok_buf text = {0};
    int prepend = (s->prepend == TOK_PREPEND_ALWAYS || (s->prepend == TOK_PREPEND_FIRST && p->at_start));
    mot_status st = tok_replace_all(&space, p->s, p->len, s->replacement, (size_t)-1, &text);
    if (st == MOT_OK && prepend && !(text.len >= rlen && memcmp(text.data, s->replacement, rlen) == 0)) {
        tok_buf with = {0};
        st = tok_buf_append(&with, s->replacement, rlen);
        if (st == MOT_OK) {
            st = tok_buf_append(&with, text.data, text.len);
        }
        tok_buf_free(&text);
        text = with;
    }
    if (st == MOT_OK) {
        tok_piece whole = {text.data, text.len, p->at_start};
        st = s->has_pattern ? tok_split(&s->pattern, 0, s->behavior, &whole, out)
                            : tok_pieces_push(out, whole.s, whole.len, whole.at_start);
    }
    tok_buf_free(&text);
    return st;
}

static mot_status apply_step(const tok_pre_step *s, const tok_piece *p, tok_pieces *out) {
    switch (s->kind) {
    case TOK_PRE_SPLIT:
        return tok_split(&s->pattern, s->invert, s->behavior, p, out);
    case TOK_PRE_DIGITS:
        return tok_split(&s->pattern, 0, s->behavior, p, out);
    case TOK_PRE_BYTE_LEVEL:
        return byte_level(s, p, out);
    case TOK_PRE_METASPACE:
        return metaspace(s, p, out);
    }
    return mot_fail(MOT_ERR_INTERNAL, "tokenizer: unknown pre-tokenizer step %d", (int)s->kind);
}

mot_status tok_pretokenize(const tok_pre_step *steps, size_t n_steps, tok_pieces *pieces) {
    for (size_t i = 0; i < n_steps; i++) {
        tok_pieces next = {0};
        mot_status st = MOT_OK;
        for (size_t k = 0; st == MOT_OK && k < pieces->len; k++) {
            st = apply_step(&steps[i], &pieces->data[k], &next);
        }
        tok_pieces_free(pieces);
        *pieces = next;
        if (st != MOT_OK) {
            return st;
        }
    }
    return MOT_OK;
}
