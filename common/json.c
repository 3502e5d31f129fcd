#include "common/json.h"

#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/mapped_file.h"

mot_status mot_json_load(const char *path, json_t **out) {
    /* Read through mot_read_file (a regular file, within the size limit, never blocking on
     * a FIFO), then parse. */
    *out = NULL;
    char *text = NULL;
    size_t size = 0;
    MOT_TRY(mot_read_file(path, &text, &size));
    json_error_t err;
    *out = json_loadb(text, size, 0, &err);
    free(text);
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
    /* A real that is a whole number in long long's range (3.0, not 1e300: converting that
     * would be undefined behaviour). */
    const double r = json_is_real(v) ? json_real_value(v) : 0.5;
    if (json_is_real(v) && r == floor(r) && r >= -9.2e18 && r <= 9.2e18) {
        *out = (long long)r;
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
