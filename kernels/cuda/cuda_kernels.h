/* CUDA kernels: the same ops, names and shapes as kernels/cpu/kernels.h, on device pointers
 * and a stream. Activations f32; weights f32, f16 or bf16 (decode GEMVs of our own, GEMMs
 * through cuBLAS, f32 accumulation throughout), or ggml's quantized blocks (kernels/cuda/quant.cu). Every call is
 * asynchronous on `stream` and reports launch errors through the usual mot_status +
 * mot_last_error(). Plain C interface so C code links against it. */
#ifndef MOT_KERNELS_CUDA_KERNELS_H
#define MOT_KERNELS_CUDA_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/cuda/gpu_api.h"
#include "kernels/cpu/kernels.h"
#include "mot.h"

typedef struct CUstream_st *mot_cuda_stream; /* = cudaStream_t */
typedef struct mot_cuda_blas mot_cuda_blas;  /* a cuBLAS handle with its own workspace */

/* Number of usable devices (0 when there is no driver or no GPU: never an error). */
int mot_cuda_device_count(void);
/* "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90" into buf. */
mot_status mot_cuda_device_describe(int device, char *buf, size_t cap);

mot_status mot_cuda_blas_create(mot_cuda_stream stream, size_t workspace_bytes, mot_cuda_blas **out);
void mot_cuda_blas_destroy(mot_cuda_blas *blas);
/* Grows the scratch that holds x converted to f16/bf16 to at least `bytes` (n * cols * 2 for
 * the largest low-precision GEMM). The matmuls never allocate (they may run inside a graph
 * capture): one that needs more scratch than reserved fails with a message saying so. */
mot_status mot_cuda_blas_reserve(mot_cuda_blas *blas, size_t bytes);
/* Grows the f32 tile that quantized GEMMs (n > MOT_CUDA_QUANT_GEMV_MAX_N) dequantize weight
 * rows into, to at least `bytes` (at least one row: cols * 4). Same rules as above. */
mot_status mot_cuda_blas_reserve_dequant(mot_cuda_blas *blas, size_t bytes);

/* precision (SPEC 1.7, the schedule key, docs/decisions.md): fast = 0 (`exact`, the default
 * of a new handle): GEMMs over f16/bf16 weights widen tiles of weight rows to f32 and run
 * SGEMM, so activations stay f32; fast = 1: they convert x to the weight's type and use the
 * tensor cores (f32 accumulation). f32 and quantized weights, and every GEMV, are exact in
 * both. Set before any capture: a captured graph keeps the kernels it was captured with. */
void mot_cuda_blas_set_precision(mot_cuda_blas *blas, int fast);

/* w->data is a device pointer here. y[n, rows] = x[n, cols] W^T. n up to
 * MOT_CUDA_GEMV_MAX_N (decode) goes through mot_cuda_matmul_gemv for f32/f16/bf16 weights. */
mot_status mot_cuda_matmul(mot_cuda_blas *blas, float *y, const float *x, const mot_weight *w, int n);
/* y = x W^T + beta * y (beta 0 or 1: accumulate). reuse_x: the scratch already holds x in
 * w's dtype (the previous call had the same x, n, cols and dtype), so it is not converted again. */
mot_status mot_cuda_matmul_ex(mot_cuda_blas *blas, float *y, const float *x, const mot_weight *w, int n,
                              float beta, int reuse_x);
/* Quantized weights (the GGUF types of common/tensor.h; kernels/cuda/quant.cu): w->data is
 * the raw blocks on the device, rows of mot_dtype_row_bytes(dtype, cols) bytes, 16-byte
 * aligned at the start (as cudaMalloc gives). mot_cuda_matmul_ex takes them too: n up to
 * MOT_CUDA_QUANT_GEMV_MAX_N by the GEMV, more by tiles of dequantized rows and cuBLAS SGEMM.
 * y[n, rows] = x[n, cols] W^T + beta y, x 16-byte aligned, f32 accumulation: */
#define MOT_CUDA_QUANT_GEMV_MAX_N 7
mot_status mot_cuda_quant_gemv(float *y, const float *x, const mot_weight *w, int n, float beta,
                               mot_cuda_stream stream);
/* out[r, cols] = W[r0 + r, :] as f32 for r < nrows, bit for bit mot_ref_dequant_row. */
mot_status mot_cuda_quant_dequant_rows(float *out, const mot_weight *w, int64_t r0, int nrows,
                                       mot_cuda_stream stream);
/* The same rows as bf16 (out: [nrows, cols] of bf16, 16-byte aligned), each the f32 value
 * rounded to nearest even: the tiles of quantized GEMMs in fast precision. */
mot_status mot_cuda_quant_dequant_rows_bf16(void *out, const mot_weight *w, int64_t r0, int nrows,
                                            mot_cuda_stream stream);
/* out[t, :d] = table[tokens[t], :d] dequantized (bit for bit the reference) for t < n, or for
 * t < step->lane[lane].n_new when step is set (the EMBED op); tokens outside [0, n_rows) give
 * zero rows. grid: blocks (each loops over tokens). */
mot_status mot_cuda_quant_embed(float *out, const mot_weight *table, const int *tokens, int d, int n_rows,
                                const mot_step_state *step, int lane, int n, unsigned grid,
                                mot_cuda_stream stream);
