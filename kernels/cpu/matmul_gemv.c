/* Decode GEMV: y[rows] = W[rows, cols] . x[cols]. Memory bound: every weight byte is read
 * once, so each thread takes contiguous chunks of rows and streams them, 4 runs at once. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/matmul_variants.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/row_ops.h"
#include "kernels/cpu/simd_load.h"
#include "kernels/cpu/team.h"
#include "kernels/cpu/thread_scratch.h"

/* Each thread reads its chunk of rows as STREAMS sequential streams at once: the chunk is
 * cut into STREAMS runs of whole rows, and step i takes row i of every run, so the x loads
 * are shared and the memory system sees several long runs in flight instead of one. On the
 * benchmark VM one stream per thread (the plain read pass of bandwidth.c) leaves bandwidth
 * unused: decode steps alternating the two kernels step by step in one process (an A/A run
 * reads 0.99-1.01x), against one row at a time with the prefetch below:
 *   4 runs, f32 without software prefetch: SmolLM-135M 1.18-1.20x, TinyLlama-1.1B 1.23x
 *     (with it: 1.05x, 1.14x; 8 runs: 1.15x, 1.21x; 2 runs: 0.99x on SmolLM);
 *   4 runs, bf16 with it: SmolLM 1.10-1.13x, TinyLlama 1.29x (without: 1.00-1.05x, 1.16-1.20x;
 *     8 runs 1.00x, 2 runs 0.97x on SmolLM);
 *   4 neighbouring rows at once (4 streams a row apart, each restarting every row): f32
 *     TinyLlama 1.15x but SmolLM 0.90-0.92x, bf16 0.75-0.92x.
 * The software prefetch is non-temporal, PREFETCH_BYTES ahead in every run: every weight is
 * read once per token, so it should not push x, the KV cache and the activations out of the
 * caches. Earlier measurements of the one-row kernel (SmolLM-135M bf16 decode steps): the
 * prefetch 512 / 768 / 1280 / 2048 bytes ahead instead of 1024: 0.94-0.96x / 0.98x /
 * 1.00-1.01x / 0.94-0.96x; T0 instead of NTA 0.98x; prefetching the next GEMV's first
 * 16-64 KiB before the small ops between GEMVs 0.97-0.99x. */
enum { STREAMS = 4, PREFETCH_BYTES = 1024, QUANT_PREFETCH_BYTES = 2048 };

/* Dot products with x of the rows w, w + gap, ..., (r of them, r = 1 or STREAMS), stored as
 * dt; prefetch: the non-temporal prefetch in each. Each row's arithmetic (one accumulator,
 * 16 columns a step) does not depend on r, so a row gives the same bits whichever way it is
 * read. */
MOT_INLINE void dot_rows(float *out, const float *x, const char *w, int64_t gap, int r, int64_t cols,
                         mot_dtype dt, int prefetch) {
    const int64_t es = mot_weight_elem_size(dt);
    __m256 acc[STREAMS];
    for (int k = 0; k < r; k++) {
        acc[k] = _mm256_setzero_ps();
    }
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
        for (int k = 0; k < r; k++) {
            const char *wk = w + k * gap;
            if (prefetch) {
                _mm_prefetch(wk + c * es + PREFETCH_BYTES, _MM_HINT_NTA);
            }
            acc[k] = _mm256_fmadd_ps(mot_load8(wk, c, dt), x0, acc[k]);
            acc[k] = _mm256_fmadd_ps(mot_load8(wk, c + 8, dt), x1, acc[k]);
        }
    }
    const int tail8 = c + 8 <= cols;
    for (int k = 0; k < r; k++) {
        const char *wk = w + k * gap;
        __m256 a = acc[k];
        if (tail8) {
            a = _mm256_fmadd_ps(mot_load8(wk, c, dt), _mm256_loadu_ps(x + c), a);
        }
        float s = mot_hsum8(a);
        for (int64_t j = c + 8 * tail8; j < cols; j++) {
            s += mot_load1(wk, j, dt) * x[j];
        }
        out[k] = s;
    }
}

