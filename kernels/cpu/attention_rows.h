/* Pieces of one query row's attention that the forward kernels (attention.c, one row at a
 * time; attention_blocked.c, blocks of rows) and the backward (attention_backward.c) share, so
 * that they see the same keys and round the softmax the same way. */
#ifndef MOT_KERNELS_CPU_ATTENTION_ROWS_H
#define MOT_KERNELS_CPU_ATTENTION_ROWS_H

#include <immintrin.h>
#include <math.h>

#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/simd_math.h"

/* The first key the query at pos sees: j <= pos and pos - j < window (window 0: no window). */
static inline int mot_attn_first_key(int pos, int window) {
    return window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
}

/* p[j] = exp(p[j] - mx) for j < len; returns their sum. */
static inline float mot_attn_exp_minus_max(float *p, int len, float mx) {
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

#endif
