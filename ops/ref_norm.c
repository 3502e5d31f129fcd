/* Reference row norms: RMSNorm and LayerNorm (PyTorch nn.LayerNorm: biased variance), double
 * math throughout. */
#include <math.h>

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

/* x, out are [n, d]; w, b are [d] or NULL (weight 1, bias 0: the "without bias" form) */
void mot_ref_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps) {
    for (int t = 0; t < n; t++) {
        const float *xr = x + (int64_t)t * d;
        float *yr = out + (int64_t)t * d;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < d; i++) {
            mean += xr[i];
        }
        mean /= d;
        for (int i = 0; i < d; i++) {
            var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        }
        var /= d;
        const double inv = 1.0 / sqrt(var + (double)eps);
        for (int i = 0; i < d; i++) {
            const double y = ((double)xr[i] - mean) * inv;
            yr[i] = (float)((w ? y * (double)w[i] : y) + (b ? (double)b[i] : 0.0));
        }
    }
}
