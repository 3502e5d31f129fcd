/* Plain generation with one expert: prefill the prompt, then sample and feed one token at a
 * time until EOS, the token limit or the context end. */
#ifndef MOT_RUNTIME_GENERATE_H
#define MOT_RUNTIME_GENERATE_H

#include "runtime/engine.h"
#include "runtime/expert.h"
#include "kernels/cpu/sampler.h"
#include "runtime/token_log.h"

typedef struct {
    int n_predict;        /* < 0: until EOS or the context is full */
    mot_sampler_params sampler;
    int keep_logits;      /* keep every logits row (for --dump) */
    int ignore_eos;       /* EOS does not stop generation (llama.cpp's --ignore-eos) */
    mot_backend_options backend;
    /* Called with each sampled token as soon as it is known (EOS included). Returning
     * non-zero stops generation. */
    int (*on_token)(void *user, int token);
    void *user;
} mot_generate_params;

typedef struct {
    mot_token_log sampled; /* tokens [T], logits [T, vocab] when keep_logits */
    double prompt_s;       /* prefill seconds (incl. the first sample) */
    double gen_s;          /* seconds of the decode steps */
    int n_prompt;
    int stopped_by_eos;
} mot_generate_result;

/* n_ctx: positions the cache holds; max_batch: prompt tokens per prefill pass. */
mot_status mot_generate(const mot_expert *ex, int n_ctx, int max_batch, const int *prompt, int n_prompt,
                        const mot_generate_params *p, mot_generate_result *res);
/* The sampling loop of mot_generate, on an engine whose last pass (a prefill or an extend of
 * one lane) sampled the reply's first token: logs it, calls on_token, stops at EOS, at
 * n_predict tokens or at the context's end, else decodes it and goes on. Every token logged
 * but the last has been fed to the cache. */
mot_status mot_generate_reply(mot_engine *e, const mot_generate_params *p, mot_generate_result *res);
void mot_generate_result_free(mot_generate_result *res);

#endif
