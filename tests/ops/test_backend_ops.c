/* Every plan op kind (scheduler/plan.h) on a backend against its C reference in ops/, in the
 * manner of ggml's test-backend-ops: one case function per op kind (the table `cases` below;
 * a kind without a case fails the test), NaN/inf inputs first, then odd sizes (1, 3, 17, 63,
 * 65, 257, head counts with uneven groups), every weight dtype the op reads. Each op runs as
 * its backend's executor runs it (tests/ops/backend_ops_be.h: the CPU executor's entry points,
 * or the CUDA mot_gpu_api table), outputs past the lane's n_new rows must stay untouched, and a
 * dead lane must write nothing. Prints op x dtype x max normalized error.
 *
 * Error: max|got - ref| / max|ref| over an output (1e-30 floor). NaN/inf runs: every
 * non-finite reference value must be matched by the same class (NaN, +inf, -inf) and every
 * finite one stay finite and within the bound. Bounds (f32 activations against the double
 * references, SPEC 1.7):
 *   embed, latent_append, rope_append's v cache, sample, step_advance: exact;
 *   rmsnorm, rmsnorm_last, rope, swiglu, layernorm: 1e-6 CPU (a few f32 roundings), 1e-5 CUDA;
 *   matmul (any weight dtype; the reference reads the same stored weights) 1e-5, quantized
 *     1e-4 (SPEC 1.7); CUDA prefill with f16/bf16 weights rounds activations for the tensor
 *     cores: 5e-3 / 2e-2 (SPEC 1.7 `fast`);
 *   attention, cross_attention: 1e-5, 3e-5 over a thousand keys (f32 softmax sums).
 * The training ops (SPEC 5; static shapes: each output has a spare row after what the op
 * writes, which must stay untouched; an overwritten output starts as NaN, an accumulated one
 * (+=) as a random prior the reference adds onto too):
 *   matmul_backward_x (any weight dtype; the reference reads the same stored weights) 1e-5,
 *     quantized 1e-4, as matmul; matmul_backward_w (dw, db) 1e-5;
 *   rmsnorm_backward, layernorm_backward (dx, dw, db), swiglu_backward, rope_backward,
 *     cross_entropy's dlogits: 1e-6 CPU (the per-row sums in double, a few f32 roundings;
 *     ~1e-7 measured), 1e-5 CUDA;
 *   attention_backward, cross_attention_backward (dq, dk, dv): 1e-5 (f32 dots, softmax and
 *     sums over the keys or queries against double; ~6e-7 measured);
 *   cross_entropy's loss (one double in its buffer; double sums on both backends, each row's
 *     loss to ~1e-16): 1e-9 relative, far below the O(1/n) a wrong row or target moves it;
 *   copy: exact, byte for byte (any byte count; the destination's bytes after it untouched);
 *   add: exact (one f32 add per element; NaN/inf propagate as the reference's);
 *   dropout: exact on both backends (the mask is bit-exact, a kept element one f32 multiply by
 *     the same f32 scale); its mask also equals train/mot_pass.c's sequential draws, keeps
 *     1 - p of 65537 elements to within 0.01, and is the same for the same seed.
 * CUDA bounds are the ones tests/cuda/test_cuda_plan_ops.c uses (the training ops':
 * tests/cuda/test_cuda_backward.c's 1e-5 against the CPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "common/rng.h"
#include "kernels/cpu/sampler.h"
#include "ops/ops.h"
#include "tests/ops/backend_ops_be.h"

#define SENTINEL 7.25f

static int is_cuda;
static int n_failed, n_checks;

/* ---- the results table -------------------------------------------------------------------- */

typedef struct {
    char op[32], dtype[12];
    double max_err, bound;
    int checks, nan_checks, failed;
} row;

static row table[256];
static int n_rows;

static row *row_of(const char *op, const char *dtype) {
    for (int i = 0; i < n_rows; i++) {
        if (!strcmp(table[i].op, op) && !strcmp(table[i].dtype, dtype)) {
            return &table[i];
        }
    }
    row *r = &table[n_rows < 255 ? n_rows++ : 255];
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->dtype, sizeof r->dtype, "%s", dtype);
    return r;
}

/* 0 when got and ref have the same non-finite values; the normalized error of the finite
 * ones (INFINITY when a class differs). */
static double norm_err(const float *got, const float *ref, size_t n, size_t *worst) {
    double num = 0.0, den = 1e-30;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        const int fr = isfinite(ref[i]), fg = isfinite(got[i]);
        if (!fr || !fg) {
            const int same = !fr && !fg && isnan(ref[i]) == isnan(got[i]) && (isnan(ref[i]) || ref[i] == got[i]);
            if (!same) {
                *worst = i;
                return INFINITY;
            }
            continue;
        }
        den = fmax(den, fabs((double)ref[i]));
        const double e = fabs((double)got[i] - (double)ref[i]);
        if (e > num) {
            num = e, *worst = i;
        }
    }
    return num / den;
}

/* Records one comparison under (op, dtype); what: the case, for the failure line. */
static void expect(const char *op, const char *dtype, const char *what, int nan_run, const float *got,
                   const float *ref, size_t n, double bound) {
    size_t w;
    const double e = norm_err(got, ref, n, &w);
    row *r = row_of(op, dtype);
    n_checks++;
    r->checks++;
    r->nan_checks += nan_run;
    r->bound = fmax(r->bound, bound);
    if (e > r->max_err || (isnan(e) && !isnan(r->max_err))) {
        r->max_err = e;
    }
    if (!(e <= bound)) {
        n_failed++;
        r->failed++;
        printf("FAIL %s %s %s%s: error %.3g > %.1g (at %zu: got %.9g, ref %.9g)\n", op, dtype, what,
               nan_run ? " [nan/inf]" : "", e, bound, w, n ? got[w] : 0.0f, n ? ref[w] : 0.0f);
    }
}

static void expect_int(const char *op, const char *dtype, const char *what, long long got, long long want) {
    row *r = row_of(op, dtype);
    n_checks++;
    r->checks++;
    if (got != want) {
        n_failed++;
        r->failed++;
        r->max_err = INFINITY;
        printf("FAIL %s %s %s: %lld, expected %lld\n", op, dtype, what, got, want);
    }
}

/* ---- inputs ------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static float *floats(size_t n, float scale) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(rng_state >> 40) / (double)(1ULL << 24) * 2.0 - 1.0) * scale;
    }
    return x;
}

static float *filled(size_t n, float v) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        x[i] = v;
    }
    return x;
}

static mot_op_kind cur_kind;

static mot_plan_op op_of(mot_op_kind kind, int lane) {
    mot_plan_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind, op.lane = lane, op.layer = -1, op.stack = -1;
    return op;
}

static be_bind bind_of(int rows, int max_rows) {
    be_bind b;
    memset(&b, 0, sizeof b);
    b.rows = rows, b.max_rows = max_rows;
    return b;
}

/* lane `lane` fed n_new tokens at pos, rows latent rows before; alive */
static mot_step_state step_of(int lane, int pos, int n_new, int rows) {
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.n_lanes = lane + 1;
    s.lane[lane] = (mot_lane_step){.pos = pos, .n_new = n_new, .rows = rows, .n_prompt = n_new, .alive = 1};
    return s;
}

static mot_buf put_floats(const float *x, size_t n) {
    mot_buf b = be_buf(sizeof(float) * n);
    be_put(b, x);
    return b;
}

/* A weight [rows, cols] of dt whose values are about scale: plain types rounded from random
 * floats; quantized ones random bytes with finite, small block scales. */
typedef struct {
    mot_weight w;
    void *data;
} weight;

static uint16_t f16_of(float f) { return mot_f32_to_f16(f); }

static weight make_weight(mot_dtype dt, int64_t rows, int64_t cols, float scale) {
    weight r;
    const size_t row_bytes = mot_dtype_row_bytes(dt, cols), bytes = row_bytes * (size_t)rows;
    r.data = malloc(bytes ? bytes : 1);
    unsigned char *p = r.data;
    if (!mot_dtype_is_quantized(dt)) {
        float *v = floats((size_t)(rows * cols), scale);
        for (int64_t i = 0; i < rows * cols; i++) {
            if (dt == MOT_DTYPE_F32) {
                memcpy(p + 4 * i, &v[i], 4);
            } else {
                uint16_t h = dt == MOT_DTYPE_F16 ? f16_of(v[i]) : mot_f32_to_bf16(v[i]);
                memcpy(p + 2 * i, &h, 2);
            }
        }
        free(v);
    } else {
        for (size_t i = 0; i < bytes; i++) {
            rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
            p[i] = (unsigned char)(rng_state >> 56);
        }
        const size_t bb = mot_dtype_block_bytes(dt);
        const int be = mot_dtype_block_elems(dt);
        const float d = scale / (be == 32 ? 8.0f : 512.0f);
        for (size_t b = 0; b < bytes / bb; b++) {
            unsigned char *blk = p + b * bb;
            uint16_t hd = f16_of(d), hm = f16_of(-d);
            if (dt == MOT_DTYPE_Q6_K || dt == MOT_DTYPE_Q3_K) {
                memcpy(blk + (dt == MOT_DTYPE_Q6_K ? 208 : 108), &hd, 2);
            } else if (dt == MOT_DTYPE_Q2_K) {
                memcpy(blk + 80, &hd, 2), memcpy(blk + 82, &hd, 2);
            } else {
                memcpy(blk, &hd, 2);
                if (dt == MOT_DTYPE_Q4_1 || dt == MOT_DTYPE_Q5_1 || dt == MOT_DTYPE_Q4_K || dt == MOT_DTYPE_Q5_K) {
                    memcpy(blk + 2, dt == MOT_DTYPE_Q4_1 || dt == MOT_DTYPE_Q5_1 ? &hm : &hd, 2);
                }
            }
        }
    }
    r.w = (mot_weight){dt, r.data, rows, cols};
    return r;
}

static const mot_dtype all_dtypes[] = {MOT_DTYPE_F32,  MOT_DTYPE_F16,    MOT_DTYPE_BF16, MOT_DTYPE_Q8_0,
                                       MOT_DTYPE_Q4_0, MOT_DTYPE_Q4_1,   MOT_DTYPE_Q5_0, MOT_DTYPE_Q5_1,
                                       MOT_DTYPE_IQ4_NL, MOT_DTYPE_Q2_K, MOT_DTYPE_Q3_K, MOT_DTYPE_Q4_K,
                                       MOT_DTYPE_Q5_K, MOT_DTYPE_Q6_K,   MOT_DTYPE_IQ4_XS};
#define N_DTYPES (sizeof all_dtypes / sizeof all_dtypes[0])

/* a width of about `want` that dt's blocks allow */
static int64_t width_for(mot_dtype dt, int64_t want) {
    const int be = mot_dtype_block_elems(dt);
    return be <= 1 ? want : (want + be - 1) / be * be;
}

/* The NaN/inf run's input: x[0] NaN, and +inf / -inf in the last row (n rows of d). */
static void poison(float *x, int n, int d) {
    x[0] = NAN;
    if (n > 1 || d > 2) {
        x[(size_t)(n - 1) * d + (size_t)(d - 1)] = INFINITY;
    }
    if (n > 2) {
        x[(size_t)(n - 2) * d] = -INFINITY;
    }
}

static double bound_for(double cpu, double cuda) { return is_cuda ? cuda : cpu; }

/* ---- EMBED -------------------------------------------------------------------------------- */

static void case_embed(void) {
    for (size_t di = 0; di < N_DTYPES; di++) {
        const mot_dtype dt = all_dtypes[di];
        static const int64_t ds[] = {1, 17, 257};
        for (int k = 0; k < 3; k++) {
            const int64_t d = width_for(dt, ds[k]), vocab = 5;
            const int n = 3, max_rows = 4;
            weight t = make_weight(dt, vocab, d, 2.0f);
            int32_t tokens[4] = {4, 0, 4, 2};
            be_reset();
            mot_buf tok = be_buf(sizeof tokens), out = be_buf(sizeof(float) * (size_t)(max_rows * d));
            be_put(tok, tokens);
            float *sent = filled((size_t)(max_rows * d), SENTINEL), *got = malloc(sizeof(float) * (size_t)(max_rows * d));
            be_put(out, sent);
            mot_plan_op op = op_of(MOT_OP_EMBED, 1);
            op.embed.tokens = tok, op.embed.out = out, op.embed.d = (int)d;
            be_bind b = bind_of(n, max_rows);
            b.w[0] = &t.w, b.vocab = (int)vocab;
            mot_step_state s = step_of(1, 0, 0, 0);
            be_set_step(&s);
            be_run(&op, &b);
            be_get(got, out);
            char what[64];
            snprintf(what, sizeof what, "d=%lld dead lane", (long long)d);
            expect("embed", mot_dtype_name(dt), what, 0, got, sent, (size_t)(max_rows * d), 0.0);
            s = step_of(1, 7, n, 0);
            be_set_step(&s);
            be_run(&op, &b);
            be_get(got, out);
            for (int i = 0; i < n; i++) {
                mot_ref_embed_row(sent + i * d, &t.w, tokens[i]);
            }
            snprintf(what, sizeof what, "d=%lld n=%d of %d", (long long)d, n, max_rows);
            expect("embed", mot_dtype_name(dt), what, 0, got, sent, (size_t)(max_rows * d), 0.0);
            free(sent), free(got), free(t.data);
        }
    }
    /* NaN/inf table rows (f32, f16, bf16 store them): converted as they are */
    for (int di = 0; di < 3; di++) {
        const mot_dtype dt = all_dtypes[di];
        const int d = 17;
        float v[3 * 17];
        for (int i = 0; i < 3 * d; i++) v[i] = (float)i / 8.0f;
        v[0] = NAN, v[d + 3] = INFINITY, v[2 * d + 5] = -INFINITY;
        weight t = make_weight(dt, 3, d, 1.0f);
        for (int i = 0; i < 3 * d; i++) {
            if (dt == MOT_DTYPE_F32) memcpy((char *)t.data + 4 * i, &v[i], 4);
            else {
                uint16_t h = dt == MOT_DTYPE_F16 ? f16_of(v[i]) : mot_f32_to_bf16(v[i]);
                memcpy((char *)t.data + 2 * i, &h, 2);
            }
        }
        int32_t tokens[3] = {0, 1, 2};
        be_reset();
        mot_buf tok = be_buf(sizeof tokens), out = be_buf(sizeof v);
        be_put(tok, tokens);
        mot_plan_op op = op_of(MOT_OP_EMBED, 0);
        op.embed.tokens = tok, op.embed.out = out, op.embed.d = d;
        be_bind b = bind_of(3, 3);
        b.w[0] = &t.w, b.vocab = 3;
        mot_step_state s = step_of(0, 0, 3, 0);
        be_set_step(&s);
        be_run(&op, &b);
        float got[3 * 17], ref[3 * 17];
        be_get(got, out);
        for (int i = 0; i < 3; i++) mot_ref_embed_row(ref + i * d, &t.w, i);
        expect("embed", mot_dtype_name(dt), "nan/inf table", 1, got, ref, 3 * d, 0.0);
        free(t.data);
    }
}

