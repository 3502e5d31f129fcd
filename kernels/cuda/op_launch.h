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
    unsigned *ticket;      /* [MOT_CUDA_TICKETS] per-head arrival counters of the decode attention's
                            * last-block combine, 0 between launches; NULL: two launches */
} mot_cuda_lane;

/* Bytes of mot_cuda_lane.partial the API allocates per lane (split-key decode attention;
 * ops that need more fall back to one block per (row, head)). */
#define MOT_CUDA_PARTIAL_BYTES ((size_t)4 << 20)
#define MOT_CUDA_TICKETS 4096 /* heads a one-launch decode attention may have (more: two launches) */

/* Runs l->op on `stream` (l->op->kind picks the function below; kernels/cuda/gpu_api_cuda.cu). */
mot_status mot_cuda_op_launch(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);

/* One per op kind, mot_cuda_op_<name> (the op table, ops/op_table.h): declared from it. */
#define MOT_CUDA_OP_DECL_(KIND, name, reads, ref, cpu, cuda, doc) \
    mot_status mot_cuda_op_##name(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream);
MOT_OP_TABLE(MOT_CUDA_OP_DECL_)
#undef MOT_CUDA_OP_DECL_

#ifdef __cplusplus
}
#endif
#endif