/* bf16 without widening: a 32-bit lane of bf16 data holds element 2i in its low half and
 * element 2i+1 in its high half, so (lane & 0xffff0000) is element 2i+1 as an f32 and
 * (lane << 16) is element 2i. Against x split into even and odd elements (xe, xo, built once
 * per token) that is 2 ALU ops per 16 weights instead of 4, which keeps the loop ahead of
 * memory. Two accumulators per row (even, odd), so each FMA chain advances once per 32 bytes
 * of its row: with one chain per row holding both, the 4-cycle FMA latency came close to a
 * core's share of the bandwidth (SmolLM-135M bf16 decode 1.02-1.08x faster with two, in the
 * one-row kernel). Columns past the last multiple of 16 go through the scalar tail on x. */
MOT_INLINE void dot_rows_bf16_pairs(float *out, const float *x, const float *xe, const float *xo, const char *w,
                                    int64_t gap, int r, int64_t cols) {
    const __m256i hi_mask = _mm256_set1_epi32((int)0xffff0000u);
    __m256 ae[STREAMS], ao[STREAMS];
    for (int k = 0; k < r; k++) {
        ae[k] = ao[k] = _mm256_setzero_ps();
    }
    int64_t c = 0;
    for (; c + 16 <= cols; c += 16) { /* 32 bytes of each row */
        const __m256 ve = _mm256_loadu_ps(xe + c / 2), vo = _mm256_loadu_ps(xo + c / 2);
        for (int k = 0; k < r; k++) {
            const char *wk = w + k * gap + c * 2;
            _mm_prefetch(wk + PREFETCH_BYTES, _MM_HINT_NTA);
            const __m256i p = _mm256_loadu_si256((const __m256i *)wk);
            ae[k] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(p, 16)), ve, ae[k]);
            ao[k] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(p, hi_mask)), vo, ao[k]);
        }
    }
    for (int k = 0; k < r; k++) {
        float s = mot_hsum8(_mm256_add_ps(ae[k], ao[k]));
        for (int64_t j = c; j < cols; j++) {
            s += mot_load1(w + k * gap, j, MOT_DTYPE_BF16) * x[j];
        }
        out[k] = s;
    }
}

/* xe[i] = x[2i], xo[i] = x[2i+1] for 2i+1 < cols (xeo is [2][cols/2]) */
static void split_even_odd(float *xeo, const float *x, int64_t cols) {
    int64_t half = cols / 2;
    for (int64_t i = 0; i < half; i++) {
        xeo[i] = x[2 * i];
        xeo[half + i] = x[2 * i + 1];
    }
}

/* y[t, r + k * gap_rows] = v[k] (+ bias), or added to it, for k < count */
MOT_INLINE void store_rows(const mot_matmul_job *job, int t, int64_t r, int64_t gap_rows, const float *v,
                           int count) {
    float *y = job->y + (int64_t)t * job->w->rows;
    for (int k = 0; k < count; k++) {
        const int64_t i = r + k * gap_rows;
        const float b = job->bias ? v[k] + job->bias[i] : v[k];
        y[i] = job->accumulate ? y[i] + b : b;
    }
}

/* What the rows meet: x [n, cols], and what some dtypes read instead of or beside it
 * (each thread's own copies, built once per call). */
typedef struct {
    const float *x;
    const float *xeo; /* bf16: each token's even/odd split, [n][2][cols/2], or NULL */
    const float *xs;  /* quantized: each token's 32-element block sums, [n][xs_len] */
    int64_t xs_len;
    const float *xq;  /* precision: fast: each token quantized, [n][xq_len], or NULL (exact) */
    int64_t xq_len;
    int quant_mode;        /* quantized rows: mot_cpu_quant_gemv_mode() */
} gemv_in;

