/* Vectors of VL floats for the quantized dots (kernels/cpu/quant_dot*.c): 16 lanes with
 * AVX-512, 8 without, so one dot's code serves both; int32 lanes (vi) for the codes, and the
 * small integer operations the per-type decoders need. Private to kernels/cpu. */
#ifndef MOT_KERNELS_CPU_QUANT_VEC_H
#define MOT_KERNELS_CPU_QUANT_VEC_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "common/tensor.h"
#include "kernels/cpu/simd_load.h"

#if defined(__AVX512F__)
enum { VL = 16 };
typedef __m512 vf;
typedef __m512i vi;
MOT_INLINE vf vf_zero(void) { return _mm512_setzero_ps(); }
MOT_INLINE vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
MOT_INLINE void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
MOT_INLINE vf vf_set1(float f) { return _mm512_set1_ps(f); }
MOT_INLINE vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
MOT_INLINE vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
MOT_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
MOT_INLINE float vf_sum(vf v) { return _mm512_reduce_add_ps(v); }
/* VL bytes as int32 lanes */
MOT_INLINE vi vi_u8(const uint8_t *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)); }
MOT_INLINE vi vi_i8(const uint8_t *p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)); }
MOT_INLINE vf vi_to_f(vi v) { return _mm512_cvtepi32_ps(v); }

/* nibble value n (the low 4 bits of each lane, or the next 4 when hi) as the float n + off */
typedef struct {
    vf t;
} nib_lut;
MOT_INLINE nib_lut nib_lut_make(float off) {
    nib_lut l;
    l.t = _mm512_add_ps(_mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_ps(off));
    return l;
}
MOT_INLINE vf nib_f(vi bytes, int hi, nib_lut l) {
    return _mm512_permutexvar_ps(hi ? _mm512_srli_epi32(bytes, 4) : bytes, l.t);
}
/* (nibble of ql) | (bit s of qh) << 4, 0..31, as a float */
MOT_INLINE vf nib5_f(vi ql, int hi, vi qh, int s) {
    const vf t0 = _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const vf t1 = _mm512_add_ps(t0, _mm512_set1_ps(16.0f));
    vi lo = hi ? _mm512_srli_epi32(ql, 4) : ql;
    vi h = s <= 4 ? _mm512_slli_epi32(qh, 4 - s) : _mm512_srli_epi32(qh, s - 4);
    /* bits 0-3 from lo, bit 4 from h (0xE4: mask ? lo : h, bitwise); the permute reads 5 bits */
    vi idx = _mm512_ternarylogic_epi32(lo, h, _mm512_set1_epi32(0x0F), 0xE4);
    return _mm512_permutex2var_ps(t0, idx, t1);
}
/* ((ql >> ls) & 15) | ((qh >> hs) & 3) << 4, minus 32, as a float */
MOT_INLINE vf q6_f(vi ql, int ls, vi qh, int hs) {
    vi lo = ls ? _mm512_srli_epi32(ql, ls) : ql;
    vi h = hs <= 4 ? _mm512_slli_epi32(qh, 4 - hs) : _mm512_srli_epi32(qh, hs - 4);
    vi q = _mm512_and_si512(_mm512_ternarylogic_epi32(lo, h, _mm512_set1_epi32(0x0F), 0xE4), _mm512_set1_epi32(63));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32(32)));
}
#else
enum { VL = 8 };
typedef __m256 vf;
typedef __m256i vi;
MOT_INLINE vf vf_zero(void) { return _mm256_setzero_ps(); }
MOT_INLINE vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
MOT_INLINE void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
MOT_INLINE vf vf_set1(float f) { return _mm256_set1_ps(f); }
MOT_INLINE vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
MOT_INLINE vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
MOT_INLINE vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
MOT_INLINE float vf_sum(vf v) { return mot_hsum8(v); }
MOT_INLINE vi vi_u8(const uint8_t *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
MOT_INLINE vi vi_i8(const uint8_t *p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)); }
MOT_INLINE vf vi_to_f(vi v) { return _mm256_cvtepi32_ps(v); }

typedef struct {
    vf off;
    int add; /* off != 0 (adding 0.0f is not dropped by the compiler: -0.0f + 0.0f is +0.0f) */
} nib_lut;
MOT_INLINE nib_lut nib_lut_make(float off) {
    nib_lut l = {_mm256_set1_ps(off), off != 0.0f};
    return l;
}
MOT_INLINE vf nib_f(vi bytes, int hi, nib_lut l) {
    vi v = _mm256_and_si256(hi ? _mm256_srli_epi32(bytes, 4) : bytes, _mm256_set1_epi32(15));
    return l.add ? _mm256_add_ps(_mm256_cvtepi32_ps(v), l.off) : _mm256_cvtepi32_ps(v); /* exact: small integers */
}
MOT_INLINE vf nib5_f(vi ql, int hi, vi qh, int s) {
    vi lo = _mm256_and_si256(hi ? _mm256_srli_epi32(ql, 4) : ql, _mm256_set1_epi32(15));
    vi h = _mm256_and_si256(_mm256_slli_epi32(_mm256_srli_epi32(qh, s), 4), _mm256_set1_epi32(16));
    return _mm256_cvtepi32_ps(_mm256_or_si256(lo, h));
}
MOT_INLINE vf q6_f(vi ql, int ls, vi qh, int hs) {
    vi lo = _mm256_and_si256(_mm256_srli_epi32(ql, ls), _mm256_set1_epi32(15));
    vi h = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(qh, hs), _mm256_set1_epi32(3)), 4);
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_or_si256(lo, h), _mm256_set1_epi32(32)));
}
#endif

