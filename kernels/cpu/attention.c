/* Causal grouped-query attention with an optional sliding window, f32 throughout.
 * Each (query, head) pair is independent: scores of a chunk of keys, softmax with a
 * running max (online softmax), then the probability-weighted sum of V rows. Pairs are
 * handed out dynamically because causal rows differ in length. */
#include <math.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/simd_math.h"

enum { KEY_CHUNK = 512 };

/* q . k over hd elements */
static float dot(const float *q, const float *k, int hd) {
    __m256 a = _mm256_setzero_ps(), b = a;
    int i = 0;
    for (; i + 16 <= hd; i += 16) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a);
        b = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), b);
    }
    if (i + 8 <= hd) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a);
        i += 8;
    }
    float s = mot_hsum8(_mm256_add_ps(a, b));
    for (; i < hd; i++) {
        s += q[i] * k[i];
    }
    return s;
}

/* o[hd] = keep * o + sum_j p[j] v[j * stride + :], j in [0, len); v already offset to the
 * kv head. Chunks of 32 output lanes stay in 4 registers across all j. */
static void weighted_sum(float *o, float keep, const float *p, const float *v, int64_t stride,
                         int len, int hd) {
    const __m256 vk = _mm256_set1_ps(keep);
    int i0 = 0;
    for (; i0 + 32 <= hd; i0 += 32) {
        __m256 a0 = _mm256_mul_ps(vk, _mm256_loadu_ps(o + i0));
        __m256 a1 = _mm256_mul_ps(vk, _mm256_loadu_ps(o + i0 + 8));
        __m256 a2 = _mm256_mul_ps(vk, _mm256_loadu_ps(o + i0 + 16));
        __m256 a3 = _mm256_mul_ps(vk, _mm256_loadu_ps(o + i0 + 24));
        for (int j = 0; j < len; j++) {
            const float *vj = v + j * stride + i0;
            __m256 pj = _mm256_broadcast_ss(p + j);
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 24), a3);
        }
        _mm256_storeu_ps(o + i0, a0);
        _mm256_storeu_ps(o + i0 + 8, a1);
        _mm256_storeu_ps(o + i0 + 16, a2);
        _mm256_storeu_ps(o + i0 + 24, a3);
    }
    for (; i0 + 8 <= hd; i0 += 8) {
        __m256 a0 = _mm256_mul_ps(vk, _mm256_loadu_ps(o + i0));
        for (int j = 0; j < len; j++) {
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(v + j * stride + i0), a0);
        }
        _mm256_storeu_ps(o + i0, a0);
    }
    for (; i0 < hd; i0++) {
        float a = keep * o[i0];
        for (int j = 0; j < len; j++) {
            a += p[j] * v[j * stride + i0];
        }
        o[i0] = a;
    }
}

/* p[j] = exp(p[j] - mx) for j < len; returns their sum. */
static float exp_minus_max(float *p, int len, float mx) {
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= len; j += 8) {
        __m256 e = mot_exp8(_mm256_sub_ps(_mm256_loadu_ps(p + j), vm));
        _mm256_storeu_ps(p + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = mot_hsum8(acc);
    for (; j < len; j++) {
        p[j] = expf(p[j] - mx);
        sum += p[j];
    }
    return sum;
}

/* One query row of one head over keys [first, last], o is [hd]. Keys go in chunks of
 * KEY_CHUNK with the online-softmax rescaling, so no buffer grows with the context;
 * with one chunk this is exactly the two-pass softmax. */
static void attend_one(float *o, const float *qv, const float *k, const float *v, int64_t stride,
                       int first, int last, int hd, float scale) {
    float p[KEY_CHUNK];
    float m = -INFINITY, sum = 0.0f;
    for (int i = 0; i < hd; i++) {
        o[i] = 0.0f;
    }
    for (int j0 = first; j0 <= last; j0 += KEY_CHUNK) {
        int len = last - j0 + 1 < KEY_CHUNK ? last - j0 + 1 : KEY_CHUNK;
        const float *kc = k + (int64_t)j0 * stride;
        float mc = m;
        for (int j = 0; j < len; j++) {
            p[j] = dot(qv, kc + j * stride, hd) * scale;
            mc = p[j] > mc ? p[j] : mc;
        }
        float keep = expf(m - mc); /* 0 on the first chunk (m = -inf) */
        float chunk_sum = exp_minus_max(p, len, mc);
        sum = sum * keep + chunk_sum;
        weighted_sum(o, keep, p, v + (int64_t)j0 * stride, stride, len, hd);
        m = mc;
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < hd; i++) {
        o[i] *= inv;
    }
}

/* q, out are [n, n_heads, hd]; k, v are [pos0 + n, kv_stride] */
void mot_cpu_attention(float *out, const float *q, const float *k, const float *v, int kv_stride,
                       int n, int pos0, int n_heads, int n_kv, int hd, int window, float scale) {
    const int group = n_heads / n_kv;
    const int64_t pairs = (int64_t)n * n_heads;
#pragma omp parallel for schedule(dynamic, 4) if (pairs > 1)
    for (int64_t ph = 0; ph < pairs; ph++) {
        int t = (int)(ph / n_heads), h = (int)(ph % n_heads);
        int pos = pos0 + t;
        int first = (window > 0 && pos - window + 1 > 0) ? pos - window + 1 : 0;
        int g = h / group;
        attend_one(out + ph * hd, q + ph * hd, k + (int64_t)g * hd, v + (int64_t)g * hd,
                   kv_stride, first, pos, hd, scale);
    }
}
