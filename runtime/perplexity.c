#include "runtime/perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/engine.h"

/* The NLLs of the scored rows among the pass's rows [p0, p0 + n) of a chunk (logits [n, vocab])
 * into out[j - first]; rows are independent, so threads split them (sums stay in order). */
static void score_rows(const mot_perplexity_params *p, int c, const float *logits, int vocab, const int32_t *chunk,
                       int p0, int n, int first, double *out) {
    const int lo = p0 > first ? p0 : first, hi = p0 + n < p->n_ctx - 1 ? p0 + n : p->n_ctx - 1;
#pragma omp parallel for schedule(static)
    for (int j = lo; j < hi; j++) {
        const float *row = logits + (size_t)(j - p0) * vocab;
        const mot_row_softmax sm = mot_row_softmax_of(row, vocab); /* NaN log_z: broken weights */
        out[j - first] = sm.log_z - (double)row[chunk[j + 1]];
        if (p->on_row) p->on_row(p->user, c, j, row, &sm, chunk[j + 1]);
    }
}

/* One chunk from an empty cache, in passes of at most n_batch tokens: nll[0 .. n_ctx-first-1). */
static mot_status eval_chunk(mot_engine *e, int c, const int32_t *chunk, const mot_perplexity_params *p, int first,
                             float *logits, double *nll) {
    const int vocab = e->src.ex[0]->cfg.vocab, batch = e->src.max_rows[0];
    for (int p0 = 0; p0 < p->n_ctx; p0 += batch) {
        int n = p->n_ctx - p0 < batch ? p->n_ctx - p0 : batch;
        int *ids = (int *)chunk + p0; /* int is int32_t (runtime/engine.c) */
        MOT_TRY(p0 == 0 ? mot_engine_prefill(e, &ids, &n) : mot_engine_extend(e, ids, n));
        if (p0 + n <= first) {
            continue; /* nothing scored in this pass: its logits are not read */
        }
        MOT_TRY(mot_engine_all_logits(e, n, logits));
        score_rows(p, c, logits, vocab, chunk, p0, n, first, nll);
    }
    return MOT_OK;
}

mot_status mot_perplexity(const mot_expert *ex, const int *tokens, int n, const mot_perplexity_params *p,
                          mot_perplexity_result *r) {
    memset(r, 0, sizeof *r);
    if (p->n_ctx < 4 || p->n_batch < 1 || p->n_prefix >= p->n_ctx / 2) {
        return mot_fail(MOT_ERR_ARG, "perplexity: a context of %d tokens is too small (at least 4, and more than "
                                     "twice the %d BOS tokens each chunk starts with)",
                        p->n_ctx, p->n_prefix);
    }
    if (n < p->n_ctx) {
        return mot_fail(MOT_ERR_ARG,
                        "perplexity: the text is %d tokens, less than one chunk of %d (give a longer text or a "
                        "smaller -c)",
                        n, p->n_ctx);
    }
    r->n_ctx = p->n_ctx;
    r->first = p->n_ctx / 2;
    r->n_chunks = n / p->n_ctx;
    if (p->max_chunks > 0 && p->max_chunks < r->n_chunks) {
        r->n_chunks = p->max_chunks;
    }
    const int scored = p->n_ctx - r->first - 1, vocab = ex->cfg.vocab;
    const int batch = p->n_batch < p->n_ctx ? p->n_batch : p->n_ctx;
    int32_t *chunk = malloc((size_t)p->n_ctx * sizeof *chunk);
    double *nll = malloc((size_t)scored * sizeof *nll); /* scored >= 1: n_ctx >= 4 */
    float *logits = malloc((size_t)batch * vocab * sizeof *logits);
    if (p->keep) {
        r->tokens = malloc((size_t)r->n_chunks * p->n_ctx * sizeof *r->tokens);
        r->token_nll = malloc((size_t)r->n_chunks * scored * sizeof *r->token_nll);
    }
    mot_status st = MOT_OK;
    if (!chunk || !nll || !logits || (p->keep && (!r->tokens || !r->token_nll))) {
        st = mot_fail(MOT_ERR_NOMEM, "perplexity: out of memory for %d rows of %d logits", batch, vocab);
    }
    mot_plan_source src;
    mot_plan_source_single(ex, p->n_ctx, batch, &src);
    src.all_logits = 1;
    mot_engine e;
    mot_engine_options eo = {.backend = p->backend, .sampler = {.repeat_penalty = 1.0f}}; /* greedy, unused */
    const int opened = st == MOT_OK;
    if (opened) st = mot_engine_open(&e, &src, &eo);
    for (int c = 0; st == MOT_OK && c < r->n_chunks; c++) {
        for (int t = 0; t < p->n_ctx; t++) {
            chunk[t] = t < p->n_prefix ? p->prefix[t] : tokens[(size_t)c * p->n_ctx + t];
        }
        if (p->before_chunk && (st = p->before_chunk(p->user, c)) != MOT_OK) {
            break;
        }
        const double t0 = mot_now();
        st = eval_chunk(&e, c, chunk, p, r->first, logits, nll);
        r->seconds += mot_now() - t0;
        for (int j = 0; st == MOT_OK && j < scored; j++) {
            if (!isfinite(nll[j])) {
                st = mot_fail(MOT_ERR_FORMAT,
                              "perplexity: %s: the logits at position %d of chunk %d hold NaN/inf: the weights are "
                              "broken",
                              ex->name, r->first + j, c + 1);
                break;
            }
            r->nll += nll[j], r->nll2 += nll[j] * nll[j];
        }
        if (st != MOT_OK) {
            break;
        }
        r->count += scored;
        r->done = c + 1;
        if (p->keep) {
            memcpy(r->tokens + (size_t)c * p->n_ctx, chunk, (size_t)p->n_ctx * sizeof *chunk);
            memcpy(r->token_nll + (size_t)c * scored, nll, (size_t)scored * sizeof *nll);
        }
        if (p->on_chunk && (st = p->on_chunk(p->user, r)) != MOT_OK) {
            break;
        }
    }
    if (opened) mot_engine_close(&e);
    free(chunk), free(nll), free(logits);
    return st;
}

double mot_perplexity_ppl(const mot_perplexity_result *r) {
    return r->count > 0 ? exp(r->nll / (double)r->count) : NAN;
}

/* As llama.cpp: the sample variance of the per-token NLL over count - 1, its standard error
 * times PPL (the first-order error of exp). */
double mot_perplexity_ppl_error(const mot_perplexity_result *r) {
    if (r->count < 2) {
        return NAN;
    }
    const double mean = r->nll / (double)r->count, var = r->nll2 / (double)r->count - mean * mean;
    return var > 0 ? sqrt(var / (double)(r->count - 1)) * mot_perplexity_ppl(r) : 0.0;
}

void mot_perplexity_result_free(mot_perplexity_result *r) {
    free(r->tokens);
    free(r->token_nll);
    memset(r, 0, sizeof *r);
}
