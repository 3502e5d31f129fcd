/* One teacher-forced pass compiled into plans (train/pass_build.h) and run by a backend: the
 * graph's nodes in order for the forward, the same nodes in reverse for the backward, both
 * decided here once, when the pass is built, from the graph and the routed set. */
#include "train/mot_pass.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "train/pass_layers.h"
#include "train/pass_slot.h"

/* One active expert (a lane: 0 = primary). */
typedef struct {
    const mot_expert *ex;
    int expert, R, N, d;
    const int *ids;        /* [R] its tokens: prompt, then completion */
    mot_buf tokens;        /* int32 [R] */
    mot_buf x;             /* [R, d] the hidden state as the nodes advance it */
    mot_pb_tape *tape;     /* [n_layers]; a layer has a tape when tape[l].x_in.bytes */
    mot_buf dx;            /* [R, d] backward: gradient at the current node (absent: none yet) */
    int live;              /* dx may be non-zero */
} lane_state;

/* Lane k's forward projector of stack q: z = h F^T (+b), n = norm(z), K, V (V times the gate,
 * which is 1 in training: SPEC 5's straight-through value). */
typedef struct {
    int present;
    mot_buf h, z, n, k, v; /* h [R, d] (the tape's copy of x); the others [R, d_s]; n == z without a norm */
    mot_buf dz, dn;        /* backward (absent: nothing reached them); dn == dz without a norm */
} proj_state;

/* The cross-attention of stack q (the primary's queries over its speakers' keys). */
typedef struct {
    int present;
    int n_seg, seg_lane[MOT_MAX_LANES]; /* the speaking lanes, ascending (listeners are not attended) */
    mot_buf q, a, o;       /* [R_p, d_s]: queries, attention output, o after o_proj (and dropout) */
    uint64_t dropout_seed;
    mot_buf d_o;           /* backward: gradient at o */
    mot_buf dk[MOT_MAX_LANES], dv[MOT_MAX_LANES]; /* the segments' key and value gradients */
} att_state;

/* A trainable tensor's gradient in the arena, keyed by the tensor's values in p->w: the
 * gradient view's same tensor is uploaded before the backward and read back after it. */
typedef struct {
    const float *value;
    size_t count;
    mot_buf buf;
} grad_slot;

/* A leading stack node's state: copied in from the example's prefix (out 0) or out to it. */
typedef struct {
    int node;
    mot_buf buf;
    int out;
} prefix_snap;

struct mot_pass {
    const mot_model *m;
    const mot_train_view *w;
    const mot_graph *g;
    int K, Q, ds, H, alone, tape;
    lane_state *lane;   /* [K] */
    int *lane_of;       /* [M] expert -> lane, -1 when inactive */
    proj_state *proj;   /* [Q * K] */
    att_state *att;     /* [Q] */
    int *tape_node;     /* [n_nodes] whether a stack node keeps its tape */
    mot_pb_scratch s;   /* the lanes' layers' scratch */
    float dropout;
    int T, V;
    mot_buf head_x, head_xn, logits_buf, dlogits_buf, head_dy;
    float *logits;      /* [T, V] host copy */
    int *targets;       /* [T] */
    /* the prefix: leading stack states copied in from the host (in) or out to it (out) */
    int n_snap;
    prefix_snap *snap;  /* [n_nodes] */
    grad_slot *grads;   /* the trainable tensors the backward reaches */
    int n_grads, cap_grads;
    mot_pass_build b;
    mot_plan *plan[2];
    mot_pass_slot *slot; /* where it runs: the caller's, or its own (own_slot) */
    int own_slot;
    mot_backend *be;     /* the slot's */
    mot_buf *zeros;      /* what the backward accumulates into from zero (the arena is reused) */
    int n_zeros, cap_zeros;
};

static int is_kind(const mot_graph_node *n, const char *k) { return !strcmp(n->kind, k); }

int mot_pass_rows(const mot_pass *p) { return p->T; }
int mot_pass_vocab(const mot_pass *p) { return p->V; }
const float *mot_pass_logits(const mot_pass *p) { return p->logits; }
const int *mot_pass_targets(const mot_pass *p) { return p->targets; }

