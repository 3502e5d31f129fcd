#include "runtime/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "executor/backend_select.h"
#include "profiling/trace.h"

_Static_assert(sizeof(int) == sizeof(int32_t), "token buffers are int32");

mot_status mot_engine_open(mot_engine *e, const mot_plan_source *src, const mot_engine_options *o) {
    memset(e, 0, sizeof *e);
    e->src = *src;
    e->src.unfused |= o->backend.unfused; /* the schedule's `fuse: off` */
    MOT_TRY(mot_arena_plan(&e->src, &e->layout));
    const int plans = o->plan_cache > 0 ? o->plan_cache : o->backend.plan_cache;
    MOT_TRY(mot_plan_cache_init(&e->plans, plans > 0 ? plans : 8));
    for (int i = 0; i < src->n_lanes; i++) {
        MOT_TRY(mot_sampler_init(&e->samplers[i], &o->sampler, (uint64_t)i, src->ex[i]->cfg.vocab));
    }
    /* The CUDA kernels for quantized blocks (kernels/cuda/quant.cu) are built and tested only
     * where a GPU was at hand: until a GPU session has passed their tests (docs/architecture.md,
     * "Quantized weights on the GPU"), `auto` keeps such runs on the CPU and an explicit
     * --backend cuda runs them on the GPU. */
    mot_backend_options bo = o->backend;
    for (int i = 0; i < src->n_lanes && bo.kind == MOT_BACKEND_AUTO; i++) {
        if (mot_expert_has_quantized(src->ex[i])) {
            bo.kind = MOT_BACKEND_CPU;
        }
    }
    MOT_TRY(mot_backend_create(&bo, &e->backend));
    e->trace = o->backend.trace;
    e->allow_nonfinite = o->backend.allow_nonfinite;
    return e->backend->open(e->backend, &e->src, &e->layout, e->samplers);
}

void mot_engine_close(mot_engine *e) {
    if (e->backend) {
        e->backend->destroy(e->backend);
    }
    mot_plan_cache_free(&e->plans);
    for (int i = 0; i < MOT_MAX_LANES; i++) {
        mot_sampler_free(&e->samplers[i]);
    }
    memset(e, 0, sizeof *e);
}

/* Runs one pass of `phase` from the host step state `e->step` (written first when `upload`). */
static mot_status pass(mot_engine *e, mot_phase phase, int upload) {
    const mot_plan *plan;
    MOT_TRY(mot_plan_cache_get(&e->plans, &e->src, &e->layout, phase, &plan));
    if (upload) {
        MOT_TRY(e->backend->write(e->backend, e->layout.step, &e->step));
    }
    int tokens = 0;
    const int primary_tokens = e->step.lane[0].n_new;
    for (int i = 0; i < e->src.n_lanes; i++) {
        e->fed[i] = e->step.lane[i].n_new > 0;
        tokens += e->step.lane[i].n_new;
    }
    mot_trace *t = e->trace;
    const double t0 = t ? mot_trace_now(t) : 0.0;
    if (t) {
        t->pass = e->passes, t->phase = (int)phase;
    }
    int sampled[MOT_MAX_LANES];
    for (int i = 0; i < e->src.n_lanes; i++) {
        sampled[i] = e->step.lane[i].n_sampled;
    }
    MOT_TRY(e->backend->execute(e->backend, plan));
    e->passes++;
    if (t) { /* the pass on the host track; its tokens and time for the summary */
        const double dur = mot_trace_now(t) - t0;
        const mot_trace_slice s = {.name = mot_phase_name(phase), .track = MOT_TRACE_HOST, .ts = t0, .dur = dur,
                                   .expert = -1, .stack = -1, .node_id = -1, .phase = (int)phase,
                                   .pass = e->passes - 1, .tokens = tokens};
        mot_trace_add(t, &s);
        if (phase == MOT_PHASE_DECODE) {
            t->decode_s += dur, t->gen_tokens++;
        } else {
            t->prefill_s += dur, t->prompt_tokens += primary_tokens;
        }
        t->pass = e->passes;
    }
    MOT_TRY(e->backend->read(e->backend, e->layout.step, &e->step));
    for (int i = 0; i < e->src.n_lanes; i++) {
        /* The random stream went on where the sampling ran (the device, for CUDA): a next
         * request on this engine continues it there. */
        e->samplers[i].rng = e->step.lane[i].rng;
        if (e->step.lane[i].n_sampled != sampled[i]) { /* the penalties' history sees the draw */
            mot_sampler_accept(&e->samplers[i], e->step.lane[i].token);
        }
    }
    return MOT_OK;
}

static mot_status check_tokens(const mot_engine *e, int lane, const int *tokens, int n) {
    for (int t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= e->src.ex[lane]->cfg.vocab) {
            /* The ids come from the expert's tokenizer: a bad file, not a bad command line. */
            return mot_fail(MOT_ERR_FORMAT,
                            "%s (%s): token id %d is outside the model's vocabulary [0, %d) (the tokenizer and the "
                            "config's vocabulary size disagree)",
                            e->src.ex[lane]->name, e->src.ex[lane]->dir, tokens[t], e->src.ex[lane]->cfg.vocab);
        }
    }
    return MOT_OK;
}

