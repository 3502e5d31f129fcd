/* Every plan op kind (scheduler/plan.h) on the device through the real mot_gpu_api table,
 * against the CPU references (ops/, kernels/cpu), with the step-varying values in the
 * device step state: GQA, sliding window, prefill and split-key decode attention, the
 * cross-attention's proportional prefill mask, and dead lanes (n_new = 0: nothing written).
 * Sampling, the step advance and graph replay are in test_cuda_sample.c. Needs a GPU: without
 * one it exits 77 (skipped). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "ops/ops.h"
#include "tests/cuda/gpu_fixture.h"

#define SENTINEL 7.25f

static gpu_fx F;

static mot_plan_op op_of(mot_op_kind kind, int lane) {
    mot_plan_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.lane = lane;
    op.layer = -1;
    op.stack = -1;
    return op;
}

/* Step state with lane `lane` at pos/n_new/rows (others zero). */
static void set_lane(int lane, int pos, int n_new, int rows) {
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.n_lanes = lane + 1;
    s.lane[lane].pos = pos;
    s.lane[lane].n_new = n_new;
    s.lane[lane].rows = rows;
    s.lane[lane].alive = 1;
    gpu_fx_set_step(&F, &s);
}

static float *host_floats(size_t n, unsigned seed) {
    float *x = malloc(n * sizeof *x);
    fx_fill_random(x, n, seed);
    return x;
}

static float *host_fill(size_t n, float v) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = v;
    return x;
}

static void test_embed(mot_dtype dtype) {
    enum { VOCAB = 7, D = 40, MAX_ROWS = 4 };
    float table[VOCAB * D], out[MAX_ROWS * D], ref[MAX_ROWS * D];
    uint16_t table16[VOCAB * D];
    fx_fill_random(table, VOCAB * D, 11);
    for (int i = 0; i < VOCAB * D; i++) table16[i] = mot_f32_to_bf16(table[i]);
    const int bf16 = dtype == MOT_DTYPE_BF16;
    mot_weight hw = {dtype, bf16 ? (const void *)table16 : (const void *)table, VOCAB, D};
    int tokens[MAX_ROWS] = {4, 0, 6, 2};
    mot_buf tok = gpu_fx_buf(&F, sizeof tokens), x = gpu_fx_buf(&F, sizeof out);
    gpu_fx_put(&F, tok, tokens);
    gpu_fx_fill(&F, x, SENTINEL);
    mot_plan_op op = op_of(MOT_OP_EMBED, 1);
    op.embed.tokens = tok;
    op.embed.out = x;
    op.embed.d = D;
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, 3, MAX_ROWS);
    l.w[0] = hw;
    l.w[0].data = gpu_fx_upload(&F, hw.data, (size_t)VOCAB * D * (bf16 ? 2 : 4));
    l.vocab = VOCAB;

    set_lane(1, 0, 0, 0); /* dead lane: nothing written */
    gpu_fx_run(&F, &l, "embed dead");
    gpu_fx_get(&F, out, x);
    for (int i = 0; i < MAX_ROWS * D; i++) ref[i] = SENTINEL;
    fx_expect_equal("embed dead lane writes nothing", out, ref, MAX_ROWS * D);

    set_lane(1, 9, 3, 0);
    gpu_fx_run(&F, &l, "embed");
    gpu_fx_get(&F, out, x);
    for (int t = 0; t < 3; t++) mot_ref_embed_row(ref + t * D, &hw, tokens[t]);
    fx_expect_equal(bf16 ? "embed bf16 (3 of 4 rows)" : "embed f32 (3 of 4 rows)", out, ref, MAX_ROWS * D);
}

