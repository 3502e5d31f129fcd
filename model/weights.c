#include "model/weights.h"

int mot_expert_has_quantized(const mot_expert *ex) {
    int q = mot_dtype_is_quantized(ex->embed.dtype) || mot_dtype_is_quantized(ex->lm_head.dtype);
    for (int i = 0; i < ex->cfg.n_layers && !q; i++) {
        const mot_layer_weights *L = &ex->layers[i];
        const mot_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int j = 0; j < 7; j++) {
            q |= mot_dtype_is_quantized(w[j]->dtype);
        }
    }
    return q;
}
