/* One teacher-forced pass compiled into plans (train/pass_build.h) and run by a backend: the
 * graph's nodes in order for the forward (here), the same nodes in reverse for the backward
 * (train/pass_backward.c), both decided once, when the pass is built, from the graph and the
 * routed set. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "profiling/trace.h"
#include "train/mot_pass.h"
#include "train/pass_backward.h"
#include "train/pass_internal.h"

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

/* y[R, out] (accumulate: +=, through scratch) = x W^T (+ b) with a trainable f32 linear. */
static void linear_fwd(mot_pass *p, const mot_train_linear *l, mot_buf x, mot_buf y, int accumulate, mot_buf scratch) {
    mot_plan_op *op = mot_pb_op(&p->b, MOT_PB_FORWARD, MOT_OP_MATMUL);
    const mot_weight *w = mot_pb_weight(&p->b, mot_train_weight(l));
    if (!op || !w) return;
    op->n_w = 1, op->w[0] = w, op->bias[0] = l->b;
    op->matmul.x = x, op->matmul.y[0] = y, op->matmul.accumulate = accumulate, op->matmul.scratch = scratch;
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
        if (!mot_pass_is_kind(n, "stack") || n->expert < 0 || p->lane_of[n->expert] < 0) continue;
        int lane = p->lane_of[n->expert], before = 0, after = 0;
        for (int j = 0; j < i; j++) {
            const mot_graph_node *b = &g->nodes[j];
            before |= b->expert == n->expert && mot_pass_is_kind(b, "projector") && b->reverse;
        }
        for (int j = i + 1; j < g->n_nodes; j++) {
            const mot_graph_node *a = &g->nodes[j];
            if (a->expert != n->expert) continue;
            after |= mot_pass_is_kind(a, "projector") && !a->reverse;
            after |= lane == 0 && mot_pass_is_kind(a, "sampler");
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
        if (b->expert == n->expert && mot_pass_is_kind(b, "projector") && b->reverse) return 0;
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
        mot_pb_copy(&p->b, L->x, s->h);
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

static mot_status reverse_projector(mot_pass *p, int i, int q, int lane) {
    lane_state *L = &p->lane[lane];
    int from_att;
    MOT_TRY(mot_pass_reverse_source(p, i, lane, &from_att));
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
        mot_pb_copy(&p->b, p->snap[p->n_snap++].buf, L->x);
        return;
    }
    run_layers(p, lane, n->first_layer, n->last_layer, p->tape_node[i]);
    if (shared) {
        p->snap[p->n_snap] = (prefix_snap){i, mot_pb_floats(&p->b, (size_t)L->R * L->d), 1};
        mot_pb_copy(&p->b, L->x, p->snap[p->n_snap++].buf);
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
        if (mot_pass_is_kind(n, "attention") && n->query > 0) {
            return mot_fail_at(m->pipe->file, n->pos.line, n->pos.col,
                               "graph[%d] (%s): query: %d: training does not support a cross-attention queried by a "
                               "non-primary expert (its backward is not written; train with query 0, the primary, "
                               "only)", i, n->id, n->query);
        }
    }
    return MOT_OK;
}

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
        const int lane = n->expert >= 0 ? p->lane_of[n->expert] : (mot_pass_is_kind(n, "attention") ? 0 : -1);
        if (lane < 0 || mot_pass_is_kind(n, "router")) continue;
        if (mot_pass_is_kind(n, "stack")) {
            mot_pass_at_node(p, i, MOT_NODE_STACK, lane, n->stack, 0);
            stack_node(p, o->prefix, i, lane);
        } else if (mot_pass_is_kind(n, "projector") && !n->reverse) {
            mot_pass_at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 0);
            forward_projector(p, n->stack, lane);
        } else if (mot_pass_is_kind(n, "attention")) {
            mot_pass_at_node(p, i, MOT_NODE_ATTENTION, 0, n->stack, 0);
            MOT_TRY(attention(p, i, n->stack, o->dropout_seed));
        } else if (mot_pass_is_kind(n, "projector")) {
            mot_pass_at_node(p, i, MOT_NODE_PROJECTOR, lane, n->stack, 1);
            MOT_TRY(reverse_projector(p, i, n->stack, lane));
        } else if (mot_pass_is_kind(n, "sampler") && lane == 0) {
            mot_pass_at_node(p, i, MOT_NODE_SAMPLER, 0, -1, 0);
            sampler(p), sampled = 1;
        }
    }
    if (!sampled) return mot_fail(MOT_ERR_UNSUPPORTED, "training: the primary never reaches a sampler");
    if (o->tape) mot_pass_backward_build(p);
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
    MOT_TRY(mot_pass_slot_ready(p->slot, p->seat, p->K + 1, ex, expert, rows, p->b.bytes, &p->be));
    p->epoch = mot_pass_slot_epoch(p->slot);
    return MOT_OK;
}

static mot_status forward_on_backend(mot_pass *p, mot_pass_prefix *c) {
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

/* The forward on the slot's backend; profiled: a host slice "forward" (the copies and the
 * plan), the plan's node slices in phase forward. */
static mot_status run_forward(mot_pass *p, mot_pass_prefix *c) {
    mot_trace *tr = mot_pass_slot_trace(p->slot);
    const double t0 = tr ? mot_trace_now(tr) : 0.0;
    if (tr) tr->pass++, tr->phase = MOT_TRACE_PHASE_FORWARD;
    const mot_status st = forward_on_backend(p, c);
    mot_trace_host_span(tr, "forward", t0, p->T);
    return st;
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
    for (int k = 0; o->gate && k < o->k; k++) {
        if (o->gate[k] != 1.0f) {
            return mot_fail(MOT_ERR_INTERNAL, "training: gate %g; a pass takes gate values of 1 (SPEC 5)", o->gate[k]);
        }
    }
    mot_pass *p = calloc(1, sizeof *p);
    if (!p) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    p->m = m, p->w = w, p->g = &m->graph, p->K = o->k, p->alone = o->alone, p->tape = o->tape && !o->alone;
    p->Q = m->pipe->interaction.stacks, p->ds = m->pipe->interaction.shared_dim, p->H = m->pipe->interaction.heads;
    p->dropout = o->dropout, p->slot = o->slot, p->seat = o->seat;
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
        st = mot_pass_slot_create(m, w, o->backend, NULL, p->K, &p->slot);
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
