/* Reference backward of causal grouped-query self-attention over n tokens at positions
 * 0..n-1 (kernels/cpu/backward.h; the mask and scale of mot_ref_attention, window 0 = none),
 * in double: for each query head h and query t the probabilities P over the keys it sees
 * (j <= t and, with a window, t - j < window) are recomputed from q and k, then with
 * dP_j = dout_t . v_j and D = sum_j P_j dP_j:
 *   dS_j = P_j (dP_j - D) scale,  dq_t += dS_j k_j,  dk_j += dS_j q_t,  dv_j += P_j dout_t,
 * k_j, v_j of the query head's kv head g = h / (n_heads / n_kv). Outputs overwritten. */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"

/* q, dout, dq [n, n_heads * hd]; k, v, dk, dv [n, n_kv * hd] */
void mot_ref_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                const float *v, int n, int n_heads, int n_kv, int hd, int window, float scale) {
    const int group = n_heads / n_kv;
    const int64_t qs = (int64_t)n_heads * hd, ks = (int64_t)n_kv * hd;
    const size_t nn = (size_t)(n > 0 ? n : 1);
    double *p = malloc(sizeof(double) * nn), *dp = malloc(sizeof(double) * nn);
    double *gq = calloc(nn * (size_t)qs, sizeof(double)), *gk = calloc(nn * (size_t)ks, sizeof(double));
    double *gv = calloc(nn * (size_t)ks, sizeof(double));
    if (!p || !dp || !gq || !gk || !gv) {
        free(p), free(dp), free(gq), free(gk), free(gv);
        return;
    }
    for (int h = 0; h < n_heads; h++) {
        const int g = h / group;
        for (int t = 0; t < n; t++) {
            const int first = window > 0 && t - window + 1 > 0 ? t - window + 1 : 0;
            const float *qt = q + t * qs + (int64_t)h * hd, *ot = dout + t * qs + (int64_t)h * hd;
            double mx = -INFINITY;
            for (int j = first; j <= t; j++) {
                const float *kj = k + j * ks + (int64_t)g * hd;
                double dot = 0.0;
                for (int i = 0; i < hd; i++) {
                    dot += (double)qt[i] * kj[i];
                }
                p[j] = dot * (double)scale;
                mx = p[j] > mx ? p[j] : mx;
            }
            double sum = 0.0;
            for (int j = first; j <= t; j++) {
                p[j] = exp(p[j] - mx);
                sum += p[j];
            }
            double D = 0.0;
            for (int j = first; j <= t; j++) {
                p[j] /= sum;
                const float *vj = v + j * ks + (int64_t)g * hd;
                double dot = 0.0;
                for (int i = 0; i < hd; i++) {
                    dot += (double)ot[i] * vj[i];
                }
                dp[j] = dot;
                D += p[j] * dot;
            }
            for (int j = first; j <= t; j++) {
                const double ds = p[j] * (dp[j] - D) * (double)scale;
                const float *kj = k + j * ks + (int64_t)g * hd;
                double *gqt = gq + t * qs + (int64_t)h * hd, *gkj = gk + j * ks + (int64_t)g * hd;
                double *gvj = gv + j * ks + (int64_t)g * hd;
                for (int i = 0; i < hd; i++) {
                    gqt[i] += ds * kj[i];
                    gkj[i] += ds * qt[i];
                    gvj[i] += p[j] * ot[i];
                }
            }
        }
    }
    for (int64_t e = 0; e < (int64_t)n * qs; e++) {
        dq[e] = (float)gq[e];
    }
    for (int64_t e = 0; e < (int64_t)n * ks; e++) {
        dk[e] = (float)gk[e];
        dv[e] = (float)gv[e];
    }
    free(p), free(dp), free(gq), free(gk), free(gv);
}
