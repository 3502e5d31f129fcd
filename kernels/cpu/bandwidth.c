/* Measured memory read bandwidth: the ceiling for the decode GEMV. */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/kernels.h"

/* Sum of a float buffer with 4 independent AVX2 accumulators (n a multiple of 32). */
static float sum_floats(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

/* The buffer (at least MIN_CHUNKS x 8 MiB = 4 x L3, so a chunk has left the caches when its
 * turn comes round again) is read chunk by chunk and each chunk is timed on its own: on a
 * shared machine a whole-buffer pass is almost always interrupted, a 0.5 ms chunk rarely. */
enum { CHUNK_FLOATS = (8 << 20) / sizeof(float), MIN_CHUNKS = 16, PASSES = 3 };

double mot_cpu_measure_read_bandwidth(size_t bytes) {
    size_t chunks = bytes / sizeof(float) / CHUNK_FLOATS;
    if (chunks < MIN_CHUNKS) {
        chunks = MIN_CHUNKS;
    }
    size_t floats = chunks * CHUNK_FLOATS;
    float *buf = aligned_alloc(64, floats * sizeof(float));
    if (!buf) {
        return 0.0;
    }
    /* touch every page first (from the threads that will read it) */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < floats; i += 1024) {
        memset(buf + i, 0, 1024 * sizeof(float));
    }
    double best = 0.0;
    volatile float sink = 0.0f;
    for (size_t step = 0; step < PASSES * chunks; step++) {
        const float *chunk = buf + (step % chunks) * CHUNK_FLOATS;
        double t0 = omp_get_wtime();
        float total = 0.0f;
#pragma omp parallel reduction(+ : total)
        {
            int nth = omp_get_num_threads(), tid = omp_get_thread_num();
            size_t blocks = CHUNK_FLOATS / 1024;
            size_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
            total += sum_floats(chunk + b0 * 1024, (b1 - b0) * 1024);
        }
        double dt = omp_get_wtime() - t0;
        sink += total;
        double gbs = (double)CHUNK_FLOATS * sizeof(float) / dt / 1e9;
        best = gbs > best ? gbs : best;
    }
    (void)sink;
    free(buf);
    return best;
}
