/* A GGUF file's tokenizer: its tokenizer.ggml.* arrays into a mot_vocab_spec, built by
 * mot_tokenizer_from_vocab into the same engine as a tokenizer.json. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/gguf.h"
#include "tokenizer/tok_limits.h"
#include "tokenizer/tokenizer.h"

/* An optional id key: -1 when absent. */
static mot_status id_key(const mot_gguf *g, const char *key, int *out) {
    int64_t v = -1;
    MOT_TRY(mot_gguf_opt_int(g, key, &v));
    *out = v >= 0 && v <= INT32_MAX ? (int)v : -1;
    return MOT_OK;
}

/* An optional bool key: -1 when absent. */
static mot_status flag_key(const mot_gguf *g, const char *key, int *out) {
    *out = -1;
    return mot_gguf_opt_bool(g, key, out);
}

static mot_status array_len(const mot_gguf *g, const char *key, int64_t n, int64_t expected) {
    if (n != expected) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': %lld entries for %lld tokens", mot_gguf_path(g), key,
                        (long long)n, (long long)expected);
    }
    return MOT_OK;
}

static mot_status spec_from_gguf(const mot_gguf *g, mot_vocab_spec *s) {
    memset(s, 0, sizeof *s);
    MOT_TRY(mot_gguf_get_str(g, "tokenizer.ggml.model", &s->model));
    MOT_TRY(mot_gguf_opt_str(g, "tokenizer.ggml.pre", &s->pre));
    int64_t n = 0, m = 0;
    MOT_TRY(mot_gguf_get_str_array(g, "tokenizer.ggml.tokens", &s->tokens, &n));
    if (n <= 0 || n > MOT_TOK_MAX_VOCAB) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'tokenizer.ggml.tokens': %lld tokens (1 to %d expected)",
                        mot_gguf_path(g), (long long)n, MOT_TOK_MAX_VOCAB);
    }
    s->n_tokens = (int)n;
    if (mot_gguf_has(g, "tokenizer.ggml.scores")) {
        MOT_TRY(mot_gguf_get_f32_array(g, "tokenizer.ggml.scores", &s->scores, &m));
        MOT_TRY(array_len(g, "tokenizer.ggml.scores", m, n));
        s->n_scores = (int)m;
    }
    if (mot_gguf_has(g, "tokenizer.ggml.token_type")) {
        MOT_TRY(mot_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &s->token_types, &m));
        MOT_TRY(array_len(g, "tokenizer.ggml.token_type", m, n));
        s->n_token_types = (int)m;
    }
    if (mot_gguf_has(g, "tokenizer.ggml.merges")) {
        MOT_TRY(mot_gguf_get_str_array(g, "tokenizer.ggml.merges", &s->merges, &m));
        s->n_merges = (int)(m < INT32_MAX ? m : INT32_MAX);
    }
    MOT_TRY(id_key(g, "tokenizer.ggml.bos_token_id", &s->bos_id));
    MOT_TRY(id_key(g, "tokenizer.ggml.eos_token_id", &s->eos_id));
    MOT_TRY(id_key(g, "tokenizer.ggml.unknown_token_id", &s->unk_id));
    MOT_TRY(id_key(g, "tokenizer.ggml.padding_token_id", &s->pad_id));
    MOT_TRY(flag_key(g, "tokenizer.ggml.add_bos_token", &s->add_bos));
    MOT_TRY(flag_key(g, "tokenizer.ggml.add_eos_token", &s->add_eos));
    MOT_TRY(flag_key(g, "tokenizer.ggml.add_space_prefix", &s->add_space_prefix));
    return mot_gguf_opt_str(g, "tokenizer.chat_template", &s->chat_template);
}

mot_status mot_tokenizer_load_gguf(const char *path, mot_tokenizer **out) {
    *out = NULL;
    mot_gguf *g;
    MOT_TRY(mot_gguf_open_meta(path, &g));
    mot_vocab_spec spec;
    mot_status st = spec_from_gguf(g, &spec);
    if (st == MOT_OK) {
        st = mot_tokenizer_from_vocab(&spec, path, out);
    }
    mot_gguf_close(g);
    return st;
}
