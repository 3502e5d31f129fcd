/* The CUDA backend over any mot_gpu_api (the real one, or the tests' recording fake). */
#ifndef MOT_EXECUTOR_CUDA_BACKEND_H
#define MOT_EXECUTOR_CUDA_BACKEND_H

#include "executor/backend.h"
#include "kernels/cuda/gpu_api.h"

typedef struct {
    uint64_t captures, capture_failures, graph_launches, eager_passes, graph_evictions;
    size_t weight_bytes;
} mot_cuda_backend_stats;

mot_status mot_backend_cuda_with_api(const mot_backend_options *o, const mot_gpu_api *api, mot_backend **out);
const mot_cuda_backend_stats *mot_cuda_backend_stats_of(const mot_backend *b);
/* Forgets every captured graph (the next uses capture again): tests compare captures. */
void mot_cuda_backend_drop_graphs(mot_backend *b);

/* What `mot bench` reports on CUDA beside its runs: the device's measured copy bandwidth
 * (gpu_api copy_bandwidth over MOT_CUDA_BENCH_COPY_BYTES), device memory in use and in
 * total, and this backend's own allocations. */
#define MOT_CUDA_BENCH_COPY_BYTES ((size_t)256 << 20)
typedef struct {
    double copy_gbs;             /* (read + written) bytes per second / 1e9 */
    size_t mem_used, mem_total;  /* cudaMemGetInfo: in use by every process, total */
    size_t weight_bytes, arena_bytes; /* uploaded weights; the arena (KV caches, activations) */
} mot_cuda_device_figures;
/* MOT_ERR_UNSUPPORTED when b is not a CUDA backend or its table has no such figures. */
mot_status mot_cuda_backend_device_figures(mot_backend *b, mot_cuda_device_figures *out);

/* mot_backend_cuda_create (executor/backend.h) takes the real table from the CUDA backend
 * library, loaded on first use (executor/cuda_module.h). */

#endif
