/* mot_decode_stream (tokenizer/decode_stream.h) against what streaming did before it: decode
 * all tokens so far after each token and print the new bytes, holding back trailing U+FFFDs.
 * On a SentencePiece vocabulary (byte fallback, "▁" dropped from the first token, special
 * tokens skipped) and a byte-level one (characters split across tokens):
 *   - valid output (random words, characters in byte tokens, split characters, skipped
 *     specials): the same bytes as before, and as one decode of everything;
 *   - any tokens at all (invalid bytes too): the same bytes as before wherever the decode of
 *     the output so far is a prefix of the later decode;
 *   - the work: tokens decoded per token stays bounded (the old way decoded n^2/2 for n).
 * usage: test_decode_stream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/decode_stream.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

static int failures;

typedef struct {
    char *data;
    size_t len, cap;
} bytes;

static void put(bytes *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = 2 * (b->len + n + 1);
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* The old stream: the whole output decoded after every token. Returns 1 when each decode
 * began with the bytes printed before it (else it printed from a text that had changed under
 * it: a byte run that turned invalid, its characters becoming U+FFFDs). */
static int old_stream(const mot_tokenizer *tok, const int *ids, int n, bytes *out) {
    size_t printed = 0;
    int consistent = 1;
    for (int i = 1; i <= n + 1; i++) {
        const int final = i == n + 1;
        char *text;
        size_t len;
        if (mot_tokenizer_decode_len(tok, ids, final ? n : i, 1, &text, &len) != MOT_OK) {
            exit(2);
        }
        consistent &= len >= printed && memcmp(text, out->data ? out->data : "", printed) == 0;
        while (!final && len >= printed + 3 && memcmp(text + len - 3, "\xEF\xBF\xBD", 3) == 0) {
            len -= 3;
        }
        if (len > printed) {
            put(out, text + printed, len - printed);
            printed = len;
        }
        free(text);
    }
    return consistent;
}

static long long new_stream(const mot_tokenizer *tok, const int *ids, int n, bytes *out) {
    mot_decode_stream s;
    mot_decode_stream_init(&s, tok, 1);
    const char *text;
    size_t len;
    for (int i = 0; i < n; i++) {
        if (mot_decode_stream_push(&s, ids[i], &text, &len) != MOT_OK) {
            exit(2);
        }
        put(out, text, len);
    }
    if (mot_decode_stream_finish(&s, &text, &len) != MOT_OK) {
        exit(2);
    }
    put(out, text, len);
    long long work = s.work;
    mot_decode_stream_free(&s);
    return work;
}

static void show(const char *what, const bytes *b) {
    fprintf(stderr, "  %s (%zu bytes):", what, b->len);
    for (size_t i = 0; i < b->len && i < 200; i++) {
        fprintf(stderr, (unsigned char)b->data[i] < 0x20 || (unsigned char)b->data[i] >= 0x7F ? "\\x%02X" : "%c",
                (unsigned char)b->data[i]);
    }
    fputc('\n', stderr);
}

/* Streams ids both ways. The new bytes must be the old ones when the old stream was
 * consistent, and one decode of everything when `valid` (the ids are valid output). */
