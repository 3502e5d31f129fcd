/* Dot products and dequantization of ggml's quantized rows (kernels/cpu/quant.h).
 *
 * Measured (2-vCPU Xeon VM, AVX-512, 2.3 GHz; the machine was shared with a load average of
 * 6-11 on its 2 cores during every run, so wall-clock figures are low and noisy; full tables
 * in tests/ops/bench_results.md):
 *   one row dot, 256 x 2048 rows hot in L2, thread CPU time (so other load counts less),
 *   GB/s of weight bytes per core (G elements/s):
 *     Q4_0 9.3 (16.5)  Q4_1 7.0 -> 7.6 with the gathered scales  Q8_0 17.3 (16.3)
 *     Q4_K 5.1 -> 9.1 (16.2) with the word-level scale decode    Q5_K 5.9 (8.6)  Q6_K 4.3 (5.2)
 *   decode GEMV, 2 threads, weights rotating over 1 GiB (DRAM): 1.1-2.6 GB/s, 20-31% of the
 *   probe's 6.2-8.7 GB/s, where the bf16 GEMV read the same way reached 51-55% (3.2-3.4
 *   GB/s): under that load neither is near memory; the 80% goal is unverified (see
 *   bench_results.md).
 *   prefill GEMM (dequantizing in the packing), n = 64, 2 threads, quiet moments: 96-130
 *   GFLOP/s on 576x576 / 1536x576 against 106 for the f32 GEMM on the same shape.
 *
 * How: every element becomes an f32 in a register and meets x in an FMA; the per-block
 * scales are applied once per block (or sub-block) to a vector of partial sums, and the
 * offsets (Q4_1's m, the K types' mins) through the per-token block sums of x. With
 * AVX-512 a 4-bit value becomes its float by one permute (vpermps reads only the low 4 bits
 * of each index, so no mask and no int->float conversion: the table holds the 16 floats),
 * and Q5_K's 5-bit values by a two-table permute (vpermt2ps, low 5 bits); Q8_0 and Q6_K
 * convert int32 lanes. Without AVX-512 the same code runs on 8 lanes with mask and convert.
 * The block scales of a group of up to 16 blocks are converted from f16 together (one
 * vcvtph2ps) and broadcast from memory per block, which costs a load, not a shuffle. */
#include <immintrin.h>
#include <string.h>

#include "common/half.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_load.h"

/* ---- vectors of VL floats ------------------------------------------------------------- */

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
} nib_lut;
MOT_INLINE nib_lut nib_lut_make(float off) {
    nib_lut l = {_mm256_set1_ps(off)};
    return l;
}
MOT_INLINE vf nib_f(vi bytes, int hi, nib_lut l) {
    vi v = _mm256_and_si256(hi ? _mm256_srli_epi32(bytes, 4) : bytes, _mm256_set1_epi32(15));
    return _mm256_add_ps(_mm256_cvtepi32_ps(v), l.off); /* exact: small integers */
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

/* ---- scales ----------------------------------------------------------------------------- */

MOT_INLINE float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* d[b] (and m[b] when m) = the f16 at base + b * stride (and the one after it) for
 * b < count, 0 for count <= b < 16: one group's block scales converted together. With
 * AVX-512, one 32-bit gather fetches both (d and m are adjacent); the scalar copies into a
 * buffer cost Q4_1 ~30% (store forwarding cannot feed the wide load from 16 narrow stores). */
MOT_INLINE void f16_group(float *d, float *m, const uint8_t *base, int64_t stride, int count) {
#if defined(__AVX512F__)
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)stride));
    const __mmask16 k = (__mmask16)(count >= 16 ? 0xffffu : (1u << count) - 1u);
    const __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k, idx, base, 1);
    _mm512_storeu_ps(d, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g)));
    if (m) {
        _mm512_storeu_ps(m, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16))));
    }
