#include "profiling/trace.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/safe_write.h"
#include "profiling/bench_record.h"

void mot_trace_init(mot_trace *t) {
    memset(t, 0, sizeof *t);
    t->t0 = mot_now();
}

void mot_trace_free(mot_trace *t) {
    free(t->slices);
    memset(t, 0, sizeof *t);
}

double mot_trace_now(const mot_trace *t) { return mot_now() - t->t0; }

void mot_trace_add(mot_trace *t, const mot_trace_slice *s) {
#pragma omp critical(mot_trace)
    {
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 4096;
            mot_trace_slice *p = realloc(t->slices, (size_t)cap * sizeof *p);
            if (p) {
                t->slices = p, t->cap = cap;
            }
        }
        if (t->n < t->cap) {
            t->slices[t->n++] = *s;
        } else {
            t->failed = 1;
        }
    }
}

void mot_trace_host_span(mot_trace *t, const char *name, double t0, int tokens) {
    if (!t) return;
    const mot_trace_slice s = {.name = name, .track = MOT_TRACE_HOST, .ts = t0, .dur = mot_trace_now(t) - t0,
                               .expert = -1, .stack = -1, .node_id = -1, .phase = t->phase, .pass = t->pass,
                               .tokens = tokens};
    mot_trace_add(t, &s);
}

static const char *phase_name(int phase) {
    static const char *const names[] = {"prefill", "decode", "prefill_chunk", "forward", "backward"};
    return phase >= 0 && phase <= MOT_TRACE_PHASE_BACKWARD ? names[phase] : "?";
}

static json_t *slice_json(const mot_trace *t, const mot_trace_slice *s) {
    json_t *args = json_object();
    if (s->expert >= 0) {
        const char *name = s->expert < t->n_experts && t->expert_names[s->expert] ? t->expert_names[s->expert] : "";
        json_object_set_new(args, "expert", json_string(name));
    }
    if (s->stack >= 0) json_object_set_new(args, "stack", json_integer(s->stack));
    if (s->node_id >= 0) json_object_set_new(args, "node", json_integer(s->node_id));
    if (!strcmp(s->name, "projector")) {
        json_object_set_new(args, "direction", json_string(s->reverse ? "reverse" : "forward"));
    }
    json_object_set_new(args, "phase", json_string(phase_name(s->phase)));
    json_object_set_new(args, "pass", json_integer(s->pass));
    json_object_set_new(args, "tokens", json_integer(s->tokens));
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(s->name));
    json_object_set_new(e, "cat", json_string(s->track == MOT_TRACE_HOST ? "host" : "plan"));
    json_object_set_new(e, "ph", json_string("X"));
    json_object_set_new(e, "ts", json_real(s->ts * 1e6));
    json_object_set_new(e, "dur", json_real(s->dur * 1e6));
    json_object_set_new(e, "pid", json_integer(1));
    json_object_set_new(e, "tid", json_integer(s->track == MOT_TRACE_HOST ? 0 : s->track + 1));
    json_object_set_new(e, "args", args);
    return e;
}

static json_t *thread_name(int tid, const char *name) {
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string("thread_name"));
    json_object_set_new(e, "ph", json_string("M"));
    json_object_set_new(e, "pid", json_integer(1));
    json_object_set_new(e, "tid", json_integer(tid));
    json_t *args = json_object();
    json_object_set_new(args, "name", json_string(name));
    json_object_set_new(e, "args", args);
    return e;
}

