/* CUDA kernels: the same ops, names and shapes as kernels/cpu/kernels.h, on device pointers
 * and a stream. Activations f32; weights f32, f16 or bf16 (GEMMs through cuBLAS with f32
 * accumulation). Every call is asynchronous on `stream` and reports launch errors through
 * the usual mot_status + mot_last_error(). Plain C interface so C code links against it. */
#ifndef MOT_KERNELS_CUDA_KERNELS_H
#define MOT_KERNELS_CUDA_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

#include "executor/gpu_api.h"
#include "kernels/cpu/kernels.h"
#include "mot.h"

typedef struct CUstream_st *mot_cuda_stream; /* = cudaStream_t */
typedef struct mot_cuda_blas mot_cuda_blas;  /* a cuBLAS handle with its own workspace */

/* Number of usable devices (0 when there is no driver or no GPU: never an error). */
int mot_cuda_device_count(void);
/* "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90" into buf. */
mot_status mot_cuda_device_describe(int device, char *buf, size_t cap);

mot_status mot_cuda_blas_create(mot_cuda_stream stream, size_t workspace_bytes, mot_cuda_blas **out);
void mot_cuda_blas_destroy(mot_cuda_blas *blas);
/* Grows the scratch that holds x converted to f16/bf16 to at least `bytes` (n * cols * 2 for
 * the largest low-precision GEMM). The matmuls never allocate (they may run inside a graph
 * capture): one that needs more scratch than reserved fails with a message saying so. */
mot_status mot_cuda_blas_reserve(mot_cuda_blas *blas, size_t bytes);

/* w->data is a device pointer here. y[n, rows] = x[n, cols] W^T. */
mot_status mot_cuda_matmul(mot_cuda_blas *blas, float *y, const float *x, const mot_weight *w, int n);
/* y = x W^T + beta * y (beta 0 or 1: accumulate). reuse_x: the scratch already holds x in
 * w's dtype (the previous call had the same x, n, cols and dtype), so it is not converted again. */
mot_status mot_cuda_matmul_ex(mot_cuda_blas *blas, float *y, const float *x, const mot_weight *w, int n,
                              float beta, int reuse_x);
/* y[n, m] += bias[m] on the handle's stream. */
mot_status mot_cuda_bias_add(mot_cuda_blas *blas, float *y, const float *bias, int n, int m);
mot_status mot_cuda_embed_rows(float *out, const mot_weight *table, const int *tokens, int n,
                               mot_cuda_stream stream);
mot_status mot_cuda_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps,
                            mot_cuda_stream stream);
mot_status mot_cuda_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq,
                         mot_cuda_stream stream);
mot_status mot_cuda_swiglu(float *out, const float *gate, const float *up, int n, int f,
                           mot_cuda_stream stream);

/* The real mot_gpu_api table (executor/gpu_api.h) on `device`: CUDA runtime, cuBLAS, NVTX and
 * the plan-op kernels (kernels/cuda/op_launch.h). out->destroy(out->ctx) frees it. */
mot_status mot_gpu_api_cuda_create(int device, mot_gpu_api *out);

#ifdef __cplusplus
}
#endif
#endif
