/* The settings of one expert from a GGUF file's llama.* keys (llama.cpp's names), so a GGUF
 * expert runs exactly as the Hugging Face folder it was converted from. */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "model/config.h"
#include "model/gguf.h"

/* key (llama.<name>) as an int in [lo, hi]; absent: *out unchanged when !required. */
static mot_status int_key(const mot_gguf *g, const char *name, int required, int64_t lo, int64_t hi, int *out) {
    char key[96];
    snprintf(key, sizeof key, "llama.%s", name);
    int64_t v = *out;
    MOT_TRY(required ? mot_gguf_get_int(g, key, &v) : mot_gguf_opt_int(g, key, &v));
    if (mot_gguf_has(g, key) && (v < lo || v > hi)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %s = %lld is out of range (%lld..%lld)", mot_gguf_path(g), key,
                        (long long)v, (long long)lo, (long long)hi);
    }
    *out = (int)v;
    return MOT_OK;
}

static mot_status positive_float_key(const mot_gguf *g, const char *key, float *out) {
    double v = *out;
    MOT_TRY(mot_gguf_opt_float(g, key, &v));
    if (!(v >= FLT_MIN && v <= FLT_MAX)) { /* a float keeps it: 1e-50 would become 0, 1e39 inf */
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': %g is not a positive number a float holds (expected %g..%g)",
                        mot_gguf_path(g), key, v, FLT_MIN, FLT_MAX);
    }
    *out = (float)v;
    return MOT_OK;
}

static mot_status read_arch(const mot_gguf *g, mot_config *cfg) {
    const char *arch = NULL;
    MOT_TRY(mot_gguf_get_str(g, "general.architecture", &arch));
    if (strcmp(arch, "llama") != 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED,
                        "%s: key 'general.architecture': '%s' is not supported (llama: the Llama and Mistral families)",
                        mot_gguf_path(g), arch);
    }
    snprintf(cfg->arch, sizeof cfg->arch, "llama");
    int experts = 0;
    MOT_TRY(int_key(g, "expert_count", 0, 0, 1 << 16, &experts));
    if (experts > 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: key 'llama.expert_count': %d: mixture-of-experts layers are not supported",
                        mot_gguf_path(g), experts);
    }
    return MOT_OK;
}

static mot_status read_sizes(const mot_gguf *g, mot_config *cfg) {
    const char *file = mot_gguf_path(g);
    MOT_TRY(int_key(g, "embedding_length", 1, 1, MOT_CONFIG_MAX_DIM, &cfg->hidden));
    MOT_TRY(int_key(g, "block_count", 1, 1, MOT_CONFIG_MAX_LAYERS, &cfg->n_layers));
    MOT_TRY(int_key(g, "attention.head_count", 1, 1, MOT_CONFIG_MAX_HEADS, &cfg->n_heads));
    MOT_TRY(int_key(g, "feed_forward_length", 1, 1, MOT_CONFIG_MAX_DIM, &cfg->ffn));
    cfg->n_kv_heads = cfg->n_heads;
    MOT_TRY(int_key(g, "attention.head_count_kv", 0, 1, MOT_CONFIG_MAX_HEADS, &cfg->n_kv_heads));
    if (cfg->hidden % cfg->n_heads != 0 && !mot_gguf_has(g, "llama.attention.key_length")) {
        return mot_fail(MOT_ERR_FORMAT, "%s: embedding_length %d is not a multiple of head_count %d", file, cfg->hidden,
                        cfg->n_heads);
    }
    cfg->head_dim = cfg->hidden / cfg->n_heads;
    MOT_TRY(int_key(g, "attention.key_length", 0, 2, MOT_CONFIG_MAX_DIM, &cfg->head_dim));
    int v_dim = cfg->head_dim, rot_dim = cfg->head_dim;
    MOT_TRY(int_key(g, "attention.value_length", 0, 1, MOT_CONFIG_MAX_DIM, &v_dim));
    MOT_TRY(int_key(g, "rope.dimension_count", 0, 1, MOT_CONFIG_MAX_DIM, &rot_dim));
    if (v_dim != cfg->head_dim || rot_dim != cfg->head_dim) {
        return mot_fail(MOT_ERR_UNSUPPORTED,
                        "%s: key_length %d, value_length %d and rope.dimension_count %d differ (only equal ones are supported)",
                        file, cfg->head_dim, v_dim, rot_dim);
    }
    if (cfg->n_heads % cfg->n_kv_heads != 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d", file, cfg->n_heads,
                        cfg->n_kv_heads);
    }
    if (cfg->head_dim % 2 != 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: head dimension %d is odd (rotary embeddings need pairs)", file,
                        cfg->head_dim);
    }
    cfg->max_pos = 2048;
    MOT_TRY(int_key(g, "context_length", 0, 1, MOT_CONFIG_MAX_CONTEXT, &cfg->max_pos));
    cfg->rms_eps = 1e-5f;
    MOT_TRY(positive_float_key(g, "llama.attention.layer_norm_rms_epsilon", &cfg->rms_eps));
    cfg->rope_theta = 10000.0f;
    MOT_TRY(positive_float_key(g, "llama.rope.freq_base", &cfg->rope_theta));
    MOT_TRY(int_key(g, "attention.sliding_window", 0, 0, 1 << 30, &cfg->sliding_window));
    return MOT_OK;
}

