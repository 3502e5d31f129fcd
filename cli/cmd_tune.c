/* mot tune PIPELINE.yaml -o FILE [--budget SECONDS] [--experts a,b] [-p N] [-n N] [-r N] [--force]
 *
 * Searches the schedule space on this machine for the routed set, one dimension at a time from
 * the best schedule so far: threads x lane mode, threads per lane, the GEMV/GEMM crossover, the
 * GEMM blocking. Each candidate runs the same MoT request (-p random prompt tokens per
 * expert, then -n greedy decode steps) -r times; when the spread is above 5% of the mean it
 * runs up to -r more (the noise check). The score is the request's tokens/s (prompt + generated
 * over the wall time). The default schedule runs first; a candidate replaces the best only
 * when it wins by more than their combined spread, and the winner must then beat the default
 * again in interleaved rounds (after the budget). The best one is written with every
 * measurement as a comment, and the gain over the default is printed. The search stops at the
 * budget (the default is always measured). The output path is checked before the search and
 * written through common/safe_write.h (temp + fsync + rename; a symlink or device only with
 * --force), so a full disk is an error, never an empty schedule that loads as the default. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/bench_pipeline.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "kernels/cpu/kernels.h"
#include "common/error.h"
#include "common/safe_write.h"
#include "runtime/generate.h"

typedef struct {
    const char *pipeline, *output, *experts;
    double budget_s;
    int n_prompt, n_gen, reps;
    int force; /* --force: -o may be a symlink or a device (written in place) */
} tune_options;

typedef struct {
    mot_schedule s;
    double mean, sd; /* tokens/s */
    int runs;
} candidate;

static mot_status parse_tune(int argc, char **argv, tune_options *o) {
    *o = (tune_options){.budget_s = 60.0, .n_prompt = 32, .n_gen = 16, .reps = 3};
    mot_args a = {argc, argv, 0};
    for (a.i = 0; a.i < argc; a.i++) {
        const char *f = argv[a.i];
        if (!strcmp(f, "-o") || !strcmp(f, "--output")) {
            MOT_TRY(mot_arg_str(&a, &o->output));
        } else if (!strcmp(f, "--force")) {
            o->force = 1;
        } else if (!strcmp(f, "--budget")) {
            float b;
            MOT_TRY(mot_arg_float(&a, 0.0, 1e6, &b));
            o->budget_s = b;
        } else if (!strcmp(f, "--experts")) {
            MOT_TRY(mot_arg_str(&a, &o->experts));
        } else if (!strcmp(f, "-p") || !strcmp(f, "--n-prompt")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 16, &o->n_prompt));
        } else if (!strcmp(f, "-n") || !strcmp(f, "--n-gen")) {
            MOT_TRY(mot_arg_int(&a, 1, 1 << 16, &o->n_gen));
        } else if (!strcmp(f, "-r") || !strcmp(f, "--repetitions")) {
            MOT_TRY(mot_arg_int(&a, 2, 32, &o->reps));
        } else if (f[0] == '-') {
            return mot_fail(MOT_ERR_ARG, "tune: unknown option '%s' (see mot tune --help)", f);
        } else if (o->pipeline) {
            return mot_fail(MOT_ERR_ARG, "tune: unexpected argument '%s' (one pipeline file)", f);
        } else {
            o->pipeline = f;
        }
    }
    if (!o->pipeline || !o->output) {
        return mot_fail(MOT_ERR_ARG, "tune: usage: mot tune PIPELINE.yaml -o SCHEDULE.yaml [--budget SECONDS] [--force]");
    }
    /* Refused now, not after the search. */
    const mot_status st = mot_out_check(o->output, o->force);
    return st == MOT_OK ? MOT_OK : mot_fail_prefix(st, "-o");
}

#define TUNE_SAMPLE_S 0.05

/* One sample: the request back to back until TUNE_SAMPLE_S have passed (a small model's
 * request takes a few milliseconds, too short to time alone); tokens/s over all of them. */
static mot_status sample(const mot_model *m, const mot_route *r, const tune_options *o, const mot_backend_options *b,
                         double *tok_s) {
    double busy = 0.0;
    long tokens = 0;
    mot_timing t;
    do {
        MOT_TRY(mot_bench_request(m, r, b, o->n_prompt, o->n_gen, &t));
        busy += t.prefill_s + t.decode_s;
        tokens += o->n_prompt + o->n_gen;
    } while (busy < TUNE_SAMPLE_S);
    *tok_s = (double)tokens / busy;
    return MOT_OK;
}

