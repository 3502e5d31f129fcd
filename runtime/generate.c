#include "runtime/generate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"

double mot_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mot_status mot_generate(const mot_expert *ex, mot_expert_state *st, const int *prompt, int n_prompt,
                        const mot_generate_params *p, mot_generate_result *res) {
    memset(res, 0, sizeof *res);
    res->n_prompt = n_prompt;
    const int vocab = ex->cfg.vocab;
    mot_sampler sampler;
    MOT_TRY(mot_sampler_init(&sampler, &p->sampler, 0, vocab));
    mot_status status = MOT_OK;

    double t0 = mot_now();
    status = mot_expert_forward(ex, st, prompt, n_prompt);
    double t_decode = t0;
    for (int step = 0; status == MOT_OK && p->n_predict != 0; step++) {
        int token = mot_sample(&sampler, st->logits);
        if (step == 0) {
            t_decode = mot_now();
            res->prompt_s = t_decode - t0;
        }
        status = mot_token_log_push(&res->sampled, token, p->keep_logits ? st->logits : NULL, vocab,
                                    "generate: ");
        if (status != MOT_OK) {
            break;
        }
        if (p->on_token && p->on_token(p->user, token)) {
            break;
        }
        if (mot_config_is_eos(&ex->cfg, token)) {
            res->stopped_by_eos = 1;
            break;
        }
        if ((p->n_predict >= 0 && res->sampled.n >= p->n_predict) || st->pos >= st->n_ctx) {
            break;
        }
        status = mot_expert_forward(ex, st, &token, 1);
    }
    res->gen_s = mot_now() - t_decode;
    mot_sampler_free(&sampler);
    return status;
}

void mot_generate_result_free(mot_generate_result *res) {
    mot_token_log_free(&res->sampled);
    memset(res, 0, sizeof *res);
}
