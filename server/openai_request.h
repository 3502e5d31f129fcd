/* The body of an OpenAI-style request (POST /v1/completions, /v1/chat/completions), read and
 * checked: what vLLM's and llama-server's clients send (the openai Python package, curl).
 *
 * Fields read (OpenAI's names; llama.cpp's and vLLM's spellings of the same meaning too):
 *   prompt (completions)      a string, an array of one string, or an array of token ids
 *   messages (chat)           [{role: system|developer|user|assistant, content: a string or
 *                             [{type: "text", text}] (joined by "\n")}]
 *   max_tokens, max_completion_tokens, n_predict (-1: to EOS or the context's end)
 *   temperature, top_p, top_k, min_p, seed, stop (a string or up to 16),
 *   presence_penalty, frequency_penalty, repetition_penalty / repeat_penalty, repeat_last_n,
 *   stream, stream_options.include_usage, ignore_eos
 *   logprobs: N (completions), logprobs: true + top_logprobs: N (chat), N <= 20
 *   experts (mot's own, for a MoT pipeline)  the routed set forced, primary first: "a,b" or
 *                             ["a", "b"] (as `mot run --experts`)
 * What mot does not do is refused rather than ignored (n > 1, best_of > 1, echo, suffix,
 * a logit_bias, tools, a response_format other than text); other fields (model,
 * user, metadata, ...) are ignored. An error names the field ("'temperature': expected a
 * number >= 0, got a string") and is the client's: HTTP 400. */
#ifndef MOT_SERVER_OPENAI_REQUEST_H
#define MOT_SERVER_OPENAI_REQUEST_H

#include <stddef.h>

#include "kernels/cpu/sampler.h"
#include "tokenizer/chat_format.h"

#define MOT_OAI_MAX_STOP 16          /* stop strings per request */
#define MOT_OAI_MAX_STOP_BYTES 256   /* bytes of one stop string */
#define MOT_OAI_MAX_MESSAGES 65536   /* messages of one chat request */
#define MOT_OAI_MAX_EXPERTS_BYTES 4096 /* "experts": the names with their commas */
#define MOT_OAI_MAX_TOP_LOGPROBS 20  /* alternatives per token (OpenAI's and vLLM's limit) */

typedef enum { MOT_OAI_COMPLETION, MOT_OAI_CHAT } mot_oai_kind;

typedef struct {
    mot_oai_kind kind;
    char *prompt;              /* completion: the text, or NULL when given as ids */
    int *prompt_ids;           /* completion: token ids [n_prompt_ids] (checked against the
                                * vocabulary later) */
    int n_prompt_ids;
    mot_chat_message *msgs;    /* chat: [n_msgs], contents owned */
    int n_msgs;
    int max_tokens;            /* -1: to EOS or the context's end */
    mot_sampler_params sampler;
    int seed_given;
    char *stop[MOT_OAI_MAX_STOP];
    int n_stop;
    int stream, include_usage, ignore_eos;
    char *experts;             /* a MoT pipeline's routed set forced ("a,b", primary first), or NULL */
    int logprobs;              /* -1: none; else each token's log-probability with the top N */
    char param[64];            /* on an error: the field at fault ("messages[2].content"), or "" */
} mot_oai_request;

/* Defaults for what a request leaves out. */
typedef struct {
    mot_sampler_params sampler; /* temperature, top_p, ... (seed: unused) */
    int max_tokens;             /* -1: none */
} mot_oai_defaults;

/* Reads body[0..len) as a request of `kind`. On an error (MOT_ERR_ARG, the message recorded,
 * r->param set) r holds nothing to free but is still freed safely. */
mot_status mot_oai_request_parse(const char *body, size_t len, mot_oai_kind kind, const mot_oai_defaults *d,
                                 mot_oai_request *r);
void mot_oai_request_free(mot_oai_request *r);

#endif