static int compare(const char *name, const mot_tokenizer *tok, const int *ids, int n, int valid) {
    bytes a = {0}, b = {0};
    const int consistent = old_stream(tok, ids, n, &a);
    new_stream(tok, ids, n, &b);
    /* Valid UTF-8 whatever came in (the old stream could print part of a character). */
    int ok = !consistent || (a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    ok &= tok_utf8_is_valid(b.data ? b.data : "", b.len);
    bytes whole = {0};
    if (valid) {
        char *text;
        size_t len;
        mot_tokenizer_decode_len(tok, ids, n, 1, &text, &len);
        put(&whole, text, len);
        free(text);
        ok &= whole.len == b.len && memcmp(whole.data, b.data, b.len) == 0;
    }
    if (!ok) {
        fprintf(stderr, "FAIL %s: streamed text differs\n  ids:", name);
        for (int i = 0; i < n && i < 60; i++) {
            fprintf(stderr, " %d", ids[i]);
        }
        fputc('\n', stderr);
        show(consistent ? "before" : "before (inconsistent)", &a);
        show("now", &b);
        if (valid) {
            show("decoded", &whole);
        }
        failures++;
    }
    free(a.data);
    free(b.data);
    free(whole.data);
    return ok;
}

static unsigned rng = 12345;
static int rnd(int n) {
    rng = rng * 1103515245u + 12345u;
    return (int)((rng >> 8) % (unsigned)n);
}

/* ---- a SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, words ---- */
#define SP "\xE2\x96\x81"
#define SP_BYTE0 3
static const char *sp_words[] = {SP, SP "the", SP "cat", "s", ".", SP SP, "\xC3\xA9", SP "\xE4\xBD\xA0", "a", SP "a",
                                 "\n", SP "x" SP "y"};
#define N_SP_WORDS ((int)(sizeof sp_words / sizeof *sp_words))

static mot_tokenizer *sp_tokenizer(void) {
    static char *tokens[3 + 256 + N_SP_WORDS];
    static int32_t types[3 + 256 + N_SP_WORDS];
    static float scores[3 + 256 + N_SP_WORDS];
    int n = 0;
    tokens[n] = "<unk>", types[n++] = 2;
    tokens[n] = "<s>", types[n++] = 3;
    tokens[n] = "</s>", types[n++] = 3;
    for (int b = 0; b < 256; b++) {
        tokens[n] = malloc(8);
        snprintf(tokens[n], 8, "<0x%02X>", b);
        types[n++] = 6;
    }
    for (int i = 0; i < N_SP_WORDS; i++) {
        tokens[n] = (char *)sp_words[i], types[n++] = 1;
    }
    mot_vocab_spec spec = {.model = "llama", .n_tokens = n, .tokens = tokens, .scores = scores, .token_types = types, .bos_id = 1,
                           .eos_id = 2, .unk_id = 0, .pad_id = -1, .add_bos = -1, .add_eos = -1,
                           .add_space_prefix = -1};
    mot_tokenizer *tok = NULL;
    if (mot_tokenizer_from_vocab(&spec, "sp.gguf", &tok) != MOT_OK) {
        fprintf(stderr, "sp vocabulary: %s\n", mot_last_error());
        exit(2);
    }
    return tok;
}

/* UTF-8 of a random character of 1 to 4 bytes. */
static int random_char(unsigned char *out) {
    static const unsigned cps[] = {'Z', 0xE9, 0x4F60, 0x1F600, 0x7F, 0x800, 0xFFFC, 0x10FFFF};
    unsigned cp = cps[rnd(8)];
    if (cp < 0x80) return out[0] = (unsigned char)cp, 1;
    if (cp < 0x800) return out[0] = (unsigned char)(0xC0 | cp >> 6), out[1] = (unsigned char)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12), out[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        out[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18), out[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)), out[3] = (unsigned char)(0x80 | (cp & 63));
    return 4;
}

/* Valid output: words, characters as byte tokens, special tokens (skipped) anywhere. */
static int sp_valid(int *ids, int n) {
    int k = 0;
    while (k < n - 8) {
        int r = rnd(10);
        if (r < 5) {
            ids[k++] = 3 + 256 + rnd(N_SP_WORDS);
        } else if (r < 9) {
            unsigned char c[4];
            int m = random_char(c);
            for (int i = 0; i < m; i++) {
                ids[k++] = SP_BYTE0 + c[i];
                if (rnd(8) == 0) {
                    ids[k++] = 1 + rnd(2); /* <s> or </s>, skipped, inside the character */
                }
            }
        } else {
            ids[k++] = 1 + rnd(2);
        }
    }
    return k;
}

/* ---- a byte-level vocabulary: the 256 byte characters, a few words and split characters ---- */
static void byte_char(int b, char *out) {
    static int map[256];
    if (!map['!']) {
        int extra = 0;
        for (int x = 0; x < 256; x++) {
            map[x] = ((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174)) ? x : 256 + extra++;
        }
    }
    int cp = map[b];
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 63)), out[2] = 0;
    }
}

static char *bl_bytes_token(const unsigned char *p, int n) {
    char *s = malloc(3 * (size_t)n + 1);
    s[0] = 0;
    for (int i = 0; i < n; i++) {
        byte_char(p[i], s + strlen(s));
    }
    return s;
}

