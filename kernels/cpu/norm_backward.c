/* The norms' backward (kernels/cpu/backward.h): RMSNorm (frozen weight) and LayerNorm
 * (trainable weight and bias). Per-row reductions (sum x^2, sum dy w x, mean, variance, the
 * two means of LayerNorm's dx) in double: a row's d terms of mixed sign would otherwise lose
 * their low bits to cancellation; the elementwise parts are f32 as in the forward. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/row_ops.h"

/* y = x r w, r = (sum x^2 / d + eps)^-1/2, so dr/dx_i = -r^3 x_i / d and
 * dx_i = r w_i dy_i - x_i r^3 / d * sum_j dy_j w_j x_j. x, dy, dx [n, d]. */
void mot_cpu_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, int n, int d,
                              float eps, int accumulate) {
#pragma omp parallel for schedule(static) if (n > 1)
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

/* xh = (x - mean) r, r = (var + eps)^-1/2, y = xh w + b; with g = dy w:
 * dx_i = r (g_i - mean(g) - xh_i mean(g xh)); dw += sum_t dy xh, db += sum_t dy.
 * w may be NULL (weight 1), dw and db NULL (not wanted), as the forward takes them. */
void mot_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, int n, int d, float eps) {
    /* per row mean and r, kept for the column pass (dw, db) */
    double *stats = malloc(sizeof(double) * 2 * (size_t)(n > 0 ? n : 1));
#pragma omp parallel if (n > 1)
    {
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
    }
    free(stats);
}
