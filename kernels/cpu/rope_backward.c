/* The rotary embedding's backward (kernels/cpu/backward.h). The forward rotates each pair
 * (x[i], x[i + hd/2]) by the angle pos * inv_freq[i], an orthogonal map, so the gradient is
 * the rotation by minus that angle:
 *   (g[i], g[i + hd/2]) <- (g[i] c + g[i + hd/2] s, g[i + hd/2] c - g[i] s).
 * The angle is the same f32 product, through the same cosf/sinf, as mot_cpu_rope_append. */
#include <math.h>

#include "kernels/cpu/backward.h"

/* Frequencies per chunk (hd up to 256 is one chunk), cos/sin shared by all heads of a token. */
enum { FREQ_CHUNK = 128 };

static void unrotate_heads(float *g, int heads, int hd, int i0, const float *c, const float *s, int len) {
    const int half = hd / 2;
    for (int h = 0; h < heads; h++) {
        float *v = g + (int64_t)h * hd + i0;
        for (int i = 0; i < len; i++) {
            const float a = v[i], b = v[i + half];
            v[i] = a * c[i] + b * s[i];
            v[i + half] = b * c[i] - a * s[i];
        }
    }
}

/* dq [n, n_heads, hd], dk [n, n_kv, hd] (either may be NULL) */
void mot_cpu_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                           const float *inv_freq) {
    const int half = hd / 2;
#pragma omp parallel for schedule(static) if (n > 1)
    for (int t = 0; t < n; t++) {
        float c[FREQ_CHUNK], s[FREQ_CHUNK];
        for (int i0 = 0; i0 < half; i0 += FREQ_CHUNK) {
            const int len = half - i0 < FREQ_CHUNK ? half - i0 : FREQ_CHUNK;
            for (int i = 0; i < len; i++) {
                const float angle = (float)(pos0 + t) * inv_freq[i0 + i];
                c[i] = cosf(angle);
                s[i] = sinf(angle);
            }
            if (dq) {
                unrotate_heads(dq + (int64_t)t * n_heads * hd, n_heads, hd, i0, c, s, len);
            }
            if (dk) {
                unrotate_heads(dk + (int64_t)t * n_kv * hd, n_kv, hd, i0, c, s, len);
            }
        }
    }
}
