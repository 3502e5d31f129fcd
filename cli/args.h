/* Command-line parsing shared by the subcommands: flags spelled as llama.cpp spells them. */
#ifndef MOT_CLI_ARGS_H
#define MOT_CLI_ARGS_H

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

/* The backend flags shared by run and bench: --backend auto|cpu|cuda, --lanes
 * serial|concurrent, --no-graphs. Returns 1 when argv[a->i] is one of them (*st says whether
 * its value was good, *given records it), 0 when it is not. */
int mot_arg_backend(mot_args *a, mot_backend_options *o, unsigned *given, mot_status *st);

/* Bits of `given`: which backend flags the command line set (they win over a schedule). */
enum { MOT_GIVEN_LANES = 1, MOT_GIVEN_GRAPHS = 2 };

/* Prints "error: <last error>" to stderr and returns the exit status for st. */
int mot_cli_fail(mot_status st);

#endif
