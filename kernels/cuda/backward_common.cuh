// Helpers shared by the CUDA backward kernels (kernels/cuda/cuda_backward.h; the block
// reductions, in double and of the max, are op_common.cuh's mot_block_sum / _max): the warp dot
// product of the attention kernels, a column sum by per-block partials reduced in a fixed
// order, and stream-ordered scratch.
#ifndef MOT_KERNELS_CUDA_BACKWARD_COMMON_CUH
#define MOT_KERNELS_CUDA_BACKWARD_COMMON_CUH

#include <math.h>

#include "kernels/cuda/cuda_backward.h"
#include "kernels/cuda/op_common.cuh"

// Threads of the row kernels (one block per row): a multiple of 32, <= 1024.
#define BWD_THREADS 256

// a . b over hd floats by one warp: lane c takes dims c, c + 32, ...; butterfly sum, so every
// lane holds the same (bitwise) total.
__device__ __forceinline__ float bwd_warp_dot(const float *a, const float *b, int hd) {
    const int lane = threadIdx.x & 31;
    float s = 0.0f;
    for (int c = lane; c < hd; c += 32) {
        s = fmaf(a[c], b[c], s);
    }
    return mot_warp_sum(s);
}

// Column sums of [n, d] values in two fixed-order stages (no atomics):
//   bwd_colsum_partial: block (x: 256 columns, y: a chunk of BWD_COLSUM_ROWS rows) writes
//     partial[y][i] = sum over its rows, ascending, of V::at(t, i) (double);
//   bwd_colsum_finish: out[i] += (float)(sum over the chunks, ascending, of partial[.][i]).
// V is a functor: double at(int t, int i) const.
#define BWD_COLSUM_ROWS 64

template <typename V> __global__ void bwd_colsum_partial(double *partial, V v, int n, int d) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= d) {
        return;
    }
    const int t0 = blockIdx.y * BWD_COLSUM_ROWS, t1 = t0 + BWD_COLSUM_ROWS < n ? t0 + BWD_COLSUM_ROWS : n;
    double s = 0.0;
    for (int t = t0; t < t1; t++) {
        s += v.at(t, i);
    }
    partial[(size_t)blockIdx.y * d + i] = s;
}

static __global__ void bwd_colsum_finish(float *out, const double *partial, int chunks, int d) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= d) {
        return;
    }
    double s = 0.0;
    for (int c = 0; c < chunks; c++) {
        s += partial[(size_t)c * d + i];
    }
    out[i] += (float)s;
}

static inline int bwd_colsum_chunks(int n) { return (n + BWD_COLSUM_ROWS - 1) / BWD_COLSUM_ROWS; }

// Launches both stages on s; partial: bwd_colsum_chunks(n) * d doubles of scratch. n, d > 0.
template <typename V>
static mot_status bwd_colsum(float *out, double *partial, V v, int n, int d, cudaStream_t s) {
    const int chunks = bwd_colsum_chunks(n);
    const unsigned gx = (unsigned)((d + 255) / 256);
    if (chunks > 65535) {
        return mot_fail(MOT_ERR_ARG, "cuda column sum: %d rows (at most %d)", n, 65535 * BWD_COLSUM_ROWS);
    }
    bwd_colsum_partial<V><<<dim3(gx, (unsigned)chunks), 256, 0, s>>>(partial, v, n, d);
    MOT_CUDA_LAUNCHED();
    bwd_colsum_finish<<<gx, 256, 0, s>>>(out, partial, chunks, d);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// Stream-ordered scratch (at least 16 bytes); freed with bwd_scratch_free on the same stream
// after the kernels that read it were launched.
static inline mot_status bwd_scratch(void **p, size_t bytes, cudaStream_t s, const char *what) {
    *p = NULL;
    const cudaError_t e = cudaMallocAsync(p, bytes < 16 ? 16 : bytes, s);
    if (e != cudaSuccess) {
        *p = NULL;
        return mot_fail(MOT_ERR_NOMEM, "cuda %s: %zu bytes of scratch: %s", what, bytes, cudaGetErrorString(e));
    }
    return MOT_OK;
}

// Frees p (NULL: nothing) and returns st unless the free itself failed.
static inline mot_status bwd_scratch_free(void *p, cudaStream_t s, mot_status st) {
    if (p) {
        const cudaError_t e = cudaFreeAsync(p, s);
        if (e != cudaSuccess && st == MOT_OK) {
            return mot_fail(MOT_ERR_INTERNAL, "cudaFreeAsync: %s", cudaGetErrorString(e));
        }
    }
    return st;
}

// ---- the attention backwards (attention_backward.cu, cross_attention_backward.cu) ----------
// A block of BWD_ATT_WARPS warps owns one output row of one head (a query's dq, or a key's dk
// and dv); its warps take the keys (or queries) round robin, each keeping its own partial
// sums, merged at the end in warp order. Lane c holds dims c, c + 32, ... (DPL of them).
#define BWD_ATT_WARPS 4
#define BWD_ATT_THREADS (BWD_ATT_WARPS * 32)
#define BWD_ATT_MAX_HD 256 // DPL <= 8

template <int DPL> __device__ __forceinline__ void bwd_load_row(float (&r)[DPL], const float *row, int hd) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        const int c = lane + 32 * e;
        r[e] = c < hd ? row[c] : 0.0f;
    }
}

