#include "runtime/mot_generate.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/generate.h"
#include "runtime/interaction.h"

/* ---- set-up ---- */

/* The expert's prompt: its template with {prompt} replaced (every occurrence). */
static char *apply_template(const char *tmpl, const char *prompt) {
    if (!tmpl) {
        return strdup(prompt);
    }
    size_t pl = strlen(prompt), n = 0, cap = strlen(tmpl) + 1;
    for (const char *p = strstr(tmpl, "{prompt}"); p; p = strstr(p + 8, "{prompt}")) {
        cap += pl;
    }
    char *out = malloc(cap);
    if (!out) {
        return NULL;
    }
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{prompt}", 8)) {
            memcpy(out + n, prompt, pl);
            n += pl;
            p += 8;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    return out;
}

static float *alloc_f(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* The lane's prompt ids: given, or its templated prompt text tokenized by its tokenizer. */
static mot_status lane_prompt(mot_session *s, mot_lane *L, const char *prompt, const int *ids, int n_ids) {
    if (!prompt) {
        L->prompt = malloc((size_t)(n_ids > 0 ? n_ids : 1) * sizeof *L->prompt);
        if (!L->prompt) {
            return mot_fail(MOT_ERR_NOMEM, "out of memory");
        }
        memcpy(L->prompt, ids, (size_t)n_ids * sizeof *ids);
        L->n_prompt = n_ids;
        return MOT_OK;
    }
    char *text = apply_template(s->m->pipe->experts[L->expert].template_text, prompt);
    if (!text) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory");
    }
    mot_status st = mot_tokenizer_encode(s->m->tokenizers[L->expert], text, 1, &L->prompt, &L->n_prompt);
    free(text);
    return st;
}

static mot_status lane_init(mot_session *s, int lane_index, const char *prompt, const int *ids, int n_ids,
                            const mot_generate_opts *o) {
    const mot_model *m = s->m;
    mot_lane *L = &s->lanes[lane_index];
    L->expert = s->route->active[lane_index];
    const mot_pipeline_expert *pe = &m->pipe->experts[L->expert];
    const mot_expert *ex = m->experts[L->expert];
    MOT_TRY(lane_prompt(s, L, prompt, ids, n_ids));
    for (int t = 0; t < L->n_prompt; t++) {
        if (L->prompt[t] < 0 || L->prompt[t] >= ex->cfg.vocab) {
            return mot_fail(MOT_ERR_ARG, "expert '%s': token id %d is outside its vocabulary [0, %d)", pe->name,
                            L->prompt[t], ex->cfg.vocab);
        }
    }
    if (L->n_prompt == 0) {
        return mot_fail(MOT_ERR_ARG, "expert '%s': the prompt is empty after tokenization", pe->name);
    }
    /* Positions written: the prompt, then one per decode step (the first token comes from
     * the prefill). In 64 bits: max_tokens may be anything up to INT_MAX. */
    const int64_t positions = (int64_t)L->n_prompt + o->n_predict - 1;
    if (positions > ex->cfg.max_pos) {
        return mot_fail(MOT_ERR_ARG, "expert '%s': prompt (%d tokens) + %d new tokens exceed its context of %d",
                        pe->name, L->n_prompt, o->n_predict, ex->cfg.max_pos);
    }
    L->ctx = (int)positions + 1;
    MOT_TRY(mot_state_init(ex, L->ctx, L->n_prompt, &L->st));
    const size_t cache = (size_t)m->pipe->interaction.stacks * L->ctx * m->pipe->interaction.shared_dim;
    L->ik = alloc_f(cache);
    L->iv = alloc_f(cache);
    if (!L->ik || !L->iv) {
        return mot_fail(MOT_ERR_NOMEM, "expert '%s': out of memory for the interaction cache", pe->name);
    }
    L->alive = 1;
    /* Expert a_k draws from stream k of the seed (SPEC 1.5). */
    return mot_sampler_init(&L->sampler, &o->sampler, (uint64_t)lane_index, ex->cfg.vocab);
}

