/* LATENT_APPEND: a stack's latent keys/values into its caches, one row per thread. */
#include <string.h>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/team.h"

static void latent_append_body(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0) {
#pragma omp for schedule(static)
    for (int t = 0; t < n; t++) {
        memcpy(kc + (int64_t)(rows0 + t) * d, k + (int64_t)t * d, sizeof(float) * d);
        memcpy(vc + (int64_t)(rows0 + t) * d, v + (int64_t)t * d, sizeof(float) * d);
    }
}

void mot_cpu_latent_append(float *kc, float *vc, const float *k, const float *v, int n, int d, int rows0) {
    MOT_TEAM_RUN(0, latent_append_body(kc, vc, k, v, n, d, rows0));
}
