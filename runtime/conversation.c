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
    c->tok = tok, c->format = format, c->params = *params;
    if (system) {
        MOT_TRY(push_message(c, MOT_CHAT_SYSTEM, system, strlen(system)));
    }
    const mot_engine_options eo = {.backend = params->backend, .sampler = params->sampler};
    return mot_slot_open(&c->slot, ex, n_ctx, max_batch, &eo);
}

mot_status mot_conversation_say(mot_conversation *c, const char *user, mot_conversation_turn *t) {
    mot_conversation_turn_free(t);
    MOT_TRY(push_message(c, MOT_CHAT_USER, user, strlen(user)));
    int *prompt = NULL, n = 0;
    mot_status st = mot_chat_encode_messages(c->tok, c->format, c->msgs, c->n_msgs, &prompt, &n);
    if (st == MOT_OK && n >= c->slot.n_ctx) {
        st = mot_fail(MOT_ERR_ARG, "conversation: with this turn it is %d tokens, the context only %d (raise -c)", n,
                      c->slot.n_ctx);
    }
    const double t0 = mot_now();
    if (st == MOT_OK) {
        st = mot_slot_start(&c->slot, prompt, n, NULL, &t->n_reused); /* one random stream over the turns */
    }
    free(prompt);
    if (st != MOT_OK) {
        pop_message(c); /* as before the turn */
        return st;
    }
    const double t1 = mot_now();
    t->reply.prompt_s = t1 - t0;
    t->reply.n_prompt = n;
    st = mot_slot_reply(&c->slot, &c->params, &t->reply);
    t->reply.gen_s = mot_now() - t1;
    if (st != MOT_OK) {
        return st;
    }
    /* The reply's text, without the EOS that ended it, is the assistant's message. */
    const mot_token_log *log = &t->reply.sampled;
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
    mot_slot_close(&c->slot);
    while (c->n_msgs > 0) {
        pop_message(c);
    }
    free(c->msgs);
    memset(c, 0, sizeof *c);
}
