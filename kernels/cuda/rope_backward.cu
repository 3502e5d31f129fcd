// The rotary embedding's backward on the device (kernels/cuda/cuda_backward.h; the CPU's is
// kernels/cpu/rope_backward.c): each pair (g[i], g[i + hd/2]) of a head at position pos0 + t
// rotated by minus the forward's angle, the same f32 product pos * inv_freq[i]:
//   (g[i], g[i + hd/2]) <- (g[i] c + g[i + hd/2] s, g[i + hd/2] c - g[i] s).
// One thread per (token, head of dq then of dk, i < hd/2); a thread owns its pair.
#include "kernels/cuda/backward_common.cuh"

__global__ void rope_backward_kernel(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                                     const float *inv_freq) {
    const int half = hd / 2, heads = n_heads + n_kv;
    const size_t total = (size_t)n * heads * half;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int i = (int)(idx % half);
        const size_t th = idx / half; // t * heads + head
        const int t = (int)(th / heads), h = (int)(th % heads);
        float *v = h < n_heads ? (dq ? dq + ((size_t)t * n_heads + h) * hd : NULL)
                               : (dk ? dk + ((size_t)t * n_kv + (h - n_heads)) * hd : NULL);
        if (!v) {
            continue;
        }
        float s, c;
        sincosf((float)(pos0 + t) * inv_freq[i], &s, &c);
        const float a = v[i], b = v[i + half];
        v[i] = a * c + b * s;
        v[i + half] = b * c - a * s;
    }
}

extern "C" mot_status mot_cuda_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                                             const float *inv_freq, mot_cuda_stream stream) {
    const int heads = (dq ? n_heads : 0) + (dk ? n_kv : 0);
    if (n <= 0 || hd < 2 || heads <= 0) {
        return MOT_OK;
    }
    const size_t total = (size_t)n * (size_t)(n_heads + n_kv) * (size_t)(hd / 2);
    const size_t blocks = (total + 255) / 256;
    rope_backward_kernel<<<(unsigned)(blocks < 65535 ? blocks : 65535), 256, 0, (cudaStream_t)stream>>>(
        dq, dk, n, n_heads, n_kv, hd, pos0, inv_freq);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}
