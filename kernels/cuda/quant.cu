// ggml's block-quantized weights on the device (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, IQ4_XS): the raw blocks as the GGUF file stores them, rows of
// mot_dtype_row_bytes(dtype, cols) bytes, read by
//   - quant_gemv_kernel: y[n, rows] = x[n, cols] W^T (+ beta y) for n <= 7 (decode), reading
//     the blocks once with f32 activations;
//   - quant_gemv_norm_kernel: the same rows behind an RMSNorm prologue, with the SwiGLU or
//     RoPE + KV append epilogue (the plan's fused decode ops; gemv_norm.cuh);
//   - quant_dequant_rows_kernel: rows of W as f32 (or bf16) into a tile, for cuBLAS SGEMM
//     (or the tensor cores in fast precision) in prefill (kernels/cuda/matmul.cu);
//   - quant_embed_kernel: embedding rows, bit for bit the reference dequantization.
// All three decode through kernels/cuda/quant_decode.h (the host test checks it against
// ops/ref_quant.c on the CPU).
#include <cstdint>
#include <cstring>

#include "kernels/cuda/gemv_norm.cuh"
#include "kernels/cuda/op_common.cuh"
#include "kernels/cuda/quant_decode.h"

// GEMV launch shape: one warp per output row, 4 warps (4 rows) a block.
enum { GEMV_WARPS = 4 };

// 16 bytes at p, of which only those below end exist (the matrix's last row may end inside a
// word: reading past it would leave the allocation); the rest are zeros and never decoded.
__device__ __forceinline__ int4 load16(const uint8_t *p, const uint8_t *end) {
    if (p + 16 <= end) {
        return __ldg((const int4 *)p);
    }
    uint8_t b[16];
#pragma unroll
    for (int i = 0; i < 16; i++) {
        b[i] = p + i < end ? p[i] : 0;
    }
    int4 v;
    memcpy(&v, b, 16);
    return v;
}

// This lane's share of chunk c's words: word lane + 32 i into r[i].
__device__ __forceinline__ void load_chunk(int4 *r, const mot_qchunk &c, int lane, const uint8_t *end) {
#pragma unroll
    for (int i = 0; i < MOT_QCHUNK_LOADS; i++) {
        const int w = lane + 32 * i;
        if (w < c.n16) {
            r[i] = load16((const uint8_t *)c.a0 + 16 * w, end);
        }
    }
}

// sum_j q[j] x[j] over one half (16 elements at x, 16-byte aligned; LDG: read-only global
// memory, else shared), and sum_j x[j] when the type has an offset.
template <int DT, bool LDG>
__device__ __forceinline__ void half_dot(const float *q, const float *x, float &qx, float &sx) {
    const float4 *x4 = (const float4 *)x;
    qx = 0.0f, sx = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float4 v = LDG ? __ldg(x4 + i) : x4[i];
        qx = fmaf(q[4 * i], v.x, qx);
        qx = fmaf(q[4 * i + 1], v.y, qx);
        qx = fmaf(q[4 * i + 2], v.z, qx);
        qx = fmaf(q[4 * i + 3], v.w, qx);
        if (mot_qhas_offset(DT)) {
            sx += (v.x + v.y) + (v.z + v.w);
        }
    }
}

