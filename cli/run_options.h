/* The options of `mot run`, shared by the single-expert and the pipeline paths. */
#ifndef MOT_CLI_RUN_OPTIONS_H
#define MOT_CLI_RUN_OPTIONS_H

#include "cli/args.h"
#include "cli/chat_flags.h"
#include "kernels/cpu/sampler.h"

#define MOT_MAX_DROP 64

typedef struct {
    const char *pipeline;   /* PIPELINE.yaml, or NULL with -m */
    const char *model_dir, *prompt, *prompt_file, *dump_path;
    int n_predict, n_ctx, n_batch;
    mot_sampler_params sampler;
    int conversation;       /* -cnv / --conversation: turns from stdin, the cache kept */
    int ignore_eos;         /* --ignore-eos: go on past EOS to -n tokens (or the context's end) */
    int seed_given, n_predict_given, n_batch_given;
    unsigned sampler_given; /* MOT_GIVEN_TEMP, ... (cli/args.h): the sampling flags given */
    const char *experts;    /* --experts a,b,c */
    const char *drop[MOT_MAX_DROP];
    int n_drop;
    mot_exec_flags exec;    /* backend, threads, schedule, profile, mmap */
    mot_chat_flags chat;    /* --chat, --chat-template, --chat-template-file, --system */
} run_options;

/* mot run PIPELINE.yaml: route, generate with the interaction layers, stream the primary.
 * prompt: -p's text or -f's (o->prompt_file, read by cli/cmd_run.c). */
mot_status mot_run_pipeline(const run_options *o, const char *prompt);

#endif
