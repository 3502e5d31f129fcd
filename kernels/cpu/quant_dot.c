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
#include "kernels/cpu/quant_vec.h"
#include "kernels/cpu/simd_load.h"

/* ---- scales ----------------------------------------------------------------------------- */

#if !defined(__AVX512F__)
/* The dwords at base + i * stride for i < count (zero past), as 8 lanes: one vpgatherdd (the
 * short last group of a row). The f16 scales of a group were copied one by one into a buffer
 * and read back as a vector: on Zen 3 that cost more than the rest of a 4-bit dot (a load
 * cannot take its bytes from several narrow stores; it waits for them to reach the cache). */
MOT_INLINE __m256i dwords8(const uint8_t *base, int64_t stride, int count) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i idx = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)stride));
    const __m256i on = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
    return _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)(const void *)base, idx, on, 1);
}

/* The low 16 bits of each of 8 dwords, as f16, widened to f32 */
MOT_INLINE __m256 f16_lanes(__m256i g) {
    g = _mm256_and_si256(g, _mm256_set1_epi32(0xffff));
    const __m256i p = _mm256_packus_epi32(g, g); /* per 128-bit lane: its 4 values, twice */
    return _mm256_cvtph_ps(_mm_unpacklo_epi64(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1)));
}

MOT_INLINE int u16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* The f16 at base + i * stride, i < 8, as f32: 8 inserts from memory (vpinsrw), which cost
 * least of the three ways measured on Zen 3 (one 2048-wide Q4_0 row dot, hot in L2: copies
 * through a buffer ~200 ns, vpgatherdd ~150, the inserts ~110, no scale loads at all ~90). */
MOT_INLINE __m256 f16x8(const uint8_t *base, int64_t stride) {
    __m128i v = _mm_cvtsi32_si128(u16_at(base));
    v = _mm_insert_epi16(v, u16_at(base + stride), 1);
    v = _mm_insert_epi16(v, u16_at(base + 2 * stride), 2);
    v = _mm_insert_epi16(v, u16_at(base + 3 * stride), 3);
    v = _mm_insert_epi16(v, u16_at(base + 4 * stride), 4);
    v = _mm_insert_epi16(v, u16_at(base + 5 * stride), 5);
    v = _mm_insert_epi16(v, u16_at(base + 6 * stride), 6);
    v = _mm_insert_epi16(v, u16_at(base + 7 * stride), 7);
    return _mm256_cvtph_ps(v);
}
#endif

/* The 8 f16 at base, base + stride, ... (count of them, 0 past) as f32: a group of the
 * pair form's 8 blocks below, half of f16_group's 16. */
MOT_INLINE __m256 f16_8(const uint8_t *base, int64_t stride, int count) {
#if defined(__AVX512F__) /* as measured on Zen 4 (docs/benchmarks.md); the gather is not measured there */
    uint16_t h[8] = {0};
    for (int i = 0; i < count; i++) {
        memcpy(&h[i], base + i * stride, 2);
    }
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
#else
    return count == 8 ? f16x8(base, stride) : f16_lanes(dwords8(base, stride, count));
#endif
}

