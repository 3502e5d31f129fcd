/* The backward of a training pass (train/pass_internal.h): the graph's nodes in reverse, each
 * only where a gradient reaches it, as ops of the training kinds into the pass's backward
 * plan (built with the forward, so the arena holds both); then run, with the gradients of the
 * tensors it reaches uploaded before and read back after, and the gates' from V and dV. */
#include <stdlib.h>

#include "common/error.h"
#include "profiling/trace.h"
#include "train/pass_backward.h"
#include "train/pass_internal.h"

/* ---- the ops of a trainable linear ---- */

/* The gradient slot of the trainable tensor whose values are at `value` in p->w. */
static mot_buf grad_of(mot_pass *p, const float *value, size_t count) {
    for (int i = 0; i < p->n_grads; i++) {
        if (p->grads[i].value == value) return p->grads[i].buf;
    }
    if (p->n_grads == p->cap_grads) {
        const int cap = p->cap_grads ? 2 * p->cap_grads : 32;
        grad_slot *s = realloc(p->grads, (size_t)cap * sizeof *s);
        if (!s) {
            p->b.failed = 1;
            return (mot_buf){0};
        }
        p->grads = s, p->cap_grads = cap;
    }
    grad_slot *s = &p->grads[p->n_grads++];
    *s = (grad_slot){value, mot_pb_floats(&p->b, count)};
    return s->buf;
}

/* dW += dy^T x, db += sum dy; dx (+)= dy W when dx is present. */
static void linear_bwd(mot_pass *p, const mot_train_linear *l, mot_buf x, mot_buf dy, mot_buf dx, int accumulate,
                       int R) {
    const mot_buf dw = grad_of(p, l->w, (size_t)l->out * l->in), db = l->b ? grad_of(p, l->b, l->out) : (mot_buf){0};
    mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_BACKWARD, MOT_OP_MATMUL_BACKWARD_W);
    if (op) op->matmul_backward_w = (mot_op_matmul_backward_w){dy, x, dw, db, R, l->out, l->in};
    if (dx.bytes) mot_pb_backward_x(&p->b, dx, dy, mot_pb_weight(&p->b, mot_train_weight(l)), R, accumulate);
}

static void add_op(mot_pass *p, int dir, mot_buf x, mot_buf y) {
    mot_plan_op *op = mot_pb_op(&p->b, dir, MOT_OP_ADD);
    if (op) op->add = (mot_op_add){x, y, (int64_t)(x.bytes / sizeof(float))};
}

/* A buffer the backward accumulates into, zeroed before it runs. */
static mot_buf zeroed(mot_pass *p, size_t floats) {
    const mot_buf b = mot_pb_floats(&p->b, floats);
    if (p->n_zeros == p->cap_zeros) {
        const int cap = p->cap_zeros ? 2 * p->cap_zeros : 32;
        mot_buf *z = realloc(p->zeros, (size_t)cap * sizeof *z);
        if (!z) {
            p->b.failed = 1;
            return b;
        }
        p->zeros = z, p->cap_zeros = cap;
    }
    p->zeros[p->n_zeros++] = b;
    return b;
}

static mot_buf lane_dx(mot_pass *p, lane_state *L) {
    if (!L->dx.bytes) L->dx = zeroed(p, (size_t)L->R * L->d);
    return L->dx;
}

static mot_buf grad_buf(mot_pass *p, mot_buf *b, int R) {
    if (!b->bytes) *b = zeroed(p, (size_t)R * p->ds);
    return *b;
}

/* A forward projector's gradient at n, or at z: one buffer for both without a norm (n is z),
 * so every contribution adds into it. */
static mot_buf proj_dn(mot_pass *p, proj_state *ps, int R, int norm) {
    if (!norm && ps->dz.bytes) ps->dn = ps->dz;
    grad_buf(p, &ps->dn, R);
    if (!norm) ps->dz = ps->dn;
    return ps->dn;
}

static mot_buf proj_dz(mot_pass *p, proj_state *ps, int R, int norm) {
    if (!norm && ps->dn.bytes) ps->dz = ps->dn;
    grad_buf(p, &ps->dz, R);
    if (!norm) ps->dn = ps->dz;
    return ps->dz;
}

static void backward_reverse(mot_pass *p, int i, int q, int lane) {
    lane_state *L = &p->lane[lane];
    if (!L->live) return; /* nothing downstream of this lane's state reaches the loss */
    const mot_train_inter *iw = &p->w->inter[q];
    int from_att = 0;
    mot_pass_reverse_source(p, i, lane, &from_att); /* checked by the forward */
    proj_state *ps = &p->proj[q * p->K + lane];
    att_state *as = &p->att[q];
    const mot_buf src = from_att ? as->o : ps->z;
    const mot_buf dsrc = from_att ? grad_buf(p, &as->d_o, L->R) : proj_dz(p, ps, L->R, iw->norm_w != NULL);
    /* h += src R^T (+ b): dR += dh^T src, dsrc += dh R */
    linear_bwd(p, &iw->rev[L->expert], src, L->dx, dsrc, 1, L->R);
}

