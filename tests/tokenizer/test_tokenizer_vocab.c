/* mot_tokenizer_from_vocab on small hand-made vocabularies: each bad input fails with a
 * one-line message naming the source and the key; merges ranked by score take every split of
 * a piece; byte fallback; add_bos / add_eos defaults; the chat template, from the vocabulary and
 * from a model folder's tokenizer_config.json (string, named list) or chat_template.jinja.
 * usage: test_tokenizer_vocab WORK_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/tokenizer.h"

static int failures;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            failures++;                                                               \
        }                                                                             \
    } while (0)

/* A byte-level vocabulary: "Ġ" is the mapped space. */
static char *bl_tokens[] = {"<|endoftext|>", "a", "b", "c", "ab", "\xC4\xA0", "\xC4\xA0" "ab", "<tag>"};
static char *bl_merges[] = {"a b", "\xC4\xA0 ab"};
static const int32_t bl_types[] = {3, 1, 1, 1, 1, 1, 1, 4};

/* A SentencePiece-style vocabulary. Scores: bc > ab > abc > ▁a, so "▁abc" becomes
 * ▁ a bc, then a+bc = abc (a split no merge list from training would hold), then nothing. */
#define SP "\xE2\x96\x81"
static char *sp_tokens[] = {"<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", SP, "a", "b", "c", "ab", "bc", "abc", SP "a"};
static const float sp_scores[] = {0, 0, 0, 0, 0, -100, -100, -100, -100, -2, -1, -3, -4};
static const int32_t sp_types[] = {2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1};

static mot_vocab_spec bl_spec(void) {
    mot_vocab_spec s = {.model = "gpt2", .pre = "gpt-2", .n_tokens = 8, .tokens = bl_tokens, .token_types = bl_types,
                        .n_merges = 2, .merges = bl_merges, .bos_id = 0, .eos_id = 0, .unk_id = -1, .pad_id = -1,
                        .add_bos = -1, .add_eos = -1, .add_space_prefix = -1};
    return s;
}

static mot_vocab_spec sp_spec(void) {
    mot_vocab_spec s = {.model = "llama", .n_tokens = 13, .tokens = sp_tokens, .scores = sp_scores,
                        .token_types = sp_types, .bos_id = 1, .eos_id = 2, .unk_id = 0, .pad_id = -1,
                        .add_bos = -1, .add_eos = -1, .add_space_prefix = -1};
    return s;
}

static void expect_error(const char *name, mot_vocab_spec spec, mot_status st, const char *part) {
    mot_tokenizer *tok = NULL;
    mot_status got = mot_tokenizer_from_vocab(&spec, "m.gguf", &tok);
    const char *msg = mot_last_error();
    if (got != st || !strstr(msg, part) || strncmp(msg, "m.gguf: ", 8) != 0 || strchr(msg, '\n') || tok) {
        fprintf(stderr, "FAIL %s: status %d (want %d), message \"%s\" (want \"m.gguf: ...%s...\")\n", name, got, st,
                msg, part);
        failures++;
    } else {
        printf("ok   %s: %s\n", name, msg);
    }
    mot_tokenizer_free(tok);
}

static void errors(void) {
    mot_vocab_spec s = bl_spec();
    s.model = NULL;
    expect_error("no-model", s, MOT_ERR_FORMAT, "tokenizer.ggml.model is missing");
    s.model = "bert";
    expect_error("bert", s, MOT_ERR_UNSUPPORTED, "tokenizer.ggml.model 'bert' is not supported (gpt2 or llama)");
    s = bl_spec();
    s.n_tokens = 0;
    expect_error("no-tokens", s, MOT_ERR_FORMAT, "tokenizer.ggml.tokens is missing or empty");
    s = bl_spec();
    s.bos_id = 8;
    expect_error("bos-range", s, MOT_ERR_FORMAT, "tokenizer.ggml.bos_token_id 8 is out of range (8 tokens)");
    s = bl_spec();
    s.eos_id = -7;
    expect_error("eos-range", s, MOT_ERR_FORMAT, "tokenizer.ggml.eos_token_id -7 is out of range");
    s = bl_spec();
    s.n_token_types = 5;
    expect_error("types-length", s, MOT_ERR_FORMAT, "tokenizer.ggml.token_type has 5 entries for 8 tokens");
    s = sp_spec();
    s.n_scores = 14;
    expect_error("scores-length", s, MOT_ERR_FORMAT, "tokenizer.ggml.scores has 14 entries for 13 tokens");
    s = sp_spec();
    s.scores = NULL;
    expect_error("no-scores", s, MOT_ERR_FORMAT, "tokenizer.ggml.scores is missing");
    s = bl_spec();
    s.merges = NULL;
    s.n_merges = 0;
    expect_error("no-merges", s, MOT_ERR_FORMAT, "tokenizer.ggml.merges is missing");
    s = bl_spec();
    char *no_space[] = {"a b", "ab"};
    s.merges = no_space;
    expect_error("merge-no-space", s, MOT_ERR_FORMAT,
                 "tokenizer.ggml.merges[1] 'ab': expected two tokens separated by a space");
    char *unknown[] = {"a zz"};
    s.merges = unknown;
    s.n_merges = 1;
    expect_error("merge-unknown", s, MOT_ERR_FORMAT,
                 "tokenizer.ggml.merges[0] 'a zz': 'zz' is not in tokenizer.ggml.tokens");
    char *no_result[] = {"b c"};
    s.merges = no_result;
    expect_error("merge-result", s, MOT_ERR_FORMAT,
                 "tokenizer.ggml.merges[0] 'b c': the merged token 'bc' is not in tokenizer.ggml.tokens");
    s = bl_spec();
    s.pre = "whatever-9";
    expect_error("unknown-pre", s, MOT_ERR_UNSUPPORTED,
                 "tokenizer.ggml.pre 'whatever-9' is not a pre-tokenizer mot knows");
    s = bl_spec();
    char *holes[] = {"<|endoftext|>", "a", NULL, "c", "ab", "x", "y", "z"};
    s.tokens = holes;
    expect_error("token-missing", s, MOT_ERR_FORMAT, "tokenizer.ggml.tokens[2] is missing");
}

