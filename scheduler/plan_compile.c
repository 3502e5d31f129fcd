/* The scheduler: (routed set, arena layout, phase) -> plan.
 *
 * Program of one pass (K lanes, Q stacks), in an order valid from one thread:
 *   stack q < Q:     lanes 1..K-1: (q = 0: embed) layers of stack q, forward projection, latent K/V append;
 *                                  RECORD e(q, lane); reverse projection of its own latent
 *                    lane 0:       layers of stack q, forward projection (+ queries), append;
 *                                  WAIT e(q, 1..K-1); cross-attention, output and reverse
 *                                  projections
 *   tail:            lanes 1..K-1: remaining layers, final norm, LM head, sample; RECORD
 *                    lane 0:       the same; WAIT all; step advance
 * Lanes only meet at the WAITs before each cross-attention and at the step advance, so the
 * non-primaries of a stack are unordered among themselves and with the primary's layers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "scheduler/arena.h"

static uint64_t next_plan_id;

typedef struct {
    mot_plan *p;
    int cap_ops, cap_instrs;
    const mot_plan_source *src;
    const mot_arena_layout *A;
    mot_phase phase;
} builder;

static mot_status grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) {
        return MOT_OK;
    }
    int cap2 = *cap ? *cap * 2 : 256;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*arr, (size_t)cap2 * elem);
    if (!p) {
        return mot_fail(MOT_ERR_NOMEM, "scheduler: out of memory");
    }
    *arr = p;
    *cap = cap2;
    return MOT_OK;
}

static mot_status instr(builder *b, mot_instr_kind kind, int lane, int arg) {
    MOT_TRY(grow((void **)&b->p->prog, &b->cap_instrs, b->p->n_instrs + 1, sizeof(mot_instr)));
    b->p->prog[b->p->n_instrs++] = (mot_instr){kind, lane, arg};
    return MOT_OK;
}

/* The node id of (lane, kind, stack, reverse): the id of an earlier op of the same node, or a
 * new one. The step advance belongs to the primary's sampler node. */
static int node_id(const mot_plan *p, const mot_plan_op *op) {
    for (int i = p->n_ops - 1; i >= 0; i--) {
        const mot_plan_op *o = &p->ops[i];
        const int same_stack = o->stack == op->stack || op->node == MOT_NODE_SAMPLER;
        if (o->lane == op->lane && o->node == op->node && same_stack && o->reverse == op->reverse) {
            return o->node_id;
        }
    }
    return p->n_nodes;
}

/* Appends op and a RUN of it. */
static mot_status run(builder *b, const mot_plan_op *op) {
    MOT_TRY(grow((void **)&b->p->ops, &b->cap_ops, b->p->n_ops + 1, sizeof(mot_plan_op)));
    b->p->ops[b->p->n_ops] = *op;
    mot_plan_op *added = &b->p->ops[b->p->n_ops];
    added->node_id = node_id(b->p, op);
    if (added->node_id == b->p->n_nodes) {
        b->p->n_nodes++;
    }
    return instr(b, MOT_INSTR_RUN, op->lane, b->p->n_ops++);
}

static mot_plan_op op_of(mot_op_kind kind, mot_node_kind node, const builder *b, int lane, int stack, int layer,
                         unsigned reads) {
    mot_plan_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.node = node;
    op.lane = lane;
    op.expert = b->src->expert[lane];
    op.stack = stack;
    op.layer = layer;
    op.reads = reads;
    return op;
}

