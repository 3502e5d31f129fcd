#include "runtime/generate.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"

mot_status mot_generate_reply(mot_engine *e, const mot_generate_params *p, mot_generate_result *res) {
    const mot_expert *ex = e->src.ex[0];
    for (;;) {
        MOT_TRY(mot_engine_log_token(e, 0, p->keep_logits, &res->sampled));
        const int token = e->step.lane[0].token;
        if (p->on_token && p->on_token(p->user, token)) {
            return MOT_OK;
        }
        if (!p->ignore_eos && mot_config_is_eos(&ex->cfg, token)) {
            res->stopped_by_eos = 1;
            return MOT_OK;
        }
        if ((p->n_predict >= 0 && res->sampled.n >= p->n_predict) || e->step.lane[0].pos >= e->src.ctx[0]) {
            return MOT_OK;
        }
        MOT_TRY(mot_engine_decode(e));
    }
}

mot_status mot_generate(const mot_expert *ex, int n_ctx, int max_batch, const int *prompt, int n_prompt,
                        const mot_generate_params *p, mot_generate_result *res) {
    memset(res, 0, sizeof *res);
    res->n_prompt = n_prompt;
    if (n_prompt <= 0) {
        return mot_fail(MOT_ERR_ARG, "%s: nothing to evaluate (the prompt has 0 tokens)", ex->name);
    }
    if (n_prompt >= n_ctx) {
        return mot_fail(MOT_ERR_ARG, "the prompt is %d tokens, the context only %d (raise -c)", n_prompt, n_ctx);
    }
    if (max_batch <= 0 || max_batch > n_prompt) {
        max_batch = n_prompt;
    }
    mot_plan_source src;
    mot_plan_source_single(ex, n_ctx, max_batch, &src);
    mot_engine e;
    mot_engine_options eo = {.backend = p->backend, .sampler = p->sampler};
    mot_status st = mot_engine_open(&e, &src, &eo);
    double t0 = mot_now(), t_decode = t0;
    int *lanes[1] = {(int *)prompt};
    if (st == MOT_OK) {
        st = mot_engine_prefill(&e, lanes, &n_prompt); /* -n 0: the prefill only */
        t_decode = mot_now();
        res->prompt_s = t_decode - t0; /* the first token is sampled inside the prefill pass */
    }
    if (st == MOT_OK && p->n_predict != 0) {
        st = mot_generate_reply(&e, p, res);
    }
    res->gen_s = mot_now() - t_decode;
    mot_engine_close(&e);
    return st;
}

void mot_generate_result_free(mot_generate_result *res) {
    mot_token_log_free(&res->sampled);
    memset(res, 0, sizeof *res);
}
