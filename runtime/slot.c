/* Prompt after prompt on one engine, the common prefix of the cache reused (slot.h). */
#include "runtime/slot.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

mot_status mot_slot_open(mot_slot *s, const mot_expert *ex, int n_ctx, int max_batch, const mot_engine_options *o) {
    memset(s, 0, sizeof *s);
    s->ex = ex, s->n_ctx = n_ctx;
    s->max_batch = max_batch > 0 && max_batch < n_ctx ? max_batch : n_ctx;
    if (!(s->cache = malloc((size_t)n_ctx * sizeof *s->cache))) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory (a token list of %d)", n_ctx);
    }
    mot_plan_source src;
    mot_plan_source_single(ex, n_ctx, s->max_batch, &src);
    s->open = 1; /* closed by mot_slot_close, also when opening failed half-way */
    return mot_engine_open(&s->engine, &src, o);
}

/* The first prompt fills an empty cache; later ones go on after the longest prefix the cache
 * shares with them (at least their last token is fed: its logits start the reply). */
static mot_status feed(mot_slot *s, const int *prompt, int n, const mot_sampler_params *sp, int *reused) {
    if (!s->prefilled) {
        *reused = 0;
        if (sp) {
            MOT_TRY(mot_engine_set_sampler(&s->engine, sp, NULL, 0));
        }
        int *lanes[1] = {(int *)prompt};
        MOT_TRY(mot_engine_prefill(&s->engine, lanes, &n));
        s->prefilled = 1;
        return MOT_OK;
    }
    int k = 0;
    while (k < s->n_cache && k < n - 1 && s->cache[k] == prompt[k]) {
        k++;
    }
    *reused = k;
    if (sp) { /* the penalties' history: the kept prefix, then extend's tokens */
        MOT_TRY(mot_engine_set_sampler(&s->engine, sp, prompt, k));
    }
    MOT_TRY(mot_engine_rewind(&s->engine, k));
    s->n_cache = k;
    return mot_engine_extend(&s->engine, prompt + k, n - k);
}

mot_status mot_slot_start(mot_slot *s, const int *prompt, int n, const mot_sampler_params *sp, int *n_reused) {
    *n_reused = 0;
    if (n <= 0 || n >= s->n_ctx) {
        return mot_fail(MOT_ERR_ARG, "the prompt is %d tokens, the context only %d", n, s->n_ctx);
    }
    const mot_status st = feed(s, prompt, n, sp, n_reused);
    if (st != MOT_OK) {
        s->n_cache = s->n_cache < *n_reused ? s->n_cache : *n_reused; /* what is surely still there */
        return st;
    }
    memcpy(s->cache, prompt, (size_t)n * sizeof *prompt);
    s->n_cache = n;
    return MOT_OK;
}

int mot_slot_token(const mot_slot *s) { return s->engine.step.lane[0].token; }

int mot_slot_full(const mot_slot *s) { return s->engine.step.lane[0].pos >= s->n_ctx; }

mot_status mot_slot_next(mot_slot *s) {
    const int token = mot_slot_token(s);
    MOT_TRY(mot_engine_decode(&s->engine));
    if (s->n_cache < s->n_ctx) {
        s->cache[s->n_cache++] = token;
    }
    return MOT_OK;
}

mot_status mot_slot_reply(mot_slot *s, const mot_generate_params *p, mot_generate_result *res) {
    const mot_status st = mot_generate_reply(&s->engine, p, res);
    /* Every sampled token but the last was fed (decoded) into the cache. */
    const mot_token_log *log = &res->sampled;
    for (int i = 0; i + 1 < log->n && s->n_cache < s->n_ctx; i++) {
        s->cache[s->n_cache++] = log->tokens[i];
    }
    return st;
}

void mot_slot_close(mot_slot *s) {
    if (s->open) {
        mot_engine_close(&s->engine);
    }
    free(s->cache);
    memset(s, 0, sizeof *s);
}
