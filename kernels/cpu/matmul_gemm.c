/* Prefill GEMM: y[n, rows] = x[n, cols] . W^T, compute bound.
 *
 * BLIS-style: the output is tiled into MR = 4 tokens x NR = 24 weight rows, each tile
 * computed by a microkernel of 12 FMA accumulators over a block of KC columns of k. Both
 * operands are packed so the microkernel reads them contiguously:
 *   x -> A panels [k][4]  (all tokens, once per call, shared by the threads)
 *   W -> B panels [k][24] (24 weight rows transposed, converted to f32 while packing, so
 *                          f32/f16/bf16 weights share one microkernel)
 * Threads split the weight rows in contiguous chunks of whole panels and pack their own
 * B panels, one panel over all k at a time (24 x cols x 4 bytes, in L2); each KC slice of
 * it (24 KiB) stays in L1 while it meets every A panel of its k block.
 * Why 4x24 and not 6x16: per k step it needs 3 vector loads + 4 broadcasts for 12 FMAs
 * (6x16: 2 + 6), and the usual n = 128 and the model widths (576, 1536, 49152) divide
 * evenly, so no edge tiles. Single thread, f32 576x576, n = 128: 91 GFLOP/s (91% of the
 * 100 GFLOP/s FMA peak measured on this core) vs 65 with a 6x16 tile, 68 with 4x24 before
 * b was pinned in registers (see the microkernel), and 76-88 for OpenBLAS. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

/* With AVX-512 (32 vector registers, two 512-bit FMA units on the Xeons that have it) the
 * tile is 8 tokens x 48 rows: 24 accumulators, 3 b vectors and one broadcast a in registers,
 * 24 FMAs per 3 loads and 8 broadcasts. Each output element still sums its k products in
 * the same order, so the bits are those of the AVX2 4x24 tile. Measured on the Xeon (family
 * 6 model 207, 2 threads, A/B runs interleaved, `mot bench -p 128`): TinyLlama-1.1B F16
 * 56.6-62.0 -> 99.5-106.4 t/s, TinyLlama Q4_0 64.3-66.3 -> 81.6-95.0, SmolLM2-135M Q4_1
 * 426-504 -> 794-809 (pp16: 319-371 -> 399-416). */
#if defined(__AVX512F__)
enum { MR = 8, NR = 48, VW = 16 };
typedef __m512 gvec;
MOT_INLINE gvec gvec_zero(void) { return _mm512_setzero_ps(); }
MOT_INLINE gvec gvec_load(const float *p) { return _mm512_loadu_ps(p); }
MOT_INLINE void gvec_store(float *p, gvec v) { _mm512_storeu_ps(p, v); }
MOT_INLINE gvec gvec_bcast(const float *p) { return _mm512_set1_ps(*p); }
MOT_INLINE gvec gvec_fma(gvec a, gvec b, gvec c) { return _mm512_fmadd_ps(a, b, c); }
MOT_INLINE gvec gvec_add(gvec a, gvec b) { return _mm512_add_ps(a, b); }
#else
enum { MR = 4, NR = 24, VW = 8 };
typedef __m256 gvec;
MOT_INLINE gvec gvec_zero(void) { return _mm256_setzero_ps(); }
MOT_INLINE gvec gvec_load(const float *p) { return _mm256_loadu_ps(p); }
MOT_INLINE void gvec_store(float *p, gvec v) { _mm256_storeu_ps(p, v); }
MOT_INLINE gvec gvec_bcast(const float *p) { return _mm256_broadcast_ss(p); }
MOT_INLINE gvec gvec_fma(gvec a, gvec b, gvec c) { return _mm256_fmadd_ps(a, b, c); }
MOT_INLINE gvec gvec_add(gvec a, gvec b) { return _mm256_add_ps(a, b); }
#endif
enum { NV = NR / VW };

/* The blocking, a schedule choice (gemm_kc, gemm_mc; mot_cpu_set_gemm_blocking):
 * kc: columns of k per block: a B slice (NR x kc floats, 24 KiB at 256) stays in L1 while it
 *     meets every A panel of its k block.
 * mc: tokens per chunk (a multiple of MR). Every weight panel streams the packed x of the
 *     chunk (mc x cols x 4 bytes) from L3 or DRAM; without a bound a long prompt on a wide
 *     layer (4096 tokens x 14336 cols: 235 MB per panel) would need ~24 GB/s. Each chunk
 *     packs the weight panels again: measured -10% at 256 tokens per chunk (2048x2048,
 *     n = 1024), so chunks are kept large and prompts up to 512 are one chunk. */
