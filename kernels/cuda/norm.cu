// RMSNorm: one block per row; out[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * w.  x, out: [n, d]
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int d, float eps) {
    const float *row = x + (size_t)blockIdx.x * d;
    float *dst = out + (size_t)blockIdx.x * d;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        ss += row[i] * row[i];
    }
    __shared__ float partial[32];
    for (int off = 16; off > 0; off >>= 1) {
        ss += __shfl_xor_sync(0xffffffffu, ss, off);
    }
    if ((threadIdx.x & 31) == 0) {
        partial[threadIdx.x >> 5] = ss;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.0f;
        for (int off = 16; off > 0; off >>= 1) {
            ss += __shfl_xor_sync(0xffffffffu, ss, off);
        }
        if (threadIdx.x == 0) {
            partial[0] = rsqrtf(ss / d + eps);
        }
    }
    __syncthreads();
    const float scale = partial[0];
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        dst[i] = row[i] * scale * w[i];
    }
}

extern "C" mot_status mot_cuda_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps,
                                       mot_cuda_stream stream) {
    rmsnorm_kernel<<<n, 256, 0, (cudaStream_t)stream>>>(out, x, w, d, eps);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