/* d[b] (and m[b] when m) = the f16 at base + b * stride (and the one after it) for
 * b < count, 0 for count <= b < 16: one group's block scales converted together. With
 * AVX-512, one 32-bit gather fetches both (d and m are adjacent); the scalar copies into a
 * buffer cost Q4_1 ~30% (store forwarding cannot feed the wide load from 16 narrow stores).
 * Without, two f16_8 a row of scales (inserts, above). */
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
#else /* d at byte 0 of each block, m (when asked) at byte 2 */
    for (int i = 0; i < 16; i += 8) {
        const int c = count - i < 8 ? count - i : 8; /* <= 0: zeros */
        _mm256_storeu_ps(d + i, f16_8(base + i * stride, stride, c));
        if (m) {
            _mm256_storeu_ps(m + i, f16_8(base + i * stride + 2, stride, c));
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

/* Q5_0 / Q5_1's codes 0..31 of elements e0 .. e0 + VL - 1: their nibbles (lanes) with the
 * fifth bits, bit e of qh's word for element e, each lane shifting hv (qh in every lane) by
 * its own element's index (vpsrlvd) */
MOT_INLINE vi q5_lane_codes(vi nibbles, vi hv, int e0) {
    return vi_or(nibbles, vi_and(vi_shl(vi_shrv(hv, vi_lanes(e0)), 4), vi_set1(16)));
}

/* Q5_0 / Q5_1: 16 bytes of nibbles as Q4's plus the fifth bits */
MOT_INLINE vf block_q5(const uint8_t *q, uint32_t h, const float *x) {
    const vi hv = vi_set1((int)h);
    vf s = vf_zero();
    for (int i = 0; i < 16; i += VL) {
        const vi b = vi_u8(q + i);
        const vi lo = q5_lane_codes(vi_and(b, vi_set1(15)), hv, i), hi = q5_lane_codes(vi_shr(b, 4), hv, 16 + i);
        s = vf_fma(vi_to_f(lo), vf_load(x + i), s);
        s = vf_fma(vi_to_f(hi), vf_load(x + 16 + i), s);
    }
    return s;
}

/* IQ4_NL's (and IQ4_XS's) levels, indexed by a nibble (ggml's kvalues_iq4nl) */
MOT_INLINE __m128i iq4_levels(void) {
    return _mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}
/* The levels of 16 bytes of nibbles: the low nibbles' (elements 0-15), the high (16-31);
 * one vpshufb each does the table lookup for 16 elements */
MOT_INLINE void iq4_bytes(const uint8_t *q, __m128i *lo, __m128i *hi) {
    const __m128i v = _mm_loadu_si128((const __m128i *)q), m = _mm_set1_epi8(15);
    *lo = _mm_shuffle_epi8(iq4_levels(), _mm_and_si128(v, m));
    *hi = _mm_shuffle_epi8(iq4_levels(), _mm_and_si128(_mm_srli_epi16(v, 4), m));
}
MOT_INLINE vf block_iq4(const uint8_t *q, const float *x) {
    __m128i lo, hi;
    iq4_bytes(q, &lo, &hi);
    vf s = vf_zero();
    for (int i = 0; i < 16; i += VL) {
        s = vf_fma(vi_to_f(vi_i8_of(lo, i / VL)), vf_load(x + i), s);
        s = vf_fma(vi_to_f(vi_i8_of(hi, i / VL)), vf_load(x + 16 + i), s);
    }
    return s;
}

/* Bytes of a block, and where its codes start, of the 32-element types */
MOT_INLINE int64_t b32_bytes(mot_dtype dt) {
    switch (dt) {
    case MOT_DTYPE_Q8_0: return 34;
    case MOT_DTYPE_Q4_1: return 20;
    case MOT_DTYPE_Q5_0: return 22;
    case MOT_DTYPE_Q5_1: return 24;
    default: return 18; /* Q4_0, IQ4_NL */
    }
}
MOT_INLINE int b32_qoff(mot_dtype dt) {
    return dt == MOT_DTYPE_Q4_1 ? 4 : dt == MOT_DTYPE_Q5_0 ? 6 : dt == MOT_DTYPE_Q5_1 ? 8 : 2;
}

/* The dot of a row of 32-element blocks of `bytes` each, the f16 d at byte 0 and (Q4_1,
 * Q5_1) an f16 m at byte 2, quants from byte qoff (Q5's fifth bits the 4 bytes before).
 * Groups of 16 blocks: their d (and m) converted together; the m terms (and Q4_0's -8 d,
 * Q5_0's -16 d) are one 16-lane FMA with the x sums per group. Two accumulators, so the
 * per-block FMA chain is not the limit. */
MOT_INLINE float dot_b32(const void *row, const float *x, const float *xs, int64_t cols, mot_dtype dt) {
    const int64_t bytes = b32_bytes(dt);
    const int qoff = b32_qoff(dt);
    const int has_m = dt == MOT_DTYPE_Q4_1 || dt == MOT_DTYPE_Q5_1;
    const int q5 = dt == MOT_DTYPE_Q5_0 || dt == MOT_DTYPE_Q5_1;
    /* Q4_0's -8: in the 16-entry table with AVX-512 (free there); with 8 lanes an add per 8
     * elements, so instead -8 d times x's block sums, as Q4_1's m (and Q5_0's -16 always) */
    const int q4_0_sums = dt == MOT_DTYPE_Q4_0 && VL == 8;
    const float d_sums = q4_0_sums ? -8.0f : dt == MOT_DTYPE_Q5_0 ? -16.0f : 0.0f;
    const nib_lut lut = nib_lut_make(dt == MOT_DTYPE_Q4_0 && !q4_0_sums ? -8.0f : 0.0f);
    const uint8_t *p = row;
    const int64_t nb = cols / 32;
    vf acc0 = vf_zero(), acc1 = vf_zero(), macc = vf_zero();
    for (int64_t g0 = 0; g0 < nb; g0 += 16) {
        const int count = (int)(nb - g0 < 16 ? nb - g0 : 16);
        const uint8_t *gp = p + g0 * bytes;
        float d[16], m[16];
        f16_group(d, has_m ? m : NULL, gp, bytes, count);
        if (has_m) {
            for (int i = 0; i < 16; i += VL) {
                macc = vf_fma(vf_load(m + i), vf_load(xs + g0 + i), macc);
            }
        } else if (d_sums != 0.0f) {
            for (int i = 0; i < 16; i += VL) {
                macc = vf_fma(vf_mul(vf_load(d + i), vf_set1(d_sums)), vf_load(xs + g0 + i), macc);
            }
        }
        int b = 0;
        for (; b < count; b++) {
            const uint8_t *q = gp + b * bytes + qoff;
            const float *xb = x + (g0 + b) * 32;
            uint32_t h = 0;
            if (q5) {
                memcpy(&h, q - 4, 4);
            }
            const vf s = dt == MOT_DTYPE_Q8_0     ? block_q8_0(q, xb)
                         : q5                     ? block_q5(q, h, xb)
                         : dt == MOT_DTYPE_IQ4_NL ? block_iq4(q, xb)
                                                  : block_q4(q, xb, lut);
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
static float dot_q5_0(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_b32(row, x, xs, cols, MOT_DTYPE_Q5_0);
}
static float dot_q5_1(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_b32(row, x, xs, cols, MOT_DTYPE_Q5_1);
}
static float dot_iq4_nl(const void *row, const float *x, const float *xs, int64_t cols) {
    return dot_b32(row, x, xs, cols, MOT_DTYPE_IQ4_NL);
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

/* d (ls_s - 32) for IQ4_XS's 8 sub-blocks s, one product each as the reference rounds it: ls's
 * low 4 bits from the nibbles of scales_l (bytes 4-7, s even the low one), the top 2 from the
 * bit pairs of scales_h (bytes 2-3). (One sub-block at a time in scalar code this was most of
 * the fast dot's time.) */
MOT_INLINE __m256 iq4_xs_scales(const uint8_t *b) {
    uint32_t l;
    memcpy(&l, b + 4, 4);
    const __m128i nib = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)(l & 0x0f0f0f0fu)),
                                          _mm_cvtsi32_si128((int)((l >> 4) & 0x0f0f0f0fu)));
    const __m256i top = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_set1_epi32(b[2] | b[3] << 8), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
        _mm256_set1_epi32(3));
    const __m256i ls = _mm256_or_si256(_mm256_cvtepu8_epi32(nib), _mm256_slli_epi32(top, 4));
    return _mm256_mul_ps(_mm256_set1_ps(f16_at(b)), _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32))));
}

/* IQ4_XS: per 256-block, 8 sub-blocks of 32 as IQ4_NL's blocks, each with d (ls - 32) */
static float dot_iq4_xs(const void *row, const float *x, const float *xs, int64_t cols) {
    (void)xs;
    const uint8_t *p = row;
    vf acc0 = vf_zero(), acc1 = vf_zero();
    for (int64_t k = 0; k < cols / 256; k++) {
        const uint8_t *b = p + k * 136;
        float dl[8];
        _mm256_storeu_ps(dl, iq4_xs_scales(b));
        for (int s = 0; s < 8; s += 2) {
            const float *xs0 = x + 256 * k + 32 * s;
            acc0 = vf_fma(block_iq4(b + 8 + 16 * s, xs0), vf_set1(dl[s]), acc0);
            acc1 = vf_fma(block_iq4(b + 24 + 16 * s, xs0 + 32), vf_set1(dl[s + 1]), acc1);
        }
    }
    return vf_sum(vf_add(acc0, acc1));
}

/* ---- dequantization --------------------------------------------------------------------- */

