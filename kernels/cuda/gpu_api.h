/* The few CUDA runtime calls the CUDA executor (executor/cuda_backend.c) makes (streams, events, graphs, memory) and
 * the op launch itself, behind a table of function pointers (DESIGN.md). The real table
 * (kernels/cuda/gpu_api_cuda.cu) calls the CUDA runtime, cuBLAS and our kernels; the tests'
 * recording fake (tests/scheduler/fake_gpu.c) builds the dependency graph instead and rejects
 * what a real stream capture rejects. Every call returns 0 on success; on failure it returns
 * non-zero after setting mot_last_error() to one line saying what failed. Handles are opaque. */
#ifndef MOT_KERNELS_CUDA_GPU_API_H
#define MOT_KERNELS_CUDA_GPU_API_H

#include <stddef.h>
#include <stdint.h>

#include "ops/plan_op.h"

/* One op bound to device memory: what a launch needs. Everything in it is fixed for a given
 * plan and arena (so a captured decode graph replays unchanged); step-varying values are read
 * by the kernels from *step. */
typedef struct {
    const mot_plan_op *op;          /* the op with its f32 vectors (mot_plan_op_vectors: norm
                                       weights, inv_freq) pointing at device copies */
    char *arena;                    /* device base of the arena (op buffers are offsets in it) */
    mot_step_state *step;           /* device step state (= arena + 0) */
    mot_weight w[MOT_OP_MAX_W];     /* the op's weights with device data pointers */
    const float *bias[MOT_OP_MAX_W];/* device f32 or NULL */
    int rows;                       /* token rows the host launches for: 1 in decode, the
                                       lane's n_new in prefill (GEMM sizes live on the host) */
    int max_rows;                   /* rows the lane's buffers hold (grid size for row loops) */
    int vocab;                      /* SAMPLE: vocabulary; EMBED: table rows */
    float temperature, top_p, min_p; /* SAMPLE: the sampler parameters */
    int top_k;
    /* SAMPLE's repetition penalties (kernels/cpu/sampler.h): pen_list (device) holds n, then n
     * (token, count) pairs, the host's window of the lane, copied in before each pass; the
     * kernel penalizes a copy of the logits in pen (device, [vocab]). NULL: none. */
    const int *pen_list;
    float *pen;
    float repeat_penalty, presence_penalty, frequency_penalty;
} mot_gpu_launch;

typedef struct mot_gpu_api {
    void *ctx;
    const char *name;
    int (*stream_create)(void *ctx, void **stream);           /* non-blocking */
    void (*stream_destroy)(void *ctx, void *stream);
    int (*event_create)(void *ctx, void **event);             /* timing disabled */
    void (*event_destroy)(void *ctx, void *event);
    int (*event_record)(void *ctx, void *event, void *stream);
    int (*stream_wait_event)(void *ctx, void *stream, void *event);
    int (*stream_synchronize)(void *ctx, void *stream);
    int (*begin_capture)(void *ctx, void *stream);            /* global capture mode */
    int (*end_capture)(void *ctx, void *stream, void **graph);
    int (*graph_instantiate)(void *ctx, void *graph, void **exec);
    int (*graph_launch)(void *ctx, void *exec, void *stream);
    void (*graph_destroy)(void *ctx, void *graph, void *exec);
    int (*alloc)(void *ctx, size_t bytes, void **dev);        /* zeroed */
    void (*free)(void *ctx, void *dev);
    int (*copy_h2d)(void *ctx, void *dst, const void *src, size_t bytes, void *stream);
    int (*copy_d2h)(void *ctx, void *dst, const void *src, size_t bytes, void *stream);
    /* Per-lane GEMM state (a cuBLAS handle bound to the lane's stream with its own workspace,
     * scratch for low-precision copies of activations: max_gemm_elems x 2 bytes, 0 when the
     * lane never converts them (precision exact), and the f32 tile that exact GEMMs over
     * quantized or f16/bf16 weights widen rows into: dequant_bytes, 0 when the lane has no
     * such GEMM), created before any capture. precision_fast: SPEC 1.7's `precision: fast`
     * (tensor-core GEMMs with f16/bf16 activations), else exact. */
    int (*lane_create)(void *ctx, int lane, void *stream, size_t max_gemm_elems, size_t dequant_bytes,
                       int precision_fast);
    /* Issues the op's kernels / GEMMs on the lane's stream. Never synchronizes or allocates. */
    int (*launch)(void *ctx, const mot_gpu_launch *l, int lane, void *stream);
    /* Profiling: a timing-enabled event (destroyed with event_destroy), recorded on a stream
     * (capturing: inside a stream capture, where it must become an event-record node of the
     * graph, cudaEventRecordExternal, a flag CUDA refuses outside a capture), and the
     * milliseconds between two recorded events once both have completed. */
    int (*timer_create)(void *ctx, void **event);
    int (*timer_record)(void *ctx, void *event, void *stream, int capturing);
    int (*timer_elapsed)(void *ctx, void *start, void *end, float *ms);
    /* Profiler range around the following launches (NVTX push/pop, one per op); name NULL
     * ends the range. */
    void (*range)(void *ctx, const char *name);
    /* Profiler range of one plan node (NVTX start/end: the nodes of different lanes are issued
     * interleaved, so they overlap instead of nesting); range_end takes what range_start gave. */
    uint64_t (*range_start)(void *ctx, const char *name);
    void (*range_end)(void *ctx, uint64_t id);
    /* Bench figures (`mot bench`; NULL where there are none, as in the fake); never during a
     * capture. copy_bandwidth: device-to-device copies of `bytes`, timed by events after a
     * warm-up, as (bytes read + bytes written) / second in GB/s: what the device's memory
     * moves, the yardstick a decode step's weight reads are held against. mem_info: device
     * memory in use (by every process) and in total. */
    int (*copy_bandwidth)(void *ctx, size_t bytes, int reps, double *gbs);
    int (*mem_info)(void *ctx, size_t *used, size_t *total);
    void (*destroy)(void *ctx);
} mot_gpu_api;

#endif
