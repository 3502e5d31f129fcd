/* SAMPLE and STEP_ADVANCE on the device, and a captured decode graph replayed unchanged while the
 * device step state moves on. Greedy sampling must equal the CPU's mot_argmax exactly (ties,
 * NaN); temperature sampling is held to a host model of the device rules (descending-order walk,
 * fixed-point masses) and, where the CPU walks in the same order (top-p), to mot_sample.
 * Needs a GPU: without one it exits 77 (skipped). */
#include "common/rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "ops/ops.h"
#include "kernels/cpu/sampler.h"
#include "tests/cuda/gpu_fixture.h"

static gpu_fx F;


static const float *g_prob;
static int by_prob_desc(const void *a, const void *b) {
    int ia = *(const int *)a, ib = *(const int *)b;
    if (g_prob[ia] != g_prob[ib]) return g_prob[ia] > g_prob[ib] ? -1 : 1;
    return (ia > ib) - (ia < ib);
}

/* The last model draw: candidates in walk order with their fixed-point masses, and r. */
static struct {
    int *idx, n_all, drew;
    uint64_t *w, r, mass;
} last;

/* The device rules (kernels/cuda/sampler.cu) on the host; advances rng like the device. */
static int model_sample(const float *x, int vocab, float temp, int top_k, float top_p, float min_p, uint64_t *rng) {
    const int best = mot_argmax(x, vocab);
    last.drew = 0;
    if (temp <= 0.0f) return best;
    float *q = malloc(vocab * sizeof *q);
    uint64_t *w = realloc(last.w, vocab * sizeof *w);
    int *idx = realloc(last.idx, vocab * sizeof *idx);
    last.w = w, last.idx = idx, last.n_all = vocab;
    uint64_t mass = 0;
    for (int i = 0; i < vocab; i++) {
        float e = expf((x[i] - x[best]) / temp);
        q[i] = e >= 0.0f && e <= 1.0f ? e : 0.0f;
        w[i] = (uint64_t)(q[i] * 4398046511104.0f);
        mass += w[i];
        idx[i] = i;
    }
    int tok = best;
    if (mass > 0) {
        g_prob = q;
        qsort(idx, vocab, sizeof *idx, by_prob_desc);
        int n = vocab;
        if (top_k > 0 && top_k < vocab) {
            n = top_k;
            mass = 0;
            for (int i = 0; i < n; i++) mass += w[idx[i]];
        }
        if (top_p < 1.0f) {
            double t = ceil((double)top_p * (double)mass);
            uint64_t target = t >= 1.0 ? (uint64_t)t : 1, cum = 0;
            target = target < mass ? target : mass;
            for (int i = 0; i < n; i++) {
                cum += w[idx[i]];
                if (cum >= target) {
                    n = i + 1;
                    mass = cum;
                    break;
                }
            }
        }
        if (min_p > 0.0f) {
            int keep = 1;
            while (keep < n && q[idx[keep]] >= min_p) keep++;
            if (keep < n) {
                n = keep;
                mass = 0;
                for (int i = 0; i < n; i++) mass += w[idx[i]];
            }
        }
        uint64_t r = (uint64_t)(((unsigned __int128)(mot_xoshiro_next(rng) & ~0x7ffull) * mass) >> 64), cum = 0;
        tok = idx[n - 1];
        for (int i = 0; i < n; i++) {
            cum += w[idx[i]];
            if (cum > r) {
                tok = idx[i];
                break;
            }
        }
        last.drew = 1, last.r = r, last.mass = mass;
    }
    free(q);
    return tok;
}

/* The device's expf may differ from the host's by an ulp or two, which moves masses by ~1e-7
 * and may swap two nearly equal probabilities: a token other than the model's is accepted only
 * when r lies within 1e-5 of the total mass of that token's span in the model's walk. */
static int model_near(int tok) {
    if (!last.drew) return 0;
    const uint64_t eps = last.mass / 100000 + 1;
    uint64_t before = 0;
    for (int i = 0; i < last.n_all; i++) {
        const uint64_t through = before + last.w[last.idx[i]];
        if (last.idx[i] == tok) return before <= last.r + eps && through + eps > last.r;
        before = through;
    }
    return 0;
}

typedef struct {
    mot_buf logits, tokens;
    int vocab;
} sample_bufs;

/* The repetition penalties the next run_sample launches with (list NULL: none). */
static struct {
    const int *list;
    float *pen;
    float repeat, presence, frequency;
} pen_args;

