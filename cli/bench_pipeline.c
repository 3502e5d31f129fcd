/* mot bench PIPELINE.yaml: MoT prefill (ppN) and decode (tgN) over a routed set, beside the
 * same experts run alone one after another (tgN-alone), and the share of a decode step spent
 * in the interaction layers and the router. Random token ids, greedy, nobody dies at EOS. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench_pipeline.h"
#include "cli/profile_session.h"
#include "common/clock.h"
#include "common/error.h"
#include "git_commit.h"
#include "profiling/bench_record.h"
#include "runtime/engine.h"
#include "runtime/generate.h"
#include "runtime/mot_generate.h"
#include "common/rng.h"

/* One MoT request: n_prompt random tokens per lane, then n_gen decode steps. */
mot_status mot_bench_request(const mot_model *m, const mot_route *r, const mot_backend_options *b, int n_prompt,
                           int n_gen, mot_timing *t) {
    int *ids[r->k], n_ids[r->k];
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (int i = 0; i < r->k; i++) {
        n_ids[i] = n_prompt;
        ids[i] = malloc((size_t)n_prompt * sizeof(int));
        if (!ids[i]) {
            while (i-- > 0) free(ids[i]);
            return mot_fail(MOT_ERR_NOMEM, "bench: out of memory");
        }
        mot_random_tokens(ids[i], n_prompt, m->experts[r->active[i]]->cfg.vocab, &x);
    }
    mot_generate_opts o = {.n_predict = n_gen + 1, .ignore_eos = 1, .backend = *b};
    mot_session s;
    mot_status st = mot_session_generate_ids(m, r, ids, n_ids, &o, &s);
    if (st == MOT_OK) {
        *t = (mot_timing){s.prefill_s, s.decode_s, s.interaction_s, s.n_decode_steps};
    }
    mot_session_free(&s);
    for (int i = 0; i < r->k; i++) free(ids[i]);
    return st;
}

/* Untimed decode steps before an expert alone is timed: each engine is new, and its first
 * steps compile the decode plan (and, on CUDA, capture its graph), which the MoT requests have
 * done in their warm-up request. */
enum { ALONE_WARM_STEPS = 2 };

/* The same experts alone, one after another: n_gen single-token steps each; seconds[i]: the
 * time of active expert i's steps. */
static mot_status time_alone(const mot_model *m, const mot_route *r, const mot_backend_options *b, int n_gen,
                             double *seconds) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < r->k; i++) {
        seconds[i] = 0.0;
        const mot_expert *ex = m->experts[r->active[i]];
        mot_plan_source src;
        mot_plan_source_single(ex, n_gen + ALONE_WARM_STEPS + 2, 1, &src);
        mot_engine_options eo = {.backend = *b};
        eo.backend.trace = NULL; /* the profile is of the MoT requests */
        mot_engine e;
        int tok, one = 1, *toks = &tok;
        mot_random_tokens(&tok, 1, ex->cfg.vocab, &x);
        mot_status status = mot_engine_open(&e, &src, &eo);
        if (status == MOT_OK) status = mot_engine_prefill(&e, &toks, &one); /* the 1-token prompt, untimed */
        for (int k = 0; k < ALONE_WARM_STEPS && status == MOT_OK; k++) {
            status = mot_engine_decode(&e);
        }
        double t0 = mot_now();
        for (int k = 0; k < n_gen && status == MOT_OK; k++) {
            status = mot_engine_decode(&e);
        }
        seconds[i] = mot_now() - t0;
        mot_engine_close(&e);
        MOT_TRY(status);
    }
    return MOT_OK;
}

