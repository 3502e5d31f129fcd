/* One job on the model (serve_model.h). */
#include "server/serve_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/chat_prompt.h"
#include "server/openai_response.h"
#include "server/stop_strings.h"
#include "tokenizer/decode_stream.h"

/* The prompt's ids: the completion's text (BOS as the tokenizer adds it) or ids, or the chat's
 * messages in the template. A failure is the request's (400). */
static mot_status encode(const mot_serve_model *m, const mot_oai_request *r, int **ids, int *n) {
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

typedef struct {
    mot_serve_model *m;
    mot_serve_queue *q;
    mot_serve_job *j;
    mot_oai_head head;
    int ok;             /* every emit succeeded */
} answer;

/* Streams a piece of text (a chunk event); nothing for an empty piece. */
static void stream_text(answer *a, const char *text, size_t len, int role) {
    if (!a->j->req.stream || (len == 0 && !role)) {
        return;
    }
    char *e = mot_oai_chunk_event(&a->head, text, len, role, NULL, a->j->req.include_usage);
    a->ok &= e && mot_serve_job_emit(a->q, a->j, e, strlen(e));
    free(e);
}

/* A piece of the reply through the stop strings: what may be given out is streamed. */
static mot_status reply_text(answer *a, mot_stop_strings *ss, const char *piece, size_t n) {
    const char *out;
    size_t len;
    MOT_TRY(mot_stop_strings_push(ss, piece, n, &out, &len));
    stream_text(a, out, len, 0);
    return MOT_OK;
}

/* The error as the answer (its status and JSON), or, once a stream has begun, as its last
 * event. status: 400 for what the request asked, 500 for what the server failed at. */
static void fail(answer *a, int status) {
    fprintf(stderr, "mot: %s %d: %s\n", a->j->route, status, mot_last_error());
    mot_serve_job_fail(a->q, a->j, status,
                       a->j->status ? mot_oai_error_event(status, mot_last_error())
                                    : mot_oai_error_json(status, mot_last_error(), NULL));
}

void mot_serve_model_run(mot_serve_model *m, mot_serve_queue *q, mot_serve_job *j) {
    const mot_oai_request *r = &j->req;
    char id[48];
    snprintf(id, sizeof id, "%s-%lx%06llx", r->kind == MOT_OAI_CHAT ? "chatcmpl" : "cmpl", (unsigned long)time(NULL),
             ++m->served);
    answer a = {m, q, j, {r->kind, id, (long long)time(NULL), m->model_id}, 1};
    if (mot_serve_job_cancelled(q, j)) {
        fprintf(stderr, "mot: %s: not run, its client left while it waited\n", j->route);
        mot_serve_job_finish(q, j);
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
    mot_sampler_params sp = r->sampler;
    if (!r->seed_given && getrandom(&sp.seed, sizeof sp.seed, 0) != (ssize_t)sizeof sp.seed) {
        sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    }
    if (st != MOT_OK) {
        free(ids);
        fail(&a, st == MOT_ERR_NOMEM ? 500 : 400);
        return;
    }
    st = mot_slot_start(&m->slot, ids, n, &sp, &reused);
    free(ids);
    if (st != MOT_OK) {
        fail(&a, 500); /* the request was checked: the model failed (NaN logits, the backend) */
        return;
    }
    const double t1 = mot_now();
    if (r->stream) { /* the stream begins: from here an error is an event in it */
        mot_serve_job_set_status(q, j, 200);
    }
    if (r->kind == MOT_OAI_CHAT) stream_text(&a, "", 0, 1);

    mot_decode_stream dec;
    mot_decode_stream_init(&dec, m->tok, 1);
    mot_stop_strings ss;
    mot_stop_strings_init(&ss, r->stop, r->n_stop);
    const char *finish = "length";
    int n_gen = 0, left = 0;
    for (;;) {
        const int token = mot_slot_token(&m->slot);
        n_gen++;
        if (!r->ignore_eos && mot_config_is_eos(&m->ex->cfg, token)) {
            finish = "stop";
            break;
        }
        const char *piece;
        size_t len;
        st = mot_decode_stream_push(&dec, token, &piece, &len);
        if (st == MOT_OK) st = reply_text(&a, &ss, piece, len);
        if (st != MOT_OK || ss.stopped) {
            finish = "stop";
            break;
        }
        if ((r->max_tokens >= 0 && n_gen >= r->max_tokens) || mot_slot_full(&m->slot) ||
            (left = mot_serve_job_cancelled(q, j)) || !a.ok || (m->stop && *m->stop)) {
            break;
        }
        if ((st = mot_slot_next(&m->slot)) != MOT_OK) {
            break;
        }
    }
    const double t2 = mot_now();
    if (st == MOT_OK && !ss.stopped) { /* what the decoder and the stop strings held back */
        const char *piece;
        size_t len;
        st = mot_decode_stream_finish(&dec, &piece, &len);
        if (st == MOT_OK) st = reply_text(&a, &ss, piece, len);
        mot_stop_strings_finish(&ss, &piece, &len);
        stream_text(&a, piece, len, 0);
    }
    mot_decode_stream_free(&dec);
    if (st != MOT_OK || !a.ok) {
        if (st == MOT_OK) mot_fail(MOT_ERR_NOMEM, "out of memory (the answer)");
        mot_stop_strings_free(&ss);
        fail(&a, 500);
        return;
    }
    const mot_oai_usage u = {n, n_gen, reused};
    char *out[3] = {NULL, NULL, NULL};
    if (r->stream) {
        out[0] = mot_oai_chunk_event(&a.head, "", 0, 0, finish, r->include_usage);
        if (r->include_usage) out[1] = mot_oai_usage_event(&a.head, &u);
        out[2] = strdup("data: [DONE]\n\n");
    } else {
        out[0] = mot_oai_response_json(&a.head, ss.text ? ss.text : "", ss.len, finish, &u);
    }
    mot_stop_strings_free(&ss);
    int ok = out[0] && (!r->stream || (out[2] && (out[1] || !r->include_usage)));
    for (int i = 0; i < 3; i++) {
        if (ok && out[i]) ok = mot_serve_job_emit(q, j, out[i], strlen(out[i]));
        free(out[i]);
    }
    if (!ok) {
        mot_fail(MOT_ERR_NOMEM, "out of memory (the answer)");
        fail(&a, 500);
        return;
    }
    if (!r->stream) { /* a whole answer's status is known only now (an error would be 500) */
        mot_serve_job_set_status(q, j, 200);
    }
    mot_serve_job_finish(q, j);
    const double dec_s = t2 - t1;
    fprintf(stderr, "mot: %s 200 | prompt %d tokens (%d cached), %.1f ms | generation %d tokens, %.2f tok/s | %s%s\n",
            j->route, n, reused, (t1 - t0) * 1e3, n_gen, dec_s > 0 && n_gen > 1 ? (n_gen - 1) / dec_s : 0.0, finish,
            left ? " (the client left)" : "");
}
