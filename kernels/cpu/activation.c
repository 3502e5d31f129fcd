/* SwiGLU, forward and backward: out = silu(gate) * up, silu(g) = g / (1 + exp(-g)). */
#include <math.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/row_ops.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/team.h"

MOT_INLINE __m256 swiglu8(__m256 g, __m256 u) {
    __m256 e = mot_exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

/* Every element through the vector code, the last partial block through a padded copy, so
 * that an element's bits do not depend on which block it falls in. */
void mot_cpu_swiglu_span(float *out, const float *gate, const float *up, int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    }
    if (i < count) {
        float g[8] = {0}, u[8] = {0}, o[8];
        for (int64_t j = i; j < count; j++) {
            g[j - i] = gate[j], u[j - i] = up[j];
        }
        _mm256_storeu_ps(o, swiglu8(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
        for (int64_t j = i; j < count; j++) {
            out[j] = o[j - i];
        }
    }
}

/* Blocks of 8 split over the team (one barrier). */
static void swiglu_blocks(float *out, const float *gate, const float *up, int64_t total) {
    const int64_t blocks = (total + 7) / 8;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t count = total - b * 8 < 8 ? total - b * 8 : 8;
        mot_cpu_swiglu_span(out + b * 8, gate + b * 8, up + b * 8, count);
    }
}

/* gate, up, out are [n, f]; out may equal gate */
void mot_cpu_swiglu(float *out, const float *gate, const float *up, int n, int f) {
    const int64_t total = (int64_t)n * f;
    MOT_TEAM_RUN(total > 16384, swiglu_blocks(out, gate, up, total));
}

/* The backward (kernels/cpu/backward.h): out = silu(g) u, silu(g) = g s, s = 1 / (1 + e^-g):
 *   dgate = dout u s (1 + g (1 - s)),  dup = dout g s.
 * Per element in double (exp of a large -g overflows to inf in either precision, and then
 * s = 0 gives 0, not NaN); memory bound, so the double math costs little.
 * dgate, dup, dout, gate, up [n, f]. */
static void swiglu_backward_elems(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                                  int64_t total) {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < total; i++) {
        const double g = gate[i], s = 1.0 / (1.0 + exp(-g)), go = dout[i];
        dgate[i] = (float)(go * up[i] * s * (1.0 + g * (1.0 - s)));
        dup[i] = (float)(go * g * s);
    }
}

void mot_cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                             int n, int f) {
    const int64_t total = (int64_t)n * f;
    MOT_TEAM_RUN(total > 16384, swiglu_backward_elems(dgate, dup, dout, gate, up, total));
}
