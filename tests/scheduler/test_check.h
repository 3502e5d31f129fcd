/* CHECK (count a failure, say where, go on) and MUST (a step the rest needs: stop) for the
 * tests that run the executors on the recording fake (tests/scheduler/test_scheduler.c,
 * tests/train/test_train_plan.c). The including file defines `static int failures;`. */
#ifndef MOT_TESTS_SCHEDULER_TEST_CHECK_H
#define MOT_TESTS_SCHEDULER_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

#define MUST(call)                                                                             \
    do {                                                                                       \
        if ((call) != MOT_OK) {                                                                \
            printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #call, mot_last_error());       \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

#endif
