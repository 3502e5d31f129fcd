/* Every CPU kernel against its plain reference in ops/, on small cases described by one
 * struct each (ggml test-backend-ops style): odd sizes, all weight dtypes, unaligned data,
 * GQA ratios and windows; each run with 1 and 2 OpenMP threads.
 *
 * Bounds (normalized error, see op_check.h):
 *   matmul 1e-5: f32 sums of up to ~1000 terms of size <= 1; the rounding error grows like
 *     sqrt(cols) * 6e-8 (worst case cols * 6e-8 = 6e-5 is never approached with random data).
 *   attention 1e-5: f32 scores (hd <= 128 terms) feed exp, so ~1e-6 relative per weight.
 *   rmsnorm, rope, swiglu 1e-6: a handful of f32 roundings per element.
 *   embed 0: a dtype conversion is exact; the KV append and the arg-max are exact too. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/sampler.h"
#include "kernels/cpu/simd_math.h"
#include "ops/ops.h"
#include "tests/ops/op_check.h"

static int n_failed, n_run;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static float *random_floats(size_t n, float scale) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    op_fill_random(x, n, &rng);
    for (size_t i = 0; i < n; i++) {
        x[i] *= scale;
    }
    return x;
}

static void check(int ok) {
    n_run++;
    n_failed += !ok;
}

/* ---- matmul ----------------------------------------------------------------------------- */

typedef struct {
    int64_t rows, cols;
    int n;
    mot_dtype dt;
    int offset; /* bytes past a 64-byte boundary: 0 or 2 */
} matmul_case;

typedef void (*matmul_fn)(float *, const float *, const mot_weight *, int);

static int blas_as_fn_ok; /* set when the BLAS variant computed anything */
static void blas_variant(float *y, const float *x, const mot_weight *w, int n) {
    if (mot_cpu_matmul_blas(y, x, w, n)) {
        blas_as_fn_ok = 1;
    } else {
        mot_ref_matmul(y, x, w, n); /* no BLAS in this build: nothing to test */
    }
}

static const struct {
    const char *name;
    matmul_fn fn;
} matmul_variants[] = {
    {"matmul", mot_cpu_matmul},      {"gemv", mot_cpu_matmul_gemv}, {"gemm", mot_cpu_matmul_gemm},
    {"naive", mot_cpu_matmul_naive}, {"blas", blas_variant},
};

static void test_matmul(const matmul_case *c, int threads) {
    float *wv = random_floats((size_t)(c->rows * c->cols), 1.0f);
    void *base;
    mot_weight w = {c->dt, op_make_buffer(c->dt, wv, (size_t)(c->rows * c->cols), c->offset, &base),
                    c->rows, c->cols};
    /* x one float past an aligned start: unaligned for the vector loads */
    float *xbuf = random_floats((size_t)c->n * c->cols + 1, 1.0f);
    float *x = xbuf + 1;
    size_t ny = (size_t)c->n * c->rows;
    float *ref = malloc(sizeof(float) * ny), *out = malloc(sizeof(float) * (ny + 1));
    mot_ref_matmul(ref, x, &w, c->n);
    for (size_t v = 0; v < sizeof matmul_variants / sizeof matmul_variants[0]; v++) {
        for (size_t i = 0; i < ny + 1; i++) {
            out[i] = NAN; /* a kernel that skips an output is caught */
        }
        matmul_variants[v].fn(out + 1, x, &w, c->n);
        char what[160];
        snprintf(what, sizeof what, "%s rows=%lld cols=%lld n=%d %s offset=%d threads=%d",
                 matmul_variants[v].name, (long long)c->rows, (long long)c->cols, c->n,
                 mot_dtype_name(c->dt), c->offset, threads);
        check(op_compare(what, out + 1, ref, ny, 1.0, 1e-5));
    }
    free(ref), free(out), free(xbuf), free(wv);
    op_free_buffer(base);
}

static void run_matmul_cases(int threads) {
    /* the sweep: every size that has a tail in the 4-row GEMV block, the 16-row GEMM panel,
     * the 6-token GEMM tile and the 8/16-wide column loops */
    static const int64_t rows[] = {1, 5, 17, 35};
    static const int64_t cols[] = {1, 7, 9, 33, 100, 257};
    static const int ns[] = {1, 2, 3, 7, 64, 130};
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_F16, MOT_DTYPE_BF16};
    int k = 0;
    for (size_t r = 0; r < 4; r++) {
        for (size_t c = 0; c < 6; c++) {
            for (size_t n = 0; n < 6; n++) {
                matmul_case mc = {rows[r], cols[c], ns[n], dts[k % 3], (k / 3) % 2 ? 2 : 0};
                test_matmul(&mc, threads);
                k++;
            }
        }
    }
    /* larger ones: several k blocks (KC = 256), several panels per thread */
    static const matmul_case big[] = {
        {96, 600, 13, MOT_DTYPE_BF16, 2},
        {200, 520, 130, MOT_DTYPE_F16, 2},
        {64, 1024, 1, MOT_DTYPE_F32, 0},
        {517, 300, 6, MOT_DTYPE_F32, 2},
        {130, 777, 64, MOT_DTYPE_BF16, 0},
        {1000, 64, 1, MOT_DTYPE_BF16, 2},
        {50, 300, 600, MOT_DTYPE_F16, 2}, /* more tokens than one GEMM chunk (512) */
        /* decode shapes big enough for the GEMV to split rows between threads */
        {301, 260, 1, MOT_DTYPE_BF16, 2},
        {257, 513, 1, MOT_DTYPE_F16, 2},
        {262, 300, 1, MOT_DTYPE_F32, 0},
        /* many GEMV chunks (48 KiB of rows at least): a run of shrinking ones and a last
         * partial one */
        {3001, 33, 1, MOT_DTYPE_F32, 2},
        {5000, 40, 3, MOT_DTYPE_BF16, 0},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        test_matmul(&big[i], threads);
    }
    /* the GEMM under other blockings (schedule keys gemm_kc, gemm_mc): k blocks with tails,
     * one 4-token chunk, chunks that split a prompt unevenly */
    static const int blockings[][2] = {{8, 4}, {100, 12}, {48, 64}, {1024, 2048}};
    static const matmul_case blocked[] = {
        {35, 257, 130, MOT_DTYPE_F32, 2}, {96, 600, 13, MOT_DTYPE_BF16, 0}, {50, 300, 70, MOT_DTYPE_F16, 2}};
    for (size_t b = 0; b < sizeof blockings / sizeof blockings[0]; b++) {
        mot_cpu_set_gemm_blocking(blockings[b][0], blockings[b][1]);
        for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
            test_matmul(&blocked[i], threads);
        }
    }
    mot_cpu_set_gemm_blocking(MOT_GEMM_KC_DEFAULT, MOT_GEMM_MC_DEFAULT);
}

