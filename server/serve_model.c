/* One job on the model (serve_model.h). */
#include "server/serve_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/chat_prompt.h"
#include "server/serve_answer.h"

/* The prompt's ids: the completion's text (BOS as the tokenizer adds it) or ids, or the chat's
 * messages in the template. A failure is the request's (400). */
static mot_status encode(const mot_serve_model *m, const mot_oai_request *r, int **ids, int *n) {
    if (r->experts) {
        return mot_fail(MOT_ERR_ARG, "'experts': this server runs one model, not a MoT pipeline");
    }
    if (r->kind == MOT_OAI_CHAT) {
        if (m->chat == MOT_CHAT_NONE) {
            return mot_fail(MOT_ERR_ARG, "%s", m->chat_missing);
        }
        return mot_chat_encode_messages(m->tok, m->chat, r->msgs, r->n_msgs, ids, n);
    }
    if (r->prompt) {
        return mot_tokenizer_encode(m->tok, r->prompt, 1, ids, n);
    }
    const int vocab = m->ex->cfg.vocab;
    for (int i = 0; i < r->n_prompt_ids; i++) {
        if (r->prompt_ids[i] >= vocab) {
            return mot_fail(MOT_ERR_ARG, "'prompt[%d]': token id %d is outside the vocabulary [0, %d)", i,
                            r->prompt_ids[i], vocab);
        }
    }
    if (!(*ids = malloc((size_t)r->n_prompt_ids * sizeof **ids))) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (%d token ids)", r->n_prompt_ids);
    }
    memcpy(*ids, r->prompt_ids, (size_t)r->n_prompt_ids * sizeof **ids);
    *n = r->n_prompt_ids;
    return MOT_OK;
}

void mot_serve_model_run(mot_serve_model *m, mot_serve_queue *q, mot_serve_job *j) {
    const mot_oai_request *r = &j->req;
    mot_serve_answer a;
    if (!mot_serve_answer_init(&a, q, j, m->model_id, ++m->served)) {
        return;
    }
    const double t0 = mot_now();
    int *ids = NULL, n = 0, reused = 0;
    mot_status st = encode(m, r, &ids, &n); /* what fails here is the request's */
    if (st == MOT_OK && n == 0) {
        st = mot_fail(MOT_ERR_ARG, "the prompt is empty after tokenization (and the tokenizer adds no BOS)");
    }
    if (st == MOT_OK && n >= m->slot.n_ctx) {
        st = mot_fail(MOT_ERR_ARG, "the prompt is %d tokens, the context only %d (mot serve -c)", n, m->slot.n_ctx);
    }
    if (st != MOT_OK) {
        free(ids);
        mot_serve_answer_fail(&a, st == MOT_ERR_NOMEM ? 500 : 400);
        return;
    }
    const mot_sampler_params sp = mot_serve_request_sampler(r);
    st = mot_slot_start(&m->slot, ids, n, &sp, &reused);
    free(ids);
    if (st != MOT_OK) {
        mot_serve_answer_fail(&a, 500); /* the request was checked: the model failed (NaN logits, the backend) */
        return;
    }
    const double t1 = mot_now();
    mot_serve_answer_start(&a, m->tok);
    const char *finish = "length";
    int n_gen = 0, left = 0;
    for (;;) {
        const int token = mot_slot_token(&m->slot);
        n_gen++;
        if (!r->ignore_eos && mot_config_is_eos(&m->ex->cfg, token)) {
            finish = "stop";
            break;
        }
        if ((st = mot_serve_answer_logprob(&a, &m->slot.engine, 0, token)) != MOT_OK ||
            (st = mot_serve_answer_push(&a, token)) != MOT_OK || a.ss.stopped) {
            finish = "stop";
            break;
        }
        if ((r->max_tokens >= 0 && n_gen >= r->max_tokens) || mot_slot_full(&m->slot) ||
            (left = mot_serve_job_cancelled(q, j)) || (m->stop && *m->stop)) {
            break;
        }
        if ((st = mot_slot_next(&m->slot)) != MOT_OK) {
            break;
        }
    }
    const double t2 = mot_now();
    if (st != MOT_OK) {
        mot_serve_answer_fail(&a, 500);
        return;
    }
    const mot_oai_usage u = {n, n_gen, reused};
    if (mot_serve_answer_end(&a, finish, &u) != MOT_OK) {
        return;
    }
    const double dec_s = t2 - t1;
    fprintf(stderr, "mot: %s 200 | prompt %d tokens (%d cached), %.1f ms | generation %d tokens, %.2f tok/s | %s%s\n",
            j->route, n, reused, (t1 - t0) * 1e3, n_gen, dec_s > 0 && n_gen > 1 ? (n_gen - 1) / dec_s : 0.0, finish,
            left ? " (the client left)" : "");
}