/* Dot products with every token's x of the r rows from row0, gap_rows apart. */
MOT_INLINE void rows_x_tokens(const mot_matmul_job *job, const gemv_in *in, int n, int64_t row0,
                              int64_t gap_rows, int r, mot_dtype dt) {
    const mot_weight *w = job->w;
    const int64_t cols = w->cols, half = cols / 2;
    const int64_t stride = cols * mot_weight_elem_size(dt);
    const char *row = (const char *)w->data + row0 * stride;
    for (int t = 0; t < n; t++) {
        const float *xt = in->x + (int64_t)t * cols;
        float v[STREAMS];
        if (dt == MOT_DTYPE_BF16 && in->xeo) {
            const float *xe = in->xeo + (int64_t)t * 2 * half;
            dot_rows_bf16_pairs(v, xt, xe, xe + half, row, gap_rows * stride, r, cols);
        } else {
            dot_rows(v, xt, row, gap_rows * stride, r, cols, dt, dt != MOT_DTYPE_F32);
        }
        store_rows(job, t, row0, gap_rows, v, r);
    }
}

/* Rows [r0, r1) of job j's y[n, rows] for all n tokens, as STREAMS runs read side by side
 * (the rest, under STREAMS rows, one by one): rows stay in L1 while they meet every token.
 * The bias and the accumulation are applied as y = x W^T; y += b; out += y would. */
MOT_INLINE void gemv_rows(const mot_matmul_job *job, const gemv_in *in, int n, int64_t r0, int64_t r1,
                          mot_dtype dt) {
    const int64_t run = (r1 - r0) / STREAMS;
    for (int64_t i = 0; i < run; i++) {
        rows_x_tokens(job, in, n, r0 + i, run, STREAMS, dt);
    }
    for (int64_t r = r0 + run * STREAMS; r < r1; r++) {
        rows_x_tokens(job, in, n, r, 0, 1, dt);
    }
}

/* One specialised (non-inlined) body per dtype. */
typedef void gemv_rows_fn(const mot_matmul_job *, const gemv_in *, int, int64_t, int64_t);
static void gemv_rows_f32(const mot_matmul_job *job, const gemv_in *in, int n, int64_t r0, int64_t r1) {
    gemv_rows(job, in, n, r0, r1, MOT_DTYPE_F32);
}
static void gemv_rows_f16(const mot_matmul_job *job, const gemv_in *in, int n, int64_t r0, int64_t r1) {
    gemv_rows(job, in, n, r0, r1, MOT_DTYPE_F16);
}
static void gemv_rows_bf16(const mot_matmul_job *job, const gemv_in *in, int n, int64_t r0, int64_t r1) {
    gemv_rows(job, in, n, r0, r1, MOT_DTYPE_BF16);
}