// a (in registers) . b over hd floats; every lane gets the same total.
template <int DPL> __device__ __forceinline__ float bwd_reg_dot(const float (&a)[DPL], const float *b, int hd) {
    const int lane = threadIdx.x & 31;
    float s = 0.0f;
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        const int c = lane + 32 * e;
        if (c < hd) {
            s = fmaf(a[e], b[c], s);
        }
    }
    return mot_warp_sum(s);
}

// acc += coef x (x: hd floats in memory).
template <int DPL>
__device__ __forceinline__ void bwd_reg_axpy(float (&acc)[DPL], float coef, const float *x, int hd) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        const int c = lane + 32 * e;
        if (c < hd) {
            acc[e] = fmaf(coef, x[c], acc[e]);
        }
    }
}

// out[c] = sum over the warps, in warp order, of their acc. sh: [BWD_ATT_WARPS][BWD_ATT_MAX_HD].
// Ends with a barrier, so sh can be reused.
template <int DPL>
__device__ __forceinline__ void bwd_merge_store(const float (&acc)[DPL], float *out, int hd,
                                                float (*sh)[BWD_ATT_MAX_HD]) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int e = 0; e < DPL; e++) {
        const int c = lane + 32 * e;
        if (c < hd) {
            sh[warp][c] = acc[e];
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < hd; c += blockDim.x) {
        float a = 0.0f;
#pragma unroll
        for (int w = 0; w < BWD_ATT_WARPS; w++) {
            a += sh[w][c];
        }
        out[c] = a;
    }
    __syncthreads();
}

// Running softmax statistics of one warp's scores: max m (f32, as the scores) and sum
// l = sum e^(s - m) (double).
struct bwd_softmax {
    float m;
    double l;
};

// A -inf score adds e^-inf = 0 (as the CPU's sum over a finite max; skipped rather than
// exp(-inf - -inf) = NaN while the max is still -inf); a NaN score makes l NaN.
__device__ __forceinline__ void bwd_softmax_add(bwd_softmax &st, float s) {
    if (s == -INFINITY) {
        return;
    }
    if (s > st.m) {
        st.l = st.m == -INFINITY ? st.l + 1.0 : st.l * exp((double)st.m - s) + 1.0; // l: 0, or NaN kept
        st.m = s;
    } else {
        st.l += exp((double)s - st.m);
    }
}

// The block's log-sum-exp from its warps' statistics, merged in warp order (-inf when no warp
// saw a score). Every thread gets it. sh_m, sh_l: [BWD_ATT_WARPS].
__device__ __forceinline__ double bwd_softmax_lse(const bwd_softmax &st, float *sh_m, double *sh_l) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sh_m[warp] = st.m;
        sh_l[warp] = st.l;
    }
    __syncthreads();
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < BWD_ATT_WARPS; w++) {
        M = fmaxf(M, sh_m[w]);
    }
    double L = 0.0;
#pragma unroll
    for (int w = 0; w < BWD_ATT_WARPS; w++) {
        // a warp whose max stayed -inf has l 0 (no score) or NaN (only NaN scores): added as is
        L += sh_m[w] != -INFINITY ? sh_l[w] * exp((double)sh_m[w] - M) : sh_l[w];
    }
    __syncthreads();
    return M == -INFINITY ? -INFINITY : (double)M + log(L);
}

// Sum of one double per warp (lane 0's), in warp order; every thread gets it.
__device__ __forceinline__ double bwd_warps_sum(double v, double *sh) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sh[warp] = v;
    }
    __syncthreads();
    double s = 0.0;
#pragma unroll
    for (int w = 0; w < BWD_ATT_WARPS; w++) {
        s += sh[w];
    }
    __syncthreads();
    return s;
}

// The DPL instantiation for a head dimension (hd <= BWD_ATT_MAX_HD): CALL(DPL).
#define BWD_ATT_DISPATCH(hd, CALL)                                                             \
    do {                                                                                       \
        if ((hd) <= 32) {                                                                      \
            CALL(1);                                                                           \
        } else if ((hd) <= 64) {                                                               \
            CALL(2);                                                                           \
        } else if ((hd) <= 128) {                                                              \
            CALL(4);                                                                           \
        } else {                                                                               \
            CALL(8);                                                                           \
        }                                                                                      \
    } while (0)

#endif
