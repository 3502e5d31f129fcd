#include "cli/args.h"
#include "common/mapped_file.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

mot_status mot_arg_str(mot_args *a, const char **out) {
    const char *flag = a->argv[a->i];
    if (a->i + 1 >= a->argc) {
        return mot_fail(MOT_ERR_ARG, "%s: expected a value after it", flag);
    }
    *out = a->argv[++a->i];
    return MOT_OK;
}

mot_status mot_arg_int(mot_args *a, long lo, long hi, int *out) {
    const char *flag = a->argv[a->i], *s = NULL;
    MOT_TRY(mot_arg_str(a, &s));
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) {
        return mot_fail(MOT_ERR_ARG, "%s: expected an integer, got '%s'", flag, s);
    }
    if (v < lo || v > hi) {
        return mot_fail(MOT_ERR_ARG, "%s: %ld is out of range [%ld, %ld]", flag, v, lo, hi);
    }
    *out = (int)v;
    return MOT_OK;
}

mot_status mot_arg_float(mot_args *a, double lo, double hi, float *out) {
    const char *flag = a->argv[a->i], *s = NULL;
    MOT_TRY(mot_arg_str(a, &s));
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) {
        return mot_fail(MOT_ERR_ARG, "%s: expected a number, got '%s'", flag, s);
    }
    if (v < lo || v > hi) {
        return mot_fail(MOT_ERR_ARG, "%s: %g is out of range [%g, %g]", flag, v, lo, hi);
    }
    *out = (float)v;
    return MOT_OK;
}

mot_status mot_arg_u64(mot_args *a, unsigned long long *out) {
    const char *flag = a->argv[a->i], *s = NULL;
    MOT_TRY(mot_arg_str(a, &s));
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        return mot_fail(MOT_ERR_ARG, "%s: expected a non-negative integer, got '%s'", flag, s);
    }
    *out = v;
    return MOT_OK;
}

int mot_arg_sampler(mot_args *a, mot_sampler_params *p, double penalty_max, unsigned *given, mot_status *st) {
    const char *f = a->argv[a->i];
    unsigned bit;
    if (!strcmp(f, "--temp")) {
        bit = MOT_GIVEN_TEMP, *st = mot_arg_float(a, 0.0, 1e6, &p->temperature);
    } else if (!strcmp(f, "--top-k")) {
        bit = MOT_GIVEN_TOP_K, *st = mot_arg_int(a, 0, 1 << 30, &p->top_k);
    } else if (!strcmp(f, "--top-p")) {
        bit = MOT_GIVEN_TOP_P, *st = mot_arg_float(a, 0.0, 1.0, &p->top_p);
    } else if (!strcmp(f, "--min-p")) {
        bit = MOT_GIVEN_MIN_P, *st = mot_arg_float(a, 0.0, 1.0, &p->min_p);
    } else if (!strcmp(f, "--repeat-penalty")) {
        bit = MOT_GIVEN_REPEAT, *st = mot_arg_float(a, 1e-6, 1e6, &p->repeat_penalty);
    } else if (!strcmp(f, "--repeat-last-n")) {
        bit = MOT_GIVEN_LAST_N, *st = mot_arg_int(a, -1, 1 << 24, &p->repeat_last_n);
    } else if (!strcmp(f, "--presence-penalty")) {
        bit = MOT_GIVEN_PRESENCE, *st = mot_arg_float(a, -penalty_max, penalty_max, &p->presence_penalty);
    } else if (!strcmp(f, "--frequency-penalty")) {
        bit = MOT_GIVEN_FREQUENCY, *st = mot_arg_float(a, -penalty_max, penalty_max, &p->frequency_penalty);
    } else {
        return 0;
    }
    *given |= bit;
    return 1;
}

int mot_cli_fail(mot_status st) {
    const char *msg = mot_last_error();
    /* Messages that carry a position ("p.yaml:7:5: error: ...") already say "error:". */
    fprintf(stderr, strstr(msg, ": error: ") ? "%s\n" : "error: %s\n", msg);
    return st == MOT_ERR_ARG ? 2 : 1;
}

static mot_status arg_choice(mot_args *a, const char *const *choices, int n, int *out) {
    const char *flag = a->argv[a->i], *s = NULL;
    MOT_TRY(mot_arg_str(a, &s));
    for (int i = 0; i < n; i++) {
        if (!strcmp(s, choices[i])) {
            *out = i;
            return MOT_OK;
        }
    }
    char list[128] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, i ? " or " : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    return mot_fail(MOT_ERR_ARG, "%s: expected %s, got '%s'", flag, list, s);
}

mot_status mot_arg_train_backend(mot_args *a, mot_backend_kind *out) {
    static const char *const kinds[] = {"cpu", "cuda"};
    int k = 0;
    MOT_TRY(arg_choice(a, kinds, 2, &k));
    *out = k ? MOT_BACKEND_CUDA : MOT_BACKEND_CPU;
    return MOT_OK;
}