// acc[t] += sum_c W[row, c] x[t, c] for t < n <= NT, by the whole warp (every lane calls it; on
// return lane 0 ... 31 hold partial sums for mot_warp_sum). row: the row's first block, end:
// the end of the matrix's blocks; stage: this warp's MOT_QCHUNK_MAX16 words of shared memory.
// x row t at x + t * pitch: the plain layout (pitch cols, global, LDG) or the fused kernel's
// padded one in shared memory (gemv_norm_quant_at). Each lane accumulates its pieces in row
// order, so with the fixed butterfly after it the result does not depend on timing. The next
// chunk's words are loaded into registers while the current one is decoded.
template <int DT, int NT, bool LDG>
__device__ __forceinline__ void quant_row_dot(float *acc, int4 *stage, const uint8_t *row, const uint8_t *end,
                                              const float *x, int pitch, int cols, int n, int lane) {
    const uintptr_t rp = (uintptr_t)row;
    const int64_t p_row = cols / 32;
    const int64_t chunks = (p_row + 31) / 32;
    const uint8_t *sm = (const uint8_t *)stage;
    int4 r[MOT_QCHUNK_LOADS];
    mot_qchunk c = mot_qchunk_of(DT, rp, p_row, 0);
    load_chunk(r, c, lane, end);
    for (int64_t k = 0; k < chunks; k++) {
#pragma unroll
        for (int i = 0; i < MOT_QCHUNK_LOADS; i++) {
            if (lane + 32 * i < c.n16) {
                stage[lane + 32 * i] = r[i];
            }
        }
        __syncwarp();
        const mot_qchunk cur = c;
        if (k + 1 < chunks) {
            c = mot_qchunk_of(DT, rp, p_row, k + 1);
            load_chunk(r, c, lane, end);
        }
        if (lane < cur.np) {
            const int64_t p = 32 * k + lane;
            mot_qpiece pc;
            mot_qpiece_decode(DT, sm + mot_qchunk_piece_at(DT, &cur, k, lane), (int)(p % mot_qpieces_per_block(DT)),
                              &pc);
            const int64_t at = LDG ? 32 * p : gemv_norm_quant_at((int)(32 * p));
#pragma unroll
            for (int t = 0; t < NT; t++) {
                if (t < n) {
                    const float *xp = x + (size_t)t * pitch + at;
                    float qx0, sx0, qx1, sx1;
                    half_dot<DT, LDG>(pc.q, xp, qx0, sx0);
                    half_dot<DT, LDG>(pc.q + 16, xp + 16, qx1, sx1);
                    float v = fmaf(pc.a[0], qx0, pc.a[1] * qx1);
                    if (mot_qhas_offset(DT)) {
                        v = fmaf(pc.b[0], sx0, fmaf(pc.b[1], sx1, v));
                    }
                    acc[t] += v;
                }
            }
        }
        __syncwarp(); // every lane has read the stage before the next chunk overwrites it
    }
}

// y[t, row] = sum_c W[row, c] x[t, c] (+ beta y[t, row]) for t < n <= NT.
// w: rows x row_bytes of blocks, 16-byte aligned; end = w + rows * row_bytes. x: [n, cols],
// 16-byte aligned, cols a multiple of 32. Grid: ceil(rows / 4) blocks of 128 threads; warp
// `warp` of block b owns row 4 b + warp.
template <int DT, int NT>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    quant_gemv_kernel(float *__restrict__ y, const float *__restrict__ x, const uint8_t *__restrict__ w,
                      const uint8_t *end, int rows, int cols, size_t row_bytes, int n, float beta) {
    __shared__ int4 stage[GEMV_WARPS][MOT_QCHUNK_MAX16];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int row = blockIdx.x * GEMV_WARPS + warp;
    if (row >= rows) {
        return; // the whole warp: the kernel has no block-wide barrier
    }
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = 0.0f;
    }
    quant_row_dot<DT, NT, true>(acc, stage[warp], w + (size_t)row * row_bytes, end, x, cols, cols, n, lane);
#pragma unroll
    for (int t = 0; t < NT; t++) {
        const float v = mot_warp_sum(acc[t]);
        if (t < n && lane == 0) {
            float *yp = y + (size_t)t * rows + row;
            *yp = beta != 0.0f ? v + beta * *yp : v;
        }
    }
}