static void test_norms(void) {
    enum { N = 5, MAX_ROWS = 6, D = 200 };
    float *x = host_floats(MAX_ROWS * D, 1), *w = host_floats(D, 2), *b = host_floats(D, 3);
    float *out = malloc(MAX_ROWS * D * 4), *ref = host_fill(MAX_ROWS * D, SENTINEL);
    mot_buf in = gpu_fx_buf(&F, MAX_ROWS * D * 4), o = gpu_fx_buf(&F, MAX_ROWS * D * 4);
    gpu_fx_put(&F, in, x);
    const float *dw = gpu_fx_upload(&F, w, D * 4), *db = gpu_fx_upload(&F, b, D * 4);
    set_lane(0, 0, N, 0);

    mot_plan_op op = op_of(MOT_OP_RMSNORM, 0);
    op.rmsnorm = (mot_op_rmsnorm){.x = in, .out = o, .weight = dw, .d = D, .eps = 1e-5f};
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, N, MAX_ROWS);
    gpu_fx_fill(&F, o, SENTINEL);
    gpu_fx_run(&F, &l, "rmsnorm");
    gpu_fx_get(&F, out, o);
    mot_ref_rmsnorm(ref, x, w, N, D, 1e-5f);
    fx_expect_close("rmsnorm rows < n_new", out, ref, N * D, 1e-6);
    fx_expect_equal("rmsnorm row n_new untouched", out + N * D, ref + N * D, D);

    op.kind = MOT_OP_RMSNORM_LAST;
    l = gpu_fx_launch_of(&F, &op, N, MAX_ROWS);
    gpu_fx_run(&F, &l, "rmsnorm_last");
    gpu_fx_get(&F, out, o);
    mot_ref_rmsnorm(ref, x + (N - 1) * D, w, 1, D, 1e-5f);
    fx_expect_close("rmsnorm_last (row n-1 into row 0)", out, ref, D, 1e-6);

    op = op_of(MOT_OP_LAYERNORM, 0);
    op.layernorm = (mot_op_layernorm){.x = in, .out = o, .weight = dw, .bias = db, .d = D, .eps = 1e-5f};
    l = gpu_fx_launch_of(&F, &op, N, MAX_ROWS);
    gpu_fx_run(&F, &l, "layernorm");
    gpu_fx_get(&F, out, o);
    mot_cpu_layernorm(ref, x, w, b, N, D, 1e-5f);
    fx_expect_close("layernorm", out, ref, N * D, 1e-5);

    /* SWIGLU in place on the gate. */
    float *gate = host_floats(MAX_ROWS * D, 4);
    gpu_fx_put(&F, o, gate);
    op = op_of(MOT_OP_SWIGLU, 0);
    op.swiglu = (mot_op_swiglu){.gate = o, .up = in, .f = D};
    l = gpu_fx_launch_of(&F, &op, N, MAX_ROWS);
    gpu_fx_run(&F, &l, "swiglu");
    gpu_fx_get(&F, out, o);
    mot_ref_swiglu(ref, gate, x, N, D);
    fx_expect_close("swiglu", out, ref, N * D, 1e-6);
    fx_expect_equal("swiglu row n_new untouched", out + N * D, gate + N * D, D);
    free(x), free(w), free(b), free(out), free(ref), free(gate);
}

/* n_w weights [rows_j, COLS] of dtype, the last with a bias; then accumulate into out[0].
 * N rows of x: up to MOT_CUDA_GEMV_MAX_N through our GEMV (bias and accumulation fused), more
 * through cuBLAS; lanes in `precision: fast` (1) or exact (0). Exact keeps f32 activations:
 * the f32 bound whatever the weights (SPEC 1.7); fast rounds x to the weight type in GEMMs. */