/* Passes feeding lane i's tokens[i][0..n[i]) after what its cache holds: one pass for
 * several lanes (a MoT prompt fits one); a single lane's long prompt in chunks of max_rows
 * without logits, the rest with them. */
static mot_status feed_prompt(mot_engine *e, const int *const *tokens, const int *n) {
    const int K = e->src.n_lanes;
    for (int done = 0;;) {
        for (int i = 0; i < K; i++) {
            const int chunk = n[i] - done < e->src.max_rows[i] ? n[i] - done : e->src.max_rows[i];
            e->step.lane[i].n_new = chunk;
            mot_buf dst = {e->layout.lane[i].tokens.off, (size_t)chunk * sizeof(int32_t)};
            MOT_TRY(e->backend->write(e->backend, dst, tokens[i] + done)); /* int is int32_t here */
        }
        done += e->step.lane[0].n_new;
        const int last = K > 1 || done == n[0];
        e->step.prefill = 1;
        MOT_TRY(pass(e, last ? MOT_PHASE_PREFILL : MOT_PHASE_PREFILL_CHUNK, 1));
        if (last) {
            return MOT_OK;
        }
    }
}

/* NaN/inf weights (a broken checkpoint, an f16 overflow in a conversion) make every logit, or
 * some, non-finite; sampling would then answer token 0 or a token that happens to be finite,
 * silently. One read of [vocab] floats per lane after the prompt catches it (step 0: the
 * weights have all been used once); decode steps are not read back (the sample stays on the
 * backend). */
static mot_status check_prompt_logits(mot_engine *e) {
    if (e->allow_nonfinite) {
        return MOT_OK;
    }
    mot_status st = MOT_OK;
    for (int i = 0; i < e->src.n_lanes && st == MOT_OK; i++) {
        const mot_expert *ex = e->src.ex[i];
        const int vocab = ex->cfg.vocab;
        float *row = malloc((size_t)vocab * sizeof *row);
        if (!row) {
            return mot_fail(MOT_ERR_NOMEM, "out of memory checking the logits");
        }
        st = mot_engine_logits(e, i, row);
        int bad = -1, n_bad = 0;
        for (int v = 0; v < vocab && st == MOT_OK; v++) {
            if (!isfinite(row[v])) {
                bad = bad < 0 ? v : bad;
                n_bad++;
            }
        }
        if (st == MOT_OK && n_bad > 0) {
            st = mot_fail(MOT_ERR_FORMAT,
                          "expert '%s' (%s): logits contain NaN/inf at step 0 (%d of %d, the first at token %d: %g): "
                          "the weights are broken (use --allow-nonfinite to continue)",
                          ex->name, ex->dir, n_bad, vocab, bad, row[bad]);
        }
        free(row);
    }
    return st;
}

mot_status mot_engine_prefill(mot_engine *e, int *const *tokens, const int *n) {
    const int K = e->src.n_lanes;
    memset(&e->step, 0, sizeof e->step);
    e->step.n_lanes = K;
    e->step.prefill = 1;
    for (int i = 0; i < K; i++) {
        mot_lane_step *ls = &e->step.lane[i];
        if (n[i] <= 0 || n[i] > e->src.ctx[i]) {
            return mot_fail(MOT_ERR_ARG, "%s: prompt of %d tokens for a context of %d", e->src.ex[i]->name, n[i],
                            e->src.ctx[i]);
        }
        if (K > 1 && n[i] > e->src.max_rows[i]) {
            return mot_fail(MOT_ERR_INTERNAL, "%s: a MoT prompt of %d tokens must fit one pass (%d rows)",
                            e->src.ex[i]->name, n[i], e->src.max_rows[i]);
        }
        MOT_TRY(check_tokens(e, i, tokens[i], n[i]));
        ls->n_prompt = n[i];
        ls->alive = 1;
        ls->rng = e->samplers[i].rng;
        mot_sampler_reset_history(&e->samplers[i]); /* a new request: the penalties see its prompt */
        for (int t = 0; t < n[i]; t++) {
            mot_sampler_accept(&e->samplers[i], tokens[i][t]);
        }
    }
    MOT_TRY(feed_prompt(e, (const int *const *)tokens, n));
    return check_prompt_logits(e);
}

mot_status mot_engine_extend(mot_engine *e, const int *tokens, int n) {
    mot_lane_step *ls = &e->step.lane[0];
    if (e->src.n_lanes != 1 || e->passes == 0) {
        return mot_fail(MOT_ERR_INTERNAL, "extend: one lane, after a prefill");
    }
    if (n <= 0 || ls->pos + n > e->src.ctx[0]) {
        return mot_fail(MOT_ERR_ARG, "%s: %d more tokens after %d for a context of %d", e->src.ex[0]->name, n, ls->pos,
                        e->src.ctx[0]);
    }
    MOT_TRY(check_tokens(e, 0, tokens, n));
    for (int t = 0; t < n; t++) { /* a conversation's next turn, as llama.cpp's sampler sees it */
        mot_sampler_accept(&e->samplers[0], tokens[t]);
    }
    ls->n_prompt += n;
    ls->alive = 1;
    return feed_prompt(e, &tokens, &n);
}