static int encode_is(const mot_tokenizer *tok, const char *text, int add_special, const int *want, int n_want) {
    int *ids = NULL, n = 0;
    int ok = mot_tokenizer_encode(tok, text, add_special, &ids, &n) == MOT_OK && n == n_want &&
             memcmp(ids, want, sizeof(int) * (size_t)n) == 0;
    if (!ok) {
        fprintf(stderr, "  encode '%s' gave", text);
        for (int i = 0; i < n; i++) {
            fprintf(stderr, " %d", ids[i]);
        }
        fputc('\n', stderr);
    }
    free(ids);
    return ok;
}

static int decode_is(const mot_tokenizer *tok, const int *ids, int n, int skip, const char *want) {
    char *text = NULL;
    int ok = mot_tokenizer_decode(tok, ids, n, skip, &text) == MOT_OK && strcmp(text, want) == 0;
    if (!ok) {
        fprintf(stderr, "  decode gave '%s'\n", text ? text : "(error)");
    }
    free(text);
    return ok;
}

static void byte_level(void) {
    mot_vocab_spec s = bl_spec();
    s.chat_template = "{{ x }}";
    mot_tokenizer *tok = NULL;
    CHECK(mot_tokenizer_from_vocab(&s, "bl.gguf", &tok) == MOT_OK, "%s", mot_last_error());
    if (!tok) {
        return;
    }
    /* " ab" is one pre-token: Ġ a b -> Ġ ab -> Ġab; control and user-defined tokens match in
     * the text; no BOS by default for gpt-2. */
    CHECK(encode_is(tok, "ab ab<tag>c<|endoftext|>", 1, (int[]){4, 6, 7, 3, 0}, 5), "byte-level encode");
    CHECK(decode_is(tok, (int[]){4, 6, 7, 0}, 4, 0, "ab ab<tag><|endoftext|>"), "byte-level decode");
    CHECK(decode_is(tok, (int[]){4, 6, 7, 0}, 4, 1, "ab ab<tag>"), "skip_special keeps user-defined tokens");
    CHECK(mot_tokenizer_chat_template(tok) && strcmp(mot_tokenizer_chat_template(tok), "{{ x }}") == 0,
          "chat template from the vocabulary");
    CHECK(mot_tokenizer_vocab_size(tok) == 8 && mot_tokenizer_bos_id(tok) == 0, "vocab size / bos");
    mot_tokenizer_free(tok);
    /* llama-bpe adds BOS unless the file says otherwise. */
    s.pre = "llama-bpe";
    s.chat_template = NULL;
    CHECK(mot_tokenizer_from_vocab(&s, "bl.gguf", &tok) == MOT_OK, "%s", mot_last_error());
    CHECK(encode_is(tok, "ab", 1, (int[]){0, 4}, 2), "llama-bpe adds BOS by default");
    CHECK(mot_tokenizer_chat_template(tok) == NULL, "no chat template");
    mot_tokenizer_free(tok);
    s.add_bos = 0;
    s.add_eos = 1;
    CHECK(mot_tokenizer_from_vocab(&s, "bl.gguf", &tok) == MOT_OK, "%s", mot_last_error());
    CHECK(encode_is(tok, "ab", 1, (int[]){4, 0}, 2), "add_bos 0, add_eos 1");
    mot_tokenizer_free(tok);
}

