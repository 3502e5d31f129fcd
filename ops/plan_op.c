#include "ops/plan_op.h"

#include <string.h>

const char *mot_op_kind_name(mot_op_kind k) {
    static const char *const names[MOT_OP_KIND_COUNT] = {
#define MOT_OP_NAME_(KIND, name, reads, ref, cpu, cuda, doc) [MOT_OP_##KIND] = #name,
        MOT_OP_TABLE(MOT_OP_NAME_)
#undef MOT_OP_NAME_
    };
    return (unsigned)k < MOT_OP_KIND_COUNT ? names[k] : "?";
}

unsigned mot_op_kind_reads(mot_op_kind k) {
    static const unsigned reads_of[MOT_OP_KIND_COUNT] = {
#define MOT_OP_READS_(KIND, name, reads, ref, cpu, cuda, doc) [MOT_OP_##KIND] = (reads),
        MOT_OP_TABLE(MOT_OP_READS_)
#undef MOT_OP_READS_
    };
    return (unsigned)k < MOT_OP_KIND_COUNT ? reads_of[k] : 0u;
}

const char *mot_node_kind_name(mot_node_kind k) {
    static const char *const names[MOT_NODE_KIND_COUNT] = {"stack", "projector", "attention", "sampler"};
    return (unsigned)k < MOT_NODE_KIND_COUNT ? names[k] : "?";
}

int mot_plan_op_vectors(mot_plan_op *op, const float **field[2], int64_t len[2]) {
    switch (op->kind) {
    case MOT_OP_RMSNORM:
    case MOT_OP_RMSNORM_LAST:
        field[0] = &op->rmsnorm.weight, len[0] = op->rmsnorm.d;
        return 1;
    case MOT_OP_RMSNORM_MATMUL:
    case MOT_OP_RMSNORM_MATMUL_SWIGLU:
        field[0] = &op->rmsnorm_matmul.norm.weight, len[0] = op->rmsnorm_matmul.norm.d;
        return 1;
    case MOT_OP_RMSNORM_MATMUL_ROPE_APPEND:
        field[0] = &op->rmsnorm_matmul.norm.weight, len[0] = op->rmsnorm_matmul.norm.d;
        field[1] = &op->rmsnorm_matmul.rope.inv_freq, len[1] = op->rmsnorm_matmul.rope.kv.hd / 2;
        return 2;
    case MOT_OP_LAYERNORM:
        field[0] = &op->layernorm.weight, len[0] = op->layernorm.d;
        field[1] = &op->layernorm.bias, len[1] = op->layernorm.d;
        return 2;
    case MOT_OP_ROPE_APPEND:
        field[0] = &op->rope_append.inv_freq, len[0] = op->rope_append.kv.hd / 2;
        return 1;
    case MOT_OP_RMSNORM_BACKWARD:
        field[0] = &op->rmsnorm_backward.weight, len[0] = op->rmsnorm_backward.d;
        return 1;
    case MOT_OP_LAYERNORM_BACKWARD:
        field[0] = &op->layernorm_backward.weight, len[0] = op->layernorm_backward.d;
        return 1;
    case MOT_OP_ROPE_BACKWARD:
        field[0] = &op->rope_backward.inv_freq, len[0] = op->rope_backward.hd / 2;
        return 1;
    default:
        return 0;
    }
}

static int same_buf(mot_buf a, mot_buf b) { return a.off == b.off && a.bytes > 0 && b.bytes > 0; }

int mot_plan_op_norm_feeds(const mot_plan_op *a, const mot_plan_op *b) {
    if (!b || b->kind != MOT_OP_MATMUL || b->n_w < 1 || !b->w[0]) {
        return 0;
    }
    const mot_op_rmsnorm *r = &a->rmsnorm;
    const mot_op_matmul *m = &b->matmul;
    const int rows_match = (a->kind == MOT_OP_RMSNORM && !m->single_row) ||
                           (a->kind == MOT_OP_RMSNORM_LAST && m->single_row);
    return rows_match && !m->accumulate && same_buf(r->out, m->x) && r->d == b->w[0]->cols && r->out.off != r->x.off;
}

