/* Standard output is an output like any file: a failed write (a full disk, `> /dev/full`, a
 * closed pipe when SIGPIPE is ignored) ends the command with "error: writing standard output:
 * REASON" and exit status 1, never a silent exit 0 with lost text.
 *
 * A pipe closed by its reader (`mot run ... | head`) keeps the Unix default: SIGPIPE ends mot
 * quietly, as it ends cat or grep. Only where SIGPIPE is ignored does the write fail with
 * EPIPE, and then it is reported like any other failed write. */
#ifndef MOT_CLI_STDOUT_CHECK_H
#define MOT_CLI_STDOUT_CHECK_H

#include "mot.h"

/* Records "writing standard output: strerror(err)" as the last error; returns MOT_ERR_IO. */
mot_status mot_stdout_fail(int err);

/* The end of every command (cli/main.c): flushes stdout and checks its error flag. On a
 * failure prints the error line and returns 1, unless rc already says the command failed
 * (its own error line is then printed already); otherwise returns rc. */
int mot_stdout_finish(int rc);

#endif
