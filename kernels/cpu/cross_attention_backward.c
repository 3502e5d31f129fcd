/* The backward of the primary's cross-attention in prefill mode (kernels/cpu/backward.h,
 * SPEC 1.4), in the two passes of attention_backward.c: A over (query, head) gives dq and
 * keeps lse and D = sum_j P_j dP_j; B over (segment, key row) recomputes P and dP for every
 * query that sees the key and gives that row's dk, dv for all heads. Each output row has one
 * owner and sums in a fixed order, so the bits do not depend on the threads. A query that
 * sees no key has output 0 (the forward's choice) and so no gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"
#include "kernels/cpu/vec_ops.h"

/* Keys of segment s visible to query i in prefill: the first floor((i+1) N_m / n_q), capped
 * at the rows present (as mot_cpu_cross_attention). */
static int visible_keys(const mot_kv_segment *s, int i, int n_q) {
    const long long v = (long long)(i + 1) * s->n_prompt / n_q;
    return v < s->rows ? (int)v : s->rows;
}

static mot_thread_scratch key_scratch;

/* Pass A for query i, head h: p, dp hold one float per key of all segments. */
static void query_grad(float *dq, double *stats, const float *dout, const float *q, int n_q, int h, int dh,
                       int d_s, float scale, const mot_kv_segment *seg, int n_seg, int i, float *p, float *dp) {
    const int64_t off = (int64_t)i * d_s + (int64_t)h * dh;
    const float *qh = q + off, *oh = dout + off;
    float *dqh = dq + off;
    double mx = -INFINITY;
    int nk = 0;
    for (int m = 0; m < n_seg; m++) {
        const int vis = visible_keys(&seg[m], i, n_q);
        for (int j = 0; j < vis; j++, nk++) {
            p[nk] = scale * mot_vec_dot(qh, seg[m].k + (int64_t)j * d_s + (int64_t)h * dh, dh);
            mx = p[nk] > mx ? p[nk] : mx;
        }
    }
    memset(dqh, 0, sizeof(float) * (size_t)dh);
    if (nk == 0) {
        stats[0] = INFINITY, stats[1] = 0.0; /* never read: no key sees this query */
        return;
    }
    double sum = 0.0;
    for (int j = 0; j < nk; j++) {
        sum += exp(p[j] - mx);
    }
    const double lse = mx + log(sum);
    double d = 0.0;
    nk = 0;
    for (int m = 0; m < n_seg; m++) {
        const int vis = visible_keys(&seg[m], i, n_q);
        for (int j = 0; j < vis; j++, nk++) {
            p[nk] = expf((float)(p[nk] - lse));
            dp[nk] = mot_vec_dot(oh, seg[m].v + (int64_t)j * d_s + (int64_t)h * dh, dh);
            d += (double)p[nk] * dp[nk];
        }
    }
    nk = 0;
    for (int m = 0; m < n_seg; m++) {
        const int vis = visible_keys(&seg[m], i, n_q);
        for (int j = 0; j < vis; j++, nk++) {
            mot_vec_axpy(dqh, scale * p[nk] * (float)(dp[nk] - d), seg[m].k + (int64_t)j * d_s + (int64_t)h * dh, dh);
        }
    }
    stats[0] = lse, stats[1] = d;
}

/* Pass B for key row j of segment s (all heads): dk, dv rows [d_s]. */
static void key_grad(float *dk, float *dv, const double *stats, const float *dout, const float *q, int n_q,
                     int heads, int dh, int d_s, float scale, const mot_kv_segment *s, int j) {
    const float *kj = s->k + (int64_t)j * d_s, *vj = s->v + (int64_t)j * d_s;
    memset(dk, 0, sizeof(float) * (size_t)d_s);
    memset(dv, 0, sizeof(float) * (size_t)d_s);
    for (int i = 0; i < n_q; i++) {
        if (visible_keys(s, i, n_q) <= j) {
            continue;
        }
        for (int h = 0; h < heads; h++) {
            const int64_t off = (int64_t)i * d_s + (int64_t)h * dh;
            const double *st = stats + 2 * ((int64_t)i * heads + h);
            const float sc = scale * mot_vec_dot(q + off, kj + (int64_t)h * dh, dh);
            const float pj = expf((float)(sc - st[0]));
            const float dpj = mot_vec_dot(dout + off, vj + (int64_t)h * dh, dh);
            mot_vec_axpy(dv + (int64_t)h * dh, pj, dout + off, dh);
            mot_vec_axpy(dk + (int64_t)h * dh, scale * pj * (float)(dpj - st[1]), q + off, dh);
        }
    }
}

/* What the team shares: the per-(query, head) statistics of pass A and whether any thread
 * failed to get its scratch (all threads must then take the same branch). */
typedef struct {
    int oom;
    double stats[]; /* lse, D per (query, head) */
} shared_state;

static void cross_attention_backward_team(float *dq, mot_kv_segment_grad *dseg, const float *dout, const float *q,
                                          int n_q, int heads, int d_s, const mot_kv_segment *seg, int n_seg,
                                          int total) {
    const int dh = d_s / heads;
    const float scale = 1.0f / sqrtf((float)dh);
    const int64_t items_a = (int64_t)n_q * heads;
    shared_state *sh;
#pragma omp single copyprivate(sh)
    {
        sh = malloc(sizeof *sh + sizeof(double) * 2 * (size_t)(items_a > 0 ? items_a : 1));
        if (sh) {
            sh->oom = 0;
        }
    }
    float *p = sh ? mot_thread_scratch_get(&key_scratch, 2 * (size_t)(total > 0 ? total : 1)) : NULL;
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
            query_grad(dq, sh->stats + 2 * item, dout, q, n_q, (int)(item % heads), dh, d_s, scale, seg, n_seg,
                       (int)(item / heads), p, p + total);
        }
#pragma omp for schedule(dynamic, 4)
        for (int r = 0; r < total; r++) {
            int m = 0, j = r;
            while (j >= seg[m].rows) {
                j -= seg[m++].rows;
            }
            key_grad(dseg[m].dk + (int64_t)j * d_s, dseg[m].dv + (int64_t)j * d_s, sh->stats, dout, q, n_q, heads,
                     dh, d_s, scale, &seg[m], j);
        }
    } else {
#pragma omp single
        { /* out of memory, NaN: a failed allocation must not look like a gradient */
            memset(dq, 0xff, sizeof(float) * (size_t)n_q * d_s);
            for (int m = 0; m < n_seg; m++) {
                memset(dseg[m].dk, 0xff, sizeof(float) * (size_t)seg[m].rows * d_s);
                memset(dseg[m].dv, 0xff, sizeof(float) * (size_t)seg[m].rows * d_s);
            }
        }
    }
    /* every thread read sh before the last barrier (the loop's or the single's) */
#pragma omp single nowait
    free(sh);
}

void mot_cpu_cross_attention_backward(float *dq, mot_kv_segment_grad *dseg, const float *dout, const float *q,
                                      int n_q, int heads, int d_s, const mot_kv_segment *seg, int n_seg) {
    int total = 0;
    for (int m = 0; m < n_seg; m++) {
        total += seg[m].rows;
    }
    MOT_TEAM_RUN((int64_t)n_q * heads + total > 1,
                 cross_attention_backward_team(dq, dseg, dout, q, n_q, heads, d_s, seg, n_seg, total));
}
