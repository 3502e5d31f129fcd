/* Decode GEMV: y[rows] = W[rows, cols] . x[cols]. Memory bound: every weight byte is read
 * once, so the loop streams 4 rows at a time (8 FMA accumulators) and each thread takes one
 * contiguous chunk of rows.
 * Software prefetch: the hardware prefetcher stops at 4 KiB pages and a 4-row block is 4
 * short streams, so the loop also prefetches the block PREFETCH_BLOCKS ahead (the rows are
 * contiguous). Measured with 2 threads from DRAM (GB/s, quiet machine, +-10%):
 *   bf16 576x576: 19-23 without, 27-28 one block ahead, 27 four blocks ahead;
 *   bf16 2048x2048 and 32000x2048: 30-31 without, 28-31 one block, 31 four blocks;
 *   f32 576x576 / 2048x2048: 29.5 / 30-36 one block, 33 / 39 four blocks. */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

/* Prefetches are non-temporal: every weight is read once per token, so it should not push
 * x, the KV cache and the activations out of the caches. Interleaved tg32 runs at 2 threads
 * (mean of 3, t/s, T0 hint -> NTA): TinyLlama bf16 10.8 -> 12.4, SmolLM f32 40.7 -> 47.2,
 * SmolLM bf16 60.0 -> 71.5, TinyLlama f32 6.59 -> 6.70. Distance 4 blocks: 2, 8 and 16 were
 * no better (TinyLlama bf16: 10.7, 8.9, 10.2 t/s against 11.3). */
enum { PREFETCH_BLOCKS = 4 };

/* Dot products of 4 consecutive rows starting at w0 (row stride `stride` bytes) with x. */
MOT_INLINE void dot4(float *y, const float *x, const char *w0, int64_t stride, int64_t cols,
                     mot_dtype dt) {
    const char *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
    const char *next = w0 + PREFETCH_BLOCKS * 4 * stride;
    const int64_t es = mot_weight_elem_size(dt);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        __m256 xa = _mm256_loadu_ps(x + c), xb = _mm256_loadu_ps(x + c + 8);
        /* the rows PREFETCH_BLOCKS blocks ahead, at the pace these are consumed: 16
         * columns of 4 rows are es cache lines */
        for (int64_t line = 0; line < es; line++) {
            _mm_prefetch(next + c * 4 * es + line * 64, _MM_HINT_NTA);
        }
        a0 = _mm256_fmadd_ps(mot_load8(w0, c, dt), xa, a0);
        a1 = _mm256_fmadd_ps(mot_load8(w1, c, dt), xa, a1);
        a2 = _mm256_fmadd_ps(mot_load8(w2, c, dt), xa, a2);
        a3 = _mm256_fmadd_ps(mot_load8(w3, c, dt), xa, a3);
        b0 = _mm256_fmadd_ps(mot_load8(w0, c + 8, dt), xb, b0);
        b1 = _mm256_fmadd_ps(mot_load8(w1, c + 8, dt), xb, b1);
        b2 = _mm256_fmadd_ps(mot_load8(w2, c + 8, dt), xb, b2);
        b3 = _mm256_fmadd_ps(mot_load8(w3, c + 8, dt), xb, b3);
    }
    if (c + 8 <= cols) {
        __m256 xa = _mm256_loadu_ps(x + c);
        a0 = _mm256_fmadd_ps(mot_load8(w0, c, dt), xa, a0);
        a1 = _mm256_fmadd_ps(mot_load8(w1, c, dt), xa, a1);
        a2 = _mm256_fmadd_ps(mot_load8(w2, c, dt), xa, a2);
        a3 = _mm256_fmadd_ps(mot_load8(w3, c, dt), xa, a3);
        c += 8;
    }
    float s0 = mot_hsum8(_mm256_add_ps(a0, b0)), s1 = mot_hsum8(_mm256_add_ps(a1, b1));
    float s2 = mot_hsum8(_mm256_add_ps(a2, b2)), s3 = mot_hsum8(_mm256_add_ps(a3, b3));
    for (; c < cols; c++) {
        s0 += mot_load1(w0, c, dt) * x[c];
        s1 += mot_load1(w1, c, dt) * x[c];
        s2 += mot_load1(w2, c, dt) * x[c];
        s3 += mot_load1(w3, c, dt) * x[c];
    }
    y[0] = s0, y[1] = s1, y[2] = s2, y[3] = s3;
}

