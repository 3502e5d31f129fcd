/* The plain parallel loop: one dot product per (token, weight row), for comparison. */
#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"

static void naive_team(float *y, const float *x, const mot_weight *w, int n) {
    const int64_t rows = w->rows, cols = w->cols;
    if (mot_dtype_is_quantized(w->dtype)) { /* each row dequantized, then the plain loop */
        const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
        float wr[cols > 0 ? cols : 1];
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            mot_cpu_dequant_row(w->dtype, (const char *)w->data + (size_t)r * row_bytes, cols, wr);
            for (int t = 0; t < n; t++) {
                const float *xt = x + (int64_t)t * cols;
                float s = 0.0f;
                for (int64_t c = 0; c < cols; c++) {
                    s += wr[c] * xt[c];
                }
                y[(int64_t)t * rows + r] = s;
            }
        }
        return;
    }
    const int64_t stride = cols * mot_weight_elem_size(w->dtype);
    const mot_dtype dt = w->dtype;
#pragma omp for collapse(2) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        for (int t = 0; t < n; t++) {
            const char *wr = (const char *)w->data + r * stride;
            const float *xt = x + (int64_t)t * cols;
            float s = 0.0f;
            for (int64_t c = 0; c < cols; c++) {
                s += mot_load1(wr, c, dt) * xt[c];
            }
            y[(int64_t)t * rows + r] = s;
        }
    }
}

void mot_cpu_matmul_naive(float *y, const float *x, const mot_weight *w, int n) {
    MOT_TEAM_RUN(1, naive_team(y, x, w, n));
}