mot_status mot_trace_write(const mot_trace *t, const char *path, int force) {
    json_t *events = json_array();
    json_array_append_new(events, thread_name(0, "host: router, passes"));
    for (int i = 0; i < t->n_tracks; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s", t->track_names[i], t->cuda_streams ? " (CUDA stream)" : "");
        json_array_append_new(events, thread_name(i + 1, name));
    }
    for (int i = 0; i < t->n; i++) {
        json_array_append_new(events, slice_json(t, &t->slices[i]));
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "traceEvents", events);
    json_object_set_new(doc, "displayTimeUnit", json_string("ms"));
    mot_out_file out;
    mot_status st = mot_out_open(&out, path, force);
    /* A failed write sets the stream's error flag and commit names the reason; anything else
     * json_dumpf refuses is an encoding failure. */
    if (st == MOT_OK && json_dumpf(doc, out.f, JSON_COMPACT) != 0 && !ferror(out.f)) {
        mot_out_abort(&out);
        st = mot_fail(MOT_ERR_IO, "%s: cannot write the trace", path);
    } else if (st == MOT_OK) {
        st = mot_out_commit(&out);
    }
    json_decref(doc);
    MOT_TRY(st);
    if (t->failed) {
        return mot_fail(MOT_ERR_NOMEM, "%s: out of memory while recording: the trace is incomplete", path);
    }
    return MOT_OK;
}

void mot_trace_print_summary(const mot_trace *t, FILE *f) {
    static const char *const kinds[] = {"stack", "projector", "attention", "sampler"};
    double kind_s[4] = {0}, lane_busy = 0.0, pass_wall = 0.0, decode_wall = 0.0, decode_inter = 0.0;
    double *expert_s = calloc((size_t)(t->n_experts > 0 ? t->n_experts : 1), sizeof *expert_s);
    double router_s = 0.0;
    int decode_passes = 0;
    for (int i = 0; i < t->n; i++) {
        const mot_trace_slice *s = &t->slices[i];
        if (s->track == MOT_TRACE_HOST) {
            if (!strcmp(s->name, "router")) {
                router_s += s->dur;
            } else {
                pass_wall += s->dur;
                if (s->phase == 1) decode_wall += s->dur, decode_passes++;
            }
            continue;
        }
        lane_busy += s->dur;
        for (int k = 0; k < 4; k++) {
            if (!strcmp(s->name, kinds[k])) kind_s[k] += s->dur;
        }
        if (expert_s && s->expert >= 0 && s->expert < t->n_experts) expert_s[s->expert] += s->dur;
        if (s->phase == 1 && (!strcmp(s->name, "projector") || !strcmp(s->name, "attention"))) decode_inter += s->dur;
    }
    fprintf(f, "profile: %d slices over %d passes (%d decode steps)\n", t->n, t->pass, decode_passes);
    fprintf(f, "  time per node kind:");
    for (int k = 0; k < 4; k++) fprintf(f, " %s %.2f ms", kinds[k], 1e3 * kind_s[k]);
    if (router_s > 0) fprintf(f, " | router %.2f ms", 1e3 * router_s);
    fprintf(f, "\n  time per expert:");
    for (int e = 0; expert_s && e < t->n_experts; e++) {
        if (expert_s[e] > 0) fprintf(f, " %s %.2f ms", t->expert_names[e] ? t->expert_names[e] : "?", 1e3 * expert_s[e]);
    }
    fprintf(f, "\n");
    if (decode_wall > 0) {
        fprintf(f, "  decode step %.3f ms, interaction layers %.2f%% of it\n", 1e3 * decode_wall / decode_passes,
                100.0 * decode_inter / decode_wall);
    }
    if (pass_wall > 0) {
        fprintf(f, "  lane overlap %.2f (busy time summed over lanes / wall time of the passes)\n", lane_busy / pass_wall);
    }
    fprintf(f, "  prompt %d tokens, %.2f tok/s | generation %d tokens, %.2f tok/s | peak RSS %.1f MiB\n",
            t->prompt_tokens, t->prefill_s > 0 ? t->prompt_tokens / t->prefill_s : 0.0, t->gen_tokens,
            t->decode_s > 0 ? t->gen_tokens / t->decode_s : 0.0, mot_bench_peak_rss() / 1048576.0);
    free(expert_s);
}

