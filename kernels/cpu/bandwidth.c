/* Measured memory read bandwidth: the ceiling for the decode GEMV.
 * A pass is the plainest read there is (a SIMD integer sum of every byte, each thread one
 * contiguous share of the total, no barrier until the end) and is timed whole. Timing small
 * chunks and keeping the best, as this file did before, measured bursts: on the 2-core
 * benchmark VM that gave 38 GB/s where whole passes over 256 MiB average 23-25 (best 25-32). */
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

/* Bytes [b0, b1) of the concatenation of spans. */
static uint32_t sum_range(const mot_read_span *spans, int n_spans, size_t b0, size_t b1) {
    uint32_t s = 0;
    size_t base = 0;
    for (int i = 0; i < n_spans && base < b1; i++) {
        size_t lo = b0 > base ? b0 - base : 0, hi = b1 - base < spans[i].bytes ? b1 - base : spans[i].bytes;
        if (lo < hi) s += sum_span((const char *)spans[i].data + lo, hi - lo);
        base += spans[i].bytes;
    }
    return s;
}

double mot_cpu_read_pass(const mot_read_span *spans, int n_spans) {
    size_t total = 0;
    for (int i = 0; i < n_spans; i++) total += spans[i].bytes;
    uint32_t s = 0;
    double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : s)
    {
        size_t nth = (size_t)omp_get_num_threads(), tid = (size_t)omp_get_thread_num();
        size_t lines = total / 64; /* shares start on 64-byte boundaries of the total */
        size_t b0 = lines * tid / nth * 64, b1 = tid + 1 == nth ? total : lines * (tid + 1) / nth * 64;
        s += sum_range(spans, n_spans, b0, b1);
    }
    double dt = omp_get_wtime() - t0;
    __asm__ volatile("" : : "r"(s)); /* the sum is used, so the reads stay */
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
    mot_cpu_read_pass(&span, 1); /* warm-up */
    double seconds = 0.0;
    for (int p = 0; p < passes; p++) seconds += mot_cpu_read_pass(&span, 1);
    free(buf);
    return (double)bytes * passes / seconds / 1e9;
}
