/* Bad inputs: each must fail with a one-line message that names the file and the problem.
 * usage: test_tokenizer_errors WORK_DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

static int failures;
static char work[2048];

#define MODEL_OK "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}"

/* Writes DIR/<name>/tokenizer.json (and a tokenizer_config.json when config is not NULL). */
static const char *make_dir(const char *name, const char *json, const char *config) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", work, name);
    mkdir(work, 0755);
    mkdir(dir, 0755);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fputs(json, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    remove(path);
    if (config) {
        f = fopen(path, "w");
        fputs(config, f);
        fclose(f);
    }
    return dir;
}

/* Loading must fail with status st and a message containing every one of the parts. */
static void expect_load_error(const char *name, const char *json, const char *config, mot_status st,
                              const char *part1, const char *part2) {
    const char *dir = make_dir(name, json, config);
    mot_tokenizer *tok = NULL;
    mot_status got = mot_tokenizer_load(dir, &tok);
    const char *msg = mot_last_error();
    int ok = got == st && strstr(msg, part1) && (!part2 || strstr(msg, part2)) && !strchr(msg, '\n');
    if (!ok) {
        fprintf(stderr, "FAIL %s: status %d (want %d), message \"%s\" (want \"%s\"%s%s)\n", name, got, st, msg, part1,
                part2 ? " and " : "", part2 ? part2 : "");
        failures++;
    } else {
        printf("ok   %s: %s\n", name, msg);
    }
    mot_tokenizer_free(tok);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* A normalizer or decoder of `n` Replace steps, each turning "a" into 1000 of them. */
static char *replace_chain(const char *kind, int n) {
    static char a1000[1001];
    memset(a1000, 'a', 1000);
    char *s = malloc(4096 * 8);
    size_t k = (size_t)snprintf(s, 4096 * 8, "{\"type\": \"Sequence\", \"%s\": [", kind);
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(s + k, 4096 * 8 - k,
                              "%s{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"%s\"}",
                              i ? ", " : "", a1000);
    }
    snprintf(s + k, 4096 * 8 - k, "]}");
    return s;
}

/* Limits of tokenizer/tok_limits.h: a huge id is refused before the id-indexed tables are
 * allocated; a Replace chain that multiplies the text stops at the growth limit, fast. */
