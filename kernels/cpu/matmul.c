/* mot_cpu_matmul: picks the implementation by the number of tokens and the weight dtype.
 *
 * Measured on the EPYC (Zen 3) build machine, 2 threads, 2048x2048 weights (in L3),
 * GFLOP/s (the machine is shared: +-10%):
 *             n:    1     2     4     6     8    12    16    24    32
 *   bf16 gemv:   62.0  65.7  68.5  70.0  69.0  68.8  70.8  64.4  66.0
 *   bf16 gemm:    8.8  17.3  35.5  41.4  56.6  71.9  82.3  94.3 108.1
 *   f32  gemv:   37.7  39.8  40.2  40.9  40.2  40.2  40.7  40.4  41.5
 *   f32  gemm:    8.8  17.7  38.0  40.6  54.3  74.0  85.3  97.8 103.9
 * The GEMV reads each weight once for all tokens but has no register blocking across
 * tokens; the GEMM's packing (a transpose of every weight) and its 4-token tiles pay off
 * from ~8 (f32) or ~12-16 (bf16/f16, whose GEMV loop is cheaper per byte) tokens on.
 * That was the 4-rows-at-once GEMV, which shared each x load between 4 rows. The row-at-a-
 * time GEMV (matmul_gemv.c) does not, and bf16 moved to 8 as well: bench_kernels at 2
 * threads, n = 12, bf16 GEMM 46-95 GFLOP/s against GEMV 44-51 (GEMM ahead on 7 of 8 shapes;
 * n = 8 about level, n = 4 GEMV ahead); `mot bench -p 12` with the crossover at 8 instead of
 * 16: SmolLM-135M bf16 1.13x and 1.54x, TinyLlama-1.1B bf16 1.28x.
 * At n = 128 the GEMM beats OpenBLAS's cblas_sgemm on the model shapes measured
 * (tests/ops/bench_results.md): f32 from -2% (noise) to +20%, bf16 by 2-3x (BLAS needs a
 * conversion pass first), so BLAS is not used at dispatch.
 * Quantized weights (bench_kernels --only qgemm, 2 threads, a loaded machine: the figures
 * below are from the runs' quiet moments), GEMV / GEMM GFLOP/s on 1536x576 and 576x576:
 *   n = 4: GEMV ahead (Q4_K 54.4 / 31.7, Q4_1 48.8 / 46.8, Q5_K 40.1 / 30.3);
 *   n = 6: about level (Q4_K 54.7 / 55.1, Q4_1 47.7 / 50.6, Q5_K 39.8 / 39.5);
 *   n = 8: GEMM ahead (Q4_K 54.8 / 73.0, Q8_0 45.9 / 55.4, Q5_K 42.4 / 68.9, Q6_K 31.1 / 49.2).
 * The quantized GEMV dequantizes every row once per token (the packed GEMM once per panel),
 * so it falls behind from about the same point as bf16: gemm_from_quant = 8.
 *
 * Also here: the two variants it is measured against (tests/ops, bench_kernels), never picked
 * at dispatch: the plain parallel loop and cblas_sgemm.
 */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"

#ifdef MOT_HAVE_BLAS
#include <cblas.h>
#endif

/* Rows from which the packed GEMM replaces the GEMV (schedules may move them). */
static int gemm_from_f32 = 8, gemm_from_lowp = 8, gemm_from_quant = 8;

void mot_cpu_set_gemm_from(int f32, int lowp) {
    gemm_from_f32 = f32 > 1 ? f32 : 2;
    gemm_from_lowp = lowp > 1 ? lowp : 2;
}

void mot_cpu_set_gemm_from_quant(int quant) { gemm_from_quant = quant > 1 ? quant : 2; }

static int gemm_from(mot_dtype dt) {
    return dt == MOT_DTYPE_F32 ? gemm_from_f32 : mot_dtype_is_quantized(dt) ? gemm_from_quant : gemm_from_lowp;
}

void mot_cpu_matmul(float *y, const float *x, const mot_weight *w, int n) {
    if (n <= 0) {
        return;
    }
    if (n < gemm_from(w->dtype)) {
        mot_cpu_matmul_gemv(y, x, w, n); /* takes precision: fast itself */
    } else if (mot_cpu_precision_fast() && mot_cpu_qgemm_fast_ok(w->dtype)) {
        mot_cpu_matmul_qgemm_fast(y, x, w, n);
    } else {
        mot_cpu_matmul_gemm(y, x, w, n);
    }
}

int mot_cpu_matmul_is_gemv(const mot_matmul_job *jobs, int n_jobs, int n) {
    /* same cols; the dtypes may differ (the GEMV takes each job's own), and it is the GEMV
     * while every job's dtype would take it alone */
    int ok = n_jobs > 0 && n > 0;
    for (int j = 0; ok && j < n_jobs; j++) {
        ok = jobs[j].w->cols == jobs[0].w->cols && n < gemm_from(jobs[j].w->dtype);
    }
    return ok;
}

