/* Element types and a non-owning tensor view (data usually points into a mapped file). */
#ifndef MOT_COMMON_TENSOR_H
#define MOT_COMMON_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MOT_DTYPE_F32 = 0,
    MOT_DTYPE_F16,
    MOT_DTYPE_BF16,
    MOT_DTYPE_F64,
    MOT_DTYPE_I8,
    MOT_DTYPE_I16,
    MOT_DTYPE_I32,
    MOT_DTYPE_I64,
    MOT_DTYPE_U8,
    MOT_DTYPE_U16,
    MOT_DTYPE_U32,
    MOT_DTYPE_U64,
    MOT_DTYPE_BOOL,
    MOT_DTYPE_F8_E4M3,
    MOT_DTYPE_F8_E5M2,
    /* ggml's block-quantized types (GGUF files only): a row of n elements is n / block
     * blocks of block_bytes each (mot_dtype_block_elems, mot_dtype_row_bytes). */
    MOT_DTYPE_Q8_0, /* 32 elements, 34 bytes: f16 d, int8 q[32];              x = d q        */
    MOT_DTYPE_Q4_0, /* 32 elements, 18 bytes: f16 d, 16 bytes of nibbles;     x = d (q - 8)  */
    MOT_DTYPE_Q4_1, /* 32 elements, 20 bytes: f16 d, f16 m, nibbles;          x = d q + m    */
    MOT_DTYPE_Q4_K, /* 256 elements, 144 bytes: 8 sub-blocks of 32, 6-bit scales and mins    */
    MOT_DTYPE_Q5_K, /* 256 elements, 176 bytes: as Q4_K plus a fifth bit per element         */
    MOT_DTYPE_Q6_K, /* 256 elements, 210 bytes: 16 sub-blocks of 16, int8 scales, 6-bit q    */
    MOT_DTYPE_Q5_0, /* 32 elements, 22 bytes: f16 d, 32 fifth bits, nibbles;  x = d (q - 16) */
    MOT_DTYPE_Q5_1, /* 32 elements, 24 bytes: f16 d, f16 m, fifth bits, nibbles; x = d q + m */
    MOT_DTYPE_Q2_K, /* 256 elements, 84 bytes: 16 sub-blocks of 16, 4-bit scales and mins  */
    MOT_DTYPE_Q3_K, /* 256 elements, 110 bytes: 16 sub-blocks of 16, 6-bit scales, q -4..3 */
    MOT_DTYPE_IQ4_NL, /* 32 elements, 18 bytes: f16 d, nibbles indexing a fixed table    */
    MOT_DTYPE_IQ4_XS, /* 256 elements, 136 bytes: 8 sub-blocks of 32, 6-bit scales, table */
    MOT_DTYPE_COUNT
} mot_dtype;

#define MOT_MAX_DIMS 8

typedef struct {
    const char *name;
    mot_dtype dtype;
    int ndim;
    int64_t shape[MOT_MAX_DIMS];
    const void *data; /* ndim == 0 is a scalar; nbytes == 0 for an empty tensor */
    size_t nbytes;
} mot_tensor;

/* Bytes per element (0 for the block-quantized types: use mot_dtype_row_bytes); names
 * ("F32", "BF16", ..., "Q4_K": safetensors' names, and ggml's for the quantized types). */
size_t mot_dtype_size(mot_dtype dt);
const char *mot_dtype_name(mot_dtype dt);
/* Returns -1 when the name is not a safetensors dtype (the quantized types are not). */
int mot_dtype_from_name(const char *name);

/* Elements per block (1 for the plain types) and bytes per block (the element size). */
int mot_dtype_block_elems(mot_dtype dt);
size_t mot_dtype_block_bytes(mot_dtype dt);
int mot_dtype_is_quantized(mot_dtype dt);
/* Bytes of a row of n elements (n a multiple of the block; 0 for an unknown dtype). */
size_t mot_dtype_row_bytes(mot_dtype dt, int64_t n);

/* A malloc'd f32 copy of the first n elements of an F32, F16 or BF16 tensor (NULL when out
 * of memory). For the small vectors (norms, biases) the kernels want in one dtype. */
float *mot_tensor_to_f32(const mot_tensor *t, int64_t n);

/* "[a, b, c]" into buf (for error messages). */
const char *mot_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);

#endif