/* ---- embed ------------------------------------------------------------------------------ */

static void run_embed_cases(int threads) {
    static const struct {
        int64_t rows, d;
        mot_dtype dt;
        int offset;
    } cases[] = {{3, 1, MOT_DTYPE_F32, 0},
                 {5, 7, MOT_DTYPE_BF16, 2},
                 {4, 33, MOT_DTYPE_F16, 2},
                 {9, 257, MOT_DTYPE_BF16, 0},
                 {2, 64, MOT_DTYPE_F32, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t count = (size_t)(cases[i].rows * cases[i].d);
        float *tv = random_floats(count, 3.0f);
        void *base;
        mot_weight t = {cases[i].dt, op_make_buffer(cases[i].dt, tv, count, cases[i].offset, &base),
                        cases[i].rows, cases[i].d};
        float *out = malloc(sizeof(float) * (size_t)cases[i].d);
        float *ref = malloc(sizeof(float) * (size_t)cases[i].d);
        for (int64_t row = 0; row < cases[i].rows; row++) {
            mot_cpu_embed_row(out, &t, row);
            mot_ref_embed_row(ref, &t, row);
            char what[120];
            snprintf(what, sizeof what, "embed rows=%lld d=%lld %s row=%lld threads=%d",
                     (long long)cases[i].rows, (long long)cases[i].d, mot_dtype_name(cases[i].dt),
                     (long long)row, threads);
            check(op_compare(what, out, ref, (size_t)cases[i].d, 1.0, 0.0));
        }
        free(out), free(ref), free(tv);
        op_free_buffer(base);
    }
}

/* ---- rmsnorm, swiglu, rope -------------------------------------------------------------- */

static void run_rmsnorm_cases(int threads) {
    static const struct {
        int n, d;
        float eps;
        int in_place;
    } cases[] = {{1, 1, 1e-5f, 0},    {2, 7, 1e-6f, 1},     {3, 9, 1e-5f, 0},   {7, 33, 1e-5f, 1},
                 {64, 100, 1e-6f, 0}, {130, 257, 1e-5f, 0}, {1, 2048, 1e-5f, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t count = (size_t)cases[i].n * cases[i].d;
        float *x = random_floats(count + 1, 2.0f), *w = random_floats((size_t)cases[i].d + 1, 1.5f);
        float *ref = malloc(sizeof(float) * count), *out = malloc(sizeof(float) * (count + 1));
        mot_ref_rmsnorm(ref, x + 1, w + 1, cases[i].n, cases[i].d, cases[i].eps);
        float *dst = out + 1;
        if (cases[i].in_place) {
            memcpy(dst, x + 1, sizeof(float) * count);
            mot_cpu_rmsnorm(dst, dst, w + 1, cases[i].n, cases[i].d, cases[i].eps);
        } else {
            mot_cpu_rmsnorm(dst, x + 1, w + 1, cases[i].n, cases[i].d, cases[i].eps);
        }
        char what[100];
        snprintf(what, sizeof what, "rmsnorm n=%d d=%d in_place=%d threads=%d", cases[i].n,
                 cases[i].d, cases[i].in_place, threads);
        check(op_compare(what, dst, ref, count, 1.0, 1e-6));
        free(x), free(w), free(ref), free(out);
    }
}

static void run_swiglu_cases(int threads) {
    static const struct {
        int n, f, in_place;
    } cases[] = {{1, 1, 0}, {2, 7, 1}, {3, 33, 0}, {7, 100, 1}, {64, 257, 0}, {130, 5632 / 4, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t count = (size_t)cases[i].n * cases[i].f;
        /* gates up to +-20 reach both saturated ends of silu */
        float *g = random_floats(count + 1, 20.0f), *u = random_floats(count + 1, 2.0f);
        float *ref = malloc(sizeof(float) * count), *out = malloc(sizeof(float) * (count + 1));
        mot_ref_swiglu(ref, g + 1, u + 1, cases[i].n, cases[i].f);
        float *dst = out + 1;
        if (cases[i].in_place) {
            memcpy(dst, g + 1, sizeof(float) * count);
            mot_cpu_swiglu(dst, dst, u + 1, cases[i].n, cases[i].f);
        } else {
            mot_cpu_swiglu(dst, g + 1, u + 1, cases[i].n, cases[i].f);
        }
        char what[100];
        snprintf(what, sizeof what, "swiglu n=%d f=%d in_place=%d threads=%d", cases[i].n,
                 cases[i].f, cases[i].in_place, threads);
        check(op_compare(what, dst, ref, count, 1.0, 1e-6));
        free(g), free(u), free(ref), free(out);
    }
}

static void run_rope_cases(int threads) {
    static const struct {
        int n, n_heads, hd, pos0;
        float theta;
    } cases[] = {{1, 1, 2, 0, 10000.0f},       {2, 3, 8, 5, 10000.0f},
                 {3, 4, 18, 100, 500000.0f},   {7, 2, 64, 4000, 10000.0f},
                 {64, 5, 128, 17, 1000000.0f}, {1, 32, 64, 8191, 10000.0f},
                 {130, 2, 160, 0, 10000.0f}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = cases[i].n, nh = cases[i].n_heads, hd = cases[i].hd;
        size_t count = (size_t)n * nh * hd;
        float *inv = malloc(sizeof(float) * (size_t)(hd / 2));
        for (int j = 0; j < hd / 2; j++) {
            inv[j] = (float)pow(cases[i].theta, -2.0 * j / hd);
        }
        float *x = random_floats(count + 1, 1.0f);
        float *ref = malloc(sizeof(float) * count);
        memcpy(ref, x + 1, sizeof(float) * count);
        mot_ref_rope(ref, n, nh, hd, cases[i].pos0, inv);
        /* x as the queries (unaligned); one kv head beside it, checked in run_rope_append_cases */
        const size_t kv = (size_t)n * hd, cache = (size_t)(cases[i].pos0 + n) * hd;
        float *k = random_floats(kv, 1.0f), *v = random_floats(kv, 1.0f);
        float *kc = malloc(sizeof(float) * cache), *vc = malloc(sizeof(float) * cache);
        mot_cpu_rope_append(x + 1, k, v, kc, vc, hd, hd, n, nh, 1, hd, cases[i].pos0, inv);
        free(k), free(v), free(kc), free(vc);
        char what[100];
        snprintf(what, sizeof what, "rope n=%d heads=%d hd=%d pos0=%d threads=%d", n, nh, hd,
                 cases[i].pos0, threads);
        check(op_compare(what, x + 1, ref, count, 1.0, 1e-6));
        free(inv), free(x), free(ref);
    }
}

/* A KV cache's strides (kv head g of position j at j * kv_stride + g * head_stride), pad
 * floats after each key: rows of all kv heads ([keys, n_kv * hd + pad]) or head-major
 * ([n_kv, keys, hd + pad], the runtime's layout). */
static void cache_strides(int head_major, int n_kv, int hd, int pad, int64_t keys, int64_t *kv_stride,
                          int64_t *head_stride) {
    *kv_stride = head_major ? hd + pad : (int64_t)n_kv * hd + pad;
    *head_stride = head_major ? keys * *kv_stride : hd;
}

/* RoPE on q and k plus the KV append in one pass (decode's ROPE_APPEND) against the
 * reference RoPE and plain copies into positions pos0.. of the caches, whose rows hold all
 * kv heads (padded or not) or which are head-major (the runtime's layout). */
static void run_rope_append_cases(int threads) {
    static const struct {
        int n, n_heads, n_kv, hd, pos0, stride_pad, head_major;
    } cases[] = {{1, 9, 3, 64, 0, 0, 0},    {1, 32, 4, 64, 77, 8, 0}, {5, 4, 2, 18, 3, 0, 0}, {130, 6, 1, 32, 10, 4, 0},
                 {1, 9, 3, 64, 40, 0, 1},   {5, 4, 2, 18, 3, 2, 1},   {130, 8, 4, 32, 10, 0, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int n = cases[i].n, nh = cases[i].n_heads, nkv = cases[i].n_kv, hd = cases[i].hd, pos0 = cases[i].pos0;
        const int64_t row = (int64_t)nkv * hd, rows = pos0 + n;
        /* the caches hold rows * stride floats */
        int64_t kv_stride, head_stride;
        cache_strides(cases[i].head_major, nkv, hd, cases[i].stride_pad, rows, &kv_stride, &head_stride);
        const int64_t stride = cases[i].head_major ? nkv * kv_stride : kv_stride; /* floats per position */
        float *inv = malloc(sizeof(float) * (size_t)(hd / 2));
        for (int j = 0; j < hd / 2; j++) {
            inv[j] = (float)pow(10000.0, -2.0 * j / hd);
        }
        float *q = random_floats((size_t)n * nh * hd, 1.0f), *k = random_floats((size_t)(n * row), 1.0f);
        float *v = random_floats((size_t)(n * row), 1.0f);
        float *q_ref = malloc(sizeof(float) * (size_t)n * nh * hd), *k_ref = malloc(sizeof(float) * (size_t)(n * row));
        memcpy(q_ref, q, sizeof(float) * (size_t)n * nh * hd);
        memcpy(k_ref, k, sizeof(float) * (size_t)(n * row));
        mot_ref_rope(q_ref, n, nh, hd, pos0, inv);
        mot_ref_rope(k_ref, n, nkv, hd, pos0, inv);
        float *kc = calloc((size_t)(rows * stride), sizeof(float)), *vc = calloc((size_t)(rows * stride), sizeof(float));
        float *kc_ref = calloc((size_t)(rows * stride), sizeof(float)), *vc_ref = calloc((size_t)(rows * stride), sizeof(float));
        for (int t = 0; t < n; t++) {
            for (int g = 0; g < nkv; g++) {
                const int64_t at = (pos0 + t) * kv_stride + g * head_stride;
                memcpy(kc_ref + at, k_ref + t * row + g * hd, sizeof(float) * (size_t)hd);
                memcpy(vc_ref + at, v + t * row + g * hd, sizeof(float) * (size_t)hd);
            }
        }
        mot_cpu_rope_append(q, k, v, kc, vc, kv_stride, head_stride, n, nh, nkv, hd, pos0, inv);
        char what[140];
        snprintf(what, sizeof what, "rope_append n=%d heads=%d/%d hd=%d pos0=%d head-major %d threads=%d (%%s)", n, nh,
                 nkv, hd, pos0, cases[i].head_major, threads);
        char w2[160];
        snprintf(w2, sizeof w2, what, "q"), check(op_compare(w2, q, q_ref, (size_t)n * nh * hd, 1.0, 1e-6));
        snprintf(w2, sizeof w2, what, "k"), check(op_compare(w2, k, k_ref, (size_t)(n * row), 1.0, 1e-6));
        snprintf(w2, sizeof w2, what, "k cache"), check(op_compare(w2, kc, kc_ref, (size_t)(rows * stride), 1.0, 1e-6));
        snprintf(w2, sizeof w2, what, "v cache"), check(op_compare(w2, vc, vc_ref, (size_t)(rows * stride), 1.0, 0.0));
        free(inv), free(q), free(k), free(v), free(q_ref), free(k_ref), free(kc), free(vc), free(kc_ref), free(vc_ref);
    }
}

/* The cos/sin of a position are kept per thread from call to call (every layer of a decode
 * step rotates the same position), keyed by the frequencies' values: the same buffer
 * rewritten with other frequencies (another model) at the same position must not reuse them. */
static void run_rope_memo_case(int threads) {
    enum { HD = 64, HEADS = 3, POS = 321 };
    float inv[HD / 2], k[HD], v[HD], kc[(POS + 1) * HD], vc[(POS + 1) * HD];
    float *q = random_floats(HEADS * HD, 1.0f), *ref = malloc(sizeof(float) * HEADS * HD);
    for (int pass = 0; pass < 3; pass++) {
        const double theta = pass == 1 ? 500000.0 : 10000.0;
        for (int j = 0; j < HD / 2; j++) {
            inv[j] = (float)pow(theta, -2.0 * j / HD);
        }
        memcpy(ref, q, sizeof(float) * HEADS * HD);
        mot_ref_rope(ref, 1, HEADS, HD, POS, inv);
        memset(k, 0, sizeof k), memset(v, 0, sizeof v);
        mot_cpu_rope_append(q, k, v, kc, vc, HD, HD, 1, HEADS, 1, HD, POS, inv);
        char what[80];
        snprintf(what, sizeof what, "rope at one position, pass %d theta=%g threads=%d", pass, theta, threads);
        check(op_compare(what, q, ref, HEADS * HD, 1.0, 1e-6));
    }
    free(q), free(ref);
}

/* The GEMV's epilogue (decode): biases, and accumulating into the output, on several jobs
 * sharing x (q/k/v-style), against the reference matmul plus the same additions. */
static void run_gemv_epilogue_cases(int threads) {
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_BF16, MOT_DTYPE_F16};
    static const int64_t rows[3] = {64, 17, 33};
    const int64_t cols = 72;
    for (size_t d = 0; d < 3; d++) {
        for (int n = 1; n <= 3; n += 2) {
            mot_matmul_job jobs[3];
            mot_weight w[3];
            void *base[3];
            float *ref[3], *wv[3], *bias[3];
            float *x = random_floats((size_t)(n * cols), 1.0f);
            for (int j = 0; j < 3; j++) {
                wv[j] = random_floats((size_t)(rows[j] * cols), 1.0f);
                w[j] = (mot_weight){dts[d], op_make_buffer(dts[d], wv[j], (size_t)(rows[j] * cols), 2, &base[j]), rows[j],
                                    cols};
                bias[j] = j == 1 ? NULL : random_floats((size_t)rows[j], 1.0f);
                jobs[j] = (mot_matmul_job){random_floats((size_t)(n * rows[j]), 1.0f), &w[j], bias[j], j != 0};
                ref[j] = malloc(sizeof(float) * (size_t)(n * rows[j]));
                mot_ref_matmul(ref[j], x, &w[j], n);
                for (int64_t e = 0; e < n * rows[j]; e++) {
                    float y = ref[j][e] + (bias[j] ? bias[j][e % rows[j]] : 0.0f);
                    ref[j][e] = jobs[j].accumulate ? jobs[j].y[e] + y : y;
                }
            }
            if (!mot_cpu_matmul_is_gemv(jobs, 3, n)) {
                printf("FAIL gemv epilogue: n=%d should take the GEMV\n", n);
                check(0);
            }
            mot_cpu_matmul_multi(jobs, 3, x, n);
            for (int j = 0; j < 3; j++) {
                char what[120];
                snprintf(what, sizeof what, "gemv epilogue %s n=%d job %d (bias %d, accumulate %d) threads=%d",
                         mot_dtype_name(dts[d]), n, j, bias[j] != NULL, jobs[j].accumulate, threads);
                check(op_compare(what, jobs[j].y, ref[j], (size_t)(n * rows[j]), 1.0, 1e-5));
                free(jobs[j].y), free(ref[j]), free(wv[j]), free(bias[j]), op_free_buffer(base[j]);
            }
            free(x);
        }
    }
}

/* The fused decode GEMV (mot_gemv_fusion) against the separate kernels, bit for bit: RMSNorm
 * then the GEMV (q/k/v-like, a bias on one job), the GEMV then SwiGLU (gate/up), and all
 * three; rows enough for several chunks, an odd count (SwiGLU tails inside chunks), columns
 * with tails; and the cases it must refuse. */
static void run_gemv_fusion_cases(int threads) {
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_BF16, MOT_DTYPE_F16};
    static const struct {
        int norm, swiglu, n_jobs, keep_norm;
        int64_t cols;
    } cases[] = {{1, 0, 3, 1, 100}, {0, 1, 2, 0, 72}, {1, 1, 2, 1, 33}, {1, 1, 2, 0, 100}};
    static const int64_t rows3[3] = {301, 37, 45};
    const float eps = 1e-5f;
    for (size_t d = 0; d < 3; d++) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            for (int n = 1; n <= 3; n += 2) {
                const int64_t cols = cases[c].cols;
                const int nj = cases[c].n_jobs;
                float *x = random_floats((size_t)(n * cols), 1.0f), *nw = random_floats((size_t)cols, 1.0f);
                float *xn_sep = malloc(sizeof(float) * (size_t)(n * cols));
                float *xn_fused = malloc(sizeof(float) * (size_t)(n * cols));
                mot_weight w[3];
                void *base[3];
                float *wv[3], *bias[3] = {NULL, NULL, NULL}, *y_sep[3], *y_fused[3];
                mot_matmul_job sep[3], fused[3];
                for (int j = 0; j < nj; j++) {
                    const int64_t rows = cases[c].swiglu ? 701 : rows3[j];
                    wv[j] = random_floats((size_t)(rows * cols), 1.0f);
                    w[j] = (mot_weight){dts[d], op_make_buffer(dts[d], wv[j], (size_t)(rows * cols), 2, &base[j]),
                                        rows, cols};
                    bias[j] = !cases[c].swiglu && j == 1 ? random_floats((size_t)rows, 1.0f) : NULL;
                    y_sep[j] = malloc(sizeof(float) * (size_t)(n * rows));
                    y_fused[j] = malloc(sizeof(float) * (size_t)(n * rows));
                    sep[j] = (mot_matmul_job){y_sep[j], &w[j], bias[j], 0};
                    fused[j] = (mot_matmul_job){y_fused[j], &w[j], bias[j], 0};
                }
                /* separately */
                const float *in = x;
                if (cases[c].norm) {
                    mot_cpu_rmsnorm(xn_sep, x, nw, n, (int)cols, eps);
                    in = xn_sep;
                }
                mot_cpu_matmul_multi(sep, nj, in, n);
                if (cases[c].swiglu) {
                    mot_cpu_swiglu(y_sep[0], y_sep[0], y_sep[1], n, (int)w[0].rows);
                }
                /* fused */
                const mot_gemv_fusion f = {cases[c].norm ? nw : NULL, eps, cases[c].keep_norm ? xn_fused : NULL,
                                           cases[c].swiglu};
                char what[160];
                snprintf(what, sizeof what, "gemv fusion %s norm %d swiglu %d jobs %d cols %lld n=%d threads=%d",
                         mot_dtype_name(dts[d]), cases[c].norm, cases[c].swiglu, nj, (long long)cols, n, threads);
                const int can = mot_cpu_gemv_can_fuse(fused, nj, n, &f);
                if (!can) {
                    printf("FAIL %s: refused\n", what);
                }
                check(can);
                mot_cpu_matmul_gemv_fused(fused, nj, x, n, &f);
                for (int j = 0; j < nj; j++) {
                    const int same = !memcmp(y_sep[j], y_fused[j], sizeof(float) * (size_t)(n * w[j].rows));
                    if (!same) {
                        printf("FAIL %s: job %d differs from the separate kernels\n", what, j);
                    }
                    check(same);
                }
                if (cases[c].keep_norm) {
                    const int same = !memcmp(xn_sep, xn_fused, sizeof(float) * (size_t)(n * cols));
                    if (!same) {
                        printf("FAIL %s: the kept norm differs from mot_cpu_rmsnorm\n", what);
                    }
                    check(same);
                }
                for (int j = 0; j < nj; j++) {
                    free(wv[j]), free(bias[j]), free(y_sep[j]), free(y_fused[j]), op_free_buffer(base[j]);
                }
                free(x), free(nw), free(xn_sep), free(xn_fused);
            }
        }
    }
    /* refused: SwiGLU over jobs with a bias, or of unequal rows; a norm wider than the stack copy */
    float yb[64];
    float bias[8] = {0};
    mot_weight a = {MOT_DTYPE_F32, yb, 8, 8}, b = {MOT_DTYPE_F32, yb, 4, 8};
    mot_weight wide = {MOT_DTYPE_F32, yb, 1, MOT_GEMV_FUSE_MAX_FLOATS + 1};
    const mot_gemv_fusion sw = {NULL, 0.0f, NULL, 1}, nm = {bias, 1e-5f, NULL, 0};
    mot_matmul_job with_bias[2] = {{yb, &a, bias, 0}, {yb, &a, NULL, 0}};
    mot_matmul_job unequal[2] = {{yb, &a, NULL, 0}, {yb, &b, NULL, 0}};
    mot_matmul_job too_wide = {yb, &wide, NULL, 0};
    check(!mot_cpu_gemv_can_fuse(with_bias, 2, 1, &sw));
    check(!mot_cpu_gemv_can_fuse(unequal, 2, 1, &sw));
    check(!mot_cpu_gemv_can_fuse(&too_wide, 1, 1, &nm));
    check(!mot_cpu_gemv_can_fuse(with_bias + 1, 1, 64, &nm)); /* 64 tokens: the GEMM */
}

