/* GGUF metadata getters: typed access with messages that name the file and the key. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/gguf_internal.h"

static int cmp_key(const mot_gguf *g, int64_t i, const char *key) { return strcmp(g->kv[g->kv_by_key[i]].key, key); }

const gguf_kv *mot_gguf_kv(const mot_gguf *g, const char *key) {
    int64_t lo = 0, hi = g->kv_by_key ? g->n_kv : 0;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        int c = cmp_key(g, mid, key);
        if (c == 0) {
            return &g->kv[g->kv_by_key[mid]];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

int mot_gguf_has(const mot_gguf *g, const char *key) { return mot_gguf_kv(g, key) != NULL; }

static const char *type_name(mot_gguf_type t) {
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static int is_int_type(mot_gguf_type t) {
    return t == MOT_GGUF_U8 || t == MOT_GGUF_I8 || t == MOT_GGUF_U16 || t == MOT_GGUF_I16 || t == MOT_GGUF_U32 ||
           t == MOT_GGUF_I32 || t == MOT_GGUF_U64 || t == MOT_GGUF_I64;
}

static mot_status missing(const mot_gguf *g, const char *key) {
    return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': missing", g->path, key);
}

static mot_status wrong_type(const mot_gguf *g, const char *key, const char *expected, const gguf_kv *kv) {
    if (kv->type == MOT_GGUF_ARRAY) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': expected %s, found an array of %s", g->path, key, expected,
                        type_name(kv->elem_type));
    }
    return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': expected %s, found %s", g->path, key, expected, type_name(kv->type));
}

mot_status mot_gguf_opt_int(const mot_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = mot_gguf_kv(g, key);
    if (!kv) {
        return MOT_OK;
    }
    if (!is_int_type(kv->type)) {
        return wrong_type(g, key, "an integer", kv);
    }
    *out = kv->i;
    return MOT_OK;
}

mot_status mot_gguf_get_int(const mot_gguf *g, const char *key, int64_t *out) {
    return mot_gguf_has(g, key) ? mot_gguf_opt_int(g, key, out) : missing(g, key);
}

mot_status mot_gguf_opt_float(const mot_gguf *g, const char *key, double *out) {
    const gguf_kv *kv = mot_gguf_kv(g, key);
    if (!kv) {
        return MOT_OK;
    }
    if (kv->type == MOT_GGUF_F32 || kv->type == MOT_GGUF_F64) {
        *out = kv->f;
    } else if (is_int_type(kv->type)) {
        *out = (double)kv->i;
    } else {
        return wrong_type(g, key, "a number", kv);
    }
    return MOT_OK;
}

mot_status mot_gguf_get_float(const mot_gguf *g, const char *key, double *out) {
    return mot_gguf_has(g, key) ? mot_gguf_opt_float(g, key, out) : missing(g, key);
}

mot_status mot_gguf_opt_bool(const mot_gguf *g, const char *key, int *out) {
    const gguf_kv *kv = mot_gguf_kv(g, key);
    if (!kv) {
        return MOT_OK;
    }
    if (kv->type != MOT_GGUF_BOOL) {
        return wrong_type(g, key, "a bool", kv);
    }
    *out = (int)kv->i;
    return MOT_OK;
}

mot_status mot_gguf_opt_str(const mot_gguf *g, const char *key, const char **out) {
    const gguf_kv *kv = mot_gguf_kv(g, key);
    if (!kv) {
        return MOT_OK;
    }
    if (kv->type != MOT_GGUF_STRING) {
        return wrong_type(g, key, "a string", kv);
    }
    *out = kv->str;
    return MOT_OK;
}

mot_status mot_gguf_get_str(const mot_gguf *g, const char *key, const char **out) {
    return mot_gguf_has(g, key) ? mot_gguf_opt_str(g, key, out) : missing(g, key);
}

/* The array under key whose elements satisfy ok, or an error. */
static mot_status get_array(const mot_gguf *g, const char *key, int (*ok)(mot_gguf_type), const char *expected,
                            gguf_kv **out) {
    gguf_kv *kv = (gguf_kv *)mot_gguf_kv(g, key);
    if (!kv) {
        return missing(g, key);
    }
    if (kv->type != MOT_GGUF_ARRAY || !ok(kv->elem_type)) {
        return wrong_type(g, key, expected, kv);
    }
    *out = kv;
    return MOT_OK;
}