mot_status mot_engine_rewind(mot_engine *e, int pos) {
    mot_lane_step *ls = &e->step.lane[0];
    if (e->src.n_lanes != 1 || e->passes == 0 || pos < 0 || pos > ls->pos) {
        return mot_fail(MOT_ERR_INTERNAL, "rewind: one lane, after a prefill, to at most %d (asked %d)", ls->pos, pos);
    }
    /* Positions and latent rows move together for a lone lane; the keys past pos stay in
     * memory and are overwritten by the next pass, which reads only [0, pos + n_new). */
    /* the penalties' history held the pos tokens kept, the ones after them and the sample
     * not yet fed: all but the kept go (extend accepts what it feeds again) */
    mot_sampler_forget(&e->samplers[0], e->samplers[0].n_seen - pos);
    ls->pos = pos;
    ls->rows = pos;
    ls->n_prompt = pos < ls->n_prompt ? pos : ls->n_prompt;
    return MOT_OK;
}

/* Whether a and b sample alike (the seed aside: the random stream travels in the step state). */
static int same_sampling(const mot_sampler_params *a, const mot_sampler_params *b) {
    return a->temperature == b->temperature && a->top_k == b->top_k && a->top_p == b->top_p &&
           a->min_p == b->min_p && a->repeat_penalty == b->repeat_penalty &&
           a->presence_penalty == b->presence_penalty && a->frequency_penalty == b->frequency_penalty &&
           a->repeat_last_n == b->repeat_last_n;
}

mot_status mot_engine_set_sampler(mot_engine *e, const mot_sampler_params *p, const int *seen, int n_seen) {
    if (e->src.n_lanes != 1) {
        return mot_fail(MOT_ERR_INTERNAL, "set_sampler: one lane");
    }
    mot_sampler s;
    MOT_TRY(mot_sampler_init(&s, p, 0, e->src.ex[0]->cfg.vocab));
    e->rebind |= !same_sampling(&e->samplers[0].params, p);
    mot_sampler_free(&e->samplers[0]);
    e->samplers[0] = s; /* in place: the backend holds the array */
    for (int t = 0; t < n_seen; t++) {
        mot_sampler_accept(&e->samplers[0], seen[t]);
    }
    e->step.lane[0].rng = s.rng; /* the next pass uploads the step state */
    if (e->rebind && e->backend->samplers_changed) {
        MOT_TRY(e->backend->samplers_changed(e->backend)); /* failed: tried again at the next request */
    }
    e->rebind = 0;
    return MOT_OK;
}

mot_status mot_engine_decode(mot_engine *e) {
    for (int i = 0; i < e->src.n_lanes; i++) {
        const mot_lane_step *ls = &e->step.lane[i];
        if (ls->n_new > 0 && ls->pos + 1 > e->src.ctx[i]) {
            return mot_fail(MOT_ERR_ARG, "%s: context full (%d tokens)", e->src.ex[i]->name, e->src.ctx[i]);
        }
    }
    return pass(e, MOT_PHASE_DECODE, 0);
}

mot_status mot_engine_logits(mot_engine *e, int lane, float *out) {
    return e->backend->read(e->backend, e->layout.lane[lane].logits, out);
}

mot_status mot_engine_all_logits(mot_engine *e, int n, float *out) {
    const mot_buf all = e->layout.lane[0].all_logits;
    const size_t row = (size_t)e->src.ex[0]->cfg.vocab * sizeof(float);
    if (!e->src.all_logits || n < 0 || (size_t)n * row > all.bytes) {
        return mot_fail(MOT_ERR_INTERNAL, "engine: %d rows of logits asked of an engine that keeps %zu", n,
                        e->src.all_logits ? all.bytes / row : 0);
    }
    return e->backend->read(e->backend, (mot_buf){all.off, (size_t)n * row}, out);
}

mot_status mot_engine_log_token(mot_engine *e, int lane, int keep_logits, mot_token_log *log) {
    const int token = e->step.lane[lane].token, vocab = e->src.ex[lane]->cfg.vocab;
    if (!keep_logits) {
        return mot_token_log_push(log, token, NULL, 0, "");
    }
    float *row = malloc((size_t)vocab * sizeof *row);
    if (!row) {
        return mot_fail(MOT_ERR_NOMEM, "out of memory keeping logits");
    }
    mot_status st = mot_engine_logits(e, lane, row);
    if (st == MOT_OK) {
        st = mot_token_log_push(log, token, row, vocab, "");
    }
    free(row);
    return st;
}
