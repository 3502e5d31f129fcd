/* Dots and dequantization of ggml's 2- and 3-bit K types, Q2_K and Q3_K (layouts in
 * ops/ref_quant.c), for kernels/cpu/quant_dot.c's table.
 *
 * Both are 256-element blocks of 16 sub-blocks of 16, and the same 2-bit field layout:
 * element 128 h + 32 g + 16 t + l takes bits 2g..2g+1 of byte 32 h + 16 t + l of the codes
 * (Q3_K adds bit 4 h + g of hmask[16 t + l]). So the code bytes of one (h, t) are loaded once
 * and serve the four sub-blocks g, each by a shift and a mask; each sub-block's partial sums
 * (VL lanes) meet its scale in one FMA. Q2_K's mins need the sums of x over 16 elements,
 * which quant.h's per-32 sums do not give: they are added from the same x loads. */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/quant.h"
#include "kernels/cpu/quant_vec.h"

/* d * (v[i] & 15) and dmin * (v[i] >> 4) for Q2_K's 16 scale bytes v (one product each, as
 * the reference rounds them) */
static void q2_k_scales(const uint8_t *v, float d, float dmin, float dl[16], float ml[16]) {
    for (int i = 0; i < 16; i += 8) {
        const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(v + i)));
        const __m256i low = _mm256_and_si256(b, _mm256_set1_epi32(15));
        _mm256_storeu_ps(dl + i, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(low)));
        _mm256_storeu_ps(ml + i, _mm256_mul_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(_mm256_srli_epi32(b, 4))));
    }
}

/* d * (scale_i - 32) for Q3_K's 16 scales (q3_k_scale_bytes) */
static void q3_k_scales(const uint8_t *s, float d, float dl[16]) {
    const __m128i sc = q3_k_scale_bytes(s);
    _mm256_storeu_ps(dl, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc))));
    _mm256_storeu_ps(dl + 8, _mm256_mul_ps(_mm256_set1_ps(d),
                                           _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(sc, sc)))));
}

void mot_cpu_k23_scales(mot_dtype dt, const uint8_t *b, float dw[16], float dm[16]) {
    if (dt == MOT_DTYPE_Q3_K) {
        q3_k_scales(b + 96, f16_at(b + 108), dw);
        memset(dm, 0, sizeof(float) * 16);
        return;
    }
    q2_k_scales(b, f16_at(b + 80), f16_at(b + 82), dw, dm);
    for (int i = 0; i < 16; i++) {
        dm[i] = -dm[i];
    }
}

/* Lanes' 2-bit codes of sub-block g from the code bytes c; Q3_K: with its high bit from the
 * hmask bytes m (bit n = 4 h + g), minus 4 unless the bit is set */
MOT_INLINE vi q2_codes(vi c, int g) { return vi_and(vi_shr(c, 2 * g), vi_set1(3)); }
MOT_INLINE vi q3_codes(vi c, vi m, int g, int n) {
    const vi hb = vi_and(n >= 2 ? vi_shr(m, n - 2) : vi_shl(m, 2 - n), vi_set1(4));
    return vi_sub(vi_or(q2_codes(c, g), hb), vi_set1(4));
}

