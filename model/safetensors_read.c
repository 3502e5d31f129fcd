/* Reading one safetensors file: map it, then validate every header entry before any tensor
 * view is handed out. Layout: u64 little-endian header length N, N bytes of JSON, data. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/safetensors_internal.h"

/* Offsets of one tensor inside the data section, for the overlap check. */
typedef struct {
    uint64_t begin, end;
    int tensor;
} byte_range;

static uint64_t read_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static mot_status grow_tensors(mot_st_set *set, const char *path) {
    if (set->n_tensors < set->cap_tensors) {
        return MOT_OK;
    }
    int cap = set->cap_tensors ? 2 * set->cap_tensors : 64;
    mot_tensor *t = realloc(set->tensors, (size_t)cap * sizeof *t);
    if (t) {
        set->tensors = t;
    }
    int *f = t ? realloc(set->file_of, (size_t)cap * sizeof *f) : NULL;
    if (!f) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory for the tensor list", path);
    }
    set->file_of = f;
    set->cap_tensors = cap;
    return MOT_OK;
}

static mot_status check_metadata(const char *path, const json_t *meta) {
    if (!json_is_object(meta)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: __metadata__ is not an object of strings", path);
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)meta, key, v) {
        if (!json_is_string(v)) {
            return mot_fail(MOT_ERR_FORMAT, "%s: __metadata__ entry '%s' is not a string", path, key);
        }
    }
    return MOT_OK;
}

/* A JSON integer that is >= 0 (reals such as 3.0 are refused: writers emit integers). */
static int json_uint(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return 0;
    }
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* Validates one header entry and fills t (data not yet set) and its byte range. */
static mot_status parse_entry(const char *path, const char *name, const json_t *entry,
                              uint64_t data_size, mot_tensor *t, byte_range *range) {
    if (!json_is_object(entry)) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: tensor '%s': expected an object with dtype, shape and data_offsets",
                        path, name);
    }
    const json_t *dtype = json_object_get(entry, "dtype");
    const json_t *shape = json_object_get(entry, "shape");
    const json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_string(dtype)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': 'dtype' is missing or not a string",
                        path, name);
    }
    int dt = mot_dtype_from_name(json_string_value(dtype));
    if (dt < 0) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name,
                        json_string_value(dtype));
    }
    if (!json_is_array(shape)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': 'shape' is missing or not an array",
                        path, name);
    }
    size_t ndim = json_array_size(shape);
    if (ndim > MOT_MAX_DIMS) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': shape has %zu dimensions (at most %d)",
                        path, name, ndim, MOT_MAX_DIMS);
    }
    t->dtype = (mot_dtype)dt;
    t->ndim = (int)ndim;
    uint64_t nbytes = mot_dtype_size(t->dtype);
    int overflow = 0;
    for (size_t d = 0; d < ndim; d++) {
        uint64_t n;
        if (!json_uint(json_array_get(shape, d), &n) || n > INT64_MAX) {
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: tensor '%s': shape entry %zu is not a non-negative integer", path,
                            name, d);
        }
        t->shape[d] = (int64_t)n;
        overflow |= __builtin_mul_overflow(nbytes, n, &nbytes);
    }
    uint64_t begin, end;
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !json_uint(json_array_get(offsets, 0), &begin) ||
        !json_uint(json_array_get(offsets, 1), &end)) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: tensor '%s': 'data_offsets' must be [begin, end] with non-negative "
                        "integers",
                        path, name);
    }
    if (begin > end) {
        return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                        path, name, (unsigned long long)begin, (unsigned long long)end);
    }
    if (end > data_size) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] exceed the data section "
                        "(%llu bytes); the file is truncated?",
                        path, name, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)data_size);
    }
    char dims[160];
    mot_shape_str(t->shape, t->ndim, dims, sizeof dims);
    if (overflow) { /* nbytes wrapped: say what overflowed, not the wrapped number */
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s "
                        "needs more than 2^64 bytes (the shape is corrupt)",
                        path, name, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)(end - begin), mot_dtype_name(t->dtype), dims);
    }
    if (nbytes != end - begin) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %llu",
                        path, name, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)(end - begin), mot_dtype_name(t->dtype), dims,
                        (unsigned long long)nbytes);
    }
    t->nbytes = (size_t)nbytes;
    range->begin = begin;
    range->end = end;
    return MOT_OK;
}

