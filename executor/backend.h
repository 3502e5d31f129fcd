/* A backend runs plans on its own memory: the arena lives there, the host reads and writes
 * it only through this table (tokens in, the step state and logits out). Two exist: the CPU
 * (OpenMP, executor/cpu_backend.c) and CUDA (streams + CUDA Graphs, executor/cuda_backend.c). */
#ifndef MOT_EXECUTOR_BACKEND_H
#define MOT_EXECUTOR_BACKEND_H

#include "kernels/cpu/sampler.h"
#include "scheduler/arena.h"

typedef enum { MOT_BACKEND_AUTO = 0, MOT_BACKEND_CPU, MOT_BACKEND_CUDA } mot_backend_kind;

typedef struct {
    mot_backend_kind kind;
    int concurrent_lanes; /* CPU: lanes run side by side on their own threads (else one after another) */
    int graphs;           /* CUDA: capture decode plans into CUDA Graphs (default on) */
    int graph_cache;      /* CUDA: graphs kept (LRU), default 8 */
    int plan_cache;       /* plans kept (LRU), default 8 */
    int n_threads_per_lane;                  /* concurrent lanes: group sizes (0: even split) */
    int threads_per_lane[MOT_MAX_LANES];
    int timing;           /* time per node kind (CPU: per op on the team's master thread) */
    struct mot_trace *trace; /* profiling: one slice per plan node per pass (NULL: off) */
    int allow_nonfinite;  /* go on when a prompt's logits hold NaN/inf (--allow-nonfinite); else an error */
    int precision_fast;   /* CUDA: `precision: fast`, tensor-core GEMMs over f16/bf16 weights (SPEC 1.7);
                             0 = exact. (The CPU's share is global: mot_cpu_set_precision_fast.) */
    int unfused;          /* decode plans keep RMSNORM, MATMUL, SWIGLU apart (the schedule's `fuse: off`;
                             mot_plan_source.unfused); 0: fused */
} mot_backend_options;

typedef struct mot_backend mot_backend;
struct mot_backend {
    const char *name;
    /* Allocates the (zeroed) arena for the layout; CUDA also uploads the weights src uses.
     * samplers[lane]: the CPU samples with them; CUDA copies their parameters. src, layout
     * and samplers stay the caller's and must live as long as the backend. Called again with
     * the same source and another layout, it makes a new (zeroed) arena and keeps the rest
     * (the lanes, the uploaded weights): training grows its arena so. */
    mot_status (*open)(mot_backend *b, const mot_plan_source *src, const mot_arena_layout *layout,
                       mot_sampler *samplers);
    /* Host memory open uploaded (a weight, the source's extra) has changed: copy it again.
     * NULL where the backend reads host memory itself (the CPU). */
    mot_status (*update)(mot_backend *b, const void *host, size_t bytes);
    /* Before open: use the weights `owner` (a backend of the same kind, opened) uploaded, the
     * same device memory, instead of uploading them again; open uploads only what owner lacks,
     * and update writes where the copy is. Either may be destroyed first. No pass of either may
     * be in flight during the other's update (execute returns complete). NULL where the
     * backend reads host memory itself (the CPU). */
    mot_status (*share_weights)(mot_backend *b, mot_backend *owner);
    /* The samplers' parameters have changed (a server's next request): what was bound with
     * the old ones is forgotten. NULL where the backend reads them at every pass (the CPU). */
    mot_status (*samplers_changed)(mot_backend *b);
    mot_status (*write)(mot_backend *b, mot_buf dst, const void *src); /* host -> arena */
    mot_status (*read)(mot_backend *b, mot_buf src, void *dst);        /* arena -> host */
    /* One pass; complete on return. */
    mot_status (*execute)(mot_backend *b, const mot_plan *p);
    void (*destroy)(mot_backend *b);
    double node_s[MOT_NODE_KIND_COUNT]; /* seconds per node kind (when timing) */
};

/* Concurrent CPU lanes: min(lanes, threads) thread groups, lane i on group i mod groups;
 * without threads_per_lane, group g gets its share of an even split. */
static inline int mot_lane_groups(int n_lanes, int threads) { return n_lanes < threads ? n_lanes : threads; }
static inline int mot_lane_group_even_threads(int threads, int groups, int g) {
    return threads * (g + 1) / groups - threads * g / groups;
}

mot_status mot_backend_cpu_create(const mot_backend_options *o, mot_backend **out);
/* The CUDA backend over the real CUDA runtime (an error when the build has none or no GPU). */
mot_status mot_backend_cuda_create(const mot_backend_options *o, mot_backend **out);

#endif
