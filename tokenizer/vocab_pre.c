/* The pre-tokenizer a GGUF file names in tokenizer.ggml.pre (llama.cpp's names), for byte-level
 * BPE vocabularies: a list of regexes, each splitting the pieces into its matches and the text
 * between them (llama.cpp's unicode_regex_split; HF's Split with behaviour Isolated), then
 * the byte-to-unicode map (HF's ByteLevel without its own regex).
 *
 * The regexes are the ones in the models' tokenizer.json, which llama.cpp's llama-vocab.cpp
 * adapts to its regex engine; where its adaptation differs from the original we keep the
 * original, since HF's tokenizer is the reference:
 *   - llama3 / qwen2 / gpt-4o: (?i:'s|...) rather than '[sS]|..., which differs only for
 *     "'ſ" (U+017F folds to s);
 *   - tekken / gpt-4o: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]* rather than ((?=[\p{L}])([^a-z]))*,
 *     which differ on non-ASCII lowercase letters;
 *   - the GPT-2 regex ends in |\s+ (llama.cpp leaves it out; the whitespace it matches is kept
 *     as the text between matches anyway, so both split alike).
 * "default" and "falcon" are llama.cpp's lists as they are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tok_internal.h"

#define CONTRACTIONS "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
#define LLAMA3_RE                                                                                  \
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
                 "\\s+(?!\\S)|\\s+"
#define QWEN2_RE                                                                                 \
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
                 "\\s+(?!\\S)|\\s+"
#define UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define TEKKEN_RE                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" UPPER "*" LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" UPPER "+" LOWER "*|\\p{N}| ?" \
    "[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GPT4O_RE                                                                                     \
    "[^\\r\\n\\p{L}\\p{N}]?" UPPER "*" LOWER "+" CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?" UPPER "+" LOWER \
    "*" CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define GPT2_RE TOK_GPT2_REGEX

typedef struct {
    const char *regexes[5]; /* applied in order; NULL-terminated */
    int ignore_merges;      /* a whole pre-token in the vocab is one token (HF BPE ignore_merges) */
    int add_bos;            /* llama.cpp's add_bos default for the name */
} pre_kind;

/* llama.cpp's fallback, which no HF tokenizer has: its regexes as they are. */
static const pre_kind DEFAULT = {{"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}, 0, 0};
static const pre_kind GPT2 = {{GPT2_RE}, 0, 0};
static const pre_kind LLAMA3 = {{LLAMA3_RE}, 1, 1};
static const pre_kind DBRX = {{LLAMA3_RE}, 0, 0};
static const pre_kind QWEN2 = {{QWEN2_RE}, 0, 0};
/* HF: Digits(individual_digits) then ByteLevel(use_regex). */
static const pre_kind STARCODER = {{"\\p{N}", GPT2_RE}, 0, 0};
/* llama.cpp's list; HF's falcon-7b may split digit runs after the byte map instead (unverified). */
static const pre_kind FALCON = {{"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"}, 0, 0};
static const pre_kind TEKKEN = {{TEKKEN_RE}, 1, 1};
static const pre_kind GPT4O = {{GPT4O_RE}, 0, 0};

static const struct {
    const char *name;
    const pre_kind *kind;
} names[] = {
    {"default", &DEFAULT},     {"llama3", &LLAMA3},       {"llama-v3", &LLAMA3},   {"llama-bpe", &LLAMA3},
    {"falcon3", &LLAMA3},      {"falcon-h1", &LLAMA3},    {"pixtral", &LLAMA3},    {"midm-2.0", &LLAMA3},
    {"lfm2", &LLAMA3},         {"dbrx", &DBRX},           {"smaug-bpe", &DBRX},    {"gpt-2", &GPT2},
    {"phi-2", &GPT2},          {"mpt", &GPT2},            {"olmo", &GPT2},         {"jais", &GPT2},
    {"trillion", &GPT2},       {"granite-docling", &GPT2}, {"exaone4", &GPT2},      {"starcoder", &STARCODER},
    {"refact", &STARCODER},    {"command-r", &STARCODER}, {"smollm", &STARCODER},  {"codeshell", &STARCODER},
    {"exaone", &STARCODER},    {"minerva-7b", &STARCODER}, {"qwen2", &QWEN2},       {"deepseek-r1-qwen", &QWEN2},
    {"stablelm2", &QWEN2},     {"megrez", &QWEN2},        {"hunyuan", &QWEN2},     {"falcon", &FALCON},
    {"tekken", &TEKKEN},       {"gpt-4o", &GPT4O},        {"llama4", &GPT4O},
};

static mot_status add_split(tok_pre_step *s, const char *regex, const char *where) {
    s->kind = TOK_PRE_SPLIT;
    s->has_pattern = 1;
    s->behavior = TOK_SPLIT_ISOLATED;
    return tok_pattern_regex(&s->pattern, regex, where);
}

mot_status tok_vocab_pretokenizer(const char *name, const char *source, tok_pre_step **steps, size_t *n,
                                  int *ignore_merges, int *add_bos) {
    *steps = NULL;
    *n = 0;
    const pre_kind *kind = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !kind; i++) {
        if (strcmp(names[i].name, name) == 0) {
            kind = names[i].kind;
        }
    }
    if (!kind) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre '%s' is not a pre-tokenizer mot knows", source,
                        name);
    }
    tok_pre_step *s = calloc(sizeof kind->regexes / sizeof kind->regexes[0] + 1, sizeof *s);
    if (!s) {
        return tok_nomem();
    }
    *steps = s;
    char where[600];
    snprintf(where, sizeof where, "%s: tokenizer.ggml.pre '%s'", source, name);
    for (const char *const *re = kind->regexes; *re; re++) {
        MOT_TRY(add_split(&s[(*n)++], *re, where));
    }
    s[(*n)++].kind = TOK_PRE_BYTE_LEVEL; /* no prefix space, no regex of its own */
    *ignore_merges = kind->ignore_merges;
    *add_bos = kind->add_bos;
    return MOT_OK;
}
