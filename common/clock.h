/* Seconds on the monotonic clock: the one timer of progress lines, traces and tokens/s. */
#ifndef MOT_COMMON_CLOCK_H
#define MOT_COMMON_CLOCK_H

#include <time.h>

static inline double mot_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