/* The vectorised arg-max against the scalar rule: first index of the largest value, NaNs
 * never win, a NaN at 0 gives 0; ties, signed zeros, infinities and tails. */
static int argmax_rule(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

static void run_argmax_cases(void) {
    const int sizes[] = {1, 7, 16, 17, 100, 49152, 32001};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int n = sizes[si];
        for (int variant = 0; variant < 7; variant++) {
            float *x = random_floats((size_t)n, 1.0f);
            if (variant == 1 && n > 3) x[n / 3] = x[n - 1] = 2.0f;             /* a tie: the first wins */
            if (variant == 2) x[0] = NAN;                                     /* NaN at 0: 0 */
            if (variant == 3 && n > 5) x[n / 2] = NAN, x[n - 1] = 5.0f;         /* NaN elsewhere never wins */
            if (variant == 4) for (int i = 0; i < n; i++) x[i] = i % 2 ? 0.0f : -0.0f; /* signed zeros */
            if (variant == 5 && n > 2) x[n - 2] = INFINITY, x[1] = INFINITY;   /* infinities tie */
            if (variant == 6) for (int i = 0; i < n; i++) x[i] = -1.0f - (float)i; /* the first */
            const int got = mot_cpu_argmax(x, n), want = argmax_rule(x, n);
            n_run++;
            if (got != want) {
                printf("FAIL argmax n=%d variant %d: %d, want %d\n", n, variant, got, want);
                n_failed++;
            }
            free(x);
        }
    }
}

