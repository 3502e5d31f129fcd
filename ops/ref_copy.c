/* Reference COPY and ADD (kernels/cpu/copy.c, kernels/cuda/copy.cu): dst = src, one byte at a time. */
#include "ops/ops.h"

void mot_ref_copy(void *dst, const void *src, size_t bytes) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < bytes; i++) {
        d[i] = s[i];
    }
}

/* Reference ADD (kernels/cpu/copy.c, kernels/cuda/copy.cu): y += x, one f32 add each. */
void mot_ref_add(float *y, const float *x, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        y[i] = (float)((double)y[i] + (double)x[i]); /* exact in double, then one rounding */
    }
}