static int by_begin(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) {
        return x->begin < y->begin ? -1 : 1;
    }
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorted by begin, each non-empty range must start at or after the furthest end so far. */
static mot_status check_overlaps(const char *path, const mot_st_set *set, byte_range *r, int n) {
    qsort(r, (size_t)n, sizeof *r, by_begin);
    int reach = -1; /* the range with the furthest end so far */
    for (int i = 0; i < n; i++) {
        if (r[i].begin == r[i].end) {
            continue; /* an empty tensor occupies no bytes */
        }
        if (reach >= 0 && r[i].begin < r[reach].end) {
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", path,
                            set->tensors[r[reach].tensor].name, (unsigned long long)r[reach].begin,
                            (unsigned long long)r[reach].end, set->tensors[r[i].tensor].name,
                            (unsigned long long)r[i].begin, (unsigned long long)r[i].end);
        }
        if (reach < 0 || r[i].end > r[reach].end) {
            reach = i;
        }
    }
    return MOT_OK;
}

/* Appends the header's tensors (validated, with data pointing into the mapping). */
static mot_status add_entries(mot_st_set *set, int fi, const json_t *header) {
    const mot_st_file *file = &set->files[fi];
    const char *path = file->path;
    uint64_t header_len = read_le64(file->map.data);
    const unsigned char *data = file->map.data + 8 + header_len;
    uint64_t data_size = file->map.size - 8 - header_len;

    size_t n_entries = json_object_size(header);
    byte_range *ranges = malloc((n_entries ? n_entries : 1) * sizeof *ranges);
    if (!ranges) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    int n = 0;
    mot_status st = MOT_OK;
    const char *name;
    const json_t *entry;
    json_object_foreach((json_t *)header, name, entry) {
        if (strcmp(name, "__metadata__") == 0) {
            st = check_metadata(path, entry);
        } else if ((st = grow_tensors(set, path)) == MOT_OK) {
            mot_tensor t = {0};
            st = parse_entry(path, name, entry, data_size, &t, &ranges[n]);
            if (st == MOT_OK && !(t.name = strdup(name))) {
                st = mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
            }
            if (st == MOT_OK) {
                t.data = data + ranges[n].begin;
                ranges[n].tensor = set->n_tensors;
                set->file_of[set->n_tensors] = fi;
                set->tensors[set->n_tensors++] = t;
                n++;
            }
        }
        if (st != MOT_OK) {
            break;
        }
    }
    if (st == MOT_OK) {
        st = check_overlaps(path, set, ranges, n);
    }
    free(ranges);
    return st;
}

static mot_status add_file_entry(mot_st_set *set, const char *path, int *fi) {
    mot_st_file *files = realloc(set->files, (size_t)(set->n_files + 1) * sizeof *files);
    if (!files) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    set->files = files;
    mot_st_file *f = &files[set->n_files];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", path);
    }
    *fi = set->n_files++;
    return mot_map_file(path, &f->map);
}

mot_status mot_st_set_add_file(mot_st_set *set, const char *path, int *file_index) {
    int fi = -1;
    MOT_TRY(add_file_entry(set, path, &fi));
    *file_index = fi;
    const mot_mapped_file *map = &set->files[fi].map;
    if (map->size < 8) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: file is %zu bytes, too short for a safetensors header length", path,
                        map->size);
    }
    uint64_t header_len = read_le64(map->data);
    if (header_len > map->size - 8) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: header length %llu exceeds the file size (%zu bytes); not a "
                        "safetensors file, or truncated?",
                        path, (unsigned long long)header_len, map->size);
    }
    json_error_t err;
    json_t *header = json_loadb((const char *)map->data + 8, (size_t)header_len,
                                JSON_REJECT_DUPLICATES, &err);
    if (!header) {
        return mot_fail(MOT_ERR_FORMAT, "%s: header is not valid JSON (byte %d of the header: %s)",
                        path, err.position, err.text);
    }
    mot_status st = json_is_object(header)
                        ? add_entries(set, fi, header)
                        : mot_fail(MOT_ERR_FORMAT, "%s: header is not a JSON object", path);
    json_decref(header);
    return st;
}