/* ---- attention -------------------------------------------------------------------------- */

typedef struct {
    int n, pos0, n_heads, n_kv, hd, window, stride_pad; /* floats of padding after each key */
    float q_scale;                                      /* larger: peakier softmax */
} attention_case;

/* The cache as rows of all kv heads ([keys, n_kv * hd + pad]) or head-major ([n_kv, keys,
 * hd + pad], the runtime's layout). */
static void test_attention(const attention_case *c, int threads, int head_major) {
    int n_keys = c->pos0 + c->n;
    int64_t kv_stride, head_stride;
    cache_strides(head_major, c->n_kv, c->hd, c->stride_pad, n_keys, &kv_stride, &head_stride);
    size_t nq = (size_t)c->n * c->n_heads * c->hd;
    size_t nkv = head_major ? (size_t)(c->n_kv * head_stride) : (size_t)(n_keys * kv_stride);
    float *q = random_floats(nq + 1, c->q_scale), *k = random_floats(nkv + 1, 1.0f);
    float *v = random_floats(nkv + 1, 1.0f);
    float *ref = malloc(sizeof(float) * nq), *out = malloc(sizeof(float) * (nq + 1));
    float scale = 1.0f / sqrtf((float)c->hd);
    mot_ref_attention(ref, q + 1, k + 1, v + 1, kv_stride, head_stride, c->n, c->pos0, c->n_heads, c->n_kv,
                      c->hd, c->window, scale);
    for (size_t i = 0; i < nq + 1; i++) {
        out[i] = NAN;
    }
    mot_cpu_attention(out + 1, q + 1, k + 1, v + 1, kv_stride, head_stride, c->n, c->pos0, c->n_heads, c->n_kv,
                      c->hd, c->window, scale);
    char what[180];
    snprintf(what, sizeof what,
             "attention n=%d pos0=%d heads=%d kv=%d hd=%d window=%d stride=%lld head-major %d threads=%d", c->n,
             c->pos0, c->n_heads, c->n_kv, c->hd, c->window, (long long)kv_stride, head_major, threads);
    check(op_compare(what, out + 1, ref, nq, 1.0, 1e-5));
    free(q), free(k), free(v), free(ref), free(out);
}