/* ---- RMSNORM, RMSNORM_LAST, LAYERNORM, SWIGLU ------------------------------------------ */

static void run_rowwise(mot_op_kind kind, int n, int d, int nan_run, int with_w, int with_b) {
    const int max_rows = n + 1;
    const size_t cnt = (size_t)max_rows * d;
    float *x = floats(cnt, 2.0f), *w = floats((size_t)d, 1.5f), *bias = floats((size_t)d, 0.5f);
    float *gate = floats(cnt, 20.0f);
    if (nan_run) {
        poison(kind == MOT_OP_SWIGLU ? gate : x, n, d);
    }
    be_reset();
    mot_buf in = put_floats(x, cnt), out = be_buf(sizeof(float) * cnt);
    float *ref = filled(cnt, SENTINEL), *got = malloc(sizeof(float) * cnt);
    be_put(out, kind == MOT_OP_SWIGLU ? gate : ref);
    mot_plan_op op = op_of(kind, 0);
    if (kind == MOT_OP_SWIGLU) {
        op.swiglu.gate = out, op.swiglu.up = in, op.swiglu.f = d;
    } else if (kind == MOT_OP_LAYERNORM) {
        op.layernorm.x = in, op.layernorm.out = out, op.layernorm.d = d, op.layernorm.eps = 1e-5f;
    } else {
        op.rmsnorm.x = in, op.rmsnorm.out = out, op.rmsnorm.d = d, op.rmsnorm.eps = 1e-5f;
    }
    be_bind b = bind_of(n, max_rows);
    const char *name = mot_op_kind_name(kind);
    char dtype[12] = "f32";
    switch (kind) {
    case MOT_OP_RMSNORM:
        op.rmsnorm.weight = w;
        mot_ref_rmsnorm(ref, x, w, n, d, 1e-5f);
        break;
    case MOT_OP_RMSNORM_LAST:
        op.rmsnorm.weight = w;
        mot_ref_rmsnorm(ref, x + (size_t)(n - 1) * d, w, 1, d, 1e-5f);
        break;
    case MOT_OP_LAYERNORM:
        op.layernorm.weight = with_w ? w : NULL;
        op.layernorm.bias = with_b ? bias : NULL;
        mot_ref_layernorm(ref, x, op.layernorm.weight, op.layernorm.bias, n, d, 1e-5f);
        snprintf(dtype, sizeof dtype, "f32 %s%s", with_w ? "w" : "-", with_b ? "b" : "-");
        break;
    default: /* SWIGLU: gate = silu(gate) * up */
        memcpy(ref, gate, sizeof(float) * cnt);
        mot_ref_swiglu(ref, gate, x, n, d);
        break;
    }
    mot_step_state s = step_of(0, 0, n, 0);
    be_set_step(&s);
    be_run(&op, &b);
    be_get(got, out);
    char what[64];
    snprintf(what, sizeof what, "n=%d d=%d", n, d);
    expect(name, dtype, what, nan_run, got, ref, cnt, bound_for(1e-6, 1e-5));
    free(x), free(w), free(bias), free(gate), free(ref), free(got);
}

static void case_rowwise(mot_op_kind kind) {
    static const int ns[] = {1, 3, 17}, ds[] = {1, 17, 63, 65, 257};
    for (int nan_run = 1; nan_run >= 0; nan_run--) {
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 5; j++) {
                if (kind == MOT_OP_LAYERNORM) {
                    for (int v = 0; v < 3; v++) { /* weight and bias, weight only, neither */
                        run_rowwise(kind, ns[i], ds[j], nan_run, v < 2, v == 0);
                    }
                } else {
                    run_rowwise(kind, ns[i], ds[j], nan_run, 1, 1);
                }
            }
        }
    }
}

static void case_rmsnorm(void) { case_rowwise(MOT_OP_RMSNORM); }
static void case_rmsnorm_last(void) { case_rowwise(MOT_OP_RMSNORM_LAST); }
static void case_layernorm(void) { case_rowwise(MOT_OP_LAYERNORM); }
static void case_swiglu(void) { case_rowwise(MOT_OP_SWIGLU); }

/* ---- MATMUL ------------------------------------------------------------------------------- */

/* The CUDA lanes run `precision: exact` (tests/ops/backend_ops_cuda.c): f32 activations on
 * both backends, so one bound (SPEC 1.7). */
static double matmul_bound(mot_dtype dt, int n) {
    (void)n;
    return mot_dtype_is_quantized(dt) ? 1e-4 : 1e-5;
}

/* n_w weights (rows_j x cols) of dt, a bias on the last; accumulate: one weight, y += ...;
 * single_row: the last-row LM head form (one row whatever n is). */
static void run_matmul(mot_dtype dt, int n, int64_t cols, int n_w, int accumulate, int single_row, int nan_run) {
    static const int64_t rows_of[3] = {63, 17, 3};
    const int rows_run = single_row ? 1 : n;
    weight w[3];
    float *bias = NULL, *x = floats((size_t)(n * cols), 1.0f);
    if (nan_run) poison(x, rows_run, (int)cols);
    be_reset();
    mot_buf in = put_floats(x, (size_t)(n * cols)), out[3];
    mot_plan_op op = op_of(MOT_OP_MATMUL, 2);
    op.matmul.x = in, op.n_w = n_w, op.matmul.accumulate = accumulate, op.matmul.single_row = single_row;
    be_bind b = bind_of(rows_run, n);
    float *ref[3], *got[3];
    for (int j = 0; j < n_w; j++) {
        const int64_t rows = rows_of[j];
        w[j] = make_weight(dt, rows, cols, 1.0f);
        const size_t ny = (size_t)((n + 1) * rows);
        ref[j] = accumulate ? floats(ny, 1.0f) : filled(ny, SENTINEL);
        got[j] = malloc(sizeof(float) * ny);
        out[j] = put_floats(ref[j], ny);
        op.matmul.y[j] = out[j];
        b.w[j] = &w[j].w;
        if (j == n_w - 1) {
            bias = floats((size_t)rows, 1.0f);
            b.bias[j] = bias;
        }
    }
    if (accumulate) {
        op.matmul.scratch = be_buf(sizeof(float) * (size_t)(n * rows_of[0]));
    }
    mot_step_state s = step_of(2, 0, n, 0);
    be_set_step(&s);
    be_run(&op, &b);
    for (int j = 0; j < n_w; j++) {
        mot_ref_linear(ref[j], x, &w[j].w, b.bias[j], rows_run, accumulate);
        be_get(got[j], out[j]);
        char what[96];
        snprintf(what, sizeof what, "n=%d cols=%lld weight %d of %d%s%s%s", n, (long long)cols, j, n_w,
                 b.bias[j] ? " +bias" : "", accumulate ? " accumulate" : "", single_row ? " single_row" : "");
        expect("matmul", mot_dtype_name(dt), what, nan_run, got[j], ref[j], (size_t)((n + 1) * rows_of[j]),
               matmul_bound(dt, rows_run));
        free(ref[j]), free(got[j]), free(w[j].data);
    }
    free(bias), free(x);
}

static void case_matmul(void) {
    for (size_t di = 0; di < N_DTYPES; di++) {
        const mot_dtype dt = all_dtypes[di];
        const int quant = mot_dtype_is_quantized(dt);
        /* NaN/inf first (plain dtypes: a quantized block can hold exact zeros, and inf * 0 is
         * NaN in one sum order and not another's) */
        if (!quant) {
            run_matmul(dt, 3, 17, 1, 0, 0, 1);
            run_matmul(dt, 1, 65, 3, 0, 0, 1);
        }
        static const int ns[] = {1, 3, 17};
        static const int64_t cs[] = {1, 17, 65, 257};
        for (int i = 0; i < 3; i++) {
            for (int c = 0; c < 4; c++) {
                const int64_t cols = width_for(dt, cs[c]);
                if (quant && c == 1) continue; /* the same block width as c == 0 */
                run_matmul(dt, ns[i], cols, 1 + (i + c) % 3, 0, 0, 0);
            }
            run_matmul(dt, ns[i], width_for(dt, 65), 1, 1, 0, 0);
            run_matmul(dt, ns[i], width_for(dt, 63), 1, 0, 1, 0);
        }
    }
}

/* ---- ROPE_APPEND, ATTENTION --------------------------------------------------------------- */

static float *inv_freq(int hd, double theta) {
    float *f = malloc(sizeof(float) * (size_t)(hd / 2 > 0 ? hd / 2 : 1));
    for (int i = 0; i < hd / 2; i++) f[i] = (float)pow(theta, -2.0 * i / hd);
    return f;
}

static void run_rope_append(int n, int nh, int nkv, int hd, int pos, int head_major, int pad, int nan_run) {
    const int ctx = pos + n + 2;
    const int64_t kv_stride = head_major ? hd + pad : (int64_t)nkv * hd + pad;
    const int64_t head_stride = head_major ? (int64_t)ctx * kv_stride : hd;
    const size_t cache = head_major ? (size_t)(nkv * head_stride) : (size_t)(ctx * kv_stride);
    const size_t nq = (size_t)n * nh * hd, nk = (size_t)n * nkv * hd;
    float *q = floats(nq, 1.0f), *k = floats(nk, 1.0f), *v = floats(nk, 1.0f), *f = inv_freq(hd, 10000.0);
    if (nan_run) poison(q, n * nh, hd);
    float *kc = filled(cache, SENTINEL), *vc = filled(cache, SENTINEL);
    be_reset();
    mot_buf bq = put_floats(q, nq), bk = put_floats(k, nk), bv = put_floats(v, nk);
    mot_buf bkc = put_floats(kc, cache), bvc = put_floats(vc, cache);
    mot_plan_op op = op_of(MOT_OP_ROPE_APPEND, 3);
    op.rope_append.q = bq, op.rope_append.k = bk, op.rope_append.v = bv;
    op.rope_append.kv = (mot_op_kv){bkc, bvc, nh, nkv, hd, (int)kv_stride, head_stride};
    be_bind b = bind_of(n, n);
    op.rope_append.inv_freq = f;
    mot_step_state s = step_of(3, pos, n, 0);
    be_set_step(&s);
    be_run(&op, &b);
    mot_ref_rope_append(q, k, v, kc, vc, kv_stride, head_stride, n, nh, nkv, hd, pos, f);
    float *got = malloc(sizeof(float) * (cache > nq ? cache : nq));
    char what[96];
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d pos=%d %s", n, nh, nkv, hd, pos,
             head_major ? "head-major" : "rows");
    const double bd = bound_for(1e-6, 1e-5);
    be_get(got, bq), expect("rope_append", "q", what, nan_run, got, q, nq, bd);
    be_get(got, bk), expect("rope_append", "k", what, nan_run, got, k, nk, bd);
    be_get(got, bkc), expect("rope_append", "k cache", what, nan_run, got, kc, cache, bd);
    be_get(got, bvc), expect("rope_append", "v cache", what, nan_run, got, vc, cache, 0.0);
    free(q), free(k), free(v), free(f), free(kc), free(vc), free(got);
}

static void case_rope_append(void) {
    run_rope_append(3, 4, 2, 16, 5, 0, 3, 1);
    run_rope_append(1, 9, 3, 64, 40, 1, 0, 1);
    static const struct {
        int n, nh, nkv, hd, pos, head_major, pad;
    } c[] = {{1, 1, 1, 2, 0, 0, 0},    {3, 3, 1, 18, 5, 1, 2},   {17, 9, 3, 64, 63, 0, 8},
             {1, 15, 5, 128, 1000, 1, 0}, {65, 6, 2, 32, 0, 1, 4}, {3, 7, 7, 10, 257, 0, 1}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        run_rope_append(c[i].n, c[i].nh, c[i].nkv, c[i].hd, c[i].pos, c[i].head_major, c[i].pad, 0);
    }
}

static void run_attention(int n, int pos, int nh, int nkv, int hd, int window, int head_major, float qs, int nan_run) {
    const int keys = pos + n, ctx = keys + 3;
    const int64_t kv_stride = head_major ? hd : (int64_t)nkv * hd + 5;
    const int64_t head_stride = head_major ? (int64_t)ctx * hd : hd;
    const size_t cache = head_major ? (size_t)(nkv * head_stride) : (size_t)(ctx * kv_stride);
    const size_t nq = (size_t)n * nh * hd;
    float *q = floats(nq, qs), *k = floats(cache, 1.0f), *v = floats(cache, 1.0f);
    if (nan_run) {
        poison(q, n * nh, hd);
    }
    be_reset();
    mot_buf bq = put_floats(q, nq), bk = put_floats(k, cache), bv = put_floats(v, cache), bo = be_buf(sizeof(float) * nq);
    mot_plan_op op = op_of(MOT_OP_ATTENTION, 4);
    op.attention.q = bq, op.attention.out = bo;
    op.attention.kv = (mot_op_kv){bk, bv, nh, nkv, hd, (int)kv_stride, head_stride};
    op.attention.window = window, op.attention.scale = 1.0f / sqrtf((float)hd);
    be_bind b = bind_of(n, n);
    mot_step_state s = step_of(4, pos, n, 0);
    be_set_step(&s);
    be_run(&op, &b);
    float *ref = malloc(sizeof(float) * nq), *got = malloc(sizeof(float) * nq);
    mot_ref_attention(ref, q, k, v, kv_stride, head_stride, n, pos, nh, nkv, hd, window, op.attention.scale);
    be_get(got, bo);
    char what[112];
    snprintf(what, sizeof what, "n=%d pos=%d heads=%d/%d hd=%d window=%d %s", n, pos, nh, nkv, hd, window,
             head_major ? "head-major" : "rows");
    expect("attention", "f32", what, nan_run, got, ref, nq, keys > 1000 ? 3e-5 : 1e-5);
    free(q), free(k), free(v), free(ref), free(got);
}

