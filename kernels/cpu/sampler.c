#include "kernels/cpu/sampler.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "kernels/cpu/kernels.h"
#include "common/rng.h"

mot_status mot_sampler_init(mot_sampler *s, const mot_sampler_params *p, uint64_t stream, int vocab) {
    s->params = *p;
    s->vocab = vocab;
    /* Seed and stream index go through splitmix64 so that nearby seeds give unrelated streams. */
    uint64_t x = p->seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < 4; i++) {
        s->rng.s[i] = mot_splitmix64(&x);
    }
    s->idx = malloc((size_t)vocab * sizeof *s->idx);
    s->prob = malloc((size_t)vocab * sizeof *s->prob);
    if (!s->idx || !s->prob) {
        mot_sampler_free(s);
        return mot_fail(MOT_ERR_NOMEM, "sampler: out of memory");
    }
    return MOT_OK;
}

void mot_sampler_free(mot_sampler *s) {
    free(s->idx);
    free(s->prob);
    s->idx = NULL;
    s->prob = NULL;
}

double mot_sampler_uniform(mot_sampler *s) { return (double)(mot_rng_next(&s->rng) >> 11) * 0x1.0p-53; }

/* Greedy sampling's arg-max over the vocabulary, vectorised. The scalar loop it replaces
 * (`if (x[i] > x[best]) best = i`) carried a load-compare dependency through every element:
 * ~50 us for 49152 logits, 0.5% of a SmolLM-135M decode step, on one thread while the others
 * wait. Same answer: the first index of the largest value, NaNs never win, and a NaN at
 * x[0] (where the scalar loop could not move) gives 0. */
static int argmax_scalar(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

int mot_cpu_argmax(const float *x, int n) {
    if (n < 16 || x[0] != x[0]) {
        return argmax_scalar(x, n);
    }
    /* pass 1: the largest non-NaN value (max_ps returns its second operand when the first is
     * NaN, so NaN lanes keep the running maximum) */
    __m256 m = _mm256_set1_ps(x[0]);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    }
    float lanes[8], max = x[0];
    _mm256_storeu_ps(lanes, m);
    for (int k = 0; k < 8; k++) {
        max = lanes[k] > max ? lanes[k] : max;
    }
    for (; i < n; i++) {
        max = x[i] > max ? x[i] : max;
    }
    /* pass 2: its first index (-0 == +0, as the scalar loop's "not greater" treats them) */
    const __m256 vm = _mm256_set1_ps(max);
    for (i = 0; i + 8 <= n; i += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vm, _CMP_EQ_OQ));
        if (mask) {
            return i + __builtin_ctz((unsigned)mask);
        }
    }
    for (; i < n; i++) {
        if (x[i] == max) {
            return i;
        }
    }
    return 0; /* not reached: max is one of the values */
}

int mot_argmax(const float *x, int n) { return mot_cpu_argmax(x, n); }

/* Sorting key: descending probability, then ascending id (a stable, deterministic order).
 * The probabilities come in as qsort_r's context so samplers can run on several threads. */
static int by_prob_desc(const void *a, const void *b, void *ctx) {
    const float *prob = ctx;
    int ia = *(const int *)a, ib = *(const int *)b;
    float pa = prob[ia], pb = prob[ib];
    if (pa != pb) {
        return pa > pb ? -1 : 1;
    }
    return (ia > ib) - (ia < ib);
}

/* Moves the k largest (by prob, ties lower id) to idx[0..k) (unordered), quickselect style. */
static void select_top(int *idx, int n, int k, const float *prob) {
    int lo = 0, hi = n - 1;
    void *ctx = (void *)prob;
    while (lo < hi) {
        int pivot = idx[(lo + hi) / 2], i = lo, j = hi;
        while (i <= j) {
            while (i < hi && by_prob_desc(&idx[i], &pivot, ctx) < 0) i++;
            while (j > lo && by_prob_desc(&idx[j], &pivot, ctx) > 0) j--;
            if (i <= j) {
                int t = idx[i];
                idx[i++] = idx[j];
                idx[j--] = t;
            }
        }
        if (k - 1 <= j) {
            hi = j;
        } else if (k - 1 >= i) {
            lo = i;
        } else {
            break;
        }
    }
}

int mot_sample(mot_sampler *s, const float *logits) {
    const mot_sampler_params *p = &s->params;
    const int v = s->vocab;
    if (p->temperature <= 0.0f) {
        return mot_argmax(logits, v);
    }
    /* Softmax of logits / T over the whole vocabulary (in double for the normaliser). */
    float max = logits[mot_argmax(logits, v)];
    double sum = 0.0;
    for (int i = 0; i < v; i++) {
        float q = expf((logits[i] - max) / p->temperature);
        /* NaN or inf logits (a broken checkpoint, an f16 overflow) must not reach the sort:
         * such a token gets probability 0. */
        s->prob[i] = q >= 0.0f && q <= 1.0f ? q : 0.0f;
        sum += s->prob[i];
        s->idx[i] = i;
    }
    if (!(sum > 0.0)) {
        return mot_argmax(logits, v); /* nothing sampleable: the arg-max, as greedy would */
    }
    int n = v;
    if (p->top_k > 0 && p->top_k < n) {
        select_top(s->idx, n, p->top_k, s->prob);
        n = p->top_k;
        if (p->top_p >= 1.0f) {
            /* The draw walks the candidates in (prob desc, id asc) order, as the CUDA sampler
             * and ops/ref_sample.c do; quickselect's order made the same draw pick another token. */
            qsort_r(s->idx, (size_t)n, sizeof *s->idx, by_prob_desc, s->prob);
        }
    }
    if (p->top_p < 1.0f) {
        /* Keep the smallest prefix (by descending prob) whose mass reaches top_p, always >= 1. */
        qsort_r(s->idx, (size_t)n, sizeof *s->idx, by_prob_desc, s->prob);
        double mass = 0.0, kept_total = 0.0;
        for (int i = 0; i < n; i++) {
            mass += s->prob[s->idx[i]];
        }
        int keep = 0;
        for (; keep < n; keep++) {
            kept_total += s->prob[s->idx[keep]];
            if (kept_total >= p->top_p * mass) {
                keep++;
                break;
            }
        }
        n = keep < 1 ? 1 : keep;
    }
    sum = 0.0;
    for (int i = 0; i < n; i++) {
        sum += s->prob[s->idx[i]];
    }
    double r = mot_sampler_uniform(s) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[s->idx[i]];
        if (r < acc) {
            return s->idx[i];
        }
    }
    return s->idx[n - 1];
}
