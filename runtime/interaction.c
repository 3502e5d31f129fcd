#include "runtime/interaction.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>

/* Keys of segment m visible to query i (see the header). */
static int visible_keys(const mot_kv_segment *s, int i, int n_q, int prefill) {
    if (!prefill) {
        return s->rows;
    }
    long long v = (long long)(i + 1) * s->n_prompt / n_q;
    return v < s->rows ? (int)v : s->rows;
}

void mot_cross_attention(float *out, const float *q, int n_q, int heads, int d_s,
                         const mot_kv_segment *seg, int n_seg, int prefill, float *scratch) {
    const int dh = d_s / heads;
    const float scale = 1.0f / sqrtf((float)dh);
    int total = 0;
    for (int m = 0; m < n_seg; m++) {
        total += seg[m].rows;
    }
#pragma omp parallel
    {
        float *score = scratch + (size_t)omp_get_thread_num() * (size_t)total;
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

void mot_layernorm(float *out, const float *x, const float *w, const float *b, int n, int d, float eps) {
    for (int t = 0; t < n; t++) {
        const float *xr = x + (size_t)t * d;
        float *o = out + (size_t)t * d;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < d; i++) {
            mean += xr[i];
        }
        mean /= d;
        for (int i = 0; i < d; i++) {
            var += (xr[i] - mean) * (xr[i] - mean);
        }
        var /= d;
        const float inv = (float)(1.0 / sqrt(var + eps));
        for (int i = 0; i < d; i++) {
            o[i] = (float)(xr[i] - mean) * inv * w[i] + b[i];
        }
    }
}
