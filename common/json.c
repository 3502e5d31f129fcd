#include "common/json.h"

#include "common/error.h"

mot_status mot_json_load(const char *path, json_t **out) {
    json_error_t err;
    *out = json_load_file(path, 0, &err);
    if (!*out) {
        if (err.line < 0 || err.position == 0) {
            return mot_fail(MOT_ERR_IO, "%s: %s", path, err.text);
        }
        return mot_fail(MOT_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, err.line, err.column,
                        err.text);
    }
    return MOT_OK;
}

static mot_status get_int(const json_t *v, const char *key, const char *file, long long *out) {
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return MOT_OK;
    }
    if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v)) {
        *out = (long long)json_real_value(v);
        return MOT_OK;
    }
    return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': expected an integer", file, key);
}

static mot_status get_num(const json_t *v, const char *key, const char *file, double *out) {
    if (!json_is_number(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': expected a number", file, key);
    }
    *out = json_number_value(v);
    return MOT_OK;
}

mot_status mot_json_int(const json_t *obj, const char *key, const char *file, long long *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': missing", file, key);
    }
    return get_int(v, key, file, out);
}

mot_status mot_json_num(const json_t *obj, const char *key, const char *file, double *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': missing", file, key);
    }
    return get_num(v, key, file, out);
}

mot_status mot_json_opt_int(const json_t *obj, const char *key, const char *file, long long *out) {
    const json_t *v = json_object_get(obj, key);
    return (!v || json_is_null(v)) ? MOT_OK : get_int(v, key, file, out);
}

mot_status mot_json_opt_num(const json_t *obj, const char *key, const char *file, double *out) {
    const json_t *v = json_object_get(obj, key);
    return (!v || json_is_null(v)) ? MOT_OK : get_num(v, key, file, out);
}

mot_status mot_json_opt_bool(const json_t *obj, const char *key, const char *file, int *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (!json_is_boolean(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': expected true or false", file, key);
    }
    *out = json_is_true(v);
    return MOT_OK;
}