/* ---- small integer operations on the lanes (both widths) ------------------------------- */

#if defined(__AVX512F__)
MOT_INLINE vi vi_set1(int v) { return _mm512_set1_epi32(v); }
MOT_INLINE vi vi_and(vi a, vi b) { return _mm512_and_si512(a, b); }
MOT_INLINE vi vi_or(vi a, vi b) { return _mm512_or_si512(a, b); }
MOT_INLINE vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
MOT_INLINE vi vi_shr(vi a, int n) { return _mm512_srli_epi32(a, (unsigned)n); }
MOT_INLINE vi vi_shl(vi a, int n) { return _mm512_slli_epi32(a, (unsigned)n); }
MOT_INLINE vi vi_shrv(vi a, vi n) { return _mm512_srlv_epi32(a, n); }
MOT_INLINE vi vi_lanes(int start) { /* start, start + 1, ... */
    return _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(start));
}
/* bytes VL * part .. VL * part + VL - 1 of v, sign-extended */
MOT_INLINE vi vi_i8_of(__m128i v, int part) { return (void)part, _mm512_cvtepi8_epi32(v); }
#else
MOT_INLINE vi vi_set1(int v) { return _mm256_set1_epi32(v); }
MOT_INLINE vi vi_and(vi a, vi b) { return _mm256_and_si256(a, b); }
MOT_INLINE vi vi_or(vi a, vi b) { return _mm256_or_si256(a, b); }
MOT_INLINE vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
MOT_INLINE vi vi_shr(vi a, int n) { return _mm256_srli_epi32(a, n); }
MOT_INLINE vi vi_shl(vi a, int n) { return _mm256_slli_epi32(a, n); }
MOT_INLINE vi vi_shrv(vi a, vi n) { return _mm256_srlv_epi32(a, n); }
MOT_INLINE vi vi_lanes(int start) {
    return _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(start));
}
MOT_INLINE vi vi_i8_of(__m128i v, int part) { return _mm256_cvtepi8_epi32(part ? _mm_unpackhi_epi64(v, v) : v); }
#endif

MOT_INLINE float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* Q3_K's 16 six-bit scales less 32 (signed bytes) from its 12 bytes as three words a, b, c:
 * scales 0-3 and 8-11 take their low 4 bits from a's low and high nibbles, 4-7 and 12-15 from
 * b's, and their top 2 bits from c's bit pairs 0, 1, 2, 3 of each byte in turn */
MOT_INLINE __m128i q3_k_scale_bytes(const uint8_t *s) {
    uint32_t a, b, c;
    memcpy(&a, s, 4), memcpy(&b, s + 4, 4), memcpy(&c, s + 8, 4);
    const uint32_t low4 = 0x0f0f0f0fu, top2 = 0x03030303u;
    const __m128i w = _mm_setr_epi32((int)((a & low4) | (c & top2) << 4), (int)((b & low4) | ((c >> 2) & top2) << 4),
                                     (int)(((a >> 4) & low4) | ((c >> 4) & top2) << 4),
                                     (int)(((b >> 4) & low4) | ((c >> 6) & top2) << 4));
    return _mm_sub_epi8(w, _mm_set1_epi8(32));
}

/* ---- the 2- and 3-bit K types (kernels/cpu/quant_dot_k23.c) ----------------------------
 * The dots of quant.h's mot_quant_dot_fn, and nb blocks dequantized bit for bit as
 * ops/ref_quant.c does (dt Q2_K or Q3_K). */
float mot_cpu_dot_q2_k(const void *row, const float *x, const float *xs, int64_t cols);
float mot_cpu_dot_q3_k(const void *row, const float *x, const float *xs, int64_t cols);
void mot_cpu_dequant_k23(mot_dtype dt, const uint8_t *p, int64_t nb, float *out);
/* A block's 16 sub-block scales dw and offsets dm (w = dw q + dm with Q2_K's codes 0..3,
 * Q3_K's -4..3), each product rounded once as the reference rounds it. */
void mot_cpu_k23_scales(mot_dtype dt, const uint8_t *b, float dw[16], float dm[16]);

#endif
