/* mot bench -m MODEL_DIR: prompt processing (ppN: one batch of N tokens from an empty cache)
 * and text generation (tgN: N single-token steps from an empty cache), as llama-bench
 * measures them: random token ids, logits of the last token only, no sampling; one warm-up
 * run, then -r timed repetitions. With -d D (llama-bench's depth) each run first fills the
 * cache with D tokens, untimed: "pp128 @ d2048" is one batch of 128 after 2048, "tg64 @
 * d2048" 64 decode steps after them. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/bench_pipeline.h"
#include "cli/commands.h"
#include "cli/profile_session.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/mapped_file.h"
#include "common/progress.h"
#include "executor/cuda_backend.h"
#include "kernels/cpu/kernels.h"
#include "profiling/bench_record.h"
#include "runtime/expert.h"
#include "runtime/engine.h"
#include "runtime/generate.h"
#include "common/rng.h"

#include "git_commit.h" /* generated at build time: MOT_GIT_COMMIT */

typedef struct {
    const char *model_dir, *output, *pipeline, *experts;
    int n_prompt, n_gen, n_depth, reps;
    mot_exec_flags exec; /* backend, threads, schedule, profile, mmap */
} bench_options;

static mot_status parse_bench(int argc, char **argv, bench_options *o) {
    *o = (bench_options){.n_prompt = 128, .n_gen = 64, .reps = 3, .output = "md"};
    mot_exec_flags_init(&o->exec);
    mot_args a = {argc, argv, 0};
    for (a.i = 0; a.i < argc; a.i++) {
        const char *f = argv[a.i];
        mot_status xst;
        if (mot_arg_exec(&a, &o->exec, &xst)) {
            MOT_TRY(xst);
        } else if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            MOT_TRY(mot_arg_str(&a, &o->model_dir));
        } else if (!strcmp(f, "-p") || !strcmp(f, "--n-prompt")) {
            MOT_TRY(mot_arg_int(&a, 0, 1 << 20, &o->n_prompt));
        } else if (!strcmp(f, "-n") || !strcmp(f, "--n-gen")) {
            MOT_TRY(mot_arg_int(&a, 0, 1 << 20, &o->n_gen));
        } else if (!strcmp(f, "-d") || !strcmp(f, "--n-depth")) {
            MOT_TRY(mot_arg_int(&a, 0, 1 << 20, &o->n_depth));
        } else if (!strcmp(f, "-r") || !strcmp(f, "--repetitions")) {
            MOT_TRY(mot_arg_int(&a, 1, MOT_BENCH_MAX_REPS, &o->reps));
        } else if (!strcmp(f, "-o") || !strcmp(f, "--output")) {
            MOT_TRY(mot_arg_str(&a, &o->output));
            if (strcmp(o->output, "md") && strcmp(o->output, "json")) {
                return mot_fail(MOT_ERR_ARG, "-o: expected md or json, got '%s'", o->output);
            }
        } else if (!strcmp(f, "--experts")) {
            MOT_TRY(mot_arg_str(&a, &o->experts));
        } else if (f[0] == '-') {
            return mot_fail(MOT_ERR_ARG, "bench: unknown option '%s' (see mot bench --help)", f);
        } else if (o->pipeline) {
            return mot_fail(MOT_ERR_ARG, "bench: unexpected argument '%s' (one pipeline file at most)", f);
        } else {
            o->pipeline = f;
        }
    }
    if (!o->model_dir == !o->pipeline) {
        return mot_fail(MOT_ERR_ARG, "bench: give a pipeline file or -m MODEL_DIR (exactly one)");
    }
    if (o->pipeline && o->n_depth > 0) {
        return mot_fail(MOT_ERR_ARG, "bench: -d (depth) is for -m MODEL_DIR; a pipeline is measured from an empty cache");
    }
    if (o->n_prompt == 0 && o->n_gen == 0) {
        return mot_fail(MOT_ERR_ARG, "bench: nothing to measure (-p 0 and -n 0)");
    }
    if (!strcmp(o->output, "json")) {
        mot_progress_enable(0); /* machine-readable: no load lines on stderr either */
    }
    return MOT_OK;
}

/* Seconds for one run of the test. Depth 0: the cache starts empty; ppN: one prefill pass of
 * N tokens; tgN: N one-token passes (a one-token prefill, then N - 1 decode steps). Depth D:
 * a prefill of D tokens first, untimed; then ppN: N more tokens in one pass; tgN: N decode
 * steps. */
