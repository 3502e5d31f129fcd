// y[n, rows] = x[n, cols] . W^T through cuBLAS (f32 accumulation). cuBLAS is column-major:
// the row-major W [rows, cols] is a column-major [cols, rows] matrix, so
// y^T [rows, n] = W (as op T of that) . x^T, i.e. gemm(T, N, m = rows, n, k = cols).
// f16/bf16 weights: x is converted to the weight type on the fly by a small kernel so that
// cublasGemmEx sees matching A/B types (f32 output, f32 compute).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdlib>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

struct mot_cuda_blas {
    cublasHandle_t handle;
    cudaStream_t stream;
    void *workspace;
    size_t workspace_bytes;
    void *x_lowp;          // scratch for x converted to f16/bf16
    size_t x_lowp_bytes;
};

extern "C" mot_status mot_cuda_blas_create(mot_cuda_stream stream, size_t workspace_bytes, mot_cuda_blas **out) {
    mot_cuda_blas *b = (mot_cuda_blas *)calloc(1, sizeof *b);
    if (!b) {
        return mot_fail(MOT_ERR_NOMEM, "cuBLAS: out of host memory");
    }
    b->stream = (cudaStream_t)stream;
    b->workspace_bytes = workspace_bytes;
    *out = b;
    MOT_CUBLAS_CHECK(cublasCreate(&b->handle));
    MOT_CUBLAS_CHECK(cublasSetStream(b->handle, b->stream));
    if (workspace_bytes) {
        MOT_CUDA_CHECK(cudaMalloc(&b->workspace, workspace_bytes));
        MOT_CUBLAS_CHECK(cublasSetWorkspace(b->handle, b->workspace, workspace_bytes));
    }
    return MOT_OK;
}

extern "C" void mot_cuda_blas_destroy(mot_cuda_blas *b) {
    if (!b) {
        return;
    }
    if (b->handle) {
        cublasDestroy(b->handle);
    }
    cudaFree(b->workspace);
    cudaFree(b->x_lowp);
    free(b);
}

template <typename T> __device__ T from_float(float v);
template <> __device__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <typename T> __global__ void convert_kernel(T *out, const float *in, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = from_float<T>(in[i]);
    }
}

extern "C" mot_status mot_cuda_matmul(mot_cuda_blas *b, float *y, const float *x, const mot_weight *w, int n) {
    const float one = 1.0f, zero = 0.0f;
    const int m = (int)w->rows, k = (int)w->cols;
    if (w->dtype == MOT_DTYPE_F32) {
        MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w->data, CUDA_R_32F, k,
                                      x, CUDA_R_32F, k, &zero, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
        return MOT_OK;
    }
    if (w->dtype != MOT_DTYPE_F16 && w->dtype != MOT_DTYPE_BF16) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda matmul: weight dtype %s", mot_dtype_name(w->dtype));
    }
    // The low-precision copy of x must exist before any graph capture: grow it here only.
    size_t need = (size_t)n * k * 2;
    if (need > b->x_lowp_bytes) {
        cudaFree(b->x_lowp);
        b->x_lowp = NULL;
        MOT_CUDA_CHECK(cudaMalloc(&b->x_lowp, need));
        b->x_lowp_bytes = need;
    }
    const size_t count = (size_t)n * k;
    const unsigned blocks = (unsigned)((count + 255) / 256);
    cudaDataType_t type;
    if (w->dtype == MOT_DTYPE_F16) {
        convert_kernel<__half><<<blocks, 256, 0, b->stream>>>((__half *)b->x_lowp, x, count);
        type = CUDA_R_16F;
    } else {
        convert_kernel<__nv_bfloat16><<<blocks, 256, 0, b->stream>>>((__nv_bfloat16 *)b->x_lowp, x, count);
        type = CUDA_R_16BF;
    }
    MOT_CUDA_LAUNCHED();
    MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w->data, type, k,
                                  b->x_lowp, type, k, &zero, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    return MOT_OK;
}
