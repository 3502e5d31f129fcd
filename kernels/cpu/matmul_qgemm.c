/* Prefill GEMM over block-quantized weights with int8 activations (`precision: fast`,
 * kernels/cpu/quant.h): y[n, rows] = x[n, cols] . W^T where x is quantized per 32-element
 * block (mot_cpu_quantize_x) and W's stored codes meet it in AVX-512 VNNI integer dot products.
 *
 * vpdpbusd multiplies unsigned by signed bytes, 4 at a time into 16 int32 lanes. The
 * unsigned side is x's codes + 128 (so 1..255: one pack of 4 per token broadcast), the signed
 * side the weights' codes (Q4_0 q - 8, Q5_0 q - 16, Q3_K q - 4, Q6_K q - 32, the others as
 * stored), 16 weight rows a vector; sum_j (q_x + 128) q_w = q_x . q_w + 128 sum q_w, and the
 * second term (per row and sub-block, from the packing) is subtracted before the scales: the
 * integer part is exact. Tile: 4 tokens x 48 rows, 12 int32 accumulators over one sub-block
 * (32 columns, 16 for Q2_K, Q3_K, Q6_K) and 12 f32 ones over all of k: per sub-block, iacc
 * (started at -corr) as f32 times d_w d_x, plus the offset m_w ds_x (Q4_1, Q5_1, Q2_K, Q4_K,
 * Q5_K; ds_x the sub-block's own: per 16 for Q2_K). The packed weights of a panel (48 rows
 * over all of k, cols x 48 bytes + the scales) stay in L2 while every token tile passes.
 *
 * With AVX2 only (no VNNI: Zen 3, most desktop CPUs) the same tiling runs on 8-row vectors with
 * the roles swapped, since vpmaddubsw (unsigned x signed bytes, pairs summed into int16)
 * saturates: the unsigned side is the weights' stored codes (0..15; the Q5 types 0..31; Q2_K
 * 0..3; Q3_K 0..7; Q4_0's -8, Q5_0's -16 and Q3_K's -4 go to the offset term as m = -8 d,
 * -16 d, -4 d), the signed side x's codes, so a pair is at most 2 x 31 x 127 and 16 products
 * of 4-bit codes, 8 of 5-bit ones (a sub-block of 16 at once), add up in int16 before one
 * vpmaddwd widens them. Q8_0's, Q6_K's and the IQ4 levels' signed codes would saturate a
 * pair: their panel and x hold int16 codes instead (`wide`), two columns a dword, and vpmaddwd
 * sums each pair straight into int32 (16 products a vpmaddwd against vpmaddubsw's 32, but no
 * sign trick and no widening: on Zen 3 the GEMM alone measured ~1.1-1.2x the exact f32 GEMM it
 * replaces, Q8_0 and Q6_K alike, docs/benchmarks.md). Without AVX2 there is no fast GEMM: the
 * exact one runs (mot_cpu_qgemm_fast_ok). */
#include <omp.h>
#include <string.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define QGEMM_VNNI512 1
enum { QMR = 4, QNV = 3, QVL = 16, QNR = QVL * QNV };

int mot_cpu_qgemm_fast_ok(mot_dtype dt) { return mot_cpu_quant_fdot_fn(dt) != NULL; }
static int wide_codes(mot_dtype dt) { (void)dt; return 0; } /* bytes for every type (vpdpbusd) */
#elif defined(__AVX2__)
#define QGEMM_AVX2 1
enum { QMR = 4, QNV = 2, QVL = 8, QNR = QVL * QNV };

/* every type: the codes unsigned as stored (or, Q4_0, Q5_0 and Q3_K, once their 8, 16 or 4
 * is added back), the signed ones (Q8_0, Q6_K, the IQ4 levels) as int16 (the header) */
int mot_cpu_qgemm_fast_ok(mot_dtype dt) { return mot_cpu_quant_fdot_fn(dt) != NULL; }
static int wide_codes(mot_dtype dt) { /* int16, 2 a dword */
    return dt == MOT_DTYPE_Q8_0 || dt == MOT_DTYPE_Q6_K || dt == MOT_DTYPE_IQ4_NL || dt == MOT_DTYPE_IQ4_XS;
}
#endif

