/* The device dequantizer of ggml's block types (kernels/cuda/quant.cu), written once for the
 * device and the host: nvcc compiles it into the kernels, and the C test
 * tests/cuda/test_quant_decode.c runs the same functions on the CPU against
 * mot_ref_dequant_row (ops/ref_quant.c, which spells out the layouts), so the decoding is
 * checked bit for bit on a machine without a GPU.
 *
 * The unit is a piece: 32 consecutive elements of a row. A Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 /
 * IQ4_NL block is one piece; a K or IQ4_XS block (256 elements) is 8. A piece decodes to 32 small integers q (as floats,
 * exact) and a scale a and offset b for each half of 16, so that
 *     element j = a[j / 16] q[j]                  (Q8_0, Q4_0, Q5_0, IQ4_NL, Q3_K, Q6_K, IQ4_XS)
 *     element j = fmaf(a[j / 16], q[j], b[j / 16]) (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K)
 * which is the reference's rounding (one multiply, or one fused multiply-add) bit for bit.
 * The GEMV never forms the elements: it takes a (q . x) + b (sum x) per half, so the scales
 * cost one multiply per 16 elements instead of one per element.
 *
 * Every field of every block sits at an even byte offset, and every row starts at one
 * (all block sizes are even), so the decoders read bytes and the rows may sit anywhere. */
#ifndef MOT_KERNELS_CUDA_QUANT_DECODE_H
#define MOT_KERNELS_CUDA_QUANT_DECODE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "common/tensor.h"
#ifdef __cplusplus
}
#endif

#include "common/half.h"

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define MOT_QHD static __host__ __device__ __forceinline__
#else
#include <math.h>
#define MOT_QHD static inline
#endif

typedef struct {
    float q[32]; /* integers: Q8_0 -128..127, Q4_0 -8..7, Q4_1 / Q4_K 0..15, Q5_0 -16..15, Q5_1 / Q5_K 0..31,
                  * Q2_K 0..3, Q3_K -4..3, Q6_K -32..31, IQ4_NL / IQ4_XS the levels -127..113 */
    float a[2], b[2]; /* scale and offset of elements 0..15 and 16..31 (b 0 for the types without one) */
} mot_qpiece;

/* Pieces of 32 per block, and bytes per block (as mot_dtype_block_bytes; constants here
 * because the device cannot call into the host library). */
MOT_QHD int mot_qpieces_per_block(int dt) {
    return dt == MOT_DTYPE_Q2_K || dt == MOT_DTYPE_Q3_K || dt == MOT_DTYPE_Q4_K || dt == MOT_DTYPE_Q5_K ||
                   dt == MOT_DTYPE_Q6_K || dt == MOT_DTYPE_IQ4_XS
               ? 8
               : 1;
}
MOT_QHD int mot_qblock_bytes(int dt) {
    switch (dt) {
    case MOT_DTYPE_Q8_0: return 34;
    case MOT_DTYPE_Q4_0: return 18;
    case MOT_DTYPE_Q4_1: return 20;
    case MOT_DTYPE_Q4_K: return 144;
    case MOT_DTYPE_Q5_K: return 176;
    case MOT_DTYPE_Q6_K: return 210;
    case MOT_DTYPE_Q5_0: return 22;
    case MOT_DTYPE_Q5_1: return 24;
    case MOT_DTYPE_IQ4_NL: return 18;
    case MOT_DTYPE_Q2_K: return 84;
    case MOT_DTYPE_Q3_K: return 110;
    case MOT_DTYPE_IQ4_XS: return 136;
    default: return 0;
    }
}
/* The types whose elements are a q + b (the others are a q). */
MOT_QHD int mot_qhas_offset(int dt) {
    return dt == MOT_DTYPE_Q4_1 || dt == MOT_DTYPE_Q5_1 || dt == MOT_DTYPE_Q2_K || dt == MOT_DTYPE_Q4_K ||
           dt == MOT_DTYPE_Q5_K;
}
/* Byte offset, in its row, of the block holding piece p. */
MOT_QHD int64_t mot_qpiece_byte(int dt, int64_t p) {
    return p / mot_qpieces_per_block(dt) * mot_qblock_bytes(dt);
}

MOT_QHD float mot_qf16(const uint8_t *p) {
    const uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(h));
#else
    return mot_f16_to_f32(h);
#endif
}

/* x y rounded once: nvcc may not fuse it into a later add (the reference does not). */
MOT_QHD float mot_qmul(float x, float y) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(x, y);
#else
    return x * y;
#endif
}

