/* Plan ops on the device (scheduler/plan.h): one host function per op kind, each issuing its
 * kernels / GEMMs on a stream. Step-varying values (pos, n_new, rows, prefill, token, rng) are
 * read by the kernels from l->step, never passed by value, so that a captured decode graph
 * replays unchanged (DESIGN.md). Grids are sized from static values only (l->rows, l->max_rows,
 * cache capacities); threads past the lane's n_new exit. Plain C interface. */
#ifndef MOT_KERNELS_CUDA_OP_LAUNCH_H
#define MOT_KERNELS_CUDA_OP_LAUNCH_H

#include "kernels/cuda/cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a lane owns on the device besides its arena scratch: made once before any capture. */
typedef struct {
    mot_cuda_blas *blas;   /* cuBLAS handle bound to the lane's stream, own workspace */
    float *partial;        /* split-key attention partials [heads, splits, hd + 2] */
    size_t partial_floats;
} mot_cuda_lane;

/* Bytes of mot_cuda_lane.partial the API allocates per lane (split-key decode attention;
 * ops that need more fall back to one block per (row, head)). */
#define MOT_CUDA_PARTIAL_BYTES ((size_t)4 << 20)

/* Runs l->op on `stream` (l->op->kind picks the function below). */
mot_status mot_cuda_op_launch(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);

mot_status mot_cuda_op_embed(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_rmsnorm(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_rmsnorm_last(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_layernorm(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_matmul(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);
mot_status mot_cuda_op_rope_append(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_attention(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);
mot_status mot_cuda_op_swiglu(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_latent_append(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_cross_attention(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);
mot_status mot_cuda_op_sample(const mot_gpu_launch *l, mot_cuda_stream stream);
mot_status mot_cuda_op_step_advance(const mot_gpu_launch *l, mot_cuda_stream stream);

#ifdef __cplusplus
}
#endif
#endif