static int is_string(mot_gguf_type t) { return t == MOT_GGUF_STRING; }
static int is_number(mot_gguf_type t) { return is_int_type(t) || t == MOT_GGUF_F32 || t == MOT_GGUF_F64; }

mot_status mot_gguf_get_str_array(const mot_gguf *g, const char *key, char *const **out, int64_t *n) {
    gguf_kv *kv = NULL;
    MOT_TRY(get_array(g, key, is_string, "an array of strings", &kv));
    *out = kv->strs;
    *n = kv->n;
    return MOT_OK;
}

/* Element i of a numeric array as a double. */
static double number_at(const gguf_kv *kv, int64_t i) {
    gguf_kv one = {.type = kv->elem_type};
    const size_t size = kv->elem_type == MOT_GGUF_U8 || kv->elem_type == MOT_GGUF_I8 || kv->elem_type == MOT_GGUF_BOOL ? 1
                        : kv->elem_type == MOT_GGUF_U16 || kv->elem_type == MOT_GGUF_I16                             ? 2
                        : kv->elem_type == MOT_GGUF_U64 || kv->elem_type == MOT_GGUF_I64 ||
                                  kv->elem_type == MOT_GGUF_F64                                                      ? 8
                                                                                                                     : 4;
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        float f32; uint64_t u64; int64_t i64; double f64;
    } v;
    memcpy(&v, kv->raw + (size_t)i * size, size);
    switch (one.type) {
    case MOT_GGUF_U8: return v.u8;
    case MOT_GGUF_I8: return v.i8;
    case MOT_GGUF_U16: return v.u16;
    case MOT_GGUF_I16: return v.i16;
    case MOT_GGUF_U32: return v.u32;
    case MOT_GGUF_I32: return v.i32;
    case MOT_GGUF_U64: return (double)v.u64;
    case MOT_GGUF_I64: return (double)v.i64;
    case MOT_GGUF_F32: return v.f32;
    case MOT_GGUF_F64: return v.f64;
    default: return 0;
    }
}

mot_status mot_gguf_get_f32_array(const mot_gguf *g, const char *key, const float **out, int64_t *n) {
    gguf_kv *kv = NULL;
    MOT_TRY(get_array(g, key, is_number, "an array of numbers", &kv));
    if (!kv->f32) {
        kv->f32 = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->f32);
        if (!kv->f32) {
            return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", g->path);
        }
        for (int64_t i = 0; i < kv->n; i++) {
            kv->f32[i] = (float)number_at(kv, i);
        }
    }
    *out = kv->f32;
    *n = kv->n;
    return MOT_OK;
}

mot_status mot_gguf_get_i32_array(const mot_gguf *g, const char *key, const int32_t **out, int64_t *n) {
    gguf_kv *kv = NULL;
    MOT_TRY(get_array(g, key, is_int_type, "an array of integers", &kv));
    if (!kv->i32) {
        kv->i32 = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->i32);
        if (!kv->i32) {
            return mot_fail(MOT_ERR_NOMEM, "%s: out of memory", g->path);
        }
        for (int64_t i = 0; i < kv->n; i++) {
            double v = number_at(kv, i);
            if (v < INT32_MIN || v > INT32_MAX) {
                free(kv->i32);
                kv->i32 = NULL; /* no half-converted cache for a second call */
                return mot_fail(MOT_ERR_FORMAT, "%s: key '%s'[%lld]: %.0f is out of range", g->path, key, (long long)i, v);
            }
            kv->i32[i] = (int32_t)v;
        }
    }
    *out = kv->i32;
    *n = kv->n;
    return MOT_OK;
}
