#include "train/pass_layers.h"

#include <math.h>

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

void mot_pb_scratch_make(mot_pass_build *b, const mot_expert *const *ex, const int *R, int n, int backward,
                         mot_pb_scratch *s) {
    size_t d = 0, qd = 0, kvd = 0, f = 0;
    for (int i = 0; i < n; i++) {
        const mot_config *c = &ex[i]->cfg;
        d = max_sz(d, (size_t)R[i] * c->hidden), qd = max_sz(qd, (size_t)R[i] * c->n_heads * c->head_dim);
        kvd = max_sz(kvd, (size_t)R[i] * c->n_kv_heads * c->head_dim), f = max_sz(f, (size_t)R[i] * c->ffn);
    }
    *s = (mot_pb_scratch){0};
    s->xn = mot_pb_floats(b, d), s->tmp = mot_pb_floats(b, d);
    s->q = mot_pb_floats(b, qd), s->att = mot_pb_floats(b, qd);
    s->k = mot_pb_floats(b, kvd), s->v = mot_pb_floats(b, kvd);
    s->kc = mot_pb_floats(b, kvd), s->vc = mot_pb_floats(b, kvd);
    s->gate = mot_pb_floats(b, f), s->up = mot_pb_floats(b, f), s->h = mot_pb_floats(b, f);
    if (backward) {
        s->dh = mot_pb_floats(b, f), s->dg = mot_pb_floats(b, f), s->du = mot_pb_floats(b, f);
        s->dxn = mot_pb_floats(b, d);
        s->datt = mot_pb_floats(b, qd), s->dq = mot_pb_floats(b, qd);
        s->dk = mot_pb_floats(b, kvd), s->dv = mot_pb_floats(b, kvd);
    }
}

static void rmsnorm(mot_pass_build *b, mot_buf x, mot_buf out, const float *w, const mot_config *c) {
    mot_plan_op *op = mot_pb_op(b, MOT_PB_FORWARD, MOT_OP_RMSNORM);
    if (op) op->rmsnorm = (mot_op_rmsnorm){x, out, w, c->hidden, c->rms_eps};
}

/* y_j = x W_j^T, j < n; accumulate (n == 1): y_0 += through scratch */
static void matmul(mot_pass_build *b, mot_buf x, int n, const mot_weight *const *w, const mot_buf *y, int accumulate,
                   mot_buf scratch) {
    mot_plan_op *op = mot_pb_op(b, MOT_PB_FORWARD, MOT_OP_MATMUL);
    if (!op) return;
    op->n_w = n;
    op->matmul.x = x, op->matmul.accumulate = accumulate, op->matmul.scratch = scratch;
    for (int j = 0; j < n; j++) op->w[j] = w[j], op->matmul.y[j] = y[j];
}

void mot_pb_layer_forward(mot_pass_build *b, const mot_expert *ex, int l, mot_buf x, int R, const mot_pb_scratch *s,
                          mot_pb_tape *tape) {
    const mot_config *c = &ex->cfg;
    const mot_layer_weights *w = &ex->layers[l];
    const int hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, f = c->ffn;
    mot_pb_tape t = {0};
    if (tape) {
        t.x_in = mot_pb_floats(b, (size_t)R * c->hidden), t.x_mid = mot_pb_floats(b, (size_t)R * c->hidden);
        t.q = mot_pb_floats(b, (size_t)R * qd), t.att = mot_pb_floats(b, (size_t)R * qd);
        t.k = mot_pb_floats(b, (size_t)R * kvd), t.v = mot_pb_floats(b, (size_t)R * kvd);
        t.gate = mot_pb_floats(b, (size_t)R * f), t.up = mot_pb_floats(b, (size_t)R * f);
        *tape = t;
        mot_pb_copy(b, x, t.x_in);
    }
    const mot_buf q = tape ? t.q : s->q, kc = tape ? t.k : s->kc, vc = tape ? t.v : s->vc, att = tape ? t.att : s->att;
    const mot_buf gate = tape ? t.gate : s->gate, up = tape ? t.up : s->up;
    /* attention: the whole sequence is one prefill at positions 0..R-1 into a "cache" of the
     * rows of all heads (position-major: kv_stride kvd, head stride hd) */
    rmsnorm(b, x, s->xn, w->attn_norm, c);
    const mot_weight *qkv[3] = {&w->wq, &w->wk, &w->wv};
    const mot_buf qkv_out[3] = {q, s->k, s->v};
    matmul(b, s->xn, 3, qkv, qkv_out, 0, (mot_buf){0});
    const mot_op_kv kv = {kc, vc, c->n_heads, c->n_kv_heads, hd, kvd, hd};
    mot_plan_op *op = mot_pb_op(b, MOT_PB_FORWARD, MOT_OP_ROPE_APPEND);
    if (op) op->rope_append = (mot_op_rope_append){q, s->k, s->v, kv, ex->inv_freq};
    op = mot_pb_op(b, MOT_PB_FORWARD, MOT_OP_ATTENTION);
    if (op) op->attention = (mot_op_attention){q, att, kv, c->sliding_window, 1.0f / sqrtf((float)hd)};
    const mot_weight *wo = &w->wo;
    matmul(b, att, 1, &wo, &x, 1, s->tmp);
    if (tape) mot_pb_copy(b, x, t.x_mid);
    /* feed-forward: SwiGLU out of place when the tape keeps gate and up */
    rmsnorm(b, x, s->xn, w->ffn_norm, c);
    const mot_weight *gu[2] = {&w->w_gate, &w->w_up};
    const mot_buf gu_out[2] = {gate, up};
    matmul(b, s->xn, 2, gu, gu_out, 0, (mot_buf){0});
    mot_buf h = gate;
    if (tape) mot_pb_copy(b, gate, h = s->h);
    op = mot_pb_op(b, MOT_PB_FORWARD, MOT_OP_SWIGLU);
    if (op) op->swiglu = (mot_op_swiglu){h, up, f};
    const mot_weight *wd = &w->w_down;
    matmul(b, h, 1, &wd, &x, 1, s->tmp);
}

