/* Reading a GGUF file: map it, parse the header, the metadata and the tensor infos with a
 * bounds-checked cursor, then validate every tensor before any view is handed out.
 * A hostile file cannot make the reader allocate more than the file could hold (every count
 * is checked against the bytes left before anything is allocated) nor take more than
 * O(n log n) time (duplicates and overlaps are found by sorting). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "model/gguf_internal.h"

enum {
    MAX_DIMS = 4,              /* ggml's GGML_MAX_DIMS */
    MAX_NAME = 256,            /* tensor names and keys (llama.cpp: 64 for names) */
    DEFAULT_ALIGNMENT = 32,
    MIN_KV_BYTES = 8 + 1 + 4,  /* key length, one key byte, type: what a value needs at least */
    MIN_TENSOR_BYTES = 8 + 1 + 4 + 8 + 4 + 8,
    /* each string of an array becomes its own allocation (~4-8x its bytes in the file):
     * bounded so a hostile file cannot turn 100 MB into gigabytes (real vocabularies: up to
     * ~260k tokens and merges) */
    MAX_ARRAY_STRINGS = 1 << 22,
};

/* ggml type numbers -> mot dtypes (0 where mot does not read the type) and names, for
 * messages about the types mot does not read. */
static const struct {
    int dtype; /* mot_dtype + 1, 0 = not read */
    const char *name;
} ggml_types[] = {
    [0] = {MOT_DTYPE_F32 + 1, "F32"},    [1] = {MOT_DTYPE_F16 + 1, "F16"},
    [2] = {MOT_DTYPE_Q4_0 + 1, "Q4_0"},  [3] = {MOT_DTYPE_Q4_1 + 1, "Q4_1"},
    [6] = {MOT_DTYPE_Q5_0 + 1, "Q5_0"},  [7] = {MOT_DTYPE_Q5_1 + 1, "Q5_1"},
    [8] = {MOT_DTYPE_Q8_0 + 1, "Q8_0"},  [9] = {0, "Q8_1"},
    [10] = {MOT_DTYPE_Q2_K + 1, "Q2_K"}, [11] = {MOT_DTYPE_Q3_K + 1, "Q3_K"},
    [12] = {MOT_DTYPE_Q4_K + 1, "Q4_K"}, [13] = {MOT_DTYPE_Q5_K + 1, "Q5_K"},
    [14] = {MOT_DTYPE_Q6_K + 1, "Q6_K"}, [15] = {0, "Q8_K"},
    [16] = {0, "IQ2_XXS"},               [17] = {0, "IQ2_XS"},
    [18] = {0, "IQ3_XXS"},               [19] = {0, "IQ1_S"},
    [20] = {MOT_DTYPE_IQ4_NL + 1, "IQ4_NL"},                [21] = {0, "IQ3_S"},
    [22] = {0, "IQ2_S"},                 [23] = {MOT_DTYPE_IQ4_XS + 1, "IQ4_XS"},
    [24] = {0, "I8"},                    [25] = {0, "I16"},
    [26] = {0, "I32"},                   [27] = {0, "I64"},
    [28] = {0, "F64"},                   [29] = {0, "IQ1_M"},
    [30] = {MOT_DTYPE_BF16 + 1, "BF16"}, [34] = {0, "TQ1_0"},
    [35] = {0, "TQ2_0"},                 [39] = {0, "MXFP4"},
};
#define N_GGML_TYPES ((int)(sizeof ggml_types / sizeof ggml_types[0]))

int mot_gguf_dtype_of_type(uint32_t t) {
    return t < (uint32_t)N_GGML_TYPES && ggml_types[t].dtype ? ggml_types[t].dtype - 1 : -1;
}

int mot_gguf_type_of_dtype(mot_dtype dt) {
    for (int t = 0; t < N_GGML_TYPES; t++) {
        if (ggml_types[t].dtype == (int)dt + 1) {
            return t;
        }
    }
    return -1;
}

/* ---- the cursor ------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    uint64_t pos, size;
    const char *path;
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->pos; }

static mot_status truncated(const cursor *c, const char *what) {
    return mot_fail(MOT_ERR_FORMAT, "%s: truncated: the file ends inside %s (offset %" PRIu64 " of %" PRIu64 ")",
                    c->path, what, c->pos, c->size);
}

static mot_status read_bytes(cursor *c, void *out, uint64_t n, const char *what) {
    if (left(c) < n) {
        return truncated(c, what);
    }
    memcpy(out, c->p + c->pos, n); /* little-endian host (x86-64, aarch64) */
    c->pos += n;
    return MOT_OK;
}

