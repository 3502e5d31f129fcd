/* Private to model/gguf_*.c: the parsed file. */
#ifndef MOT_MODEL_GGUF_INTERNAL_H
#define MOT_MODEL_GGUF_INTERNAL_H

#include "common/mapped_file.h"
#include "model/gguf.h"

/* One metadata value. Numbers are kept as read (i for integer and bool types, f for floats);
 * strings as NUL-terminated copies; arrays as a pointer to their raw elements in the mapping
 * (strings of a string array are copied into strs). */
typedef struct {
    char *key;
    mot_gguf_type type;
    int64_t i;
    double f;
    char *str;
    /* arrays */
    mot_gguf_type elem_type;
    int64_t n;
    const unsigned char *raw; /* n elements of elem_type, little-endian, unaligned */
    char **strs;              /* string arrays */
    float *f32;               /* numeric arrays converted on first use */
    int32_t *i32;
} gguf_kv;

struct mot_gguf {
    char *path;
    mot_mapped_file map;
    int whole;                /* opened with the data (else metadata only) */
    uint32_t version;
    gguf_kv *kv;
    int64_t n_kv;
    mot_tensor *tensors;      /* names owned here; data NULL for a metadata-only open */
    int64_t n_tensors;
    int *by_name;             /* tensor indices sorted by name (lookup by bsearch) */
    int *kv_by_key;           /* kv indices sorted by key */
    uint64_t alignment;
    uint64_t data_start;      /* file offset of the data section */
};

/* The value of key, or NULL. */
const gguf_kv *mot_gguf_kv(const mot_gguf *g, const char *key);

#endif
