/* Reference backward of the interaction layer's cross-attention in prefill mode
 * (kernels/cpu/backward.h; SPEC 1.3, mask 1.4), written from the SPEC's text as
 * ops/ref_cross_attention.c's forward is: query i of the primary's n_q sees key j of segment
 * m iff j < seg[m].rows and
 *   ceil((j + 1) n_q / N_m) - 1 <= i,   N_m = seg[m].n_prompt
 * (integers; N_m = 0: no key), one softmax over the visible keys of all segments, heads of
 * d_h = d_s / heads, scale 1/sqrt(d_h). In double, with P recomputed from q and k,
 * dP_j = dout . v_j, D = sum_j P_j dP_j:
 *   dS_j = P_j (dP_j - D) scale,  dq += dS_j k_j,  dk_j += dS_j q,  dv_j += P_j dout.
 * A query and head that sees no key has output 0 and contributes no gradient. dq and every
 * segment's dk, dv are overwritten (a key no query sees gets 0). */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"

static int sees(int i, int j, int n_q, const mot_kv_segment *s) {
    if (j >= s->rows || s->n_prompt <= 0) {
        return 0;
    }
    const long long a = (long long)(j + 1) * n_q, c = (a + s->n_prompt - 1) / s->n_prompt; /* ceil */
    return c - 1 <= i;
}

void mot_ref_cross_attention_backward(float *dq, mot_kv_segment_grad *dseg, const float *dout, const float *q,
                                      int n_q, int heads, int d_s, const mot_kv_segment *seg, int n_seg) {
    const int dh = d_s / heads;
    const double scale = 1.0 / sqrt((double)dh);
    int total = 0;
    for (int m = 0; m < n_seg; m++) {
        total += seg[m].rows;
    }
    const size_t nt = (size_t)(total > 0 ? total : 1);
    double *p = malloc(sizeof(double) * nt), *dp = malloc(sizeof(double) * nt);
    double *gq = calloc((size_t)(n_q > 0 ? n_q : 1) * (size_t)d_s, sizeof(double));
    double *gk = calloc(nt * (size_t)d_s, sizeof(double)), *gv = calloc(nt * (size_t)d_s, sizeof(double));
    char *vis = malloc(nt);
    if (!p || !dp || !gq || !gk || !gv || !vis) {
        free(p), free(dp), free(gq), free(gk), free(gv), free(vis);
        return;
    }
    for (int i = 0; i < n_q; i++) {
        for (int h = 0; h < heads; h++) {
            const int64_t off = (int64_t)i * d_s + (int64_t)h * dh;
            const float *qh = q + off, *oh = dout + off;
            double mx = -INFINITY;
            int any = 0;
            for (int m = 0, at = 0; m < n_seg; at += seg[m].rows, m++) {
                for (int j = 0; j < seg[m].rows; j++) {
                    vis[at + j] = (char)sees(i, j, n_q, &seg[m]);
                    if (!vis[at + j]) {
                        continue;
                    }
                    const float *kj = seg[m].k + (int64_t)j * d_s + (int64_t)h * dh;
                    double dot = 0.0;
                    for (int c = 0; c < dh; c++) {
                        dot += (double)qh[c] * kj[c];
                    }
                    p[at + j] = dot * scale;
                    mx = p[at + j] > mx ? p[at + j] : mx;
                    any = 1;
                }
            }
            if (!any) {
                continue; /* output 0: no gradient */
            }
            double sum = 0.0;
            for (int r = 0; r < total; r++) {
                if (vis[r]) {
                    p[r] = exp(p[r] - mx);
                    sum += p[r];
                }
            }
            double D = 0.0;
            for (int m = 0, at = 0; m < n_seg; at += seg[m].rows, m++) {
                for (int j = 0; j < seg[m].rows; j++) {
                    if (!vis[at + j]) {
                        continue;
                    }
                    p[at + j] /= sum;
                    const float *vj = seg[m].v + (int64_t)j * d_s + (int64_t)h * dh;
                    double dot = 0.0;
                    for (int c = 0; c < dh; c++) {
                        dot += (double)oh[c] * vj[c];
                    }
                    dp[at + j] = dot;
                    D += p[at + j] * dot;
                }
            }
            for (int m = 0, at = 0; m < n_seg; at += seg[m].rows, m++) {
                for (int j = 0; j < seg[m].rows; j++) {
                    if (!vis[at + j]) {
                        continue;
                    }
                    const double ds = p[at + j] * (dp[at + j] - D) * scale;
                    const float *kj = seg[m].k + (int64_t)j * d_s + (int64_t)h * dh;
                    double *gkj = gk + (int64_t)(at + j) * d_s + (int64_t)h * dh;
                    double *gvj = gv + (int64_t)(at + j) * d_s + (int64_t)h * dh;
                    for (int c = 0; c < dh; c++) {
                        gq[off + c] += ds * kj[c];
                        gkj[c] += ds * qh[c];
                        gvj[c] += p[at + j] * oh[c];
                    }
                }
            }
        }
    }
    for (int64_t e = 0; e < (int64_t)n_q * d_s; e++) {
        dq[e] = (float)gq[e];
    }
    for (int m = 0, at = 0; m < n_seg; at += seg[m].rows, m++) {
        for (int64_t e = 0; e < (int64_t)seg[m].rows * d_s; e++) {
            dseg[m].dk[e] = (float)gk[(int64_t)at * d_s + e];
            dseg[m].dv[e] = (float)gv[(int64_t)at * d_s + e];
        }
    }
    free(p), free(dp), free(gq), free(gk), free(gv), free(vis);
}
