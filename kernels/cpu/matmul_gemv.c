/* Decode GEMV: y[rows] = W[rows, cols] . x[cols]. Memory bound: every weight byte is read
 * once, so each thread takes contiguous chunks of rows and streams them row after row. */
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

/* Each row is read as one sequential stream (the rows of a chunk are contiguous, so a
 * thread walks one run of memory) with a non-temporal software prefetch PREFETCH_BYTES
 * ahead. Non-temporal: every weight is read once per token, so it should not push x, the KV
 * cache and the activations out of the caches (SmolLM bf16 tg32: 60.0 -> 71.5 t/s against
 * T0, measured with the earlier 4-row kernel).
 * Against that earlier kernel (4 rows at once, each a short stream, prefetching the block 4
 * ahead), bf16 576-wide rows, 2 threads, 256 MiB in 2 MiB pages, mean of 15 passes (GB/s;
 * a plain read of the same buffer: 28-30): 4 rows 23.2-25.0; one row with the prefetch 256
 * / 512 / 1024 / 2048 bytes ahead: 25.0-26.8 / 25.1-27.5 / 26.1-28.3 / 25.4-26.3; no
 * prefetch 24.6. A row's x loads are not shared with other rows any more, but x sits in L1
 * and the loop stays far below the core's load and FMA rates. Decode steps of SmolLM-135M
 * bf16, alternating variants step by step in one process: two rows at once (two streams
 * 1152 bytes apart, sharing the x loads) 0.75x; the prefetch 512 / 768 / 1280 / 2048 bytes
 * ahead instead of 1024: 0.94-0.96x / 0.98x / 1.00-1.01x / 0.94-0.96x; T0 instead of NTA
 * 0.98x; prefetching the first 1 KiB of a chunk when it starts 1.00x; prefetching the next
 * GEMV's first 16-64 KiB before the small ops between GEMVs (attention, norms) 0.97-0.99x. */
enum { PREFETCH_BYTES = 1024 };

/* Dot product of one row (w, stored as dt) with x. */
MOT_INLINE float dot_row(const float *x, const char *w, int64_t cols, mot_dtype dt) {
    const int64_t es = mot_weight_elem_size(dt);
    const char *ahead = w + PREFETCH_BYTES;
    __m256 a = _mm256_setzero_ps(), b = a;
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        _mm_prefetch(ahead + c * es, _MM_HINT_NTA); /* 16 columns: one line (f32) or half (f16/bf16) */
        a = _mm256_fmadd_ps(mot_load8(w, c, dt), _mm256_loadu_ps(x + c), a);
        b = _mm256_fmadd_ps(mot_load8(w, c + 8, dt), _mm256_loadu_ps(x + c + 8), b);
    }
    if (c + 8 <= cols) {
        a = _mm256_fmadd_ps(mot_load8(w, c, dt), _mm256_loadu_ps(x + c), a);
        c += 8;
    }
    float s = mot_hsum8(_mm256_add_ps(a, b));
    for (; c < cols; c++) {
        s += mot_load1(w, c, dt) * x[c];
    }
    return s;
}

/* bf16 without widening: a 32-bit lane of bf16 data holds element 2i in its low half and
 * element 2i+1 in its high half, so (lane & 0xffff0000) is element 2i+1 as an f32 and
 * (lane << 16) is element 2i. Against x split into even and odd elements (xe, xo, built once
 * per token) that is 2 ALU ops per 16 weights instead of 4, which keeps the loop ahead of
 * memory. Columns past the last multiple of 16 go through the scalar tail on x. */
MOT_INLINE __m256 fma_bf16_pairs(__m256i p, __m256 ve, __m256 vo, __m256 acc) {
    const __m256i hi_mask = _mm256_set1_epi32((int)0xffff0000u);
    acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p, 16)), ve, acc);
    return _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(p, hi_mask)), vo, acc);
}

/* Four accumulators, one per (half line, even/odd): each FMA chain then advances once per
 * 64-byte line, so the 4-cycle FMA latency allows 16 bytes per cycle per core, well above
 * what memory delivers. With two (each half line's even and odd FMAs chained) it allowed 8,
 * close to a core's share of the bandwidth: decode steps of SmolLM-135M bf16 (576-wide rows),
 * alternating the two step by step in one process, 1.02-1.08x faster with four (TinyLlama's
 * 2048-wide rows: 0.99-1.00x). */
MOT_INLINE float dot_row_bf16_pairs(const float *x, const float *xe, const float *xo, const char *w,
                                    int64_t cols) {
    const char *ahead = w + PREFETCH_BYTES;
    const __m256i hi_mask = _mm256_set1_epi32((int)0xffff0000u);
    __m256 ae = _mm256_setzero_ps(), ao = ae, be = ae, bo = ae;
    int64_t c = 0;
    for (; c + 32 <= cols; c += 32) { /* 64 bytes of weights: one line */
        _mm_prefetch(ahead + c * 2, _MM_HINT_NTA);
        const __m256i p = _mm256_loadu_si256((const __m256i *)(w + c * 2));
        const __m256i q = _mm256_loadu_si256((const __m256i *)(w + c * 2 + 32));
        ae = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p, 16)), _mm256_loadu_ps(xe + c / 2), ae);
        ao = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(p, hi_mask)), _mm256_loadu_ps(xo + c / 2), ao);
        be = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(q, 16)), _mm256_loadu_ps(xe + c / 2 + 8), be);
        bo = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(q, hi_mask)), _mm256_loadu_ps(xo + c / 2 + 8),
                             bo);
    }
    if (c + 16 <= cols) {
        ae = fma_bf16_pairs(_mm256_loadu_si256((const __m256i *)(w + c * 2)), _mm256_loadu_ps(xe + c / 2),
                            _mm256_loadu_ps(xo + c / 2), ae);
        c += 16;
    }
    float s = mot_hsum8(_mm256_add_ps(_mm256_add_ps(ae, ao), _mm256_add_ps(be, bo)));
    for (; c < cols; c++) {
        s += mot_load1(w, c, MOT_DTYPE_BF16) * x[c];
    }
    return s;
}

