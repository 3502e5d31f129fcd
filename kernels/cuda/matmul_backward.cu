// The linear's backward on the device (kernels/cuda/cuda_backward.h; the CPU's is
// kernels/cpu/matmul_backward.c): dx = dy . W through the frozen weight in its stored dtype,
// and dw += dy^T x, db += colsum(dy) for the trainable f32 ones.
//
// Both are cuBLAS GEMMs (f32 in, f32 accumulation: CUBLAS_COMPUTE_32F, no TF32 unless the
// handle's math mode asks for it, which mot never sets). cuBLAS is column-major, and a
// row-major [r, c] matrix with row stride c is the column-major [c, r] matrix with ld c, its
// transpose. So:
//   dx[n, cols] = dy[n, rows] . W[rows, cols]  <=>  dx^T [cols, n] = W^T [cols, rows] . dy^T [rows, n]
//     where W^T is W's memory read column-major (ld cols: op N), dy^T is dy's (ld rows: op N)
//     and dx^T is dx's (ld cols): gemm(N, N, m = cols, n, k = rows, W, cols, dy, rows, dx, cols).
//     A panel of W rows r0 .. r0 + R is the k-range r0 .. r0 + R: A = the panel [cols, R]
//     (ld cols), B = dy + r0 (ld rows: the same column-major view, from row r0), and beta 1
//     after the first panel, so the sum over k runs panel after panel in a fixed order.
//   dw[rows, cols] += dy^T [rows, n] . x[n, cols]  <=>  dw^T [cols, rows] = x^T [cols, n] . dy [n, rows]
//     x^T is x's memory (ld cols: op N); dy [n, rows] column-major is op T of dy's memory read
//     as [rows, n] (ld rows): gemm(N, T, m = cols, n = rows, k = n, x, cols, dy, rows, beta 1, dw, cols).
// Weights other than f32 are dequantized a panel of rows at a time into the handle's tile
// (mot_cuda_blas_reserve_dequant) and multiplied by SGEMM: f16/bf16 too, rather than GemmEx
// with dy rounded to 16 bits (cuBLAS has no f16 x f32 GEMM), which would cost dx ~1e-3 of
// relative precision against the CPU's f32 dy. The dequantization is one pass over W per
// call against the GEMM's n x rows x cols.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/backward_common.cuh"
#include "kernels/cuda/blas_handle.cuh"

// out[r, c] = W[r0 + r, c] as f32, f16 / bf16 rows of cols elements.
template <typename T>
__global__ void widen_rows_kernel(float *out, const T *w, int64_t r0, int nrows, int64_t cols) {
    const size_t total = (size_t)nrows * (size_t)cols;
    const T *src = w + (size_t)r0 * (size_t)cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        out[i] = mot_to_float<T>(src[i]);
    }
}

