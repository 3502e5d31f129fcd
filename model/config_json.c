/* An expert's settings (model/config.h): config.json (+ generation_config.json) of a
 * Llama/Mistral model folder, with Hugging Face's defaults for the optional keys and sanity
 * checks that name the file and the key; or, for a GGUF file, its llama.* keys (config_gguf.c),
 * picked by mot_config_load at the end. */
#include "model/config.h"

#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "common/mapped_file.h"
#include "model/config_internal.h"
#include "model/gguf.h"

/* A required or optional integer key in [min, max]: "config.json: num_hidden_layers =
 * 2147483647 is out of range (1..4096)". */
static mot_status int_key(const json_t *obj, const char *key, const char *file, int required,
                          long long min, long long max, int *out) {
    const json_t *present = json_object_get(obj, key);
    if (!required && (!present || json_is_null(present))) {
        return MOT_OK; /* keep the default */
    }
    long long v = 0;
    MOT_TRY(mot_json_int(obj, key, file, &v));
    if (v < min || v > max) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %s = %lld is out of range (%lld..%lld)", file, key, v, min, max);
    }
    *out = (int)v;
    return MOT_OK;
}

static mot_status positive_float_key(const json_t *obj, const char *key, const char *file,
                                     float *out) {
    double v = *out;
    MOT_TRY(mot_json_opt_num(obj, key, file, &v));
    if (!(v > 0)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': %g must be positive", file, key, v);
    }
    MOT_TRY(mot_config_check_float(file, key, v));
    *out = (float)v;
    return MOT_OK;
}

/* A key that, when present, must be the given string (features the runtime does not have). */
static mot_status expect_string(const json_t *obj, const char *key, const char *file,
                                const char *want) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (!json_is_string(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': expected a string", file, key);
    }
    if (strcmp(json_string_value(v), want) != 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: %s '%s' is not supported (expected %s)", file,
                        key, json_string_value(v), want);
    }
    return MOT_OK;
}

static mot_status expect_false(const json_t *obj, const char *key, const char *file) {
    int v = 0;
    MOT_TRY(mot_json_opt_bool(obj, key, file, &v));
    if (v) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: %s true is not supported", file, key);
    }
    return MOT_OK;
}

static mot_status read_arch(const json_t *root, const char *file, mot_config *cfg) {
    const json_t *mt = json_object_get(root, "model_type");
    if (!mt || json_is_null(mt)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'model_type': missing", file);
    }
    if (!json_is_string(mt)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'model_type': expected a string", file);
    }
    const char *name = json_string_value(mt);
    if (strcmp(name, "llama") != 0 && strcmp(name, "mistral") != 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED,
                        "%s: model_type '%s' is not supported (expected llama or mistral)", file,
                        name);
    }
    snprintf(cfg->arch, sizeof cfg->arch, "%s", name);
    return MOT_OK;
}

static mot_status read_sizes(const json_t *root, const char *file, mot_config *cfg) {
    MOT_TRY(int_key(root, "hidden_size", file, 1, 1, MOT_CONFIG_MAX_DIM, &cfg->hidden));
    MOT_TRY(int_key(root, "num_hidden_layers", file, 1, 1, MOT_CONFIG_MAX_LAYERS, &cfg->n_layers));
    MOT_TRY(int_key(root, "num_attention_heads", file, 1, 1, MOT_CONFIG_MAX_HEADS, &cfg->n_heads));
    MOT_TRY(int_key(root, "intermediate_size", file, 1, 1, MOT_CONFIG_MAX_DIM, &cfg->ffn));
    MOT_TRY(int_key(root, "vocab_size", file, 1, 1, MOT_CONFIG_MAX_VOCAB, &cfg->vocab));
    cfg->n_kv_heads = cfg->n_heads;
    MOT_TRY(int_key(root, "num_key_value_heads", file, 0, 1, MOT_CONFIG_MAX_HEADS, &cfg->n_kv_heads));
    cfg->head_dim = 0;
    MOT_TRY(int_key(root, "head_dim", file, 0, 1, MOT_CONFIG_MAX_DIM, &cfg->head_dim));
    if (cfg->head_dim == 0) {
        if (cfg->hidden % cfg->n_heads != 0) {
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: hidden_size %d is not a multiple of num_attention_heads %d "
                            "(and head_dim is not given)",
                            file, cfg->hidden, cfg->n_heads);
        }
        cfg->head_dim = cfg->hidden / cfg->n_heads;
    }
    if (cfg->n_heads % cfg->n_kv_heads != 0) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                        file, cfg->n_heads, cfg->n_kv_heads);
    }
    if (cfg->head_dim % 2 != 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: head_dim %d is odd (rotary embeddings need pairs)",
                        file, cfg->head_dim);
    }
    cfg->max_pos = 2048;
    MOT_TRY(int_key(root, "max_position_embeddings", file, 0, 1, MOT_CONFIG_MAX_CONTEXT, &cfg->max_pos));
    cfg->rms_eps = 1e-6f;
    MOT_TRY(positive_float_key(root, "rms_norm_eps", file, &cfg->rms_eps));
    cfg->rope_theta = 10000.0f;
    MOT_TRY(positive_float_key(root, "rope_theta", file, &cfg->rope_theta));
    cfg->tie_embeddings = 0;
    MOT_TRY(mot_json_opt_bool(root, "tie_word_embeddings", file, &cfg->tie_embeddings));
    cfg->sliding_window = 0;
    if (strcmp(cfg->arch, "mistral") == 0) {
        MOT_TRY(int_key(root, "sliding_window", file, 0, 0, INT_MAX, &cfg->sliding_window));
    }
    /* The runtime computes SwiGLU without biases; refuse what it would silently get wrong. */
    MOT_TRY(expect_string(root, "hidden_act", file, "silu"));
    MOT_TRY(expect_false(root, "attention_bias", file));
    MOT_TRY(expect_false(root, "mlp_bias", file));
    return MOT_OK;
}

