/* Reference sampling (SPEC 1.5, kernels/cpu/sampler.h) given the uniform draw, and the step
 * advance: plain loops, a full sort, no selection tricks.
 *
 * The rule (the one both samplers document):
 *   temperature <= 0: arg-max: the first index of the largest value; NaN never wins, and a
 *     NaN at x[0] gives 0 (the scalar loop `if (x[i] > x[best]) best = i`).
 *   otherwise: p_i = expf((x_i - max) / T) in f32 (max = the arg-max's value); a p_i that is
 *     not in [0, 1] (NaN, inf logits) is 0. No mass at all: the arg-max. Candidates in the
 *     order (p descending, id ascending); top_k > 0 keeps the first top_k; top_p < 1 then
 *     keeps the shortest prefix whose running mass (double) reaches top_p * its mass (at
 *     least one); min_p > 0 then keeps those whose p >= min_p (f32 compare; the arg-max's p is
 *     1, so at least one: p / max p >= min_p, Hugging Face's MinPLogitsWarper and llama.cpp's
 *     min-p); r = u * kept mass, and the token is the first candidate in that order whose
 *     running mass exceeds r (the last one when rounding leaves none). */
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"

int mot_ref_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

static int by_prob_desc(const void *a, const void *b, void *ctx) {
    const float *p = ctx;
    const int ia = *(const int *)a, ib = *(const int *)b;
    if (p[ia] != p[ib]) {
        return p[ia] > p[ib] ? -1 : 1;
    }
    return (ia > ib) - (ia < ib);
}

int mot_ref_sample(const float *logits, int vocab, float temperature, int top_k, float top_p, float min_p, double u) {
    const int best = mot_ref_argmax(logits, vocab);
    if (temperature <= 0.0f) {
        return best;
    }
    float *p = malloc(sizeof(float) * (size_t)vocab);
    int *idx = malloc(sizeof(int) * (size_t)vocab);
    if (!p || !idx) {
        free(p), free(idx);
        return best;
    }
    const float mx = logits[best];
    double mass = 0.0;
    for (int i = 0; i < vocab; i++) {
        const float e = expf((logits[i] - mx) / temperature);
        p[i] = e >= 0.0f && e <= 1.0f ? e : 0.0f;
        mass += p[i];
        idx[i] = i;
    }
    int token = best;
    if (mass > 0.0) {
        qsort_r(idx, (size_t)vocab, sizeof(int), by_prob_desc, p);
        int n = top_k > 0 && top_k < vocab ? top_k : vocab;
        if (top_p < 1.0f) {
            double all = 0.0, run = 0.0;
            for (int i = 0; i < n; i++) {
                all += p[idx[i]];
            }
            int keep = 0;
            while (keep < n) {
                run += p[idx[keep++]];
                if (run >= (double)top_p * all) {
                    break;
                }
            }
            n = keep < 1 ? 1 : keep;
        }
        if (min_p > 0.0f) {
            int keep = 1;
            while (keep < n && p[idx[keep]] >= min_p) {
                keep++;
            }
            n = keep;
        }
        double kept = 0.0;
        for (int i = 0; i < n; i++) {
            kept += p[idx[i]];
        }
        const double r = u * kept;
        double acc = 0.0;
        token = idx[n - 1];
        for (int i = 0; i < n; i++) {
            acc += p[idx[i]];
            if (r < acc) {
                token = idx[i];
                break;
            }
        }
    }
    free(p), free(idx);
    return token;
}

/* The uniform double in [0, 1) that a sampler whose xoshiro256** state is rng draws next
 * (runtime/sampler.c: the top 53 bits of the next output); rng is advanced. */
void mot_ref_penalize(float *logits, int vocab, const int *hist, int n, float repeat, float presence, float frequency) {
    const float r = repeat > 0.0f ? repeat : 1.0f;
    for (int i = 0; i < n; i++) {
        const int t = hist[i];
        int seen = 0, c = 0;
        for (int j = 0; j < n; j++) {
            seen |= j < i && hist[j] == t;
            c += hist[j] == t;
        }
        if (seen || t < 0 || t >= vocab) {
            continue;
        }
        const float x = logits[t] <= 0.0f ? logits[t] * r : logits[t] / r;
        logits[t] = x - (float)c * frequency - presence;
    }
}

double mot_ref_uniform(uint64_t rng[4]) {
    const uint64_t s0 = rng[0], s1 = rng[1], s2 = rng[2], s3 = rng[3];
    const uint64_t x = s1 * 5, result = ((x << 7) | (x >> 57)) * 9, t = s1 << 17;
    rng[2] = s2 ^ s0;
    rng[3] = s3 ^ s1;
    rng[1] = s1 ^ rng[2];
    rng[0] = s0 ^ rng[3];
    rng[2] ^= t;
    rng[3] = (rng[3] << 45) | (rng[3] >> 19);
    return (double)(result >> 11) * 0x1.0p-53;
}

static int is_eos(const int *eos, int token) {
    for (int e = 0; e < MOT_MAX_EOS && eos[e] >= 0; e++) {
        if (eos[e] == token) {
            return 1;
        }
    }
    return 0;
}

/* STEP_ADVANCE (scheduler/plan.h): every lane fed this pass moves pos and rows on by n_new; a
 * non-primary that sampled one of its EOS ids dies (unless ignore_eos); the next pass feeds
 * one token to each alive lane; prefill ends; step counts the pass. */
void mot_ref_step_advance(mot_step_state *s, const int eos[][MOT_MAX_EOS], int ignore_eos) {
    for (int i = 0; i < s->n_lanes; i++) {
        mot_lane_step *l = &s->lane[i];
        if (l->n_new > 0) {
            l->pos += l->n_new;
            l->rows += l->n_new;
            if (i > 0 && !ignore_eos && is_eos(eos[i], l->token)) {
                l->alive = 0;
            }
        }
        l->n_new = l->alive ? 1 : 0;
    }
    s->prefill = 0;
    s->step++;
}
