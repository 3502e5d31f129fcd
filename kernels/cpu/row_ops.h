/* Row-level pieces of the norm and activation kernels, shared with the decode GEMV that fuses
 * them (matmul_gemv.c), so that fused and separate passes give the same bits. */
#ifndef MOT_KERNELS_CPU_ROW_OPS_H
#define MOT_KERNELS_CPU_ROW_OPS_H

#include <stdint.h>

/* out[d] = x[d] * rsqrt(mean(x^2) + eps) * w[d]  (one row of mot_cpu_rmsnorm) */
void mot_cpu_rmsnorm_row(float *out, const float *x, const float *w, int d, float eps);

/* The mean and (biased) variance of x[d], two passes in double: LayerNorm's forward and
 * backward share it, so the backward normalizes exactly as the forward did. */
static inline void mot_cpu_row_mean_var(const float *x, int d, double *mean, double *var) {
    double m = 0.0, v = 0.0;
    for (int i = 0; i < d; i++) {
        m += x[i];
    }
    m /= d;
    for (int i = 0; i < d; i++) {
        v += (x[i] - m) * (x[i] - m);
    }
    *mean = m, *var = v / d;
}

/* out[i] = silu(gate[i]) * up[i] for i < count; each element's bits are the same wherever the
 * span starts (out may equal gate) */
void mot_cpu_swiglu_span(float *out, const float *gate, const float *up, int64_t count);

#endif