static void rmsnorm_backward(mot_pass_build *b, mot_buf dx, mot_buf dy, mot_buf x, const float *w, int n,
                             const mot_config *c) {
    mot_plan_op *op = mot_pb_op(b, MOT_PB_BACKWARD, MOT_OP_RMSNORM_BACKWARD);
    if (op) op->rmsnorm_backward = (mot_op_rmsnorm_backward){dy, x, dx, w, n, c->hidden, 1, c->rms_eps};
}

void mot_pb_layer_backward(mot_pass_build *b, const mot_expert *ex, int l, mot_buf dx, int R,
                           const mot_pb_scratch *s, const mot_pb_tape *t) {
    const mot_config *c = &ex->cfg;
    const mot_layer_weights *w = &ex->layers[l];
    const int hd = c->head_dim;
    /* x_out = x_mid + down(swiglu(gate, up)): dx_mid = dx_out + d(ffn branch) */
    mot_pb_backward_x(b, s->dh, dx, &w->w_down, R, 0);
    mot_plan_op *op = mot_pb_op(b, MOT_PB_BACKWARD, MOT_OP_SWIGLU_BACKWARD);
    if (op) op->swiglu_backward = (mot_op_swiglu_backward){s->dh, t->gate, t->up, s->dg, s->du, R, c->ffn};
    mot_pb_backward_x(b, s->dxn, s->dg, &w->w_gate, R, 0);
    mot_pb_backward_x(b, s->dxn, s->du, &w->w_up, R, 1);
    rmsnorm_backward(b, dx, s->dxn, t->x_mid, w->ffn_norm, R, c);
    /* x_mid = x_in + o(attention(rope(q), rope(k), v)) */
    mot_pb_backward_x(b, s->datt, dx, &w->wo, R, 0);
    op = mot_pb_op(b, MOT_PB_BACKWARD, MOT_OP_ATTENTION_BACKWARD);
    if (op) {
        op->attention_backward = (mot_op_attention_backward){
            s->datt, t->q, t->k, t->v, s->dq, s->dk, s->dv, R, c->n_heads, c->n_kv_heads, hd, c->sliding_window,
            1.0f / sqrtf((float)hd)};
    }
    op = mot_pb_op(b, MOT_PB_BACKWARD, MOT_OP_ROPE_BACKWARD);
    if (op) op->rope_backward = (mot_op_rope_backward){s->dq, s->dk, R, c->n_heads, c->n_kv_heads, hd, 0, ex->inv_freq};
    mot_pb_backward_x(b, s->dxn, s->dq, &w->wq, R, 0);
    mot_pb_backward_x(b, s->dxn, s->dk, &w->wk, R, 1);
    mot_pb_backward_x(b, s->dxn, s->dv, &w->wv, R, 1);
    rmsnorm_backward(b, dx, s->dxn, t->x_in, w->attn_norm, R, c);
}

void mot_pb_head_forward(mot_pass_build *b, const mot_expert *ex, mot_buf x, mot_buf xn, mot_buf logits) {
    rmsnorm(b, x, xn, ex->final_norm, &ex->cfg);
    const mot_weight *w = &ex->lm_head;
    matmul(b, xn, 1, &w, &logits, 0, (mot_buf){0});
}

void mot_pb_head_backward(mot_pass_build *b, const mot_expert *ex, mot_buf x, int T, mot_buf dlogits, mot_buf dy,
                          mot_buf dx) {
    mot_pb_backward_x(b, dy, dlogits, &ex->lm_head, T, 0);
    rmsnorm_backward(b, dx, dy, x, ex->final_norm, T, &ex->cfg);
}
