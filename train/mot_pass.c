#include "train/mot_pass.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"
#include "ops/step_state.h"
#include "train/expert_layers.h"

/* One active expert (a lane: 0 = primary). */
typedef struct {
    const mot_expert *ex;
    int expert, R, N, d;
    const int *ids;        /* [R] its tokens: prompt, then completion */
    float *x;              /* [R, d] the hidden state as the nodes advance it */
    mot_layer_tape *tape;  /* [n_layers]; a layer has a tape when tape[l].x_in */
    float *dx;             /* [R, d] backward: gradient at the current node */
    int live;              /* dx is not known to be zero */
} lane_state;

/* Lane k's forward projector of stack q: z = h F^T (+b), n = norm(z), K, V (V times the gate). */
typedef struct {
    int present;
    float *h, *z, *n, *k, *v, *vg; /* h [R, d]; the others [R, d_s] */
    float *dz, *dn;                /* backward */
} proj_state;

/* The cross-attention of stack q (the primary's queries over its speakers' keys). */
typedef struct {
    int present;
    int n_seg, seg_lane[MOT_MAX_LANES]; /* the speaking lanes, ascending (listeners are not attended) */
    float *q, *a, *o;  /* [R_p, d_s]: queries, attention output, o after o_proj (and dropout) */
    uint8_t *keep;     /* [R_p * d_s] dropout's kept elements, NULL without dropout */
    float *d_o;        /* backward: gradient at o */
} att_state;

struct mot_pass {
    const mot_model *m;
    const mot_train_view *w;
    const mot_graph *g;
    int K, Q, ds, H, alone;
    lane_state *lane;   /* [K] */
    float gate[MOT_MAX_LANES];
    int *lane_of;       /* [M] expert -> lane, -1 when inactive */
    proj_state *proj;   /* [Q * K] */
    att_state *att;     /* [Q] */
    int *tape_node;     /* [n_nodes] whether a stack node keeps its tape */
    float dropout;
    int T, V;
    float *logits;      /* [T, V] */
    int *targets;       /* [T] */
};

