/* Rotary embedding, HF rotate-half layout, in place, and its backward. The angle is the f32
 * product pos * inv_freq (as HF computes it); cos/sin are computed once per position and chunk
 * of frequencies and shared by all heads. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/simd_load.h"

/* Frequencies per chunk: hd up to 256 (every Llama and Mistral) is one chunk. */
enum { FREQ_CHUNK = 128 };

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

/* cos and sin of pos * inv[i], i < len, as this thread last computed them. Every layer of a
 * decode step rotates the same position with the same frequencies, so all but the first
 * find them here: the 32 cosf/sinf pairs of SmolLM-135M's hd 64 took 1.3 us of a layer's
 * 3.4 us RoPE. The key is the position and the frequencies' bits, not their address:
 * another model may be loaded where one was freed. */
typedef struct {
    int pos, len;
    float inv[FREQ_CHUNK], c[FREQ_CHUNK], s[FREQ_CHUNK];
} rope_angles;

static _Thread_local rope_angles last_angles = {.pos = -1};

static const rope_angles *angles_at(int pos, const float *inv, int len) {
    rope_angles *a = &last_angles;
    if (a->pos != pos || a->len != len || memcmp(a->inv, inv, sizeof(float) * (size_t)len) != 0) {
        for (int i = 0; i < len; i++) {
            const float angle = (float)pos * inv[i];
            a->c[i] = cosf(angle);
            a->s[i] = sinf(angle);
        }
        memcpy(a->inv, inv, sizeof(float) * (size_t)len);
        a->pos = pos, a->len = len;
    }
    return a;
}

/* One token's heads of q [n_q, hd] and of k [n_k, hd], rotated for position pos. */
static void rope_token(float *q, int n_q, float *k, int n_k, int hd, int pos, const float *inv_freq) {
    const int half = hd / 2;
    for (int i0 = 0; i0 < half; i0 += FREQ_CHUNK) {
        const int len = half - i0 < FREQ_CHUNK ? half - i0 : FREQ_CHUNK;
        const rope_angles *a = angles_at(pos, inv_freq + i0, len);
        for (int h = 0; h < n_q; h++) {
            rotate_pairs(q + (int64_t)h * hd + i0, half, a->c, a->s, len);
        }
        for (int h = 0; h < n_k; h++) {
            rotate_pairs(k + (int64_t)h * hd + i0, half, a->c, a->s, len);
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

/* The backward (kernels/cpu/backward.h). The forward rotates each pair (x[i], x[i + hd/2])
 * by the angle pos * inv_freq[i], an orthogonal map, so the gradient is the rotation by minus
 * that angle:
 *   (g[i], g[i + hd/2]) <- (g[i] c + g[i + hd/2] s, g[i + hd/2] c - g[i] s).
 * The angle is the same f32 product, through the same cosf/sinf, as mot_cpu_rope_append. */
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

static void rope_backward_rows(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                               const float *inv_freq) {
    const int half = hd / 2;
#pragma omp for schedule(static)
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

/* dq [n, n_heads, hd], dk [n, n_kv, hd] (either may be NULL) */
void mot_cpu_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                           const float *inv_freq) {
    MOT_TEAM_RUN(n > 1, rope_backward_rows(dq, dk, n, n_heads, n_kv, hd, pos0, inv_freq));
}
