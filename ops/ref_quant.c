/* Reference dequantization of ggml's block formats (the oracle for kernels/cpu/quant_dot.c):
 * one element at a time, spelled out from the layouts below, no vectors.
 *
 * Layouts (little-endian, each row a run of blocks; ggml's ggml-quants.c and the gguf
 * package's quants.py give the same):
 *   Q8_0  34 B / 32:  f16 d; int8 q[32]                      x[j] = d q[j]
 *   Q4_0  18 B / 32:  f16 d; u8 qs[16]                       x[j] = d ((qs[j] & 15) - 8),
 *                                                            x[j + 16] = d ((qs[j] >> 4) - 8)
 *   Q4_1  20 B / 32:  f16 d, f16 m; u8 qs[16]                as Q4_0 without the 8, plus m
 *   Q4_K 144 B / 256: f16 d, f16 dmin; u8 scales[12]; u8 qs[128]
 *     8 sub-blocks of 32; sub-block s has a 6-bit scale sc and min m (scale_min_k4); the 32
 *     bytes qs[32 (s / 2) ..] hold it in their low (s even) or high (s odd) nibbles;
 *     x = (d sc) q - (dmin m)
 *   Q5_K 176 B / 256: f16 d, f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *     as Q4_K, and bit s of qh[j] is bit 4 of element j of sub-block s
 *   Q6_K 210 B / 256: u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d
 *     element 128 h + 32 g + j (h < 2, g < 4, j < 32) has the low 4 bits
 *     (ql[64 h + 32 (g & 1) + j] >> 4 (g >> 1)) & 15 and the high 2 bits
 *     (qh[32 h + j] >> 2 g) & 3; q in 0..63, x = (d scales[i / 16]) (q - 32)
 *   Q5_0  22 B / 32:  f16 d; u8 qh[4]; u8 qs[16]             as Q4_0 with a fifth bit: bit j of
 *     the little-endian word qh is bit 4 of element j; x = d (q - 16)
 *   Q5_1  24 B / 32:  f16 d, f16 m; u8 qh[4]; u8 qs[16]      as Q5_0 without the 16, plus m
 *   IQ4_NL 18 B / 32: f16 d; u8 qs[16]                       as Q4_0's nibbles, x = d K[q] with
 *     K the 16 non-uniform levels below (iq4_levels)
 *   Q2_K  84 B / 256: u8 scales[16]; u8 qs[64]; f16 d, f16 dmin
 *     16 sub-blocks of 16; element 128 h + 32 g + 16 t + l (h, t < 2, g < 4, l < 16) has
 *     q = (qs[32 h + 16 t + l] >> 2 g) & 3; sub-block i = e / 16 has the 4-bit scale
 *     scales[i] & 15 and min scales[i] >> 4; x = (d sc) q - (dmin m)
 *   Q3_K 110 B / 256: u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d
 *     element e as Q2_K's, its low 2 bits the same, and q = low - 4 unless bit 4 h + g of
 *     hmask[16 t + l] is set (q in -4..3); 16 six-bit scales (q3k_scale);
 *     x = (d (sc - 32)) q
 *   IQ4_XS 136 B / 256: f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]
 *     8 sub-blocks of 32, each as IQ4_NL's 16 bytes (qs[16 s ..]), with the 6-bit scale
 *     ls = (scales_l[s / 2] >> 4 (s % 2)) & 15 | ((scales_h >> 2 s) & 3) << 4;
 *     x = (d (ls - 32)) K[q]
 *
 * Rounding, which the kernels reproduce bit for bit (embedding rows and the GEMM's packing
 * must equal this): products of two factors are one f32 multiply; x = a q + b is one fused
 * multiply-add (fmaf), so no compiler contraction can make the kernels differ from it. */
#include <math.h>
#include <string.h>

#include "common/half.h"
#include "ops/ops.h"

static float f16_at(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return mot_f16_to_f32(h);
}