/* How quantized rows are streamed (schedule key quant_gemv; kernels.h). One row at a time,
 * read straight from its blocks, meeting every token while it is in L1; the rows of a chunk
 * are taken either
 *   interleaved: from STREAMS runs in turn (row i of each run, as the f32/bf16 rows are), each
 *     row also prefetching (T0) its run's row about QUANT_PREFETCH_BYTES ahead (at least 2
 *     rows), or
 *   sequential: in order, the hardware prefetcher alone, or
 *   lockstep (precision fast; sequential for the exact dots): as 4 runs, row i of each read at
 *     once by the 4-row dot (mot_cpu_quant_fdot4_fn), a group of blocks of each in turn, so
 *     that four streams are in flight from memory, as the read probe reads them.
 * Which wins depends on the CPU. On the 2-vCPU AMD EPYC (Zen 3, AVX2 only) guest of 2026-12-07,
 * lockstep: a Q4_0 dot over 2048 x 262144 rows from DRAM, one thread, 8.6-9.5 GB/s one row at a
 * time (9.6-11.7 with the rows of 4 runs in turn, a row each) -> 12.3-14.0 GB/s four rows in
 * lockstep (a plain single-stream read: 10.5-12.4 GB/s); whole decode, 2 threads, fast,
 * alternated: TinyLlama-shaped Q8_0 15.5-16.9 -> 17.3-22.9 t/s, Q4_K 23.0-25.2 -> 29.0-29.4, Q4_0
 * 25.8-28.6 -> 26.4-34.1, SmolLM2-135M Q4_1 98.7-107.9 -> 111.6-120.5. The exact dots read
 * sequentially in lockstep mode: they are compute-bound there (4 rows in lockstep measured slower
 * or level: TinyLlama-shaped Q4_0 13.1-14.1 t/s against 14.8-16.1 one row at a time, Q8_0
 * 12.1-14.1 against 13.1-13.5). Before lockstep existed, on the 2-vCPU Xeon VM (AVX-512) of the
 * earlier sections of docs/benchmarks.md, interleaved: decode steps, A/B runs interleaved (2
 * threads, mot bench tg): TinyLlama-1.1B Q4_0 15.6-17.2 -> 17.8-18.8 t/s from the runs,
 * SmolLM2-135M Q4_1 96.6-103.1 -> 101.7-112.4, TinyLlama Q8_0 10.8-11.3 -> 11.2-11.3; the
 * prefetch then 18.5-20.9 -> 21.4-24.2 t/s on TinyLlama Q4_0 (1 row ahead 20.1-24.2, 4 rows
 * 20.6-23.5; a non-temporal prefetch 11.1-12.0: it evicts what the dot is about to read). On the
 * 2-vCPU AMD EPYC (Zen 4) VM of 2026-12-05, sequential: TinyLlama-shaped Q4_0 decode GEMVs (22
 * layers, 520 MiB from DRAM, 2 threads, the configurations alternating in one process), exact
 * 25.6 -> 33.8 t/s, fast 28.8 -> 47.2 (runs without the prefetch: 30.0 / 42.5; 2 runs 33.4 /
 * 46.4); there the quantized dot is compute-bound (about 14 GB/s a core from L2) and the
 * prefetches and the switching between runs only cost issue slots. The f32 and bf16 rows,
 * memory-bound, keep their 4 runs on both (EPYC bf16: 4 runs 33-35 GB/s, one 27 GB/s). Lockstep
 * is not measured on the Zen 4 or the Xeon; auto picks it off Intel. */
static int quant_gemv_mode = MOT_QUANT_GEMV_AUTO;

void mot_cpu_set_quant_gemv(int mode) { quant_gemv_mode = mode; }

int mot_cpu_quant_gemv_auto(void) {
    /* libgcc fills in the CPU model before main */
    return __builtin_cpu_is("intel") ? MOT_QUANT_GEMV_INTERLEAVED : MOT_QUANT_GEMV_LOCKSTEP;
}

int mot_cpu_quant_gemv_mode(void) {
    return quant_gemv_mode != MOT_QUANT_GEMV_AUTO ? quant_gemv_mode : mot_cpu_quant_gemv_auto();
}

/* Rows [r0, r0 + 4 run) by the 4-row dot, run = (r1 - r0) / 4: 4 runs read in lockstep, row
 * i of each at once. Returns the first row left (under 4 rows: the caller reads them one by
 * one). */
static int64_t gemv_rows_quant_lockstep(const mot_matmul_job *job, const gemv_in *in, int n, int64_t r0, int64_t r1,
                                        mot_quant_fdot4_fn *fdot4) {
    const mot_weight *w = job->w;
    const int64_t cols = w->cols;
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
    const int64_t run = (r1 - r0) / 4;
    for (int64_t i = 0; i < run; i++) {
        const char *row = (const char *)w->data + (size_t)(r0 + i) * row_bytes;
        for (int t = 0; t < n; t++) {
            float v[4];
            fdot4(v, row, (int64_t)(run * row_bytes), in->xq + (int64_t)t * in->xq_len, cols);
            store_rows(job, t, r0 + i, run, v, 4);
        }
    }
    return r0 + 4 * run;
}

