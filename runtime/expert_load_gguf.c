/* Binds an expert's tensors from a GGUF file (llama.cpp's names) to mot_weight views, checking
 * every name, shape and type; quantized weights stay quantized (the kernels read the blocks).
 *
 * llama.cpp's converter permutes the rows of attn_q and attn_k for its RoPE layout: within
 * each head of hd rows, Hugging Face row h * hd/2 + i (h = 0, 1: the two rotated halves) is
 * stored as row 2i + h. mot computes what Hugging Face computes, so the loader puts the rows
 * back in place; rows are whole blocks, so this works for every type. The file is mapped
 * privately: only the pages of those rows become private copies, the file is never written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/gguf.h"
#include "runtime/expert.h"
#include "runtime/expert_load_internal.h"

/* A required 2-D tensor [rows, cols] of a weight dtype. */
static mot_status expect_weight(const mot_gguf *g, const char *name, int64_t rows, int64_t cols, mot_weight *out) {
    const mot_tensor *t = mot_gguf_find(g, name);
    char want[64], found[64];
    if (!t) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': missing", mot_gguf_path(g), name);
    }
    if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': expected %s, found %s", mot_gguf_path(g), name,
                        mot_shape_str((const int64_t[]){rows, cols}, 2, want, sizeof want),
                        mot_shape_str(t->shape, t->ndim, found, sizeof found));
    }
    *out = (mot_weight){t->dtype, t->data, rows, cols};
    return MOT_OK;
}

/* A required 1-D tensor [n] (F32, F16 or BF16) as a malloc'd f32 copy. */
static mot_status expect_vector(const mot_gguf *g, const char *name, int64_t n, float **out) {
    const mot_tensor *t = mot_gguf_find(g, name);
    char found[64];
    if (!t) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': missing", mot_gguf_path(g), name);
    }
    if (t->ndim != 1 || t->shape[0] != n) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': expected [%lld], found %s", mot_gguf_path(g), name,
                        (long long)n, mot_shape_str(t->shape, t->ndim, found, sizeof found));
    }
    if (t->dtype != MOT_DTYPE_F32 && t->dtype != MOT_DTYPE_F16 && t->dtype != MOT_DTYPE_BF16) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: tensor '%s': a vector of type %s (F32, F16 or BF16 expected)",
                        mot_gguf_path(g), name, mot_dtype_name(t->dtype));
    }
    *out = mot_tensor_to_f32(t, n);
    return *out ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "%s: tensor '%s': out of memory", mot_gguf_path(g), name);
}

/* Undoes the converter's Q/K row permutation of w, n_heads heads of hd rows each. */
static mot_status unpermute_rows(mot_gguf *g, const mot_weight *w, int n_heads, int hd) {
    const size_t row = mot_dtype_row_bytes(w->dtype, w->cols);
    char *base = mot_gguf_data_mut(g, w->data);
    char *head = malloc((size_t)hd * row);
    if (!base || !head) {
        free(head);
        return mot_fail(base ? MOT_ERR_NOMEM : MOT_ERR_UNSUPPORTED, "%s: %s", mot_gguf_path(g),
                        base ? "out of memory" : "the weights are not writable (opened for metadata only)");
    }
    const int half = hd / 2;
    for (int h = 0; h < n_heads; h++) {
        char *rows = base + (size_t)h * (size_t)hd * row;
        memcpy(head, rows, (size_t)hd * row);
        for (int i = 0; i < half; i++) {
            memcpy(rows + (size_t)i * row, head + (size_t)(2 * i) * row, row);             /* first half */
            memcpy(rows + (size_t)(half + i) * row, head + (size_t)(2 * i + 1) * row, row); /* second half */
        }
    }
    free(head);
    return MOT_OK;
}

static mot_status bind_layer(mot_expert *ex, int i) {
    mot_gguf *g = ex->gguf;
    const mot_config *c = &ex->cfg;
    mot_layer_weights *L = &ex->layers[i];
    const int64_t d = c->hidden, q_dim = (int64_t)c->n_heads * c->head_dim,
                  kv_dim = (int64_t)c->n_kv_heads * c->head_dim, f = c->ffn;
    char name[96];
#define BLK(suffix) (snprintf(name, sizeof name, "blk.%d.%s", i, suffix), name)
    MOT_TRY(expect_vector(g, BLK("attn_norm.weight"), d, &L->attn_norm));
    MOT_TRY(expect_vector(g, BLK("ffn_norm.weight"), d, &L->ffn_norm));
    MOT_TRY(expect_weight(g, BLK("attn_q.weight"), q_dim, d, &L->wq));
    MOT_TRY(expect_weight(g, BLK("attn_k.weight"), kv_dim, d, &L->wk));
    MOT_TRY(expect_weight(g, BLK("attn_v.weight"), kv_dim, d, &L->wv));
    MOT_TRY(expect_weight(g, BLK("attn_output.weight"), d, q_dim, &L->wo));
    MOT_TRY(expect_weight(g, BLK("ffn_gate.weight"), f, d, &L->w_gate));
    MOT_TRY(expect_weight(g, BLK("ffn_up.weight"), f, d, &L->w_up));
    MOT_TRY(expect_weight(g, BLK("ffn_down.weight"), d, f, &L->w_down));
    static const char *const biases[] = {"attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias"};
    for (int b = 0; b < 4; b++) {
        if (mot_gguf_find(g, BLK(biases[b]))) {
            return mot_fail(MOT_ERR_UNSUPPORTED, "%s: tensor '%s': attention biases are not supported",
                            mot_gguf_path(g), name);
        }
    }
#undef BLK
    MOT_TRY(unpermute_rows(g, &L->wq, c->n_heads, c->head_dim));
    MOT_TRY(unpermute_rows(g, &L->wk, c->n_kv_heads, c->head_dim));
    return MOT_OK;
}

/* Llama-3-style frequency scaling is stored as rope_freqs.weight [hd/2]: llama.cpp divides
 * each rotary frequency by its factor, so mot does the same. */
static mot_status apply_rope_factors(mot_expert *ex) {
    const mot_tensor *t = mot_gguf_find(ex->gguf, "rope_freqs.weight");
    if (!t) {
        return MOT_OK;
    }
    float *factors;
    MOT_TRY(expect_vector(ex->gguf, "rope_freqs.weight", ex->cfg.head_dim / 2, &factors));
    for (int i = 0; i < ex->cfg.head_dim / 2; i++) {
        if (!(factors[i] > 0)) {
            free(factors);
            return mot_fail(MOT_ERR_FORMAT, "%s: tensor 'rope_freqs.weight': factor %d is not positive",
                            mot_gguf_path(ex->gguf), i);
        }
        ex->inv_freq[i] /= factors[i];
    }
    free(factors);
    return MOT_OK;
}

static mot_status gguf_weight(mot_expert *ex, const char *name, int64_t rows, int64_t cols, mot_weight *out) {
    return expect_weight(ex->gguf, name, rows, cols, out);
}

static mot_status gguf_vector(mot_expert *ex, const char *name, int64_t n, float **out) {
    return expect_vector(ex->gguf, name, n, out);
}

static const mot_expert_binder gguf_binder = {"token_embd.weight", "output_norm.weight", "output.weight",
                                              gguf_weight, gguf_vector, bind_layer};

mot_status mot_expert_bind_gguf(mot_expert *ex) {
    MOT_TRY(mot_gguf_open(ex->dir, &ex->gguf));
    MOT_TRY(mot_expert_bind(ex, &gguf_binder));
    return apply_rope_factors(ex);
}
