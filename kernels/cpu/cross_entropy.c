/* Cross-entropy over logit rows (kernels/cpu/backward.h), in double per row: max-subtracted
 * log-sum-exp, each exp computed once (kept in dlogits, then scaled). The rows' losses go
 * into a buffer and are added in row order, so the total does not depend on the threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/team.h"

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

/* The rows over the team; *total the sum of their losses (every thread writes the same). */
static void cross_entropy_rows(float *dlogits, const float *logits, const int *targets, int n, int vocab,
                               float scale, double *total) {
    double *loss; /* one buffer for the team */
#pragma omp single copyprivate(loss)
    loss = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
#pragma omp for schedule(static)
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
    double sum = 0.0;
#pragma omp single copyprivate(sum)
    {
        if (loss) {
            for (int t = 0; t < n; t++) {
                sum += loss[t];
            }
        } else { /* out of memory: the losses again, in order on this thread */
            for (int t = 0; t < n; t++) {
                if (targets[t] >= 0) {
                    sum += row_loss(NULL, logits + (int64_t)t * vocab, targets[t], vocab, scale);
                }
            }
        }
        free(loss);
    }
    /* a team's threads each return their own total; a region of the kernel's own shares one */
#pragma omp atomic write
    *total = sum;
}

/* logits, dlogits [n, vocab]; targets [n] */
double mot_cpu_cross_entropy(float *dlogits, const float *logits, const int *targets, int n, int vocab,
                             float scale) {
    double total = 0.0;
    MOT_TEAM_RUN(n > 1, cross_entropy_rows(dlogits, logits, targets, n, vocab, scale, &total));
    return total;
}
