/* Loads an expert: a folder (HF names, safetensors) or a GGUF file (expert_load_gguf.c), bound
 * through expert_bind.c; checks every shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/gguf.h"
#include "runtime/expert.h"
#include "runtime/expert_load_internal.h"


size_t mot_expert_decode_spans(const mot_expert *ex, mot_read_span *out) {
    size_t total = 0;
    int n = 0;
    for (int i = 0; i < ex->cfg.n_layers; i++) {
        const mot_layer_weights *L = &ex->layers[i];
        const mot_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int j = 0; j < 7; j++) {
            out[n++] = (mot_read_span){w[j]->data, mot_weight_bytes(w[j])};
        }
    }
    out[n++] = (mot_read_span){ex->lm_head.data, mot_weight_bytes(&ex->lm_head)};
    for (int i = 0; i < n; i++) {
        total += out[i].bytes;
    }
    return total;
}

static mot_status bind_layer(mot_expert *ex, int i) {
    const mot_config *c = &ex->cfg;
    mot_layer_weights *L = &ex->layers[i];
    const int64_t d = c->hidden, q_dim = (int64_t)c->n_heads * c->head_dim,
                  kv_dim = (int64_t)c->n_kv_heads * c->head_dim, f = c->ffn;
    char name[160];
#define LAYER_NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix), name)
    MOT_TRY(mot_st_expect_f32_vector(ex->st, LAYER_NAME("input_layernorm.weight"), d, &L->attn_norm));
    MOT_TRY(mot_st_expect_f32_vector(ex->st, LAYER_NAME("post_attention_layernorm.weight"), d, &L->ffn_norm));
    MOT_TRY(mot_st_expect_weight(ex->st, LAYER_NAME("self_attn.q_proj.weight"), q_dim, d, &L->wq));
    MOT_TRY(mot_st_expect_weight(ex->st, LAYER_NAME("self_attn.k_proj.weight"), kv_dim, d, &L->wk));
    MOT_TRY(mot_st_expect_weight(ex->st, LAYER_NAME("self_attn.v_proj.weight"), kv_dim, d, &L->wv));
    MOT_TRY(mot_st_expect_weight(ex->st, LAYER_NAME("self_attn.o_proj.weight"), d, q_dim, &L->wo));
    MOT_TRY(mot_st_expect_weight(ex->st, LAYER_NAME("mlp.gate_proj.weight"), f, d, &L->w_gate));
    MOT_TRY(mot_st_expect_weight(ex->st, LAYER_NAME("mlp.up_proj.weight"), f, d, &L->w_up));
    MOT_TRY(mot_st_expect_weight(ex->st, LAYER_NAME("mlp.down_proj.weight"), d, f, &L->w_down));
#undef LAYER_NAME
    /* Attention biases (Qwen-style) are not part of Llama/Mistral: refuse rather than ignore. */
    snprintf(name, sizeof name, "model.layers.%d.self_attn.q_proj.bias", i);
    if (mot_st_find(ex->st, name)) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: tensor '%s': attention biases are not supported",
                        ex->dir, name);
    }
    return MOT_OK;
}

static mot_status st_weight(mot_expert *ex, const char *name, int64_t rows, int64_t cols, mot_weight *out) {
    return mot_st_expect_weight(ex->st, name, rows, cols, out);
}

static mot_status st_vector(mot_expert *ex, const char *name, int64_t n, float **out) {
    return mot_st_expect_f32_vector(ex->st, name, n, out);
}

static const mot_expert_binder folder_binder = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                                                st_weight, st_vector, bind_layer};

/* The folder's (or file's) last path component, without a ".gguf" extension. */
static char *last_component(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') {
        n--;
    }
    if (n > 5 && strncmp(dir + n - 5, ".gguf", 5) == 0) {
        n -= 5;
    }
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') {
        b--;
    }
    return strndup(dir + b, n - b);
}

mot_status mot_expert_load_with_tokenizer(const char *path, mot_tokenizer **tok, mot_expert **ex) {
    mot_config cfg;
    MOT_TRY(mot_config_load(path, &cfg));
    MOT_TRY(mot_tokenizer_load(path, tok));
    return mot_expert_load(path, ex);
}

mot_status mot_expert_load(const char *dir, mot_expert **out) {
    *out = NULL;
    mot_expert *ex = calloc(1, sizeof *ex);
    if (!ex) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", dir);
    }
    ex->dir = strdup(dir);
    ex->name = last_component(dir);
    mot_status st = mot_config_load(dir, &ex->cfg);
    if (st == MOT_OK && mot_gguf_is_gguf_path(dir)) {
        st = mot_expert_bind_gguf(ex);
    } else if (st == MOT_OK) {
        st = mot_st_open_dir(dir, &ex->st);
        if (st == MOT_OK) {
            st = mot_expert_bind(ex, &folder_binder);
        }
    }
    if (st != MOT_OK) {
        mot_expert_free(ex);
        return st;
    }
    *out = ex;
    return MOT_OK;
}

void mot_expert_free(mot_expert *ex) {
    if (!ex) {
        return;
    }
    if (ex->layers) {
        for (int i = 0; i < ex->cfg.n_layers; i++) {
            free(ex->layers[i].attn_norm);
            free(ex->layers[i].ffn_norm);
        }
    }
    free(ex->layers);
    free(ex->final_norm);
    free(ex->inv_freq);
    mot_st_close(ex->st);
    mot_gguf_close(ex->gguf);
    free(ex->dir);
    free(ex->name);
    free(ex);
}

size_t mot_expert_kv_bytes(const mot_expert *ex, int n_ctx) {
    const mot_config *c = &ex->cfg;
    return 2 * (size_t)c->n_layers * (size_t)n_ctx * (size_t)(c->n_kv_heads * c->head_dim) * sizeof(float);
}
