/* Reading an OpenAI-style request body (openai_request.h). */
#include "server/openai_request.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/tok_buf.h"

/* An error about field `param` (copied into r->param). */
static mot_status bad(mot_oai_request *r, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mot_status bad(mot_oai_request *r, const char *param, const char *fmt, ...) {
    snprintf(r->param, sizeof r->param, "%s", param);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mot_fail(MOT_ERR_ARG, "'%s': %s", param, msg);
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* The field `key` as a number in [lo, hi]; absent or null leaves *out as it is. */
static mot_status get_number(mot_oai_request *r, const json_t *o, const char *key, double lo, double hi,
                             float *out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    const double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v)) {
        return bad(r, key, "expected a number from %g to %g, got %s", lo, hi, type_name(v));
    }
    if (!(x >= lo && x <= hi)) {
        return bad(r, key, "expected a number from %g to %g, got %g", lo, hi, x);
    }
    *out = (float)x;
    return MOT_OK;
}

/* The field `key` as an integer in [lo, hi] (5.0 counts as 5); absent or null: *given = 0. */
static mot_status get_int(mot_oai_request *r, const json_t *o, const char *key, long long lo, long long hi,
                          long long *out, int *given) {
    const json_t *v = json_object_get(o, key);
    if (given) *given = 0;
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    double x = NAN;
    if (json_is_integer(v)) {
        x = (double)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
        x = json_real_value(v);
    }
    if (!(x >= (double)lo && x <= (double)hi)) {
        return bad(r, key, "expected an integer from %lld to %lld, got %s", lo, hi,
                   json_is_number(v) ? "another number" : type_name(v));
    }
    *out = json_is_integer(v) ? (long long)json_integer_value(v) : (long long)x;
    if (given) *given = 1;
    return MOT_OK;
}

static mot_status get_bool(mot_oai_request *r, const json_t *o, const char *key, int *out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (!json_is_boolean(v)) {
        return bad(r, key, "expected true or false, got %s", type_name(v));
    }
    *out = json_is_true(v);
    return MOT_OK;
}

/* A copy of a JSON string (it holds no NUL: the parser refuses \u0000). */
static mot_status dup_string(const json_t *v, char **out) {
    const size_t n = json_string_length(v);
    if (!(*out = malloc(n + 1))) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (a string of %zu bytes)", n);
    }
    memcpy(*out, json_string_value(v), n + 1);
    return MOT_OK;
}

/* completions' prompt: a string, [a string], or [token ids]. */
static mot_status read_prompt(mot_oai_request *r, const json_t *o) {
    const json_t *p = json_object_get(o, "prompt");
    if (!p || json_is_null(p)) {
        return bad(r, "prompt", "required (a string, or an array of token ids)");
    }
    if (json_is_string(p)) {
        return dup_string(p, &r->prompt);
    }
    if (!json_is_array(p) || json_array_size(p) == 0) {
        return bad(r, "prompt", "expected a string or a non-empty array, got %s",
                   json_is_array(p) ? "an empty array" : type_name(p));
    }
    const size_t n = json_array_size(p);
    const json_t *first = json_array_get(p, 0);
    if (json_is_string(first) || json_is_array(first)) {
        if (n > 1) {
            return bad(r, "prompt", "one prompt per request (this one has %zu: send them one by one)", n);
        }
        if (!json_is_string(first)) {
            return bad(r, "prompt[0]", "expected a string, got %s", type_name(first));
        }
        return dup_string(first, &r->prompt);
    }
    if (n > (size_t)1 << 24) {
        return bad(r, "prompt", "%zu token ids: more than any context (16777216)", n);
    }
    if (!(r->prompt_ids = malloc(n * sizeof *r->prompt_ids))) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (%zu token ids)", n);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(p, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > 0x7fffffff) {
            char param[32];
            snprintf(param, sizeof param, "prompt[%zu]", i);
            return bad(r, param, "expected a token id (an integer >= 0), got %s",
                       json_is_integer(t) ? "a negative or too large one" : type_name(t));
        }
        r->prompt_ids[i] = (int)json_integer_value(t);
    }
    r->n_prompt_ids = (int)n;
    return MOT_OK;
}

