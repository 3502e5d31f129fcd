/* One request's answer (serve_answer.h). */
#include "server/serve_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/error.h"

int mot_serve_answer_init(mot_serve_answer *a, mot_serve_queue *q, mot_serve_job *j, const char *model_id,
                           long long serial) {
    memset(a, 0, sizeof *a);
    a->q = q, a->j = j, a->ok = 1;
    const mot_oai_kind kind = j->req.kind;
    snprintf(a->id, sizeof a->id, "%s-%lx%06llx", kind == MOT_OAI_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long)time(NULL), serial);
    a->head = (mot_oai_head){kind, a->id, (long long)time(NULL), model_id, NULL, 0};
    if (mot_serve_job_cancelled(q, j)) {
        fprintf(stderr, "mot: %s: not run, its client left while it waited\n", j->route);
        mot_serve_job_finish(q, j);
        return 0;
    }
    return 1;
}

/* Streams a piece of text (a chunk event); nothing for an empty piece. */
static void stream_text(mot_serve_answer *a, const char *text, size_t len, int role) {
    if (!a->j->req.stream || (len == 0 && !role)) {
        return;
    }
    char *e = mot_oai_chunk_event(&a->head, text, len, role, NULL, a->j->req.include_usage);
    a->ok &= e && mot_serve_job_emit(a->q, a->j, e, strlen(e));
    free(e);
}

/* A piece of the reply through the stop strings: what may be given out is streamed. */
static mot_status reply_text(mot_serve_answer *a, const char *piece, size_t n) {
    const char *out;
    size_t len;
    MOT_TRY(mot_stop_strings_push(&a->ss, piece, n, &out, &len));
    stream_text(a, out, len, 0);
    return MOT_OK;
}

void mot_serve_answer_start(mot_serve_answer *a, const mot_tokenizer *tok) {
    const mot_oai_request *r = &a->j->req;
    a->started = 1;
    mot_decode_stream_init(&a->dec, tok, 1);
    mot_stop_strings_init(&a->ss, r->stop, r->n_stop);
    if (r->stream) { /* the stream begins: from here an error is an event in it */
        mot_serve_job_set_status(a->q, a->j, 200);
    }
    if (r->kind == MOT_OAI_CHAT) stream_text(a, "", 0, 1);
}

mot_status mot_serve_answer_push(mot_serve_answer *a, int token) {
    const char *piece;
    size_t len;
    MOT_TRY(mot_decode_stream_push(&a->dec, token, &piece, &len));
    MOT_TRY(reply_text(a, piece, len));
    return a->ok ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "out of memory (the answer)");
}

static void release(mot_serve_answer *a) {
    if (a->started) {
        mot_decode_stream_free(&a->dec);
        mot_stop_strings_free(&a->ss);
        a->started = 0;
    }
}

void mot_serve_answer_fail(mot_serve_answer *a, int status) {
    mot_serve_job *j = a->j;
    fprintf(stderr, "mot: %s %d: %s\n", j->route, status, mot_last_error());
    mot_serve_job_fail(a->q, j, status,
                       j->status ? mot_oai_error_event(status, mot_last_error())
                                 : mot_oai_error_json(status, mot_last_error(), NULL));
    release(a);
}

mot_status mot_serve_answer_end(mot_serve_answer *a, const char *finish_reason, const mot_oai_usage *u) {
    const mot_oai_request *r = &a->j->req;
    mot_status st = MOT_OK;
    if (!a->ss.stopped) { /* what the decoder and the stop strings held back */
        const char *piece;
        size_t len;
        st = mot_decode_stream_finish(&a->dec, &piece, &len);
        if (st == MOT_OK) st = reply_text(a, piece, len);
        mot_stop_strings_finish(&a->ss, &piece, &len);
        stream_text(a, piece, len, 0);
    }
    char *out[3] = {NULL, NULL, NULL};
    if (r->stream) {
        out[0] = mot_oai_chunk_event(&a->head, "", 0, 0, finish_reason, r->include_usage);
        if (r->include_usage) out[1] = mot_oai_usage_event(&a->head, u);
        out[2] = strdup("data: [DONE]\n\n");
    } else {
        out[0] = mot_oai_response_json(&a->head, a->ss.text ? a->ss.text : "", a->ss.len, finish_reason, u);
    }
    if (st == MOT_OK && !a->ok) st = mot_fail(MOT_ERR_NOMEM, "out of memory (the answer)");
    int ok = st == MOT_OK && out[0] && (!r->stream || (out[2] && (out[1] || !r->include_usage)));
    for (int i = 0; i < 3; i++) {
        if (ok && out[i]) ok = mot_serve_job_emit(a->q, a->j, out[i], strlen(out[i]));
        free(out[i]);
    }
    if (!ok) {
        if (st == MOT_OK) st = mot_fail(MOT_ERR_NOMEM, "out of memory (the answer)");
        mot_serve_answer_fail(a, 500);
        return st;
    }
    release(a);
    if (!r->stream) { /* a whole answer's status is known only now (an error would be 500) */
        mot_serve_job_set_status(a->q, a->j, 200);
    }
    mot_serve_job_finish(a->q, a->j);
    return MOT_OK;
}

mot_sampler_params mot_serve_request_sampler(const mot_oai_request *r) {
    mot_sampler_params sp = r->sampler;
    if (!r->seed_given && getrandom(&sp.seed, sizeof sp.seed, 0) != (ssize_t)sizeof sp.seed) {
        sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    }
    return sp;
}