static void case_attention(void) {
    run_attention(3, 4, 4, 2, 16, 0, 0, 1.0f, 1);
    run_attention(1, 63, 9, 3, 64, 0, 1, 1.0f, 1);
    static const struct {
        int n, pos, nh, nkv, hd, window, head_major;
        float qs;
    } c[] = {{1, 0, 1, 1, 1, 0, 0, 1.0f},      {1, 256, 9, 3, 64, 0, 1, 2.0f},  {1, 1500, 6, 2, 128, 700, 1, 4.0f},
             {3, 4, 3, 1, 7, 2, 0, 2.0f},      {17, 0, 15, 5, 33, 0, 1, 1.0f},  {63, 65, 4, 4, 12, 17, 0, 3.0f},
             {65, 0, 8, 2, 40, 0, 1, 30.0f},   {1, 50, 66, 1, 8, 0, 0, 1.0f},   {5, 257, 4, 2, 260, 0, 1, 1.0f}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        run_attention(c[i].n, c[i].pos, c[i].nh, c[i].nkv, c[i].hd, c[i].window, c[i].head_major, c[i].qs, 0);
    }
}

/* ---- LATENT_APPEND, CROSS_ATTENTION ------------------------------------------------------- */

static void case_latent_append(void) {
    static const struct {
        int n, d, rows0;
    } c[] = {{0, 17, 3}, {1, 1, 0}, {3, 17, 5}, {17, 63, 1}, {65, 257, 0}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const int n = c[i].n, d = c[i].d, ctx = c[i].rows0 + n + 2;
        const size_t cache = (size_t)ctx * d, nk = (size_t)(n > 0 ? n : 1) * d;
        float *k = floats(nk, 1.0f), *v = floats(nk, 1.0f), *kc = filled(cache, SENTINEL), *vc = filled(cache, SENTINEL);
        be_reset();
        mot_buf bk = put_floats(k, nk), bv = put_floats(v, nk), bkc = put_floats(kc, cache), bvc = put_floats(vc, cache);
        mot_plan_op op = op_of(MOT_OP_LATENT_APPEND, 5);
        op.latent_append.k = bk, op.latent_append.v = bv, op.latent_append.d = d;
        op.latent_append.k_cache = bkc, op.latent_append.v_cache = bvc;
        be_bind b = bind_of(n, n > 0 ? n : 1);
        mot_step_state s = step_of(5, 0, n, c[i].rows0);
        be_set_step(&s);
        be_run(&op, &b);
        mot_ref_latent_append(kc, vc, k, v, n, d, c[i].rows0);
        float *got = malloc(sizeof(float) * cache);
        char what[64];
        snprintf(what, sizeof what, "n=%d d=%d rows=%d%s", n, d, c[i].rows0, n ? "" : " (dead lane)");
        be_get(got, bkc), expect("latent_append", "f32", what, 0, got, kc, cache, 0.0);
        be_get(got, bvc), expect("latent_append", "f32", what, 0, got, vc, cache, 0.0);
        free(k), free(v), free(kc), free(vc), free(got);
    }
}

/* lane m: rows[m] keys before this pass, n_new[m] fed now, prompt n_prompt[m]; lane 0's
 * n_new[0] queries; the lanes in the bit mask `listen` are listeners (no segment: their keys
 * are not attended, docs/pipeline.md) */
static void run_cross_listen(int heads, int d_s, int n_lanes, const int *rows, const int *n_new, const int *n_prompt,
                             int prefill, float qs, int nan_run, unsigned listen) {
    const int n_q = n_new[0];
    mot_step_state s;
    memset(&s, 0, sizeof s);
    s.prefill = prefill, s.n_lanes = n_lanes;
    float *q = floats((size_t)n_q * d_s, qs), *k[MOT_MAX_LANES], *v[MOT_MAX_LANES];
    if (nan_run) q[0] = NAN;
    mot_kv_segment seg[MOT_MAX_LANES];
    be_reset();
    mot_buf bq = put_floats(q, (size_t)n_q * d_s), bo = be_buf(sizeof(float) * (size_t)n_q * d_s);
    mot_plan_op op = op_of(MOT_OP_CROSS_ATTENTION, 0);
    op.cross_attention.q = bq, op.cross_attention.out = bo, op.cross_attention.d = d_s;
    op.cross_attention.heads = heads, op.cross_attention.n_seg = 0;
    op.cross_attention.scale = 1.0f / sqrtf((float)(d_s / heads));
    int n_seg = 0, last = -1;
    for (int m = 0; m < n_lanes; m++) last = listen >> m & 1 ? last : m;
    for (int m = 0; m < n_lanes; m++) {
        const int present = rows[m] + n_new[m];
        s.lane[m] = (mot_lane_step){.rows = rows[m], .n_new = n_new[m], .n_prompt = n_prompt[m], .alive = n_new[m] > 0};
        if (listen >> m & 1) continue;
        const int g = n_seg++;
        k[g] = floats((size_t)(present + 1) * d_s, 1.0f);
        v[g] = floats((size_t)(present + 1) * d_s, 1.0f);
        if (nan_run && m == last) v[g][(size_t)(present - 1) * d_s + d_s - 1] = INFINITY;
        op.cross_attention.seg_lane[g] = m;
        op.cross_attention.seg_k[g] = put_floats(k[g], (size_t)(present + 1) * d_s);
        op.cross_attention.seg_v[g] = put_floats(v[g], (size_t)(present + 1) * d_s);
        seg[g] = (mot_kv_segment){k[g], v[g], present, n_prompt[m]};
    }
    op.cross_attention.n_seg = n_seg;
    be_set_step(&s);
    be_bind b = bind_of(prefill ? n_q : 1, n_q);
    be_run(&op, &b);
    float *ref = malloc(sizeof(float) * (size_t)n_q * d_s), *got = malloc(sizeof(float) * (size_t)n_q * d_s);
    mot_ref_cross_attention(ref, q, n_q, heads, d_s, seg, n_seg, prefill);
    be_get(got, bo);
    char what[128];
    int len = snprintf(what, sizeof what, "%s heads=%d d_s=%d N=", prefill ? "prefill" : "decode", heads, d_s);
    for (int m = 0; m < n_lanes && len < 100; m++) {
        len += snprintf(what + len, sizeof what - (size_t)len, "%s%d+%d%s", m ? "," : "", rows[m], n_new[m],
                        listen >> m & 1 ? "(listens)" : "");
    }
    int total = 0;
    for (int m = 0; m < n_seg; m++) total += seg[m].rows;
    expect("cross_attention", "f32", what, nan_run, got, ref, (size_t)n_q * d_s, total > 1000 ? 3e-5 : 1e-5);
    for (int m = 0; m < n_seg; m++) free(k[m]), free(v[m]);
    free(q), free(ref), free(got);
}

static void run_cross(int heads, int d_s, int n_seg, const int *rows, const int *n_new, const int *n_prompt,
                      int prefill, float qs, int nan_run) {
    run_cross_listen(heads, d_s, n_seg, rows, n_new, n_prompt, prefill, qs, nan_run, 0);
}

static void case_cross_attention(void) {
    const int z[4] = {0, 0, 0, 0};
    {
        const int nn[3] = {6, 9, 4};
        run_cross(4, 64, 3, z, nn, nn, 1, 2.0f, 1);
        const int rows[3] = {6, 9, 4}, one[3] = {1, 1, 0};
        run_cross(3, 63, 3, rows, one, nn, 0, 2.0f, 1);
    }
    /* prefill: N_m below, equal to and above N_p, N_m = 1, segments queries 0.. cannot see */
    static const int prompts[][4] = {{1, 1, 1, 1}, {3, 17, 1, 65}, {17, 3, 63, 17}, {63, 65, 2, 257}, {65, 63, 0, 0},
                                      {257, 1, 0, 0}};
    static const int nseg[] = {1, 4, 4, 4, 2, 2};
    static const int hs[][2] = {{1, 1}, {3, 12}, {4, 64}, {5, 65}, {1, 17}, {8, 256}};
    for (size_t i = 0; i < sizeof nseg / sizeof nseg[0]; i++) {
        run_cross(hs[i][0], hs[i][1], nseg[i], z, prompts[i], prompts[i], 1, 2.0f, 0);
    }
    /* decode: a dead lane keeps its keys; long segments */
    const int nn[3] = {17, 3, 65}, rows[3] = {20, 5, 66}, fed[3] = {1, 0, 1};
    run_cross(3, 63, 3, rows, fed, nn, 0, 2.0f, 0);
    const int rows_l[3] = {1500, 1700, 900}, one[3] = {1, 1, 1};
    run_cross(8, 512, 3, rows_l, one, nn, 0, 2.0f, 0);
    const int rows_s[1] = {0}, one1[1] = {1}, np1[1] = {1};
    run_cross(1, 1, 1, rows_s, one1, np1, 0, 1.0f, 0);
    /* listeners: the primary listens (prefill queries before the others' first aligned key see
     * nothing: 0), a non-primary listens, nobody speaks (every row 0) */
    static const int lp[3] = {17, 3, 63};
    run_cross_listen(3, 12, 3, z, lp, lp, 1, 2.0f, 0, 1u);
    run_cross_listen(4, 64, 3, z, lp, lp, 1, 2.0f, 0, 2u);
    run_cross_listen(3, 12, 3, z, lp, lp, 1, 2.0f, 0, 7u);
    run_cross_listen(3, 63, 3, rows, fed, nn, 0, 2.0f, 0, 1u);
    run_cross_listen(8, 512, 3, rows_l, one, nn, 0, 2.0f, 0, 5u);
    run_cross_listen(3, 63, 3, rows, fed, nn, 0, 2.0f, 0, 7u);
}

/* ---- SAMPLE, STEP_ADVANCE ----------------------------------------------------------------- */

/* min_p < 0: -j, min-p exactly the p of the j-th largest distinct logit (a cut inside a tie) */
static void run_sample_mp(int vocab, float temp, int top_k, float top_p, float min_p, int nan_run, float scale) {
    float *x = floats((size_t)vocab, scale);
    if (nan_run == 1) {
        x[0] = NAN;
        if (vocab > 2) x[vocab / 2] = NAN;
    } else if (nan_run == 2) {
        if (vocab > 2) x[vocab - 2] = INFINITY, x[1] = NAN;
    } else if (nan_run == 3 && vocab > 3) {
        x[vocab / 3] = x[vocab - 1] = 3.0f * scale; /* a tie for the maximum */
    } else if (nan_run == 4) {
        for (int i = 0; i < vocab; i++) x[i] = roundf(x[i]) * 0.25f; /* few distinct values: top-k cuts a tie */
    } else if (nan_run == 5) {
        /* logits a few ULPs apart around two levels: their p tie or not as expf rounds */
        for (int i = 0; i < vocab; i++) x[i] = (i % 3 ? 2.0f : 1.9999f) * scale + (float)(i % 5) * 2e-7f * scale;
    }
    if (min_p < 0.0f) {
        const float mx = x[mot_ref_argmax(x, vocab)];
        float level = mx;
        for (int j = 1; j <= (int)-min_p; j++) { /* the next smaller distinct value */
            float next = -INFINITY;
            for (int i = 0; i < vocab; i++) next = x[i] < level && x[i] > next ? x[i] : next;
            level = next > -INFINITY ? next : level;
        }
        min_p = expf((level - mx) / temp);
    }
    be_reset();
    mot_buf in = put_floats(x, (size_t)vocab), tok = be_buf(sizeof(int32_t));
    mot_step_state s = step_of(1, 4, 1, 0);
    uint64_t seed = (uint64_t)vocab * 7919 + (uint64_t)(temp * 1000) + (uint64_t)top_k;
    for (int i = 0; i < 4; i++) s.lane[1].rng.s[i] = seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    s.lane[1].n_sampled = 5;
    be_set_step(&s);
    mot_plan_op op = op_of(MOT_OP_SAMPLE, 1);
    op.sample.logits = in, op.sample.tokens = tok, op.sample.vocab = vocab;
    be_bind b = bind_of(1, 1);
    b.vocab = vocab, b.temperature = temp, b.top_k = top_k, b.top_p = top_p, b.min_p = min_p;
    be_run(&op, &b);
    uint64_t rng[4];
    memcpy(rng, s.lane[1].rng.s, sizeof rng);
    const double u = mot_ref_uniform(rng);
    const int want = mot_ref_sample(x, vocab, temp, top_k, top_p, min_p, u);
    mot_step_state after;
    be_get_step(&after);
    int32_t t;
    be_get(&t, tok);
    char dtype[12], what[96];
    snprintf(dtype, sizeof dtype, "%s%s", temp <= 0.0f ? "greedy" : top_k > 0 && top_p < 1.0f ? "T,k,p" : top_k > 0 ? "T,k" : top_p < 1.0f ? "T,p" : "T",
             temp > 0.0f && min_p > 0.0f ? ",m" : "");
    snprintf(what, sizeof what, "vocab=%d T=%g top_k=%d top_p=%g min_p=%g%s", vocab, temp, top_k, top_p, min_p,
             nan_run == 1 ? " NaNs" : nan_run == 2 ? " +inf" : nan_run == 3 ? " tie" : nan_run == 4 ? " ties" : nan_run == 5 ? " near ties" : "");
    if (!is_cuda && temp > 0.0f && (top_k <= 0 || top_k >= vocab) && top_p >= 1.0f && min_p <= 0.0f) {
        /* Known deviation (kernels/cpu/sampler.c): without top-k/top-p the CPU walks the whole
         * vocabulary in id order for the draw (no sort per step), the reference and the CUDA
         * sampler in (prob desc, id asc) order: same distribution, another token for the same
         * u. Held to: a token of non-zero probability. */
        const float mx = x[mot_ref_argmax(x, vocab)];
        const int tk = after.lane[1].token;
        const int ok = tk >= 0 && tk < vocab && expf((x[tk] - mx) / temp) > 0.0f;
        snprintf(dtype, sizeof dtype, "T (id ord)");
        expect_int("sample", dtype, what, ok && t == tk, 1);
    } else {
        expect_int("sample", dtype, what, after.lane[1].token, want);
        expect_int("sample", dtype, what, t, want);
    }
    expect_int("sample", dtype, "n_sampled", after.lane[1].n_sampled, 6);
    if (nan_run && nan_run <= 3) row_of("sample", dtype)->nan_checks++;
    /* the stream moves on by one draw exactly when a draw was made (T > 0 and some mass) */
    int drew = temp > 0.0f;
    if (drew) {
        const float mx = x[mot_ref_argmax(x, vocab)];
        double mass = 0.0;
        for (int i = 0; i < vocab; i++) {
            const float e = expf((x[i] - mx) / temp);
            mass += e >= 0.0f && e <= 1.0f ? e : 0.0f;
        }
        drew = mass > 0.0;
    }
    expect_int("sample", dtype, "rng advanced by its draws", memcmp(after.lane[1].rng.s, drew ? rng : s.lane[1].rng.s, sizeof rng), 0);
    free(x);
}

