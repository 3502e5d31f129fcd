#include "tokenizer/pattern.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_buf.h"
#include "tokenizer/utf8.h"

/* HF matches with Oniguruma, whose \\s is Unicode White_Space; PCRE2's (UCP) also takes U+180E.
 * Rewrites \\s and \\S as explicit White_Space classes so that both agree. Returns a heap string. */
#define WHITE_SPACE "\\t\\n\\x0B\\f\\r\\x20\\x85\\xA0\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static char *onig_compatible(const char *re) {
    size_t n = strlen(re);
    char *out = malloc(n * (sizeof WHITE_SPACE + 3) + 1);
    if (!out) {
        return NULL;
    }
    size_t o = 0;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        if (re[i] == '\\' && i + 1 < n) {
            char c = re[++i];
            const char *rep = NULL;
            if (c == 's') {
                rep = in_class ? WHITE_SPACE : "[" WHITE_SPACE "]";
            } else if (c == 'S' && !in_class) {
                rep = "[^" WHITE_SPACE "]";
            }
            if (rep) {
                memcpy(out + o, rep, strlen(rep));
                o += strlen(rep);
            } else {
                out[o++] = '\\';
                out[o++] = c;
            }
            continue;
        }
        if (!in_class && re[i] == '[') {
            in_class = 1;
            out[o++] = re[i];
            if (i + 1 < n && re[i + 1] == '^') {
                out[o++] = re[++i];
            }
            if (i + 1 < n && re[i + 1] == ']') { /* a leading ] is a literal */
                out[o++] = re[++i];
            }
            continue;
        }
        if (in_class && re[i] == ']') {
            in_class = 0;
        }
        out[o++] = re[i];
    }
    out[o] = '\0';
    return out;
}

mot_status tok_pattern_regex(tok_pattern *p, const char *regex, const char *where) {
    *p = (tok_pattern){0};
    int err;
    PCRE2_SIZE off;
    char *rewritten = onig_compatible(regex);
    if (!rewritten) {
        return tok_nomem();
    }
    p->re = pcre2_compile((PCRE2_SPTR)rewritten, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off,
                          NULL);
    free(rewritten);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        (void)off; /* an offset into the rewritten pattern would mislead */
        return mot_fail(MOT_ERR_FORMAT, "%s: regex '%s' does not compile: %s", where, regex, (const char *)msg);
    }
    /* JIT is an optimisation only; matching falls back to the interpreter without it. */
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
    return MOT_OK;
}

mot_status tok_pattern_literal(tok_pattern *p, const char *s, size_t len) {
    *p = (tok_pattern){0};
    p->literal = malloc(len + 1);
    if (!p->literal) {
        return tok_nomem();
    }
    memcpy(p->literal, s, len);
    p->literal[len] = '\0';
    p->literal_len = len;
    return MOT_OK;
}

mot_status tok_pattern_from_json(tok_pattern *p, const json_t *j, const char *where) {
    const json_t *re = json_object_get(j, "Regex");
    const json_t *lit = json_object_get(j, "String");
    if (json_is_string(re)) {
        return tok_pattern_regex(p, json_string_value(re), where);
    }
    if (json_is_string(lit)) {
        return tok_pattern_literal(p, json_string_value(lit), json_string_length(lit));
    }
    return mot_fail(MOT_ERR_FORMAT, "%s: 'pattern' must be {\"Regex\": ...} or {\"String\": ...}", where);
}

void tok_pattern_free(tok_pattern *p) {
    if (p->re) {
        pcre2_code_free(p->re);
    }
    free(p->literal);
    *p = (tok_pattern){0};
}

mot_status tok_split_behavior_parse(const char *name, tok_split_behavior *out, const char *where) {
    static const struct {
        const char *name;
        tok_split_behavior b;
    } names[] = {{"Removed", TOK_SPLIT_REMOVED},
                 {"Isolated", TOK_SPLIT_ISOLATED},
                 {"MergedWithPrevious", TOK_SPLIT_MERGED_WITH_PREVIOUS},
                 {"MergedWithNext", TOK_SPLIT_MERGED_WITH_NEXT},
                 {"Contiguous", TOK_SPLIT_CONTIGUOUS}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].b;
            return MOT_OK;
        }
    }
    return mot_fail(MOT_ERR_UNSUPPORTED, "%s: split behavior '%s' is not supported", where,
                    name ? name : "(missing)");
}

/* One stretch of the piece: a match (delimiter) or the text between matches. */
typedef struct {
    size_t start, end;
    int is_match;
} span;

typedef struct {
    span *data;
    size_t len, cap;
} spans;

static mot_status spans_push(spans *v, size_t start, size_t end, int is_match) {
    MOT_TRY(tok_grow((void **)&v->data, &v->cap, v->len + 1, sizeof *v->data));
    v->data[v->len++] = (span){start, end, is_match};
    return MOT_OK;
}

/* Finds the next non-empty match at or after `from`; 1 when found. Empty matches are
 * skipped a character at a time, like the iterators HF uses. */