/* Each value as ops/ref_quant.c computes it: d q (one multiply), or d q + m as one FMA. */
static void dequant_b32(const uint8_t *p, int64_t nb, float *out, mot_dtype dt) {
    const int64_t bytes = b32_bytes(dt);
    const int qoff = b32_qoff(dt);
    const nib_lut lut = nib_lut_make(dt == MOT_DTYPE_Q4_0 ? -8.0f : 0.0f);
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = p + k * bytes;
        const vf d = vf_set1(f16_at(b));
        float *o = out + 32 * k;
        const uint8_t *q = b + qoff;
        if (dt == MOT_DTYPE_Q8_0) {
            for (int i = 0; i < 32; i += VL) {
                vf_store(o + i, vf_mul(d, vi_to_f(vi_i8(q + i))));
            }
            continue;
        }
        if (dt == MOT_DTYPE_IQ4_NL) {
            __m128i lo, hi;
            iq4_bytes(q, &lo, &hi);
            for (int i = 0; i < 16; i += VL) {
                vf_store(o + i, vf_mul(d, vi_to_f(vi_i8_of(lo, i / VL))));
                vf_store(o + 16 + i, vf_mul(d, vi_to_f(vi_i8_of(hi, i / VL))));
            }
            continue;
        }
        if (dt == MOT_DTYPE_Q5_0 || dt == MOT_DTYPE_Q5_1) {
            uint32_t h;
            memcpy(&h, q - 4, 4);
            const vi hv = vi_set1((int)h);
            const vi off = vi_set1(dt == MOT_DTYPE_Q5_0 ? 16 : 0);
            const vf m = vf_set1(dt == MOT_DTYPE_Q5_1 ? f16_at(b + 2) : 0.0f);
            for (int i = 0; i < 16; i += VL) {
                const vi v = vi_u8(q + i);
                const vi lo = q5_lane_codes(vi_and(v, vi_set1(15)), hv, i), hi = q5_lane_codes(vi_shr(v, 4), hv, 16 + i);
                if (dt == MOT_DTYPE_Q5_1) {
                    vf_store(o + i, vf_fma(d, vi_to_f(lo), m));
                    vf_store(o + 16 + i, vf_fma(d, vi_to_f(hi), m));
                } else {
                    vf_store(o + i, vf_mul(d, vi_to_f(vi_sub(lo, off))));
                    vf_store(o + 16 + i, vf_mul(d, vi_to_f(vi_sub(hi, off))));
                }
            }
            continue;
        }
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

static void dequant_iq4_xs(const uint8_t *p, int64_t nb, float *out) {
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = p + k * 136;
        float d8[8];
        _mm256_storeu_ps(d8, iq4_xs_scales(b));
        for (int s = 0; s < 8; s++) {
            const vf dl = vf_set1(d8[s]);
            __m128i lo, hi;
            iq4_bytes(b + 8 + 16 * s, &lo, &hi);
            float *o = out + 256 * k + 32 * s;
            for (int i = 0; i < 16; i += VL) {
                vf_store(o + i, vf_mul(dl, vi_to_f(vi_i8_of(lo, i / VL))));
                vf_store(o + 16 + i, vf_mul(dl, vi_to_f(vi_i8_of(hi, i / VL))));
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
    case MOT_DTYPE_Q5_0:
    case MOT_DTYPE_Q5_1:
    case MOT_DTYPE_IQ4_NL:
        dequant_b32(p, n / 32, out, dt);
        break;
    case MOT_DTYPE_IQ4_XS:
        dequant_iq4_xs(p, n / 256, out);
        break;
    case MOT_DTYPE_Q2_K:
    case MOT_DTYPE_Q3_K:
        mot_cpu_dequant_k23(dt, p, n / 256, out);
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

/* ---- precision: fast (int8 activations, integer dot products) ----------------------------
 *
 * x is quantized once per row and per 32-element block as llama.cpp's q8_0 quantizes it:
 * d = max|x| / 127, q = round-to-nearest-even(x * (1 / d)) (so |q| <= 127), and ds = d * sum q
 * for the offsets (Q4_1's m, the K types' mins, Q4_0's -8). The K types use the same 32-element
 * blocks of x (llama.cpp's q8_K has one scale per 256): finer, so no less accurate, and one
 * format serves every weight type of a fused q/k/v or gate/up (a GGUF file mixes them).
 * A block's dot is then sum_j w_j q_j with w_j the stored codes as unsigned bytes (4-bit
 * nibbles, Q5_K's 5 bits, Q6_K's 6 bits) or, for Q8_0, |w_j| against x's q with w_j's sign:
 * exact in int32, 32 elements (a 256-bit vector) at a time: one vpdpbusd with AVX-512 VNNI,
 * vpmaddubsw + vpmaddwd without (no saturation: |pair| <= 2 * 128 * 127 < 32768). Each block's
 * integer sum meets its scale d_w d_x in one FMA per 8 lanes; Q6_K's -32 is a second integer
 * dot with the constant 32, Q4_0's -8 and the offsets one FMA per 16 blocks with ds. The
 * arithmetic is mot_ref_quant_dot_q8's (ops/ref_quant.c) up to the order of the f32 sums. */

static int precision_fast;
void mot_cpu_set_precision_fast(int fast) { precision_fast = fast != 0; }
int mot_cpu_precision_fast(void) { return precision_fast; }

/* d[L], ds[L], the codes in order (cols bytes), the codes of each pair of blocks interleaved
 * by halves (cols / 64 * 64 bytes), then the sums per 16 (quant.h) */
int64_t mot_cpu_q8x_sums16_at(int64_t cols) {
    return 2 * mot_cpu_quant_xsums_len(cols) + cols / 4 + cols / 64 * 16;
}
int64_t mot_cpu_q8x_len(int64_t cols) { return mot_cpu_q8x_sums16_at(cols) + (cols / 16 + 7) / 8 * 8; }

MOT_INLINE float hmax8(__m256 m) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

MOT_INLINE int32_t hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

void mot_cpu_quantize_x(float *xq, const float *x, int64_t cols) {
    const int64_t nb = cols / 32, L = mot_cpu_quant_xsums_len(cols);
    float *d = xq, *ds = xq + L, *s16 = xq + mot_cpu_q8x_sums16_at(cols);
    int8_t *q = (int8_t *)(xq + 2 * L);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
        }
        const float db = hmax8(m) / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        const __m256 idv = _mm256_set1_ps(id);
        __m256i qi[4];
        for (int i = 0; i < 4; i++) {
            qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], idv)); /* nearest, ties to even */
        }
        const __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm256_permutevar8x32_epi32(p8, order));
        const int32_t s0 = hsum8_epi32(_mm256_add_epi32(qi[0], qi[1])), s1 = hsum8_epi32(_mm256_add_epi32(qi[2], qi[3]));
        d[b] = db;
        ds[b] = db * (float)(s0 + s1);
        s16[2 * b] = db * (float)s0;
        s16[2 * b + 1] = db * (float)s1;
    }
    for (int64_t b = nb; b < L; b++) {
        d[b] = ds[b] = 0.0f;
    }
    for (int64_t i = 2 * nb; i < (cols / 16 + 7) / 8 * 8; i++) {
        s16[i] = 0.0f;
    }
    /* blocks 2k, 2k+1 as [2k: 0-15 | 2k+1: 0-15 | 2k: 16-31 | 2k+1: 16-31] */
    int8_t *qp = q + cols;
    for (int64_t b = 0; b + 2 <= nb; b += 2) {
        const __m256i u = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * b + 32));
        _mm256_storeu_si256((__m256i *)(qp + 32 * b), _mm256_permute2x128_si256(u, v, 0x20));
        _mm256_storeu_si256((__m256i *)(qp + 32 * b + 32), _mm256_permute2x128_si256(u, v, 0x31));
    }
}

/* 8 int32 lanes, each the sum of 4 products u8 u x s8 s (lane i: bytes 4i..4i+3) */
MOT_INLINE __m256i idot32(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* 16 bytes of nibbles -> 32 bytes: the low nibbles (elements 0-15), then the high (16-31) */
MOT_INLINE __m256i nib32(const uint8_t *q) {
    const __m128i v = _mm_loadu_si128((const __m128i *)q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

/* bits s.. of every byte of h, masked by mask after moving them up to bit `to` */
MOT_INLINE __m256i bits_at(__m256i h, int s, int to, int mask) {
    const __m256i v = s >= to ? _mm256_srli_epi16(h, s - to) : _mm256_slli_epi16(h, to - s);
    return _mm256_and_si256(v, _mm256_set1_epi8((char)mask));
}

/* byte j = `value` where bit j of h is set, else 0 (Q5_0 / Q5_1's fifth bits as code bytes) */
MOT_INLINE __m256i bits32_bytes(uint32_t h, int value) {
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), /* byte j: byte j / 8 of h */
                                               _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                                                2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8((char)value));
}

/* The 32 codes 0..31 of a Q5_0 / Q5_1 block, in element order (q: its nibbles, h: qh) */
MOT_INLINE __m256i q5_codes(const uint8_t *q, uint32_t h) { return _mm256_or_si256(nib32(q), bits32_bytes(h, 16)); }

/* The 32 levels (signed bytes) of an IQ4 block's 16 nibble bytes, in element order */
MOT_INLINE __m256i iq4_codes(const uint8_t *q) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(iq4_levels()), nib32(q));
}