mot_status mot_bench_pipeline(const mot_bench_pipeline_opts *o) {
    mot_profile_session prof;
    mot_model *m = NULL;
    mot_route r = {0};
    MOT_TRY(mot_profile_begin(&prof, o->exec.profile_path, o->exec.force));
    mot_schedule sched;
    mot_backend_options backend; /* resolved: the schedule, the flags, the trace */
    mot_status st = mot_pipeline_for_exec(o->pipeline, &o->exec, &m, &sched, &backend);
    if (st == MOT_OK) backend.trace = mot_profile_trace(&prof);
    double route_s = 0.0;
    if (st == MOT_OK && o->experts) {
        st = mot_route_prompt(m, NULL, o->experts, NULL, 0, &r);
    } else if (st == MOT_OK) {
        /* The set the router picks for a fixed prompt; its time is the router's cost. */
        double t0 = mot_now();
        st = mot_route_prompt(m, "Write a function that adds two numbers.", NULL, NULL, 0, &r);
        route_s = mot_now() - t0;
        mot_profile_router(&prof, t0, t0 + route_s);
    }
    for (int i = 0; st == MOT_OK && i < r.k; i++) {
        mot_profile_lane(&prof, i, r.active[i], m->pipe->experts[r.active[i]].name);
    }
    mot_bench_result res[3];
    int n_res = 0;
    mot_timing t;
    double inter_share = 0.0, step_s = 0.0, inter_step_s = 0.0;
    double alone_s[MOT_MAX_LANES] = {0}; /* each active expert's decode steps alone, summed over the reps */
    const int threads = omp_get_max_threads();
    if (st == MOT_OK && o->n_prompt > 0) {
        mot_bench_result *b = &res[n_res++];
        memset(b, 0, sizeof *b);
        snprintf(b->test, sizeof b->test, "pp%d", o->n_prompt);
        b->n_prompt = o->n_prompt, b->n_threads = threads;
        st = mot_bench_request(m, &r, &backend, o->n_prompt, 0, &t); /* warm-up */
        for (int i = 0; i < o->reps && st == MOT_OK; i++) {
            st = mot_bench_request(m, &r, &backend, o->n_prompt, 0, &t);
            b->samples_ts[b->n_reps++] = o->n_prompt / t.prefill_s;
        }
        mot_bench_finish(b);
    }
    if (st == MOT_OK && o->n_gen > 0) {
        mot_bench_result *b = &res[n_res++], *a = &res[n_res++];
        memset(b, 0, sizeof *b), memset(a, 0, sizeof *a);
        snprintf(b->test, sizeof b->test, "tg%d", o->n_gen);
        snprintf(a->test, sizeof a->test, "tg%d-alone", o->n_gen);
        b->n_gen = a->n_gen = o->n_gen, b->n_threads = a->n_threads = threads;
        st = mot_bench_request(m, &r, &backend, 1, o->n_gen, &t); /* warm-up */
        double decode = 0.0;
        for (int i = 0; i < o->reps && st == MOT_OK; i++) {
            st = mot_bench_request(m, &r, &backend, 1, o->n_gen, &t);
            b->samples_ts[b->n_reps++] = t.steps / t.decode_s;
            decode += t.decode_s;
        }
        /* The interaction share from one more request with node timing on (on CUDA that adds
         * timed events to every pass), so the timed repetitions above carry no instrumentation. */
        mot_backend_options timed = backend;
        timed.timing = 1;
        if (st == MOT_OK) {
            st = mot_bench_request(m, &r, &timed, 1, o->n_gen, &t);
        }
        for (int i = 0; i < o->reps && st == MOT_OK; i++) {
            double s[MOT_MAX_LANES], sum = 0.0;
            st = time_alone(m, &r, &backend, o->n_gen, s);
            for (int j = 0; j < r.k; j++) {
                sum += s[j];
                alone_s[j] += s[j];
            }
            a->samples_ts[a->n_reps++] = o->n_gen / sum;
        }
        mot_bench_finish(b);
        mot_bench_finish(a);
        if (decode > 0 && t.decode_s > 0) {
            step_s = decode / (o->reps * (double)o->n_gen);
            inter_share = t.interaction_s / t.decode_s;
            inter_step_s = inter_share * step_s;
        }
    }
    if (st == MOT_OK) {
        char type[256] = "", cpu[128];
        for (int i = 0; i < r.k; i++) {
            size_t n = strlen(type);
            snprintf(type + n, sizeof type - n, "%s%s", i ? "+" : "MoT ", m->pipe->experts[r.active[i]].name);
        }
        uint64_t bytes = 0, params = 0;
        for (int i = 0; i < r.k; i++) {
            bytes += m->experts[r.active[i]]->weight_bytes;
            params += (uint64_t)m->experts[r.active[i]]->n_params;
        }
        mot_bench_cpu_info(cpu, sizeof cpu);
        mot_bench_context ctx = {.model = o->pipeline, .model_type = type, .model_size = bytes,
                                 .model_n_params = params,
                                 .backend = backend.kind == MOT_BACKEND_CUDA ? "CUDA" : "CPU", .build_commit = MOT_GIT_COMMIT,
                                 .peak_rss = mot_bench_peak_rss()};
        snprintf(ctx.cpu_info, sizeof ctx.cpu_info, "%s", cpu);
        ctx.schedule = o->exec.sched.path ? o->exec.sched.path : m->pipe->schedule;
        mot_schedule_describe(&sched, ctx.schedule_desc, sizeof ctx.schedule_desc);
        if (o->json) {
            mot_bench_print_json(stdout, &ctx, res, n_res);
        } else {
            mot_bench_print_md(stdout, &ctx, res, n_res);
            if (step_s > 0) {
                printf("\ndecode step: %.3f ms, of which interaction layers %.3f ms (%.2f%%); router %.3f ms once per request\n",
                       1e3 * step_s, 1e3 * inter_step_s, 100.0 * inter_share, 1e3 * route_s);
                /* what MoT costs over its slowest expert: 1.0 would be perfect overlap (or one
                 * expert); K would be the experts one after another with free interaction */
                double slowest = 0.0;
                printf("experts alone, ms/step:");
                for (int i = 0; i < r.k; i++) {
                    const double ms = 1e3 * alone_s[i] / (o->reps * (double)o->n_gen);
                    slowest = ms > slowest ? ms : slowest;
                    printf("%s %s %.3f", i ? "," : "", m->pipe->experts[r.active[i]].name, ms);
                }
                if (slowest > 0) {
                    printf("; MoT step / slowest expert alone: %.2fx\n", 1e3 * step_s / slowest);
                } else {
                    printf("\n");
                }
            }
        }
    }
    st = mot_profile_end(&prof, st);
    mot_route_free(&r);
    mot_model_free(m);
    return st;
}
