/* Error reporting: every failing call records one line (file, where, what) and returns a
 * status. Callers propagate the status; the command-line tool prints "error: <line>". */
#ifndef MOT_COMMON_ERROR_H
#define MOT_COMMON_ERROR_H

#include <stdarg.h>

#include "mot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Records the message (printf-style) for this thread and returns st, so that
 * `return mot_fail(MOT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));` reads well. */
mot_status mot_fail(mot_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the recorded message with "prefix: " (adds context while propagating). */
mot_status mot_fail_prefix(mot_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* MOT_ERR_FORMAT with the message "FILE:LINE:COL: error: WHAT" (positions 1-based): the one
 * form of every error that points into a text file (pipeline, schedule, graph). */
mot_status mot_fail_at(const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
mot_status mot_vfail_at(const char *file, int line, int col, const char *fmt, va_list ap);

/* Propagate a failing status. */
#define MOT_TRY(expr)                         \
    do {                                      \
        mot_status mot_try_st_ = (expr);      \
        if (mot_try_st_ != MOT_OK) {          \
            return mot_try_st_;               \
        }                                     \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