static int blocking_kc = MOT_GEMM_KC_DEFAULT, blocking_mc = MOT_GEMM_MC_DEFAULT;

void mot_cpu_set_gemm_blocking(int kc, int mc) {
    blocking_kc = kc >= 8 ? kc : 8;
    blocking_mc = mc >= MR ? mc / MR * MR : MR;
}

/* ---- packing ---------------------------------------------------------------------------- */

/* In-register transpose of an 8x8 block: r[i] holds row i on entry, column i on exit. */
MOT_INLINE void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* bp[k][NR] = W[j0 + r, k0 + k] for r < NR, k < kc; rows past the end are zero. */
MOT_INLINE void pack_b_panel(float *bp, const mot_weight *w, int64_t j0, int64_t k0, int kc,
                             mot_dtype dt) {
    int64_t stride = w->cols * mot_weight_elem_size(dt);
    const char *base = (const char *)w->data;
    int full_rows = j0 + NR <= w->rows;
    int k = 0;
    if (full_rows) {
        for (; k + 8 <= kc; k += 8) {
            for (int g = 0; g < NR; g += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) {
                    r[i] = mot_load8(base + (j0 + g + i) * stride, k0 + k, dt);
                }
                transpose8(r);
                for (int i = 0; i < 8; i++) {
                    _mm256_store_ps(bp + (k + i) * NR + g, r[i]);
                }
            }
        }
    }
    for (; k < kc; k++) { /* k tail, or the last, partial panel of rows */
        for (int r = 0; r < NR; r++) {
            bp[k * NR + r] =
                j0 + r < w->rows ? mot_load1(base + (j0 + r) * stride, k0 + k, dt) : 0.0f;
        }
    }
}

static void pack_b_f32(float *bp, const mot_weight *w, int64_t j0, int64_t k0, int kc) {
    pack_b_panel(bp, w, j0, k0, kc, MOT_DTYPE_F32);
}
static void pack_b_f16(float *bp, const mot_weight *w, int64_t j0, int64_t k0, int kc) {
    pack_b_panel(bp, w, j0, k0, kc, MOT_DTYPE_F16);
}
static void pack_b_bf16(float *bp, const mot_weight *w, int64_t j0, int64_t k0, int kc) {
    pack_b_panel(bp, w, j0, k0, kc, MOT_DTYPE_BF16);
}

/* Quantized weights: bp[cols][NR] = rows j0.. of W over all k, dequantized 256 columns at a
 * time into NR short f32 rows (24 KiB, in L1) and transposed from there by the f32 packing,
 * so the weight is never widened as a whole and the microkernel is the same. The panel is
 * [cols][NR] whatever the k blocking, as the k blocks lie end to end. */
enum { QCHUNK = 256 };
static void pack_b_quant(float *bp, const mot_weight *w, int64_t j0) {
    float tmp[NR * QCHUNK] __attribute__((aligned(64)));
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, w->cols);
    const int nr = (int)(w->rows - j0 < NR ? w->rows - j0 : NR);
    for (int64_t c0 = 0; c0 < w->cols; c0 += QCHUNK) {
        const int len = (int)(w->cols - c0 < QCHUNK ? w->cols - c0 : QCHUNK); /* whole blocks */
        const size_t at = mot_dtype_row_bytes(w->dtype, c0);
        for (int r = 0; r < nr; r++) {
            mot_cpu_dequant_row(w->dtype, (const char *)w->data + (size_t)(j0 + r) * row_bytes + at, len,
                                tmp + r * QCHUNK);
        }
        const mot_weight chunk = {MOT_DTYPE_F32, tmp, nr, QCHUNK};
        pack_b_f32(bp + c0 * NR, &chunk, 0, 0, len);
    }
}

/* ap[k][MR] = x[t0 + i, k0 + k] for i < MR, k < kc; tokens past n are zero. x is [n, cols]. */
static void pack_a_panel(float *ap, const float *x, int n, int64_t cols, int t0, int64_t k0,
                         int kc) {
    for (int i = 0; i < MR; i++) {
        const float *xr = x + (int64_t)(t0 + i) * cols + k0;
        for (int k = 0; k < kc; k++) {
            ap[k * MR + i] = t0 + i < n ? xr[k] : 0.0f;
        }
    }
}