enum { MM_MAX_N = 12 };
static void test_matmul(mot_dtype dtype, int n_w, int N, int fast) {
    enum { COLS = 64 };
    const int rows_of[3] = {48, 40, 24};
    const int lowp = dtype != MOT_DTYPE_F32;
    gpu_fx_set_precision(&F, fast);
    float *x = host_floats(N * COLS, 5), *y = malloc(N * 48 * 4), *ref = malloc(N * 48 * 4);
    float *wf[3], *bias = host_floats(48, 6);
    mot_weight hw[3];
    uint16_t *w16[3];
    mot_buf in = gpu_fx_buf(&F, N * COLS * 4), out[3];
    gpu_fx_put(&F, in, x);
    mot_plan_op op = op_of(MOT_OP_MATMUL, 2);
    op.matmul.x = in;
    op.n_w = n_w;
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, N, N);
    for (int j = 0; j < n_w; j++) {
        wf[j] = host_floats((size_t)rows_of[j] * COLS, 20 + j);
        w16[j] = malloc((size_t)rows_of[j] * COLS * 2);
        for (int i = 0; i < rows_of[j] * COLS; i++)
            w16[j][i] = dtype == MOT_DTYPE_F16 ? mot_f32_to_f16(wf[j][i]) : mot_f32_to_bf16(wf[j][i]);
        hw[j] = (mot_weight){dtype, lowp ? (const void *)w16[j] : (const void *)wf[j], rows_of[j], COLS};
        out[j] = gpu_fx_buf(&F, (size_t)N * rows_of[j] * 4);
        op.matmul.y[j] = out[j];
        l.w[j] = hw[j];
        l.w[j].data = gpu_fx_upload(&F, hw[j].data, (size_t)rows_of[j] * COLS * (lowp ? 2 : 4));
    }
    const float *dbias = gpu_fx_upload(&F, bias, 48 * 4);
    l.bias[n_w - 1] = dbias;
    set_lane(2, 0, N, 0);
    gpu_fx_run(&F, &l, "matmul");
    const int rounded = fast && lowp && N > MOT_CUDA_GEMV_MAX_N; /* x rounded to the weight type */
    const double bound = !rounded ? 1e-5 : dtype == MOT_DTYPE_F16 ? 5e-3 : 2e-2;
    for (int j = 0; j < n_w; j++) {
        gpu_fx_get(&F, y, out[j]);
        mot_ref_matmul(ref, x, &hw[j], N);
        if (j == n_w - 1) {
            for (int t = 0; t < N; t++)
                for (int r = 0; r < rows_of[j]; r++) ref[t * rows_of[j] + r] += bias[r];
        }
        char what[128];
        snprintf(what, sizeof what, "matmul %s n=%d %s weight %d of %d%s", mot_dtype_name(dtype), N,
                 fast ? "fast" : "exact", j, n_w, j == n_w - 1 ? " (+bias)" : "");
        fx_expect_close(what, y, ref, (size_t)N * rows_of[j], bound);
    }
    /* accumulate: out[0] = y0_prev + x W0^T + bias */
    float *prev = host_floats(N * 48, 7);
    gpu_fx_put(&F, out[0], prev);
    op.n_w = 1;
    op.matmul.accumulate = 1;
    l.bias[0] = dbias;
    l.bias[n_w - 1] = n_w == 1 ? dbias : NULL;
    gpu_fx_run(&F, &l, "matmul accumulate");
    gpu_fx_get(&F, y, out[0]);
    mot_ref_matmul(ref, x, &hw[0], N);
    for (int i = 0; i < N * 48; i++) ref[i] += prev[i] + bias[i % 48];
    char what[96];
    snprintf(what, sizeof what, "matmul %s n=%d %s accumulate (+bias)", mot_dtype_name(dtype), N,
             fast ? "fast" : "exact");
    fx_expect_close(what, y, ref, N * 48, bound);
    gpu_fx_set_precision(&F, 0);
    for (int j = 0; j < n_w; j++) free(wf[j]), free(w16[j]);
    free(x), free(y), free(ref), free(bias), free(prev);
}