static void gemv_rows_quant(const mot_matmul_job *job, const gemv_in *in, int n, int64_t r0, int64_t r1) {
    const mot_weight *w = job->w;
    mot_quant_dot_fn *dot = mot_cpu_quant_dot_fn(w->dtype);
    mot_quant_fdot_fn *fdot = in->xq ? mot_cpu_quant_fdot_fn(w->dtype) : NULL;
    mot_quant_fdot4_fn *fdot4 = fdot && in->quant_mode == MOT_QUANT_GEMV_LOCKSTEP ? mot_cpu_quant_fdot4_fn(w->dtype) : NULL;
    if (fdot4) {
        r0 = gemv_rows_quant_lockstep(job, in, n, r0, r1, fdot4); /* the rest in order, below */
    }
    const int interleaved = in->quant_mode == MOT_QUANT_GEMV_INTERLEAVED;
    const int64_t cols = w->cols;
    const size_t row_bytes = mot_dtype_row_bytes(w->dtype, cols);
    float own[in->xs ? 1 : in->xs_len]; /* the sums per token when there is no buffer */
    const int streams = interleaved ? STREAMS : 1;
    const int64_t run = (r1 - r0) / streams, tail = r0 + run * streams;
    const int64_t pf_rows = (int64_t)((QUANT_PREFETCH_BYTES + row_bytes - 1) / row_bytes) < 2
                                ? 2 : (int64_t)((QUANT_PREFETCH_BYTES + row_bytes - 1) / row_bytes);
    for (int64_t i = 0; i < run * streams + (r1 - tail); i++) {
        const int64_t r = i < run * streams ? r0 + (i % streams) * run + i / streams : tail + (i - run * streams);
        const char *row = (const char *)w->data + (size_t)r * row_bytes;
        if (interleaved && i < run * streams && i / streams + pf_rows < run) {
            /* the same run's row pf_rows ahead */
            const char *ahead = row + pf_rows * row_bytes;
            for (size_t o = 0; o < row_bytes; o += 64) {
                _mm_prefetch(ahead + o, _MM_HINT_T0);
            }
        }
        if (fdot) {
            for (int t = 0; t < n; t++) {
                const float v = fdot(row, in->xq + (int64_t)t * in->xq_len, cols);
                store_rows(job, t, r, 0, &v, 1);
            }
            continue;
        }
        for (int t = 0; t < n; t++) {
            const float *xt = in->x + (int64_t)t * cols, *xs = own;
            if (in->xs) {
                xs = in->xs + (int64_t)t * in->xs_len;
            } else {
                mot_cpu_quant_xsums(own, xt, cols);
            }
            const float v = dot(row, xt, xs, cols);
            store_rows(job, t, r, 0, &v, 1);
        }
    }
}

static gemv_rows_fn *rows_fn_for(mot_dtype dt) {
    switch (dt) {
    case MOT_DTYPE_F32:
        return gemv_rows_f32;
    case MOT_DTYPE_F16:
        return gemv_rows_f16;
    case MOT_DTYPE_BF16:
        return gemv_rows_bf16;
    default:
        return gemv_rows_quant;
    }
}

/* Bytes of one stored row of w. */
static int64_t row_bytes_of(const mot_weight *w) {
    return mot_dtype_is_quantized(w->dtype) ? (int64_t)mot_dtype_row_bytes(w->dtype, w->cols)
                                            : w->cols * mot_weight_elem_size(w->dtype);
}

/* How the rows are handed out: chunks taken as threads come for them, so that a thread
 * slowed by anything else on its core does not hold the others at the closing barrier. Each
 * chunk is read as STREAMS runs, and every chunk restarts them, so chunks are few and large:
 * as OpenMP's guided schedule sizes its grabs, chunk c is 1/threads of the rows left (the
 * first ones long streams, the last ones a short wait at the barrier), but at least
 * MIN_CHUNK_BYTES of weights. Decode steps alternating with the former split (32 equal
 * chunks at 2 threads handed out guided, so each grab's 16 or 8 chunks restarted the runs
 * every 18 rows on SmolLM-135M's 576-row weights), one process, an A/A run reading
 * 0.99-1.01x: SmolLM-135M bf16 1.05-1.14x, f32 1.01-1.03x; TinyLlama-1.1B bf16 0.99-1.01x,
 * f32 1.02x. Grabs of 1/(2 threads) of the rest: 1.03-1.11x on SmolLM bf16 (with the 32 KiB
 * floor), 1/(4 threads) 0.99-1.01x; a floor of 8 KiB 1.04-1.05x, 16 KiB 1.03-1.05x; two
 * equal halves (a static split) 1.05-1.09x. */
