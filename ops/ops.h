/* Plain reference implementations of every op: one loop nest each, double accumulation,
 * no threads, no intrinsics. They are the oracle the kernels are tested against
 * (same shapes and meaning as kernels/cpu/kernels.h). One name per op, or per family of ops,
 * across the tree: ops/ref_<name>.c <-> kernels/cpu/<name>.c <-> kernels/cuda/<name>.cu (norm:
 * rmsnorm and layernorm; cross_attention: latent_append too; docs/architecture.md, "The ops,
 * by name", lists each op's files) <-> case "<op>" of tests/ops/test_backend_ops.c, which runs
 * every plan op kind (scheduler/plan.h) on every backend present against these. */
#ifndef MOT_OPS_OPS_H
#define MOT_OPS_OPS_H

#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"
#include "ops/step_state.h"

void mot_ref_matmul(float *y, const float *x, const mot_weight *w, int n);
void mot_ref_embed_row(float *out, const mot_weight *table, int64_t row);
void mot_ref_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps);
void mot_ref_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq);
void mot_ref_swiglu(float *out, const float *gate, const float *up, int n, int f);
void mot_ref_attention(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                       int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                       float scale);

/* out[n, d] = (x - mean) / sqrt(var + eps) * w + b, biased variance (PyTorch LayerNorm); w or b
 * NULL: weight 1 / bias 0 (ops/ref_norm.c). */
void mot_ref_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps);

/* The primary's n_q queries [n_q, d_s] over every segment's keys/values, heads of d_s / heads,
 * scale 1/sqrt(d_h); prefill: SPEC 1.4's proportional mask with N_p = n_q; decode: every
 * present key (seg[m].rows). A query that sees no key gets 0 (ops/ref_cross_attention.c). */
void mot_ref_cross_attention(float *out, const float *q, int n_q, int heads, int d_s, const mot_kv_segment *seg,
                             int n_seg, int prefill);

/* LATENT_APPEND: k, v [n, d] into kc, vc [ctx, d] at rows rows0.. (ops/ref_cross_attention.c). */
void mot_ref_latent_append(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0);
/* ROPE_APPEND: mot_ref_rope on q and k, then k and v into the caches at pos0 (strides as
 * mot_cpu_rope_append). */
void mot_ref_rope_append(float *q, float *k, const float *v, float *kc, float *vc, int64_t kv_stride,
                         int64_t head_stride, int n, int n_heads, int n_kv, int hd, int pos0, const float *inv_freq);

/* MATMUL as the plan runs it: y (=|+=) x W^T + bias (bias NULL: none) (ops/ref_matmul.c). */
void mot_ref_linear(float *y, const float *x, const mot_weight *w, const float *bias, int n, int accumulate);
/* The fused decode GEMVs: optional RMSNorm (norm_w, into norm_out), n_w linears, optional
 * SwiGLU of y[0] (gate) and y[1] (up) into y[0]. */
void mot_ref_norm_linear_swiglu(float *norm_out, float *const *y, const float *x, const float *norm_w, float eps,
                                const mot_weight *const *w, const float *const *bias, int n_w, int n, int swiglu);
/* RMSNORM_MATMUL_ROPE_APPEND: the norm and q, k, v = y[0..2] as above, then
 * mot_ref_rope_append on them at pos0. */
void mot_ref_norm_qkv_rope_append(float *norm_out, float *const *y, const float *x, const float *norm_w, float eps,
                                  const mot_weight *const *w, const float *const *bias, int n, float *kc, float *vc,
                                  int64_t kv_stride, int64_t head_stride, int n_heads, int n_kv, int hd, int pos0,
                                  const float *inv_freq);

/* Sampling given the uniform draw u in [0, 1) (ops/ref_sample.c: the rule, spelled out there).
 * temperature <= 0: mot_ref_argmax (first largest; NaN never wins; NaN at x[0] gives 0). */
int mot_ref_argmax(const float *x, int n);
int mot_ref_sample(const float *logits, int vocab, float temperature, int top_k, float top_p, float min_p, double u);
/* llama.cpp's repetition penalties, in place, for the window of tokens hist[0..n) (the last
 * repeat_last_n seen): each distinct token t in it, c times, x_t / repeat when x_t > 0, else
 * x_t * repeat, then - c * frequency - presence (repeat 0: 1). */
void mot_ref_penalize(float *logits, int vocab, const int *hist, int n, float repeat, float presence, float frequency);
/* The next uniform of a sampler whose xoshiro256** state is rng (advances rng). */
double mot_ref_uniform(uint64_t rng[4]);
/* STEP_ADVANCE on the step state; eos[lane] -1-padded. */
void mot_ref_step_advance(mot_step_state *s, const int eos[][MOT_MAX_EOS], int ignore_eos);

/* The training ops' references (SPEC 5): the same signatures and meaning as their CPU kernels
 * (kernels/cpu/backward.h), each the plain analytic gradient in double (the rows of the
 * attentions' probabilities recomputed from q and k). ops/ref_<name>.c, or the forward's file
 * for the norms (ref_norm.c), SwiGLU (ref_activation.c) and RoPE (ref_rope.c). */
void mot_ref_matmul_backward_x(float *dx, const float *dy, const mot_weight *w, int n, int accumulate);
void mot_ref_matmul_backward_w(float *dw, float *db, const float *dy, const float *x, int n, int rows, int cols);
void mot_ref_rmsnorm_backward(float *dx, const float *dy, const float *x, const float *w, int n, int d, float eps,
                              int accumulate);
void mot_ref_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                                int n, int d, float eps);
void mot_ref_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int n,
                             int f);
void mot_ref_rope_backward(float *dq, float *dk, int n, int n_heads, int n_kv, int hd, int pos0,
                           const float *inv_freq);
void mot_ref_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                const float *v, int n, int n_heads, int n_kv, int hd, int window, float scale);
void mot_ref_cross_attention_backward(float *dq, mot_kv_segment_grad *dseg, const float *dout, const float *q,
                                      int n_q, int heads, int d_s, const mot_kv_segment *seg, int n_seg);
void mot_ref_copy(void *dst, const void *src, size_t bytes);
void mot_ref_add(float *y, const float *x, int64_t count);
void mot_ref_dropout(float *out, const float *x, int64_t count, float p, uint64_t seed);
double mot_ref_cross_entropy(float *dlogits, const float *logits, const int *targets, int n, int vocab,
                             float scale);

/* Element (r, c) of a weight as f32 (F32/F16/BF16 or any of ggml's quantized types). */
float mot_weight_at(const mot_weight *w, int64_t r, int64_t c);

/* out[n] = a row of n elements stored as dt (F32, F16, BF16 or one of ggml's block types of
 * common/tensor.h; n a multiple of the block) as f32: ggml's dequantization (ops/ref_quant.c). */
void mot_ref_dequant_row(mot_dtype dt, const void *row, int64_t n, float *out);

/* precision: fast (kernels/cpu/quant.h), spelled out. x [cols] to int8 codes q and one scale
 * d per 32 elements (d = max|x| / 127, q = x * (1 / d) rounded to nearest even); the dot of a
 * quantized row with it: sum over (sub-)blocks of d_w d_x (integer dot of the codes) +
 * m_w d_x (sum of x's codes), in double; abs_sum (may be NULL): the sum of the terms' sizes. */
void mot_ref_quantize_x(const float *x, int64_t cols, int8_t *q, float *d);
double mot_ref_quant_dot_q8(mot_dtype dt, const void *row, const int8_t *xq, const float *xd, int64_t cols,
                            double *abs_sum);

#endif
