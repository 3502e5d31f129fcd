// Rotary embedding in place, HF rotate-half layout (see kernels/cpu/kernels.h).
// x: [n, n_heads, hd]; one thread per (token, head, i < hd/2).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

__global__ void rope_kernel(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq) {
    const int half = hd / 2;
    const size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)n * n_heads * half) {
        return;
    }
    const int i = (int)(idx % half);
    const size_t head = idx / half;  // token * n_heads + h
    const int t = (int)(head / n_heads);
    float s, c;
    sincosf((float)(pos0 + t) * inv_freq[i], &s, &c);
    float *v = x + head * hd;
    const float x0 = v[i], x1 = v[i + half];
    v[i] = x0 * c - x1 * s;
    v[i + half] = x1 * c + x0 * s;
}

extern "C" mot_status mot_cuda_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq,
                                    mot_cuda_stream stream) {
    const size_t total = (size_t)n * n_heads * (hd / 2);
    rope_kernel<<<(unsigned)((total + 255) / 256), 256, 0, (cudaStream_t)stream>>>(x, n, n_heads, hd, pos0,
                                                                                   inv_freq);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
