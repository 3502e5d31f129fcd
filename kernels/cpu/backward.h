/* CPU backward kernels for training (SPEC 5): the gradients of the forward kernels of
 * kernels/cpu/kernels.h that lie between the first interaction layer and the loss. All f32,
 * threaded like the forward kernels (kernels/cpu/team.h): called from outside a parallel
 * region each opens its own; called by every thread of a running team with the same
 * arguments they split the work over it and give the same bits. The experts' weights are
 * frozen: only activation gradients flow through them, read in their stored dtype (never
 * widened whole to f32). The trainable MoT tensors are f32.
 * Shapes: n token rows; a weight W is [rows = out, cols = in] as mot_weight stores it. */
#ifndef MOT_KERNELS_CPU_BACKWARD_H
#define MOT_KERNELS_CPU_BACKWARD_H

#include "common/weight.h"
#include "kernels/cpu/kernels.h"

/* Linear y[n, rows] = x[n, cols] . W^T: dx[n, cols] = dy[n, rows] . W (accumulate: dx +=).
 * W in any stored dtype (f32, f16, bf16, Q8_0 ... Q6_K), dequantized a panel of rows at a
 * time. */
void mot_cpu_matmul_backward_x(float *dx, const float *dy, const mot_weight *w, int n, int accumulate);

/* The trainable side of the same linear: dw[rows, cols] += dy[n, rows]^T . x[n, cols], and
 * db[rows] += sum over n of dy (db may be NULL). */
void mot_cpu_matmul_backward_w(float *dw, float *db, const float *dy, const float *x, int n, int rows,
                               int cols);

/* RMSNorm y = x * rsqrt(mean(x^2) + eps) * w (w frozen): dx[n, d] (accumulate: dx +=). */
void mot_cpu_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, int n, int d,
                              float eps, int accumulate);

/* LayerNorm y = (x - mean) / sqrt(var + eps) * w + b: dx[n, d] overwritten; dw, db [d] +=. */
void mot_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                                const float *w, int n, int d, float eps);

/* out = silu(gate) * up: dgate, dup [n, f] overwritten (they may not alias dout). */
void mot_cpu_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                             int n, int f);

/* The rotary embedding's backward, in place: dq [n, n_heads, hd] and dk [n, n_kv, hd] of the
 * tokens at positions pos0.. rotated back (the inverse rotation of mot_cpu_rope_append). */
void mot_cpu_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                           const float *inv_freq);

/* Causal grouped-query self-attention over n tokens at positions 0..n-1 (the mask and scale of
 * mot_cpu_attention, window 0 = none): q [n, n_heads * hd], k, v [n, n_kv * hd] (rows of all
 * heads), dout [n, n_heads * hd] -> dq [n, n_heads * hd], dk, dv [n, n_kv * hd], overwritten.
 * The probabilities are recomputed from q and k. */
void mot_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                const float *k, const float *v, int n, int n_heads, int n_kv, int hd,
                                int window, float scale);

/* One segment's key and value gradients [rows, d_s], overwritten. */
typedef struct {
    float *dk;
    float *dv;
} mot_kv_segment_grad;

/* The backward of mot_cpu_cross_attention in prefill mode (SPEC 1.4: query i sees the first
 * floor((i+1) N_m / n_q) keys of segment m, N_m = seg[m].n_prompt): dout [n_q, d_s] -> dq
 * [n_q, d_s] (overwritten) and dseg[m].dk, .dv [seg[m].rows, d_s] (overwritten). */
void mot_cpu_cross_attention_backward(float *dq, mot_kv_segment_grad *dseg, const float *dout, const float *q,
                                      int n_q, int heads, int d_s, const mot_kv_segment *seg, int n_seg);

/* dst = src (bytes; no overlap): COPY, the training tape's snapshots (kernels/cpu/copy.c). */
void mot_cpu_copy(void *dst, const void *src, size_t bytes);

/* ADD: y[count] += x (kernels/cpu/copy.c, beside COPY: both move a tensor whole). */
void mot_cpu_add(float *y, const float *x, int64_t count);

/* DROPOUT (ops/plan_op.h, mot_op_dropout): out[i] = u_i >= p ? x[i] * (1 / (1 - p)) : 0, u_i
 * the (i+1)-th uniform of mot_splitmix64 from seed; out may be x (kernels/cpu/dropout.c). */
void mot_cpu_dropout(float *out, const float *x, int64_t count, float p, uint64_t seed);

/* Cross-entropy over the rows of logits [n, vocab] whose target is >= 0 (a target < 0 adds
 * nothing): returns the sum over those rows of -log softmax(row)[target], in double; when
 * dlogits is not NULL, dlogits[n, vocab] = scale * (softmax(row) - onehot(target)) for those
 * rows and 0 for the others. */
double mot_cpu_cross_entropy(float *dlogits, const float *logits, const int *targets, int n, int vocab,
                             float scale);

#endif
