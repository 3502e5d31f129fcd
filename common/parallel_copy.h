/* memcpy of large buffers on several threads: one core copies ~5-10 GB/s, short of what
 * the page cache, pinned staging buffers and PCIe can move (the CUDA backend stages weight
 * uploads through it, kernels/cuda/gpu_api_cuda.cu). */
#ifndef MOT_COMMON_PARALLEL_COPY_H
#define MOT_COMMON_PARALLEL_COPY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Up to 8 threads (fewer for small copies: at least 4 MiB each). Not from inside a parallel
 * region. */
void mot_parallel_memcpy(void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