static void test_rope_append(void) {
    enum { HEADS = 4, KV = 2, HD = 16, STRIDE = 40, CTX = 12, N = 3, POS = 5 };
    float inv_freq[HD / 2];
    for (int i = 0; i < HD / 2; i++) inv_freq[i] = powf(10000.0f, -2.0f * i / HD);
    float *q = host_floats(N * HEADS * HD, 8), *k = host_floats(N * KV * HD, 9), *v = host_floats(N * KV * HD, 10);
    float *got = malloc(CTX * STRIDE * 4), *ref = malloc(CTX * STRIDE * 4);
    mot_buf bq = gpu_fx_buf(&F, N * HEADS * HD * 4), bk = gpu_fx_buf(&F, N * KV * HD * 4),
            bv = gpu_fx_buf(&F, N * KV * HD * 4), kc = gpu_fx_buf(&F, CTX * STRIDE * 4),
            vc = gpu_fx_buf(&F, CTX * STRIDE * 4);
    gpu_fx_put(&F, bq, q);
    gpu_fx_put(&F, bk, k);
    gpu_fx_put(&F, bv, v);
    gpu_fx_fill(&F, kc, SENTINEL);
    gpu_fx_fill(&F, vc, SENTINEL);
    mot_plan_op op = op_of(MOT_OP_ROPE_APPEND, 3);
    op.rope_append.q = bq;
    op.rope_append.k = bk;
    op.rope_append.v = bv;
    op.rope_append.kv = (mot_op_kv){kc, vc, HEADS, KV, HD, STRIDE, HD}; /* rows of all kv heads */
    op.rope_append.inv_freq = gpu_fx_upload(&F, inv_freq, sizeof inv_freq);
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, N, N);

    set_lane(3, POS, 0, 0);
    gpu_fx_run(&F, &l, "rope_append dead");
    gpu_fx_get(&F, got, bq);
    fx_expect_equal("rope_append dead lane: q untouched", got, q, N * HEADS * HD);
    gpu_fx_get(&F, got, kc);
    for (int i = 0; i < CTX * STRIDE; i++) ref[i] = SENTINEL;
    fx_expect_equal("rope_append dead lane: k cache untouched", got, ref, CTX * STRIDE);

    set_lane(3, POS, N, 0);
    gpu_fx_run(&F, &l, "rope_append");
    mot_ref_rope(q, N, HEADS, HD, POS, inv_freq);
    mot_ref_rope(k, N, KV, HD, POS, inv_freq);
    gpu_fx_get(&F, got, bq);
    fx_expect_close("rope_append q", got, q, N * HEADS * HD, 1e-5);
    gpu_fx_get(&F, got, bk);
    fx_expect_close("rope_append k", got, k, N * KV * HD, 1e-5);
    for (int c = 0; c < 2; c++) {
        const float *src = c ? v : k;
        for (int i = 0; i < CTX * STRIDE; i++) ref[i] = SENTINEL;
        for (int t = 0; t < N; t++) memcpy(ref + (POS + t) * STRIDE, src + t * KV * HD, KV * HD * 4);
        gpu_fx_get(&F, got, c ? vc : kc);
        fx_expect_close(c ? "rope_append v cache rows pos.." : "rope_append k cache rows pos..", got, ref,
                        CTX * STRIDE, 1e-5);
    }
    free(q), free(k), free(v), free(got), free(ref);
}