static mot_status session_init(mot_session *s, const mot_model *m, const mot_route *route, const char *prompt,
                               int *const *ids, const int *n_ids, const mot_generate_opts *o) {
    memset(s, 0, sizeof *s);
    s->m = m;
    s->route = route;
    s->n_lanes = route->k;
    s->lanes = calloc((size_t)s->n_lanes, sizeof *s->lanes);
    if (!s->lanes) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory");
    }
    int max_d = 0;
    size_t all_rows = 0;
    for (int i = 0; i < s->n_lanes; i++) {
        MOT_TRY(lane_init(s, i, prompt, ids ? ids[i] : NULL, n_ids ? n_ids[i] : 0, o));
        all_rows += (size_t)s->lanes[i].ctx;
        if (s->lanes[i].n_prompt > s->max_rows) s->max_rows = s->lanes[i].n_prompt;
        int d = m->experts[s->lanes[i].expert]->cfg.hidden;
        if (d > max_d) max_d = d;
    }
    const size_t ds = (size_t)m->pipe->interaction.shared_dim, rows = (size_t)s->max_rows;
    s->z = alloc_f(rows * ds);
    s->nz = alloc_f(rows * ds);
    s->q = alloc_f(rows * ds);
    s->att = alloc_f(rows * ds);
    s->o = alloc_f(rows * ds);
    s->delta = alloc_f(rows * max_d);
    s->scores = alloc_f((size_t)omp_get_max_threads() * all_rows);
    if (!s->z || !s->nz || !s->q || !s->att || !s->o || !s->delta || !s->scores) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory");
    }
    return MOT_OK;
}

/* ---- one pass: prefill (every lane, its whole prompt) or one decode step (alive lanes) ---- */

static float *lane_cache(const mot_session *s, const mot_lane *L, float *base, int q) {
    const mot_pipeline *p = s->m->pipe;
    return base + ((size_t)q * L->ctx) * p->interaction.shared_dim;
}

/* z = F x (+b); n = norm(z); K, V of the new rows into the lane's interaction cache, and
 * for the primary (want_q) its queries Q = n Wq^T (+bq) into s->q: all from n in one go. */
static void project_forward(mot_session *s, mot_lane *L, int q, int n, int want_q) {
    const mot_interaction_weights *iw = &s->m->inter[q];
    const int ds = s->m->pipe->interaction.shared_dim;
    mot_linear_apply(&iw->forward[L->expert], L->st.x, s->z, n);
    const float *nz = s->z;
    if (iw->norm_weight) {
        mot_layernorm(s->nz, s->z, iw->norm_weight, iw->norm_bias, n, ds, 1e-5f);
        nz = s->nz;
    }
    const mot_linear *proj[3] = {&iw->k, &iw->v, &iw->q};
    float *out[3] = {lane_cache(s, L, L->ik, q) + (size_t)L->rows * ds,
                     lane_cache(s, L, L->iv, q) + (size_t)L->rows * ds, s->q};
    mot_linear_apply_multi(proj, out, want_q ? 3 : 2, nz, n);
}

/* x += y R^T (+b), y [n, d_s]. */
static void project_reverse(mot_session *s, mot_lane *L, int q, const float *y, int n) {
    const mot_linear *r = &s->m->inter[q].reverse[L->expert];
    const int d = (int)r->w.rows;
    mot_linear_apply(r, y, s->delta, n);
    for (size_t i = 0; i < (size_t)n * d; i++) {
        L->st.x[i] += s->delta[i];
    }
}

static void interaction(mot_session *s, int q, const int *fed, const int *n_new, int prefill) {
    const mot_interaction_weights *iw = &s->m->inter[q];
    const mot_pipeline *p = s->m->pipe;
    const int ds = p->interaction.shared_dim;
    /* Non-primaries first: their keys must be in the cache before the primary attends. */
    for (int i = s->n_lanes - 1; i >= 0; i--) {
        mot_lane *L = &s->lanes[i];
        if (!fed[i]) {
            continue;
        }
        project_forward(s, L, q, n_new[i], i == 0);
        if (i > 0) {
            project_reverse(s, L, q, s->z, n_new[i]);
        }
    }
    /* The primary (its queries are in s->q): keys/values of every active expert. */
    mot_lane *P = &s->lanes[0];
    mot_kv_segment seg[s->n_lanes];
    for (int i = 0; i < s->n_lanes; i++) {
        const mot_lane *L = &s->lanes[i];
        seg[i] = (mot_kv_segment){lane_cache(s, L, L->ik, q), lane_cache(s, L, L->iv, q),
                                  L->rows + (fed[i] ? n_new[i] : 0), L->n_prompt};
    }
    mot_cross_attention(s->att, s->q, n_new[0], p->interaction.heads, ds, seg, s->n_lanes, prefill, s->scores);
    mot_linear_apply(&iw->o, s->att, s->o, n_new[0]);
    project_reverse(s, P, q, s->o, n_new[0]);
}

