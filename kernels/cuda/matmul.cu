// y[n, rows] = x[n, cols] . W^T. Which kernel, by weight dtype and n (SPEC 1.7's precision):
//   - n <= MOT_CUDA_GEMV_MAX_N (decode), f32/f16/bf16 weights: our GEMV (matmul_gemv.cu),
//     f32 activations in both precisions, bias and accumulation fused;
//   - f32 weights: cuBLAS SGEMM;
//   - f16/bf16, `precision: fast`: x converted to the weight type by a small kernel into
//     scratch reserved beforehand (mot_cuda_blas_reserve), then cublasGemmEx on the tensor
//     cores (f32 output, f32 compute);
//   - f16/bf16, `precision: exact`, and quantized weights past their GEMV (quant.cu): tiles of
//     weight rows widened / dequantized to f32 into the reserved tile, then SGEMM. Exact: f32
//     activations and f32 accumulation (SPEC 1.7's 1e-4), cuBLAS's tuned GEMM, and the
//     widening is one pass over rows x cols against the GEMM's n x rows x cols;
//   - quantized, `precision: fast`, past the GEMV: x converted to bf16 once, tiles dequantized
//     to bf16, cublasGemmEx on the tensor cores (f32 output and compute).
// cuBLAS is column-major: the row-major W [rows, cols] is a column-major [cols, rows] matrix,
// so y^T [rows, n] = W (as op T of that) . x^T, i.e. gemm(T, N, m = rows, n, k = cols).
// SGEMM stays f32: the handle's math mode is CUBLAS_DEFAULT_MATH (no TF32 tensor ops) and every
// f32 GEMM asks for CUBLAS_COMPUTE_32F (not _FAST_TF32). No call here allocates: a GEMM may
// run inside a graph capture.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdlib>

#include "kernels/cuda/blas_handle.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/op_common.cuh"
#include "kernels/cuda/op_launch.h"

static const float one_f32 = 1.0f;

extern "C" mot_status mot_cuda_blas_create(mot_cuda_stream stream, size_t workspace_bytes, mot_cuda_blas **out) {
    mot_cuda_blas *b = (mot_cuda_blas *)calloc(1, sizeof *b);
    if (!b) {
        return mot_fail(MOT_ERR_NOMEM, "cuBLAS: out of host memory");
    }
    b->stream = (cudaStream_t)stream;
    b->workspace_bytes = workspace_bytes;
    *out = b;
    MOT_CUBLAS_CHECK(cublasCreate(&b->handle));
    MOT_CUBLAS_CHECK(cublasSetStream(b->handle, b->stream));
    // f32 GEMMs stay f32 (SPEC 1.7): no TF32 tensor-core math, whatever the default becomes.
    MOT_CUBLAS_CHECK(cublasSetMathMode(b->handle, CUBLAS_DEFAULT_MATH));
    if (workspace_bytes) {
        MOT_CUDA_CHECK(cudaMalloc(&b->workspace, workspace_bytes));
        MOT_CUBLAS_CHECK(cublasSetWorkspace(b->handle, b->workspace, workspace_bytes));
    }
    return MOT_OK;
}

extern "C" void mot_cuda_blas_destroy(mot_cuda_blas *b) {
    if (!b) {
        return;
    }
    if (b->handle) {
        cublasDestroy(b->handle);
    }
    cudaFree(b->workspace);
    cudaFree(b->x_lowp);
    cudaFree(b->w_tile);
    free(b);
}

template <typename T> __device__ T from_float(float v);
template <> __device__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <typename T> __global__ void convert_kernel(T *out, const float *in, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) {
        out[i] = from_float<T>(in[i]);
    }
}

extern "C" void mot_cuda_blas_set_precision(mot_cuda_blas *b, int fast) { b->fast = fast != 0; }

// out[r, c] = W[r0 + r, c] as f32: [nrows, cols], grid-stride over the elements.
template <typename T>
__global__ void widen_rows_kernel(float *__restrict__ out, const T *__restrict__ w, size_t count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        out[i] = mot_to_float<T>(w[i]);
    }
}

