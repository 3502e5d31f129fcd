/* rope_scaling in config.json: which frequency rescaling the rotary embeddings use; and the
 * frequencies that scaling gives (HF _compute_default/linear/llama3_parameters). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "model/config_internal.h"

static mot_status positive(const json_t *rs, const char *key, const char *where, double *out) {
    MOT_TRY(mot_json_num(rs, key, where, out));
    if (!(*out > 0)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key '%s': %g must be positive", where, key, *out);
    }
    return mot_config_check_float(where, key, *out);
}

static mot_status read_llama3(const json_t *rs, const char *where, mot_config *cfg) {
    double factor, low, high, orig;
    MOT_TRY(positive(rs, "factor", where, &factor));
    MOT_TRY(positive(rs, "low_freq_factor", where, &low));
    MOT_TRY(positive(rs, "high_freq_factor", where, &high));
    MOT_TRY(positive(rs, "original_max_position_embeddings", where, &orig));
    if (orig > INT_MAX) { /* kept as an int; a larger double does not convert */
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: key 'original_max_position_embeddings': %g is out of range "
                        "(expected 1..%d)",
                        where, orig, INT_MAX);
    }
    if (!((float)high > (float)low)) {
        /* the smoothing between the two bands divides by high - low, in float */
        return mot_fail(MOT_ERR_FORMAT,
                        "%s: high_freq_factor %g must be greater than low_freq_factor %g", where,
                        high, low);
    }
    cfg->rope_type = MOT_ROPE_LLAMA3;
    cfg->rope_factor = (float)factor;
    cfg->rope_low_freq_factor = (float)low;
    cfg->rope_high_freq_factor = (float)high;
    cfg->rope_orig_max_pos = (int)orig;
    return MOT_OK;
}

mot_status mot_config_read_rope_scaling(const json_t *root, const char *file, mot_config *cfg) {
    cfg->rope_type = MOT_ROPE_NONE;
    cfg->rope_factor = 1.0f;
    const json_t *rs = json_object_get(root, "rope_scaling");
    if (!rs || json_is_null(rs)) {
        return MOT_OK;
    }
    if (!json_is_object(rs)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'rope_scaling': expected an object or null",
                        file);
    }
    char where[1024];
    snprintf(where, sizeof where, "%s: rope_scaling", file);
    const json_t *type = json_object_get(rs, "rope_type");
    if (!type) {
        type = json_object_get(rs, "type"); /* older configs */
    }
    if (!json_is_string(type)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: key 'rope_type': missing or not a string", where);
    }
    const char *name = json_string_value(type);
    if (strcmp(name, "default") == 0) {
        return MOT_OK;
    }
    if (strcmp(name, "linear") == 0) {
        double factor;
        MOT_TRY(positive(rs, "factor", where, &factor));
        cfg->rope_type = MOT_ROPE_LINEAR;
        cfg->rope_factor = (float)factor;
        return MOT_OK;
    }
    if (strcmp(name, "llama3") == 0) {
        return read_llama3(rs, where, cfg);
    }
    return mot_fail(MOT_ERR_UNSUPPORTED,
                    "%s: rope_scaling type '%s' is not supported (expected linear, llama3 or "
                    "default)",
                    file, name);
}

void mot_rope_inv_freq(const mot_config *cfg, float *inv_freq) {
    int half = cfg->head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* HF computes this in f32: 1 / theta ** (arange(0, hd, 2).float() / hd). */
        double f = 1.0 / pow((double)cfg->rope_theta, (double)(2 * i) / (double)cfg->head_dim);
        if (cfg->rope_type == MOT_ROPE_LINEAR) {
            f /= cfg->rope_factor;
        } else if (cfg->rope_type == MOT_ROPE_LLAMA3) {
            double orig = cfg->rope_orig_max_pos;
            double low_wavelen = orig / cfg->rope_low_freq_factor;
            double high_wavelen = orig / cfg->rope_high_freq_factor;
            double wavelen = 2.0 * M_PI / f;
            if (wavelen > low_wavelen) {
                f /= cfg->rope_factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (orig / wavelen - cfg->rope_low_freq_factor) /
                                (cfg->rope_high_freq_factor - cfg->rope_low_freq_factor);
                f = (1.0 - smooth) * f / cfg->rope_factor + smooth * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}
