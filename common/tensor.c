#include "common/tensor.h"

#include "common/half.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;  /* bytes per block */
    int block;    /* elements per block: 0 means 1 (a plain type) */
} dtype_info[MOT_DTYPE_COUNT] = {
    [MOT_DTYPE_F32] = {"F32", 4},     [MOT_DTYPE_F16] = {"F16", 2},
    [MOT_DTYPE_BF16] = {"BF16", 2},   [MOT_DTYPE_F64] = {"F64", 8},
    [MOT_DTYPE_I8] = {"I8", 1},       [MOT_DTYPE_I16] = {"I16", 2},
    [MOT_DTYPE_I32] = {"I32", 4},     [MOT_DTYPE_I64] = {"I64", 8},
    [MOT_DTYPE_U8] = {"U8", 1},       [MOT_DTYPE_U16] = {"U16", 2},
    [MOT_DTYPE_U32] = {"U32", 4},     [MOT_DTYPE_U64] = {"U64", 8},
    [MOT_DTYPE_BOOL] = {"BOOL", 1},   [MOT_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [MOT_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
    [MOT_DTYPE_Q8_0] = {"Q8_0", 34, 32},  [MOT_DTYPE_Q4_0] = {"Q4_0", 18, 32},
    [MOT_DTYPE_Q4_1] = {"Q4_1", 20, 32},  [MOT_DTYPE_Q4_K] = {"Q4_K", 144, 256},
    [MOT_DTYPE_Q5_K] = {"Q5_K", 176, 256}, [MOT_DTYPE_Q6_K] = {"Q6_K", 210, 256},
    [MOT_DTYPE_Q5_0] = {"Q5_0", 22, 32},   [MOT_DTYPE_Q5_1] = {"Q5_1", 24, 32},
    [MOT_DTYPE_Q2_K] = {"Q2_K", 84, 256},  [MOT_DTYPE_Q3_K] = {"Q3_K", 110, 256},
    [MOT_DTYPE_IQ4_NL] = {"IQ4_NL", 18, 32}, [MOT_DTYPE_IQ4_XS] = {"IQ4_XS", 136, 256},
};

int mot_dtype_is_quantized(mot_dtype dt) { return (unsigned)dt < MOT_DTYPE_COUNT && dtype_info[dt].block > 1; }

size_t mot_dtype_size(mot_dtype dt) {
    return (unsigned)dt < MOT_DTYPE_COUNT && !mot_dtype_is_quantized(dt) ? dtype_info[dt].size : 0;
}

int mot_dtype_block_elems(mot_dtype dt) {
    return (unsigned)dt < MOT_DTYPE_COUNT && dtype_info[dt].block > 1 ? dtype_info[dt].block : 1;
}

size_t mot_dtype_block_bytes(mot_dtype dt) { return (unsigned)dt < MOT_DTYPE_COUNT ? dtype_info[dt].size : 0; }

size_t mot_dtype_row_bytes(mot_dtype dt, int64_t n) {
    return (size_t)(n / mot_dtype_block_elems(dt)) * mot_dtype_block_bytes(dt);
}

const char *mot_dtype_name(mot_dtype dt) {
    return (unsigned)dt < MOT_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

int mot_dtype_from_name(const char *name) {
    for (int i = 0; i < MOT_DTYPE_COUNT; i++) {
        if (!mot_dtype_is_quantized((mot_dtype)i) && strcmp(dtype_info[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *mot_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap > k ? cap - k : 0, "[");
    for (int i = 0; i < ndim; i++) {
        k += (size_t)snprintf(buf + k, cap > k ? cap - k : 0, "%s%lld", i ? ", " : "",
                              (long long)shape[i]);
    }
    snprintf(buf + k, cap > k ? cap - k : 0, "]");
    return buf;
}

float *mot_tensor_to_f32(const mot_tensor *t, int64_t n) {
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) {
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == MOT_DTYPE_F32) {
            memcpy(&v[i], (const char *)t->data + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, (const char *)t->data + 2 * i, 2);
            v[i] = t->dtype == MOT_DTYPE_BF16 ? mot_bf16_to_f32(h) : mot_f16_to_f32(h);
        }
    }
    return v;
}