/* Whether slice s starts inside one of the host "eval" slices ev[0..n) (in time order). */
static int in_eval(const mot_trace_slice *const *ev, int n, const mot_trace_slice *s) {
    for (int i = 0; i < n; i++) {
        if (s->ts >= ev[i]->ts && s->ts < ev[i]->ts + ev[i]->dur) return 1;
    }
    return 0;
}

void mot_trace_print_train_summary(const mot_trace *t, FILE *f, int steps, long tokens, double seconds) {
    static const char *const parts[] = {"forward", "backward", "loss", "router", "optimizer", "eval"};
    /* the graph's sampler node is the LM head (final norm, LM head, loss rows) in training */
    static const char *const kinds[] = {"stack", "projector", "attention", "sampler"};
    static const char *const shown[] = {"stack", "projector", "attention", "lm head"};
    enum { NP = sizeof parts / sizeof *parts, NK = sizeof kinds / sizeof *kinds };
    double part_s[NP] = {0}, kind_s[2][NK] = {{0}}, plan_s[2] = {0};
    int passes[2] = {0};
    double *expert_s = calloc((size_t)(t->n_experts > 0 ? t->n_experts : 1), sizeof *expert_s);
    const mot_trace_slice **ev = malloc(sizeof *ev * (size_t)(t->n + 1));
    int n_ev = 0;
    for (int i = 0; ev && i < t->n; i++) {
        if (t->slices[i].track == MOT_TRACE_HOST && !strcmp(t->slices[i].name, "eval")) ev[n_ev++] = &t->slices[i];
    }
    for (int i = 0; i < t->n; i++) {
        const mot_trace_slice *s = &t->slices[i];
        if (n_ev && strcmp(s->name, "eval") && in_eval(ev, n_ev, s)) continue; /* eval's passes count as eval */
        if (s->track == MOT_TRACE_HOST) {
            for (int k = 0; k < NP; k++) {
                if (!strcmp(s->name, parts[k])) part_s[k] += s->dur;
            }
            if (!strcmp(s->name, "forward")) passes[0]++;
            if (!strcmp(s->name, "backward")) passes[1]++;
            continue;
        }
        const int b = s->phase == MOT_TRACE_PHASE_BACKWARD;
        if (s->phase != MOT_TRACE_PHASE_FORWARD && !b) continue;
        plan_s[b] += s->dur;
        for (int k = 0; k < NK; k++) {
            if (!strcmp(s->name, kinds[k])) kind_s[b][k] += s->dur;
        }
        if (expert_s && s->expert >= 0 && s->expert < t->n_experts) expert_s[s->expert] += s->dur;
    }
    const double per = steps > 0 ? 1e3 / steps : 0.0;
    fprintf(f, "profile: %d slices over %d steps (%d forward passes, %d backward)\n", t->n, steps, passes[0], passes[1]);
    fprintf(f, "  host time per step:");
    for (int k = 0; k < NP; k++) fprintf(f, " %s %.2f ms", parts[k], per * part_s[k]);
    fprintf(f, "\n");
    for (int b = 0; b < 2; b++) {
        fprintf(f, "  %s plans per step: %.2f ms:", b ? "backward" : "forward", per * plan_s[b]);
        for (int k = 0; k < NK; k++) fprintf(f, " %s %.2f ms", shown[k], per * kind_s[b][k]);
        fprintf(f, "\n");
    }
    fprintf(f, "  plan time per expert (forward + backward, all steps):");
    for (int e = 0; expert_s && e < t->n_experts; e++) {
        if (expert_s[e] > 0) fprintf(f, " %s %.2f ms", t->expert_names[e] ? t->expert_names[e] : "?", 1e3 * expert_s[e]);
    }
    fprintf(f, "\n  %ld tokens in %.2f s, %.1f tok/s | peak RSS %.1f MiB\n", tokens, seconds,
            seconds > 0 ? tokens / seconds : 0.0, mot_bench_peak_rss() / 1048576.0);
    free(expert_s);
    free(ev);
}