/* The bandwidth probe reads every byte once: each 32-bit word's low byte is 1 and the rest 0,
 * so every word (in the SIMD sums) or byte (in the tails) read once adds 1, and the sum is
 * the number of words. Spans of lengths that are not multiples of 64, many of them, fewer
 * bytes than the runs need, and one of 0 bytes. */
static void run_read_pass_cases(int threads) {
    static const struct {
        int n;
        size_t len[6];
    } cases[] = {{1, {4}},
                 {1, {64}},
                 {1, {1 << 20}},
                 {6, {1000004, 4, 0, 68, 200000, 131076}},
                 {6, {12, 8, 4, 16, 4, 260}},
                 {3, {4096 * 3 + 4, 1 << 16, 60}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int n = cases[c].n;
        size_t total = 0;
        for (int i = 0; i < n; i++) total += cases[c].len[i];
        unsigned char *buf = calloc(total + 64, 1);
        mot_read_span spans[6];
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            spans[i] = (mot_read_span){buf + off, cases[c].len[i]};
            off += cases[c].len[i];
        }
        for (size_t i = 0; i < total; i += 4) buf[i] = 1;
        uint32_t sum = 0;
        mot_cpu_read_pass(spans, n, &sum);
        n_run++;
        if (sum != total / 4) {
            printf("FAIL read pass case %zu (%d spans, %zu bytes) threads=%d: sum %u, want %zu\n", c, n, total,
                   threads, sum, total / 4);
            n_failed++;
        }
        free(buf);
    }
}

