/* An expert's settings from whichever format its path holds: a GGUF file's llama.* keys
 * (config_gguf.c) or a folder's config.json + generation_config.json (config_json.c); the
 * questions asked of a loaded config. model/config.h declares both. */
#include "common/error.h"
#include "model/config.h"
#include "model/config_internal.h"
#include "model/gguf.h"

mot_status mot_config_load(const char *dir, mot_config *cfg) {
    if (mot_gguf_is_gguf_path(dir)) {
        mot_gguf *g;
        MOT_TRY(mot_gguf_open_meta(dir, &g));
        mot_status st = mot_config_from_gguf(g, cfg);
        mot_gguf_close(g);
        return st;
    }
    return mot_config_from_folder(dir, cfg);
}

int mot_config_is_eos(const mot_config *cfg, int token) {
    for (int i = 0; i < cfg->n_eos; i++) {
        if (cfg->eos_ids[i] == token) {
            return 1;
        }
    }
    return 0;
}
