/* CUDA kernels: the same ops, names and shapes as kernels/cpu/kernels.h, on device pointers
 * and a stream. Activations f32; weights f32, f16 or bf16 (GEMMs through cuBLAS with f32
 * accumulation). Every call is asynchronous on `stream` and reports launch errors through
 * the usual mot_status + mot_last_error(). Plain C interface so C code links against it. */
#ifndef MOT_KERNELS_CUDA_KERNELS_H
#define MOT_KERNELS_CUDA_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

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

/* w->data is a device pointer here. */
mot_status mot_cuda_matmul(mot_cuda_blas *blas, float *y, const float *x, const mot_weight *w, int n);
mot_status mot_cuda_embed_rows(float *out, const mot_weight *table, const int *tokens, int n,
                               mot_cuda_stream stream);
mot_status mot_cuda_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps,
                            mot_cuda_stream stream);
mot_status mot_cuda_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq,
                         mot_cuda_stream stream);
mot_status mot_cuda_swiglu(float *out, const float *gate, const float *up, int n, int f,
                           mot_cuda_stream stream);

#ifdef __cplusplus
}
#endif
#endif