/* The 32 codes of elements 128 h + 32 g .. + 31 of a Q2_K (0..3) or Q3_K block, Q3_K's as
 * stored (0..7: its high bit set means +4) */
MOT_INLINE __m256i k23_ucodes(const uint8_t *b, int q3, int h, int g) {
    const __m256i c = bits_at(_mm256_loadu_si256((const __m256i *)(b + (q3 ? 32 : 16) + 32 * h)), 2 * g, 0, 3);
    return q3 ? _mm256_or_si256(c, bits_at(_mm256_loadu_si256((const __m256i *)b), 4 * h + g, 2, 4)) : c;
}
/* the same as the values' integers (Q3_K: -4..3) */
MOT_INLINE __m256i k23_codes(const uint8_t *b, int q3, int h, int g) {
    const __m256i c = k23_ucodes(b, q3, h, g);
    return q3 ? _mm256_sub_epi8(c, _mm256_set1_epi8(4)) : c;
}

/* The fast dots below add one unit of a row at a time into a running sum: a group of blocks (8
 * of Q4_0 / Q4_1, 16 of Q8_0; the last one of a row may be short) or a K type's super-block of
 * 256. unit(acc, b, xq, cols, u): unit u of a row, at b, added to acc (fdot_rows). */
typedef __m256 fast_unit_fn(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t u);

/* Q8_0: 16 blocks (fewer at the row's end), one block at a time (its 32 code bytes are x's 32
 * in order): |w| against x with w's signs, the unit's scales converted together. */
MOT_INLINE __m256 q8_0_unit(__m256 acc, const uint8_t *gp, const float *xq, int64_t cols, int64_t u) {
    const int64_t bytes = 34, nb = cols / 32, g = 16 * u;
    const int count = (int)(nb - g < 16 ? nb - g : 16);
    const int8_t *xv = (const int8_t *)(xq + 2 * mot_cpu_quant_xsums_len(cols)) + 32 * g;
    float d[16], s[16];
    f16_group(d, NULL, gp, bytes, count);
    for (int i = 0; i < 16; i += 8) { /* xq's scales: zero past nb */
        _mm256_storeu_ps(s + i, _mm256_mul_ps(_mm256_loadu_ps(d + i), _mm256_loadu_ps(xq + g + i)));
    }
    __m256 a0 = acc, a1 = _mm256_setzero_ps();
    for (int b = 0; b < count; b++) {
        const __m256i wv = _mm256_loadu_si256((const __m256i *)(gp + b * bytes + 2));
        const __m256i xb = _mm256_loadu_si256((const __m256i *)(xv + 32 * b));
        const __m256i iv = idot32(_mm256_abs_epi8(wv), _mm256_sign_epi8(xb, wv));
        if (b & 1) {
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), _mm256_set1_ps(s[b]), a1);
        } else {
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), _mm256_set1_ps(s[b]), a0);
        }
    }
    return _mm256_add_ps(a0, a1);
}

/* acc + the 8 lanes of idot32(u, s) */
MOT_INLINE __m256i idot32_acc(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, s);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, idot32(u, s));
#endif
}

/* idot32(u0, s0) + idot32(u1, s1) for 4-bit u (0..15): without VNNI the two vpmaddubsw sums
 * add up in int16 first (at most 4 x 15 x 127 = 7620 a lane) and widen once, one vpmaddwd
 * and one add fewer than two idot32 */
MOT_INLINE __m256i idot32_pair4(__m256i u0, __m256i s0, __m256i u1, __m256i s1) {
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
    return idot32_acc(idot32(u0, s0), u1, s1);
#else
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
#endif
}

/* Blocks b and b+1 of Q4_0 / Q4_1 (q: b's 16 code bytes, b+1's `bytes` on) against x's
 * pair-interleaved codes x2: their low nibbles (elements 0-15 of each) and high nibbles
 * (16-31) meet x's halves in two accumulating integer dots; lanes 0-3 hold b's sum, 4-7 b+1's. */
MOT_INLINE __m256i q4_pair_idot(const uint8_t *q, int64_t bytes, const int8_t *x2) {
    const __m256i low4 = _mm256_set1_epi8(15);
    const __m256i c = _mm256_loadu2_m128i((const __m128i *)(q + bytes), (const __m128i *)q);
    return idot32_pair4(_mm256_and_si256(c, low4), _mm256_loadu_si256((const __m256i *)x2),
                        _mm256_and_si256(_mm256_srli_epi16(c, 4), low4),
                        _mm256_loadu_si256((const __m256i *)(x2 + 32)));
}

/* Q4_0 / Q4_1: 8 blocks (fewer at the row's end) against the pair-interleaved codes of x: a
 * pair of blocks is one q4_pair_idot, one convert and one FMA (the scale pair d_w d_x spread
 * by a permute); the unit's scales convert together, and its offsets are one FMA with x's
 * block sums (Q4_0: w = d (q - 8), so -8 d sum(x); Q4_1: w = d q + m, so m sum(x)). One row
 * of 2048 hot in L2, Zen 4: 1.55x the one-block-at-a-time form (as q8_0_unit still reads). A
 * whole unit runs unrolled with constant permutes (Zen 3, the same row: 133 -> 74-93 ns; the
 * loop over its pairs had built each permute's index from k and branched on k, 27
 * instructions a pair); a short last unit goes pair by pair, an odd last block alone against
 * the codes in order. */
MOT_INLINE __m256 q4_unit(__m256 acc, const uint8_t *gp, const float *xq, int64_t cols, int64_t u, int q4_1) {
    const int64_t bytes = q4_1 ? 20 : 18, nb = cols / 32, g = 8 * u, L = mot_cpu_quant_xsums_len(cols);
    const int count = (int)(nb - g < 8 ? nb - g : 8);
    const int8_t *xv = (const int8_t *)(xq + 2 * L) + 32 * g, *x2 = xv + cols;
    const __m256 xs = _mm256_loadu_ps(xq + L + g); /* x's block sums (zero past nb, as its scales) */
    const uint8_t *q = gp + (q4_1 ? 4 : 2);
    const __m256 dw = f16_8(gp, bytes, count), s = _mm256_mul_ps(dw, _mm256_loadu_ps(xq + g));
    __m256 a = _mm256_fmadd_ps(q4_1 ? f16_8(gp + 2, bytes, count) : _mm256_mul_ps(dw, _mm256_set1_ps(-8.0f)), xs, acc);
    __m256 b = _mm256_setzero_ps();
    if (count == 8) {
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4_pair_idot(q, bytes, x2)),
                            _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)), a);
        b = _mm256_mul_ps(_mm256_cvtepi32_ps(q4_pair_idot(q + 2 * bytes, bytes, x2 + 64)),
                          _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3)));
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4_pair_idot(q + 4 * bytes, bytes, x2 + 128)),
                            _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5)), a);
        b = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4_pair_idot(q + 6 * bytes, bytes, x2 + 192)),
                            _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7)), b);
        return _mm256_add_ps(a, b);
    }
    int k = 0;
    for (; k + 2 <= count; k += 2) {
        const __m256 sk = _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(k, k, k, k, k + 1, k + 1, k + 1, k + 1));
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q4_pair_idot(q + k * bytes, bytes, x2 + 32 * k)), sk, a);
    }
    if (k < count) { /* the odd last block of the row */
        const __m256i iv = idot32(nib32(q + k * bytes), _mm256_loadu_si256((const __m256i *)(xv + 32 * k)));
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), _mm256_permutevar8x32_ps(s, _mm256_set1_epi32(k)), a);
    }
    return a;
}