static mot_status read_u32(cursor *c, uint32_t *v, const char *what) { return read_bytes(c, v, 4, what); }
static mot_status read_u64(cursor *c, uint64_t *v, const char *what) { return read_bytes(c, v, 8, what); }

/* A string (u64 length, bytes) as a NUL-terminated copy; max_len bounds keys and names. */
static mot_status read_string(cursor *c, uint64_t max_len, char **out, const char *what) {
    *out = NULL;
    uint64_t n = 0;
    MOT_TRY(read_u64(c, &n, what));
    if (n > left(c)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %s: a string length of %" PRIu64 " bytes runs past the end of the file", c->path,
                        what, n);
    }
    if (n > max_len) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %s: a string of %" PRIu64 " bytes (at most %" PRIu64 " expected)", c->path,
                        what, n, max_len);
    }
    if (memchr(c->p + c->pos, 0, n)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: %s: the string holds a NUL byte", c->path, what);
    }
    char *s = malloc(n + 1);
    if (!s) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", c->path);
    }
    memcpy(s, c->p + c->pos, n);
    s[n] = '\0';
    c->pos += n;
    *out = s;
    return MOT_OK;
}

/* Bytes of one element of a fixed-size value type (0 for strings, arrays and unknown types). */
static uint64_t value_size(uint32_t t) {
    switch (t) {
    case MOT_GGUF_U8: case MOT_GGUF_I8: case MOT_GGUF_BOOL: return 1;
    case MOT_GGUF_U16: case MOT_GGUF_I16: return 2;
    case MOT_GGUF_U32: case MOT_GGUF_I32: case MOT_GGUF_F32: return 4;
    case MOT_GGUF_U64: case MOT_GGUF_I64: case MOT_GGUF_F64: return 8;
    default: return 0;
    }
}

/* A fixed-size scalar at p into kv->i / kv->f. */
static void scalar_at(gguf_kv *kv, const unsigned char *p) {
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        float f32; uint64_t u64; int64_t i64; double f64;
    } v;
    memcpy(&v, p, value_size(kv->type));
    switch (kv->type) {
    case MOT_GGUF_U8: kv->i = v.u8; break;
    case MOT_GGUF_I8: kv->i = v.i8; break;
    case MOT_GGUF_BOOL: kv->i = v.u8 != 0; break;
    case MOT_GGUF_U16: kv->i = v.u16; break;
    case MOT_GGUF_I16: kv->i = v.i16; break;
    case MOT_GGUF_U32: kv->i = v.u32; break;
    case MOT_GGUF_I32: kv->i = v.i32; break;
    case MOT_GGUF_U64: kv->i = v.u64 > INT64_MAX ? INT64_MAX : (int64_t)v.u64; break;
    case MOT_GGUF_I64: kv->i = v.i64; break;
    case MOT_GGUF_F32: kv->f = v.f32; break;
    case MOT_GGUF_F64: kv->f = v.f64; break;
    default: break;
    }
}

static mot_status read_value(cursor *c, gguf_kv *kv) {
    char what[MAX_NAME + 16];
    snprintf(what, sizeof what, "key '%s'", kv->key);
    uint32_t t = 0;
    MOT_TRY(read_u32(c, &t, what));
    kv->type = (mot_gguf_type)t;
    if (t == MOT_GGUF_STRING) {
        return read_string(c, left(c), &kv->str, what);
    }
    if (t != MOT_GGUF_ARRAY) {
        uint64_t size = value_size(t);
        if (!size) {
            return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': unknown value type %u", c->path, kv->key, t);
        }
        if (left(c) < size) {
            return truncated(c, what);
        }
        scalar_at(kv, c->p + c->pos);
        c->pos += size;
        return MOT_OK;
    }
    uint32_t et = 0;
    uint64_t n = 0;
    MOT_TRY(read_u32(c, &et, what));
    MOT_TRY(read_u64(c, &n, what));
    kv->elem_type = (mot_gguf_type)et;
    if (et == MOT_GGUF_ARRAY) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': arrays of arrays are not supported", c->path, kv->key);
    }
    if (et == MOT_GGUF_STRING) {
        if (n > left(c) / 8) { /* every string takes at least its 8-byte length */
            return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': an array of %" PRIu64 " strings cannot fit in the file",
                            c->path, kv->key, n);
        }
        if (n > MAX_ARRAY_STRINGS) {
            return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': an array of %" PRIu64 " strings (at most %d)", c->path,
                            kv->key, n, MAX_ARRAY_STRINGS);
        }
        kv->strs = calloc(n ? n : 1, sizeof *kv->strs);
        if (!kv->strs) {
            return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", c->path);
        }
        kv->n = (int64_t)n;
        for (uint64_t i = 0; i < n; i++) {
            char elem[MAX_NAME + 48];
            snprintf(elem, sizeof elem, "key '%s'[%" PRIu64 "]", kv->key, i);
            MOT_TRY(read_string(c, left(c), &kv->strs[i], elem));
        }
        return MOT_OK;
    }
    uint64_t size = value_size(et);
    if (!size) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': unknown array element type %u", c->path, kv->key, et);
    }
    if (n > left(c) / size) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': an array of %" PRIu64 " elements runs past the end of the file",
                        c->path, kv->key, n);
    }
    kv->n = (int64_t)n;
    kv->raw = c->p + c->pos;
    c->pos += n * size;
    return MOT_OK;
}

