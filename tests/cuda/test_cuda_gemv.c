/* The CUDA decode GEMV (kernels/cuda/matmul_gemv.cu) and the exact-precision GEMM over
 * f16/bf16 weights (kernels/cuda/matmul.cu) against the C reference (ops/ref_matmul.c, double
 * accumulation): every weight dtype, 1..MOT_CUDA_GEMV_MAX_N rows of x, odd widths (tails past
 * the last 16-byte word), rows whose start is not 16-byte aligned, x not 16-byte aligned,
 * with and without bias and residual (also the residual being y: accumulate); the fused GEMV
 * with its RMSNorm prologue and SwiGLU epilogue (q/k/v, gate/up, the LM head's last row, the
 * norm's output rows past the lane's n_new untouched, the norm weight misaligned) and with
 * RoPE and the KV append (positions past 0, GQA, rows the lane did not feed left unrotated),
 * also over ggml's quantized blocks (kernels/cuda/quant.cu; mixed types in one launch); a
 * MATMUL of several weights in one launch (mot_cuda_gemv_multi). f32 x and f32 accumulation
 * throughout, so one bound: normalized error <= 1e-5 (SPEC 1.7's exact contract with room for
 * the f32 sums; quantized weights 1e-4). A GEMV is also captured into a CUDA Graph and
 * replayed. Needs a GPU: without one it says so and exits 77 (ctest: skipped). */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/cuda/gpu_fixture.h"
#include "tests/ops/quant_blocks.h"
#include "ops/ops.h"

#define BOUND_EXACT 1e-5
#define BOUND_QUANT 1e-4 /* quantized weights (SPEC 1.7): a (q . x) + b (sum x) a half */

static int failures, checks;

/* max |got - ref| / max |ref| over n values; NaN/inf fail first. */
static void expect_close(const char *what, const float *got, const double *ref, size_t n, double bound) {
    double num = 0.0, den = 1e-30;
    checks++;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            printf("FAIL %s: non-finite value at %zu\n", what, i);
            failures++;
            return;
        }
        num = fmax(num, fabs((double)got[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
    }
    const double err = num / den;
    printf("%s %s: normalized error %.3g (bound %.1g)\n", err <= bound ? "ok  " : "FAIL", what, err, bound);
    failures += err > bound;
}

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        printf("FAIL cudaMalloc of %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

static void to_device(void *dev, const void *host, size_t bytes) { cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice); }

static void from_device(void *host, const void *dev, size_t bytes) {
    cudaDeviceSynchronize();
    cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost);
}

/* Host weights [rows, cols] of dt from f32 values, stored at element offset `skew` of the
 * buffer (skew 1: every row start off 16-byte alignment when cols * size is a multiple of 16). */
typedef struct {
    mot_weight host, dev;
    void *host_buf, *dev_buf;
} test_weight;

static test_weight make_weight(mot_dtype dt, int rows, int cols, int skew, unsigned seed) {
    test_weight w;
    if (mot_dtype_is_quantized(dt)) { /* random blocks, rows of row_bytes as a GGUF file has them (skew unused) */
        const size_t bytes = mot_dtype_row_bytes(dt, cols) * (size_t)rows;
        uint64_t rng = seed;
        w.host_buf = malloc(bytes + 1);
        quant_blocks_fill(dt, w.host_buf, bytes, 0, &rng);
        w.host = (mot_weight){dt, w.host_buf, rows, cols};
        w.dev_buf = dev_alloc(bytes);
        to_device(w.dev_buf, w.host_buf, bytes);
        w.dev = (mot_weight){dt, w.dev_buf, rows, cols};
        return w;
    }
    const size_t count = (size_t)rows * cols, es = mot_dtype_size(dt);
    float *f = malloc((count ? count : 1) * sizeof(float));
    fx_fill_random(f, count, seed);
    w.host_buf = malloc((count + (size_t)skew) * es + 1);
    char *data = (char *)w.host_buf + (size_t)skew * es;
    for (size_t i = 0; i < count; i++) {
        if (dt == MOT_DTYPE_F32) memcpy(data + 4 * i, &f[i], 4);
        else {
            const uint16_t h = dt == MOT_DTYPE_F16 ? mot_f32_to_f16(f[i]) : mot_f32_to_bf16(f[i]);
            memcpy(data + 2 * i, &h, 2);
        }
    }
    w.host = (mot_weight){dt, data, rows, cols};
    w.dev_buf = dev_alloc((count + (size_t)skew) * es);
    to_device(w.dev_buf, w.host_buf, (count + (size_t)skew) * es);
    w.dev = (mot_weight){dt, (char *)w.dev_buf + (size_t)skew * es, rows, cols};
    free(f);
    return w;
}

static void free_weight(test_weight *w) {
    free(w->host_buf);
    cudaFree(w->dev_buf);
}

/* ref[n, rows] = x W^T (+ bias) (+ res), in double from the reference's products. */
static double *reference(const test_weight *w, const float *x, int n, const float *bias, const float *res) {
    const size_t count = (size_t)n * w->host.rows;
    float *y = malloc((count ? count : 1) * sizeof(float));
    double *ref = malloc((count ? count : 1) * sizeof(double));
    mot_ref_matmul(y, x, &w->host, n);
    for (size_t i = 0; i < count; i++) {
        const int64_t r = (int64_t)(i % (size_t)w->host.rows);
        ref[i] = (double)y[i] + (bias ? bias[r] : 0.0) + (res ? res[i] : 0.0);
    }
    free(y);
    return ref;
}

