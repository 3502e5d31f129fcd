/* Writes GGUF files byte by byte for the reader's tests: a valid small file, and the same
 * with one field changed, so each malformation is exactly one thing. */
#ifndef MOT_TESTS_LOADING_GGUF_BUILDER_H
#define MOT_TESTS_LOADING_GGUF_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned char *data;
    size_t len, cap;
} gguf_buf;

void gb_bytes(gguf_buf *b, const void *p, size_t n);
void gb_u32(gguf_buf *b, uint32_t v);
void gb_u64(gguf_buf *b, uint64_t v);
void gb_str(gguf_buf *b, const char *s);
void gb_pad(gguf_buf *b, size_t align);

/* What the small file may be changed in (zero: the valid value). */
typedef struct {
    const char *magic;         /* "GGUF" */
    uint32_t version;          /* 3 */
    uint64_t n_tensors_delta;  /* added to the true count */
    uint32_t kv_type;          /* value type of general.architecture (8: string) */
    int dup_key;               /* general.architecture twice */
    int nested_array;          /* an array of arrays */
    uint32_t t1_type;          /* ggml type of the second tensor (8: Q8_0) */
    int t1_f32;                /* ... or F32 (type 0, which t1_type cannot say) */
    uint32_t t1_dims;          /* its n_dims (2) */
    uint64_t t1_ne0;           /* its ne[0] (64) */
    int t1_zero_dim;           /* its ne[1] is 0 */
    uint64_t t1_offset_delta;  /* added to its offset */
    int dup_name;              /* the third tensor named like the first */
    size_t truncate_to;        /* cut the file (0: whole) */
} gguf_faults;

/* The small file: 4 metadata entries, tensors "a" F32 [4, 8], "b" Q8_0 [2, 64] and "c"
 * Q4_K [256], data counting 0, 1, 2, ... */
void gb_small(gguf_buf *b, const gguf_faults *f);

#endif