/* ---- sorting helpers (duplicates, lookups, overlaps) ------------------------------------- */

static __thread const mot_gguf *sort_g; /* qsort has no context argument */

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(sort_g->tensors[*(const int *)a].name, sort_g->tensors[*(const int *)b].name);
}

static int cmp_kv_key(const void *a, const void *b) {
    return strcmp(sort_g->kv[*(const int *)a].key, sort_g->kv[*(const int *)b].key);
}

static int cmp_tensor_data(const void *a, const void *b) {
    const mot_tensor *x = &sort_g->tensors[*(const int *)a], *y = &sort_g->tensors[*(const int *)b];
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    return px < py ? -1 : px > py;
}

static int *sorted_indices(const mot_gguf *g, int64_t n, int (*cmp)(const void *, const void *)) {
    int *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx) {
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        idx[i] = (int)i;
    }
    sort_g = g;
    qsort(idx, (size_t)n, sizeof *idx, cmp);
    return idx;
}

/* ---- the parts of the file -------------------------------------------------------------- */

static mot_status read_header(mot_gguf *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    char magic[4] = {0};
    MOT_TRY(read_bytes(c, magic, 4, "the header"));
    if (memcmp(magic, "GGUF", 4) != 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: not a GGUF file (the magic is not \"GGUF\")", g->path);
    }
    MOT_TRY(read_u32(c, &g->version, "the header"));
    if (g->version != 2 && g->version != 3) {
        return mot_fail(MOT_ERR_FORMAT, "%s: GGUF version %u is not supported (2 and 3 are)", g->path, g->version);
    }
    MOT_TRY(read_u64(c, n_tensors, "the header"));
    MOT_TRY(read_u64(c, n_kv, "the header"));
    if (*n_kv > left(c) / MIN_KV_BYTES || *n_kv > INT32_MAX) {
        return mot_fail(MOT_ERR_FORMAT, "%s: truncated or corrupt: %" PRIu64 " metadata entries cannot fit in the file", g->path, *n_kv);
    }
    if (*n_tensors > left(c) / MIN_TENSOR_BYTES || *n_tensors > INT32_MAX) {
        return mot_fail(MOT_ERR_FORMAT, "%s: truncated or corrupt: %" PRIu64 " tensors cannot fit in the file", g->path, *n_tensors);
    }
    return MOT_OK;
}

static mot_status read_metadata(mot_gguf *g, cursor *c, uint64_t n_kv) {
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    if (!g->kv) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", g->path);
    }
    for (uint64_t i = 0; i < n_kv; i++) {
        char what[48];
        snprintf(what, sizeof what, "the key of metadata entry %" PRIu64, i);
        MOT_TRY(read_string(c, MAX_NAME, &g->kv[i].key, what));
        g->n_kv = (int64_t)i + 1;
        MOT_TRY(read_value(c, &g->kv[i]));
    }
    g->kv_by_key = sorted_indices(g, g->n_kv, cmp_kv_key);
    if (!g->kv_by_key) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", g->path);
    }
    for (int64_t i = 1; i < g->n_kv; i++) {
        if (strcmp(g->kv[g->kv_by_key[i - 1]].key, g->kv[g->kv_by_key[i]].key) == 0) {
            return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': appears twice", g->path, g->kv[g->kv_by_key[i]].key);
        }
    }
    g->alignment = DEFAULT_ALIGNMENT;
    const gguf_kv *a = mot_gguf_kv(g, "general.alignment");
    if (a) {
        if (a->type != MOT_GGUF_U32 || a->i == 0 || (a->i & (a->i - 1)) != 0) {
            return mot_fail(MOT_ERR_FORMAT, "%s: key 'general.alignment': expected a power of two as u32", g->path);
        }
        g->alignment = (uint64_t)a->i;
    }
    return MOT_OK;
}