enum { EPI_NONE, EPI_BIAS, EPI_RES, EPI_BOTH, EPI_ACCUMULATE, EPI_COUNT };
static const char *const epi_names[EPI_COUNT] = {"", " +bias", " +res", " +bias +res", " +bias, y += (res = y)"};

/* One GEMV case. skew_w: weight rows off alignment; skew_x: x off 16-byte alignment. */
static void gemv_case(mot_dtype dt, int n, int rows, int cols, int epi, int skew_w, int skew_x, cudaStream_t s) {
    test_weight w = make_weight(dt, rows, cols, skew_w, 1000u + (unsigned)(rows * 7 + cols));
    const size_t nx = (size_t)n * cols, ny = (size_t)n * rows;
    float *x = malloc(nx * 4), *bias = malloc((size_t)rows * 4), *res = malloc(ny * 4), *y = malloc(ny * 4);
    fx_fill_random(x, nx, 3u + (unsigned)cols), fx_fill_random(bias, (size_t)rows, 5u), fx_fill_random(res, ny, 9u);
    float *dx_buf = dev_alloc((nx + 1) * 4), *dx = dx_buf + skew_x;
    float *dbias = dev_alloc((size_t)rows * 4), *dres = dev_alloc(ny * 4), *dy = dev_alloc(ny * 4);
    to_device(dx, x, nx * 4), to_device(dbias, bias, (size_t)rows * 4), to_device(dres, res, ny * 4);
    const int use_bias = epi == EPI_BIAS || epi == EPI_BOTH || epi == EPI_ACCUMULATE;
    const int use_res = epi == EPI_RES || epi == EPI_BOTH || epi == EPI_ACCUMULATE;
    float *res_arg = NULL;
    if (epi == EPI_ACCUMULATE) {
        to_device(dy, res, ny * 4); /* y starts as res and accumulates in place */
        res_arg = dy;
    } else {
        cudaMemset(dy, 0xff, ny * 4); /* NaNs: every element must be written */
        res_arg = use_res ? dres : NULL;
    }
    const mot_status st = mot_cuda_matmul_gemv(dy, dx, &w.dev, n, use_bias ? dbias : NULL, res_arg, (mot_cuda_stream)s);
    char what[160];
    snprintf(what, sizeof what, "gemv %s n=%d rows=%d cols=%d%s%s%s", mot_dtype_name(dt), n, rows, cols,
             epi_names[epi], skew_w ? " rows misaligned" : "", skew_x ? " x misaligned" : "");
    if (st != MOT_OK) {
        printf("FAIL %s: %s\n", what, mot_last_error());
        failures++, checks++;
    } else {
        from_device(y, dy, ny * 4);
        double *ref = reference(&w, x, n, use_bias ? bias : NULL, use_res ? res : NULL);
        expect_close(what, y, ref, ny, BOUND_EXACT);
        free(ref);
    }
    free_weight(&w);
    free(x), free(bias), free(res), free(y);
    cudaFree(dx_buf), cudaFree(dbias), cudaFree(dres), cudaFree(dy);
}

static void gemv_cases(cudaStream_t s) {
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_BF16, MOT_DTYPE_F16};
    static const int widths[] = {1, 7, 33, 577, 2049};
    static const int heights[] = {1, 5, 300};
    int i = 0;
    for (int d = 0; d < 3; d++) {
        for (int c = 0; c < 5; c++) {
            for (int h = 0; h < 3; h++, i++) {
                gemv_case(dts[d], 1 + i % 4, heights[h], widths[c], i % EPI_COUNT, i % 3 == 2, i % 7 == 3, s);
            }
        }
        /* the launch shapes: 4 rows a block (many rows), a row shared by 2 or 4 warps (few
         * rows, long ones), n at the maximum */
        gemv_case(dts[d], 1, 5000, 577, EPI_NONE, 0, 0, s);
        gemv_case(dts[d], 2, 4999, 33, EPI_BOTH, 1, 0, s);
        gemv_case(dts[d], 1, 1000, 2049, EPI_ACCUMULATE, 0, 0, s);
        gemv_case(dts[d], 3, 3, 4100, EPI_BIAS, 0, 1, s);
        gemv_case(dts[d], 4, 2, 4096, EPI_RES, 1, 0, s);
        gemv_case(dts[d], MOT_CUDA_GEMV_MAX_N, 37, 576, EPI_BOTH, 0, 0, s);
        gemv_case(dts[d], MOT_CUDA_GEMV_MAX_N, 64, 8, EPI_NONE, 1, 1, s);
    }
}

/* mot_cuda_matmul_ex past the GEMV (prefill) over f16/bf16 weights: exact, tiles of rows
 * widened to f32 and SGEMM (tile of 100 rows, so several tiles and a short last one); beta 0
 * and 1. fast: the tensor-core path, x rounded to the weight type (its own, looser bound). */
