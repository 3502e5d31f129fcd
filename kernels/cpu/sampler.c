#include "kernels/cpu/sampler.h"

#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    s->tmp = malloc(3 * (size_t)vocab * sizeof *s->tmp);
    s->hist = NULL, s->count = NULL, s->pen = NULL;
    s->hist_n = s->hist_cap = s->hist_head = 0;
    s->n_seen = 0;
    if (mot_sampler_penalizes(p)) {
        /* grows as tokens come, up to repeat_last_n (a window of 16M tokens costs nothing
         * until a run sees that many) */
        s->hist_cap = p->repeat_last_n > 0 && p->repeat_last_n < 256 ? p->repeat_last_n : 256;
        s->hist = malloc((size_t)s->hist_cap * sizeof *s->hist);
        s->count = calloc((size_t)vocab, sizeof *s->count);
        s->pen = malloc((size_t)vocab * sizeof *s->pen);
        if (!s->hist || !s->count || !s->pen) {
            mot_sampler_free(s);
            return mot_fail(MOT_ERR_NOMEM, "sampler: out of memory");
        }
    }
    if (!s->idx || !s->prob || !s->tmp) {
        mot_sampler_free(s);
        return mot_fail(MOT_ERR_NOMEM, "sampler: out of memory");
    }
    return MOT_OK;
}

void mot_sampler_free(mot_sampler *s) {
    free(s->idx);
    free(s->prob);
    free(s->tmp);
    free(s->hist);
    free(s->count);
    free(s->pen);
    s->idx = NULL;
    s->prob = NULL;
    s->tmp = NULL;
    s->hist = NULL;
    s->count = NULL;
    s->pen = NULL;
}

int mot_sampler_penalizes(const mot_sampler_params *p) {
    return p->repeat_last_n != 0 &&
           ((p->repeat_penalty > 0.0f && p->repeat_penalty != 1.0f) || p->presence_penalty != 0.0f ||
            p->frequency_penalty != 0.0f);
}

/* ---- the penalties' history ---------------------------------------------------------------- */

void mot_sampler_accept(mot_sampler *s, int token) {
    if (!s->count || token < 0 || token >= s->vocab) {
        return;
    }
    const int window = s->params.repeat_last_n; /* > 0, or -1: every token */
    if (window > 0 && s->hist_n == window) { /* a full ring (appended in order, so the oldest
                                                was hist[0] when it filled): the oldest goes */
        s->count[s->hist[s->hist_head]]--;
        s->hist[s->hist_head] = token;
        s->hist_head = (s->hist_head + 1) % window;
    } else {
        if (s->hist_n == s->hist_cap) {
            const size_t cap = window > 0 && (size_t)window < 2 * (size_t)s->hist_cap ? (size_t)window
                                                                                     : 2 * (size_t)s->hist_cap;
            int *h = cap <= INT_MAX ? realloc(s->hist, cap * sizeof *h) : NULL;
            if (!h) {
                return; /* keeps the tokens it has: penalties over fewer, never a crash */
            }
            s->hist = h, s->hist_cap = (int)cap;
        }
        s->hist[s->hist_n++] = token;
    }
    s->count[token]++;
    s->n_seen++;
}

int mot_sampler_penalty_pairs(mot_sampler *s, int *pairs) {
    if (!s->count) {
        return 0;
    }
    int n = 0;
    for (int i = 0; i < s->hist_n; i++) { /* a count negated once its pair is out */
        const int t = s->hist[i], c = s->count[t];
        if (c > 0) {
            pairs[2 * n] = t, pairs[2 * n + 1] = c;
            s->count[t] = -c;
            n++;
        }
    }
    for (int i = 0; i < n; i++) {
        s->count[pairs[2 * i]] = pairs[2 * i + 1];
    }
    return n;
}