/* One tensor info; its offset is kept in t->nbytes's place until the data start is known. */
static mot_status read_tensor_info(mot_gguf *g, cursor *c, int64_t i, uint64_t *offset) {
    mot_tensor *t = &g->tensors[i];
    char what[48];
    snprintf(what, sizeof what, "the name of tensor %" PRId64, i);
    char *name;
    MOT_TRY(read_string(c, MAX_NAME, &name, what));
    t->name = name;
    g->n_tensors = i + 1;
    uint32_t n_dims = 0, type = 0;
    MOT_TRY(read_u32(c, &n_dims, name));
    if (n_dims < 1 || n_dims > MAX_DIMS) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': %u dimensions (1 to %d expected)", g->path, name, n_dims,
                        MAX_DIMS);
    }
    uint64_t ne[MAX_DIMS];
    for (uint32_t d = 0; d < n_dims; d++) {
        MOT_TRY(read_u64(c, &ne[d], name));
    }
    MOT_TRY(read_u32(c, &type, name));
    MOT_TRY(read_u64(c, offset, name));
    int dt = mot_gguf_dtype_of_type(type);
    if (dt < 0) {
        const char *tn = type < (uint32_t)N_GGML_TYPES ? ggml_types[type].name : NULL;
        if (tn) {
            return mot_fail(MOT_ERR_UNSUPPORTED,
                            "%s: tensor '%s': type %s is not supported (F32, F16, BF16, Q8_0, Q5_0, Q5_1, Q4_0, "
                            "Q4_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS are)", g->path, name, tn);
        }
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': unknown ggml type %u", g->path, name, type);
    }
    t->dtype = (mot_dtype)dt;
    t->ndim = (int)n_dims;
    uint64_t count = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX || count > (uint64_t)INT64_MAX / ne[d]) {
            return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': dimension %u is %" PRIu64 " (%s)", g->path, name, d,
                            ne[d], ne[d] == 0 ? "empty" : "too large");
        }
        count *= ne[d];
        t->shape[n_dims - 1 - d] = (int64_t)ne[d]; /* PyTorch order: ne[0] last */
    }
    const int block = mot_dtype_block_elems(t->dtype);
    if (ne[0] % (uint64_t)block != 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': %" PRIu64 " elements per row is not a multiple of %s's block of %d",
                        g->path, name, ne[0], mot_dtype_name(t->dtype), block);
    }
    /* bytes = rows x (ne[0] / block) x block bytes, every product checked (a wrapped row
     * size would let a tensor of 2^62 elements pass as a few bytes) */
    const uint64_t rows = count / ne[0], blocks = ne[0] / (uint64_t)block;
    const uint64_t block_bytes = mot_dtype_block_bytes(t->dtype);
    if (blocks > UINT64_MAX / block_bytes || rows > UINT64_MAX / (blocks * block_bytes) ||
        rows * blocks * block_bytes > c->size) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': too large (more bytes than the file has)", g->path, name);
    }
    t->nbytes = (size_t)(rows * blocks * block_bytes);
    if (*offset % g->alignment != 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                        g->path, name, *offset, g->alignment);
    }
    return MOT_OK;
}

static mot_status read_tensors(mot_gguf *g, cursor *c, uint64_t n_tensors) {
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    uint64_t *offsets = calloc(n_tensors ? n_tensors : 1, sizeof *offsets);
    if (!g->tensors || !offsets) {
        free(offsets);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", g->path);
    }
    mot_status st = MOT_OK;
    for (uint64_t i = 0; i < n_tensors && st == MOT_OK; i++) {
        st = read_tensor_info(g, c, (int64_t)i, &offsets[i]);
    }
    if (st == MOT_OK) {
        /* The data section starts at the next multiple of the alignment. */
        g->data_start = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
        const uint64_t data_size = g->data_start <= c->size ? c->size - g->data_start : 0;
        for (uint64_t i = 0; i < n_tensors && st == MOT_OK; i++) {
            mot_tensor *t = &g->tensors[i];
            if (offsets[i] > data_size || t->nbytes > data_size - offsets[i]) {
                st = mot_fail(MOT_ERR_FORMAT,
                              "%s: tensor '%s': its data (%zu bytes at offset %" PRIu64 ") runs past the end of the file "
                              "(%" PRIu64 " bytes of data): truncated?", g->path, t->name, t->nbytes, offsets[i], data_size);
            } else {
                t->data = c->p + g->data_start + offsets[i];
            }
        }
    }
    free(offsets);
    return st;
}