static void prefill_case(mot_cuda_blas *blas, mot_dtype dt, int n, int rows, int cols, float beta, int fast) {
    test_weight w = make_weight(dt, rows, cols, 0, 77u + (unsigned)rows);
    const size_t nx = (size_t)n * cols, ny = (size_t)n * rows;
    float *x = malloc(nx * 4), *y0 = malloc(ny * 4), *y = malloc(ny * 4);
    fx_fill_random(x, nx, 31u), fx_fill_random(y0, ny, 37u);
    float *dx = dev_alloc(nx * 4), *dy = dev_alloc(ny * 4);
    to_device(dx, x, nx * 4), to_device(dy, y0, ny * 4);
    mot_cuda_blas_set_precision(blas, fast);
    const mot_status st = mot_cuda_matmul_ex(blas, dy, dx, &w.dev, n, beta, 0);
    mot_cuda_blas_set_precision(blas, 0);
    char what[160];
    snprintf(what, sizeof what, "matmul %s n=%d rows=%d cols=%d beta=%g %s", mot_dtype_name(dt), n, rows, cols,
             (double)beta, fast ? "fast (tensor cores)" : "exact (widened tiles + SGEMM)");
    if (st != MOT_OK) {
        printf("FAIL %s: %s\n", what, mot_last_error());
        failures++, checks++;
    } else {
        from_device(y, dy, ny * 4);
        double *ref = reference(&w, x, n, NULL, beta != 0.0f ? y0 : NULL);
        expect_close(what, y, ref, ny, !fast ? BOUND_EXACT : dt == MOT_DTYPE_F16 ? 5e-3 : 2e-2);
        free(ref);
    }
    free_weight(&w);
    free(x), free(y0), free(y);
    cudaFree(dx), cudaFree(dy);
}

/* A GEMV captured into a graph (no allocation, no synchronization inside) and replayed twice
 * with x changed between: the replay reads the buffers, not values baked in. */
static void capture_case(cudaStream_t s) {
    enum { N = 1, ROWS = 96, COLS = 200 };
    test_weight w = make_weight(MOT_DTYPE_BF16, ROWS, COLS, 0, 5u);
    float x[N * COLS], bias[ROWS], y[N * ROWS];
    float *dx = dev_alloc(sizeof x), *dbias = dev_alloc(sizeof bias), *dy = dev_alloc(sizeof y);
    fx_fill_random(bias, ROWS, 8u);
    to_device(dbias, bias, sizeof bias);
    cudaGraph_t g = NULL;
    cudaGraphExec_t e = NULL;
    int ok = cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess;
    ok = ok && mot_cuda_matmul_gemv(dy, dx, &w.dev, N, dbias, NULL, (mot_cuda_stream)s) == MOT_OK;
    ok = cudaStreamEndCapture(s, &g) == cudaSuccess && ok;
    ok = ok && cudaGraphInstantiate(&e, g, 0) == cudaSuccess;
    for (int rep = 0; rep < 2 && ok; rep++) {
        fx_fill_random(x, N * COLS, 100u + (unsigned)rep);
        to_device(dx, x, sizeof x);
        ok = cudaGraphLaunch(e, s) == cudaSuccess && cudaStreamSynchronize(s) == cudaSuccess;
        from_device(y, dy, sizeof y);
        double *ref = reference(&w, x, N, bias, NULL);
        char what[64];
        snprintf(what, sizeof what, "gemv bf16 captured in a graph, replay %d", rep + 1);
        if (ok) expect_close(what, y, ref, N * ROWS, BOUND_EXACT);
        free(ref);
    }
    if (!ok) {
        printf("FAIL gemv graph capture / replay: %s\n", cudaGetErrorString(cudaGetLastError()));
        failures++, checks++;
    }
    if (e) cudaGraphExecDestroy(e);
    if (g) cudaGraphDestroy(g);
    free_weight(&w);
    cudaFree(dx), cudaFree(dbias), cudaFree(dy);
}

/* ---- the fused decode GEMV: RMSNorm prologue, SwiGLU epilogue (mot_cuda_gemv_norm; the
 * plan's RMSNORM_MATMUL(_SWIGLU), kernels/cuda/matmul_fused.cu) ---- */

