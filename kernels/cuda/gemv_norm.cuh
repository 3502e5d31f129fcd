// The fused decode GEMV's parts that do not depend on how the weights are stored (the plan's
// RMSNORM_MATMUL / RMSNORM_MATMUL_SWIGLU / RMSNORM_MATMUL_ROPE_APPEND, kernels/cuda/
// matmul_fused.cu): the RMSNorm prologue, which weight and rows a warp group owns, and the
// epilogue (bias, SwiGLU, RoPE + KV append). gemv_norm_kernel (matmul_gemv.cu: f32/f16/bf16)
// and quant_gemv_norm_kernel (quant.cu: ggml blocks) read the rows their own way in between.
#ifndef MOT_KERNELS_CUDA_GEMV_NORM_CUH
#define MOT_KERNELS_CUDA_GEMV_NORM_CUH

#include <cstdint>

#include "kernels/cuda/op_common.cuh"

// The weights of one fused launch (by value: kernel parameters). Weight j owns the blocks
// [first_block[j], first_block[j + 1]) and units[j] units of work, a unit being one row, or a
// pair of rows: GEMV_SWIGLU, one range for row u of gate (weight 0) and of up (weight 1);
// GEMV_ROPE, q (0) and k (1) in pairs (row i and row i + hd/2 of a head, which RoPE rotates
// together), v (2) in rows.
// GEMV_MULTI: no norm at all, x as it is (a MATMUL op of several weights in one launch).
enum { GEMV_PLAIN = 0, GEMV_SWIGLU = 1, GEMV_ROPE = 2, GEMV_MULTI = 3 };
struct gemv_norm_mats {
    const void *w[MOT_OP_MAX_W];
    float *y[MOT_OP_MAX_W];
    const float *bias[MOT_OP_MAX_W];
    int rows[MOT_OP_MAX_W], units[MOT_OP_MAX_W];
    int first_block[MOT_OP_MAX_W + 1];
    int n_w;
    // quantized weights only: each weight's mot_dtype, bytes a row, and the end of its blocks
    int dt[MOT_OP_MAX_W];
    int64_t row_bytes[MOT_OP_MAX_W];
    const uint8_t *end[MOT_OP_MAX_W];
    mot_cuda_gemv_rope rope; // GEMV_ROPE only
};

// Sets first_block for units_per_block units a block; returns the grid (at least one block:
// block 0 writes the norm's output even when no weight has rows).
static inline unsigned gemv_norm_grid(gemv_norm_mats &m, int units_per_block) {
    m.first_block[0] = 0;
    for (int j = 0; j < MOT_OP_MAX_W; j++) {
        const int blocks = j < m.n_w ? (m.units[j] + units_per_block - 1) / units_per_block : 0;
        m.first_block[j + 1] = m.first_block[j] + blocks;
    }
    return m.first_block[MOT_OP_MAX_W] > 0 ? (unsigned)m.first_block[MOT_OP_MAX_W] : 1u;
}

// The x the norm reads: x itself, or (last, n = 1) its row n_new - 1; *live: the lane's n_new
// (ls NULL: n).
__device__ __forceinline__ const float *gemv_norm_x(const float *x, const mot_lane_step *ls, int last, int cols,
                                                    int n, int *live) {
    *live = ls ? ls->n_new : n;
    return last ? x + (size_t)(*live > 0 ? *live - 1 : 0) * cols : x;
}

// scale[t] = 1 / RMS of x's row t for t < n, by the fixed-order block reduction of
// rmsnorm_kernel (norm.cu) over this block's threads; every thread of the block must call it.
template <int NT>
__device__ __forceinline__ void gemv_norm_scales(float *scale, const float *x, int cols, int n, float eps, float *sh) {
#pragma unroll
    for (int t = 0; t < NT; t++) {
        scale[t] = 0.0f;
        if (t < n) {
            const float *row = x + (size_t)t * cols;
            float ss = 0.0f;
            for (int i = threadIdx.x; i < cols; i += blockDim.x) {
                ss += row[i] * row[i];
            }
            scale[t] = rsqrtf(mot_block_sum(ss, sh) / cols + eps);
        }
    }
}

// Block 0 writes the norm's output (x * scale * w, rmsnorm_row's rounding) for the rows the
// lane has: the last row's one, or rows t < min(n_new, n).
template <int NT>
__device__ __forceinline__ void gemv_norm_write_out(float *norm_out, const float *x, const float *nw,
                                                    const float *scale, int cols, int n, int live, int last) {
    if (!norm_out || blockIdx.x != 0) {
        return;
    }
    const int out_rows = last ? (live > 0 ? 1 : 0) : (live < n ? live : n);
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < out_rows) {
            for (int i = threadIdx.x; i < cols; i += blockDim.x) {
                norm_out[(size_t)t * cols + i] = x[(size_t)t * cols + i] * scale[t] * nw[i];
            }
        }
    }
}

