/* Decoders: ByteLevel, Replace, ByteFallback, Fuse, Strip and Metaspace, in a Sequence,
 * each a pass over the list of token strings as in HF's Decoder::decode_chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_limits.h"
#include "tokenizer/utf8.h"

typedef struct {
    tok_dec_step *data;
    size_t len, cap;
} step_list;

static mot_status add_step(step_list *v, tok_dec_step s) {
    if (tok_grow((void **)&v->data, &v->cap, v->len + 1, sizeof *v->data) != MOT_OK) {
        free(s.content);
        tok_pattern_free(&s.pattern);
        return MOT_ERR_NOMEM;
    }
    v->data[v->len++] = s;
    return MOT_OK;
}

/* A one-character string key as a code point. */
static mot_status char_key(const json_t *j, const char *key, const char *where, uint32_t *out) {
    const json_t *v = json_object_get(j, key);
    size_t len;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        (tok_utf8_decode(json_string_value(v), &len), len != json_string_length(v))) {
        return mot_fail(MOT_ERR_FORMAT, "%s: '%s' must be a one-character string", where, key);
    }
    *out = tok_utf8_decode(json_string_value(v), &len);
    return MOT_OK;
}

static mot_status count_key(const json_t *j, const char *key, const char *where, int *out) {
    const json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000) {
        return mot_fail(MOT_ERR_FORMAT, "%s: '%s' must be a non-negative integer", where, key);
    }
    *out = (int)json_integer_value(v);
    return MOT_OK;
}

static mot_status load_one(const json_t *j, const char *file, step_list *v) {
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) {
        return mot_fail(MOT_ERR_FORMAT, "%s: decoder: missing 'type'", file);
    }
    char where[600];
    snprintf(where, sizeof where, "%s: decoder %s", file, type);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(j, "decoders");
        if (!json_is_array(list)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: 'decoders' must be an array", where);
        }
        for (size_t i = 0; i < json_array_size(list); i++) {
            MOT_TRY(load_one(json_array_get(list, i), file, v));
        }
        return MOT_OK;
    }
    tok_dec_step s = {0};
    mot_status st = MOT_OK;
    if (strcmp(type, "ByteLevel") == 0) {
        s.kind = TOK_DEC_BYTE_LEVEL;
    } else if (strcmp(type, "ByteFallback") == 0) {
        s.kind = TOK_DEC_BYTE_FALLBACK;
    } else if (strcmp(type, "Fuse") == 0) {
        s.kind = TOK_DEC_FUSE;
    } else if (strcmp(type, "Replace") == 0) {
        s.kind = TOK_DEC_REPLACE;
        const json_t *content = json_object_get(j, "content");
        if (!json_is_string(content)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: 'content' must be a string", where);
        }
        MOT_TRY(tok_pattern_from_json(&s.pattern, json_object_get(j, "pattern"), where));
        s.content = strdup(json_string_value(content));
        st = s.content ? MOT_OK : tok_nomem();
    } else if (strcmp(type, "Strip") == 0) {
        s.kind = TOK_DEC_STRIP;
        st = char_key(j, "content", where, &s.strip_cp);
        if (st == MOT_OK) {
            st = count_key(j, "start", where, &s.strip_start);
        }
        if (st == MOT_OK) {
            st = count_key(j, "stop", where, &s.strip_stop);
        }
    } else if (strcmp(type, "Metaspace") == 0) {
        s.kind = TOK_DEC_METASPACE;
        s.replacement = 0x2581;
        if (json_object_get(j, "replacement")) {
            st = char_key(j, "replacement", where, &s.replacement);
        }
        if (st == MOT_OK) {
            st = tok_parse_prepend_scheme(j, where, &s.prepend);
        }
    } else {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: decoder type '%s' is not supported", file, type);
    }
    if (st != MOT_OK) {
        free(s.content);
        tok_pattern_free(&s.pattern);
        return st;
    }
    return add_step(v, s);
}