static double *as_double(const float *f, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

/* Each of n_w device outputs dy[j] [n, rows[j]] against the reference ry[j] (float, from the
 * double-accumulating reference), named "WHAT: LABEL" (labels NULL: "output j"). */
static void expect_outputs(const char *what, float *const *dy, float *const *ry, const int *rows, int n, int n_w,
                           const char *const *labels, double bound) {
    for (int j = 0; j < n_w; j++) {
        const size_t ny = (size_t)n * rows[j];
        float *y = malloc((ny ? ny : 1) * 4);
        from_device(y, dy[j], ny * 4);
        double *ref = as_double(ry[j], ny);
        char w_what[240];
        if (labels) {
            snprintf(w_what, sizeof w_what, "%s: %s", what, labels[j]);
        } else {
            snprintf(w_what, sizeof w_what, "%s: output %d", what, j);
        }
        expect_close(w_what, y, ref, ny, bound);
        free(ref), free(y);
    }
}

/* n_w weights [rows[j], cols] sharing x (q/k/v-like, a bias on the last when use_bias;
 * swiglu: gate and up of equal rows), against mot_ref_norm_linear_swiglu. last: the LM head
 * form, n = 1 and x has `live` rows of which the norm reads the last (0: the first); else the
 * norm's output rows from `live` on (and its spare row) must stay untouched. skew_w: weight
 * 1's rows off 16-byte alignment; skew_x: x (and with it the norm's rows) off alignment;
 * skew_nw: the norm weight off alignment. */
static void fused_case_of(const mot_dtype *dts, int n, int live, int n_w, const int *rows, int cols, int swiglu,
                          int last, int use_bias, int skew_w, int skew_x, int skew_nw, cudaStream_t s) {
    const mot_dtype dt = dts[0];
    const double bound = mot_dtype_is_quantized(dt) ? BOUND_QUANT : BOUND_EXACT;
    const int xrows = last ? (live > 0 ? live : 1) : n;
    const size_t nx = (size_t)xrows * cols, nn = (size_t)(n + 1) * cols;
    float *x = malloc(nx * 4), *nw = malloc((size_t)cols * 4), *rn = malloc(nn * 4), *gn = malloc(nn * 4);
    fx_fill_random(x, nx, 11u + (unsigned)cols), fx_fill_random(nw, (size_t)cols, 13u);
    float *dx_buf = dev_alloc((nx + 1) * 4), *dx = dx_buf + skew_x;
    float *dnw_buf = dev_alloc(((size_t)cols + 1) * 4), *dnw = dnw_buf + skew_nw, *dn = dev_alloc(nn * 4);
    mot_lane_step ls = {.pos = 0, .n_new = live}, *dls = dev_alloc(sizeof ls);
    to_device(dx, x, nx * 4), to_device(dnw, nw, (size_t)cols * 4), to_device(dls, &ls, sizeof ls);
    cudaMemset(dn, 0xff, nn * 4); /* NaNs: the rows that must be written are checked finite */
    test_weight w[3];
    mot_weight wd[3];
    const mot_weight *wp[3];
    float *dy[3] = {NULL, NULL, NULL}, *bias[3] = {NULL, NULL, NULL}, *dbias[3] = {NULL, NULL, NULL}, *ry[3];
    for (int j = 0; j < n_w; j++) {
        w[j] = make_weight(dts[j], rows[j], cols, j == 1 ? skew_w : 0, 2000u + (unsigned)(rows[j] * 3 + cols + j));
        wd[j] = w[j].dev, wp[j] = &w[j].host;
        dy[j] = dev_alloc((size_t)n * rows[j] * 4);
        cudaMemset(dy[j], 0xff, (size_t)n * rows[j] * 4);
        ry[j] = malloc(((size_t)n * rows[j] + 1) * 4);
        if (use_bias && !swiglu && j == n_w - 1) {
            bias[j] = malloc((size_t)rows[j] * 4);
            fx_fill_random(bias[j], (size_t)rows[j], 17u);
            dbias[j] = dev_alloc((size_t)rows[j] * 4);
            to_device(dbias[j], bias[j], (size_t)rows[j] * 4);
        }
    }
    const float eps = 1e-5f;
    const mot_status st = mot_cuda_gemv_norm(dy, wd, (const float *const *)dbias, n_w, dx, dnw, eps, dn, dls, last,
                                             n, swiglu, NULL, (mot_cuda_stream)s);
    char what[200];
    snprintf(what, sizeof what, "fused gemv %s%s%s n=%d live=%d %d weights rows=%d cols=%d%s%s%s%s%s%s",
             mot_dtype_name(dt), n_w > 1 && dts[n_w - 1] != dt ? "+" : "",
             n_w > 1 && dts[n_w - 1] != dt ? mot_dtype_name(dts[n_w - 1]) : "", n, live, n_w, rows[0], cols,
             swiglu ? " swiglu" : "", last ? " last row" : "",
             use_bias && !swiglu ? " +bias" : "", skew_w ? " rows misaligned" : "", skew_x ? " x misaligned" : "",
             skew_nw ? " norm weight misaligned" : "");
    if (st != MOT_OK) {
        printf("FAIL %s: %s\n", what, mot_last_error());
        failures++, checks++;
    } else {
        const float *xin = x + (last && live > 0 ? (size_t)(live - 1) * cols : 0);
        mot_ref_norm_linear_swiglu(rn, ry, xin, nw, eps, wp, (const float *const *)bias, n_w, n, swiglu);
        expect_outputs(what, dy, ry, rows, n, n_w, NULL, bound);
        from_device(gn, dn, nn * 4);
        const int out_rows = last ? (live > 0) : (live < n ? live : n);
        double *ref = as_double(rn, (size_t)out_rows * cols);
        char n_what[240];
        snprintf(n_what, sizeof n_what, "%s: the norm's output", what);
        if (out_rows > 0) expect_close(n_what, gn, ref, (size_t)out_rows * cols, BOUND_EXACT);
        free(ref);
        int untouched = 1;
        for (size_t i = (size_t)out_rows * cols; i < nn; i++) {
            uint32_t bits;
            memcpy(&bits, &gn[i], 4);
            untouched &= bits == 0xffffffffu;
        }
        checks++;
        failures += !untouched;
        printf("%s %s: the norm's rows from %d on untouched\n", untouched ? "ok  " : "FAIL", what, out_rows);
    }
    for (int j = 0; j < n_w; j++) {
        free_weight(&w[j]);
        cudaFree(dy[j]), cudaFree(dbias[j]);
        free(ry[j]), free(bias[j]);
    }
    free(x), free(nw), free(rn), free(gn);
    cudaFree(dx_buf), cudaFree(dnw_buf), cudaFree(dn), cudaFree(dls);
}

static void fused_case(mot_dtype dt, int n, int live, int n_w, const int *rows, int cols, int swiglu, int last,
                       int use_bias, int skew_w, int skew_x, int skew_nw, cudaStream_t s) {
    const mot_dtype dts[3] = {dt, dt, dt};
    fused_case_of(dts, n, live, n_w, rows, cols, swiglu, last, use_bias, skew_w, skew_x, skew_nw, s);
}

/* q [n_heads * hd], k, v [n_kv * hd] with RoPE and the KV append in the epilogue, at position
 * pos, against mot_ref_norm_linear_swiglu + mot_ref_rope_append: rows t < live rotated and
 * appended (head-major caches of ctx positions, zeroed: rows not appended stay 0), the rest
 * of q, k, v the plain products. */
static void rope_case_of(const mot_dtype *dts, int n, int live, int n_heads, int n_kv, int hd, int cols, int pos,
                         int skew_x, cudaStream_t s) {
    const mot_dtype dt = dts[0];
    const double bound = mot_dtype_is_quantized(dt) ? BOUND_QUANT : BOUND_EXACT;
    const int rows[3] = {n_heads * hd, n_kv * hd, n_kv * hd}, ctx = pos + n + 1;
    const size_t nx = (size_t)n * cols, nc = (size_t)n_kv * ctx * hd;
    float *x = malloc(nx * 4), *nw = malloc((size_t)cols * 4), *rn = malloc(nx * 4), *freq = malloc((size_t)hd * 2);
    float *kc = calloc(nc, 4), *vc = calloc(nc, 4), *gk = malloc(nc * 4), *gv = malloc(nc * 4);
    fx_fill_random(x, nx, 21u + (unsigned)cols), fx_fill_random(nw, (size_t)cols, 23u);
    for (int i = 0; i < hd / 2; i++) freq[i] = powf(10000.0f, -2.0f * (float)i / (float)hd);
    float *dx_buf = dev_alloc((nx + 1) * 4), *dx = dx_buf + skew_x, *dnw = dev_alloc((size_t)cols * 4);
    float *dn = dev_alloc(nx * 4), *dfreq = dev_alloc((size_t)hd * 2), *dkc = dev_alloc(nc * 4), *dvc = dev_alloc(nc * 4);
    mot_lane_step ls = {.pos = pos, .n_new = live}, *dls = dev_alloc(sizeof ls);
    to_device(dx, x, nx * 4), to_device(dnw, nw, (size_t)cols * 4), to_device(dfreq, freq, (size_t)hd * 2);
    to_device(dls, &ls, sizeof ls);
    cudaMemset(dkc, 0, nc * 4), cudaMemset(dvc, 0, nc * 4);
    test_weight w[3];
    mot_weight wd[3];
    const mot_weight *wp[3];
    float *dy[3], *ry[3];
    for (int j = 0; j < 3; j++) {
        w[j] = make_weight(dts[j], rows[j], cols, 0, 3000u + (unsigned)(rows[j] + cols + j));
        wd[j] = w[j].dev, wp[j] = &w[j].host;
        dy[j] = dev_alloc((size_t)n * rows[j] * 4);
        cudaMemset(dy[j], 0xff, (size_t)n * rows[j] * 4);
        ry[j] = malloc((size_t)n * rows[j] * 4);
    }
    const mot_cuda_gemv_rope rope = {dkc, dvc, dfreq, n_heads, n_kv, hd, hd, (int64_t)ctx * hd};
    const mot_status st = mot_cuda_gemv_norm(dy, wd, NULL, 3, dx, dnw, 1e-5f, dn, dls, 0, n, 0, &rope,
                                             (mot_cuda_stream)s);
    char what[200];
    snprintf(what, sizeof what, "fused gemv+rope %s%s%s n=%d live=%d heads %d/%d hd %d cols %d pos %d%s",
             mot_dtype_name(dt), dts[2] != dt ? "+" : "", dts[2] != dt ? mot_dtype_name(dts[2]) : "", n, live, n_heads,
             n_kv, hd, cols, pos, skew_x ? " x misaligned" : "");
    if (st != MOT_OK) {
        printf("FAIL %s: %s\n", what, mot_last_error());
        failures++, checks++;
    } else {
        mot_ref_norm_linear_swiglu(rn, ry, x, nw, 1e-5f, wp, NULL, 3, n, 0);
        mot_ref_rope_append(ry[0], ry[1], ry[2], kc, vc, hd, (int64_t)ctx * hd, live, n_heads, n_kv, hd, pos, freq);
        static const char *const names[3] = {"q", "k", "v"};
        expect_outputs(what, dy, ry, rows, n, 3, names, bound);
        from_device(gk, dkc, nc * 4), from_device(gv, dvc, nc * 4);
        double *rk = as_double(kc, nc), *rv = as_double(vc, nc);
        char c_what[240];
        snprintf(c_what, sizeof c_what, "%s: k cache", what);
        expect_close(c_what, gk, rk, nc, bound);
        snprintf(c_what, sizeof c_what, "%s: v cache", what);
        expect_close(c_what, gv, rv, nc, bound);
        free(rk), free(rv);
        /* the norm's output rows the lane has (the RoPE mode writes them too) */
        float *gn = malloc(nx * 4);
        from_device(gn, dn, nx * 4);
        double *rnd = as_double(rn, (size_t)live * cols);
        snprintf(c_what, sizeof c_what, "%s: the norm's output", what);
        if (live > 0) expect_close(c_what, gn, rnd, (size_t)live * cols, BOUND_EXACT);
        free(rnd), free(gn);
    }
    for (int j = 0; j < 3; j++) free_weight(&w[j]), cudaFree(dy[j]), free(ry[j]);
    free(x), free(nw), free(rn), free(freq), free(kc), free(vc), free(gk), free(gv);
    cudaFree(dx_buf), cudaFree(dnw), cudaFree(dn), cudaFree(dfreq), cudaFree(dkc), cudaFree(dvc), cudaFree(dls);
}

static void rope_case(mot_dtype dt, int n, int live, int n_heads, int n_kv, int hd, int cols, int pos, int skew_x,
                      cudaStream_t s) {
    const mot_dtype dts[3] = {dt, dt, dt};
    rope_case_of(dts, n, live, n_heads, n_kv, hd, cols, pos, skew_x, s);
}

static void fused_cases(cudaStream_t s) {
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_BF16, MOT_DTYPE_F16};
    static const int widths[] = {1, 7, 33, 577, 2049, 4100};
    static const int qkv[3] = {63, 17, 5}, gu[2] = {65, 65}, head[1] = {300};
    int i = 0;
    for (int d = 0; d < 3; d++) {
        for (int c = 0; c < 6; c++, i++) {
            const int n = 1 + (i % 3) * 3; /* 1, 4, 7 */
            fused_case(dts[d], n, n, 3, qkv, widths[c], 0, 0, i % 2, i % 3 == 1, i % 4 == 2, i % 5 == 3, s);
            fused_case(dts[d], n, n, 2, gu, widths[c], 1, 0, 0, i % 3 == 2, i % 4 == 1, 0, s);
            fused_case(dts[d], 1, 1 + i % 3, 1, head, widths[c], 0, 1, 0, 0, i % 2, 0, s);
        }
        /* the launch shapes (4 rows a block; a long row shared by 2 or 4 warps), a lane with
         * fewer rows than launched (the norm's later rows untouched), a dead lane's LM head */
        static const int many[3] = {5000, 1000, 3}, wide[2] = {3, 3}, ffn[2] = {2816, 2816};
        fused_case(dts[d], 1, 1, 3, many, 577, 0, 0, 1, 0, 0, 0, s);
        fused_case(dts[d], 1, 1, 2, wide, 4096, 1, 0, 0, 0, 0, 0, s);
        fused_case(dts[d], 1, 1, 2, ffn, 1024, 1, 0, 0, 0, 0, 0, s);
        fused_case(dts[d], 3, 2, 3, qkv, 576, 0, 0, 0, 0, 0, 0, s);
        /* the norm weight misaligned where x alone would take float4 loads (cols % 4 == 0) */
        fused_case(dts[d], 2, 2, 3, qkv, 576, 0, 0, 0, 0, 0, 1, s);
        fused_case(dts[d], 1, 0, 1, head, 64, 0, 1, 0, 0, 0, 0, s);
        /* RoPE + append: GQA, odd widths, hd 2 and 64, at positions past 0, n < and = live,
         * many heads (4 units a block) and few long rows (a pair shared by 2 or 4 warps) */
        rope_case(dts[d], 1, 1, 4, 2, 8, 33, 5, 0, s);
        rope_case(dts[d], 3, 3, 3, 1, 2, 17, 0, 1, s);
        rope_case(dts[d], 4, 2, 6, 2, 64, 577, 9, 0, s);
        rope_case(dts[d], 1, 1, 32, 8, 64, 576, 100, 0, s);
        rope_case(dts[d], 1, 1, 2, 1, 4, 4096, 3, 1, s);
        rope_case(dts[d], 1, 0, 2, 2, 8, 64, 7, 0, s);
    }
}

