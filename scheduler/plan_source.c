#include "scheduler/plan_source.h"

#include <string.h>

#include "common/error.h"

mot_status mot_plan_source_from_route(const mot_model *m, const mot_route *route, int ignore_eos,
                                      mot_plan_source *src) {
    memset(src, 0, sizeof *src);
    if (route->k < 1 || route->k > MOT_MAX_LANES) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "%s: %d active experts; at most %d can run together",
                        m->pipe->file, route->k, MOT_MAX_LANES);
    }
    src->n_lanes = route->k;
    for (int i = 0; i < route->k; i++) {
        const int e = route->active[i];
        src->ex[i] = m->experts[e];
        src->expert[i] = e;
        src->ends[i] = m->ends[e];
    }
    src->stacks = m->pipe->interaction.stacks;
    src->shared_dim = m->pipe->interaction.shared_dim;
    src->heads = m->pipe->interaction.heads;
    src->inter = m->inter;
    src->ignore_eos = ignore_eos;
    return MOT_OK;
}

void mot_plan_source_single(const mot_expert *ex, int ctx, int max_rows, mot_plan_source *src) {
    memset(src, 0, sizeof *src);
    src->n_lanes = 1;
    src->ex[0] = ex;
    src->ctx[0] = ctx;
    src->max_rows[0] = max_rows;
}
