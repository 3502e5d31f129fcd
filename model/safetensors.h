/* safetensors: memory-mapped reading (one file, or shards listed by
 * model.safetensors.index.json) with a fully validated header, and writing (for --dump).
 *
 * Validation: the 8-byte header length fits the file, the header is a JSON object, every
 * entry has a known dtype, a shape of non-negative ints and data_offsets [begin, end] with
 * begin <= end <= data size, end - begin == dtype size x prod(shape), no two tensors overlap.
 * A violation is a MOT_ERR_FORMAT naming the file and the tensor. */
#ifndef MOT_MODEL_SAFETENSORS_H
#define MOT_MODEL_SAFETENSORS_H

#include "common/tensor.h"
#include "common/weight.h"
#include "mot.h"

typedef struct mot_st_set mot_st_set; /* the tensors of one checkpoint, possibly many files */

/* One file. */
mot_status mot_st_open_file(const char *path, mot_st_set **out);
/* A model folder: DIR/model.safetensors, or DIR/model.safetensors.index.json and its shards
 * (every tensor in the weight_map must be found in the shard it names). */
mot_status mot_st_open_dir(const char *dir, mot_st_set **out);
void mot_st_close(mot_st_set *set);

int mot_st_count(const mot_st_set *set);
const mot_tensor *mot_st_at(const mot_st_set *set, int i);
const mot_tensor *mot_st_find(const mot_st_set *set, const char *name); /* NULL if absent */
/* The file a tensor came from (for messages). */
const char *mot_st_file_of(const mot_st_set *set, const mot_tensor *t);

/* A required floating tensor (F32, F16 or BF16) of an exact shape. Errors:
 * "<file>: tensor 'X': missing", "<file>: tensor 'X': expected [a, b], found [c, d]",
 * "<file>: tensor 'X': dtype I32 is not supported (expected F32, F16 or BF16)". */
mot_status mot_st_expect(const mot_st_set *set, const char *name, int ndim, const int64_t *shape,
                         const mot_tensor **out);

/* Binding checked tensors to what the kernels take (the expert loader and the MoT weights
 * share these, so every weight goes through the same checks and messages): a required 2-D
 * tensor [rows, cols] as a view into the mapping (no copy); a required 1-D tensor [n] as a
 * malloc'd f32 copy (vectors are tiny, and the kernels then see one dtype). */
mot_status mot_st_expect_weight(const mot_st_set *set, const char *name, int64_t rows, int64_t cols,
                                mot_weight *out);
mot_status mot_st_expect_f32_vector(const mot_st_set *set, const char *name, int64_t n, float **out);

/* Writes a safetensors file (header padded to 8 bytes, tensors in the given order) through
 * common/safe_write.h: PATH must be absent or a regular file unless force. */
typedef struct {
    const char *name;
    mot_dtype dtype;
    int ndim;
    int64_t shape[MOT_MAX_DIMS];
    const void *data;
} mot_st_entry;
mot_status mot_st_write(const char *path, const mot_st_entry *entries, int n, int force);

#endif
