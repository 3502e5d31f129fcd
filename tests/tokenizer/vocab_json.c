/* A mot_vocab_spec read from JSON (what tests/tokenizer/vocab_spec.py dumps from a GGUF file,
 * or writes from a tokenizer.json), so that the vocabulary path is tested without the GGUF
 * reader:
 *   {"source": "x.gguf", "model": "gpt2", "pre": "smollm", "tokens": [...], "scores": [...],
 *    "token_types": [...], "merges": ["a b", ...], "bos_id": 1, "eos_id": 2, "unk_id": -1,
 *    "pad_id": -1, "add_bos": -1, "add_eos": -1, "add_space_prefix": -1, "chat_template": "..."}
 * Absent or null keys: NULL / -1. The lengths of scores and token_types are passed on as
 * given (n_scores, n_token_types), so that a wrong length reaches the library's check. */
#include "vocab_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static int int_or(const json_t *root, const char *key, int dflt) {
    const json_t *v = json_object_get(root, key);
    if (json_is_boolean(v)) {
        return json_is_true(v);
    }
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static const char *str_or_null(const json_t *root, const char *key) {
    return json_string_value(json_object_get(root, key));
}

/* The strings of an array (borrowed from the JSON), NULL when the key is absent. */
static char **strings(const json_t *root, const char *key, int *n) {
    const json_t *a = json_object_get(root, key);
    *n = 0;
    if (!json_is_array(a)) {
        return NULL;
    }
    *n = (int)json_array_size(a);
    char **out = calloc(*n ? (size_t)*n : 1, sizeof *out);
    for (int i = 0; i < *n; i++) {
        out[i] = (char *)json_string_value(json_array_get(a, (size_t)i));
    }
    return out;
}

mot_status vocab_json_load(const char *path, mot_tokenizer **out) {
    *out = NULL;
    json_error_t err;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &err);
    if (!root) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %s (line %d)", path, err.text, err.line);
    }
    mot_vocab_spec spec = {0};
    spec.model = str_or_null(root, "model");
    spec.pre = str_or_null(root, "pre");
    spec.chat_template = str_or_null(root, "chat_template");
    char **tokens = strings(root, "tokens", &spec.n_tokens);
    char **merges = strings(root, "merges", &spec.n_merges);
    spec.tokens = tokens;
    spec.merges = merges;
    const json_t *scores = json_object_get(root, "scores"), *types = json_object_get(root, "token_types");
    float *sc = NULL;
    int32_t *ty = NULL;
    if (json_is_array(scores)) {
        spec.n_scores = (int)json_array_size(scores);
        sc = calloc(spec.n_scores + (size_t)spec.n_tokens + 1, sizeof *sc); /* readable past a short array */
        for (int i = 0; i < spec.n_scores; i++) {
            sc[i] = (float)json_number_value(json_array_get(scores, (size_t)i));
        }
        spec.scores = sc;
    }
    if (json_is_array(types)) {
        spec.n_token_types = (int)json_array_size(types);
        ty = calloc(spec.n_token_types + (size_t)spec.n_tokens + 1, sizeof *ty);
        for (int i = 0; i < spec.n_token_types; i++) {
            ty[i] = (int32_t)json_integer_value(json_array_get(types, (size_t)i));
        }
        spec.token_types = ty;
    }
    spec.bos_id = int_or(root, "bos_id", -1);
    spec.eos_id = int_or(root, "eos_id", -1);
    spec.unk_id = int_or(root, "unk_id", -1);
    spec.pad_id = int_or(root, "pad_id", -1);
    spec.add_bos = int_or(root, "add_bos", -1);
    spec.add_eos = int_or(root, "add_eos", -1);
    spec.add_space_prefix = int_or(root, "add_space_prefix", -1);
    const char *source = str_or_null(root, "source");
    mot_status st = mot_tokenizer_from_vocab(&spec, source ? source : path, out);
    free(tokens);
    free(merges);
    free(sc);
    free(ty);
    json_decref(root);
    return st;
}