/* Decode GEMV (kernels/cuda/matmul_gemv.cu), f32 / f16 / bf16 weights, f32 x and accumulation:
 * y[n, rows] = x[n, cols] W^T (+ bias[rows]) (+ res[n, rows]) for n <= MOT_CUDA_GEMV_MAX_N.
 * bias, res: device pointers or NULL; res may be y itself (accumulate), not partly overlap it.
 * Any cols and row alignment (misaligned rows are read element by element). Never allocates
 * or synchronizes: capturable. */
#define MOT_CUDA_GEMV_MAX_N 7
mot_status mot_cuda_matmul_gemv(float *y, const float *x, const mot_weight *w, int n, const float *bias,
                                const float *res, mot_cuda_stream stream);
/* The decode GEMV with an RMSNorm prologue (kernels/cuda/matmul_gemv.cu; the plan's fused
 * RMSNORM_MATMUL(_SWIGLU), kernels/cuda/matmul_fused.cu), one launch for n_w weights of one
 * dtype (f32, f16 or bf16), or quantized ones of any mix of types (16-byte aligned, n <=
 * MOT_CUDA_QUANT_GEMV_MAX_N, n * 1.125 d floats <= 40 KiB: d <= 9102 at n = 1;
 * kernels/cuda/gemv_norm.cuh), and cols = d:
 *   xn[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * norm_w       (each block computes the scale)
 *   y_j[t, r] = xn[t] . W_j[r] (+ bias_j[r])                 t < n <= MOT_CUDA_GEMV_MAX_N
 *   swiglu (n_w 2, equal rows, no bias): then y_0 = silu(y_0) * y_1 (y_1 keeps up)
 *   rope (n_w 3: q [n_heads * hd], k, v [n_kv * hd], no bias): then rows t < n_new of q and k
 *     rotated at position pos + t and k, v stored into the caches, as ROPE_APPEND does (each
 *     unit of work owns the pair of rows i, i + hd/2 of a head that RoPE rotates together)
 * ls: the lane's step values on the device (n_new, pos; NULL: n_new = n, pos 0). last (n = 1):
 * x's row n_new - 1 (the LM head's RMSNORM_LAST). norm_out [n, d] (or NULL) also receives xn,
 * its rows below n_new only. Never allocates or synchronizes: capturable.
 * mot_cuda_gemv_norm_takes: whether it can (bias, rope may be NULL); otherwise the caller runs
 * the parts. */
typedef struct {
    float *k_cache, *v_cache;    /* the layer's caches (device): kv head g of position j at
                                    j * kv_stride + g * head_stride floats */
    const float *inv_freq;       /* [hd / 2], device */
    int n_heads, n_kv, hd, kv_stride;
    int64_t head_stride;
} mot_cuda_gemv_rope;
int mot_cuda_gemv_norm_takes(const mot_weight *w, const float *const *bias, int n_w, int n, int d, int swiglu,
                             const mot_cuda_gemv_rope *rope);
mot_status mot_cuda_gemv_norm(float *const *y, const mot_weight *w, const float *const *bias, int n_w,
                              const float *x, const float *norm_w, float eps, float *norm_out,
                              const mot_lane_step *ls, int last, int n, int swiglu, const mot_cuda_gemv_rope *rope,
                              mot_cuda_stream stream);
/* y_j[t, r] = x[t] . W_j[r] (+ bias_j[r]) for j < n_w (2..MOT_OP_MAX_W weights of one of f32,
 * f16, bf16 and of equal cols; t < n <= MOT_CUDA_GEMV_MAX_N) in one launch (kernels/cuda/
 * matmul_gemv.cu: the fused GEMV without its norm): a MATMUL op of several weights, such as
 * the interaction's latent K, V (and Q) projections. mot_cuda_gemv_multi_takes: whether it can. */
int mot_cuda_gemv_multi_takes(const mot_weight *w, int n_w, int n);
mot_status mot_cuda_gemv_multi(float *const *y, const mot_weight *w, const float *const *bias, int n_w,
                               const float *x, int n, mot_cuda_stream stream);
/* out[r, cols] = W[r0 + r, :] widened to f32 for r < nrows (f16/bf16 W; kernels/cuda/matmul.cu):
 * the tiles exact-precision GEMMs multiply by SGEMM. */
mot_status mot_cuda_widen_rows(float *out, const mot_weight *w, int64_t r0, int nrows, mot_cuda_stream stream);
/* y[n, m] += bias[m] on the handle's stream. */
mot_status mot_cuda_bias_add(mot_cuda_blas *blas, float *y, const float *bias, int n, int m);
mot_status mot_cuda_embed_rows(float *out, const mot_weight *table, const int *tokens, int n,
                               mot_cuda_stream stream);
mot_status mot_cuda_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps,
                            mot_cuda_stream stream);
mot_status mot_cuda_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq,
                         mot_cuda_stream stream);
mot_status mot_cuda_swiglu(float *out, const float *gate, const float *up, int n, int f,
                           mot_cuda_stream stream);

/* The real mot_gpu_api table (kernels/cuda/gpu_api.h) on `device`: CUDA runtime, cuBLAS, NVTX and
 * the plan-op kernels (kernels/cuda/op_launch.h). out->destroy(out->ctx) frees it. */
mot_status mot_gpu_api_cuda_create(int device, mot_gpu_api *out);

#ifdef __cplusplus
}
#endif
#endif
