/* The primary's multi-head cross-attention over the segments it is given: the latent
 * keys/values of the active experts that speak at this stack (a listener has no segment,
 * docs/pipeline.md), with the proportional prefill mask (SPEC 1.4). A query that sees no key
 * (or no segment at all) gets 0. And LATENT_APPEND, which writes those keys/values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

/* Keys of segment m visible to query i (see the header). */
static int visible_keys(const mot_kv_segment *s, int i, int n_q, int prefill) {
    if (!prefill) {
        return s->rows;
    }
    long long v = (long long)(i + 1) * s->n_prompt / n_q;
    return v < s->rows ? (int)v : s->rows;
}

static float scaled_dot(const float *q, const float *k, int dh, float scale) {
    float dot = 0.0f;
    for (int c = 0; c < dh; c++) {
        dot += q[c] * k[c];
    }
    return dot * scale;
}

/* Per-thread scores of one (query, head), grown on demand. */
static mot_thread_scratch score_scratch;

static void cross_attention_team(float *out, const float *q, int n_q, int heads, int d_s,
                                 const mot_kv_segment *seg, int n_seg, int prefill) {
    const int dh = d_s / heads;
    const float scale = 1.0f / sqrtf((float)dh);
    int total = 0;
    for (int m = 0; m < n_seg; m++) {
        total += seg[m].rows;
    }
    float *score = mot_thread_scratch_get(&score_scratch, (size_t)(total > 0 ? total : 1));
    {
#pragma omp for collapse(2) schedule(static)
        for (int i = 0; i < n_q; i++) {
            for (int h = 0; h < heads; h++) {
                const float *qh = q + (size_t)i * d_s + h * dh;
                float *o = out + (size_t)i * d_s + h * dh;
                float max = -INFINITY;
                int n = 0;
                for (int m = 0; m < n_seg; m++) {
                    const int vis = visible_keys(&seg[m], i, n_q, prefill);
                    for (int j = 0; j < vis; j++, n++) {
                        const float sc = scaled_dot(qh, seg[m].k + (size_t)j * d_s + h * dh, dh, scale);
                        if (score) {
                            score[n] = sc;
                        }
                        max = sc > max ? sc : max;
                    }
                }
                for (int c = 0; c < dh; c++) {
                    o[c] = 0.0f;
                }
                double sum = 0.0;
                n = 0;
                for (int m = 0; m < n_seg; m++) {
                    const int vis = visible_keys(&seg[m], i, n_q, prefill);
                    for (int j = 0; j < vis; j++, n++) {
                        /* Without a buffer (out of memory) the score is recomputed: same value. */
                        const float sc = score ? score[n] : scaled_dot(qh, seg[m].k + (size_t)j * d_s + h * dh, dh, scale);
                        const float p = expf(sc - max);
                        const float *vj = seg[m].v + (size_t)j * d_s + h * dh;
                        sum += p;
                        for (int c = 0; c < dh; c++) {
                            o[c] += p * vj[c];
                        }
                    }
                }
                const float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
                for (int c = 0; c < dh; c++) {
                    o[c] *= inv;
                }
            }
        }
    }
}

void mot_cpu_cross_attention(float *out, const float *q, int n_q, int heads, int d_s,
                             const mot_kv_segment *seg, int n_seg, int prefill) {
    MOT_TEAM_RUN(1, cross_attention_team(out, q, n_q, heads, d_s, seg, n_seg, prefill));
}

/* LATENT_APPEND: a stack's latent keys/values into its caches, one row per thread. */
static void latent_append_body(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        memcpy(kc + (int64_t)(rows0 + t) * d, k + (int64_t)t * d, sizeof(float) * d);
        memcpy(vc + (int64_t)(rows0 + t) * d, v + (int64_t)t * d, sizeof(float) * d);
    }
}

void mot_cpu_latent_append(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0) {
    MOT_TEAM_RUN(0, latent_append_body(kc, vc, k, v, n, d, rows0));
}
