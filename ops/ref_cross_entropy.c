/* Reference cross-entropy over logit rows (kernels/cpu/backward.h), in double: for each row
 * whose target is >= 0, -log softmax(row)[target] = log sum_j exp(l_j - max) + max - l_target,
 * summed over the rows in row order and returned; dlogits (NULL: the loss only) =
 * scale (softmax(row) - onehot(target)) on those rows, 0 on the others (target < 0). */
#include <math.h>

#include "ops/ops.h"

/* logits, dlogits [n, vocab]; targets [n] */
double mot_ref_cross_entropy(float *dlogits, const float *logits, const int *targets, int n, int vocab,
                             float scale) {
    double total = 0.0;
    for (int t = 0; t < n; t++) {
        const float *l = logits + (int64_t)t * vocab;
        float *d = dlogits ? dlogits + (int64_t)t * vocab : NULL;
        const int target = targets[t];
        if (target < 0) {
            for (int j = 0; d && j < vocab; j++) {
                d[j] = 0.0f;
            }
            continue;
        }
        double mx = -INFINITY;
        for (int j = 0; j < vocab; j++) {
            mx = (double)l[j] > mx ? (double)l[j] : mx;
        }
        double sum = 0.0;
        for (int j = 0; j < vocab; j++) {
            sum += exp((double)l[j] - mx);
        }
        total += log(sum) + mx - (double)l[target];
        for (int j = 0; d && j < vocab; j++) {
            d[j] = (float)((double)scale * (exp((double)l[j] - mx) / sum - (j == target ? 1.0 : 0.0)));
        }
    }
    return total;
}