static void reverse_ints(int *a, int n) {
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        const int t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

void mot_sampler_forget(mot_sampler *s, long long n) {
    if (!s->count || n <= 0) {
        return;
    }
    if (s->hist_head) { /* the ring in order, oldest first (a rotation by three reversals) */
        reverse_ints(s->hist, s->hist_head);
        reverse_ints(s->hist + s->hist_head, s->hist_n - s->hist_head);
        reverse_ints(s->hist, s->hist_n);
        s->hist_head = 0;
    }
    const int m = n < s->hist_n ? (int)n : s->hist_n;
    for (int i = s->hist_n - m; i < s->hist_n; i++) {
        s->count[s->hist[i]]--;
    }
    s->hist_n -= m;
    s->n_seen = n < s->n_seen ? s->n_seen - n : 0;
}

void mot_sampler_reset_history(mot_sampler *s) {
    if (!s->count) {
        return;
    }
    for (int i = 0; i < s->hist_n; i++) {
        s->count[s->hist[i]] = 0;
    }
    s->hist_n = s->hist_head = 0;
    s->n_seen = 0;
}

/* s->pen = logits with every distinct token of the window penalized once (llama.cpp's order:
 * the repeat penalty, then the frequency and presence terms), from the window's (token, count)
 * pairs as the CUDA backend hands them over (mot_sampler_penalty_pairs, into s->tmp, free until
 * the draw sorts). */
static const float *penalize(mot_sampler *s, const float *logits) {
    const mot_sampler_params *p = &s->params;
    const float r = p->repeat_penalty > 0.0f ? p->repeat_penalty : 1.0f;
    memcpy(s->pen, logits, (size_t)s->vocab * sizeof *s->pen);
    const int *pairs = s->tmp, n = mot_sampler_penalty_pairs(s, s->tmp);
    for (int i = 0; i < n; i++) {
        const int t = pairs[2 * i], c = pairs[2 * i + 1];
        float x = s->pen[t];
        x = x <= 0.0f ? x * r : x / r;
        s->pen[t] = x - (float)c * p->frequency_penalty - p->presence_penalty;
    }
    return s->pen;
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

/* expf's result as a probability: NaN or inf logits (a broken checkpoint, an f16 overflow)
 * must not reach the ordering, so such a token gets probability 0. */
static inline float prob_of(float a) {
    const float q = expf(a);
    return q >= 0.0f && q <= 1.0f ? q : 0.0f;
}

/* Whether candidate a ranks after b: lower probability, or the same and a higher id. */
static inline int ranks_after(const float *prob, int a, int b) {
    return prob[a] < prob[b] || (prob[a] == prob[b] && a > b);
}

/* h[0..k): a heap whose root ranks last; restores it below position i. */
static void sift_down(int *h, int k, int i, const float *prob) {
    for (;;) {
        int c = 2 * i + 1, worst = i;
        if (c < k && ranks_after(prob, h[c], h[worst])) worst = c;
        if (c + 1 < k && ranks_after(prob, h[c + 1], h[worst])) worst = c + 1;
        if (worst == i) return;
        const int t = h[i];
        h[i] = h[worst], h[worst] = t, i = worst;
    }
}

/* Top-k: idx[0..k) = the k first candidates in (p desc, id asc) order, sorted; prob[] holds
 * their p (and only theirs is read after). One pass in id order keeps the k best in a heap,
 * so a later id with the probability of the heap's last never enters (it ranks after), which
 * is the order's tie rule. Most ids are skipped on their argument a = (x - max) / T alone:
 * once a < a_last - 2^-16, the true exp ratio exceeds 1 + 1.5e-5, far past expf's error (glibc:
 * < 1 ULP, 1.2e-7 relative where p_last is a normal float, which a_last > -80 makes sure), so
 * its p cannot rank before the heap's last. 49152 logits, k = 40, top-p 0.95: 1035 -> 29 us a
 * draw. (The quickselect through a comparator and an expf for every id had been ~3% of perf's
 * samples in a SmolLM2 `mot run` at its defaults, one thread drawing while the other waits;
 * now 0.2%.) */
static void select_top_k(mot_sampler *s, const float *logits, float max, int k) {
    const float t = s->params.temperature;
    const int v = s->vocab;
    int *h = s->idx;
    float *prob = s->prob;
    for (int i = 0; i < k; i++) {
        prob[i] = prob_of((logits[i] - max) / t);
        h[i] = i;
    }
    for (int i = k / 2 - 1; i >= 0; i--) {
        sift_down(h, k, i, prob);
    }
    const __m256 vmax = _mm256_set1_ps(max), vt = _mm256_set1_ps(t);
    int i = k;
    for (;;) {
        const float a_last = (logits[h[0]] - max) / t;
        const float a_cut = a_last > -80.0f ? a_last - 0x1p-16f : -INFINITY; /* ids below it are skipped */
        /* the next id whose argument is not below a_cut (8 at a time; NaN counts as not below) */
        const __m256 vcut = _mm256_set1_ps(a_cut);
        int next = v;
        for (; i + 8 <= v; i += 8) {
            const __m256 a = _mm256_div_ps(_mm256_sub_ps(_mm256_loadu_ps(logits + i), vmax), vt);
            const int m = _mm256_movemask_ps(_mm256_cmp_ps(a, vcut, _CMP_NLT_UQ));
            if (m) {
                next = i + __builtin_ctz((unsigned)m);
                break;
            }
        }
        if (next == v) {
            for (; i < v; i++) {
                if (!((logits[i] - max) / t < a_cut)) {
                    next = i;
                    break;
                }
            }
        }
        if (next >= v) {
            break;
        }
        prob[next] = prob_of((logits[next] - max) / t);
        if (ranks_after(prob, h[0], next)) {
            h[0] = next;
            sift_down(h, k, 0, prob);
        }
        i = next + 1;
    }
    qsort_r(h, (size_t)k, sizeof *h, by_prob_desc, prob);
}

/* idx[0..n), given in id order, into (p desc, id asc) order: a stable LSD radix sort of (key,
 * id) pairs on the key ~bits(p) (p is non-negative, so its bits order as it does; complemented
 * for descending), 11 bits a pass; a pass where every key has the same digit is skipped.
 * 49152 ids, top-p alone: 8.9-9.8 ms a draw with qsort_r -> 1.1-1.3 ms (a third of it expf). */
static void sort_ids(mot_sampler *s, int v) {
    int *id = s->idx, *id2 = s->tmp;
    uint32_t *key = (uint32_t *)(s->tmp + v), *key2 = key + v;
    for (int i = 0; i < v; i++) {
        uint32_t bits;
        memcpy(&bits, &s->prob[id[i]], sizeof bits);
        key[i] = ~bits;
    }
    for (int shift = 0; shift < 32; shift += 11) {
        int count[2049] = {0};
        for (int i = 0; i < v; i++) {
            count[(key[i] >> shift & 0x7ff) + 1]++;
        }
        int same = 0;
        for (int d = 1; d <= 2048; d++) {
            same |= count[d] == v;
            count[d] += count[d - 1];
        }
        if (same) {
            continue;
        }
        for (int i = 0; i < v; i++) {
            const int to = count[key[i] >> shift & 0x7ff]++;
            key2[to] = key[i];
            id2[to] = id[i];
        }
        uint32_t *tk = key;
        key = key2, key2 = tk;
        int *ti = id;
        id = id2, id2 = ti;
    }
    if (id != s->idx) {
        memcpy(s->idx, id, (size_t)v * sizeof *id);
    }
}

static int draw(mot_sampler *s, const float *logits) {
    const mot_sampler_params *p = &s->params;
    const int v = s->vocab;
    if (p->temperature <= 0.0f) {
        return mot_argmax(logits, v);
    }
    /* p_i = expf((x_i - max) / T). There is mass at all exactly when the arg-max's own p,
     * expf(0 / T), is not 0: 1 for a finite max and T, else every p is 0 (an infinite or NaN
     * max or T makes every argument NaN or -inf). */
    const int best = mot_argmax(logits, v);
    const float max = logits[best];
    if (!(prob_of((max - max) / p->temperature) > 0.0f)) {
        return best; /* nothing sampleable: the arg-max, as greedy would */
    }
    int n = v;
    if (p->top_k > 0 && p->top_k < n) {
        n = p->top_k;
        select_top_k(s, logits, max, n); /* sorted: the draw walks (prob desc, id asc), as the
                                            CUDA sampler and ops/ref_sample.c do */
    } else {
        for (int i = 0; i < v; i++) {
            s->prob[i] = prob_of((logits[i] - max) / p->temperature);
            s->idx[i] = i;
        }
        if (p->top_p < 1.0f) {
            sort_ids(s, v);
        } else if (p->min_p > 0.0f) {
            /* min-p alone: its candidates (usually a handful) gathered in id order, then sorted */
            n = 0;
            for (int i = 0; i < v; i++) {
                if (s->prob[i] >= p->min_p) {
                    s->idx[n++] = i;
                }
            }
            sort_ids(s, n);
        }
    }
    if (p->top_p < 1.0f) {
        /* Keep the smallest prefix (by descending prob) whose mass reaches top_p, always >= 1. */
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
    if (p->min_p > 0.0f) {
        /* the prefix with p >= min_p: at least the arg-max, whose p is 1 */
        int keep = 1;
        while (keep < n && s->prob[s->idx[keep]] >= p->min_p) {
            keep++;
        }
        n = keep;
    }
    double sum = 0.0;
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

int mot_sample(mot_sampler *s, const float *logits) { return draw(s, s->count ? penalize(s, logits) : logits); }
