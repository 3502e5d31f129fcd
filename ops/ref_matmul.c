/* Reference matmul and embedding lookup. */
#include "ops/ops.h"

/* y is [n, rows], x is [n, cols], W is [rows, cols]: y = x . W^T */
void mot_ref_matmul(float *y, const float *x, const mot_weight *w, int n) {
    for (int t = 0; t < n; t++) {
        for (int64_t r = 0; r < w->rows; r++) {
            double acc = 0.0;
            for (int64_t c = 0; c < w->cols; c++) {
                acc += (double)x[(int64_t)t * w->cols + c] * (double)mot_weight_at(w, r, c);
            }
            y[(int64_t)t * w->rows + r] = (float)acc;
        }
    }
}

/* out is [cols] = table[row, :] */
void mot_ref_embed_row(float *out, const mot_weight *table, int64_t row) {
    for (int64_t c = 0; c < table->cols; c++) {
        out[c] = mot_weight_at(table, row, c);
    }
}