#if defined(QGEMM_VNNI512) || defined(QGEMM_AVX2)

static mot_thread_scratch qa_scratch; /* packed x, then a quantized token row a thread: one
                                         thread's, shared with the team */
static mot_thread_scratch qb_scratch; /* a panel and 16 decoded rows: each thread's own */

/* A packed panel of QNR rows: bq[nq][QNR] (4 codes of a row per int32; 2 int16 ones when
 * wide_codes, nq = cols / 2), and per
 * sub-block s: dw, dm [nsub][QNR] and ncorr [nsub][QNR] = -128 * the sum of the codes, which
 * the integer accumulators start from (one subtraction less per accumulator and sub-block). */
typedef struct {
    int32_t *bq;
    float *dw, *dm;
    int32_t *ncorr;
} qpanel;

static size_t panel_floats(int64_t nq, int64_t cols, int S) { return (size_t)(nq + 3 * (cols / S)) * QNR; }

#if defined(QGEMM_VNNI512)

/* The 16 x 16 int32 transpose: r[i] holds row i's 16 dwords on entry, dword i of every row
 * on return (unpacks within 128-bit lanes, then lane shuffles: 64 shuffles for 256 dwords). */
MOT_INLINE void transpose16x16(__m512i r[16]) {
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int j = 0; j < 4; j++) { /* b[4j + c], lane L: column 4L + c of rows 4j..4j+3 */
        b[4 * j] = _mm512_unpacklo_epi64(a[4 * j], a[4 * j + 2]);
        b[4 * j + 1] = _mm512_unpackhi_epi64(a[4 * j], a[4 * j + 2]);
        b[4 * j + 2] = _mm512_unpacklo_epi64(a[4 * j + 1], a[4 * j + 3]);
        b[4 * j + 3] = _mm512_unpackhi_epi64(a[4 * j + 1], a[4 * j + 3]);
    }
    for (int c = 0; c < 4; c++) { /* column 4L + c = lane L of b[c], b[4 + c], b[8 + c], b[12 + c] */
        const __m512i e0 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44), e1 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xee);
        const __m512i e2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44);
        const __m512i e3 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xee);
        r[c] = _mm512_shuffle_i32x4(e0, e2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(e0, e2, 0xdd);
        r[8 + c] = _mm512_shuffle_i32x4(e1, e3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(e1, e3, 0xdd);
    }
}

/* tmp: 16 rows' codes (16 cols bytes) + 3 * nsub floats. Rows are decoded 16 at a time and
 * their codes transposed 16 x 16 dwords into bq: a dword-by-dword strided copy cost ~10% of a
 * Q4_K prefill GEMM (same bytes either way). 64 columns at a time; the columns past the last
 * whole 64 (widths that are not multiples of 64) dword by dword. */
