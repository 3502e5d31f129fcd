/* Private to model/config*.c: the parts of config.json read in their own files. */
#ifndef MOT_MODEL_CONFIG_INTERNAL_H
#define MOT_MODEL_CONFIG_INTERNAL_H

#include <jansson.h>

#include "model/config.h"

/* rope_scaling: null, or {rope_type|type: default|linear|llama3, factor, ...}. */
mot_status mot_config_read_rope_scaling(const json_t *root, const char *file, mot_config *cfg);
/* bos_token_id and eos_token_id (an int or a list); absent or null keys change nothing. */
mot_status mot_config_read_special_tokens(const json_t *root, const char *file, mot_config *cfg);

#endif