/* Samples the request under c's schedule until the spread is small or 2 x reps are taken. */
static mot_status measure(const mot_model *m, const mot_route *r, const tune_options *o, candidate *c) {
    mot_backend_options b, cpu = {.kind = MOT_BACKEND_CPU};
    mot_schedule_backend(&c->s, &cpu, &b);
    mot_schedule_apply_cpu(&c->s);
    if (c->s.threads == 0) {
        omp_set_num_threads(omp_get_num_procs());
    }
    double x[64];
    int n = 0;
    mot_timing t;
    MOT_TRY(mot_bench_request(m, r, &b, o->n_prompt, o->n_gen, &t)); /* warm-up */
    for (; n < 2 * o->reps && n < 64; n++) {
        MOT_TRY(sample(m, r, o, &b, &x[n]));
        if (n + 1 >= o->reps) {
            double mean = 0, var = 0;
            for (int i = 0; i <= n; i++) mean += x[i];
            mean /= n + 1;
            for (int i = 0; i <= n; i++) var += (x[i] - mean) * (x[i] - mean);
            c->mean = mean;
            c->sd = n > 0 ? sqrt(var / n) : 0.0;
            c->runs = n + 1;
            if (c->sd <= 0.05 * mean) {
                break; /* quiet enough */
            }
        }
    }
    return MOT_OK;
}

/* The search: coordinate descent from the default schedule, one dimension per stage, each
 * stage starting from the best schedule found so far. */
typedef struct {
    const mot_model *m;
    const mot_route *r;
    const tune_options *o;
    candidate list[64];
    int n;       /* measured */
    int best;    /* index in list */
    double t0;
    int any_quant; /* an expert of the pool has block-quantized weights */
} search;

static int same_schedule(const mot_schedule *a, const mot_schedule *b) { return !memcmp(a, b, sizeof *a); }

static int over_budget(const search *z) { return z->n > 0 && mot_now() - z->t0 > z->o->budget_s; }

/* Measures s unless it was measured already or the budget is spent; it becomes the best
 * only when it beats the best by more than their combined spread (noise keeps the best). */
static mot_status try_schedule(search *z, const mot_schedule *s) {
    for (int i = 0; i < z->n; i++) {
        if (same_schedule(&z->list[i].s, s)) return MOT_OK;
    }
    if (z->n == (int)(sizeof z->list / sizeof z->list[0]) || over_budget(z)) {
        return MOT_OK;
    }
    candidate *c = &z->list[z->n];
    *c = (candidate){.s = *s};
    MOT_TRY(measure(z->m, z->r, z->o, c));
    char d[200];
    mot_schedule_describe(&c->s, d, sizeof d);
    fprintf(stderr, "mot tune: %-96s %8.2f ± %.2f tok/s (%d runs)\n", d, c->mean, c->sd, c->runs);
    const candidate *b = &z->list[z->best];
    if (z->n > 0 && c->mean - b->mean > sqrt(c->sd * c->sd + b->sd * b->sd)) {
        z->best = z->n;
    }
    z->n++;
    return MOT_OK;
}

/* Concurrent lanes: thread groups sized by the weight bytes each group streams per token
 * (lane i runs on group i mod groups), so a bigger expert gets more threads. 0 when that is
 * the even split the runtime makes anyway. */
static int weighted_groups(const search *z, int threads, mot_schedule *s) {
    const int k = z->r->k, groups = mot_lane_groups(k, threads);
    double bytes[MOT_MAX_LANES] = {0}, total = 0;
    for (int i = 0; i < k; i++) {
        bytes[i % groups] += (double)z->m->experts[z->r->active[i]]->weight_bytes;
        total += (double)z->m->experts[z->r->active[i]]->weight_bytes;
    }
    /* largest remainder: every group at least one thread, all threads handed out */
    int given = 0, differs = 0;
    double share[MOT_MAX_LANES];
    for (int g = 0; g < groups; g++) {
        share[g] = threads * bytes[g] / total;
        s->threads_per_lane[g] = share[g] < 1.0 ? 1 : (int)share[g];
        given += s->threads_per_lane[g];
    }
    while (given < threads) {
        int g = 0;
        for (int i = 1; i < groups; i++) {
            if (share[i] - s->threads_per_lane[i] > share[g] - s->threads_per_lane[g]) g = i;
        }
        s->threads_per_lane[g]++, given++;
    }
    while (given > threads) { /* the minimum of one pushed it over: take from the largest */
        int g = 0;
        for (int i = 1; i < groups; i++) if (s->threads_per_lane[i] > s->threads_per_lane[g]) g = i;
        if (s->threads_per_lane[g] == 1) break;
        s->threads_per_lane[g]--, given--;
    }
    for (int g = 0; g < groups; g++) {
        differs |= s->threads_per_lane[g] != mot_lane_group_even_threads(threads, groups, g);
    }
    s->n_threads_per_lane = differs ? groups : 0;
    return differs;
}