mot_status tok_decoder_load(const json_t *j, const char *file, tok_dec_step **steps, size_t *n) {
    step_list v = {0};
    mot_status st = MOT_OK;
    if (j && !json_is_null(j)) {
        st = json_is_object(j) ? load_one(j, file, &v)
                               : mot_fail(MOT_ERR_FORMAT, "%s: decoder: expected an object or null", file);
    }
    *steps = v.data;
    *n = v.len;
    return st;
}

void tok_decoder_free(tok_dec_step *steps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(steps[i].content);
        tok_pattern_free(&steps[i].pattern);
    }
    free(steps);
}

/* ---- the passes: each turns `in` into `out` ---- */

static mot_status byte_level(const tok_pieces *in, tok_pieces *out) {
    tok_buf bytes = {0}, text = {0};
    mot_status st = MOT_OK;
    for (size_t i = 0; st == MOT_OK && i < in->len; i++) {
        if (!tok_unicode_to_bytes(in->data[i].s, in->data[i].len, &bytes, &st) && st == MOT_OK) {
            st = tok_buf_append(&bytes, in->data[i].s, in->data[i].len); /* not byte-level text: as is */
        }
    }
    if (st == MOT_OK) {
        st = tok_utf8_append_lossy(&text, bytes.data ? bytes.data : "", bytes.len);
    }
    if (st == MOT_OK) {
        st = tok_pieces_push_buf(out, &text, 0);
    }
    tok_buf_free(&bytes);
    tok_buf_free(&text);
    return st;
}