/* y_j = in W_j^T (+ b_j); accumulate: out[0] += y_0 (through `scratch` on the CPU). */
static mot_status matmul(builder *b, mot_node_kind node, int lane, int stack, int layer, mot_buf in, int n_w,
                         const mot_weight *const *w, const float *const *bias, const mot_buf *out,
                         mot_buf acc_scratch) {
    mot_plan_op op = op_of(MOT_OP_MATMUL, node, b, lane, stack, layer, MOT_READS_N_NEW);
    op.matmul.x = in;
    op.n_w = n_w;
    for (int j = 0; j < n_w; j++) {
        op.w[j] = w[j];
        op.bias[j] = bias ? bias[j] : NULL;
        op.matmul.y[j] = out[j];
    }
    op.matmul.scratch = acc_scratch;
    op.matmul.accumulate = acc_scratch.bytes > 0;
    return run(b, &op);
}

static mot_status linear(builder *b, mot_node_kind node, int lane, int stack, const mot_linear *l, mot_buf in,
                         mot_buf out, mot_buf acc_scratch) {
    const mot_weight *w = &l->w;
    const float *bias = l->bias;
    return matmul(b, node, lane, stack, -1, in, 1, &w, &bias, &out, acc_scratch);
}

/* x += R z (+b): the reverse projector node of the lane at stack q. */
static mot_status reverse_projection(builder *b, int lane, int q, mot_buf in) {
    const mot_lane_bufs *B = &b->A->lane[lane];
    mot_plan_op op = op_of(MOT_OP_MATMUL, MOT_NODE_PROJECTOR, b, lane, q, -1, MOT_READS_N_NEW);
    const mot_linear *l = &b->src->inter[q].reverse[b->src->expert[lane]];
    op.matmul.x = in, op.n_w = 1, op.w[0] = &l->w, op.bias[0] = l->bias, op.matmul.y[0] = B->x;
    op.matmul.scratch = B->xn, op.matmul.accumulate = 1, op.reverse = 1;
    return run(b, &op);
}

static mot_status layer_ops(builder *b, int lane, int stack, int l) {
    const mot_expert *ex = b->src->ex[lane];
    const mot_config *c = &ex->cfg;
    const mot_layer_weights *W = &ex->layers[l];
    const mot_lane_bufs *B = &b->A->lane[lane];
    /* the layer's caches head-major, [n_kv, ctx, hd]: one kv head's keys are contiguous, so
     * decode attention reads each as one run (docs/benchmarks.md) */
    const int64_t kv_head_stride = (int64_t)b->src->ctx[lane] * c->head_dim;
    const mot_op_kv kv = {mot_arena_slice(B->k_cache, l, c->n_layers), mot_arena_slice(B->v_cache, l, c->n_layers),
                          c->n_heads, c->n_kv_heads, c->head_dim, c->head_dim, kv_head_stride};
    mot_buf none = {0, 0};

    mot_plan_op op = op_of(MOT_OP_RMSNORM, MOT_NODE_STACK, b, lane, stack, l, MOT_READS_N_NEW);
    op.rmsnorm.x = B->x, op.rmsnorm.out = B->xn, op.rmsnorm.weight = W->attn_norm, op.rmsnorm.d = c->hidden;
    op.rmsnorm.eps = c->rms_eps;
    MOT_TRY(run(b, &op));

    const mot_weight *qkv[3] = {&W->wq, &W->wk, &W->wv};
    const mot_buf qkv_out[3] = {B->q, B->k, B->v};
    MOT_TRY(matmul(b, MOT_NODE_STACK, lane, stack, l, B->xn, 3, qkv, NULL, qkv_out, none));

    op = op_of(MOT_OP_ROPE_APPEND, MOT_NODE_STACK, b, lane, stack, l, MOT_READS_POS | MOT_READS_N_NEW);
    op.rope_append.q = B->q, op.rope_append.k = B->k, op.rope_append.v = B->v;
    op.rope_append.kv = kv, op.rope_append.inv_freq = ex->inv_freq;
    MOT_TRY(run(b, &op));

    op = op_of(MOT_OP_ATTENTION, MOT_NODE_STACK, b, lane, stack, l, MOT_READS_POS | MOT_READS_N_NEW);
    op.attention.q = B->q, op.attention.kv = kv, op.attention.out = B->att;
    op.attention.window = c->sliding_window, op.attention.scale = 1.0f / sqrtf((float)c->head_dim);
    MOT_TRY(run(b, &op));

    const mot_weight *wo = &W->wo;
    MOT_TRY(matmul(b, MOT_NODE_STACK, lane, stack, l, B->att, 1, &wo, NULL, &B->x, B->xn));

    op = op_of(MOT_OP_RMSNORM, MOT_NODE_STACK, b, lane, stack, l, MOT_READS_N_NEW);
    op.rmsnorm.x = B->x, op.rmsnorm.out = B->xn, op.rmsnorm.weight = W->ffn_norm, op.rmsnorm.d = c->hidden;
    op.rmsnorm.eps = c->rms_eps;
    MOT_TRY(run(b, &op));

    const mot_weight *gu[2] = {&W->w_gate, &W->w_up};
    const mot_buf gu_out[2] = {B->gate, B->up};
    MOT_TRY(matmul(b, MOT_NODE_STACK, lane, stack, l, B->xn, 2, gu, NULL, gu_out, none));

    op = op_of(MOT_OP_SWIGLU, MOT_NODE_STACK, b, lane, stack, l, MOT_READS_N_NEW);
    op.swiglu.gate = B->gate, op.swiglu.up = B->up, op.swiglu.f = c->ffn;
    MOT_TRY(run(b, &op));

    const mot_weight *wd = &W->w_down;
    return matmul(b, MOT_NODE_STACK, lane, stack, l, B->gate, 1, &wd, NULL, &B->x, B->xn);
}