/* bos_token_id / eos_token_id, as config.json and generation_config.json give them. */
static int token_id(const json_t *v, int *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT_MAX) {
        return 0;
    }
    *out = (int)json_integer_value(v);
    return 1;
}

static mot_status read_eos(const json_t *v, const char *file, mot_config *cfg) {
    if (json_is_integer(v)) {
        if (!token_id(v, &cfg->eos_ids[0])) {
            return mot_fail(MOT_ERR_FORMAT, "%s: key 'eos_token_id': %lld is not a token id",
                            file, (long long)json_integer_value(v));
        }
        cfg->n_eos = 1;
        return MOT_OK;
    }
    if (!json_is_array(v)) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: key 'eos_token_id': expected an integer or a list of integers", file);
    }
    if (json_array_size(v) > MOT_MAX_EOS) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: key 'eos_token_id': %zu ids (at most %d)", file,
                        json_array_size(v), MOT_MAX_EOS);
    }
    int ids[MOT_MAX_EOS];
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (!token_id(json_array_get(v, i), &ids[i])) {
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: key 'eos_token_id': entry %zu is not a non-negative integer",
                            file, i);
        }
    }
    cfg->n_eos = (int)json_array_size(v);
    for (int i = 0; i < cfg->n_eos; i++) {
        cfg->eos_ids[i] = ids[i];
    }
    return MOT_OK;
}

/* bos_token_id and eos_token_id (an int or a list); absent or null keys change nothing. */
static mot_status read_special_tokens(const json_t *root, const char *file, mot_config *cfg) {
    const json_t *bos = json_object_get(root, "bos_token_id");
    if (bos && !json_is_null(bos) && !token_id(bos, &cfg->bos_id)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'bos_token_id': expected a non-negative integer",
                        file);
    }
    const json_t *eos = json_object_get(root, "eos_token_id");
    if (eos && !json_is_null(eos)) {
        MOT_TRY(read_eos(eos, file, cfg));
    }
    return MOT_OK;
}

static mot_status load_config_json(const char *dir, mot_config *cfg) {
    char *file = mot_path_join(dir, "config.json");
    if (!file) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", dir);
    }
    json_t *root = NULL;
    mot_status st = mot_json_load(file, &root);
    if (st == MOT_OK && !json_is_object(root)) {
        st = mot_fail(MOT_ERR_FORMAT, "%s: expected a JSON object", file);
    }
    if (st == MOT_OK) {
        st = read_arch(root, file, cfg);
    }
    if (st == MOT_OK) {
        st = read_sizes(root, file, cfg);
    }
    if (st == MOT_OK) {
        st = mot_config_read_rope_scaling(root, file, cfg);
    }
    if (st == MOT_OK) {
        st = read_special_tokens(root, file, cfg);
    }
    json_decref(root);
    free(file);
    return st;
}

/* generation_config.json, when present, says which tokens begin and end a generation. */
static mot_status load_generation_config(const char *dir, mot_config *cfg) {
    char *file = mot_path_join(dir, "generation_config.json");
    if (!file) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", dir);
    }
    mot_status st = MOT_OK;
    if (mot_file_exists(file)) {
        json_t *root = NULL;
        st = mot_json_load(file, &root);
        if (st == MOT_OK && !json_is_object(root)) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: expected a JSON object", file);
        }
        if (st == MOT_OK) {
            st = read_special_tokens(root, file, cfg);
        }
        json_decref(root);
    }
    free(file);
    return st;
}

static mot_status from_folder(const char *dir, mot_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->bos_id = -1;
    MOT_TRY(load_config_json(dir, cfg));
    return load_generation_config(dir, cfg);
}

/* model/config.h: a GGUF file's keys (config_gguf.c) or a folder's JSON files. */
mot_status mot_config_load(const char *dir, mot_config *cfg) {
    if (mot_gguf_is_gguf_path(dir)) {
        mot_gguf *g;
        MOT_TRY(mot_gguf_open_meta(dir, &g));
        mot_status st = mot_config_from_gguf(g, cfg);
        mot_gguf_close(g);
        return st;
    }
    return from_folder(dir, cfg);
}

int mot_config_is_eos(const mot_config *cfg, int token) {
    for (int i = 0; i < cfg->n_eos; i++) {
        if (cfg->eos_ids[i] == token) {
            return 1;
        }
    }
    return 0;
}
