// Helpers shared by the plan-op kernels: arena addressing and grid sizes on the host (static per
// plan, so a captured graph keeps them), block reductions on the device.
#ifndef MOT_KERNELS_CUDA_OP_COMMON_CUH
#define MOT_KERNELS_CUDA_OP_COMMON_CUH

#include <math.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/op_launch.h"

// Device address of an arena buffer (NULL when absent).
template <typename T> static inline T *op_buf(const mot_gpu_launch *l, mot_buf b) {
    return b.bytes ? (T *)(l->arena + b.off) : (T *)0;
}

// Row blocks to launch for a row loop: the host's row count (1 in decode, n_new in prefill),
// else the lane's capacity. Kernels loop rows t = blockIdx; t < n_new; t += gridDim, so a
// smaller grid is still correct, only slower.
static inline unsigned op_row_grid(const mot_gpu_launch *l) {
    int r = l->rows > 0 ? l->rows : l->max_rows;
    if (l->max_rows > 0 && r > l->max_rows) {
        r = l->max_rows;
    }
    return r < 1 ? 1u : (r > 65535 ? 65535u : (unsigned)r);
}

// Blocks for an element-wise loop over rows x width (grid-stride inside the kernel).
static inline unsigned op_elem_grid(const mot_gpu_launch *l, size_t width, unsigned threads) {
    const size_t total = (size_t)op_row_grid(l) * width;
    size_t blocks = (total + threads - 1) / threads;
    return blocks < 1 ? 1u : (blocks > (1u << 20) ? (1u << 20) : (unsigned)blocks);
}

#define MOT_OP_REQUIRE(cond, ...)                                                              \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            return mot_fail(MOT_ERR_ARG, __VA_ARGS__);                                         \
        }                                                                                      \
    } while (0)

template <typename T> __device__ __forceinline__ float mot_to_float(T v);
template <> __device__ __forceinline__ float mot_to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float mot_to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float mot_to_float<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

// Warp and block reductions by a fixed butterfly / tree (the thread indices decide the
// order, so the bits do not depend on timing). op: a binary functor, id: its identity.
struct mot_fn_add {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct mot_fn_max {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Every lane gets the warp's total.
template <typename T, typename Op> __device__ __forceinline__ T mot_warp_reduce(T v, Op op) {
    for (int off = 16; off > 0; off >>= 1) {
        v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
    }
    return v;
}

// Over the block (blockDim a multiple of 32, <= 1024); every thread gets it. sh: [32].
// Ends with a barrier so sh can be reused right away.
template <typename T, typename Op> __device__ __forceinline__ T mot_block_reduce(T v, T *sh, T id, Op op) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = mot_warp_reduce(v, op);
    if (lane == 0) {
        sh[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? sh[lane] : id;
        v = mot_warp_reduce(v, op);
        if (lane == 0) {
            sh[0] = v;
        }
    }
    __syncthreads();
    v = sh[0];
    __syncthreads();
    return v;
}

// Sums in float (the forward kernels) or double (the backward ones), and the max.
template <typename T> __device__ __forceinline__ T mot_warp_sum(T v) { return mot_warp_reduce(v, mot_fn_add()); }
template <typename T> __device__ __forceinline__ T mot_block_sum(T v, T *sh) {
    return mot_block_reduce(v, sh, (T)0, mot_fn_add());
}
__device__ __forceinline__ float mot_warp_max(float v) { return mot_warp_reduce(v, mot_fn_max()); }
__device__ __forceinline__ float mot_block_max(float v, float *sh) {
    return mot_block_reduce(v, sh, -INFINITY, mot_fn_max());
}

#endif
