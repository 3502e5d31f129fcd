// Decode GEMV over f32 / f16 / bf16 weights (the CUDA side of kernels/cpu/matmul_gemv.c):
//   y[t, r] = sum_c W[r, c] x[t, c] (+ bias[r]) (+ res[t, r])   for t < n <= MOT_CUDA_GEMV_MAX_N
// with f32 activations read as they are (no conversion kernel) and f32 accumulation, in both
// precisions: a GEMV is bound by reading W, so widening each weight in registers costs
// nothing and keeps SPEC 1.7's exact contract.
//
// Shape: blocks of 4 warps. WPR warps share a row (WPR = 1: 4 rows a block; WPR = 4: one row
// a block, each warp a quarter of the columns), so narrow matrices (few rows) still launch
// enough blocks to keep HBM busy. The warps of a row combine their sums through shared memory
// in warp order: the result does not depend on timing (no atomics), and with WPR = 1 a row's
// sum is the same whatever else is in the block.
// Loads: 16 bytes a lane (uint4 of 8 halves / 4 floats), UNROLL of them in flight before any
// is used, streaming (evict-first: every weight is read once a token, so it should not push x
// and the KV cache out of L2). A row whose start is not 16-byte aligned (cols * size not a
// multiple of 16) is read element by element; columns past the last whole vector too.
#include <cstdint>

#include "kernels/cuda/gemv_norm.cuh"
#include "kernels/cuda/op_common.cuh"
#include "kernels/cuda/quant_decode.h"

enum { GEMV_WARPS = 4, GEMV_UNROLL = 4 };

// The 16-byte word of weights as 8 (f16/bf16) or 4 (f32) floats; returns how many.
template <typename T> struct gemv_vec;
template <> struct gemv_vec<float> {
    enum { N = 4 };
    static __device__ __forceinline__ void widen(const uint4 &u, float *f) {
        f[0] = __uint_as_float(u.x), f[1] = __uint_as_float(u.y);
        f[2] = __uint_as_float(u.z), f[3] = __uint_as_float(u.w);
    }
};
// bf16 is the high half of an f32: element 2i is the low 16 bits of word i, shifted up.
template <> struct gemv_vec<__nv_bfloat16> {
    enum { N = 8 };
    static __device__ __forceinline__ void widen(const uint4 &u, float *f) {
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
};
template <> struct gemv_vec<__half> {
    enum { N = 8 };
    static __device__ __forceinline__ void widen(const uint4 &u, float *f) {
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            f[2 * i] = __half2float(__ushort_as_half((unsigned short)(w[i] & 0xffffu)));
            f[2 * i + 1] = __half2float(__ushort_as_half((unsigned short)(w[i] >> 16)));
        }
    }
};

// acc[t] += sum_j f[j] x[t, c + j] for the V weights f at column c. xv: x rows are 16-byte
// aligned at every multiple of 4 columns (x aligned, cols % 4 == 0), so float4 loads.
template <int V, int NT>
__device__ __forceinline__ void gemv_fma(float *acc, const float *f, const float *__restrict__ x, int cols, int c,
                                         int n, bool xv) {
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n) {
            const float *xp = x + (size_t)t * cols + c;
            float a = acc[t];
            if (xv) {
#pragma unroll
                for (int j = 0; j < V; j += 4) {
                    const float4 v = __ldg((const float4 *)(xp + j));
                    a = fmaf(f[j], v.x, a);
                    a = fmaf(f[j + 1], v.y, a);
                    a = fmaf(f[j + 2], v.z, a);
                    a = fmaf(f[j + 3], v.w, a);
                }
            } else {
#pragma unroll
                for (int j = 0; j < V; j++) {
                    a = fmaf(f[j], __ldg(xp + j), a);
                }
            }
            acc[t] = a;
        }
    }
}