/* ggml's get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes */
static void scale_min_k4(const unsigned char *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* IQ4_NL's and IQ4_XS's 16 levels (ggml's kvalues_iq4nl) */
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Q3_K's 6-bit scale i (0..15, stored offset by 32) from its 12 packed bytes: the low 4 bits
 * in the nibbles of bytes 0-7, the top 2 in the bit pairs of bytes 8-11 */
static int q3k_scale(const unsigned char *s, int i) {
    const int lo = i < 8 ? s[i] & 15 : s[i - 8] >> 4;
    return lo | (((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4);
}

/* One block of 32 (Q8_0, Q4_0, Q4_1) or 256 (the K types) elements into out. */
static void dequant_block(mot_dtype dt, const unsigned char *b, float *out) {
    switch (dt) {
    case MOT_DTYPE_Q8_0: {
        const float d = f16_at(b);
        for (int j = 0; j < 32; j++) {
            out[j] = d * (float)(int8_t)b[2 + j];
        }
        break;
    }
    case MOT_DTYPE_Q4_0: {
        const float d = f16_at(b);
        for (int j = 0; j < 16; j++) {
            out[j] = d * (float)((b[2 + j] & 15) - 8);
            out[j + 16] = d * (float)((b[2 + j] >> 4) - 8);
        }
        break;
    }
    case MOT_DTYPE_Q4_1: {
        const float d = f16_at(b), m = f16_at(b + 2);
        for (int j = 0; j < 16; j++) {
            out[j] = fmaf(d, (float)(b[4 + j] & 15), m);
            out[j + 16] = fmaf(d, (float)(b[4 + j] >> 4), m);
        }
        break;
    }
    case MOT_DTYPE_Q4_K:
    case MOT_DTYPE_Q5_K: {
        const float d = f16_at(b), dmin = f16_at(b + 2);
        const unsigned char *scales = b + 4;
        const unsigned char *qh = b + 16; /* Q5_K only */
        const unsigned char *qs = dt == MOT_DTYPE_Q4_K ? b + 16 : b + 48;
        for (int s = 0; s < 8; s++) {
            int sc, m;
            scale_min_k4(scales, s, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            for (int j = 0; j < 32; j++) {
                int q = (qs[32 * (s / 2) + j] >> (4 * (s % 2))) & 15;
                if (dt == MOT_DTYPE_Q5_K) {
                    q |= ((qh[j] >> s) & 1) << 4;
                }
                out[32 * s + j] = fmaf(d1, (float)q, -m1);
            }
        }
        break;
    }
    case MOT_DTYPE_Q6_K: {
        const unsigned char *ql = b, *qh = b + 128;
        const int8_t *scales = (const int8_t *)(b + 192);
        const float d = f16_at(b + 208);
        for (int h = 0; h < 2; h++) {
            for (int g = 0; g < 4; g++) {
                for (int j = 0; j < 32; j++) {
                    const int i = 128 * h + 32 * g + j;
                    const int lo = (ql[64 * h + 32 * (g & 1) + j] >> (4 * (g >> 1))) & 15;
                    const int hi = (qh[32 * h + j] >> (2 * g)) & 3;
                    out[i] = (d * (float)scales[i / 16]) * (float)((lo | (hi << 4)) - 32);
                }
            }
        }
        break;
    }
    case MOT_DTYPE_Q5_0:
    case MOT_DTYPE_Q5_1: {
        const int q5_1 = dt == MOT_DTYPE_Q5_1;
        const float d = f16_at(b), m = q5_1 ? f16_at(b + 2) : 0.0f;
        const unsigned char *qh = b + (q5_1 ? 4 : 2), *qs = qh + 4;
        const uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
        for (int j = 0; j < 32; j++) {
            const int q = ((j < 16 ? qs[j] & 15 : qs[j - 16] >> 4) | (int)((h >> j) & 1) << 4) - (q5_1 ? 0 : 16);
            out[j] = q5_1 ? fmaf(d, (float)q, m) : d * (float)q;
        }
        break;
    }
    case MOT_DTYPE_IQ4_NL: {
        const float d = f16_at(b);
        for (int j = 0; j < 16; j++) {
            out[j] = d * (float)iq4_levels[b[2 + j] & 15];
            out[j + 16] = d * (float)iq4_levels[b[2 + j] >> 4];
        }
        break;
    }
    case MOT_DTYPE_Q2_K:
    case MOT_DTYPE_Q3_K: {
        const int q3 = dt == MOT_DTYPE_Q3_K;
        const unsigned char *hmask = b, *qs = q3 ? b + 32 : b + 16;
        const float d = f16_at(q3 ? b + 108 : b + 80), dmin = q3 ? 0.0f : f16_at(b + 82);
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, g = e / 32 % 4, t = e / 16 % 2, l = e % 16, i = e / 16;
            int q = (qs[32 * h + 16 * t + l] >> (2 * g)) & 3;
            if (q3) {
                q -= (hmask[16 * t + l] >> (4 * h + g)) & 1 ? 0 : 4;
                out[e] = (d * (float)(q3k_scale(b + 96, i) - 32)) * (float)q;
            } else {
                out[e] = fmaf(d * (float)(b[i] & 15), (float)q, -(dmin * (float)(b[i] >> 4)));
            }
        }
        break;
    }
    case MOT_DTYPE_IQ4_XS: {
        const float d = f16_at(b);
        const int scales_h = b[2] | b[3] << 8;
        for (int s = 0; s < 8; s++) {
            const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 15) | ((scales_h >> (2 * s)) & 3) << 4;
            const float dl = d * (float)(ls - 32);
            const unsigned char *qs = b + 8 + 16 * s;
            for (int j = 0; j < 16; j++) {
                out[32 * s + j] = dl * (float)iq4_levels[qs[j] & 15];
                out[32 * s + j + 16] = dl * (float)iq4_levels[qs[j] >> 4];
            }
        }
        break;
    }
    default:
        break;
    }
}

void mot_ref_dequant_row(mot_dtype dt, const void *row, int64_t n, float *out) {
    const unsigned char *p = row;
    switch (dt) {
    case MOT_DTYPE_F32:
        memcpy(out, p, sizeof(float) * (size_t)n);
        return;
    case MOT_DTYPE_F16:
    case MOT_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = dt == MOT_DTYPE_F16 ? mot_f16_to_f32(h) : mot_bf16_to_f32(h);
        }
        return;
    default:
        break;
    }
    if (!mot_dtype_is_quantized(dt)) {
        for (int64_t i = 0; i < n; i++) {
            out[i] = 0.0f; /* loaders reject other dtypes before any op runs */
        }
        return;
    }
    const int be = mot_dtype_block_elems(dt);
    const size_t bb = mot_dtype_block_bytes(dt);
    for (int64_t i = 0; i < n / be; i++) {
        dequant_block(dt, p + (size_t)i * bb, out + i * be);
    }
}

/* mot_weight_at: one element of a weight in any supported storage dtype, as f32. */
float mot_weight_at(const mot_weight *w, int64_t r, int64_t c) {
    /* The element's block (one element for the plain types) through the reference
     * dequantization, so every reference that reads a weight this way sees the same values
     * as mot_ref_dequant_row gives for the whole row. */
    const int be = mot_dtype_block_elems(w->dtype);
    if (be < 1 || be > 256) {
        return 0.0f; /* loaders reject other dtypes before any op runs */
    }
    const char *row = (const char *)w->data + (size_t)r * mot_dtype_row_bytes(w->dtype, w->cols);
    const int64_t b = c / be;
    float block[256];
    mot_ref_dequant_row(w->dtype, row + (size_t)b * mot_dtype_block_bytes(w->dtype), be, block);
    return block[c - b * be];
}

/* ---- precision: fast, spelled out: x quantized per 32-element block, integer dots ----------
 * (the oracle for kernels/cpu/quant_dot.c's fdot and the fast GEMM: the same integers, the
 * scales in double) */

void mot_ref_quantize_x(const float *x, int64_t cols, int8_t *q, float *d) {
    for (int64_t b = 0; b < cols / 32; b++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            amax = fmaxf(amax, fabsf(x[32 * b + j]));
        }
        const float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        for (int j = 0; j < 32; j++) {
            const float v = x[32 * b + j] * id;
            q[32 * b + j] = (int8_t)nearbyintf(v); /* ties to even, as cvtps2dq */
        }
        d[b] = db;
    }
}

/* w_j = dw[s] q[j] + dm[s], s = j / S: the stored codes as integers */
static int int_block(mot_dtype dt, const unsigned char *b, int *q, double *dw, double *dm) {
    switch (dt) {
    case MOT_DTYPE_Q8_0:
        for (int j = 0; j < 32; j++) q[j] = (int8_t)b[2 + j];
        dw[0] = f16_at(b), dm[0] = 0.0;
        return 32;
    case MOT_DTYPE_Q4_0:
    case MOT_DTYPE_Q4_1: {
        const int o = dt == MOT_DTYPE_Q4_1 ? 4 : 2, off = dt == MOT_DTYPE_Q4_1 ? 0 : 8;
        for (int j = 0; j < 16; j++) {
            q[j] = (b[o + j] & 15) - off;
            q[j + 16] = (b[o + j] >> 4) - off;
        }
        dw[0] = f16_at(b), dm[0] = dt == MOT_DTYPE_Q4_1 ? f16_at(b + 2) : 0.0;
        return 32;
    }
    case MOT_DTYPE_Q4_K:
    case MOT_DTYPE_Q5_K: {
        const float d = f16_at(b), dmin = f16_at(b + 2);
        const unsigned char *qh = b + 16, *qs = dt == MOT_DTYPE_Q4_K ? b + 16 : b + 48;
        for (int s = 0; s < 8; s++) {
            int sc, m;
            scale_min_k4(b + 4, s, &sc, &m);
            dw[s] = d * (float)sc, dm[s] = -(double)(dmin * (float)m);
            for (int j = 0; j < 32; j++) {
                int v = (qs[32 * (s / 2) + j] >> (4 * (s % 2))) & 15;
                if (dt == MOT_DTYPE_Q5_K) v |= ((qh[j] >> s) & 1) << 4;
                q[32 * s + j] = v;
            }
        }
        return 32;
    }
    case MOT_DTYPE_Q5_0:
    case MOT_DTYPE_Q5_1:
    case MOT_DTYPE_IQ4_NL: {
        const float d = f16_at(b), m = dt == MOT_DTYPE_Q5_1 ? f16_at(b + 2) : 0.0f;
        const unsigned char *qs = b + (dt == MOT_DTYPE_IQ4_NL ? 2 : dt == MOT_DTYPE_Q5_0 ? 6 : 8);
        for (int j = 0; j < 16; j++) {
            const int lo = qs[j] & 15, hi = qs[j] >> 4;
            if (dt == MOT_DTYPE_IQ4_NL) {
                q[j] = iq4_levels[lo], q[j + 16] = iq4_levels[hi];
            } else {
                const unsigned char *qh = b + (dt == MOT_DTYPE_Q5_1 ? 4 : 2);
                const uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
                const int off = dt == MOT_DTYPE_Q5_0 ? 16 : 0;
                q[j] = (lo | (int)((h >> j) & 1) << 4) - off;
                q[j + 16] = (hi | (int)((h >> (j + 16)) & 1) << 4) - off;
            }
        }
        dw[0] = d, dm[0] = m;
        return 32;
    }
    case MOT_DTYPE_IQ4_XS: {
        const float d = f16_at(b);
        const int scales_h = b[2] | b[3] << 8;
        for (int s = 0; s < 8; s++) {
            const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 15) | ((scales_h >> (2 * s)) & 3) << 4;
            dw[s] = d * (float)(ls - 32), dm[s] = 0.0;
            for (int j = 0; j < 16; j++) {
                q[32 * s + j] = iq4_levels[b[8 + 16 * s + j] & 15];
                q[32 * s + j + 16] = iq4_levels[b[8 + 16 * s + j] >> 4];
            }
        }
        return 32;
    }
    case MOT_DTYPE_Q2_K:
    case MOT_DTYPE_Q3_K: {
        const int q3 = dt == MOT_DTYPE_Q3_K;
        const unsigned char *qs = q3 ? b + 32 : b + 16;
        const float d = f16_at(q3 ? b + 108 : b + 80), dmin = q3 ? 0.0f : f16_at(b + 82);
        for (int i = 0; i < 16; i++) {
            dw[i] = q3 ? d * (float)(q3k_scale(b + 96, i) - 32) : d * (float)(b[i] & 15);
            dm[i] = q3 ? 0.0 : -(double)(dmin * (float)(b[i] >> 4));
        }
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, g = e / 32 % 4, t = e / 16 % 2, l = e % 16;
            q[e] = (qs[32 * h + 16 * t + l] >> (2 * g)) & 3;
            if (q3 && !((b[16 * t + l] >> (4 * h + g)) & 1)) q[e] -= 4;
        }
        return 16;
    }
    case MOT_DTYPE_Q6_K: {
        const float d = f16_at(b + 208);
        for (int i = 0; i < 16; i++) dw[i] = d * (float)(int8_t)b[192 + i], dm[i] = 0.0;
        for (int h = 0; h < 2; h++)
            for (int g = 0; g < 4; g++)
                for (int j = 0; j < 32; j++) {
                    const int lo = (b[64 * h + 32 * (g & 1) + j] >> (4 * (g >> 1))) & 15;
                    const int hi = (b[128 + 32 * h + j] >> (2 * g)) & 3;
                    q[128 * h + 32 * g + j] = (lo | (hi << 4)) - 32;
                }
        return 16;
    }
    default:
        return 0;
    }
}