MOT_INLINE __m256 q4_0_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t u) {
    return q4_unit(acc, b, xq, cols, u, 0);
}
MOT_INLINE __m256 q4_1_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t u) {
    return q4_unit(acc, b, xq, cols, u, 1);
}

/* Q5_K: sub-block s of 32 meets x block 8k + s (the 5th bit of each code from qh); scale
 * (d sc[s]) d_x, min term (dmin m[s]) ds over the 8 blocks in one FMA. */
MOT_INLINE __m256 q5_k_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t k) {
    const int64_t L = mot_cpu_quant_xsums_len(cols);
    const float *xd = xq, *xds = xq + L;
    const int8_t *xb = (const int8_t *)(xq + 2 * L) + 256 * k;
    const __m256i low4 = _mm256_set1_epi8(15);
    const uint8_t *qs = b + 48;
    const __m128i w = scales_k4_words(b + 4);
    const __m256 sm = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(w));
    const __m256 sm2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(w, 8)));
    float s[8];
    _mm256_storeu_ps(s, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(f16_at(b)), sm), _mm256_loadu_ps(xd + 8 * k)));
    __m256 a0 = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_set1_ps(f16_at(b + 2)), sm2), _mm256_loadu_ps(xds + 8 * k), acc);
    __m256 a1 = _mm256_setzero_ps();
    const __m256i hv = _mm256_loadu_si256((const __m256i *)(b + 16));
    for (int pr = 0; pr < 4; pr++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * pr));
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, low4), bits_at(hv, 2 * pr, 4, 0x10));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4),
                                           bits_at(hv, 2 * pr + 1, 4, 0x10));
        const __m256i i0 = idot32(lo, _mm256_loadu_si256((const __m256i *)(xb + 64 * pr)));
        const __m256i i1 = idot32(hi, _mm256_loadu_si256((const __m256i *)(xb + 64 * pr + 32)));
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i0), _mm256_set1_ps(s[2 * pr]), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i1), _mm256_set1_ps(s[2 * pr + 1]), a1);
    }
    return _mm256_add_ps(a0, a1);
}

/* Q4_K against the pair-interleaved codes of x (quant.h): sub-blocks 2p and 2p+1 are the low
 * and high nibbles of the same 32 code bytes, and x's pair p holds their halves interleaved, so
 * the first 16 bytes broadcast to both lanes and shifted by 0 (low lane) and 4 (high lane)
 * give [2p: 0-15 | 2p+1: 0-15], the next 16 bytes [2p: 16-31 | 2p+1: 16-31]: two accumulating
 * integer dots, then one convert and one FMA for two sub-blocks (q4_unit does the same
 * for Q4_0 / Q4_1). TinyLlama-shaped Q4_K decode, Zen 4: see docs/benchmarks.md. */
MOT_INLINE __m256 q4_k_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t k) {
    const int64_t L = mot_cpu_quant_xsums_len(cols);
    const float *xd = xq, *xds = xq + L;
    const int8_t *xb = (const int8_t *)(xq + 2 * L) + cols + 256 * k;
    const __m256i low4 = _mm256_set1_epi8(15), shifts = _mm256_setr_epi64x(0, 0, 4, 4);
    const uint8_t *qs = b + 16;
    const __m128i w = scales_k4_words(b + 4);
    const __m256 sm = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(w));
    const __m256 sm2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(w, 8)));
    const __m256 sv = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(f16_at(b)), sm), _mm256_loadu_ps(xd + 8 * k));
    __m256 a0 = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_set1_ps(f16_at(b + 2)), sm2), _mm256_loadu_ps(xds + 8 * k), acc);
    __m256 a1 = _mm256_setzero_ps();
    for (int pr = 0; pr < 4; pr++) {
        const __m128i *q = (const __m128i *)(qs + 32 * pr);
        const __m256i a = _mm256_and_si256(_mm256_srlv_epi64(_mm256_broadcastsi128_si256(_mm_loadu_si128(q)), shifts), low4);
        const __m256i c = _mm256_and_si256(_mm256_srlv_epi64(_mm256_broadcastsi128_si256(_mm_loadu_si128(q + 1)), shifts), low4);
        const __m256i iv = idot32_pair4(a, _mm256_loadu_si256((const __m256i *)(xb + 64 * pr)), c,
                                        _mm256_loadu_si256((const __m256i *)(xb + 64 * pr + 32)));
        const int s0 = 2 * pr, s1 = 2 * pr + 1;
        const __m256 sc = _mm256_permutevar8x32_ps(sv, _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1));
        if (pr & 1) {
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), sc, a1);
        } else {
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), sc, a0);
        }
    }
    return _mm256_add_ps(a0, a1);
}

/* The 6-bit codes 0..63 of elements 128 h + 32 g .. + 31 of a Q6_K block */
MOT_INLINE __m256i q6_codes(const uint8_t *b, int h, int g) {
    const __m256i l = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32 * (g & 1)));
    const __m256i hq = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
    const __m256i lo = _mm256_and_si256(g >> 1 ? _mm256_srli_epi16(l, 4) : l, _mm256_set1_epi8(15));
    return _mm256_or_si256(lo, bits_at(hq, 2 * g, 4, 0x30));
}

/* Q6_K: sub-blocks of 16 (lanes 0-3 and 4-7 of a 32-element step), codes 0..63 against x,
 * minus 32 times x's sums (a second integer dot), scale (d sc[i]) d_x. */