static mot_status time_test(mot_engine *e, int *tokens, int n_depth, int n_prompt, int n_gen, double *seconds) {
    if (n_depth > 0) {
        MOT_TRY(mot_engine_prefill(e, &tokens, &n_depth));
    }
    double t0 = mot_now();
    if (n_depth > 0 && n_prompt > 0) {
        MOT_TRY(mot_engine_extend(e, tokens + n_depth, n_prompt));
    } else if (n_depth == 0) {
        int n = n_prompt > 0 ? n_prompt : 1;
        MOT_TRY(mot_engine_prefill(e, &tokens, &n));
    }
    for (int i = n_depth > 0 ? 0 : 1; i < n_gen; i++) {
        MOT_TRY(mot_engine_decode(e));
    }
    *seconds = mot_now() - t0;
    return MOT_OK;
}

/* The bandwidth probe beside the tg runs: plain read passes over the decode step's weights
 * (CPU only; spans NULL otherwise), one per generated token after each timed repetition, so
 * that both see the same memory, the same threads and the same moment of a shared machine. */
typedef struct {
    mot_read_span *spans;
    int n_spans;
    size_t bytes;    /* read per decode step */
    double seconds;  /* of all passes so far */
    long passes;
} read_probe;

static void probe_read(read_probe *pr, int passes) {
    for (int i = 0; pr->spans && i < passes; i++) {
        pr->seconds += mot_cpu_read_pass(pr->spans, pr->n_spans, NULL);
        pr->passes++;
    }
}

static mot_status run_test(mot_engine *e, int *tokens, const bench_options *o, int n_prompt, int n_gen,
                           read_probe *pr, mot_bench_result *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->test, sizeof r->test, n_prompt ? "pp%d" : "tg%d", n_prompt ? n_prompt : n_gen);
    if (o->n_depth > 0) {
        const size_t len = strlen(r->test);
        snprintf(r->test + len, sizeof r->test - len, " @ d%d", o->n_depth);
    }
    r->n_prompt = n_prompt;
    r->n_gen = n_gen;
    r->n_depth = o->n_depth;
    r->n_threads = omp_get_max_threads();
    double s;
    MOT_TRY(time_test(e, tokens, o->n_depth, n_prompt, n_gen, &s)); /* warm-up */
    for (int i = 0; i < o->reps; i++) {
        MOT_TRY(time_test(e, tokens, o->n_depth, n_prompt, n_gen, &s));
        r->samples_ts[r->n_reps++] = (n_prompt + n_gen) / s;
        probe_read(pr, n_gen);
    }
    mot_bench_finish(r);
    return MOT_OK;
}

