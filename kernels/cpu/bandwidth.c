/* Measured memory read bandwidth: the ceiling for the decode GEMV.
 * A pass is the plainest read there is (a SIMD integer sum of every byte, each thread one
 * contiguous share of the total read as a few runs side by side, no barrier until the end)
 * and is timed whole. Timing small chunks and keeping the best, as this file did before,
 * measured bursts: on the 2-core benchmark VM that gave 38 GB/s where whole passes over
 * 256 MiB average 23-25 (best 25-32). */
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/kernels.h"

/* Sum of bytes [p, p + n) as 32-bit lanes (the value is only a sink; integer adds, so no
 * bit pattern can slow it down the way denormal floats could). */
static uint32_t sum_span(const char *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi32(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi32(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi32(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi32(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
    }
    uint32_t lanes[8], s = 0;
    _mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)));
    for (int k = 0; k < 8; k++) s += lanes[k];
    for (; i < n; i++) s += (unsigned char)p[i];
    return s;
}

/* A position in the concatenation of spans, with the bytes left to read from it. */
typedef struct {
    const mot_read_span *spans;
    int n_spans, i;
    size_t off, left;
} read_cursor;

/* Moves c to the next span while it stands at the end of one (empty spans included). */
static void cursor_settle(read_cursor *c) {
    while (c->i < c->n_spans && c->off >= c->spans[c->i].bytes) {
        c->off -= c->spans[c->i].bytes;
        c->i++;
    }
}

static read_cursor cursor_at(const mot_read_span *spans, int n_spans, size_t start, size_t len) {
    read_cursor c = {spans, n_spans, 0, start, len};
    cursor_settle(&c);
    return c;
}

/* Bytes cursor c can read before its span or its run ends. */
static size_t cursor_contiguous(const read_cursor *c) {
    if (c->i >= c->n_spans) return 0;
    const size_t avail = c->spans[c->i].bytes - c->off;
    return avail < c->left ? avail : c->left;
}

/* Moves c past n bytes it has contiguous (n <= cursor_contiguous(c)). */
static void cursor_skip(read_cursor *c, size_t n) {
    c->off += n, c->left -= n;
    cursor_settle(c);
}

/* Sums the next n bytes (fewer at the end) and moves past them. */
static uint32_t cursor_read(read_cursor *c, size_t n) {
    uint32_t s = 0;
    for (size_t take; n > 0 && (take = cursor_contiguous(c)) > 0; n -= take) {
        take = take < n ? take : n;
        s += sum_span((const char *)c->spans[c->i].data + c->off, take);
        cursor_skip(c, take);
    }
    return s;
}

/* Each thread reads one contiguous share of the total as READ_STREAMS runs side by side, a
 * line of each in turn: the decode GEMV's pattern (matmul_gemv.c), which on the benchmark VM
 * reads faster than one run per thread (a plain read slower than the GEMV is no ceiling). */
enum { READ_STREAMS = 4 };

/* Sum of n bytes (a multiple of 64) from each of the READ_STREAMS runs p[k], a line each in turn */
static uint32_t sum_side_by_side(const char *const *p, size_t n) {
    __m256i a[READ_STREAMS];
    for (int k = 0; k < READ_STREAMS; k++) a[k] = _mm256_setzero_si256();
    for (size_t i = 0; i < n; i += 64) {
        for (int k = 0; k < READ_STREAMS; k++) {
            a[k] = _mm256_add_epi32(a[k], _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(p[k] + i)),
                                                           _mm256_loadu_si256((const __m256i *)(p[k] + i + 32))));
        }
    }
    uint32_t lanes[8], s = 0;
    for (int k = 1; k < READ_STREAMS; k++) a[0] = _mm256_add_epi32(a[0], a[k]);
    _mm256_storeu_si256((__m256i *)lanes, a[0]);
    for (int k = 0; k < 8; k++) s += lanes[k];
    return s;
}

double mot_cpu_read_pass(const mot_read_span *spans, int n_spans, uint32_t *sum) {
    size_t total = 0;
    for (int i = 0; i < n_spans; i++) total += spans[i].bytes;
    uint32_t s = 0;
    double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : s)
    {
        size_t nth = (size_t)omp_get_num_threads(), tid = (size_t)omp_get_thread_num();
        size_t lines = total / 64; /* shares and runs start on 64-byte boundaries of the total */
        size_t b0 = lines * tid / nth * 64, b1 = tid + 1 == nth ? total : lines * (tid + 1) / nth * 64;
        size_t run = (b1 - b0) / 64 / READ_STREAMS * 64;
        read_cursor cur[READ_STREAMS];
        for (int k = 0; k < READ_STREAMS; k++) {
            size_t start = b0 + run * (size_t)k;
            cur[k] = cursor_at(spans, n_spans, start, k + 1 == READ_STREAMS ? b1 - start : run);
        }
        for (int busy = 1; busy;) {
            /* side by side over the bytes every run has contiguous; span ends and the last
             * run's extra bytes go through cursor_read */
            size_t n = SIZE_MAX;
            for (int k = 0; k < READ_STREAMS; k++) {
                const size_t ck = cursor_contiguous(&cur[k]);
                n = ck < n ? ck : n;
            }
            n = n / 64 * 64;
            if (n > 0) {
                const char *p[READ_STREAMS];
                for (int k = 0; k < READ_STREAMS; k++) p[k] = (const char *)cur[k].spans[cur[k].i].data + cur[k].off;
                s += sum_side_by_side(p, n);
                for (int k = 0; k < READ_STREAMS; k++) cursor_skip(&cur[k], n);
                continue;
            }
            busy = 0;
            for (int k = 0; k < READ_STREAMS; k++) {
                if (cursor_contiguous(&cur[k]) > 0) {
                    s += cursor_read(&cur[k], 64);
                    busy = 1;
                }
            }
        }
    }
    double dt = omp_get_wtime() - t0;
    __asm__ volatile("" : : "r"(s)); /* the sum is used, so the reads stay */
    if (sum) {
        *sum = s;
    }
    return dt;
}

double mot_cpu_measure_read_bandwidth(size_t bytes, int passes) {
    char *buf = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!buf || passes < 1) {
        free(buf);
        return 0.0;
    }
    /* touch every page first, from the threads that will read it */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < bytes; i += 4096) {
        memset(buf + i, 1, bytes - i < 4096 ? bytes - i : 4096);
    }
    const mot_read_span span = {buf, bytes};
    mot_cpu_read_pass(&span, 1, NULL); /* warm-up */
    double seconds = 0.0;
    for (int p = 0; p < passes; p++) seconds += mot_cpu_read_pass(&span, 1, NULL);
    free(buf);
    return (double)bytes * passes / seconds / 1e9;
}