static mot_status layers(builder *b, int lane, int stack, int from, int to) {
    for (int l = from; l < to; l++) {
        MOT_TRY(layer_ops(b, lane, stack, l));
    }
    return MOT_OK;
}

/* z = F x (+b); n = norm(z); latent K, V (and the primary's Q) from n; K, V into the caches. */
static mot_status project_forward(builder *b, int lane, int q) {
    const mot_plan_source *s = b->src;
    const mot_interaction_weights *iw = &s->inter[q];
    const mot_lane_bufs *B = &b->A->lane[lane];
    mot_buf none = {0, 0};
    MOT_TRY(linear(b, MOT_NODE_PROJECTOR, lane, q, &iw->forward[s->expert[lane]], B->x, B->z, none));
    mot_buf latent = B->z;
    if (iw->norm_weight) {
        mot_plan_op op = op_of(MOT_OP_LAYERNORM, MOT_NODE_PROJECTOR, b, lane, q, -1, MOT_READS_N_NEW);
        op.layernorm.x = B->z, op.layernorm.out = B->nz;
        op.layernorm.weight = iw->norm_weight, op.layernorm.bias = iw->norm_bias;
        op.layernorm.d = s->shared_dim, op.layernorm.eps = 1e-5f;
        MOT_TRY(run(b, &op));
        latent = B->nz;
    }
    const mot_weight *w[3] = {&iw->k.w, &iw->v.w, &iw->q.w};
    const float *bias[3] = {iw->k.bias, iw->v.bias, iw->q.bias};
    const mot_buf out[3] = {B->lat_k, B->lat_v, B->lat_q};
    MOT_TRY(matmul(b, MOT_NODE_PROJECTOR, lane, q, -1, latent, lane == 0 ? 3 : 2, w, bias, out, none));

    mot_plan_op op = op_of(MOT_OP_LATENT_APPEND, MOT_NODE_PROJECTOR, b, lane, q, -1, MOT_READS_ROWS | MOT_READS_N_NEW);
    op.latent_append.k = B->lat_k, op.latent_append.v = B->lat_v, op.latent_append.d = s->shared_dim;
    op.latent_append.k_cache = mot_arena_slice(B->lat_k_cache, q, s->stacks);
    op.latent_append.v_cache = mot_arena_slice(B->lat_v_cache, q, s->stacks);
    return run(b, &op);
}