/* n queries at pos over a cache of ctx rows; rows = host rows (1: split-key decode path). */
static void check_attention(const char *what, int heads, int kv, int hd, int window, int pos, int n, int rows,
                            int ctx) {
    const int stride = kv * hd + 8; /* padded rows, as a cache with room for more may have */
    float *q = host_floats((size_t)n * heads * hd, 30), *kc = host_floats((size_t)ctx * stride, 31),
          *vc = host_floats((size_t)ctx * stride, 32);
    float *got = malloc((size_t)n * heads * hd * 4), *ref = malloc((size_t)n * heads * hd * 4);
    for (size_t i = 0; i < (size_t)n * heads * hd; i++) q[i] *= 3.0f; /* sharper softmax */
    mot_buf bq = gpu_fx_buf(&F, (size_t)n * heads * hd * 4), bo = gpu_fx_buf(&F, (size_t)n * heads * hd * 4),
            bk = gpu_fx_buf(&F, (size_t)ctx * stride * 4), bv = gpu_fx_buf(&F, (size_t)ctx * stride * 4);
    gpu_fx_put(&F, bq, q);
    gpu_fx_put(&F, bk, kc);
    gpu_fx_put(&F, bv, vc);
    mot_plan_op op = op_of(MOT_OP_ATTENTION, 4);
    op.attention.q = bq;
    op.attention.out = bo;
    op.attention.kv = (mot_op_kv){bk, bv, heads, kv, hd, stride, hd}; /* rows of all kv heads */
    op.attention.window = window;
    op.attention.scale = 1.0f / sqrtf((float)hd);
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, rows, n);

    if (rows == 1) { /* a dead lane leaves out alone */
        gpu_fx_fill(&F, bo, SENTINEL);
        set_lane(4, pos, 0, 0);
        gpu_fx_run(&F, &l, what);
        gpu_fx_get(&F, got, bo);
        for (int i = 0; i < heads * hd; i++) ref[i] = SENTINEL;
        fx_expect_equal("attention decode, dead lane: out untouched", got, ref, (size_t)heads * hd);
    }
    set_lane(4, pos, n, 0);
    gpu_fx_run(&F, &l, what);
    gpu_fx_get(&F, got, bo);
    mot_ref_attention(ref, q, kc, vc, stride, hd, n, pos, heads, kv, hd, window, op.attention.scale);
    /* f32 scores and sums (as the CPU kernel's 1e-5); thousands of keys get a little more room */
    fx_expect_close(what, got, ref, (size_t)n * heads * hd, pos + n > 1000 ? 3e-5 : 1e-5);
    free(q), free(kc), free(vc), free(got), free(ref);
}

static void test_latent_append(void) {
    enum { D = 48, CTX = 16, N = 3, ROWS = 7 };
    float *k = host_floats(N * D, 12), *v = host_floats(N * D, 13), *got = malloc(CTX * D * 4),
          *ref = malloc(CTX * D * 4);
    mot_buf bk = gpu_fx_buf(&F, N * D * 4), bv = gpu_fx_buf(&F, N * D * 4), kc = gpu_fx_buf(&F, CTX * D * 4),
            vc = gpu_fx_buf(&F, CTX * D * 4);
    gpu_fx_put(&F, bk, k);
    gpu_fx_put(&F, bv, v);
    gpu_fx_fill(&F, kc, SENTINEL);
    gpu_fx_fill(&F, vc, SENTINEL);
    mot_plan_op op = op_of(MOT_OP_LATENT_APPEND, 5);
    op.latent_append = (mot_op_latent_append){.k = bk, .v = bv, .k_cache = kc, .v_cache = vc, .d = D};
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, N, N);
    for (int i = 0; i < CTX * D; i++) ref[i] = SENTINEL;
    set_lane(5, 0, 0, ROWS);
    gpu_fx_run(&F, &l, "latent_append dead");
    gpu_fx_get(&F, got, kc);
    fx_expect_equal("latent_append dead lane writes nothing", got, ref, CTX * D);
    set_lane(5, 0, N, ROWS);
    gpu_fx_run(&F, &l, "latent_append");
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < CTX * D; i++) ref[i] = SENTINEL;
        memcpy(ref + ROWS * D, c ? v : k, N * D * 4);
        gpu_fx_get(&F, got, c ? vc : kc);
        fx_expect_equal(c ? "latent_append v at rows.." : "latent_append k at rows..", got, ref, CTX * D);
    }
    free(k), free(v), free(got), free(ref);
}

/* Cross-attention: lane m has rows[m] + n_new[m] present keys, prompt length n_prompt[m];
 * lane 0's n_new queries; the lanes in the bit mask `listen` are listeners (no segment).
 * host_rows 1: the split-key decode path. */
