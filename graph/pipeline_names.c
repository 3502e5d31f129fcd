/* Names in a pipeline: the choice keys' spellings, valid expert names, lookups by name. A
 * leaf of graph/: parsing, validation, placement and the graph writer call it, it calls none
 * of them. */
#include <string.h>

#include "graph/pipeline_internal.h"

const char *const mot_placement_names[] = {"uniform", "shallow", "intermediate", "deep", "explicit", NULL};
const char *const mot_latent_norm_names[] = {"none", "layernorm", NULL};

const char *mot_placement_name(mot_placement pl) {
    return pl >= MOT_PLACEMENT_UNIFORM && pl <= MOT_PLACEMENT_EXPLICIT ? mot_placement_names[pl] : "?";
}

const char *mot_latent_norm_name(mot_latent_norm n) {
    return n == MOT_LATENT_NORM_LAYERNORM ? "layernorm" : "none";
}

int mot_pipeline_valid_name(const char *s) {
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

int mot_pipeline_find_expert(const mot_pipeline *p, const char *name) {
    for (int i = 0; i < p->n_experts; i++) {
        if (!strcmp(p->experts[i].name, name)) {
            return i;
        }
    }
    return -1;
}
