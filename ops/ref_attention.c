/* Reference causal grouped-query attention (two passes over the keys, double math). */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"

/* q, out are [n, n_heads, hd]; key j of kv head g at k + j * kv_stride + g * head_stride. */
void mot_ref_attention(float *out, const float *q, const float *k, const float *v, int64_t kv_stride,
                       int64_t head_stride, int n, int pos0, int n_heads, int n_kv, int hd, int window,
                       float scale) {
    int group = n_heads / n_kv;
    int n_keys = pos0 + n;
    double *score = malloc(sizeof(double) * (size_t)(n_keys > 0 ? n_keys : 1));
    if (!score) {
        return;
    }
    for (int t = 0; t < n; t++) {
        int p = pos0 + t;
        int first = (window > 0 && p - window + 1 > 0) ? p - window + 1 : 0;
        for (int h = 0; h < n_heads; h++) {
            const float *qv = q + ((int64_t)t * n_heads + h) * hd;
            int g = h / group;
            double mx = -INFINITY;
            for (int j = first; j <= p; j++) {
                const float *kv = k + (int64_t)j * kv_stride + (int64_t)g * head_stride;
                double dot = 0.0;
                for (int i = 0; i < hd; i++) {
                    dot += (double)qv[i] * kv[i];
                }
                score[j] = dot * scale;
                mx = score[j] > mx ? score[j] : mx;
            }
            double sum = 0.0;
            for (int j = first; j <= p; j++) {
                score[j] = exp(score[j] - mx);
                sum += score[j];
            }
            float *o = out + ((int64_t)t * n_heads + h) * hd;
            for (int i = 0; i < hd; i++) {
                double acc = 0.0;
                for (int j = first; j <= p; j++) {
                    acc += score[j] * v[(int64_t)j * kv_stride + (int64_t)g * head_stride + i];
                }
                o[i] = (float)(acc / sum);
            }
        }
    }
    free(score);
}