mot_status mot_arg_threads(mot_args *a, int *out) {
    const char *f = a->argv[a->i];
    MOT_TRY(mot_arg_int(a, 1, INT_MAX, out));
    if (*out > mot_threads_max()) {
        return mot_fail(MOT_ERR_ARG, "%s: %d is more than %d threads (%d per core, %d cores available)", f, *out,
                        mot_threads_max(), MOT_THREADS_PER_CORE_MAX, omp_get_num_procs());
    }
    return MOT_OK;
}

void mot_exec_flags_init(mot_exec_flags *x) {
    memset(x, 0, sizeof *x);
    x->sched.flags.graphs = 1;
}

mot_status mot_pipeline_for_exec(const char *path, const mot_exec_flags *x, mot_model **m, mot_schedule *sched,
                                 mot_backend_options *backend) {
    MOT_TRY(mot_model_load(path, 1, m));
    (*m)->allow_nonfinite = x->sched.flags.allow_nonfinite;
    return mot_schedule_resolve(&x->sched, (*m)->pipe->schedule, sched, backend);
}

int mot_arg_exec(mot_args *a, mot_exec_flags *x, mot_status *st) {
    const char *f = a->argv[a->i];
    mot_backend_options *o = &x->sched.flags;
    unsigned *given = &x->sched.given;
    *st = MOT_OK;
    if (!strcmp(f, "-t") || !strcmp(f, "--threads")) {
        *st = mot_arg_threads(a, &x->sched.threads);
    } else if (!strcmp(f, "--schedule")) {
        *st = mot_arg_str(a, &x->sched.path);
    } else if (!strcmp(f, "--profile")) {
        *st = mot_arg_str(a, &x->profile_path);
    } else if (!strcmp(f, "--force")) {
        x->force = 1;
    } else if (!strcmp(f, "--mmap")) {
        mot_set_load_mode(MOT_LOAD_MAP);
    } else if (!strcmp(f, "--no-mmap")) {
        mot_set_load_mode(MOT_LOAD_COPY);
    } else if (!strcmp(f, "--backend")) {
        static const char *const kinds[] = {"auto", "cpu", "cuda"};
        int k = 0;
        *st = arg_choice(a, kinds, 3, &k);
        o->kind = (mot_backend_kind)k; /* same order as the enum */
    } else if (!strcmp(f, "--lanes")) {
        static const char *const modes[] = {"serial", "concurrent"};
        *st = arg_choice(a, modes, 2, &o->concurrent_lanes);
        *given |= MOT_GIVEN_LANES;
    } else if (!strcmp(f, "--precision")) {
        static const char *const modes[] = {"exact", "fast"};
        *st = arg_choice(a, modes, 2, &x->sched.precision);
        *given |= MOT_GIVEN_PRECISION;
    } else if (!strcmp(f, "--allow-nonfinite")) {
        o->allow_nonfinite = 1;
    } else if (!strcmp(f, "--no-graphs")) {
        o->graphs = 0;
        *given |= MOT_GIVEN_GRAPHS;
    } else {
        return 0;
    }
    return 1;
}

/* The schedule a command runs with (args.h). */
mot_status mot_schedule_resolve(const mot_schedule_flags *f, const char *pipeline_schedule, mot_schedule *s,
                                mot_backend_options *out) {
    mot_schedule_defaults(s);
    const char *path = f->path ? f->path : pipeline_schedule;
    if (path) {
        MOT_TRY(mot_schedule_load(path, s));
    }
    if (f->threads > 0) s->threads = f->threads;
    if (f->given & MOT_GIVEN_LANES) s->concurrent_lanes = f->flags.concurrent_lanes;
    if (f->given & MOT_GIVEN_GRAPHS) s->graphs = f->flags.graphs;
    if (f->given & MOT_GIVEN_PRECISION) s->precision = f->precision;
    mot_schedule_apply_cpu(s);
    mot_schedule_backend(s, &f->flags, out);
    return MOT_OK;
}

void mot_schedule_backend(const mot_schedule *s, const mot_backend_options *base, mot_backend_options *out) {
    *out = *base;
    out->concurrent_lanes = s->concurrent_lanes;
    out->graphs = s->graphs;
    out->graph_cache = s->graph_cache;
    out->plan_cache = s->plan_cache;
    out->unfused = !s->fuse;
    out->precision_fast = s->precision == 1; /* the CUDA backend's share; the CPU's: mot_schedule_apply_cpu */
    out->n_threads_per_lane = s->n_threads_per_lane;
    for (int i = 0; i < s->n_threads_per_lane; i++) {
        out->threads_per_lane[i] = s->threads_per_lane[i];
    }
}
