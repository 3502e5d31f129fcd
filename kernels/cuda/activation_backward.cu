// SwiGLU's backward on the device (kernels/cuda/cuda_backward.h; the CPU's is
// kernels/cpu/activation_backward.c): out = silu(g) u, s = 1 / (1 + e^-g):
//   dgate = dout u s (1 + g (1 - s)),  dup = dout g s,
// per element in double as the CPU (exp of a large -g is inf, then s = 0 gives 0, not NaN).
#include "kernels/cuda/backward_common.cuh"

__global__ void swiglu_backward_kernel(float *dgate, float *dup, const float *dout, const float *gate,
                                       const float *up, size_t total) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const double g = gate[i], s = 1.0 / (1.0 + exp(-g)), go = dout[i];
        dgate[i] = (float)(go * up[i] * s * (1.0 + g * (1.0 - s)));
        dup[i] = (float)(go * g * s);
    }
}

extern "C" mot_status mot_cuda_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                                               const float *up, int n, int f, mot_cuda_stream stream) {
    const size_t total = n > 0 && f > 0 ? (size_t)n * (size_t)f : 0;
    if (total == 0) {
        return MOT_OK;
    }
    const size_t blocks = (total + 255) / 256;
    swiglu_backward_kernel<<<(unsigned)(blocks < 65535 ? blocks : 65535), 256, 0, (cudaStream_t)stream>>>(
        dgate, dup, dout, gate, up, total);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
