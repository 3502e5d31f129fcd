/* Command-line parsing shared by the subcommands: flags spelled as llama.cpp spells them. */
#ifndef MOT_CLI_ARGS_H
#define MOT_CLI_ARGS_H

#include "executor/backend.h"
#include "mot.h"
#include "runtime/mot_model.h"
#include "scheduler/schedule.h"

/* A cursor over argv. Values are checked and errors read "-t: expected an integer, got 'x'". */
typedef struct {
    int argc;
    char **argv;
    int i;
} mot_args;

/* The flag's value (the next argument); error when it is missing. */
mot_status mot_arg_str(mot_args *a, const char **out);
mot_status mot_arg_int(mot_args *a, long lo, long hi, int *out);
mot_status mot_arg_float(mot_args *a, double lo, double hi, float *out);
mot_status mot_arg_u64(mot_args *a, unsigned long long *out);
/* -t / --threads: 1 .. mot_threads_max() (4 per available core). */
mot_status mot_arg_threads(mot_args *a, int *out);
/* `--backend cpu|cuda` of train and eval (no auto: training picks its device explicitly). */
mot_status mot_arg_train_backend(mot_args *a, mot_backend_kind *out);

/* The schedule a command runs with: --schedule FILE, else the pipeline's `schedule:`, else the
 * defaults (schedules/default.yaml says what they are); flags given on the command line win.
 * Bits of `given`: which backend flags the command line set. */
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

/* How run and bench execute: the flags both take. */
typedef struct {
    mot_schedule_flags sched;  /* --schedule FILE, -t, --backend, --lanes, --no-graphs */
    const char *profile_path;  /* --profile FILE */
    int force;                 /* --force: write outputs onto a symlink or device in place */
} mot_exec_flags;

void mot_exec_flags_init(mot_exec_flags *x);

/* The flags run and bench share: --backend auto|cpu|cuda, --lanes serial|concurrent,
 * --no-graphs, -t/--threads (at most mot_threads_max()), --schedule, --profile, --force,
 * --mmap/--no-mmap, --allow-nonfinite. Returns 1 when
 * argv[a->i] is one of them (*st says whether its value was good), 0 when it is not. */
int mot_arg_exec(mot_args *a, mot_exec_flags *x, mot_status *st);

/* A pipeline as run, bench and serve execute it: loaded with its MoT weights, its router's
 * non-finite scores allowed as --allow-nonfinite says, and the schedule it names resolved,
 * --schedule and the flags over it, with its backend options. On an error *m may be set
 * (free it). */
mot_status mot_pipeline_for_exec(const char *path, const mot_exec_flags *x, mot_model **m, mot_schedule *sched,
                                 mot_backend_options *backend);

/* The sampling flags of run and serve: --temp, --top-k, --top-p, --min-p, --repeat-penalty,
 * --repeat-last-n, --presence-penalty and --frequency-penalty (the last two within
 * ±penalty_max). Returns 1 when argv[a->i] is one of them (*st says whether its value was
 * good, and its bit is set in *given: a pipeline's sampler section keeps what was not given),
 * 0 when it is not. */
enum {
    MOT_GIVEN_TEMP = 1, MOT_GIVEN_TOP_K = 2, MOT_GIVEN_TOP_P = 4, MOT_GIVEN_MIN_P = 8, MOT_GIVEN_REPEAT = 16,
    MOT_GIVEN_LAST_N = 32, MOT_GIVEN_PRESENCE = 64, MOT_GIVEN_FREQUENCY = 128
};
int mot_arg_sampler(mot_args *a, mot_sampler_params *p, double penalty_max, unsigned *given, mot_status *st);

/* Prints "error: <last error>" to stderr and returns the exit status for st. */
int mot_cli_fail(mot_status st);

#endif
