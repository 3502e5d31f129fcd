/* Reference matmul and embedding lookup (both read weights as mot_weight_at gives them), and
 * the MATMUL op as the plan runs it with the fused decode GEMVs (below). */
#include <stdlib.h>

#include "ops/ops.h"

/* y is [n, rows], x is [n, cols], W is [rows, cols]: y = x . W^T. Each weight row goes
 * through mot_ref_dequant_row once (the values mot_weight_at gives, without dequantizing a
 * whole block per element). */
void mot_ref_matmul(float *y, const float *x, const mot_weight *w, int n) {
    float *wr = malloc(sizeof(float) * (size_t)(w->cols > 0 ? w->cols : 1));
    if (!wr) {
        return;
    }
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, w->cols);
    for (int64_t r = 0; r < w->rows; r++) {
        mot_ref_dequant_row(w->dtype, (const char *)w->data + (size_t)r * row_bytes, w->cols, wr);
        for (int t = 0; t < n; t++) {
            double acc = 0.0;
            for (int64_t c = 0; c < w->cols; c++) {
                acc += (double)x[(int64_t)t * w->cols + c] * (double)wr[c];
            }
            y[(int64_t)t * w->rows + r] = (float)acc;
        }
    }
    free(wr);
}

/* out is [cols] = table[row, :] */
void mot_ref_embed_row(float *out, const mot_weight *table, int64_t row) {
    for (int64_t c = 0; c < table->cols; c++) {
        out[c] = mot_weight_at(table, row, c);
    }
}

/* The plan's compound and fused ops, composed from the single-op references so
 * that a fused kernel is held to exactly what the ops it replaces compute:
 *   MATMUL with biases and accumulate (scheduler/plan.h), and the CPU executor's fused decode
 *   GEMVs (executor/cpu_ops.h): RMSNORM -> MATMUL, MATMUL(gate, up) -> SWIGLU, and all three. */

/* y[n, rows] (=|+=) x[n, cols] W^T + bias (bias [rows] or NULL); the product in double,
 * rounded to f32 once, then the bias and the accumulation added in double. */
void mot_ref_linear(float *y, const float *x, const mot_weight *w, const float *bias, int n, int accumulate) {
    const int64_t rows = w->rows;
    float *p = malloc(sizeof(float) * (size_t)(n * rows > 0 ? n * rows : 1));
    if (!p) {
        return;
    }
    mot_ref_matmul(p, x, w, n);
    for (int64_t e = 0; e < (int64_t)n * rows; e++) {
        double v = (double)p[e] + (bias ? (double)bias[e % rows] : 0.0);
        y[e] = (float)(accumulate ? (double)y[e] + v : v);
    }
    free(p);
}

/* norm_out[n, cols] = rmsnorm(x) * norm_w; y_j = norm_out W_j^T + bias_j (j < n_w);
 * swiglu: n_w == 2 and y_0 = silu(y_0) * y_1 afterwards. norm_w NULL: no norm (x as is,
 * norm_out unused). */
void mot_ref_norm_linear_swiglu(float *norm_out, float *const *y, const float *x, const float *norm_w, float eps,
                                const mot_weight *const *w, const float *const *bias, int n_w, int n, int swiglu) {
    const float *in = x;
    if (norm_w) {
        mot_ref_rmsnorm(norm_out, x, norm_w, n, (int)w[0]->cols, eps);
        in = norm_out;
    }
    for (int j = 0; j < n_w; j++) {
        mot_ref_linear(y[j], in, w[j], bias ? bias[j] : NULL, n, 0);
    }
    if (swiglu && n_w == 2) {
        mot_ref_swiglu(y[0], y[0], y[1], n, (int)w[0]->rows);
    }
}

void mot_ref_norm_qkv_rope_append(float *norm_out, float *const *y, const float *x, const float *norm_w, float eps,
                                  const mot_weight *const *w, const float *const *bias, int n, float *kc, float *vc,
                                  int64_t kv_stride, int64_t head_stride, int n_heads, int n_kv, int hd, int pos0,
                                  const float *inv_freq) {
    mot_ref_norm_linear_swiglu(norm_out, y, x, norm_w, eps, w, bias, 3, n, 0);
    mot_ref_rope_append(y[0], y[1], y[2], kc, vc, kv_stride, head_stride, n, n_heads, n_kv, hd, pos0, inv_freq);
}
