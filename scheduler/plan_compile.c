/* The scheduler: (routed set, arena layout, phase) -> plan, by lowering the routed set's
 * subgraph of the pipeline's expanded graph (graph/graph_nodes.h) node by node:
 *   stack       (the first: embed) the lane's layers of that range
 *   projector   forward: z = F x, latent norm, latent K/V (+ Q when it feeds its own lane's
 *               cross-attention), latent append; reverse: x += R (attention output | own z)
 *   attention   the cross-attention of the lane at its query rank (0: the primary) over the
 *               lanes' latent caches, output projection
 *   sampler     final norm, LM head, sampling (none in a prefill chunk)
 * then the step advance on the primary's lane once every lane sampled. The order and the
 * RECORD/WAIT events come from the graph's edges (see "lowering" below); for a MoT pipeline the
 * program of one pass (K lanes, Q stacks) is:
 *   stack q < Q:     lanes K-1..1: layers of stack q, forward projection, latent K/V append;
 *                                  RECORD e(q, lane); reverse projection of its own latent
 *                    lane 0:       layers of stack q, forward projection (+ queries), append;
 *                                  WAIT e(q, 1..K-1); cross-attention, output and reverse
 *                                  projections
 *   tail:            lanes K-1..0: remaining layers, final norm, LM head, sample; RECORD
 *                    WAIT all (lane 0); step advance
 * Lanes only meet at the WAITs before each cross-attention and at the step advance, so the
 * non-primaries of a stack are unordered among themselves and with the primary's layers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "scheduler/arena.h"

static uint64_t next_plan_id;

uint64_t mot_plan_next_id(void) { return __atomic_add_fetch(&next_plan_id, 1, __ATOMIC_RELAXED); }

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

/* z = F x (+b); n = norm(z); latent K, V (and the primary's Q) from n; K, V into the caches.
 * A listener (speaks = 0: not attended at this stack) computes no K, V: z, n and its Q only. */
static mot_status project_forward(builder *b, int lane, int q, int queries, int speaks) {
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
    if (!speaks) {
        return queries ? matmul(b, MOT_NODE_PROJECTOR, lane, q, -1, latent, 1, w + 2, bias + 2, out + 2, none)
                       : MOT_OK;
    }
    MOT_TRY(matmul(b, MOT_NODE_PROJECTOR, lane, q, -1, latent, queries ? 3 : 2, w, bias, out, none));

    mot_plan_op op = op_of(MOT_OP_LATENT_APPEND, MOT_NODE_PROJECTOR, b, lane, q, -1, MOT_READS_ROWS | MOT_READS_N_NEW);
    op.latent_append.k = B->lat_k, op.latent_append.v = B->lat_v, op.latent_append.d = s->shared_dim;
    op.latent_append.k_cache = mot_arena_slice(B->lat_k_cache, q, s->stacks);
    op.latent_append.v_cache = mot_arena_slice(B->lat_v_cache, q, s->stacks);
    return run(b, &op);
}

static int stack_event(const builder *b, int q, int lane) { return q * b->src->n_lanes + lane; }
static int done_event(const builder *b, int lane) { return b->src->stacks * b->src->n_lanes + lane; }

/* The expert's final norm, x -> xn: on the last row (RMSNORM_LAST) or on every row (RMSNORM). */
static mot_status final_norm(builder *b, int lane, int tail_stack, mot_op_kind kind) {
    const mot_expert *ex = b->src->ex[lane];
    const mot_lane_bufs *B = &b->A->lane[lane];
    mot_plan_op op = op_of(kind, MOT_NODE_STACK, b, lane, tail_stack, -1, MOT_READS_N_NEW);
    op.rmsnorm.x = B->x, op.rmsnorm.out = B->xn, op.rmsnorm.weight = ex->final_norm;
    op.rmsnorm.d = ex->cfg.hidden, op.rmsnorm.eps = ex->cfg.rms_eps;
    return run(b, &op);
}