// W rows r0 .. r0 + nrows into tile [nrows, cols] f32, on the handle's stream.
static mot_status load_panel(float *tile, const mot_weight *w, int64_t r0, int nrows, cudaStream_t s) {
    if (mot_dtype_is_quantized(w->dtype)) {
        return mot_cuda_quant_dequant_rows(tile, w, r0, nrows, (mot_cuda_stream)s);
    }
    const size_t total = (size_t)nrows * (size_t)w->cols;
    const unsigned grid = (unsigned)((total + 255) / 256 < 65535 ? (total + 255) / 256 : 65535);
    if (w->dtype == MOT_DTYPE_F16) {
        widen_rows_kernel<__half><<<grid, 256, 0, s>>>(tile, (const __half *)w->data, r0, nrows, w->cols);
    } else if (w->dtype == MOT_DTYPE_BF16) {
        widen_rows_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(tile, (const __nv_bfloat16 *)w->data, r0, nrows,
                                                              w->cols);
    } else {
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda matmul_backward_x: weight dtype %s", mot_dtype_name(w->dtype));
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

extern "C" mot_status mot_cuda_matmul_backward_x(mot_cuda_blas *b, float *dx, const float *dy, const mot_weight *w,
                                                 int n, int accumulate) {
    if (!b || !w || !w->data || w->rows < 0 || w->cols < 0 || w->rows > INT32_MAX || w->cols > INT32_MAX) {
        return mot_fail(MOT_ERR_ARG, "cuda matmul_backward_x: missing handle or weight, or a weight too large");
    }
    const int rows = (int)w->rows, cols = (int)w->cols;
    if (n <= 0 || cols <= 0) {
        return MOT_OK;
    }
    const float one = 1.0f, beta0 = accumulate ? 1.0f : 0.0f;
    if (rows == 0) { // an empty sum: dx = 0, or unchanged
        if (!accumulate) {
            MOT_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * (size_t)n * cols, b->stream));
        }
        return MOT_OK;
    }
    if (w->dtype == MOT_DTYPE_F32) {
        // dx^T [cols, n] = W^T [cols, rows] . dy^T [rows, n] (see the file comment)
        MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_N, CUBLAS_OP_N, cols, n, rows, &one, w->data, CUDA_R_32F,
                                      cols, dy, CUDA_R_32F, rows, &beta0, dx, CUDA_R_32F, cols, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
        return MOT_OK;
    }
    const size_t row_bytes = (size_t)cols * sizeof(float);
    const size_t tile_rows = b->w_tile_bytes / row_bytes;
    if (tile_rows < 1) {
        return mot_fail(MOT_ERR_INTERNAL,
                        "cuda matmul_backward_x: a %s weight with %d columns needs a dequantization tile of at least "
                        "%zu bytes, %zu reserved (mot_cuda_blas_reserve_dequant)",
                        mot_dtype_name(w->dtype), cols, row_bytes, b->w_tile_bytes);
    }
    // Panels in order on the handle's stream: one tile serves them all.
    for (int r0 = 0; r0 < rows; r0 += (int)tile_rows) {
        const int rt = rows - r0 < (int)tile_rows ? rows - r0 : (int)tile_rows;
        MOT_TRY(load_panel(b->w_tile, w, r0, rt, b->stream));
        const float *beta = r0 == 0 ? &beta0 : &one;
        // dx^T [cols, n] (+)= panel^T [cols, rt] . (dy + r0)^T [rt, n]
        MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_N, CUBLAS_OP_N, cols, n, rt, &one, b->w_tile, CUDA_R_32F,
                                      cols, dy + r0, CUDA_R_32F, rows, beta, dx, CUDA_R_32F, cols,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    return MOT_OK;
}

// dy[t, r] for the column sum
struct dy_at {
    const float *dy;
    int rows;
    __device__ double at(int t, int r) const { return dy[(size_t)t * rows + r]; }
};

extern "C" mot_status mot_cuda_matmul_backward_w(mot_cuda_blas *b, float *dw, float *db, const float *dy,
                                                 const float *x, int n, int rows, int cols) {
    if (!b) {
        return mot_fail(MOT_ERR_ARG, "cuda matmul_backward_w: missing handle");
    }
    if (rows <= 0 || cols <= 0 || n <= 0) { // n = 0: nothing to add
        return MOT_OK;
    }
    const float one = 1.0f;
    // dw^T [cols, rows] += x^T [cols, n] . dy [n, rows] (see the file comment)
    MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_N, CUBLAS_OP_T, cols, rows, n, &one, x, CUDA_R_32F, cols, dy,
                                  CUDA_R_32F, rows, &one, dw, CUDA_R_32F, cols, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    if (!db) {
        return MOT_OK;
    }
    void *partial;
    MOT_TRY(bwd_scratch(&partial, sizeof(double) * (size_t)bwd_colsum_chunks(n) * rows, b->stream,
                        "matmul_backward_w"));
    const mot_status st = bwd_colsum(db, (double *)partial, dy_at{dy, rows}, n, rows, b->stream);
    return bwd_scratch_free(partial, b->stream, st);
}

// ---- the plan op (ops/op_table.h): static shapes from the op, device buffers from the arena ----

extern "C" mot_status mot_cuda_op_matmul_backward_x(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                    mot_cuda_stream stream) {
    const mot_op_matmul_backward_x *op = &l->op->matmul_backward_x;
    float *dx = op_buf<float>(l, op->dx);
    const float *dy = op_buf<const float>(l, op->dy);
    MOT_OP_REQUIRE(dx && dy && l->w[0].data, "cuda matmul_backward_x: missing buffer or weight");
    return mot_cuda_matmul_backward_x(lane->blas, dx, dy, &l->w[0], op->n, op->accumulate);
}

extern "C" mot_status mot_cuda_op_matmul_backward_w(const mot_gpu_launch *l, mot_cuda_lane *lane,
                                                    mot_cuda_stream stream) {
    const mot_op_matmul_backward_w *op = &l->op->matmul_backward_w;
    float *dw = op_buf<float>(l, op->dw);
    const float *dy = op_buf<const float>(l, op->dy), *x = op_buf<const float>(l, op->x);
    MOT_OP_REQUIRE(dw && dy && x, "cuda matmul_backward_w: missing buffer");
    return mot_cuda_matmul_backward_w(lane->blas, dw, op_buf<float>(l, op->db), dy, x, op->n, op->rows, op->cols);
}
