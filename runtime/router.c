#include "runtime/router.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* ---- mean-embed: the mean of the named expert's input embeddings of the prompt tokens ---- */

typedef struct {
    const mot_expert *ex;
    const mot_tokenizer *tok;
} mean_embed_ctx;

static mot_status mean_embed_encode(const mot_prompt_encoder *enc, const char *prompt, float *z) {
    const mean_embed_ctx *c = enc->ctx;
    int *ids = NULL, n = 0;
    MOT_TRY(mot_tokenizer_encode(c->tok, prompt, 1, &ids, &n));
    if (n == 0) {
        free(ids);
        return mot_fail(MOT_ERR_ARG, "router: the prompt has no tokens for expert '%s'", c->ex->name);
    }
    const int d = enc->dim;
    double *acc = calloc((size_t)d, sizeof *acc);
    float *row = malloc((size_t)d * sizeof *row);
    if (!acc || !row) {
        free(ids), free(acc), free(row);
        return mot_fail(MOT_ERR_NOMEM, "router: out of memory");
    }
    mot_status st = MOT_OK;
    for (int t = 0; t < n && st == MOT_OK; t++) {
        if (ids[t] < 0 || ids[t] >= c->ex->cfg.vocab) {
            st = mot_fail(MOT_ERR_FORMAT,
                          "router: expert '%s' (%s): its tokenizer gives token id %d, outside the model's vocabulary "
                          "[0, %d) (the tokenizer and the config's vocabulary size disagree)",
                          c->ex->name, c->ex->dir, ids[t], c->ex->cfg.vocab);
            break;
        }
        mot_cpu_embed_row(row, &c->ex->embed, ids[t]);
        for (int i = 0; i < d; i++) {
            acc[i] += row[i];
        }
    }
    for (int i = 0; i < d; i++) {
        z[i] = (float)(acc[i] / n);
    }
    free(ids), free(acc), free(row);
    return st;
}

static void mean_embed_destroy(mot_prompt_encoder *enc) {
    free(enc->ctx);
    free(enc);
}

mot_status mot_prompt_encoder_create(const mot_model *m, mot_prompt_encoder **out) {
    const mot_pipeline *p = m->pipe;
    if (strcmp(p->router.encoder, "mean-embed") != 0) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s:%d:%d: error: router.encoder '%s' is not supported (expected mean-embed)",
                        p->file, p->router.pos.line, p->router.pos.col, p->router.encoder);
    }
    mot_prompt_encoder *enc = calloc(1, sizeof *enc);
    mean_embed_ctx *c = calloc(1, sizeof *c);
    if (!enc || !c) {
        free(enc), free(c);
        return mot_fail(MOT_ERR_NOMEM, "router: out of memory");
    }
    c->ex = m->experts[p->router.expert];
    c->tok = m->tokenizers[p->router.expert];
    *enc = (mot_prompt_encoder){.kind = "mean-embed", .dim = c->ex->cfg.hidden, .encode = mean_embed_encode,
                                .destroy = mean_embed_destroy, .ctx = c};
    *out = enc;
    return MOT_OK;
}

/* ---- scores and the active set ---- */

/* s = W2 gelu(W1 z + b1) + b2, gelu the exact erf form. */
static mot_status router_scores(const mot_model *m, const float *z, float *s) {
    const int hr = (int)m->router_fc1.w.rows;
    float *h = malloc((size_t)hr * sizeof *h);
    if (!h) {
        return mot_fail(MOT_ERR_NOMEM, "router: out of memory");
    }
    mot_linear_apply(&m->router_fc1, z, h, 1);
    for (int i = 0; i < hr; i++) {
        h[i] = (float)(0.5 * h[i] * (1.0 + erf(h[i] / sqrt(2.0))));
    }
    mot_linear_apply(&m->router_fc2, h, s, 1);
    free(h);
    return MOT_OK;
}

static int all_finite(const float *x, int n) {
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            return 0;
        }
    }
    return 1;
}

/* NaN/inf scores would pick experts by accident (every comparison with NaN is false): an
 * error naming where they came from, the encoder's embedding (z) or the router's weights. */
static mot_status check_scores(const mot_model *m, const float *z, int dim, const float *s) {
    const int M = m->n_experts;
    if (all_finite(s, M)) {
        return MOT_OK;
    }
    char list[128] = "";
    for (int e = 0, at = 0; e < M && at < (int)sizeof list - 16; e++) {
        at += snprintf(list + at, sizeof list - (size_t)at, "%s%g", e ? ", " : "", s[e]);
    }
    const mot_expert *enc_ex = m->experts[m->pipe->router.expert];
    if (!all_finite(z, dim)) {
        return mot_fail(MOT_ERR_FORMAT,
                        "router: scores [%s] are not finite: the prompt's mean embedding from expert '%s' (%s) holds "
                        "NaN/inf, its embedding weights are broken (use --allow-nonfinite to continue)",
                        list, enc_ex->name, enc_ex->dir);
    }
    return mot_fail(MOT_ERR_FORMAT,
                    "router: scores [%s] are not finite: the router weights (router.fc1, router.fc2 in %s) hold "
                    "NaN/inf (use --allow-nonfinite to continue)",
                    list, m->pipe->weights ? m->pipe->weights : "the MoT weights");
}

