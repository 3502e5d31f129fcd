#include "cli/schedule_options.h"

#include <omp.h>

#include "common/error.h"

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
    out->precision_fast = s->precision == 1; /* the CUDA backend's share; the CPU's: mot_schedule_apply_cpu */
    out->n_threads_per_lane = s->n_threads_per_lane;
    for (int i = 0; i < s->n_threads_per_lane; i++) {
        out->threads_per_lane[i] = s->threads_per_lane[i];
    }
}