extern "C" mot_status mot_cuda_widen_rows(float *out, const mot_weight *w, int64_t r0, int nrows,
                                          mot_cuda_stream stream) {
    if (nrows <= 0) {
        return MOT_OK;
    }
    if (r0 < 0 || r0 + nrows > w->rows || (w->dtype != MOT_DTYPE_F16 && w->dtype != MOT_DTYPE_BF16)) {
        return mot_fail(MOT_ERR_ARG, "cuda widen rows: rows %lld..%lld of a %s weight with %lld", (long long)r0,
                        (long long)r0 + nrows, mot_dtype_name(w->dtype), (long long)w->rows);
    }
    const size_t count = (size_t)nrows * (size_t)w->cols, first = (size_t)r0 * (size_t)w->cols;
    const size_t want = (count + 255) / 256;
    const unsigned grid = (unsigned)(want < 65535 ? want : 65535);
    cudaStream_t s = (cudaStream_t)stream;
    if (w->dtype == MOT_DTYPE_F16) {
        widen_rows_kernel<<<grid, 256, 0, s>>>(out, (const __half *)w->data + first, count);
    } else {
        widen_rows_kernel<<<grid, 256, 0, s>>>(out, (const __nv_bfloat16 *)w->data + first, count);
    }
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

extern "C" mot_status mot_cuda_blas_reserve(mot_cuda_blas *b, size_t bytes) {
    if (bytes <= b->x_lowp_bytes) {
        return MOT_OK;
    }
    // Only before any capture: the caller synchronizes the stream before reusing the scratch.
    MOT_CUDA_CHECK(cudaStreamSynchronize(b->stream));
    cudaFree(b->x_lowp);
    b->x_lowp = NULL;
    b->x_lowp_bytes = 0;
    MOT_CUDA_CHECK(cudaMalloc(&b->x_lowp, bytes));
    b->x_lowp_bytes = bytes;
    return MOT_OK;
}

extern "C" mot_status mot_cuda_blas_reserve_dequant(mot_cuda_blas *b, size_t bytes) {
    if (bytes <= b->w_tile_bytes) {
        return MOT_OK;
    }
    MOT_CUDA_CHECK(cudaStreamSynchronize(b->stream)); // as mot_cuda_blas_reserve: never in a capture
    cudaFree(b->w_tile);
    b->w_tile = NULL;
    b->w_tile_bytes = 0;
    MOT_CUDA_CHECK(cudaMalloc((void **)&b->w_tile, bytes));
    b->w_tile_bytes = bytes;
    return MOT_OK;
}

// GEMM over quantized or f16/bf16 W by tiles: y[n, m] = x[n, k] W^T + beta y. Tiles of R weight
// rows are widened / dequantized into w_tile [R, k] and multiplied by cuBLAS into y's columns
// r0..r0+R (cuBLAS sees y^T [m, n], so the tile's output starts at y + r0 with ldc m). The
// tiles run in order on the handle's stream, so one scratch serves them all.
//   exact (bf16 0): f32 tiles and x, SGEMM;
//   bf16 (fast, quantized W): x converted to bf16 once into x_lowp (unless reuse_x: the op's
//   previous weight already did), tiles dequantized to bf16 (twice the rows), the tensor cores
//   with f32 accumulation.
static mot_status tiled_gemm(mot_cuda_blas *b, float *y, const float *x, const mot_weight *w, int n, float beta,
                             int bf16, int reuse_x) {
    const int m = (int)w->rows, k = (int)w->cols;
    const size_t row_bytes = (size_t)k * (bf16 ? sizeof(__nv_bfloat16) : sizeof(float));
    const size_t tile_rows = b->w_tile_bytes / row_bytes, x_bytes = bf16 ? (size_t)n * k * sizeof(__nv_bfloat16) : 0;
    if (tile_rows < 1 || x_bytes > b->x_lowp_bytes) {
        return mot_fail(MOT_ERR_INTERNAL,
                        "cuda matmul: a %s GEMM of %d x %d needs a %s tile of at least %zu bytes (%zu reserved) and "
                        "%zu bytes of activation scratch (%zu reserved; mot_cuda_blas_reserve(_dequant) / "
                        "lane_create too small)",
                        mot_dtype_name(w->dtype), n, k, bf16 ? "bf16" : "f32", row_bytes, b->w_tile_bytes, x_bytes,
                        b->x_lowp_bytes);
    }
    if (bf16 && !reuse_x) {
        convert_kernel<__nv_bfloat16>
            <<<(unsigned)((x_bytes / 2 + 255) / 256), 256, 0, b->stream>>>((__nv_bfloat16 *)b->x_lowp, x, x_bytes / 2);
        MOT_CUDA_LAUNCHED();
    }
    const cudaDataType_t type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const void *xin = bf16 ? (const void *)b->x_lowp : (const void *)x;
    const mot_cuda_stream stream = (mot_cuda_stream)b->stream;
    for (int r0 = 0; r0 < m; r0 += (int)tile_rows) {
        const int rt = m - r0 < (int)tile_rows ? m - r0 : (int)tile_rows;
        if (bf16) {
            MOT_TRY(mot_cuda_quant_dequant_rows_bf16(b->w_tile, w, r0, rt, stream));
        } else if (mot_dtype_is_quantized(w->dtype)) {
            MOT_TRY(mot_cuda_quant_dequant_rows(b->w_tile, w, r0, rt, stream));
        } else {
            MOT_TRY(mot_cuda_widen_rows(b->w_tile, w, r0, rt, stream));
        }
        MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, rt, n, k, &one_f32, b->w_tile, type, k, xin,
                                      type, k, &beta, y + r0, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    return MOT_OK;
}

// Whether mot_cuda_matmul_ex takes (w, n) through our GEMV, which fuses the bias.
static int gemv_takes(const mot_weight *w, int n) {
    return n <= MOT_CUDA_GEMV_MAX_N &&
           (w->dtype == MOT_DTYPE_F32 || w->dtype == MOT_DTYPE_F16 || w->dtype == MOT_DTYPE_BF16);
}

extern "C" mot_status mot_cuda_matmul_ex(mot_cuda_blas *b, float *y, const float *x, const mot_weight *w, int n,
                                         float beta, int reuse_x) {
    const float one = 1.0f;
    const int m = (int)w->rows, k = (int)w->cols;
    if (n <= 0) {
        return MOT_OK;
    }
    if (gemv_takes(w, n)) {
        return mot_cuda_matmul_gemv(y, x, w, n, NULL, beta != 0.0f ? y : NULL, (mot_cuda_stream)b->stream);
    }
    if (w->dtype == MOT_DTYPE_F32) {
        MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w->data, CUDA_R_32F, k,
                                      x, CUDA_R_32F, k, &beta, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
        return MOT_OK;
    }
    if (mot_dtype_is_quantized(w->dtype)) {
        if (n <= MOT_CUDA_QUANT_GEMV_MAX_N) {
            return mot_cuda_quant_gemv(y, x, w, n, beta, (mot_cuda_stream)b->stream);
        }
        return tiled_gemm(b, y, x, w, n, beta, b->fast, reuse_x);
    }
    if (w->dtype != MOT_DTYPE_F16 && w->dtype != MOT_DTYPE_BF16) {
        return mot_fail(MOT_ERR_UNSUPPORTED, "cuda matmul: weight dtype %s", mot_dtype_name(w->dtype));
    }
    if (!b->fast) {
        return tiled_gemm(b, y, x, w, n, beta, 0, 0);
    }
    // Never allocate here: this may run inside a graph capture (mot_cuda_blas_reserve grows it).
    const size_t count = (size_t)n * k;
    if (count * 2 > b->x_lowp_bytes) {
        return mot_fail(MOT_ERR_INTERNAL,
                        "cuda matmul: %d x %d activations need %zu bytes of low-precision scratch, %zu reserved "
                        "(mot_cuda_blas_reserve / lane_create max_gemm_elems too small)",
                        n, k, count * 2, b->x_lowp_bytes);
    }
    const unsigned blocks = (unsigned)((count + 255) / 256);
    cudaDataType_t type;
    if (w->dtype == MOT_DTYPE_F16) {
        if (!reuse_x) {
            convert_kernel<__half><<<blocks, 256, 0, b->stream>>>((__half *)b->x_lowp, x, count);
        }
        type = CUDA_R_16F;
    } else {
        if (!reuse_x) {
            convert_kernel<__nv_bfloat16><<<blocks, 256, 0, b->stream>>>((__nv_bfloat16 *)b->x_lowp, x, count);
        }
        type = CUDA_R_16BF;
    }
    MOT_CUDA_LAUNCHED();
    MOT_CUBLAS_CHECK(cublasGemmEx(b->handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w->data, type, k,
                                  b->x_lowp, type, k, &beta, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    return MOT_OK;
}

extern "C" mot_status mot_cuda_matmul(mot_cuda_blas *b, float *y, const float *x, const mot_weight *w, int n) {
    return mot_cuda_matmul_ex(b, y, x, w, n, 0.0f, 0);
}

// y[n, m] += bias[m]
__global__ void bias_add_kernel(float *y, const float *bias, size_t count, int m) {
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < count) {
        y[i] += bias[i % m];
    }
}

extern "C" mot_status mot_cuda_bias_add(mot_cuda_blas *b, float *y, const float *bias, int n, int m) {
    const size_t count = (size_t)n * m;
    if (count == 0) {
        return MOT_OK;
    }
    bias_add_kernel<<<(unsigned)((count + 255) / 256), 256, 0, b->stream>>>(y, bias, count, m);
    MOT_CUDA_LAUNCHED();
    return MOT_OK;
}

// MATMUL op: y_j[rows, w_j.rows] = in[rows, cols] W_j^T (+ bias_j) for j < n_w, or with
// accumulate y[0] += x W_0^T (+ bias_0). rows is the host's row count (1 in decode, n_new in
// prefill): launch shapes are fixed at capture, so a dead lane still runs its GEMV on stale
// rows of its own scratch, which nothing reads. Our GEMV (rows <= MOT_CUDA_GEMV_MAX_N) adds
// the bias and the accumulation in its epilogue, one launch for all the op's weights when
// they are alike (mot_cuda_gemv_multi); otherwise the bias is a kernel of its own.
// fast: x is converted to f16/bf16 once when consecutive weights share the dtype and width.
extern "C" mot_status mot_cuda_op_matmul(const mot_gpu_launch *l, mot_cuda_lane *lane, mot_cuda_stream stream) {
    const mot_plan_op *op = l->op;
    const mot_op_matmul *m = &op->matmul;
    const float *x = m->x.bytes ? (const float *)(l->arena + m->x.off) : NULL;
    mot_cuda_blas *b = lane->blas;
    if (!b || !x || op->n_w < 1 || op->n_w > MOT_OP_MAX_W || (m->accumulate && op->n_w != 1) || l->rows < 1) {
        return mot_fail(MOT_ERR_ARG, "cuda matmul: bad op (lane blas %s, in %s, n_w %d, accumulate %d, rows %d)",
                        b ? "set" : "missing", x ? "set" : "missing", op->n_w, m->accumulate, l->rows);
    }
    if ((cudaStream_t)stream != b->stream) {
        return mot_fail(MOT_ERR_ARG, "cuda matmul: lane %d launched on a stream other than its cuBLAS handle's", op->lane);
    }
    if (op->n_w > 1 && !m->accumulate && mot_cuda_gemv_multi_takes(l->w, op->n_w, l->rows)) {
        float *ys[MOT_OP_MAX_W] = {NULL};
        for (int j = 0; j < op->n_w; j++) {
            ys[j] = m->y[j].bytes ? (float *)(l->arena + m->y[j].off) : NULL;
        }
        return mot_cuda_gemv_multi(ys, l->w, l->bias, op->n_w, x, l->rows, stream);
    }
    for (int j = 0; j < op->n_w; j++) {
        const mot_weight *w = &l->w[j];
        float *y = m->y[j].bytes ? (float *)(l->arena + m->y[j].off) : NULL;
        if (!y || !w->data) {
            return mot_fail(MOT_ERR_ARG, "cuda matmul: weight %d or its output is missing", j);
        }
        if (gemv_takes(w, l->rows)) {
            MOT_TRY(mot_cuda_matmul_gemv(y, x, w, l->rows, l->bias[j], m->accumulate ? y : NULL, stream));
            continue;
        }
        const int reuse = j > 0 && w->dtype == l->w[j - 1].dtype && w->cols == l->w[j - 1].cols;
        MOT_TRY(mot_cuda_matmul_ex(b, y, x, w, l->rows, m->accumulate ? 1.0f : 0.0f, reuse));
        if (l->bias[j]) {
            MOT_TRY(mot_cuda_bias_add(b, y, l->bias[j], l->rows, (int)w->rows));
        }
    }
    return MOT_OK;
}