static void pass(mot_session *s, const int *fed, const int *n_new, int prefill) {
    const mot_model *m = s->m;
    const int Q = m->pipe->interaction.stacks;
    int next_layer[s->n_lanes];
    for (int i = 0; i < s->n_lanes; i++) {
        next_layer[i] = 0;
        mot_lane *L = &s->lanes[i];
        if (fed[i]) {
            const int *tokens = prefill ? L->prompt : &L->sampled.tokens[L->sampled.n - 1];
            mot_expert_embed(m->experts[L->expert], tokens, n_new[i], L->st.x);
        }
    }
    for (int q = 0; q < Q; q++) {
        for (int i = 0; i < s->n_lanes; i++) {
            mot_lane *L = &s->lanes[i];
            if (fed[i]) {
                const int end = m->ends[L->expert][q];
                mot_expert_layers(m->experts[L->expert], &L->st, L->st.x, n_new[i], next_layer[i], end + 1);
                next_layer[i] = end + 1;
            }
        }
        double t0 = mot_now();
        interaction(s, q, fed, n_new, prefill);
        s->interaction_s += mot_now() - t0;
    }
    for (int i = 0; i < s->n_lanes; i++) {
        mot_lane *L = &s->lanes[i];
        if (!fed[i]) {
            continue;
        }
        const mot_expert *ex = m->experts[L->expert];
        mot_expert_layers(ex, &L->st, L->st.x, n_new[i], next_layer[i], ex->cfg.n_layers);
        mot_expert_logits(ex, &L->st, L->st.x + (size_t)(n_new[i] - 1) * ex->cfg.hidden, L->st.logits);
        L->st.pos += n_new[i];
        L->rows += n_new[i];
    }
}

/* Every fed lane samples; a non-primary that samples EOS dies. Returns 1 when the primary
 * is done (EOS, the token limit, or the callback asked to stop). */
static mot_status sample_all(mot_session *s, const int *fed, const mot_generate_opts *o, int *done) {
    *done = 0;
    for (int i = 0; i < s->n_lanes; i++) {
        mot_lane *L = &s->lanes[i];
        if (!fed[i]) {
            continue;
        }
        const mot_expert *ex = s->m->experts[L->expert];
        int token = mot_sample(&L->sampler, L->st.logits);
        MOT_TRY(mot_token_log_push(&L->sampled, token, o->keep_logits ? L->st.logits : NULL, ex->cfg.vocab,
                                   ""));
        int eos = !o->ignore_eos && mot_config_is_eos(&ex->cfg, token);
        if (i == 0) {
            if ((o->on_token && o->on_token(o->user, token)) || eos || L->sampled.n >= o->n_predict) {
                *done = 1;
            }
        } else if (eos) {
            L->alive = 0;
        }
    }
    return MOT_OK;
}

static mot_status generate(const mot_model *m, const mot_route *route, const char *prompt, int *const *ids,
                           const int *n_ids, const mot_generate_opts *o, mot_session *s) {
    MOT_TRY(session_init(s, m, route, prompt, ids, n_ids, o));
    int fed[s->n_lanes], n_new[s->n_lanes], done = 0;
    for (int i = 0; i < s->n_lanes; i++) {
        fed[i] = 1;
        n_new[i] = s->lanes[i].n_prompt;
    }
    double t0 = mot_now();
    pass(s, fed, n_new, 1);
    MOT_TRY(sample_all(s, fed, o, &done));
    double t1 = mot_now();
    s->prefill_s = t1 - t0;
    while (!done) {
        for (int i = 0; i < s->n_lanes; i++) {
            fed[i] = s->lanes[i].alive;
            n_new[i] = 1;
        }
        pass(s, fed, n_new, 0);
        MOT_TRY(sample_all(s, fed, o, &done));
        s->n_decode_steps++;
    }
    s->decode_s = mot_now() - t1;
    return MOT_OK;
}

mot_status mot_session_generate(const mot_model *m, const mot_route *route, const char *prompt,
                                const mot_generate_opts *o, mot_session *s) {
    return generate(m, route, prompt, NULL, NULL, o, s);
}

mot_status mot_session_generate_ids(const mot_model *m, const mot_route *route, int *const *prompts,
                                    const int *n_prompts, const mot_generate_opts *o, mot_session *s) {
    return generate(m, route, NULL, prompts, n_prompts, o, s);
}

void mot_session_free(mot_session *s) {
    for (int i = 0; s->lanes && i < s->n_lanes; i++) {
        mot_lane *L = &s->lanes[i];
        mot_state_free(&L->st);
        free(L->ik), free(L->iv), free(L->prompt);
        mot_token_log_free(&L->sampled);
        mot_sampler_free(&L->sampler);
    }
    free(s->lanes);
    free(s->z), free(s->nz), free(s->q), free(s->att), free(s->o), free(s->delta), free(s->scores);
    memset(s, 0, sizeof *s);
}