/* One SAMPLE on lane 1 (n_new as given); returns the device's token, checks the bookkeeping. */
static int run_sample(const sample_bufs *b, const float *x, float temp, int top_k, float top_p, float min_p,
                      const uint64_t *rng_in, uint64_t *rng_out, int n_new, const char *what) {
    gpu_fx_put(&F, b->logits, x);
    int sentinel = -77;
    gpu_fx_put(&F, b->tokens, &sentinel);
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.n_lanes = 2;
    s.lane[1].n_new = n_new;
    s.lane[1].alive = 1;
    s.lane[1].token = -5;
    s.lane[1].n_sampled = 3;
    memcpy(s.lane[1].rng.s, rng_in, sizeof s.lane[1].rng.s);
    gpu_fx_set_step(&F, &s);
    mot_plan_op op;
    memset(&op, 0, sizeof op);
    op.kind = MOT_OP_SAMPLE;
    op.lane = 1;
    op.sample.logits = b->logits;
    op.sample.tokens = b->tokens;
    op.sample.vocab = b->vocab;
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, 1, 1);
    l.vocab = b->vocab;
    l.temperature = temp;
    l.top_k = top_k;
    l.top_p = top_p;
    l.min_p = min_p;
    l.pen_list = pen_args.list, l.pen = pen_args.pen;
    l.repeat_penalty = pen_args.repeat, l.presence_penalty = pen_args.presence, l.frequency_penalty = pen_args.frequency;
    gpu_fx_run(&F, &l, what);
    gpu_fx_get_step(&F, &s);
    int tok;
    gpu_fx_get(&F, &tok, b->tokens);
    memcpy(rng_out, s.lane[1].rng.s, sizeof s.lane[1].rng.s);
    if (n_new == 0) {
        if (s.lane[1].token != -5 || s.lane[1].n_sampled != 3 || tok != sentinel) {
            printf("FAIL %s: a dead lane sampled\n", what);
            gpu_fx_failures++;
        }
        return s.lane[1].token;
    }
    if (s.lane[1].n_sampled != 4 || tok != s.lane[1].token) {
        printf("FAIL %s: n_sampled %d (want 4), tokens[0] %d vs step token %d\n", what, s.lane[1].n_sampled, tok,
               s.lane[1].token);
        gpu_fx_failures++;
    }
    return s.lane[1].token;
}

static void test_greedy(const sample_bufs *b) {
    const int v = b->vocab;
    float *x = malloc(v * sizeof *x);
    uint64_t rng[4] = {1, 2, 3, 4}, after[4];
    char what[96];
    for (int c = 0; c < 7; c++) {
        fx_fill_random(x, v, 100 + c);
        const char *name = "random";
        if (c == 1) x[7] = x[v - 3] = 5.0f, name = "tie at max -> lower id";
        if (c == 2) x[0] = NAN, name = "x[0] NaN -> 0";
        if (c == 3) {
            for (int i = 3; i < v; i += 97) x[i] = NAN;
            x[500] = 3.0f, name = "NaNs elsewhere are skipped";
        }
        if (c == 4) {
            for (int i = 0; i < v; i++) x[i] = -INFINITY;
            name = "all -inf -> 0";
        }
        if (c == 5) {
            for (int i = 0; i < v; i++) x[i] = -1.0f - (float)(i % 5);
            x[9] = -0.0f, x[4] = 0.0f, name = "+0 / -0 compare equal";
        }
        if (c == 6) {
            for (int i = 0; i < v; i++) x[i] = (float)(i % 13);
            name = "many equal maxima";
        }
        const int want = mot_argmax(x, v);
        snprintf(what, sizeof what, "sample greedy, vocab %d, %s", v, name);
        fx_expect_int(what, run_sample(b, x, 0.0f, 0, 1.0f, 0.0f, rng, after, 1, what), want);
        if (memcmp(rng, after, sizeof rng) != 0) {
            printf("FAIL %s: greedy advanced the random stream\n", what);
            gpu_fx_failures++;
        }
    }
    fx_fill_random(x, v, 3);
    run_sample(b, x, 0.7f, 0, 1.0f, 0.0f, rng, after, 0, "sample dead lane");
    if (memcmp(rng, after, sizeof rng) != 0) {
        printf("FAIL sample dead lane: random stream advanced\n");
        gpu_fx_failures++;
    }
    free(x);
}

