/* SwiGLU: out = silu(gate) * up, silu(g) = g / (1 + exp(-g)). */
#include <math.h>

#include "kernels/cpu/kernels.h"

/* gate, up, out are [n, f]; out may equal gate */
void mot_cpu_swiglu(float *out, const float *gate, const float *up, int n, int f) {
    const int64_t total = (int64_t)n * f;
#pragma omp parallel for schedule(static) if (total > 16384)
    for (int64_t i = 0; i < total; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
