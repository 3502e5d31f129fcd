/* The JSON mot answers with, in OpenAI's shapes (what the openai package parses):
 *   a completion    {"id": "cmpl-...", "object": "text_completion", "created", "model",
 *                    "choices": [{"index": 0, "text", "logprobs": null, "finish_reason"}], "usage"}
 *   a chat reply    {"id": "chatcmpl-...", "object": "chat.completion", ..., "choices": [{"index": 0,
 *                    "message": {"role": "assistant", "content"}, "logprobs": null, "finish_reason"}], "usage"}
 *   streamed        "data: {chunk}\n\n" events ("text_completion" / "chat.completion.chunk",
 *                    a chat's first delta {"role": "assistant", "content": ""}), the last with its
 *                    finish_reason, with include_usage a chunk of "choices": [] and the usage,
 *                    then "data: [DONE]\n\n"
 *   usage           {"prompt_tokens", "completion_tokens", "total_tokens",
 *                    "prompt_tokens_details": {"cached_tokens"}} (cached: reused from the KV cache)
 *   an error        {"error": {"message", "type", "param", "code"}}
 * Text is made valid UTF-8 first (an invalid byte becomes U+FFFD): a reply cut at a token
 * limit can end inside a character. Every function returns a malloc'd string, NULL when out
 * of memory. */
#ifndef MOT_SERVER_OPENAI_RESPONSE_H
#define MOT_SERVER_OPENAI_RESPONSE_H

#include <stddef.h>

#include "server/openai_request.h"

typedef struct {
    mot_oai_kind kind;
    const char *id;
    long long created; /* Unix seconds */
    const char *model;
    const char *const *experts; /* a MoT pipeline's routed experts, primary first: the answer
                                 * and every chunk carry "experts": [names] (mot's own field;
                                 * clients ignore it); NULL: none */
    int n_experts;
} mot_oai_head;

typedef struct {
    int prompt_tokens, completion_tokens, cached_tokens;
} mot_oai_usage;

/* A token's text (its decode alone; any bytes) and log-probability. */
typedef struct {
    char *text;
    size_t len;
    double logprob;
} mot_oai_token_prob;

/* One answer token's log-probabilities: the token, the top n_top of its distribution. */
typedef struct {
    mot_oai_token_prob chosen;
    int n_top;
    mot_oai_token_prob top[MOT_OAI_MAX_TOP_LOGPROBS];
    long long text_offset;     /* completions: characters of the answer before the token */
} mot_oai_logprob;

/* The "logprobs" of a choice or chunk: NULL is null; else items[0..n) as
 *   completions  {"tokens": [text], "token_logprobs": [lp], "top_logprobs": [{text: lp}],
 *                 "text_offset": [n]}
 *   chat         {"content": [{"token", "logprob", "bytes": [b], "top_logprobs": [{"token",
 *                 "logprob", "bytes"}]}]}
 * A log-probability that is not finite (a -inf logit) is written as -9999.0, as vLLM does. */
typedef struct {
    const mot_oai_logprob *items;
    int n;
} mot_oai_logprobs;

char *mot_oai_response_json(const mot_oai_head *h, const char *text, size_t len, const char *finish_reason,
                            const mot_oai_usage *u, const mot_oai_logprobs *lp);
/* A streamed chunk's event: a piece of text (role: the chat's first, with the role), or the
 * end (finish_reason not NULL). with_usage: the chunk carries "usage": null (include_usage).
 * lp: the log-probabilities of the tokens since the last chunk, or NULL. */
char *mot_oai_chunk_event(const mot_oai_head *h, const char *text, size_t len, int role, const char *finish_reason,
                          int with_usage, const mot_oai_logprobs *lp);
/* include_usage's last chunk: "choices": [] and the usage. */
char *mot_oai_usage_event(const mot_oai_head *h, const mot_oai_usage *u);
/* An error inside a stream: "data: {"error": ...}\n\n". */
char *mot_oai_error_event(int http_status, const char *message);
char *mot_oai_error_json(int http_status, const char *message, const char *param);
char *mot_oai_models_json(const char *model, long long created);

#endif