void mot_pass_free(mot_pass *p) {
    if (!p) return;
    for (int k = 0; p->lane && k < p->K; k++) free(p->lane[k].tape);
    free(p->lane), free(p->proj), free(p->att), free(p->tape_node), free(p->lane_of), free(p->logits), free(p->targets);
    free(p->snap), free(p->grads);
    mot_plan_free(p->plan[0]), mot_plan_free(p->plan[1]);
    if (p->own_slot) mot_pass_slot_free(p->slot);
    free(p->zeros);
    mot_pb_free(&p->b);
    free(p);
}

/* The op placement of graph node i (lane: its stream; the head runs on lane K). */
static void at_node(mot_pass *p, int i, mot_node_kind kind, int lane, int stack, int reverse) {
    const mot_graph_node *n = &p->g->nodes[i];
    p->b.at = (mot_plan_op){.node = kind, .lane = lane, .expert = n->expert, .stack = stack, .layer = -1,
                            .node_id = i, .reverse = reverse};
}

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
    *s = (grad_slot){value, count, mot_pb_floats(&p->b, count)};
    return s->buf;
}

/* y[R, out] (accumulate: +=, through scratch) = x W^T (+ b) with a trainable f32 linear. */
static void linear_fwd(mot_pass *p, const mot_train_linear *l, mot_buf x, mot_buf y, int accumulate, mot_buf scratch) {
    mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_FORWARD, MOT_OP_MATMUL);
    const mot_weight *w = mot_pb_weight(&p->b, mot_train_weight(l));
    if (!op || !w) return;
    op->n_w = 1, op->w[0] = w, op->bias[0] = l->b;
    op->matmul.x = x, op->matmul.y[0] = y, op->matmul.accumulate = accumulate, op->matmul.scratch = scratch;
}

/* dW += dy^T x, db += sum dy; dx (+)= dy W when dx is present. */
static void linear_bwd(mot_pass *p, const mot_train_linear *l, mot_buf x, mot_buf dy, mot_buf dx, int accumulate,
                       int R) {
    const mot_buf dw = grad_of(p, l->w, (size_t)l->out * l->in), db = l->b ? grad_of(p, l->b, l->out) : (mot_buf){0};
    mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_BACKWARD, MOT_OP_MATMUL_BACKWARD_W);
    if (op) op->matmul_backward_w = (mot_op_matmul_backward_w){dy, x, dw, db, R, l->out, l->in};
    if (!dx.bytes) return;
    op = mot_pb_op(&p->b, MOT_PB_BACKWARD, MOT_OP_MATMUL_BACKWARD_X);
    const mot_weight *w = mot_pb_weight(&p->b, mot_train_weight(l));
    if (!op || !w) return;
    op->n_w = 1, op->w[0] = w;
    op->matmul_backward_x = (mot_op_matmul_backward_x){dy, dx, R, accumulate};
}

static void copy_op(mot_pass *p, int dir, mot_buf src, mot_buf dst) {
    mot_plan_op *op = mot_pb_op(&p->b, dir, MOT_OP_COPY);
    if (op) op->copy = (mot_op_copy){src, dst};
}

static void add_op(mot_pass *p, int dir, mot_buf x, mot_buf y) {
    mot_plan_op *op = mot_pb_op(&p->b, dir, MOT_OP_ADD);
    if (op) op->add = (mot_op_add){x, y, (int64_t)(x.bytes / sizeof(float))};
}

/* ---- forward ---- */

/* Which stack nodes keep a tape: those of a lane whose input depends on trained tensors (an
 * earlier reverse projector) and whose output reaches the loss (a later forward projector of
 * the lane, or the primary's sampler). The others' gradient is not needed. */
static void choose_tapes(mot_pass *p) {
    const mot_graph *g = p->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const mot_graph_node *n = &g->nodes[i];
        p->tape_node[i] = 0;
        if (!is_kind(n, "stack") || n->expert < 0 || p->lane_of[n->expert] < 0) continue;
        int lane = p->lane_of[n->expert], before = 0, after = 0;
        for (int j = 0; j < i; j++) {
            const mot_graph_node *b = &g->nodes[j];
            before |= b->expert == n->expert && is_kind(b, "projector") && b->reverse;
        }
        for (int j = i + 1; j < g->n_nodes; j++) {
            const mot_graph_node *a = &g->nodes[j];
            if (a->expert != n->expert) continue;
            after |= is_kind(a, "projector") && !a->reverse;
            after |= lane == 0 && is_kind(a, "sampler");
        }
        p->tape_node[i] = before && after;
    }
}

