/* Kernel micro-benchmark: decode GEMV against the measured read bandwidth, prefill GEMM
 * against OpenBLAS and a naive loop. Best of R repetitions (the machine is shared and
 * noisy). Usage: bench_kernels [-r REPS] [-t MAX_THREADS] [-n TOKENS] [--naive] [--hot]
 * [--only gemv|gemm|attn|qgemv|qgemm|quant|bwd] (the q ones: quantized weights, and bwd: the
 * training linear's backward against the forward, not in "all"). --hot runs the GEMV on one weight copy (from cache when it fits) to
 * show whether the loop, not memory, is the limit. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "kernels/cpu/backward.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/matmul_variants.h"

typedef struct {
    int64_t rows, cols;
} shape;

static const shape shapes[] = {{576, 576},   {1536, 576},  {576, 1536},  {49152, 576},
                               {2048, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

static void *make_weight_bytes(size_t bytes) {
    uint16_t *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    /* small values in every dtype: bf16/f16 0x3c00-ish patterns are finite either way */
    for (size_t i = 0; i < bytes / 2; i++) {
        p[i] = (uint16_t)(0x3c00 + (i * 7919u) % 512);
    }
    return p;
}

static float *make_floats(size_t n) {
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    }
    return x;
}

typedef void (*matmul_fn)(float *, const float *, const mot_weight *, int);

static void blas_fn(float *y, const float *x, const mot_weight *w, int n) {
    mot_cpu_matmul_blas(y, x, w, n);
}

/* Best seconds of `reps` runs of fn over `copies` weights (round robin). */
static double best_time(matmul_fn fn, float *y, const float *x, const mot_weight *ws, int copies,
                        int n, int reps) {
    double best = 1e30;
    fn(y, x, &ws[0], n); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime();
        fn(y, x, &ws[r % copies], n);
        double dt = omp_get_wtime() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

static void bench_gemv(double bw, int reps, int threads, int hot) {
    printf("\n## GEMV (n = 1), %d thread(s); %s\n\n", threads,
           hot ? "one weight copy (cache-resident when it fits)"
               : "weights rotate over copies > 256 MiB (read from DRAM)");
    printf("| shape (rows x cols) | dtype | ms | GB/s | %% of %.1f GB/s |\n|---|---|---|---|---|\n",
           bw);
    static const mot_dtype dts[] = {MOT_DTYPE_BF16, MOT_DTYPE_F32};
    omp_set_num_threads(threads);
    for (int s = 0; s < N_SHAPES; s++) {
        for (int d = 0; d < 2; d++) {
            size_t bytes =
                (size_t)(shapes[s].rows * shapes[s].cols) * (dts[d] == MOT_DTYPE_F32 ? 4 : 2);
            int copies = hot ? 1 : (int)((256u << 20) / bytes) + 1;
            char *mem = make_weight_bytes(bytes * (size_t)copies + 2);
            mot_weight ws[copies > 0 ? copies : 1];
            for (int c = 0; c < copies; c++) {
                /* +2 bytes: mapped tensors start at any even offset */
                ws[c] = (mot_weight){dts[d], mem + 2 + (size_t)c * bytes, shapes[s].rows,
                                     shapes[s].cols};
            }
            float *x = make_floats((size_t)shapes[s].cols),
                  *y = malloc(sizeof(float) * (size_t)shapes[s].rows);
            double best = 1e30;
            for (int r = 0; r < reps * copies; r++) {
                double t0 = omp_get_wtime();
                mot_cpu_matmul(y, x, &ws[r % copies], 1);
                double dt = omp_get_wtime() - t0;
                best = dt < best ? dt : best;
            }
            double gbs = (double)bytes / best / 1e9;
            printf("| %lld x %lld | %s | %.3f | %.1f | %.0f%% |\n", (long long)shapes[s].rows,
                   (long long)shapes[s].cols, mot_dtype_name(dts[d]), best * 1e3, gbs,
                   100.0 * gbs / bw);
            free(mem), free(x), free(y);
        }
    }
}

static void bench_gemm(int n, int reps, int max_threads, int with_naive) {
    printf("\n## GEMM (n = %d tokens), GFLOP/s (best of %d)\n\n", n, reps);
    printf("| shape (rows x cols) | dtype | threads | mot gemm | OpenBLAS | gemv per token | naive "
           "|\n");
    printf("|---|---|---|---|---|---|---|\n");
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_BF16};
    for (int s = 0; s < N_SHAPES; s++) {
        for (int d = 0; d < 2; d++) {
            size_t bytes =
                (size_t)(shapes[s].rows * shapes[s].cols) * (dts[d] == MOT_DTYPE_F32 ? 4 : 2);
            char *mem = make_weight_bytes(bytes + 2);
            mot_weight w = {dts[d], mem + (dts[d] == MOT_DTYPE_F32 ? 0 : 2), shapes[s].rows,
                            shapes[s].cols};
            float *x = make_floats((size_t)n * shapes[s].cols);
            float *y = malloc(sizeof(float) * (size_t)n * shapes[s].rows);
            double flops = 2.0 * n * (double)shapes[s].rows * (double)shapes[s].cols;
            for (int t = 1; t <= max_threads; t++) {
                omp_set_num_threads(t);
                double g = flops / best_time(mot_cpu_matmul_gemm, y, x, &w, 1, n, reps) / 1e9;
                double b = flops / best_time(blas_fn, y, x, &w, 1, n, reps) / 1e9;
                double v =
                    flops / best_time(mot_cpu_matmul_gemv, y, x, &w, 1, n, n > 16 ? 1 : reps) / 1e9;
                printf("| %lld x %lld | %s | %d | %.1f | %.1f | %.1f |", (long long)shapes[s].rows,
                       (long long)shapes[s].cols, mot_dtype_name(dts[d]), t, g, b, v);
                if (with_naive) {
                    printf(" %.1f |\n",
                           flops / best_time(mot_cpu_matmul_naive, y, x, &w, 1, n, 1) / 1e9);
                } else {
                    printf(" - |\n");
                }
                fflush(stdout);
            }
            free(mem), free(x), free(y);
        }
    }
}

