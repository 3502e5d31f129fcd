/* Perplexity of one expert over a text, as llama.cpp's llama-perplexity computes it: the
 * tokens cut into chunks of n_ctx, each chunk evaluated from an empty cache, and of each
 * chunk only the second half scored (positions first = n_ctx / 2 .. n_ctx - 2 each predict the
 * next token), so every scored token sees at least n_ctx / 2 tokens of context. A chunk's
 * first tokens become the tokenizer's BOS prefix when it adds one (llama.cpp does the same).
 * PPL = exp(mean NLL); its error is PPL times the standard error of the mean NLL. */
#ifndef MOT_RUNTIME_PERPLEXITY_H
#define MOT_RUNTIME_PERPLEXITY_H

#include <stdint.h>

#include "executor/backend.h"
#include "runtime/expert.h"
#include "runtime/row_softmax.h"

typedef struct mot_perplexity_result mot_perplexity_result;

typedef struct {
    int n_ctx;            /* tokens a chunk (and the cache) */
    int n_batch;          /* tokens a pass (a chunk runs in ceil(n_ctx / n_batch) passes) */
    int max_chunks;       /* <= 0: every whole chunk of the text */
    const int *prefix;    /* [n_prefix] the ids each chunk starts with (BOS), or NULL */
    int n_prefix;
    int keep;             /* keep the chunks' tokens and every scored token's NLL (--dump) */
    mot_backend_options backend;
    void *user;           /* for the callbacks, each optional: */
    /* before chunk c runs; a failure stops the run with it */
    mot_status (*before_chunk)(void *user, int c);
    /* every scored row: position pos of chunk c, its logits [vocab] and their softmax
     * normalizer, the token it predicts; called from several threads at once, for different rows */
    void (*on_row)(void *user, int c, int pos, const float *logits, const mot_row_softmax *sm, int target);
    /* after each chunk (r->done of r->n_chunks); a failure stops the run with it */
    mot_status (*on_chunk)(void *user, const mot_perplexity_result *r);
} mot_perplexity_params;

struct mot_perplexity_result {
    int n_chunks, n_ctx, first; /* scored: positions first .. n_ctx - 2 of each chunk */
    int done;                   /* chunks evaluated */
    long long count;            /* tokens scored */
    double nll, nll2;           /* sums over the scored tokens of NLL (nats) and NLL^2 */
    double seconds;             /* of the passes */
    int32_t *tokens;            /* [n_chunks, n_ctx] as evaluated (keep) */
    double *token_nll;          /* [n_chunks, n_ctx - first - 1] (keep) */
};

/* Chunks of tokens[0..n) (n >= n_ctx: one whole chunk at least; a partial last one is left). */
mot_status mot_perplexity(const mot_expert *ex, const int *tokens, int n, const mot_perplexity_params *p,
                          mot_perplexity_result *r);
double mot_perplexity_ppl(const mot_perplexity_result *r);       /* exp(nll / count) */
double mot_perplexity_ppl_error(const mot_perplexity_result *r); /* PPL x the mean NLL's standard error */
void mot_perplexity_result_free(mot_perplexity_result *r);

#endif