MOT_INLINE __m256 q6_k_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t k) {
    const int64_t L = mot_cpu_quant_xsums_len(cols);
    const int8_t *xv = (const int8_t *)(xq + 2 * L);
    const __m256i c32 = _mm256_set1_epi8(32);
    /* The codes first, then the scales and d at the block's end: read in the other order
     * (d at byte 208 first), four rows in lockstep from DRAM streamed at 3-9 GB/s against
     * 11-15 one row at a time; in this order 10-15 in lockstep (2 threads, 300 MB). */
    __m256i iv[8];
    for (int u = 0; u < 8; u++) { /* u = 4 h + g: elements 32 u .. 32 u + 31 */
        const __m256i xb = _mm256_loadu_si256((const __m256i *)(xv + 256 * k + 32 * u));
        iv[u] = _mm256_sub_epi32(idot32(q6_codes(b, u >> 2, u & 3), xb), idot32(c32, xb));
    }
    const __m256 d = _mm256_set1_ps(f16_at(b + 208));
    const __m256 xdd = _mm256_loadu_ps(xq + 8 * k);
    float s[16];
    for (int i = 0; i < 16; i += 8) {
        const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 192 + i))));
        const __m256 xdi = _mm256_permutevar8x32_ps(xdd, _mm256_setr_epi32(i / 2, i / 2, i / 2 + 1, i / 2 + 1,
                                                                          i / 2 + 2, i / 2 + 2, i / 2 + 3, i / 2 + 3));
        _mm256_storeu_ps(s + i, _mm256_mul_ps(_mm256_mul_ps(d, sc), xdi));
    }
    __m256 a0 = acc, a1 = _mm256_setzero_ps();
    for (int u = 0; u < 8; u++) {
        const __m256 sv = _mm256_blend_ps(_mm256_set1_ps(s[2 * u]), _mm256_set1_ps(s[2 * u + 1]), 0xF0);
        if (u & 1) {
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv[u]), sv, a1);
        } else {
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv[u]), sv, a0);
        }
    }
    return _mm256_add_ps(a0, a1);
}

/* Q5_0 / Q5_1 / IQ4_NL: 8 blocks (fewer at the row's end), one block at a time against x's
 * codes in order: Q5's codes 0..31 unsigned (Q5_0's -16 and Q5_1's m as offsets with x's
 * block sums, one FMA a unit, as q4_unit), IQ4_NL's signed levels by Q8_0's sign trick. */
MOT_INLINE __m256 b32x_unit(__m256 acc, const uint8_t *gp, const float *xq, int64_t cols, int64_t u, mot_dtype dt) {
    const int64_t bytes = b32_bytes(dt), nb = cols / 32, g = 8 * u, L = mot_cpu_quant_xsums_len(cols);
    const int count = (int)(nb - g < 8 ? nb - g : 8);
    const int8_t *xv = (const int8_t *)(xq + 2 * L) + 32 * g;
    const __m256 dw = f16_8(gp, bytes, count);
    float s[8];
    _mm256_storeu_ps(s, _mm256_mul_ps(dw, _mm256_loadu_ps(xq + g)));
    __m256 a0 = acc, a1 = _mm256_setzero_ps();
    if (dt != MOT_DTYPE_IQ4_NL) {
        const __m256 off = dt == MOT_DTYPE_Q5_1 ? f16_8(gp + 2, bytes, count) : _mm256_mul_ps(dw, _mm256_set1_ps(-16.0f));
        a0 = _mm256_fmadd_ps(off, _mm256_loadu_ps(xq + L + g), a0);
    }
    for (int b = 0; b < count; b++) {
        const uint8_t *q = gp + b * bytes + b32_qoff(dt);
        const __m256i xb = _mm256_loadu_si256((const __m256i *)(xv + 32 * b));
        __m256i iv;
        if (dt == MOT_DTYPE_IQ4_NL) {
            const __m256i wv = iq4_codes(q);
            iv = idot32(_mm256_abs_epi8(wv), _mm256_sign_epi8(xb, wv));
        } else {
            uint32_t h;
            memcpy(&h, q - 4, 4);
            iv = idot32(q5_codes(q, h), xb);
        }
        if (b & 1) {
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), _mm256_set1_ps(s[b]), a1);
        } else {
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), _mm256_set1_ps(s[b]), a0);
        }
    }
    return _mm256_add_ps(a0, a1);
}
MOT_INLINE __m256 q5_0_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t u) {
    return b32x_unit(acc, b, xq, cols, u, MOT_DTYPE_Q5_0);
}
MOT_INLINE __m256 q5_1_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t u) {
    return b32x_unit(acc, b, xq, cols, u, MOT_DTYPE_Q5_1);
}
MOT_INLINE __m256 iq4_nl_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t u) {
    return b32x_unit(acc, b, xq, cols, u, MOT_DTYPE_IQ4_NL);
}

/* IQ4_XS: sub-block s of 32 (its levels, signed) meets x block 8k + s by the sign trick;
 * scale (d (ls - 32)) d_x. */
MOT_INLINE __m256 iq4_xs_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t k) {
    const int8_t *xb = (const int8_t *)(xq + 2 * mot_cpu_quant_xsums_len(cols)) + 256 * k;
    float sd[8];
    _mm256_storeu_ps(sd, _mm256_mul_ps(iq4_xs_scales(b), _mm256_loadu_ps(xq + 8 * k)));
    __m256 a0 = acc, a1 = _mm256_setzero_ps();
    for (int s = 0; s < 8; s++) {
        const __m256i wv = iq4_codes(b + 8 + 16 * s);
        const __m256i xs = _mm256_loadu_si256((const __m256i *)(xb + 32 * s));
        const __m256i iv = idot32(_mm256_abs_epi8(wv), _mm256_sign_epi8(xs, wv));
        const __m256 sc = _mm256_set1_ps(sd[s]);
        if (s & 1) {
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), sc, a1);
        } else {
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iv), sc, a0);
        }
    }
    return _mm256_add_ps(a0, a1);
}

/* Q2_K / Q3_K: 32-element steps u = 4 h + g, each two sub-blocks of 16: the codes as stored
 * (Q2_K 0..3, Q3_K 0..7: the value + 4) meet x in vpmaddubsw (int16 pairs: the low 128 bits
 * hold sub-block 2u, the high 2u + 1) and the pairs meet the sub-blocks' integer scales in
 * vpmaddwd, so a step is one convert and one FMA with its d_x, and the block's d one FMA at
 * its end (llama.cpp's form, with x's finer scales). The offsets need x's sums per 16, which
 * quantize_x keeps: Q2_K's mins, -dmin sum_i m_i s16_i, and Q3_K's -4 d sum_i sc_i s16_i, two
 * FMAs a block. Before (a float scale per half, blended, and the offsets as a second integer
 * dot a step): TinyLlama-shaped Q2_K_M-like decode 14 t/s, Q3_K_M-like 15. */