static float *zalloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static float *falloc(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

static int is_kind(const mot_graph_node *n, const char *k) { return !strcmp(n->kind, k); }

int mot_pass_rows(const mot_pass *p) { return p->T; }
int mot_pass_vocab(const mot_pass *p) { return p->V; }
const float *mot_pass_logits(const mot_pass *p) { return p->logits; }
const int *mot_pass_targets(const mot_pass *p) { return p->targets; }

static void proj_free(proj_state *s) {
    free(s->h), free(s->z), free(s->n), free(s->k), free(s->v), free(s->vg), free(s->dz), free(s->dn);
}

void mot_pass_free(mot_pass *p) {
    if (!p) return;
    for (int k = 0; p->lane && k < p->K; k++) {
        lane_state *L = &p->lane[k];
        for (int l = 0; L->tape && l < L->ex->cfg.n_layers; l++) mot_layer_tape_free(&L->tape[l]);
        free(L->tape), free(L->x), free(L->dx);
    }
    for (int i = 0; p->proj && i < p->Q * p->K; i++) proj_free(&p->proj[i]);
    for (int q = 0; p->att && q < p->Q; q++) {
        free(p->att[q].q), free(p->att[q].a), free(p->att[q].o), free(p->att[q].keep), free(p->att[q].d_o);
    }
    free(p->lane), free(p->proj), free(p->att), free(p->tape_node), free(p->lane_of), free(p->logits), free(p->targets);
    free(p);
}

/* y[R, out] = x W^T (+ b) with a trainable f32 linear. */
static void linear_fwd(const mot_train_linear *l, const float *x, float *y, int R) {
    mot_weight w = mot_train_weight(l);
    mot_cpu_matmul(y, x, &w, R);
    if (l->b) {
        for (int r = 0; r < R; r++)
            for (int i = 0; i < l->out; i++) y[(size_t)r * l->out + i] += l->b[i];
    }
}

/* dW += dy^T x, db += sum dy; dx (+)= dy W when dx is not NULL. */
static void linear_bwd(const mot_train_linear *l, const mot_train_linear *gl, const float *x, const float *dy,
                       float *dx, int accumulate, int R) {
    mot_cpu_matmul_backward_w(gl->w, gl->b, dy, x, R, l->out, l->in);
    if (dx) {
        mot_weight w = mot_train_weight(l);
        mot_cpu_matmul_backward_x(dx, dy, &w, R, accumulate);
    }
}

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

static mot_status run_layers(mot_pass *p, int lane, int first, int last, int tape) {
    lane_state *L = &p->lane[lane];
    for (int l = first; l <= last; l++) {
        MOT_TRY(mot_train_layer_forward(L->ex, l, L->x, L->R, tape ? &L->tape[l] : NULL));
    }
    return MOT_OK;
}

static mot_status forward_projector(mot_pass *p, int q, int lane) {
    const mot_train_inter *iw = &p->w->inter[q];
    lane_state *L = &p->lane[lane];
    proj_state *s = &p->proj[q * p->K + lane];
    const size_t R = (size_t)L->R, ds = (size_t)p->ds;
    s->present = 1;
    s->h = falloc(R * L->d), s->z = falloc(R * ds), s->n = falloc(R * ds), s->k = falloc(R * ds);
    s->v = falloc(R * ds), s->vg = falloc(R * ds);
    if (!s->h || !s->z || !s->n || !s->k || !s->v || !s->vg) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    memcpy(s->h, L->x, R * L->d * sizeof(float));
    linear_fwd(&iw->fwd[L->expert], L->x, s->z, L->R);
    if (iw->norm_w) mot_cpu_layernorm(s->n, s->z, iw->norm_w, iw->norm_b, L->R, p->ds, 1e-5f);
    else memcpy(s->n, s->z, R * ds * sizeof(float));
    linear_fwd(&iw->k, s->n, s->k, L->R);
    linear_fwd(&iw->v, s->n, s->v, L->R);
    for (size_t i = 0; i < R * ds; i++) s->vg[i] = s->v[i] * p->gate[lane];
    return MOT_OK;
}

/* A uniform draw in [0, 1) from a splitmix stream. */
static double uniform01(uint64_t *x) { return (double)(mot_splitmix64(x) >> 11) * 0x1.0p-53; }

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
    mot_kv_segment seg[MOT_MAX_LANES];
    s->n_seg = 0;
    for (int k = 0; k < p->K; k++) {
        const proj_state *ps = &p->proj[q * p->K + k];
        if (!ps->present && (k == 0 || speaks[k])) {
            return mot_fail(MOT_ERR_UNSUPPORTED, "training: %s: expert '%s' has no forward projector before it", n->id,
                            p->m->pipe->experts[p->lane[k].expert].name);
        }
        if (!speaks[k]) continue;
        /* SPEC 5: the prefill rule over the whole sequences, N_m = R_m */
        seg[s->n_seg] = (mot_kv_segment){.k = ps->k, .v = ps->vg, .rows = p->lane[k].R, .n_prompt = p->lane[k].R};
        s->seg_lane[s->n_seg++] = k;
    }
    s->present = 1;
    s->q = falloc(R * ds), s->a = falloc(R * ds), s->o = falloc(R * ds);
    if (!s->q || !s->a || !s->o) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    linear_fwd(&iw->q, p->proj[q * p->K].n, s->q, P->R);
    mot_cpu_cross_attention(s->a, s->q, P->R, p->H, p->ds, seg, s->n_seg, 1);
    linear_fwd(&iw->o, s->a, s->o, P->R);
    if (p->dropout > 0) { /* inverted dropout on o, training only (SPEC 5) */
        s->keep = malloc(R * ds);
        if (!s->keep) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        uint64_t x = dropout_seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(q + 1));
        const float scale = 1.0f / (1.0f - p->dropout);
        for (size_t i = 0; i < R * ds; i++) {
            s->keep[i] = uniform01(&x) >= p->dropout;
            s->o[i] = s->keep[i] ? s->o[i] * scale : 0.0f;
        }
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
    const mot_train_inter *iw = &p->w->inter[q];
    lane_state *L = &p->lane[lane];
    int from_att;
    MOT_TRY(reverse_source(p, i, lane, &from_att));
    const float *src = from_att ? p->att[q].o : p->proj[q * p->K + lane].z;
    if (!src || (!from_att && !p->proj[q * p->K + lane].present) || (from_att && !p->att[q].present)) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "training: %s runs before its input", p->g->nodes[i].id);
    }
    float *y = falloc((size_t)L->R * L->d);
    if (!y) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    linear_fwd(&iw->rev[L->expert], src, y, L->R);
    for (size_t j = 0; j < (size_t)L->R * L->d; j++) L->x[j] += y[j];
    free(y);
    return MOT_OK;
}

