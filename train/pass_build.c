#include "train/pass_build.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

mot_buf mot_pb_buf(mot_pass_build *b, size_t bytes) {
    const mot_buf r = {b->bytes, bytes ? bytes : 64};
    b->bytes += (r.bytes + 63) & ~(size_t)63;
    return r;
}

mot_plan_op *mot_pb_op(mot_pass_build *b, int dir, mot_op_kind kind) {
    if (b->n_ops[dir] == b->cap[dir]) {
        const int cap = b->cap[dir] ? 2 * b->cap[dir] : 256;
        mot_plan_op *ops = realloc(b->ops[dir], (size_t)cap * sizeof *ops);
        if (!ops) {
            b->failed = 1;
            return NULL;
        }
        b->ops[dir] = ops, b->cap[dir] = cap;
    }
    mot_plan_op *op = &b->ops[dir][b->n_ops[dir]++];
    *op = b->at;
    memset(&op->n_w, 0, sizeof *op - offsetof(mot_plan_op, n_w)); /* weights and parameters */
    op->kind = kind;
    op->reads = mot_op_kind_reads(kind);
    return op;
}

void mot_pb_copy(mot_pass_build *b, mot_buf src, mot_buf dst) {
    mot_plan_op *op = mot_pb_op(b, MOT_PB_FORWARD, MOT_OP_COPY);
    if (op) op->copy = (mot_op_copy){src, dst};
}

void mot_pb_backward_x(mot_pass_build *b, mot_buf dx, mot_buf dy, const mot_weight *w, int n, int accumulate) {
    mot_plan_op *op = mot_pb_op(b, MOT_PB_BACKWARD, MOT_OP_MATMUL_BACKWARD_X);
    if (!op || !w) return;
    op->n_w = 1, op->w[0] = w;
    op->matmul_backward_x = (mot_op_matmul_backward_x){dy, dx, n, accumulate};
}

const mot_weight *mot_pb_weight(mot_pass_build *b, mot_weight w) {
    for (int i = 0; i < b->n_weights; i++) { /* a tensor's forward and backward ops share one */
        const mot_weight *c = b->weights[i];
        if (c->data == w.data && c->dtype == w.dtype && c->rows == w.rows && c->cols == w.cols) return c;
    }
    if (b->n_weights == b->cap_weights) {
        const int cap = b->cap_weights ? 2 * b->cap_weights : 32;
        mot_weight **ws = realloc(b->weights, (size_t)cap * sizeof *ws);
        if (!ws) {
            b->failed = 1;
            return NULL;
        }
        b->weights = ws, b->cap_weights = cap;
    }
    mot_weight *c = malloc(sizeof *c);
    if (!c) {
        b->failed = 1;
        return NULL;
    }
    *c = w;
    b->weights[b->n_weights++] = c;
    return c;
}

mot_status mot_pb_plan(const mot_pass_build *b, int dir, int n_lanes, mot_plan **out) {
    const int n = b->n_ops[dir];
    mot_plan *p = calloc(1, sizeof *p);
    if (p) {
        p->ops = malloc((size_t)(n ? n : 1) * sizeof *p->ops);
        p->prog = malloc((size_t)(3 * n + 1) * sizeof *p->prog); /* RUN, and RECORD + WAIT at a lane change */
    }
    if (!p || !p->ops || !p->prog) {
        mot_plan_free(p);
        return mot_fail(MOT_ERR_NOMEM, "training: out of memory for a plan of %d ops", n);
    }
    memcpy(p->ops, b->ops[dir], (size_t)n * sizeof *p->ops);
    int max_node = 0, k = 0;
    for (int i = 0; i < n; i++) {
        const int lane = p->ops[i].lane;
        if (i > 0 && lane != p->ops[i - 1].lane) { /* the next lane waits for the one before */
            p->prog[k++] = (mot_instr){MOT_INSTR_RECORD, p->ops[i - 1].lane, p->n_events};
            p->prog[k++] = (mot_instr){MOT_INSTR_WAIT, lane, p->n_events++};
        }
        p->prog[k++] = (mot_instr){MOT_INSTR_RUN, lane, i};
        max_node = p->ops[i].node_id > max_node ? p->ops[i].node_id : max_node;
    }
    p->n_ops = n, p->n_instrs = k;
    p->id = mot_plan_next_id();
    p->n_nodes = max_node + 1;
    p->key.n_lanes = n_lanes;
    p->key.phase = MOT_PHASE_PREFILL;
    *out = p;
    return MOT_OK;
}

void mot_pb_free(mot_pass_build *b) {
    for (int i = 0; i < b->n_weights; i++) free(b->weights[i]);
    free(b->weights), free(b->ops[0]), free(b->ops[1]);
    memset(b, 0, sizeof *b);
}
