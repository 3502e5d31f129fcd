/* Inverted dropout with a counter-based mask (ops/plan_op.h, mot_op_dropout): element i's draw
 * is mot_splitmix64's (i+1)-th from `seed`, computed directly from i, so the team splits the
 * elements any way and the mask is the same. */
#include "common/rng.h"
#include "kernels/cpu/backward.h"
#include "kernels/cpu/team.h"

static void dropout_elems(float *out, const float *x, int64_t count, float p, uint64_t seed) {
    const float scale = 1.0f / (1.0f - p);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; i++) {
        uint64_t s = seed + (uint64_t)i * 0x9e3779b97f4a7c15ull; /* the state before draw i + 1 */
        const double u = (double)(mot_splitmix64(&s) >> 11) * 0x1.0p-53;
        out[i] = u >= p ? x[i] * scale : 0.0f;
    }
}

void mot_cpu_dropout(float *out, const float *x, int64_t count, float p, uint64_t seed) {
    MOT_TEAM_RUN(count > 16384, dropout_elems(out, x, count, p, seed));
}