/* ---- microkernel ------------------------------------------------------------------------ */

/* c[MR, NR] (row stride ldc) = (accumulate ? c : 0) + ap[kc][MR]^T . bp[kc][NR];
 * only the first mr x nr entries of c are written (edge tiles). Always inlined: as a call,
 * gcc keeps acc[][] in memory and every FMA goes through the stack (half the speed). */
MOT_INLINE void kernel_tile(float *c, int64_t ldc, const float *ap, const float *bp, int kc,
                            int accumulate, int mr, int nr) {
    gvec acc[MR][NV];
    for (int i = 0; i < MR; i++) {
        for (int v = 0; v < NV; v++) {
            acc[i][v] = gvec_zero();
        }
    }
    for (int k = 0; k < kc; k++) {
        gvec b[NV];
        for (int v = 0; v < NV; v++) {
            b[v] = gvec_load(bp + k * NR + v * VW);
            /* keep b in a register: folded into each FMA as a memory operand it would cost
             * MR loads instead of one, and loads, not FMAs, would set the pace */
            __asm__("" : "+v"(b[v]));
        }
        for (int i = 0; i < MR; i++) {
            gvec a = gvec_bcast(ap + k * MR + i);
            for (int v = 0; v < NV; v++) {
                acc[i][v] = gvec_fma(a, b[v], acc[i][v]);
            }
        }
    }
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            for (int v = 0; v < NV; v++) {
                gvec r = accumulate ? gvec_add(acc[i][v], gvec_load(ci + v * VW)) : acc[i][v];
                gvec_store(ci + v * VW, r);
            }
        }
        return;
    }
    float tile[MR][NR] __attribute__((aligned(64)));
    for (int i = 0; i < MR; i++) {
        for (int v = 0; v < NV; v++) {
            gvec_store(tile[i] + v * VW, acc[i][v]);
        }
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++) {
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
        }
    }
}

/* ---- driver ----------------------------------------------------------------------------- */

/* Grow-on-demand scratch per thread (OpenMP reuses its threads), so repeated calls do not
 * page-fault fresh multi-MiB buffers. */
static mot_thread_scratch a_scratch; /* packed x: one thread's, shared with the team */
static mot_thread_scratch b_scratch; /* one B panel over all k: each worker's own */

/* Rows [j_begin, j_end) of y computed without packing (when a B panel cannot be allocated). */
static void rows_unpacked(float *y, const float *x, const mot_weight *w, int n, int64_t j_begin, int64_t j_end) {
    const int64_t rows = w->rows, cols = w->cols, stride = cols * mot_weight_elem_size(w->dtype);
    mot_quant_dot_fn *qdot = mot_cpu_quant_dot_fn(w->dtype);
    if (qdot) {
        const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
        float xs[mot_cpu_quant_xsums_len(cols)];
        for (int t = 0; t < n; t++) {
            const float *xt = x + (int64_t)t * cols;
            mot_cpu_quant_xsums(xs, xt, cols);
            for (int64_t r = j_begin; r < j_end; r++) {
                y[(int64_t)t * rows + r] = qdot((const char *)w->data + (size_t)r * row_bytes, xt, xs, cols);
            }
        }
        return;
    }
    for (int64_t r = j_begin; r < j_end; r++) {
        const char *wr = (const char *)w->data + r * stride;
        for (int t = 0; t < n; t++) {
            const float *xt = x + (int64_t)t * cols;
            float acc = 0.0f;
            for (int64_t c = 0; c < cols; c++) {
                acc += mot_load1(wr, c, w->dtype) * xt[c];
            }
            y[(int64_t)t * rows + r] = acc;
        }
    }
}

