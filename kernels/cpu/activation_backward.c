/* SwiGLU's backward (kernels/cpu/backward.h): out = silu(g) u, silu(g) = g s, s = 1 / (1 + e^-g):
 *   dgate = dout u s (1 + g (1 - s)),  dup = dout g s.
 * Per element in double (exp of a large -g overflows to inf in either precision, and then
 * s = 0 gives 0, not NaN); memory bound, so the double math costs little. */
#include <math.h>

#include "kernels/cpu/backward.h"

/* dgate, dup, dout, gate, up [n, f] */
void mot_cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                             int n, int f) {
    const int64_t total = (int64_t)n * f;
#pragma omp parallel for schedule(static) if (total > 16384)
    for (int64_t i = 0; i < total; i++) {
        const double g = gate[i], s = 1.0 / (1.0 + exp(-g)), go = dout[i];
        dgate[i] = (float)(go * up[i] * s * (1.0 + g * (1.0 - s)));
        dup[i] = (float)(go * g * s);
    }
}
