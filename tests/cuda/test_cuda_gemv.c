/* The CUDA decode GEMV (kernels/cuda/matmul_gemv.cu) and the exact-precision GEMM over
 * f16/bf16 weights (kernels/cuda/matmul.cu) against the C reference (ops/ref_matmul.c, double
 * accumulation): every weight dtype, 1..MOT_CUDA_GEMV_MAX_N rows of x, odd widths (tails past
 * the last 16-byte word), rows whose start is not 16-byte aligned, x not 16-byte aligned,
 * with and without bias and residual (also the residual being y: accumulate). f32 x and f32
 * accumulation throughout, so one bound: normalized error <= 1e-5 (SPEC 1.7's exact contract
 * with room for the f32 sums). A GEMV is also captured into a CUDA Graph and replayed.
 * Needs a GPU: without one it says so and exits 77 (ctest: skipped). */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "kernels/cuda/cuda_kernels.h"
#include "tests/cuda/gpu_fixture.h"
#include "ops/ops.h"

#define BOUND_EXACT 1e-5

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
    const size_t count = (size_t)rows * cols, es = mot_dtype_size(dt);
    float *f = malloc((count ? count : 1) * sizeof(float));
    fx_fill_random(f, count, seed);
    test_weight w;
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

/* Arguments a GEMV refuses: too many rows of x, a quantized weight, a residual partly over y. */
static void refusal_cases(cudaStream_t s) {
    float *d = dev_alloc(4096);
    mot_weight w = {MOT_DTYPE_F32, d, 4, 8};
    const int too_many = mot_cuda_matmul_gemv(d, d, &w, MOT_CUDA_GEMV_MAX_N + 1, NULL, NULL, (mot_cuda_stream)s) != MOT_OK;
    mot_weight q = {MOT_DTYPE_Q8_0, d, 4, 32};
    const int quant = mot_cuda_matmul_gemv(d, d, &q, 1, NULL, NULL, (mot_cuda_stream)s) != MOT_OK;
    const int overlap = mot_cuda_matmul_gemv(d + 100, d, &w, 2, NULL, d + 101, (mot_cuda_stream)s) != MOT_OK;
    checks += 3;
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
    refusal_cases(stream);
    cudaStreamDestroy(stream);
    printf("%d checks, %d failed: %s\n", checks, failures, failures ? "FAILED" : "all CUDA GEMV checks passed");
    return failures ? 1 : 0;
}
