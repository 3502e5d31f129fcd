/* Rotary embedding, HF rotate-half layout, in place. The angle is the f32 product
 * pos * inv_freq (as HF computes it); cos/sin are computed once per token and chunk of
 * frequencies and shared by all heads. */
#include <math.h>
#include <string.h>

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

/* One token's heads of x [n_heads, hd] and of k [n_kv, hd], rotated for position pos. */
static void rope_token(float *x, int n_heads, float *k, int n_kv, int hd, int pos, const float *inv_freq) {
    const int half = hd / 2;
    float c[FREQ_CHUNK], s[FREQ_CHUNK];
    for (int i0 = 0; i0 < half; i0 += FREQ_CHUNK) {
        int len = half - i0 < FREQ_CHUNK ? half - i0 : FREQ_CHUNK;
        for (int i = 0; i < len; i++) {
            float angle = (float)pos * inv_freq[i0 + i];
            c[i] = cosf(angle);
            s[i] = sinf(angle);
        }
        for (int h = 0; h < n_heads; h++) {
            rotate_pairs(x + (int64_t)h * hd + i0, half, c, s, len);
        }
        for (int h = 0; h < n_kv; h++) {
            rotate_pairs(k + (int64_t)h * hd + i0, half, c, s, len);
        }
    }
}

static void rope_append_rows(float *q, float *k, const float *v, float *kc, float *vc, int64_t kv_stride,
                             int64_t head_stride, int n, int n_heads, int n_kv, int hd, int pos0,
                             const float *inv_freq) {
    const int64_t row = (int64_t)n_kv * hd;
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        float *kt = k + t * row;
        rope_token(q + (int64_t)t * n_heads * hd, n_heads, kt, n_kv, hd, pos0 + t, inv_freq);
        const int64_t at = (int64_t)(pos0 + t) * kv_stride;
        for (int g = 0; g < n_kv; g++) {
            memcpy(kc + at + g * head_stride, kt + (int64_t)g * hd, sizeof(float) * hd);
            memcpy(vc + at + g * head_stride, v + t * row + (int64_t)g * hd, sizeof(float) * hd);
        }
    }
}

void mot_cpu_rope_append(float *q, float *k, const float *v, float *kc, float *vc, int64_t kv_stride,
                         int64_t head_stride, int n, int n_heads, int n_kv, int hd, int pos0, const float *inv_freq) {
    MOT_TEAM_RUN(n > 1, rope_append_rows(q, k, v, kc, vc, kv_stride, head_stride, n, n_heads, n_kv, hd, pos0,
                                         inv_freq));
}