// acc[t] += sum_j f[j] xn[t, c + j], xn = x[t] * scale[t] * nw. xv: x and nw rows are 16-byte
// aligned at every multiple of 4 columns.
template <int V, int NT>
__device__ __forceinline__ void gemv_fma_norm(float *acc, const float *f, const float *__restrict__ x,
                                              const float *__restrict__ nw, const float *scale, int cols, int c,
                                              int n, bool xv) {
    float g[V];
    if (xv) {
#pragma unroll
        for (int j = 0; j < V; j += 4) {
            const float4 v = __ldg((const float4 *)(nw + c + j));
            g[j] = v.x, g[j + 1] = v.y, g[j + 2] = v.z, g[j + 3] = v.w;
        }
    } else {
#pragma unroll
        for (int j = 0; j < V; j++) {
            g[j] = __ldg(nw + c + j);
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n) {
            const float *xp = x + (size_t)t * cols + c;
            const float s = scale[t];
            float a = acc[t];
            if (xv) {
#pragma unroll
                for (int j = 0; j < V; j += 4) {
                    const float4 v = __ldg((const float4 *)(xp + j));
                    a = fmaf(f[j], v.x * s * g[j], a);
                    a = fmaf(f[j + 1], v.y * s * g[j + 1], a);
                    a = fmaf(f[j + 2], v.z * s * g[j + 2], a);
                    a = fmaf(f[j + 3], v.w * s * g[j + 3], a);
                }
            } else {
#pragma unroll
                for (int j = 0; j < V; j++) {
                    a = fmaf(f[j], __ldg(xp + j) * s * g[j], a);
                }
            }
            acc[t] = a;
        }
    }
}

// This lane's share of row wr's products with x (NORM: with the normed x, gemv_fma_norm): the
// vectors slice * 32 + lane, then every 32 * WPR, UNROLL of them loaded before use; the rest
// (the tail past nvec * V, the whole row when misaligned) one element at a time.
template <typename T, int NT, int WPR, bool NORM>
__device__ __forceinline__ void gemv_row(float *acc, const T *__restrict__ wr, const float *__restrict__ x,
                                         const float *__restrict__ nw, const float *scale, int cols, int n, int slice,
                                         int lane, bool xv) {
    constexpr int V = gemv_vec<T>::N;
    constexpr int STEP = 32 * WPR;
    const bool wv = ((uintptr_t)wr & 15) == 0;
    const int nvec = wv ? cols / V : 0;
    const uint4 *w4 = (const uint4 *)wr;
    int v = slice * 32 + lane;
    for (; v + (GEMV_UNROLL - 1) * STEP < nvec; v += GEMV_UNROLL * STEP) {
        uint4 u[GEMV_UNROLL];
#pragma unroll
        for (int i = 0; i < GEMV_UNROLL; i++) {
            u[i] = __ldcs(w4 + v + i * STEP);
        }
#pragma unroll
        for (int i = 0; i < GEMV_UNROLL; i++) {
            float f[V];
            gemv_vec<T>::widen(u[i], f);
            if constexpr (NORM) {
                gemv_fma_norm<V, NT>(acc, f, x, nw, scale, cols, (v + i * STEP) * V, n, xv);
            } else {
                gemv_fma<V, NT>(acc, f, x, cols, (v + i * STEP) * V, n, xv);
            }
        }
    }
    for (; v < nvec; v += STEP) {
        float f[V];
        gemv_vec<T>::widen(__ldcs(w4 + v), f);
        if constexpr (NORM) {
            gemv_fma_norm<V, NT>(acc, f, x, nw, scale, cols, v * V, n, xv);
        } else {
            gemv_fma<V, NT>(acc, f, x, cols, v * V, n, xv);
        }
    }
    for (int c = nvec * V + slice * 32 + lane; c < cols; c += STEP) {
        const float f = mot_to_float<T>(wr[c]);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            if (t < n) {
                if constexpr (NORM) {
                    acc[t] = fmaf(f, __ldg(x + (size_t)t * cols + c) * scale[t] * __ldg(nw + c), acc[t]);
                } else {
                    acc[t] = fmaf(f, __ldg(x + (size_t)t * cols + c), acc[t]);
                }
            }
        }
    }
}