static mot_status run_search(search *z) {
    mot_schedule base, s;
    mot_schedule_defaults(&base);
    MOT_TRY(try_schedule(z, &base)); /* the default first: the gain is measured against it */
    const int cores = omp_get_num_procs();

    /* 1. threads x lane mode */
    const int thread_choices[3] = {0, cores > 1 ? cores / 2 : 0, cores > 2 ? cores - 1 : 0};
    for (int ti = 0; ti < 3; ti++) {
        for (int lanes = 0; lanes < 2; lanes++) {
            s = base;
            s.threads = thread_choices[ti] == cores ? 0 : thread_choices[ti];
            const int threads = s.threads ? s.threads : cores;
            s.concurrent_lanes = lanes && z->r->k > 1 && threads > 1;
            MOT_TRY(try_schedule(z, &s));
        }
    }
    /* 2. threads per lane, when lanes run side by side */
    s = z->list[z->best].s;
    if (s.concurrent_lanes && weighted_groups(z, s.threads ? s.threads : cores, &s)) {
        MOT_TRY(try_schedule(z, &s));
    }
    /* 3. the GEMV/GEMM crossover */
    const mot_schedule after_threads = z->list[z->best].s;
    const int crossover[4][2] = {{4, 4}, {16, 16}, {16, 32}, {32, 32}}; /* f32, f16/bf16; default 8/8 */
    for (int i = 0; i < 4; i++) {
        s = after_threads;
        s.gemm_from_f32 = crossover[i][0];
        s.gemm_from_lowp = crossover[i][1];
        MOT_TRY(try_schedule(z, &s));
    }
    /* 4. the GEMM blocking: k block, then the token chunk (it only matters for prompts longer
     *    than a chunk, so only those are tried) */
    const mot_schedule after_crossover = z->list[z->best].s;
    const int kcs[2] = {128, 512};
    for (int i = 0; i < 2; i++) {
        s = after_crossover;
        s.gemm_kc = kcs[i];
        MOT_TRY(try_schedule(z, &s));
    }
    const mot_schedule after_kc = z->list[z->best].s;
    for (int mc = 64; mc < z->o->n_prompt && mc < after_kc.gemm_mc; mc *= 2) {
        s = after_kc;
        s.gemm_mc = mc;
        MOT_TRY(try_schedule(z, &s));
    }
    /* 5. how the decode GEMV streams quantized rows: the choices auto did not make (they only
     *    change anything when the pool has quantized weights) */
    if (z->any_quant) {
        const mot_schedule after_blocking = z->list[z->best].s;
        for (int mode = MOT_QUANT_GEMV_INTERLEAVED; mode <= MOT_QUANT_GEMV_LOCKSTEP; mode++) {
            if (mode != mot_cpu_quant_gemv_auto()) {
                s = after_blocking;
                s.quant_gemv = mode;
                MOT_TRY(try_schedule(z, &s));
            }
        }
    }
    return MOT_OK;
}

/* The machine drifts between candidates measured a minute apart more than within one, so the
 * winner must beat the default again, side by side: CONFIRM_ROUNDS rounds of default then
 * winner. It is kept only when it wins every round; the gain is the mean of the rounds'
 * ratios, and the two keep their figures from these rounds. */
#define CONFIRM_ROUNDS 3

