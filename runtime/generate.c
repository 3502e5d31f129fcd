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

/* Appends the token (and its logits row) to the result, growing the arrays. */
static mot_status record(mot_generate_result *res, int *cap, int token, const float *logits, int vocab,
                         int keep_logits) {
    if (res->n_tokens == *cap) {
        int ncap = *cap ? 2 * *cap : 64;
        int *nt = realloc(res->tokens, (size_t)ncap * sizeof *nt);
        if (!nt) {
            return mot_fail(MOT_ERR_NOMEM, "generate: out of memory");
        }
        res->tokens = nt;
        if (keep_logits) {
            float *nl = realloc(res->logits, (size_t)ncap * vocab * sizeof *nl);
            if (!nl) {
                return mot_fail(MOT_ERR_NOMEM, "generate: out of memory keeping logits");
            }
            res->logits = nl;
        }
        *cap = ncap;
    }
    if (keep_logits) {
        memcpy(res->logits + (size_t)res->n_tokens * vocab, logits, (size_t)vocab * sizeof *logits);
    }
    res->tokens[res->n_tokens++] = token;
    return MOT_OK;
}

mot_status mot_generate(const mot_expert *ex, mot_expert_state *st, const int *prompt, int n_prompt,
                        const mot_generate_params *p, mot_generate_result *res) {
    memset(res, 0, sizeof *res);
    res->n_prompt = n_prompt;
    const int vocab = ex->cfg.vocab;
    mot_sampler sampler;
    MOT_TRY(mot_sampler_init(&sampler, &p->sampler, 0, vocab));
    int cap = 0;
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
        status = record(res, &cap, token, st->logits, vocab, p->keep_logits);
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
        if ((p->n_predict >= 0 && res->n_tokens >= p->n_predict) || st->pos >= st->n_ctx) {
            break;
        }
        status = mot_expert_forward(ex, st, &token, 1);
    }
    res->gen_s = mot_now() - t_decode;
    mot_sampler_free(&sampler);
    return status;
}

void mot_generate_result_free(mot_generate_result *res) {
    free(res->tokens);
    free(res->logits);
    memset(res, 0, sizeof *res);
}