static mot_status sampler(mot_pass *p) {
    const lane_state *P = &p->lane[0];
    p->T = P->R - P->N;
    p->V = P->ex->cfg.vocab;
    p->logits = falloc((size_t)p->T * p->V);
    p->targets = malloc((size_t)(p->T > 0 ? p->T : 1) * sizeof *p->targets);
    if (!p->logits || !p->targets) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    /* row N-1+t predicts token N+t */
    for (int t = 0; t < p->T; t++) p->targets[t] = P->ids[P->N + t];
    return mot_train_head_forward(P->ex, P->x + (size_t)(P->N - 1) * P->d, p->T, p->logits);
}

/* Stack node i of the lane: from the example's prefix when an earlier pass left it, else
 * the layers (leaving a copy in the prefix when it is leading). */
static mot_status stack_node(mot_pass *p, mot_pass_prefix *c, int i, int lane) {
    const mot_graph_node *n = &p->g->nodes[i];
    lane_state *L = &p->lane[lane];
    const size_t bytes = (size_t)L->R * L->d * sizeof(float);
    const int shared = c && !p->tape_node[i] && leading_stack(p, i);
    if (shared && !c->x) {
        c->x = calloc((size_t)p->g->n_nodes, sizeof *c->x);
        if (!c->x) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        c->n = p->g->n_nodes;
    }
    if (shared && c->x[i]) {
        memcpy(L->x, c->x[i], bytes);
        return MOT_OK;
    }
    MOT_TRY(run_layers(p, lane, n->first_layer, n->last_layer, p->tape_node[i]));
    if (shared && (c->x[i] = malloc(bytes ? bytes : 1))) memcpy(c->x[i], L->x, bytes);
    return MOT_OK;
}

