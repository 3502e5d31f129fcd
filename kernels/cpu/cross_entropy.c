/* Cross-entropy over logit rows (kernels/cpu/backward.h), in double per row: max-subtracted
 * log-sum-exp, each exp computed once (kept in dlogits, then scaled). The rows' losses go
 * into a buffer and are added in row order, so the total does not depend on the threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/backward.h"

/* One row: -log softmax(l)[target]; d (may be NULL) = scale (softmax(l) - onehot(target)). */
static double row_loss(float *d, const float *l, int target, int vocab, float scale) {
    float mx = l[0];
    for (int j = 1; j < vocab; j++) {
        mx = l[j] > mx ? l[j] : mx;
    }
    double sum = 0.0;
    for (int j = 0; j < vocab; j++) {
        const double e = exp((double)l[j] - mx);
        sum += e;
        if (d) {
            d[j] = (float)e;
        }
    }
    if (d) {
        const double k = scale / sum;
        for (int j = 0; j < vocab; j++) {
            d[j] = (float)(d[j] * k);
        }
        d[target] = (float)(exp((double)l[target] - mx) * k - scale);
    }
    return log(sum) + mx - l[target];
}

/* logits, dlogits [n, vocab]; targets [n] */
double mot_cpu_cross_entropy(float *dlogits, const float *logits, const int *targets, int n, int vocab,
                             float scale) {
    double *loss = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    double total = 0.0;
#pragma omp parallel for schedule(static) if (n > 1)
    for (int t = 0; t < n; t++) {
        float *d = dlogits ? dlogits + (int64_t)t * vocab : NULL;
        double lt = 0.0;
        if (targets[t] >= 0) {
            lt = row_loss(d, logits + (int64_t)t * vocab, targets[t], vocab, scale);
        } else if (d) {
            memset(d, 0, sizeof(float) * (size_t)vocab);
        }
        if (loss) {
            loss[t] = lt;
        }
    }
    if (loss) {
        for (int t = 0; t < n; t++) {
            total += loss[t];
        }
    } else { /* out of memory: the losses again, in order on this thread */
        for (int t = 0; t < n; t++) {
            if (targets[t] >= 0) {
                total += row_loss(NULL, logits + (int64_t)t * vocab, targets[t], vocab, scale);
            }
        }
    }
    free(loss);
    return total;
}