static int find_next(const tok_pattern *p, const char *s, size_t n, size_t from, pcre2_match_data *md,
                     size_t *ms, size_t *me) {
    if (!p->re) {
        if (!p->literal_len || p->literal_len > n) {
            return 0;
        }
        for (size_t i = from; i + p->literal_len <= n; i++) {
            if (memcmp(s + i, p->literal, p->literal_len) == 0) {
                *ms = i;
                *me = i + p->literal_len;
                return 1;
            }
        }
        return 0;
    }
    while (from <= n) {
        int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
            rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        }
        if (rc < 0) {
            return 0;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] > ov[0]) {
            *ms = ov[0];
            *me = ov[1];
            return 1;
        }
        if (ov[0] >= n) {
            return 0;
        }
        size_t adv;
        tok_utf8_decode(s + ov[0], &adv);
        from = ov[0] + adv;
    }
    return 0;
}

/* The piece as alternating stretches, as HF's Pattern::find_matches gives them. */
static mot_status find_spans(const tok_pattern *p, const char *s, size_t n, spans *out) {
    if (n == 0) {
        return spans_push(out, 0, 0, 0);
    }
    pcre2_match_data *md = NULL;
    if (p->re) {
        md = pcre2_match_data_create_from_pattern(p->re, NULL);
        if (!md) {
            return tok_nomem();
        }
    }
    mot_status st = MOT_OK;
    size_t prev = 0, ms, me;
    while (st == MOT_OK && find_next(p, s, n, prev, md, &ms, &me)) {
        if (ms > prev) {
            st = spans_push(out, prev, ms, 0);
        }
        if (st == MOT_OK) {
            st = spans_push(out, ms, me, 1);
        }
        prev = me;
    }
    if (st == MOT_OK && prev < n) {
        st = spans_push(out, prev, n, 0);
    }
    if (md) {
        pcre2_match_data_free(md);
    }
    return st;
}

/* Applies the behaviour in place: the result is a list of parts, is_match meaning "remove". */
static void apply_behavior(spans *v, tok_split_behavior b) {
    size_t w = 0;
    int prev_match = 0;
    switch (b) {
    case TOK_SPLIT_REMOVED:
        return;
    case TOK_SPLIT_ISOLATED:
        for (size_t i = 0; i < v->len; i++) {
            v->data[i].is_match = 0;
        }
        return;
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < v->len; i++) {
            span s = v->data[i];
            if (w > 0 && s.is_match == prev_match) {
                v->data[w - 1].end = s.end;
            } else {
                v->data[w++] = (span){s.start, s.end, 0};
            }
            prev_match = s.is_match;
        }
        break;
    case TOK_SPLIT_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < v->len; i++) {
            span s = v->data[i];
            if (w > 0 && s.is_match && !prev_match) {
                v->data[w - 1].end = s.end;
            } else {
                v->data[w++] = (span){s.start, s.end, 0};
            }
            prev_match = s.is_match;
        }
        break;
    case TOK_SPLIT_MERGED_WITH_NEXT: {
        /* Walk backwards, writing from the end, then move the result to the front. */
        size_t r = v->len;
        for (size_t i = v->len; i-- > 0;) {
            span s = v->data[i];
            if (r < v->len && s.is_match && !prev_match) {
                v->data[r].start = s.start;
            } else {
                v->data[--r] = (span){s.start, s.end, 0};
            }
            prev_match = s.is_match;
        }
        memmove(v->data, v->data + r, (v->len - r) * sizeof(span));
        w = v->len - r;
        break;
    }
    }
    v->len = w;
}

mot_status tok_split(const tok_pattern *p, int invert, tok_split_behavior behavior, const tok_piece *in,
                     tok_pieces *out) {
    spans v = {0};
    mot_status st = find_spans(p, in->s, in->len, &v);
    if (st == MOT_OK) {
        if (invert) {
            for (size_t i = 0; i < v.len; i++) {
                v.data[i].is_match = !v.data[i].is_match;
            }
        }
        apply_behavior(&v, behavior);
        for (size_t i = 0; st == MOT_OK && i < v.len; i++) {
            span s = v.data[i];
            if (!s.is_match && s.end > s.start) {
                st = tok_pieces_push(out, in->s + s.start, s.end - s.start, in->at_start && s.start == 0);
            }
        }
    }
    free(v.data);
    return st;
}

mot_status tok_replace_all(const tok_pattern *p, const char *s, size_t n, const char *with, size_t cap,
                           tok_buf *out) {
    spans v = {0};
    mot_status st = find_spans(p, s, n, &v);
    /* The result's length first: a replacement that multiplies the text stops here, before
     * the memory is asked for. */
    const size_t with_len = strlen(with);
    size_t total = 0;
    for (size_t i = 0; st == MOT_OK && i < v.len && total <= cap; i++) {
        total += v.data[i].is_match ? with_len : v.data[i].end - v.data[i].start;
    }
    if (st == MOT_OK && total > cap) {
        st = MOT_ERR_ARG; /* no message: the caller names what grew */
    }
    for (size_t i = 0; st == MOT_OK && i < v.len; i++) {
        span sp = v.data[i];
        st = sp.is_match ? tok_buf_append(out, with, with_len) : tok_buf_append(out, s + sp.start, sp.end - sp.start);
    }
    if (st == MOT_OK && !out->data) {
        st = tok_buf_append(out, "", 0);
    }
    free(v.data);
    return st;
}