#define BL_WORDS 4
static mot_tokenizer *bl_tokenizer(void) {
    static char *tokens[1 + 256 + BL_WORDS];
    static int32_t types[1 + 256 + BL_WORDS];
    int n = 0;
    tokens[n] = "<|endoftext|>", types[n++] = 3;
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        tokens[n] = bl_bytes_token(&c, 1), types[n++] = 1;
    }
    static const unsigned char you[] = {0xE4, 0xBD, 0xA0}, t[] = {' ', 't'}, ab[] = {'a', 'b'};
    static char *merges[BL_WORDS];
    const unsigned char *parts[BL_WORDS] = {you, you + 1, t, ab};
    for (int i = 0; i < BL_WORDS; i++) { /* [E4 BD] and [BD A0]: the halves of 你; " t", "ab" */
        tokens[n] = bl_bytes_token(parts[i], 2), types[n++] = 1;
        char *l = bl_bytes_token(parts[i], 1), *r = bl_bytes_token(parts[i] + 1, 1);
        merges[i] = malloc(strlen(l) + strlen(r) + 2);
        sprintf(merges[i], "%s %s", l, r);
        free(l);
        free(r);
    }
    mot_vocab_spec spec = {.model = "gpt2", .n_tokens = n, .tokens = tokens, .token_types = types,
                           .n_merges = BL_WORDS, .merges = merges, .bos_id = -1,
                           .eos_id = 0, .unk_id = -1, .pad_id = -1, .add_bos = -1, .add_eos = -1,
                           .add_space_prefix = -1};
    mot_tokenizer *tok = NULL;
    if (mot_tokenizer_from_vocab(&spec, "bl.gguf", &tok) != MOT_OK) {
        fprintf(stderr, "byte-level vocabulary: %s\n", mot_last_error());
        exit(2);
    }
    return tok;
}

static int bl_valid(int *ids, int n) {
    int k = 0;
    while (k < n - 8) {
        int r = rnd(10);
        if (r < 3) {
            ids[k++] = 1 + 256 + 2 + rnd(2); /* " t", "ab" */
        } else if (r < 5) {
            if (rnd(2)) {
                ids[k++] = 1 + 256, ids[k++] = 1 + 0xA0; /* 你 as [E4 BD][A0] */
            } else {
                ids[k++] = 1 + 0xE4, ids[k++] = 1 + 256 + 1; /* 你 as [E4][BD A0] */
            }
        } else if (r < 9) {
            unsigned char c[4];
            int m = random_char(c);
            for (int i = 0; i < m; i++) {
                ids[k++] = 1 + c[i];
            }
        } else {
            ids[k++] = 0; /* <|endoftext|>, skipped */
        }
    }
    return k;
}

static void check_fixed(const mot_tokenizer *sp, const mot_tokenizer *bl) {
    const int W = 3 + 256; /* the first SentencePiece word */
    /* The first token's "▁" is dropped, the next ones' are spaces. */
    const int lead[] = {W + 1, W + 2, W + 3, W + 4};
    compare("sp: leading space", sp, lead, 4, 1);
    /* 你 in byte tokens, split across pushes, after a word and before one. */
    const int bytes3[] = {W + 1, SP_BYTE0 + 0xE4, SP_BYTE0 + 0xBD, SP_BYTE0 + 0xA0, W + 2};
    compare("sp: a character in byte tokens", sp, bytes3, 5, 1);
    /* A <0x00> token: a NUL byte in the text. */
    const int nul[] = {W + 1, SP_BYTE0 + 0x00, W + 2};
    compare("sp: a NUL byte", sp, nul, 3, 1);
    /* Only specials and a lone "▁". */
    const int specials[] = {1, 2, W + 0, 1, W + 0, W + 1};
    compare("sp: specials and spaces", sp, specials, 6, 1);
    /* Invalid bytes: a stray continuation byte, then a word. */
    const int ascii_run[] = {SP_BYTE0 + 0x7F, SP_BYTE0 + 0xE4, SP_BYTE0 + 0xBD, SP_BYTE0 + 0xA0, SP_BYTE0 + 0x7F};
    compare("sp: ASCII and a character in one byte run", sp, ascii_run, 5, 1);
    const int stray[] = {W + 1, SP_BYTE0 + 0xA0, W + 2};
    compare("sp: a stray byte", sp, stray, 3, 1);
    const int split[] = {1 + 256 + 2, 1 + 256, 1 + 0xA0, 1 + 0xE4, 1 + 256 + 1, 1 + 'x'};
    compare("byte-level: split characters", bl, split, 6, 1);
}

