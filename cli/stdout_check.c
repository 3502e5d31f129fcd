#include "cli/stdout_check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

mot_status mot_stdout_fail(int err) {
    return mot_fail(MOT_ERR_IO, "writing standard output: %s", strerror(err ? err : EIO));
}

int mot_stdout_finish(int rc) {
    errno = 0;
    int err = 0;
    if (fflush(stdout) != 0) {
        err = errno ? errno : EIO;
    } else if (ferror(stdout)) {
        err = EIO; /* an earlier write failed and its buffer was dropped */
    }
    if (!err || rc != 0) {
        return rc;
    }
    mot_stdout_fail(err);
    fprintf(stderr, "error: %s\n", mot_last_error());
    return 1;
}