/* A MATMUL of n_w weights sharing x in one launch (mot_cuda_gemv_multi: the interaction's
 * latent K, V, Q), bias on the last when use_bias, against mot_ref_norm_linear_swiglu without
 * a norm; outputs' rows past n untouched is the plain GEMV's contract, checked there. */
static void multi_case(mot_dtype dt, int n, int n_w, const int *rows, int cols, int use_bias, int skew_x,
                       cudaStream_t s) {
    const size_t nx = (size_t)n * cols;
    float *x = malloc(nx * 4);
    fx_fill_random(x, nx, 31u + (unsigned)cols);
    float *dx_buf = dev_alloc((nx + 1) * 4), *dx = dx_buf + skew_x;
    to_device(dx, x, nx * 4);
    test_weight w[3];
    mot_weight wd[3];
    const mot_weight *wp[3];
    float *dy[3] = {NULL, NULL, NULL}, *bias[3] = {NULL, NULL, NULL}, *dbias[3] = {NULL, NULL, NULL}, *ry[3];
    for (int j = 0; j < n_w; j++) {
        w[j] = make_weight(dt, rows[j], cols, 0, 4000u + (unsigned)(rows[j] * 5 + cols + j));
        wd[j] = w[j].dev, wp[j] = &w[j].host;
        dy[j] = dev_alloc((size_t)n * rows[j] * 4);
        ry[j] = malloc(((size_t)n * rows[j] + 1) * 4);
        if (use_bias && j == n_w - 1) {
            bias[j] = malloc((size_t)rows[j] * 4);
            fx_fill_random(bias[j], (size_t)rows[j], 37u);
            dbias[j] = dev_alloc((size_t)rows[j] * 4);
            to_device(dbias[j], bias[j], (size_t)rows[j] * 4);
        }
    }
    const mot_status st =
        mot_cuda_gemv_multi(dy, wd, (const float *const *)dbias, n_w, dx, n, (mot_cuda_stream)s);
    char what[200];
    snprintf(what, sizeof what, "gemv of %d weights %s n=%d rows=%d,%d cols=%d%s%s", n_w, mot_dtype_name(dt), n,
             rows[0], rows[1], cols, use_bias ? " +bias" : "", skew_x ? " x misaligned" : "");
    if (st != MOT_OK) {
        printf("FAIL %s: %s\n", what, mot_last_error());
        failures++, checks++;
    } else {
        mot_ref_norm_linear_swiglu(NULL, ry, x, NULL, 0.0f, wp, (const float *const *)bias, n_w, n, 0);
        expect_outputs(what, dy, ry, rows, n, n_w, NULL, BOUND_EXACT);
    }
    for (int j = 0; j < n_w; j++) {
        free_weight(&w[j]);
        cudaFree(dy[j]), cudaFree(dbias[j]);
        free(ry[j]), free(bias[j]);
    }
    free(x);
    cudaFree(dx_buf);
}

