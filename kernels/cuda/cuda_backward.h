/* CUDA backward kernels for training (SPEC 5): the same ops, names, shapes and semantics as
 * kernels/cpu/backward.h (read it for what each computes), on device pointers and a stream,
 * as kernels/cuda/cuda_kernels.h is to kernels/cpu/kernels.h. Every call is asynchronous on
 * its stream (the matmuls on the cuBLAS handle's) and returns MOT_OK or a failing mot_status
 * with mot_last_error() set (bad arguments, launch or cuBLAS errors, scratch that could not be
 * allocated).
 *
 * Determinism: every output element has one owner that sums in a fixed order, or is reduced
 * from per-block partials in a fixed order; no float atomics. The same inputs on the same
 * device (and, for the matmuls, the same reserved dequantization tile) give the same bits.
 *
 * Scratch: the matmuls use the handle's dequantization tile (mot_cuda_blas_reserve_dequant,
 * at least one row: cols * 4 bytes, for any dtype other than f32) and never allocate. The
 * others that need per-row statistics (layernorm, attention, cross-attention, cross-entropy)
 * take them from the stream-ordered allocator (cudaMallocAsync / cudaFreeAsync on `stream`:
 * no synchronization, and allowed inside a graph capture). Plain C interface. */
#ifndef MOT_KERNELS_CUDA_BACKWARD_H
#define MOT_KERNELS_CUDA_BACKWARD_H

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/cpu/backward.h"
#include "kernels/cuda/cuda_kernels.h"

/* Linear y[n, rows] = x[n, cols] . W^T: dx[n, cols] = dy[n, rows] . W (accumulate: dx +=).
 * w->data on the device in any stored dtype (f32, f16, bf16, Q8_0 ... Q6_K). f32: one SGEMM;
 * the others: panels of W rows dequantized to f32 into the handle's tile, one SGEMM each
 * (dy stays f32: no rounding of the activations' gradient to 16 bits). */
mot_status mot_cuda_matmul_backward_x(mot_cuda_blas *blas, float *dx, const float *dy, const mot_weight *w, int n,
                                      int accumulate);

/* dw[rows, cols] += dy[n, rows]^T . x[n, cols] (SGEMM, beta 1), and db[rows] += column sums
 * of dy (db may be NULL). On the handle's stream. */
mot_status mot_cuda_matmul_backward_w(mot_cuda_blas *blas, float *dw, float *db, const float *dy, const float *x,
                                      int n, int rows, int cols);

/* RMSNorm with frozen w: dx[n, d] (accumulate: dx +=). */
mot_status mot_cuda_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, int n, int d,
                                     float eps, int accumulate, mot_cuda_stream stream);

/* LayerNorm: dx[n, d] overwritten; dw, db [d] += (w, dw, db may be NULL). */
mot_status mot_cuda_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                       const float *w, int n, int d, float eps, mot_cuda_stream stream);

/* out = silu(gate) * up: dgate, dup [n, f] overwritten. */
mot_status mot_cuda_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                                    const float *up, int n, int f, mot_cuda_stream stream);

/* In place: dq [n, n_heads, hd], dk [n, n_kv, hd] (either may be NULL) rotated back. */
mot_status mot_cuda_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                                  const float *inv_freq, mot_cuda_stream stream);

/* Causal GQA self-attention (window 0 = none) over n tokens: q, dout [n, n_heads * hd], k, v
 * [n, n_kv * hd] -> dq, dk, dv overwritten. hd <= 256. */
mot_status mot_cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                       const float *k, const float *v, int n, int n_heads, int n_kv, int hd,
                                       int window, float scale, mot_cuda_stream stream);

/* Cross-attention in prefill mode (SPEC 1.4): seg and dseg are host arrays of n_seg
 * (1 .. MOT_MAX_LANES) entries whose k, v, dk, dv point to device memory. dq [n_q, d_s] and
 * every dseg[m].dk, .dv [seg[m].rows, d_s] overwritten. d_s / heads <= 256. */
mot_status mot_cuda_cross_attention_backward(float *dq, const mot_kv_segment_grad *dseg, const float *dout,
                                             const float *q, int n_q, int heads, int d_s,
                                             const mot_kv_segment *seg, int n_seg, mot_cuda_stream stream);

/* Inverted dropout (kernels/cpu/backward.h mot_cpu_dropout): out[i] = u_i >= p ? x[i] * (1 / (1 - p))
 * : 0 for i < count, u_i the (i+1)-th mot_splitmix64 draw from seed; the same mask as the CPU,
 * bit for bit. out may be x. 0 <= p < 1 (else MOT_ERR_ARG). */
mot_status mot_cuda_dropout(float *out, const float *x, int64_t count, float p, uint64_t seed, mot_cuda_stream stream);

/* Cross-entropy over logits [n, vocab], targets [n] (device; < 0: the row adds nothing):
 * *loss (one device double) = the sum over rows of -log softmax(row)[target], the rows added
 * in row order; dlogits (may be NULL) [n, vocab] = scale * (softmax - onehot), 0 rows where
 * the target is < 0. Per row in double, as the CPU kernel. */
mot_status mot_cuda_cross_entropy(double *loss, float *dlogits, const float *logits, const int *targets, int n,
                                  int vocab, float scale, mot_cuda_stream stream);

#ifdef __cplusplus
}
#endif
#endif