static void run_attention_cases(int threads) {
    static const attention_case cases[] = {
        /* decode: one query over a cache (a single key; one beyond a key chunk of 512) */
        {1, 0, 4, 4, 64, 0, 0, 1.0f},
        {1, 1000, 8, 2, 64, 0, 0, 4.0f},
        {1, 1500, 6, 2, 128, 700, 0, 4.0f},
        {1, 37, 3, 1, 36, 5, 8, 1.0f},
        /* decode in parts of 256 keys: exactly one part, one key over it, SmolLM's 9 / 3
         * heads at 2k keys, a group wider than 64 heads, a window with a peaky softmax */
        {1, 255, 9, 3, 64, 0, 0, 2.0f},
        {1, 256, 9, 3, 64, 0, 0, 2.0f},
        {1, 2047, 9, 3, 64, 0, 0, 4.0f},
        {1, 600, 66, 1, 8, 0, 0, 1.0f},
        {1, 900, 4, 2, 64, 300, 3, 30.0f},
        /* prefill, GQA ratios 1, 3, 4, windows 0 and small, odd head sizes, padded rows */
        {2, 0, 2, 2, 8, 0, 0, 1.0f},
        {3, 4, 3, 1, 7, 2, 3, 2.0f},
        {7, 0, 4, 4, 12, 1, 0, 1.0f},
        {64, 0, 6, 2, 64, 0, 0, 3.0f},
        {64, 10, 8, 2, 40, 16, 5, 3.0f},
        {130, 600, 4, 1, 64, 0, 0, 2.0f},
        {130, 0, 12, 3, 33, 50, 0, 1.0f},
        {40, 700, 4, 2, 64, 0, 0, 30.0f}, /* near one-hot softmax: exp of very negative */
        {5, 3, 4, 2, 260, 0, 0, 1.0f},    /* hd too wide to pack a key chunk */
        {1, 50, 66, 1, 8, 0, 0, 1.0f},    /* a group wider than one work item (64 heads) */
        {3, 90, 66, 3, 16, 40, 0, 1.0f},
        /* prompt passes on the blocked path (n >= 32, hd a multiple of 16): a window with
         * padded rows, rows whose window leaves whole key chunks unseen, groups of 3, 4, 22
         * and 50 heads (the last wider than one item's 24 vectors: three slices), hd 128, a
         * peaky softmax, a pass after a cache */
        {64, 10, 8, 2, 64, 16, 5, 3.0f},
        {33, 5, 1, 1, 64, 7, 0, 30.0f},
        {130, 0, 12, 4, 32, 50, 0, 1.0f},
        {36, 90, 66, 3, 16, 40, 0, 1.0f},
        {40, 0, 9, 3, 128, 0, 0, 2.0f},
        {100, 37, 9, 3, 64, 0, 3, 4.0f},
        {40, 20, 50, 1, 16, 0, 0, 1.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_attention(&cases[i], threads, 0);
        test_attention(&cases[i], threads, 1);
    }
}

/* Decode split into parts of keys: the parts depend on the keys only, so the output has the
 * same bits with 1, 2 or 3 threads (a split by thread would not). */
static void run_attention_team_bits_case(void) {
    const int pos0 = 1000, n_heads = 9, n_kv = 3, hd = 64, keys = pos0 + 1;
    const size_t nq = (size_t)n_heads * hd, nkv = (size_t)n_kv * keys * hd;
    float *q = random_floats(nq, 2.0f), *k = random_floats(nkv, 1.0f), *v = random_floats(nkv, 1.0f);
    float *out[3];
    for (int t = 0; t < 3; t++) {
        out[t] = malloc(sizeof(float) * nq);
        omp_set_num_threads(t + 1);
        mot_cpu_attention(out[t], q, k, v, hd, (int64_t)keys * hd, 1, pos0, n_heads, n_kv, hd, 0, 0.125f);
    }
    for (int t = 1; t < 3; t++) {
        n_run++;
        if (memcmp(out[0], out[t], sizeof(float) * nq) != 0) {
            printf("FAIL attention decode in parts: %d threads give other bits than 1\n", t + 1);
            n_failed++;
        }
    }
    for (int t = 0; t < 3; t++) free(out[t]);
    free(q), free(k), free(v);
}

/* ---- the vector exp behind softmax and SiLU --------------------------------------------- */

static void run_exp_cases(void) {
    /* relative error over the whole range where the result is a normal float */
    double worst = 0.0, worst_x = 0.0;
    for (double x = -86.8; x <= 88.7; x += 0.0137) {
        float in[8], out[8];
        for (int i = 0; i < 8; i++) {
            in[i] = (float)(x + i * 0.0017);
        }
        _mm256_storeu_ps(out, mot_exp8(_mm256_loadu_ps(in)));
        for (int i = 0; i < 8; i++) {
            double ref = exp((double)in[i]);
            double rel = fabs(out[i] - ref) / ref;
            if (rel > worst) {
                worst = rel, worst_x = in[i];
            }
        }
    }
    n_run++;
    if (!(worst <= 3e-7)) { /* ~2.5 ulp; also catches NaN */
        printf("FAIL exp8: relative error %.3g at x = %.9g\n", worst, worst_x);
        n_failed++;
    }
    /* the ends: flush to 0 below, +inf above, exactly 1 at 0 */
    float in[8] = {-1000.0f, -100.0f, -87.5f, 0.0f, 89.0f, 1000.0f, -0.0f, 1.0f};
    float want[8] = {0.0f, 0.0f, 0.0f, 1.0f, INFINITY, INFINITY, 1.0f, 2.71828183f};
    float out[8];
    _mm256_storeu_ps(out, mot_exp8(_mm256_loadu_ps(in)));
    for (int i = 0; i < 8; i++) {
        n_run++;
        if (!(out[i] == want[i] || fabsf(out[i] - want[i]) <= 3e-7f * want[i])) {
            printf("FAIL exp8(%g) = %.9g, want %.9g\n", in[i], out[i], want[i]);
            n_failed++;
        }
    }
}

/* Repetition penalties (kernels/cpu/sampler.c) against ops/ref_sample.c: a prompt accepted,
 * then `steps` draws, the reference keeping its own list of every token seen and penalizing
 * the last last_n of them. Tokens seen are made likely (so the penalties decide draws); at
 * least one draw must differ from the unpenalized choice. Then a reset forgets them all. */
static void run_penalty_case(int vocab, float temp, int top_k, float top_p, float min_p, float rep, float pres,
                             float freq, int last_n, int n_prompt, int steps, uint64_t seed) {
    const mot_sampler_params sp = {.temperature = temp, .top_k = top_k, .top_p = top_p, .seed = seed, .min_p = min_p,
                                   .repeat_penalty = rep, .presence_penalty = pres, .frequency_penalty = freq,
                                   .repeat_last_n = last_n};
    mot_sampler s;
    if (mot_sampler_init(&s, &sp, 1, vocab) != MOT_OK) {
        printf("FAIL penalties: sampler init\n");
        n_failed++;
        return;
    }
    float *x = malloc((size_t)vocab * sizeof *x), *pen = malloc((size_t)vocab * sizeof *pen);
    int *seen = malloc((size_t)(n_prompt + steps) * sizeof *seen), n_seen = 0, differed = 0;
    uint64_t st = seed * 2654435761u + 1;
    for (int i = 0; i < n_prompt; i++) {
        const int t = (int)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 33) % (vocab < 9 ? vocab : 9);
        mot_sampler_accept(&s, t);
        seen[n_seen++] = t;
    }
    char what[160];
    snprintf(what, sizeof what, "penalties vocab=%d T=%g k=%d p=%g min_p=%g repeat=%g presence=%g frequency=%g last_n=%d",
             vocab, temp, top_k, top_p, min_p, rep, pres, freq, last_n);
    for (int step = 0; step < steps; step++) {
        op_fill_random(x, (size_t)vocab, &st);
        for (int i = 0; i < vocab; i++) {
            x[i] *= 3.0f;
        }
        for (int i = 0; i < n_seen; i++) {
            x[seen[i]] = fabsf(x[seen[i]]) + 2.0f - (float)(i % 3) * 2.5f; /* positive and negative logits */
        }
        uint64_t rng[4];
        memcpy(rng, s.rng.s, sizeof rng);
        const double u = mot_ref_uniform(rng);
        memcpy(pen, x, (size_t)vocab * sizeof *pen);
        const int w0 = last_n < 0 || n_seen <= last_n ? 0 : n_seen - last_n;
        mot_ref_penalize(pen, vocab, seen + w0, n_seen - w0, rep, pres, freq);
        const int want = mot_ref_sample(pen, vocab, temp, top_k, top_p, min_p, u);
        differed |= want != mot_ref_sample(x, vocab, temp, top_k, top_p, min_p, u);
        const int got = mot_sample(&s, x);
        n_run++;
        if (got != want) {
            printf("FAIL %s: step %d drew %d, the reference %d\n", what, step, got, want);
            n_failed++;
            break;
        }
        seen[n_seen++] = got;
        mot_sampler_accept(&s, got); /* as runtime/engine.c does after a pass */
    }
    n_run++;
    if (!differed) {
        printf("FAIL %s: the penalties never changed a draw (the case tests nothing)\n", what);
        n_failed++;
    }
    /* forgotten: greedy over the same logits is the plain arg-max again */
    mot_sampler_reset_history(&s);
    s.params.temperature = 0.0f;
    n_run++;
    if (mot_sample(&s, x) != mot_ref_argmax(x, vocab)) {
        printf("FAIL %s: after a reset the draw is still penalized\n", what);
        n_failed++;
    }
    mot_sampler_free(&s);
    free(x), free(pen), free(seen);
}

