#include "model/weights.h"

/* Whether any of ex's matrices has a dtype for which want(dtype) holds. */
static int any_weight(const mot_expert *ex, int (*want)(mot_dtype)) {
    int q = want(ex->embed.dtype) || want(ex->lm_head.dtype);
    for (int i = 0; i < ex->cfg.n_layers && !q; i++) {
        const mot_layer_weights *L = &ex->layers[i];
        const mot_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int j = 0; j < 7; j++) {
            q |= want(w[j]->dtype);
        }
    }
    return q;
}

static int is_lowp(mot_dtype dt) { return dt == MOT_DTYPE_F16 || dt == MOT_DTYPE_BF16; }

int mot_expert_has_quantized(const mot_expert *ex) { return any_weight(ex, mot_dtype_is_quantized); }

int mot_expert_has_lowp(const mot_expert *ex) { return any_weight(ex, is_lowp); }