/* ---- quantized weights ----------------------------------------------------------------- */

/* BF16 last: the GEMV on plain weights read the same way, as a baseline */
static const mot_dtype quant_types[] = {MOT_DTYPE_Q4_0, MOT_DTYPE_Q4_1, MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_K,
                                        MOT_DTYPE_Q5_K, MOT_DTYPE_Q6_K, MOT_DTYPE_BF16};
enum { N_QTYPES = sizeof quant_types / sizeof quant_types[0] - 1, N_GEMV_TYPES = N_QTYPES + 1 };

/* SmolLM-135M's and TinyLlama-1.1B's decode matmuls; -1: every type, else the one type that
 * shape is benchmarked as (SmolLM as Q8_0, its usual GGUF type). */
static const struct {
    int64_t rows, cols;
    int only; /* index into quant_types, or -1 */
} qshapes[] = {{576, 576, 2},     {192, 576, 2},     {1536, 576, 2},    {576, 1536, 2},    {49152, 576, 2},
               {2048, 2048, -1},  {256, 2048, -1},   {5632, 2048, -1},  {2048, 5632, -1},  {32000, 2048, -1}};

/* Decode GEMV on quantized weights, GB/s of weight bytes. The weights rotate over copies
 * spanning QPOOL bytes (> 4x the 260 MiB L3 of the benchmark VM), so each call reads from
 * DRAM; --hot: one copy. Every 16-bit word of the pool is a finite f16 near 1 (the bytes of
 * the quants are whatever that makes them), so the scales are sane. */