static void check_cross_listen(const char *what, int heads, int d_s, int n_lanes, const int *rows, const int *n_new,
                               const int *n_prompt, int prefill, int host_rows, int ctx, unsigned listen) {
    const int n_q = n_new[0];
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.prefill = prefill;
    s.n_lanes = n_lanes;
    float *q = host_floats((size_t)n_q * d_s, 40), *got = malloc((size_t)n_q * d_s * 4),
          *ref = malloc((size_t)n_q * d_s * 4);
    for (size_t i = 0; i < (size_t)n_q * d_s; i++) q[i] *= 2.0f;
    float *k[MOT_MAX_LANES], *v[MOT_MAX_LANES];
    mot_kv_segment seg[MOT_MAX_LANES];
    mot_buf bq = gpu_fx_buf(&F, (size_t)n_q * d_s * 4), bo = gpu_fx_buf(&F, (size_t)n_q * d_s * 4);
    gpu_fx_put(&F, bq, q);
    mot_plan_op op = op_of(MOT_OP_CROSS_ATTENTION, 0);
    mot_op_cross_attention *x = &op.cross_attention;
    x->q = bq;
    x->out = bo;
    x->d = d_s;
    x->heads = heads;
    x->n_seg = 0;
    x->scale = 1.0f / sqrtf((float)(d_s / heads));
    for (int m = 0; m < n_lanes; m++) {
        s.lane[m].rows = rows[m];
        s.lane[m].n_new = n_new[m];
        s.lane[m].n_prompt = n_prompt[m];
        s.lane[m].alive = 1;
        if (listen >> m & 1) {
            continue;
        }
        const int g = x->n_seg++;
        k[g] = host_floats((size_t)ctx * d_s, 50 + m);
        v[g] = host_floats((size_t)ctx * d_s, 60 + m);
        x->seg_lane[g] = m;
        x->seg_k[g] = gpu_fx_buf(&F, (size_t)ctx * d_s * 4);
        x->seg_v[g] = gpu_fx_buf(&F, (size_t)ctx * d_s * 4);
        gpu_fx_put(&F, x->seg_k[g], k[g]);
        gpu_fx_put(&F, x->seg_v[g], v[g]);
        seg[g] = (mot_kv_segment){k[g], v[g], rows[m] + n_new[m], n_prompt[m]};
    }
    gpu_fx_set_step(&F, &s);
    gpu_fx_fill(&F, bo, SENTINEL);
    mot_gpu_launch l = gpu_fx_launch_of(&F, &op, host_rows, n_q);
    gpu_fx_run(&F, &l, what);
    gpu_fx_get(&F, got, bo);
    mot_cpu_cross_attention(ref, q, n_q, heads, d_s, seg, x->n_seg, prefill);
    /* both sides f32: the CPU's sequential sums over thousands of keys drift a little too */
    fx_expect_close(what, got, ref, (size_t)n_q * d_s, ctx > 1000 ? 5e-5 : 1e-5);
    for (int m = 0; m < x->n_seg; m++) free(k[m]), free(v[m]);
    free(q), free(got), free(ref);
}

static void check_cross(const char *what, int heads, int d_s, int n_seg, const int *rows, const int *n_new,
                        const int *n_prompt, int prefill, int host_rows, int ctx) {
    check_cross_listen(what, heads, d_s, n_seg, rows, n_new, n_prompt, prefill, host_rows, ctx, 0);
}

