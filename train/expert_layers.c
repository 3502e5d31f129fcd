#include "train/expert_layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"

static float *alloc_f(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

void mot_layer_tape_free(mot_layer_tape *t) {
    if (t) {
        free(t->x_in), free(t->q), free(t->k), free(t->v), free(t->att), free(t->x_mid), free(t->gate), free(t->up);
        *t = (mot_layer_tape){0};
    }
}

mot_status mot_train_layer_forward(const mot_expert *ex, int l, float *x, int R, mot_layer_tape *tape) {
    const mot_config *c = &ex->cfg;
    const mot_layer_weights *w = &ex->layers[l];
    const int d = c->hidden, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, f = c->ffn;
    float *xn = alloc_f((size_t)R * d), *q = alloc_f((size_t)R * qd), *kr = alloc_f((size_t)R * kvd),
          *vr = alloc_f((size_t)R * kvd), *k = alloc_f((size_t)R * kvd), *v = alloc_f((size_t)R * kvd),
          *att = alloc_f((size_t)R * qd), *gate = alloc_f((size_t)R * f), *up = alloc_f((size_t)R * f),
          *tmp = alloc_f((size_t)R * d);
    if (!xn || !q || !kr || !vr || !k || !v || !att || !gate || !up || !tmp) {
        free(xn), free(q), free(kr), free(vr), free(k), free(v), free(att), free(gate), free(up), free(tmp);
        return mot_fail(MOT_ERR_NOMEM, "training: out of memory (layer %d of %s)", l, ex->name);
    }
    if (tape) {
        tape->x_in = alloc_f((size_t)R * d);
        tape->x_mid = alloc_f((size_t)R * d);
        if (!tape->x_in || !tape->x_mid) {
            free(xn), free(q), free(kr), free(vr), free(k), free(v), free(att), free(gate), free(up), free(tmp);
            return mot_fail(MOT_ERR_NOMEM, "training: out of memory (layer %d of %s)", l, ex->name);
        }
        memcpy(tape->x_in, x, (size_t)R * d * sizeof *x);
    }
    /* attention: the whole sequence is one prefill at positions 0..R-1; the "cache" is k, v
     * as rows of all heads */
    mot_cpu_rmsnorm(xn, x, w->attn_norm, R, d, c->rms_eps);
    mot_matmul_job qkv[3] = {{q, &w->wq, NULL, 0}, {kr, &w->wk, NULL, 0}, {vr, &w->wv, NULL, 0}};
    mot_cpu_matmul_multi(qkv, 3, xn, R);
    mot_cpu_rope_append(q, kr, vr, k, v, kvd, hd, R, c->n_heads, c->n_kv_heads, hd, 0, ex->inv_freq);
    mot_cpu_attention(att, q, k, v, kvd, hd, R, 0, c->n_heads, c->n_kv_heads, hd, c->sliding_window,
                      1.0f / sqrtf((float)hd));
    mot_cpu_matmul(tmp, att, &w->wo, R);
    for (size_t i = 0; i < (size_t)R * d; i++) x[i] += tmp[i];
    if (tape) memcpy(tape->x_mid, x, (size_t)R * d * sizeof *x);
    /* feed-forward */
    mot_cpu_rmsnorm(xn, x, w->ffn_norm, R, d, c->rms_eps);
    mot_matmul_job gu[2] = {{gate, &w->w_gate, NULL, 0}, {up, &w->w_up, NULL, 0}};
    mot_cpu_matmul_multi(gu, 2, xn, R);
    float *h = kr; /* reuse: [R, f] needs its own buffer when f > kvd */
    if ((size_t)f > (size_t)kvd) {
        h = alloc_f((size_t)R * f);
        if (!h) {
            free(xn), free(q), free(kr), free(vr), free(k), free(v), free(att), free(gate), free(up), free(tmp);
            return mot_fail(MOT_ERR_NOMEM, "training: out of memory (layer %d of %s)", l, ex->name);
        }
    }
    mot_cpu_swiglu(h, gate, up, R, f);
    mot_cpu_matmul(tmp, h, &w->w_down, R);
    for (size_t i = 0; i < (size_t)R * d; i++) x[i] += tmp[i];
    if (h != kr) free(h);
    free(xn), free(kr), free(vr), free(tmp);
    if (tape) {
        tape->q = q, tape->k = k, tape->v = v, tape->att = att, tape->gate = gate, tape->up = up;
    } else {
        free(q), free(k), free(v), free(att), free(gate), free(up);
    }
    return MOT_OK;
}

mot_status mot_train_layer_backward(const mot_expert *ex, int l, float *dx, int R, const mot_layer_tape *t) {
    const mot_config *c = &ex->cfg;
    const mot_layer_weights *w = &ex->layers[l];
    const int d = c->hidden, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, f = c->ffn;
    float *dh = alloc_f((size_t)R * f), *dg = alloc_f((size_t)R * f), *du = alloc_f((size_t)R * f),
          *dxn = alloc_f((size_t)R * d), *datt = alloc_f((size_t)R * qd), *dq = alloc_f((size_t)R * qd),
          *dk = alloc_f((size_t)R * kvd), *dv = alloc_f((size_t)R * kvd);
    if (!dh || !dg || !du || !dxn || !datt || !dq || !dk || !dv) {
        free(dh), free(dg), free(du), free(dxn), free(datt), free(dq), free(dk), free(dv);
        return mot_fail(MOT_ERR_NOMEM, "training: out of memory (backward of layer %d of %s)", l, ex->name);
    }
    /* x_out = x_mid + down(swiglu(gate, up)): dx_mid = dx_out + d(ffn branch) */
    mot_cpu_matmul_backward_x(dh, dx, &w->w_down, R, 0);
    mot_cpu_swiglu_backward(dg, du, dh, t->gate, t->up, R, f);
    mot_cpu_matmul_backward_x(dxn, dg, &w->w_gate, R, 0);
    mot_cpu_matmul_backward_x(dxn, du, &w->w_up, R, 1);
    mot_cpu_rmsnorm_backward(dx, dxn, t->x_mid, w->ffn_norm, R, d, c->rms_eps, 1);
    /* x_mid = x_in + o(attention(rope(q), rope(k), v)) */
    mot_cpu_matmul_backward_x(datt, dx, &w->wo, R, 0);
    mot_cpu_attention_backward(dq, dk, dv, datt, t->q, t->k, t->v, R, c->n_heads, c->n_kv_heads, hd,
                               c->sliding_window, 1.0f / sqrtf((float)hd));
    mot_cpu_rope_backward(dq, dk, R, c->n_heads, c->n_kv_heads, hd, 0, ex->inv_freq);
    mot_cpu_matmul_backward_x(dxn, dq, &w->wq, R, 0);
    mot_cpu_matmul_backward_x(dxn, dk, &w->wk, R, 1);
    mot_cpu_matmul_backward_x(dxn, dv, &w->wv, R, 1);
    mot_cpu_rmsnorm_backward(dx, dxn, t->x_in, w->attn_norm, R, d, c->rms_eps, 1);
    free(dh), free(dg), free(du), free(dxn), free(datt), free(dq), free(dk), free(dv);
    return MOT_OK;
}

mot_status mot_train_head_forward(const mot_expert *ex, const float *x, int rows, float *logits) {
    const int d = ex->cfg.hidden;
    float *y = alloc_f((size_t)rows * d);
    if (!y) return mot_fail(MOT_ERR_NOMEM, "training: out of memory (LM head of %s)", ex->name);
    mot_cpu_rmsnorm(y, x, ex->final_norm, rows, d, ex->cfg.rms_eps);
    mot_cpu_matmul(logits, y, &ex->lm_head, rows);
    free(y);
    return MOT_OK;
}

mot_status mot_train_head_backward(const mot_expert *ex, const float *x, int rows, const float *dlogits, float *dx) {
    const int d = ex->cfg.hidden;
    float *dy = alloc_f((size_t)rows * d);
    if (!dy) return mot_fail(MOT_ERR_NOMEM, "training: out of memory (LM head of %s)", ex->name);
    mot_cpu_matmul_backward_x(dy, dlogits, &ex->lm_head, rows, 0);
    mot_cpu_rmsnorm_backward(dx, dy, x, ex->final_norm, rows, d, ex->cfg.rms_eps, 1);
    free(dy);
    return MOT_OK;
}
