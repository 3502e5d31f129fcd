/* Reference DROPOUT (ops/plan_op.h mot_op_dropout; kernels/cpu/dropout.c, kernels/cuda/dropout.cu):
 * element i is kept iff u_i >= p, u_i the (i+1)-th draw of splitmix64 from state `seed`:
 *   state = seed + (i + 1) * 0x9e3779b97f4a7c15,
 *   z = state; z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9; z = (z ^ z >> 27) * 0x94d049bb133111eb;
 *   z ^= z >> 31;  u = (z >> 11) * 2^-53  (53 bits, in [0, 1)),
 * and a kept element is x * (1 / (1 - p)) (one f32 multiply by the f32 scale), a dropped one 0.
 * The arithmetic is written out here, not taken from common/rng.h, so it checks the kernels'
 * draws. out may be x. */
#include "ops/ops.h"

void mot_ref_dropout(float *out, const float *x, int64_t count, float p, uint64_t seed) {
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < count; i++) {
        uint64_t z = seed + ((uint64_t)i + 1) * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        const double u = (double)(z >> 11) / 9007199254740992.0; /* 2^53 */
        out[i] = u >= (double)p ? x[i] * scale : 0.0f;
    }
}