static mot_status parse_forced(const mot_model *m, const char *forced, mot_route *r) {
    char *list = strdup(forced), *save = NULL;
    if (!list) {
        return mot_fail(MOT_ERR_NOMEM, "router: out of memory");
    }
    r->k = 0;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        int e = mot_pipeline_find_expert(m->pipe, name);
        mot_status st = MOT_OK;
        if (e < 0) {
            st = mot_fail(MOT_ERR_ARG, "--experts: '%s' is not an expert of %s", name, m->pipe->file);
        }
        for (int i = 0; i < r->k && st == MOT_OK; i++) {
            if (r->active[i] == e) {
                st = mot_fail(MOT_ERR_ARG, "--experts: '%s' is named twice", name);
            }
        }
        if (st != MOT_OK) {
            free(list); /* name points into list: free it only after the message is written */
            return st;
        }
        r->active[r->k++] = e;
    }
    free(list);
    return r->k ? MOT_OK : mot_fail(MOT_ERR_ARG, "--experts: expected a comma-separated list of expert names");
}

mot_status mot_route_prompt(const mot_model *m, const char *prompt, const char *forced,
                            const char *const *drop, int n_drop, mot_route *r) {
    const int M = m->n_experts;
    memset(r, 0, sizeof *r);
    r->n_experts = M;
    r->active = calloc((size_t)M, sizeof *r->active);
    if (!r->active) {
        return mot_fail(MOT_ERR_NOMEM, "router: out of memory");
    }
    if (forced && n_drop > 0) {
        return mot_fail(MOT_ERR_ARG, "--drop removes experts from routing; with --experts there is no routing (give one or the other)");
    }
    if (forced) {
        return parse_forced(m, forced, r);
    }
    int *dropped = calloc((size_t)M, sizeof *dropped);
    r->scores = malloc((size_t)M * sizeof *r->scores);
    if (!dropped || !r->scores) {
        free(dropped);
        return mot_fail(MOT_ERR_NOMEM, "router: out of memory");
    }
    int n_left = M;
    for (int i = 0; i < n_drop; i++) {
        int e = mot_pipeline_find_expert(m->pipe, drop[i]);
        if (e < 0) {
            free(dropped);
            return mot_fail(MOT_ERR_ARG, "--drop: '%s' is not an expert of %s", drop[i], m->pipe->file);
        }
        n_left -= !dropped[e];
        dropped[e] = 1;
    }
    if (n_left == 0) {
        free(dropped);
        return mot_fail(MOT_ERR_ARG, "--drop: every expert was dropped");
    }
    mot_prompt_encoder *enc;
    mot_status st = mot_prompt_encoder_create(m, &enc);
    float *z = NULL;
    if (st == MOT_OK) {
        z = malloc((size_t)enc->dim * sizeof *z);
        st = z ? enc->encode(enc, prompt, z) : mot_fail(MOT_ERR_NOMEM, "router: out of memory");
        if (st == MOT_OK) {
            st = router_scores(m, z, r->scores);
        }
        if (st == MOT_OK && !m->allow_nonfinite) {
            st = check_scores(m, z, enc->dim, r->scores);
        }
        enc->destroy(enc);
    }
    free(z);
    if (st == MOT_OK) {
        /* Top-K by descending score, ties to the lower index (a stable selection). */
        const int k = m->pipe->router.top_k < n_left ? m->pipe->router.top_k : n_left;
        for (r->k = 0; r->k < k; r->k++) {
            int best = -1;
            for (int e = 0; e < M; e++) {
                /* A NaN score (--allow-nonfinite) ranks below every number. */
                if (!dropped[e] && (best < 0 || r->scores[e] > r->scores[best] || isnan(r->scores[best]))) {
                    best = e;
                }
            }
            r->active[r->k] = best;
            dropped[best] = 1;
        }
    }
    free(dropped);
    return st;
}

void mot_route_free(mot_route *r) {
    free(r->scores);
    free(r->active);
    memset(r, 0, sizeof *r);
}

mot_status mot_plan_source_from_route(const mot_model *m, const mot_route *route, int ignore_eos,
                                      mot_plan_source *src) {
    memset(src, 0, sizeof *src);
    if (route->k < 1 || route->k > MOT_MAX_LANES) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: %d active experts; at most %d can run together",
                        m->pipe->file, route->k, MOT_MAX_LANES);
    }
    src->graph = &m->graph;
    src->n_lanes = route->k;
    for (int i = 0; i < route->k; i++) {
        const int e = route->active[i];
        src->ex[i] = m->experts[e];
        src->expert[i] = e;
    }
    src->stacks = m->pipe->interaction.stacks;
    src->shared_dim = m->pipe->interaction.shared_dim;
    src->heads = m->pipe->interaction.heads;
    src->inter = m->inter;
    src->ignore_eos = ignore_eos;
    return MOT_OK;
}