/* Which of tokens 1..vocab-1 the window holds, probed one at a time: logits 0 but token j's 1,
 * presence penalty 2, so greedy draws j when it is not held and 0 when it is (-1 < 0). */
static void held_tokens(mot_sampler *s, int vocab, int *held) {
    float x[64] = {0};
    for (int j = 1; j < vocab; j++) {
        x[j] = 1.0f;
        held[j] = mot_sample(s, x) != j;
        x[j] = 0.0f;
    }
}

/* The window after forgets (a conversation's rewind) and more accepts, against a plain list. */
static void run_penalty_forget_case(int window) {
    enum { V = 16 };
    const mot_sampler_params sp = {.temperature = 0.0f, .top_p = 1.0f, .presence_penalty = 2.0f,
                                   .repeat_last_n = window};
    mot_sampler s;
    if (mot_sampler_init(&s, &sp, 0, V) != MOT_OK) {
        n_failed++;
        return;
    }
    int list[256], n = 0;
    uint64_t st = 99 + (uint64_t)window;
    /* accept 12, forget 3, accept 4, forget 6, accept 9 */
    const int plan[5] = {12, -3, 4, -6, 9};
    for (int k = 0; k < 5; k++) {
        if (plan[k] > 0) {
            for (int i = 0; i < plan[k]; i++) {
                const int t = 1 + (int)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 33) % (V - 1);
                mot_sampler_accept(&s, t);
                list[n++] = t;
                if (window > 0 && n > window) { /* the window lets the oldest go */
                    memmove(list, list + 1, (size_t)(n - 1) * sizeof *list);
                    n--;
                }
            }
        } else {
            mot_sampler_forget(&s, -plan[k]);
            n = n + plan[k] > 0 ? n + plan[k] : 0;
        }
        int held[V] = {0}, want[V] = {0};
        held_tokens(&s, V, held);
        for (int i = 0; i < n; i++) {
            want[list[i]] = 1;
        }
        n_run++;
        if (memcmp(held + 1, want + 1, (V - 1) * sizeof *held) != 0) {
            printf("FAIL penalties window %d: after step %d (%+d tokens) the held tokens differ\n", window, k,
                   plan[k]);
            n_failed++;
        }
    }
    mot_sampler_free(&s);
}