/* llama.rope.scaling.*: none or linear. (Llama-3's scaling is a rope_freqs.weight tensor in
 * GGUF files: the loader applies it to the frequencies.) */
static mot_status read_rope_scaling(const mot_gguf *g, mot_config *cfg) {
    const char *type = NULL;
    MOT_TRY(mot_gguf_opt_str(g, "llama.rope.scaling.type", &type));
    double factor = 1.0;
    MOT_TRY(mot_gguf_opt_float(g, "llama.rope.scaling.factor", &factor));
    if (!type || strcmp(type, "none") == 0 || (strcmp(type, "linear") == 0 && factor == 1.0)) {
        return MOT_OK;
    }
    if (strcmp(type, "linear") != 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: key 'llama.rope.scaling.type': '%s' is not supported (linear is)",
                        mot_gguf_path(g), type);
    }
    if (!(factor > 0 && factor < 1e6)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'llama.rope.scaling.factor': %g is not a positive number",
                        mot_gguf_path(g), factor);
    }
    cfg->rope_type = MOT_ROPE_LINEAR;
    cfg->rope_factor = (float)factor;
    return MOT_OK;
}

static mot_status read_special_tokens(const mot_gguf *g, mot_config *cfg) {
    int64_t bos = -1, eos = -1, eot = -1;
    MOT_TRY(mot_gguf_opt_int(g, "tokenizer.ggml.bos_token_id", &bos));
    MOT_TRY(mot_gguf_opt_int(g, "tokenizer.ggml.eos_token_id", &eos));
    MOT_TRY(mot_gguf_opt_int(g, "tokenizer.ggml.eot_token_id", &eot));
    cfg->bos_id = bos >= 0 && bos < cfg->vocab ? (int)bos : -1;
    cfg->n_eos = 0;
    if (eos >= 0 && eos < cfg->vocab) {
        cfg->eos_ids[cfg->n_eos++] = (int)eos;
    }
    /* An end-of-turn token (Llama-3's <|eot_id|>) also ends a generation, as in llama.cpp. */
    if (eot >= 0 && eot < cfg->vocab && eot != eos) {
        cfg->eos_ids[cfg->n_eos++] = (int)eot;
    }
    return MOT_OK;
}

mot_status mot_config_from_gguf(const mot_gguf *g, mot_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->bos_id = -1;
    MOT_TRY(read_arch(g, cfg));
    MOT_TRY(read_sizes(g, cfg));
    MOT_TRY(read_rope_scaling(g, cfg));
    /* The vocabulary: llama.vocab_size, else the token list's length, else the embedding. */
    int64_t vocab = 0;
    MOT_TRY(mot_gguf_opt_int(g, "llama.vocab_size", &vocab));
    if (vocab <= 0) {
        char *const *tokens;
        if (mot_gguf_has(g, "tokenizer.ggml.tokens") &&
            mot_gguf_get_str_array(g, "tokenizer.ggml.tokens", &tokens, &vocab) != MOT_OK) {
            return MOT_ERR_FORMAT;
        }
    }
    const mot_tensor *emb = mot_gguf_find(g, "token_embd.weight");
    if (vocab <= 0 && emb && emb->ndim == 2) {
        vocab = emb->shape[0];
    }
    if (vocab <= 0 || vocab > MOT_CONFIG_MAX_VOCAB) {
        return mot_fail(MOT_ERR_FORMAT, "%s: the vocabulary size is unknown or out of range (llama.vocab_size: %lld, 1..%d)",
                        mot_gguf_path(g), (long long)vocab, MOT_CONFIG_MAX_VOCAB);
    }
    cfg->vocab = (int)vocab;
    cfg->tie_embeddings = mot_gguf_find(g, "output.weight") == NULL;
    return read_special_tokens(g, cfg);
}
