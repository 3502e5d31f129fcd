/* fuzz_pipeline_expand (pipeline_expand.h). */
#include "tests/fuzz/pipeline_expand.h"

#include <stdio.h>
#include <stdlib.h>

char *fuzz_pipeline_expand(const mot_pipeline *p, int dot, size_t *len) {
    int *depths = calloc((size_t)p->n_experts + 1, sizeof *depths);
    char *text = NULL;
    FILE *f = depths ? open_memstream(&text, len) : NULL;
    if (!f) {
        abort(); /* out of memory: not what is being tested */
    }
    for (int m = 0; m < p->n_experts; m++) {
        depths[m] = p->experts[m].depth > 0 ? p->experts[m].depth : FUZZ_DEFAULT_DEPTH;
    }
    mot_status st = dot ? mot_pipeline_write_dot(p, depths, f) : mot_pipeline_write_yaml(p, depths, f);
    fclose(f);
    free(depths);
    if (st != MOT_OK) {
        free(text);
        return NULL;
    }
    return text;
}