// quant_row_dot for the row's own type (a fused launch's weights may differ in type; the
// branch is the same for the whole block).
template <int NT>
__device__ __forceinline__ void quant_row_dot_of(int dt, float *acc, int4 *stage, const uint8_t *row,
                                                 const uint8_t *end, const float *xs, int pitch, int cols, int n,
                                                 int lane) {
    switch (dt) {
    case MOT_DTYPE_Q8_0: quant_row_dot<MOT_DTYPE_Q8_0, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q4_0: quant_row_dot<MOT_DTYPE_Q4_0, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q4_1: quant_row_dot<MOT_DTYPE_Q4_1, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q4_K: quant_row_dot<MOT_DTYPE_Q4_K, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q5_K: quant_row_dot<MOT_DTYPE_Q5_K, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q6_K: quant_row_dot<MOT_DTYPE_Q6_K, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q5_0: quant_row_dot<MOT_DTYPE_Q5_0, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q5_1: quant_row_dot<MOT_DTYPE_Q5_1, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_IQ4_NL: quant_row_dot<MOT_DTYPE_IQ4_NL, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q2_K: quant_row_dot<MOT_DTYPE_Q2_K, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_Q3_K: quant_row_dot<MOT_DTYPE_Q3_K, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    case MOT_DTYPE_IQ4_XS: quant_row_dot<MOT_DTYPE_IQ4_XS, NT, false>(acc, stage, row, end, xs, pitch, cols, n, lane); break;
    default: break; // refused on the host (mot_cuda_gemv_norm_takes)
    }
}

// The fused decode GEMV over quantized weights (gemv_norm.cuh; the f32/f16/bf16 one is
// gemv_norm_kernel, matmul_gemv.cu): every block computes the rows' inverse RMS as that one
// does, stores the normed x (x * scale * w, rmsnorm_row's rounding) in shared memory, and each
// warp takes one unit (a row, or the pair of rows of SwiGLU / RoPE) by quant_row_dot, as
// quant_gemv_kernel would read them from the norm's output. Grid: gemv_norm_grid(m, 4);
// dynamic shared memory: n * gemv_norm_quant_at(cols) floats.
template <int NT, int MODE>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
    quant_gemv_norm_kernel(gemv_norm_mats m, const float *__restrict__ x, const float *__restrict__ nw, float eps,
                           float *norm_out, const mot_lane_step *ls, int last, int cols, int n) {
    extern __shared__ __align__(16) float xs[]; // half_dot's float4 loads
    __shared__ int4 stage[GEMV_WARPS][MOT_QCHUNK_MAX16];
    __shared__ float sh[32];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int live;
    x = gemv_norm_x(x, ls, last, cols, n, &live);
    float scale[NT];
    gemv_norm_scales<NT>(scale, x, cols, n, eps, sh);
    gemv_norm_write_out<NT>(norm_out, x, nw, scale, cols, n, live, last);
    const int pitch = gemv_norm_quant_at(cols);
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t < n) {
            for (int i = threadIdx.x; i < cols; i += blockDim.x) {
                xs[t * pitch + gemv_norm_quant_at(i)] = x[(size_t)t * cols + i] * scale[t] * nw[i];
            }
        }
    }
    __syncthreads();
    const gemv_unit u = gemv_norm_unit<MODE>(m, warp, GEMV_WARPS);
    if (u.unit >= m.units[u.j]) {
        return; // the whole warp, after the block's last barrier
    }
    float acc[NT], acc2[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = 0.0f, acc2[t] = 0.0f;
    }
    quant_row_dot_of<NT>(m.dt[u.j], acc, stage[warp], (const uint8_t *)m.w[u.j] + (size_t)u.r0 * m.row_bytes[u.j],
                         m.end[u.j], xs, pitch, cols, n, lane);
    if (u.paired) {
        quant_row_dot_of<NT>(m.dt[u.j1], acc2, stage[warp],
                             (const uint8_t *)m.w[u.j1] + (size_t)u.r1 * m.row_bytes[u.j1], m.end[u.j1], xs, pitch,
                             cols, n, lane);
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = mot_warp_sum(acc[t]);
        if (u.paired) {
            acc2[t] = mot_warp_sum(acc2[t]);
        }
    }
    if (lane == 0) {
        gemv_norm_store<NT, MODE>(m, u, acc, acc2, ls, n, live);
    }
}

