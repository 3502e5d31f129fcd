/* Reference COPY (kernels/cpu/copy.c, kernels/cuda/copy.cu): dst = src, one byte at a time. */
#include "ops/ops.h"

void mot_ref_copy(void *dst, const void *src, size_t bytes) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < bytes; i++) {
        d[i] = s[i];
    }
}