void mot_pass_prefix_free(mot_pass_prefix *c) {
    for (int i = 0; c && c->x && i < c->n; i++) free(c->x[i]);
    if (c) free(c->x), *c = (mot_pass_prefix){0};
}

/* Whether stack node i runs before every reverse projector of its expert. */
static int leading_stack(const mot_pass *p, int i) {
    const mot_graph_node *n = &p->g->nodes[i];
    for (int j = 0; j < i; j++) {
        const mot_graph_node *b = &p->g->nodes[j];
        if (b->expert == n->expert && is_kind(b, "projector") && b->reverse) return 0;
    }
    return 1;
}

static void run_layers(mot_pass *p, int lane, int first, int last, int tape) {
    lane_state *L = &p->lane[lane];
    for (int l = first; l <= last; l++) {
        p->b.at.layer = l;
        mot_pb_layer_forward(&p->b, L->ex, l, L->x, L->R, &p->s, tape ? &L->tape[l] : NULL);
    }
    p->b.at.layer = -1;
}

static void forward_projector(mot_pass *p, int q, int lane) {
    const mot_train_inter *iw = &p->w->inter[q];
    lane_state *L = &p->lane[lane];
    proj_state *s = &p->proj[q * p->K + lane];
    const size_t R = (size_t)L->R, ds = (size_t)p->ds;
    s->present = 1;
    s->z = mot_pb_floats(&p->b, R * ds);
    s->n = iw->norm_w ? mot_pb_floats(&p->b, R * ds) : s->z;
    s->k = mot_pb_floats(&p->b, R * ds), s->v = mot_pb_floats(&p->b, R * ds);
    s->h = L->x;
    if (p->tape) { /* later reverse projectors change x; the backward of F reads it as it is now */
        s->h = mot_pb_floats(&p->b, R * L->d);
        copy_op(p, MOT_PB_FORWARD, L->x, s->h);
    }
    linear_fwd(p, &iw->fwd[L->expert], L->x, s->z, 0, (mot_buf){0});
    if (iw->norm_w) {
        mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_FORWARD, MOT_OP_LAYERNORM);
        if (op) op->layernorm = (mot_op_layernorm){s->z, s->n, iw->norm_w, iw->norm_b, p->ds, 1e-5f};
    }
    linear_fwd(p, &iw->k, s->n, s->k, 0, (mot_buf){0});
    linear_fwd(p, &iw->v, s->n, s->v, 0, (mot_buf){0});
}

/* The cross-attention node i of stack q: the primary's queries over the latents of the active
 * experts in its `inputs` (its speakers); a listener's latent is not attended (docs/pipeline.md). */
static mot_status attention(mot_pass *p, int i, int q, uint64_t dropout_seed) {
    const mot_train_inter *iw = &p->w->inter[q];
    const mot_graph_node *n = &p->g->nodes[i];
    const int *in = mot_graph_node_inputs(n);
    att_state *s = &p->att[q];
    const lane_state *P = &p->lane[0];
    const size_t R = (size_t)P->R, ds = (size_t)p->ds;
    int speaks[MOT_MAX_LANES] = {0};
    for (int k = 0; k < n->n_inputs - n->n_listeners; k++) {
        const int e = p->g->nodes[in[k]].expert;
        if (e >= 0 && p->lane_of[e] >= 0) speaks[p->lane_of[e]] = 1;
    }
    mot_plan_op x = {0};
    s->n_seg = 0;
    for (int k = 0; k < p->K; k++) {
        const proj_state *ps = &p->proj[q * p->K + k];
        if (!ps->present && (k == 0 || speaks[k])) {
            return mot_fail(MOT_ERR_UNSUPPORTED, "training: %s: expert '%s' has no forward projector before it", n->id,
                            p->m->pipe->experts[p->lane[k].expert].name);
        }
        if (!speaks[k]) continue;
        /* SPEC 5: the prefill rule over the whole sequences, N_m = R_m (each lane's step
         * feeds R_m rows with n_prompt R_m) */
        x.cross_attention.seg_lane[s->n_seg] = k;
        x.cross_attention.seg_k[s->n_seg] = ps->k, x.cross_attention.seg_v[s->n_seg] = ps->v;
        s->seg_lane[s->n_seg++] = k;
    }
    s->present = 1;
    s->q = mot_pb_floats(&p->b, R * ds), s->a = mot_pb_floats(&p->b, R * ds), s->o = mot_pb_floats(&p->b, R * ds);
    linear_fwd(p, &iw->q, p->proj[q * p->K].n, s->q, 0, (mot_buf){0});
    mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_FORWARD, MOT_OP_CROSS_ATTENTION);
    if (op) {
        op->cross_attention = x.cross_attention;
        op->cross_attention.q = s->q, op->cross_attention.out = s->a;
        op->cross_attention.d = p->ds, op->cross_attention.heads = p->H, op->cross_attention.n_seg = s->n_seg;
        op->cross_attention.scale = 1.0f / sqrtf((float)(p->ds / p->H));
    }
    linear_fwd(p, &iw->o, s->a, s->o, 0, (mot_buf){0});
    if (p->dropout > 0) { /* inverted dropout on o, training only (SPEC 5) */
        s->dropout_seed = dropout_seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(q + 1));
        op = mot_pb_op(&p->b, MOT_PB_FORWARD, MOT_OP_DROPOUT);
        if (op) op->dropout = (mot_op_dropout){s->o, s->o, (int64_t)(R * ds), p->dropout, s->dropout_seed};
    }
    return MOT_OK;
}