// out[r, c] = W[r0 + r, c] for r < nrows: [nrows, cols], one thread per piece; f32 (exact
// GEMMs: bit for bit the reference) or bf16 (fast GEMMs on the tensor cores: the f32 value
// rounded to nearest even once). A piece's 32 values leave in 16-byte stores.
template <int DT> __device__ __forceinline__ void store_piece(float *o, const mot_qpiece &pc) {
    float4 *o4 = (float4 *)o;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        o4[j] = make_float4(mot_qpiece_value(DT, &pc, 4 * j), mot_qpiece_value(DT, &pc, 4 * j + 1),
                            mot_qpiece_value(DT, &pc, 4 * j + 2), mot_qpiece_value(DT, &pc, 4 * j + 3));
    }
}
template <int DT> __device__ __forceinline__ void store_piece(__nv_bfloat16 *o, const mot_qpiece &pc) {
    uint4 *o4 = (uint4 *)o;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        uint32_t u[4];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const __nv_bfloat162 h = __floats2bfloat162_rn(mot_qpiece_value(DT, &pc, 8 * j + 2 * k),
                                                           mot_qpiece_value(DT, &pc, 8 * j + 2 * k + 1));
            memcpy(&u[k], &h, 4);
        }
        o4[j] = make_uint4(u[0], u[1], u[2], u[3]);
    }
}
template <int DT, typename T>
__global__ void quant_dequant_rows_kernel(T *__restrict__ out, const uint8_t *__restrict__ w, int64_t r0,
                                          int nrows, int cols, size_t row_bytes) {
    const int64_t p_row = cols / 32, total = p_row * nrows;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / p_row, p = i % p_row;
        const uint8_t *blk = w + (size_t)(r0 + r) * row_bytes + mot_qpiece_byte(DT, p);
        mot_qpiece pc;
        mot_qpiece_decode(DT, blk, (int)(p % mot_qpieces_per_block(DT)), &pc);
        store_piece<DT>(out + r * cols + 32 * p, pc);
    }
}

// out[t, :d] = table[tokens[t], :d] for t < n (n from the step state when step is set, as the
// EMBED op reads it). A token outside the table gives a zero row. Block per token (grid-
// stride), thread per piece of the row.
template <int DT>
__global__ void quant_embed_kernel(float *__restrict__ out, const uint8_t *__restrict__ table,
                                   const int *__restrict__ tokens, int d, size_t row_bytes, int n_rows,
                                   const mot_step_state *step, int lane, int n_fixed) {
    const int n = step ? step->lane[lane].n_new : n_fixed;
    const int pieces = (d + 31) / 32;
    for (int t = blockIdx.x; t < n; t += gridDim.x) {
        const int tok = tokens[t];
        const bool ok = tok >= 0 && tok < n_rows;
        const uint8_t *row = table + (size_t)(ok ? tok : 0) * row_bytes;
        for (int p = threadIdx.x; p < pieces; p += blockDim.x) {
            mot_qpiece pc;
            mot_qpiece_decode(DT, row + mot_qpiece_byte(DT, p), p % mot_qpieces_per_block(DT), &pc);
            for (int j = 0; j < 32 && 32 * p + j < d; j++) {
                out[(size_t)t * d + 32 * p + j] = ok ? mot_qpiece_value(DT, &pc, j) : 0.0f;
            }
        }
    }
}

// ---- host side -----------------------------------------------------------------------------

static mot_status check_weight(const char *what, const mot_weight *w) {
    if (!mot_dtype_is_quantized(w->dtype) || !mot_qblock_bytes(w->dtype)) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda %s: weight dtype %s is not a quantized type", what,
                        mot_dtype_name(w->dtype));
    }
    if (!w->data || w->cols <= 0 || w->cols % mot_dtype_block_elems(w->dtype) || w->cols > INT32_MAX ||
        w->rows > INT32_MAX) {
        return mot_fail(MOT_ERR_ARG, "cuda %s: %s weight [%lld, %lld]: cols must be a positive multiple of %d", what,
                        mot_dtype_name(w->dtype), (long long)w->rows, (long long)w->cols,
                        mot_dtype_block_elems(w->dtype));
    }
    return MOT_OK;
}