int mot_plan_op_swiglu_after(const mot_plan_op *b, const mot_plan_op *c) {
    return c && c->kind == MOT_OP_SWIGLU && b->kind == MOT_OP_MATMUL && b->n_w == 2 && !b->matmul.accumulate &&
           same_buf(c->swiglu.gate, b->matmul.y[0]) && same_buf(c->swiglu.up, b->matmul.y[1]) &&
           c->swiglu.f == b->w[0]->rows;
}

int mot_plan_op_rope_after(const mot_plan_op *b, const mot_plan_op *c) {
    if (!c || c->kind != MOT_OP_ROPE_APPEND || b->kind != MOT_OP_MATMUL || b->n_w != 3 || b->matmul.accumulate ||
        b->matmul.single_row) {
        return 0;
    }
    const mot_op_rope_append *r = &c->rope_append;
    const int64_t hd = r->kv.hd;
    return same_buf(r->q, b->matmul.y[0]) && same_buf(r->k, b->matmul.y[1]) && same_buf(r->v, b->matmul.y[2]) &&
           hd > 0 && hd % 2 == 0 && b->w[0]->rows == r->kv.n_heads * hd && b->w[1]->rows == r->kv.n_kv * hd &&
           b->w[2]->rows == r->kv.n_kv * hd;
}

mot_plan_op mot_plan_op_fuse(const mot_plan_op *norm, const mot_plan_op *mm, const mot_plan_op *after) {
    mot_plan_op op = *norm;
    const int rope = after && after->kind == MOT_OP_ROPE_APPEND;
    op.kind = rope ? MOT_OP_RMSNORM_MATMUL_ROPE_APPEND : after ? MOT_OP_RMSNORM_MATMUL_SWIGLU : MOT_OP_RMSNORM_MATMUL;
    op.reads = mot_op_kind_reads(op.kind);
    op.n_w = mm->n_w;
    for (int j = 0; j < MOT_OP_MAX_W; j++) {
        op.w[j] = j < mm->n_w ? mm->w[j] : NULL;
        op.bias[j] = j < mm->n_w ? mm->bias[j] : NULL;
    }
    const mot_op_rmsnorm r = norm->rmsnorm;
    const mot_op_matmul m = mm->matmul;
    memset(&op.rmsnorm_matmul, 0, sizeof op.rmsnorm_matmul);
    op.rmsnorm_matmul.norm = r;
    op.rmsnorm_matmul.matmul = m;
    if (rope) {
        op.rmsnorm_matmul.rope = after->rope_append;
    }
    return op;
}

mot_plan_op mot_plan_op_part(const mot_plan_op *f, int part) {
    mot_plan_op op = *f;
    const mot_op_rmsnorm_matmul fm = f->rmsnorm_matmul;
    memset(&op.rmsnorm_matmul, 0, sizeof op.rmsnorm_matmul);
    if (part == 0) {
        op.kind = fm.matmul.single_row ? MOT_OP_RMSNORM_LAST : MOT_OP_RMSNORM;
        op.n_w = 0;
        op.rmsnorm = fm.norm;
    } else if (part == 1) {
        op.kind = MOT_OP_MATMUL;
        op.matmul = fm.matmul;
    } else if (f->kind == MOT_OP_RMSNORM_MATMUL_ROPE_APPEND) {
        op.kind = MOT_OP_ROPE_APPEND;
        op.n_w = 0;
        op.rope_append = fm.rope;
    } else {
        op.kind = MOT_OP_SWIGLU;
        op.n_w = 0;
        op.swiglu = (mot_op_swiglu){fm.matmul.y[0], fm.matmul.y[1], f->w[0] ? (int)f->w[0]->rows : 0};
    }
    op.reads = mot_op_kind_reads(op.kind);
    return op;
}