static void multi_cases(cudaStream_t s) {
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_BF16, MOT_DTYPE_F16};
    static const int kvq[3] = {32, 32, 32}, uneven[3] = {5, 300, 17}, long_rows[2] = {3, 2};
    for (int d = 0; d < 3; d++) {
        multi_case(dts[d], 1, 3, kvq, 64, 1, 0, s);
        multi_case(dts[d], 1, 2, kvq, 33, 0, 1, s);
        multi_case(dts[d], 4, 3, uneven, 577, 1, 0, s);
        multi_case(dts[d], 7, 2, uneven, 96, 0, 1, s);
        multi_case(dts[d], 1, 2, long_rows, 4096, 1, 0, s); /* few long rows: 4 warps a row */
    }
    /* refused: one weight, mixed dtypes, different widths, a quantized weight, n > 7 */
    float *dm = dev_alloc(4096);
    const mot_weight a = {MOT_DTYPE_F32, dm, 4, 8}, b16 = {MOT_DTYPE_BF16, dm, 4, 8}, wide = {MOT_DTYPE_F32, dm, 4, 9};
    const mot_weight q = {MOT_DTYPE_Q8_0, dm, 4, 32};
    const mot_weight one[1] = {a}, mixed[2] = {a, b16}, widths[2] = {a, wide}, quant[2] = {q, q}, ok[2] = {a, a};
    const int refused = !mot_cuda_gemv_multi_takes(one, 1, 1) && !mot_cuda_gemv_multi_takes(mixed, 2, 1) &&
                        !mot_cuda_gemv_multi_takes(widths, 2, 1) && !mot_cuda_gemv_multi_takes(quant, 2, 1) &&
                        !mot_cuda_gemv_multi_takes(ok, 2, MOT_CUDA_GEMV_MAX_N + 1) &&
                        mot_cuda_gemv_multi_takes(ok, 2, MOT_CUDA_GEMV_MAX_N);
    checks++;
    failures += !refused;
    printf("%s gemv of several weights refuses one weight, mixed dtypes or widths, quantized, n > %d\n",
           refused ? "ok  " : "FAIL", MOT_CUDA_GEMV_MAX_N);
    cudaFree(dm);
}