static void run_penalty_cases(void) {
    run_penalty_forget_case(5);  /* a ring that has wrapped when it forgets */
    run_penalty_forget_case(8);
    run_penalty_forget_case(-1); /* every token */
    run_penalty_case(50, 0.0f, 0, 1.0f, 0.0f, 1.3f, 0.0f, 0.0f, 64, 6, 40, 1);    /* greedy, repeat only */
    run_penalty_case(50, 0.0f, 0, 1.0f, 0.0f, 1.1f, 0.5f, 0.3f, 8, 12, 60, 2);    /* a ring that wraps */
    run_penalty_case(300, 0.0f, 0, 1.0f, 0.0f, 1.0f, 1.5f, 0.0f, -1, 4, 50, 3);   /* presence, every token */
    run_penalty_case(300, 0.8f, 40, 0.95f, 0.05f, 1.2f, 0.0f, 0.4f, 16, 9, 60, 4); /* mot run's filters */
    run_penalty_case(49152, 0.7f, 0, 1.0f, 0.1f, 1.5f, 0.2f, 0.1f, 64, 30, 40, 5);
    run_penalty_case(1000, 1.0f, 5, 1.0f, 0.0f, 0.8f, -0.5f, 0.0f, 3, 2, 60, 6);   /* < 1: rewards repeats */
    run_penalty_case(1000, 0.0f, 0, 1.0f, 0.0f, 1.4f, 0.0f, 0.0f, -1, 300, 700, 7); /* the history grows past 256 */
    run_penalty_case(1000, 0.0f, 0, 1.0f, 0.0f, 1.4f, 0.3f, 0.0f, 600, 300, 700, 8); /* grows to a window of 600, then wraps */
}

int main(void) {
    run_penalty_cases();
    run_exp_cases();
    run_argmax_cases();
    run_attention_team_bits_case();
    static const int thread_counts[] = {1, 2};
    for (int i = 0; i < 2; i++) {
        omp_set_num_threads(thread_counts[i]);
        run_matmul_cases(thread_counts[i]);
        run_embed_cases(thread_counts[i]);
        run_rmsnorm_cases(thread_counts[i]);
        run_swiglu_cases(thread_counts[i]);
        run_rope_cases(thread_counts[i]);
        run_rope_append_cases(thread_counts[i]);
        run_rope_memo_case(thread_counts[i]);
        run_gemv_epilogue_cases(thread_counts[i]);
        run_gemv_fusion_cases(thread_counts[i]);
        run_attention_cases(thread_counts[i]);
        run_read_pass_cases(thread_counts[i]);
    }
    if (!blas_as_fn_ok) {
        printf("note: no BLAS in this build; the blas variant was not tested\n");
    }
    printf("%d of %d op checks passed\n", n_run - n_failed, n_run);
    return n_failed == 0 ? 0 : 1;
}
