#include "train/train_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/cpu/backward.h"
#include "ops/step_state.h"
#include "profiling/trace.h"
#include "train/mot_pass.h"
#include "train/pass_backward.h"
#include "train/pass_slot.h"

void mot_train_hparams_default(mot_train_hparams *h) {
    *h = (mot_train_hparams){.tau = 1.0f, .l_lm = 1.0f, .l_ent = 0.01f, .l_bal = 0.01f, .l_con = 0.05f,
                             .dropout = 0.1f};
}

mot_status mot_trainer_init(mot_trainer *t, const mot_model *m, const mot_train_layout *lay) {
    *t = (mot_trainer){.m = m, .lay = lay, .backend = MOT_BACKEND_CPU};
    MOT_TRY(mot_pass_check_graph(m));
    t->values = calloc(lay->total ? lay->total : 1, sizeof *t->values);
    t->grad = calloc(lay->total ? lay->total : 1, sizeof *t->grad);
    if (!t->values || !t->grad) {
        mot_trainer_free(t);
        return mot_fail(MOT_ERR_NOMEM, "training: out of memory (%zu parameters)", lay->total);
    }
    mot_status st = mot_train_values_from_model(m, lay, t->values);
    if (st == MOT_OK) st = mot_train_view_bind(m, lay, t->values, &t->w);
    if (st == MOT_OK) st = mot_train_view_bind(m, lay, t->grad, &t->g);
    if (st == MOT_OK) st = mot_trainer_set_backend(t, MOT_BACKEND_CPU, NULL);
    if (st != MOT_OK) mot_trainer_free(t);
    return st;
}

mot_status mot_trainer_set_backend(mot_trainer *t, mot_backend_kind kind, const struct mot_gpu_api *api) {
    mot_pass_slot_free(t->slot);
    t->slot = NULL;
    t->backend = kind;
    MOT_TRY(mot_pass_slot_create(t->m, &t->w, kind, api, 0, &t->slot));
    mot_pass_slot_set_trace(t->slot, t->trace);
    return MOT_OK;
}

void mot_trainer_set_trace(mot_trainer *t, struct mot_trace *trace) {
    t->trace = trace;
    mot_pass_slot_set_trace(t->slot, trace);
}

void mot_trainer_values_changed(mot_trainer *t) { mot_pass_slot_values_changed(t->slot); }

void mot_trainer_free(mot_trainer *t) {
    mot_pass_slot_free(t->slot);
    mot_train_view_free(&t->w);
    mot_train_view_free(&t->g);
    free(t->values), free(t->grad);
    *t = (mot_trainer){0};
}

void mot_train_top_k(const float *x, int M, int K, int *out) {
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int i = 0; i < M; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= out[j] == i;
            if (!taken && (best < 0 || x[i] > x[best])) best = i; /* strict: ties go to the lower index */
        }
        out[k] = best;
    }
}

/* ---- the router MLP (SPEC 1.1), f32 with double sums ---- */

typedef struct {
    float *h1, *a, *s; /* [h_r] fc1 output, gelu of it; [M] scores */
} router_act;

static float gelu(float x) { return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2)); }

static void router_forward(const mot_train_view *w, const float *z, router_act *r) {
    const mot_train_linear *f1 = &w->fc1, *f2 = &w->fc2;
    for (int i = 0; i < f1->out; i++) {
        double acc = f1->b ? f1->b[i] : 0;
        for (int j = 0; j < f1->in; j++) acc += (double)f1->w[(size_t)i * f1->in + j] * z[j];
        r->h1[i] = (float)acc;
        r->a[i] = gelu(r->h1[i]);
    }
    for (int i = 0; i < f2->out; i++) {
        double acc = f2->b ? f2->b[i] : 0;
        for (int j = 0; j < f2->in; j++) acc += (double)f2->w[(size_t)i * f2->in + j] * r->a[j];
        r->s[i] = (float)acc;
    }
}

