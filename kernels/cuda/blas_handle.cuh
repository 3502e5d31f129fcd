// The cuBLAS handle behind mot_cuda_blas (kernels/cuda/cuda_kernels.h), shared by the forward
// GEMMs (matmul.cu: mot_cuda_blas_create, _reserve, _reserve_dequant) and the training
// backward GEMMs (matmul_backward.cu), which use the same handle, stream and dequantization
// tile instead of allocating their own.
#ifndef MOT_KERNELS_CUDA_BLAS_HANDLE_CUH
#define MOT_KERNELS_CUDA_BLAS_HANDLE_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>

struct mot_cuda_blas {
    cublasHandle_t handle;
    cudaStream_t stream;
    void *workspace;
    size_t workspace_bytes;
    void *x_lowp;          // scratch for x converted to f16/bf16
    size_t x_lowp_bytes;
    float *w_tile;         // weight rows dequantized / widened to f32 for SGEMM [tile rows, cols] (bf16 for the
                           // tensor cores: fast GEMMs over quantized weights)
    size_t w_tile_bytes;
    int fast;              // precision: fast (tensor-core GEMMs over f16/bf16); 0 = exact
};

#endif
