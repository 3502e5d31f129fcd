/* Causal GQA self-attention's backward (kernels/cpu/backward.h), in two passes that recompute
 * the probabilities instead of storing the [heads, n, n] matrix (FlashAttention-2's split):
 *   A, over (query row, query head): scores s_j = scale q.k_j, lse = log sum_j e^{s_j},
 *      P_j = e^{s_j - lse}, dP_j = dout.v_j, D = sum_j P_j dP_j (= dout.out), and
 *      dq = scale sum_j P_j (dP_j - D) k_j; lse and D are kept per (row, head);
 *   B, over (key row, kv head): for every query p that sees key j and every query head h of
 *      the group, P and dP again from lse and D, then
 *      dv_j = sum P dout_{p,h},  dk_j = scale sum P (dP - D) q_{p,h}.
 * Every output row of a head has one owner and sums in a fixed order (keys ascending in A,
 * queries then heads ascending in B), so the result is the same for any thread count.
 * lse, D, the max and the sum are double; the dot products f32 (AVX2). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/backward.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"
#include "kernels/cpu/vec_ops.h"

static mot_thread_scratch row_scratch;

/* Pass A for query row t, head h. p, dp: scratch of t + 1 floats. stats[2]: lse, D. */
static void query_grad(float *dq, double *stats, const float *dout, const float *q, const float *k, const float *v,
                       int t, int h, int n_heads, int n_kv, int hd, int window, float scale, float *p, float *dp) {
    const int g = h / (n_heads / n_kv), first = mot_attn_first_key(t, window);
    const int64_t qs = (int64_t)n_heads * hd, ks = (int64_t)n_kv * hd;
    const float *qh = q + t * qs + (int64_t)h * hd, *oh = dout + t * qs + (int64_t)h * hd;
    const float *kg = k + (int64_t)g * hd, *vg = v + (int64_t)g * hd;
    float *dqh = dq + t * qs + (int64_t)h * hd;
    double mx = -INFINITY;
    for (int j = first; j <= t; j++) {
        p[j] = scale * mot_vec_dot(qh, kg + j * ks, hd);
        mx = p[j] > mx ? p[j] : mx;
    }
    double sum = 0.0;
    for (int j = first; j <= t; j++) {
        sum += exp(p[j] - mx);
    }
    const double lse = mx + log(sum);
    double d = 0.0;
    for (int j = first; j <= t; j++) {
        p[j] = expf((float)(p[j] - lse));
        dp[j] = mot_vec_dot(oh, vg + j * ks, hd);
        d += (double)p[j] * dp[j];
    }
    memset(dqh, 0, sizeof(float) * (size_t)hd);
    for (int j = first; j <= t; j++) {
        mot_vec_axpy(dqh, scale * p[j] * (float)(dp[j] - d), kg + j * ks, hd);
    }
    stats[0] = lse, stats[1] = d;
}

/* Pass B for key row j of kv head g. */
static void key_grad(float *dk, float *dv, const double *stats, const float *dout, const float *q, const float *k,
                     const float *v, int j, int g, int n, int n_heads, int n_kv, int hd, int window, float scale) {
    const int group = n_heads / n_kv;
    const int64_t qs = (int64_t)n_heads * hd, ks = (int64_t)n_kv * hd;
    const float *kj = k + j * ks + (int64_t)g * hd, *vj = v + j * ks + (int64_t)g * hd;
    float *dkj = dk + j * ks + (int64_t)g * hd, *dvj = dv + j * ks + (int64_t)g * hd;
    memset(dkj, 0, sizeof(float) * (size_t)hd);
    memset(dvj, 0, sizeof(float) * (size_t)hd);
    const int last = window > 0 && j + window - 1 < n - 1 ? j + window - 1 : n - 1;
    for (int t = j; t <= last; t++) {
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *qh = q + t * qs + (int64_t)h * hd, *oh = dout + t * qs + (int64_t)h * hd;
            const double *st = stats + 2 * ((int64_t)t * n_heads + h);
            const float s = scale * mot_vec_dot(qh, kj, hd);
            const float pj = expf((float)(s - st[0]));
            const float dpj = mot_vec_dot(oh, vj, hd);
            mot_vec_axpy(dvj, pj, oh, hd);
            mot_vec_axpy(dkj, scale * pj * (float)(dpj - st[1]), qh, hd);
        }
    }
}

/* What the team shares: the per-(row, head) statistics of pass A and whether any thread
 * failed to get its scratch (all threads must then take the same branch). */
typedef struct {
    int oom;
    double stats[]; /* lse, D per (row, head) */
} shared_state;

static void attention_backward_team(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                    const float *k, const float *v, int n, int n_heads, int n_kv, int hd,
                                    int window, float scale) {
    const int64_t items_a = (int64_t)n * n_heads, items_b = (int64_t)n * n_kv;
    shared_state *sh;
#pragma omp single copyprivate(sh)
    {
        sh = malloc(sizeof *sh + sizeof(double) * 2 * (size_t)items_a);
        if (sh) {
            sh->oom = 0;
        }
    }
    /* causal rows differ in length: dynamic items (each computes its own outputs alone, so
     * the schedule does not change the bits) */
    float *p = sh ? mot_thread_scratch_get(&row_scratch, 2 * (size_t)n) : NULL;
    if (sh && !p) {
#pragma omp atomic write
        sh->oom = 1;
    }
#pragma omp barrier
    int oom = !sh;
    if (sh) {
#pragma omp atomic read
        oom = sh->oom;
    }
    if (!oom) {
#pragma omp for schedule(dynamic, 4)
        for (int64_t item = 0; item < items_a; item++) {
            const int t = (int)(item / n_heads), h = (int)(item % n_heads);
            query_grad(dq, sh->stats + 2 * item, dout, q, k, v, t, h, n_heads, n_kv, hd, window, scale, p, p + n);
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t item = 0; item < items_b; item++) {
            key_grad(dk, dv, sh->stats, dout, q, k, v, (int)(item / n_kv), (int)(item % n_kv), n, n_heads, n_kv, hd,
                     window, scale);
        }
    } else {
#pragma omp single
        { /* out of memory, NaN: a failed allocation must not look like a gradient */
            memset(dq, 0xff, sizeof(float) * (size_t)n * n_heads * hd);
            memset(dk, 0xff, sizeof(float) * (size_t)n * n_kv * hd);
            memset(dv, 0xff, sizeof(float) * (size_t)n * n_kv * hd);
        }
    }
    /* every thread read sh before the last barrier (the loop's or the single's) */
#pragma omp single nowait
    free(sh);
}

void mot_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                const float *k, const float *v, int n, int n_heads, int n_kv, int hd,
                                int window, float scale) {
    if (n <= 0) {
        return;
    }
    MOT_TEAM_RUN((int64_t)n * n_heads > 1,
                 attention_backward_team(dq, dk, dv, dout, q, k, v, n, n_heads, n_kv, hd, window, scale));
}