/* Final norm on the last row, LM head, sampling. */
static mot_status head_and_sample(builder *b, int lane, int tail_stack) {
    const mot_expert *ex = b->src->ex[lane];
    const mot_lane_bufs *B = &b->A->lane[lane];
    MOT_TRY(final_norm(b, lane, tail_stack, MOT_OP_RMSNORM_LAST));
    const mot_weight *w = &ex->lm_head;
    mot_buf none = {0, 0};
    mot_buf xn_row = {B->xn.off, (size_t)ex->cfg.hidden * sizeof(float)};
    MOT_TRY(matmul(b, MOT_NODE_STACK, lane, tail_stack, -1, xn_row, 1, &w, NULL, &B->logits, none));
    b->p->ops[b->p->n_ops - 1].matmul.single_row = 1;
    mot_plan_op op = op_of(MOT_OP_SAMPLE, MOT_NODE_SAMPLER, b, lane, -1, -1, MOT_READS_N_NEW | MOT_READS_RNG);
    op.sample.logits = B->logits, op.sample.tokens = B->tokens, op.sample.vocab = ex->cfg.vocab;
    return run(b, &op);
}

/* Perplexity (src->all_logits): the final norm on every fed row and the LM head over them,
 * all_logits[n, vocab]; the sampling head then runs as in any prompt pass. */
