/* GGUF (llama.cpp's model file, versions 2 and 3): a fully validated, memory-mapped reader.
 *
 * Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata count; the metadata
 * (key string, u32 value type, value); the tensor infos (name, u32 n_dims, u64 ne[n_dims],
 * u32 ggml type, u64 offset); padding to general.alignment (default 32); the data. Strings
 * are a u64 length and that many bytes (no NUL). Everything little-endian.
 *
 * Validation (MOT_ERR_FORMAT naming the file, and the key or tensor): magic and version;
 * counts and string lengths that fit the file; known value types; array nesting; every
 * tensor's type known, its dims positive with ne[0] a multiple of the type's block, its
 * offset aligned, its data inside the file, no two tensors overlapping, names unique.
 *
 * Shapes are given in PyTorch order: ggml's ne[0] (the contiguous, innermost dim) is the
 * last, so a weight stored as ne = [in, out] reads as [out, in], as in a safetensors file. */
#ifndef MOT_MODEL_GGUF_H
#define MOT_MODEL_GGUF_H

#include <stdint.h>

#include "common/tensor.h"
#include "mot.h"

typedef struct mot_gguf mot_gguf;

/* GGUF metadata value types, as the format numbers them. */
typedef enum {
    MOT_GGUF_U8 = 0,
    MOT_GGUF_I8 = 1,
    MOT_GGUF_U16 = 2,
    MOT_GGUF_I16 = 3,
    MOT_GGUF_U32 = 4,
    MOT_GGUF_I32 = 5,
    MOT_GGUF_F32 = 6,
    MOT_GGUF_BOOL = 7,
    MOT_GGUF_STRING = 8,
    MOT_GGUF_ARRAY = 9,
    MOT_GGUF_U64 = 10,
    MOT_GGUF_I64 = 11,
    MOT_GGUF_F64 = 12,
} mot_gguf_type;

/* The whole file: metadata and tensors (mapped or copied as mot_map_file does). */
mot_status mot_gguf_open(const char *path, mot_gguf **out);
/* Metadata and tensor infos only, validated the same way; tensor data is not read (the
 * file is mapped lazily): for the tokenizer and config.json-like settings. */
mot_status mot_gguf_open_meta(const char *path, mot_gguf **out);
void mot_gguf_close(mot_gguf *g);
/* Whether path names a GGUF file: ends in ".gguf", or is a regular file starting with the
 * magic "GGUF". */
int mot_gguf_is_gguf_path(const char *path);
const char *mot_gguf_path(const mot_gguf *g);

/* ---- metadata ----
 * Getters fail with "<file>: key 'K': missing" or "...: expected an integer, found string";
 * the opt_ variants leave *out unchanged and return MOT_OK when the key is absent. */
int mot_gguf_has(const mot_gguf *g, const char *key);
mot_status mot_gguf_get_int(const mot_gguf *g, const char *key, int64_t *out);  /* any integer type */
mot_status mot_gguf_opt_int(const mot_gguf *g, const char *key, int64_t *out);
mot_status mot_gguf_get_float(const mot_gguf *g, const char *key, double *out); /* F32, F64 or an integer */
mot_status mot_gguf_opt_float(const mot_gguf *g, const char *key, double *out);
mot_status mot_gguf_opt_bool(const mot_gguf *g, const char *key, int *out);
/* NUL-terminated copies owned by g (a string holding a NUL byte is refused at open). */
mot_status mot_gguf_get_str(const mot_gguf *g, const char *key, const char **out);
mot_status mot_gguf_opt_str(const mot_gguf *g, const char *key, const char **out);
/* Arrays: *n elements. Strings as NUL-terminated copies owned by g; numbers converted. An
 * element type other than asked is an error naming the key. */
mot_status mot_gguf_get_str_array(const mot_gguf *g, const char *key, char *const **out, int64_t *n);
mot_status mot_gguf_get_f32_array(const mot_gguf *g, const char *key, const float **out, int64_t *n);
mot_status mot_gguf_get_i32_array(const mot_gguf *g, const char *key, const int32_t **out, int64_t *n);

/* ---- tensors ---- (data points into the mapping; nbytes as the type's blocks give) */
int mot_gguf_tensor_count(const mot_gguf *g);
const mot_tensor *mot_gguf_tensor_at(const mot_gguf *g, int i);
const mot_tensor *mot_gguf_find(const mot_gguf *g, const char *name); /* NULL if absent */
/* A tensor's data (p: its data pointer) as writable memory of a file opened whole (a private
 * copy: the file is never written), for the loader's in-place row rearrangement; NULL for a
 * metadata-only open or a pointer outside the file. */
void *mot_gguf_data_mut(mot_gguf *g, const void *p);

/* The ggml type number of a dtype, and back (-1 when ggml has none / mot does not read it). */
int mot_gguf_type_of_dtype(mot_dtype dt);
int mot_gguf_dtype_of_type(uint32_t ggml_type);

#endif
