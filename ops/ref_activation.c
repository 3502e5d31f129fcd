/* Reference SwiGLU, the experts' FFN activation, and its backward (kernels/cpu/activation.c,
 * kernels/cuda/activation.cu). */
#include <math.h>

#include "ops/ops.h"

/* gate, up, out are [n, f] */
void mot_ref_swiglu(float *out, const float *gate, const float *up, int n, int f) {
    for (int64_t i = 0; i < (int64_t)n * f; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * (double)up[i]);
    }
}

/* The backward (kernels/cpu/backward.h): out = silu(g) u, silu(g) = g s, s = 1 / (1 + e^-g):
 *   dgate = dout u s (1 + g (1 - s)),  dup = dout g s  (overwritten). Double per element: a
 * -g past exp's range gives s = 0 and a zero gradient, not NaN. */
void mot_ref_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int n,
                             int f) {
    for (int64_t i = 0; i < (int64_t)n * f; i++) {
        const double g = gate[i], s = 1.0 / (1.0 + exp(-g)), go = dout[i];
        dgate[i] = (float)(go * (double)up[i] * s * (1.0 + g * (1.0 - s)));
        dup[i] = (float)(go * g * s);
    }
}
