/* Command-line parsing shared by the subcommands: flags spelled as llama.cpp spells them. */
#ifndef MOT_CLI_ARGS_H
#define MOT_CLI_ARGS_H

#include "cli/schedule_options.h"
#include "executor/backend.h"
#include "mot.h"

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

/* Prints "error: <last error>" to stderr and returns the exit status for st. */
int mot_cli_fail(mot_status st);

#endif
