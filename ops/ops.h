/* Plain reference implementations of every op: one loop nest each, double accumulation,
 * no threads, no intrinsics. They are the oracle the kernels are tested against
 * (same shapes and meaning as kernels/cpu/kernels.h). */
#ifndef MOT_OPS_OPS_H
#define MOT_OPS_OPS_H

#include "kernels/cpu/kernels.h"

void mot_ref_matmul(float *y, const float *x, const mot_weight *w, int n);
void mot_ref_embed_row(float *out, const mot_weight *table, int64_t row);
void mot_ref_rmsnorm(float *out, const float *x, const float *w, int n, int d, float eps);
void mot_ref_rope(float *x, int n, int n_heads, int hd, int pos0, const float *inv_freq);
void mot_ref_swiglu(float *out, const float *gate, const float *up, int n, int f);
void mot_ref_attention(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                       int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                       float scale);

/* Element (r, c) of a weight as f32 (F32/F16/BF16 or any of ggml's quantized types). */
float mot_weight_at(const mot_weight *w, int64_t r, int64_t c);

/* out[n] = a row of n elements stored as dt (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K,
 * Q6_K; n a multiple of the block) as f32: ggml's dequantization (ops/ref_quant.c). */
void mot_ref_dequant_row(mot_dtype dt, const void *row, int64_t n, float *out);

#endif