static void check_limits(void) {
    expect_load_error("huge-vocab-id",
                      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 100000000}, "
                      "\"merges\": []}}",
                      NULL, MOT_ERR_FORMAT, "huge-vocab-id/tokenizer.json: model.vocab: id 100000000 for 'ab' exceeds the limit 1030",
                      NULL);
    expect_load_error("huge-added-id", "{" MODEL_OK ", \"added_tokens\": [{\"id\": 100000000, \"content\": \"<x>\"}]}",
                      NULL, MOT_ERR_FORMAT, "added_tokens[0]: id 100000000 for '<x>' exceeds the limit 1032", NULL);
    expect_load_error("id-over-max",
                      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 4194304}, \"merges\": []}}",
                      NULL, MOT_ERR_FORMAT, "model.vocab: id 4194304 for 'b' exceeds the limit 1028", NULL);
    /* The huge ids must not have cost their tables (8 bytes per id: 800 MB for 10^8). */
    if (peak_rss_mib() > 200) {
        fprintf(stderr, "FAIL huge ids: peak RSS %ld MiB\n", peak_rss_mib());
        failures++;
    }
    /* A vocabulary given as arrays (a GGUF file's): at most MOT_TOK_MAX_VOCAB tokens. */
    char *names[] = {"a"};
    mot_vocab_spec spec = {.model = "gpt2", .n_tokens = 5000000, .tokens = names, .bos_id = -1, .eos_id = -1,
                           .unk_id = -1, .pad_id = -1};
    mot_tokenizer *tok = NULL;
    if (mot_tokenizer_from_vocab(&spec, "x.gguf", &tok) != MOT_ERR_FORMAT ||
        !strstr(mot_last_error(), "x.gguf: tokenizer.ggml.tokens: 5000000 tokens, more than the limit 4194304")) {
        fprintf(stderr, "FAIL vocab arrays over the limit: \"%s\"\n", mot_last_error());
        failures++;
    }
    mot_tokenizer_free(tok);

    /* Three Replace normalizers: 1 byte -> 1000 -> 10^6 -> (10^9: refused). */
    char *norm = replace_chain("normalizers", 3);
    char json[40000];
    snprintf(json, sizeof json, "{" MODEL_OK ", \"normalizer\": %s}", norm);
    free(norm);
    const char *dir = make_dir("replace-bomb", json, NULL);
    double t0 = now_s();
    int *ids = NULL, n = 0;
    mot_status st = mot_tokenizer_load(dir, &tok);
    if (st == MOT_OK) {
        st = mot_tokenizer_encode(tok, "a", 0, &ids, &n);
    }
    if (st != MOT_ERR_ARG || !strstr(mot_last_error(), "replace-bomb/tokenizer.json: normalizer Replace: text of 1 byte grows beyond 1048577 bytes") ||
        now_s() - t0 > 5) {
        fprintf(stderr, "FAIL normalizer growth: status %d, %.1f s, \"%s\"\n", st, now_s() - t0, mot_last_error());
        failures++;
    } else {
        printf("ok   normalizer growth: %s\n", mot_last_error());
    }
    free(ids);
    mot_tokenizer_free(tok);
    tok = NULL;

    /* The same chain as a decoder: decoding "a" stops at the limit too. */
    char *dec = replace_chain("decoders", 3);
    snprintf(json, sizeof json, "{" MODEL_OK ", \"decoder\": %s}", dec);
    free(dec);
    dir = make_dir("decode-bomb", json, NULL);
    t0 = now_s();
    char *text = NULL;
    st = mot_tokenizer_load(dir, &tok);
    if (st == MOT_OK) {
        int a = 0;
        st = mot_tokenizer_decode(tok, &a, 1, 0, &text);
    }
    if (st != MOT_ERR_ARG || !strstr(mot_last_error(), "decode-bomb/tokenizer.json: decoder Replace: decoded text grows beyond 1048577 bytes") ||
        now_s() - t0 > 5) {
        fprintf(stderr, "FAIL decoder growth: status %d, %.1f s, \"%s\"\n", st, now_s() - t0, mot_last_error());
        failures++;
    } else {
        printf("ok   decoder growth: %s\n", mot_last_error());
    }
    free(text);
    mot_tokenizer_free(tok);
    if (peak_rss_mib() > 200) {
        fprintf(stderr, "FAIL growth: peak RSS %ld MiB\n", peak_rss_mib());
        failures++;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s WORK_DIR\n", argv[0]);
        return 2;
    }
    snprintf(work, sizeof work, "%s", argv[1]);
    char want[4400];

    /* A missing folder / file. */
    mot_tokenizer *tok = NULL;
    snprintf(want, sizeof want, "%s/no-such-model/tokenizer.json: no such file", work);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-model", work);
    if (mot_tokenizer_load(missing, &tok) != MOT_ERR_IO || strncmp(mot_last_error(), want, strlen(want)) != 0) {
        fprintf(stderr, "FAIL missing: \"%s\"\n", mot_last_error());
        failures++;
    }

    expect_load_error("malformed", "{\"model\": {\"type\": \"BPE\",, }", NULL, MOT_ERR_FORMAT,
                      "malformed/tokenizer.json:1:", "invalid JSON");
    expect_load_error("not-object", "[1, 2]", NULL, MOT_ERR_FORMAT, "not-object/tokenizer.json: expected a JSON object",
                      NULL);
    snprintf(want, sizeof want, "%s/whitespace/tokenizer.json: pre_tokenizer type 'Whitespace' is not supported", work);
    expect_load_error("whitespace", "{" MODEL_OK ", \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", NULL,
                      MOT_ERR_UNSUPPORTED, want, NULL);
    expect_load_error("wordpiece", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", NULL, MOT_ERR_UNSUPPORTED,
                      "wordpiece/tokenizer.json: model type 'WordPiece' is not supported", NULL);
    expect_load_error("bert-normalizer", "{" MODEL_OK ", \"normalizer\": {\"type\": \"BertNormalizer\"}}", NULL,
                      MOT_ERR_UNSUPPORTED, "bert-normalizer/tokenizer.json: normalizer type 'BertNormalizer' is not supported",
                      NULL);
    expect_load_error("wordpiece-decoder", "{" MODEL_OK ", \"decoder\": {\"type\": \"WordPiece\"}}", NULL,
                      MOT_ERR_UNSUPPORTED, "tokenizer.json: decoder type 'WordPiece' is not supported", NULL);
    /* A post-processor id past the vocabulary would be encoded into every prompt (found by
     * fuzzing); one past int would be truncated into some other id. */
    expect_load_error("post-id-range",
                      "{" MODEL_OK ", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                      "[{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
                      "\"type_id\": 0}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [526], "
                      "\"tokens\": [\"<s>\"]}}}}",
                      NULL, MOT_ERR_FORMAT, "tokenizer.json: post_processor: token id 526 is not in the vocabulary (3 ids)",
                      NULL);
    expect_load_error("post-id-int",
                      "{" MODEL_OK ", \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"a\", "
                      "4294967296], \"sep\": [\"b\", 1]}}",
                      NULL, MOT_ERR_FORMAT, "post_processor BertProcessing: 'cls' must be [\"token\", id]", NULL);
    expect_load_error("bert-post", "{" MODEL_OK ", \"post_processor\": {\"type\": \"Unknown\"}}", NULL,
                      MOT_ERR_UNSUPPORTED, "tokenizer.json: post_processor type 'Unknown' is not supported", NULL);
    expect_load_error("unknown-merge",
                      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a zz\"]}}", NULL,
                      MOT_ERR_FORMAT, "unknown-merge/tokenizer.json: model.merges[0]: token 'zz' is not in the vocab", NULL);
    expect_load_error("merge-result",
                      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
                      NULL, MOT_ERR_FORMAT, "model.merges[0]: merged token 'ab' is not in the vocab", NULL);
    expect_load_error("bad-merge", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", NULL,
                      MOT_ERR_FORMAT, "model.merges[0] 'a': expected two tokens", NULL);
    expect_load_error("no-model", "{\"normalizer\": null}", NULL, MOT_ERR_FORMAT, "key 'model': missing", NULL);
    expect_load_error("bad-regex",
                      "{" MODEL_OK ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, "
                      "\"behavior\": \"Isolated\", \"invert\": false}}",
                      NULL, MOT_ERR_FORMAT, "pre_tokenizer Split: regex '(a' does not compile", NULL);
    expect_load_error("bad-behavior",
                      "{" MODEL_OK ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, "
                      "\"behavior\": \"Sideways\"}}",
                      NULL, MOT_ERR_UNSUPPORTED, "split behavior 'Sideways' is not supported", NULL);
    expect_load_error("dropout", "{\"model\": {\"type\": \"BPE\", \"dropout\": 0.1, \"vocab\": {}, \"merges\": []}}",
                      NULL, MOT_ERR_UNSUPPORTED, "model.dropout is not supported", NULL);
    expect_load_error("bad-config", "{" MODEL_OK "}", "{\"bos_token\": \"<s>\"}", MOT_ERR_FORMAT,
                      "bad-config/tokenizer_config.json: bos_token '<s>' is not in the vocabulary", NULL);
    expect_load_error("malformed-config", "{" MODEL_OK "}", "{\"add_bos_token\": tru}", MOT_ERR_FORMAT,
                      "malformed-config/tokenizer_config.json:1:", "invalid JSON");
    expect_load_error("bad-added", "{" MODEL_OK ", \"added_tokens\": [{\"id\": -3, \"content\": \"x\"}]}", NULL,
                      MOT_ERR_FORMAT, "added_tokens[0]: missing or invalid 'id'", NULL);

    check_limits();

    /* Text that is not UTF-8 is refused, not mangled. */
    const char *dir = make_dir("good", "{" MODEL_OK "}", NULL);
    if (mot_tokenizer_load(dir, &tok) != MOT_OK) {
        fprintf(stderr, "FAIL good: %s\n", mot_last_error());
        return 1;
    }
    int *ids = NULL, n = 0;
    if (mot_tokenizer_encode(tok, "a\xC3(b", 1, &ids, &n) != MOT_ERR_ARG || !strstr(mot_last_error(), "not valid UTF-8")) {
        fprintf(stderr, "FAIL invalid utf-8: \"%s\"\n", mot_last_error());
        failures++;
    }
    /* A plain BPE: "abab" -> ab ab; unknown characters are dropped (no unk_token), as in HF. */
    if (mot_tokenizer_encode(tok, "abxab", 1, &ids, &n) != MOT_OK || n != 2 || ids[0] != 2 || ids[1] != 2) {
        fprintf(stderr, "FAIL plain BPE: n=%d\n", n);
        failures++;
    }
    free(ids);
    mot_tokenizer_free(tok);

    if (failures) {
        fprintf(stderr, "%d error checks failed\n", failures);
        return 1;
    }
    printf("all error checks passed\n");
    return 0;
}