enum { MAX_CHUNKS = 1024, MIN_CHUNK_BYTES = 48 * 1024 };

/* starts[0..n] of the n chunks over total rows (starts multiples of 4); returns n. */
static int chunk_starts(int64_t *starts, int64_t total, int64_t min_rows, int threads) {
    int n = 0;
    int64_t s = 0;
    min_rows = min_rows < 4 ? 4 : min_rows;
    while (s < total && n < MAX_CHUNKS - 1) {
        starts[n++] = s;
        int64_t size = (total - s + threads - 1) / threads;
        size = size < min_rows ? min_rows : size;
        s += (size + 3) & ~(int64_t)3;
    }
    if (s < total) { /* MAX_CHUNKS reached: the last chunk takes the rest */
        starts[n++] = s;
    }
    starts[n] = total;
    return n;
}

/* Even/odd split copies of x for the bf16 path, per thread, grown on demand. */
static mot_thread_scratch xeo_scratch;
/* Block sums of x for the quantized rows, per thread. */
static mot_thread_scratch xs_scratch;
/* x quantized to int8 (precision: fast), per thread. */
static mot_thread_scratch xq_scratch;

/* The body, run by every thread of the team; f: the fusions, or NULL. */
static void gemv_multi_team(const mot_matmul_job *jobs, int n_jobs, const float *x, int n, int64_t total,
                            const mot_gemv_fusion *f) {
    const mot_weight *w0 = jobs[0].w;
    const int64_t cols = w0->cols, half = cols / 2;
    /* The fused RMSNorm: every thread norms x into its own copy (a few thousand floats on
     * the stack: cheaper than the barrier that a shared one would need), and thread 0 also
     * keeps it in norm_out. */
    float xn[MOT_GEMV_FUSE_MAX_FLOATS];
    if (f && f->norm_w) {
        for (int t = 0; t < n; t++) {
            mot_cpu_rmsnorm_row(xn + (int64_t)t * cols, x + (int64_t)t * cols, f->norm_w, (int)cols, f->norm_eps);
        }
        if (f->norm_out && omp_get_thread_num() == 0) {
            memcpy(f->norm_out, xn, sizeof(float) * (size_t)(n * cols));
        }
        x = xn;
    }
    int any_bf16 = 0, any_quant = 0, any_fast = 0;
    const int fast = mot_cpu_precision_fast();
    int64_t bytes = 0; /* of all the rows of the row space (paired: gate and up) */
    for (int j = 0; j < n_jobs; j++) {
        any_bf16 |= jobs[j].w->dtype == MOT_DTYPE_BF16;
        any_quant |= mot_dtype_is_quantized(jobs[j].w->dtype);
        any_fast |= fast && mot_cpu_quant_fdot_fn(jobs[j].w->dtype) != NULL;
        bytes += row_bytes_of(jobs[j].w) * jobs[j].w->rows;
    }
    gemv_in in = {x, NULL, NULL, mot_cpu_quant_xsums_len(cols), NULL, mot_cpu_q8x_len(cols), 0};
    if (any_quant) {
        in.quant_mode = mot_cpu_quant_gemv_mode();
    }
    if (any_bf16) {
        /* Every thread splits x into its own buffer, for the same reason. */
        float *buf = mot_thread_scratch_get(&xeo_scratch, (size_t)n * (size_t)half * 2 + 1);
        for (int t = 0; buf && t < n; t++) {
            split_even_odd(buf + (int64_t)t * 2 * half, x + (int64_t)t * cols, cols);
        }
        in.xeo = buf;
    }
    if (any_quant) {
        /* and its own block sums of x (NULL: the rows compute them per token) */
        float *buf = mot_thread_scratch_get(&xs_scratch, (size_t)n * (size_t)in.xs_len + 1);
        for (int t = 0; buf && t < n; t++) {
            mot_cpu_quant_xsums(buf + (int64_t)t * in.xs_len, x + (int64_t)t * cols, cols);
        }
        in.xs = buf;
    }
    if (any_fast) {
        /* and its own int8 copy of x (after the fused norm: the rows meet what they would
         * meet unfused); NULL: the exact dots */
        float *buf = mot_thread_scratch_get(&xq_scratch, (size_t)n * (size_t)in.xq_len + 1);
        for (int t = 0; buf && t < n; t++) {
            mot_cpu_quantize_x(buf + (int64_t)t * in.xq_len, x + (int64_t)t * cols, cols);
        }
        in.xq = buf;
    }
    /* The fused SwiGLU pairs the rows of gate (job 0) and up (job 1): a chunk is the same
     * rows of both, so its thread can apply silu(gate) * up to them when both are done. */
    const int paired = f && f->swiglu;
    const int64_t space = paired ? w0->rows : total;
    int64_t starts[MAX_CHUNKS + 1];
    /* chunks of at least MIN_CHUNK_BYTES at the mean bytes per row of the space */
    const int64_t min_rows = space > 0 ? (int64_t)((double)MIN_CHUNK_BYTES * (double)space / (double)(bytes > 0 ? bytes : 1)) : 0;
    const int n_chunks = chunk_starts(starts, space, min_rows, omp_get_num_threads());
#pragma omp for schedule(dynamic, 1)
    for (int c = 0; c < n_chunks; c++) {
        const int64_t g0 = starts[c], g1 = starts[c + 1];
        if (paired) {
            rows_fn_for(jobs[0].w->dtype)(&jobs[0], &in, n, g0, g1);
            rows_fn_for(jobs[1].w->dtype)(&jobs[1], &in, n, g0, g1);
            for (int t = 0; t < n; t++) {
                float *gate = jobs[0].y + (int64_t)t * w0->rows + g0;
                mot_cpu_swiglu_span(gate, gate, jobs[1].y + (int64_t)t * w0->rows + g0, g1 - g0);
            }
            continue;
        }
        int64_t base = 0;
        for (int j = 0; j < n_jobs; j++) {
            const int64_t rows = jobs[j].w->rows;
            int64_t r0 = g0 - base, r1 = g1 - base;
            r0 = r0 < 0 ? 0 : r0;
            r1 = r1 > rows ? rows : r1;
            if (r0 < r1) {
                rows_fn_for(jobs[j].w->dtype)(&jobs[j], &in, n, r0, r1);
            }
            base += rows;
        }
    }
}

/* Rows of several weights that read the same x, as one row space split across the threads
 * (q/k/v, gate/up): one closing barrier instead of several, and the split balances over the
 * total. All weights share cols; their dtypes may differ (a GGUF file may store q and k as
 * Q4_K and v as Q6_K). */
void mot_cpu_matmul_gemv_multi(const mot_matmul_job *jobs, int n_jobs, const float *x, int n) {
    mot_cpu_matmul_gemv_fused(jobs, n_jobs, x, n, NULL);
}

void mot_cpu_matmul_gemv_fused(const mot_matmul_job *jobs, int n_jobs, const float *x, int n,
                               const mot_gemv_fusion *f) {
    int64_t total = 0;
    for (int j = 0; j < n_jobs; j++) {
        total += jobs[j].w->rows;
    }
    const int parallel = (double)n * (double)total * (double)jobs[0].w->cols > 65536.0;
    MOT_TEAM_RUN(parallel, gemv_multi_team(jobs, n_jobs, x, n, total, f));
}

void mot_cpu_matmul_gemv(float *y, const float *x, const mot_weight *w, int n) {
    const mot_matmul_job job = {y, w, NULL, 0};
    mot_cpu_matmul_gemv_multi(&job, 1, x, n);
}