static void run_sample(int vocab, float temp, int top_k, float top_p, int nan_run, float scale) {
    run_sample_mp(vocab, temp, top_k, top_p, 0.0f, nan_run, scale);
}

static void case_sample(void) {
    static const int vocabs[] = {1, 3, 17, 257, 1000, 32001};
    for (int nan_run = 1; nan_run <= 3; nan_run++) {
        for (int v = 1; v < 6; v++) {
            run_sample(vocabs[v], 0.0f, 0, 1.0f, nan_run, 4.0f);
            run_sample(vocabs[v], 0.8f, 40, 0.9f, nan_run, 4.0f);
        }
    }
    /* ties and near ties at the top-k cut and in the top-p prefix (the CPU's heap selection
     * and radix sort must give the reference's (p desc, id asc) order exactly) */
    for (int mode = 4; mode <= 5; mode++) {
        for (int v = 2; v < 6; v++) {
            for (int rep = 0; rep < 3; rep++) {
                run_sample(vocabs[v], 0.8f, 40, 1.0f, mode, 4.0f);
                run_sample(vocabs[v], 0.8f, 7, 0.9f, mode, 4.0f);
                run_sample(vocabs[v], 1.0f, 0, 0.6f, mode, 4.0f);
                run_sample(vocabs[v], 0.05f, 3, 1.0f, mode, 1.0f);
            }
        }
    }
    for (int v = 0; v < 6; v++) {
        run_sample(vocabs[v], 0.0f, 0, 1.0f, 0, 4.0f);
        for (int rep = 0; rep < 4; rep++) {
            run_sample(vocabs[v], 0.7f, 0, 1.0f, 0, 4.0f);
            run_sample(vocabs[v], 1.3f, 5, 1.0f, 0, 4.0f);
            run_sample(vocabs[v], 1.0f, 1, 1.0f, 0, 4.0f);
            run_sample(vocabs[v], 0.9f, 0, 0.5f, 0, 4.0f);
            run_sample(vocabs[v], 0.8f, 40, 0.9f, 0, 4.0f);
            /* min-p: alone (the CPU gathers and sorts its candidates), after top-k and top-p
             * (mot run's defaults), after top-p alone, small and large */
            run_sample_mp(vocabs[v], 0.8f, 0, 1.0f, 0.05f, 0, 4.0f);
            run_sample_mp(vocabs[v], 0.8f, 40, 0.95f, 0.05f, 0, 4.0f);
            run_sample_mp(vocabs[v], 1.2f, 0, 0.9f, 0.2f, 0, 4.0f);
            run_sample_mp(vocabs[v], 1.0f, 0, 1.0f, 1e-6f, 0, 4.0f);
            run_sample_mp(vocabs[v], 1.0f, 7, 1.0f, 0.5f, 0, 1.0f);
        }
    }
    /* min-p exactly at a p that several ids share (kept: p >= min_p), with and without top-k */
    for (int v = 2; v < 6; v++) {
        for (int j = 1; j <= 3; j++) {
            run_sample_mp(vocabs[v], 0.8f, 0, 1.0f, (float)-j, 4, 4.0f);
            run_sample_mp(vocabs[v], 0.8f, 40, 1.0f, (float)-j, 4, 4.0f);
            run_sample_mp(vocabs[v], 0.8f, 0, 0.97f, (float)-j, 4, 4.0f);
        }
        run_sample_mp(vocabs[v], 1.0f, 0, 1.0f, 1.0f, 3, 4.0f); /* min-p 1 with a tie for the max */
        run_sample_mp(vocabs[v], 0.8f, 0, 1.0f, 0.1f, 1, 4.0f); /* NaNs */
    }
}

static void case_step_advance(void) {
    for (int variant = 0; variant < 4; variant++) {
        mot_step_state s;
        memset(&s, 0, sizeof s);
        s.n_lanes = variant == 3 ? 1 : 4;
        s.prefill = variant == 0;
        s.step = 3 + variant;
        mot_plan_op op = op_of(MOT_OP_STEP_ADVANCE, 0);
        for (int i = 0; i < MOT_MAX_LANES; i++) {
            for (int e = 0; e < MOT_MAX_EOS; e++) op.step_advance.eos[i][e] = -1;
        }
        for (int i = 0; i < s.n_lanes; i++) {
            s.lane[i] = (mot_lane_step){.pos = 10 * i + variant, .n_new = variant == 0 ? 3 + i : (i == 2 ? 0 : 1),
                                        .rows = 7 * i, .n_prompt = 3 + i, .alive = i != 2, .token = 100 + i,
                                        .n_sampled = i};
            op.step_advance.eos[i][0] = 100 + (i % 2); /* lanes 0 and 2 sampled their EOS; lane 0 is the primary */
            op.step_advance.eos[i][1] = 7;
        }
        op.step_advance.ignore_eos = variant == 2;
        be_reset();
        be_set_step(&s);
        be_bind b = bind_of(1, 1);
        be_run(&op, &b);
        mot_step_state got;
        be_get_step(&got);
        mot_ref_step_advance(&s, op.step_advance.eos, op.step_advance.ignore_eos);
        char what[64];
        snprintf(what, sizeof what, "variant %d: step state equal", variant);
        expect_int("step_advance", "-", what, memcmp(&got, &s, sizeof s), 0);
    }
}

/* ---- the CPU executor's fused decode GEMVs ------------------------------------------------ */

/* RMSNORM(_LAST) -> MATMUL (q/k/v-like, a bias), MATMUL(gate, up) -> SWIGLU, or all three,
 * as a small plan run through the executor's fusion (mot_cpu_fusion_span): the fused result
 * must be the composition of the references, and the decode span must fuse. */
static void run_fused(mot_dtype dt, int norm, int last, int swiglu, int n, int64_t cols, int nan_run) {
    const int n_w = swiglu ? 2 : 3;
    const int64_t rows_of[3] = {swiglu ? 65 : 63, swiglu ? 65 : 17, 3};
    const int rows = last ? 1 : n;
    mot_plan p;
    memset(&p, 0, sizeof p);
    mot_plan_op ops[3];
    mot_instr prog[3];
    be_bind binds[3];
    p.ops = ops, p.prog = prog;
    be_reset();
    float *x = floats((size_t)(n * cols), 1.0f), *nw = floats((size_t)cols, 1.0f);
    if (nan_run) poison(x + (last ? (size_t)(n - 1) * cols : 0), rows, (int)cols);
    mot_buf bx = put_floats(x, (size_t)(n * cols)), bn = be_buf(sizeof(float) * (size_t)(rows * cols)), out[3];
    weight w[3];
    float *bias = NULL;
    if (norm) {
        ops[p.n_ops] = op_of(last ? MOT_OP_RMSNORM_LAST : MOT_OP_RMSNORM, 0);
        ops[p.n_ops].rmsnorm = (mot_op_rmsnorm){.x = bx, .out = bn, .weight = nw, .d = (int)cols, .eps = 1e-5f};
        binds[p.n_ops] = bind_of(n, n);
        p.n_ops++;
    }
    mot_plan_op *mm = &ops[p.n_ops];
    be_bind *mb = &binds[p.n_ops];
    *mm = op_of(MOT_OP_MATMUL, 0);
    *mb = bind_of(rows, n);
    mm->matmul.x = norm ? bn : bx, mm->n_w = n_w, mm->matmul.single_row = last;
    for (int j = 0; j < n_w; j++) {
        w[j] = make_weight(dt, rows_of[j], cols, 1.0f);
        out[j] = be_buf(sizeof(float) * (size_t)(rows * rows_of[j]));
        mm->matmul.y[j] = out[j];
        mb->w[j] = &w[j].w;
    }
    if (!swiglu) {
        bias = floats((size_t)rows_of[1], 1.0f);
        mb->bias[1] = bias;
    }
    p.n_ops++;
    if (swiglu) {
        ops[p.n_ops] = op_of(MOT_OP_SWIGLU, 0);
        ops[p.n_ops].swiglu = (mot_op_swiglu){.gate = out[0], .up = out[1], .f = (int)rows_of[0]};
        binds[p.n_ops] = bind_of(rows, n);
        p.n_ops++;
    }
    for (int k = 0; k < p.n_ops; k++) prog[k] = (mot_instr){MOT_INSTR_RUN, 0, k};
    p.n_instrs = p.n_ops;
    mot_step_state s = step_of(0, 0, n, 0);
    be_set_step(&s);
    const int span = be_run_plan(&p, binds);
    /* reference */
    float *rn = malloc(sizeof(float) * (size_t)(rows * cols)), *ry[3], *got = malloc(sizeof(float) * (size_t)(rows * 65 + rows * cols));
    const mot_weight *wp[3];
    const float *bp[3] = {NULL, bias, NULL};
    for (int j = 0; j < n_w; j++) {
        ry[j] = malloc(sizeof(float) * (size_t)(rows * rows_of[j]));
        wp[j] = &w[j].w;
    }
    mot_ref_norm_linear_swiglu(rn, ry, x + (last ? (size_t)(n - 1) * cols : 0), norm ? nw : NULL, 1e-5f, wp, bp, n_w,
                               rows, swiglu);
    char op_name[32], what[96];
    snprintf(op_name, sizeof op_name, "%s%s%s", norm ? (last ? "rmsnorm_last+" : "rmsnorm+") : "", "matmul",
             swiglu ? "+swiglu" : "");
    snprintf(what, sizeof what, "n=%d cols=%lld (ran as a span of %d)", n, (long long)cols, span);
    if (n == 1 || last) {
        expect_int(op_name, mot_dtype_name(dt), "decode fuses the whole span", span, p.n_ops);
    }
    const double bd = mot_dtype_is_quantized(dt) ? 1e-4 : 1e-5;
    for (int j = 0; j < (swiglu ? 1 : n_w); j++) {
        be_get(got, out[j]);
        expect(op_name, mot_dtype_name(dt), what, nan_run, got, ry[j], (size_t)(rows * rows_of[j]), bd);
    }
    if (norm) {
        be_get(got, bn);
        expect(op_name, mot_dtype_name(dt), "the norm's output", nan_run, got, rn, (size_t)(rows * cols), 1e-6);
    }
    for (int j = 0; j < n_w; j++) free(ry[j]), free(w[j].data);
    free(x), free(nw), free(rn), free(got), free(bias);
}

static void case_fused(void) {
    for (size_t di = 0; di < N_DTYPES; di++) {
        const mot_dtype dt = all_dtypes[di];
        const int64_t c1 = width_for(dt, 65), c2 = width_for(dt, 257);
        if (!mot_dtype_is_quantized(dt)) {
            run_fused(dt, 1, 0, 0, 1, c1, 1);
            run_fused(dt, 1, 0, 1, 1, c2, 1);
        }
        for (int n = 1; n <= 3; n += 2) {
            run_fused(dt, 1, 0, 0, n, c1, 0);
            run_fused(dt, 0, 0, 1, n, c2, 0);
            run_fused(dt, 1, 0, 1, n, c1, 0);
            run_fused(dt, 1, 1, 0, n, c2, 0);
        }
    }
}

/* ---- RMSNORM_MATMUL, RMSNORM_MATMUL_SWIGLU: the plan's fusions (scheduler/plan_fuse.c) ---- */

/* A fused op's parts (mot_plan_op_part) as a plan of their own on lane 0, run on the backend:
 * what the fused op must equal bit for bit. */
static void run_parts(const mot_plan_op *op, int n_parts, const be_bind *binds) {
    mot_plan p;
    mot_plan_op parts[3];
    mot_instr prog[3];
    memset(&p, 0, sizeof p);
    p.ops = parts, p.prog = prog, p.n_ops = p.n_instrs = n_parts;
    for (int k = 0; k < n_parts; k++) {
        parts[k] = mot_plan_op_part(op, k);
        prog[k] = (mot_instr){MOT_INSTR_RUN, 0, k};
    }
    be_run_plan(&p, binds);
}

/* One fused op (last: the LM head form, x's last row into one; swiglu: gate and up) against
 * the composed references, outputs and the norm's output with a spare row that must stay
 * untouched; on the CPU also against its parts (RMSNORM(_LAST), MATMUL, SWIGLU) run as the
 * executor runs an unfused plan (its run-time fusion, else op by op): bitwise. */