#define QPOOL ((size_t)1 << 30)
static void bench_quant_gemv(double bw, int reps, int threads, int hot) {
    printf("\n## Quantized GEMV (n = 1), %d thread(s); %s\n\n", threads,
           hot ? "one weight copy (cache-resident when it fits)" : "weights rotate over copies spanning 1 GiB (DRAM)");
    printf("| shape (rows x cols) | dtype | MiB | us | GB/s | %% of %.1f GB/s |\n|---|---|---|---|---|---|\n", bw);
    omp_set_num_threads(threads);
    char *pool = make_weight_bytes(QPOOL + 64);
    for (size_t s = 0; s < sizeof qshapes / sizeof qshapes[0]; s++) {
        for (int d = 0; d < N_GEMV_TYPES; d++) {
            if (qshapes[s].only >= 0 && qshapes[s].only != d && d != N_QTYPES) {
                continue;
            }
            const mot_dtype dt = quant_types[d];
            const size_t bytes = mot_dtype_row_bytes(dt, qshapes[s].cols) * (size_t)qshapes[s].rows;
            int copies = hot ? 1 : (int)(QPOOL / bytes);
            copies = copies < 1 ? 1 : copies > 4096 ? 4096 : copies;
            mot_weight *ws = malloc(sizeof(mot_weight) * (size_t)copies);
            for (int c = 0; c < copies; c++) {
                /* +2 bytes: tensors in a mapped file start at any even offset */
                ws[c] = (mot_weight){dt, pool + 2 + (size_t)c * bytes, qshapes[s].rows, qshapes[s].cols};
            }
            float *x = make_floats((size_t)qshapes[s].cols), *y = malloc(sizeof(float) * (size_t)qshapes[s].rows);
            /* rounds over all copies; the best round's mean time per call */
            const int rounds = reps < 3 ? 3 : reps, per = copies < 64 ? 64 / copies + 1 : 1;
            double best = 1e30;
            mot_cpu_matmul(y, x, &ws[0], 1);
            for (int r = 0; r < rounds; r++) {
                double t0 = omp_get_wtime();
                for (int i = 0; i < copies * per; i++) {
                    mot_cpu_matmul(y, x, &ws[i % copies], 1);
                }
                double dt_s = (omp_get_wtime() - t0) / (copies * per);
                best = dt_s < best ? dt_s : best;
            }
            const double gbs = (double)bytes / best / 1e9;
            printf("| %lld x %lld | %s | %.2f | %.1f | %.1f | %.0f%% |\n", (long long)qshapes[s].rows,
                   (long long)qshapes[s].cols, mot_dtype_name(dt), (double)bytes / (1 << 20), best * 1e6, gbs,
                   100.0 * gbs / bw);
            fflush(stdout);
            free(ws), free(x), free(y);
        }
    }
    free(pool);
}

/* Prefill on quantized weights: the GEMM (dequantizing panels while packing) and the GEMV
 * per token count, GFLOP/s, beside the f32 GEMM on the same shape. */
static void bench_quant_gemm(int n, int reps, int threads) {
    omp_set_num_threads(threads);
    printf("\n## Quantized GEMM, %d thread(s), GFLOP/s (best of %d)\n\n", threads, reps);
    static const int ns[] = {2, 4, 6, 8, 12, 16, 0};
    printf("| shape | dtype | n=%d gemm | f32 gemm |", n);
    for (int i = 0; ns[i]; i++) printf(" n=%d gemv / gemm |", ns[i]);
    printf("\n|---|---|---|---|");
    for (int i = 0; ns[i]; i++) printf("---|");
    printf("\n");
    static const shape gshapes[] = {{576, 576}, {1536, 576}, {2048, 2048}, {5632, 2048}};
    for (size_t s = 0; s < sizeof gshapes / sizeof gshapes[0]; s++) {
        const int64_t rows = gshapes[s].rows, cols = gshapes[s].cols;
        float *x = make_floats((size_t)n * cols), *y = malloc(sizeof(float) * (size_t)n * rows);
        float *wf = make_floats((size_t)(rows * cols));
        const mot_weight w32 = {MOT_DTYPE_F32, wf, rows, cols};
        const double flops = 2.0 * n * (double)rows * (double)cols;
        const double f32 = flops / best_time(mot_cpu_matmul_gemm, y, x, &w32, 1, n, reps) / 1e9;
        char *mem = make_weight_bytes(mot_dtype_row_bytes(MOT_DTYPE_Q8_0, cols) * (size_t)rows + 64);
        for (int d = 0; d < N_QTYPES; d++) {
            const mot_weight w = {quant_types[d], mem + 2, rows, cols};
            printf("| %lld x %lld | %s | %.1f | %.1f |", (long long)rows, (long long)cols,
                   mot_dtype_name(quant_types[d]), flops / best_time(mot_cpu_matmul_gemm, y, x, &w, 1, n, reps) / 1e9,
                   f32);
            for (int i = 0; ns[i]; i++) {
                const double fl = 2.0 * ns[i] * (double)rows * (double)cols;
                printf(" %.1f / %.1f |", fl / best_time(mot_cpu_matmul_gemv, y, x, &w, 1, ns[i], reps) / 1e9,
                       fl / best_time(mot_cpu_matmul_gemm, y, x, &w, 1, ns[i], reps) / 1e9);
            }
            printf("\n");
            fflush(stdout);
        }
        free(mem), free(x), free(y), free(wf);
    }
}

