// SwiGLU: out[n, f] = silu(gate) * up.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

__global__ void swiglu_kernel(float *out, const float *gate, const float *up, size_t count) {
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < count) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" mot_status mot_cuda_swiglu(float *out, const float *gate, const float *up, int n, int f,
                                      mot_cuda_stream stream) {
    const size_t count = (size_t)n * f;
    swiglu_kernel<<<(unsigned)((count + 255) / 256), 256, 0, (cudaStream_t)stream>>>(out, gate, up, count);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