/* The lane's reverse projector: the primary reads the cross-attention when the graph says so,
 * every other lane its own z (SPEC 1.3). Sets *from_att. */
static mot_status reverse_source(const mot_pass *p, int i, int lane, int *from_att) {
    const mot_graph_node *n = &p->g->nodes[i];
    const int *in = mot_graph_node_inputs(n);
    int att = 0, own = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const mot_graph_node *src = &p->g->nodes[in[k]];
        att |= is_kind(src, "attention");
        own |= is_kind(src, "projector") && !src->reverse;
    }
    *from_att = lane == 0 && att;
    if (!*from_att && !own) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "training: %s: no input on this route", n->id);
    }
    return MOT_OK;
}

static mot_status reverse_projector(mot_pass *p, int i, int q, int lane) {
    lane_state *L = &p->lane[lane];
    int from_att;
    MOT_TRY(reverse_source(p, i, lane, &from_att));
    if ((!from_att && !p->proj[q * p->K + lane].present) || (from_att && !p->att[q].present)) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "training: %s runs before its input", p->g->nodes[i].id);
    }
    const mot_buf src = from_att ? p->att[q].o : p->proj[q * p->K + lane].z;
    linear_fwd(p, &p->w->inter[q].rev[L->expert], src, L->x, 1, p->s.tmp);
    return MOT_OK;
}

/* The primary's completion rows through the head, on lane K (its step feeds T rows). */
static void sampler(mot_pass *p) {
    const lane_state *P = &p->lane[0];
    p->T = P->R - P->N;
    p->V = P->ex->cfg.vocab;
    /* row N-1+t predicts token N+t */
    p->head_x = mot_pb_rows(P->x, P->N - 1, p->T, P->d);
    p->head_xn = mot_pb_floats(&p->b, (size_t)p->T * P->d);
    p->logits_buf = mot_pb_floats(&p->b, (size_t)p->T * p->V);
    p->b.at.lane = p->K;
    mot_pb_head_forward(&p->b, P->ex, p->head_x, p->head_xn, p->logits_buf);
}

/* Stack node i of the lane: from the example's prefix when an earlier pass left it, else the
 * layers (leaving a copy for the prefix when it is leading). */
static void stack_node(mot_pass *p, mot_pass_prefix *c, int i, int lane) {
    const mot_graph_node *n = &p->g->nodes[i];
    lane_state *L = &p->lane[lane];
    const int shared = c && !p->tape_node[i] && leading_stack(p, i);
    if (shared && c->x && c->x[i]) {
        p->snap[p->n_snap] = (prefix_snap){i, mot_pb_floats(&p->b, (size_t)L->R * L->d), 0};
        copy_op(p, MOT_PB_FORWARD, p->snap[p->n_snap++].buf, L->x);
        return;
    }
    run_layers(p, lane, n->first_layer, n->last_layer, p->tape_node[i]);
    if (shared) {
        p->snap[p->n_snap] = (prefix_snap){i, mot_pb_floats(&p->b, (size_t)L->R * L->d), 1};
        copy_op(p, MOT_PB_FORWARD, L->x, p->snap[p->n_snap++].buf);
    }
}

