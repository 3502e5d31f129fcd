/* mot bench PIPELINE.yaml (see bench_pipeline.c). */
#ifndef MOT_CLI_BENCH_PIPELINE_H
#define MOT_CLI_BENCH_PIPELINE_H

#include "cli/args.h"
#include "runtime/router.h"
#include "executor/backend.h"
#include "mot.h"

typedef struct {
    const char *pipeline;
    const char *experts; /* --experts a,b,c or NULL: route a fixed prompt */
    int n_prompt, n_gen, reps, json;
    mot_exec_flags exec; /* --schedule (else the pipeline's) and the backend flags; --profile
                            traces every MoT request of the benchmark */
} mot_bench_pipeline_opts;

typedef struct {
    double prefill_s, decode_s, interaction_s;
    int steps;
} mot_timing;

/* One MoT request of the routed set: n_prompt random tokens per lane, then n_gen greedy decode
 * steps, nobody dying at EOS; its times in *t (mot bench, mot tune). */
mot_status mot_bench_request(const mot_model *m, const mot_route *r, const mot_backend_options *b, int n_prompt,
                             int n_gen, mot_timing *t);

mot_status mot_bench_pipeline(const mot_bench_pipeline_opts *o);

#endif