/* The fusion is the GEMV's (matmul_gemv.c); whether it may run is the dispatch's choice. */
int mot_cpu_gemv_can_fuse(const mot_matmul_job *jobs, int n_jobs, int n, const mot_gemv_fusion *f) {
    if (!mot_cpu_matmul_is_gemv(jobs, n_jobs, n)) {
        return 0;
    }
    if (f->norm_w && (int64_t)n * jobs[0].w->cols > MOT_GEMV_FUSE_MAX_FLOATS) {
        return 0;
    }
    if (f->swiglu) {
        return n_jobs == 2 && jobs[0].w->rows == jobs[1].w->rows && !jobs[0].bias && !jobs[1].bias &&
               !jobs[0].accumulate && !jobs[1].accumulate;
    }
    return 1;
}

void mot_cpu_matmul_multi(const mot_matmul_job *jobs, int n_jobs, const float *x, int n) {
    if (mot_cpu_matmul_is_gemv(jobs, n_jobs, n)) {
        mot_cpu_matmul_gemv_multi(jobs, n_jobs, x, n);
        return;
    }
    for (int j = 0; j < n_jobs; j++) {
        mot_cpu_matmul(jobs[j].y, x, jobs[j].w, n);
    }
}

/* The plain parallel loop: one dot product per (token, weight row), for comparison. */
static void naive_team(float *y, const float *x, const mot_weight *w, int n) {
    const int64_t rows = w->rows, cols = w->cols;
    if (mot_dtype_is_quantized(w->dtype)) { /* each row dequantized, then the plain loop */
        const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
        float wr[cols > 0 ? cols : 1];
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            mot_cpu_dequant_row(w->dtype, (const char *)w->data + (size_t)r * row_bytes, cols, wr);
            for (int t = 0; t < n; t++) {
                const float *xt = x + (int64_t)t * cols;
                float s = 0.0f;
                for (int64_t c = 0; c < cols; c++) {
                    s += wr[c] * xt[c];
                }
                y[(int64_t)t * rows + r] = s;
            }
        }
        return;
    }
    const int64_t stride = cols * mot_weight_elem_size(w->dtype);
    const mot_dtype dt = w->dtype;
#pragma omp for collapse(2) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        for (int t = 0; t < n; t++) {
            const char *wr = (const char *)w->data + r * stride;
            const float *xt = x + (int64_t)t * cols;
            float s = 0.0f;
            for (int64_t c = 0; c < cols; c++) {
                s += mot_load1(wr, c, dt) * xt[c];
            }
            y[(int64_t)t * rows + r] = s;
        }
    }
}

void mot_cpu_matmul_naive(float *y, const float *x, const mot_weight *w, int n) {
    MOT_TEAM_RUN(1, naive_team(y, x, w, n));
}

/* cblas_sgemm as a matmul, for comparison with our GEMM. */
#ifdef MOT_HAVE_BLAS
/* W converted to f32 ([rows, cols]), in parallel. */
static float *weight_as_f32(const mot_weight *w) {
    float *f = malloc(sizeof(float) * (size_t)w->rows * (size_t)w->cols);
    if (!f) {
        return NULL;
    }
    const int64_t total = w->rows * w->cols;
    const mot_dtype dt = w->dtype;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < total / 8; i++) {
        _mm256_storeu_ps(f + i * 8, mot_load8(w->data, i * 8, dt));
    }
    for (int64_t i = total / 8 * 8; i < total; i++) {
        f[i] = mot_load1(w->data, i, dt);
    }
    return f;
}

int mot_cpu_matmul_blas(float *y, const float *x, const mot_weight *w, int n) {
    if (mot_dtype_is_quantized(w->dtype)) {
        return 0; /* not for comparison: the quantized types have their own GEMM packing */
    }
    float *owned = NULL;
    const float *wf = w->data;
    if (w->dtype != MOT_DTYPE_F32) {
        owned = weight_as_f32(w);
        if (!owned) {
            return 0;
        }
        wf = owned;
    }
#ifdef OPENBLAS_VERSION
    openblas_set_num_threads(omp_get_max_threads()); /* same thread count as our kernels */
#endif
    /* y[n, rows] = x[n, cols] . W[rows, cols]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)w->rows, (int)w->cols, 1.0f, x,
                (int)w->cols, wf, (int)w->cols, 0.0f, y, (int)w->rows);
    free(owned);
    return 1;
}
#else
int mot_cpu_matmul_blas(float *y, const float *x, const mot_weight *w, int n) { return 0; }
#endif