static void backward_attention(mot_pass *p, int q) {
    att_state *s = &p->att[q];
    if (!s->d_o.bytes) return;
    const mot_train_inter *iw = &p->w->inter[q];
    const lane_state *P = &p->lane[0];
    const size_t R = (size_t)P->R, ds = (size_t)p->ds;
    mot_plan_op *op;
    if (p->dropout > 0) { /* the same mask on the gradient */
        op = mot_pb_op(&p->b, MOT_PB_BACKWARD, MOT_OP_DROPOUT);
        if (op) op->dropout = (mot_op_dropout){s->d_o, s->d_o, (int64_t)(R * ds), p->dropout, s->dropout_seed};
    }
    const mot_buf da = mot_pb_floats(&p->b, R * ds), dq = mot_pb_floats(&p->b, R * ds);
    /* o = a Wo^T (+ bo) */
    linear_bwd(p, &iw->o, s->a, s->d_o, da, 0, P->R);
    mot_op_cross_attention_backward x = {.dout = da, .q = s->q, .dq = dq, .n_q = P->R, .d = p->ds, .heads = p->H,
                                         .n_seg = s->n_seg};
    for (int m = 0; m < s->n_seg; m++) {
        const int k = s->seg_lane[m];
        const proj_state *ps = &p->proj[q * p->K + k];
        const size_t rows = (size_t)p->lane[k].R;
        x.seg_rows[m] = x.seg_prompt[m] = p->lane[k].R;
        x.seg_k[m] = ps->k, x.seg_v[m] = ps->v;
        x.seg_dk[m] = s->dk[m] = mot_pb_floats(&p->b, rows * ds);
        x.seg_dv[m] = s->dv[m] = mot_pb_floats(&p->b, rows * ds);
    }
    op = mot_pb_op(&p->b, MOT_PB_BACKWARD, MOT_OP_CROSS_ATTENTION_BACKWARD);
    if (op) op->cross_attention_backward = x;
    /* q = n_p Wq^T (+ bq) */
    proj_state *pp = &p->proj[q * p->K];
    linear_bwd(p, &iw->q, pp->n, dq, proj_dn(p, pp, P->R, iw->norm_w != NULL), 1, P->R);
    for (int m = 0; m < s->n_seg; m++) {
        const int k = s->seg_lane[m];
        proj_state *ps = &p->proj[q * p->K + k];
        const mot_buf dn = proj_dn(p, ps, p->lane[k].R, iw->norm_w != NULL);
        /* v's gradient is dvg * gate, gate 1 (the gate's own, <dvg, v>, mot_pass_backward takes after) */
        linear_bwd(p, &iw->k, ps->n, s->dk[m], dn, 1, p->lane[k].R);
        linear_bwd(p, &iw->v, ps->n, s->dv[m], dn, 1, p->lane[k].R);
    }
}

static void backward_forward_projector(mot_pass *p, int q, int lane) {
    proj_state *ps = &p->proj[q * p->K + lane];
    lane_state *L = &p->lane[lane];
    if (!ps->dn.bytes && !ps->dz.bytes) return;
    const mot_train_inter *iw = &p->w->inter[q];
    const size_t n = (size_t)L->R * p->ds;
    if (iw->norm_w && ps->dn.bytes) { /* dz += layernorm's backward of dn */
        const int add = ps->dz.bytes > 0;
        const mot_buf dz_norm = add ? mot_pb_floats(&p->b, n) : grad_buf(p, &ps->dz, L->R);
        mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_BACKWARD, MOT_OP_LAYERNORM_BACKWARD);
        if (op) {
            op->layernorm_backward = (mot_op_layernorm_backward){
                ps->dn, ps->z, dz_norm, grad_of(p, iw->norm_w, (size_t)p->ds),
                iw->norm_b ? grad_of(p, iw->norm_b, (size_t)p->ds) : (mot_buf){0}, iw->norm_w, L->R, p->ds, 1e-5f};
        }
        if (add) add_op(p, MOT_PB_BACKWARD, dz_norm, ps->dz);
    }
    /* z = h F^T (+ bF): the residual stream h gets dz F */
    linear_bwd(p, &iw->fwd[L->expert], ps->h, ps->dz, lane_dx(p, L), 1, L->R);
    L->live = 1;
}

static void backward_stack(mot_pass *p, int i, int lane) {
    const mot_graph_node *n = &p->g->nodes[i];
    lane_state *L = &p->lane[lane];
    if (!L->live || !p->tape_node[i]) return;
    for (int l = n->last_layer; l >= n->first_layer; l--) {
        p->b.at.layer = l;
        mot_pb_layer_backward(&p->b, L->ex, l, L->dx, L->R, &p->s, &L->tape[l]);
    }
    p->b.at.layer = -1;
}

