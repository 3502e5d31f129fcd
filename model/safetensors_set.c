/* The tensor set: lifetime, the name index (open addressing, FNV-1a) and lookups. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/safetensors_internal.h"

mot_status mot_st_set_new(const char *label, mot_st_set **out) {
    *out = NULL;
    mot_st_set *set = calloc(1, sizeof *set);
    if (!set || !(set->label = strdup(label))) {
        free(set);
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", label);
    }
    *out = set;
    return MOT_OK;
}

void mot_st_close(mot_st_set *set) {
    if (!set) {
        return;
    }
    for (int i = 0; i < set->n_tensors; i++) {
        free((char *)set->tensors[i].name);
    }
    for (int i = 0; i < set->n_files; i++) {
        mot_unmap_file(&set->files[i].map);
        free(set->files[i].path);
    }
    free(set->tensors);
    free(set->file_of);
    free(set->files);
    free(set->slots);
    free(set->label);
    free(set);
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

mot_status mot_st_set_index(mot_st_set *set) {
    size_t n_slots = 16;
    while (n_slots < 2 * (size_t)set->n_tensors) {
        n_slots *= 2;
    }
    free(set->slots);
    set->n_slots = 0;
    set->slots = calloc(n_slots, sizeof *set->slots);
    if (!set->slots) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", set->label);
    }
    set->n_slots = n_slots;
    for (int i = 0; i < set->n_tensors; i++) {
        const char *name = set->tensors[i].name;
        size_t s = name_hash(name) & (n_slots - 1);
        while (set->slots[s] != 0) {
            int j = set->slots[s] - 1;
            if (strcmp(set->tensors[j].name, name) == 0) {
                return mot_fail(MOT_ERR_FORMAT, "%s: tensor '%s': found twice (in %s and in %s)",
                                set->label, name, set->files[set->file_of[j]].path,
                                set->files[set->file_of[i]].path);
            }
            s = (s + 1) & (n_slots - 1);
        }
        set->slots[s] = i + 1;
    }
    return MOT_OK;
}

int mot_st_set_lookup(const mot_st_set *set, const char *name) {
    if (!set || !name || set->n_slots == 0) {
        return -1;
    }
    size_t s = name_hash(name) & (set->n_slots - 1);
    while (set->slots[s] != 0) {
        int j = set->slots[s] - 1;
        if (strcmp(set->tensors[j].name, name) == 0) {
            return j;
        }
        s = (s + 1) & (set->n_slots - 1);
    }
    return -1;
}

mot_status mot_st_open_file(const char *path, mot_st_set **out) {
    *out = NULL;
    mot_st_set *set;
    MOT_TRY(mot_st_set_new(path, &set));
    int file_index;
    mot_status st = mot_st_set_add_file(set, path, &file_index);
    if (st == MOT_OK) {
        st = mot_st_set_index(set);
    }
    if (st != MOT_OK) {
        mot_st_close(set);
        return st;
    }
    *out = set;
    return MOT_OK;
}

int mot_st_count(const mot_st_set *set) { return set ? set->n_tensors : 0; }

const mot_tensor *mot_st_at(const mot_st_set *set, int i) {
    return (set && i >= 0 && i < set->n_tensors) ? &set->tensors[i] : NULL;
}

const mot_tensor *mot_st_find(const mot_st_set *set, const char *name) {
    int i = mot_st_set_lookup(set, name);
    return i < 0 ? NULL : &set->tensors[i];
}

const char *mot_st_file_of(const mot_st_set *set, const mot_tensor *t) {
    if (!set || !t || t < set->tensors || t >= set->tensors + set->n_tensors) {
        return set ? set->label : "?";
    }
    return set->files[set->file_of[t - set->tensors]].path;
}

mot_status mot_st_expect(const mot_st_set *set, const char *name, int ndim, const int64_t *shape,
                         const mot_tensor **out) {
    if (out) {
        *out = NULL;
    }
    const mot_tensor *t = mot_st_find(set, name);
    if (!t) {
        return mot_fail(MOT_ERR_SHAPE, "%s: tensor '%s': missing", set ? set->label : "?", name);
    }
    const char *file = mot_st_file_of(set, t);
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) {
        same = t->shape[d] == shape[d];
    }
    if (!same) {
        char want[160], found[160];
        return mot_fail(MOT_ERR_SHAPE, "%s: tensor '%s': expected %s, found %s", file, name,
                        mot_shape_str(shape, ndim, want, sizeof want),
                        mot_shape_str(t->shape, t->ndim, found, sizeof found));
    }
    if (t->dtype != MOT_DTYPE_F32 && t->dtype != MOT_DTYPE_F16 && t->dtype != MOT_DTYPE_BF16) {
        return mot_fail(MOT_ERR_SHAPE,
                        "%s: tensor '%s': dtype %s is not supported (expected F32, F16 or BF16)",
                        file, name, mot_dtype_name(t->dtype));
    }
    if (out) {
        *out = t;
    }
    return MOT_OK;
}

mot_status mot_st_expect_weight(const mot_st_set *set, const char *name, int64_t rows, int64_t cols,
                                mot_weight *out) {
    const mot_tensor *t;
    MOT_TRY(mot_st_expect(set, name, 2, (const int64_t[]){rows, cols}, &t));
    *out = (mot_weight){t->dtype, t->data, rows, cols};
    return MOT_OK;
}

mot_status mot_st_expect_f32_vector(const mot_st_set *set, const char *name, int64_t n, float **out) {
    const mot_tensor *t;
    MOT_TRY(mot_st_expect(set, name, 1, (const int64_t[]){n}, &t));
    *out = mot_tensor_to_f32(t, n);
    return *out ? MOT_OK : mot_fail(MOT_ERR_NOMEM, "%s: out of memory", name);
}