static void test_sampling(const sample_bufs *b) {
    const int v = b->vocab;
    const struct {
        float temp, top_p;
        int top_k, quantized;
        float min_p;
    } cfg[] = {
        {0.8f, 1.0f, 0, 0, 0},  {1.0f, 1.0f, 40, 0, 0},  {1.2f, 0.9f, 0, 0, 0},   {0.7f, 0.95f, 50, 0, 0},
        {1.0f, 1.0f, 1, 0, 0},  {1.0f, 0.0f, 0, 0, 0},   {1.0f, 1.0f, 10, 1, 0},  {1.5f, 0.5f, 0, 1, 0},
        {2.0f, 1.0f, 0, 1, 0},  {1.0f, 0.3f, 300, 1, 0},
        /* min-p: alone, after top-k and top-p (mot run's defaults), inside ties */
        {0.8f, 1.0f, 0, 0, 0.05f}, {0.8f, 0.95f, 40, 0, 0.05f}, {1.0f, 1.0f, 0, 1, 0.3f}, {1.5f, 0.9f, 0, 1, 0.02f},
    };
    float *x = malloc(v * sizeof *x);
    char what[128];
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        for (int seed = 0; seed < 4; seed++) {
            fx_fill_random(x, v, 1000 + 17 * (unsigned)c + seed);
            for (int i = 0; i < v; i++) {
                x[i] *= 6.0f;
                if (cfg[c].quantized) x[i] = floorf(x[i] * 2.0f) / 2.0f; /* many exactly equal probs */
            }
            mot_sampler_params p = {.temperature = cfg[c].temp, .top_k = cfg[c].top_k, .top_p = cfg[c].top_p,
                                    .seed = 1234 + (uint64_t)seed, .min_p = cfg[c].min_p};
            mot_sampler cpu;
            if (mot_sampler_init(&cpu, &p, (uint64_t)c, v) != MOT_OK) {
                printf("FAIL sampler init\n");
                exit(1);
            }
            uint64_t rng0[4], model_rng[4], dev_rng[4];
            memcpy(rng0, cpu.rng.s, sizeof rng0);
            memcpy(model_rng, rng0, sizeof rng0);
            const int want = model_sample(x, v, p.temperature, p.top_k, p.top_p, p.min_p, model_rng);
            snprintf(what, sizeof what, "sample T %.1f top-k %d top-p %.2f min-p %.2f%s seed %d", p.temperature,
                     p.top_k, p.top_p, p.min_p, cfg[c].quantized ? " (ties)" : "", seed);
            const int got = run_sample(b, x, p.temperature, p.top_k, p.top_p, p.min_p, rng0, dev_rng, 1, what);
            if (got != want && model_near(got)) {
                printf("ok   %s: %d, the model's %d across a rounding-close boundary\n", what, got, want);
            } else {
                fx_expect_int(what, got, want);
            }
            if (memcmp(dev_rng, model_rng, sizeof dev_rng) != 0) {
                printf("FAIL %s: random stream differs from xoshiro256** after one draw\n", what);
                gpu_fx_failures++;
            }
            /* The CPU walks the same descending order when top-p or min-p is on (and k == 1 / p == 0 are
             * the arg-max everywhere), with double sums instead of fixed point: it must agree
             * with the model (same host expf). */
            if (p.top_p < 1.0f || p.top_k == 1 || p.min_p > 0.0f) {
                const int cpu_tok = mot_sample(&cpu, x);
                char w2[160];
                snprintf(w2, sizeof w2, "%s: CPU mot_sample = device model", what);
                fx_expect_int(w2, cpu_tok, want);
            }
            mot_sampler_free(&cpu);
        }
    }
    free(x);
}

/* Repetition penalties: a CPU sampler's window (tokens accepted, repeats among them) as the
 * backend hands it over (mot_sampler_penalty_pairs into the device list); the device's draw
 * must be the model's over the host-penalized logits (ops/ref_sample.c's mot_ref_penalize), and
 * so must the CPU sampler's where both walk the same order; the logits themselves unchanged. */