/* The backward's nodes: the forward's in reverse, each only where a gradient reaches it. */
void mot_pass_backward_build(mot_pass *p) {
    for (int i = p->g->n_nodes - 1; i >= 0; i--) {
        const mot_graph_node *n = &p->g->nodes[i];
        const int lane = n->expert >= 0 ? p->lane_of[n->expert] : (mot_pass_is_kind(n, "attention") ? 0 : -1);
        if (lane < 0 || mot_pass_is_kind(n, "router")) continue;
        if (mot_pass_is_kind(n, "sampler")) {
            if (lane != 0) continue;
            mot_pass_at_node(p, i, MOT_NODE_SAMPLER, 0, -1, 0);
            lane_state *P = &p->lane[0];
            p->dlogits_buf = mot_pb_floats(&p->b, (size_t)p->T * p->V);
            p->head_dy = mot_pb_floats(&p->b, (size_t)p->T * P->d);
            mot_pb_head_backward(&p->b, P->ex, p->head_x, p->T, p->dlogits_buf, p->head_dy,
                                 mot_pb_rows(lane_dx(p, P), P->N - 1, p->T, P->d));
            P->live = 1;
        } else if (mot_pass_is_kind(n, "projector") && n->reverse) {
            mot_pass_at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 1);
            backward_reverse(p, i, n->stack, lane);
        } else if (mot_pass_is_kind(n, "attention")) {
            mot_pass_at_node(p, i, MOT_NODE_ATTENTION, 0, n->stack, 0);
            backward_attention(p, n->stack);
        } else if (mot_pass_is_kind(n, "projector")) {
            mot_pass_at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 0);
            backward_forward_projector(p, n->stack, lane);
        } else if (mot_pass_is_kind(n, "stack")) {
            mot_pass_at_node(p, i, MOT_NODE_STACK, lane, n->stack, 0);
            backward_stack(p, i, lane);
        }
    }
}

/* A value pointer of view w as the same tensor's place in view g (the same layout over
 * another array). */
static float *in_view(const mot_train_view *w, const mot_train_view *g, const float *v) {
    return g->base + (v - w->base);
}

static mot_status backward_on_backend(mot_pass *p, const float *dlogits, const mot_train_view *g, float *dgate) {
    size_t most = 0;
    for (int i = 0; i < p->n_zeros; i++) most = p->zeros[i].bytes > most ? p->zeros[i].bytes : most;
    void *zero = calloc(1, most ? most : 1);
    if (!zero) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    mot_status zst = MOT_OK;
    for (int i = 0; zst == MOT_OK && i < p->n_zeros; i++) zst = p->be->write(p->be, p->zeros[i], zero);
    free(zero);
    MOT_TRY(zst);
    MOT_TRY(p->be->write(p->be, p->dlogits_buf, dlogits));
    for (int i = 0; i < p->n_grads; i++) {
        MOT_TRY(p->be->write(p->be, p->grads[i].buf, in_view(p->w, g, p->grads[i].value)));
    }
    MOT_TRY(p->be->execute(p->be, p->plan[MOT_PB_BACKWARD]));
    for (int i = 0; i < p->n_grads; i++) {
        MOT_TRY(p->be->read(p->be, p->grads[i].buf, in_view(p->w, g, p->grads[i].value)));
    }
    /* the gates' gradients: vg = v * gate, d gate = <dvg, v> per speaking lane and stack */
    for (int q = p->Q - 1; q >= 0; q--) { /* in the backward's order */
        const att_state *s = &p->att[q];
        if (!s->d_o.bytes) continue;
        for (int m = 0; m < s->n_seg; m++) {
            const int k = s->seg_lane[m];
            const size_t n = s->dv[m].bytes / sizeof(float);
            float *dv = malloc(2 * n * sizeof(float));
            if (!dv) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
            float *v = dv + n;
            mot_status st = p->be->read(p->be, s->dv[m], dv);
            if (st == MOT_OK) st = p->be->read(p->be, p->proj[q * p->K + k].v, v);
            double dgk = 0;
            for (size_t i = 0; st == MOT_OK && i < n; i++) dgk += (double)dv[i] * v[i];
            free(dv);
            MOT_TRY(st);
            dgate[k] += (float)dgk;
        }
    }
    return MOT_OK;
}

mot_status mot_pass_backward(mot_pass *p, const float *dlogits, const mot_train_view *g, float *dgate) {
    if (p->be && mot_pass_slot_epoch(p->slot) != p->epoch) {
        return mot_fail(MOT_ERR_INTERNAL, "training: the pass's backend was dropped after an error in another pass");
    }
    if (p->alone || !p->plan[MOT_PB_BACKWARD] || !p->be) {
        return mot_fail(MOT_ERR_INTERNAL, "training: a backward needs a pass run with a tape");
    }
    /* profiled: a host slice "backward" (the copies, the plan, the gates' dot products), the
     * plan's node slices in phase backward */
    mot_trace *tr = mot_pass_slot_trace(p->slot);
    const double t0 = tr ? mot_trace_now(tr) : 0.0;
    if (tr) tr->pass++, tr->phase = MOT_TRACE_PHASE_BACKWARD;
    const mot_status st = backward_on_backend(p, dlogits, g, dgate);
    mot_trace_host_span(tr, "backward", t0, p->T);
    return st;
}
