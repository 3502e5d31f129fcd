/* The core weight type every layer shares: the loaders bind it, the scheduler puts it in plan
 * ops, the CPU and CUDA kernels read it (the CUDA executor maps it to device memory). */
#ifndef MOT_COMMON_WEIGHT_H
#define MOT_COMMON_WEIGHT_H

#include <stdint.h>

#include "common/tensor.h"

/* A weight matrix [rows = out, cols = in], row-major, in its stored dtype: F32/F16/BF16, or
 * one of ggml's block-quantized types (Q8_0 ... IQ4_XS, common/tensor.h: each row is
 * mot_dtype_row_bytes(dtype, cols) bytes of blocks, cols a multiple of the block). data may
 * be unaligned (it points into a mapped safetensors or GGUF file). */
typedef struct {
    mot_dtype dtype;
    const void *data;
    int64_t rows, cols;
} mot_weight;

#endif
