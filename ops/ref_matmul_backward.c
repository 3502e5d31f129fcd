/* Reference backward of the linear y[n, rows] = x[n, cols] . W^T (+ b): the frozen weight's
 * activation gradient dx = dy . W (W read in its stored dtype through mot_ref_dequant_row,
 * the values mot_weight_at gives), and the trainable side dw += dy^T . x, db += sum_t dy.
 * Sums in double, each output rounded to f32 once. */
#include <stdlib.h>

#include "ops/ops.h"

/* dx[n, cols] (accumulate: +=) = sum over r of dy[t, r] W[r, :]; W [rows, cols] */
void mot_ref_matmul_backward_x(float *dx, const float *dy, const mot_weight *w, int n, int accumulate) {
    const int64_t rows = w->rows, cols = w->cols;
    float *wr = malloc(sizeof(float) * (size_t)(cols > 0 ? cols : 1));
    double *acc = calloc((size_t)(n > 0 ? n : 1) * (size_t)(cols > 0 ? cols : 1), sizeof(double));
    if (!wr || !acc) {
        free(wr), free(acc);
        return;
    }
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
    for (int64_t r = 0; r < rows; r++) {
        mot_ref_dequant_row(w->dtype, (const char *)w->data + (size_t)r * row_bytes, cols, wr);
        for (int t = 0; t < n; t++) {
            const double g = dy[(int64_t)t * rows + r];
            double *a = acc + (int64_t)t * cols;
            for (int64_t c = 0; c < cols; c++) {
                a[c] += g * (double)wr[c];
            }
        }
    }
    for (int64_t e = 0; e < (int64_t)n * cols; e++) {
        dx[e] = (float)(accumulate ? (double)dx[e] + acc[e] : acc[e]);
    }
    free(wr), free(acc);
}

/* dw[rows, cols] += sum over t of dy[t, r] x[t, c]; db[rows] (NULL: none) += sum over t of
 * dy[t, r]. */
void mot_ref_matmul_backward_w(float *dw, float *db, const float *dy, const float *x, int n, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            double s = 0.0;
            for (int t = 0; t < n; t++) {
                s += (double)dy[(int64_t)t * rows + r] * (double)x[(int64_t)t * cols + c];
            }
            dw[(int64_t)r * cols + c] = (float)((double)dw[(int64_t)r * cols + c] + s);
        }
        if (db) {
            double s = 0.0;
            for (int t = 0; t < n; t++) {
                s += dy[(int64_t)t * rows + r];
            }
            db[r] = (float)((double)db[r] + s);
        }
    }
}
