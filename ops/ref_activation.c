/* Reference SwiGLU, the experts' FFN activation (kernels/cpu/activation.c, kernels/cuda/activation.cu). */
#include <math.h>

#include "ops/ops.h"

/* gate, up, out are [n, f] */
void mot_ref_swiglu(float *out, const float *gate, const float *up, int n, int f) {
    for (int64_t i = 0; i < (int64_t)n * f; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * (double)up[i]);
    }
}