static mot_status confirm(search *z, double *gain, char *note, size_t cap) {
    candidate base = z->list[0], best = z->list[z->best];
    double ratio_sum = 0.0, base_sum = 0.0, best_sum = 0.0;
    int wins = 0, at = 0;
    char rounds[128] = "";
    for (int round = 0; round < CONFIRM_ROUNDS; round++) {
        MOT_TRY(measure(z->m, z->r, z->o, &base));
        MOT_TRY(measure(z->m, z->r, z->o, &best));
        wins += best.mean > base.mean;
        ratio_sum += best.mean / base.mean;
        base_sum += base.mean, best_sum += best.mean;
        at += snprintf(rounds + at, sizeof rounds - (size_t)at, "%s%.2fx", round ? ", " : "", best.mean / base.mean);
    }
    if (wins < CONFIRM_ROUNDS) {
        snprintf(note, cap, "the fastest candidate won %d of %d interleaved rounds against the default (%s): "
                 "the default is kept", wins, CONFIRM_ROUNDS, rounds);
        z->best = 0;
        *gain = 1.0;
        return MOT_OK;
    }
    snprintf(note, cap, "confirmed in %d interleaved rounds against the default (%s)", CONFIRM_ROUNDS, rounds);
    z->list[0].mean = base_sum / CONFIRM_ROUNDS;
    z->list[z->best].mean = best_sum / CONFIRM_ROUNDS;
    *gain = ratio_sum / CONFIRM_ROUNDS;
    return MOT_OK;
}

static mot_status tune(const tune_options *o) {
    mot_model *m = NULL;
    mot_route r = {0};
    MOT_TRY(mot_model_load(o->pipeline, 1, &m));
    mot_status st = mot_route_prompt(m, o->experts ? NULL : "Write a function that adds two numbers.", o->experts,
                                     NULL, 0, &r);
    search *z = calloc(1, sizeof *z);
    if (st == MOT_OK && !z) {
        st = mot_fail(MOT_ERR_NOMEM, "tune: out of memory");
    }
    if (st == MOT_OK) {
        *z = (search){.m = m, .r = &r, .o = o, .t0 = mot_now()};
        for (int e = 0; e < m->n_experts; e++) {
            z->any_quant |= mot_expert_has_quantized(m->experts[e]);
        }
        st = run_search(z);
    }
    const int cores = omp_get_num_procs();
    double gain = 1.0;
    char confirm_note[512] = "";
    if (st == MOT_OK && z->best != 0) {
        st = confirm(z, &gain, confirm_note, sizeof confirm_note);
    }
    if (st == MOT_OK) {
        /* the header: machine, request, every measurement */
        char header[16384], line[256];
        int len = snprintf(header, sizeof header,
                           "written by mot tune %s: %d candidates in %.1f s (budget %.0f s)\n"
                           "request: %d prompt tokens per expert + %d decode steps, active %d experts, %d cores\n"
                           "score: tokens/s of the request (mean ± sd over its samples of >= %.0f ms)%s%s",
                           o->pipeline, z->n, mot_now() - z->t0, o->budget_s, o->n_prompt, o->n_gen, r.k, cores,
                           TUNE_SAMPLE_S * 1e3, *confirm_note ? "\n" : "", confirm_note);
        for (int i = 0; i < z->n && len < (int)sizeof header - 300; i++) {
            mot_schedule_describe(&z->list[i].s, line, sizeof line);
            len += snprintf(header + len, sizeof header - (size_t)len, "\n  %s%s: %.2f ± %.2f",
                            i == z->best ? "* " : "  ", line, z->list[i].mean, z->list[i].sd);
        }
        mot_out_file out;
        const candidate *b = &z->list[z->best];
        st = mot_out_open(&out, o->output, o->force);
        if (st == MOT_OK) {
            mot_schedule_write(&b->s, header, out.f); /* a failed write: commit says why */
            st = mot_out_commit(&out);
        }
        if (st == MOT_OK) {
            mot_schedule_describe(&b->s, line, sizeof line);
            printf("best: %s\n%.2f tok/s vs %.2f with the default schedule: %.2fx (%+.1f%%)%s%s\nwrote %s\n", line,
                   b->mean, z->list[0].mean, gain, 100.0 * (gain - 1.0), *confirm_note ? "\n" : "", confirm_note,
                   o->output);
        }
    }
    free(z);
    mot_route_free(&r);
    mot_model_free(m);
    return st;
}

int mot_cmd_tune(int argc, char **argv) {
    tune_options o;
    mot_status st = parse_tune(argc, argv, &o);
    if (st == MOT_OK) {
        st = tune(&o);
    }
    return st == MOT_OK ? 0 : mot_cli_fail(st);
}
