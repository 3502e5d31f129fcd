/* Reference rotary embedding, the ROPE_APPEND plan op (RoPE + KV-cache append), and the
 * rotary embedding's backward. */
#include <math.h>
#include <string.h>

#include "ops/ops.h"

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

/* The ROPE_APPEND plan op: mot_ref_rope on q [n, n_heads, hd] and k [n, n_kv, hd] in place,
 * then k and v into the caches (kv head g of position pos0 + t at (pos0 + t) * kv_stride +
 * g * head_stride). */
void mot_ref_rope_append(float *q, float *k, const float *v, float *kc, float *vc, int64_t kv_stride,
                         int64_t head_stride, int n, int n_heads, int n_kv, int hd, int pos0, const float *inv_freq) {
    mot_ref_rope(q, n, n_heads, hd, pos0, inv_freq);
    mot_ref_rope(k, n, n_kv, hd, pos0, inv_freq);
    for (int t = 0; t < n; t++) {
        for (int g = 0; g < n_kv; g++) {
            const int64_t at = (int64_t)(pos0 + t) * kv_stride + (int64_t)g * head_stride;
            const int64_t src = ((int64_t)t * n_kv + g) * hd;
            memcpy(kc + at, k + src, sizeof(float) * (size_t)hd);
            memcpy(vc + at, v + src, sizeof(float) * (size_t)hd);
        }
    }
}

/* The backward: the forward rotates each pair (x_i, x_{i+half}) by the angle a = the f32
 * product pos * inv_freq[i]; its gradient is the rotation by -a,
 *   (g_i, g_{i+half}) -> (g_i cos a + g_{i+half} sin a, g_{i+half} cos a - g_i sin a),
 * in place on x [n, heads, hd], cos/sin and the products in double. */
static void rope_back(float *x, int n, int heads, int hd, int pos0, const float *inv_freq) {
    const int half = hd / 2;
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < heads; h++) {
            float *v = x + ((int64_t)t * heads + h) * hd;
            for (int i = 0; i < half; i++) {
                const float angle = (float)(pos0 + t) * inv_freq[i];
                const double c = cos((double)angle), s = sin((double)angle);
                const double a = v[i], b = v[i + half];
                v[i] = (float)(a * c + b * s);
                v[i + half] = (float)(b * c - a * s);
            }
        }
    }
}

/* dq [n, n_heads, hd], dk [n, n_kv, hd] (either NULL: absent) of the tokens at pos0.. */
void mot_ref_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                           const float *inv_freq) {
    if (dq) {
        rope_back(dq, n, n_heads, hd, pos0, inv_freq);
    }
    if (dk) {
        rope_back(dk, n, n_kv, hd, pos0, inv_freq);
    }
}