static void check_random(const char *name, const mot_tokenizer *tok, int (*valid)(int *, int), int n_vocab) {
    int ids[200];
    int bad = 0;
    for (int t = 0; t < 300 && !bad; t++) {
        int n = valid(ids, 10 + rnd(180));
        bad += !compare(name, tok, ids, n, 1);
    }
    /* Any tokens at all (invalid bytes too): the same bytes as before where the old stream
     * was consistent. */
    int inconsistent = 0;
    for (int t = 0; t < 300 && !bad; t++) {
        int n = 1 + rnd(120);
        for (int i = 0; i < n; i++) {
            ids[i] = rnd(n_vocab);
        }
        bytes a = {0};
        inconsistent += !old_stream(tok, ids, n, &a);
        free(a.data);
        bad += !compare(name, tok, ids, n, 0);
    }
    if (!bad) {
        printf("ok   %s: valid output streams as decoded; random tokens as before (%d of 300 were not "
               "consistent before)\n", name, inconsistent);
    }
}

static int n_random_vocab;
static int random_ids(int *ids, int n) {
    for (int i = 0; i < n; i++) {
        ids[i] = rnd(n_random_vocab);
    }
    return n;
}

static int ff_ids(int *ids, int n) { /* invalid bytes only: nowhere to restart from */
    for (int i = 0; i < n; i++) {
        ids[i] = SP_BYTE0 + 0xFF;
    }
    return n;
}

/* The work for 20000 tokens: at most `per_token` decoded per token (`whole`: the streamed
 * text is the decode of everything). */
static void check_work(const char *name, const mot_tokenizer *tok, int (*make)(int *, int), int whole,
                       int per_token) {
    enum { N = 20000 };
    int *ids = malloc(N * sizeof *ids);
    int n = make(ids, N);
    bytes out = {0};
    long long work = new_stream(tok, ids, n, &out);
    char *text;
    size_t len;
    mot_tokenizer_decode_len(tok, ids, n, 1, &text, &len);
    if (whole && (len != out.len || memcmp(text, out.data, len) != 0)) {
        fprintf(stderr, "FAIL %s: %d tokens streamed differ from their decode\n", name, n);
        failures++;
    }
    /* The old way: n(n+1)/2 = 2e8 tokens decoded for 20000. */
    if (work > (long long)per_token * n) {
        fprintf(stderr, "FAIL %s: %lld tokens decoded to stream %d (at most %d per token)\n", name, work, n,
                per_token);
        failures++;
    } else {
        printf("ok   %s: %d tokens streamed, %lld decoded (%.1f per token)\n", name, n, work, (double)work / n);
    }
    free(text);
    free(out.data);
    free(ids);
}

int main(void) {
    mot_tokenizer *sp = sp_tokenizer(), *bl = bl_tokenizer();
    check_fixed(sp, bl);
    check_random("sp random", sp, sp_valid, 3 + 256 + N_SP_WORDS);
    check_random("byte-level random", bl, bl_valid, 1 + 256 + BL_WORDS);
    check_work("sp work", sp, sp_valid, 1, 16);
    check_work("byte-level work", bl, bl_valid, 1, 16);
    n_random_vocab = 3 + 256 + N_SP_WORDS;
    check_work("sp work, random tokens", sp, random_ids, 0, 300);
    check_work("sp work, invalid bytes", sp, ff_ids, 1, 300);
    n_random_vocab = 1 + 256 + BL_WORDS;
    check_work("byte-level work, random tokens", bl, random_ids, 1, 300);
    mot_tokenizer_free(sp);
    mot_tokenizer_free(bl);
    if (failures) {
        fprintf(stderr, "%d decode stream checks failed\n", failures);
        return 1;
    }
    printf("all decode stream checks passed\n");
    return 0;
}