static mot_status bench(const bench_options *o) {
    mot_expert *ex = NULL;
    mot_engine e = {0};
    int *tokens = NULL;
    mot_bench_result results[2];
    int n_results = 0;
    MOT_TRY(mot_expert_load(o->model_dir, &ex));
    const mot_config *c = &ex->cfg;
    int n_ctx = o->n_depth + (o->n_prompt > o->n_gen ? o->n_prompt : o->n_gen) + 1;
    if (o->n_depth > 0 && n_ctx - 1 > c->max_pos) {
        /* the message first: c points into ex */
        mot_status st = mot_fail(MOT_ERR_ARG, "bench: a depth of %d and %d more tokens exceed %s's context of %d",
                                 o->n_depth, n_ctx - 1 - o->n_depth, o->model_dir, c->max_pos);
        mot_expert_free(ex);
        return st;
    }
    int max_tokens = n_ctx;
    /* Passes of up to the pp size; the depth fill goes in batches of up to 512 (llama-bench's
     * default micro-batch). */
    int max_batch = o->n_prompt > 0 ? o->n_prompt : 1;
    const int depth_batch = o->n_depth < 512 ? o->n_depth : 512;
    max_batch = depth_batch > max_batch ? depth_batch : max_batch;
    mot_plan_source src;
    mot_plan_source_single(ex, n_ctx, max_batch, &src);
    mot_engine_options eo = {0}; /* greedy */
    mot_profile_session prof = {0};
    mot_schedule sched;
    mot_status status = mot_schedule_resolve(&o->exec.sched, NULL, &sched, &eo.backend);
    if (status == MOT_OK) status = mot_profile_begin(&prof, o->exec.profile_path, o->exec.force);
    eo.backend.trace = mot_profile_trace(&prof);
    mot_profile_lane(&prof, 0, 0, ex->name);
    if (status == MOT_OK) status = mot_engine_open(&e, &src, &eo);
    if (status == MOT_OK) {
        tokens = malloc((size_t)max_tokens * sizeof *tokens);
        if (!tokens) status = mot_fail(MOT_ERR_NOMEM, "bench: out of memory");
    }
    if (status == MOT_OK) {
        uint64_t x = 0x2545f4914f6cdd1dull; /* fixed random token ids, like llama-bench */
        mot_random_tokens(tokens, max_tokens, c->vocab, &x);
    }
    const int on_cpu = status == MOT_OK && !strcmp(e.backend->name, "cpu");
    const int on_cuda = status == MOT_OK && !strcmp(e.backend->name, "cuda");
    read_probe probe = {0};
    if (on_cpu || on_cuda) { /* CUDA: the bytes only (no read passes), for the fraction */
        probe.n_spans = MOT_EXPERT_DECODE_SPANS(ex);
        probe.spans = malloc((size_t)probe.n_spans * sizeof *probe.spans);
        if (!probe.spans) status = mot_fail(MOT_ERR_NOMEM, "bench: out of memory");
        else probe.bytes = mot_expert_decode_spans(ex, probe.spans);
    }
    if (status == MOT_OK && o->n_prompt > 0) {
        status = run_test(&e, tokens, o, o->n_prompt, 0, &probe, &results[n_results++]);
    }
    if (status == MOT_OK && o->n_gen > 0) {
        status = run_test(&e, tokens, o, 0, o->n_gen, &probe, &results[n_results]);
        n_results++;
    }
    mot_bench_context ctx;
    char type[96];
    if (status == MOT_OK) {
        ctx = (mot_bench_context){.model = o->model_dir, .model_size = ex->weight_bytes,
                                  .model_n_params = (uint64_t)ex->n_params,
                                  .backend = !strcmp(e.backend->name, "cuda") ? "CUDA" : "CPU",
                                  .build_commit = MOT_GIT_COMMIT, .peak_rss = mot_bench_peak_rss(),
                                  .kv_bytes = mot_expert_kv_bytes(ex, n_ctx)};
        snprintf(type, sizeof type, "%s %dx%d %s", c->arch, c->hidden, c->n_layers,
                 mot_dtype_name(ex->layers[0].wq.dtype));
        ctx.model_type = type;
        ctx.schedule = o->exec.sched.path;
        mot_schedule_describe(&sched, ctx.schedule_desc, sizeof ctx.schedule_desc);
        mot_bench_cpu_info(ctx.cpu_info, sizeof ctx.cpu_info);
        if (on_cpu && probe.passes == 0) {
            probe_read(&probe, 8); /* pp only: the figure is printed, no fraction */
        }
        if (on_cpu && probe.seconds > 0) {
            ctx.read_bw_gbs = (double)probe.bytes * (double)probe.passes / probe.seconds / 1e9;
            ctx.read_bytes = probe.bytes;
        }
        if (on_cuda) {
            /* after the runs: the device memory they left allocated, then the copy probe */
            mot_cuda_device_figures fig;
            status = mot_cuda_backend_device_figures(e.backend, &fig);
            if (status == MOT_OK) {
                ctx.device = 1;
                ctx.read_bw_gbs = fig.copy_gbs;
                ctx.read_bytes = probe.bytes;
                ctx.device_mem_used = fig.mem_used, ctx.device_mem_total = fig.mem_total;
                ctx.device_weights = fig.weight_bytes, ctx.device_arena = fig.arena_bytes;
            }
        }
    }
    if (status == MOT_OK) {
        for (int i = 0; i < n_results; i++) {
            if (results[i].n_gen > 0 && ctx.read_bw_gbs > 0) {
                /* Every decode step reads the probe's bytes once (the lm head included) and,
                 * after a depth, the keys and values cached so far: those of the mean step. */
                const int mean_keys = o->n_depth > 0 ? o->n_depth + (o->n_gen + 1) / 2 : 0;
                const double bytes = (double)probe.bytes + (double)mot_expert_kv_bytes(ex, mean_keys);
                results[i].bw_fraction = results[i].avg_ts * bytes / (ctx.read_bw_gbs * 1e9);
            }
        }
        if (!strcmp(o->output, "json")) {
            mot_bench_print_json(stdout, &ctx, results, n_results);
        } else {
            mot_bench_print_md(stdout, &ctx, results, n_results);
        }
    }
    free(probe.spans);
    free(tokens);
    mot_engine_close(&e);
    status = mot_profile_end(&prof, status);
    mot_expert_free(ex);
    return status;
}

int mot_cmd_bench(int argc, char **argv) {
    bench_options o;
    mot_status st = parse_bench(argc, argv, &o);
    if (st != MOT_OK) {
        return mot_cli_fail(st);
    }
    if (o.pipeline) {
        mot_bench_pipeline_opts po = {o.pipeline, o.experts, o.n_prompt, o.n_gen, o.reps, !strcmp(o.output, "json"),
                                      o.exec};
        st = mot_bench_pipeline(&po);
    } else {
        st = bench(&o);
    }
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
