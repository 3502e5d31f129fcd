/* A device arena driven through the real mot_gpu_api table (kernels/cuda/gpu_api_cuda.cu), for
 * the plan-op tests: the step state at offset 0 as the executor lays it out, buffers bump-
 * allocated after it, ops launched one at a time on lane streams and synchronized. */
#ifndef MOT_TESTS_CUDA_GPU_FIXTURE_H
#define MOT_TESTS_CUDA_GPU_FIXTURE_H

#include <stddef.h>

#include "kernels/cuda/cuda_kernels.h"

typedef struct {
    mot_gpu_api api;
    void *stream[MOT_MAX_LANES];  /* one per lane, each with lane_create done */
    char *arena;                  /* device; the step state at offset 0 */
    size_t bytes, used;
    void *allocs[256];            /* weights etc. outside the arena */
    int n_allocs;
    size_t max_gemm_elems;        /* what gpu_fx_init gave lane_create */
} gpu_fx;

extern int gpu_fx_failures;

/* Each lane's dequantization tile for GEMMs over quantized weights (lane_create). */
#define GPU_FX_DEQUANT_BYTES ((size_t)4 << 20)

/* 0, or 77 when there is no device (the caller returns it: ctest's skip code). */
int gpu_fx_init(gpu_fx *f, size_t arena_bytes, size_t max_gemm_elems);
void gpu_fx_free(gpu_fx *f);
/* Recreates every lane in `precision: fast` (1) or exact (0, what gpu_fx_init makes). */
void gpu_fx_set_precision(gpu_fx *f, int fast);

mot_buf gpu_fx_buf(gpu_fx *f, size_t bytes);                        /* zeroed */
void gpu_fx_put(gpu_fx *f, mot_buf b, const void *host);            /* whole buffer */
void gpu_fx_get(gpu_fx *f, void *host, mot_buf b);
void gpu_fx_fill(gpu_fx *f, mot_buf b, float value);                /* every float */
void *gpu_fx_upload(gpu_fx *f, const void *host, size_t bytes);     /* outside the arena */
void gpu_fx_set_step(gpu_fx *f, const mot_step_state *s);
void gpu_fx_get_step(gpu_fx *f, mot_step_state *s);

/* A launch of op with rows/max_rows; everything else zero (set what the op needs). */
mot_gpu_launch gpu_fx_launch_of(gpu_fx *f, const mot_plan_op *op, int rows, int max_rows);
/* Launches on the op's lane stream and synchronizes; counts and prints a failure. */
int gpu_fx_run(gpu_fx *f, const mot_gpu_launch *l, const char *what);

/* Checks (print ok/FAIL, count failures). */
void fx_fill_random(float *x, size_t n, unsigned seed);
void fx_expect_close(const char *what, const float *got, const float *ref, size_t n, double bound);
void fx_expect_equal(const char *what, const float *got, const float *ref, size_t n);
void fx_expect_int(const char *what, long long got, long long want);

#endif