/* The fused GEMV over quantized weights (quant_gemv_norm_kernel, kernels/cuda/quant.cu): every
 * type at widths of one block, a few blocks, and past one chunk of 32 pieces (the K types'
 * 256-element blocks: 8 pieces each); q/k/v with a bias, gate/up, the LM head's last row, 4
 * and 7 rows of x with a lane that has fewer, x and the norm weight off alignment, a dead
 * lane; RoPE + append; the types of a Q4_K_M file mixed in one launch; SmolLM2's 576 and a 7B
 * width of 4096. */
static void quant_fused_cases(cudaStream_t s) {
    static const mot_dtype qts[] = {MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_0, MOT_DTYPE_Q4_1, MOT_DTYPE_Q4_K,
                                    MOT_DTYPE_Q5_K, MOT_DTYPE_Q6_K, MOT_DTYPE_Q5_0, MOT_DTYPE_Q5_1,
                                    MOT_DTYPE_IQ4_NL, MOT_DTYPE_Q2_K, MOT_DTYPE_Q3_K, MOT_DTYPE_IQ4_XS};
    static const int qkv[3] = {63, 17, 5}, gu[2] = {65, 65}, head[1] = {300}, wide[3] = {300, 100, 100};
    for (size_t d = 0; d < sizeof qts / sizeof qts[0]; d++) {
        const mot_dtype dt = qts[d];
        const int k = mot_dtype_block_elems(dt) == 256;
        const int widths[3] = {k ? 256 : 32, k ? 768 : 576, k ? 2304 : 1056};
        for (int c = 0; c < 3; c++) {
            const int n = c == 1 ? 4 : 1;
            fused_case(dt, n, n, 3, qkv, widths[c], 0, 0, c != 1, 0, c == 2, c == 1, s);
            fused_case(dt, n, n, 2, gu, widths[c], 1, 0, 0, 0, c == 1, 0, s);
            fused_case(dt, 1, 1 + c, 1, head, widths[c], 0, 1, 0, 0, c == 0, 0, s);
        }
        fused_case(dt, 7, 5, 3, qkv, widths[0], 0, 0, 1, 0, 0, 0, s);
        fused_case(dt, 1, 0, 1, head, widths[0], 0, 1, 0, 0, 0, 0, s);
        rope_case(dt, 1, 1, 4, 2, 8, widths[1], 5, 0, s);
        rope_case(dt, 3, 2, 6, 2, 64, widths[2], 9, 1, s);
    }
    static const mot_dtype q4km[3] = {MOT_DTYPE_Q4_K, MOT_DTYPE_Q4_K, MOT_DTYPE_Q6_K};
    static const mot_dtype gate_up[2] = {MOT_DTYPE_Q4_K, MOT_DTYPE_Q6_K}, q8q4[3] = {MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_0, MOT_DTYPE_Q4_1};
    fused_case_of(q4km, 1, 1, 3, qkv, 512, 0, 0, 1, 0, 0, 0, s);
    fused_case_of(gate_up, 2, 2, 2, gu, 512, 1, 0, 0, 0, 0, 0, s);
    fused_case_of(q8q4, 1, 1, 3, wide, 576, 0, 0, 0, 0, 0, 0, s);
    rope_case_of(q4km, 1, 1, 4, 2, 64, 4096, 17, 0, s);
    fused_case(MOT_DTYPE_Q4_K, 1, 1, 3, wide, 4096, 0, 0, 0, 0, 0, 0, s);
    fused_case(MOT_DTYPE_Q8_0, 1, 1, 2, gu, 4096, 1, 0, 0, 0, 0, 0, s);
}