/* Dot product of one row with x (the rows left over after the blocks of 4). */
MOT_INLINE float dot1(const float *x, const char *w0, int64_t cols, mot_dtype dt) {
    __m256 a = _mm256_setzero_ps(), b = a;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        a = _mm256_fmadd_ps(mot_load8(w0, c, dt), _mm256_loadu_ps(x + c), a);
        b = _mm256_fmadd_ps(mot_load8(w0, c + 8, dt), _mm256_loadu_ps(x + c + 8), b);
    }
    if (c + 8 <= cols) {
        a = _mm256_fmadd_ps(mot_load8(w0, c, dt), _mm256_loadu_ps(x + c), a);
        c += 8;
    }
    float s = mot_hsum8(_mm256_add_ps(a, b));
    for (; c < cols; c++) {
        s += mot_load1(w0, c, dt) * x[c];
    }
    return s;
}

/* bf16 without widening: a 32-bit lane of bf16 data holds element 2i in its low half and
 * element 2i+1 in its high half, so (lane & 0xffff0000) is element 2i+1 as an f32 and
 * (lane << 16) is element 2i. Against x split into even and odd elements (xe, xo, built once
 * per token) that is 2 ALU ops per 16 weights instead of 4, which keeps the loop ahead of
 * memory. Columns past the last multiple of 16 go through the scalar tail on x. */
MOT_INLINE void dot4_bf16_pairs(float *y, const float *x, const float *xe, const float *xo,
                                const char *w0, int64_t stride, int64_t cols) {
    const char *next = w0 + PREFETCH_BLOCKS * 4 * stride;
    const char *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
    const __m256i hi_mask = _mm256_set1_epi32((int)0xffff0000u);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        __m256 ve = _mm256_loadu_ps(xe + c / 2), vo = _mm256_loadu_ps(xo + c / 2);
        /* the rows PREFETCH_BLOCKS blocks ahead, at the pace these are consumed */
        _mm_prefetch(next + c * 8, _MM_HINT_NTA);
        _mm_prefetch(next + c * 8 + 64, _MM_HINT_NTA);
        __m256i p0 = _mm256_loadu_si256((const __m256i *)(w0 + c * 2));
        __m256i p1 = _mm256_loadu_si256((const __m256i *)(w1 + c * 2));
        __m256i p2 = _mm256_loadu_si256((const __m256i *)(w2 + c * 2));
        __m256i p3 = _mm256_loadu_si256((const __m256i *)(w3 + c * 2));
        a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p0, 16)), ve, a0);
        a1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p1, 16)), ve, a1);
        a2 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p2, 16)), ve, a2);
        a3 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p3, 16)), ve, a3);
        b0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(p0, hi_mask)), vo, b0);
        b1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(p1, hi_mask)), vo, b1);
        b2 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(p2, hi_mask)), vo, b2);
        b3 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(p3, hi_mask)), vo, b3);
    }
    float s0 = mot_hsum8(_mm256_add_ps(a0, b0)), s1 = mot_hsum8(_mm256_add_ps(a1, b1));
    float s2 = mot_hsum8(_mm256_add_ps(a2, b2)), s3 = mot_hsum8(_mm256_add_ps(a3, b3));
    for (; c < cols; c++) {
        s0 += mot_load1(w0, c, MOT_DTYPE_BF16) * x[c];
        s1 += mot_load1(w1, c, MOT_DTYPE_BF16) * x[c];
        s2 += mot_load1(w2, c, MOT_DTYPE_BF16) * x[c];
        s3 += mot_load1(w3, c, MOT_DTYPE_BF16) * x[c];
    }
    y[0] = s0, y[1] = s1, y[2] = s2, y[3] = s3;
}

/* xe[i] = x[2i], xo[i] = x[2i+1] for 2i+1 < cols (xeo is [2][cols/2]) */
static void split_even_odd(float *xeo, const float *x, int64_t cols) {
    int64_t half = cols / 2;
    for (int64_t i = 0; i < half; i++) {
        xeo[i] = x[2 * i];
        xeo[half + i] = x[2 * i + 1];
    }
}

/* Rows [r0, r1) of y[n, rows] for all n tokens: each block of 4 rows is read from memory
 * once and stays in L1/L2 while it meets every token (x is [n, cols]; for bf16, xeo holds
 * each token's even/odd split, [n][2][cols/2], or is NULL to use the widening loads). */
MOT_INLINE void gemv_rows(float *y, const float *x, const float *xeo, const mot_weight *w, int n,
                          int64_t r0, int64_t r1, mot_dtype dt) {
    const int64_t cols = w->cols, rows = w->rows, half = cols / 2;
    const int64_t stride = cols * mot_weight_elem_size(dt);
    const char *base = (const char *)w->data;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        for (int t = 0; t < n; t++) {
            float *yt = y + (int64_t)t * rows + r;
            const float *xt = x + (int64_t)t * cols;
            if (dt == MOT_DTYPE_BF16 && xeo) {
                const float *xe = xeo + (int64_t)t * 2 * half;
                dot4_bf16_pairs(yt, xt, xe, xe + half, base + r * stride, stride, cols);
            } else {
                dot4(yt, xt, base + r * stride, stride, cols, dt);
            }
        }
    }
    for (; r < r1; r++) {
        for (int t = 0; t < n; t++) {
            y[(int64_t)t * rows + r] = dot1(x + (int64_t)t * cols, base + r * stride, cols, dt);
        }
    }
}

