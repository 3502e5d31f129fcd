#include "common/parallel_copy.h"

#include <omp.h>
#include <string.h>

#define MAX_THREADS 8
#define MIN_PER_THREAD ((size_t)4 << 20)

void mot_parallel_memcpy(void *dst, const void *src, size_t bytes) {
    int threads = (int)(bytes / MIN_PER_THREAD);
    const int procs = omp_get_num_procs();
    threads = threads > MAX_THREADS ? MAX_THREADS : threads;
    threads = threads > procs ? procs : threads;
    if (threads <= 1) {
        memcpy(dst, src, bytes);
        return;
    }
    const size_t per = ((bytes + (size_t)threads - 1) / (size_t)threads + 63) & ~(size_t)63;
#pragma omp parallel num_threads(threads)
    {
        const size_t off = (size_t)omp_get_thread_num() * per;
        if (off < bytes) {
            memcpy((char *)dst + off, (const char *)src + off, bytes - off < per ? bytes - off : per);
        }
    }
}