/* A message's content: a string, or text parts joined by "\n". */
static mot_status read_content(mot_oai_request *r, const json_t *c, size_t i, char **out) {
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (json_is_string(c)) {
        return dup_string(c, out);
    }
    if (!json_is_array(c)) {
        return bad(r, param, "expected a string or an array of text parts, got %s", type_name(c));
    }
    tok_buf b = {0};
    mot_status st = tok_buf_append(&b, "", 0);
    for (size_t k = 0; k < json_array_size(c) && st == MOT_OK; k++) {
        const json_t *part = json_array_get(c, k);
        const json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        snprintf(param, sizeof param, "messages[%zu].content[%zu]", i, k);
        if (!json_is_object(part) || !json_is_string(type)) {
            st = bad(r, param, "expected {\"type\": \"text\", \"text\": ...}, got %s",
                     json_is_object(part) ? "an object without a type" : type_name(part));
        } else if (strcmp(json_string_value(type), "text") != 0) {
            st = bad(r, param, "only text parts are supported (this one is '%.40s')", json_string_value(type));
        } else if (!json_is_string(text)) {
            st = bad(r, param, "'text': expected a string, got %s", text ? type_name(text) : "nothing");
        } else {
            if (k > 0) st = tok_buf_append(&b, "\n", 1);
            if (st == MOT_OK) st = tok_buf_append(&b, json_string_value(text), json_string_length(text));
        }
    }
    if (st != MOT_OK) {
        tok_buf_free(&b);
        return st;
    }
    *out = b.data;
    return MOT_OK;
}

static mot_status read_messages(mot_oai_request *r, const json_t *o) {
    const json_t *m = json_object_get(o, "messages");
    if (!json_is_array(m) || json_array_size(m) == 0) {
        return bad(r, "messages", "required: a non-empty array of {role, content}%s%s", m ? ", got " : "",
                   m ? (json_is_array(m) ? "an empty array" : type_name(m)) : "");
    }
    const size_t n = json_array_size(m);
    if (n > MOT_OAI_MAX_MESSAGES) {
        return bad(r, "messages", "%zu messages, at most %d", n, MOT_OAI_MAX_MESSAGES);
    }
    if (!(r->msgs = calloc(n, sizeof *r->msgs))) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (%zu messages)", n);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *msg = json_array_get(m, i);
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(msg)) {
            return bad(r, param, "expected an object {role, content}, got %s", type_name(msg));
        }
        const json_t *role = json_object_get(msg, "role"), *content = json_object_get(msg, "content");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!json_is_string(role)) {
            return bad(r, param, "expected system, user or assistant, got %s", role ? type_name(role) : "nothing");
        }
        const char *rs = json_string_value(role);
        mot_chat_role cr;
        if (!strcmp(rs, "system") || !strcmp(rs, "developer")) {
            cr = MOT_CHAT_SYSTEM;
        } else if (!strcmp(rs, "user")) {
            cr = MOT_CHAT_USER;
        } else if (!strcmp(rs, "assistant")) {
            cr = MOT_CHAT_ASSISTANT;
        } else {
            return bad(r, param, "'%.40s' is not a role mot renders (system, developer, user, assistant; no tools)",
                       rs);
        }
        if (!content || json_is_null(content)) {
            snprintf(param, sizeof param, "messages[%zu].content", i);
            return bad(r, param, "required (a string or text parts)");
        }
        char *text = NULL;
        MOT_TRY(read_content(r, content, i, &text));
        r->msgs[i] = (mot_chat_message){cr, text};
        r->n_msgs = (int)i + 1;
    }
    return MOT_OK;
}

static mot_status read_stop(mot_oai_request *r, const json_t *o) {
    const json_t *s = json_object_get(o, "stop");
    if (!s || json_is_null(s)) {
        return MOT_OK;
    }
    const size_t n = json_is_array(s) ? json_array_size(s) : 1;
    if (!json_is_string(s) && !json_is_array(s)) {
        return bad(r, "stop", "expected a string or an array of strings, got %s", type_name(s));
    }
    if (n > MOT_OAI_MAX_STOP) {
        return bad(r, "stop", "%zu stop strings, at most %d", n, MOT_OAI_MAX_STOP);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_is_array(s) ? json_array_get(s, i) : s;
        char param[32];
        snprintf(param, sizeof param, json_is_array(s) ? "stop[%zu]" : "stop", i);
        if (!json_is_string(v)) {
            return bad(r, param, "expected a string, got %s", type_name(v));
        }
        if (json_string_length(v) > MOT_OAI_MAX_STOP_BYTES) {
            return bad(r, param, "%zu bytes, at most %d", json_string_length(v), MOT_OAI_MAX_STOP_BYTES);
        }
        if (json_string_length(v) == 0) {
            continue; /* stops nothing */
        }
        MOT_TRY(dup_string(v, &r->stop[r->n_stop]));
        r->n_stop++;
    }
    return MOT_OK;
}