float mot_cpu_dot_q2_k(const void *row, const float *x, const float *xs, int64_t cols) {
    (void)xs;
    const uint8_t *p = row;
    vf acc0 = vf_zero(), acc1 = vf_zero(), macc = vf_zero();
    for (int64_t k = 0; k < cols / 256; k++) {
        const uint8_t *b = p + k * 84, *qs = b + 16;
        const float *xb = x + 256 * k;
        float dl[16], ml[16];
        q2_k_scales(b, f16_at(b + 80), f16_at(b + 82), dl, ml);
        for (int h = 0; h < 2; h++) {
            for (int t = 0; t < 2; t++) {
                vf s[4], sx[4];
                for (int g = 0; g < 4; g++) {
                    s[g] = vf_zero(), sx[g] = vf_zero();
                }
                for (int j = 0; j < 16; j += VL) {
                    const vi c = vi_u8(qs + 32 * h + 16 * t + j);
                    for (int g = 0; g < 4; g++) {
                        const vf xv = vf_load(xb + 128 * h + 32 * g + 16 * t + j);
                        s[g] = vf_fma(vi_to_f(q2_codes(c, g)), xv, s[g]);
                        sx[g] = vf_add(sx[g], xv);
                    }
                }
                for (int g = 0; g < 4; g++) {
                    const int i = 8 * h + 2 * g + t;
                    if (g & 1) {
                        acc1 = vf_fma(s[g], vf_set1(dl[i]), acc1);
                    } else {
                        acc0 = vf_fma(s[g], vf_set1(dl[i]), acc0);
                    }
                    macc = vf_fma(sx[g], vf_set1(ml[i]), macc);
                }
            }
        }
    }
    return vf_sum(vf_add(acc0, acc1)) - vf_sum(macc);
}

float mot_cpu_dot_q3_k(const void *row, const float *x, const float *xs, int64_t cols) {
    (void)xs;
    const uint8_t *p = row;
    vf acc0 = vf_zero(), acc1 = vf_zero();
    for (int64_t k = 0; k < cols / 256; k++) {
        const uint8_t *b = p + k * 110, *qs = b + 32;
        const float *xb = x + 256 * k;
        float dl[16];
        q3_k_scales(b + 96, f16_at(b + 108), dl);
        for (int h = 0; h < 2; h++) {
            for (int t = 0; t < 2; t++) {
                vf s[4];
                for (int g = 0; g < 4; g++) {
                    s[g] = vf_zero();
                }
                for (int j = 0; j < 16; j += VL) {
                    const vi c = vi_u8(qs + 32 * h + 16 * t + j), m = vi_u8(b + 16 * t + j);
                    for (int g = 0; g < 4; g++) {
                        const vf xv = vf_load(xb + 128 * h + 32 * g + 16 * t + j);
                        s[g] = vf_fma(vi_to_f(q3_codes(c, m, g, 4 * h + g)), xv, s[g]);
                    }
                }
                for (int g = 0; g < 4; g++) {
                    const int i = 8 * h + 2 * g + t;
                    if (g & 1) {
                        acc1 = vf_fma(s[g], vf_set1(dl[i]), acc1);
                    } else {
                        acc0 = vf_fma(s[g], vf_set1(dl[i]), acc0);
                    }
                }
            }
        }
    }
    return vf_sum(vf_add(acc0, acc1));
}

void mot_cpu_dequant_k23(mot_dtype dt, const uint8_t *p, int64_t nb, float *out) {
    const int q3 = dt == MOT_DTYPE_Q3_K;
    const int64_t bytes = q3 ? 110 : 84;
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *b = p + k * bytes, *qs = q3 ? b + 32 : b + 16;
        float dl[16], ml[16];
        if (q3) {
            q3_k_scales(b + 96, f16_at(b + 108), dl);
        } else {
            q2_k_scales(b, f16_at(b + 80), f16_at(b + 82), dl, ml);
        }
        for (int h = 0; h < 2; h++) {
            for (int t = 0; t < 2; t++) {
                for (int j = 0; j < 16; j += VL) {
                    const vi c = vi_u8(qs + 32 * h + 16 * t + j);
                    const vi m = q3 ? vi_u8(b + 16 * t + j) : c;
                    for (int g = 0; g < 4; g++) {
                        const int i = 8 * h + 2 * g + t;
                        float *o = out + 256 * k + 16 * i + j;
                        if (q3) {
                            vf_store(o, vf_mul(vf_set1(dl[i]), vi_to_f(q3_codes(c, m, g, 4 * h + g))));
                        } else {
                            vf_store(o, vf_fma(vf_set1(dl[i]), vi_to_f(q2_codes(c, g)), vf_set1(-ml[i])));
                        }
                    }
                }
            }
        }
    }
}