static void pack_panel(qpanel *bp, float *tmp, const mot_weight *w, int64_t j0, int S) {
    const int64_t cols = w->cols, nsub = cols / S, nq = cols / 4;
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
    const int nr = (int)(w->rows - j0 < QNR ? w->rows - j0 : QNR);
    float *tdw = tmp, *tdm = tmp + nsub;
    int32_t *tqs = (int32_t *)(tmp + 2 * nsub);
    int8_t *tq = (int8_t *)(tmp + 3 * nsub); /* [16][cols] */
    for (int g = 0; g < QNV; g++) {
        for (int i = 0; i < 16; i++) {
            const int r = 16 * g + i;
            int8_t *q = tq + (size_t)i * cols;
            if (r >= nr) {
                memset(q, 0, (size_t)cols);
                for (int64_t s = 0; s < nsub; s++) {
                    bp->dw[s * QNR + r] = bp->dm[s * QNR + r] = 0.0f;
                    bp->ncorr[s * QNR + r] = 0;
                }
                continue;
            }
            mot_cpu_quant_row_s8(w->dtype, (const char *)w->data + (size_t)(j0 + r) * row_bytes, cols, q, tdw, tdm,
                                 tqs);
            for (int64_t s = 0; s < nsub; s++) {
                bp->dw[s * QNR + r] = tdw[s];
                bp->dm[s * QNR + r] = tdm[s];
                bp->ncorr[s * QNR + r] = -128 * tqs[s];
            }
        }
        int64_t k0 = 0;
        for (; k0 + 16 <= nq; k0 += 16) { /* dwords k0..k0+15 of the 16 rows */
            __m512i r16[16];
            for (int i = 0; i < 16; i++) r16[i] = _mm512_loadu_si512((const void *)(tq + (size_t)i * cols + 4 * k0));
            transpose16x16(r16);
            for (int k = 0; k < 16; k++) _mm512_storeu_si512((void *)(bp->bq + (k0 + k) * QNR + 16 * g), r16[k]);
        }
        for (int64_t k = k0; k < nq; k++) {
            for (int i = 0; i < 16; i++) {
                int32_t v;
                memcpy(&v, tq + (size_t)i * cols + 4 * k, 4);
                bp->bq[k * QNR + 16 * g + i] = v;
            }
        }
    }
}

/* y[mr, nr] (row stride ldy) = the tile of tokens aq (packed [cols / 4][QMR], scales ad
 * [cols / 32][QMR], code sums ads [cols / S][QMR]) against the panel. */
MOT_INLINE void qtile(float *y, int64_t ldy, const int32_t *aq, const float *ad, const float *ads, const qpanel *bp,
                      int64_t cols, int S, int offs, int mr, int nr) {
    __m512 facc[QMR][QNV];
    for (int t = 0; t < QMR; t++)
        for (int v = 0; v < QNV; v++) facc[t][v] = _mm512_setzero_ps();
    const int64_t nsub = cols / S;
    const int qps = S / 4;
    for (int64_t s = 0; s < nsub; s++) {
        __m512i iacc[QMR][QNV];
        for (int v = 0; v < QNV; v++) {
            const __m512i nc = _mm512_loadu_si512((const void *)(bp->ncorr + s * QNR + 16 * v));
            for (int t = 0; t < QMR; t++) iacc[t][v] = nc;
        }
        const int64_t kq0 = s * qps;
        for (int kk = 0; kk < qps; kk++) {
            const int64_t kq = kq0 + kk;
            __m512i b[QNV];
            for (int v = 0; v < QNV; v++) {
                b[v] = _mm512_loadu_si512((const void *)(bp->bq + kq * QNR + 16 * v));
                __asm__("" : "+v"(b[v]));
            }
            for (int t = 0; t < QMR; t++) {
                const __m512i a = _mm512_set1_epi32(aq[kq * QMR + t]);
                for (int v = 0; v < QNV; v++) {
                    iacc[t][v] = _mm512_dpbusd_epi32(iacc[t][v], a, b[v]);
                }
            }
        }
        const int64_t blk = s * S / 32;
        for (int v = 0; v < QNV; v++) {
            const __m512 dwv = _mm512_loadu_ps(bp->dw + s * QNR + 16 * v);
            for (int t = 0; t < QMR; t++) {
                const __m512 f = _mm512_cvtepi32_ps(iacc[t][v]);
                facc[t][v] = _mm512_fmadd_ps(f, _mm512_mul_ps(dwv, _mm512_set1_ps(ad[blk * QMR + t])), facc[t][v]);
            }
            if (offs) {
                const __m512 dmv = _mm512_loadu_ps(bp->dm + s * QNR + 16 * v);
                for (int t = 0; t < QMR; t++) {
                    facc[t][v] = _mm512_fmadd_ps(dmv, _mm512_set1_ps(ads[s * QMR + t]), facc[t][v]);
                }
            }
        }
    }
    for (int t = 0; t < mr; t++) {
        for (int v = 0; v < QNV; v++) {
            const int left = nr - 16 * v;
            if (left <= 0) break;
            const __mmask16 k = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
            _mm512_mask_storeu_ps(y + t * ldy + 16 * v, k, facc[t][v]);
        }
    }
}