static void run_plan_fused(mot_dtype dt, int last, int swiglu, int n, int64_t cols, int nan_run) {
    const int n_w = swiglu ? 2 : last ? 1 : 3;
    const int64_t rows_of[3] = {swiglu ? 65 : 63, swiglu ? 65 : 17, 3};
    const int rows = last ? 1 : n;
    const size_t nx = (size_t)(n * cols), nn = (size_t)((rows + 1) * cols);
    const char *name = swiglu ? "rmsnorm_matmul_swiglu" : "rmsnorm_matmul";
    float *x = floats(nx, 1.0f), *nw = floats((size_t)cols, 1.0f), *bias = NULL;
    if (nan_run) poison(x + (last ? (size_t)(n - 1) * cols : 0), rows, (int)cols);
    float *sent_n = filled(nn, SENTINEL), *sent_y = filled((size_t)(rows + 1) * 65, SENTINEL);
    be_reset();
    mot_buf bx = put_floats(x, nx), bn = put_floats(sent_n, nn), out[3];
    mot_plan_op op = op_of(swiglu ? MOT_OP_RMSNORM_MATMUL_SWIGLU : MOT_OP_RMSNORM_MATMUL, 0);
    op.rmsnorm_matmul.norm = (mot_op_rmsnorm){.x = bx, .out = bn, .weight = nw, .d = (int)cols, .eps = 1e-5f};
    op.rmsnorm_matmul.matmul.x = bn, op.rmsnorm_matmul.matmul.single_row = last, op.n_w = n_w;
    be_bind b = bind_of(rows, n);
    weight w[3];
    const mot_weight *wp[3];
    const float *bp[3] = {NULL, NULL, NULL};
    float *ry[3], *got[3];
    for (int j = 0; j < n_w; j++) {
        const size_t ny = (size_t)((rows + 1) * rows_of[j]);
        w[j] = make_weight(dt, rows_of[j], cols, 1.0f);
        out[j] = put_floats(sent_y, ny);
        op.rmsnorm_matmul.matmul.y[j] = out[j];
        op.w[j] = b.w[j] = wp[j] = &w[j].w;
        ry[j] = filled(ny, SENTINEL), got[j] = malloc(sizeof(float) * ny);
    }
    if (!swiglu) {
        bias = floats((size_t)rows_of[n_w - 1], 1.0f);
        op.bias[n_w - 1] = b.bias[n_w - 1] = bp[n_w - 1] = bias;
    }
    mot_step_state s = step_of(0, 0, n, 0);
    be_set_step(&s);
    be_run(&op, &b);
    float *rn = filled(nn, SENTINEL), *gn = malloc(sizeof(float) * nn);
    mot_ref_norm_linear_swiglu(rn, ry, x + (last ? (size_t)(n - 1) * cols : 0), nw, 1e-5f, wp, bp, n_w, rows, swiglu);
    char what[96];
    snprintf(what, sizeof what, "n=%d cols=%lld%s", n, (long long)cols, last ? " last row" : "");
    const double bd = mot_dtype_is_quantized(dt) ? 1e-4 : 1e-5;
    for (int j = 0; j < n_w; j++) {
        be_get(got[j], out[j]);
        expect(name, mot_dtype_name(dt), what, nan_run, got[j], ry[j], (size_t)((rows + 1) * rows_of[j]), bd);
    }
    be_get(gn, bn);
    expect(name, mot_dtype_name(dt), "the norm's output", nan_run, gn, rn, nn, bound_for(1e-6, 1e-5));
    if (be_has_fusion) { /* the unfused ops on the same inputs: the same bits */
        be_bind binds[3] = {bind_of(n, n), b, bind_of(rows, n)};
        be_put(bn, sent_n);
        for (int j = 0; j < n_w; j++) be_put(out[j], sent_y);
        run_parts(&op, 2 + swiglu, binds);
        int differ = 0;
        float *again = malloc(sizeof(float) * (nn > (size_t)(rows + 1) * 65 ? nn : (size_t)(rows + 1) * 65));
        for (int j = 0; j < n_w; j++) {
            be_get(again, out[j]);
            differ |= memcmp(again, got[j], sizeof(float) * (size_t)((rows + 1) * rows_of[j])) != 0;
        }
        be_get(again, bn);
        differ |= memcmp(again, gn, sizeof(float) * nn) != 0;
        snprintf(what, sizeof what, "n=%d cols=%lld%s: bitwise the unfused ops", n, (long long)cols,
                 last ? " last row" : "");
        expect_int(name, mot_dtype_name(dt), what, differ, 0);
        free(again);
    }
    for (int j = 0; j < n_w; j++) free(ry[j]), free(got[j]), free(w[j].data);
    free(x), free(nw), free(bias), free(sent_n), free(sent_y), free(rn), free(gn);
}

/* NaN/inf first (plain dtypes), then odd widths and 1 (decode), 3 and 7 rows (the GEMV's
 * widest), and 8 (the CPU's GEMM: the parts one by one; CUDA: the parts too), every dtype. */
static void case_plan_fused(int swiglu) {
    for (size_t di = 0; di < N_DTYPES; di++) {
        const mot_dtype dt = all_dtypes[di];
        const int quant = mot_dtype_is_quantized(dt);
        if (!quant) {
            run_plan_fused(dt, 0, swiglu, 1, width_for(dt, 65), 1);
            run_plan_fused(dt, 0, swiglu, 3, width_for(dt, 17), 1);
        }
        static const int ns[] = {1, 3, 7, 8};
        static const int64_t cs[] = {1, 17, 65, 257};
        for (int i = 0; i < 4; i++) {
            for (int c = 0; c < 4; c++) {
                if (quant && c == 1) continue; /* the same block width as c == 0 */
                run_plan_fused(dt, 0, swiglu, ns[i], width_for(dt, cs[c]), 0);
            }
            if (!swiglu) {
                run_plan_fused(dt, 1, 0, ns[i], width_for(dt, 63), 0);
            }
        }
    }
}

/* RMSNORM_MATMUL_ROPE_APPEND: x [n, cols] -> norm -> q [n, nh*hd], k, v [n, nkv*hd] ->
 * RoPE at pos and the append into head-major caches (sentinels elsewhere); against the
 * composed references, and on the CPU bitwise against the parts (RMSNORM, MATMUL, ROPE_APPEND)
 * run as an unfused plan. */
static void run_plan_fused_rope(mot_dtype dt, int n, int nh, int nkv, int hd, int64_t cols, int pos, int nan_run) {
    const char *name = "rmsnorm_matmul_rope_append";
    const int64_t rows_of[3] = {(int64_t)nh * hd, (int64_t)nkv * hd, (int64_t)nkv * hd};
    const int ctx = pos + n + 2;
    const int64_t kv_stride = hd, head_stride = (int64_t)ctx * hd;
    const size_t cache = (size_t)(nkv * head_stride), nx = (size_t)(n * cols), nn = (size_t)((n + 1) * cols);
    const size_t ymax = (size_t)((n + 1) * rows_of[0]);
    float *x = floats(nx, 1.0f), *nw = floats((size_t)cols, 1.0f), *f = inv_freq(hd, 10000.0);
    if (nan_run) poison(x, n, (int)cols);
    float *sent_c = filled(cache, SENTINEL), *sent_n = filled(nn, SENTINEL), *sent_y = filled(ymax, SENTINEL);
    be_reset();
    mot_buf bx = put_floats(x, nx), bn = put_floats(sent_n, nn), bkc = put_floats(sent_c, cache);
    mot_buf bvc = put_floats(sent_c, cache), out[3];
    mot_plan_op op = op_of(MOT_OP_RMSNORM_MATMUL_ROPE_APPEND, 0);
    mot_op_rmsnorm_matmul *fm = &op.rmsnorm_matmul;
    fm->norm = (mot_op_rmsnorm){.x = bx, .out = bn, .weight = nw, .d = (int)cols, .eps = 1e-5f};
    fm->matmul.x = bn, op.n_w = 3;
    be_bind b = bind_of(n, n);
    weight w[3];
    const mot_weight *wp[3];
    float *ry[3], *got[3];
    for (int j = 0; j < 3; j++) {
        const size_t ny = (size_t)((n + 1) * rows_of[j]);
        w[j] = make_weight(dt, rows_of[j], cols, 1.0f);
        out[j] = put_floats(sent_y, ny);
        fm->matmul.y[j] = out[j];
        op.w[j] = b.w[j] = wp[j] = &w[j].w;
        ry[j] = filled(ny, SENTINEL), got[j] = malloc(sizeof(float) * ny);
    }
    fm->rope = (mot_op_rope_append){out[0], out[1], out[2], {bkc, bvc, nh, nkv, hd, (int)kv_stride, head_stride}, f};
    mot_step_state s = step_of(0, pos, n, 0);
    be_set_step(&s);
    be_run(&op, &b);
    float *rn = filled(nn, SENTINEL), *rk = filled(cache, SENTINEL), *rv = filled(cache, SENTINEL);
    float *gn = malloc(sizeof(float) * nn), *gk = malloc(sizeof(float) * cache), *gv = malloc(sizeof(float) * cache);
    mot_ref_norm_qkv_rope_append(rn, ry, x, nw, 1e-5f, wp, NULL, n, rk, rv, kv_stride, head_stride, nh, nkv, hd, pos,
                                 f);
    char what[128];
    snprintf(what, sizeof what, "n=%d cols=%lld heads=%d/%d hd=%d pos=%d", n, (long long)cols, nh, nkv, hd, pos);
    const double bd = mot_dtype_is_quantized(dt) ? 1e-4 : 1e-5;
    for (int j = 0; j < 3; j++) {
        be_get(got[j], out[j]);
        expect(name, mot_dtype_name(dt), what, nan_run, got[j], ry[j], (size_t)((n + 1) * rows_of[j]), bd);
    }
    be_get(gn, bn), expect(name, mot_dtype_name(dt), "the norm's output", nan_run, gn, rn, nn, bound_for(1e-6, 1e-5));
    be_get(gk, bkc), expect(name, mot_dtype_name(dt), "k cache", nan_run, gk, rk, cache, bd);
    be_get(gv, bvc), expect(name, mot_dtype_name(dt), "v cache", nan_run, gv, rv, cache, bd);
    if (be_has_fusion) { /* the unfused ops on the same inputs: the same bits */
        be_bind binds[3] = {bind_of(n, n), b, bind_of(n, n)};
        be_put(bn, sent_n), be_put(bkc, sent_c), be_put(bvc, sent_c);
        for (int j = 0; j < 3; j++) be_put(out[j], sent_y);
        run_parts(&op, 3, binds);
        float *again = malloc(sizeof(float) * (cache > ymax ? (cache > nn ? cache : nn) : (ymax > nn ? ymax : nn)));
        int differ = 0;
        for (int j = 0; j < 3; j++) {
            be_get(again, out[j]);
            differ |= memcmp(again, got[j], sizeof(float) * (size_t)((n + 1) * rows_of[j])) != 0;
        }
        be_get(again, bn), differ |= memcmp(again, gn, sizeof(float) * nn) != 0;
        be_get(again, bkc), differ |= memcmp(again, gk, sizeof(float) * cache) != 0;
        be_get(again, bvc), differ |= memcmp(again, gv, sizeof(float) * cache) != 0;
        snprintf(what, sizeof what, "n=%d cols=%lld hd=%d: bitwise the unfused ops", n, (long long)cols, hd);
        expect_int(name, mot_dtype_name(dt), what, differ, 0);
        free(again);
    }
    for (int j = 0; j < 3; j++) free(ry[j]), free(got[j]), free(w[j].data);
    free(x), free(nw), free(f), free(sent_c), free(sent_n), free(sent_y), free(rn), free(rk), free(rv), free(gn),
        free(gk), free(gv);
}

static void case_rmsnorm_matmul_rope_append(void) {
    for (size_t di = 0; di < N_DTYPES; di++) {
        const mot_dtype dt = all_dtypes[di];
        if (!mot_dtype_is_quantized(dt)) {
            run_plan_fused_rope(dt, 1, 4, 2, 8, width_for(dt, 65), 3, 1);
        }
        run_plan_fused_rope(dt, 1, 4, 2, 8, width_for(dt, 65), 0, 0);
        run_plan_fused_rope(dt, 1, 3, 1, 2, width_for(dt, 17), 5, 0);
        run_plan_fused_rope(dt, 3, 6, 2, 16, width_for(dt, 257), 7, 0);
        run_plan_fused_rope(dt, 7, 2, 2, 4, width_for(dt, 33), 1, 0);
        run_plan_fused_rope(dt, 8, 4, 2, 8, width_for(dt, 63), 2, 0);
    }
}

static void case_rmsnorm_matmul(void) { case_plan_fused(0); }
static void case_rmsnorm_matmul_swiglu(void) { case_plan_fused(1); }

/* ---- the training ops (SPEC 5; kernels/cpu/backward.h) -------------------------------------
 * Static shapes (no step state: it is set as for the other ops, lane alive, and ignored).
 * Every output buffer has one spare row of SENTINELs after the rows the op writes: it must
 * stay untouched. An overwritten output starts as NaN (every element must be written); an
 * accumulated one (+=) starts as random values, the reference adding onto the same. */

/* n values of v (NULL: NaN) then `spare` SENTINELs: an output buffer before the op. */
static float *prefilled(const float *v, size_t n, size_t spare) {
    float *x = filled(n + spare, SENTINEL);
    for (size_t i = 0; i < n; i++) x[i] = v ? v[i] : NAN;
    return x;
}

/* Output b holds n values and `spare` SENTINELs: the values against ref within bound (each
 * output normalized by its own size, not the sentinel's), the spare exactly. */
static void expect_out(const char *op, const char *dtype, const char *what, int nan_run, mot_buf b, const float *ref,
                       size_t n, size_t spare, double bound) {
    float *got = malloc(sizeof(float) * (n + spare));
    be_get(got, b);
    expect(op, dtype, what, nan_run, got, ref, n, bound);
    if (spare) {
        char w[192];
        snprintf(w, sizeof w, "%s: the spare row", what);
        expect(op, dtype, w, 0, got + n, ref + n, spare, 0.0);
    }
    free(got);
}

static void run_training_op(const mot_plan_op *op, const be_bind *b, int lane, int n) {
    mot_step_state s = step_of(lane, 0, n > 0 ? n : 1, 0);
    be_set_step(&s);
    be_run(op, b);
}