/* xe[i] = x[2i], xo[i] = x[2i+1] for 2i+1 < cols (xeo is [2][cols/2]) */
static void split_even_odd(float *xeo, const float *x, int64_t cols) {
    int64_t half = cols / 2;
    for (int64_t i = 0; i < half; i++) {
        xeo[i] = x[2 * i];
        xeo[half + i] = x[2 * i + 1];
    }
}

/* Rows [r0, r1) of job j's y[n, rows] for all n tokens: each row is read from memory once
 * and stays in L1 while it meets every token (x is [n, cols]; for bf16, xeo holds each
 * token's even/odd split, [n][2][cols/2], or is NULL to use the widening loads). The bias
 * and the accumulation are applied as y = x W^T; y += b; out += y would. */
MOT_INLINE void gemv_rows(const mot_matmul_job *job, const float *x, const float *xeo, int n, int64_t r0,
                          int64_t r1, mot_dtype dt) {
    const mot_weight *w = job->w;
    const int64_t cols = w->cols, rows = w->rows, half = cols / 2;
    const int64_t stride = cols * mot_weight_elem_size(dt);
    const char *base = (const char *)w->data;
    for (int64_t r = r0; r < r1; r++) {
        const char *row = base + r * stride;
        for (int t = 0; t < n; t++) {
            const float *xt = x + (int64_t)t * cols;
            float v;
            if (dt == MOT_DTYPE_BF16 && xeo) {
                const float *xe = xeo + (int64_t)t * 2 * half;
                v = dot_row_bf16_pairs(xt, xe, xe + half, row, cols);
            } else {
                v = dot_row(xt, row, cols, dt);
            }
            if (job->bias) {
                v += job->bias[r];
            }
            float *y = job->y + (int64_t)t * rows + r;
            *y = job->accumulate ? *y + v : v;
        }
    }
}

/* One specialised (non-inlined) body per dtype. */
typedef void gemv_rows_fn(const mot_matmul_job *, const float *, const float *, int, int64_t, int64_t);
static void gemv_rows_f32(const mot_matmul_job *job, const float *x, const float *xeo, int n, int64_t r0,
                          int64_t r1) {
    gemv_rows(job, x, xeo, n, r0, r1, MOT_DTYPE_F32);
}
static void gemv_rows_f16(const mot_matmul_job *job, const float *x, const float *xeo, int n, int64_t r0,
                          int64_t r1) {
    gemv_rows(job, x, xeo, n, r0, r1, MOT_DTYPE_F16);
}
static void gemv_rows_bf16(const mot_matmul_job *job, const float *x, const float *xeo, int n, int64_t r0,
                           int64_t r1) {
    gemv_rows(job, x, xeo, n, r0, r1, MOT_DTYPE_BF16);
}

/* Even/odd split copies of x for the bf16 path, per thread, grown on demand. */
static mot_thread_scratch xeo_scratch;

/* The body, run by every thread of the team. */
static void gemv_multi_team(const mot_matmul_job *jobs, int n_jobs, const float *x, int n, int64_t total) {
    const mot_weight *w0 = jobs[0].w;
    const int64_t cols = w0->cols, half = cols / 2;
    const float *xeo = NULL;
    if (w0->dtype == MOT_DTYPE_BF16) {
        /* Every thread splits x into its own buffer: a few thousand floats, cheaper than the
         * barrier that sharing one thread's split would need. */
        float *buf = mot_thread_scratch_get(&xeo_scratch, (size_t)n * (size_t)half * 2 + 1);
        for (int t = 0; buf && t < n; t++) {
            split_even_odd(buf + (int64_t)t * 2 * half, x + (int64_t)t * cols, cols);
        }
        xeo = buf;
    }
    gemv_rows_fn *rows_fn = w0->dtype == MOT_DTYPE_F32   ? gemv_rows_f32
                            : w0->dtype == MOT_DTYPE_F16 ? gemv_rows_f16
                                                         : gemv_rows_bf16;
    /* Chunks handed out as threads come for them, so that a thread slowed by anything else
     * on its core does not hold the others at the closing barrier; guided: the first grabs
     * take many chunks at once (one long stream per thread), the last ones few (a short wait
     * at the barrier). Decode steps of SmolLM-135M at 2 threads, alternating the two ways
     * step by step in one process (3 runs each): against dynamic with 4 chunks per thread,
     * guided with 8 / 16 / 32 / 64 per thread is 1.02x / 1.02-1.05x / 1.02-1.03x /
     * 1.01-1.05x faster in bf16 and 1.02x with 16 in f32 (an A/A run reads 0.99-1.01x);
     * dynamic with 8 per thread 0.99-1.00x. */
    const int64_t n_chunks = 16 * (int64_t)omp_get_num_threads();
#pragma omp for schedule(guided, 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t g0, g1, base = 0;
        mot_cpu_split_rows(total, 4, (int)c, (int)n_chunks, &g0, &g1);
        for (int j = 0; j < n_jobs; j++) {
            const int64_t rows = jobs[j].w->rows;
            int64_t r0 = g0 - base, r1 = g1 - base;
            r0 = r0 < 0 ? 0 : r0;
            r1 = r1 > rows ? rows : r1;
            if (r0 < r1) {
                rows_fn(&jobs[j], x, xeo, n, r0, r1);
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
    const mot_matmul_job job = {y, w, NULL, 0};
    mot_cpu_matmul_gemv_multi(&job, 1, x, n);
}