static void lanes_init(mot_pass *p, const mot_train_example *e, const mot_pass_opts *o) {
    const mot_expert *ex[MOT_MAX_LANES];
    int R[MOT_MAX_LANES];
    for (int k = 0; k < p->K; k++) {
        ex[k] = p->m->experts[o->active[k]], R[k] = e->n[o->active[k]];
    }
    mot_pb_scratch_make(&p->b, ex, R, p->K, p->tape, &p->s);
    for (int k = 0; k < p->K; k++) {
        lane_state *L = &p->lane[k];
        L->expert = o->active[k];
        L->ex = p->m->experts[L->expert];
        L->R = e->n[L->expert], L->N = e->n_prompt[L->expert], L->d = L->ex->cfg.hidden;
        L->ids = mot_train_example_ids(e, L->expert);
        L->tokens = mot_pb_buf(&p->b, (size_t)L->R * sizeof(int32_t));
        L->x = mot_pb_floats(&p->b, (size_t)L->R * L->d);
        p->b.at = (mot_plan_op){.node = MOT_NODE_STACK, .lane = k, .expert = L->expert, .stack = 0, .layer = -1};
        mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_FORWARD, MOT_OP_EMBED);
        if (op) op->n_w = 1, op->w[0] = &L->ex->embed, op->embed = (mot_op_embed){L->tokens, L->x, L->d};
    }
}

mot_status mot_pass_check_graph(const mot_model *m) {
    for (int i = 0; i < m->graph.n_nodes; i++) {
        const mot_graph_node *n = &m->graph.nodes[i];
        if (is_kind(n, "attention") && n->query > 0) {
            return mot_fail_at(m->pipe->file, n->pos.line, n->pos.col,
                               "graph[%d] (%s): query: %d: training does not support a cross-attention queried by a "
                               "non-primary expert (its backward is not written; train with query 0, the primary, "
                               "only)", i, n->id, n->query);
        }
    }
    return MOT_OK;
}

static void backward_build(mot_pass *p);

/* The forward's nodes into p->b (and, with a tape, the backward's). */
static mot_status build(mot_pass *p, const mot_train_example *e, const mot_pass_opts *o) {
    lanes_init(p, e, o);
    if (p->alone) {
        run_layers(p, 0, 0, p->lane[0].ex->cfg.n_layers - 1, 0);
        sampler(p);
        return MOT_OK;
    }
    if (o->tape) choose_tapes(p);
    int sampled = 0;
    for (int i = 0; i < p->g->n_nodes; i++) {
        const mot_graph_node *n = &p->g->nodes[i];
        const int lane = n->expert >= 0 ? p->lane_of[n->expert] : (is_kind(n, "attention") ? 0 : -1);
        if (lane < 0 || is_kind(n, "router")) continue;
        if (is_kind(n, "stack")) {
            at_node(p, i, MOT_NODE_STACK, lane, n->stack, 0);
            stack_node(p, o->prefix, i, lane);
        } else if (is_kind(n, "projector") && !n->reverse) {
            at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 0);
            forward_projector(p, n->stack, lane);
        } else if (is_kind(n, "attention")) {
            at_node(p, i, MOT_NODE_ATTENTION, 0, n->stack, 0);
            MOT_TRY(attention(p, i, n->stack, o->dropout_seed));
        } else if (is_kind(n, "projector")) {
            at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 1);
            MOT_TRY(reverse_projector(p, i, n->stack, lane));
        } else if (is_kind(n, "sampler") && lane == 0) {
            at_node(p, i, MOT_NODE_SAMPLER, 0, -1, 0);
            sampler(p), sampled = 1;
        }
    }
    if (!sampled) return mot_fail(MOT_ERR_UNSUPPORTED, "training: the primary never reaches a sampler");
    if (o->tape) backward_build(p);
    return MOT_OK;
}

/* The step state of a training pass: every lane one prefill of its whole sequence, and the
 * head lane K the primary's T completion rows. */
static mot_step_state step_state(const mot_pass *p) {
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.prefill = 1;
    s.n_lanes = p->K + 1;
    for (int k = 0; k < p->K; k++) {
        const int R = p->lane[k].R;
        s.lane[k] = (mot_lane_step){.n_new = R, .n_prompt = R, .alive = 1};
    }
    s.lane[p->K] = (mot_lane_step){.n_new = p->T, .n_prompt = p->T, .alive = 1};
    return s;
}

