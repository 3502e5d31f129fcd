/* Per-thread scratch that grows on demand and is freed when its thread exits (a pthread key
 * with a destructor). OpenMP reuses the threads of the outermost team, so buffers live across
 * calls; the threads of nested teams (concurrent lanes) come and go, and their buffers go
 * with them instead of leaking as plain _Thread_local pointers would. */
#ifndef MOT_KERNELS_CPU_THREAD_SCRATCH_H
#define MOT_KERNELS_CPU_THREAD_SCRATCH_H

#include <pthread.h>
#include <stddef.h>

typedef struct {
    int ready; /* the key exists */
    pthread_key_t key;
} mot_thread_scratch; /* static storage, zero-initialized */

/* This thread's buffer of at least `floats` floats, 64-byte aligned (NULL when out of memory).
 * Contents are not kept when it grows. */
float *mot_thread_scratch_get(mot_thread_scratch *s, size_t floats);
/* Tests: every request above `floats` fails as if out of memory (0: no limit), so that the
 * kernels' fallbacks can be checked (tests/ops/test_quant.c). */
void mot_thread_scratch_limit(size_t floats);

#endif