static void test_penalties(const sample_bufs *b) {
    const int v = b->vocab;
    const struct {
        float temp, top_p, min_p, repeat, presence, frequency;
        int top_k, last_n, history;
    } cfg[] = {
        {0.0f, 1.0f, 0.0f, 1.5f, 0.0f, 0.0f, 0, 64, 40},     {0.0f, 1.0f, 0.0f, 1.1f, 0.8f, 0.3f, 0, 8, 30},
        {0.0f, 1.0f, 0.0f, 1.0f, 2.0f, 0.0f, 0, -1, 300},    {0.8f, 0.95f, 0.05f, 1.3f, 0.0f, 0.2f, 40, 64, 64},
        {1.0f, 0.9f, 0.0f, 0.7f, -0.5f, 0.0f, 0, 16, 50},
    };
    mot_buf list_buf = gpu_fx_buf(&F, (1 + 2 * (size_t)v) * sizeof(int)), pen_buf = gpu_fx_buf(&F, (size_t)v * 4);
    float *x = malloc(v * sizeof *x), *px = malloc(v * sizeof *px), *back = malloc(v * sizeof *back);
    int *pairs = malloc((1 + 2 * (size_t)v) * sizeof *pairs), *hist = malloc(400 * sizeof *hist);
    char what[160];
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        for (int seed = 0; seed < 3; seed++) {
            mot_sampler_params p = {.temperature = cfg[c].temp, .top_k = cfg[c].top_k, .top_p = cfg[c].top_p,
                                    .seed = 77 + (uint64_t)seed, .min_p = cfg[c].min_p, .repeat_penalty = cfg[c].repeat,
                                    .presence_penalty = cfg[c].presence, .frequency_penalty = cfg[c].frequency,
                                    .repeat_last_n = cfg[c].last_n};
            mot_sampler cpu;
            if (mot_sampler_init(&cpu, &p, 3, v) != MOT_OK) {
                printf("FAIL sampler init\n");
                exit(1);
            }
            fx_fill_random(x, v, 500 + 31 * (unsigned)c + seed);
            uint64_t st = 12345 + c * 7 + (uint64_t)seed;
            int n_hist = 0;
            for (int i = 0; i < cfg[c].history; i++) { /* few distinct tokens, made likely */
                const int t = (int)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 33) % 97 * 131 % v;
                mot_sampler_accept(&cpu, t);
                hist[n_hist++] = t;
            }
            for (int i = 0; i < v; i++) x[i] *= 5.0f;
            for (int i = 0; i < n_hist; i++) x[hist[i]] = 6.0f - (float)(i % 4) * 4.0f; /* both signs */
            pairs[0] = mot_sampler_penalty_pairs(&cpu, pairs + 1);
            gpu_fx_put(&F, list_buf, pairs);
            pen_args.list = (const int *)(F.arena + list_buf.off), pen_args.pen = (float *)(F.arena + pen_buf.off);
            pen_args.repeat = p.repeat_penalty, pen_args.presence = p.presence_penalty;
            pen_args.frequency = p.frequency_penalty;
            memcpy(px, x, v * sizeof *px);
            const int w0 = cfg[c].last_n < 0 || n_hist <= cfg[c].last_n ? 0 : n_hist - cfg[c].last_n;
            mot_ref_penalize(px, v, hist + w0, n_hist - w0, p.repeat_penalty, p.presence_penalty, p.frequency_penalty);
            uint64_t rng0[4], model_rng[4], dev_rng[4];
            memcpy(rng0, cpu.rng.s, sizeof rng0);
            memcpy(model_rng, rng0, sizeof rng0);
            const int want = model_sample(px, v, p.temperature, p.top_k, p.top_p, p.min_p, model_rng);
            snprintf(what, sizeof what, "penalties T %.1f k %d p %.2f min-p %.2f repeat %.1f presence %.1f frequency %.1f "
                     "last %d (%d pairs) vocab %d seed %d", p.temperature, p.top_k, p.top_p, p.min_p, p.repeat_penalty,
                     p.presence_penalty, p.frequency_penalty, p.repeat_last_n, pairs[0], v, seed);
            const int got = run_sample(b, x, p.temperature, p.top_k, p.top_p, p.min_p, rng0, dev_rng, 1, what);
            pen_args.list = NULL, pen_args.pen = NULL;
            if (got != want && model_near(got)) {
                printf("ok   %s: %d, the model's %d across a rounding-close boundary\n", what, got, want);
            } else {
                fx_expect_int(what, got, want);
            }
            gpu_fx_get(&F, back, b->logits);
            fx_expect_int("penalties leave the logits as they were", memcmp(back, x, v * sizeof *x), 0);
            char w2[200];
            snprintf(w2, sizeof w2, "%s: CPU mot_sample = device model", what);
            fx_expect_int(w2, mot_sample(&cpu, x), want);
            mot_sampler_free(&cpu);
        }
    }
    free(x), free(px), free(back), free(pairs), free(hist);
}

