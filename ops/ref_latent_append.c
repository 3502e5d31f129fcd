/* Reference caches appends: the latent (interaction) K/V append, and RoPE + KV-cache append. */
#include <string.h>

#include "ops/ops.h"

/* rows t < n of k, v [n, d] into kc, vc [ctx, d] at rows rows0 + t */
void mot_ref_latent_append(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0) {
    for (int t = 0; t < n; t++) {
        memcpy(kc + (int64_t)(rows0 + t) * d, k + (int64_t)t * d, sizeof(float) * (size_t)d);
        memcpy(vc + (int64_t)(rows0 + t) * d, v + (int64_t)t * d, sizeof(float) * (size_t)d);
    }
}

/* The ROPE_APPEND plan op: mot_ref_rope on q [n, n_heads, hd] and k [n, n_kv, hd] in place,
 * then k and v into the caches (kv head g of position pos0 + t at (pos0 + t) * kv_stride +
 * g * head_stride). */
void mot_ref_rope_append(float *q, float *k, const float *v, float *kc, float *vc, int64_t kv_stride,
                         int64_t head_stride, int n, int n_heads, int n_kv, int hd, int pos0, const float *inv_freq) {
    mot_ref_rope(q, n, n_heads, hd, pos0, inv_freq);
    mot_ref_rope(k, n, n_kv, hd, pos0, inv_freq);
    for (int t = 0; t < n; t++) {
        for (int g = 0; g < n_kv; g++) {
            const int64_t at = (int64_t)(pos0 + t) * kv_stride + (int64_t)g * head_stride;
            const int64_t src = ((int64_t)t * n_kv + g) * hd;
            memcpy(kc + at, k + src, sizeof(float) * (size_t)hd);
            memcpy(vc + at, v + src, sizeof(float) * (size_t)hd);
        }
    }
}
