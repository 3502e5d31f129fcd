/* A logits row's softmax normalizer, shared by perplexity (the NLL of the next token) and the
 * KL divergence (log-probabilities of every token): one pass for the max and the first
 * arg-max, one of exp in double. log p_i = x_i - log_z. */
#ifndef MOT_RUNTIME_ROW_SOFTMAX_H
#define MOT_RUNTIME_ROW_SOFTMAX_H

#include <math.h>

typedef struct {
    float max;    /* the largest logit */
    int arg;      /* its first id */
    double log_z; /* max + log sum_i exp(x_i - max); NaN when the row holds NaN or inf */
} mot_row_softmax;

static inline mot_row_softmax mot_row_softmax_of(const float *x, int n) {
    mot_row_softmax r = {x[0], 0, 0.0};
    int finite = 1;
    for (int i = 0; i < n; i++) {
        finite &= isfinite(x[i]) != 0;
        if (x[i] > r.max) r.max = x[i], r.arg = i;
    }
    if (!finite) {
        r.log_z = NAN;
        return r;
    }
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - (double)r.max);
    r.log_z = (double)r.max + log(sum);
    return r;
}

#endif
