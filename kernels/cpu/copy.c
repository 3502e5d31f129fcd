/* COPY (the training tape's snapshots of a residual stream): dst = src, in 64 KiB chunks split
 * over the team; and ADD, y += x elementwise. */
#include <string.h>

#include "kernels/cpu/backward.h"
#include "kernels/cpu/team.h"

enum { COPY_CHUNK = 64 << 10 };

static void copy_chunks(char *dst, const char *src, size_t bytes) {
    const int64_t chunks = (int64_t)((bytes + COPY_CHUNK - 1) / COPY_CHUNK);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        const size_t off = (size_t)c * COPY_CHUNK, n = bytes - off < COPY_CHUNK ? bytes - off : COPY_CHUNK;
        memcpy(dst + off, src + off, n);
    }
}

void mot_cpu_copy(void *dst, const void *src, size_t bytes) {
    MOT_TEAM_RUN(bytes > 4 * COPY_CHUNK, copy_chunks(dst, src, bytes));
}

static void add_elems(float *y, const float *x, int64_t count) {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; i++) {
        y[i] += x[i];
    }
}

void mot_cpu_add(float *y, const float *x, int64_t count) { MOT_TEAM_RUN(count > 16384, add_elems(y, x, count)); }