#else
    uint16_t h[16] = {0}, hm[16] = {0};
    for (int b = 0; b < count; b++) {
        memcpy(&h[b], base + b * stride, 2);
        if (m) {
            memcpy(&hm[b], base + b * stride + 2, 2);
        }
    }
    for (int i = 0; i < 16; i += 8) {
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
        if (m) {
            _mm256_storeu_ps(m + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(hm + i))));
        }
    }
#endif
}

/* ggml's get_scale_min_k4 for all 8 sub-blocks: 6-bit scales sc[8] and mins m[8] */
MOT_INLINE void scales_k4(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 15) | ((s[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

/* The same 16 values as two 64-bit words: bytes 0-7 the scales, 8-15 the mins (byte i of
 * a word is sub-block i), from the 12 bytes as three 32-bit words a, b, c: sub-blocks 0-3
 * keep the low 6 bits of a (scales) and b (mins); 4-7 take their low 4 bits from c's low
 * (scales) or high (mins) nibbles and their top 2 from the top 2 bits of a or b. */
MOT_INLINE __m128i scales_k4_words(const uint8_t *s) {
    uint32_t a, b, c;
    memcpy(&a, s, 4), memcpy(&b, s + 4, 4), memcpy(&c, s + 8, 4);
    const uint32_t low6 = 0x3f3f3f3fu, low4 = 0x0f0f0f0fu, top2 = 0x03030303u;
    const uint32_t sc_hi = (c & low4) | (((a >> 6) & top2) << 4);
    const uint32_t m_hi = ((c >> 4) & low4) | (((b >> 6) & top2) << 4);
    return _mm_set_epi32((int)m_hi, (int)(b & low6), (int)sc_hi, (int)(a & low6));
}

/* out[i] = a * (float)v[i] for 8 unsigned bytes (the products of the reference: one
 * rounding each) */
MOT_INLINE __m256 scale8_u8(float a, const uint8_t v[8]) {
    return _mm256_mul_ps(_mm256_set1_ps(a), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)v))));
}

/* ---- x block sums ----------------------------------------------------------------------- */

int64_t mot_cpu_quant_xsums_len(int64_t cols) { return (cols / 32 + 15) / 16 * 16; }

void mot_cpu_quant_xsums(float *xs, const float *x, int64_t cols) {
    const int64_t nb = cols / 32, len = mot_cpu_quant_xsums_len(cols);
    for (int64_t b = 0; b < nb; b++) {
        vf s = vf_load(x + 32 * b);
        for (int i = VL; i < 32; i += VL) {
            s = vf_add(s, vf_load(x + 32 * b + i));
        }
        xs[b] = vf_sum(s);
    }
    for (int64_t b = nb; b < len; b++) {
        xs[b] = 0.0f;
    }
}

/* ---- dots: the 32-element types --------------------------------------------------------- */

/* Partial sums (VL lanes) of q . x over one block of 32, per type. */
MOT_INLINE vf block_q8_0(const uint8_t *q, const float *x) {
    vf s = vf_mul(vi_to_f(vi_i8(q)), vf_load(x));
    for (int i = VL; i < 32; i += VL) {
        s = vf_fma(vi_to_f(vi_i8(q + i)), vf_load(x + i), s);
    }
    return s;
}

/* 16 bytes: element j in the low nibble of byte j, element j + 16 in its high nibble */
MOT_INLINE vf block_q4(const uint8_t *q, const float *x, nib_lut l) {
    vf s = vf_zero();
    for (int i = 0; i < 16; i += VL) {
        const vi b = vi_u8(q + i);
        s = vf_fma(nib_f(b, 0, l), vf_load(x + i), s);
        s = vf_fma(nib_f(b, 1, l), vf_load(x + 16 + i), s);
    }
    return s;
}

/* The dot of a row of 32-element blocks of `bytes` each, the f16 d at byte 0 and (has_m) an
 * f16 m at byte 2, quants from byte qoff. Groups of 16 blocks: their d (and m) converted
 * together; the m terms are one 16-lane FMA with the x sums per group. Two accumulators, so
 * the per-block FMA chain is not the limit. */
