/* mot_decode_stream: a window of tokens decoded after each push (see decode_stream.h). */
#include "tokenizer/decode_stream.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static const char repl[] = "\xEF\xBF\xBD"; /* U+FFFD */

void mot_decode_stream_init(mot_decode_stream *s, const mot_tokenizer *tok, int skip_special) {
    memset(s, 0, sizeof *s);
    s->tok = tok;
    s->skip_special = skip_special;
}

void mot_decode_stream_free(mot_decode_stream *s) {
    free(s->ids);
    free(s->text);
    free(s->spent);
    free(s->shown);
    memset(s, 0, sizeof *s);
}

/* shown = text[0..n): the window's bytes given out. */
static mot_status set_shown(mot_decode_stream *s, const char *text, size_t n) {
    if (n > s->shown_cap) {
        size_t cap = 2 * n;
        char *p = realloc(s->shown, cap);
        if (!p) {
            return mot_fail(MOT_ERR_NOMEM, "decode stream: out of memory");
        }
        s->shown = p;
        s->shown_cap = cap;
    }
    memcpy(s->shown, text, n);
    return MOT_OK;
}

static mot_status decode(mot_decode_stream *s, const int *ids, int n, char **text, size_t *len) {
    s->work += n;
    return mot_tokenizer_decode_len(s->tok, ids, n, s->skip_special, text, len);
}

/* The window becomes its last k tokens, whose decode is ctx (all given out). The bytes given
 * out by this call point into the old text: it is kept until the next call. */
static mot_status restart_with(mot_decode_stream *s, int k, char *ctx, size_t clen) {
    if (set_shown(s, ctx, clen) != MOT_OK) {
        free(ctx);
        return MOT_ERR_NOMEM;
    }
    memmove(s->ids, s->ids + s->n - k, (size_t)k * sizeof *s->ids);
    s->n = k;
    s->spent = s->text;
    s->text = ctx;
    s->len = s->given = clen;
    return MOT_OK;
}

/* Restarts from the last k tokens when their decode is non-empty and ends the window's text
 * (so that the tokens to come decode after them as after the whole output). 1 when it did. */
static int restart(mot_decode_stream *s, int k, mot_status *st) {
    char *ctx;
    size_t clen;
    if ((*st = decode(s, s->ids + s->n - k, k, &ctx, &clen)) != MOT_OK) {
        return 0;
    }
    if (clen == 0 || clen > s->len || memcmp(s->text + s->len - clen, ctx, clen) != 0) {
        free(ctx);
        return 0;
    }
    *st = restart_with(s, k, ctx, clen);
    return *st == MOT_OK;
}

static int ends_with_repl(const char *text, size_t len) { return len >= 3 && memcmp(text + len - 3, repl, 3) == 0; }

static mot_status emit(mot_decode_stream *s, int final, const char **out, size_t *out_len) {
    char *text;
    size_t len;
    MOT_TRY(decode(s, s->ids, s->n, &text, &len));
    /* Does the text still begin with the bytes given out? Not while a run of byte tokens
     * is invalid: the whole run decodes as U+FFFDs until its last character completes. */
    const int kept = s->given == 0 || (s->given <= len && memcmp(text, s->shown, s->given) == 0);
    free(s->text);
    s->text = text;
    s->len = len;
    /* Trailing U+FFFDs may be a multi-byte character whose last bytes have not arrived; a
     * full window gives out everything (see decode_stream.h). */
    size_t ready = len;
    if (!final && s->n < MOT_DECODE_STREAM_MAX_WINDOW) {
        if (!kept && ends_with_repl(text, len)) {
            ready = s->given;
        }
        while (ready >= s->given + 3 && ends_with_repl(text, ready)) {
            ready -= 3;
        }
    }
    /* The text changed under the bytes given out (a byte run turned invalid): go on from the
     * next character boundary, so that what is given out stays UTF-8. */
    size_t from = s->given;
    while (!kept && from < ready && ((unsigned char)text[from] & 0xC0) == 0x80) {
        from++;
    }
    *out = text + from;
    *out_len = 0;
    if (ready > from) {
        MOT_TRY(set_shown(s, text, ready));
        *out_len = ready - from;
        s->given = ready;
    }
    return MOT_OK;
}

mot_status mot_decode_stream_push(mot_decode_stream *s, int token, const char **out, size_t *out_len) {
    *out = "";
    *out_len = 0;
    free(s->spent);
    s->spent = NULL;
    if (s->n == s->cap) {
        int ncap = s->cap ? 2 * s->cap : 16;
        int *p = realloc(s->ids, (size_t)ncap * sizeof *p);
        if (!p) {
            return mot_fail(MOT_ERR_NOMEM, "decode stream: out of memory");
        }
        s->ids = p;
        s->cap = ncap;
    }
    s->ids[s->n++] = token;
    MOT_TRY(emit(s, 0, out, out_len));
    mot_status st = MOT_OK;
    int restarted = 0;
    if (s->given == s->len) { /* nothing held back */
        const int max_k = s->n - 1 < MOT_DECODE_STREAM_MAX_CONTEXT ? s->n - 1 : MOT_DECODE_STREAM_MAX_CONTEXT;
        for (int k = 1; k <= max_k && !restarted && st == MOT_OK; k++) {
            restarted = restart(s, k, &st);
        }
    }
    if (st == MOT_OK && !restarted && s->n >= MOT_DECODE_STREAM_MAX_WINDOW) {
        /* Nowhere to restart from: the last token alone becomes the context. */
        char *ctx;
        size_t clen;
        if ((st = decode(s, s->ids + s->n - 1, 1, &ctx, &clen)) == MOT_OK) {
            st = restart_with(s, 1, ctx, clen);
        }
    }
    return st;
}

mot_status mot_decode_stream_finish(mot_decode_stream *s, const char **out, size_t *out_len) {
    *out = "";
    *out_len = 0;
    free(s->spent);
    s->spent = NULL;
    return s->n ? emit(s, 1, out, out_len) : MOT_OK;
}