#else /* QGEMM_AVX2 */

/* The 8 x 8 int32 transpose: r[i] holds row i's 8 dwords on entry, dword i of every row on
 * return (unpacks within 128-bit lanes, then lane swaps: 24 shuffles for 64 dwords). */
MOT_INLINE void transpose8x8(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { /* rows 4h..4h+3: u[4h + c], lane L: column 4L + c */
        u[4 * h] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
        u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
    }
}

/* As the AVX-512 packing, 8 rows at a time, with the codes unsigned as stored: Q4_0's decoded
 * q - 8 gets its 8 back and the offset term m = -8 d instead (ncorr is not used). Wide
 * (Q8_0, Q6_K): the signed codes sign-extended to int16, a dword holding 2 columns. */
static void pack_panel(qpanel *bp, float *tmp, const mot_weight *w, int64_t j0, int S) {
    const int wide = wide_codes(w->dtype);
    const int64_t cols = w->cols, nsub = cols / S, nq = wide ? cols / 2 : cols / 4;
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols), stride = (size_t)nq * 4; /* bytes a packed row */
    const int nr = (int)(w->rows - j0 < QNR ? w->rows - j0 : QNR);
    /* Q4_0's q - 8, Q5_0's q - 16 and Q3_K's q - 4 get their 8, 16 or 4 back (unsigned codes) */
    const int unsign = w->dtype == MOT_DTYPE_Q4_0 ? 8 : w->dtype == MOT_DTYPE_Q5_0 ? 16 : w->dtype == MOT_DTYPE_Q3_K ? 4 : 0;
    float *tdw = tmp, *tdm = tmp + nsub;
    int8_t *tq = (int8_t *)(tmp + 3 * nsub); /* [8][stride] */
    int8_t *t8 = tq + QVL * stride;          /* one row's int8 codes, widened from here */
    for (int g = 0; g < QNV; g++) {
        for (int i = 0; i < QVL; i++) {
            const int r = QVL * g + i;
            int8_t *q = tq + (size_t)i * stride;
            if (r >= nr) {
                memset(q, 0, stride);
                for (int64_t s = 0; s < nsub; s++) {
                    bp->dw[s * QNR + r] = bp->dm[s * QNR + r] = 0.0f;
                }
                continue;
            }
            mot_cpu_quant_row_s8(w->dtype, (const char *)w->data + (size_t)(j0 + r) * row_bytes, cols, wide ? t8 : q,
                                 tdw, tdm, NULL); /* no code sums: there is no ncorr here */
            for (int64_t k = 0; wide && k + 16 <= cols; k += 16) {
                const __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(t8 + k)));
                _mm256_storeu_si256((__m256i *)(q + 2 * k), v);
            }
            if (unsign) {
                for (int64_t k = 0; k + 32 <= cols; k += 32) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(q + k));
                    _mm256_storeu_si256((__m256i *)(q + k), _mm256_add_epi8(v, _mm256_set1_epi8((char)unsign)));
                }
            }
            for (int64_t s = 0; s < nsub; s++) {
                bp->dw[s * QNR + r] = tdw[s];
                bp->dm[s * QNR + r] = unsign ? -(float)unsign * tdw[s] : tdm[s];
            }
        }
        int64_t k0 = 0;
        for (; k0 + QVL <= nq; k0 += QVL) { /* dwords k0..k0+7 of the 8 rows */
            __m256i r8[8];
            for (int i = 0; i < 8; i++) r8[i] = _mm256_loadu_si256((const __m256i *)(tq + (size_t)i * stride + 4 * k0));
            transpose8x8(r8);
            for (int k = 0; k < 8; k++) _mm256_storeu_si256((__m256i *)(bp->bq + (k0 + k) * QNR + QVL * g), r8[k]);
        }
        for (int64_t k = k0; k < nq; k++) {
            for (int i = 0; i < QVL; i++) {
                int32_t v;
                memcpy(&v, tq + (size_t)i * stride + 4 * k, 4);
                bp->bq[k * QNR + QVL * g + i] = v;
            }
        }
    }
}