// What warp group g (of units_per_block in this block) computes: row r0 of weight j, and when
// paired row r1 of weight j1 (the same for the whole block).
struct gemv_unit {
    int j, j1, unit, r0, r1;
    bool paired;
};
template <int MODE>
__device__ __forceinline__ gemv_unit gemv_norm_unit(const gemv_norm_mats &m, int g, int units_per_block) {
    gemv_unit u;
    u.j = 0;
#pragma unroll
    for (int k = 1; k < MOT_OP_MAX_W; k++) {
        if (k < m.n_w && (int)blockIdx.x >= m.first_block[k]) {
            u.j = k;
        }
    }
    u.unit = ((int)blockIdx.x - m.first_block[u.j]) * units_per_block + g;
    u.paired = MODE == GEMV_SWIGLU || (MODE == GEMV_ROPE && u.j < 2);
    u.r0 = u.unit, u.r1 = u.unit, u.j1 = MODE == GEMV_SWIGLU ? 1 : u.j;
    if (MODE == GEMV_ROPE && u.j < 2) {
        const int half = m.rope.hd / 2;
        u.r0 = (u.unit / half) * m.rope.hd + u.unit % half; // head unit / half, element unit % half
        u.r1 = u.r0 + half;
    }
    return u;
}

// The unit's outputs from its dot products acc (row r0) and acc2 (row r1), t < n: bias,
// SwiGLU as swiglu_step_kernel (activation.cu; up kept as the unfused GEMV leaves it), or RoPE
// and the KV append as rope_append_kernel (rope.cu) for rows t < n_new (the rows the lane did
// not feed: the products, unrotated). One thread a unit.
template <int NT, int MODE>
__device__ __forceinline__ void gemv_norm_store(const gemv_norm_mats &m, const gemv_unit &u, const float *acc,
                                                const float *acc2, const mot_lane_step *ls, int n, int live) {
    const int j = u.j, r0 = u.r0, r1 = u.r1, rows = m.rows[j];
    const float *bias = m.bias[j];
    const float b = bias ? bias[r0] : 0.0f;
    const int pos = ls ? ls->pos : 0;
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n) {
            const size_t i0 = (size_t)t * rows + r0, i1 = (size_t)t * rows + r1;
            if (MODE == GEMV_SWIGLU) {
                const float g = acc[t], v = acc2[t];
                m.y[1][i0] = v;
                m.y[0][i0] = g / (1.0f + expf(-g)) * v;
            } else if (MODE == GEMV_ROPE && t < live) {
                const size_t crow = (size_t)(pos + t) * m.rope.kv_stride;
                if (j < 2) {
                    const int half = m.rope.hd / 2, e = u.unit % half, g = u.unit / half;
                    float s, c;
                    sincosf((float)(pos + t) * m.rope.inv_freq[e], &s, &c);
                    const float x0 = acc[t], x1 = acc2[t];
                    const float y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
                    m.y[j][i0] = y0;
                    m.y[j][i1] = y1;
                    if (j == 1) {
                        float *kc = m.rope.k_cache + crow + (size_t)g * m.rope.head_stride;
                        kc[e] = y0;
                        kc[e + half] = y1;
                    }
                } else {
                    m.y[2][i0] = acc[t];
                    m.rope.v_cache[crow + (size_t)(r0 / m.rope.hd) * m.rope.head_stride + r0 % m.rope.hd] = acc[t];
                }
            } else if (MODE == GEMV_ROPE) {
                m.y[j][i0] = acc[t];
                if (j < 2) {
                    m.y[j][i1] = acc2[t];
                }
            } else {
                m.y[j][i0] = bias ? acc[t] + b : acc[t];
            }
        }
    }
}

// Quantized weights (quant.cu): every block first stores the normed rows of x in shared
// memory, row t's element c at t * pitch + c + 4 (c / 32) (a warp's 32 lanes each read a half of
// their own 32-element piece: the padding puts them on different banks), so at most
// GEMV_NORM_QUANT_SMEM bytes for n rows of cols.
enum { GEMV_NORM_QUANT_SMEM = 40960 };
__host__ __device__ __forceinline__ int gemv_norm_quant_at(int c) { return c + (c >> 5) * 4; }
static inline bool gemv_norm_quant_fits(int n, int cols) {
    return cols <= GEMV_NORM_QUANT_SMEM / 4 && (int64_t)n * gemv_norm_quant_at(cols) * 4 <= GEMV_NORM_QUANT_SMEM;
}
// The launch over quantized weights (every m.w[j] a type of quant_decode.h, 16-byte aligned;
// cols a multiple of each type's block; n <= MOT_CUDA_QUANT_GEMV_MAX_N; gemv_norm_quant_fits).
void quant_gemv_norm_launch(gemv_norm_mats m, int mode, const float *x, const float *nw, float eps, float *norm_out,
                            const mot_lane_step *ls, int last, int cols, int n, cudaStream_t s);

#endif
