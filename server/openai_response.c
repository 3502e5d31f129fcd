/* OpenAI-shaped JSON (openai_response.h), built with jansson. */
#include "server/openai_response.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_buf.h"
#include "tokenizer/utf8.h"

/* A JSON string of text[0..len) with invalid UTF-8 replaced (NULL when out of memory). */
static json_t *text_value(const char *text, size_t len) {
    if (tok_utf8_is_valid(text, len)) {
        return json_stringn(text, len);
    }
    tok_buf b = {0};
    json_t *v = tok_utf8_append_lossy(&b, text, len) == MOT_OK ? json_stringn(b.data ? b.data : "", b.len) : NULL;
    tok_buf_free(&b);
    return v;
}

static json_t *usage_value(const mot_oai_usage *u) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", u->prompt_tokens, "completion_tokens",
                     u->completion_tokens, "total_tokens", u->prompt_tokens + u->completion_tokens,
                     "prompt_tokens_details", "cached_tokens", u->cached_tokens);
}

static json_t *logprob_value(double lp) { return json_real(isfinite(lp) ? lp : -9999.0); }

/* A chat token: {"token", "logprob", "bytes"}. */
static json_t *chat_token(const mot_oai_token_prob *t) {
    json_t *bytes = json_array();
    for (size_t i = 0; bytes && i < t->len; i++) {
        json_array_append_new(bytes, json_integer((unsigned char)t->text[i]));
    }
    return json_pack("{s:o, s:o, s:o}", "token", text_value(t->text, t->len), "logprob", logprob_value(t->logprob),
                     "bytes", bytes);
}

static json_t *logprobs_value(mot_oai_kind kind, const mot_oai_logprobs *lp) {
    if (!lp) {
        return json_null();
    }
    if (kind == MOT_OAI_CHAT) {
        json_t *content = json_array();
        for (int i = 0; content && i < lp->n; i++) {
            const mot_oai_logprob *it = &lp->items[i];
            json_t *e = chat_token(&it->chosen), *top = json_array();
            for (int k = 0; top && k < it->n_top; k++) {
                json_array_append_new(top, chat_token(&it->top[k]));
            }
            if (!e || json_object_set_new(e, "top_logprobs", top) || json_array_append_new(content, e)) {
                json_decref(content);
                return NULL;
            }
        }
        return json_pack("{s:o}", "content", content);
    }
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offsets = json_array();
    for (int i = 0; i < lp->n; i++) {
        const mot_oai_logprob *it = &lp->items[i];
        json_t *top = json_object();
        for (int k = 0; top && k < it->n_top; k++) {
            json_t *key = text_value(it->top[k].text, it->top[k].len);
            if (key) json_object_set_new(top, json_string_value(key), logprob_value(it->top[k].logprob));
            json_decref(key);
        }
        json_array_append_new(tokens, text_value(it->chosen.text, it->chosen.len));
        json_array_append_new(lps, logprob_value(it->chosen.logprob));
        json_array_append_new(tops, top);
        json_array_append_new(offsets, json_integer(it->text_offset));
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offsets);
}

/* The fields every response and chunk starts with. */
static json_t *head_object(const mot_oai_head *h, int chunk) {
    const char *object = h->kind == MOT_OAI_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                                 : "text_completion";
    json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "id", h->id, "object", object, "created", (json_int_t)h->created,
                          "model", h->model);
    if (o && h->n_experts > 0) {
        json_t *names = json_array();
        for (int i = 0; names && i < h->n_experts; i++) {
            json_array_append_new(names, text_value(h->experts[i], strlen(h->experts[i])));
        }
        if (!names || json_object_set_new(o, "experts", names)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* Dumps and frees o (NULL in, NULL out). */
static char *dump(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* "data: JSON\n\n" from o (freed). */
static char *event(json_t *o) {
    char *j = dump(o);
    if (!j) {
        return NULL;
    }
    const size_t n = strlen(j);
    char *e = malloc(n + 9);
    if (e) {
        memcpy(e, "data: ", 6);
        memcpy(e + 6, j, n);
        memcpy(e + 6 + n, "\n\n", 3);
    }
    free(j);
    return e;
}

char *mot_oai_response_json(const mot_oai_head *h, const char *text, size_t len, const char *finish_reason,
                            const mot_oai_usage *u, const mot_oai_logprobs *lp) {
    json_t *o = head_object(h, 0), *t = text_value(text, len), *l = logprobs_value(h->kind, lp);
    json_t *choice = t && l ? (h->kind == MOT_OAI_CHAT
                                   ? json_pack("{s:i, s:{s:s, s:o}, s:o, s:s}", "index", 0, "message", "role",
                                               "assistant", "content", t, "logprobs", l, "finish_reason", finish_reason)
                                   : json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "text", t, "logprobs", l,
                                               "finish_reason", finish_reason))
                            : NULL;
    if (!o || !choice || json_object_set_new(o, "choices", json_pack("[o]", choice)) ||
        json_object_set_new(o, "usage", usage_value(u))) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

char *mot_oai_chunk_event(const mot_oai_head *h, const char *text, size_t len, int role, const char *finish_reason,
                          int with_usage, const mot_oai_logprobs *lp) {
    json_t *o = head_object(h, 1), *choice, *l = logprobs_value(h->kind, lp);
    json_t *fr = finish_reason ? json_string(finish_reason) : json_null();
    if (h->kind == MOT_OAI_CHAT) {
        json_t *delta = json_object();
        if (role) json_object_set_new(delta, "role", json_string("assistant"));
        if (!finish_reason) json_object_set_new(delta, "content", text_value(text, len));
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "delta", delta, "logprobs", l, "finish_reason", fr);
    } else {
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "text", text_value(text, len), "logprobs", l,
                           "finish_reason", fr);
    }
    if (!o || !choice || json_object_set_new(o, "choices", json_pack("[o]", choice)) ||
        (with_usage && json_object_set_new(o, "usage", json_null()))) {
        json_decref(o);
        return NULL;
    }
    return event(o);
}

char *mot_oai_usage_event(const mot_oai_head *h, const mot_oai_usage *u) {
    json_t *o = head_object(h, 1);
    if (!o || json_object_set_new(o, "choices", json_array()) || json_object_set_new(o, "usage", usage_value(u))) {
        json_decref(o);
        return NULL;
    }
    return event(o);
}

static json_t *error_value(int http_status, const char *message, const char *param) {
    const char *type = http_status == 401   ? "authentication_error"
                       : http_status >= 500 ? "server_error"
                       : http_status == 404 ? "not_found_error"
                                            : "invalid_request_error";
    json_t *m = text_value(message, strlen(message));
    json_t *p = param && *param ? json_string(param) : json_null();
    return json_pack("{s:{s:o, s:s, s:o, s:i}}", "error", "message", m, "type", type, "param", p, "code",
                     http_status);
}

char *mot_oai_error_event(int http_status, const char *message) {
    return event(error_value(http_status, message, NULL));
}

char *mot_oai_error_json(int http_status, const char *message, const char *param) {
    return dump(error_value(http_status, message, param));
}

char *mot_oai_models_json(const char *model, long long created) {
    return dump(json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list", "data", "id", model, "object",
                          "model", "created", (json_int_t)created, "owned_by", "mot"));
}