/* acc[t * QNV + v] = the integer sums of steps [kq0, kq1) (a step: one dword of x per token
 * against the panel's dword row), token t against the rows of vector v: vpmaddubsw pairs added
 * in int16 (bytes), or vpmaddwd pairs added in int32 (wide). A token's step is one asm
 * statement: written as intrinsics over acc[4][2] (or 8 named sums), gcc hoisted the four
 * broadcasts of a step, ran out of the 16 registers and kept a sum in memory, stored and
 * reloaded every step, a loop-carried store forwarding (the Q4_0 GEMM alone, 5632 x 2048,
 * n = 128, one thread, six runs alternated with the former form: best 113.5 -> 134.8 GFLOP/s,
 * docs/benchmarks.md). */
#define QSTEP(MUL, ADD, t, c0, c1)                                                                      \
    __asm__(MUL " %[a], %[b0], %[p]\n\t" ADD " %[p], %[s0], %[s0]\n\t" MUL " %[a], %[b1], %[p]\n\t" ADD \
                " %[p], %[s1], %[s1]"                                                                    \
            : [s0] "+x"(c0), [s1] "+x"(c1), [p] "=&x"(p_)                                               \
            : [a] "x"(_mm256_set1_epi32(aq[kq * QMR + (t)])), [b0] "x"(b0), [b1] "x"(b1))
#define QSTEPS(MUL, ADD)                                                                                 \
    for (int64_t kq = kq0; kq < kq1; kq++) {                                                             \
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)(bq + kq * QNR));                         \
        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(bq + kq * QNR + QVL));                   \
        __m256i p_;                                                                                      \
        QSTEP(MUL, ADD, 0, c00, c01);                                                                    \
        QSTEP(MUL, ADD, 1, c10, c11);                                                                    \
        QSTEP(MUL, ADD, 2, c20, c21);                                                                    \
        QSTEP(MUL, ADD, 3, c30, c31);                                                                    \
    }
MOT_INLINE void int_sums(__m256i acc[QMR * QNV], const int32_t *aq, const int32_t *bq, int64_t kq0, int64_t kq1,
                         const int wide) {
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    if (wide) {
        QSTEPS("vpmaddwd", "vpaddd")
    } else { /* vpmaddubsw: the first source (b, the weights) unsigned, the second (x) signed */
        QSTEPS("vpmaddubsw", "vpaddw")
    }
    acc[0] = c00, acc[1] = c01, acc[2] = c10, acc[3] = c11, acc[4] = c20, acc[5] = c21, acc[6] = c30, acc[7] = c31;
}
#undef QSTEPS
#undef QSTEP

/* y[mr, nr] (row stride ldy) = the tile of tokens aq (packed [cols / 4][QMR], x's signed
 * codes; scales ad [cols / 32][QMR], code sums ads [cols / S][QMR]) against the panel. The
 * int16 sums of one sub-block (or of half of one, 5-bit codes: `chunk` groups of 4 columns) widen to int32 once, then meet the
 * scales in f32; every type here has the offset term (m_w ds_x). 16 ymm registers: the inner
 * loop holds the 8 int16 sums, 2 weight vectors and x; the f32 sums wait in memory (touched
 * once a sub-block). (Running k in L1-sized slices through every tile, so that each slice of
 * the panel is read from L1 rather than L2, measured no faster on Zen 3.) */