// One instantiation per type: `F<DT>::run(args...)` for the weight's dtype.
#define QUANT_DISPATCH(dt, CALL)                                                               \
    switch (dt) {                                                                              \
    case MOT_DTYPE_Q8_0: CALL(MOT_DTYPE_Q8_0); break;                                          \
    case MOT_DTYPE_Q4_0: CALL(MOT_DTYPE_Q4_0); break;                                          \
    case MOT_DTYPE_Q4_1: CALL(MOT_DTYPE_Q4_1); break;                                          \
    case MOT_DTYPE_Q4_K: CALL(MOT_DTYPE_Q4_K); break;                                          \
    case MOT_DTYPE_Q5_K: CALL(MOT_DTYPE_Q5_K); break;                                          \
    case MOT_DTYPE_Q6_K: CALL(MOT_DTYPE_Q6_K); break;                                          \
    case MOT_DTYPE_Q5_0: CALL(MOT_DTYPE_Q5_0); break;                                          \
    case MOT_DTYPE_Q5_1: CALL(MOT_DTYPE_Q5_1); break;                                          \
    case MOT_DTYPE_IQ4_NL: CALL(MOT_DTYPE_IQ4_NL); break;                                      \
    case MOT_DTYPE_Q2_K: CALL(MOT_DTYPE_Q2_K); break;                                          \
    case MOT_DTYPE_Q3_K: CALL(MOT_DTYPE_Q3_K); break;                                          \
    case MOT_DTYPE_IQ4_XS: CALL(MOT_DTYPE_IQ4_XS); break;                                      \
    default: return mot_fail(MOT_ERR_UNSUPPORTED, "cuda quant: dtype %s", mot_dtype_name(dt)); \
    }

