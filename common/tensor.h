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

/* Bytes per element; safetensors names ("F32", "BF16", ...). */
size_t mot_dtype_size(mot_dtype dt);
const char *mot_dtype_name(mot_dtype dt);
/* Returns -1 when the name is not a safetensors dtype. */
int mot_dtype_from_name(const char *name);

/* A malloc'd f32 copy of the first n elements of an F32, F16 or BF16 tensor (NULL when out
 * of memory). For the small vectors (norms, biases) the kernels want in one dtype. */
float *mot_tensor_to_f32(const mot_tensor *t, int64_t n);

/* "[a, b, c]" into buf (for error messages). */
const char *mot_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);

#endif