MOT_INLINE void qtile(float *y, int64_t ldy, const int32_t *aq, const float *ad, const float *ads, const qpanel *bp,
                      int64_t cols, int S, int chunk, int mr, int nr) {
    float facc[QMR][QNR];
    memset(facc, 0, sizeof facc);
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nsub = cols / S;
    const int qps = S / 4;
    for (int64_t s = 0; s < nsub; s++) {
        const int64_t blk = s * S / 32;
        for (int k1 = 0; k1 < qps; k1 += chunk) {
            __m256i acc[QMR * QNV];
            int_sums(acc, aq, bp->bq, s * qps + k1, s * qps + k1 + chunk, 0);
            for (int v = 0; v < QNV; v++) {
                const __m256 dwv = _mm256_loadu_ps(bp->dw + s * QNR + QVL * v);
                for (int t = 0; t < QMR; t++) {
                    const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(acc[t * QNV + v], ones));
                    const __m256 sc = _mm256_mul_ps(dwv, _mm256_set1_ps(ad[blk * QMR + t])); /* d_w d_x */
                    _mm256_storeu_ps(facc[t] + QVL * v, _mm256_fmadd_ps(f, sc, _mm256_loadu_ps(facc[t] + QVL * v)));
                }
            }
        }
        for (int v = 0; v < QNV; v++) {
            const __m256 dmv = _mm256_loadu_ps(bp->dm + s * QNR + QVL * v);
            for (int t = 0; t < QMR; t++) {
                const __m256 o = _mm256_loadu_ps(facc[t] + QVL * v);
                _mm256_storeu_ps(facc[t] + QVL * v, _mm256_fmadd_ps(dmv, _mm256_set1_ps(ads[s * QMR + t]), o));
            }
        }
    }
    for (int t = 0; t < mr; t++) {
        memcpy(y + t * ldy, facc[t], sizeof(float) * (size_t)nr);
    }
}

/* The wide form (Q8_0, Q6_K): aq and the panel hold int16 pairs, [cols / 2][QMR] and
 * [cols / 2][QNR]; a sub-block's S / 2 vpmaddwd per token and vector add into int32 (each at
 * most 2 x 128 x 128, the sub-block's sum at most 32 x 128 x 128), then meet d_w d_x in f32
 * (x's scale: the 32-block holding the sub-block). No offset term (Q6_K's codes are q - 32). */
MOT_INLINE void qtile_wide(float *y, int64_t ldy, const int32_t *aq, const float *ad, const qpanel *bp, int64_t cols,
                           int S, int mr, int nr) {
    float facc[QMR][QNR];
    memset(facc, 0, sizeof facc);
    for (int64_t s = 0; s < cols / S; s++) {
        const int64_t blk = s * S / 32;
        __m256i acc[QMR * QNV];
        int_sums(acc, aq, bp->bq, s * S / 2, (s + 1) * S / 2, 1);
        for (int v = 0; v < QNV; v++) {
            const __m256 dwv = _mm256_loadu_ps(bp->dw + s * QNR + QVL * v);
            for (int t = 0; t < QMR; t++) {
                const __m256 sc = _mm256_mul_ps(dwv, _mm256_set1_ps(ad[blk * QMR + t])); /* d_w d_x */
                const __m256 o = _mm256_loadu_ps(facc[t] + QVL * v);
                _mm256_storeu_ps(facc[t] + QVL * v, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t * QNV + v]), sc, o));
            }
        }
    }
    for (int t = 0; t < mr; t++) {
        memcpy(y + t * ldy, facc[t], sizeof(float) * (size_t)nr);
    }
}

#endif

/* Rows [r0, r1) for every token, one exact dot at a time, allocating nothing (when the
 * team's packed x cannot be allocated). */
static void rows_exact(float *y, const float *x, const mot_weight *w, int n, int64_t r0, int64_t r1) {
    mot_quant_dot_fn *dot = mot_cpu_quant_dot_fn(w->dtype);
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, w->cols);
    float xs[mot_cpu_quant_xsums_len(w->cols)];
    for (int t = 0; t < n; t++) {
        const float *xt = x + (int64_t)t * w->cols;
        mot_cpu_quant_xsums(xs, xt, w->cols);
        for (int64_t r = r0; r < r1; r++) {
            y[(int64_t)t * w->rows + r] = dot((const char *)w->data + (size_t)r * row_bytes, xt, xs, w->cols);
        }
    }
}

