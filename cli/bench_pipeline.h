/* mot bench PIPELINE.yaml (see bench_pipeline.c). */
#ifndef MOT_CLI_BENCH_PIPELINE_H
#define MOT_CLI_BENCH_PIPELINE_H

#include "executor/backend.h"
#include "mot.h"

typedef struct {
    const char *pipeline;
    const char *experts; /* --experts a,b,c or NULL: route a fixed prompt */
    int n_prompt, n_gen, reps, json;
    mot_backend_options backend;
    const char *profile_path; /* --profile FILE: every MoT request of the benchmark is traced */
} mot_bench_pipeline_opts;

mot_status mot_bench_pipeline(const mot_bench_pipeline_opts *o);

#endif