static mot_status router_backward(const mot_train_view *w, const mot_train_view *g, const float *z,
                                  const router_act *r, const double *ds) {
    const mot_train_linear *f1 = &w->fc1, *f2 = &w->fc2;
    double *da = calloc((size_t)f2->in, sizeof *da);
    if (!da) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    for (int i = 0; i < f2->out; i++) {
        if (g->fc2.b) g->fc2.b[i] += (float)ds[i];
        for (int j = 0; j < f2->in; j++) {
            g->fc2.w[(size_t)i * f2->in + j] += (float)(ds[i] * r->a[j]);
            da[j] += ds[i] * f2->w[(size_t)i * f2->in + j];
        }
    }
    for (int i = 0; i < f1->out; i++) {
        const double x = r->h1[i];
        const double dgelu = 0.5 * (1.0 + erf(x * M_SQRT1_2)) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        const double dh = da[i] * dgelu;
        if (g->fc1.b) g->fc1.b[i] += (float)dh;
        for (int j = 0; j < f1->in; j++) g->fc1.w[(size_t)i * f1->in + j] += (float)(dh * z[j]);
    }
    free(da);
    return MOT_OK;
}

mot_status mot_train_router_scores(const mot_trainer *t, const mot_train_example *e, float *s) {
    const int hr = t->w.fc1.out;
    float *h1 = malloc(2 * (size_t)hr * sizeof *h1);
    if (!h1) return mot_fail(MOT_ERR_NOMEM, "out of memory");
    router_act r = {h1, h1 + hr, s};
    router_forward(&t->w, e->z, &r);
    free(h1);
    for (int i = 0; i < t->w.fc2.out; i++) {
        if (!isfinite(s[i])) {
            return mot_fail(MOT_ERR_INTERNAL, "data line %d: router score %d is %g: the router weights hold NaN/inf",
                            e->line, i, s[i]);
        }
    }
    return MOT_OK;
}

/* p = softmax(x) over n, in double. */
static void softmax_d(const float *x, int n, double scale, const float *add, double *p) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) {
        p[i] = ((double)x[i] + (add ? add[i] : 0)) * scale;
        mx = p[i] > mx ? p[i] : mx;
    }
    for (int i = 0; i < n; i++) sum += (p[i] = exp(p[i] - mx));
    for (int i = 0; i < n; i++) p[i] /= sum;
}

/* ds += J_softmax(p)^T dp / tau: the gradient at s of pi = softmax((s + g) / tau). */
static void softmax_back(const double *p, const double *dp, int n, double tau, double *ds) {
    double dot = 0;
    for (int i = 0; i < n; i++) dot += p[i] * dp[i];
    for (int i = 0; i < n; i++) ds[i] += p[i] * (dp[i] - dot) / tau;
}

/* One row of sym_kl: returns (KL01 + KL10) / 2 and, when scale != 0, adds its gradient times
 * scale into d0, d1 [V]. lp: scratch of 4 V doubles. */
static double sym_kl_row(const float *a, const float *b, int V, float scale, float *d0, float *d1, double *lp) {
    double *lp0 = lp, *lp1 = lp + V, *e0 = lp + 2 * (size_t)V, *e1 = lp + 3 * (size_t)V;
    double m0 = -INFINITY, m1 = -INFINITY, s0 = 0, s1 = 0;
    for (int v = 0; v < V; v++) m0 = a[v] > m0 ? a[v] : m0, m1 = b[v] > m1 ? b[v] : m1;
    for (int v = 0; v < V; v++) s0 += exp(a[v] - m0), s1 += exp(b[v] - m1);
    const double z0 = m0 + log(s0), z1 = m1 + log(s1);
    double kl01 = 0, kl10 = 0;
    for (int v = 0; v < V; v++) {
        lp0[v] = a[v] - z0, lp1[v] = b[v] - z1;
        e0[v] = exp(lp0[v]), e1[v] = exp(lp1[v]);
        kl01 += e0[v] * (lp0[v] - lp1[v]);
        kl10 += e1[v] * (lp1[v] - lp0[v]);
    }
    if (scale != 0) {
        /* d/dl0 = (p0 (lp0 - lp1 - KL01) + p0 - p1) / 2, and the mirror for l1 */
        for (int v = 0; v < V; v++) {
            const double p0 = e0[v], p1 = e1[v];
            d0[v] += (float)(scale * 0.5 * (p0 * (lp0[v] - lp1[v] - kl01) + p0 - p1));
            d1[v] += (float)(scale * 0.5 * (p1 * (lp1[v] - lp0[v] - kl10) + p1 - p0));
        }
    }
    return 0.5 * (kl01 + kl10);
}