/* The slot's backend for this pass (its lanes: the routed set's, then the head's, the
 * primary's expert). */
static mot_status ready_backend(mot_pass *p) {
    const mot_expert *ex[MOT_MAX_LANES];
    int expert[MOT_MAX_LANES], rows[MOT_MAX_LANES];
    for (int k = 0; k <= p->K; k++) {
        const lane_state *L = &p->lane[k < p->K ? k : 0];
        ex[k] = L->ex, expert[k] = L->expert, rows[k] = k < p->K ? L->R : p->T;
    }
    return mot_pass_slot_ready(p->slot, p->K + 1, ex, expert, rows, p->b.bytes, &p->be);
}

static mot_status run_forward(mot_pass *p, mot_pass_prefix *c) {
    MOT_TRY(ready_backend(p));
    const mot_step_state s = step_state(p);
    MOT_TRY(p->be->write(p->be, (mot_buf){0, sizeof s}, &s));
    for (int k = 0; k < p->K; k++) {
        const lane_state *L = &p->lane[k];
        int32_t *t = malloc(L->tokens.bytes);
        if (!t) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        for (int r = 0; r < L->R; r++) t[r] = L->ids[r];
        const mot_status st = p->be->write(p->be, L->tokens, t);
        free(t);
        MOT_TRY(st);
    }
    for (int i = 0; i < p->n_snap; i++) {
        if (!p->snap[i].out) MOT_TRY(p->be->write(p->be, p->snap[i].buf, c->x[p->snap[i].node]));
    }
    MOT_TRY(p->be->execute(p->be, p->plan[MOT_PB_FORWARD]));
    p->logits = malloc(p->logits_buf.bytes);
    p->targets = malloc((size_t)(p->T > 0 ? p->T : 1) * sizeof *p->targets);
    if (!p->logits || !p->targets) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    MOT_TRY(p->be->read(p->be, p->logits_buf, p->logits));
    for (int t = 0; t < p->T; t++) p->targets[t] = p->lane[0].ids[p->lane[0].N + t];
    for (int i = 0; i < p->n_snap; i++) {
        if (!p->snap[i].out) continue;
        if (!c->x) {
            c->x = calloc((size_t)p->g->n_nodes, sizeof *c->x);
            if (!c->x) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
            c->n = p->g->n_nodes;
        }
        float *x = malloc(p->snap[i].buf.bytes);
        if (!x) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        const mot_status st = p->be->read(p->be, p->snap[i].buf, x);
        if (st != MOT_OK) {
            free(x);
            return st;
        }
        c->x[p->snap[i].node] = x;
    }
    return MOT_OK;
}