// w: [rows, cols] of T; x: [n, cols]; y, res: [n, rows] (res may be y: accumulate); bias:
// [rows] or NULL. Grid: ceil(rows / (GEMV_WARPS / WPR)) blocks of GEMV_WARPS * 32 threads.
template <typename T, int NT, int WPR>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_kernel(float *y, const float *__restrict__ x, const T *__restrict__ w, const float *__restrict__ bias,
                const float *res, int rows, int cols, int n) {
    constexpr int ROWS_PER_BLOCK = GEMV_WARPS / WPR;
    __shared__ float part[GEMV_WARPS][NT];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int row = blockIdx.x * ROWS_PER_BLOCK + warp / WPR, slice = warp % WPR;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = 0.0f;
    }
    if (row < rows) { // no return: WPR > 1 meets a block barrier below
        const bool xv = ((uintptr_t)x & 15) == 0 && cols % 4 == 0;
        gemv_row<T, NT, WPR, false>(acc, w + (size_t)row * cols, x, nullptr, nullptr, cols, n, slice, lane, xv);
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = mot_warp_sum(acc[t]);
    }
    if (WPR > 1) {
        if (lane == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) {
                part[warp][t] = acc[t];
            }
        }
        __syncthreads();
        if (slice == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) {
                float s = part[warp][t];
#pragma unroll
                for (int k = 1; k < WPR; k++) {
                    s += part[warp + k][t];
                }
                acc[t] = s;
            }
        }
    }
    if (row >= rows || slice != 0 || lane != 0) {
        return;
    }
    // As the CPU stores it (kernels/cpu/matmul_gemv.c store_rows): (v + b), then + res.
    const float b = bias ? bias[row] : 0.0f;
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n) {
            const size_t i = (size_t)t * rows + row;
            const float v = bias ? acc[t] + b : acc[t];
            y[i] = res ? res[i] + v : v;
        }
    }
}

// Warps per row: one while that already gives two blocks per SM of a large GPU (132 SMs on
// an H100), else split the columns over more warps when a row is long enough to share.
// Not tuned on a GPU yet (docs/gpu.md).
static int gemv_warps_per_row(int rows, int cols) {
    const int blocks_at_1 = (rows + GEMV_WARPS - 1) / GEMV_WARPS;
    if (blocks_at_1 >= 264 || cols < 1024) {
        return 1;
    }
    return cols >= 4096 ? 4 : 2;
}

template <typename T, int NT>
static void gemv_launch(float *y, const float *x, const T *w, const float *bias, const float *res, int rows, int cols,
                        int n, cudaStream_t s) {
    const int wpr = gemv_warps_per_row(rows, cols);
    const unsigned grid = (unsigned)((rows + GEMV_WARPS / wpr - 1) / (GEMV_WARPS / wpr));
    if (wpr == 1) {
        gemv_kernel<T, NT, 1><<<grid, GEMV_WARPS * 32, 0, s>>>(y, x, w, bias, res, rows, cols, n);
    } else if (wpr == 2) {
        gemv_kernel<T, NT, 2><<<grid, GEMV_WARPS * 32, 0, s>>>(y, x, w, bias, res, rows, cols, n);
    } else {
        gemv_kernel<T, NT, 4><<<grid, GEMV_WARPS * 32, 0, s>>>(y, x, w, bias, res, rows, cols, n);
    }
}

// n = 1 (a decode step) gets its own instantiation; 2..MAX_N share one that skips t >= n.
template <typename T>
static void gemv_dispatch_n(float *y, const float *x, const T *w, const float *bias, const float *res, int rows,
                            int cols, int n, cudaStream_t s) {
    if (n == 1) {
        gemv_launch<T, 1>(y, x, w, bias, res, rows, cols, n, s);
    } else {
        gemv_launch<T, MOT_CUDA_GEMV_MAX_N>(y, x, w, bias, res, rows, cols, n, s);
    }
}

