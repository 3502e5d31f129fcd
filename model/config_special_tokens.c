/* bos_token_id / eos_token_id, as config.json and generation_config.json give them. */
#include "common/error.h"
#include "model/config_internal.h"

#include <limits.h>

static int token_id(const json_t *v, int *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT_MAX) {
        return 0;
    }
    *out = (int)json_integer_value(v);
    return 1;
}

static mot_status read_eos(const json_t *v, const char *file, mot_config *cfg) {
    if (json_is_integer(v)) {
        if (!token_id(v, &cfg->eos_ids[0])) {
            return mot_fail(MOT_ERR_FORMAT, "%s: key 'eos_token_id': %lld is not a token id",
                            file, (long long)json_integer_value(v));
        }
        cfg->n_eos = 1;
        return MOT_OK;
    }
    if (!json_is_array(v)) {
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: key 'eos_token_id': expected an integer or a list of integers", file);
    }
    if (json_array_size(v) > MOT_MAX_EOS) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: key 'eos_token_id': %zu ids (at most %d)", file,
                        json_array_size(v), MOT_MAX_EOS);
    }
    int ids[MOT_MAX_EOS];
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (!token_id(json_array_get(v, i), &ids[i])) {
            return mot_fail(MOT_ERR_FORMAT,
                            "%s: key 'eos_token_id': entry %zu is not a non-negative integer",
                            file, i);
        }
    }
    cfg->n_eos = (int)json_array_size(v);
    for (int i = 0; i < cfg->n_eos; i++) {
        cfg->eos_ids[i] = ids[i];
    }
    return MOT_OK;
}

mot_status mot_config_read_special_tokens(const json_t *root, const char *file, mot_config *cfg) {
    const json_t *bos = json_object_get(root, "bos_token_id");
    if (bos && !json_is_null(bos) && !token_id(bos, &cfg->bos_id)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'bos_token_id': expected a non-negative integer",
                        file);
    }
    const json_t *eos = json_object_get(root, "eos_token_id");
    if (eos && !json_is_null(eos)) {
        MOT_TRY(read_eos(eos, file, cfg));
    }
    return MOT_OK;
}
