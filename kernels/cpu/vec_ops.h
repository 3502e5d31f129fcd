/* f32 dot and axpy over short vectors (a head's hd), AVX2 with a scalar tail: the attention
 * backward kernels' inner loops (attention_backward.c, cross_attention_backward.c). */
#ifndef MOT_KERNELS_CPU_VEC_OPS_H
#define MOT_KERNELS_CPU_VEC_OPS_H

#include "kernels/cpu/simd_load.h"

/* sum_i a[i] b[i] */
MOT_INLINE float mot_vec_dot(const float *a, const float *b, int len) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= len; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    if (i + 8 <= len) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        i += 8;
    }
    float s = mot_hsum8(_mm256_add_ps(s0, s1));
    for (; i < len; i++) {
        s += a[i] * b[i];
    }
    return s;
}

/* y[i] += alpha x[i] */
MOT_INLINE void mot_vec_axpy(float *y, float alpha, const float *x, int len) {
    const __m256 va = _mm256_set1_ps(alpha);
    int i = 0;
    for (; i + 8 <= len; i += 8) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    }
    for (; i < len; i++) {
        y[i] += alpha * x[i];
    }
}

#endif