/* dx[n, cols] (+)= dy[n, rows] W, W [rows, cols] of dt: the reference reads the same stored
 * weights, so the bound is matmul's (f32 sums: 1e-5, quantized 1e-4). */
static void run_matmul_backward_x(mot_dtype dt, int n, int64_t rows, int64_t cols, int accumulate, int nan_run) {
    weight w = make_weight(dt, rows, cols, 1.0f);
    const size_t ny = (size_t)(n * rows), nx = (size_t)(n * cols);
    float *dy = floats(ny, 1.0f), *prior = floats(nx, 1.0f);
    if (nan_run) poison(dy, n, (int)rows);
    float *ref = prefilled(accumulate ? prior : NULL, nx, (size_t)cols);
    be_reset();
    mot_buf bdy = put_floats(dy, ny), bdx = put_floats(ref, nx + (size_t)cols);
    mot_plan_op op = op_of(MOT_OP_MATMUL_BACKWARD_X, 1);
    op.matmul_backward_x = (mot_op_matmul_backward_x){.dy = bdy, .dx = bdx, .n = n, .accumulate = accumulate};
    be_bind b = bind_of(n, n);
    b.w[0] = &w.w;
    run_training_op(&op, &b, 1, n);
    mot_ref_matmul_backward_x(ref, dy, &w.w, n, accumulate);
    char what[96];
    snprintf(what, sizeof what, "n=%d rows=%lld cols=%lld%s", n, (long long)rows, (long long)cols,
             accumulate ? " accumulate" : "");
    expect_out("matmul_backward_x", mot_dtype_name(dt), what, nan_run, bdx, ref, nx, (size_t)cols,
               matmul_bound(dt, n));
    free(dy), free(prior), free(ref), free(w.data);
}

static void case_matmul_backward_x(void) {
    for (size_t di = 0; di < N_DTYPES; di++) {
        const mot_dtype dt = all_dtypes[di];
        if (!mot_dtype_is_quantized(dt)) { /* NaN/inf in dy (plain dtypes: see case_matmul) */
            run_matmul_backward_x(dt, 3, 17, 19, 0, 1);
            run_matmul_backward_x(dt, 1, 5, 65, 0, 1);
        }
        static const int ns[] = {1, 3, 17};
        static const int64_t rs[] = {1, 37, 70}, cs[] = {19, 65, 257};
        for (int i = 0; i < 3; i++) {
            for (int c = 0; c < 3; c++) {
                const int64_t cols = width_for(dt, cs[c]);
                if (mot_dtype_is_quantized(dt) && c == 1 && cols == width_for(dt, cs[0])) continue;
                run_matmul_backward_x(dt, ns[i], rs[(i + c) % 3], cols, 0, 0);
                run_matmul_backward_x(dt, ns[i], rs[(i + c + 1) % 3], cols, 1, 0);
            }
        }
    }
}

/* dw[rows, cols] += dy^T x, db[rows] += colsum(dy) (absent: no bias), onto random priors. */
static void run_matmul_backward_w(int n, int rows, int cols, int with_db, int nan_run) {
    const size_t nw = (size_t)rows * cols;
    float *x = floats((size_t)n * cols, 1.0f), *dy = floats((size_t)n * rows, 1.0f);
    float *pw = floats(nw, 1.0f), *pb = floats((size_t)rows, 1.0f);
    if (nan_run) poison(x, n, cols);
    float *rw = prefilled(pw, nw, (size_t)cols), *rb = prefilled(pb, (size_t)rows, 1);
    be_reset();
    mot_buf bx = put_floats(x, (size_t)n * cols), bdy = put_floats(dy, (size_t)n * rows);
    mot_buf bdw = put_floats(rw, nw + (size_t)cols), bdb = with_db ? put_floats(rb, (size_t)rows + 1) : (mot_buf){0, 0};
    mot_plan_op op = op_of(MOT_OP_MATMUL_BACKWARD_W, 2);
    op.matmul_backward_w = (mot_op_matmul_backward_w){.dy = bdy, .x = bx, .dw = bdw, .db = bdb, .n = n, .rows = rows,
                                                      .cols = cols};
    be_bind b = bind_of(n, n);
    run_training_op(&op, &b, 2, n);
    mot_ref_matmul_backward_w(rw, with_db ? rb : NULL, dy, x, n, rows, cols);
    char what[96];
    snprintf(what, sizeof what, "n=%d rows=%d cols=%d dw", n, rows, cols);
    const char *dtype = with_db ? "f32 +db" : "f32";
    expect_out("matmul_backward_w", dtype, what, nan_run, bdw, rw, nw, (size_t)cols, 1e-5);
    if (with_db) {
        snprintf(what, sizeof what, "n=%d rows=%d cols=%d db", n, rows, cols);
        expect_out("matmul_backward_w", dtype, what, nan_run, bdb, rb, (size_t)rows, 1, 1e-5);
    }
    free(x), free(dy), free(pw), free(pb), free(rw), free(rb);
}

static void case_matmul_backward_w(void) {
    run_matmul_backward_w(3, 5, 17, 1, 1);
    run_matmul_backward_w(1, 7, 9, 0, 1);
    static const int ns[] = {1, 3, 17};
    static const int rs[] = {1, 5, 37}, cs[] = {7, 19, 65};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            run_matmul_backward_w(ns[i], rs[j], cs[(i + j) % 3], (i + j) % 2, 0);
            run_matmul_backward_w(ns[i], rs[(j + 1) % 3], cs[j], (i + j + 1) % 2, 0);
        }
    }
    run_matmul_backward_w(65, 70, 301, 1, 0);
}

/* RMSNorm's dx[n, d] (+)= (weight frozen). The CPU kernel's per-row sums are double, the
 * elementwise part f32: a few roundings, 1e-6 (CUDA 1e-5, as the forward). */
static void run_rmsnorm_backward(int n, int d, int accumulate, int nan_run) {
    const size_t cnt = (size_t)n * d;
    float *x = floats(cnt, 2.0f), *dy = floats(cnt, 1.0f), *w = floats((size_t)d, 1.5f), *prior = floats(cnt, 1.0f);
    if (nan_run) poison(x, n, d);
    float *ref = prefilled(accumulate ? prior : NULL, cnt, (size_t)d);
    be_reset();
    mot_buf bx = put_floats(x, cnt), bdy = put_floats(dy, cnt), bdx = put_floats(ref, cnt + (size_t)d);
    mot_plan_op op = op_of(MOT_OP_RMSNORM_BACKWARD, 0);
    op.rmsnorm_backward = (mot_op_rmsnorm_backward){.dy = bdy, .x = bx, .dx = bdx, .weight = w, .n = n, .d = d,
                                                    .accumulate = accumulate, .eps = 1e-5f};
    be_bind b = bind_of(n, n);
    run_training_op(&op, &b, 0, n);
    mot_ref_rmsnorm_backward(ref, dy, x, w, n, d, 1e-5f, accumulate);
    char what[64];
    snprintf(what, sizeof what, "n=%d d=%d%s", n, d, accumulate ? " accumulate" : "");
    expect_out("rmsnorm_backward", "f32", what, nan_run, bdx, ref, cnt, (size_t)d, bound_for(1e-6, 1e-5));
    free(x), free(dy), free(w), free(prior), free(ref);
}

static void case_rmsnorm_backward(void) {
    static const int ns[] = {1, 3, 17}, ds[] = {2, 17, 63, 67, 257};
    for (int i = 0; i < 3; i++) {
        run_rmsnorm_backward(ns[i], 17, 0, 1);
        run_rmsnorm_backward(ns[i], 67, 1, 1);
    }
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 5; j++) {
            run_rmsnorm_backward(ns[i], ds[j], 0, 0);
            run_rmsnorm_backward(ns[i], ds[j], 1, 0);
        }
    }
}

/* LayerNorm's dx[n, d] (overwritten), dw, db [d] (+= onto random priors; absent: not
 * wanted), weight NULL (1) or not; x with an offset (a large mean the centering removes).
 * Variant v: bit 0 weight, bit 1 dw, bit 2 db. Sums in double on the CPU: 1e-6 (CUDA 1e-5). */
static void run_layernorm_backward(int n, int d, int v, float offset, int nan_run) {
    const int with_w = v & 1, with_dw = v >> 1 & 1, with_db = v >> 2 & 1;
    const size_t cnt = (size_t)n * d;
    float *x = floats(cnt, 2.0f), *dy = floats(cnt, 1.0f), *w = floats((size_t)d, 1.5f);
    float *pw = floats((size_t)d, 1.0f), *pb = floats((size_t)d, 1.0f);
    for (size_t i = 0; i < cnt; i++) x[i] += offset;
    if (nan_run) poison(x, n, d);
    float *rx = prefilled(NULL, cnt, (size_t)d), *rw = prefilled(pw, (size_t)d, 1), *rb = prefilled(pb, (size_t)d, 1);
    be_reset();
    mot_buf bx = put_floats(x, cnt), bdy = put_floats(dy, cnt), bdx = put_floats(rx, cnt + (size_t)d);
    mot_buf bdw = with_dw ? put_floats(rw, (size_t)d + 1) : (mot_buf){0, 0};
    mot_buf bdb = with_db ? put_floats(rb, (size_t)d + 1) : (mot_buf){0, 0};
    mot_plan_op op = op_of(MOT_OP_LAYERNORM_BACKWARD, 1);
    op.layernorm_backward = (mot_op_layernorm_backward){.dy = bdy, .x = bx, .dx = bdx, .dw = bdw, .db = bdb,
                                                        .weight = with_w ? w : NULL, .n = n, .d = d, .eps = 1e-5f};
    be_bind b = bind_of(n, n);
    run_training_op(&op, &b, 1, n);
    mot_ref_layernorm_backward(rx, with_dw ? rw : NULL, with_db ? rb : NULL, dy, x, with_w ? w : NULL, n, d, 1e-5f);
    char dtype[12], what[80];
    snprintf(dtype, sizeof dtype, "%s %s %s", with_w ? "w" : "-", with_dw ? "dw" : "-", with_db ? "db" : "-");
    const double bd = bound_for(1e-6, 1e-5);
    snprintf(what, sizeof what, "n=%d d=%d offset=%g dx", n, d, offset);
    expect_out("layernorm_backward", dtype, what, nan_run, bdx, rx, cnt, (size_t)d, bd);
    if (with_dw) {
        snprintf(what, sizeof what, "n=%d d=%d offset=%g dw", n, d, offset);
        expect_out("layernorm_backward", dtype, what, nan_run, bdw, rw, (size_t)d, 1, bd);
    }
    if (with_db) {
        snprintf(what, sizeof what, "n=%d d=%d offset=%g db", n, d, offset);
        expect_out("layernorm_backward", dtype, what, nan_run, bdb, rb, (size_t)d, 1, bd);
    }
    free(x), free(dy), free(w), free(pw), free(pb), free(rx), free(rw), free(rb);
}

static void case_layernorm_backward(void) {
    static const int ns[] = {1, 3, 17}, ds[] = {2, 17, 63, 67, 257};
    static const int variants[] = {7, 1, 6, 0, 3, 4}; /* w dw db; w; dw db; none; w dw; db */
    for (int i = 0; i < 3; i++) {
        run_layernorm_backward(ns[i], 17, 7, 0.0f, 1);
        run_layernorm_backward(ns[i], 63, 6, 0.0f, 1);
    }
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 5; j++) {
            for (int v = 0; v < 6; v++) {
                run_layernorm_backward(ns[i], ds[j], variants[v], 0.0f, 0);
            }
        }
        run_layernorm_backward(ns[i], 67, 7, 30.0f, 0);
    }
}

/* dgate, dup [n, f] of silu(gate) * up, overwritten; gates up to +-20 and two far past
 * where exp(-g) overflows f32 (+-120: the gradient 0 or dout up, not NaN). Double per
 * element on the CPU: 1e-6 (CUDA 1e-5). */
static void run_swiglu_backward(int n, int f, int nan_run) {
    const size_t cnt = (size_t)n * f;
    float *gate = floats(cnt, 20.0f), *up = floats(cnt, 1.0f), *dout = floats(cnt, 1.0f);
    gate[0] = -120.0f;
    if (cnt > 2) gate[cnt - 1] = 120.0f;
    if (nan_run) poison(gate, n, f);
    float *rg = prefilled(NULL, cnt, (size_t)f), *ru = prefilled(NULL, cnt, (size_t)f);
    be_reset();
    mot_buf bg = put_floats(gate, cnt), bu = put_floats(up, cnt), bo = put_floats(dout, cnt);
    mot_buf bdg = put_floats(rg, cnt + (size_t)f), bdu = put_floats(ru, cnt + (size_t)f);
    mot_plan_op op = op_of(MOT_OP_SWIGLU_BACKWARD, 3);
    op.swiglu_backward = (mot_op_swiglu_backward){.dout = bo, .gate = bg, .up = bu, .dgate = bdg, .dup = bdu, .n = n,
                                                  .f = f};
    be_bind b = bind_of(n, n);
    run_training_op(&op, &b, 3, n);
    mot_ref_swiglu_backward(rg, ru, dout, gate, up, n, f);
    char what[64];
    const double bd = bound_for(1e-6, 1e-5);
    snprintf(what, sizeof what, "n=%d f=%d dgate", n, f);
    expect_out("swiglu_backward", "f32", what, nan_run, bdg, rg, cnt, (size_t)f, bd);
    snprintf(what, sizeof what, "n=%d f=%d dup", n, f);
    expect_out("swiglu_backward", "f32", what, nan_run, bdu, ru, cnt, (size_t)f, bd);
    free(gate), free(up), free(dout), free(rg), free(ru);
}

static void case_swiglu_backward(void) {
    static const int ns[] = {1, 3, 17}, fs[] = {1, 13, 63, 65, 1001};
    for (int i = 0; i < 3; i++) {
        run_swiglu_backward(ns[i], 13, 1);
        for (int j = 0; j < 5; j++) {
            run_swiglu_backward(ns[i], fs[j], 0);
        }
    }
}

/* dq [n, nh, hd], dk [n, nkv, hd] rotated back in place at positions pos0..; which: bit 0 dq
 * present, bit 1 dk (the other's buffer absent). f32 cos/sin on the CPU: 1e-6 (CUDA 1e-5),
 * the forward's bound. */