MOT_INLINE __m256 k23_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t k, int q3) {
    const int8_t *xv = (const int8_t *)(xq + 2 * mot_cpu_quant_xsums_len(cols)) + 256 * k;
    const float *xd = xq + 8 * k, *s16 = xq + mot_cpu_q8x_sums16_at(cols) + 16 * k;
    __m128i sc8; /* the 16 scales, signed bytes (Q3_K: 6 bits less 32; Q2_K: the low nibbles) */
    if (q3) {
        sc8 = q3_k_scale_bytes(b + 96);
    } else {
        sc8 = _mm_and_si128(_mm_loadu_si128((const __m128i *)b), _mm_set1_epi8(15));
    }
    /* each scale twice in a dword: lo holds sub-blocks 0-3 | 8-11, hi 4-7 | 12-15 */
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const __m256i lo = _mm256_unpacklo_epi16(sc16, sc16), hi = _mm256_unpackhi_epi16(sc16, sc16);
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    for (int u = 0; u < 8; u++) {
        const int p = (2 * u) % 4 + 4 * (u >= 4); /* sub-block 2u's dword in lo or hi */
        const __m256i sv =
            _mm256_permutevar8x32_epi32((u >> 1) & 1 ? hi : lo, _mm256_setr_epi32(p, p, p, p, p + 1, p + 1, p + 1, p + 1));
        const __m256i xb = _mm256_loadu_si256((const __m256i *)(xv + 32 * u));
        const __m256i pairs = _mm256_maddubs_epi16(k23_ucodes(b, q3, u >> 2, u & 3), xb);
        const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, sv));
        if (u & 1) {
            b1 = _mm256_fmadd_ps(f, _mm256_set1_ps(xd[u]), b1);
        } else {
            b0 = _mm256_fmadd_ps(f, _mm256_set1_ps(xd[u]), b0);
        }
    }
    /* the offsets: o = sum_i v_i s16_i with v the mins (Q2_K) or the scales (Q3_K) */
    const __m128i ov = q3 ? sc8 : _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)b), 4), _mm_set1_epi8(15));
    const __m256 ov_lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(ov));
    const __m256 ov_hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(ov, ov)));
    const __m256 o = _mm256_fmadd_ps(ov_hi, _mm256_loadu_ps(s16 + 8), _mm256_mul_ps(ov_lo, _mm256_loadu_ps(s16)));
    const __m256 blk = _mm256_add_ps(b0, b1);
    if (q3) {
        return _mm256_fmadd_ps(_mm256_set1_ps(f16_at(b + 108)), _mm256_fnmadd_ps(_mm256_set1_ps(4.0f), o, blk), acc);
    }
    return _mm256_fnmadd_ps(_mm256_set1_ps(f16_at(b + 82)), o, _mm256_fmadd_ps(_mm256_set1_ps(f16_at(b + 80)), blk, acc));
}
MOT_INLINE __m256 q2_k_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t k) {
    return k23_unit(acc, b, xq, cols, k, 0);
}
MOT_INLINE __m256 q3_k_unit(__m256 acc, const uint8_t *b, const float *xq, int64_t cols, int64_t k) {
    return k23_unit(acc, b, xq, cols, k, 1);
}

/* The dots of the rows row0 + r * stride (r < nrows) of `unit_bytes`-byte units of
 * `unit_elems` elements, a unit of each row in turn (nrows 4: the lockstep of quant.h); unit:
 * a constant, so it inlines. */
MOT_INLINE void fdot_rows(float *out, const void *row0, int64_t stride, int nrows, const float *xq, int64_t cols,
                          int64_t unit_elems, int64_t unit_bytes, fast_unit_fn *unit) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t u = 0; u * unit_elems < cols; u++) {
        /* each row's loads their own instructions: the per-instruction stride prefetcher then
         * sees one stream each (rolled, one load saw 4 rows in turn). TinyLlama-sized Q4_0 dot
         * over 300 MB, 2 threads, alternated: 14-17 -> 16-21 GB/s (Q8_0 18-20 -> 18-21). */
#pragma GCC unroll 4
        for (int r = 0; r < nrows; r++) {
            acc[r] = unit(acc[r], (const uint8_t *)row0 + r * stride + u * unit_bytes, xq, cols, u);
        }
    }
    for (int r = 0; r < nrows; r++) {
        out[r] = mot_hsum8(acc[r]);
    }
}

/* Each fast type's one-row dot and its 4-row (lockstep) form. */
#define FDOT_FORMS(name, unit_elems, unit_bytes)                                                                 \
    static float fdot_##name(const void *row, const float *xq, int64_t cols) {                                   \
        float v;                                                                                                 \
        fdot_rows(&v, row, 0, 1, xq, cols, unit_elems, unit_bytes, name##_unit);                                 \
        return v;                                                                                                \
    }                                                                                                            \
    static void fdot4_##name(float out[4], const void *row0, int64_t stride, const float *xq, int64_t cols) {    \
        fdot_rows(out, row0, stride, 4, xq, cols, unit_elems, unit_bytes, name##_unit);                          \
    }
FDOT_FORMS(q8_0, 16 * 32, 16 * 34)
FDOT_FORMS(q4_0, 8 * 32, 8 * 18)
FDOT_FORMS(q4_1, 8 * 32, 8 * 20)
FDOT_FORMS(q4_k, 256, 144)
FDOT_FORMS(q5_k, 256, 176)
FDOT_FORMS(q6_k, 256, 210)
FDOT_FORMS(q5_0, 8 * 32, 8 * 22)
FDOT_FORMS(q5_1, 8 * 32, 8 * 24)
FDOT_FORMS(iq4_nl, 8 * 32, 8 * 18)
FDOT_FORMS(q2_k, 256, 84)
FDOT_FORMS(q3_k, 256, 110)
FDOT_FORMS(iq4_xs, 256, 136)

/* The kernels of each type: one row a type, the three lookups below read it. */
static const struct {
    mot_dtype dt;
    mot_quant_dot_fn *dot;     /* exact: f32 x */
    mot_quant_fdot_fn *fdot;   /* fast: int8 x, one row */
    mot_quant_fdot4_fn *fdot4; /* fast: 4 rows in lockstep */
} quant_kernels[] = {
    {MOT_DTYPE_Q8_0, dot_q8_0, fdot_q8_0, fdot4_q8_0}, {MOT_DTYPE_Q4_0, dot_q4_0, fdot_q4_0, fdot4_q4_0},
    {MOT_DTYPE_Q4_1, dot_q4_1, fdot_q4_1, fdot4_q4_1}, {MOT_DTYPE_Q4_K, dot_q4_k, fdot_q4_k, fdot4_q4_k},
    {MOT_DTYPE_Q5_K, dot_q5_k, fdot_q5_k, fdot4_q5_k}, {MOT_DTYPE_Q6_K, dot_q6_k, fdot_q6_k, fdot4_q6_k},
    {MOT_DTYPE_Q5_0, dot_q5_0, fdot_q5_0, fdot4_q5_0}, {MOT_DTYPE_Q5_1, dot_q5_1, fdot_q5_1, fdot4_q5_1},
    {MOT_DTYPE_IQ4_NL, dot_iq4_nl, fdot_iq4_nl, fdot4_iq4_nl},
    {MOT_DTYPE_IQ4_XS, dot_iq4_xs, fdot_iq4_xs, fdot4_iq4_xs},
    {MOT_DTYPE_Q2_K, mot_cpu_dot_q2_k, fdot_q2_k, fdot4_q2_k},
    {MOT_DTYPE_Q3_K, mot_cpu_dot_q3_k, fdot_q3_k, fdot4_q3_k},
};
enum { N_QUANT_KERNELS = sizeof quant_kernels / sizeof quant_kernels[0] };

mot_quant_dot_fn *mot_cpu_quant_dot_fn(mot_dtype dt) {
    for (int i = 0; i < N_QUANT_KERNELS; i++) {
        if (quant_kernels[i].dt == dt) return quant_kernels[i].dot;
    }
    return NULL;
}

mot_quant_fdot_fn *mot_cpu_quant_fdot_fn(mot_dtype dt) {
    for (int i = 0; i < N_QUANT_KERNELS; i++) {
        if (quant_kernels[i].dt == dt) return quant_kernels[i].fdot;
    }
    return NULL;
}

