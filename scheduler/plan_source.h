/* What the scheduler compiles from: the pipeline's expanded dataflow graph (graph/graph_nodes.h),
 * the routed set's experts in lane order (lane 0 = the primary), the interaction weights, and
 * the session's sizes. The scheduler lowers the routed set's subgraph node by node to plan ops
 * (scheduler/plan_compile.c); the topology lives in the graph only.
 * Plain data (model/weights.h), filled in by the runtime from its model and route
 * (mot_plan_source_from_route, runtime/router.h): the scheduler never sees either.
 * A single expert run (`mot run -m`) is the same with one lane and no stacks. */
#ifndef MOT_SCHEDULER_PLAN_SOURCE_H
#define MOT_SCHEDULER_PLAN_SOURCE_H

#include "graph/graph_nodes.h"
#include "model/weights.h"
#include "scheduler/plan.h"

typedef struct mot_plan_source_s {
    const mot_graph *graph;          /* the expanded graph; NULL: one expert alone (n_lanes 1,
                                        stacks 0), lowered from mot_graph_single */
    int n_lanes;
    const mot_expert *ex[MOT_MAX_LANES];
    int expert[MOT_MAX_LANES];       /* pipeline index (0 for a single expert) */
    int stacks;                      /* Q (the interaction weights, latent caches); 0 = none */
    int shared_dim, heads;           /* d_s, H */
    const mot_interaction_weights *inter; /* [stacks] */
    const mot_expert *const *pool;   /* training: every expert a lane may run over the backend's life
                                        (the routed set changes per example), or NULL: ex[] only;
                                        uploaded at open, and each lane sized for the largest */
    int n_pool;
    const void *extra;               /* host memory the ops also point into (training: the trainable
                                        tensors' values), or NULL; a backend with its own memory
                                        copies it at open, as it copies the weights */
    size_t extra_bytes;
    int ignore_eos;                  /* benchmarks: no lane dies at EOS */
    int unfused;                     /* decode plans keep RMSNORM, MATMUL, SWIGLU apart (the
                                        schedule's `fuse: off`; scheduler/plan_fuse.c) */
    int all_logits;                  /* perplexity: the prompt passes (prefill, chunks) also write
                                        the primary's logits of every row they feed into the
                                        arena's all_logits [max_rows, vocab] */
    /* sizes of the session (the arena): per lane */
    int ctx[MOT_MAX_LANES];          /* KV cache and latent cache rows */
    int max_rows[MOT_MAX_LANES];     /* tokens one pass may feed */
} mot_plan_source;

/* One expert, no interaction. */
void mot_plan_source_single(const mot_expert *ex, int ctx, int max_rows, mot_plan_source *src);

#endif