/* ggml's get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes */
MOT_QHD void mot_qscale_min_k4(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* IQ4_NL's and IQ4_XS's level of nibble v (ggml's kvalues_iq4nl) */
MOT_QHD int mot_qiq4_level(int v) {
    switch (v & 15) {
    case 0: return -127;
    case 1: return -104;
    case 2: return -83;
    case 3: return -65;
    case 4: return -49;
    case 5: return -35;
    case 6: return -22;
    case 7: return -10;
    case 8: return 1;
    case 9: return 13;
    case 10: return 25;
    case 11: return 38;
    case 12: return 53;
    case 13: return 69;
    case 14: return 89;
    default: return 113;
    }
}

/* Q3_K's 6-bit scale i (stored offset by 32) from its 12 packed bytes (ops/ref_quant.c) */
MOT_QHD int mot_qscale_q3_k(const uint8_t *s, int i) {
    const int lo = i < 8 ? s[i] & 15 : s[i - 8] >> 4;
    return lo | (((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4);
}

/* Piece s (0 for the 32-element types, 0..7 for the 256-element ones) of the block at blk. */
MOT_QHD void mot_qpiece_decode(int dt, const uint8_t *blk, int s, mot_qpiece *o) {
    switch (dt) {
    case MOT_DTYPE_Q8_0: {
        o->a[0] = o->a[1] = mot_qf16(blk);
        o->b[0] = o->b[1] = 0.0f;
        for (int j = 0; j < 32; j++) {
            o->q[j] = (float)(int8_t)blk[2 + j];
        }
        break;
    }
    case MOT_DTYPE_Q4_0:
    case MOT_DTYPE_Q4_1: {
        const int q4_1 = dt == MOT_DTYPE_Q4_1;
        const uint8_t *qs = blk + (q4_1 ? 4 : 2);
        const int off = q4_1 ? 0 : 8;
        o->a[0] = o->a[1] = mot_qf16(blk);
        o->b[0] = o->b[1] = q4_1 ? mot_qf16(blk + 2) : 0.0f;
        for (int j = 0; j < 16; j++) {
            o->q[j] = (float)((qs[j] & 15) - off);
            o->q[j + 16] = (float)((qs[j] >> 4) - off);
        }
        break;
    }
    case MOT_DTYPE_Q4_K:
    case MOT_DTYPE_Q5_K: {
        /* f16 d, dmin; scales[12]; (Q5_K: qh[32];) qs[128]: piece s in the low (s even) or
         * high (s odd) nibbles of qs[32 (s / 2) ..], Q5_K's fifth bit in bit s of qh[j] */
        const int q5 = dt == MOT_DTYPE_Q5_K;
        const uint8_t *qs = blk + (q5 ? 48 : 16) + 32 * (s >> 1), *qh = blk + 16;
        const int shift = 4 * (s & 1);
        int sc, m;
        mot_qscale_min_k4(blk + 4, s, &sc, &m);
        o->a[0] = o->a[1] = mot_qmul(mot_qf16(blk), (float)sc);
        o->b[0] = o->b[1] = -mot_qmul(mot_qf16(blk + 2), (float)m);
        for (int j = 0; j < 32; j++) {
            int q = (qs[j] >> shift) & 15;
            if (q5) {
                q |= ((qh[j] >> s) & 1) << 4;
            }
            o->q[j] = (float)q;
        }
        break;
    }
    case MOT_DTYPE_Q6_K: {
        /* ql[128]; qh[64]; int8 scales[16]; f16 d. Piece s = 4 h + g covers elements
         * 128 h + 32 g + j; each half of 16 has its own scale. */
        const int h = s >> 2, g = s & 3;
        const uint8_t *ql = blk + 64 * h + 32 * (g & 1), *qh = blk + 128 + 32 * h;
        const int lshift = 4 * (g >> 1), hshift = 2 * g;
        const float d = mot_qf16(blk + 208);
        o->a[0] = mot_qmul(d, (float)(int8_t)blk[192 + 2 * s]);
        o->a[1] = mot_qmul(d, (float)(int8_t)blk[192 + 2 * s + 1]);
        o->b[0] = o->b[1] = 0.0f;
        for (int j = 0; j < 32; j++) {
            const int lo = (ql[j] >> lshift) & 15, hi = (qh[j] >> hshift) & 3;
            o->q[j] = (float)((lo | (hi << 4)) - 32);
        }
        break;
    }
    case MOT_DTYPE_Q5_0:
    case MOT_DTYPE_Q5_1: {
        /* f16 d, (Q5_1: f16 m,) u8 qh[4], qs[16]: bit j of the word qh is bit 4 of element j */
        const int q5_1 = dt == MOT_DTYPE_Q5_1;
        const uint8_t *qh = blk + (q5_1 ? 4 : 2), *qs = qh + 4;
        const uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
        o->a[0] = o->a[1] = mot_qf16(blk);
        o->b[0] = o->b[1] = q5_1 ? mot_qf16(blk + 2) : 0.0f;
        for (int j = 0; j < 16; j++) {
            o->q[j] = (float)(((qs[j] & 15) | (int)((h >> j) & 1) << 4) - (q5_1 ? 0 : 16));
            o->q[j + 16] = (float)(((qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4) - (q5_1 ? 0 : 16));
        }
        break;
    }
    case MOT_DTYPE_IQ4_NL:
    case MOT_DTYPE_IQ4_XS: {
        /* IQ4_NL: f16 d, qs[16]. IQ4_XS: f16 d, u16 scales_h, u8 scales_l[4], then piece s's
         * 16 bytes at 8 + 16 s with the 6-bit scale ls (stored offset by 32) */
        const int xs = dt == MOT_DTYPE_IQ4_XS;
        const uint8_t *qs = blk + (xs ? 8 + 16 * s : 2);
        float a = mot_qf16(blk);
        if (xs) {
            const int ls = ((blk[4 + s / 2] >> (4 * (s % 2))) & 15) | (((blk[2] | blk[3] << 8) >> (2 * s)) & 3) << 4;
            a = mot_qmul(a, (float)(ls - 32));
        }
        o->a[0] = o->a[1] = a;
        o->b[0] = o->b[1] = 0.0f;
        for (int j = 0; j < 16; j++) {
            o->q[j] = (float)mot_qiq4_level(qs[j]);
            o->q[j + 16] = (float)mot_qiq4_level(qs[j] >> 4);
        }
        break;
    }
    case MOT_DTYPE_Q2_K:
    case MOT_DTYPE_Q3_K: {
        /* Q2_K: scales[16], qs[64], f16 d, dmin. Q3_K: hmask[32], qs[64], scales[12], f16 d.
         * Piece s = 4 h + g covers elements 128 h + 32 g + j: bits 2g of qs[32 h + j] (Q3_K:
         * minus 4 unless bit 4 h + g of hmask[j]); halves t = j / 16 are sub-blocks 2 s + t */
        const int q3 = dt == MOT_DTYPE_Q3_K;
        const int h = s >> 2, g = s & 3;
        const uint8_t *qs = blk + (q3 ? 32 : 16) + 32 * h;
        for (int t = 0; t < 2; t++) {
            const int i = 2 * s + t;
            if (q3) {
                o->a[t] = mot_qmul(mot_qf16(blk + 108), (float)(mot_qscale_q3_k(blk + 96, i) - 32));
                o->b[t] = 0.0f;
            } else {
                o->a[t] = mot_qmul(mot_qf16(blk + 80), (float)(blk[i] & 15));
                o->b[t] = -mot_qmul(mot_qf16(blk + 82), (float)(blk[i] >> 4));
            }
        }
        for (int j = 0; j < 32; j++) {
            int q = (qs[j] >> (2 * g)) & 3;
            if (q3 && !((blk[j] >> (4 * h + g)) & 1)) {
                q -= 4;
            }
            o->q[j] = (float)q;
        }
        break;
    }
    default:
        for (int j = 0; j < 32; j++) {
            o->q[j] = 0.0f; /* the launchers refuse other dtypes */
        }
        o->a[0] = o->a[1] = o->b[0] = o->b[1] = 0.0f;
        break;
    }
}

/* Element j of a decoded piece, rounded as the reference rounds it. */
MOT_QHD float mot_qpiece_value(int dt, const mot_qpiece *p, int j) {
    const int h = j >> 4;
    return mot_qhas_offset(dt) ? fmaf(p->a[h], p->q[j], p->b[h]) : mot_qmul(p->a[h], p->q[j]);
}

/* ---- the GEMV's staging of a row (quant.cu) -----------------------------------------
 * A warp walks a row 32 pieces (1024 elements) at a time, lane l decoding piece 32 k + l of
 * chunk k. The chunk's bytes are copied to shared memory first with 16-byte loads from the
 * 16-byte boundary at or below the chunk's first byte (rows of 34-, 18- or 210-byte blocks
 * are not 16-byte aligned), so every global load is an aligned, coalesced 16 bytes. */

/* 16-byte words a chunk spans at most: 32 Q8_0 blocks (1088 bytes) plus up to 15 of skew. */
#define MOT_QCHUNK_MAX16 72
#define MOT_QCHUNK_LOADS 3 /* per lane: 3 x 32 >= MOT_QCHUNK_MAX16 */

typedef struct {
    uintptr_t a0; /* first 16-byte word (the aligned address at or below the chunk's first byte) */
    int n16;      /* words to load */
    int skew;     /* chunk's first byte - a0 */
    int np;       /* pieces in the chunk (32, fewer in the last) */
} mot_qchunk;

/* Chunk k of the row at address row (p_row pieces). */
MOT_QHD mot_qchunk mot_qchunk_of(int dt, uintptr_t row, int64_t p_row, int64_t k) {
    mot_qchunk c;
    const int64_t p0 = 32 * k;
    c.np = (int)(p_row - p0 < 32 ? p_row - p0 : 32);
    const uintptr_t lo = row + (uintptr_t)mot_qpiece_byte(dt, p0);
    const uintptr_t hi = row + (uintptr_t)mot_qpiece_byte(dt, p0 + c.np);
    c.a0 = lo & ~(uintptr_t)15;
    c.skew = (int)(lo - c.a0);
    c.n16 = (int)((hi - c.a0 + 15) / 16);
    return c;
}

/* Where lane l's piece starts in the staged copy of chunk k. */
MOT_QHD int mot_qchunk_piece_at(int dt, const mot_qchunk *c, int64_t k, int l) {
    const int64_t p0 = 32 * k;
    return c->skew + (int)(mot_qpiece_byte(dt, p0 + l) - mot_qpiece_byte(dt, p0));
}

#endif
