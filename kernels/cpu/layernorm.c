/* LayerNorm of the latent rows (PyTorch nn.LayerNorm: biased variance, f64 statistics here).
 * w or b NULL: weight 1 / bias 0, as the CUDA kernel (kernels/cuda/norm.cu) and the reference
 * (ops/ref_layernorm.c) take them; this kernel used to dereference them regardless. */
#include <math.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/row_ops.h"
#include "kernels/cpu/team.h"

static void layernorm_rows(float *out, const float *x, const float *w, const float *b, int n, int d, float eps) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * d;
        float *o = out + (size_t)t * d;
        double mean, var;
        mot_cpu_row_mean_var(xr, d, &mean, &var);
        const float inv = (float)(1.0 / sqrt(var + eps));
        for (int i = 0; i < d; i++) {
            const float y = (float)(xr[i] - mean) * inv;
            o[i] = (w ? y * w[i] : y) + (b ? b[i] : 0.0f);
        }
    }
}

void mot_cpu_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps) {
    MOT_TEAM_RUN(n > 1, layernorm_rows(out, x, w, b, n, d, eps));
}