static mot_status head_all_rows(builder *b, int lane, int tail_stack) {
    const mot_expert *ex = b->src->ex[lane];
    const mot_lane_bufs *B = &b->A->lane[lane];
    MOT_TRY(final_norm(b, lane, tail_stack, MOT_OP_RMSNORM));
    const mot_weight *w = &ex->lm_head;
    mot_buf none = {0, 0};
    return matmul(b, MOT_NODE_STACK, lane, tail_stack, -1, B->xn, 1, &w, NULL, &B->all_logits, none);
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

/* ---- lowering the expanded graph ----
 *
 * The routed set selects a subgraph: the nodes of the active experts (each on its expert's
 * lane), and the attention nodes that read an active forward projector and whose query rank r
 * is routed (r < K; on lane r: its queries attend; r = 0, the default, is the primary). An
 * attention's keys are the latent caches of its active speakers (`inputs`), in lane order; a
 * listener (`listeners`) feeds only the query lane's query, so its forward projector computes
 * no K, V and a listener on another lane is not waited for. A reverse projector that reads
 * attentions [attention.., forward] reads, on lane l, the attention of query rank l when it
 * lists one that runs, else its own forward's latent z (SPEC 1.3); with one input, that one.
 * The router ran before the plan: a stack node reading it embeds first.
 *
 * Order (valid from one thread): rounds; in each, lanes K-1 .. 0 each emit the next nodes of
 * their chain (their nodes in graph order) while those are ready, and yield after a reverse
 * projector (the end of an interaction point). A node whose output another lane reads is
 * followed by a RECORD on its lane (event (stack, lane)); the reader WAITs for it first. The
 * step advance, on the primary's lane, waits for every lane's sampler. */

typedef struct {
    const mot_graph *g;
    int *lane;    /* [n_nodes] lane of an active node, -1 inactive (the router: -1) */
    int *input;   /* [n_nodes] reverse projectors: the input read for this route */
    int *done;    /* [n_nodes] emitted */
    int *queries; /* [n_nodes] forward projectors feeding an attention on their own lane */
    int *listens; /* [n_nodes] forward projectors read by attentions: 1 only as a listener, 2 (or 3)
                   * also as a speaker (a latent attended by one attention at the stack) */
    int *record;  /* [n_nodes] read by a node on another lane */
} lowering;

/* Whether input k of node n is an attention's listener. */
static int is_listener(const mot_graph_node *n, int k) { return k >= n->n_inputs - n->n_listeners; }

static int is_kind(const mot_graph_node *n, const char *kind) { return !strcmp(n->kind, kind); }

static int node_ready(const lowering *L, int i) {
    const mot_graph_node *n = &L->g->nodes[i];
    if (is_kind(n, "projector") && n->reverse) {
        return L->done[L->input[i]];
    }
    const int *in = mot_graph_node_inputs(n);
    for (int k = 0; k < n->n_inputs; k++) {
        /* a listener's latent is read by its own lane's query only */
        const int read = !is_listener(n, k) || L->lane[in[k]] == L->lane[i];
        if (read && L->lane[in[k]] >= 0 && !L->done[in[k]]) {
            return 0;
        }
    }
    return 1;
}

static mot_status lower_attention(builder *b, const lowering *L, int i) {
    const mot_plan_source *s = b->src;
    const mot_graph_node *n = &L->g->nodes[i];
    const int q = n->stack, lane = L->lane[i]; /* the query lane */
    const int *in = mot_graph_node_inputs(n);
    /* The segments: the active speakers' lanes, ascending (the order of A, SPEC 1.3); segment m
     * is that lane's latent cache, its rows from that lane's step state. */
    int speaks[MOT_MAX_LANES] = {0}, n_seg = 0, seg_lane[MOT_MAX_LANES];
    for (int k = 0; k < n->n_inputs - n->n_listeners; k++) {
        if (L->lane[in[k]] >= 0) {
            speaks[L->lane[in[k]]] = 1;
        }
    }
    for (int m = 0; m < s->n_lanes; m++) {
        if (speaks[m]) {
            seg_lane[n_seg++] = m;
        }
    }
    for (int m = 0; m < n_seg; m++) {
        if (seg_lane[m] != lane) {
            MOT_TRY(instr(b, MOT_INSTR_WAIT, lane, stack_event(b, q, seg_lane[m])));
        }
    }
    const mot_interaction_weights *iw = &s->inter[q];
    const mot_lane_bufs *P = &b->A->lane[lane];
    mot_plan_op op = op_of(MOT_OP_CROSS_ATTENTION, MOT_NODE_ATTENTION, b, lane, q, -1,
                           MOT_READS_ROWS | MOT_READS_N_NEW | MOT_READS_PREFILL);
    op.cross_attention.q = P->lat_q, op.cross_attention.out = P->lat_att;
    op.cross_attention.d = s->shared_dim, op.cross_attention.heads = s->heads;
    op.cross_attention.scale = 1.0f / sqrtf((float)(s->shared_dim / s->heads));
    op.cross_attention.n_seg = n_seg;
    for (int m = 0; m < n_seg; m++) {
        op.cross_attention.seg_lane[m] = seg_lane[m];
        op.cross_attention.seg_k[m] = mot_arena_slice(b->A->lane[seg_lane[m]].lat_k_cache, q, s->stacks);
        op.cross_attention.seg_v[m] = mot_arena_slice(b->A->lane[seg_lane[m]].lat_v_cache, q, s->stacks);
    }
    MOT_TRY(run(b, &op));
    mot_buf none = {0, 0};
    return linear(b, MOT_NODE_ATTENTION, lane, q, &iw->o, P->lat_att, P->lat_o, none);
}

static mot_status lower_node(builder *b, const lowering *L, int i) {
    const mot_graph_node *n = &L->g->nodes[i];
    const int lane = L->lane[i];
    if (is_kind(n, "stack")) {
        if (n->n_inputs == 1 && is_kind(&L->g->nodes[n->inputs[0]], "router")) {
            MOT_TRY(embed(b, lane));
        }
        MOT_TRY(layers(b, lane, n->stack, n->first_layer, n->last_layer + 1));
    } else if (is_kind(n, "projector") && !n->reverse) {
        MOT_TRY(project_forward(b, lane, n->stack, L->queries[i], L->listens[i] != 1));
    } else if (is_kind(n, "projector")) {
        const int from = L->input[i];
        const mot_buf in = is_kind(&L->g->nodes[from], "attention") ? b->A->lane[L->lane[from]].lat_o
                                                                     : b->A->lane[lane].z;
        MOT_TRY(reverse_projection(b, lane, n->stack, in));
    } else if (is_kind(n, "attention")) {
        MOT_TRY(lower_attention(b, L, i));
    } else if (is_kind(n, "sampler")) {
        if (b->src->all_logits && lane == 0 && b->phase != MOT_PHASE_DECODE) {
            MOT_TRY(head_all_rows(b, lane, b->src->stacks));
        }
        if (b->phase != MOT_PHASE_PREFILL_CHUNK) {
            MOT_TRY(head_and_sample(b, lane, b->src->stacks));
        }
        if (lane > 0) {
            MOT_TRY(instr(b, MOT_INSTR_RECORD, lane, done_event(b, lane)));
        }
        return MOT_OK;
    } else {
        return mot_fail(MOT_ERR_INTERNAL, "scheduler: %s: a %s node has no lowering", n->id, n->kind);
    }
    if (L->record[i]) {
        MOT_TRY(instr(b, MOT_INSTR_RECORD, lane, stack_event(b, n->stack, lane)));
    }
    return MOT_OK;
}

/* Which nodes the route activates, on which lanes, reading what. */
static mot_status select_route(const builder *b, lowering *L) {
    const mot_plan_source *s = b->src;
    const mot_graph *g = L->g;
    int lane_of[256];
    int M = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        M = g->nodes[i].expert + 1 > M ? g->nodes[i].expert + 1 : M;
    }
    if (M > 256) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "scheduler: %d experts in the graph (at most 256)", M);
    }
    for (int e = 0; e < M; e++) {
        lane_of[e] = -1;
    }
    for (int l = 0; l < s->n_lanes; l++) {
        if (s->expert[l] < 0 || s->expert[l] >= M) {
            return mot_fail(MOT_ERR_INTERNAL, "scheduler: lane %d runs expert %d, not in the graph", l, s->expert[l]);
        }
        lane_of[s->expert[l]] = l;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const mot_graph_node *n = &g->nodes[i];
        const int *in = mot_graph_node_inputs(n);
        L->lane[i] = -1;
        if (n->expert >= 0) {
            L->lane[i] = lane_of[n->expert];
        } else if (is_kind(n, "attention") && n->query < s->n_lanes) { /* on its query rank's lane */
            for (int k = 0; k < n->n_inputs; k++) {
                L->lane[i] = L->lane[in[k]] >= 0 ? n->query : L->lane[i];
            }
        }
    }
    int sampled[MOT_MAX_LANES] = {0};
    for (int i = 0; i < g->n_nodes; i++) {
        const mot_graph_node *n = &g->nodes[i];
        const int lane = L->lane[i];
        if (lane < 0) {
            continue;
        }
        const int *in = mot_graph_node_inputs(n);
        sampled[lane] |= is_kind(n, "sampler");
        if (is_kind(n, "projector") && n->reverse) {
            /* the attention this lane queries (query rank = lane) when it lists one, else its z */
            int from = -1, att = -1;
            for (int k = 0; k < n->n_inputs; k++) {
                const mot_graph_node *src = &g->nodes[in[k]];
                if (!is_kind(src, "attention")) {
                    from = in[k];
                } else if (n->n_inputs == 1 || (src->query == lane && L->lane[in[k]] == lane)) {
                    att = in[k];
                }
            }
            from = att >= 0 ? att : from;
            if (from < 0 || L->lane[from] < 0) {
                return mot_fail(MOT_ERR_UNSUPPORTED, "scheduler: %s: no input on this route", n->id);
            }
            if (is_kind(&g->nodes[from], "attention") && L->lane[from] != lane) {
                return mot_fail(MOT_ERR_UNSUPPORTED, "scheduler: %s reads a cross-attention, but its expert is not "
                                "routed at that attention's query rank %d", n->id, g->nodes[from].query);
            }
            L->input[i] = from;
        }
        if (is_kind(n, "attention")) {
            int queries = 0;
            for (int k = 0; k < n->n_inputs; k++) {
                queries |= L->lane[in[k]] == lane;
            }
            if (!queries) {
                return mot_fail(MOT_ERR_UNSUPPORTED, "scheduler: %s: its query lane %d is not among its inputs",
                                n->id, lane);
            }
        }
        for (int k = 0; k < n->n_inputs; k++) {
            const int from = n->reverse ? L->input[i] : in[k];
            if (L->lane[from] < 0) {
                continue;
            }
            if (is_kind(n, "attention")) {
                L->listens[from] |= is_listener(n, k) ? 1 : 2;
            }
            if (is_kind(n, "attention") && is_listener(n, k)) {
                if (L->lane[from] != lane) {
                    continue; /* a non-primary listener: its latent is not read here */
                }
            }
            if (is_kind(n, "attention") && L->lane[from] == lane) {
                L->queries[from] = 1;
            }
            if (L->lane[from] != lane && !is_kind(n, "sampler")) {
                L->record[from] = 1;
            }
        }
    }
    for (int l = 0; l < s->n_lanes; l++) {
        if (!sampled[l]) {
            return mot_fail(MOT_ERR_UNSUPPORTED, "scheduler: lane %d (expert %d) never reaches a sampler", l,
                            s->expert[l]);
        }
    }
    return MOT_OK;
}

