#include "runtime/mot_generate.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/expert_prompt.h"
#include "runtime/generate.h"

/* ---- set-up ---- */

/* The lane's prompt ids: given, or its templated (or chat-templated) prompt text tokenized by
 * its tokenizer. */
static mot_status lane_prompt(mot_session *s, mot_lane *L, const char *prompt, const int *ids, int n_ids,
                              const char *system) {
    if (!prompt) {
        L->prompt = malloc((size_t)(n_ids > 0 ? n_ids : 1) * sizeof *L->prompt);
        if (!L->prompt) {
            return mot_fail(MOT_ERR_NOMEM, "out of memory");
        }
        memcpy(L->prompt, ids, (size_t)n_ids * sizeof *ids);
        L->n_prompt = n_ids;
        return MOT_OK;
    }
    return mot_expert_prompt_tokens(s->m, L->expert, prompt, system, &L->prompt, &L->n_prompt);
}


static mot_status lane_init(mot_session *s, int lane_index, const char *prompt, const int *ids, int n_ids,
                            const mot_generate_opts *o) {
    const mot_model *m = s->m;
    mot_lane *L = &s->lanes[lane_index];
    L->expert = s->route->active[lane_index];
    const mot_pipeline_expert *pe = &m->pipe->experts[L->expert];
    const mot_expert *ex = m->experts[L->expert];
    MOT_TRY(lane_prompt(s, L, prompt, ids, n_ids, o->system));
    for (int t = 0; t < L->n_prompt; t++) {
        if (L->prompt[t] < 0 || L->prompt[t] >= ex->cfg.vocab) {
            /* The ids come from the expert's own tokenizer: its files disagree (exit 1, a bad file). */
            return mot_fail(MOT_ERR_FORMAT,
                            "expert '%s' (%s): its tokenizer gives token id %d, outside the model's vocabulary [0, %d) "
                            "(the tokenizer and the config's vocabulary size disagree)",
                            pe->name, ex->dir, L->prompt[t], ex->cfg.vocab);
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
    L->alive = 1;
    return MOT_OK;
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
    mot_plan_source src;
    MOT_TRY(mot_plan_source_from_route(m, route, o->ignore_eos, &src));
    for (int i = 0; i < s->n_lanes; i++) {
        MOT_TRY(lane_init(s, i, prompt, ids ? ids[i] : NULL, n_ids ? n_ids[i] : 0, o));
        src.ctx[i] = s->lanes[i].ctx;
        src.max_rows[i] = s->lanes[i].n_prompt; /* the prompt is one pass (the mask spans it) */
    }
    mot_engine_options eo = {.backend = o->backend, .sampler = o->sampler};
    return mot_engine_open(&s->engine, &src, &eo);
}

/* After a pass: every lane it fed logs its token; the primary's ends generation (EOS, the
 * token limit, or the callback); a non-primary that sampled EOS is dead (the step advance
 * already stopped feeding it). */
static mot_status collect(mot_session *s, const mot_generate_opts *o, int *done) {
    mot_engine *e = &s->engine;
    *done = 0;
    for (int i = 0; i < s->n_lanes; i++) {
        mot_lane *L = &s->lanes[i];
        if (!e->fed[i]) {
            continue;
        }
        const mot_expert *ex = s->m->experts[L->expert];
        const int token = e->step.lane[i].token;
        MOT_TRY(mot_engine_log_token(e, i, o->keep_logits, &L->sampled));
        L->alive = e->step.lane[i].alive;
        if (i == 0) {
            const int eos = !o->ignore_eos && mot_config_is_eos(&ex->cfg, token);
            if ((o->on_token && o->on_token(o->user, token)) || eos || L->sampled.n >= o->n_predict) {
                *done = 1;
            }
        }
    }
    return MOT_OK;
}

static mot_status generate(const mot_model *m, const mot_route *route, const char *prompt, int *const *ids,
                           const int *n_ids, const mot_generate_opts *o, mot_session *s) {
    MOT_TRY(session_init(s, m, route, prompt, ids, n_ids, o));
    int *prompts[MOT_MAX_LANES], n_prompts[MOT_MAX_LANES], done = 0;
    for (int i = 0; i < s->n_lanes; i++) {
        prompts[i] = s->lanes[i].prompt;
        n_prompts[i] = s->lanes[i].n_prompt;
    }
    mot_backend *b = s->engine.backend;
    double t0 = mot_now();
    MOT_TRY(mot_engine_prefill(&s->engine, prompts, n_prompts));
    MOT_TRY(collect(s, o, &done));
    double t1 = mot_now();
    s->prefill_s = t1 - t0;
    const double inter0 = b->node_s[MOT_NODE_PROJECTOR] + b->node_s[MOT_NODE_ATTENTION];
    while (!done) {
        MOT_TRY(mot_engine_decode(&s->engine));
        MOT_TRY(collect(s, o, &done));
        s->n_decode_steps++;
    }
    s->decode_s = mot_now() - t1;
    s->interaction_s = b->node_s[MOT_NODE_PROJECTOR] + b->node_s[MOT_NODE_ATTENTION] - inter0;
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
        free(L->prompt);
        mot_token_log_free(&L->sampled);
    }
    free(s->lanes);
    mot_engine_close(&s->engine);
    memset(s, 0, sizeof *s);
}