static mot_plan_op advance_op(int ignore_eos) {
    mot_plan_op op;
    memset(&op, 0, sizeof op);
    op.kind = MOT_OP_STEP_ADVANCE;
    mot_op_step_advance *a = &op.step_advance;
    a->ignore_eos = ignore_eos;
    for (int i = 0; i < MOT_MAX_LANES; i++)
        for (int e = 0; e < MOT_MAX_EOS; e++) a->eos[i][e] = -1;
    a->eos[0][0] = 2;            /* the primary's EOS never kills it here */
    a->eos[1][0] = 9, a->eos[1][1] = 2;
    a->eos[2][0] = 2;
    return op;
}

static void test_step_advance(int ignore_eos) {
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.prefill = 1;
    s.n_lanes = 4;
    s.step = 0;
    for (int i = 0; i < MOT_MAX_LANES; i++) s.lane[i].alive = 1, s.lane[i].token = 2, s.lane[i].pos = 100 + i;
    s.lane[0].n_new = 5, s.lane[0].rows = 5;   /* primary sampled its EOS: stays alive */
    s.lane[1].n_new = 7, s.lane[1].rows = 1;   /* sampled EOS 2 (second entry): dies */
    s.lane[2].n_new = 0, s.lane[2].alive = 0;  /* dead already: nothing moves */
    s.lane[3].n_new = 3, s.lane[3].token = 9;  /* 9 is lane 1's EOS, not lane 3's: lives */
    s.lane[4].n_new = 6;                       /* past n_lanes: untouched */
    mot_step_state want = s;
    gpu_fx_set_step(&F, &s);
    mot_plan_op op = advance_op(ignore_eos);
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, 1, 1);
    gpu_fx_run(&F, &l, "step_advance");
    gpu_fx_get_step(&F, &s);
    want.prefill = 0, want.step = 1;
    want.lane[0].pos += 5, want.lane[0].rows += 5, want.lane[0].n_new = 1;
    want.lane[1].pos += 7, want.lane[1].rows += 7;
    want.lane[1].alive = ignore_eos ? 1 : 0, want.lane[1].n_new = ignore_eos ? 1 : 0;
    want.lane[3].pos += 3, want.lane[3].rows += 3, want.lane[3].n_new = 1;
    const char *what = ignore_eos ? "step_advance (ignore_eos)" : "step_advance";
    if (memcmp(&s, &want, sizeof s) != 0) {
        printf("FAIL %s: state differs\n", what);
        for (int i = 0; i < 5; i++)
            printf("  lane %d: pos %d/%d rows %d/%d n_new %d/%d alive %d/%d\n", i, s.lane[i].pos, want.lane[i].pos,
                   s.lane[i].rows, want.lane[i].rows, s.lane[i].n_new, want.lane[i].n_new, s.lane[i].alive,
                   want.lane[i].alive);
        gpu_fx_failures++;
    } else {
        printf("ok   %s: positions, rows, deaths, next n_new, prefill, step\n", what);
    }
}

/* ATTENTION (split-key) + bf16 MATMUL + greedy SAMPLE of its output + STEP_ADVANCE captured once
 * and replayed: each replay must see the state the previous one left. */