/* The symmetric KL of the two passes' next-token distributions, summed over the T rows
 * into *out; adds its gradient times scale into d0, d1 [T, V]. Rows in parallel (each row's arithmetic
 * is the serial one); their values are added in row order, so the bits do not depend on the
 * threads. */
static mot_status sym_kl(const float *l0, const float *l1, int T, int V, float scale, float *d0, float *d1,
                         double *out) {
    double *row = malloc((size_t)(T > 0 ? T : 1) * sizeof *row);
    if (!row) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    int oom = 0;
#pragma omp parallel if (T > 1 && (size_t)T * V >= 32768)
    {
        double *lp = malloc(4 * (size_t)V * sizeof *lp);
        if (!lp) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < T; t++) {
            if (lp) {
                row[t] = sym_kl_row(l0 + (size_t)t * V, l1 + (size_t)t * V, V, scale, d0 + (size_t)t * V,
                                    d1 + (size_t)t * V, lp);
            }
        }
        free(lp);
    }
    double total = 0;
    for (int t = 0; t < T; t++) total += row[t];
    free(row);
    if (oom) return mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    *out += total;
    return MOT_OK;
}

/* Per example of the batch. */
typedef struct {
    router_act r;
    int set0[MOT_MAX_LANES], set1[MOT_MAX_LANES];
    double *pi0, *pi1, *dpi0, *dpi1, *ds; /* [M] each */
} example_route;

/* One example's two passes, their losses and backward. Adds dL/dpi into er. */
static mot_status example_passes(const mot_trainer *t, const mot_train_example *e, example_route *er, int K, double T,
                                 const mot_train_hparams *h, uint64_t seed, double *lm, double *con, long *tokens) {
    float gate[MOT_MAX_LANES];
    for (int k = 0; k < K; k++) gate[k] = 1.0f; /* 1 + pi - stopgrad(pi): value 1 */
    mot_pass_prefix prefix = {0}; /* the experts' layers before their first interaction, run once */
    mot_pass_opts o0 = {.k = K, .active = er->set0, .gate = gate, .tape = 1, .dropout = h->dropout, .slot = t->slot,
                        .dropout_seed = seed, .prefix = &prefix};
    mot_pass *p0 = NULL, *p1 = NULL;
    float *d0 = NULL, *d1 = NULL;
    mot_status st0 = mot_pass_forward(t->m, &t->w, e, &o0, &p0);
    if (st0 != MOT_OK) {
        mot_pass_prefix_free(&prefix);
        return st0;
    }
    const int rows = mot_pass_rows(p0), V = mot_pass_vocab(p0);
    mot_status st = MOT_OK;
    d0 = calloc((size_t)rows * V + 1, sizeof *d0);
    if (!d0) st = mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    if (st == MOT_OK) {
        const double t0 = t->trace ? mot_trace_now(t->trace) : 0.0;
        *lm += mot_cpu_cross_entropy(d0, mot_pass_logits(p0), mot_pass_targets(p0), rows, V, (float)(h->l_lm / T));
        mot_trace_host_span(t->trace, "loss", t0, rows);
        *tokens += rows;
    }
    const int same_primary = er->set1[0] == er->set0[0];
    if (st == MOT_OK && same_primary) {
        mot_pass_opts o1 = o0;
        o1.active = er->set1, o1.dropout_seed = seed ^ 0x5851f42d4c957f2dull, o1.tape = h->l_con != 0;
        o1.seat = 1;
        st = mot_pass_forward(t->m, &t->w, e, &o1, &p1);
        if (st == MOT_OK) {
            d1 = calloc((size_t)rows * V + 1, sizeof *d1);
            if (!d1) st = mot_fail(MOT_ERR_NOMEM, "training: out of memory");
        }
        if (st == MOT_OK) {
            const double t0 = t->trace ? mot_trace_now(t->trace) : 0.0;
            st = sym_kl(mot_pass_logits(p0), mot_pass_logits(p1), rows, V, (float)(h->l_con / T), d0, d1, con);
            mot_trace_host_span(t->trace, "loss", t0, rows);
            *tokens += rows;
        }
        if (st == MOT_OK && h->l_con != 0) {
            float dgate[MOT_MAX_LANES] = {0};
            st = mot_pass_backward(p1, d1, &t->g, dgate);
            for (int k = 0; k < K; k++) er->dpi1[er->set1[k]] += dgate[k];
        }
        mot_pass_free(p1);
    }
    mot_pass_prefix_free(&prefix);
    if (st == MOT_OK && (h->l_lm != 0 || (h->l_con != 0 && same_primary))) {
        float dgate[MOT_MAX_LANES] = {0};
        st = mot_pass_backward(p0, d0, &t->g, dgate);
        for (int k = 0; k < K; k++) er->dpi0[er->set0[k]] += dgate[k];
    }
    mot_pass_free(p0);
    free(d0), free(d1);
    return st;
}

