/* Reference matmul and embedding lookup. */
#include <stdlib.h>

#include "ops/ops.h"

/* y is [n, rows], x is [n, cols], W is [rows, cols]: y = x . W^T. Each weight row goes
 * through mot_ref_dequant_row once (the values mot_weight_at gives, without dequantizing a
 * whole block per element). */
void mot_ref_matmul(float *y, const float *x, const mot_weight *w, int n) {
    float *wr = malloc(sizeof(float) * (size_t)(w->cols > 0 ? w->cols : 1));
    if (!wr) {
        return;
    }
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, w->cols);
    for (int64_t r = 0; r < w->rows; r++) {
        mot_ref_dequant_row(w->dtype, (const char *)w->data + (size_t)r * row_bytes, w->cols, wr);
        for (int t = 0; t < n; t++) {
            double acc = 0.0;
            for (int64_t c = 0; c < w->cols; c++) {
                acc += (double)x[(int64_t)t * w->cols + c] * (double)wr[c];
            }
            y[(int64_t)t * w->rows + r] = (float)acc;
        }
    }
    free(wr);
}

/* out is [cols] = table[row, :] */
void mot_ref_embed_row(float *out, const mot_weight *table, int64_t row) {
    for (int64_t c = 0; c < table->cols; c++) {
        out[c] = mot_weight_at(table, row, c);
    }
}
