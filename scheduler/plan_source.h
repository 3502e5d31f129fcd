/* What the scheduler compiles from: the routed set's experts in lane order (lane 0 = the
 * primary), their interaction points and the interaction weights, and the session's sizes.
 * Plain data (model/weights.h), filled in by the runtime from its model and route
 * (mot_plan_source_from_route, runtime/router.h): the scheduler never sees either.
 * A single expert run (`mot run -m`) is the same with one lane and no stacks. */
#ifndef MOT_SCHEDULER_PLAN_SOURCE_H
#define MOT_SCHEDULER_PLAN_SOURCE_H

#include "model/weights.h"
#include "scheduler/plan.h"

typedef struct mot_plan_source_s {
    int n_lanes;
    const mot_expert *ex[MOT_MAX_LANES];
    int expert[MOT_MAX_LANES];       /* pipeline index (0 for a single expert) */
    const int *ends[MOT_MAX_LANES];  /* [stacks]: the layer after which interaction q runs */
    int stacks;                      /* Q; 0 = no interaction layers */
    int shared_dim, heads;           /* d_s, H */
    const mot_interaction_weights *inter; /* [stacks] */
    int ignore_eos;                  /* benchmarks: no lane dies at EOS */
    /* sizes of the session (the arena): per lane */
    int ctx[MOT_MAX_LANES];          /* KV cache and latent cache rows */
    int max_rows[MOT_MAX_LANES];     /* tokens one pass may feed */
} mot_plan_source;

/* One expert, no interaction. */
void mot_plan_source_single(const mot_expert *ex, int ctx, int max_rows, mot_plan_source *src);

#endif