/* Rows [r0, r1) for every token, one fast dot at a time (when a panel cannot be allocated). */
static void rows_fdot(float *y, const float *x, const mot_weight *w, int n, int64_t r0, int64_t r1, float *xq) {
    mot_quant_fdot_fn *dot = mot_cpu_quant_fdot_fn(w->dtype);
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, w->cols);
    for (int t = 0; t < n; t++) {
        mot_cpu_quantize_x(xq, x + (int64_t)t * w->cols, w->cols);
        for (int64_t r = r0; r < r1; r++) {
            y[(int64_t)t * w->rows + r] = dot((const char *)w->data + (size_t)r * row_bytes, xq, w->cols);
        }
    }
}

#if defined(QGEMM_VNNI512)
static uint32_t x_codes(uint32_t v) { return v ^ 0x80808080u; } /* q + 128, the unsigned side */
#else
static uint32_t x_codes(uint32_t v) { return v; } /* signed as quantized: the signed side */
#endif

static void qgemm_team(float *y, const float *x, const mot_weight *w, int n) {
    const int wide = wide_codes(w->dtype);
    const int64_t rows = w->rows, cols = w->cols, nb = cols / 32, nq = wide ? cols / 2 : cols / 4;
    const int S = mot_cpu_quant_sub(w->dtype);
    const int offs = w->dtype == MOT_DTYPE_Q4_1 || w->dtype == MOT_DTYPE_Q5_1 || w->dtype == MOT_DTYPE_Q2_K ||
                     w->dtype == MOT_DTYPE_Q4_K || w->dtype == MOT_DTYPE_Q5_K;
    const int n_blocks = (n + QMR - 1) / QMR;
    const int64_t L = mot_cpu_quant_xsums_len(cols);
    const int64_t nsub = cols / S;
    const size_t per_block = (size_t)(nq + nb + nsub) * QMR; /* floats: aq, ad, ads */
    const size_t xq_len = (size_t)mot_cpu_q8x_len(cols);
    float *apack = NULL;
    /* One allocation for the team, so that its failure is the whole team's decision (a
     * thread's own failing alone would send it past barriers the others wait at). */
#pragma omp single copyprivate(apack)
    apack = mot_thread_scratch_get(&qa_scratch, (size_t)n_blocks * per_block + xq_len * (size_t)omp_get_num_threads());
    if (!apack) { /* out of memory: each thread its share of the rows by the exact dots */
        int64_t j_begin, j_end;
        mot_cpu_split_rows(rows, QNR, omp_get_thread_num(), omp_get_num_threads(), &j_begin, &j_end);
        rows_exact(y, x, w, n, j_begin, j_end);
#pragma omp barrier
        return;
    }
    float *xq = apack + (size_t)n_blocks * per_block + xq_len * (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
    for (int t = 0; t < n_blocks * QMR; t++) {
        const int ib = t / QMR, i = t % QMR;
        float *base = apack + (size_t)ib * per_block;
        int32_t *aq = (int32_t *)base;
        float *ad = base + nq * QMR, *ads = ad + nb * QMR;
        if (t < n) {
            mot_cpu_quantize_x(xq, x + (int64_t)t * cols, cols);
            const int8_t *qv = (const int8_t *)(xq + 2 * L);
            for (int64_t k = 0; k < nq; k++) {
                uint32_t v;
                if (wide) { /* two int16 codes */
                    v = (uint32_t)(uint16_t)(int16_t)qv[2 * k] | (uint32_t)(uint16_t)(int16_t)qv[2 * k + 1] << 16;
                } else {
                    memcpy(&v, qv + 4 * k, 4);
                    v = x_codes(v);
                }
                aq[k * QMR + i] = (int32_t)v;
            }
            /* x's sums of codes (times d) per sub-block: per 32 (ds), or per 16 for Q2_K, Q3_K,
             * Q6_K (only Q2_K's mins and Q3_K's -4 read them there) */
            const float *xs = S == 16 ? xq + mot_cpu_q8x_sums16_at(cols) : xq + L;
            for (int64_t b = 0; b < nb; b++) {
                ad[b * QMR + i] = xq[b];
            }
            for (int64_t b = 0; b < nsub; b++) {
                ads[b * QMR + i] = xs[b];
            }
        } else {
            for (int64_t k = 0; k < nq; k++) aq[k * QMR + i] = wide ? 0 : (int32_t)x_codes(0);
            for (int64_t b = 0; b < nb; b++) ad[b * QMR + i] = 0.0f;
            for (int64_t b = 0; b < nsub; b++) ads[b * QMR + i] = 0.0f;
        }
    }
    /* (implicit barrier: every thread reads every token tile) */
    /* the panel, then pack_panel's tmp: 3 nsub floats, QVL packed rows of nq dwords, one int8 row */
    float *pbuf = mot_thread_scratch_get(&qb_scratch, panel_floats(nq, cols, S) + (size_t)(QVL * nq + 3 * nsub) +
                                                          (size_t)cols / 4 + 16);
    qpanel bp = {0};
    if (pbuf) {
        bp.bq = (int32_t *)pbuf;
        bp.dw = pbuf + nq * QNR;
        bp.dm = bp.dw + nsub * QNR;
        bp.ncorr = (int32_t *)(bp.dm + nsub * QNR);
    }
    float *tmp = pbuf ? pbuf + panel_floats(nq, cols, S) : NULL;
    /* Panels are claimed one at a time rather than split in equal shares: a core that runs
     * slower (a busy sibling on the host, an efficiency core) then takes fewer, and the team
     * does not wait for it at the end. Each panel is computed by one thread with the same code
     * whoever takes it: the same bits. */
#pragma omp for schedule(dynamic, 1)
    for (int64_t jp = 0; jp < (rows + QNR - 1) / QNR; jp++) {
        const int64_t j0 = jp * QNR;
        const int nr = (int)(rows - j0 < QNR ? rows - j0 : QNR);
        if (!pbuf) { /* this thread could not allocate a panel: its panels one dot at a time */
            rows_fdot(y, x, w, n, j0, j0 + nr, xq);
            continue;
        }
        pack_panel(&bp, tmp, w, j0, S);
        for (int ib = 0; ib < n_blocks; ib++) {
            const float *base = apack + (size_t)ib * per_block;
            const int mr = n - ib * QMR < QMR ? n - ib * QMR : QMR;
#if defined(QGEMM_VNNI512)
            qtile(y + (int64_t)ib * QMR * rows + j0, rows, (const int32_t *)base, base + nq * QMR,
                  base + nq * QMR + nb * QMR, &bp, cols, S, offs, mr, nr);
#else /* int16 sums of 16 products of 4-bit codes, 8 of 5-bit ones (the header) */
            const int five_bit = w->dtype == MOT_DTYPE_Q5_K || w->dtype == MOT_DTYPE_Q5_0 || w->dtype == MOT_DTYPE_Q5_1;
            const int chunk = S == 16 ? 4 : five_bit ? 4 : 8; /* groups of 4 columns, within a sub-block */
            if (wide) {
                qtile_wide(y + (int64_t)ib * QMR * rows + j0, rows, (const int32_t *)base, base + nq * QMR, &bp, cols,
                           S, mr, nr);
            } else {
                qtile(y + (int64_t)ib * QMR * rows + j0, rows, (const int32_t *)base, base + nq * QMR,
                      base + nq * QMR + nb * QMR, &bp, cols, S, chunk, mr, nr);
            }
            (void)offs;
#endif
        }
    }
    /* (the loop's closing barrier: y is complete when the team leaves) */
}

void mot_cpu_matmul_qgemm_fast(float *y, const float *x, const mot_weight *w, int n) {
    if (n <= 0 || w->rows <= 0) {
        return;
    }
    MOT_TEAM_RUN(1, qgemm_team(y, x, w, n));
}

#else

int mot_cpu_qgemm_fast_ok(mot_dtype dt) {
    (void)dt;
    return 0;
}

void mot_cpu_matmul_qgemm_fast(float *y, const float *x, const mot_weight *w, int n) {
    mot_cpu_matmul_gemm(y, x, w, n);
}

#endif
