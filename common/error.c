#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

mot_status mot_fail(mot_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* Keep it one line: a message never spans lines. */
    for (char *p = last_error; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    return st;
}

mot_status mot_fail_prefix(mot_status st, const char *fmt, ...) {
    char prefix[512], old[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    return mot_fail(st, "%s: %s", prefix, old);
}

mot_status mot_vfail_at(const char *file, int line, int col, const char *fmt, va_list ap) {
    char what[768];
    vsnprintf(what, sizeof what, fmt, ap);
    return mot_fail(MOT_ERR_FORMAT, "%s:%d:%d: error: %s", file, line, col, what);
}

mot_status mot_fail_at(const char *file, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mot_status st = mot_vfail_at(file, line, col, fmt, ap);
    va_end(ap);
    return st;
}

const char *mot_last_error(void) { return last_error[0] ? last_error : "no error"; }

const char *mot_status_name(mot_status st) {
    switch (st) {
    case MOT_OK: return "ok";
    case MOT_ERR_ARG: return "bad argument";
    case MOT_ERR_IO: return "i/o error";
    case MOT_ERR_FORMAT: return "malformed input";
    case MOT_ERR_SHAPE: return "shape mismatch";
    case MOT_ERR_UNSUPPORTED: return "unsupported";
    case MOT_ERR_NOMEM: return "out of memory";
    case MOT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *mot_version(void) { return MOT_VERSION_STRING; }
