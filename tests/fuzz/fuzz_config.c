/* libFuzzer target: a model folder's config.json and generation_config.json (model/config_json.c,
 * config_rope.c). One input is config.json, then, after a NUL byte
 * (which JSON text never holds), generation_config.json; without the NUL there is none.
 * A config that loads must hold what the runtime relies on (positive sizes, heads dividing
 * the model, EOS count in range). Build and run: scripts/fuzz.sh config SECONDS. */
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>

#include "model/config.h"
#include "tests/fuzz/fuzz_files.h"

static void check(const mot_config *c) {
    int ok = c->hidden > 0 && c->n_layers > 0 && c->n_heads > 0 && c->n_kv_heads > 0 &&
             c->head_dim > 0 && c->ffn > 0 && c->vocab > 0 && c->n_eos >= 0 &&
             c->n_eos <= MOT_MAX_EOS && c->n_heads % c->n_kv_heads == 0 && c->head_dim % 2 == 0 &&
             c->max_pos > 0 && c->rms_eps > 0 && isfinite(c->rms_eps) && c->rope_theta > 0 &&
             isfinite(c->rope_theta);
    if (!ok) {
        abort();
    }
    (void)mot_config_is_eos(c, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_dir("config");
    fuzz_part parts[2];
    int n = fuzz_split(data, size, "", 1, parts, 2);
    int ok = fuzz_write("config.json", parts[0].data, parts[0].size) == 0;
    if (n == 2) {
        ok = ok && fuzz_write("generation_config.json", parts[1].data, parts[1].size) == 0;
    } else {
        fuzz_remove("generation_config.json");
    }
    mot_config cfg;
    if (ok && mot_config_load(dir, &cfg) == 0) {
        check(&cfg);
    }
    return 0;
}