static void sentencepiece(void) {
    mot_vocab_spec s = sp_spec();
    mot_tokenizer *tok = NULL;
    CHECK(mot_tokenizer_from_vocab(&s, "sp.gguf", &tok) == MOT_OK, "%s", mot_last_error());
    if (!tok) {
        return;
    }
    CHECK(encode_is(tok, "abc", 1, (int[]){1, 5, 11}, 3), "merges by score, every split");
    /* é has no piece: its bytes; z neither, and no byte pieces for it: unk. */
    CHECK(encode_is(tok, "a\xC3\xA9zz", 0, (int[]){12, 3, 4, 0}, 4), "byte fallback, fused unk");
    CHECK(encode_is(tok, "<s>ab</s>", 0, (int[]){1, 5, 9, 2}, 4), "control tokens in the text");
    CHECK(decode_is(tok, (int[]){1, 5, 11, 12, 3, 4}, 6, 1, "abc a\xC3\xA9"), "decode: ▁ to space, bytes fused");
    mot_tokenizer_free(tok);
    s.add_space_prefix = 0;
    CHECK(mot_tokenizer_from_vocab(&s, "sp.gguf", &tok) == MOT_OK, "%s", mot_last_error());
    CHECK(encode_is(tok, "abc", 1, (int[]){1, 11}, 2), "add_space_prefix 0");
    mot_tokenizer_free(tok);
}

static const char *write_folder(const char *work, const char *name, const char *config, const char *jinja) {
    static char dir[4096];
    char path[4200];
    snprintf(dir, sizeof dir, "%s/%s", work, name);
    mkdir(work, 0755);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "w");
    fputs(config, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    remove(path);
    if (jinja) {
        f = fopen(path, "w");
        fputs(jinja, f);
        fclose(f);
    }
    return dir;
}

static void folder_template(const char *work, const char *name, const char *config, const char *jinja,
                            const char *want) {
    mot_tokenizer *tok = NULL;
    mot_status st = mot_tokenizer_load(write_folder(work, name, config, jinja), &tok);
    const char *got = st == MOT_OK ? mot_tokenizer_chat_template(tok) : NULL;
    int ok = st == MOT_OK && (want ? got && strcmp(got, want) == 0 : got == NULL);
    CHECK(ok, "%s: chat template '%s' (want '%s'; %s)", name, got ? got : "(none)", want ? want : "(none)",
          st == MOT_OK ? "loaded" : mot_last_error());
    mot_tokenizer_free(tok);
}

static void chat_templates(const char *work) {
    folder_template(work, "tmpl-string", "{\"chat_template\": \"{{ bos_token }}\"}", NULL, "{{ bos_token }}");
    folder_template(work, "tmpl-list",
                    "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
                    "{\"name\": \"default\", \"template\": \"D\"}]}",
                    NULL, "D");
    folder_template(work, "tmpl-list-no-default", "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"R\"}]}",
                    NULL, NULL);
    folder_template(work, "tmpl-jinja", "{}", "{{ messages }}\n", "{{ messages }}\n");
    folder_template(work, "tmpl-config-first", "{\"chat_template\": \"C\"}", "J", "C");
    folder_template(work, "tmpl-none", "{}", NULL, NULL);
    mot_tokenizer *tok = NULL;
    mot_status st = mot_tokenizer_load(write_folder(work, "tmpl-bad", "{\"chat_template\": 5}", NULL), &tok);
    CHECK(st == MOT_ERR_FORMAT && strstr(mot_last_error(), "tmpl-bad/tokenizer_config.json: 'chat_template' must be"),
          "bad chat_template: %s", mot_last_error());
    mot_tokenizer_free(tok);
}

/* A hostile SentencePiece vocabulary: one piece of 400 KB (splitting it at every byte used
 * to cost time quadratic in its length: minutes, past this test's ctest timeout). It builds
 * at once, and the other pieces still merge. */
static void long_piece(void) {
    const size_t len = 400 * 1000;
    char *big = malloc(len + 1);
    memset(big, 'a', len);
    big[len] = '\0';
    char *tokens[14];
    memcpy(tokens, sp_tokens, sizeof sp_tokens);
    tokens[13] = big;
    float scores[14];
    int32_t types[14];
    memcpy(scores, sp_scores, sizeof sp_scores);
    memcpy(types, sp_types, sizeof sp_types);
    scores[13] = -5, types[13] = 1;
    mot_vocab_spec s = sp_spec();
    s.n_tokens = 14, s.tokens = tokens, s.scores = scores, s.token_types = types;
    mot_tokenizer *tok = NULL;
    CHECK(mot_tokenizer_from_vocab(&s, "long.gguf", &tok) == MOT_OK, "%s", mot_last_error());
    if (tok) {
        CHECK(encode_is(tok, "abc", 1, (int[]){1, 5, 11}, 3), "merges beside a 400 KB piece");
    }
    mot_tokenizer_free(tok);
    free(big);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s WORK_DIR\n", argv[0]);
        return 2;
    }
    errors();
    byte_level();
    sentencepiece();
    long_piece();
    chat_templates(argv[1]);
    if (failures) {
        fprintf(stderr, "%d vocabulary checks failed\n", failures);
        return 1;
    }
    printf("all vocabulary checks passed\n");
    return 0;
}