/* "<0xNN>" -> NN, else -1. */
static int byte_token(const tok_piece *t) {
    if (t->len != 6 || memcmp(t->s, "<0x", 3) != 0 || t->s[5] != '>') {
        return -1;
    }
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t->s[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* A run of byte tokens becomes its text when valid UTF-8, else one U+FFFD per byte. */
static mot_status flush_bytes(tok_buf *run, tok_pieces *out) {
    if (run->len == 0) {
        return MOT_OK;
    }
    mot_status st = MOT_OK;
    if (tok_utf8_is_valid(run->data, run->len)) {
        st = tok_pieces_push(out, run->data, run->len, 0);
    } else {
        for (size_t i = 0; st == MOT_OK && i < run->len; i++) {
            st = tok_pieces_push(out, "\xEF\xBF\xBD", 3, 0);
        }
    }
    run->len = 0;
    return st;
}

static mot_status byte_fallback(const tok_pieces *in, tok_pieces *out) {
    tok_buf run = {0};
    mot_status st = MOT_OK;
    for (size_t i = 0; st == MOT_OK && i < in->len; i++) {
        int b = byte_token(&in->data[i]);
        if (b >= 0) {
            char c = (char)b;
            st = tok_buf_append(&run, &c, 1);
            continue;
        }
        st = flush_bytes(&run, out);
        if (st == MOT_OK) {
            st = tok_pieces_push(out, in->data[i].s, in->data[i].len, 0);
        }
    }
    if (st == MOT_OK) {
        st = flush_bytes(&run, out);
    }
    tok_buf_free(&run);
    return st;
}

static mot_status fuse(const tok_pieces *in, tok_pieces *out) {
    tok_buf all = {0};
    mot_status st = tok_buf_append(&all, "", 0);
    for (size_t i = 0; st == MOT_OK && i < in->len; i++) {
        st = tok_buf_append(&all, in->data[i].s, in->data[i].len);
    }
    if (st == MOT_OK) {
        st = tok_pieces_push_buf(out, &all, 0);
    }
    tok_buf_free(&all);
    return st;
}

/* Strip: up to `start` leading and `stop` trailing copies of one character per token. */
static mot_status strip(const tok_dec_step *s, const tok_pieces *in, tok_pieces *out) {
    char enc[4];
    size_t elen = tok_utf8_encode(s->strip_cp, enc);
    for (size_t i = 0; i < in->len; i++) {
        const char *p = in->data[i].s;
        size_t a = 0, b = in->data[i].len;
        for (int k = 0; k < s->strip_start && b - a >= elen && memcmp(p + a, enc, elen) == 0; k++) {
            a += elen;
        }
        for (int k = 0; k < s->strip_stop && b - a >= elen && memcmp(p + b - elen, enc, elen) == 0; k++) {
            b -= elen;
        }
        MOT_TRY(tok_pieces_push(out, p + a, b - a, 0));
    }
    return MOT_OK;
}

/* Replacement characters become spaces; in the first token they are dropped unless the
 * prepend scheme is "never" (HF's Metaspace decoder). */
static mot_status metaspace(const tok_dec_step *s, const tok_pieces *in, tok_pieces *out) {
    for (size_t i = 0; i < in->len; i++) {
        tok_buf t = {0};
        mot_status st = tok_buf_append(&t, "", 0);
        const char *p = in->data[i].s;
        for (size_t k = 0; st == MOT_OK && k < in->data[i].len;) {
            size_t len;
            uint32_t cp = tok_utf8_decode(p + k, &len);
            if (cp != s->replacement) {
                st = tok_buf_append(&t, p + k, len);
            } else if (!(i == 0 && s->prepend != TOK_PREPEND_NEVER)) {
                st = tok_buf_append(&t, " ", 1);
            }
            k += len;
        }
        if (st == MOT_OK) {
            st = tok_pieces_push_buf(out, &t, 0);
        }
        tok_buf_free(&t);
        MOT_TRY(st);
    }
    return MOT_OK;
}

/* cap: the bytes all the step's pieces together may reach (tok_limits.h). */
static mot_status replace(const tok_dec_step *s, const tok_pieces *in, size_t cap, const char *file, tok_pieces *out) {
    size_t total = 0;
    for (size_t i = 0; i < in->len; i++) {
        tok_buf t = {0};
        mot_status st = tok_replace_all(&s->pattern, in->data[i].s, in->data[i].len, s->content, cap - total, &t);
        if (st == MOT_ERR_ARG) {
            st = mot_fail(MOT_ERR_ARG, "%s: decoder Replace: decoded text grows beyond %zu bytes", file, cap);
        }
        total += t.len;
        if (st == MOT_OK) {
            st = tok_pieces_push_buf(out, &t, 0);
        }
        tok_buf_free(&t);
        MOT_TRY(st);
    }
    return MOT_OK;
}

static mot_status apply_step(const tok_dec_step *s, const tok_pieces *in, size_t cap, const char *file,
                             tok_pieces *out) {
    switch (s->kind) {
    case TOK_DEC_BYTE_LEVEL: return byte_level(in, out);
    case TOK_DEC_REPLACE: return replace(s, in, cap, file, out);
    case TOK_DEC_BYTE_FALLBACK: return byte_fallback(in, out);
    case TOK_DEC_FUSE: return fuse(in, out);
    case TOK_DEC_STRIP: return strip(s, in, out);
    case TOK_DEC_METASPACE: return metaspace(s, in, out);
    }
    return mot_fail(MOT_ERR_INTERNAL, "tokenizer: unknown decoder step %d", (int)s->kind);
}

mot_status tok_decode_tokens(const tok_dec_step *steps, size_t n_steps, int has_decoder, const char *file,
                             tok_pieces *tokens, tok_buf *out) {
    size_t in_bytes = 0;
    for (size_t i = 0; i < tokens->len; i++) {
        in_bytes += tokens->data[i].len;
    }
    const size_t cap = tok_growth_limit(in_bytes); /* against the tokens' text: a chain multiplies */
    for (size_t i = 0; i < n_steps; i++) {
        tok_pieces next = {0};
        mot_status st = apply_step(&steps[i], tokens, cap, file, &next);
        tok_pieces_free(tokens);
        *tokens = next;
        MOT_TRY(st);
    }
    tok_buf joined = {0};
    mot_status st = tok_buf_append(&joined, "", 0);
    for (size_t i = 0; st == MOT_OK && i < tokens->len; i++) {
        if (!has_decoder && i > 0) {
            st = tok_buf_append(&joined, " ", 1);
        }
        if (st == MOT_OK) {
            st = tok_buf_append(&joined, tokens->data[i].s, tokens->data[i].len);
        }
    }
    if (st == MOT_OK) {
        st = tok_utf8_append_lossy(out, joined.data, joined.len);
    }
    tok_buf_free(&joined);
    return st;
}
