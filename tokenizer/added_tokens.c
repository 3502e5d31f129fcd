/* Added tokens (special or not): loaded from "added_tokens" and matched in the text before
 * the model sees it, leftmost-longest like HF's AddedVocabulary (aho-corasick,
 * LeftmostLongest), honouring single_word, lstrip and rstrip. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_limits.h"
#include "tokenizer/utf8.h"

static mot_status flag(const json_t *o, const char *key, size_t i, const char *file, int *out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (!json_is_boolean(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: added_tokens[%zu].%s: expected true or false", file, i, key);
    }
    *out = json_is_true(v);
    return MOT_OK;
}

mot_status tok_added_load(const json_t *arr, const char *file, size_t n_vocab, tok_added **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!arr || json_is_null(arr)) {
        return MOT_OK;
    }
    if (!json_is_array(arr)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: added_tokens: expected an array", file);
    }
    size_t count = json_array_size(arr);
    tok_added *a = calloc(count ? count : 1, sizeof *a);
    if (!a) {
        return tok_nomem();
    }
    *out = a;
    const long long limit = tok_id_limit(n_vocab + count);
    for (size_t i = 0; i < count; i++) {
        const json_t *o = json_array_get(arr, i);
        const json_t *id = json_object_get(o, "id"), *content = json_object_get(o, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0) {
            return mot_fail(MOT_ERR_FORMAT, "%s: added_tokens[%zu]: missing or invalid 'id'", file, i);
        }
        if (!json_is_string(content) || json_string_length(content) == 0) {
            return mot_fail(MOT_ERR_FORMAT, "%s: added_tokens[%zu]: missing or empty 'content'", file, i);
        }
        if (json_integer_value(id) >= limit) { /* before the id-indexed tables are allocated */
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: added_tokens[%zu]: id %lld for '%.80s' exceeds the limit %lld (ids stay below 2 x "
                            "the %zu entries + %d, and below %d)",
                            file, i, (long long)json_integer_value(id), json_string_value(content), limit,
                            n_vocab + count, MOT_TOK_ID_SLACK, MOT_TOK_MAX_VOCAB);
        }
        tok_added *t = &a[(*n)++];
        t->id = (int)json_integer_value(id);
        t->len = json_string_length(content);
        t->content = strdup(json_string_value(content));
        t->match = strdup(t->content);
        t->match_len = t->len;
        if (!t->content || !t->match) {
            return tok_nomem();
        }
        MOT_TRY(flag(o, "special", i, file, &t->special));
        MOT_TRY(flag(o, "lstrip", i, file, &t->lstrip));
        MOT_TRY(flag(o, "rstrip", i, file, &t->rstrip));
        MOT_TRY(flag(o, "single_word", i, file, &t->single_word));
        MOT_TRY(flag(o, "normalized", i, file, &t->normalized));
    }
    return MOT_OK;
}

void tok_added_free(tok_added *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(a[i].content);
        free(a[i].match);
    }
    free(a);
}

/* Orders candidate indices longest match first (ties: file order); lists are short. */
static void sort_longest_first(int *list, size_t k, const tok_added *a) {
    for (size_t i = 1; i < k; i++) {
        int v = list[i];
        size_t j = i;
        while (j > 0 && a[list[j - 1]].match_len < a[v].match_len) {
            list[j] = list[j - 1];
            j--;
        }
        list[j] = v;
    }
}

mot_status tok_added_matcher_build(tok_added_matcher *m, const tok_added *a, size_t n, int normalized) {
    *m = (tok_added_matcher){0};
    size_t counts[256] = {0};
    for (size_t i = 0; i < n; i++) {
        if (a[i].normalized == normalized && a[i].match_len > 0) {
            counts[(unsigned char)a[i].match[0]]++;
        }
    }
    for (int b = 0; b < 256; b++) {
        if (!counts[b]) {
            continue;
        }
        int *list = malloc((counts[b] + 1) * sizeof *list);
        if (!list) {
            return tok_nomem();
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (a[i].normalized == normalized && a[i].match_len > 0 && (unsigned char)a[i].match[0] == b) {
                list[k++] = (int)i;
            }
        }
        sort_longest_first(list, k, a);
        list[k] = -1;
        m->by_byte[b] = list;
    }
    return MOT_OK;
}

void tok_added_matcher_free(tok_added_matcher *m) {
    for (int b = 0; b < 256; b++) {
        free(m->by_byte[b]);
    }
    *m = (tok_added_matcher){0};
}

static mot_status push_segment(tok_segments *v, size_t start, size_t end, int id) {
    MOT_TRY(tok_grow((void **)&v->data, &v->cap, v->len + 1, sizeof *v->data));
    v->data[v->len++] = (tok_segment){start, end, id};
    return MOT_OK;
}

/* The code point that ends at s[end) (s[0..end) valid UTF-8). */
static uint32_t cp_before(const char *s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) {
        i--;
    }
    size_t len;
    return tok_utf8_decode(s + i, &len);
}

/* Start of the run of whitespace that ends at `end`. */
static size_t whitespace_run_start(const char *s, size_t end, size_t floor) {
    while (end > floor) {
        size_t i = end - 1;
        while (i > floor && ((unsigned char)s[i] & 0xC0) == 0x80) {
            i--;
        }
        size_t len;
        if (!tok_is_whitespace(tok_utf8_decode(s + i, &len))) {
            break;
        }
        end = i;
    }
    return end;
}

static size_t whitespace_run_end(const char *s, size_t start, size_t n) {
    while (start < n) {
        size_t len;
        if (!tok_is_whitespace(tok_utf8_decode(s + start, &len))) {
            break;
        }
        start += len;
    }
    return start;
}

/* The longest added token at s[i], or -1. */
static int longest_at(const tok_added_matcher *m, const tok_added *a, const char *s, size_t i, size_t n) {
    const int *list = m->by_byte[(unsigned char)s[i]];
    for (; list && *list >= 0; list++) {
        const tok_added *t = &a[*list];
        if (t->match_len <= n - i && memcmp(s + i, t->match, t->match_len) == 0) {
            return *list;
        }
    }
    return -1;
}

mot_status tok_added_find(const tok_added_matcher *m, const tok_added *a, const char *s, size_t n,
                          tok_segments *out) {
    size_t done = 0; /* text before this is already in out */
    size_t i = 0;
    while (i < n) {
        int k = longest_at(m, a, s, i, n);
        if (k < 0) {
            i++;
            continue;
        }
        const tok_added *t = &a[k];
        size_t start = i, stop = i + t->match_len;
        i = stop;
        if (t->single_word) {
            int word_before = start > 0 && tok_is_word_char(cp_before(s, start));
            size_t len;
            int word_after = stop < n && tok_is_word_char(tok_utf8_decode(s + stop, &len));
            if (word_before || word_after) {
                continue;
            }
        }
        if (t->lstrip) {
            start = whitespace_run_start(s, start, done);
        }
        if (t->rstrip) {
            stop = whitespace_run_end(s, stop, n);
            i = stop;
        }
        if (start > done) {
            MOT_TRY(push_segment(out, done, start, -1));
        }
        MOT_TRY(push_segment(out, start, stop, t->id));
        done = stop;
    }
    if (done < n) {
        MOT_TRY(push_segment(out, done, n, -1));
    }
    return MOT_OK;
}