/* What mot does not do, asked for: refused rather than silently ignored. */
static mot_status refuse_unsupported(mot_oai_request *r, const json_t *o) {
    long long n = 1;
    int given;
    MOT_TRY(get_int(r, o, "n", 1, 1, &n, &given));
    MOT_TRY(get_int(r, o, "best_of", 1, 1, &n, &given));
    const json_t *v;
    if ((v = json_object_get(o, "echo")) && json_is_true(v)) {
        return bad(r, "echo", "not supported (the prompt is not returned)");
    }
    if ((v = json_object_get(o, "suffix")) && !json_is_null(v)) {
        return bad(r, "suffix", "not supported (no fill-in-the-middle)");
    }
    if ((v = json_object_get(o, "logit_bias")) && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0)) {
        return bad(r, "logit_bias", "not supported");
    }
    if ((v = json_object_get(o, "tools")) && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
        return bad(r, "tools", "not supported (no tool calls)");
    }
    if ((v = json_object_get(o, "response_format")) && !json_is_null(v)) {
        const json_t *t = json_object_get(v, "type");
        if (!json_is_string(t) || strcmp(json_string_value(t), "text") != 0) {
            return bad(r, "response_format", "only {\"type\": \"text\"} is supported");
        }
    }
    return MOT_OK;
}

static mot_status read_sampling(mot_oai_request *r, const json_t *o) {
    mot_sampler_params *s = &r->sampler;
    MOT_TRY(get_number(r, o, "temperature", 0.0, 1e6, &s->temperature));
    MOT_TRY(get_number(r, o, "top_p", 0.0, 1.0, &s->top_p));
    MOT_TRY(get_number(r, o, "min_p", 0.0, 1.0, &s->min_p));
    MOT_TRY(get_number(r, o, "presence_penalty", -2.0, 2.0, &s->presence_penalty));
    MOT_TRY(get_number(r, o, "frequency_penalty", -2.0, 2.0, &s->frequency_penalty));
    MOT_TRY(get_number(r, o, "repetition_penalty", 1e-6, 1e6, &s->repeat_penalty)); /* vLLM's name */
    MOT_TRY(get_number(r, o, "repeat_penalty", 1e-6, 1e6, &s->repeat_penalty));     /* llama-server's */
    long long x;
    int given;
    MOT_TRY(get_int(r, o, "top_k", -1, 1 << 30, &x, &given));
    if (given) s->top_k = x < 0 ? 0 : (int)x; /* vLLM's -1 and llama.cpp's 0: off */
    MOT_TRY(get_int(r, o, "repeat_last_n", -1, 1 << 24, &x, &given));
    if (given) s->repeat_last_n = (int)x;
    MOT_TRY(get_int(r, o, "seed", -(1LL << 62), 1LL << 62, &x, &r->seed_given));
    if (r->seed_given) s->seed = (uint64_t)x;
    return MOT_OK;
}

static mot_status read_limits(mot_oai_request *r, const json_t *o) {
    static const char *const keys[] = {"max_tokens", "max_completion_tokens", "n_predict"};
    for (int k = 0; k < 3; k++) {
        long long x;
        int given;
        /* -1 (llama.cpp's "no limit") only under its own name */
        MOT_TRY(get_int(r, o, keys[k], k == 2 ? -1 : 1, 1 << 24, &x, &given));
        if (given) r->max_tokens = (int)x;
    }
    MOT_TRY(get_bool(r, o, "stream", &r->stream));
    const json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            return bad(r, "stream_options", "expected an object, got %s", type_name(so));
        }
        if (!r->stream) {
            return bad(r, "stream_options", "only with \"stream\": true");
        }
        MOT_TRY(get_bool(r, so, "include_usage", &r->include_usage));
    }
    return get_bool(r, o, "ignore_eos", &r->ignore_eos);
}

/* Log-probabilities of the answer's tokens: a completion's "logprobs": N (the top N with
 * each), a chat's "logprobs": true with "top_logprobs": N. */
static mot_status read_logprobs(mot_oai_request *r, const json_t *o) {
    long long n = 0;
    int given = 0;
    if (r->kind == MOT_OAI_COMPLETION) {
        MOT_TRY(get_int(r, o, "logprobs", 0, MOT_OAI_MAX_TOP_LOGPROBS, &n, &given));
        if (given) r->logprobs = (int)n;
        const json_t *t = json_object_get(o, "top_logprobs");
        return t && !json_is_null(t) ? bad(r, "top_logprobs", "a chat field: a completion's \"logprobs\" is the number")
                                     : MOT_OK;
    }
    int on = 0;
    MOT_TRY(get_bool(r, o, "logprobs", &on));
    MOT_TRY(get_int(r, o, "top_logprobs", 0, MOT_OAI_MAX_TOP_LOGPROBS, &n, &given));
    if (given && !on) {
        return bad(r, "top_logprobs", "only with \"logprobs\": true");
    }
    if (on) r->logprobs = (int)n;
    return MOT_OK;
}

