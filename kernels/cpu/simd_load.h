/* AVX2 loaders: 8 consecutive weights of any storage dtype as 8 f32 lanes.
 * Pointers may be unaligned (weights sit at any 2-byte offset of a mapped file).
 * Callers pass a compile-time-constant dtype into always-inline code, so each dtype gets
 * its own specialised loop without a copied function body. */
#ifndef MOT_KERNELS_CPU_SIMD_LOAD_H
#define MOT_KERNELS_CPU_SIMD_LOAD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "common/half.h"
#include "common/tensor.h"

#define MOT_INLINE static inline __attribute__((always_inline))

/* bf16 is the top half of an f32: widen to 32 bits and shift left by 16. */
MOT_INLINE __m256 mot_load8_bf16(const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

MOT_INLINE __m256 mot_load8_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* Elements [i, i+8) of a row stored as dt (F32, F16 or BF16). */
MOT_INLINE __m256 mot_load8(const void *row, int64_t i, mot_dtype dt) {
    if (dt == MOT_DTYPE_F32) {
        return _mm256_loadu_ps((const float *)row + i);
    }
    if (dt == MOT_DTYPE_F16) {
        return mot_load8_f16((const uint16_t *)row + i);
    }
    return mot_load8_bf16((const uint16_t *)row + i);
}

/* Element i of a row stored as dt, for the tails. */
MOT_INLINE float mot_load1(const void *row, int64_t i, mot_dtype dt) {
    if (dt == MOT_DTYPE_F32) {
        float f;
        memcpy(&f, (const float *)row + i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const uint16_t *)row + i, 2);
    return dt == MOT_DTYPE_F16 ? mot_f16_to_f32(h) : mot_bf16_to_f32(h);
}

/* Bytes per element of a weight dtype (F32, F16, BF16). */
MOT_INLINE int64_t mot_weight_elem_size(mot_dtype dt) { return dt == MOT_DTYPE_F32 ? 4 : 2; }

/* Sum of the 8 lanes. */
MOT_INLINE float mot_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
