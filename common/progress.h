/* Progress of long loads on stderr (weights read from disk, weights uploaded to the GPU).
 *
 * On a terminal: one updating line ("\r"), shown once the work has taken 1 s, ended with a
 * newline. Elsewhere (a log file): nothing while it runs, then one summary line if it took
 * 1 s or more ("mot: loaded /m/a: 14.50 GB in 3.1 s, 4.68 GB/s"), so that a log still says
 * how fast the load went. Off in machine-readable modes (mot bench -o json) and with
 * MOT_PROGRESS=0 in the environment; MOT_PROGRESS=1 forces the terminal form; MOT_PROGRESS=2
 * prints the summary line of every load, however quick (benchmark logs).
 * One thread reports (mot_progress_update is not thread-safe: others count into an atomic
 * and the reporting thread passes the sum). */
#ifndef MOT_COMMON_PROGRESS_H
#define MOT_COMMON_PROGRESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char what[160];   /* "loaded /m/a", "uploaded weights to the GPU" */
    uint64_t total, done;
    double start, last;
    int shown;        /* the terminal line has been drawn */
    int active;
} mot_progress;

/* 0: never (machine-readable output); 1: as described above (the default). */
void mot_progress_enable(int on);

/* verb: what the summary says ("loaded", "uploaded"); what: the object ("/m/a"). */
void mot_progress_begin(mot_progress *p, const char *verb, const char *what, uint64_t total);
void mot_progress_update(mot_progress *p, uint64_t done);
void mot_progress_end(mot_progress *p);

#ifdef __cplusplus
}
#endif

#endif
