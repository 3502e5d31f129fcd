/* AVX2 exp for the softmax and SiLU: Cody-Waite range reduction (x = n ln2 + r,
 * |r| <= ln2/2) and a degree-7 polynomial for e^r (the classic Cephes expf coefficients),
 * then 2^n put into the exponent bits. Max relative error ~2 ulp over the normal range,
 * checked against double exp in tests/ops. Inputs below -86.9 (results < 2e-38, where
 * 2^n would need a subnormal) give 0; above 88.72, +inf (so silu(-large) = g / inf = -0,
 * as with expf). */
#ifndef MOT_KERNELS_CPU_SIMD_MATH_H
#define MOT_KERNELS_CPU_SIMD_MATH_H

#include <immintrin.h>

#include "kernels/cpu/simd_load.h"

MOT_INLINE __m256 mot_exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7228317f), lo = _mm256_set1_ps(-86.9f);
    __m256 too_big = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    __m256 too_small = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    /* n = round(x / ln2); r = x - n ln2 with ln2 split in two for accuracy */
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n: n + 127 in the exponent field. At xc = hi, n = 128 would overflow the field, so
     * scale by 2^(n-1) and double. */
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(126)), 23);
    __m256 result = _mm256_mul_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), _mm256_set1_ps(2.0f));
    result = _mm256_blendv_ps(result, _mm256_set1_ps(__builtin_inff()), too_big);
    return _mm256_andnot_ps(too_small, result);
}

#endif