/* One specialised (non-inlined) body per dtype. */
typedef void gemv_rows_fn(float *, const float *, const float *, const mot_weight *, int, int64_t,
                          int64_t);
static void gemv_rows_f32(float *y, const float *x, const float *xeo, const mot_weight *w, int n,
                          int64_t r0, int64_t r1) {
    gemv_rows(y, x, xeo, w, n, r0, r1, MOT_DTYPE_F32);
}
static void gemv_rows_f16(float *y, const float *x, const float *xeo, const mot_weight *w, int n,
                          int64_t r0, int64_t r1) {
    gemv_rows(y, x, xeo, w, n, r0, r1, MOT_DTYPE_F16);
}
static void gemv_rows_bf16(float *y, const float *x, const float *xeo, const mot_weight *w, int n,
                           int64_t r0, int64_t r1) {
    gemv_rows(y, x, xeo, w, n, r0, r1, MOT_DTYPE_BF16);
}

/* Even/odd split copies of x for the bf16 path, per thread, grown on demand. */
static mot_thread_scratch xeo_scratch;

/* The body, run by every thread of the team. */
static void gemv_multi_team(const mot_matmul_job *jobs, int n_jobs, const float *x, int n, int64_t total) {
    const mot_weight *w0 = jobs[0].w;
    const int64_t cols = w0->cols, half = cols / 2;
    const float *xeo = NULL;
    if (w0->dtype == MOT_DTYPE_BF16) {
        /* One thread splits x, the others wait (single's barrier) and share its buffer. */
#pragma omp single copyprivate(xeo)
        {
            float *buf = mot_thread_scratch_get(&xeo_scratch, (size_t)n * (size_t)half * 2 + 1);
            for (int t = 0; buf && t < n; t++) {
                split_even_odd(buf + (int64_t)t * 2 * half, x + (int64_t)t * cols, cols);
            }
            xeo = buf;
        }
    }
    gemv_rows_fn *rows_fn = w0->dtype == MOT_DTYPE_F32   ? gemv_rows_f32
                            : w0->dtype == MOT_DTYPE_F16 ? gemv_rows_f16
                                                         : gemv_rows_bf16;
    /* Chunks handed out dynamically: a thread slowed by anything else on its core does not
     * hold the others at the closing barrier (perf: the barrier wait in a SmolLM-135M decode
     * step fell from ~10% to ~5%). Chunks per thread, SmolLM-135M tg64 t/s at 2 threads
     * (f32 / bf16): 1: 39.4 / 69.0, 4: 42.3 / 74.3, 8: 43.3 / 66.8, 16: 33.7 / 62.6. */
    const int64_t n_chunks = 4 * (int64_t)omp_get_num_threads();
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t g0, g1, base = 0;
        mot_cpu_split_rows(total, 4, (int)c, (int)n_chunks, &g0, &g1);
        for (int j = 0; j < n_jobs; j++) {
            const int64_t rows = jobs[j].w->rows;
            int64_t r0 = g0 - base, r1 = g1 - base;
            r0 = r0 < 0 ? 0 : r0;
            r1 = r1 > rows ? rows : r1;
            if (r0 < r1) {
                rows_fn(jobs[j].y, x, xeo, jobs[j].w, n, r0, r1);
            }
            base += rows;
        }
    }
}

/* Rows of several weights that read the same x, as one row space split across the threads
 * (q/k/v, gate/up): one closing barrier instead of several, and the split balances over the
 * total. All weights share dtype and cols. */
void mot_cpu_matmul_gemv_multi(const mot_matmul_job *jobs, int n_jobs, const float *x, int n) {
    int64_t total = 0;
    for (int j = 0; j < n_jobs; j++) {
        total += jobs[j].w->rows;
    }
    const int parallel = (double)n * (double)total * (double)jobs[0].w->cols > 65536.0;
    MOT_TEAM_RUN(parallel, gemv_multi_team(jobs, n_jobs, x, n, total));
}

void mot_cpu_matmul_gemv(float *y, const float *x, const mot_weight *w, int n) {
    const mot_matmul_job job = {y, w};
    mot_cpu_matmul_gemv_multi(&job, 1, x, n);
}
