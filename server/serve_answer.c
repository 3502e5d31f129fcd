/* One request's answer (serve_answer.h). */
#include "server/serve_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/error.h"
#include "runtime/row_softmax.h"

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

/* The log-probabilities a chunk carries (those not yet sent), or NULL when none were asked
 * (or, for a chunk, when none are left: its "logprobs" is then null). */
static const mot_oai_logprobs *unsent(mot_serve_answer *a, mot_oai_logprobs *buf) {
    if (a->j->req.logprobs < 0 || (a->j->req.stream && a->lp_sent == a->n_lp)) {
        return NULL;
    }
    *buf = (mot_oai_logprobs){a->lp + a->lp_sent, a->n_lp - a->lp_sent};
    a->lp_sent = a->n_lp;
    return buf;
}

/* Streams a piece of text (a chunk event, with the log-probabilities of the tokens since the
 * last one); nothing for an empty piece. */
static void stream_text(mot_serve_answer *a, const char *text, size_t len, int role) {
    if (!a->j->req.stream || (len == 0 && !role)) {
        return;
    }
    mot_oai_logprobs buf;
    char *e = mot_oai_chunk_event(&a->head, text, len, role, NULL, a->j->req.include_usage,
                                  role ? NULL : unsent(a, &buf));
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
    a->tok = tok;
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

/* A token's text, decoded alone (an id past the tokenizer's, in a padded vocabulary: ""). */
static mot_status token_text(const mot_tokenizer *tok, int id, double logprob, mot_oai_token_prob *out) {
    out->logprob = logprob;
    if (id >= mot_tokenizer_vocab_size(tok)) {
        out->text = strdup("");
        out->len = 0;
        return out->text ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "out of memory (log-probabilities)");
    }
    return mot_tokenizer_decode_len(tok, &id, 1, 0, &out->text, &out->len);
}

static long long utf8_chars(const char *s, size_t n) {
    long long c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

mot_status mot_serve_answer_logprob(mot_serve_answer *a, mot_engine *e, int lane, int token) {
    const int want = a->j->req.logprobs;
    if (want < 0) {
        return MOT_OK;
    }
    const int vocab = e->src.ex[lane]->cfg.vocab;
    if (!a->logits && !(a->logits = malloc((size_t)vocab * sizeof *a->logits))) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (log-probabilities)");
    }
    if (a->n_lp == a->cap_lp) {
        const int cap = a->cap_lp ? 2 * a->cap_lp : 64;
        mot_oai_logprob *lp = realloc(a->lp, (size_t)cap * sizeof *lp);
        if (!lp) {
            return mot_fail(MOT_ERR_NOMEM, "out of memory (log-probabilities)");
        }
        a->lp = lp, a->cap_lp = cap;
    }
    MOT_TRY(mot_engine_logits(e, lane, a->logits));
    const float *x = a->logits;
    const mot_row_softmax sm = mot_row_softmax_of(x, vocab);
    /* the top `want` ids, best first (ties: the lower id), by insertion: want <= 20 */
    int top[MOT_OAI_MAX_TOP_LOGPROBS], n_top = 0;
    for (int v = 0; v < vocab && want > 0; v++) {
        if (n_top == want && !(x[v] > x[top[n_top - 1]])) continue;
        int k = n_top < want ? n_top++ : n_top - 1;
        for (; k > 0 && x[v] > x[top[k - 1]]; k--) top[k] = top[k - 1];
        top[k] = v;
    }
    mot_oai_logprob *it = &a->lp[a->n_lp];
    memset(it, 0, sizeof *it);
    a->n_lp++; /* counted at once: release frees what was filled */
    MOT_TRY(token_text(a->tok, token, (double)x[token] - sm.log_z, &it->chosen));
    for (; it->n_top < n_top; it->n_top++) {
        MOT_TRY(token_text(a->tok, top[it->n_top], (double)x[top[it->n_top]] - sm.log_z, &it->top[it->n_top]));
    }
    it->text_offset = a->chars;
    a->chars += utf8_chars(it->chosen.text, it->chosen.len);
    return MOT_OK;
}

static void release(mot_serve_answer *a) {
    if (a->started) {
        mot_decode_stream_free(&a->dec);
        mot_stop_strings_free(&a->ss);
        a->started = 0;
    }
    for (int i = 0; i < a->n_lp; i++) {
        free(a->lp[i].chosen.text);
        for (int k = 0; k < a->lp[i].n_top; k++) free(a->lp[i].top[k].text);
    }
    free(a->lp);
    free(a->logits);
    a->lp = NULL, a->logits = NULL, a->n_lp = a->cap_lp = 0;
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
    mot_oai_logprobs buf;
    if (r->stream) {
        out[0] = mot_oai_chunk_event(&a->head, "", 0, 0, finish_reason, r->include_usage, unsent(a, &buf));
        if (r->include_usage) out[1] = mot_oai_usage_event(&a->head, u);
        out[2] = strdup("data: [DONE]\n\n");
    } else {
        a->lp_sent = 0;
        out[0] = mot_oai_response_json(&a->head, a->ss.text ? a->ss.text : "", a->ss.len, finish_reason, u,
                                       unsent(a, &buf));
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
