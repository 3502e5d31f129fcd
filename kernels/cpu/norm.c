/* The row norms, forward and backward:
 *   RMSNorm   as HF LlamaRMSNorm computes it in f32: x * rsqrt(mean(x^2) + eps) * w;
 *   LayerNorm of the latent rows (PyTorch nn.LayerNorm: biased variance, f64 statistics). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/row_ops.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"

void mot_cpu_rmsnorm_row(float *yr, const float *xr, const float *w, int d, float eps) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 a = _mm256_loadu_ps(xr + i), b = _mm256_loadu_ps(xr + i + 8);
        acc0 = _mm256_fmadd_ps(a, a, acc0);
        acc1 = _mm256_fmadd_ps(b, b, acc1);
    }
    float ss = mot_hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < d; i++) {
        ss += xr[i] * xr[i];
    }
    float inv = 1.0f / sqrtf(ss / (float)d + eps);
    __m256 vinv = _mm256_set1_ps(inv);
    i = 0;
    for (; i + 8 <= d; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv);
        _mm256_storeu_ps(yr + i, _mm256_mul_ps(v, _mm256_loadu_ps(w + i)));
    }
    for (; i < d; i++) {
        yr[i] = xr[i] * inv * w[i];
    }
}

/* x, out are [n, d] (out may equal x); w is [d] */
static void rmsnorm_rows(float *out, const float *x, const float *w, int n, int d, float eps) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        mot_cpu_rmsnorm_row(out + (int64_t)t * d, x + (int64_t)t * d, w, d, eps);
    }
}

void mot_cpu_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps) {
    MOT_TEAM_RUN(n > 1, rmsnorm_rows(out, x, w, n, d, eps));
}

/* LayerNorm. w or b NULL: weight 1 / bias 0, as the CUDA kernel (kernels/cuda/norm.cu) and the
 * reference (ops/ref_norm.c) take them; this kernel used to dereference them regardless. */
static void layernorm_rows(float *out, const float *x, const float *w, const float *b, int n, int d, float eps) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * d;
        float *o = out + (size_t)t * d;
        double mean, var;
        mot_cpu_row_mean_var(xr, d, &mean, &var);
        const float inv = (float)(1.0 / sqrt(var + eps));
        for (int i = 0; i < d; i++) {
            const float y = (float)(xr[i] - mean) * inv;
            o[i] = (w ? y * w[i] : y) + (b ? b[i] : 0.0f);
        }
    }
}

void mot_cpu_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps) {
    MOT_TEAM_RUN(n > 1, layernorm_rows(out, x, w, b, n, d, eps));
}

/* The backward (kernels/cpu/backward.h): RMSNorm (frozen weight) and LayerNorm (trainable
 * weight and bias). Per-row reductions (sum x^2, sum dy w x, mean, variance, the two means of
 * LayerNorm's dx) in double: a row's d terms of mixed sign would otherwise lose their low bits
 * to cancellation; the elementwise parts are f32 as in the forward. */

/* y = x r w, r = (sum x^2 / d + eps)^-1/2, so dr/dx_i = -r^3 x_i / d and
 * dx_i = r w_i dy_i - x_i r^3 / d * sum_j dy_j w_j x_j. x, dy, dx [n, d]. */
static void rmsnorm_backward_rows(float *dx, const float *dy, const float *x, const float *w, int n, int d,
                                  float eps, int accumulate) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *xr = x + (int64_t)t * d, *gr = dy + (int64_t)t * d;
        float *o = dx + (int64_t)t * d;
        double ss = 0.0, dot = 0.0;
        for (int i = 0; i < d; i++) {
            ss += (double)xr[i] * xr[i];
            dot += (double)gr[i] * w[i] * xr[i];
        }
        const double r = 1.0 / sqrt(ss / d + eps);
        const float rf = (float)r, cf = (float)(r * r * r * dot / d);
        for (int i = 0; i < d; i++) {
            const float g = rf * w[i] * gr[i] - cf * xr[i];
            o[i] = accumulate ? o[i] + g : g;
        }
    }
}

void mot_cpu_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, int n, int d,
                              float eps, int accumulate) {
    MOT_TEAM_RUN(n > 1, rmsnorm_backward_rows(dx, dy, x, w, n, d, eps, accumulate));
}

/* xh = (x - mean) r, r = (var + eps)^-1/2, y = xh w + b; with g = dy w:
 * dx_i = r (g_i - mean(g) - xh_i mean(g xh)); dw += sum_t dy xh, db += sum_t dy.
 * w may be NULL (weight 1), dw and db NULL (not wanted), as the forward takes them. */
static void layernorm_backward_rows(float *dx, float *dw, float *db, const float *dy, const float *x,
                                    const float *w, int n, int d, float eps) {
    /* per row mean and r, kept for the column pass (dw, db): one buffer for the team */
    double *stats;
#pragma omp single copyprivate(stats)
    stats = malloc(sizeof(double) * 2 * (size_t)(n > 0 ? n : 1));
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *xr = x + (int64_t)t * d, *gr = dy + (int64_t)t * d;
        float *o = dx + (int64_t)t * d;
        double mean, var;
        mot_cpu_row_mean_var(xr, d, &mean, &var);
        const double r = 1.0 / sqrt(var + eps);
        double mg = 0.0, mgx = 0.0;
        for (int i = 0; i < d; i++) {
            const double g = (double)gr[i] * (w ? w[i] : 1.0f);
            mg += g;
            mgx += g * (xr[i] - mean) * r;
        }
        mg /= d, mgx /= d;
        for (int i = 0; i < d; i++) {
            const double g = (double)gr[i] * (w ? w[i] : 1.0f), xh = (xr[i] - mean) * r;
            o[i] = (float)(r * (g - mg - xh * mgx));
        }
        if (stats) {
            stats[2 * t] = mean, stats[2 * t + 1] = r;
        }
    }
    /* dw, db: columns split over the threads, each summing its columns over the rows in
     * order (no per-thread partials to merge). */
    if (dw || db) {
#pragma omp for schedule(static)
        for (int i = 0; i < d; i++) {
            double sw = 0.0, sb = 0.0;
            for (int t = 0; t < n; t++) {
                const float xi = x[(int64_t)t * d + i], gi = dy[(int64_t)t * d + i];
                double mean, r;
                if (stats) {
                    mean = stats[2 * t], r = stats[2 * t + 1];
                } else { /* out of memory: the row's statistics again, same values */
                    const float *xr = x + (int64_t)t * d;
                    double m = 0.0, v = 0.0;
                    for (int j = 0; j < d; j++) {
                        m += xr[j];
                    }
                    m /= d;
                    for (int j = 0; j < d; j++) {
                        v += (xr[j] - m) * (xr[j] - m);
                    }
                    mean = m, r = 1.0 / sqrt(v / d + eps);
                }
                sw += gi * (xi - mean) * r;
                sb += gi;
            }
            if (dw) {
                dw[i] += (float)sw;
            }
            if (db) {
                db[i] += (float)sb;
            }
        }
    }
    /* after the last loop's barrier no thread reads stats: freed without another barrier */
#pragma omp single nowait
    free(stats);
}

void mot_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, int n, int d, float eps) {
    MOT_TEAM_RUN(n > 1, layernorm_backward_rows(dx, dw, db, dy, x, w, n, d, eps));
}
