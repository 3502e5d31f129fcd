/* RMSNorm as HF LlamaRMSNorm computes it in f32: x * rsqrt(mean(x^2) + eps) * w. */
#include <math.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/row_ops.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"

void mot_cpu_rmsnorm_row(float *yr, const float *xr, const float *w, int d, float eps) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 a = _mm256_loadu_ps(xr + i), b = _mm256_loadu_ps(xr + i + 8);
        acc0 = _mm256_fmadd_ps(a, a, acc0);
        acc1 = _mm256_fmadd_ps(b, b, acc1);
    }
    float ss = mot_hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < d; i++) {
        ss += xr[i] * xr[i];
    }
    float inv = 1.0f / sqrtf(ss / (float)d + eps);
    __m256 vinv = _mm256_set1_ps(inv);
    i = 0;
    for (; i + 8 <= d; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv);
        _mm256_storeu_ps(yr + i, _mm256_mul_ps(v, _mm256_loadu_ps(w + i)));
    }
    for (; i < d; i++) {
        yr[i] = xr[i] * inv * w[i];
    }
}

/* x, out are [n, d] (out may equal x); w is [d] */
static void rmsnorm_rows(float *out, const float *x, const float *w, int n, int d, float eps) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        mot_cpu_rmsnorm_row(out + (int64_t)t * d, x + (int64_t)t * d, w, d, eps);
    }
}

void mot_cpu_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps) {
    MOT_TEAM_RUN(n > 1, rmsnorm_rows(out, x, w, n, d, eps));
}