static mot_status lower(builder *b, const mot_graph *g) {
    const mot_plan_source *s = b->src;
    const int K = s->n_lanes, N = g->n_nodes;
    lowering L = {g, calloc((size_t)N, sizeof(int)), calloc((size_t)N, sizeof(int)), calloc((size_t)N, sizeof(int)),
                  calloc((size_t)N, sizeof(int)), calloc((size_t)N, sizeof(int)), calloc((size_t)N, sizeof(int))};
    int *chain = malloc(sizeof *chain * (size_t)N);
    mot_status st = L.lane && L.input && L.done && L.queries && L.listens && L.record && chain
                        ? select_route(b, &L)
                        : mot_fail(MOT_ERR_NOMEM, "scheduler: out of memory");
    /* chain: the active nodes grouped by lane, each lane's in graph order */
    int start[MOT_MAX_LANES + 1] = {0}, pos[MOT_MAX_LANES] = {0}, left = 0;
    for (int l = 0; st == MOT_OK && l < K; l++) {
        start[l] = left;
        for (int i = 0; i < N; i++) {
            if (L.lane[i] == l) {
                chain[left++] = i;
            }
        }
        pos[l] = start[l];
        start[l + 1] = left;
    }
    while (st == MOT_OK && left > 0) {
        int progress = 0;
        for (int l = K - 1; l >= 0 && st == MOT_OK; l--) {
            while (pos[l] < start[l + 1] && st == MOT_OK) {
                const int i = chain[pos[l]];
                if (!node_ready(&L, i)) {
                    break;
                }
                st = lower_node(b, &L, i);
                L.done[i] = 1;
                pos[l]++, left--, progress++;
                if (is_kind(&g->nodes[i], "projector") && g->nodes[i].reverse) {
                    break;
                }
            }
        }
        for (int l = 0; st == MOT_OK && !progress && l < K; l++) {
            if (pos[l] < start[l + 1]) { /* graph validation rules this out; a route cannot */
                st = mot_fail(MOT_ERR_UNSUPPORTED, "scheduler: the routed graph cannot be ordered: %s waits on an "
                              "input that never runs (a cycle)", g->nodes[chain[pos[l]]].id);
            }
        }
    }
    for (int l = 1; st == MOT_OK && l < K; l++) {
        st = instr(b, MOT_INSTR_WAIT, 0, done_event(b, l));
    }
    if (st == MOT_OK) {
        st = step_advance(b);
    }
    b->p->n_events = (s->stacks + 1) * K;
    free(L.lane), free(L.input), free(L.done), free(L.queries), free(L.listens), free(L.record), free(chain);
    return st;
}

static mot_status compile(builder *b) {
    if (b->src->graph) {
        return lower(b, b->src->graph);
    }
    if (b->src->n_lanes != 1 || b->src->stacks != 0) {
        return mot_fail(MOT_ERR_INTERNAL, "scheduler: a routed set needs the pipeline's graph");
    }
    mot_graph g;
    MOT_TRY(mot_graph_single(b->src->ex[0]->cfg.n_layers, &g));
    mot_status st = lower(b, &g);
    mot_graph_free(&g);
    return st;
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
    b.p->id = mot_plan_next_id();
    mot_status st = compile(&b);
    if (st == MOT_OK && phase == MOT_PHASE_DECODE && !src->unfused) {
        mot_plan_fuse(b.p);
    }
    if (st != MOT_OK) {
        mot_plan_free(b.p);
        return st;
    }
    *out = b.p;
    return MOT_OK;
}
