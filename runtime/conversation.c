/* Chat turns on one engine with the common prefix of the cache reused (conversation.h). */
#include "runtime/conversation.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/chat_prompt.h"

static mot_status push_message(mot_conversation *c, mot_chat_role role, const char *text, size_t len) {
    if (c->n_msgs == c->cap_msgs) {
        const int cap = c->cap_msgs ? 2 * c->cap_msgs : 8;
        mot_chat_message *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m) {
            return mot_fail(MOT_ERR_NOMEM, "out of memory (conversation of %d messages)", c->n_msgs);
        }
        c->msgs = m;
        c->cap_msgs = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (a message of %zu bytes)", len);
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    c->msgs[c->n_msgs++] = (mot_chat_message){role, copy};
    return MOT_OK;
}

static void pop_message(mot_conversation *c) { free((char *)c->msgs[--c->n_msgs].content); }

mot_status mot_conversation_open(mot_conversation *c, const mot_expert *ex, const mot_tokenizer *tok,
                                 mot_chat_format format, const char *system, int n_ctx, int max_batch,
                                 const mot_generate_params *params) {
    memset(c, 0, sizeof *c);
    if (params->n_predict == 0) {
        return mot_fail(MOT_ERR_ARG, "conversation: -n 0 leaves nothing to say (give -n N or -1)");
    }
    c->ex = ex, c->tok = tok, c->format = format, c->n_ctx = n_ctx, c->params = *params;
    c->max_batch = max_batch > 0 && max_batch < n_ctx ? max_batch : n_ctx;
    c->cache = malloc((size_t)n_ctx * sizeof *c->cache);
    if (!c->cache) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (a token list of %d)", n_ctx);
    }
    if (system) {
        MOT_TRY(push_message(c, MOT_CHAT_SYSTEM, system, strlen(system)));
    }
    mot_plan_source src;
    mot_plan_source_single(ex, n_ctx, c->max_batch, &src);
    const mot_engine_options eo = {.backend = params->backend, .sampler = params->sampler};
    c->open = 1; /* closed by mot_conversation_close, also when opening failed half-way */
    return mot_engine_open(&c->engine, &src, &eo);
}

/* Feeds prompt[0..n): the whole prompt on the first turn, else what follows the longest
 * prefix the cache shares with it (at least its last token, whose logits start the reply). */
static mot_status feed(mot_conversation *c, int *prompt, int n, int *reused) {
    if (!c->prefilled) {
        *reused = 0;
        int *lanes[1] = {prompt};
        MOT_TRY(mot_engine_prefill(&c->engine, lanes, &n));
        c->prefilled = 1;
        return MOT_OK;
    }
    int k = 0;
    while (k < c->n_cache && k < n - 1 && c->cache[k] == prompt[k]) {
        k++;
    }
    *reused = k;
    MOT_TRY(mot_engine_rewind(&c->engine, k));
    return mot_engine_extend(&c->engine, prompt + k, n - k);
}

mot_status mot_conversation_say(mot_conversation *c, const char *user, mot_conversation_turn *t) {
    mot_conversation_turn_free(t);
    MOT_TRY(push_message(c, MOT_CHAT_USER, user, strlen(user)));
    int *prompt = NULL, n = 0;
    mot_status st = mot_chat_encode_messages(c->tok, c->format, c->msgs, c->n_msgs, &prompt, &n);
    if (st == MOT_OK && n >= c->n_ctx) {
        st = mot_fail(MOT_ERR_ARG, "conversation: with this turn it is %d tokens, the context only %d (raise -c)", n,
                      c->n_ctx);
    }
    const double t0 = mot_now();
    if (st == MOT_OK) {
        st = feed(c, prompt, n, &t->n_reused);
        if (st != MOT_OK && t->n_reused < c->n_cache) {
            c->n_cache = t->n_reused; /* the cache was rewound there before the feed failed */
        }
    }
    if (st != MOT_OK) {
        free(prompt);
        pop_message(c); /* as before the turn */
        return st;
    }
    memcpy(c->cache, prompt, (size_t)n * sizeof *prompt);
    c->n_cache = n;
    free(prompt);
    const double t1 = mot_now();
    t->reply.prompt_s = t1 - t0;
    t->reply.n_prompt = n;
    st = mot_generate_reply(&c->engine, &c->params, &t->reply);
    t->reply.gen_s = mot_now() - t1;
    /* Every sampled token but the last was fed (decoded) into the cache. */
    const mot_token_log *log = &t->reply.sampled;
    for (int i = 0; i + 1 < log->n && c->n_cache < c->n_ctx; i++) {
        c->cache[c->n_cache++] = log->tokens[i];
    }
    if (st != MOT_OK) {
        return st;
    }
    /* The reply's text, without the EOS that ended it, is the assistant's message. */
    const int n_text = log->n - (t->reply.stopped_by_eos ? 1 : 0);
    char *text = NULL;
    size_t len = 0;
    st = mot_tokenizer_decode_len(c->tok, log->tokens, n_text, 1, &text, &len);
    if (st == MOT_OK) {
        st = push_message(c, MOT_CHAT_ASSISTANT, text, strlen(text)); /* a NUL in the text ends it */
    }
    free(text);
    return st;
}

void mot_conversation_turn_free(mot_conversation_turn *t) {
    mot_generate_result_free(&t->reply);
    memset(t, 0, sizeof *t);
}

void mot_conversation_close(mot_conversation *c) {
    if (c->open) {
        mot_engine_close(&c->engine);
    }
    while (c->n_msgs > 0) {
        pop_message(c);
    }
    free(c->msgs);
    free(c->cache);
    memset(c, 0, sizeof *c);
}
