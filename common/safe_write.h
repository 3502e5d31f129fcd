/* Output files (a schedule, a dump, MoT weights, a trace): every file mot writes goes through
 * here, so that a failed write is an error and never a short file, and an output path never
 * replaces something that is not an ordinary file.
 *
 * The target must be absent or a regular file. Then the data goes to a temporary file in the
 * target's folder (PATH.tmp.XXXXXX, the target's mode or 0666 & ~umask), and commit flushes,
 * checks the stream's error flag, fsyncs, closes (checked) and renames it over PATH: a reader
 * sees the old file or the whole new one, never a part. A symlink, a directory, a device, a
 * FIFO or a socket is refused with one line ("PATH: is a symlink (refusing to replace it; use
 * --force)"). With force, such a target is opened and written in place (O_WRONLY | O_TRUNC,
 * no rename): a symlink writes through to its target, a device gets the bytes, and every
 * write and close is still checked (so `--force -o /dev/full` fails with ENOSPC). */
#ifndef MOT_COMMON_SAFE_WRITE_H
#define MOT_COMMON_SAFE_WRITE_H

#include <stdio.h>

#include "mot.h"

typedef struct mot_out_sink mot_out_sink; /* the descriptor under f and its first errno */

typedef struct {
    FILE *f;    /* write the contents here */
    char *path; /* the target (copied) */
    char *tmp;  /* the temporary file renamed over path at commit; NULL when writing in place */
    mot_out_sink *sink;
} mot_out_file;

/* Whether path may be written (before long work, so that a refusal comes first): the target's
 * type as above, and its folder exists. */
mot_status mot_out_check(const char *path, int force);

/* Opens the output (the temporary file, or the target itself when forced onto a non-regular
 * one). On failure nothing is left behind and o->f is NULL. */
mot_status mot_out_open(mot_out_file *o, const char *path, int force);

/* Finishes the output: fflush, ferror, fsync, fclose, rename; "PATH: cannot write: REASON"
 * on any failure, and then the temporary file is removed (the old target stays). Always
 * releases o. */
mot_status mot_out_commit(mot_out_file *o);

/* Gives up: closes and removes the temporary file (the target is untouched). Safe on a
 * zeroed or already released o. */
void mot_out_abort(mot_out_file *o);

#endif