static void test_graph_replay(void) {
    enum { HEADS = 4, KV = 2, HD = 64, CTX = 512, POS = 100, COLS = 64, VOCAB = 32 };
    const int stride = KV * HD;
    float *q = malloc(HEADS * HD * 4), *kc = malloc(CTX * stride * 4), *vc = malloc(CTX * stride * 4);
    float *wf = malloc(VOCAB * COLS * 4), *x = malloc(COLS * 4), out[HEADS * HD], ref[HEADS * HD], logits[VOCAB];
    uint16_t *w16 = malloc(VOCAB * COLS * 2);
    fx_fill_random(q, HEADS * HD, 1), fx_fill_random(kc, CTX * stride, 2), fx_fill_random(vc, CTX * stride, 3);
    fx_fill_random(wf, VOCAB * COLS, 4), fx_fill_random(x, COLS, 5);
    for (int i = 0; i < VOCAB * COLS; i++) w16[i] = mot_f32_to_bf16(wf[i]);
    mot_buf bq = gpu_fx_buf(&F, HEADS * HD * 4), bo = gpu_fx_buf(&F, HEADS * HD * 4),
            bk = gpu_fx_buf(&F, CTX * stride * 4), bv = gpu_fx_buf(&F, CTX * stride * 4),
            bx = gpu_fx_buf(&F, COLS * 4), bl = gpu_fx_buf(&F, VOCAB * 4), bt = gpu_fx_buf(&F, 4);
    gpu_fx_put(&F, bq, q), gpu_fx_put(&F, bk, kc), gpu_fx_put(&F, bv, vc), gpu_fx_put(&F, bx, x);
    mot_plan_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].kind = MOT_OP_ATTENTION;
    ops[0].attention.q = bq, ops[0].attention.out = bo;
    ops[0].attention.kv = (mot_op_kv){bk, bv, HEADS, KV, HD, stride, HD};
    ops[0].attention.scale = 0.125f;
    ops[1].kind = MOT_OP_MATMUL;
    ops[1].matmul.x = bx, ops[1].matmul.y[0] = bl, ops[1].n_w = 1;
    ops[2].kind = MOT_OP_SAMPLE;
    ops[2].sample.logits = bl, ops[2].sample.tokens = bt, ops[2].sample.vocab = VOCAB;
    ops[3] = advance_op(0);
    mot_gpu_launch l[4];
    for (int i = 0; i < 4; i++) l[i] = gpu_fx_launch_of(&F, &ops[i], 1, 1);
    l[1].w[0] = (mot_weight){MOT_DTYPE_BF16, gpu_fx_upload(&F, w16, VOCAB * COLS * 2), VOCAB, COLS};
    l[2].vocab = VOCAB;
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.n_lanes = 1;
    s.lane[0] = (mot_lane_step){.pos = POS, .n_new = 1, .alive = 1};
    for (int i = 0; i < 4; i++) gpu_fx_run(&F, &l[i], "graph warm-up (eager)");
    gpu_fx_set_step(&F, &s);

    mot_gpu_api *api = &F.api;
    void *graph = NULL, *exec = NULL, *st = F.stream[0];
    int bad = api->begin_capture(api->ctx, st);
    for (int i = 0; i < 4 && !bad; i++) bad = api->launch(api->ctx, &l[i], 0, st);
    bad = api->end_capture(api->ctx, st, &graph) || bad;
    bad = bad || api->graph_instantiate(api->ctx, graph, &exec);
    if (bad) {
        printf("FAIL graph capture: %s\n", mot_last_error());
        gpu_fx_failures++;
        return;
    }
    for (int r = 0; r < 3; r++) {
        if (api->graph_launch(api->ctx, exec, st) || api->stream_synchronize(api->ctx, st)) {
            printf("FAIL graph replay %d: %s\n", r, mot_last_error());
            gpu_fx_failures++;
            break;
        }
        char what[96];
        gpu_fx_get_step(&F, &s);
        gpu_fx_get(&F, out, bo);
        gpu_fx_get(&F, logits, bl);
        mot_ref_attention(ref, q, kc, vc, stride, HD, 1, POS + r, HEADS, KV, HD, 0, 0.125f);
        snprintf(what, sizeof what, "graph replay %d: attention over %d keys", r, POS + r + 1);
        fx_expect_close(what, out, ref, HEADS * HD, 1e-5);
        snprintf(what, sizeof what, "graph replay %d: pos", r);
        fx_expect_int(what, s.lane[0].pos, POS + r + 1);
        snprintf(what, sizeof what, "graph replay %d: step / n_sampled", r);
        fx_expect_int(what, s.step * 100 + s.lane[0].n_sampled, (r + 1) * 101);
        snprintf(what, sizeof what, "graph replay %d: sampled the arg-max of the GEMV", r);
        fx_expect_int(what, s.lane[0].token, mot_argmax(logits, VOCAB));
    }
    api->graph_destroy(api->ctx, graph, exec);
    free(q), free(kc), free(vc), free(wf), free(x), free(w16);
}

int main(void) {
    int rc = gpu_fx_init(&F, (size_t)64 << 20, 1 << 16);
    if (rc) {
        return rc;
    }
    const int vocabs[2] = {32000, 128256};
    for (int i = 0; i < 2; i++) {
        sample_bufs b = {gpu_fx_buf(&F, (size_t)vocabs[i] * 4), gpu_fx_buf(&F, 4), vocabs[i]};
        test_greedy(&b);
        test_sampling(&b);
        test_penalties(&b);
    }
    test_step_advance(0);
    test_step_advance(1);
    test_graph_replay();
    free(last.idx), free(last.w);
    gpu_fx_free(&F);
    printf("%s\n", gpu_fx_failures ? "FAILED" : "all CUDA sampling / step / graph checks passed");
    return gpu_fx_failures ? 1 : 0;
}
