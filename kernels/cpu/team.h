/* How the CPU kernels thread: each kernel's body is written with orphaned work-sharing loops
 * (`omp for`), so it runs either
 *   - on its own: the kernel opens a parallel region around its body, or
 *   - as part of a team already running (the plan executor's one parallel region per pass):
 *     every thread of the team calls the kernel with the same arguments, the loops split the
 *     work over the team, and the loop's closing barrier orders it before the next op.
 * A static loop's split depends only on the team size, a dynamic one's (the GEMV's chunks,
 * the fast GEMM's panels) on timing too; either way every output element is computed by one
 * thread with the same code, so every split, and both ways, give bitwise the same result. */
#ifndef MOT_KERNELS_CPU_TEAM_H
#define MOT_KERNELS_CPU_TEAM_H

#include <omp.h>

#define MOT_PRAGMA(x) _Pragma(#x)

/* Runs `call` (a kernel body) on the current team, or in a new parallel region (only when
 * `cond`, else on this thread) when called from outside any. */
#define MOT_TEAM_RUN(cond, call)                                                               \
    do {                                                                                       \
        if (omp_in_parallel()) {                                                               \
            call;                                                                              \
        } else {                                                                               \
            MOT_PRAGMA(omp parallel if (cond))                                                 \
            call;                                                                              \
        }                                                                                      \
    } while (0)

/* Threads that will run a kernel body: the current team's, or a new region's. */
static inline int mot_team_size(void) {
    return omp_in_parallel() ? omp_get_num_threads() : omp_get_max_threads();
}

#endif