static void run_rope_backward(int n, int nh, int nkv, int hd, int pos0, int which, int nan_run) {
    const size_t nq = (size_t)n * nh * hd, nk = (size_t)n * nkv * hd;
    float *f = inv_freq(hd, 10000.0), *gq = floats(nq, 1.0f), *gk = floats(nk, 1.0f);
    if (nan_run) poison(gq, n * nh, hd);
    float *rq = prefilled(gq, nq, (size_t)nh * hd), *rk = prefilled(gk, nk, (size_t)nkv * hd);
    be_reset();
    mot_buf bq = which & 1 ? put_floats(rq, nq + (size_t)nh * hd) : (mot_buf){0, 0};
    mot_buf bk = which & 2 ? put_floats(rk, nk + (size_t)nkv * hd) : (mot_buf){0, 0};
    mot_plan_op op = op_of(MOT_OP_ROPE_BACKWARD, 2);
    op.rope_backward = (mot_op_rope_backward){.dq = bq, .dk = bk, .n = n, .n_heads = nh, .n_kv = nkv, .hd = hd,
                                              .pos0 = pos0, .inv_freq = f};
    be_bind b = bind_of(n, n);
    run_training_op(&op, &b, 2, n);
    mot_ref_rope_backward(which & 1 ? rq : NULL, which & 2 ? rk : NULL, n, nh, nkv, hd, pos0, f);
    char what[80];
    const char *dtype = which == 3 ? "dq dk" : which == 1 ? "dq" : "dk";
    const double bd = bound_for(1e-6, 1e-5);
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d pos0=%d", n, nh, nkv, hd, pos0);
    if (which & 1) expect_out("rope_backward", dtype, what, nan_run, bq, rq, nq, (size_t)nh * hd, bd);
    if (which & 2) expect_out("rope_backward", dtype, what, 0, bk, rk, nk, (size_t)nkv * hd, bd);
    free(f), free(gq), free(gk), free(rq), free(rk);
}

static void case_rope_backward(void) {
    run_rope_backward(3, 4, 2, 16, 5, 3, 1);
    run_rope_backward(1, 9, 3, 64, 40, 1, 1);
    static const struct {
        int n, nh, nkv, hd, pos0;
    } c[] = {{1, 1, 1, 2, 0}, {3, 3, 1, 18, 5}, {17, 9, 3, 64, 63}, {1, 15, 5, 128, 1000}, {3, 7, 7, 10, 257},
             {17, 6, 2, 300, 1}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        for (int which = 1; which <= 3; which++) {
            run_rope_backward(c[i].n, c[i].nh, c[i].nkv, c[i].hd, c[i].pos0, which, 0);
        }
    }
}

/* dq, dk, dv of causal GQA self-attention over n tokens (overwritten), the probabilities
 * recomputed from q and k: f32 dots and softmax against double, 1e-5 as the forward. */
static void run_attention_backward(int n, int nh, int nkv, int hd, int window, float qs, int nan_run) {
    const size_t nq = (size_t)n * nh * hd, nk = (size_t)n * nkv * hd;
    float *q = floats(nq, qs), *k = floats(nk, 1.0f), *v = floats(nk, 1.0f), *dout = floats(nq, 1.0f);
    if (nan_run) poison(q, n * nh, hd);
    float *rq = prefilled(NULL, nq, (size_t)nh * hd), *rk = prefilled(NULL, nk, (size_t)nkv * hd);
    float *rv = prefilled(NULL, nk, (size_t)nkv * hd);
    be_reset();
    mot_buf bq = put_floats(q, nq), bk = put_floats(k, nk), bv = put_floats(v, nk), bo = put_floats(dout, nq);
    mot_buf bdq = put_floats(rq, nq + (size_t)nh * hd), bdk = put_floats(rk, nk + (size_t)nkv * hd);
    mot_buf bdv = put_floats(rv, nk + (size_t)nkv * hd);
    mot_plan_op op = op_of(MOT_OP_ATTENTION_BACKWARD, 4);
    op.attention_backward = (mot_op_attention_backward){.dout = bo, .q = bq, .k = bk, .v = bv, .dq = bdq, .dk = bdk,
                                                        .dv = bdv, .n = n, .n_heads = nh, .n_kv = nkv, .hd = hd,
                                                        .window = window, .scale = 1.0f / sqrtf((float)hd)};
    be_bind b = bind_of(n, n);
    run_training_op(&op, &b, 4, n);
    mot_ref_attention_backward(rq, rk, rv, dout, q, k, v, n, nh, nkv, hd, window, op.attention_backward.scale);
    char what[96];
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d window=%d dq", n, nh, nkv, hd, window);
    expect_out("attention_backward", "f32", what, nan_run, bdq, rq, nq, (size_t)nh * hd, 1e-5);
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d window=%d dk", n, nh, nkv, hd, window);
    expect_out("attention_backward", "f32", what, nan_run, bdk, rk, nk, (size_t)nkv * hd, 1e-5);
    snprintf(what, sizeof what, "n=%d heads=%d/%d hd=%d window=%d dv", n, nh, nkv, hd, window);
    expect_out("attention_backward", "f32", what, nan_run, bdv, rv, nk, (size_t)nkv * hd, 1e-5);
    free(q), free(k), free(v), free(dout), free(rq), free(rk), free(rv);
}

static void case_attention_backward(void) {
    run_attention_backward(3, 4, 2, 16, 0, 1.0f, 1);
    run_attention_backward(17, 6, 2, 12, 5, 1.0f, 1);
    static const int ns[] = {1, 3, 17}, windows[] = {0, 1, 5};
    static const int heads[][3] = {{2, 2, 12}, {6, 2, 7}, {3, 1, 16}, {9, 3, 5}}; /* n_heads, n_kv, hd */
    for (int i = 0; i < 3; i++) {
        for (int w = 0; w < 3; w++) {
            for (int h = 0; h < 4; h++) {
                run_attention_backward(ns[i], heads[h][0], heads[h][1], heads[h][2], windows[w], 2.0f, 0);
            }
        }
    }
    run_attention_backward(65, 9, 3, 64, 0, 3.0f, 0);
    run_attention_backward(40, 9, 3, 20, 7, 1.0f, 0);
}

/* The prefill cross-attention's dq [n_q, d_s] and each segment's dk, dv (overwritten):
 * segment m has rows[m] rows of which prompt[m] are its prompt (SPEC 1.4's N_m; rows past
 * it, or a prompt past the rows, are never attended: zero gradient), queries that see no key
 * have none. f32 against double: 1e-5 as the forward. */
static void run_cross_attention_backward(int n_q, int heads, int dh, int n_seg, const int *prompt, const int *rows,
                                         float qs, int nan_run) {
    const int d_s = heads * dh;
    const size_t nq = (size_t)n_q * d_s;
    float *q = floats(nq, qs), *dout = floats(nq, 1.0f), *k[MOT_MAX_LANES], *v[MOT_MAX_LANES];
    float *rk[MOT_MAX_LANES], *rv[MOT_MAX_LANES];
    if (nan_run) q[0] = NAN;
    float *rq = prefilled(NULL, nq, (size_t)d_s);
    mot_kv_segment seg[MOT_MAX_LANES];
    mot_kv_segment_grad dseg[MOT_MAX_LANES];
    be_reset();
    mot_plan_op op = op_of(MOT_OP_CROSS_ATTENTION_BACKWARD, 0);
    mot_op_cross_attention_backward *x = &op.cross_attention_backward;
    x->dout = put_floats(dout, nq), x->q = put_floats(q, nq), x->dq = put_floats(rq, nq + (size_t)d_s);
    x->n_q = n_q, x->d = d_s, x->heads = heads, x->n_seg = n_seg;
    char what[128];
    int len = snprintf(what, sizeof what, "n_q=%d heads=%d dh=%d prompt/rows", n_q, heads, dh);
    for (int m = 0; m < n_seg; m++) {
        const size_t nk = (size_t)rows[m] * d_s;
        k[m] = floats(nk, 1.0f), v[m] = floats(nk, 1.0f);
        rk[m] = prefilled(NULL, nk, (size_t)d_s), rv[m] = prefilled(NULL, nk, (size_t)d_s);
        x->seg_rows[m] = rows[m], x->seg_prompt[m] = prompt[m];
        x->seg_k[m] = put_floats(k[m], nk), x->seg_v[m] = put_floats(v[m], nk);
        x->seg_dk[m] = put_floats(rk[m], nk + (size_t)d_s), x->seg_dv[m] = put_floats(rv[m], nk + (size_t)d_s);
        seg[m] = (mot_kv_segment){k[m], v[m], rows[m], prompt[m]};
        dseg[m] = (mot_kv_segment_grad){rk[m], rv[m]};
        len += snprintf(what + len, sizeof what - (size_t)len, " %d/%d", prompt[m], rows[m]);
    }
    be_bind b = bind_of(n_q, n_q);
    run_training_op(&op, &b, 0, n_q);
    mot_ref_cross_attention_backward(rq, dseg, dout, q, n_q, heads, d_s, seg, n_seg);
    char w[160];
    snprintf(w, sizeof w, "%s dq", what);
    expect_out("cross_attention_backward", "f32", w, nan_run, x->dq, rq, nq, (size_t)d_s, 1e-5);
    for (int m = 0; m < n_seg; m++) {
        const size_t nk = (size_t)rows[m] * d_s;
        snprintf(w, sizeof w, "%s segment %d dk", what, m);
        expect_out("cross_attention_backward", "f32", w, nan_run, x->seg_dk[m], rk[m], nk, (size_t)d_s, 1e-5);
        snprintf(w, sizeof w, "%s segment %d dv", what, m);
        expect_out("cross_attention_backward", "f32", w, nan_run, x->seg_dv[m], rv[m], nk, (size_t)d_s, 1e-5);
        free(k[m]), free(v[m]), free(rk[m]), free(rv[m]);
    }
    free(q), free(dout), free(rq);
}

static void case_cross_attention_backward(void) {
    {
        const int p[2] = {9, 4}, r[2] = {9, 4};
        run_cross_attention_backward(5, 2, 6, 2, p, r, 2.0f, 1);
    }
    /* prompts shorter and longer than the queries; a decode row past a prompt (never
     * visible), a prompt past the rows present (capped), a segment early queries cannot see */
    static const int p1[] = {3}, r1[] = {3};
    static const int p2[] = {9, 4}, r2[] = {10, 4};
    static const int p3[] = {2, 13, 7}, r3[] = {2, 14, 7};
    static const int p4[] = {17, 1, 40}, r4[] = {12, 2, 40};
    static const int nqs[] = {1, 5, 7, 17};
    for (int i = 0; i < 4; i++) {
        run_cross_attention_backward(nqs[i], 1, 5, 1, p1, r1, 2.0f, 0);
        run_cross_attention_backward(nqs[i], 2, 6, 2, p2, r2, 2.0f, 0);
        run_cross_attention_backward(nqs[i], 3, 8, 3, p3, r3, 2.0f, 0);
        run_cross_attention_backward(nqs[i], 4, 7, 3, p4, r4, 1.0f, 0);
    }
    static const int p5[] = {40, 17}, r5[] = {40, 17};
    run_cross_attention_backward(23, 4, 16, 2, p5, r5, 3.0f, 0);
    /* no speaker routed (a stack whose routed experts only listen): dq = 0, nothing else */
    run_cross_attention_backward(5, 2, 6, 0, NULL, NULL, 2.0f, 0);
}

/* ---- COPY and DROPOUT (the training tape; kernels/cpu/copy.c, dropout.c) ------------------- */

/* Bytes of a and b that differ. */
static long long bytes_differing(const unsigned char *a, const unsigned char *b, size_t n) {
    long long d = 0;
    for (size_t i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

/* dst = src over `bytes` random bytes (any count, not only whole floats): the destination's
 * region has 61 spare bytes after the op's buffer, all prefilled with 0xA5, that must stay
 * untouched; the copied bytes against mot_ref_copy's, exactly; the source unchanged. */
static void run_copy(size_t bytes) {
    enum { SPARE = 61 };
    unsigned char *src = malloc(bytes), *ref = malloc(bytes + SPARE), *got = malloc(bytes + SPARE),
                  *src_after = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) {
        rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
        src[i] = (unsigned char)(rng_state >> 56);
    }
    memset(ref, 0xA5, bytes + SPARE);
    be_reset();
    mot_buf bs = be_buf(bytes), bd = be_buf(bytes + SPARE);
    be_put(bs, src), be_put(bd, ref);
    mot_plan_op op = op_of(MOT_OP_COPY, 2);
    op.copy = (mot_op_copy){.src = bs, .dst = {bd.off, bytes}};
    be_bind b = bind_of(1, 1);
    run_training_op(&op, &b, 2, 1);
    mot_ref_copy(ref, src, bytes);
    be_get(got, bd), be_get(src_after, bs);
    char what[64];
    snprintf(what, sizeof what, "%zu bytes: bytes differing", bytes);
    expect_int("copy", "bytes", what, bytes_differing(got, ref, bytes), 0);
    snprintf(what, sizeof what, "%zu bytes: spare bytes written", bytes);
    expect_int("copy", "bytes", what, bytes_differing(got + bytes, ref + bytes, SPARE), 0);
    snprintf(what, sizeof what, "%zu bytes: source bytes changed", bytes);
    expect_int("copy", "bytes", what, bytes_differing(src_after, src, bytes), 0);
    free(src), free(ref), free(got), free(src_after);
}

static void case_copy(void) {
    /* odd counts, whole floats or not; the last two past the CPU's team split (4 chunks of
     * 64 KiB), with a partial last chunk */
    static const size_t sizes[] = {1, 3, 4, 12, 13, 4 * 17 * 63, 4 * 70001 + 3, (size_t)5 << 16};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) run_copy(sizes[i]);
}

