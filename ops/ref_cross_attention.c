/* Reference cross-attention of the interaction layer (SPEC 1.3, mask 1.4), written from the
 * SPEC's text, not from the kernels: for each primary query and head, one softmax over the
 * keys of every segment (the active experts that speak at this stack, concatenated in the
 * order of A; a listener has none, docs/pipeline.md), double math.
 *
 * The mask, literally: prefill query i of the primary sees prefill key j of expert m iff
 *   ceil((j + 1) N_p / N_m) - 1 <= i
 * (evaluated in integers, no floor-division rewrite), N_p = the primary's prompt length =
 * the number of queries. A decode query sees every key present (prefill keys, and the decode
 * keys of the steps each expert was fed: a segment's `rows`). A query that sees no key at all
 * gets a zero output (the kernels' documented choice: an empty softmax contributes nothing).
 * And LATENT_APPEND, which writes the segments' keys/values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

static int sees(int i, int j, int n_p, int n_m) {
    /* ceil(a / b) for a, b > 0 */
    const long long a = (long long)(j + 1) * n_p, c = (a + n_m - 1) / n_m;
    return c - 1 <= i;
}

void mot_ref_cross_attention(float *out, const float *q, int n_q, int heads, int d_s, const mot_kv_segment *seg,
                             int n_seg, int prefill) {
    const int dh = d_s / heads;
    const double scale = 1.0 / sqrt((double)dh);
    int total = 0;
    for (int m = 0; m < n_seg; m++) {
        total += seg[m].rows;
    }
    double *score = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    char *vis = malloc((size_t)(total > 0 ? total : 1));
    if (!score || !vis) {
        free(score), free(vis);
        return;
    }
    for (int i = 0; i < n_q; i++) {
        for (int h = 0; h < heads; h++) {
            const float *qh = q + (int64_t)i * d_s + (int64_t)h * dh;
            double mx = -INFINITY;
            int any = 0;
            for (int m = 0, at = 0; m < n_seg; at += seg[m].rows, m++) {
                for (int j = 0; j < seg[m].rows; j++) {
                    vis[at + j] = (char)(!prefill || sees(i, j, n_q, seg[m].n_prompt));
                    if (!vis[at + j]) {
                        continue;
                    }
                    const float *kj = seg[m].k + (int64_t)j * d_s + (int64_t)h * dh;
                    double dot = 0.0;
                    for (int c = 0; c < dh; c++) {
                        dot += (double)qh[c] * kj[c];
                    }
                    score[at + j] = dot * scale;
                    mx = score[at + j] > mx ? score[at + j] : mx;
                    any = 1;
                }
            }
            float *o = out + (int64_t)i * d_s + (int64_t)h * dh;
            for (int c = 0; c < dh; c++) {
                double acc = 0.0, sum = 0.0;
                for (int m = 0, at = 0; m < n_seg; at += seg[m].rows, m++) {
                    for (int j = 0; j < seg[m].rows; j++) {
                        if (vis[at + j]) {
                            const double p = exp(score[at + j] - mx);
                            sum += p;
                            acc += p * seg[m].v[(int64_t)j * d_s + (int64_t)h * dh + c];
                        }
                    }
                }
                o[c] = any ? (float)(acc / sum) : 0.0f;
            }
        }
    }
    free(score), free(vis);
}

/* rows t < n of k, v [n, d] into kc, vc [ctx, d] at rows rows0 + t */
void mot_ref_latent_append(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0) {
    for (int t = 0; t < n; t++) {
        memcpy(kc + (int64_t)(rows0 + t) * d, k + (int64_t)t * d, sizeof(float) * (size_t)d);
        memcpy(vc + (int64_t)(rows0 + t) * d, v + (int64_t)t * d, sizeof(float) * (size_t)d);
    }
}