static int stack_event(const builder *b, int q, int lane) { return q * b->src->n_lanes + lane; }
static int done_event(const builder *b, int lane) { return b->src->stacks * b->src->n_lanes + lane; }

static mot_status interaction_primary(builder *b, int q) {
    const mot_plan_source *s = b->src;
    const mot_interaction_weights *iw = &s->inter[q];
    const mot_lane_bufs *P = &b->A->lane[0];
    for (int i = 1; i < s->n_lanes; i++) {
        MOT_TRY(instr(b, MOT_INSTR_WAIT, 0, stack_event(b, q, i)));
    }
    mot_plan_op op = op_of(MOT_OP_CROSS_ATTENTION, MOT_NODE_ATTENTION, b, 0, q, -1,
                           MOT_READS_ROWS | MOT_READS_N_NEW | MOT_READS_PREFILL);
    op.cross_attention.q = P->lat_q, op.cross_attention.out = P->lat_att;
    op.cross_attention.d = s->shared_dim, op.cross_attention.heads = s->heads;
    op.cross_attention.scale = 1.0f / sqrtf((float)(s->shared_dim / s->heads));
    op.cross_attention.n_seg = s->n_lanes;
    for (int m = 0; m < s->n_lanes; m++) {
        op.cross_attention.seg_k[m] = mot_arena_slice(b->A->lane[m].lat_k_cache, q, s->stacks);
        op.cross_attention.seg_v[m] = mot_arena_slice(b->A->lane[m].lat_v_cache, q, s->stacks);
    }
    MOT_TRY(run(b, &op));
    mot_buf none = {0, 0};
    MOT_TRY(linear(b, MOT_NODE_ATTENTION, 0, q, &iw->o, P->lat_att, P->lat_o, none));
    return reverse_projection(b, 0, q, P->lat_o);
}

/* Final norm on the last row, LM head, sampling. */
static mot_status head_and_sample(builder *b, int lane, int tail_stack) {
    const mot_expert *ex = b->src->ex[lane];
    const mot_lane_bufs *B = &b->A->lane[lane];
    mot_plan_op op = op_of(MOT_OP_RMSNORM_LAST, MOT_NODE_STACK, b, lane, tail_stack, -1, MOT_READS_N_NEW);
    op.rmsnorm.x = B->x, op.rmsnorm.out = B->xn, op.rmsnorm.weight = ex->final_norm;
    op.rmsnorm.d = ex->cfg.hidden, op.rmsnorm.eps = ex->cfg.rms_eps;
    MOT_TRY(run(b, &op));
    const mot_weight *w = &ex->lm_head;
    mot_buf none = {0, 0};
    mot_buf xn_row = {B->xn.off, (size_t)ex->cfg.hidden * sizeof(float)};
    MOT_TRY(matmul(b, MOT_NODE_STACK, lane, tail_stack, -1, xn_row, 1, &w, NULL, &B->logits, none));
    b->p->ops[b->p->n_ops - 1].matmul.single_row = 1;
    op = op_of(MOT_OP_SAMPLE, MOT_NODE_SAMPLER, b, lane, -1, -1, MOT_READS_N_NEW | MOT_READS_RNG);
    op.sample.logits = B->logits, op.sample.tokens = B->tokens, op.sample.vocab = ex->cfg.vocab;
    return run(b, &op);
}

static mot_status step_advance(builder *b) {
    const mot_plan_source *s = b->src;
    mot_plan_op op = op_of(MOT_OP_STEP_ADVANCE, MOT_NODE_SAMPLER, b, 0, -1, -1,
                           MOT_READS_POS | MOT_READS_N_NEW | MOT_READS_ROWS | MOT_READS_ALIVE | MOT_READS_TOKEN);
    op.step_advance.n_lanes = s->n_lanes;
    op.step_advance.ignore_eos = s->ignore_eos;
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        for (int e = 0; e < MOT_MAX_EOS; e++) {
            op.step_advance.eos[i][e] = i < s->n_lanes && e < s->ex[i]->cfg.n_eos ? s->ex[i]->cfg.eos_ids[e] : -1;
        }
    }
    return run(b, &op);
}

