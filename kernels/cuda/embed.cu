// Embedding rows to f32: out[t, :] = table[tokens[t], :]  (table F32, F16 or BF16 on the device).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

template <typename T> __device__ float to_float(T v);
template <> __device__ float to_float<float>(float v) { return v; }
template <> __device__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__global__ void embed_kernel(float *out, const T *table, const int *tokens, int d) {
    const T *row = table + (size_t)tokens[blockIdx.x] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        out[(size_t)blockIdx.x * d + i] = to_float<T>(row[i]);
    }
}

extern "C" mot_status mot_cuda_embed_rows(float *out, const mot_weight *table, const int *tokens, int n,
                                          mot_cuda_stream stream) {
    const int d = (int)table->cols;
    cudaStream_t s = (cudaStream_t)stream;
    switch (table->dtype) {
    case MOT_DTYPE_F32:
        embed_kernel<float><<<n, 256, 0, s>>>(out, (const float *)table->data, tokens, d);
        break;
    case MOT_DTYPE_F16:
        embed_kernel<__half><<<n, 256, 0, s>>>(out, (const __half *)table->data, tokens, d);
        break;
    case MOT_DTYPE_BF16:
        embed_kernel<__nv_bfloat16><<<n, 256, 0, s>>>(out, (const __nv_bfloat16 *)table->data, tokens, d);
        break;
    default:
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda embed: table dtype %s", mot_dtype_name(table->dtype));
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
