/* Greedy sampling's arg-max over the vocabulary, vectorised. The scalar loop it replaces
 * (`if (x[i] > x[best]) best = i`) carried a load-compare dependency through every element:
 * ~50 us for 49152 logits, 0.5% of a SmolLM-135M decode step, on one thread while the others
 * wait. Same answer: the first index of the largest value, NaNs never win, and a NaN at
 * x[0] (where the scalar loop could not move) gives 0. */
#include <immintrin.h>

#include "kernels/cpu/kernels.h"

static int argmax_scalar(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

int mot_cpu_argmax(const float *x, int n) {
    if (n < 16 || x[0] != x[0]) {
        return argmax_scalar(x, n);
    }
    /* pass 1: the largest non-NaN value (max_ps returns its second operand when the first is
     * NaN, so NaN lanes keep the running maximum) */
    __m256 m = _mm256_set1_ps(x[0]);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    }
    float lanes[8], max = x[0];
    _mm256_storeu_ps(lanes, m);
    for (int k = 0; k < 8; k++) {
        max = lanes[k] > max ? lanes[k] : max;
    }
    for (; i < n; i++) {
        max = x[i] > max ? x[i] : max;
    }
    /* pass 2: its first index (-0 == +0, as the scalar loop's "not greater" treats them) */
    const __m256 vm = _mm256_set1_ps(max);
    for (i = 0; i + 8 <= n; i += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vm, _CMP_EQ_OQ));
        if (mask) {
            return i + __builtin_ctz((unsigned)mask);
        }
    }
    for (; i < n; i++) {
        if (x[i] == max) {
            return i;
        }
    }
    return 0; /* not reached: max is one of the values */
}