/* The lane's tokens into x: part of its first stack node. */
static mot_status embed(builder *b, int lane) {
    const mot_plan_source *s = b->src;
    const mot_lane_bufs *B = &b->A->lane[lane];
    mot_plan_op op = op_of(MOT_OP_EMBED, MOT_NODE_STACK, b, lane, 0, -1, MOT_READS_N_NEW);
    op.embed.tokens = B->tokens, op.embed.out = B->x, op.n_w = 1, op.w[0] = &s->ex[lane]->embed;
    op.embed.d = s->ex[lane]->cfg.hidden;
    return run(b, &op);
}

static mot_status compile(builder *b) {
    const mot_plan_source *s = b->src;
    const int K = s->n_lanes, Q = s->stacks;
    const int logits = b->phase != MOT_PHASE_PREFILL_CHUNK;
    int next[MOT_MAX_LANES] = {0};
    for (int q = 0; q < Q; q++) {
        for (int i = K - 1; i >= 0; i--) { /* non-primaries first, primary last (one-thread order) */
            const int end = s->ends[i][q] + 1;
            if (q == 0) {
                MOT_TRY(embed(b, i));
            }
            MOT_TRY(layers(b, i, q, next[i], end));
            next[i] = end;
            MOT_TRY(project_forward(b, i, q));
            if (i > 0) {
                /* The primary needs only the latent K/V: record before the reverse projection
                 * (it touches this lane's own x), so the primary does not wait for it. */
                MOT_TRY(instr(b, MOT_INSTR_RECORD, i, stack_event(b, q, i)));
                MOT_TRY(reverse_projection(b, i, q, b->A->lane[i].z));
            }
        }
        MOT_TRY(interaction_primary(b, q));
    }
    for (int i = K - 1; i >= 0; i--) {
        if (Q == 0) {
            MOT_TRY(embed(b, i));
        }
        MOT_TRY(layers(b, i, Q, next[i], s->ex[i]->cfg.n_layers));
        if (logits) {
            MOT_TRY(head_and_sample(b, i, Q));
        }
        if (i > 0) {
            MOT_TRY(instr(b, MOT_INSTR_RECORD, i, done_event(b, i)));
        }
    }
    for (int i = 1; i < K; i++) {
        MOT_TRY(instr(b, MOT_INSTR_WAIT, 0, done_event(b, i)));
    }
    MOT_TRY(step_advance(b));
    b->p->n_events = (Q + 1) * K;
    return MOT_OK;
}

mot_status mot_plan_compile(const mot_plan_source *src, const mot_arena_layout *arena, mot_phase phase,
                            mot_plan **out) {
    *out = NULL;
    if (phase == MOT_PHASE_PREFILL_CHUNK && src->stacks > 0) {
        return mot_fail(MOT_ERR_INTERNAL, "scheduler: a MoT prefill cannot be split into chunks");
    }
    builder b = {calloc(1, sizeof(mot_plan)), 0, 0, src, arena, phase};
    if (!b.p) {
        return mot_fail(MOT_ERR_NOMEM, "scheduler: out of memory");
    }
    b.p->key.n_lanes = src->n_lanes;
    for (int i = 0; i < src->n_lanes; i++) {
        b.p->key.experts[i] = src->expert[i];
    }
    b.p->key.phase = phase;
    b.p->key.arena_generation = arena->generation;
    b.p->id = __atomic_add_fetch(&next_plan_id, 1, __ATOMIC_RELAXED);
    mot_status st = compile(&b);
    if (st != MOT_OK) {
        mot_plan_free(b.p);
        return st;
    }
    *out = b.p;
    return MOT_OK;
}
