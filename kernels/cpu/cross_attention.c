/* The primary's multi-head cross-attention over every active expert's latent keys/values
 * with the proportional prefill mask (SPEC 1.4). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/team.h"

/* Keys of segment m visible to query i (see the header). */
static int visible_keys(const mot_kv_segment *s, int i, int n_q, int prefill) {
    if (!prefill) {
        return s->rows;
    }
    long long v = (long long)(i + 1) * s->n_prompt / n_q;
    return v < s->rows ? (int)v : s->rows;
}

/* Per-thread scores of one (query, head): grown on demand, kept between calls. */
static _Thread_local float *score_buf;
static _Thread_local int64_t score_cap;

static float *score_scratch(int64_t n) {
    if (n > score_cap) {
        free(score_buf);
        score_buf = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        score_cap = score_buf ? n : 0;
    }
    return score_buf;
}

static void cross_attention_team(float *out, const float *q, int n_q, int heads, int d_s,
                                 const mot_kv_segment *seg, int n_seg, int prefill) {
    const int dh = d_s / heads;
    const float scale = 1.0f / sqrtf((float)dh);
    int total = 0;
    for (int m = 0; m < n_seg; m++) {
        total += seg[m].rows;
    }
    float *score = score_scratch(total);
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
                    for (int j = 0; j < vis; j++) {
                        const float *kj = seg[m].k + (size_t)j * d_s + h * dh;
                        float dot = 0.0f;
                        for (int c = 0; c < dh; c++) {
                            dot += qh[c] * kj[c];
                        }
                        score[n] = dot * scale;
                        max = score[n] > max ? score[n] : max;
                        n++;
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
                        const float p = expf(score[n] - max);
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
