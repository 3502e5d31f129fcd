/* Embedding lookup: one table row converted to f32. */
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_load.h"

MOT_INLINE void convert_row(float *out, const void *row, int64_t d, mot_dtype dt) {
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
        _mm256_storeu_ps(out + i, mot_load8(row, i, dt));
    }
    for (; i < d; i++) {
        out[i] = mot_load1(row, i, dt);
    }
}

/* out is [d] = table[row, :], table is [rows, d] */
void mot_cpu_embed_row(float *out, const mot_weight *table, int64_t row) {
    const int64_t d = table->cols;
    if (mot_dtype_is_quantized(table->dtype)) {
        mot_cpu_dequant_row(table->dtype, (const char *)table->data + (size_t)row * mot_dtype_row_bytes(table->dtype, d),
                            d, out);
        return;
    }
    const char *src = (const char *)table->data + row * d * mot_weight_elem_size(table->dtype);
    switch (table->dtype) {
    case MOT_DTYPE_F32:
        convert_row(out, src, d, MOT_DTYPE_F32);
        break;
    case MOT_DTYPE_F16:
        convert_row(out, src, d, MOT_DTYPE_F16);
        break;
    default:
        convert_row(out, src, d, MOT_DTYPE_BF16);
        break;
    }
}
