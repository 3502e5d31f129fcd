/* The part of binding an expert that is the same for a folder and a GGUF file: embedding,
 * final norm, LM head (or the tied embedding), every layer through the format's binder, byte
 * and parameter counts, rotary frequencies (runtime/expert_load_internal.h). */
#include <stdlib.h>

#include "common/error.h"
#include "runtime/expert.h"
#include "runtime/expert_load_internal.h"

size_t mot_weight_bytes(const mot_weight *w) { return (size_t)w->rows * mot_dtype_row_bytes(w->dtype, w->cols); }

mot_status mot_expert_bind(mot_expert *ex, const mot_expert_binder *b) {
    const mot_config *c = &ex->cfg;
    const int64_t d = c->hidden, q_dim = (int64_t)c->n_heads * c->head_dim,
                  kv_dim = (int64_t)c->n_kv_heads * c->head_dim, f = c->ffn;
    MOT_TRY(b->weight(ex, b->embed, c->vocab, d, &ex->embed));
    MOT_TRY(b->vector(ex, b->final_norm, d, &ex->final_norm));
    ex->weight_bytes = mot_weight_bytes(&ex->embed) + (size_t)d * 4;
    ex->n_params = (int64_t)c->vocab * d + d;
    if (c->tie_embeddings) {
        ex->lm_head = ex->embed;
    } else {
        MOT_TRY(b->weight(ex, b->lm_head, c->vocab, d, &ex->lm_head));
        ex->weight_bytes += mot_weight_bytes(&ex->lm_head);
        ex->n_params += (int64_t)c->vocab * d;
    }
    ex->layers = calloc((size_t)c->n_layers, sizeof *ex->layers);
    ex->inv_freq = malloc((size_t)(c->head_dim / 2) * sizeof *ex->inv_freq);
    if (!ex->layers || !ex->inv_freq) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", ex->dir);
    }
    for (int i = 0; i < c->n_layers; i++) {
        MOT_TRY(b->layer(ex, i));
        const mot_layer_weights *L = &ex->layers[i];
        const mot_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int j = 0; j < 7; j++) {
            ex->weight_bytes += mot_weight_bytes(w[j]);
        }
        ex->weight_bytes += 2 * (size_t)d * 4;
        ex->n_params += 2 * d + 2 * q_dim * d + 2 * kv_dim * d + 3 * f * d;
    }
    mot_rope_inv_freq(c, ex->inv_freq);
    return MOT_OK;
}
