/* Reference row norms, forward and backward: RMSNorm and LayerNorm (PyTorch nn.LayerNorm:
 * biased variance), double math throughout. */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"

/* x, out are [n, d]; w is [d] */
void mot_ref_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps) {
    for (int t = 0; t < n; t++) {
        const float *xr = x + (int64_t)t * d;
        float *yr = out + (int64_t)t * d;
        double ss = 0.0;
        for (int i = 0; i < d; i++) {
            ss += (double)xr[i] * xr[i];
        }
        double inv = 1.0 / sqrt(ss / d + (double)eps);
        for (int i = 0; i < d; i++) {
            yr[i] = (float)((double)xr[i] * inv * (double)w[i]);
        }
    }
}

/* A row's mean and 1 / sqrt(biased variance + eps), in double (LayerNorm's forward and
 * backward). */
static void row_stats(const float *x, int d, float eps, double *mean, double *rstd) {
    double m = 0.0, var = 0.0;
    for (int i = 0; i < d; i++) {
        m += x[i];
    }
    m /= d;
    for (int i = 0; i < d; i++) {
        var += ((double)x[i] - m) * ((double)x[i] - m);
    }
    var /= d;
    *mean = m, *rstd = 1.0 / sqrt(var + (double)eps);
}

/* x, out are [n, d]; w, b are [d] or NULL (weight 1, bias 0: the "without bias" form) */
void mot_ref_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps) {
    for (int t = 0; t < n; t++) {
        const float *xr = x + (int64_t)t * d;
        float *yr = out + (int64_t)t * d;
        double mean, inv;
        row_stats(xr, d, eps, &mean, &inv);
        for (int i = 0; i < d; i++) {
            const double y = ((double)xr[i] - mean) * inv;
            yr[i] = (float)((w ? y * (double)w[i] : y) + (b ? (double)b[i] : 0.0));
        }
    }
}

/* The backwards (kernels/cpu/backward.h), the analytic gradients in double.
 * RMSNorm, y = x r w, r = (sum x^2 / d + eps)^-1/2 (w frozen):
 *   dx_i = r w_i dy_i - x_i r^3 / d * sum_j dy_j w_j x_j   (accumulate: dx +=). */
void mot_ref_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, int n, int d, float eps,
                              int accumulate) {
    for (int t = 0; t < n; t++) {
        const float *xr = x + (int64_t)t * d, *gr = dy + (int64_t)t * d;
        float *o = dx + (int64_t)t * d;
        double ss = 0.0, s = 0.0;
        for (int i = 0; i < d; i++) {
            ss += (double)xr[i] * xr[i];
            s += (double)gr[i] * (double)w[i] * (double)xr[i];
        }
        const double r = 1.0 / sqrt(ss / d + (double)eps);
        for (int i = 0; i < d; i++) {
            const double g = r * (double)w[i] * (double)gr[i] - (double)xr[i] * r * r * r * s / d;
            o[i] = (float)(accumulate ? (double)o[i] + g : g);
        }
    }
}

/* LayerNorm, xh = (x - mean) r, r = (var + eps)^-1/2, y = xh w + b (w, b NULL: 1, 0); with
 * g = dy w: dx_i = r (g_i - mean(g) - xh_i mean(g xh)), overwritten; dw += sum_t dy xh,
 * db += sum_t dy (each NULL: not wanted). */
void mot_ref_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                                int n, int d, float eps) {
    double *sw = calloc((size_t)(d > 0 ? d : 1), sizeof(double)), *sb = calloc((size_t)(d > 0 ? d : 1), sizeof(double));
    if (!sw || !sb) {
        free(sw), free(sb);
        return;
    }
    for (int t = 0; t < n; t++) {
        const float *xr = x + (int64_t)t * d, *gr = dy + (int64_t)t * d;
        double mean, r;
        row_stats(xr, d, eps, &mean, &r);
        double mg = 0.0, mgx = 0.0;
        for (int i = 0; i < d; i++) {
            const double g = (double)gr[i] * (w ? (double)w[i] : 1.0), xh = ((double)xr[i] - mean) * r;
            mg += g;
            mgx += g * xh;
            sw[i] += (double)gr[i] * xh;
            sb[i] += gr[i];
        }
        mg /= d, mgx /= d;
        for (int i = 0; i < d; i++) {
            const double g = (double)gr[i] * (w ? (double)w[i] : 1.0), xh = ((double)xr[i] - mean) * r;
            dx[(int64_t)t * d + i] = (float)(r * (g - mg - xh * mgx));
        }
    }
    for (int i = 0; i < d; i++) {
        if (dw) {
            dw[i] = (float)((double)dw[i] + sw[i]);
        }
        if (db) {
            db[i] = (float)((double)db[i] + sb[i]);
        }
    }
    free(sw), free(sb);
}
