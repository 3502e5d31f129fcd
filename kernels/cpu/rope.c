/* Rotary embedding, HF rotate-half layout, in place. The angle is the f32 product
 * pos * inv_freq (as HF computes it); cos/sin are computed once per token and chunk of
 * frequencies and shared by all heads. */
#include <math.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/simd_load.h"

enum { FREQ_CHUNK = 64 };

/* For i < len: (v[i], v[i + half]) rotated by (c[i], s[i]) */
static void rotate_pairs(float *v, int half, const float *c, const float *s, int len) {
    int i = 0;
    for (; i + 8 <= len; i += 8) {
        __m256 a = _mm256_loadu_ps(v + i), b = _mm256_loadu_ps(v + i + half);
        __m256 vc = _mm256_loadu_ps(c + i), vs = _mm256_loadu_ps(s + i);
        _mm256_storeu_ps(v + i, _mm256_fmsub_ps(a, vc, _mm256_mul_ps(b, vs)));
        _mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(b, vc, _mm256_mul_ps(a, vs)));
    }
    for (; i < len; i++) {
        float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
    }
}

static void rope_rows(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq) {
    const int half = hd / 2;
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        float c[FREQ_CHUNK], s[FREQ_CHUNK];
        for (int i0 = 0; i0 < half; i0 += FREQ_CHUNK) {
            int len = half - i0 < FREQ_CHUNK ? half - i0 : FREQ_CHUNK;
            for (int i = 0; i < len; i++) {
                float angle = (float)(pos0 + t) * inv_freq[i0 + i];
                c[i] = cosf(angle);
                s[i] = sinf(angle);
            }
            for (int h = 0; h < n_heads; h++) {
                rotate_pairs(x + ((int64_t)t * n_heads + h) * hd + i0, half, c, s, len);
            }
        }
    }
}

/* x is [n, n_heads, hd]; inv_freq is [hd/2] */
void mot_cpu_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq) {
    MOT_TEAM_RUN(n > 1, rope_rows(x, n, n_heads, hd, pos0, inv_freq));
}
