/* libFuzzer target: an OpenAI request body as `mot serve` reads it (server/openai_request.c):
 * the first byte picks the route (even: /v1/completions, odd: /v1/chat/completions), the rest
 * is the body. A request that reads well then goes through what answering it does without a
 * model: its text (the prompt, or each message) streamed through its stop strings in pieces
 * of the next byte's size, and the answer's JSON, chunks and usage built from what comes out
 * (any bytes: invalid UTF-8 becomes U+FFFD), with log-probabilities when it asked for them. Build and run: scripts/fuzz.sh openai SECONDS. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/openai_request.h"
#include "server/openai_response.h"
#include "server/stop_strings.h"

/* The text through the stop strings in pieces of `step` bytes; then the answer built. */
static void answer(const mot_oai_request *r, const char *text, size_t len, size_t step) {
    mot_stop_strings ss;
    mot_stop_strings_init(&ss, r->stop, r->n_stop);
    /* a pipeline's answer names its experts: the request's forced set, when given, as names */
    const char *names[2] = {r->experts, "b"};
    const mot_oai_head h = {r->kind, "cmpl-fuzz", 1, "fuzz", names, r->experts ? 2 : 0};
    /* log-probabilities of "tokens" that are the text's first bytes (any bytes), -inf among them */
    mot_oai_logprob items[2] = {0};
    const size_t cut = len < 3 ? len : 3;
    for (int i = 0; i < 2; i++) {
        items[i].chosen = (mot_oai_token_prob){(char *)text, cut, i ? -INFINITY : -0.5};
        items[i].n_top = r->logprobs > 0 ? (r->logprobs < 3 ? r->logprobs : 3) : 0;
        for (int k = 0; k < items[i].n_top; k++) items[i].top[k] = (mot_oai_token_prob){(char *)text + k % (cut + 1), cut - k % (cut + 1), -k};
        items[i].text_offset = i;
    }
    const mot_oai_logprobs lps = {items, 2};
    size_t given = 0;
    for (size_t at = 0; at < len && !ss.stopped; at += step) {
        const char *out;
        size_t n;
        if (mot_stop_strings_push(&ss, text + at, len - at < step ? len - at : step, &out, &n) != MOT_OK) {
            break;
        }
        given += n;
        free(mot_oai_chunk_event(&h, out, n, at == 0, NULL, r->include_usage, r->logprobs >= 0 ? &lps : NULL));
    }
    const char *out;
    size_t n;
    mot_stop_strings_finish(&ss, &out, &n);
    given += n;
    if (given != ss.len || (!ss.stopped && ss.len != len) || ss.len > len) {
        abort(); /* what is given out is the text, cut at a stop string */
    }
    const mot_oai_usage u = {3, 4, 1};
    free(mot_oai_response_json(&h, ss.text ? ss.text : "", ss.len, ss.stopped ? "stop" : "length", &u,
                                r->logprobs >= 0 ? &lps : NULL));
    free(mot_oai_chunk_event(&h, "", 0, 0, "stop", 1, NULL));
    free(mot_oai_usage_event(&h, &u));
    mot_stop_strings_free(&ss);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) {
        return 0;
    }
    const mot_oai_defaults d = {{.temperature = 1.0f, .top_p = 1.0f, .repeat_penalty = 1.0f, .repeat_last_n = 64}, 16};
    mot_oai_request r;
    const mot_oai_kind kind = data[0] & 1 ? MOT_OAI_CHAT : MOT_OAI_COMPLETION;
    const size_t step = 1 + data[1] % 16;
    if (mot_oai_request_parse((const char *)data + 2, size - 2, kind, &d, &r) == MOT_OK) {
        if (r.prompt) answer(&r, r.prompt, strlen(r.prompt), step);
        for (int i = 0; i < r.n_msgs; i++) answer(&r, r.msgs[i].content, strlen(r.msgs[i].content), step);
        free(mot_oai_error_json(400, r.prompt ? r.prompt : "x", r.param));
    } else {
        free(mot_oai_error_json(400, "bad", r.param));
    }
    mot_oai_request_free(&r);
    return 0;
}