MOT_INLINE float dot_b32(const void *row, const float *x, const float *xs, int64_t cols, mot_dtype dt) {
    const int64_t bytes = dt == MOT_DTYPE_Q8_0 ? 34 : dt == MOT_DTYPE_Q4_0 ? 18 : 20;
    const int qoff = dt == MOT_DTYPE_Q4_1 ? 4 : 2;
    const nib_lut lut = nib_lut_make(dt == MOT_DTYPE_Q4_0 ? -8.0f : 0.0f);
    const uint8_t *p = row;
    const int64_t nb = cols / 32;
    vf acc0 = vf_zero(), acc1 = vf_zero(), macc = vf_zero();
    for (int64_t g0 = 0; g0 < nb; g0 += 16) {
        const int count = (int)(nb - g0 < 16 ? nb - g0 : 16);
        const uint8_t *gp = p + g0 * bytes;
        float d[16], m[16];
        f16_group(d, dt == MOT_DTYPE_Q4_1 ? m : NULL, gp, bytes, count);
        if (dt == MOT_DTYPE_Q4_1) {
            for (int i = 0; i < 16; i += VL) {
                macc = vf_fma(vf_load(m + i), vf_load(xs + g0 + i), macc);
            }
        }
        int b = 0;
        for (; b < count; b++) {
            const uint8_t *q = gp + b * bytes + qoff;
            const float *xb = x + (g0 + b) * 32;
            const vf s = dt == MOT_DTYPE_Q8_0 ? block_q8_0(q, xb) : block_q4(q, xb, lut);
            if (b & 1) {
                acc1 = vf_fma(s, vf_set1(d[b]), acc1);
            } else {
                acc0 = vf_fma(s, vf_set1(d[b]), acc0);
            }
        }
    }
    return vf_sum(vf_add(vf_add(acc0, acc1), macc));
}

static float dot_q8_0(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_b32(row, x, xs, cols, MOT_DTYPE_Q8_0);
}
static float dot_q4_0(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_b32(row, x, xs, cols, MOT_DTYPE_Q4_0);
}
static float dot_q4_1(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_b32(row, x, xs, cols, MOT_DTYPE_Q4_1);
}

/* ---- dots: the K types ------------------------------------------------------------------ */

/* Q4_K and Q5_K: per 256-block, the 8 sub-block scales d sc[s] in a float array (broadcast
 * from memory per sub-block) and the mins as one 8-lane FMA of dmin m[s] with the x sums. */
MOT_INLINE float dot_k45(const void *row, const float *x, const float *xs, int64_t cols, int five) {
    const int64_t bytes = five ? 176 : 144;
    const nib_lut lut = nib_lut_make(0.0f);
    const uint8_t *p = row;
    vf acc0 = vf_zero(), acc1 = vf_zero();
    __m256 macc = _mm256_setzero_ps();
    for (int64_t k = 0; k < cols / 256; k++) {
        const uint8_t *b = p + k * bytes;
        const uint8_t *qh = b + 16, *qs = b + (five ? 48 : 16);
        const float *xb = x + 256 * k;
        /* d sc[s] (lanes 0-7) and dmin m[s] (8-15): one product each, as in the reference */
        const __m256 sm = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scales_k4_words(b + 4)));
        const __m256 sm2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(scales_k4_words(b + 4), 8)));
        float dsc[8];
        _mm256_storeu_ps(dsc, _mm256_mul_ps(_mm256_set1_ps(f16_at(b)), sm));
        macc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(f16_at(b + 2)), sm2), _mm256_loadu_ps(xs + 8 * k), macc);
        vi h[32 / VL];
        if (five) {
            for (int i = 0; i < 32; i += VL) {
                h[i / VL] = vi_u8(qh + i);
            }
        }
        for (int pair = 0; pair < 4; pair++) {
            vf s0 = vf_zero(), s1 = vf_zero();
            for (int i = 0; i < 32; i += VL) {
                const vi q = vi_u8(qs + 32 * pair + i);
                const vf lo = five ? nib5_f(q, 0, h[i / VL], 2 * pair) : nib_f(q, 0, lut);
                const vf hi = five ? nib5_f(q, 1, h[i / VL], 2 * pair + 1) : nib_f(q, 1, lut);
                s0 = vf_fma(lo, vf_load(xb + 64 * pair + i), s0);
                s1 = vf_fma(hi, vf_load(xb + 64 * pair + 32 + i), s1);
            }
            acc0 = vf_fma(s0, vf_set1(dsc[2 * pair]), acc0);
            acc1 = vf_fma(s1, vf_set1(dsc[2 * pair + 1]), acc1);
        }
    }
    return vf_sum(vf_add(acc0, acc1)) - mot_hsum8(macc);
}