double mot_ref_quant_dot_q8(mot_dtype dt, const void *row, const int8_t *xq, const float *xd, int64_t cols,
                            double *abs_sum) {
    const int be = mot_dtype_block_elems(dt);
    const size_t bb = mot_dtype_block_bytes(dt);
    double sum = 0.0, asum = 0.0;
    int q[256];
    double dw[16], dm[16];
    for (int64_t k = 0; k < cols / be; k++) {
        const int S = int_block(dt, (const unsigned char *)row + (size_t)k * bb, q, dw, dm);
        if (!S) {
            if (abs_sum) *abs_sum = NAN;
            return NAN; /* a type without an integer form (no fast kernels) */
        }
        for (int s = 0; s < be / S; s++) {
            const int64_t e0 = k * be + (int64_t)s * S;
            int64_t isum = 0, xsum = 0;
            for (int j = 0; j < S; j++) {
                isum += (int64_t)q[s * S + j] * xq[e0 + j];
                xsum += xq[e0 + j];
            }
            const double dx = xd[e0 / 32];
            const double t1 = dw[s] * dx * (double)isum, t2 = dm[s] * dx * (double)xsum;
            sum += t1 + t2;
            asum += fabs(t1) + fabs(t2);
        }
    }
    if (abs_sum) *abs_sum = asum;
    return sum;
}
