/* Reference element-wise ops: RMSNorm, rotary embedding, SwiGLU. */
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

/* x is [n, n_heads, hd]. The angle is the f32 product pos * inv_freq, as HF computes it
 * (at pos ~ 4000 the f32 rounding of the angle is ~1e-4 rad, far above our tolerance, so
 * the reference must round the same way); cos/sin of it are taken in double. */
void mot_ref_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq) {
    int half = hd / 2;
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((int64_t)t * n_heads + h) * hd;
            for (int i = 0; i < half; i++) {
                float angle = (float)(pos0 + t) * inv_freq[i];
                double c = cos((double)angle), s = sin((double)angle);
                double a = v[i], b = v[i + half];
                v[i] = (float)(a * c - b * s);
                v[i + half] = (float)(b * c + a * s);
            }
        }
    }
}

/* gate, up, out are [n, f] */
void mot_ref_swiglu(float *out, const float *gate, const float *up, int n, int f) {
    for (int64_t i = 0; i < (int64_t)n * f; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * (double)up[i]);
    }
}