/* Arguments a GEMV refuses: too many rows of x, a quantized weight, a residual partly over y. */
static void refusal_cases(cudaStream_t s) {
    float *d = dev_alloc(4096);
    mot_weight w = {MOT_DTYPE_F32, d, 4, 8};
    const int too_many = mot_cuda_matmul_gemv(d, d, &w, MOT_CUDA_GEMV_MAX_N + 1, NULL, NULL, (mot_cuda_stream)s) != MOT_OK;
    mot_weight q = {MOT_DTYPE_Q8_0, d, 4, 32};
    const int quant = mot_cuda_matmul_gemv(d, d, &q, 1, NULL, NULL, (mot_cuda_stream)s) != MOT_OK;
    const int overlap = mot_cuda_matmul_gemv(d + 100, d, &w, 2, NULL, d + 101, (mot_cuda_stream)s) != MOT_OK;
    /* the fused GEMV: mixed plain dtypes, plain beside quantized, a SwiGLU over unequal rows;
     * quantized weights with too many rows of x, too wide for the normed x in shared memory,
     * off 16-byte alignment (the op launch runs the parts instead: mot_cuda_gemv_norm_takes
     * says no) */
    mot_weight mixed[2] = {{MOT_DTYPE_F32, d, 4, 8}, {MOT_DTYPE_BF16, d, 4, 8}}, uneven[2] = {w, {MOT_DTYPE_F32, d, 3, 8}};
    mot_weight plain_q[2] = {{MOT_DTYPE_Q8_0, d, 4, 32}, {MOT_DTYPE_F32, d, 4, 32}};
    mot_weight q_wide = {MOT_DTYPE_Q8_0, d, 1, 16384}, q_odd = {MOT_DTYPE_Q8_0, (char *)d + 2, 4, 32};
    float *y2[2] = {d, d + 64};
    const int fused = mot_cuda_gemv_norm_takes(&q, NULL, 1, 1, 32, 0, NULL) == 1 &&
                      mot_cuda_gemv_norm_takes(&q, NULL, 1, MOT_CUDA_QUANT_GEMV_MAX_N + 1, 32, 0, NULL) == 0 &&
                      mot_cuda_gemv_norm_takes(&q_wide, NULL, 1, 1, 16384, 0, NULL) == 0 &&
                      mot_cuda_gemv_norm_takes(&q_odd, NULL, 1, 1, 32, 0, NULL) == 0 &&
                      mot_cuda_gemv_norm_takes(plain_q, NULL, 2, 1, 32, 0, NULL) == 0 &&
                      mot_cuda_gemv_norm_takes(mixed, NULL, 2, 1, 8, 0, NULL) == 0 &&
                      mot_cuda_gemv_norm_takes(uneven, NULL, 2, 1, 8, 1, NULL) == 0 &&
                      mot_cuda_gemv_norm_takes(&w, NULL, 1, 1, 8, 0, NULL) == 1 &&
                      mot_cuda_gemv_norm(y2, uneven, NULL, 2, d, d, 1e-5f, NULL, NULL, 0, 1, 1, NULL, (mot_cuda_stream)s) != MOT_OK;
    checks += 4;
    printf("%s fused gemv takes quantized weights; refuses mixed plain dtypes, plain beside quantized, uneven swiglu, "
           "quantized past %d rows, too wide or misaligned\n", fused ? "ok  " : "FAIL", MOT_CUDA_QUANT_GEMV_MAX_N);
    failures += !fused;
    printf("%s gemv refuses n > %d\n", too_many ? "ok  " : "FAIL", MOT_CUDA_GEMV_MAX_N);
    printf("%s gemv refuses a quantized weight\n", quant ? "ok  " : "FAIL");
    printf("%s gemv refuses a residual partly overlapping y\n", overlap ? "ok  " : "FAIL");
    failures += !too_many + !quant + !overlap;
    cudaFree(d);
}

int main(void) {
    if (mot_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device on this machine; the CUDA kernels were built but not run\n");
        return 77;
    }
    char desc[256];
    mot_cuda_device_describe(0, desc, sizeof desc);
    printf("device: %s\n", desc);
    cudaStream_t stream;
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    gemv_cases(stream);
    mot_cuda_blas *blas;
    if (mot_cuda_blas_create((mot_cuda_stream)stream, 4 << 20, &blas) != MOT_OK ||
        mot_cuda_blas_reserve(blas, (size_t)40 * 577 * 2) != MOT_OK ||
        mot_cuda_blas_reserve_dequant(blas, (size_t)100 * 577 * 4) != MOT_OK) {
        printf("FAIL: %s\n", mot_last_error());
        return 1;
    }
    static const mot_dtype lowp[] = {MOT_DTYPE_BF16, MOT_DTYPE_F16};
    for (int d = 0; d < 2; d++) {
        prefill_case(blas, lowp[d], MOT_CUDA_GEMV_MAX_N + 1, 300, 257, 0.0f, 0);
        prefill_case(blas, lowp[d], 33, 577, 64, 1.0f, 0);
        prefill_case(blas, lowp[d], 40, 250, 577, 0.0f, 0);
        prefill_case(blas, lowp[d], 40, 250, 577, 0.0f, 1);
    }
    mot_cuda_blas_destroy(blas);
    capture_case(stream);
    fused_cases(stream);
    quant_fused_cases(stream);
    multi_cases(stream);
    refusal_cases(stream);
    cudaStreamDestroy(stream);
    printf("%d checks, %d failed: %s\n", checks, failures, failures ? "FAILED" : "all CUDA GEMV checks passed");
    return failures ? 1 : 0;
}
