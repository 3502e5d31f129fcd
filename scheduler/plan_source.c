#include "scheduler/plan_source.h"

#include <string.h>

void mot_plan_source_single(const mot_expert *ex, int ctx, int max_rows, mot_plan_source *src) {
    memset(src, 0, sizeof *src);
    src->n_lanes = 1;
    src->ex[0] = ex;
    src->ctx[0] = ctx;
    src->max_rows[0] = max_rows;
}