static float dot_q4_k(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_k45(row, x, xs, cols, 0);
}
static float dot_q5_k(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_k45(row, x, xs, cols, 1);
}

/* Q6_K: 16 sub-blocks of 16 with their own scale; x is scaled instead of a partial sum
 * (the same count of operations, and no per-sub-block chain). */
static float dot_q6_k(const void *row, const float *x, const float *xs, int64_t cols) {
    (void)xs;
    const uint8_t *p = row;
    vf acc0 = vf_zero(), acc1 = vf_zero();
    for (int64_t k = 0; k < cols / 256; k++) {
        const uint8_t *b = p + k * 210;
        const uint8_t *ql = b, *qh = b + 128;
        const float d = f16_at(b + 208);
        float dsc[16];
        for (int i = 0; i < 16; i += 8) {
            const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 192 + i))));
            _mm256_storeu_ps(dsc + i, _mm256_mul_ps(_mm256_set1_ps(d), sc));
        }
        const float *xb = x + 256 * k;
        for (int h = 0; h < 2; h++) {
            for (int i = 0; i < 32; i += VL) {
                const vi qhv = vi_u8(qh + 32 * h + i);
                const vi l0 = vi_u8(ql + 64 * h + i), l1 = vi_u8(ql + 64 * h + 32 + i);
                for (int g = 0; g < 4; g++) {
                    const int e = 128 * h + 32 * g + i; /* first element of this vector */
                    const vf q = q6_f(g & 1 ? l1 : l0, 4 * (g >> 1), qhv, 2 * g);
                    const vf xv = vf_mul(vf_load(xb + e), vf_set1(dsc[e / 16]));
                    if (g & 1) {
                        acc1 = vf_fma(q, xv, acc1);
                    } else {
                        acc0 = vf_fma(q, xv, acc0);
                    }
                }
            }
        }
    }
    return vf_sum(vf_add(acc0, acc1));
}

mot_quant_dot_fn *mot_cpu_quant_dot_fn(mot_dtype dt) {
    switch (dt) {
    case MOT_DTYPE_Q8_0:
        return dot_q8_0;
    case MOT_DTYPE_Q4_0:
        return dot_q4_0;
    case MOT_DTYPE_Q4_1:
        return dot_q4_1;
    case MOT_DTYPE_Q4_K:
        return dot_q4_k;
    case MOT_DTYPE_Q5_K:
        return dot_q5_k;
    case MOT_DTYPE_Q6_K:
        return dot_q6_k;
    default:
        return NULL;
    }
}

/* ---- dequantization --------------------------------------------------------------------- */