extern "C" mot_status mot_cuda_quant_gemv(float *y, const float *x, const mot_weight *w, int n, float beta,
                                          mot_cuda_stream stream) {
    MOT_TRY(check_weight("quantized GEMV", w));
    if (n <= 0) {
        return MOT_OK;
    }
    if (n > MOT_CUDA_QUANT_GEMV_MAX_N || ((uintptr_t)x & 15) || ((uintptr_t)w->data & 15)) {
        return mot_fail(MOT_ERR_ARG, "cuda quantized GEMV: n %d (max %d), x and the blocks 16-byte aligned (%p, %p)",
                        n, MOT_CUDA_QUANT_GEMV_MAX_N, (const void *)x, w->data);
    }
    const int rows = (int)w->rows, cols = (int)w->cols;
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
    const uint8_t *blocks = (const uint8_t *)w->data, *end = blocks + (size_t)rows * row_bytes;
    const unsigned grid = (unsigned)((rows + GEMV_WARPS - 1) / GEMV_WARPS);
    cudaStream_t s = (cudaStream_t)stream;
    // n = 1 (a decode step) gets its own instantiation; 2..7 share one that skips tokens >= n.
#define GEMV(DT)                                                                                                   \
    if (n == 1) {                                                                                                  \
        quant_gemv_kernel<DT, 1><<<grid, GEMV_WARPS * 32, 0, s>>>(y, x, blocks, end, rows, cols, row_bytes, n, beta); \
    } else {                                                                                                       \
        quant_gemv_kernel<DT, MOT_CUDA_QUANT_GEMV_MAX_N>                                                           \
            <<<grid, GEMV_WARPS * 32, 0, s>>>(y, x, blocks, end, rows, cols, row_bytes, n, beta);                  \
    }
    QUANT_DISPATCH(w->dtype, GEMV)
#undef GEMV
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

template <typename T>
static mot_status dequant_rows(T *out, const mot_weight *w, int64_t r0, int nrows, mot_cuda_stream stream) {
    MOT_TRY(check_weight("quantized dequantization", w));
    if (nrows <= 0) {
        return MOT_OK;
    }
    if (r0 < 0 || r0 + nrows > w->rows || ((uintptr_t)out & 15)) {
        return mot_fail(MOT_ERR_ARG, "cuda quantized dequantization: rows %lld..%lld of %lld, out %p (16-byte aligned)",
                        (long long)r0, (long long)r0 + nrows, (long long)w->rows, (void *)out);
    }
    const int cols = (int)w->cols;
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
    const int64_t pieces = (int64_t)nrows * (cols / 32);
    const unsigned grid = (unsigned)(pieces / 256 + 1 < 65535 ? pieces / 256 + 1 : 65535);
    const uint8_t *blocks = (const uint8_t *)w->data;
    cudaStream_t s = (cudaStream_t)stream;
#define DEQUANT(DT) quant_dequant_rows_kernel<DT, T><<<grid, 256, 0, s>>>(out, blocks, r0, nrows, cols, row_bytes)
    QUANT_DISPATCH(w->dtype, DEQUANT)
#undef DEQUANT
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

extern "C" mot_status mot_cuda_quant_dequant_rows(float *out, const mot_weight *w, int64_t r0, int nrows,
                                                  mot_cuda_stream stream) {
    return dequant_rows(out, w, r0, nrows, stream);
}

extern "C" mot_status mot_cuda_quant_dequant_rows_bf16(void *out, const mot_weight *w, int64_t r0, int nrows,
                                                       mot_cuda_stream stream) {
    return dequant_rows((__nv_bfloat16 *)out, w, r0, nrows, stream);
}

extern "C" mot_status mot_cuda_quant_embed(float *out, const mot_weight *table, const int *tokens, int d, int n_rows,
                                           const mot_step_state *step, int lane, int n, unsigned grid,
                                           mot_cuda_stream stream) {
    MOT_TRY(check_weight("quantized embedding", table));
    if (d <= 0 || d > table->cols || grid < 1) {
        return mot_fail(MOT_ERR_ARG, "cuda quantized embedding: width %d of a %lld-wide table, grid %u", d,
                        (long long)table->cols, grid);
    }
    const size_t row_bytes = mot_dtype_row_bytes(table->dtype, table->cols);
    const uint8_t *blocks = (const uint8_t *)table->data;
    cudaStream_t s = (cudaStream_t)stream;
#define EMBED(DT)                                                                                                  \
    quant_embed_kernel<DT><<<grid, 128, 0, s>>>(out, blocks, tokens, d, row_bytes, n_rows, step, lane, n)
    QUANT_DISPATCH(table->dtype, EMBED)
#undef EMBED
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

template <int NT, int MODE>
static void quant_gemv_norm_run(const gemv_norm_mats &m, unsigned grid, size_t smem, const float *x, const float *nw,
                                float eps, float *norm_out, const mot_lane_step *ls, int last, int cols, int n,
                                cudaStream_t s) {
    quant_gemv_norm_kernel<NT, MODE><<<grid, GEMV_WARPS * 32, smem, s>>>(m, x, nw, eps, norm_out, ls, last, cols, n);
}

template <int MODE>
static void quant_gemv_norm_mode(const gemv_norm_mats &m, unsigned grid, size_t smem, const float *x, const float *nw,
                                 float eps, float *norm_out, const mot_lane_step *ls, int last, int cols, int n,
                                 cudaStream_t s) {
    // n = 1 (a decode step) gets its own instantiation; 2..7 share one that skips rows >= n
    if (n == 1) {
        quant_gemv_norm_run<1, MODE>(m, grid, smem, x, nw, eps, norm_out, ls, last, cols, n, s);
    } else {
        quant_gemv_norm_run<MOT_CUDA_QUANT_GEMV_MAX_N, MODE>(m, grid, smem, x, nw, eps, norm_out, ls, last, cols, n, s);
    }
}

void quant_gemv_norm_launch(gemv_norm_mats m, int mode, const float *x, const float *nw, float eps, float *norm_out,
                            const mot_lane_step *ls, int last, int cols, int n, cudaStream_t s) {
    const unsigned grid = gemv_norm_grid(m, GEMV_WARPS);
    const size_t smem = (size_t)n * gemv_norm_quant_at(cols) * sizeof(float);
    if (mode == GEMV_SWIGLU) {
        quant_gemv_norm_mode<GEMV_SWIGLU>(m, grid, smem, x, nw, eps, norm_out, ls, last, cols, n, s);
    } else if (mode == GEMV_ROPE) {
        quant_gemv_norm_mode<GEMV_ROPE>(m, grid, smem, x, nw, eps, norm_out, ls, last, cols, n, s);
    } else {
        quant_gemv_norm_mode<GEMV_PLAIN>(m, grid, smem, x, nw, eps, norm_out, ls, last, cols, n, s);
    }
}
