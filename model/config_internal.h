/* Private to model/config*.c: the parts of config.json read in their own files. */
#ifndef MOT_MODEL_CONFIG_INTERNAL_H
#define MOT_MODEL_CONFIG_INTERNAL_H

#include <float.h>
#include <jansson.h>

#include "common/error.h"
#include "model/config.h"

/* A positive number stored as a float: v must lie in [FLT_MIN, FLT_MAX]. A double such as
 * 1e-50 or 1e39 passes "> 0" yet becomes 0 or inf as a float (and converting a double beyond
 * FLT_MAX is undefined); found by tests/fuzz/fuzz_config.c. Error "WHERE: key 'K': 1e-50 is
 * out of range (expected 1.17549e-38..3.40282e+38)". */
static inline mot_status mot_config_check_float(const char *where, const char *key, double v) {
    if (!(v >= FLT_MIN && v <= FLT_MAX)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': %g is out of range (expected %g..%g)", where,
                        key, v, FLT_MIN, FLT_MAX);
    }
    return MOT_OK;
}

/* rope_scaling: null, or {rope_type|type: default|linear|llama3, factor, ...}. */
mot_status mot_config_read_rope_scaling(const json_t *root, const char *file, mot_config *cfg);

#endif