/* Names unique, data ranges disjoint; builds the name index. */
static mot_status check_tensors(mot_gguf *g) {
    g->by_name = sorted_indices(g, g->n_tensors, cmp_tensor_name);
    int *by_data = sorted_indices(g, g->n_tensors, cmp_tensor_data);
    if (!g->by_name || !by_data) {
        free(by_data);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", g->path);
    }
    mot_status st = MOT_OK;
    for (int64_t i = 1; i < g->n_tensors && st == MOT_OK; i++) {
        const mot_tensor *a = &g->tensors[g->by_name[i - 1]], *b = &g->tensors[g->by_name[i]];
        if (strcmp(a->name, b->name) == 0) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': appears twice", g->path, b->name);
        }
    }
    for (int64_t i = 1; i < g->n_tensors && st == MOT_OK; i++) {
        const mot_tensor *a = &g->tensors[by_data[i - 1]], *b = &g->tensors[by_data[i]];
        if ((const char *)a->data + a->nbytes > (const char *)b->data) {
            st = mot_fail(MOT_ERR_FORMAT, "%s: tensors '%s' and '%s': their data overlap", g->path, a->name, b->name);
        }
    }
    free(by_data);
    return st;
}

static mot_status parse(mot_gguf *g) {
    cursor c = {g->map.data, 0, g->map.size, g->path};
    uint64_t n_tensors = 0, n_kv = 0;
    MOT_TRY(read_header(g, &c, &n_tensors, &n_kv));
    MOT_TRY(read_metadata(g, &c, n_kv));
    MOT_TRY(read_tensors(g, &c, n_tensors));
    MOT_TRY(check_tensors(g));
    if (!g->whole) {
        for (int64_t i = 0; i < g->n_tensors; i++) {
            g->tensors[i].data = NULL; /* the lazy mapping is for metadata only */
        }
    }
    return MOT_OK;
}

static mot_status open_file(const char *path, int whole, mot_gguf **out) {
    *out = NULL;
    mot_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    g->whole = whole;
    mot_status st = whole ? mot_map_file_writable(path, 0, &g->map) : mot_map_file_writable(path, 1, &g->map);
    if (st == MOT_OK) {
        st = parse(g);
    }
    if (st != MOT_OK) {
        mot_gguf_close(g);
        return st;
    }
    *out = g;
    return MOT_OK;
}

mot_status mot_gguf_open(const char *path, mot_gguf **out) { return open_file(path, 1, out); }
mot_status mot_gguf_open_meta(const char *path, mot_gguf **out) { return open_file(path, 0, out); }

void mot_gguf_close(mot_gguf *g) {
    if (!g) {
        return;
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        free(kv->key);
        free(kv->str);
        for (int64_t j = 0; kv->strs && j < kv->n; j++) {
            free(kv->strs[j]);
        }
        free(kv->strs);
        free(kv->f32);
        free(kv->i32);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        free((char *)g->tensors[i].name);
    }
    free(g->tensors);
    free(g->by_name);
    free(g->kv_by_key);
    mot_unmap_file(&g->map);
    free(g->path);
    free(g);
}

const char *mot_gguf_path(const mot_gguf *g) { return g->path; }
int mot_gguf_tensor_count(const mot_gguf *g) { return (int)g->n_tensors; }
const mot_tensor *mot_gguf_tensor_at(const mot_gguf *g, int i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const mot_tensor *mot_gguf_find(const mot_gguf *g, const char *name) {
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        int c = strcmp(g->tensors[g->by_name[mid]].name, name);
        if (c == 0) {
            return &g->tensors[g->by_name[mid]];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

void *mot_gguf_data_mut(mot_gguf *g, const void *p) {
    const unsigned char *b = p;
    return g->whole && b >= g->map.data && b < g->map.data + g->map.size ? (void *)b : NULL;
}

int mot_gguf_is_gguf_path(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) {
        return 1;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return 0;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    char magic[4] = {0};
    int ok = fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}