/* The body, run by every thread of the team. */
static void gemm_team(float *y, const float *x, const mot_weight *w, int n) {
    const int64_t rows = w->rows, cols = w->cols;
    const int n_blocks = (n + MR - 1) / MR;
    const int KC = blocking_kc, MC_BLOCKS = blocking_mc / MR; /* read once: one blocking per call */
    const int64_t k_blocks = (cols + KC - 1) / KC;
    /* A for k block kb starts at kb * KC * n_pad; token block ib at ib * MR * kc inside it.
     * One thread's buffer, shared with the team. */
    float *apack = NULL;
#pragma omp single copyprivate(apack)
    apack = mot_thread_scratch_get(&a_scratch, (size_t)n_blocks * MR * (size_t)cols);
    int64_t j_begin, j_end;
    mot_cpu_split_rows(rows, NR, omp_get_thread_num(), omp_get_num_threads(), &j_begin, &j_end);
    if (!apack) { /* out of memory: the unpacked loop rather than fail */
        rows_unpacked(y, x, w, n, j_begin, j_end);
#pragma omp barrier
        return;
    }
    const int quant = mot_dtype_is_quantized(w->dtype);
    void (*pack_b)(float *, const mot_weight *, int64_t, int64_t, int) =
        w->dtype == MOT_DTYPE_F32   ? pack_b_f32
        : w->dtype == MOT_DTYPE_F16 ? pack_b_f16
                                    : pack_b_bf16;
#pragma omp for collapse(2) schedule(static)
    for (int64_t kb = 0; kb < k_blocks; kb++) {
        for (int ib = 0; ib < n_blocks; ib++) {
            int64_t k0 = kb * KC;
            int kc = (int)(cols - k0 < KC ? cols - k0 : KC);
            float *ap = apack + k0 * n_blocks * MR + (int64_t)ib * MR * kc;
            pack_a_panel(ap, x, n, cols, ib * MR, k0, kc);
        }
    }
    /* (implicit barrier: every thread reads every A panel) */

    /* Loop order: panel of NR weight rows outermost. Its B panel over all k (NR x cols
     * x 4 bytes, in L2) is packed from NR long row streams, which the hardware
     * prefetcher follows; its C tiles (n x NR floats) stay in L1/L2 while every k
     * block adds into them; A streams from L2/L3. (k block outermost instead packed
     * NR short pieces per panel, latency bound from DRAM, and re-read all of y from L3
     * once per k block: 60-74 vs 70-88 GFLOP/s on one thread for the larger shapes.) */
    float *bpanel = mot_thread_scratch_get(&b_scratch, (size_t)cols * NR); /* k blocks end to end */
    if (!bpanel) {
        rows_unpacked(y, x, w, n, j_begin, j_end);
        j_end = j_begin;
    }
    for (int ib0 = 0; ib0 < n_blocks; ib0 += MC_BLOCKS) {
        int ib1 = ib0 + MC_BLOCKS < n_blocks ? ib0 + MC_BLOCKS : n_blocks;
        for (int64_t j0 = j_begin; j0 < j_end; j0 += NR) {
            if (quant) {
                pack_b_quant(bpanel, w, j0);
            }
            for (int64_t kb = 0; !quant && kb < k_blocks; kb++) {
                int64_t k0 = kb * KC;
                pack_b(bpanel + k0 * NR, w, j0, k0, (int)(cols - k0 < KC ? cols - k0 : KC));
            }
            int nr = (int)(j_end - j0 < NR ? j_end - j0 : NR);
            for (int64_t kb = 0; kb < k_blocks; kb++) {
                int64_t k0 = kb * KC;
                int kc = (int)(cols - k0 < KC ? cols - k0 : KC);
                const float *ablock = apack + k0 * n_blocks * MR;
                for (int ib = ib0; ib < ib1; ib++) {
                    int mr = n - ib * MR < MR ? n - ib * MR : MR;
                    kernel_tile(y + (int64_t)ib * MR * rows + j0, rows,
                                ablock + (int64_t)ib * MR * kc, bpanel + k0 * NR, kc, kb > 0,
                                mr, nr);
                }
            }
        }
    }
    /* The team's barrier: y is complete when any thread returns. */
#pragma omp barrier
}

void mot_cpu_matmul_gemm(float *y, const float *x, const mot_weight *w, int n) {
    if (n <= 0 || w->rows <= 0) {
        return;
    }
    if (w->cols <= 0) {
        if (!omp_in_parallel() || omp_get_thread_num() == 0) {
            memset(y, 0, sizeof(float) * (size_t)n * (size_t)w->rows);
        }
        if (omp_in_parallel()) {
#pragma omp barrier
        }
        return;
    }
    MOT_TEAM_RUN(1, gemm_team(y, x, w, n));
}
