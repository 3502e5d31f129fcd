/* A Hugging Face model folder's chat template: tokenizer_config.json's "chat_template" (a
 * string, or a list of named templates as older transformers saved several), else the
 * chat_template.jinja file newer transformers save beside it. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mapped_file.h"
#include "tokenizer/tok_internal.h"

static mot_status from_config(const json_t *cfg, const char *cfg_path, char **out) {
    const json_t *v = json_object_get(cfg, "chat_template");
    if (!v || json_is_null(v)) {
        return MOT_OK;
    }
    if (json_is_array(v)) {
        const json_t *chosen = NULL;
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *item = json_array_get(v, i);
            const char *name = json_string_value(json_object_get(item, "name"));
            if (!name || !json_is_string(json_object_get(item, "template"))) {
                return mot_fail(MOT_ERR_FORMAT, "%s: chat_template[%zu]: expected {\"name\": ..., \"template\": ...}",
                                cfg_path, i);
            }
            if (strcmp(name, "default") == 0) {
                chosen = json_object_get(item, "template");
            }
        }
        v = chosen; /* transformers too needs a name when there is no "default" */
        if (!v) {
            return MOT_OK;
        }
    }
    if (!json_is_string(v)) {
        return mot_fail(MOT_ERR_FORMAT, "%s: 'chat_template' must be a string or a list of named templates",
                        cfg_path);
    }
    *out = strdup(json_string_value(v));
    return *out ? MOT_OK : tok_nomem();
}

mot_status tok_load_chat_template(const json_t *cfg, const char *cfg_path, const char *dir, char **out) {
    *out = NULL;
    if (cfg) {
        MOT_TRY(from_config(cfg, cfg_path, out));
        if (*out) {
            return MOT_OK;
        }
    }
    char *path = mot_path_join(dir, "chat_template.jinja");
    if (!path) {
        return tok_nomem();
    }
    mot_status st = MOT_OK;
    if (mot_file_exists(path)) {
        size_t size;
        st = mot_read_file(path, out, &size);
    }
    free(path);
    return st;
}