/* y[count] += x against mot_ref_add (one f32 add: exact); `spare` SENTINELs after y stay. */
static void run_add(int64_t count, int nan_run) {
    const size_t n = (size_t)count, spare = 5;
    float *x = floats(n, 3.0f), *y0 = floats(n, 1.0f);
    if (nan_run) poison(x, 1, (int)count);
    float *ref = prefilled(y0, n, spare);
    mot_ref_add(ref, x, count);
    be_reset();
    const mot_buf bx = put_floats(x, n);
    float *pre = prefilled(y0, n, spare);
    const mot_buf whole = put_floats(pre, n + spare);
    mot_plan_op op = op_of(MOT_OP_ADD, 0);
    op.add = (mot_op_add){bx, (mot_buf){whole.off, sizeof(float) * n}, count};
    be_bind b = bind_of(1, 1);
    run_training_op(&op, &b, 0, 1);
    char what[64];
    snprintf(what, sizeof what, "count=%lld", (long long)count);
    expect_out("add", "f32", what, nan_run, whole, ref, n, spare, 0.0);
    free(x), free(y0), free(ref), free(pre);
}

static void case_add(void) {
    static const int64_t counts[] = {1, 3, 17, 1000, 65537};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        run_add(counts[i], 0);
        run_add(counts[i], 1);
    }
}

/* The mask train/mot_pass.c's dropout draws (its uniform01, sequentially from x = seed):
 * keep[i] = (splitmix64's (i+1)-th draw >> 11) 2^-53 >= p. */
static void sequential_keep(unsigned char *keep, int64_t count, float p, uint64_t seed) {
    uint64_t x = seed;
    for (int64_t i = 0; i < count; i++) keep[i] = (double)(mot_splitmix64(&x) >> 11) * 0x1.0p-53 >= p;
}

/* Positions i < count where (a[i] == 0) differs from keep[i] == 0 (a from nonzero inputs). */
static long long mask_differing(const float *a, const unsigned char *keep, int64_t count) {
    long long d = 0;
    for (int64_t i = 0; i < count; i++) d += (a[i] != 0.0f) != (keep[i] != 0);
    return d;
}

/* out[count] (in place: out is x's buffer) = dropout(x, p, seed) against mot_ref_dropout,
 * exactly (the mask is bit-exact, a kept element one f32 multiply); `count` spare SENTINELs
 * stay. x has no zeros, so out's zeros are the mask. Also: the mask is the sequential draws of
 * train/mot_pass.c (and mot_cpu_dropout's, called directly, the same); on 65537 elements the
 * kept fraction is within 0.01 of 1 - p (a broken generator that a broken reference matches
 * still fails); the same op with the same seed on another input (the backward, on the
 * gradient) zeroes the same places; another seed gives another mask. */
static void run_dropout(int64_t count, float p, uint64_t seed, int in_place, int nan_run) {
    const size_t n = (size_t)count, spare = 7;
    float *x = floats(n, 2.0f), *g = floats(n, 1.0f);
    for (size_t i = 0; i < n; i++) {
        if (x[i] == 0.0f) x[i] = 0.5f;
        if (g[i] == 0.0f) g[i] = 0.5f;
    }
    if (nan_run) poison(x, 1, count);
    float *ref = prefilled(x, n, spare), *got = malloc(sizeof(float) * (n + spare));
    mot_ref_dropout(ref, ref, count, p, seed); /* the reference in place: its spare stays */
    be_reset();
    mot_buf bx, bo; /* out: n floats of a region of n + spare, the spare SENTINELs */
    float *pre = prefilled(in_place ? x : NULL, n, spare);
    if (in_place) {
        bx = bo = put_floats(pre, n + spare);
    } else {
        bx = put_floats(x, n);
        bo = put_floats(pre, n + spare);
    }
    bo.bytes = sizeof(float) * n;
    if (in_place) bx = bo;
    free(pre);
    mot_plan_op op = op_of(MOT_OP_DROPOUT, 1);
    op.dropout = (mot_op_dropout){.x = bx, .out = bo, .count = count, .p = p, .seed = seed};
    be_bind b = bind_of(1, 1);
    run_training_op(&op, &b, 1, 1);
    char what[96], w2[160];
    snprintf(what, sizeof what, "count=%lld p=%g seed=%#llx %s", (long long)count, p, (unsigned long long)seed,
             in_place ? "in place" : "out of place");
    mot_buf whole = {bo.off, sizeof(float) * (n + spare)};
    be_get(got, whole);
    expect("dropout", "f32", what, nan_run, got, ref, n, 0.0);
    snprintf(w2, sizeof w2, "%s: the spare", what);
    expect("dropout", "f32", w2, 0, got + n, ref + n, spare, 0.0);
    if (!in_place) {
        float *x_after = malloc(sizeof(float) * n);
        be_get(x_after, bx);
        snprintf(w2, sizeof w2, "%s: x changed", what);
        expect("dropout", "f32", w2, nan_run, x_after, x, n, 0.0);
        free(x_after);
    }
    if (nan_run) {
        free(x), free(g), free(ref), free(got);
        return;
    }
    unsigned char *keep = malloc(n);
    sequential_keep(keep, count, p, seed);
    snprintf(w2, sizeof w2, "%s: mask vs train/mot_pass.c's sequential draws, places differing", what);
    expect_int("dropout", "mask", w2, mask_differing(got, keep, count), 0);
    float *cpu = malloc(sizeof(float) * n);
    mot_cpu_dropout(cpu, x, count, p, seed);
    snprintf(w2, sizeof w2, "%s: mot_cpu_dropout's mask vs mot_pass.c's, places differing", what);
    expect_int("dropout", "mask", w2, mask_differing(cpu, keep, count), 0);
    if (count == 65537) {
        long long kept = 0;
        for (size_t i = 0; i < n; i++) kept += got[i] != 0.0f;
        const double frac = (double)kept / (double)count;
        snprintf(w2, sizeof w2, "%s: kept fraction %.5f vs 1 - p = %.5f (within 0.01)", what, frac, 1.0 - p);
        expect_int("dropout", "mask", w2, fabs(frac - (1.0 - p)) <= 0.01 && (p > 0 || kept == count), 1);
        /* the backward: the same op, the same seed, on g (in place) */
        mot_buf bg = put_floats(g, n);
        mot_plan_op op2 = op;
        op2.dropout.x = op2.dropout.out = bg;
        run_training_op(&op2, &b, 1, 1);
        float *gg = malloc(sizeof(float) * n);
        be_get(gg, bg);
        snprintf(w2, sizeof w2, "%s: twice with the same seed, zeros in other places", what);
        long long d = 0;
        for (size_t i = 0; i < n; i++) d += (gg[i] == 0.0f) != (got[i] == 0.0f);
        expect_int("dropout", "mask", w2, d, 0);
        if (p > 0) { /* another seed: another mask */
            be_put(bg, g);
            op2.dropout.seed = seed ^ 1;
            run_training_op(&op2, &b, 1, 1);
            be_get(gg, bg);
            d = 0;
            for (size_t i = 0; i < n; i++) d += (gg[i] == 0.0f) != (got[i] == 0.0f);
            snprintf(w2, sizeof w2, "%s: seed ^ 1 gives the same mask", what);
            expect_int("dropout", "mask", w2, d > 0, 1);
        }
        free(gg);
    }
    free(x), free(g), free(ref), free(got), free(keep), free(cpu);
}

static void case_dropout(void) {
    static const int64_t counts[] = {1, 17, 1000, 65537};
    static const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
    static const uint64_t seeds[] = {0x2545f4914f6cdd1dULL, 0, ~0ULL, 0x9e3779b97f4a7c15ULL};
    for (int c = 0; c < 4; c++) {
        run_dropout(counts[c], 0.5f, seeds[c], c & 1, 1);
        for (int k = 0; k < 4; k++) {
            for (int in_place = 0; in_place < 2; in_place++) {
                run_dropout(counts[c], ps[k], seeds[(c + k) % 4], in_place, 0);
            }
        }
    }
}

/* The loss (one double) against the reference's: both non-finite of the same class, or a
 * relative error within bound (recorded in the table as its own row). */
static void expect_loss(const char *dtype, const char *what, int nan_run, double got, double want, double bound) {
    row *r = row_of("cross_entropy", dtype);
    n_checks++;
    r->checks++;
    r->nan_checks += nan_run;
    r->bound = fmax(r->bound, bound);
    double e;
    if (!isfinite(got) || !isfinite(want)) {
        e = (isnan(got) && isnan(want)) || got == want ? 0.0 : INFINITY;
    } else {
        e = fabs(got - want) / fmax(fabs(want), 1e-300);
    }
    r->max_err = fmax(r->max_err, e);
    if (!(e <= bound)) {
        n_failed++;
        r->failed++;
        printf("FAIL cross_entropy %s %s%s: loss %.17g, reference %.17g\n", dtype, what, nan_run ? " [nan/inf]" : "",
               got, want);
    }
}

/* logits [n, vocab] with targets (every fourth row from the third on: -1, adds nothing):
 * the loss and, with_d, dlogits = scale (softmax - onehot), 0 on the rows without a target.
 * dlogits f32 from double exps on the CPU: 1e-6 (CUDA 1e-5); the loss is double on both
 * backends (a sum of n row losses of ~log vocab, each to ~1e-16): 1e-9 relative, far below
 * what a wrong row or target moves it (O(1 / n) of the sum). */
static void run_cross_entropy(int n, int vocab, float scale, float logit_scale, int with_d, int nan_run) {
    const size_t cnt = (size_t)n * vocab;
    float *logits = floats(cnt, logit_scale);
    int32_t *targets = malloc(sizeof(int32_t) * (size_t)n);
    for (int t = 0; t < n; t++) {
        rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
        targets[t] = t % 4 == 2 ? -1 : (int32_t)((rng_state >> 33) % (uint64_t)vocab);
    }
    if (nan_run) poison(logits, n, vocab);
    float *rd = prefilled(NULL, cnt, (size_t)vocab);
    const double sentinel_loss = -12345.0;
    be_reset();
    mot_buf bl = put_floats(logits, cnt), bt = be_buf(sizeof(int32_t) * (size_t)n), bloss = be_buf(sizeof(double));
    be_put(bt, targets), be_put(bloss, &sentinel_loss);
    mot_buf bd = with_d ? put_floats(rd, cnt + (size_t)vocab) : (mot_buf){0, 0};
    mot_plan_op op = op_of(MOT_OP_CROSS_ENTROPY, 1);
    op.cross_entropy = (mot_op_cross_entropy){.logits = bl, .targets = bt, .dlogits = bd, .loss = bloss, .n = n,
                                              .vocab = vocab, .scale = scale};
    be_bind b = bind_of(n, n);
    run_training_op(&op, &b, 1, n);
    const double want = mot_ref_cross_entropy(with_d ? rd : NULL, logits, targets, n, vocab, scale);
    double got;
    be_get(&got, bloss);
    char what[80];
    snprintf(what, sizeof what, "n=%d vocab=%d scale=%g logits*%g", n, vocab, scale, logit_scale);
    expect_loss(with_d ? "loss" : "loss only", what, nan_run, got, want, 1e-9);
    if (with_d) {
        expect_out("cross_entropy", "dlogits", what, nan_run, bd, rd, cnt, (size_t)vocab, bound_for(1e-6, 1e-5));
    }
    free(logits), free(targets), free(rd);
}

static void case_cross_entropy(void) {
    static const int ns[] = {1, 3, 17}, vocabs[] = {7, 37, 1000, 5000};
    for (int i = 0; i < 3; i++) {
        run_cross_entropy(ns[i], 37, 1.0f, 3.0f, 1, 1);
        run_cross_entropy(ns[i], 37, 1.0f, 3.0f, 0, 1);
        for (int v = 0; v < 4; v++) {
            const float scale = v == 1 ? 0.25f : v == 3 ? 1.0f / 6 : 1.0f;
            run_cross_entropy(ns[i], vocabs[v], scale, 3.0f + 5.0f * (float)v, 1, 0);
            run_cross_entropy(ns[i], vocabs[v], scale, 3.0f + 5.0f * (float)v, 0, 0);
        }
    }
}

/* ---- the case table ----------------------------------------------------------------------- */

/* case_<name> for every row of the op table (ops/op_table.h), generated from it: a kind
 * without its case does not compile. The row's reference and CPU kernel are named here too,
 * so a row naming a function that does not exist does not compile either. */
static const struct {
    mot_op_kind kind;
    void (*run)(void);
    void (*reference)(void), (*cpu_kernel)(void); /* for the compiler only */
} cases[] = {
#define CASE_(KIND, name, reads, ref, cpu, cuda, doc) \
    {MOT_OP_##KIND, case_##name, (void (*)(void))ref, (void (*)(void))cpu},
    MOT_OP_TABLE(CASE_)
#undef CASE_
};

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL; /* one op by name (debugging) */
    is_cuda = !strcmp(be_name, "cuda");
    int rc = be_init((size_t)64 << 20);
    if (rc) {
        return rc;
    }
    for (int k = 0; k < MOT_OP_KIND_COUNT; k++) {
        int found = 0;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            if ((int)cases[c].kind == k) {
                found = 1;
                cur_kind = (mot_op_kind)k;
                if (!only || !strcmp(only, mot_op_kind_name(cur_kind))) {
                    cases[c].run();
                }
            }
        }
        if (!found) {
            printf("FAIL op kind %s has no case in tests/ops/test_backend_ops.c\n", mot_op_kind_name((mot_op_kind)k));
            n_failed++;
        }
    }
    if (be_has_fusion && (!only || !strcmp(only, "fused"))) {
        case_fused();
    }
    be_free();
    printf("\nbackend %s: op x dtype, max normalized error (bound), checks (of them NaN/inf)\n", be_name);
    printf("%-28s %-10s %-10s %-8s %s\n", "op", "dtype", "max err", "bound", "checks");
    for (int i = 0; i < n_rows; i++) {
        printf("%-28s %-10s %-10.3g %-8.1g %d (%d)%s\n", table[i].op, table[i].dtype, table[i].max_err, table[i].bound,
               table[i].checks, table[i].nan_checks, table[i].failed ? "  FAILED" : "");
    }
    printf("%d of %d checks passed on %s\n", n_checks - n_failed, n_checks, be_name);
    return n_failed ? 1 : 0;
}