mot_status mot_pass_forward(const mot_model *m, const mot_train_view *w, const mot_train_example *e,
                            const mot_pass_opts *o, mot_pass **out) {
    *out = NULL;
    MOT_TRY(mot_pass_check_graph(m));
    if (o->k >= MOT_MAX_LANES) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "training: %d active experts; training runs at most %d (one lane of the "
                        "pass is the LM head's)", o->k, MOT_MAX_LANES - 1);
    }
    if (o->k < 1 || (o->alone && o->k != 1)) {
        return mot_fail(MOT_ERR_INTERNAL, "training: a pass of %d experts", o->k);
    }
    mot_pass *p = calloc(1, sizeof *p);
    if (!p) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    p->m = m, p->w = w, p->g = &m->graph, p->K = o->k, p->alone = o->alone, p->tape = o->tape && !o->alone;
    p->Q = m->pipe->interaction.stacks, p->ds = m->pipe->interaction.shared_dim, p->H = m->pipe->interaction.heads;
    p->dropout = o->dropout, p->slot = o->slot;
    p->lane = calloc((size_t)p->K, sizeof *p->lane);
    p->proj = calloc((size_t)p->Q * p->K + 1, sizeof *p->proj);
    p->att = calloc((size_t)p->Q + 1, sizeof *p->att);
    p->tape_node = calloc((size_t)p->g->n_nodes + 1, sizeof *p->tape_node);
    p->snap = calloc((size_t)p->g->n_nodes + 1, sizeof *p->snap);
    p->lane_of = malloc((size_t)m->n_experts * sizeof *p->lane_of);
    mot_status st = p->lane && p->proj && p->att && p->tape_node && p->snap && p->lane_of
                        ? MOT_OK
                        : mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    for (int x = 0; st == MOT_OK && x < m->n_experts; x++) p->lane_of[x] = -1;
    for (int k = 0; st == MOT_OK && k < p->K; k++) {
        p->lane_of[o->active[k]] = k;
        const mot_expert *ex = m->experts[o->active[k]];
        p->lane[k].tape = calloc((size_t)ex->cfg.n_layers, sizeof *p->lane[k].tape);
        if (!p->lane[k].tape) st = mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    }
    mot_pb_buf(&p->b, sizeof(mot_step_state)); /* at offset 0, as every arena's */
    if (st == MOT_OK) st = build(p, e, o);
    if (st == MOT_OK && p->b.failed) st = mot_fail(MOT_ERR_NOMEM, "training: out of memory building the pass");
    if (st == MOT_OK && !p->slot) {
        st = mot_pass_slot_create_k(m, w, o->backend, NULL, p->K, &p->slot);
        p->own_slot = st == MOT_OK;
    }
    if (st == MOT_OK) st = mot_pb_plan(&p->b, MOT_PB_FORWARD, p->K + 1, &p->plan[MOT_PB_FORWARD]);
    if (st == MOT_OK && p->tape) st = mot_pb_plan(&p->b, MOT_PB_BACKWARD, p->K + 1, &p->plan[MOT_PB_BACKWARD]);
    if (st == MOT_OK) st = run_forward(p, o->prefix);
    if (st != MOT_OK) {
        mot_pass_free(p);
        return st;
    }
    if (!p->tape && p->own_slot) { /* eval: keep the logits only */
        mot_pass_slot_free(p->slot);
        p->slot = NULL, p->be = NULL, p->own_slot = 0;
    }
    *out = p;
    return MOT_OK;
}

/* ---- backward: built with the forward (the arena holds both), run by mot_pass_backward ---- */

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
    reverse_source(p, i, lane, &from_att); /* checked by the forward */
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
static void backward_build(mot_pass *p) {
    for (int i = p->g->n_nodes - 1; i >= 0; i--) {
        const mot_graph_node *n = &p->g->nodes[i];
        const int lane = n->expert >= 0 ? p->lane_of[n->expert] : (is_kind(n, "attention") ? 0 : -1);
        if (lane < 0 || is_kind(n, "router")) continue;
        if (is_kind(n, "sampler")) {
            if (lane != 0) continue;
            at_node(p, i, MOT_NODE_SAMPLER, 0, -1, 0);
            lane_state *P = &p->lane[0];
            p->dlogits_buf = mot_pb_floats(&p->b, (size_t)p->T * p->V);
            p->head_dy = mot_pb_floats(&p->b, (size_t)p->T * P->d);
            mot_pb_head_backward(&p->b, P->ex, p->head_x, p->T, p->dlogits_buf, p->head_dy,
                                 mot_pb_rows(lane_dx(p, P), P->N - 1, p->T, P->d));
            P->live = 1;
        } else if (is_kind(n, "projector") && n->reverse) {
            at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 1);
            backward_reverse(p, i, n->stack, lane);
        } else if (is_kind(n, "attention")) {
            at_node(p, i, MOT_NODE_ATTENTION, 0, n->stack, 0);
            backward_attention(p, n->stack);
        } else if (is_kind(n, "projector")) {
            at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 0);
            backward_forward_projector(p, n->stack, lane);
        } else if (is_kind(n, "stack")) {
            at_node(p, i, MOT_NODE_STACK, lane, n->stack, 0);
            backward_stack(p, i, lane);
        }
    }
}

/* A value pointer of view w as the same tensor's place in view g (the same layout over
 * another array). */
static float *in_view(const mot_train_view *w, const mot_train_view *g, const float *v) {
    return g->base + (v - w->base);
}

mot_status mot_pass_backward(mot_pass *p, const float *dlogits, const mot_train_view *g, float *dgate) {
    if (p->alone || !p->plan[MOT_PB_BACKWARD] || !p->be) {
        return mot_fail(MOT_ERR_INTERNAL, "training: a backward needs a pass run with a tape");
    }
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
