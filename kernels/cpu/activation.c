/* SwiGLU: out = silu(gate) * up, silu(g) = g / (1 + exp(-g)). */
#include <math.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/simd_math.h"
#include "kernels/cpu/team.h"

/* Blocks of 8; the last, partial one (if any) in scalar code, in the same loop (one barrier). */
static void swiglu_span(float *out, const float *gate, const float *up, int64_t total) {
    const int64_t blocks = (total + 7) / 8;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        if (b * 8 + 8 <= total) {
            __m256 g = _mm256_loadu_ps(gate + b * 8);
            __m256 e = mot_exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
            __m256 silu = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
            _mm256_storeu_ps(out + b * 8, _mm256_mul_ps(silu, _mm256_loadu_ps(up + b * 8)));
            continue;
        }
        for (int64_t i = b * 8; i < total; i++) {
            float g = gate[i];
            out[i] = g / (1.0f + expf(-g)) * up[i];
        }
    }
}

/* gate, up, out are [n, f]; out may equal gate */
void mot_cpu_swiglu(float *out, const float *gate, const float *up, int n, int f) {
    const int64_t total = (int64_t)n * f;
    MOT_TEAM_RUN(total > 16384, swiglu_span(out, gate, up, total));
}