/* Each value as ops/ref_quant.c computes it: d q (one multiply), or d q + m as one FMA. */
static void dequant_b32(const uint8_t *p, int64_t nb, float *out, mot_dtype dt) {
    const int64_t bytes = dt == MOT_DTYPE_Q8_0 ? 34 : dt == MOT_DTYPE_Q4_0 ? 18 : 20;
    const nib_lut lut = nib_lut_make(dt == MOT_DTYPE_Q4_0 ? -8.0f : 0.0f);
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = p + k * bytes;
        const vf d = vf_set1(f16_at(b));
        float *o = out + 32 * k;
        if (dt == MOT_DTYPE_Q8_0) {
            for (int i = 0; i < 32; i += VL) {
                vf_store(o + i, vf_mul(d, vi_to_f(vi_i8(b + 2 + i))));
            }
            continue;
        }
        const uint8_t *q = b + (dt == MOT_DTYPE_Q4_1 ? 4 : 2);
        const vf m = vf_set1(dt == MOT_DTYPE_Q4_1 ? f16_at(b + 2) : 0.0f);
        for (int i = 0; i < 16; i += VL) {
            const vi v = vi_u8(q + i);
            if (dt == MOT_DTYPE_Q4_1) {
                vf_store(o + i, vf_fma(d, nib_f(v, 0, lut), m));
                vf_store(o + 16 + i, vf_fma(d, nib_f(v, 1, lut), m));
            } else {
                vf_store(o + i, vf_mul(d, nib_f(v, 0, lut)));
                vf_store(o + 16 + i, vf_mul(d, nib_f(v, 1, lut)));
            }
        }
    }
}

static void dequant_k45(const uint8_t *p, int64_t nb, float *out, int five) {
    const int64_t bytes = five ? 176 : 144;
    const nib_lut lut = nib_lut_make(0.0f);
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = p + k * bytes;
        const uint8_t *qh = b + 16, *qs = b + (five ? 48 : 16);
        uint8_t sc[8], m[8];
        scales_k4(b + 4, sc, m);
        float d1[8], m1[8];
        _mm256_storeu_ps(d1, scale8_u8(f16_at(b), sc));
        _mm256_storeu_ps(m1, scale8_u8(f16_at(b + 2), m));
        float *o = out + 256 * k;
        for (int s = 0; s < 8; s++) {
            const vf dv = vf_set1(d1[s]), mv = vf_set1(-m1[s]);
            for (int i = 0; i < 32; i += VL) {
                const vi q = vi_u8(qs + 32 * (s / 2) + i);
                const vf v = five ? nib5_f(q, s & 1, vi_u8(qh + i), s) : nib_f(q, s & 1, lut);
                vf_store(o + 32 * s + i, vf_fma(dv, v, mv));
            }
        }
    }
}

static void dequant_q6_k(const uint8_t *p, int64_t nb, float *out) {
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = p + k * 210;
        const float d = f16_at(b + 208);
        float *o = out + 256 * k;
        for (int h = 0; h < 2; h++) {
            for (int g = 0; g < 4; g++) {
                for (int i = 0; i < 32; i += VL) {
                    const int e = 128 * h + 32 * g + i;
                    const vf q = q6_f(vi_u8(b + 64 * h + 32 * (g & 1) + i), 4 * (g >> 1), vi_u8(b + 128 + 32 * h + i), 2 * g);
                    vf_store(o + e, vf_mul(vf_set1(d * (float)(int8_t)b[192 + e / 16]), q));
                }
            }
        }
    }
}

void mot_cpu_dequant_row(mot_dtype dt, const void *row, int64_t n, float *out) {
    const uint8_t *p = row;
    switch (dt) {
    case MOT_DTYPE_Q8_0:
    case MOT_DTYPE_Q4_0:
    case MOT_DTYPE_Q4_1:
        dequant_b32(p, n / 32, out, dt);
        break;
    case MOT_DTYPE_Q4_K:
        dequant_k45(p, n / 256, out, 0);
        break;
    case MOT_DTYPE_Q5_K:
        dequant_k45(p, n / 256, out, 1);
        break;
    case MOT_DTYPE_Q6_K:
        dequant_q6_k(p, n / 256, out);
        break;
    default:
        break;
    }
}
