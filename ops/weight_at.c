/* mot_weight_at: one element of a weight in any supported storage dtype, as f32. */
#include "ops/ops.h"

float mot_weight_at(const mot_weight *w, int64_t r, int64_t c) {
    /* The element's block (one element for the plain types) through the reference
     * dequantization, so every reference that reads a weight this way sees the same values
     * as mot_ref_dequant_row gives for the whole row. */
    const int be = mot_dtype_block_elems(w->dtype);
    if (be < 1 || be > 256) {
        return 0.0f; /* loaders reject other dtypes before any op runs */
    }
    const char *row = (const char *)w->data + (size_t)r * mot_dtype_row_bytes(w->dtype, w->cols);
    const int64_t b = c / be;
    float block[256];
    mot_ref_dequant_row(w->dtype, row + (size_t)b * mot_dtype_block_bytes(w->dtype), be, block);
    return block[c - b * be];
}
