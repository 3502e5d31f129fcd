/* cblas_sgemm as a matmul, for comparison with our GEMM (and as an option at dispatch). */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/simd_load.h"

#ifdef MOT_HAVE_BLAS
#include <cblas.h>

/* W converted to f32 ([rows, cols]), in parallel. */
static float *weight_as_f32(const mot_weight *w) {
    float *f = malloc(sizeof(float) * (size_t)w->rows * (size_t)w->cols);
    if (!f) {
        return NULL;
    }
    const int64_t total = w->rows * w->cols;
    const mot_dtype dt = w->dtype;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < total / 8; i++) {
        _mm256_storeu_ps(f + i * 8, mot_load8(w->data, i * 8, dt));
    }
    for (int64_t i = total / 8 * 8; i < total; i++) {
        f[i] = mot_load1(w->data, i, dt);
    }
    return f;
}

int mot_cpu_matmul_blas(float *y, const float *x, const mot_weight *w, int n) {
    if (mot_dtype_is_quantized(w->dtype)) {
        return 0; /* not for comparison: the quantized types have their own GEMM packing */
    }
    float *owned = NULL;
    const float *wf = w->data;
    if (w->dtype != MOT_DTYPE_F32) {
        owned = weight_as_f32(w);
        if (!owned) {
            return 0;
        }
        wf = owned;
    }
#ifdef OPENBLAS_VERSION
    openblas_set_num_threads(omp_get_max_threads()); /* same thread count as our kernels */
#endif
    /* y[n, rows] = x[n, cols] . W[rows, cols]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)w->rows, (int)w->cols, 1.0f, x,
                (int)w->cols, wf, (int)w->cols, 0.0f, y, (int)w->rows);
    free(owned);
    return 1;
}
#else
int mot_cpu_matmul_blas(float *y, const float *x, const mot_weight *w, int n) { return 0; }
#endif