extern "C" mot_status mot_cuda_matmul_gemv(float *y, const float *x, const mot_weight *w, int n, const float *bias,
                                           const float *res, mot_cuda_stream stream) {
    if (n <= 0 || w->rows == 0) {
        return MOT_OK;
    }
    if (n > MOT_CUDA_GEMV_MAX_N || !w->data || !x || !y || w->rows < 0 || w->rows > INT32_MAX || w->cols <= 0 ||
        w->cols > INT32_MAX || (res && res != y && res + (size_t)n * w->rows > y && y + (size_t)n * w->rows > res)) {
        return mot_fail(MOT_ERR_ARG, "cuda GEMV: n %d (max %d), %s weight [%lld, %lld], residual overlapping y partly",
                        n, MOT_CUDA_GEMV_MAX_N, mot_dtype_name(w->dtype), (long long)w->rows, (long long)w->cols);
    }
    const int rows = (int)w->rows, cols = (int)w->cols;
    cudaStream_t s = (cudaStream_t)stream;
    switch (w->dtype) {
    case MOT_DTYPE_F32:
        gemv_dispatch_n(y, x, (const float *)w->data, bias, res, rows, cols, n, s);
        break;
    case MOT_DTYPE_F16:
        gemv_dispatch_n(y, x, (const __half *)w->data, bias, res, rows, cols, n, s);
        break;
    case MOT_DTYPE_BF16:
        gemv_dispatch_n(y, x, (const __nv_bfloat16 *)w->data, bias, res, rows, cols, n, s);
        break;
    default:
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda GEMV: weight dtype %s (f32, f16 or bf16)", mot_dtype_name(w->dtype));
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// ---- The decode GEMV with an RMSNorm prologue and a SwiGLU epilogue (the plan's fused
// RMSNORM_MATMUL / RMSNORM_MATMUL_SWIGLU, kernels/cuda/matmul_fused.cu) ----
// One launch for all the op's weights (q/k/v: three row ranges of the grid; gate/up: one, each
// warp group owning row r of both). Every block first computes the inverse RMS of each of the
// n rows of x (d <= a few 16k floats: read from L2 by every block, as cheap as the GEMV's own
// reads of x) by the same fixed-order block reduction as rmsnorm_kernel (norm.cu), over this
// block's 128 threads instead of 256: a different but fixed summation order. The normed x is
// then formed in registers, x * scale * w as rmsnorm_row rounds it, and FMA'd with the
// weights exactly as gemv_kernel does; block 0 also writes it to norm_out (the norm's output,
// which later ops may read), for the rows the lane has. GEMV_MULTI is the same launch without
// the norm (x as it is; nw, eps, norm_out, ls, last unused): a MATMUL op of several weights.

// x: [n, cols] (last: the row n_live - 1 of x, n = 1); nw: [cols]; norm_out: [n, cols] or NULL;
// ls: the lane's step values on the device (NULL: n_new = n, pos 0): norm_out rows and (RoPE)
// the rotation and the cache rows only below its n_new, at positions pos...
template <typename T, int NT, int WPR, int MODE>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_norm_kernel(gemv_norm_mats m, const float *__restrict__ x, const float *__restrict__ nw, float eps,
                     float *norm_out, const mot_lane_step *ls, int last, int cols, int n) {
    constexpr int ROWS_PER_BLOCK = GEMV_WARPS / WPR;
    constexpr bool NORM = MODE != GEMV_MULTI;
    __shared__ float part[GEMV_WARPS][2 * NT];
    __shared__ float sh[32];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int live = n;
    float scale[NT]; // n is the same for the whole block: every thread meets the barriers
    if constexpr (NORM) {
        x = gemv_norm_x(x, ls, last, cols, n, &live);
        gemv_norm_scales<NT>(scale, x, cols, n, eps, sh);
        gemv_norm_write_out<NT>(norm_out, x, nw, scale, cols, n, live, last);
    }
    const gemv_unit u = gemv_norm_unit<MODE>(m, warp / WPR, ROWS_PER_BLOCK);
    const int slice = warp % WPR;
    float acc[NT], acc2[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = 0.0f, acc2[t] = 0.0f;
    }
    if (u.unit < m.units[u.j]) { // no return: WPR > 1 meets a block barrier below
        const bool xv = ((uintptr_t)x & 15) == 0 && (!NORM || ((uintptr_t)nw & 15) == 0) && cols % 4 == 0;
        gemv_row<T, NT, WPR, NORM>(acc, (const T *)m.w[u.j] + (size_t)u.r0 * cols, x, nw, scale, cols, n, slice, lane,
                                   xv);
        if (u.paired) {
            gemv_row<T, NT, WPR, NORM>(acc2, (const T *)m.w[u.j1] + (size_t)u.r1 * cols, x, nw, scale, cols, n, slice,
                                       lane, xv);
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = mot_warp_sum(acc[t]);
        if (u.paired) {
            acc2[t] = mot_warp_sum(acc2[t]);
        }
    }
    if (WPR > 1) {
        if (lane == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) {
                part[warp][t] = acc[t];
                part[warp][NT + t] = acc2[t];
            }
        }
        __syncthreads();
        if (slice == 0) {
#pragma unroll
            for (int t = 0; t < NT; t++) {
                float s = part[warp][t], v = part[warp][NT + t];
#pragma unroll
                for (int k = 1; k < WPR; k++) {
                    s += part[warp + k][t];
                    v += part[warp + k][NT + t];
                }
                acc[t] = s, acc2[t] = v;
            }
        }
    }
    if (u.unit < m.units[u.j] && slice == 0 && lane == 0) {
        gemv_norm_store<NT, MODE>(m, u, acc, acc2, ls, n, live);
    }
}

template <typename T, int NT, int MODE>
static void gemv_norm_launch(gemv_norm_mats m, int space_rows, const float *x, const float *nw, float eps,
                             float *norm_out, const mot_lane_step *ls, int last, int cols, int n, cudaStream_t s) {
    const int wpr = gemv_warps_per_row(space_rows, cols);
    const unsigned grid = gemv_norm_grid(m, GEMV_WARPS / wpr);
    if (wpr == 1) {
        gemv_norm_kernel<T, NT, 1, MODE><<<grid, GEMV_WARPS * 32, 0, s>>>(m, x, nw, eps, norm_out, ls, last, cols, n);
    } else if (wpr == 2) {
        gemv_norm_kernel<T, NT, 2, MODE><<<grid, GEMV_WARPS * 32, 0, s>>>(m, x, nw, eps, norm_out, ls, last, cols, n);
    } else {
        gemv_norm_kernel<T, NT, 4, MODE><<<grid, GEMV_WARPS * 32, 0, s>>>(m, x, nw, eps, norm_out, ls, last, cols, n);
    }
}

template <typename T, int MODE>
static void gemv_norm_dispatch_n(const gemv_norm_mats &m, int space_rows, const float *x, const float *nw, float eps,
                                 float *norm_out, const mot_lane_step *ls, int last, int cols, int n, cudaStream_t s) {
    if (n == 1) {
        gemv_norm_launch<T, 1, MODE>(m, space_rows, x, nw, eps, norm_out, ls, last, cols, n, s);
    } else {
        gemv_norm_launch<T, MOT_CUDA_GEMV_MAX_N, MODE>(m, space_rows, x, nw, eps, norm_out, ls, last, cols, n, s);
    }
}

template <typename T>
static void gemv_norm_dispatch(const gemv_norm_mats &m, int mode, int space_rows, const float *x, const float *nw,
                               float eps, float *norm_out, const mot_lane_step *ls, int last, int cols, int n,
                               cudaStream_t s) {
    if (mode == GEMV_SWIGLU) {
        gemv_norm_dispatch_n<T, GEMV_SWIGLU>(m, space_rows, x, nw, eps, norm_out, ls, last, cols, n, s);
    } else if (mode == GEMV_ROPE) {
        gemv_norm_dispatch_n<T, GEMV_ROPE>(m, space_rows, x, nw, eps, norm_out, ls, last, cols, n, s);
    } else if (mode == GEMV_MULTI) {
        gemv_norm_dispatch_n<T, GEMV_MULTI>(m, space_rows, x, nw, eps, norm_out, ls, last, cols, n, s);
    } else {
        gemv_norm_dispatch_n<T, GEMV_PLAIN>(m, space_rows, x, nw, eps, norm_out, ls, last, cols, n, s);
    }
}

// One launch of the fused kernel for n_w weights (checked by the caller: *_takes): the
// weights' table, then the kernel for their dtype (quant.cu's for quantized weights).
static mot_status gemv_norm_run(float *const *y, const mot_weight *w, const float *const *bias, int n_w, int mode,
                                const mot_cuda_gemv_rope *rope, const float *x, const float *norm_w, float eps,
                                float *norm_out, const mot_lane_step *ls, int last, int n, mot_cuda_stream stream) {
    const int d = (int)w[0].cols;
    gemv_norm_mats m = {};
    m.n_w = n_w;
    int space = 0;
    for (int j = 0; j < n_w; j++) {
        if (!y[j]) {
            return mot_fail(MOT_ERR_ARG, "cuda fused GEMV: output %d missing", j);
        }
        m.w[j] = w[j].data, m.y[j] = y[j], m.bias[j] = bias ? bias[j] : NULL, m.rows[j] = (int)w[j].rows;
        m.dt[j] = (int)w[j].dtype;
        m.row_bytes[j] = (int64_t)mot_dtype_row_bytes(w[j].dtype, d);
        m.end[j] = (const uint8_t *)w[j].data + (size_t)m.rows[j] * (size_t)m.row_bytes[j];
        m.units[j] = mode == GEMV_SWIGLU ? (j == 0 ? m.rows[0] : 0) : mode == GEMV_ROPE && j < 2 ? m.rows[j] / 2
                                                                                              : m.rows[j];
        space += m.units[j];
    }
    if (rope) {
        m.rope = *rope;
    }
    cudaStream_t s = (cudaStream_t)stream;
    if (mot_qblock_bytes(w[0].dtype)) {
        quant_gemv_norm_launch(m, mode, x, norm_w, eps, norm_out, ls, last, d, n, s);
    } else if (w[0].dtype == MOT_DTYPE_F32) {
        gemv_norm_dispatch<float>(m, mode, space, x, norm_w, eps, norm_out, ls, last, d, n, s);
    } else if (w[0].dtype == MOT_DTYPE_F16) {
        gemv_norm_dispatch<__half>(m, mode, space, x, norm_w, eps, norm_out, ls, last, d, n, s);
    } else {
        gemv_norm_dispatch<__nv_bfloat16>(m, mode, space, x, norm_w, eps, norm_out, ls, last, d, n, s);
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

extern "C" int mot_cuda_gemv_norm_takes(const mot_weight *w, const float *const *bias, int n_w, int n, int d,
                                        int swiglu, const mot_cuda_gemv_rope *rope) {
    if (n < 1 || n > MOT_CUDA_GEMV_MAX_N || n_w < 1 || n_w > MOT_OP_MAX_W || d < 1 || (swiglu && n_w != 2) ||
        (swiglu && rope) || (rope && n_w != 3)) {
        return 0;
    }
    const mot_dtype dt = w[0].dtype;
    // quantized: any mix of the kernels' types (a Q4_K_M file's v may be Q6_K beside a Q4_K q)
    const bool quant = mot_qblock_bytes(dt) != 0;
    if (!quant && dt != MOT_DTYPE_F32 && dt != MOT_DTYPE_F16 && dt != MOT_DTYPE_BF16) {
        return 0;
    }
    if (quant && (n > MOT_CUDA_QUANT_GEMV_MAX_N || !gemv_norm_quant_fits(n, d))) {
        return 0;
    }
    int64_t total = 0;
    for (int j = 0; j < n_w; j++) {
        const bool same = quant ? mot_qblock_bytes(w[j].dtype) != 0 && d % mot_dtype_block_elems(w[j].dtype) == 0 &&
                                      ((uintptr_t)w[j].data & 15) == 0
                                : w[j].dtype == dt;
        if (!same || w[j].cols != d || w[j].rows < 0 || w[j].rows > INT32_MAX || !w[j].data) {
            return 0;
        }
        total += w[j].rows;
    }
    if (swiglu && (w[0].rows != w[1].rows || (bias && (bias[0] || bias[1])))) {
        return 0;
    }
    if (rope) { // q [n_heads * hd], k and v [n_kv * hd], no bias (the plan's q/k/v have none)
        const int64_t hd = rope->hd;
        if (hd < 2 || hd % 2 || rope->n_heads < 1 || rope->n_kv < 1 || w[0].rows != rope->n_heads * hd ||
            w[1].rows != rope->n_kv * hd || w[2].rows != rope->n_kv * hd || !rope->k_cache || !rope->v_cache ||
            !rope->inv_freq || rope->kv_stride < hd || rope->head_stride < hd ||
            (bias && (bias[0] || bias[1] || bias[2]))) {
            return 0;
        }
    }
    return total <= INT32_MAX;
}

extern "C" mot_status mot_cuda_gemv_norm(float *const *y, const mot_weight *w, const float *const *bias, int n_w,
                                         const float *x, const float *norm_w, float eps, float *norm_out,
                                         const mot_lane_step *ls, int last, int n, int swiglu,
                                         const mot_cuda_gemv_rope *rope, mot_cuda_stream stream) {
    const int d = w[0].cols > 0 && w[0].cols <= INT32_MAX ? (int)w[0].cols : 0;
    if (!mot_cuda_gemv_norm_takes(w, bias, n_w, n, d, swiglu, rope) || !x || !norm_w || (last && n != 1)) {
        return mot_fail(MOT_ERR_ARG, "cuda fused GEMV: n %d (max %d), %d %s weights of %lld columns%s%s", n,
                        MOT_CUDA_GEMV_MAX_N, n_w, mot_dtype_name(w[0].dtype), (long long)w[0].cols,
                        swiglu ? ", swiglu (two weights of equal rows, no bias)" : "",
                        rope ? ", rope (q, k, v of n_heads, n_kv, n_kv heads of hd, no bias, caches)" : "");
    }
    const int mode = rope ? GEMV_ROPE : swiglu ? GEMV_SWIGLU : GEMV_PLAIN;
    return gemv_norm_run(y, w, bias, n_w, mode, rope, x, norm_w, eps, norm_out, ls, last, n, stream);
}

// ---- A MATMUL op of several weights sharing x in one launch (no norm: GEMV_MULTI) ----------

// The fused kernel's own checks (dtype alike, widths, row counts), no norm, plain dtypes only.
extern "C" int mot_cuda_gemv_multi_takes(const mot_weight *w, int n_w, int n) {
    return n_w >= 2 &&
           (w[0].dtype == MOT_DTYPE_F32 || w[0].dtype == MOT_DTYPE_F16 || w[0].dtype == MOT_DTYPE_BF16) &&
           w[0].cols <= INT32_MAX && mot_cuda_gemv_norm_takes(w, NULL, n_w, n, (int)w[0].cols, 0, NULL);
}

extern "C" mot_status mot_cuda_gemv_multi(float *const *y, const mot_weight *w, const float *const *bias, int n_w,
                                          const float *x, int n, mot_cuda_stream stream) {
    if (!mot_cuda_gemv_multi_takes(w, n_w, n) || !x) {
        return mot_fail(MOT_ERR_ARG, "cuda GEMV of %d weights: n %d (max %d), %s weights of %lld columns (one of f32, "
                        "f16, bf16, all alike)", n_w, n, MOT_CUDA_GEMV_MAX_N, mot_dtype_name(w[0].dtype),
                        (long long)w[0].cols);
    }
    return gemv_norm_run(y, w, bias, n_w, GEMV_MULTI, NULL, x, NULL, 0.0f, NULL, NULL, 0, n, stream);
}
