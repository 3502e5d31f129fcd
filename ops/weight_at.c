/* mot_weight_at: one element of a weight in any supported storage dtype, as f32. */
#include <string.h>

#include "common/half.h"
#include "ops/ops.h"

float mot_weight_at(const mot_weight *w, int64_t r, int64_t c) {
    int64_t i = r * w->cols + c;
    /* memcpy: the data may sit at any 2-byte offset inside a mapped file */
    switch (w->dtype) {
    case MOT_DTYPE_F32: {
        float f;
        memcpy(&f, (const char *)w->data + i * 4, 4);
        return f;
    }
    case MOT_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, (const char *)w->data + i * 2, 2);
        return mot_f16_to_f32(h);
    }
    case MOT_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, (const char *)w->data + i * 2, 2);
        return mot_bf16_to_f32(h);
    }
    default:
        return 0.0f; /* loaders reject other dtypes before any op runs */
    }
}