static void test_cross_attention(void) {
    /* Prefill: N_p = 6 primary queries; segments of 9 and 4 prompt tokens (proportional mask). */
    const int rows0[3] = {0, 0, 0}, new_p[3] = {6, 9, 4}, prompt[3] = {6, 9, 4};
    check_cross("cross_attention prefill, N_m = 6, 9, 4 (dh 16)", 4, 64, 3, rows0, new_p, prompt, 1, 6, 32);
    check_cross("cross_attention prefill, N_m = 6, 9, 4 (dh 128)", 2, 256, 3, rows0, new_p, prompt, 1, 6, 32);
    /* A segment of which queries 0 and 1 see no key: N_m = 2 of N_p = 6. */
    const int rows_b[2] = {0, 0}, new_b[2] = {6, 2}, prompt_b[2] = {6, 2};
    check_cross("cross_attention prefill, sparse segment", 4, 64, 2, rows_b, new_b, prompt_b, 1, 6, 16);
    /* Decode: lane 2 dead (n_new 0: its old keys stay visible), split-key path and one-block path. */
    const int rows_d[3] = {6, 9, 4}, new_d[3] = {1, 1, 0};
    check_cross("cross_attention decode, split-key (dead lane 2)", 4, 64, 3, rows_d, new_d, prompt, 0, 1, 32);
    const int rows_l[3] = {1500, 1700, 900};
    check_cross("cross_attention decode, long segments", 8, 512, 3, rows_l, new_d, prompt, 0, 1, 2048);
    check_cross("cross_attention decode, one block per row", 8, 512, 3, rows_l, new_d, prompt, 0, 2, 2048);
    /* listeners (docs/pipeline.md): the primary listens (its prefill queries 0.. see no key
     * until the other lanes' first keys align), a non-primary listens, nobody speaks */
    check_cross_listen("cross_attention prefill, the primary listens", 4, 64, 3, rows0, new_p, prompt, 1, 6, 32, 1u);
    check_cross_listen("cross_attention decode split-key, lane 1 listens", 4, 64, 3, rows_d, new_d, prompt, 0, 1, 32,
                       2u);
    check_cross_listen("cross_attention decode, the primary listens", 8, 512, 3, rows_l, new_d, prompt, 0, 2, 2048, 1u);
    check_cross_listen("cross_attention decode split-key, no speaker", 4, 64, 3, rows_d, new_d, prompt, 0, 1, 32, 7u);
    check_cross_listen("cross_attention prefill, no speaker", 4, 64, 3, rows0, new_p, prompt, 1, 6, 32, 7u);
}

int main(void) {
    int rc = gpu_fx_init(&F, (size_t)256 << 20, 1 << 16);
    if (rc) {
        return rc;
    }
    test_embed(MOT_DTYPE_F32);
    test_embed(MOT_DTYPE_BF16);
    test_norms();
    for (int fast = 0; fast <= 1; fast++) {
        for (int n = 1; n <= MM_MAX_N; n += 11) { /* 1: the GEMV; 12: cuBLAS */
            test_matmul(MOT_DTYPE_F32, 2, n, fast);
            test_matmul(MOT_DTYPE_BF16, 3, n, fast);
            test_matmul(MOT_DTYPE_BF16, 1, n, fast);
            test_matmul(MOT_DTYPE_F16, 2, n, fast);
        }
        test_matmul(MOT_DTYPE_BF16, 3, 3, fast);
    }
    test_rope_append();
    check_attention("attention prefill GQA 8/2 hd 64", 8, 2, 64, 0, 4, 6, 6, 16);
    check_attention("attention prefill GQA 8/2 hd 64, window 5", 8, 2, 64, 5, 4, 6, 6, 16);
    check_attention("attention prefill MHA hd 80 (partial lanes)", 4, 4, 80, 0, 0, 9, 9, 16);
    check_attention("attention decode split-key GQA 8/2 hd 128, 3001 keys", 8, 2, 128, 0, 3000, 1, 1, 4096);
    check_attention("attention decode split-key, window 1000", 8, 2, 128, 1000, 3000, 1, 1, 4096);
    check_attention("attention decode split-key hd 256, window 7", 4, 1, 256, 7, 200, 1, 1, 512);
    check_attention("attention decode hd 32 at pos 0", 4, 2, 32, 0, 0, 1, 1, 64);
    check_attention("attention decode one block per row, 3001 keys", 8, 2, 128, 0, 3000, 1, 2, 4096);
    test_latent_append();
    test_cross_attention();
    gpu_fx_free(&F);
    printf("%s\n", gpu_fx_failures ? "FAILED" : "all CUDA plan-op checks passed");
    return gpu_fx_failures ? 1 : 0;
}