/* Attention: decode (one query over a long cache) and prefill, TinyLlama-like heads. */
static void bench_attention(int reps, int threads) {
    omp_set_num_threads(threads);
    printf("\n## Attention, %d thread(s): 32 heads, 4 kv heads, hd 64, head-major cache (best of %d)\n\n",
           threads, reps);
    printf("| case | ms | GFLOP/s |\n|---|---|---|\n");
    static const struct {
        int n, pos0;
    } cases[] = {{1, 511}, {1, 2047}, {1, 4095}, {128, 0}, {512, 0}, {2048, 0}};
    const int heads = 32, kv = 4, hd = 64, stride = kv * hd; /* floats per key, all kv heads */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c].n, keys = cases[c].pos0 + n;
        float *q = make_floats((size_t)n * heads * hd), *o = malloc(sizeof(float) * n * heads * hd);
        float *k = make_floats((size_t)keys * stride), *v = make_floats((size_t)keys * stride);
        double best = 1e30;
        /* the runtime's layout: [kv, keys, hd] */
        mot_cpu_attention(o, q, k, v, hd, (int64_t)keys * hd, n, cases[c].pos0, heads, kv, hd, 0, 0.125f);
        for (int r = 0; r < reps; r++) {
            double t0 = omp_get_wtime();
            mot_cpu_attention(o, q, k, v, hd, (int64_t)keys * hd, n, cases[c].pos0, heads, kv, hd, 0, 0.125f);
            double dt = omp_get_wtime() - t0;
            best = dt < best ? dt : best;
        }
        /* q.k and p.v: 4 * hd flops per visible (query, key, head) */
        double pairs = 0;
        for (int t = 0; t < n; t++) {
            pairs += cases[c].pos0 + t + 1;
        }
        double flops = 4.0 * hd * heads * pairs;
        printf("| n=%d pos0=%d | %.3f | %.1f |\n", n, cases[c].pos0, best * 1e3,
               flops / best / 1e9);
        free(q), free(o), free(k), free(v);
    }
}

/* The training linear's backward dx = dy . W (kernels/cpu/backward.h) against the forward
 * y = x . W^T on the same weight and token count, GFLOP/s; and dw += dy^T x (f32). */