/* mot's own field for a MoT pipeline: the routed set forced, primary first (as `mot run
 * --experts`), "a,b" or ["a", "b"]; kept as "a,b" for the router, which checks the names. */
static mot_status read_experts(mot_oai_request *r, const json_t *o) {
    const json_t *e = json_object_get(o, "experts");
    if (!e || json_is_null(e)) {
        return MOT_OK;
    }
    if (json_is_string(e)) {
        if (json_string_length(e) == 0 || json_string_length(e) > MOT_OAI_MAX_EXPERTS_BYTES) {
            return bad(r, "experts", "expected 1 to %d bytes of names, got %zu", MOT_OAI_MAX_EXPERTS_BYTES,
                       json_string_length(e));
        }
        return dup_string(e, &r->experts);
    }
    if (!json_is_array(e) || json_array_size(e) == 0) {
        return bad(r, "experts", "expected expert names (\"a,b\" or [\"a\", \"b\"], primary first), got %s",
                   json_is_array(e) ? "an empty array" : type_name(e));
    }
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(e); i++) {
        const json_t *v = json_array_get(e, i);
        char param[32];
        snprintf(param, sizeof param, "experts[%zu]", i);
        if (!json_is_string(v) || json_string_length(v) == 0 || strchr(json_string_value(v), ',')) {
            return bad(r, param, "expected an expert's name, got %s",
                       json_is_string(v) ? "an empty name or one with a comma" : type_name(v));
        }
        total += json_string_length(v) + 1;
        if (total > MOT_OAI_MAX_EXPERTS_BYTES) {
            return bad(r, "experts", "more than %d bytes of names", MOT_OAI_MAX_EXPERTS_BYTES);
        }
    }
    if (!(r->experts = malloc(total))) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory");
    }
    size_t at = 0;
    for (size_t i = 0; i < json_array_size(e); i++) {
        const json_t *v = json_array_get(e, i);
        memcpy(r->experts + at, json_string_value(v), json_string_length(v));
        at += json_string_length(v);
        r->experts[at++] = i + 1 < json_array_size(e) ? ',' : 0;
    }
    return MOT_OK;
}

mot_status mot_oai_request_parse(const char *body, size_t len, mot_oai_kind kind, const mot_oai_defaults *d,
                                 mot_oai_request *r) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->logprobs = -1;
    r->sampler = d->sampler;
    r->max_tokens = d->max_tokens;
    json_error_t err;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!o) {
        snprintf(r->param, sizeof r->param, "%s", "");
        if (strstr(err.text, "\\u0000")) {
            return mot_fail(MOT_ERR_ARG, "request body: line %d, column %d: a string holds \\u0000 (text may not)",
                            err.line, err.column);
        }
        return mot_fail(MOT_ERR_ARG, "request body: not JSON: line %d, column %d: %s", err.line, err.column, err.text);
    }
    mot_status st = MOT_OK;
    if (!json_is_object(o)) {
        st = mot_fail(MOT_ERR_ARG, "request body: expected a JSON object, got %s", type_name(o));
    }
    if (st == MOT_OK) st = refuse_unsupported(r, o);
    if (st == MOT_OK) st = kind == MOT_OAI_CHAT ? read_messages(r, o) : read_prompt(r, o);
    if (st == MOT_OK) st = read_sampling(r, o);
    if (st == MOT_OK) st = read_stop(r, o);
    if (st == MOT_OK) st = read_limits(r, o);
    if (st == MOT_OK) st = read_experts(r, o);
    if (st == MOT_OK) st = read_logprobs(r, o);
    json_decref(o);
    if (st != MOT_OK) {
        char param[sizeof r->param];
        memcpy(param, r->param, sizeof param);
        mot_oai_request_free(r);
        memcpy(r->param, param, sizeof param);
    }
    return st;
}

void mot_oai_request_free(mot_oai_request *r) {
    free(r->prompt);
    free(r->experts);
    free(r->prompt_ids);
    for (int i = 0; i < r->n_msgs; i++) {
        free((char *)r->msgs[i].content);
    }
    free(r->msgs);
    for (int i = 0; i < r->n_stop; i++) {
        free(r->stop[i]);
    }
    memset(r, 0, sizeof *r);
}
