/* A recording stand-in for the CUDA runtime behind mot_gpu_api: memory is host memory, a
 * launch runs nothing and becomes a node of a dependency graph built from stream order and
 * event waits, and a stream capture is checked the way the driver checks it — the fake
 * rejects a stream left unjoined at the end of a capture, a wait on an event not recorded in
 * the capture, a synchronize, allocation or copy inside a capture, and a launch on a stream
 * outside the capture. Captured graphs are kept so tests can inspect and compare them.
 * Timed events are graph nodes; eager work (at a synchronize) and launched graphs run on a
 * simulated device where each launch takes 10 us once its dependencies are done, so elapsed
 * times show which lanes overlap. */
#ifndef MOT_TESTS_FAKE_GPU_H
#define MOT_TESTS_FAKE_GPU_H

#include "kernels/cuda/gpu_api.h"

typedef struct {
    int stream;            /* fake stream id */
    int lane;              /* -1 for a timer mark */
    int mark;              /* a timer mark: its event handle; 0 for a launch */
    mot_gpu_launch launch; /* a copy of what the executor passed, its op copied too */
    int *deps;             /* nodes it directly depends on (indices in its graph) */
    int n_deps;
} fake_node;

typedef struct {
    fake_node *nodes;
    int n_nodes;
} fake_graph;

typedef struct fake_gpu fake_gpu;

fake_gpu *fake_gpu_create(void);
void fake_gpu_destroy(fake_gpu *f);
/* A table whose ctx is f (destroy in the table does nothing: the test owns f). */
mot_gpu_api fake_gpu_api(fake_gpu *f);

/* Make the next end_capture fail (like a capture invalidated by an illegal call). */
void fake_gpu_fail_next_capture(fake_gpu *f);

int fake_gpu_errors(const fake_gpu *f);              /* rejected calls so far */
const char *fake_gpu_last_error(const fake_gpu *f);
int fake_gpu_graph_count(const fake_gpu *f);         /* graphs captured */
const fake_graph *fake_gpu_graph(const fake_gpu *f, int i);
long fake_gpu_launches(const fake_gpu *f);           /* op launches issued (eager and captured) */
long fake_gpu_graph_launches(const fake_gpu *f);
long fake_gpu_ranges_started(const fake_gpu *f);     /* node profiler ranges started */
int fake_gpu_open_ranges(const fake_gpu *f);         /* node profiler ranges not ended */
/* Bytes copied to the device from host address `host` (0 when never): a weight's upload. */
size_t fake_gpu_uploaded_bytes(const fake_gpu *f, const void *host);
/* What lane_create was given for a lane: the widening tile of exact GEMMs over quantized or
 * (precision exact) f16/bf16 weights (0: none), the low-precision x scratch in elements
 * (precision fast), the precision (1 fast, 0 exact). */
size_t fake_gpu_lane_dequant_bytes(const fake_gpu *f, int lane);
size_t fake_gpu_lane_gemm_elems(const fake_gpu *f, int lane);
int fake_gpu_lane_precision_fast(const fake_gpu *f, int lane);

/* The last non-empty eager work a synchronize ran (the launches of an uncaptured pass). */
const fake_graph *fake_gpu_last_eager(const fake_gpu *f);

/* Whether two ops touch the same arena bytes, one of them writing (mot_plan_op_writes/_reads):
 * then the graph must order them. */
int fake_ops_conflict(const mot_plan_op *a, const mot_plan_op *b);

/* 1 when node b depends on node a through a chain of edges in g. */
int fake_graph_reaches(const fake_graph *g, int a, int b);

#endif