mot_status mot_train_batch(const mot_trainer *t, const mot_train_example *const *batch, int B, const float *g0,
                           const float *g1, const mot_train_hparams *h, uint64_t dropout_seed,
                           mot_train_losses *loss, int *active0, int *active1) {
    const int M = t->m->n_experts, K = t->m->pipe->router.top_k, hr = t->w.fc1.out;
    const double tau = h->tau;
    *loss = (mot_train_losses){0};
    example_route *er = calloc((size_t)B, sizeof *er);
    float *fbuf = calloc((size_t)B * (2 * (size_t)hr + M), sizeof *fbuf);
    double *dbuf = calloc((size_t)B * 5 * M, sizeof *dbuf);
    double *f = calloc((size_t)M, sizeof *f), *pe = calloc((size_t)M, sizeof *pe);
    mot_status st = er && fbuf && dbuf && f && pe ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "training: out of memory");
    double T = 0;
    for (int b = 0; st == MOT_OK && b < B; b++) {
        example_route *x = &er[b];
        float *fb = fbuf + (size_t)b * (2 * hr + M);
        double *db = dbuf + (size_t)b * 5 * M;
        x->r = (router_act){fb, fb + hr, fb + 2 * hr};
        x->pi0 = db, x->pi1 = db + M, x->dpi0 = db + 2 * M, x->dpi1 = db + 3 * M, x->ds = db + 4 * M;
        const double t0 = t->trace ? mot_trace_now(t->trace) : 0.0;
        router_forward(&t->w, batch[b]->z, &x->r);
        mot_trace_host_span(t->trace, "router", t0, 0);
        for (int i = 0; i < M; i++) {
            if (!isfinite(x->r.s[i])) {
                st = mot_fail(MOT_ERR_INTERNAL,
                              "training: the example of data line %d: router score %d is %g (the weights have "
                              "diverged: lower --lr)",
                              batch[b]->line, i, x->r.s[i]);
            }
        }
        /* SPEC 5: s0 = (s + g0) / tau, the hard top-K of it, pi0 = softmax(s0) */
        float *u = malloc((size_t)M * sizeof *u);
        if (!u) { st = mot_fail(MOT_ERR_NOMEM, "training: out of memory"); break; }
        for (int i = 0; i < M; i++) u[i] = (x->r.s[i] + g0[(size_t)b * M + i]) / h->tau;
        mot_train_top_k(u, M, K, x->set0);
        softmax_d(x->r.s, M, 1.0 / tau, g0 + (size_t)b * M, x->pi0);
        for (int i = 0; i < M; i++) u[i] = (x->r.s[i] + g1[(size_t)b * M + i]) / h->tau;
        mot_train_top_k(u, M, K, x->set1);
        softmax_d(x->r.s, M, 1.0 / tau, g1 + (size_t)b * M, x->pi1);
        free(u);
        const int p = x->set0[0];
        T += batch[b]->n[p] - batch[b]->n_prompt[p];
        for (int k = 0; active0 && k < K; k++) active0[b * K + k] = x->set0[k];
        for (int k = 0; active1 && k < K; k++) active1[b * K + k] = x->set1[k];
    }
    /* L_ent = -mean_b H(softmax(s / tau)): dL/du_j = p_j (log p_j + H) / B, u = s / tau */
    for (int b = 0; st == MOT_OK && b < B; b++) {
        softmax_d(er[b].r.s, M, 1.0 / tau, NULL, pe);
        double H = 0;
        for (int i = 0; i < M; i++) H -= pe[i] > 0 ? pe[i] * log(pe[i]) : 0;
        loss->ent -= H / B;
        for (int i = 0; i < M; i++) {
            er[b].ds[i] += h->l_ent * (pe[i] > 0 ? pe[i] * (log(pe[i]) + H) : 0) / B / tau;
        }
    }
    /* L_route (mot's extension, docs/training.md; 0 in SPEC 5) = -mean_b log softmax(s)[t_b], t_b
     * the expert best alone on example b: the only term that says which primary is right (the
     * LM loss reaches the router only through the gates on the values). dL/ds = (p - 1_t) / B. */
    int scored = 1;
    for (int b = 0; b < B; b++) scored &= batch[b]->route_target >= 0 && batch[b]->route_target < M;
    if (st == MOT_OK && h->l_route != 0 && !scored) {
        st = mot_fail(MOT_ERR_INTERNAL, "training: l_route is set but the examples' routing targets are not scored");
    }
    for (int b = 0; st == MOT_OK && scored && b < B; b++) {
        const int tb = batch[b]->route_target;
        softmax_d(er[b].r.s, M, 1.0, NULL, pe);
        loss->route -= log(pe[tb]) / B;
        for (int i = 0; i < M; i++) er[b].ds[i] += h->l_route * (pe[i] - (i == tb)) / B;
    }
    /* L_bal = (std(f) / mean(f))^2, f_m = mean_b of the straight-through indicator of m */
    if (st == MOT_OK) {
        double mu = 0, var = 0;
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++) f[er[b].set0[k]] += 1.0 / B;
        for (int i = 0; i < M; i++) mu += f[i] / M;
        for (int i = 0; i < M; i++) var += (f[i] - mu) * (f[i] - mu) / M;
        loss->bal = var / (mu * mu);
        for (int i = 0; i < M; i++) {
            const double df = 2.0 / (M * mu * mu) * ((f[i] - mu) - var / mu);
            for (int b = 0; b < B; b++) er[b].dpi0[i] += h->l_bal * df / B;
        }
    }
    double lm = 0, con = 0;
    for (int b = 0; st == MOT_OK && b < B; b++) {
        uint64_t seed = dropout_seed + 0x9e3779b97f4a7c15ull * (uint64_t)(b + 1);
        st = example_passes(t, batch[b], &er[b], K, T, h, seed, &lm, &con, &loss->tokens_all);
    }
    const double t0 = t->trace ? mot_trace_now(t->trace) : 0.0;
    for (int b = 0; st == MOT_OK && b < B; b++) {
        softmax_back(er[b].pi0, er[b].dpi0, M, tau, er[b].ds);
        softmax_back(er[b].pi1, er[b].dpi1, M, tau, er[b].ds);
        st = router_backward(&t->w, &t->g, batch[b]->z, &er[b].r, er[b].ds);
    }
    mot_trace_host_span(t->trace, "router", t0, 0);
    loss->lm = lm / T, loss->con = con / T, loss->tokens = (long)T;
    loss->total = h->l_lm * loss->lm + h->l_ent * loss->ent + h->l_bal * loss->bal + h->l_con * loss->con +
                  h->l_route * loss->route;
    free(er), free(fbuf), free(dbuf), free(f), free(pe);
    return st;
}