static mot_status lanes_init(mot_pass *p, const mot_train_example *e, const mot_pass_opts *o) {
    for (int k = 0; k < p->K; k++) {
        lane_state *L = &p->lane[k];
        L->expert = o->active[k];
        L->ex = p->m->experts[L->expert];
        L->R = e->n[L->expert], L->N = e->n_prompt[L->expert], L->d = L->ex->cfg.hidden;
        L->x = falloc((size_t)L->R * L->d);
        L->tape = calloc((size_t)L->ex->cfg.n_layers, sizeof *L->tape);
        if (!L->x || !L->tape) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        L->ids = mot_train_example_ids(e, L->expert);
        for (int t = 0; t < L->R; t++) mot_cpu_embed_row(L->x + (size_t)t * L->d, &L->ex->embed, L->ids[t]);
        p->gate[k] = o->gate ? o->gate[k] : 1.0f;
    }
    return MOT_OK;
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

mot_status mot_pass_forward(const mot_model *m, const mot_train_view *w, const mot_train_example *e,
                            const mot_pass_opts *o, mot_pass **out) {
    *out = NULL;
    MOT_TRY(mot_pass_check_graph(m));
    if (o->k < 1 || o->k > MOT_MAX_LANES || (o->alone && o->k != 1)) {
        return mot_fail(MOT_ERR_INTERNAL, "training: a pass of %d experts", o->k);
    }
    mot_pass *p = calloc(1, sizeof *p);
    if (!p) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    p->m = m, p->w = w, p->g = &m->graph, p->K = o->k, p->alone = o->alone;
    p->Q = m->pipe->interaction.stacks, p->ds = m->pipe->interaction.shared_dim, p->H = m->pipe->interaction.heads;
    p->dropout = o->dropout;
    p->lane = calloc((size_t)p->K, sizeof *p->lane);
    p->proj = calloc((size_t)p->Q * p->K, sizeof *p->proj);
    p->att = calloc((size_t)p->Q, sizeof *p->att);
    p->tape_node = calloc((size_t)p->g->n_nodes + 1, sizeof *p->tape_node);
    mot_status st = p->lane && p->proj && p->att && p->tape_node ? MOT_OK
                                                                 : mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    p->lane_of = malloc((size_t)m->n_experts * sizeof *p->lane_of);
    if (!p->lane_of) st = mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    for (int x = 0; p->lane_of && x < m->n_experts; x++) p->lane_of[x] = -1;
    for (int k = 0; p->lane_of && k < p->K; k++) p->lane_of[o->active[k]] = k;
    if (st == MOT_OK) st = lanes_init(p, e, o);
    if (st == MOT_OK && p->alone) {
        st = run_layers(p, 0, 0, p->lane[0].ex->cfg.n_layers - 1, 0);
        if (st == MOT_OK) st = sampler(p);
    } else if (st == MOT_OK) {
        if (o->tape) choose_tapes(p);
        int sampled = 0;
        for (int i = 0; st == MOT_OK && i < p->g->n_nodes; i++) {
            const mot_graph_node *n = &p->g->nodes[i];
            const int lane = n->expert >= 0 ? p->lane_of[n->expert] : (is_kind(n, "attention") ? 0 : -1);
            if (lane < 0 || is_kind(n, "router")) continue;
            if (is_kind(n, "stack")) st = stack_node(p, o->prefix, i, lane);
            else if (is_kind(n, "projector") && !n->reverse) st = forward_projector(p, n->stack, lane);
            else if (is_kind(n, "attention")) st = attention(p, i, n->stack, o->dropout_seed);
            else if (is_kind(n, "projector")) st = reverse_projector(p, i, n->stack, lane);
            else if (is_kind(n, "sampler") && lane == 0) st = sampler(p), sampled = 1;
        }
        if (st == MOT_OK && !sampled) st = mot_fail(MOT_ERR_UNSUPPORTED, "training: the primary never reaches a sampler");
    }
    if (st != MOT_OK) {
        mot_pass_free(p);
        return st;
    }
    if (!o->tape) { /* eval: keep the logits only */
        for (int k = 0; k < p->K; k++) {
            free(p->lane[k].x);
            p->lane[k].x = NULL;
        }
    }
    *out = p;
    return MOT_OK;
}

/* ---- backward ---- */

static float *lane_dx(lane_state *L) {
    if (!L->dx) L->dx = zalloc((size_t)L->R * L->d);
    return L->dx;
}

static mot_status backward_reverse(mot_pass *p, const mot_train_view *g, int i, int q, int lane) {
    lane_state *L = &p->lane[lane];
    if (!L->live) return MOT_OK; /* nothing downstream of this lane's state reaches the loss */
    const mot_train_inter *iw = &p->w->inter[q];
    int from_att;
    MOT_TRY(reverse_source(p, i, lane, &from_att));
    proj_state *ps = &p->proj[q * p->K + lane];
    att_state *as = &p->att[q];
    const float *src = from_att ? as->o : ps->z;
    float **dsrc = from_att ? &as->d_o : &ps->dz;
    const size_t rows = (size_t)L->R;
    if (!*dsrc) *dsrc = zalloc(rows * p->ds);
    if (!*dsrc) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    /* h += src R^T (+ b): dR += dh^T src, dsrc += dh R */
    linear_bwd(&iw->rev[L->expert], &g->inter[q].rev[L->expert], src, L->dx, *dsrc, 1, L->R);
    return MOT_OK;
}

static mot_status backward_attention(mot_pass *p, const mot_train_view *g, int q, float *dgate) {
    att_state *s = &p->att[q];
    if (!s->d_o) return MOT_OK;
    const mot_train_inter *iw = &p->w->inter[q];
    const mot_train_inter *gw = &g->inter[q];
    const lane_state *P = &p->lane[0];
    const size_t R = (size_t)P->R, ds = (size_t)p->ds;
    if (s->keep) {
        const float scale = 1.0f / (1.0f - p->dropout);
        for (size_t i = 0; i < R * ds; i++) s->d_o[i] = s->keep[i] ? s->d_o[i] * scale : 0.0f;
    }
    float *da = falloc(R * ds), *dq = falloc(R * ds);
    mot_kv_segment seg[MOT_MAX_LANES];
    mot_kv_segment_grad dseg[MOT_MAX_LANES] = {{0}};
    mot_status st = da && dq ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    for (int m = 0; st == MOT_OK && m < s->n_seg; m++) {
        const int k = s->seg_lane[m];
        proj_state *ps = &p->proj[q * p->K + k];
        seg[m] = (mot_kv_segment){.k = ps->k, .v = ps->vg, .rows = p->lane[k].R, .n_prompt = p->lane[k].R};
        dseg[m] = (mot_kv_segment_grad){.dk = falloc((size_t)p->lane[k].R * ds), .dv = falloc((size_t)p->lane[k].R * ds)};
        if (!ps->dn) ps->dn = zalloc((size_t)p->lane[k].R * ds);
        if (!dseg[m].dk || !dseg[m].dv || !ps->dn) st = mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    }
    proj_state *pp = &p->proj[q * p->K];
    if (st == MOT_OK && !pp->dn && !(pp->dn = zalloc(R * ds))) st = mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    if (st == MOT_OK) {
        /* o = a Wo^T (+ bo) */
        linear_bwd(&iw->o, &gw->o, s->a, s->d_o, da, 0, P->R);
        mot_cpu_cross_attention_backward(dq, dseg, da, s->q, P->R, p->H, p->ds, seg, s->n_seg);
        /* q = n_p Wq^T (+ bq) */
        linear_bwd(&iw->q, &gw->q, pp->n, dq, pp->dn, 1, P->R);
        for (int m = 0; m < s->n_seg; m++) {
            const int k = s->seg_lane[m];
            proj_state *ps = &p->proj[q * p->K + k];
            const size_t n = (size_t)p->lane[k].R * ds;
            /* vg = v * gate: the gate's gradient is <dvg, v>, v's is dvg * gate */
            double dgk = 0;
            for (size_t i = 0; i < n; i++) {
                dgk += (double)dseg[m].dv[i] * ps->v[i];
                dseg[m].dv[i] *= p->gate[k];
            }
            dgate[k] += (float)dgk;
            linear_bwd(&iw->k, &gw->k, ps->n, dseg[m].dk, ps->dn, 1, p->lane[k].R);
            linear_bwd(&iw->v, &gw->v, ps->n, dseg[m].dv, ps->dn, 1, p->lane[k].R);
        }
    }
    for (int m = 0; m < s->n_seg; m++) {
        free(dseg[m].dk), free(dseg[m].dv);
    }
    free(da), free(dq);
    return st;
}

static mot_status backward_forward_projector(mot_pass *p, const mot_train_view *g, int q, int lane) {
    proj_state *ps = &p->proj[q * p->K + lane];
    lane_state *L = &p->lane[lane];
    if (!ps->dn && !ps->dz) return MOT_OK;
    const mot_train_inter *iw = &p->w->inter[q];
    const mot_train_inter *gw = &g->inter[q];
    const size_t n = (size_t)L->R * p->ds;
    if (!ps->dz) ps->dz = zalloc(n);
    float *dz_norm = ps->dn ? falloc(n) : NULL;
    if (!ps->dz || (ps->dn && !dz_norm)) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    if (ps->dn) {
        if (iw->norm_w) mot_cpu_layernorm_backward(dz_norm, gw->norm_w, gw->norm_b, ps->dn, ps->z, iw->norm_w, L->R,
                                                   p->ds, 1e-5f);
        else memcpy(dz_norm, ps->dn, n * sizeof(float));
        for (size_t i = 0; i < n; i++) ps->dz[i] += dz_norm[i];
    }
    free(dz_norm);
    if (!lane_dx(L)) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    /* z = h F^T (+ bF): the residual stream h gets dz F */
    linear_bwd(&iw->fwd[L->expert], &gw->fwd[L->expert], ps->h, ps->dz, L->dx, 1, L->R);
    L->live = 1;
    return MOT_OK;
}

static mot_status backward_stack(mot_pass *p, int i, int lane) {
    const mot_graph_node *n = &p->g->nodes[i];
    lane_state *L = &p->lane[lane];
    if (!L->live || !p->tape_node[i]) return MOT_OK;
    for (int l = n->last_layer; l >= n->first_layer; l--) {
        MOT_TRY(mot_train_layer_backward(L->ex, l, L->dx, L->R, &L->tape[l]));
    }
    return MOT_OK;
}

mot_status mot_pass_backward(mot_pass *p, const float *dlogits, const mot_train_view *g, float *dgate) {
    if (p->alone || !p->lane[0].x) {
        return mot_fail(MOT_ERR_INTERNAL, "training: a backward needs a pass run with a tape");
    }
    for (int i = p->g->n_nodes - 1; i >= 0; i--) {
        const mot_graph_node *n = &p->g->nodes[i];
        const int lane = n->expert >= 0 ? p->lane_of[n->expert] : (is_kind(n, "attention") ? 0 : -1);
        if (lane < 0 || is_kind(n, "router")) continue;
        if (is_kind(n, "sampler")) {
            if (lane != 0) continue;
            lane_state *P = &p->lane[0];
            if (!lane_dx(P)) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
            MOT_TRY(mot_train_head_backward(P->ex, P->x + (size_t)(P->N - 1) * P->d, p->T, dlogits,
                                            P->dx + (size_t)(P->N - 1) * P->d));
            P->live = 1;
        } else if (is_kind(n, "projector") && n->reverse) {
            MOT_TRY(backward_reverse(p, g, i, n->stack, lane));
        } else if (is_kind(n, "attention")) {
            MOT_TRY(backward_attention(p, g, n->stack, dgate));
        } else if (is_kind(n, "projector")) {
            MOT_TRY(backward_forward_projector(p, g, n->stack, lane));
        } else if (is_kind(n, "stack")) {
            MOT_TRY(backward_stack(p, i, lane));
        }
    }
    return MOT_OK;
}