mot_quant_fdot4_fn *mot_cpu_quant_fdot4_fn(mot_dtype dt) {
    for (int i = 0; i < N_QUANT_KERNELS; i++) {
        if (quant_kernels[i].dt == dt) return quant_kernels[i].fdot4;
    }
    return NULL;
}

/* ---- the integer form of a row (the fast GEMM's packing) -------------------------------- */

int mot_cpu_quant_sub(mot_dtype dt) {
    return dt == MOT_DTYPE_Q6_K || dt == MOT_DTYPE_Q2_K || dt == MOT_DTYPE_Q3_K ? 16 : 32;
}

/* sums of the signed bytes of v: halves 0-15 and 16-31 (per 128-bit lane) */
MOT_INLINE void sums_s8(__m256i v, int32_t *lo, int32_t *hi) {
    const __m256i s = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)), _mm256_set1_epi16(1));
    const __m256i t = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)), _mm256_set1_epi16(1));
    *lo = hsum8_epi32(s);
    *hi = hsum8_epi32(t);
}

void mot_cpu_quant_row_s8(mot_dtype dt, const void *row, int64_t cols, int8_t *q, float *dw, float *dm,
                          int32_t *qsum) {
    const uint8_t *p = row;
    int32_t lo, hi;
    switch (dt) {
    case MOT_DTYPE_Q8_0:
    case MOT_DTYPE_Q4_0:
    case MOT_DTYPE_Q4_1: {
        const int64_t bytes = dt == MOT_DTYPE_Q8_0 ? 34 : dt == MOT_DTYPE_Q4_0 ? 18 : 20;
        for (int64_t b = 0; b < cols / 32; b++) {
            const uint8_t *bb = p + b * bytes;
            __m256i v = dt == MOT_DTYPE_Q8_0 ? _mm256_loadu_si256((const __m256i *)(bb + 2))
                                             : nib32(bb + (dt == MOT_DTYPE_Q4_1 ? 4 : 2));
            if (dt == MOT_DTYPE_Q4_0) {
                v = _mm256_sub_epi8(v, _mm256_set1_epi8(8));
            }
            _mm256_storeu_si256((__m256i *)(q + 32 * b), v);
            dw[b] = f16_at(bb);
            dm[b] = dt == MOT_DTYPE_Q4_1 ? f16_at(bb + 2) : 0.0f;
            if (qsum) {
                sums_s8(v, &lo, &hi);
                qsum[b] = lo + hi;
            }
        }
        break;
    }
    case MOT_DTYPE_Q4_K:
    case MOT_DTYPE_Q5_K: {
        const int five = dt == MOT_DTYPE_Q5_K;
        const int64_t bytes = five ? 176 : 144;
        for (int64_t k = 0; k < cols / 256; k++) {
            const uint8_t *b = p + k * bytes;
            const uint8_t *qs = b + (five ? 48 : 16);
            uint8_t sc[8], m[8];
            scales_k4(b + 4, sc, m);
            const float d = f16_at(b), dmin = f16_at(b + 2);
            const __m256i hv = five ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
            for (int s = 0; s < 8; s++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * (s / 2)));
                __m256i c = _mm256_and_si256(s & 1 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(15));
                if (five) {
                    c = _mm256_or_si256(c, bits_at(hv, s, 4, 0x10));
                }
                _mm256_storeu_si256((__m256i *)(q + 256 * k + 32 * s), c);
                dw[8 * k + s] = d * (float)sc[s];
                dm[8 * k + s] = -(dmin * (float)m[s]);
                if (qsum) {
                    sums_s8(c, &lo, &hi);
                    qsum[8 * k + s] = lo + hi;
                }
            }
        }
        break;
    }
    case MOT_DTYPE_Q5_0:
    case MOT_DTYPE_Q5_1:
    case MOT_DTYPE_IQ4_NL: {
        const int64_t bytes = b32_bytes(dt);
        for (int64_t b = 0; b < cols / 32; b++) {
            const uint8_t *bb = p + b * bytes, *qs = bb + b32_qoff(dt);
            __m256i v;
            if (dt == MOT_DTYPE_IQ4_NL) {
                v = iq4_codes(qs);
            } else {
                uint32_t h;
                memcpy(&h, qs - 4, 4);
                v = q5_codes(qs, h);
                if (dt == MOT_DTYPE_Q5_0) {
                    v = _mm256_sub_epi8(v, _mm256_set1_epi8(16));
                }
            }
            _mm256_storeu_si256((__m256i *)(q + 32 * b), v);
            dw[b] = f16_at(bb);
            dm[b] = dt == MOT_DTYPE_Q5_1 ? f16_at(bb + 2) : 0.0f;
            if (qsum) {
                sums_s8(v, &lo, &hi);
                qsum[b] = lo + hi;
            }
        }
        break;
    }
    case MOT_DTYPE_IQ4_XS:
        for (int64_t k = 0; k < cols / 256; k++) {
            const uint8_t *b = p + k * 136;
            _mm256_storeu_ps(dw + 8 * k, iq4_xs_scales(b));
            for (int s = 0; s < 8; s++) {
                const __m256i v = iq4_codes(b + 8 + 16 * s);
                _mm256_storeu_si256((__m256i *)(q + 256 * k + 32 * s), v);
                dm[8 * k + s] = 0.0f;
                if (qsum) {
                    sums_s8(v, &lo, &hi);
                    qsum[8 * k + s] = lo + hi;
                }
            }
        }
        break;
    case MOT_DTYPE_Q2_K:
    case MOT_DTYPE_Q3_K: {
        const int q3 = dt == MOT_DTYPE_Q3_K;
        const int64_t bytes = q3 ? 110 : 84;
        for (int64_t k = 0; k < cols / 256; k++) {
            const uint8_t *b = p + k * bytes;
            for (int u = 0; u < 8; u++) {
                const __m256i c = k23_codes(b, q3, u >> 2, u & 3);
                _mm256_storeu_si256((__m256i *)(q + 256 * k + 32 * u), c);
                if (qsum) {
                    sums_s8(c, &qsum[16 * k + 2 * u], &qsum[16 * k + 2 * u + 1]);
                }
            }
            mot_cpu_k23_scales(dt, b, dw + 16 * k, dm + 16 * k);
        }
        break;
    }
    case MOT_DTYPE_Q6_K:
        for (int64_t k = 0; k < cols / 256; k++) {
            const uint8_t *b = p + k * 210;
            const float d = f16_at(b + 208);
            for (int u = 0; u < 8; u++) {
                const __m256i c = _mm256_sub_epi8(q6_codes(b, u >> 2, u & 3), _mm256_set1_epi8(32));
                _mm256_storeu_si256((__m256i *)(q + 256 * k + 32 * u), c);
                if (qsum) {
                    sums_s8(c, &qsum[16 * k + 2 * u], &qsum[16 * k + 2 * u + 1]);
                }
            }
            for (int i = 0; i < 16; i++) {
                dw[16 * k + i] = d * (float)(int8_t)b[192 + i];
                dm[16 * k + i] = 0.0f;
            }
        }
        break;
    default:
        break;
    }
}