static void bench_backward(int n, int reps, int threads) {
    omp_set_num_threads(threads);
    printf("\n## Linear backward, n = %d, %d thread(s), GFLOP/s (best of %d)\n\n", n, threads, reps);
    printf("| shape | dtype | forward | backward_x | backward_w (f32) |\n|---|---|---|---|---|\n");
    static const shape bshapes[] = {{576, 576}, {1536, 576}, {576, 1536}, {2048, 2048}, {5632, 2048}};
    static const mot_dtype dts[] = {MOT_DTYPE_F32, MOT_DTYPE_BF16, MOT_DTYPE_Q8_0, MOT_DTYPE_Q4_K, MOT_DTYPE_Q6_K};
    for (size_t s = 0; s < sizeof bshapes / sizeof bshapes[0]; s++) {
        const int64_t rows = bshapes[s].rows, cols = bshapes[s].cols;
        float *x = make_floats((size_t)n * cols), *y = make_floats((size_t)n * rows);
        float *wf = make_floats((size_t)(rows * cols)), *dw = calloc((size_t)(rows * cols), sizeof(float));
        char *mem = make_weight_bytes((size_t)(rows * cols) * 2 + 64);
        const double flops = 2.0 * n * (double)rows * (double)cols;
        for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
            const mot_weight w = {dts[d], dts[d] == MOT_DTYPE_F32 ? (const void *)wf : mem + 2, rows, cols};
            double fwd = 1e30, bx = 1e30, bw = 1e30;
            mot_cpu_matmul(y, x, &w, n);
            mot_cpu_matmul_backward_x(x, y, &w, n, 0);
            for (int r = 0; r < reps; r++) {
                double t0 = omp_get_wtime();
                mot_cpu_matmul(y, x, &w, n);
                double t1 = omp_get_wtime();
                mot_cpu_matmul_backward_x(x, y, &w, n, 0);
                double t2 = omp_get_wtime();
                fwd = t1 - t0 < fwd ? t1 - t0 : fwd;
                bx = t2 - t1 < bx ? t2 - t1 : bx;
                if (d == 0) {
                    mot_cpu_matmul_backward_w(dw, NULL, y, x, n, (int)rows, (int)cols);
                    double t3 = omp_get_wtime();
                    bw = t3 - t2 < bw ? t3 - t2 : bw;
                }
            }
            printf("| %lld x %lld | %s | %.1f | %.1f |", (long long)rows, (long long)cols, mot_dtype_name(dts[d]),
                   flops / fwd / 1e9, flops / bx / 1e9);
            if (d == 0) {
                printf(" %.1f |\n", flops / bw / 1e9);
            } else {
                printf(" |\n");
            }
            fflush(stdout);
        }
        free(x), free(y), free(wf), free(dw), free(mem);
    }
}

int main(int argc, char **argv) {
    int reps = 5, max_threads = 2, with_naive = 0, n = 128, hot = 0;
    const char *only = "all";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            max_threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--hot") == 0) {
            hot = 1;
        } else if (strcmp(argv[i], "--naive") == 0) {
            with_naive = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i]; /* gemv | gemm | attn | qgemv | qgemm | quant (both) | bwd */
        } else {
            fprintf(stderr,
                    "usage: %s [-r REPS] [-t MAX_THREADS] [-n TOKENS] [--naive] [--hot] [--only "
                    "gemv|gemm|attn|qgemv|qgemm|quant|bwd]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps < 1 || max_threads < 1 || n < 1) {
        fprintf(stderr, "bench_kernels: -r, -t and -n must be positive\n");
        return 2;
    }
    if (strcmp(only, "all") == 0 || strcmp(only, "gemv") == 0) {
        omp_set_num_threads(max_threads);
        double bw = mot_cpu_measure_read_bandwidth((size_t)1 << 30, 4);
        printf("# measured read bandwidth: %.1f GB/s (%d threads, mean of 4 passes over 1 GiB)\n", bw,
               max_threads);
        bench_gemv(bw, reps, max_threads, hot);
    }
    if (strcmp(only, "qgemv") == 0 || strcmp(only, "quant") == 0) {
        omp_set_num_threads(max_threads);
        double bw = mot_cpu_measure_read_bandwidth((size_t)1 << 30, 4);
        printf("# measured read bandwidth: %.1f GB/s (%d threads, mean of 4 passes over 1 GiB)\n", bw, max_threads);
        bench_quant_gemv(bw, reps, max_threads, hot);
    }
    if (strcmp(only, "qgemm") == 0 || strcmp(only, "quant") == 0) {
        bench_quant_gemm(n, reps, max_threads);
    }
    if (strncmp(only, "q", 1) == 0) {
        return 0;
    }
    if (strcmp(only, "bwd") == 0) {
        bench_backward(n, reps, max_threads);
        return 0;
    }
    if (strcmp(only, "gemv") != 0 && strcmp(only, "attn") != 0) {
        bench_gemm(n, reps, max_threads, with_naive);
    }
    if (strcmp(only, "all") == 0 || strcmp(only, "attn") == 0) {
        bench_attention(reps, max_threads);
    }
    return 0;
}
