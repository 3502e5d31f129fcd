/* The schedule a command runs with: --schedule FILE, else the pipeline's `schedule:`, else the
 * defaults (schedules/default.yaml says what they are); flags given on the command line win. */
#ifndef MOT_CLI_SCHEDULE_OPTIONS_H
#define MOT_CLI_SCHEDULE_OPTIONS_H

#include "executor/backend.h"
#include "scheduler/schedule.h"

/* Bits of `given`: which backend flags the command line set (they win over a schedule). */
enum { MOT_GIVEN_LANES = 1, MOT_GIVEN_GRAPHS = 2, MOT_GIVEN_PRECISION = 4 };

typedef struct {
    const char *path;          /* --schedule FILE, or NULL */
    int threads;               /* -t, 0 when not given */
    unsigned given;            /* MOT_GIVEN_* of the backend flags */
    mot_backend_options flags; /* the backend flags as parsed */
    int precision;             /* --precision: 0 exact, 1 fast (when MOT_GIVEN_PRECISION) */
} mot_schedule_flags;

/* Resolves the schedule (s), applies its CPU-global parts (threads, GEMM thresholds) and fills
 * the backend options (out). pipeline_schedule: the pipeline's `schedule:` path or NULL. */
mot_status mot_schedule_resolve(const mot_schedule_flags *f, const char *pipeline_schedule, mot_schedule *s,
                                mot_backend_options *out);

/* The backend options a schedule sets (lanes, threads per lane, graphs, caches), over `base`. */
void mot_schedule_backend(const mot_schedule *s, const mot_backend_options *base, mot_backend_options *out);

#endif
